//! Handler tests on the in-memory publisher, named Given/When/Then.

use super::*;
use crate::outcome::{Outcome, batch_response};
use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Context, LambdaEvent};
use orders_adapters::memory::{Fault, MemoryDeadLetters, MemoryPublisher};
use orders_adapters::ports::{DEAD_LETTER_REASON_ATTRIBUTE, DEAD_LETTER_SEQUENCE_NUMBER_ATTRIBUTE};
use orders_adapters::record::ItemMapping;
use orders_adapters::telemetry::LogCapture;
use orders_domain::contract::{CorrelationId, OrderMessage};
use orders_domain::model::OrderRequest;
use orders_domain::test_support::legacy_order;
use serde_json::{Value, json};
use std::sync::Arc;

const INSERT_EVENTS: &str = include_str!("../../../../../events/dynamodb-insert.json");
const MODIFY_EVENTS: &str = include_str!("../../../../../events/dynamodb-modify.json");
const PERSONAL_DATA: &[&str] = &["Harry", "Kane", "Nguyen", "Hanoi"];

/// The legacy order 23214 (under any id), as the worker stores it.
fn stored(order_id: &str) -> StoredOrder {
    let req = OrderRequest::from_json(&legacy_order(order_id)).unwrap();
    let message = OrderMessage::new(
        orders_domain::model::OwnerKey::anonymous(),
        req.order_id.unwrap(),
        CorrelationId::parse(&format!("corr-{order_id}")).unwrap(),
        time::macros::datetime!(2026-11-24 10:00 UTC),
        req.order,
    );
    StoredOrder::from_message(&message, time::macros::datetime!(2026-11-24 10:00:01 UTC))
}

fn image(order: &StoredOrder) -> Value {
    let item: serde_dynamo::Item = order.to_item().unwrap();
    serde_json::to_value(item).unwrap()
}

/// One stream record in the shape Lambda delivers; `images` holds whichever
/// of `NewImage`/`OldImage` the event name carries.
fn record(event_name: &str, sequence_number: &str, order_id: &str, images: Value) -> Value {
    let mut change = json!({
        "ApproximateCreationDateTime": 1795514401,
        "Keys": {"orderKey": {"S": format!("anonymous#{order_id}")}},
        "SequenceNumber": sequence_number,
        "SizeBytes": 420,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    });
    for (name, value) in images.as_object().unwrap() {
        change[name] = value.clone();
    }
    json!({
        "eventID": format!("event-{sequence_number}"),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": change,
        "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2026-11-20T08:15:42.318"
    })
}

fn insert(sequence_number: &str, order_id: &str) -> Value {
    record(
        "INSERT",
        sequence_number,
        order_id,
        json!({"NewImage": image(&stored(order_id))}),
    )
}

fn event(records: Vec<Value>) -> LambdaEvent<Event> {
    let payload: Event = serde_json::from_value(json!({ "Records": records })).unwrap();
    LambdaEvent::new(payload, Context::default())
}

/// A batch delivered with `remaining` time before the invocation's deadline.
fn event_with_time(records: Vec<Value>, remaining: std::time::Duration) -> LambdaEvent<Event> {
    let payload: Event = serde_json::from_value(json!({ "Records": records })).unwrap();
    let mut context = Context::default();
    let deadline = std::time::SystemTime::now() + remaining;
    context.deadline = deadline
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    LambdaEvent::new(payload, context)
}

fn fixture(json: &str) -> LambdaEvent<Event> {
    let payload: Event = serde_json::from_str(json).unwrap();
    LambdaEvent::new(payload, Context::default())
}

fn setup() -> (Arc<MemoryPublisher>, Deps) {
    let (publisher, _dead_letters, deps) = setup_with_dlq();
    (publisher, deps)
}

fn setup_with_dlq() -> (Arc<MemoryPublisher>, Arc<MemoryDeadLetters>, Deps) {
    let publisher = Arc::new(MemoryPublisher::default());
    let dead_letters = Arc::new(MemoryDeadLetters::default());
    let deps = Deps::new(publisher.clone(), dead_letters.clone());
    (publisher, dead_letters, deps)
}

fn failures(response: &DynamoDbEventResponse) -> Vec<Option<&str>> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_deref())
        .collect()
}

