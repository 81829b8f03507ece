//! Handler tests on the in-memory store, named Given/When/Then.

use super::*;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Context, LambdaEvent};
use orders_adapters::memory::{Fault, MemoryDeadLetters, MemoryStore};
use orders_adapters::ports::{
    DEAD_LETTER_ORDER_ID_ATTRIBUTE, DEAD_LETTER_REASON_ATTRIBUTE,
    DEAD_LETTER_SOURCE_MESSAGE_ID_ATTRIBUTE, DEAD_LETTER_STAGE_ATTRIBUTE,
};
use orders_adapters::telemetry::LogCapture;
use orders_domain::contract::{CorrelationId, OrderMessage};
use orders_domain::model::OrderRequest;
use orders_domain::test_support::{LEGACY_CUSTOMER_NAME, LEGACY_SHIPPING_ADDRESS, legacy_order};
use serde_json::{Value, json};
use std::sync::Arc;

const FIFO_BATCH: &str = include_str!("../../../../../events/sqs-fifo-batch.json");
const PERSONAL_DATA: &[&str] = &["Harry", "Kane", "Nguyen", "Hanoi"];

/// The legacy order with this id and quantity, as intake would enqueue it.
fn legacy_message(order_id: &str, quantity: u32) -> OrderMessage {
    let mut body = legacy_order(order_id);
    body["items"][0]["quantity"] = json!(quantity);
    let req = OrderRequest::from_json(&body).unwrap();
    OrderMessage::new(
        orders_domain::model::OwnerKey::anonymous(),
        req.order_id.unwrap(),
        CorrelationId::parse(&format!("corr-{order_id}")).unwrap(),
        time::macros::datetime!(2026-11-24 10:00 UTC),
        req.order,
    )
}

fn body(order_id: &str) -> String {
    legacy_message(order_id, 22).to_body()
}

/// One SQS FIFO record of message group `group-1` in the shape Lambda delivers.
fn record(message_id: &str, body: &str, receive_count: u32) -> Value {
    record_in("group-1", message_id, body, receive_count)
}

/// One SQS FIFO record of message group `group`.
fn record_in(group: &str, message_id: &str, body: &str, receive_count: u32) -> Value {
    json!({
        "messageId": message_id,
        "receiptHandle": format!("AQEB-{message_id}"),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": receive_count.to_string(),
            "SentTimestamp": "1795514400187",
            "SequenceNumber": "18897524863102412800",
            "MessageGroupId": group,
            "SenderId": "AROAEXAMPLE:intake",
            "MessageDeduplicationId": format!("dedup-{message_id}"),
            "ApproximateFirstReceiveTimestamp": "1795514400401"
        },
        "messageAttributes": {},
        "md5OfBody": "00000000000000000000000000000000",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:orders.fifo",
        "awsRegion": "eu-west-1"
    })
}

fn event(records: Vec<Value>) -> LambdaEvent<SqsEvent> {
    let payload: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    LambdaEvent::new(payload, Context::default())
}

fn fixture_event() -> LambdaEvent<SqsEvent> {
    let payload: SqsEvent = serde_json::from_str(FIFO_BATCH).unwrap();
    LambdaEvent::new(payload, Context::default())
}

fn setup() -> (Arc<MemoryStore>, Deps) {
    let (store, _dead_letters, deps) = setup_with_dlq();
    (store, deps)
}

fn setup_with_dlq() -> (Arc<MemoryStore>, Arc<MemoryDeadLetters>, Deps) {
    let store = Arc::new(MemoryStore::default());
    let dead_letters = Arc::new(MemoryDeadLetters::default());
    let deps = Deps::new(store.clone(), dead_letters.clone());
    (store, dead_letters, deps)
}

fn failures(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

/// The JSON log lines whose `outcome` field equals `outcome`.
fn lines_with_outcome(logs: &str, outcome: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["outcome"] == outcome)
        .collect()
}

#[tokio::test]
async fn given_a_batch_of_valid_orders_when_handled_then_all_are_persisted_and_none_reported() {
    let (store, deps) = setup();
    let batch = event(vec![
        record("m-1", &body("o-1"), 1),
        record("m-2", &body("o-2"), 1),
        record("m-3", &body("o-3"), 1),
    ]);

    let response = handle(&deps, batch).await.unwrap();

    assert!(failures(&response).is_empty());
    assert_eq!(store.writes(), 3);
    for id in ["o-1", "o-2", "o-3"] {
        assert!(store.get(id).is_some(), "{id} not stored");
    }
}

