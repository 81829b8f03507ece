//! The correlation id of an API request: it ties the answer, every log line
//! and (for an accepted order) every later stage to one request.

use http::header::HeaderName;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use orders_domain::contract::CorrelationId;

/// Request and response header carrying the correlation id.
pub const CORRELATION_ID_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");

/// The request's correlation id: the caller's `X-Correlation-Id` when it is
/// 1–64 of `[A-Za-z0-9._:-]`, else API Gateway's request id (which also
/// appears in its access logs), else a fresh one.
pub fn correlation_id(request: &Request) -> CorrelationId {
    request
        .headers()
        .get(CORRELATION_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(CorrelationId::from_client)
        .or_else(|| gateway_request_id(request).and_then(CorrelationId::parse))
        .unwrap_or_else(CorrelationId::generate)
}

/// API Gateway's id of this request, from the REST (v1) or HTTP API (v2) context.
fn gateway_request_id(request: &Request) -> Option<&str> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => context.request_id.as_deref(),
        RequestContext::ApiGatewayV2(context) => context.request_id.as_deref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn given_a_usable_client_id_then_it_is_kept_and_otherwise_replaced() {
        let mut request = Request::default();
        request
            .headers_mut()
            .insert(CORRELATION_ID_HEADER, HeaderValue::from_static("trace-1"));
        assert_eq!(correlation_id(&request).as_str(), "trace-1");

        let mut request = Request::default();
        request.headers_mut().insert(
            CORRELATION_ID_HEADER,
            HeaderValue::from_static("has spaces <b>"),
        );
        let minted = correlation_id(&request);
        assert_ne!(minted.as_str(), "has spaces <b>");
        assert!(CorrelationId::from_client(minted.as_str()).is_some());
    }
}