fn published_ids(publisher: &MemoryPublisher) -> Vec<String> {
    publisher
        .published()
        .iter()
        .map(|e| e.order_id.as_str().to_owned())
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
async fn given_an_insert_when_handled_then_one_order_created_event_is_published_with_the_stored_fields()
 {
    let (publisher, deps) = setup();
    let order = stored("23214");

    let response = handle(&deps, event(vec![insert("100", "23214")]))
        .await
        .unwrap();

    assert!(failures(&response).is_empty());
    let published = publisher.published();
    assert_eq!(published.len(), 1);
    let e = &published[0];
    assert_eq!(
        e,
        &OrderCreated::new(
            orders_domain::model::OwnerKey::anonymous(),
            order.order_id.clone(),
            order.correlation_id.clone(),
            order.accepted_at,
            order.created_at,
            &order.order,
        )
    );
    assert_eq!(e.event_type, "OrderCreated");
    assert_eq!(e.event_id, "OrderCreated:anonymous:23214");
    assert_eq!(e.order_id.as_str(), "23214");
    assert_eq!(e.correlation_id.as_str(), "corr-23214");
    assert_eq!(e.accepted_at, time::macros::datetime!(2026-11-24 10:00 UTC));
    assert_eq!(
        e.occurred_at,
        time::macros::datetime!(2026-11-24 10:00:01 UTC)
    );
    assert_eq!((e.line_count, e.unit_count), (1, 22));
    assert_eq!(e.items[0].item_id.as_str(), "item456");
}

#[tokio::test]
async fn given_modify_and_remove_records_when_handled_then_nothing_is_published_and_nothing_fails()
{
    let (publisher, deps) = setup();
    let old = image(&stored("23214"));
    let mut new = old.clone();
    new["updatedAt"] = json!({"S": "2026-11-24T10:07:31.406Z"});
    let capture = LogCapture::default();
    let _guard = capture.set_default();

    let response = handle(
        &deps,
        event(vec![
            record(
                "MODIFY",
                "200",
                "23214",
                json!({"NewImage": new, "OldImage": old}),
            ),
            record("REMOVE", "201", "23214", json!({"OldImage": old})),
        ]),
    )
    .await
    .unwrap();

    assert!(failures(&response).is_empty());
    assert!(publisher.published().is_empty());
    let skipped = lines_with_outcome(&capture.contents(), "skipped");
    assert_eq!(skipped.len(), 2);
    assert_eq!(skipped[0]["order_id"], "23214");
    assert_eq!(skipped[1]["sequence_number"], "201");
}

#[tokio::test]
async fn given_three_inserts_when_the_second_entry_of_the_batch_fails_then_it_is_the_checkpoint_and_the_third_is_reported_with_it()
 {
    let (publisher, deps) = setup();
    publisher.fail_order("o-2", Fault::Transient);
    let capture = LogCapture::default();
    let _guard = capture.set_default();

    let response = handle(
        &deps,
        event(vec![
            insert("301", "o-1"),
            insert("302", "o-2"),
            insert("303", "o-3"),
        ]),
    )
    .await
    .unwrap();

    // One PublishBatch call; its second entry failed, and with no time left
    // for retries (the context has no deadline) it is the checkpoint. The
    // third was accepted in the same call: it is settled, not reported.
    assert_eq!(publisher.batch_calls(), [3]);
    assert_eq!(failures(&response), [Some("302")]);
    assert_eq!(published_ids(&publisher), ["o-1", "o-3"]);
    let failed = lines_with_outcome(&capture.contents(), "failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["order_id"], "o-2");
    assert_eq!(failed[0]["sequence_number"], "302");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("injected transient fault")
    );

    // Lambda retries from the checkpoint: records 302 and 303, fault gone.
    // 303 was accepted before: it is acknowledged, not published again.
    publisher.heal();
    let retry = handle(
        &deps,
        event(vec![insert("302", "o-2"), insert("303", "o-3")]),
    )
    .await
    .unwrap();
    assert!(failures(&retry).is_empty());
    assert_eq!(published_ids(&publisher), ["o-1", "o-3", "o-2"]);
    let again = lines_with_outcome(&capture.contents(), "already_notified");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["order_id"], "o-3");
}