#[tokio::test]
async fn given_a_malformed_body_mid_batch_when_handled_then_it_goes_to_the_dlq_with_its_reason_and_the_rest_is_stored()
 {
    let (store, dead_letters, deps) = setup_with_dlq();
    let batch = event(vec![
        record("m-1", &body("o-1"), 1),
        record("m-2", &body("o-2"), 1),
        record("m-3", "{not json", 1),
        record("m-4", &body("o-4"), 1),
        record("m-5", &body("o-5"), 1),
    ]);

    let response = handle(&deps, batch).await.unwrap();

    // Acknowledged: the DLQ holds it, so its group is not held back.
    assert!(failures(&response).is_empty());
    assert_eq!(store.writes(), 4);
    let sent = dead_letters.sent();
    assert_eq!(sent.len(), 1);
    let letter = &sent[0];
    assert_eq!(letter.body, "{not json");
    assert_eq!(letter.group_id.as_deref(), Some("group-1"));
    assert_eq!(letter.dedup_id.as_deref(), Some("m-3"));
    assert_eq!(
        letter.attribute(DEAD_LETTER_REASON_ATTRIBUTE),
        Some("poison")
    );
    assert_eq!(
        letter.attribute(DEAD_LETTER_STAGE_ATTRIBUTE),
        Some("worker")
    );
    assert_eq!(
        letter.attribute(DEAD_LETTER_SOURCE_MESSAGE_ID_ATTRIBUTE),
        Some("m-3")
    );
}

#[tokio::test]
async fn given_poison_then_a_later_order_of_its_group_and_another_group_when_the_dlq_is_unreachable_then_exactly_the_first_two_are_reported()
 {
    // Given the DLQ refuses every send
    let (store, dead_letters, deps) = setup_with_dlq();
    dead_letters.fail_next(10, Fault::Transient);
    let batch = event(vec![
        record_in("A", "m-1", "{poison", 1),
        record_in("A", "m-2", &body("o-a2"), 1),
        record_in("B", "m-3", &body("o-b1"), 1),
    ]);

    // When the batch is handled
    let response = handle(&deps, batch).await.unwrap();

    // Then the poison and its group's later order wait; group B is stored
    assert_eq!(failures(&response), ["m-1", "m-2"]);
    assert!(store.get("o-a2").is_none());
    assert!(store.get("o-b1").is_some());
    assert!(dead_letters.sent().is_empty());
}

#[tokio::test]
async fn given_poison_then_a_later_order_of_its_group_and_another_group_when_the_dlq_is_reachable_then_none_is_reported()
 {
    let (store, dead_letters, deps) = setup_with_dlq();
    let batch = event(vec![
        record_in("A", "m-1", "{poison", 1),
        record_in("A", "m-2", &body("o-a2"), 1),
        record_in("B", "m-3", &body("o-b1"), 1),
    ]);

    let response = handle(&deps, batch).await.unwrap();

    assert!(failures(&response).is_empty());
    assert!(store.get("o-a2").is_some() && store.get("o-b1").is_some());
    let sent = dead_letters.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].attribute(DEAD_LETTER_REASON_ATTRIBUTE),
        Some("poison")
    );
    assert_eq!(sent[0].group_id.as_deref(), Some("A"));
}

#[tokio::test]
async fn given_a_failure_in_one_group_when_handled_then_only_that_groups_later_records_are_held_back()
 {
    // Given a store that fails o-a1 transiently
    let (store, deps) = setup();
    store.fail_order("o-a1", Fault::Transient);
    let batch = event(vec![
        record_in("A", "m-1", &body("o-a1"), 1),
        record_in("B", "m-2", &body("o-b1"), 1),
        record_in("A", "m-3", &body("o-a2"), 1),
        record_in("C", "m-4", &body("o-c1"), 1),
        record_in("B", "m-5", &body("o-b2"), 1),
    ]);

    // When the batch is handled
    let response = handle(&deps, batch).await.unwrap();

    // Then group A's failure and its later record are reported, in batch
    // order; the other groups are stored and not reported (no receive burnt)
    assert_eq!(failures(&response), ["m-1", "m-3"]);
    for id in ["o-b1", "o-c1", "o-b2"] {
        assert!(store.get(id).is_some(), "{id} not stored");
    }
    assert!(store.get("o-a2").is_none(), "stored ahead of its group");
}

