//! Emulated API Gateway HTTP API: turns a real HTTP request into the payload
//! format 2.0 event API Gateway sends, converts it with
//! `lambda_http::request::from_str` (as the Lambda runtime does) and calls the
//! intake handler that ships. Route `POST /orders`; `GET /_local/status` is the
//! runner's own; `GET /openapi.json` serves the API's OpenAPI document
//! ([`crate::openapi`]); anything else is a 404 problem.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body as AxumBody;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use lambda_http::RequestExt;
use time::OffsetDateTime;

use crate::stats::Counters;

/// API Gateway's payload limit.
const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// What the gateway needs.
pub struct Gateway {
    /// The intake's dependencies.
    pub deps: intake::Deps,
    /// The intake's (scaled) timeout.
    pub timeout: Duration,
    /// The emulated function's ARN.
    pub function_arn: String,
    /// Shared counters.
    pub counters: Arc<Counters>,
    /// Answers `GET /_local/status`.
    pub pipeline: Arc<crate::pipeline::Shared>,
}

fn json_response(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}

fn not_found(method: &Method, path: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": format!("no route for {method} {path}; the API has POST /orders"),
    });
    json_response(
        StatusCode::NOT_FOUND,
        "application/problem+json",
        body.to_string(),
    )
}

/// The HTTP API (payload format 2.0) event for one request.
pub fn http_api_event(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    source_ip: &str,
    request_id: &str,
) -> serde_json::Value {
    let mut joined: std::collections::BTreeMap<String, String> = Default::default();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(value.split(';').map(|c| c.trim().to_owned()));
            continue;
        }
        // API Gateway joins repeated headers with commas and lowercases names.
        joined
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let query = uri.query().unwrap_or_default();
    let mut params: std::collections::BTreeMap<String, String> = Default::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params
            .entry(k.to_owned())
            .and_modify(|old| {
                old.push(',');
                old.push_str(v);
            })
            .or_insert_with(|| v.to_owned());
    }
    let now = OffsetDateTime::now_utc();
    let time_format = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    let (body, base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64_encode(body), true),
    };
    let route_key = format!("{method} {}", uri.path());
    let mut event = serde_json::json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": crate::arn::EMBEDDED_ACCOUNT,
            "apiId": "local",
            "domainName": headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get(http::header::USER_AGENT).and_then(|h| h.to_str().ok()).unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format(&time_format).unwrap_or_default(),
            "timeEpoch": now.unix_timestamp_nanos() / 1_000_000,
        },
        "isBase64Encoded": base64,
    });
    if !body.is_empty() {
        event["body"] = serde_json::Value::String(body);
    }
    if !cookies.is_empty() {
        event["cookies"] = serde_json::json!(cookies);
    }
    if !params.is_empty() {
        event["queryStringParameters"] = serde_json::json!(params);
    }
    event
}

fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The axum fallback: every request comes here.
pub async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<AxumBody>,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    if parts.method == Method::GET && path == "/_local/status" {
        let status = gateway.pipeline.status().await;
        let body = serde_json::to_string(&status).unwrap_or_default();
        return json_response(StatusCode::OK, "application/json", body);
    }
    if parts.method == Method::GET && path == crate::openapi::PATH {
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok());
        return match crate::openapi::local_document(host) {
            Ok(document) => json_response(StatusCode::OK, "application/json", document.to_string()),
            Err(err) => {
                tracing::error!(
                    error = &err as &dyn std::error::Error,
                    "could not serve the OpenAPI document"
                );
                internal_error()
            }
        };
    }
    if !(parts.method == Method::POST && path == "/orders") {
        return not_found(&parts.method, &path);
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES).await else {
        return json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "application/json",
            r#"{"message":"Request Entity Too Large"}"#.to_owned(),
        );
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let event = http_api_event(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &bytes,
        &peer.ip().to_string(),
        &request_id,
    );
    let lambda_request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(err) => {
            tracing::error!(
                error = &err as &dyn std::error::Error,
                "could not build the Lambda request"
            );
            return internal_error();
        }
    };
    let mut context = crate::mapping::invocation_context(&gateway.function_arn, gateway.timeout);
    context.request_id = request_id.clone();
    let lambda_request = lambda_request.with_lambda_context(context);
    let response = match tokio::time::timeout(
        gateway.timeout,
        intake::handle(&gateway.deps, lambda_request),
    )
    .await
    {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            tracing::error!(%request_id, error = &*err as &dyn std::error::Error, "intake invocation failed");
            Counters::add(&gateway.counters.rejected, 1);
            return internal_error();
        }
        Err(_) => {
            tracing::error!(%request_id, "intake invocation timed out");
            Counters::add(&gateway.counters.rejected, 1);
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                r#"{"message":"Service Unavailable"}"#.to_owned(),
            );
        }
    };
    if response.status() == StatusCode::ACCEPTED {
        Counters::add(&gateway.counters.accepted, 1);
    } else {
        Counters::add(&gateway.counters.rejected, 1);
    }
    let (parts, body) = response.into_parts();
    let mut out = Response::from_parts(parts, AxumBody::from(body.to_vec()));
    out.headers_mut().insert(
        "apigw-requestid",
        HeaderValue::from_str(&request_id).unwrap_or(HeaderValue::from_static("local")),
    );
    out
}

/// What API Gateway answers when the integration fails.
fn internal_error() -> Response {
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "application/json",
        r#"{"message":"Internal Server Error"}"#.to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_v2_event_that_lambda_http_accepts() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let uri: Uri = "/orders?x=1&y=2".parse().unwrap();
        let event = http_api_event(
            &Method::POST,
            &uri,
            &headers,
            br#"{"a":1}"#,
            "127.0.0.1",
            "rid",
        );
        assert_eq!(event["headers"]["x-a"], "1,2");
        assert_eq!(event["requestContext"]["http"]["sourceIp"], "127.0.0.1");
        assert_eq!(event["isBase64Encoded"], false);
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri().path(), "/orders");
        assert_eq!(request.body().as_ref(), br#"{"a":1}"#);
        assert_eq!(request.query_string_parameters().first("y"), Some("2"));
    }

    #[test]
    fn binary_bodies_are_base64_encoded() {
        assert_eq!(base64_encode(b"\xff\x00"), "/wA=");
        assert_eq!(base64_encode(b"abc"), "YWJj");
        let event = http_api_event(
            &Method::POST,
            &"/orders".parse().unwrap(),
            &HeaderMap::new(),
            b"\xff\xfe",
            "::1",
            "r",
        );
        assert_eq!(event["isBase64Encoded"], true);
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        assert_eq!(request.body().as_ref(), b"\xff\xfe");
    }
}
