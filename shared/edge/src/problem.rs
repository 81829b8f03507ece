//! RFC 9457 problem details (`application/problem+json`), the body of every
//! error answer of the HTTP functions.
//!
//! A problem names what went wrong and, for invalid requests, every offending
//! field (as a JSON pointer into the body) or header. It never echoes a value the
//! client sent: order fields may be personal data.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use orders_domain::contract::CorrelationId;
use orders_domain::model::FieldError;
use serde::Serialize;
use serde_json::json;

/// Media type of problem bodies.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// One thing wrong with a request: a body field (`pointer`), a header
/// (`header`), both when they contradict each other, or a path parameter
/// (`parameter`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// RFC 6901 JSON pointer into the body; `""` is the whole body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Name of the offending request header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<&'static str>,
    /// Name of the offending path parameter (as in the route, e.g. `orderId`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<&'static str>,
    /// What is wrong, without the value.
    pub detail: String,
}

impl Issue {
    /// A problem with a request header.
    pub fn header(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            pointer: None,
            header: Some(name),
            parameter: None,
            detail: detail.into(),
        }
    }

    /// A problem with a path parameter.
    pub fn parameter(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            pointer: None,
            header: None,
            parameter: Some(name),
            detail: detail.into(),
        }
    }

    /// Where the issue is, for log lines: the pointer, else `header:<name>`,
    /// else `parameter:<name>`.
    ///
    /// A pointer can hold the client's own text (the name of an unknown
    /// field), so each segment that is not a short plain word or index is
    /// logged as `<field>`: a client cannot put a name, an address or a
    /// megabyte into the log by misspelling a field.
    pub fn location(&self) -> String {
        match (&self.pointer, self.header, self.parameter) {
            (Some(pointer), _, _) => loggable_pointer(pointer),
            (None, Some(header), _) => format!("header:{header}"),
            (None, None, Some(parameter)) => format!("parameter:{parameter}"),
            (None, None, None) => String::new(),
        }
    }
}

/// Longest pointer segment written to a log as is.
const MAX_LOGGED_SEGMENT: usize = 32;

fn loggable_pointer(pointer: &str) -> String {
    pointer
        .split('/')
        .enumerate()
        .map(|(i, segment)| {
            let plain = segment.len() <= MAX_LOGGED_SEGMENT
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if i == 0 || plain { segment } else { "<field>" }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl From<FieldError> for Issue {
    fn from(err: FieldError) -> Self {
        Self {
            pointer: Some(err.pointer),
            header: None,
            parameter: None,
            detail: err.detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_pointers_with_client_text_when_logged_then_only_plain_segments_remain() {
        for (pointer, logged) in [
            ("/items/0/quantity", "/items/0/quantity"),
            ("/custmerName", "/custmerName"),
            ("/Harry Kane", "/<field>"),
            ("/items/3/a~1b", "/items/3/<field>"),
            ("", ""),
        ] {
            assert_eq!(loggable_pointer(pointer), logged);
        }
        let long = format!("/{}", "x".repeat(10_000));
        assert_eq!(loggable_pointer(&long), "/<field>");
    }

    #[test]
    fn given_the_shared_answers_then_each_carries_its_status_and_header() {
        let header = |problem: &Problem, name| {
            problem
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let not_allowed = Problem::method_not_allowed("GET", "read with GET");
        assert_eq!(not_allowed.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            header(&not_allowed, header::ALLOW),
            Some(HeaderValue::from_static("GET"))
        );
        let unavailable = Problem::service_unavailable("retry later", 2);
        assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            header(&unavailable, header::RETRY_AFTER),
            Some(HeaderValue::from(2))
        );
        let internal = Problem::internal_error("not done");
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(internal.headers.is_empty());
    }

    #[test]
    fn given_issues_then_the_locations_name_where_never_what() {
        let problem = Problem::new(StatusCode::BAD_REQUEST, "bad", "Bad", "see errors")
            .with_errors(vec![
                Issue::header("Idempotency-Key", "too long"),
                Issue::parameter("orderId", "bad character"),
                Issue::from(FieldError {
                    pointer: "/Harry Kane".to_owned(),
                    detail: "unknown field".to_owned(),
                }),
            ]);
        assert_eq!(
            problem.locations(),
            ["header:Idempotency-Key", "parameter:orderId", "/<field>"]
        );
        assert!(Problem::internal_error("not done").locations().is_empty());
    }
}

/// A problem details document about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Last segment of the `type` URI, `/problems/<slug>`.
    pub slug: &'static str,
    /// Short, fixed summary of the problem type.
    pub title: &'static str,
    /// HTTP status.
    pub status: StatusCode,
    /// What happened in this occurrence, without request values.
    pub detail: String,
    /// Every field or header issue; empty unless the request was invalid.
    pub errors: Vec<Issue>,
    /// Extra response headers (`Allow`, `Retry-After`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem without field issues or extra headers.
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            slug,
            title,
            status,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// `405`: the route takes only `allow`, named in the `Allow` header.
    pub fn method_not_allowed(allow: &'static str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            detail,
        )
        .with_header(header::ALLOW, HeaderValue::from_static(allow))
    }

    /// `503`: a failure on our side that passes (throttling, a timeout);
    /// the client is asked to retry after `retry_after_secs`. The detail
    /// says what was not done and how to retry, never why: a 5xx is opaque.
    pub fn service_unavailable(detail: impl Into<String>, retry_after_secs: u32) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service-unavailable",
            "Service unavailable",
            detail,
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_secs))
    }

    /// `500`: a failure on our side that a retry will not mend. The detail
    /// says what was not done, never why: a 5xx is opaque.
    pub fn internal_error(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "Internal error",
            detail,
        )
    }

    /// Where the request was wrong, for the log: each issue's
    /// [`Issue::location`] (pointers, header and parameter names, never
    /// values); empty unless the request was invalid.
    pub fn locations(&self) -> Vec<String> {
        self.errors.iter().map(Issue::location).collect()
    }

    /// Adds field or header issues.
    pub fn with_errors(mut self, errors: Vec<Issue>) -> Self {
        self.errors = errors;
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The JSON body. `correlationId` is an extension member so a client can
    /// quote it to support without reading headers.
    pub fn body(&self, correlation_id: &CorrelationId) -> serde_json::Value {
        json!({
            "type": format!("/problems/{}", self.slug),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
            "errors": self.errors,
            "correlationId": correlation_id.as_str(),
        })
    }

    /// The HTTP answer, carrying the correlation id header.
    pub fn into_response(self, correlation_id: &CorrelationId) -> Response<Body> {
        let body = self.body(correlation_id).to_string();
        let mut response = json_response(self.status, PROBLEM_CONTENT_TYPE, body, correlation_id);
        response.headers_mut().extend(self.headers);
        response
    }
}

/// A response with a JSON body, its media type and the `X-Correlation-Id`
/// header. Built without a fallible builder so the handler always answers.
pub fn json_response(
    status: StatusCode,
    content_type: &'static str,
    body: String,
    correlation_id: &CorrelationId,
) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // A correlation id is visible ASCII by construction, so this always holds.
    if let Ok(value) = HeaderValue::from_str(correlation_id.as_str()) {
        headers.insert(crate::CORRELATION_ID_HEADER, value);
    }
    response
}
