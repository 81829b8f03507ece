//! Handler tests on the in-memory queue, driven by hand-built requests and by
//! every `events/apigw-*.json` sample.

use std::sync::Arc;

use http::HeaderValue;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use orders_adapters::memory::{Fault, MemoryQueue};
use orders_adapters::telemetry::LogCapture;
use orders_domain::test_support::legacy_order;

use super::*;
use crate::config::GroupStrategy;
use crate::wire::CORRELATION_ID_HEADER;

const V1_LEGACY: &str = include_str!("../../../../../events/apigw-v1-legacy-order.json");
const V2_ORDER: &str = include_str!("../../../../../events/apigw-v2-order.json");
const V2_INVALID: &str = include_str!("../../../../../events/apigw-v2-invalid-order.json");

const V1_REQUEST_ID: &str = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b";

/// The old system's body (id `23214`), as text.
fn legacy_body() -> String {
    legacy_order("23214").to_string()
}

/// The legacy body without its `orderID`: intake takes the id from a header
/// or mints one.
fn no_id_body() -> String {
    let mut body = legacy_order("23214");
    body.as_object_mut().unwrap().remove("orderID");
    body.to_string()
}

fn deps_with(strategy: GroupStrategy) -> (Arc<MemoryQueue>, Deps) {
    let queue = Arc::new(MemoryQueue::default());
    let deps = Deps::new(queue.clone(), strategy, orders_http::Owners::open());
    (queue, deps)
}

fn memory_deps() -> (Arc<MemoryQueue>, Deps) {
    deps_with(GroupStrategy::Customer)
}

fn event(raw: &str) -> Request {
    lambda_http::request::from_str(raw).expect("sample event parses")
}

fn request(method: Method, content_type: Option<&str>, body: impl Into<Body>) -> Request {
    let mut builder = http::Request::builder().method(method).uri("/orders");
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(body.into()).unwrap()
}

fn post(body: &str) -> Request {
    request(Method::POST, Some("application/json"), body.to_owned())
}

fn with_header(mut request: Request, name: &'static str, value: &str) -> Request {
    request
        .headers_mut()
        .append(name, HeaderValue::from_str(value).unwrap());
    request
}

async fn send(deps: &Deps, request: Request) -> Response<Body> {
    handle(deps, request).await.expect("handle always answers")
}

fn json_body(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).expect("JSON body")
}

fn header_of(response: &Response<Body>, name: impl header::AsHeaderName) -> &str {
    response
        .headers()
        .get(name)
        .expect("header present")
        .to_str()
        .unwrap()
}

/// Asserts an RFC 9457 answer and returns its body.
fn problem(response: &Response<Body>, status: u16, slug: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        header_of(response, header::CONTENT_TYPE),
        "application/problem+json"
    );
    let body = json_body(response);
    assert_eq!(body["type"], format!("/problems/{slug}"));
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string());
    assert!(body["errors"].is_array());
    body
}

fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["pointer"].as_str().map(str::to_owned))
        .collect()
}

// ---- sample events -------------------------------------------------------

#[tokio::test]
async fn given_the_legacy_v1_event_when_handled_twice_then_one_message_with_stable_ids() {
    let (queue, deps) = memory_deps();

    let first = send(&deps, event(V1_LEGACY)).await;
    let second = send(&deps, event(V1_LEGACY)).await;

    for response in [&first, &second] {
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(
            header_of(response, header::CONTENT_TYPE),
            "application/json"
        );
        assert_eq!(
            json_body(response),
            json!({"orderId": "23214", "status": "ACCEPTED", "correlationId": V1_REQUEST_ID})
        );
        assert_eq!(header_of(response, "x-correlation-id"), V1_REQUEST_ID);
        assert_eq!(header_of(response, header::LOCATION), "/orders/23214");
    }
    let sent = queue.sent();
    assert_eq!(sent.len(), 1, "the retry is deduplicated");
    let message = &sent[0];
    assert_eq!(message.message.order_id.as_str(), "23214");
    assert_eq!(message.message.correlation_id.as_str(), V1_REQUEST_ID);
    assert_eq!(message.dedup_id, message.message.content_hash().as_str());
    assert_eq!(
        message.group_id,
        format!(
            "customer-{}",
            message.message.order.customer_key(&message.message.owner)
        )
    );

    // The same event handled again elsewhere (a later retry, another
    // instance) produces the very same routing.
    let (other_queue, other_deps) = memory_deps();
    send(&other_deps, event(V1_LEGACY)).await;
    let again = &other_queue.sent()[0];
    assert_eq!(again.dedup_id, message.dedup_id);
    assert_eq!(again.group_id, message.group_id);
}

