//! Emulated API Gateway HTTP API: turns a real HTTP request into the payload
//! format 2.0 event API Gateway sends, converts it with
//! `lambda_http::request::from_str` (as the Lambda runtime does) and calls the
//! intake handler that ships. Route `POST /orders`, and `GET /orders/{orderId}`
//! for the status handler ([`status_route`]); `GET /_local/status` and
//! the page that shows it, `GET /` ([`crate::dashboard`]), are the runner's own; `GET /openapi.json` serves the API's OpenAPI document
//! ([`crate::openapi`]); anything else is a 404 problem.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription,
};
use aws_lambda_events::query_map::QueryMap;
use axum::body::Body as AxumBody;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lambda_http::RequestExt;
use time::OffsetDateTime;

use crate::stats::Counters;

pub mod authorizer;
pub mod status_route;

/// The runner's status answer (JSON), which the dashboard at `/` polls.
pub const STATUS_PATH: &str = "/_local/status";

/// API Gateway's payload limit.
const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// What the gateway needs.
pub struct Gateway {
    /// The intake's dependencies.
    pub deps: intake::Deps,
    /// The status function's dependencies (`GET /orders/{orderId}`).
    pub status: order_status::Deps,
    /// The emulated status function's ARN.
    pub status_function_arn: String,
    /// The intake's (scaled) timeout.
    pub timeout: Duration,
    /// The emulated function's ARN.
    pub function_arn: String,
    /// Shared counters.
    pub counters: Arc<Counters>,
    /// Answers `GET /_local/status`.
    pub pipeline: Arc<crate::state::PipelineState>,
    /// The API's JWT authorizer (`--auth jwt`); `None` leaves the API open.
    pub authorizer: Option<authorizer::LocalAuthorizer>,
}

fn json_response(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}

/// The answer to a request no route matches, written as the API's other
/// problems are ([`orders_http::Problem`]: `application/problem+json`, the
/// correlation id in body and header, settled by [`orders_http::correlation_id`]).
/// The detail names no request value, as a problem's detail never does.
fn not_found(headers: &HeaderMap) -> Response {
    let mut request = lambda_http::Request::default();
    *request.headers_mut() = headers.clone();
    let correlation_id = orders_http::correlation_id(&request);
    let problem = orders_http::Problem::new(
        StatusCode::NOT_FOUND,
        "route-not-found",
        "Not Found",
        "no route for this method and path: the API has POST /orders and GET /orders/{orderId}",
    );
    let (parts, body) = problem.into_response(&correlation_id).into_parts();
    Response::from_parts(parts, AxumBody::from(body.to_vec()))
}

/// The HTTP API (payload format 2.0) event for one request, as API Gateway
/// builds it: repeated headers joined with commas, cookies apart,
/// `rawQueryString` as sent and `queryStringParameters` percent-decoded, a
/// body that is not UTF-8 base64-encoded with `isBase64Encoded`.
pub fn http_api_event(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    source_ip: &str,
    request_id: &str,
) -> ApiGatewayV2httpRequest {
    let mut joined: Vec<(HeaderName, String)> = Vec::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(value.split(';').map(|c| c.trim().to_owned()));
            continue;
        }
        // API Gateway joins repeated headers with commas and lowercases names.
        match joined.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => {
                v.push(',');
                v.push_str(&value);
            }
            None => joined.push((name.clone(), value)),
        }
    }
    let mut event_headers = HeaderMap::new();
    for (name, value) in joined {
        // Cannot fail: the value is made of valid header values, commas and
        // (for bytes that were not UTF-8) U+FFFD, all bytes a header allows.
        if let Ok(value) = HeaderValue::from_str(&value) {
            event_headers.insert(name, value);
        }
    }
    let query = uri.query().unwrap_or_default();
    // Decoded as `application/x-www-form-urlencoded` (percent escapes, `+`
    // as a space); repeated names keep every value, which the event carries
    // joined with commas as API Gateway sends them.
    let params = QueryMap::from_str(query).unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    let time_format = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    let (body, is_base64_encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (BASE64.encode(body), true),
    };
    let route_key = format!("{method} {}", uri.path());
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|h: &HeaderValue| h.to_str().ok())
    };

    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = method.clone();
    http.path = Some(uri.path().to_owned());
    http.protocol = Some("HTTP/1.1".to_owned());
    http.source_ip = Some(source_ip.to_owned());
    http.user_agent = Some(
        header_text(http::header::USER_AGENT)
            .unwrap_or("")
            .to_owned(),
    );

    let mut context = ApiGatewayV2httpRequestContext::default();
    context.account_id = Some(orders_backends::arn::EMBEDDED_ACCOUNT.to_owned());
    context.apiid = Some("local".to_owned());
    context.domain_name = Some(
        header_text(http::header::HOST)
            .unwrap_or("127.0.0.1")
            .to_owned(),
    );
    context.domain_prefix = Some("local".to_owned());
    context.http = http;
    context.request_id = Some(request_id.to_owned());
    context.route_key = Some(route_key.clone());
    context.stage = Some("$default".to_owned());
    context.time = Some(now.format(&time_format).unwrap_or_default());
    context.time_epoch = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or_default();

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".to_owned());
    event.route_key = Some(route_key);
    event.raw_path = Some(uri.path().to_owned());
    event.raw_query_string = Some(query.to_owned());
    event.headers = event_headers;
    event.request_context = context;
    event.is_base64_encoded = is_base64_encoded;
    event.body = (!body.is_empty()).then_some(body);
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.query_string_parameters = params;
    event
}