#[tokio::test]
async fn given_an_unsupported_schema_version_when_handled_then_it_is_poison_and_dead_lettered() {
    let (store, dead_letters, deps) = setup_with_dlq();
    let mut v3: Value = serde_json::from_str(&body("o-1")).unwrap();
    v3["schemaVersion"] = json!(3);
    let capture = LogCapture::default();
    let _guard = capture.set_default();

    let response = handle(&deps, event(vec![record("m-1", &v3.to_string(), 1)]))
        .await
        .unwrap();

    assert!(failures(&response).is_empty());
    assert!(store.is_empty());
    assert_eq!(dead_letters.sent()[0].body, v3.to_string());
    let poison = lines_with_outcome(&capture.contents(), "poison");
    assert_eq!(poison.len(), 1);
    assert_eq!(poison[0]["message_id"], "m-1");
    assert_eq!(poison[0]["stage"], "worker");
    assert_eq!(poison[0]["level"], "ERROR");
    assert_eq!(poison[0]["dead_lettered"], true);
}

#[tokio::test]
async fn given_a_stored_order_when_the_same_message_is_redelivered_then_it_is_a_duplicate_and_succeeds_without_writing()
 {
    let (store, deps) = setup();
    let first = handle(&deps, event(vec![record("m-1", &body("23214"), 1)]))
        .await
        .unwrap();
    assert!(failures(&first).is_empty());
    let stored = store.get("23214").unwrap();
    let capture = LogCapture::default();
    let _guard = capture.set_default();

    // SQS redelivers with the same message id and body and a higher receive count.
    let again = handle(&deps, event(vec![record("m-1", &body("23214"), 2)]))
        .await
        .unwrap();

    assert!(failures(&again).is_empty());
    assert_eq!(store.writes(), 1);
    assert_eq!(store.get("23214").unwrap(), stored);
    assert_eq!(
        lines_with_outcome(&capture.contents(), "duplicate").len(),
        1
    );
}

#[tokio::test]
async fn given_a_stored_order_when_the_same_id_arrives_with_different_content_then_it_goes_to_the_dlq_at_once_and_nothing_is_overwritten()
 {
    let (store, dead_letters, deps) = setup_with_dlq();
    handle(&deps, event(vec![record("m-1", &body("23214"), 1)]))
        .await
        .unwrap();
    let original = store.get("23214").unwrap();
    let changed = legacy_message("23214", 23).to_body();
    let capture = LogCapture::default();
    let _guard = capture.set_default();

    let response = handle(
        &deps,
        event(vec![
            record("m-2", &changed, 1),
            record("m-3", &body("o-later"), 1),
        ]),
    )
    .await
    .unwrap();

    // Not retried five times: in the DLQ on the first receive, and the
    // customer's next order is not held back.
    assert!(failures(&response).is_empty());
    assert_eq!(store.get("23214").unwrap(), original);
    assert!(store.get("o-later").is_some());
    let sent = dead_letters.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, changed);
    assert_eq!(
        sent[0].attribute(DEAD_LETTER_REASON_ATTRIBUTE),
        Some("conflict")
    );
    assert_eq!(
        sent[0].attribute(DEAD_LETTER_ORDER_ID_ATTRIBUTE),
        Some("23214")
    );
    assert_eq!(
        sent[0].attribute(orders_adapters::ports::CORRELATION_ID_ATTRIBUTE),
        Some("corr-23214")
    );
    let conflict = lines_with_outcome(&capture.contents(), "conflict");
    assert_eq!(conflict.len(), 1);
    assert_eq!(conflict[0]["level"], "ERROR");
    assert_eq!(conflict[0]["order_id"], "23214");
    assert_eq!(conflict[0]["message_id"], "m-2");
}

#[tokio::test]
async fn given_a_conflict_when_the_dlq_is_unreachable_then_it_is_reported_for_the_redrive_policy() {
    let (store, dead_letters, deps) = setup_with_dlq();
    handle(&deps, event(vec![record("m-1", &body("23214"), 1)]))
        .await
        .unwrap();
    dead_letters.fail_next(1, Fault::Transient);

    let changed = legacy_message("23214", 23).to_body();
    let response = handle(&deps, event(vec![record("m-2", &changed, 1)]))
        .await
        .unwrap();

    assert_eq!(failures(&response), ["m-2"]);
    assert_eq!(store.writes(), 1);
}