#[test]
fn given_the_sample_events_when_parsed_then_each_has_its_gateway_context() {
    let v1 = event(V1_LEGACY);
    assert!(matches!(
        v1.request_context_ref(),
        Some(RequestContext::ApiGatewayV1(_))
    ));
    assert_eq!(v1.method(), Method::POST);
    assert_eq!(
        serde_json::from_slice::<Value>(v1.body().as_ref()).unwrap(),
        legacy_order("23214"),
        "the sample event carries the old system's body"
    );
    for raw in [V2_ORDER, V2_INVALID] {
        let v2 = event(raw);
        assert!(matches!(
            v2.request_context_ref(),
            Some(RequestContext::ApiGatewayV2(_))
        ));
        assert_eq!(v2.method(), Method::POST);
    }
}

#[tokio::test]
async fn given_the_v2_event_when_handled_then_header_ids_are_used_and_prices_kept() {
    let (queue, deps) = memory_deps();

    let response = send(&deps, event(V2_ORDER)).await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body = json_body(&response);
    assert_eq!(body["orderId"], "web-7f3a9c2e-0001");
    assert_eq!(body["correlationId"], "web-session-4c1f-req-0042");
    assert_eq!(
        header_of(&response, "x-correlation-id"),
        "web-session-4c1f-req-0042"
    );
    let sent = queue.sent();
    assert_eq!(sent.len(), 1);
    let order = &sent[0].message.order;
    assert_eq!(order.currency().map(|c| c.as_str()), Some("EUR"));
    assert_eq!(
        order.total().map(|t| t.minor_units()),
        Some(2 * 1999 + 4500)
    );
    assert!(order.customer_email().is_some());
}

#[tokio::test]
async fn given_the_v2_event_without_correlation_header_then_the_gateway_request_id_is_used() {
    let (queue, deps) = memory_deps();
    let mut request = event(V2_ORDER);
    request.headers_mut().remove(CORRELATION_ID_HEADER);

    let response = send(&deps, request).await;

    assert_eq!(json_body(&response)["correlationId"], "Q1w2E3r4T5y6U7i=");
    assert_eq!(
        queue.sent()[0].message.correlation_id.as_str(),
        "Q1w2E3r4T5y6U7i="
    );
}

#[tokio::test]
async fn given_the_invalid_v2_event_when_handled_then_422_lists_every_field_without_values() {
    let (queue, deps) = memory_deps();

    let response = send(&deps, event(V2_INVALID)).await;

    let body = problem(&response, 422, "invalid-order");
    let found = pointers(&body);
    for expected in [
        "/coupon",
        "/orderID",
        "/customerName",
        "/customerEmail",
        "/currency",
        "/items/0/quantity",
        "/items/1/itemId",
        "/items/1/unitPrice",
        "/items/2/colour",
        "/items/2/quantity",
    ] {
        assert!(
            found.iter().any(|p| p == expected),
            "{expected} missing from {found:?}"
        );
    }
    let text = body.to_string();
    for value in [
        "order #1",
        "not-an-email",
        "Ly Thuong",
        "FREE",
        "\"red\"",
        "1.5",
    ] {
        assert!(!text.contains(value), "{value} echoed in {text}");
    }
    assert_eq!(body["correlationId"], "Z9x8C7v6B5n4M3a=");
    assert!(queue.sent().is_empty());
}

// ---- method, media type, size, syntax ---------------------------------------

#[tokio::test]
async fn given_a_method_other_than_post_then_405_with_allow_post() {
    let (queue, deps) = memory_deps();
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
        let response = send(
            &deps,
            request(method, Some("application/json"), legacy_body()),
        )
        .await;
        problem(&response, 405, "method-not-allowed");
        assert_eq!(header_of(&response, header::ALLOW), "POST");
    }
    assert!(queue.sent().is_empty());
}