/// The axum fallback: every request comes here.
pub async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<AxumBody>,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    if parts.method == Method::GET && path == crate::dashboard::PATH {
        return json_response(
            StatusCode::OK,
            "text/html; charset=utf-8",
            crate::dashboard::PAGE.to_owned(),
        );
    }
    if parts.method == Method::GET && path == STATUS_PATH {
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
    if path == authorizer::TOKEN_PATH {
        return match &gateway.authorizer {
            Some(local) if parts.method == Method::POST => token(local, &parts.uri),
            _ => not_found(&parts.headers),
        };
    }
    let is_intake = parts.method == Method::POST && path == "/orders";
    let status_order_id = status_route::order_id_segment(&parts.method, &path);
    if !is_intake && status_order_id.is_none() {
        return not_found(&parts.headers);
    }
    // API Gateway's authorizer answers before any function runs.
    let caller = match &gateway.authorizer {
        Some(local) => match local.authorize(&parts.headers) {
            Some(caller) => Some(caller),
            None => return authorizer::unauthorized(),
        },
        None => None,
    };
    if let Some(order_id) = status_order_id {
        return status_route::invoke(&gateway, &parts, peer, order_id, caller).await;
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES).await else {
        return json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "application/json",
            r#"{"message":"Request Entity Too Large"}"#.to_owned(),
        );
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut event = http_api_event(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &bytes,
        &peer.ip().to_string(),
        &request_id,
    );
    event.request_context.authorizer = caller;
    // Lambda hands a traced function its trace header; intake passes it on.
    let trace_header = Some(crate::mapping::new_trace_header());
    let integration = Integration {
        name: "intake",
        function_arn: &gateway.function_arn,
        timeout: gateway.timeout,
        request_id,
        trace_header,
    };
    match integration
        .invoke(&event, |request| intake::handle(&gateway.deps, request))
        .await
    {
        Ok(response) => {
            if response.status() == StatusCode::ACCEPTED {
                Counters::add(&gateway.counters.accepted, 1);
            } else {
                Counters::add(&gateway.counters.rejected, 1);
            }
            response
        }
        Err(failed) => {
            Counters::add(&gateway.counters.rejected, 1);
            failed
        }
    }
}

/// `POST /_local/token?user=NAME`: a token of the runner's authorizer for
/// `NAME` (`--auth jwt` only), as plain text, so a shell can keep it in a
/// variable as it is.
fn token(local: &authorizer::LocalAuthorizer, uri: &Uri) -> Response {
    let user = QueryMap::from_str(uri.query().unwrap_or_default())
        .unwrap_or_default()
        .first("user")
        .map(str::to_owned)
        .filter(|user| !user.is_empty());
    match user {
        Some(user) => json_response(StatusCode::OK, "text/plain", local.mint(&user)),
        None => json_response(
            StatusCode::BAD_REQUEST,
            "application/json",
            r#"{"message":"name the user: /_local/token?user=NAME"}"#.to_owned(),
        ),
    }
}

/// One emulated Lambda proxy integration call: the function, its invocation
/// context and the request id API Gateway gives the call.
pub(crate) struct Integration<'a> {
    /// The function's name, for the log.
    pub name: &'static str,
    /// Its ARN, in the invocation context.
    pub function_arn: &'a str,
    /// Its configured timeout.
    pub timeout: Duration,
    /// API Gateway's request id (`apigw-requestid`).
    pub request_id: String,
    /// The X-Ray trace header Lambda hands a traced function, if any.
    pub trace_header: Option<String>,
}