#[tokio::test]
async fn given_an_insert_whose_image_is_not_an_order_when_handled_then_it_goes_to_the_dlq_without_its_image_and_later_records_are_published()
 {
    let (publisher, dead_letters, deps) = setup_with_dlq();
    let mut tampered = image(&stored("o-2"));
    tampered["items"] = json!({"L": []});
    let capture = LogCapture::default();
    let _guard = capture.set_default();

    let response = handle(
        &deps,
        event(vec![
            insert("401", "o-1"),
            record("INSERT", "402", "o-2", json!({"NewImage": tampered})),
            insert("403", "o-3"),
        ]),
    )
    .await
    .unwrap();

    // The unreadable record does not hold back the good one behind it.
    assert!(failures(&response).is_empty());
    assert_eq!(published_ids(&publisher), ["o-1", "o-3"]);
    let sent = dead_letters.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].attribute(DEAD_LETTER_REASON_ATTRIBUTE),
        Some("poison")
    );
    assert_eq!(
        sent[0].attribute(DEAD_LETTER_SEQUENCE_NUMBER_ATTRIBUTE),
        Some("402")
    );
    let body: dead_letter::NotifierDeadLetter = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(body.table.as_deref(), Some("orders"));
    assert_eq!(body.keys.as_ref().unwrap()["orderKey"], "anonymous#o-2");
    assert_eq!(body.batch.start_sequence_number, "402");
    assert_eq!(body.batch.end_sequence_number, "402");
    assert!(!body.is_replayable());
    for word in PERSONAL_DATA {
        assert!(!sent[0].body.contains(word), "{word} in the DLQ message");
    }
    let logs = capture.contents();
    let poison = lines_with_outcome(&logs, "poison");
    assert_eq!(poison.len(), 1, "{logs}");
    assert_eq!(poison[0]["order_id"], "o-2");
    assert_eq!(poison[0]["level"], "ERROR");
    for word in PERSONAL_DATA {
        assert!(!logs.contains(word), "{word} leaked into the logs:\n{logs}");
    }
}

#[tokio::test]
async fn given_an_unreadable_insert_then_a_good_one_when_the_dlq_is_unreachable_then_the_unreadable_one_is_the_checkpoint()
 {
    let (publisher, dead_letters, deps) = setup_with_dlq();
    dead_letters.fail_next(1, Fault::Transient);

    let response = handle(
        &deps,
        event(vec![
            record("INSERT", "501", "o-1", json!({})),
            insert("502", "o-2"),
        ]),
    )
    .await
    .unwrap();

    assert_eq!(failures(&response), [Some("501"), Some("502")]);
    assert!(publisher.published().is_empty());
}

#[tokio::test]
async fn given_an_insert_without_a_new_image_when_handled_then_it_is_dead_lettered_not_dropped() {
    let (publisher, dead_letters, deps) = setup_with_dlq();

    // A KEYS_ONLY stream carries no image: the order cannot be read.
    let response = handle(
        &deps,
        event(vec![record("INSERT", "501", "o-1", json!({}))]),
    )
    .await
    .unwrap();

    assert!(failures(&response).is_empty());
    assert!(publisher.published().is_empty());
    assert_eq!(dead_letters.sent().len(), 1);
}

#[tokio::test]
async fn given_a_permanent_publish_failure_when_handled_then_the_record_is_dead_lettered_for_replay_and_the_next_is_published()
 {
    let (publisher, dead_letters, deps) = setup_with_dlq();
    publisher.fail_next(1, Fault::Permanent);

    let response = handle(
        &deps,
        event(vec![insert("601", "o-1"), insert("602", "o-2")]),
    )
    .await;

    assert!(failures(&response.unwrap()).is_empty());
    assert_eq!(published_ids(&publisher), ["o-2"]);
    let sent = dead_letters.sent();
    assert_eq!(
        sent[0].attribute(DEAD_LETTER_REASON_ATTRIBUTE),
        Some("publish-refused")
    );
    let body: dead_letter::NotifierDeadLetter = serde_json::from_str(&sent[0].body).unwrap();
    assert!(body.is_replayable());
}

