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

use axum::http::Method;
use axum::http::request::Parts;
use axum::response::Response;

use super::Gateway;

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
    caller: Option<aws_lambda_events::apigw::ApiGatewayRequestAuthorizer>,
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
    event.request_context.authorizer = caller;
    event
        .path_parameters
        .insert(order_status::ORDER_ID_PARAMETER.to_owned(), order_id);
    let integration = super::Integration {
        name: "status",
        function_arn: &gateway.status_function_arn,
        timeout: gateway.timeout,
        request_id,
        trace_header: None,
    };
    integration
        .invoke(&event, |request| {
            order_status::handle(&gateway.status, request)
        })
        .await
        .unwrap_or_else(|failed| failed)
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
