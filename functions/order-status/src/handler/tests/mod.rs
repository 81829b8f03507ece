//! Handler tests on the in-memory store, driven by hand-built requests and by
//! `events/apigw-v2-order-status.json`.

use std::sync::Arc;

use http::header;
use orders_adapters::memory::{Fault, MemoryStore};
use orders_adapters::ports::OrderStore;
use orders_adapters::record::StoredOrder;
use orders_adapters::telemetry::LogCapture;
use orders_domain::contract::{CorrelationId, OrderMessage};
use orders_domain::model::OrderRequest;
use orders_domain::test_support::legacy_order;
use proptest::prelude::*;
use serde_json::{Value, json};
use time::macros::datetime;

use super::*;
use crate::absence::NOT_FOUND_RETRY_AFTER_SECS;
use crate::error::READ_RETRY_AFTER_SECS;

const V2_STATUS: &str = include_str!("../../../../../events/apigw-v2-order-status.json");
const SAMPLE_ID: &str = "web-7f3a9c2e-0001";
const SAMPLE_CORRELATION_ID: &str = "web-session-4c1f-req-0043";
const PRICED_BODY: &str = r#"{"customerName":"Mai Anh Nguyen","customerEmail":"mai.anh@example.com","shippingAddress":"25 Ly Thuong Kiet, Hoan Kiem, Hanoi, Vietnam","currency":"EUR","items":[{"itemId":"item456","quantity":2,"unitPrice":1999},{"itemId":"sku-789","quantity":1,"unitPrice":4500}]}"#;

fn deps() -> (Arc<MemoryStore>, Deps) {
    let store = Arc::new(MemoryStore::default());
    (store.clone(), Deps::new(store, orders_http::Owners::open()))
}

/// The item the worker stores for `body` under `order_id`.
fn stored(order_id: &str, body: &str) -> StoredOrder {
    let request = OrderRequest::from_json(&serde_json::from_str(body).unwrap()).unwrap();
    let message = OrderMessage::new(
        orders_domain::model::OwnerKey::anonymous(),
        OrderId::parse(order_id).unwrap(),
        CorrelationId::parse("c-intake").unwrap(),
        datetime!(2026-11-24 10:05:00 UTC),
        request.order,
    );
    StoredOrder::from_message(&message, datetime!(2026-11-24 10:05:00.250 UTC))
}

fn event(raw: &str) -> Request {
    lambda_http::request::from_str(raw).expect("sample event parses")
}

fn get(path: &str) -> Request {
    http::Request::builder()
        .method(Method::GET)
        .uri(path)
        .body(Body::Empty)
        .unwrap()
}

async fn send(deps: &Deps, request: Request) -> Response<Body> {
    handle(deps, request).await.expect("handle always answers")
}

fn json_body(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).expect("JSON body")
}

fn header_of(response: &Response<Body>, name: impl header::AsHeaderName) -> Option<&str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap())
}

/// Asserts an RFC 9457 answer and returns its body.
fn problem(response: &Response<Body>, status: u16, slug: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        header_of(response, header::CONTENT_TYPE),
        Some("application/problem+json")
    );
    let body = json_body(response);
    assert_eq!(body["type"], format!("/problems/{slug}"));
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string());
    assert!(body["errors"].is_array());
    assert!(body["correlationId"].is_string());
    body
}

// ---- the sample event ----------------------------------------------------

#[tokio::test]
async fn given_the_sample_event_and_no_stored_order_then_404_with_retry_after() {
    let (_, deps) = deps();

    let response = send(&deps, event(V2_STATUS)).await;

    let body = problem(&response, 404, "order-not-found");
    assert_eq!(
        header_of(&response, header::RETRY_AFTER),
        Some(NOT_FOUND_RETRY_AFTER_SECS.to_string().as_str())
    );
    assert_eq!(
        header_of(&response, "x-correlation-id"),
        Some(SAMPLE_CORRELATION_ID)
    );
    assert_eq!(body["correlationId"], SAMPLE_CORRELATION_ID);
    assert_eq!(body["errors"], json!([]));
}

#[tokio::test]
async fn given_the_sample_event_and_the_stored_order_then_200_with_its_public_view() {
    let (store, deps) = deps();
    store
        .put_if_absent(&stored(SAMPLE_ID, PRICED_BODY))
        .await
        .unwrap();

    let response = send(&deps, event(V2_STATUS)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_of(&response, header::CONTENT_TYPE),
        Some("application/json")
    );
    assert_eq!(
        header_of(&response, "x-correlation-id"),
        Some(SAMPLE_CORRELATION_ID)
    );
    assert_eq!(
        json_body(&response),
        json!({
            "orderId": SAMPLE_ID,
            "status": "CREATED",
            "acceptedAt": "2026-11-24T10:05:00Z",
            "createdAt": "2026-11-24T10:05:00.25Z",
            "updatedAt": "2026-11-24T10:05:00.25Z",
            "items": [
                {"itemId": "item456", "quantity": 2, "unitPrice": 1999},
                {"itemId": "sku-789", "quantity": 1, "unitPrice": 4500}
            ],
            "currency": "EUR",
            "total": 2 * 1999 + 4500,
            "confirmation": "PENDING"
        })
    );
}