#[tokio::test]
async fn given_a_non_json_content_type_then_415() {
    let (queue, deps) = memory_deps();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
    ] {
        let response = send(&deps, request(Method::POST, content_type, legacy_body())).await;
        problem(&response, 415, "unsupported-media-type");
    }
    assert!(queue.sent().is_empty());
}

#[tokio::test]
async fn given_json_with_parameters_or_other_case_then_accepted() {
    let (queue, deps) = memory_deps();
    for content_type in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "APPLICATION/JSON;charset=UTF-8",
    ] {
        let response = send(
            &deps,
            request(Method::POST, Some(content_type), legacy_body()),
        )
        .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{content_type}");
    }
    assert_eq!(queue.sent().len(), 1);
}

#[tokio::test]
async fn given_a_body_over_64_kib_then_413_and_exactly_64_kib_is_accepted() {
    let (queue, deps) = memory_deps();
    let legacy = legacy_body();
    let at_limit = legacy.clone() + &" ".repeat(MAX_BODY_BYTES - legacy.len());
    assert_eq!(at_limit.len(), 65536);
    let over = format!("{at_limit} ");

    let response = send(&deps, post(&over)).await;
    problem(&response, 413, "payload-too-large");
    assert!(queue.sent().is_empty());

    let response = send(&deps, post(&at_limit)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn given_a_body_that_is_not_utf8_or_not_json_then_400() {
    let (queue, deps) = memory_deps();
    let not_utf8 = request(
        Method::POST,
        Some("application/json"),
        Body::Binary(vec![b'{', 0xff, 0xfe, b'}']),
    );
    let response = send(&deps, not_utf8).await;
    problem(&response, 400, "malformed-json");

    for body in ["", "{", "{\"customerName\": Harry}", "nul"] {
        let response = send(&deps, post(body)).await;
        let problem = problem(&response, 400, "malformed-json");
        assert!(!problem.to_string().contains("Harry"));
    }
    let response = send(
        &deps,
        request(Method::POST, Some("application/json"), Body::Empty),
    )
    .await;
    problem(&response, 400, "malformed-json");
    assert!(queue.sent().is_empty());
}

// ---- validation ------------------------------------------------------------

#[tokio::test]
async fn given_missing_fields_wrong_types_or_a_non_object_then_422_names_each() {
    let (queue, deps) = memory_deps();

    let body = problem(&send(&deps, post("{}")).await, 422, "invalid-order");
    assert_eq!(
        pointers(&body),
        ["/customerName", "/shippingAddress", "/items"]
    );

    let wrong_types = r#"{"orderID":23214,"customerName":["Harry"],"shippingAddress":"x","items":{"itemId":"a"}}"#;
    let body = problem(&send(&deps, post(wrong_types)).await, 422, "invalid-order");
    assert_eq!(pointers(&body), ["/orderID", "/customerName", "/items"]);
    assert!(!body.to_string().contains("Harry"));

    let body = problem(&send(&deps, post("[1,2]")).await, 422, "invalid-order");
    assert_eq!(pointers(&body), [""]);
    assert!(queue.sent().is_empty());
}

// ---- order id --------------------------------------------------------------

#[tokio::test]
async fn given_no_id_anywhere_then_a_uuid_v7_is_minted_per_request() {
    let (queue, deps) = memory_deps();

    let a = json_body(&send(&deps, post(&no_id_body())).await);
    let b = json_body(&send(&deps, post(&no_id_body())).await);

    let a = a["orderId"].as_str().unwrap();
    let b = b["orderId"].as_str().unwrap();
    assert_ne!(a, b);
    assert_eq!(uuid::Uuid::parse_str(a).unwrap().get_version_num(), 7);
    assert_eq!(queue.sent().len(), 2);
}

#[tokio::test]
async fn given_an_idempotency_key_when_retried_then_same_id_and_dedup_id() {
    let (queue, deps) = memory_deps();
    let send_keyed = |key: &'static str| {
        let deps = &deps;
        async move {
            send(
                deps,
                with_header(post(&no_id_body()), "idempotency-key", key),
            )
            .await
        }
    };

    let first = send_keyed("client-key-1").await;
    let retry = send_keyed("client-key-1").await;
    let quoted = send_keyed("\"client-key-1\"").await;

    for response in [&first, &retry, &quoted] {
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(json_body(response)["orderId"], "client-key-1");
    }
    assert_eq!(queue.sent().len(), 1);
}

#[tokio::test]
async fn given_an_invalid_idempotency_key_then_422_names_the_header() {
    let (queue, deps) = memory_deps();
    for key in ["has space", "", &"k".repeat(65), "bad/char"] {
        let response = send(
            &deps,
            with_header(post(&no_id_body()), "idempotency-key", key),
        )
        .await;
        let body = problem(&response, 422, "invalid-order");
        assert_eq!(body["errors"][0]["header"], "Idempotency-Key", "{key}");
        assert!(body["errors"][0].get("pointer").is_none());
    }
    let twice = with_header(
        with_header(post(&no_id_body()), "idempotency-key", "a"),
        "idempotency-key",
        "b",
    );
    let body = problem(&send(&deps, twice).await, 422, "invalid-order");
    assert_eq!(body["errors"][0]["header"], "Idempotency-Key");
    assert!(queue.sent().is_empty());
}

#[tokio::test]
async fn given_an_invalid_key_and_invalid_fields_then_all_are_listed() {
    let (_queue, deps) = memory_deps();
    let response = send(
        &deps,
        with_header(
            post(r#"{"customerName":"A"}"#),
            "idempotency-key",
            "bad key",
        ),
    )
    .await;
    let body = problem(&response, 422, "invalid-order");
    assert_eq!(pointers(&body), ["/shippingAddress", "/items"]);
    assert_eq!(body["errors"][2]["header"], "Idempotency-Key");
}

#[tokio::test]
async fn given_body_id_and_key_when_they_differ_then_422_and_when_equal_then_accepted() {
    let (queue, deps) = memory_deps();

    let response = send(
        &deps,
        with_header(post(&legacy_body()), "idempotency-key", "other-id"),
    )
    .await;
    let body = problem(&response, 422, "invalid-order");
    assert_eq!(body["errors"][0]["pointer"], "/orderID");
    assert_eq!(body["errors"][0]["header"], "Idempotency-Key");
    assert!(queue.sent().is_empty());

    let response = send(
        &deps,
        with_header(post(&legacy_body()), "idempotency-key", "23214"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(json_body(&response)["orderId"], "23214");
}

#[tokio::test]
async fn given_the_same_id_with_different_content_then_both_reach_the_queue() {
    let (queue, deps) = memory_deps();
    let mut changed = legacy_order("23214");
    changed["items"][0]["quantity"] = json!(23);
    let changed = changed.to_string();

    send(&deps, post(&legacy_body())).await;
    send(&deps, post(&changed)).await;

    let sent = queue.sent();
    assert_eq!(sent.len(), 2, "the worker, not SQS, reports the conflict");
    assert_eq!(sent[0].message.order_id, sent[1].message.order_id);
    assert_ne!(sent[0].dedup_id, sent[1].dedup_id);
    assert_eq!(sent[0].group_id, sent[1].group_id);
}

// ---- routing, correlation, time -------------------------------------------

#[tokio::test]
async fn given_the_order_strategy_then_each_order_is_its_own_group() {
    let (queue, deps) = deps_with(GroupStrategy::Order);

    send(&deps, post(&legacy_body())).await;

    assert_eq!(queue.sent()[0].group_id, "order-anonymous-23214");
}

#[tokio::test]
async fn given_customers_then_groups_differ_by_customer_and_hold_no_names() {
    let (queue, deps) = memory_deps();
    let mut other = legacy_order("23215");
    other["customerName"] = json!("Son Heung-min");
    let other = other.to_string();

    send(&deps, post(&legacy_body())).await;
    send(&deps, post(&other)).await;

    let sent = queue.sent();
    assert_ne!(sent[0].group_id, sent[1].group_id);
    for message in &sent {
        assert!(message.group_id.starts_with("customer-"));
        assert!(!message.group_id.to_lowercase().contains("harry"));
    }
}

#[tokio::test]
async fn given_correlation_headers_then_valid_ones_are_kept_and_others_replaced() {
    let (_queue, deps) = memory_deps();

    for good in ["abc-123", "A.b_c:9", &"c".repeat(64)] {
        let kept = send(
            &deps,
            with_header(post(&legacy_body()), "x-correlation-id", good),
        )
        .await;
        assert_eq!(json_body(&kept)["correlationId"], good);
    }

    // Unusable header and no gateway context: a fresh id.
    // Finding: any visible ASCII up to 128 characters used to reach the admin
    // e-mail; only 1-64 of [A-Za-z0-9._:-] is kept now.
    for bad in [
        "has space",
        &"c".repeat(129),
        &"c".repeat(65),
        "<b>urgent</b>",
        "a=b",
        "café",
    ] {
        let replaced = send(
            &deps,
            with_header(post(&legacy_body()), "x-correlation-id", bad),
        )
        .await;
        let id = json_body(&replaced)["correlationId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        assert_eq!(header_of(&replaced, "x-correlation-id"), id);
    }

    // Unusable header on a gateway event: the gateway's request id.
    let mut request = event(V1_LEGACY);
    request
        .headers_mut()
        .insert(CORRELATION_ID_HEADER, HeaderValue::from_static("a b"));
    let fallback = send(&deps, request).await;
    assert_eq!(json_body(&fallback)["correlationId"], V1_REQUEST_ID);
}

#[tokio::test]
async fn given_an_accepted_order_then_accepted_at_is_now_in_utc() {
    let (queue, deps) = memory_deps();
    let before = OffsetDateTime::now_utc();

    send(&deps, post(&legacy_body())).await;

    let accepted_at = queue.sent()[0].message.accepted_at;
    assert!(accepted_at >= before && accepted_at <= OffsetDateTime::now_utc());
    assert!(accepted_at.offset().is_utc());
}

// ---- queue failures ----------------------------------------------------------

#[tokio::test]
async fn given_the_queue_is_unavailable_then_503_with_retry_after_and_nothing_enqueued() {
    let (queue, deps) = memory_deps();
    queue.fail_next(1, Fault::Transient);

    let response = send(&deps, post(&legacy_body())).await;

    let body = problem(&response, 503, "service-unavailable");
    assert_eq!(header_of(&response, header::RETRY_AFTER), "2");
    assert!(!body.to_string().contains("injected"));
    assert!(queue.sent().is_empty());

    // The client's retry goes through once the queue recovers.
    let retry = send(&deps, post(&legacy_body())).await;
    assert_eq!(retry.status(), StatusCode::ACCEPTED);
    assert_eq!(queue.sent().len(), 1);
}

#[tokio::test]
async fn given_the_queue_is_unavailable_and_no_id_anywhere_then_the_503_says_to_retry_with_an_idempotency_key()
 {
    // A plain retry of a body without orderID would mint a second order.
    let (queue, deps) = memory_deps();
    queue.fail_next(2, Fault::Transient);

    let minted = send(&deps, post(&no_id_body())).await;
    let with_id = send(&deps, post(&legacy_body())).await;

    let detail = problem(&minted, 503, "service-unavailable")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("Idempotency-Key"), "{detail}");
    let detail = problem(&with_id, 503, "service-unavailable")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("same request"), "{detail}");
    assert!(!detail.contains("Idempotency-Key"), "{detail}");
}

#[tokio::test]
async fn given_text_the_queue_would_refuse_or_bidi_controls_then_422_at_the_field() {
    // Finding: U+FFFF passed validation and SQS then refused the message (500);
    // bidi overrides reached the admin e-mail.
    let (queue, deps) = memory_deps();
    for (field, value) in [
        ("customerName", "Harry\u{FFFF}Kane"),
        ("shippingAddress", "11 Nguyen\u{FFFE} Van Linh"),
        ("customerName", "Harry \u{202E}enaK"),
        ("shippingAddress", "\u{2066}Hanoi\u{2069}"),
    ] {
        let mut body = legacy_order("23214");
        body[field] = json!(value);
        let response = send(&deps, post(&body.to_string())).await;
        let problem = problem(&response, 422, "invalid-order");
        assert_eq!(pointers(&problem), [format!("/{field}")], "{value:?}");
    }
    assert!(queue.sent().is_empty());
    // Zero-width joiners are part of many scripts and emoji: still accepted.
    let mut body = legacy_order("23214");
    body["customerName"] =
        json!("\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} \u{0915}\u{094D}\u{200D}\u{0937}");
    let response = send(&deps, post(&body.to_string())).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn given_a_null_currency_with_unit_prices_then_422_not_an_accepted_poison_message() {
    // Finding 1: this body got 202 and its message could not be read by the worker.
    let (queue, deps) = memory_deps();
    let body = r#"{"customerName":"A","shippingAddress":"B","currency":null,"items":[{"itemId":"x","quantity":1,"unitPrice":100}]}"#;

    let response = send(&deps, post(body)).await;

    let problem = problem(&response, 422, "invalid-order");
    assert_eq!(pointers(&problem), ["/currency"]);
    assert!(queue.sent().is_empty());
}

#[tokio::test]
async fn given_a_long_unknown_field_name_then_the_log_names_a_placeholder_not_the_text() {
    let capture = LogCapture::default();
    let _guard = capture.set_default();
    let (_queue, deps) = memory_deps();
    let mut body = legacy_order("23214");
    let field = format!("Harry Kane lives at {}", "x".repeat(5000));
    body[&field] = json!(1);

    let response = send(&deps, post(&body.to_string())).await;

    // The client is told exactly which field; the log is not given the text.
    let problem = problem(&response, 422, "invalid-order");
    assert_eq!(pointers(&problem), [format!("/{field}")]);
    let logs = capture.contents();
    assert!(!logs.contains("Harry"), "{logs}");
    assert!(logs.len() < 2000, "{} bytes of log", logs.len());
    assert!(logs.contains("/<field>"), "{logs}");
}

#[tokio::test]
async fn given_the_queue_rejects_then_an_opaque_500() {
    let (queue, deps) = memory_deps();
    queue.fail_order("23214", Fault::Permanent);

    let response = send(&deps, post(&legacy_body())).await;

    let body = problem(&response, 500, "internal-error");
    assert!(!body.to_string().contains("injected"));
    assert!(response.headers().get(header::RETRY_AFTER).is_none());
    assert!(queue.sent().is_empty());
}

// ---- logging ---------------------------------------------------------------

#[tokio::test]
async fn given_accepted_rejected_and_failed_requests_then_logs_carry_ids_but_no_personal_data() {
    let capture = LogCapture::default();
    let _guard = capture.set_default();
    let (queue, deps) = memory_deps();

    send(&deps, event(V1_LEGACY)).await;
    send(&deps, event(V2_INVALID)).await;
    queue.fail_next(1, Fault::Transient);
    send(&deps, event(V2_ORDER)).await;

    let logs = capture.contents();
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON log line"))
        .collect();
    let with_outcome = |outcome: &str| {
        lines
            .iter()
            .filter(|l| l["outcome"] == outcome)
            .cloned()
            .collect::<Vec<_>>()
    };

    let accepted = with_outcome("accepted");
    assert_eq!(accepted.len(), 1, "{logs}");
    assert_eq!(accepted[0]["stage"], "intake");
    assert_eq!(accepted[0]["order_id"], "23214");
    assert_eq!(accepted[0]["correlation_id"], V1_REQUEST_ID);
    assert_eq!(accepted[0]["level"], "INFO");

    let rejected = with_outcome("rejected");
    assert_eq!(rejected.len(), 1, "{logs}");
    assert_eq!(rejected[0]["stage"], "intake");
    assert_eq!(rejected[0]["status"], 422);
    assert_eq!(rejected[0]["correlation_id"], "Z9x8C7v6B5n4M3a=");
    let logged_pointers = rejected[0]["pointers"].as_str().unwrap();
    assert!(
        logged_pointers.contains("/items/1/itemId"),
        "{logged_pointers}"
    );

    let failed = with_outcome("failed");
    assert_eq!(failed.len(), 1, "{logs}");
    assert_eq!(failed[0]["level"], "ERROR");
    assert_eq!(failed[0]["stage"], "intake");
    assert_eq!(failed[0]["status"], 503);
    assert_eq!(failed[0]["order_id"], "web-7f3a9c2e-0001");
    assert_eq!(failed[0]["correlation_id"], "web-session-4c1f-req-0042");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("injected transient fault"),
        "the cause chain is logged: {logs}"
    );

    for personal in [
        "Harry",
        "Kane",
        "Nguyen",
        "Hanoi",
        "Vietnam",
        "Ly Thuong",
        "mai.anh@example.com",
        "not-an-email",
    ] {
        assert!(!logs.contains(personal), "{personal} leaked into {logs}");
    }
}

mod owners;