#[tokio::test]
async fn given_the_insert_event_file_when_handled_then_each_order_is_published_in_order() {
    let (publisher, deps) = setup();
    let batch = fixture(INSERT_EVENTS);
    assert!(
        batch
            .payload
            .records
            .iter()
            .all(|r| r.event_name == "INSERT")
    );

    let response = handle(&deps, batch).await.unwrap();

    assert!(failures(&response).is_empty());
    assert_eq!(published_ids(&publisher), ["23214", "ORD-2026-11-0001"]);
    let legacy = &publisher.published()[0];
    assert_eq!(legacy.unit_count, 22);
    assert_eq!(
        legacy.correlation_id.as_str(),
        "7f3c2a9e-5b1d-4c8e-9a60-2d4f8b1e6c35"
    );
    let priced = &publisher.published()[1];
    assert_eq!(priced.total, Some(2 * 1999 + 4550));
}

#[test]
fn given_the_event_files_then_every_image_is_exactly_the_item_the_worker_writes() {
    for file in [INSERT_EVENTS, MODIFY_EVENTS] {
        let batch: Event = serde_json::from_str(file).unwrap();
        for record in &batch.records {
            let change = &record.change;
            assert_eq!(
                change.stream_view_type,
                Some(aws_lambda_events::event::dynamodb::StreamViewType::NewAndOldImages)
            );
            assert!(change.sequence_number.is_some());
            for image in [&change.new_image, &change.old_image] {
                if image.is_empty() {
                    continue;
                }
                let order = StoredOrder::from_item(image.clone()).unwrap();
                let rewritten: serde_dynamo::Item = order.to_item().unwrap();
                assert_eq!(&rewritten, image, "image differs from StoredOrder::to_item");
                assert_eq!(
                    key_order_id(record),
                    Some(order.order_id.as_str()),
                    "Keys do not match the image"
                );
                assert_eq!(order.content_hash, order_hash(&order));
            }
        }
    }
}

/// The content hash the worker would have computed for this order.
fn order_hash(order: &StoredOrder) -> orders_domain::model::ContentHash {
    orders_domain::model::ContentHash::of(&order.owner, &order.order_id, &order.order)
}

#[tokio::test]
async fn given_the_modify_event_file_when_handled_then_nothing_is_published_and_nothing_fails() {
    let (publisher, deps) = setup();
    let batch = fixture(MODIFY_EVENTS);
    assert_eq!(batch.payload.records[0].event_name, "MODIFY");

    let response = handle(&deps, batch).await.unwrap();

    assert!(failures(&response).is_empty());
    assert!(publisher.published().is_empty());
}

#[tokio::test]
async fn given_the_insert_event_file_when_handled_then_logs_carry_ids_and_no_personal_data() {
    let (_publisher, deps) = setup();
    let capture = LogCapture::default();
    let _guard = capture.set_default();

    handle(&deps, fixture(INSERT_EVENTS)).await.unwrap();
    handle(&deps, fixture(MODIFY_EVENTS)).await.unwrap();

    let logs = capture.contents();
    assert!(logs.contains("23214"), "{logs}");
    let notified = lines_with_outcome(&logs, "notified");
    assert_eq!(notified.len(), 2, "{logs}");
    assert_eq!(notified[0]["stage"], "notifier");
    assert_eq!(notified[0]["order_id"], "23214");
    assert_eq!(
        notified[0]["correlation_id"],
        "7f3c2a9e-5b1d-4c8e-9a60-2d4f8b1e6c35"
    );
    assert_eq!(notified[0]["sequence_number"], "3120400000000061544583217");
    for word in PERSONAL_DATA {
        assert!(!logs.contains(word), "{word} leaked into the logs:\n{logs}");
    }
}

#[test]
fn given_outcomes_when_mapped_then_failures_carry_their_sequence_number_or_fail_the_whole_batch() {
    let response = batch_response([
        (Some("1"), Outcome::Notified),
        (Some("2"), Outcome::Skipped),
        (Some("3"), Outcome::Failed),
    ]);
    assert_eq!(failures(&response), [Some("3")]);
    // Without a sequence number there is no checkpoint: a null identifier makes
    // Lambda retry the whole batch rather than skip the record.
    let response = batch_response([(None, Outcome::Failed)]);
    assert_eq!(failures(&response), [None]);
    // Dead-lettered records are done: they are not the checkpoint.
    let response = batch_response([(Some("4"), Outcome::Poison), (Some("5"), Outcome::Refused)]);
    assert!(failures(&response).is_empty());
}

mod batches;
