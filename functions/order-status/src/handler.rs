//! The HTTP edge: one `GET /orders/{orderId}` request becomes one strongly
//! consistent read, answered with the order's public view or a problem.

use http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use orders_adapters::record::StoredOrder;
use orders_adapters::telemetry::ErrorChain;
use orders_domain::contract::CorrelationId;
use orders_domain::model::OrderId;
use orders_http::{Issue, correlation_id, json_response};
use time::OffsetDateTime;
use tracing::{error, info, instrument};

use crate::absence::Absence;
use crate::config::Deps;
use crate::error::StatusError;
use crate::view::OrderView;

/// Name of the route's path parameter, `GET /orders/{orderId}`.
pub const ORDER_ID_PARAMETER: &str = "orderId";

/// Handles one API Gateway request (HTTP API v2 or REST v1).
///
/// Always returns `Ok`: every failure is answered with a status and an RFC
/// 9457 problem body, and logged with `stage`, `outcome`, `order_id` and
/// `correlation_id`, never the order's content.
// Each log line names its own ids; the span adds none, so no field is
// written twice.
#[instrument(name = "status", skip_all)]
pub async fn handle(deps: &Deps, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let correlation_id = correlation_id(&request);

    let response = match lookup(deps, &request).await {
        Ok(stored) => found(&stored, &correlation_id),
        Err(err) => {
            log_failure(&err, &correlation_id);
            err.problem().into_response(&correlation_id)
        }
    };
    Ok(response)
}

/// Validates the id and reads the caller's order with it. Only the caller's:
/// another owner's order with this id is looked up under another key, so
/// it is absent here, and answered exactly as an id never seen.
async fn lookup(deps: &Deps, request: &Request) -> Result<StoredOrder, StatusError> {
    if request.method() != Method::GET {
        return Err(StatusError::MethodNotAllowed);
    }
    let owner = deps.owners().owner(request)?;
    let order_id = order_id(request)?;
    match deps.reader().get(&owner, &order_id).await {
        Ok(Some(stored)) => Ok(stored),
        Ok(None) => {
            let absence = Absence::of(&order_id, OffsetDateTime::now_utc());
            Err(StatusError::NotFound { order_id, absence })
        }
        Err(source) => Err(StatusError::Read { order_id, source }),
    }
}

/// The `orderId` path parameter, checked by the domain's rules for order ids.
///
/// API Gateway passes it in `pathParameters`; a request without them (a
/// hand-built one, a proxy route) is read from the path's last segment.
fn order_id(request: &Request) -> Result<OrderId, StatusError> {
    let raw = request
        .path_parameters_ref()
        .and_then(|params| params.first(ORDER_ID_PARAMETER))
        .map(str::to_owned)
        .or_else(|| {
            request
                .uri()
                .path()
                .rsplit_once("/orders/")
                .map(|(_, id)| id.to_owned())
        })
        .unwrap_or_default();
    OrderId::parse_reporting_all(&raw).map_err(|broken| {
        StatusError::InvalidOrderId(
            broken
                .iter()
                .map(|b| Issue::parameter(ORDER_ID_PARAMETER, b.to_string()))
                .collect(),
        )
    })
}

/// The `200 OK` answer: the order's public view.
fn found(stored: &StoredOrder, correlation_id: &CorrelationId) -> Response<Body> {
    let view = OrderView::from(stored);
    match serde_json::to_string(&view) {
        Ok(body) => {
            info!(
                stage = "status",
                outcome = "found",
                status = 200,
                order_id = %stored.order_id,
                owner = %stored.owner,
                correlation_id = %correlation_id,
                "order status read"
            );
            json_response(StatusCode::OK, "application/json", body, correlation_id)
        }
        // Only a timestamp outside RFC 3339's years could fail here.
        Err(err) => {
            error!(
                stage = "status",
                outcome = "failed",
                status = 500,
                order_id = %stored.order_id,
                owner = %stored.owner,
                correlation_id = %correlation_id,
                error = %ErrorChain(&err),
                "order status not rendered"
            );
            orders_http::Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal error",
                "the order's status could not be read",
            )
            .into_response(correlation_id)
        }
    }
}

/// One log line per request that found no order: a missing order or a bad
/// request at info, our failures at error with the cause chain.
fn log_failure(err: &StatusError, correlation_id: &CorrelationId) {
    let status = err.problem().status.as_u16();
    let order_id = err.order_id().map(OrderId::as_str).unwrap_or_default();
    if err.is_client_error() {
        info!(
            stage = "status",
            outcome = err.outcome(),
            status,
            order_id,
            correlation_id = %correlation_id,
            locations = ?err.locations(),
            "no order status to show"
        );
    } else {
        error!(
            stage = "status",
            outcome = err.outcome(),
            status,
            order_id,
            correlation_id = %correlation_id,
            error = %ErrorChain(err),
            "order status not read"
        );
    }
}

#[cfg(test)]
mod tests;