#[tokio::test]
async fn given_a_transient_store_fault_when_handled_then_the_record_is_reported_and_a_retry_succeeds()
 {
    let (store, deps) = setup();
    store.fail_next(1, Fault::Transient);
    let batch = || {
        event(vec![
            record("m-1", &body("o-1"), 1),
            record("m-2", &body("o-2"), 1),
        ])
    };

    let response = handle(&deps, batch()).await.unwrap();

    assert_eq!(failures(&response), ["m-1", "m-2"]);
    assert!(store.is_empty());

    // SQS redelivers the reported records; the fault has passed.
    let retry = handle(&deps, batch()).await.unwrap();
    assert!(failures(&retry).is_empty());
    assert_eq!(store.writes(), 2);
}

#[tokio::test]
async fn given_a_permanent_store_fault_for_one_order_when_handled_then_that_record_and_later_ones_are_reported()
 {
    let (store, deps) = setup();
    store.fail_order("o-2", Fault::Permanent);
    let capture = LogCapture::default();
    let _guard = capture.set_default();

    let response = handle(
        &deps,
        event(vec![
            record("m-1", &body("o-1"), 1),
            record("m-2", &body("o-2"), 1),
            record("m-3", &body("o-3"), 1),
        ]),
    )
    .await
    .unwrap();

    assert_eq!(failures(&response), ["m-2", "m-3"]);
    assert_eq!(store.writes(), 1);
    let logs = capture.contents();
    let permanent = lines_with_outcome(&logs, "permanent");
    assert_eq!(permanent.len(), 1);
    // The source chain is logged, not just the top-level error.
    assert!(
        permanent[0]["error"]
            .as_str()
            .unwrap()
            .contains("injected permanent fault"),
        "{logs}"
    );
    let skipped = lines_with_outcome(&logs, "skipped");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["message_id"], "m-3");
}

