//! The HTTP edge: one `POST /orders` request becomes one message on the orders
//! FIFO queue, or one problem answer.
//!
//! Checks run cheapest first (method, media type, size, syntax, fields) and the
//! order is enqueued only when all pass; `202 Accepted` is sent only after the
//! queue confirmed, so an accepted order is never lost and a failed one is never
//! half-sent.

use adapters::ports::OutgoingOrder;
use http::header;
use http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use orders_domain::contract::{CorrelationId, OrderMessage};
use orders_domain::domain::{Order, OrderId, OrderRequest};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tracing::{Span, error, info, instrument};

use crate::config::Deps;
use crate::error::IntakeError;
use crate::problem::{Issue, json_response};
use crate::wire::{
    ACCEPTED_STATUS, CORRELATION_ID_HEADER, IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_NAME,
    MAX_BODY_BYTES,
};
use adapters::telemetry::ErrorChain;

/// Handles one API Gateway request (REST v1 or HTTP API v2).
///
/// Always returns `Ok`: every failure is answered with a status and an RFC 9457
/// problem body, and logged with `stage`, `outcome`, `order_id` and
/// `correlation_id` but never the request's content.
#[instrument(
    name = "intake",
    skip_all,
    fields(
        stage = "intake",
        order_id = tracing::field::Empty,
        correlation_id = tracing::field::Empty
    )
)]
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let correlation_id = correlation_id(&request);
    Span::current().record("correlation_id", correlation_id.as_str());

    let response = match accept(deps, &request, &correlation_id).await {
        Ok(order_id) => {
            info!(
                stage = "intake",
                outcome = "accepted",
                order_id = %order_id,
                correlation_id = %correlation_id,
                "order accepted"
            );
            accepted(&order_id, &correlation_id)
        }
        Err(err) => {
            log_failure(&err, &correlation_id);
            err.problem().into_response(&correlation_id)
        }
    };
    Ok(response)
}

/// Validates the request and enqueues the order; returns its id once the queue
/// holds it.
async fn accept(
    deps: &Deps,
    request: &Request,
    correlation_id: &CorrelationId,
) -> Result<OrderId, IntakeError> {
    if request.method() != Method::POST {
        return Err(IntakeError::MethodNotAllowed);
    }
    if !is_json(request) {
        return Err(IntakeError::UnsupportedMediaType);
    }
    let bytes = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(IntakeError::PayloadTooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(IntakeError::NotUtf8)?;
    let json: Value = serde_json::from_str(text).map_err(IntakeError::MalformedJson)?;

    let (order_id, order, minted) = resolve(&json, idempotency_key(request))?;
    Span::current().record("order_id", order_id.as_str());

    let message = OrderMessage::new(
        order_id.clone(),
        correlation_id.clone(),
        OffsetDateTime::now_utc(),
        order,
    );
    let outgoing = OutgoingOrder {
        group_id: deps.strategy().group_id(&message.order_id, &message.order),
        // Covers the id and the content but not the time or correlation id, so a
        // client's retry is dropped by SQS while a different order reusing the id
        // reaches the worker, which reports the conflict.
        dedup_id: message.content_hash().as_str().to_owned(),
        message,
    };
    match deps.queue().enqueue(&outgoing).await {
        Ok(()) => Ok(order_id),
        Err(source) => Err(IntakeError::Queue {
            order_id,
            minted,
            source,
        }),
    }
}

/// Parses the order and settles its id: the body's `orderID`, else the
/// `Idempotency-Key` header, else a freshly minted one (the `bool` says so).
/// Collects every field and header issue before answering.
fn resolve(
    json: &Value,
    header_id: Result<Option<OrderId>, Issue>,
) -> Result<(OrderId, Order, bool), IntakeError> {
    let mut issues = Vec::new();
    let parsed = match OrderRequest::from_json(json) {
        Ok(parsed) => Some(parsed),
        Err(errors) => {
            issues.extend(errors.0.into_iter().map(Issue::from));
            None
        }
    };
    let header_id = header_id.unwrap_or_else(|issue| {
        issues.push(issue);
        None
    });
    let Some(OrderRequest {
        order_id: body_id,
        order_id_field,
        order,
    }) = parsed
    else {
        return Err(IntakeError::Invalid(issues));
    };
    if let (Some(body), Some(header)) = (&body_id, &header_id) {
        if body != header {
            let key = order_id_field;
            issues.push(Issue {
                pointer: Some(format!("/{key}")),
                header: Some(IDEMPOTENCY_KEY_NAME),
                detail: format!(
                    "{key} and the {IDEMPOTENCY_KEY_NAME} header differ; send the same id in both, or only one"
                ),
            });
        }
    }
    if !issues.is_empty() {
        return Err(IntakeError::Invalid(issues));
    }
    match body_id.or(header_id) {
        Some(order_id) => Ok((order_id, order, false)),
        None => Ok((OrderId::mint(), order, true)),
    }
}

/// Whether the body is declared as JSON: `application/json`, any case, with or
/// without parameters such as `charset`.
fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The `Idempotency-Key` header as an order id, if sent. Accepts the bare token
/// and the quoted structured-field string of the IETF draft (`"abc"`).
fn idempotency_key(request: &Request) -> Result<Option<OrderId>, Issue> {
    let mut values = request.headers().get_all(IDEMPOTENCY_KEY_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Issue::header(
            IDEMPOTENCY_KEY_NAME,
            "send at most one Idempotency-Key header",
        ));
    }
    let raw = value.to_str().map_err(|_| {
        Issue::header(
            IDEMPOTENCY_KEY_NAME,
            "Idempotency-Key must be visible ASCII",
        )
    })?;
    let raw = raw.trim();
    let raw = raw
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(raw);
    OrderId::parse(raw)
        .map(Some)
        .map_err(|err| Issue::header(IDEMPOTENCY_KEY_NAME, format!("Idempotency-Key: {err}")))
}

/// The request's correlation id: the caller's `X-Correlation-Id` when it is
/// 1–64 of `[A-Za-z0-9._:-]`, else API Gateway's request id (which also
/// appears in its access logs), else a fresh one.
fn correlation_id(request: &Request) -> CorrelationId {
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

/// The `202 Accepted` answer.
fn accepted(order_id: &OrderId, correlation_id: &CorrelationId) -> Response<Body> {
    let body = json!({
        "orderId": order_id.as_str(),
        "status": ACCEPTED_STATUS,
        "correlationId": correlation_id.as_str(),
    });
    json_response(
        StatusCode::ACCEPTED,
        "application/json",
        body.to_string(),
        correlation_id,
    )
}

/// Most issue locations written to one log line; the answer lists them all.
const MAX_LOGGED_LOCATIONS: usize = 20;

/// One log line per failed request: client errors at info with the offending
/// locations, our failures at error with the cause chain.
fn log_failure(err: &IntakeError, correlation_id: &CorrelationId) {
    let problem = err.problem();
    let status = problem.status.as_u16();
    if err.is_client_error() {
        let locations = err.locations();
        let shown = &locations[..locations.len().min(MAX_LOGGED_LOCATIONS)];
        info!(
            stage = "intake",
            outcome = "rejected",
            status,
            problem = problem.slug,
            correlation_id = %correlation_id,
            error_count = locations.len(),
            pointers = ?shown,
            "order rejected"
        );
    } else {
        let order_id = err.order_id().map(OrderId::as_str).unwrap_or_default();
        error!(
            stage = "intake",
            outcome = "failed",
            status,
            order_id,
            correlation_id = %correlation_id,
            error = %ErrorChain(err),
            "order not accepted"
        );
    }
}

#[cfg(test)]
mod tests;