#[test]
fn given_the_sample_event_when_parsed_then_it_is_a_v2_get_with_the_path_parameter() {
    let request = event(V2_STATUS);
    assert_eq!(request.method(), Method::GET);
    assert_eq!(
        request.path_parameters().first(ORDER_ID_PARAMETER),
        Some(SAMPLE_ID)
    );
    assert!(matches!(
        request.request_context_ref(),
        Some(lambda_http::request::RequestContext::ApiGatewayV2(_))
    ));
}

// ---- requests without path parameters ------------------------------------

#[tokio::test]
async fn given_an_unpriced_order_then_currency_and_total_are_absent() {
    let (store, deps) = deps();
    let legacy = legacy_order("23214").to_string();
    store
        .put_if_absent(&stored("23214", &legacy))
        .await
        .unwrap();

    let response = send(&deps, get("/orders/23214")).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body = json_body(&response);
    assert_eq!(body["orderId"], "23214");
    assert_eq!(
        body["items"],
        json!([{"itemId": "item456", "quantity": 22}])
    );
    assert!(body.get("currency").is_none() && body.get("total").is_none());
}

#[tokio::test]
async fn given_bad_ids_then_400_lists_every_broken_rule_without_the_value() {
    let (_, deps) = deps();
    let long_and_bad = format!("{}%3Cscript%3E", "x".repeat(70));
    for (path, issues) in [
        ("/orders/".to_owned(), 1),
        ("/orders/Harry%20Kane".to_owned(), 1),
        (format!("/orders/{}", "a".repeat(65)), 1),
        (format!("/orders/{long_and_bad}"), 2),
    ] {
        let response = send(&deps, get(&path)).await;
        let body = problem(&response, 400, "invalid-order-id");
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), issues, "{path}: {body}");
        for issue in errors {
            assert_eq!(issue["parameter"], ORDER_ID_PARAMETER);
            assert!(issue.get("pointer").is_none() && issue.get("header").is_none());
        }
        let text = body.to_string();
        assert!(
            !text.contains("Harry") && !text.contains("script"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn given_a_method_other_than_get_then_405_allows_get() {
    let (_, deps) = deps();
    let mut request = get("/orders/o-1");
    *request.method_mut() = Method::DELETE;

    let response = send(&deps, request).await;

    problem(&response, 405, "method-not-allowed");
    assert_eq!(header_of(&response, header::ALLOW), Some("GET"));
}

#[tokio::test]
async fn given_a_minted_id_older_than_the_queue_retention_then_404_without_retry_after() {
    let (_, deps) = deps();
    let minted = uuid::Timestamp::from_unix(uuid::NoContext, 1_700_000_000, 0);
    let old = uuid::Uuid::new_v7(minted).to_string();

    let response = send(&deps, get(&format!("/orders/{old}"))).await;

    let body = problem(&response, 404, "order-not-found");
    assert_eq!(header_of(&response, header::RETRY_AFTER), None);
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("not final"), "{detail}");
    assert!(!detail.contains("will not change"), "{detail}");
}

#[tokio::test]
async fn given_table_faults_then_503_with_retry_after_or_opaque_500_and_the_cause_logged() {
    let (store, deps) = deps();
    let logs = LogCapture::default();
    let _guard = logs.set_default();

    store.fail_next(1, Fault::Transient);
    let response = send(&deps, get("/orders/o-1")).await;
    problem(&response, 503, "service-unavailable");
    assert_eq!(
        header_of(&response, header::RETRY_AFTER),
        Some(READ_RETRY_AFTER_SECS.to_string().as_str())
    );

    store.fail_next(1, Fault::Permanent);
    let response = send(&deps, get("/orders/o-1")).await;
    let body = problem(&response, 500, "internal-error");
    assert!(!body.to_string().contains("injected"));

    let logged = logs.contents();
    assert!(logged.contains("injected permanent fault"), "{logged}");
    assert!(logged.contains("o-1"));
}

#[tokio::test]
async fn given_a_request_then_the_log_line_has_ids_and_no_personal_data() {
    let (store, deps) = deps();
    store
        .put_if_absent(&stored(SAMPLE_ID, PRICED_BODY))
        .await
        .unwrap();
    let logs = LogCapture::default();
    let _guard = logs.set_default();

    send(&deps, event(V2_STATUS)).await;
    send(&deps, get("/orders/missing-1")).await;

    let logged = logs.contents();
    assert!(logged.contains(SAMPLE_ID) && logged.contains("missing-1"));
    assert!(logged.contains("found") && logged.contains("not-found"));
    for personal in ["Mai Anh", "Ly Thuong Kiet", "mai.anh@example.com"] {
        assert!(!logged.contains(personal), "{personal} logged: {logged}");
    }
}

// ---- no personal data, whatever the order --------------------------------

/// Keys a `200` body may have.
const VIEW_KEYS: &[&str] = &[
    "orderId",
    "status",
    "acceptedAt",
    "createdAt",
    "updatedAt",
    "items",
    "currency",
    "total",
    "confirmation",
];

/// A valid order body with personal data that no id, timestamp or status can
/// contain (names and addresses have a space, e-mails an `@`).
fn order_body() -> impl Strategy<Value = (Value, [String; 3])> {
    let name = "[A-Za-zÀ-ỹ]{1,12} [A-Za-zÀ-ỹ'-]{1,20}";
    let address = "[0-9]{1,4} [A-Za-zÀ-ỹ ]{1,30}, [A-Za-zÀ-ỹ]{2,20}";
    let email = "[a-z0-9._]{1,12}@[a-z]{2,12}\\.(com|vn|org)";
    let item = ("[A-Za-z0-9._:-]{1,16}", 1u32..=10_000, 0u64..=100_000_000);
    (
        name,
        address,
        email,
        proptest::collection::vec(item, 1..6),
        any::<bool>(),
    )
        .prop_map(|(name, address, email, items, priced)| {
            let items: Vec<Value> = items
                .into_iter()
                .map(|(id, quantity, price)| {
                    if priced {
                        json!({"itemId": id, "quantity": quantity, "unitPrice": price})
                    } else {
                        json!({"itemId": id, "quantity": quantity})
                    }
                })
                .collect();
            let mut body = json!({
                "customerName": name, "customerEmail": email,
                "shippingAddress": address, "items": items,
            });
            if priced {
                body["currency"] = json!("EUR");
            }
            (body, [name, address, email])
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// For any valid order, the 200 body holds only the public fields and
    /// never the customer's name, address or e-mail.
    #[test]
    fn the_status_body_never_holds_personal_data((body, personal) in order_body(), id in "[A-Za-z0-9._:-]{1,64}") {
        let request = OrderRequest::from_json(&body);
        // Generated item ids may repeat, which no valid order allows.
        prop_assume!(request.is_ok());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (status, text) = runtime.block_on(async {
            let (store, deps) = deps();
            store.put_if_absent(&stored(&id, &body.to_string())).await.unwrap();
            let response = send(&deps, get(&format!("/orders/{id}"))).await;
            (response.status(), String::from_utf8(response.body().to_vec()).unwrap())
        });
        prop_assert_eq!(status, StatusCode::OK);
        for value in &personal {
            prop_assert!(!text.contains(value.trim()), "{} in {}", value, text);
        }
        let json: Value = serde_json::from_str(&text).unwrap();
        for key in json.as_object().unwrap().keys() {
            prop_assert!(VIEW_KEYS.contains(&key.as_str()), "unexpected key {}", key);
        }
        for item in json["items"].as_array().unwrap() {
            for key in item.as_object().unwrap().keys() {
                prop_assert!(["itemId", "quantity", "unitPrice"].contains(&key.as_str()));
            }
        }
    }
}

mod owners;

// ---- the customer's confirmation -----------------------------------------

#[tokio::test]
async fn given_each_confirmation_mark_then_the_answer_says_its_state_and_never_the_address() {
    use orders_domain::confirmation::{ConfirmationMarks, RefusalCode};
    let (store, deps) = deps();
    let sent = ConfirmationMarks {
        confirmation_sent_at: Some(datetime!(2026-11-24 10:05:02 UTC)),
        confirmation_message_id: Some("0100-sent".into()),
        ..ConfirmationMarks::default()
    };
    let failed = ConfirmationMarks {
        confirmation_failed: Some(RefusalCode::InvalidAddress),
        ..ConfirmationMarks::default()
    };
    let claimed = ConfirmationMarks {
        confirmation_claim: Some("token".into()),
        confirmation_claim_until: Some(1_800_000_000),
        ..ConfirmationMarks::default()
    };
    let unpriced = r#"{"customerName":"Mai Anh Nguyen","shippingAddress":"25 Ly Thuong Kiet, Hanoi","items":[{"itemId":"item456","quantity":2}]}"#;
    for (id, body, marks, expected) in [
        ("c-sent", PRICED_BODY, sent, "SENT"),
        ("c-failed", PRICED_BODY, failed, "FAILED"),
        ("c-claimed", PRICED_BODY, claimed, "PENDING"),
        (
            "c-none",
            unpriced,
            ConfirmationMarks::default(),
            "NOT_REQUESTED",
        ),
    ] {
        let mut order = stored(id, body);
        order.confirmation = marks;
        store.put_if_absent(&order).await.unwrap();
        let response = send(&deps, get(&format!("/orders/{id}"))).await;
        assert_eq!(response.status().as_u16(), 200, "{id}");
        let answer = json_body(&response);
        assert_eq!(answer["confirmation"], expected, "{id}");
        let text = answer.to_string();
        for hidden in [
            "mai.anh@example.com",
            "Mai Anh",
            "invalid-address",
            "0100-sent",
            "token",
        ] {
            assert!(!text.contains(hidden), "{id}: {hidden} in {text}");
        }
    }
}
