//! `GET /orders/{orderId}`: the status function's route, emulated as API
//! Gateway's HTTP API delivers it: intake's event ([`super::http_api_event`])
//! with the route's `routeKey` and `pathParameters`
//! (<https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html>).
//! That page does not say whether the parameter arrives percent-decoded;
//! HTTP APIs are reported to decode the path, so the emulator decodes it.
//! Either way only the kind of `400` differs: a valid order id needs no
//! escape.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body as AxumBody;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use lambda_http::RequestExt;

use super::{Gateway, internal_error, json_response};

/// The route key, as the OpenAPI document and the template spell it.
pub const ROUTE_KEY: &str = "GET /orders/{orderId}";

/// The `orderId` of a path that matches the route: `/orders/` and one
/// non-empty segment (API Gateway's `{orderId}` matches one segment only).
pub fn order_id_segment(method: &Method, path: &str) -> Option<String> {
    if method != Method::GET {
        return None;
    }
    let segment = path.strip_prefix("/orders/")?;
    if segment.is_empty() || segment.contains('/') {
        return None;
    }
    Some(percent_decode(segment))
}

/// Decodes `%XX` escapes; anything that is not UTF-8 afterwards becomes
/// U+FFFD (the status function then refuses the id as it would any other
/// character outside the order-id alphabet).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| segment.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Invokes the status handler for one request of the route.
pub async fn invoke(
    gateway: &Arc<Gateway>,
    parts: &Parts,
    peer: SocketAddr,
    order_id: String,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut event = super::http_api_event(
        &parts.method,
        &parts.uri,
        &parts.headers,
        b"",
        &peer.ip().to_string(),
        &request_id,
    );
    event.route_key = Some(ROUTE_KEY.to_owned());
    event.request_context.route_key = Some(ROUTE_KEY.to_owned());
    event
        .path_parameters
        .insert(status::ORDER_ID_PARAMETER.to_owned(), order_id);
    let lambda_request = match serde_json::to_string(&event)
        .and_then(|json| lambda_http::request::from_str(&json))
    {
        Ok(r) => r,
        Err(err) => {
            tracing::error!(
                error = &err as &dyn std::error::Error,
                "could not build the Lambda request"
            );
            return internal_error();
        }
    };
    let mut context =
        crate::mapping::invocation_context(&gateway.status_function_arn, gateway.timeout);
    context.request_id = request_id.clone();
    let lambda_request = lambda_request.with_lambda_context(context);
    let response = match tokio::time::timeout(
        gateway.timeout,
        status::handle(&gateway.status, lambda_request),
    )
    .await
    {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            tracing::error!(%request_id, error = &*err as &dyn std::error::Error, "status invocation failed");
            return internal_error();
        }
        Err(_) => {
            tracing::error!(%request_id, "status invocation timed out");
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                r#"{"message":"Service Unavailable"}"#.to_owned(),
            );
        }
    };
    let (parts, body) = response.into_parts();
    let mut out = Response::from_parts(parts, AxumBody::from(body.to_vec()));
    out.headers_mut().insert(
        "apigw-requestid",
        HeaderValue::from_str(&request_id).unwrap_or(HeaderValue::from_static("local")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_paths_then_only_one_segment_under_orders_is_the_route() {
        let get = Method::GET;
        assert_eq!(
            order_id_segment(&get, "/orders/23214"),
            Some("23214".into())
        );
        assert_eq!(order_id_segment(&get, "/orders/a%20b"), Some("a b".into()));
        assert_eq!(order_id_segment(&get, "/orders/%zz"), Some("%zz".into()));
        assert_eq!(order_id_segment(&get, "/orders/%C3%A9"), Some("é".into()));
        assert_eq!(
            order_id_segment(&get, "/orders/%FF"),
            Some("\u{FFFD}".into())
        );
        for path in ["/orders", "/orders/", "/orders/a/b", "/other/a"] {
            assert_eq!(order_id_segment(&get, path), None, "{path}");
        }
        assert_eq!(order_id_segment(&Method::POST, "/orders/1"), None);
    }
}