#[tokio::test]
async fn given_a_failing_record_at_the_max_receive_count_when_handled_then_a_dlq_warning_is_logged()
{
    let (_store, deps) = setup();
    let capture = LogCapture::default();
    let _guard = capture.set_default();

    let (store, deps) = (_store, deps);
    store.fail_order("o-1", Fault::Transient);
    let response = handle(
        &deps,
        event(vec![
            record("m-1", &body("o-1"), MAX_RECEIVE_COUNT),
            record("m-2", &body("o-2"), MAX_RECEIVE_COUNT - 1),
        ]),
    )
    .await
    .unwrap();

    assert_eq!(failures(&response), ["m-1", "m-2"]);
    let logs = capture.contents();
    let warnings: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| {
            l["level"] == "WARN" && l["message"].as_str().is_some_and(|m| m.contains("DLQ"))
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    assert_eq!(warnings[0]["message_id"], "m-1");
}

#[tokio::test]
async fn given_the_sqs_fifo_batch_event_file_when_handled_then_every_order_is_persisted() {
    let (store, deps) = setup();
    let batch = fixture_event();
    assert_eq!(batch.payload.records.len(), 3);
    for record in &batch.payload.records {
        assert!(record.attributes.contains_key("MessageGroupId"));
        assert!(record.attributes.contains_key("MessageDeduplicationId"));
        assert!(
            record
                .event_source_arn
                .as_deref()
                .unwrap()
                .ends_with(".fifo")
        );
    }

    let response = handle(&deps, batch).await.unwrap();

    assert!(failures(&response).is_empty());
    assert_eq!(store.writes(), 3);
    let legacy = store.get("23214").unwrap();
    assert_eq!(legacy.order.customer_name().as_str(), LEGACY_CUSTOMER_NAME);
    assert_eq!(legacy.order.items()[0].item_id.as_str(), "item456");
    assert_eq!(legacy.order.items()[0].quantity.get(), 22);
    assert_eq!(
        legacy.order.shipping_address().as_str(),
        LEGACY_SHIPPING_ADDRESS
    );
}

#[tokio::test]
async fn given_the_event_file_batch_when_handled_then_logs_carry_ids_and_no_personal_data() {
    let (_store, deps) = setup();
    let capture = LogCapture::default();
    let _guard = capture.set_default();

    handle(&deps, fixture_event()).await.unwrap();

    let logs = capture.contents();
    assert!(logs.contains("23214"), "{logs}");
    let persisted = lines_with_outcome(&logs, "persisted");
    assert_eq!(persisted.len(), 3, "{logs}");
    let legacy = persisted.iter().find(|l| l["order_id"] == "23214").unwrap();
    assert_eq!(legacy["stage"], "worker");
    assert_eq!(legacy["message_id"], "4f7c9a12-6b3e-4d8a-a1f0-9c2e5b7d3a61");
    assert_eq!(
        legacy["correlation_id"],
        "7f3c2a9e-5b1d-4c8e-9a60-2d4f8b1e6c35"
    );
    for word in PERSONAL_DATA {
        assert!(!logs.contains(word), "{word} leaked into the logs:\n{logs}");
    }
}

#[tokio::test]
async fn given_a_malformed_body_quoting_personal_data_when_handled_then_the_poison_log_does_not_repeat_it()
 {
    let (_store, deps) = setup();
    // A string where a number belongs: serde_json's message would quote it.
    let mut bad: Value = serde_json::from_str(&body("23214")).unwrap();
    bad["order"]["items"][0]["quantity"] =
        json!(format!("{LEGACY_CUSTOMER_NAME}, {LEGACY_SHIPPING_ADDRESS}"));
    let capture = LogCapture::default();
    let _guard = capture.set_default();

    let response = handle(&deps, event(vec![record("m-1", &bad.to_string(), 1)]))
        .await
        .unwrap();

    assert!(failures(&response).is_empty());
    let logs = capture.contents();
    assert_eq!(lines_with_outcome(&logs, "poison").len(), 1, "{logs}");
    for word in PERSONAL_DATA {
        assert!(!logs.contains(word), "{word} leaked into the logs:\n{logs}");
    }
}

#[test]
fn given_outcomes_when_mapped_then_only_failures_are_reported_in_order() {
    let response = batch_response([
        ("a", Outcome::Persisted),
        ("b", Outcome::Duplicate),
        (
            "c",
            Outcome::Conflict {
                dead_lettered: false,
            },
        ),
        ("d", Outcome::Skipped),
        (
            "e",
            Outcome::Poison {
                dead_lettered: true,
            },
        ),
    ]);
    assert_eq!(failures(&response), ["c", "d"]);
    for outcome in [
        Outcome::Conflict {
            dead_lettered: true,
        },
        Outcome::Poison {
            dead_lettered: true,
        },
    ] {
        assert!(!outcome.is_failure(), "{}", outcome.as_str());
    }
    for outcome in [
        Outcome::Conflict {
            dead_lettered: false,
        },
        Outcome::Poison {
            dead_lettered: false,
        },
        Outcome::Transient,
        Outcome::Permanent,
        Outcome::Skipped,
    ] {
        assert!(outcome.is_failure(), "{}", outcome.as_str());
    }
}

mod backoff;
mod groups;

#[tokio::test]
async fn given_two_owners_of_one_order_id_then_both_are_stored_and_a_conflict_is_per_owner() {
    let (store, dead_letters, deps) = setup_with_dlq();
    let bob = orders_domain::model::OwnerKey::parse("0123456789abcdef0123456789abcdef").unwrap();
    let mut bobs = legacy_message("23214", 5);
    bobs.owner = bob.clone();

    // When the anonymous owner and bob each post 23214 with other content
    let response = handle(
        &deps,
        event(vec![
            record_in("g-a", "m-1", &body("23214"), 1),
            record_in("g-b", "m-2", &bobs.to_body(), 1),
        ]),
    )
    .await
    .unwrap();

    // Then both are stored, each under its owner, and nothing is dead-lettered
    assert!(failures(&response).is_empty());
    assert_eq!(store.writes(), 2);
    let id = orders_domain::model::OrderId::parse("23214").unwrap();
    assert_eq!(store.get_owned(&bob, &id).unwrap().order.unit_count(), 5);
    assert_eq!(store.get("23214").unwrap().order.unit_count(), 22);
    assert!(dead_letters.sent().is_empty());

    // And bob's second version is a conflict, dead-lettered with his owner key
    let mut bobs_again = legacy_message("23214", 6);
    bobs_again.owner = bob.clone();
    handle(&deps, event(vec![record("m-3", &bobs_again.to_body(), 1)]))
        .await
        .unwrap();
    let sent = dead_letters.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].attribute(DEAD_LETTER_REASON_ATTRIBUTE),
        Some("conflict")
    );
    assert_eq!(
        sent[0].attribute(orders_adapters::ports::DEAD_LETTER_OWNER_ATTRIBUTE),
        Some(bob.as_str())
    );
    assert_eq!(store.get_owned(&bob, &id).unwrap().order.unit_count(), 5);
}
