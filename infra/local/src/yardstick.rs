//! The benchmark's yardstick: a bare axum server that reads each request's
//! body and answers `202 Accepted`, with no handler, queue or log behind it.
//! `make bench` loads it and the pipeline in the same run, so the pipeline's
//! rates are compared with what this machine's HTTP stack alone can do.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

/// The answer: the status and a body about the size of the intake's.
async fn accept(body: Bytes) -> impl IntoResponse {
    // Touch the body so the comparison reads the request as the intake does.
    let _ = body.len();
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ACCEPTED"}"#,
    )
}

/// Serves `202 Accepted` to every request on `bind` until the process ends;
/// prints `bare-202 listening on URL` first.
pub async fn serve(bind: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("bare-202 listening on http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(accept);
    axum::serve(listener, app).await
}
