//! The HTTP edge: one `POST /orders` request becomes one message on the orders
//! FIFO queue, or one problem answer.
//!
//! Checks run cheapest first (method, media type, size, syntax, fields) and the
//! order is enqueued only when all pass; `202 Accepted` is sent only after the
//! queue confirmed, so an accepted order is never lost and a failed one is never
//! half-sent.

use http::HeaderValue;
use http::header;
use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use orders_adapters::ports::OutgoingOrder;
use orders_domain::contract::{CorrelationId, OrderMessage};
use orders_domain::model::{Order, OrderId, OrderRequest, OwnerKey};
use orders_http::{Issue, correlation_id, json_response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tracing::{error, info, instrument};

use crate::config::Deps;
use crate::error::IntakeError;
use crate::wire::{
    ACCEPTED_STATUS, IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_NAME, MAX_BODY_BYTES, order_location,
};
use orders_adapters::telemetry::ErrorChain;

/// Handles one API Gateway request (REST v1 or HTTP API v2).
///
/// Always returns `Ok`: every failure is answered with a status and an RFC 9457
/// problem body, and logged with `stage`, `outcome`, `order_id` and
/// `correlation_id` but never the request's content.
// The span names the function only: each outcome line carries its own
// `order_id` and `correlation_id` at the top level of the JSON line, where
// the metric filters and log searches look, so span fields would print them
// a second time.
#[instrument(name = "intake", skip_all)]
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let correlation_id = correlation_id(&request);

    let response = match accept(deps, &request, &correlation_id).await {
        Ok((owner, order_id, accepted_at)) => {
            info!(
                stage = "intake",
                outcome = "accepted",
                order_id = %order_id,
                owner = %owner,
                correlation_id = %correlation_id,
                // Accepted -> enqueued: the first stage of the order's latency.
                age_ms = orders_adapters::telemetry::age_ms(accepted_at, OffsetDateTime::now_utc()),
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

/// Validates the request and enqueues the order; returns its owner, its id
/// and `acceptedAt` once the queue holds it.
async fn accept(
    deps: &Deps,
    request: &Request,
    correlation_id: &CorrelationId,
) -> Result<(OwnerKey, OrderId, OffsetDateTime), IntakeError> {
    if request.method() != Method::POST {
        return Err(IntakeError::MethodNotAllowed);
    }
    let owner = deps.owners().owner(request)?;
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

    let message = OrderMessage::new(
        owner,
        order_id.clone(),
        correlation_id.clone(),
        OffsetDateTime::now_utc(),
        order,
    );
    let outgoing = OutgoingOrder {
        group_id: deps
            .strategy()
            .group_id(&message.owner, &message.order_id, &message.order),
        // Covers the owner, the id and the content but not the time or
        // correlation id, so a client's retry is dropped by SQS while a
        // different order reusing the id reaches the worker, which reports
        // the conflict, and another owner's order with the same id and
        // content is not dropped.
        dedup_id: message.content_hash().as_str().to_owned(),
        trace_header: trace_header(request),
        message,
    };
    let accepted_at = outgoing.message.accepted_at;
    match deps.queue().enqueue(&outgoing).await {
        Ok(()) => Ok((outgoing.message.owner, order_id, accepted_at)),
        Err(source) => Err(IntakeError::Queue {
            order_id,
            minted,
            source,
        }),
    }
}

/// This invocation's X-Ray trace header, which the runtime reads from the
/// `Lambda-Runtime-Trace-Id` header of the invocation (`_X_AMZN_TRACE_ID` in
/// other runtimes). Passed on to SQS as `AWSTraceHeader` so the worker's
/// segment joins this trace
/// (<https://docs.aws.amazon.com/xray/latest/devguide/xray-services-sqs.html>).
fn trace_header(request: &Request) -> Option<String> {
    use lambda_http::RequestExt as _;
    request
        .lambda_context_ref()
        .and_then(|context| context.xray_trace_id.clone())
        .filter(|id| !id.is_empty())
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
                parameter: None,
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

/// The `202 Accepted` answer, with `Location` naming the order's status
/// resource so a client can ask what became of it.
fn accepted(order_id: &OrderId, correlation_id: &CorrelationId) -> Response<Body> {
    let body = json!({
        "orderId": order_id.as_str(),
        "status": ACCEPTED_STATUS,
        "correlationId": correlation_id.as_str(),
    });
    let mut response = json_response(
        StatusCode::ACCEPTED,
        "application/json",
        body.to_string(),
        correlation_id,
    );
    // An order id is visible ASCII by construction, so this always holds.
    if let Ok(location) = HeaderValue::from_str(&order_location(order_id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Most issue locations written to one log line; the answer lists them all.
const MAX_LOGGED_LOCATIONS: usize = 20;

/// One log line per failed request: client errors at info with the offending
/// locations, our failures at error with the cause chain.
fn log_failure(err: &IntakeError, correlation_id: &CorrelationId) {
    let problem = err.problem();
    let status = problem.status.as_u16();
    if err.is_client_error() {
        let locations = problem.locations();
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