impl Integration<'_> {
    /// Turns the event into the handler's request, runs the handler within
    /// the timeout and converts its answer. `Err` is API Gateway's own answer
    /// when the integration fails or times out (callers count it).
    pub async fn invoke<F, Fut>(
        self,
        event: &ApiGatewayV2httpRequest,
        handler: F,
    ) -> Result<Response, Response>
    where
        F: FnOnce(lambda_http::Request) -> Fut,
        Fut: std::future::Future<
                Output = Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error>,
            >,
    {
        let request_id = self.request_id;
        let lambda_request = match serde_json::to_string(event)
            .and_then(|json| lambda_http::request::from_str(&json))
        {
            Ok(r) => r,
            Err(err) => {
                tracing::error!(
                    error = &err as &dyn std::error::Error,
                    "could not build the Lambda request"
                );
                return Err(internal_error());
            }
        };
        let mut context = crate::mapping::invocation_context(self.function_arn, self.timeout);
        context.request_id = request_id.clone();
        context.xray_trace_id = self.trace_header;
        let lambda_request = lambda_request.with_lambda_context(context);
        let response = match tokio::time::timeout(self.timeout, handler(lambda_request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => {
                tracing::error!(%request_id, function = self.name, error = &*err as &dyn std::error::Error, "invocation failed");
                return Err(internal_error());
            }
            Err(_) => {
                tracing::error!(%request_id, function = self.name, "invocation timed out");
                return Err(json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "application/json",
                    r#"{"message":"Service Unavailable"}"#.to_owned(),
                ));
            }
        };
        let (parts, body) = response.into_parts();
        let mut out = Response::from_parts(parts, AxumBody::from(body.to_vec()));
        out.headers_mut().insert(
            "apigw-requestid",
            HeaderValue::from_str(&request_id).unwrap_or(HeaderValue::from_static("local")),
        );
        Ok(out)
    }
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

    /// The request `lambda_http` makes of `event`, as the runtime would.
    fn lambda_request(event: &ApiGatewayV2httpRequest) -> lambda_http::Request {
        lambda_http::request::from_str(&serde_json::to_string(event).unwrap()).unwrap()
    }

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
        assert_eq!(event.headers["x-a"], "1,2");
        assert_eq!(
            event.request_context.http.source_ip.as_deref(),
            Some("127.0.0.1")
        );
        assert!(!event.is_base64_encoded);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["version"], "2.0");
        assert_eq!(json["requestContext"]["http"]["method"], "POST");
        let request = lambda_request(&event);
        assert!(matches!(
            request.request_context(),
            lambda_http::request::RequestContext::ApiGatewayV2(_)
        ));
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri().path(), "/orders");
        assert_eq!(request.body().as_ref(), br#"{"a":1}"#);
        assert_eq!(request.query_string_parameters().first("y"), Some("2"));
    }

    #[test]
    fn given_a_percent_encoded_query_parameter_then_the_event_carries_it_decoded() {
        // Given a query with escapes, a `+` and a repeated name
        let uri: Uri = "/orders?note=caf%C3%A9%20au+lait&tag=a%2Cb&tag=c"
            .parse()
            .unwrap();
        // When the event is built
        let event = http_api_event(&Method::POST, &uri, &HeaderMap::new(), b"", "::1", "r");
        // Then the parameters are decoded, the raw query string is not
        assert_eq!(
            event.query_string_parameters.first("note"),
            Some("café au lait")
        );
        assert_eq!(
            event.raw_query_string.as_deref(),
            Some("note=caf%C3%A9%20au+lait&tag=a%2Cb&tag=c")
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["queryStringParameters"]["note"], "café au lait");
        assert_eq!(json["queryStringParameters"]["tag"], "a,b,c");
        // And the handler sees them decoded
        let request = lambda_request(&event);
        assert_eq!(
            request.query_string_parameters().first("note"),
            Some("café au lait")
        );
    }

    #[test]
    fn given_a_binary_body_then_it_is_base64_encoded_with_is_base64_encoded() {
        // Given a body that is not UTF-8
        let body = b"\xff\xfe\x00abc";
        // When the event is built
        let event = http_api_event(
            &Method::POST,
            &"/orders".parse().unwrap(),
            &HeaderMap::new(),
            body,
            "::1",
            "r",
        );
        // Then it travels base64-encoded and flagged so
        assert!(event.is_base64_encoded);
        assert_eq!(event.body.as_deref(), Some("//4AYWJj"));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["isBase64Encoded"], true);
        // And lambda_http hands the handler the original bytes
        assert_eq!(lambda_request(&event).body().as_ref(), body);
    }

    #[tokio::test]
    async fn given_no_route_then_the_answer_is_a_problem_of_the_shared_type() {
        // Given a request with the caller's correlation id
        let mut headers = HeaderMap::new();
        headers.insert(
            orders_http::CORRELATION_ID_HEADER,
            HeaderValue::from_static("trace-404"),
        );
        // When no route matches
        let response = not_found(&headers);
        // Then it is a problem+json 404 as the functions write them
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()[http::header::CONTENT_TYPE],
            orders_http::PROBLEM_CONTENT_TYPE
        );
        assert_eq!(
            response.headers()[orders_http::CORRELATION_ID_HEADER],
            "trace-404"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["type"], "/problems/route-not-found");
        assert_eq!(body["title"], "Not Found");
        assert_eq!(body["status"], 404);
        assert_eq!(body["correlationId"], "trace-404");
        assert_eq!(body["errors"], serde_json::json!([]));
    }

    #[test]
    fn given_a_text_body_then_it_travels_as_it_is() {
        let event = http_api_event(
            &Method::POST,
            &"/orders".parse().unwrap(),
            &HeaderMap::new(),
            b"abc",
            "::1",
            "r",
        );
        assert!(!event.is_base64_encoded);
        assert_eq!(event.body.as_deref(), Some("abc"));
    }
}
