//! Contract suite: one set of cases, run against the embedded emulators and
//! against the AWS SDK backends over moto, so the local runner keeps the AWS
//! semantics the pipeline depends on.
//!
//! Each case is a generic `async fn(&Backends)`; `orders_tests::on_both_backends!` at the
//! bottom instantiates every case in `mod embedded` and `mod moto`. Where moto
//! and the AWS documentation differ, AWS wins: the case says so in a comment and
//! asserts only what both agree on, and the embedded emulators keep AWS's
//! behaviour. Known moto gaps are never asserted on: deduplicated sends return
//! a fresh MessageId, FIFO `SequenceNumber` is absent, `StartMessageMoveTask`
//! is not implemented.
//!
//! Every case creates uniquely named resources and keeps its queues shallow
//! (moto's FIFO slows down as a queue fills).

// Test code, helpers included: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use orders_adapters::record::ItemMapping;
use std::collections::HashMap;
use std::time::Duration;

use orders_adapters::ports::PutOutcome;
use orders_adapters::record::{HASH_ATTRIBUTE, KEY_ATTRIBUTE, StoredOrder};
use orders_adapters::settings::MAX_RECEIVE_COUNT;
use orders_backends::backend::{Backends, QueueSpec, ReceivedMessage, Redrive, SendMessage};
use orders_domain::contract::{ORDER_CREATED_EVENT_TYPE, OrderCreated, OrderMessage};
use orders_tests::fixtures::{order_created, order_message, outgoing, stored_order};
use orders_tests::services::{drain, read_stream};
use orders_tests::unique_name;

/// Enough for any delivery that should happen (moto and the emulators deliver
/// within milliseconds; AWS within a second or two).
const ARRIVES_WITHIN: Duration = Duration::from_secs(10);

fn fifo_spec(name: &str, visibility: Duration, redrive: Option<Redrive>) -> QueueSpec {
    QueueSpec {
        name: format!("{name}.fifo"),
        fifo: true,
        visibility_timeout: visibility,
        redrive,
    }
}

fn standard_spec(name: &str) -> QueueSpec {
    QueueSpec {
        name: name.to_owned(),
        fifo: false,
        visibility_timeout: Duration::from_secs(30),
        redrive: None,
    }
}

fn fifo_message(body: &str, group: &str, dedup: &str) -> SendMessage {
    SendMessage {
        body: body.to_owned(),
        group_id: Some(group.to_owned()),
        dedup_id: Some(dedup.to_owned()),
        message_attributes: HashMap::new(),
        trace_header: None,
    }
}

fn bodies(messages: &[ReceivedMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.body.as_str()).collect()
}

/// FIFO: messages of one group arrive in send order, and while one of a
/// group's messages is in flight no later message of that group is delivered
/// (other groups are not blocked).
async fn fifo_orders_per_group(b: &Backends) {
    let q = &b.queues;
    let url = q
        .create_queue(&fifo_spec(
            &unique_name("contract-order"),
            Duration::from_secs(30),
            None,
        ))
        .await
        .unwrap();
    for (body, group) in [
        ("a1", "a"),
        ("b1", "b"),
        ("a2", "a"),
        ("b2", "b"),
        ("a3", "a"),
    ] {
        q.send(&url, &fifo_message(body, group, body))
            .await
            .unwrap();
    }

    // Given the head of group a received and not deleted
    let first = q.receive(&url, 1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(bodies(&first), ["a1"]);
    assert_eq!(
        first[0]
            .attributes
            .get("MessageGroupId")
            .map(String::as_str),
        Some("a")
    );
    // When receiving again, only group b is available, in order
    let others = q.receive(&url, 10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(bodies(&others), ["b1", "b2"]);
    for m in &others {
        q.delete(&url, &m.receipt_handle).await.unwrap();
    }
    let blocked = q.receive(&url, 10, Duration::ZERO).await.unwrap();
    assert!(
        blocked.is_empty(),
        "group a is in flight: {:?}",
        bodies(&blocked)
    );

    // Then deleting a1 releases a2 and a3, in order
    q.delete(&url, &first[0].receipt_handle).await.unwrap();
    let rest = drain(q.as_ref(), &url, 2, ARRIVES_WITHIN).await;
    assert_eq!(bodies(&rest), ["a2", "a3"]);
}

/// FIFO: a second send with the same `MessageDeduplicationId` inside the
/// five-minute window is accepted and dropped, through the raw API and
/// through the intake port (`order_queue`), which also sets routing and the
/// correlation id.
async fn fifo_deduplicates_within_the_window(b: &Backends) {
    let q = &b.queues;
    let url = q
        .create_queue(&fifo_spec(
            &unique_name("contract-dedup"),
            Duration::from_secs(30),
            None,
        ))
        .await
        .unwrap();

    q.send(&url, &fifo_message("first", "g", "same"))
        .await
        .unwrap();
    // A different body with the same id is still a duplicate: the id decides.
    // (No assertion on the returned MessageId: moto returns a fresh one.)
    q.send(&url, &fifo_message("second", "g", "same"))
        .await
        .unwrap();
    q.send(&url, &fifo_message("third", "g", "other"))
        .await
        .unwrap();
    let got = drain(q.as_ref(), &url, 3, Duration::from_secs(3)).await;
    assert_eq!(bodies(&got), ["first", "third"]);

    // Through the port: the same outgoing order twice is one message.
    let port = q.order_queue(&url);
    let message = order_message("dedup-1", "Harry Kane", 2);
    let order = outgoing(message.clone(), "customer-1", "order-dedup-1");
    port.enqueue(&order).await.unwrap();
    port.enqueue(&order).await.unwrap();
    let got = drain(q.as_ref(), &url, 2, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 1, "{:?}", bodies(&got));
    assert_eq!(OrderMessage::from_body(&got[0].body).unwrap(), message);
    assert_eq!(
        got[0].attributes.get("MessageGroupId").map(String::as_str),
        Some("customer-1")
    );
    assert_eq!(
        got[0]
            .attributes
            .get("MessageDeduplicationId")
            .map(String::as_str),
        Some("order-dedup-1")
    );
    assert_eq!(
        got[0]
            .message_attributes
            .get("correlationId")
            .map(String::as_str),
        Some(message.correlation_id.as_str())
    );
}

/// The X-Ray trace header travels as the `AWSTraceHeader` message *system*
/// attribute (the only one `SendMessage` takes), through the raw service and
/// through intake's port, and comes back among the received message's system
/// attributes, never its message attributes; a message sent without one has
/// none. <https://docs.aws.amazon.com/xray/latest/devguide/xray-services-sqs.html>
async fn trace_header_travels_as_a_system_attribute(b: &Backends) {
    let q = &b.queues;
    let url = q
        .create_queue(&fifo_spec(
            &unique_name("contract-trace"),
            Duration::from_secs(30),
            None,
        ))
        .await
        .unwrap();
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let mut raw = fifo_message("raw", "g", "raw");
    raw.trace_header = Some(trace.to_owned());
    q.send(&url, &raw).await.unwrap();
    let mut order = outgoing(order_message("trace-1", "Harry Kane", 1), "g", "port");
    order.trace_header = Some(trace.to_owned());
    q.order_queue(&url).enqueue(&order).await.unwrap();
    q.send(&url, &fifo_message("untraced", "g", "untraced"))
        .await
        .unwrap();

    let got = drain(q.as_ref(), &url, 3, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 3, "{:?}", bodies(&got));
    let header = |m: &ReceivedMessage| {
        m.attributes
            .get(orders_adapters::ports::AWS_TRACE_HEADER_ATTRIBUTE)
            .cloned()
    };
    assert_eq!(header(&got[0]).as_deref(), Some(trace), "raw send");
    assert_eq!(header(&got[1]).as_deref(), Some(trace), "intake's port");
    assert_eq!(header(&got[2]), None, "sent without one");
    for m in &got {
        assert!(
            !m.message_attributes
                .contains_key(orders_adapters::ports::AWS_TRACE_HEADER_ATTRIBUTE)
        );
    }
}

/// A received message is invisible for the visibility timeout, then comes back
/// with its receive count incremented; `ChangeMessageVisibility` to zero
/// releases it at once (and still counts the receive); delete removes it.
async fn visibility_timeout_and_receive_count(b: &Backends) {
    let q = &b.queues;
    let url = q
        .create_queue(&fifo_spec(
            &unique_name("contract-visibility"),
            Duration::from_secs(1),
            None,
        ))
        .await
        .unwrap();
    q.send(&url, &fifo_message("m", "g", "m")).await.unwrap();

    let first = q.receive(&url, 10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(bodies(&first), ["m"]);
    assert_eq!(first[0].receive_count(), 1);
    let depth = q.depth(&url).await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 1));
    let hidden = q.receive(&url, 10, Duration::ZERO).await.unwrap();
    assert!(hidden.is_empty(), "visible while in flight");

    // After the timeout it is back, received a second time.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = q.receive(&url, 10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(bodies(&second), ["m"]);
    assert_eq!(second[0].message_id, first[0].message_id);
    assert_eq!(second[0].receive_count(), 2);

    // Released early: visible again at once.
    q.change_visibility(&url, &second[0].receipt_handle, Duration::ZERO)
        .await
        .unwrap();
    let third = q.receive(&url, 10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(bodies(&third), ["m"]);
    assert_eq!(third[0].receive_count(), 3);

    q.delete(&url, &third[0].receipt_handle).await.unwrap();
    let depth = q.depth(&url).await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
}

/// A message received `maxReceiveCount` times without being deleted moves to
/// the DLQ on the next receive attempt, not before; other messages stay.
async fn redrive_to_the_dlq_at_max_receive_count(b: &Backends) {
    let q = &b.queues;
    let dlq_url = q
        .create_queue(&fifo_spec(
            &unique_name("contract-dlq"),
            Duration::from_secs(30),
            None,
        ))
        .await
        .unwrap();
    let url = q
        .create_queue(&fifo_spec(
            &unique_name("contract-redrive"),
            Duration::from_secs(30),
            Some(Redrive {
                dlq_url: dlq_url.clone(),
                max_receive_count: MAX_RECEIVE_COUNT,
            }),
        ))
        .await
        .unwrap();
    let mut poison = fifo_message("poison", "g", "poison");
    poison
        .message_attributes
        .insert("kind".to_owned(), "poison".to_owned());
    q.send(&url, &poison).await.unwrap();

    // Received and released (as a failing consumer would) maxReceiveCount times.
    for attempt in 1..=MAX_RECEIVE_COUNT {
        let got = q.receive(&url, 1, Duration::from_secs(1)).await.unwrap();
        assert_eq!(bodies(&got), ["poison"], "receive {attempt}");
        assert_eq!(got[0].receive_count(), attempt);
        q.change_visibility(&url, &got[0].receipt_handle, Duration::ZERO)
            .await
            .unwrap();
    }
    assert!(
        drain(q.as_ref(), &dlq_url, 1, Duration::from_millis(500))
            .await
            .is_empty(),
        "moved to the DLQ before the receive that exceeds maxReceiveCount"
    );

    // The next receive attempt moves it instead of delivering it.
    let after = q.receive(&url, 1, Duration::from_secs(1)).await.unwrap();
    assert!(after.is_empty(), "delivered a receive too many");
    let dead = drain(q.as_ref(), &dlq_url, 1, ARRIVES_WITHIN).await;
    assert_eq!(bodies(&dead), ["poison"]);
    assert_eq!(
        dead[0].message_attributes.get("kind").map(String::as_str),
        Some("poison")
    );
    let depth = q.depth(&url).await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0));
}

/// The conditional put on the table: what `ports_contract.rs` checks for the
/// created/duplicate/conflict outcomes, plus what only a table can hold: an
/// item under the id that carries no content hash (written by something other
/// than the worker) is a conflict and is never overwritten, on both backends.
async fn conditional_put_never_overwrites_an_item_without_a_hash(b: &Backends) {
    let table = unique_name("contract-orders");
    b.tables.create_table(&table).await.unwrap();
    let store = b.tables.order_store(&table);
    let id = unique_name("order");
    let key = format!("anonymous#{id}");
    let foreign = serde_dynamo::Item::from(HashMap::from([
        (
            KEY_ATTRIBUTE.to_owned(),
            serde_dynamo::AttributeValue::S(key.clone()),
        ),
        (
            "note".to_owned(),
            serde_dynamo::AttributeValue::S("written by hand".to_owned()),
        ),
    ]));
    b.tables.put(&table, foreign.clone()).await.unwrap();
    let order = stored_order(&order_message(&id, "Harry Kane", 22));

    let outcome = store.put_if_absent(&order).await.unwrap();

    assert!(
        matches!(outcome, PutOutcome::Conflict { .. }),
        "{outcome:?}"
    );
    let item = b.tables.get(&table, &key).await.unwrap().unwrap();
    assert!(item.get(HASH_ATTRIBUTE).is_none(), "overwritten: {item:?}");
    // Another id is independent.
    let second = stored_order(&order_message(&unique_name("order"), "Harry Kane", 22));
    assert_eq!(
        store.put_if_absent(&second).await.unwrap(),
        PutOutcome::Created
    );
    assert!(
        b.tables
            .get(&table, "anonymous#absent")
            .await
            .unwrap()
            .is_none()
    );
}

/// The table's stream (`NEW_AND_OLD_IMAGES`): INSERT with the new image only,
/// MODIFY with old and new, REMOVE with the old image; keys on every record.
async fn stream_records_insert_modify_remove(b: &Backends) {
    let table = unique_name("contract-stream");
    b.tables.create_table(&table).await.unwrap();
    let mut reader = b.tables.open_stream(&table).await.unwrap();
    let id = unique_name("order");
    let original = stored_order(&order_message(&id, "Harry Kane", 22));
    b.tables
        .order_store(&table)
        .put_if_absent(&original)
        .await
        .unwrap();
    let mut updated: serde_dynamo::Item = original.to_item().unwrap();
    updated.insert(
        "updatedAt".to_owned(),
        serde_dynamo::AttributeValue::S("2030-01-01T00:00:00Z".to_owned()),
    );
    b.tables.put(&table, updated.clone()).await.unwrap();
    b.tables.delete(&table, &original.key()).await.unwrap();

    let records = read_stream(reader.as_mut(), 3, ARRIVES_WITHIN).await;
    let names: Vec<&str> = records.iter().map(|r| r.event_name.as_str()).collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE"]);
    let key = serde_dynamo::AttributeValue::S(original.key());
    for record in &records {
        assert_eq!(record.change.keys.get(KEY_ATTRIBUTE), Some(&key));
    }

    let insert = &records[0].change;
    assert!(insert.old_image.is_empty(), "INSERT has no old image");
    assert_eq!(
        StoredOrder::from_item(insert.new_image.clone()).unwrap(),
        original
    );
    // The image keeps native types: items is a list of maps.
    assert!(matches!(
        insert.new_image.get("items"),
        Some(serde_dynamo::AttributeValue::L(lines)) if matches!(lines.first(), Some(serde_dynamo::AttributeValue::M(_)))
    ));

    let modify = &records[1].change;
    assert_eq!(
        StoredOrder::from_item(modify.old_image.clone()).unwrap(),
        original
    );
    assert_eq!(modify.new_image, updated);
    assert_eq!(
        modify.new_image.get(HASH_ATTRIBUTE),
        modify.old_image.get(HASH_ATTRIBUTE)
    );

    let remove = &records[2].change;
    assert_eq!(remove.old_image, updated);
    assert!(remove.new_image.is_empty(), "REMOVE has no new image");

    // Nothing more.
    assert!(reader.next_records(10).await.unwrap().is_empty());
}

/// SNS → SQS: a raw subscription whose filter policy matches gets the event
/// JSON as the body and the SNS message attributes as SQS message attributes;
/// one whose filter does not match gets nothing; a non-raw subscription gets
/// the SNS envelope with the queue rendering as `Message`.
async fn sns_publish_reaches_filtered_queue_subscriptions(b: &Backends) {
    let topic = b
        .topics
        .create_topic(&unique_name("contract-events"))
        .await
        .unwrap();
    let raw = b
        .queues
        .create_queue(&standard_spec(&unique_name("contract-raw")))
        .await
        .unwrap();
    let filtered_out = b
        .queues
        .create_queue(&standard_spec(&unique_name("contract-filtered")))
        .await
        .unwrap();
    let enveloped = b
        .queues
        .create_queue(&standard_spec(&unique_name("contract-envelope")))
        .await
        .unwrap();
    // Both keys must match (AND across keys, OR within a key's list).
    b.topics
        .subscribe_queue(
            &topic,
            &raw,
            Some(r#"{"eventType":["OrderCreated","OrderCancelled"],"schemaVersion":["2"]}"#),
            true,
        )
        .await
        .unwrap();
    b.topics
        .subscribe_queue(
            &topic,
            &filtered_out,
            Some(r#"{"eventType":["OrderCreated"],"schemaVersion":["3"]}"#),
            true,
        )
        .await
        .unwrap();
    b.topics
        .subscribe_queue(&topic, &enveloped, None, false)
        .await
        .unwrap();

    let event = order_created(&stored_order(&order_message(
        &unique_name("order"),
        "Harry Kane",
        3,
    )));
    b.topics
        .event_publisher(&topic)
        .publish(&event)
        .await
        .unwrap();

    let got = drain(b.queues.as_ref(), &raw, 1, ARRIVES_WITHIN).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        serde_json::from_str::<OrderCreated>(&got[0].body).unwrap(),
        event
    );
    assert_eq!(
        got[0]
            .message_attributes
            .get("eventType")
            .map(String::as_str),
        Some(ORDER_CREATED_EVENT_TYPE)
    );
    assert_eq!(
        got[0]
            .message_attributes
            .get("schemaVersion")
            .map(String::as_str),
        Some("2")
    );

    let got = drain(b.queues.as_ref(), &enveloped, 1, ARRIVES_WITHIN).await;
    assert_eq!(got.len(), 1);
    let envelope: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic.as_str());
    assert_eq!(
        serde_json::from_str::<OrderCreated>(envelope["Message"].as_str().unwrap()).unwrap(),
        event
    );
    assert!(
        envelope
            .get("Subject")
            .is_none_or(serde_json::Value::is_null)
    );
    assert_eq!(
        envelope["MessageAttributes"]["eventType"],
        serde_json::json!({"Type": "String", "Value": ORDER_CREATED_EVENT_TYPE})
    );

    // Fan-out happened before the deliveries above were seen.
    let none = drain(
        b.queues.as_ref(),
        &filtered_out,
        1,
        Duration::from_millis(500),
    )
    .await;
    assert!(none.is_empty(), "filtered delivery: {:?}", bodies(&none));
}

/// AWS keeps a FIFO queue's deduplication ids for five minutes whether or not
/// the first message was deleted. moto 5.2.5 only compares against messages
/// still in the queue (`Queue.add_message`), so after a delete it accepts the
/// same id again. AWS wins: this case runs on the embedded emulators only.
async fn fifo_dedup_outlives_the_delete(b: &Backends) {
    let q = &b.queues;
    let url = q
        .create_queue(&fifo_spec(
            &unique_name("contract-dedup-delete"),
            Duration::from_secs(30),
            None,
        ))
        .await
        .unwrap();
    q.send(&url, &fifo_message("first", "g", "same"))
        .await
        .unwrap();
    let got = drain(q.as_ref(), &url, 1, ARRIVES_WITHIN).await;
    assert_eq!(bodies(&got), ["first"]);
    q.send(&url, &fifo_message("again", "g", "same"))
        .await
        .unwrap();
    let again = drain(q.as_ref(), &url, 1, Duration::from_secs(2)).await;
    assert!(again.is_empty(), "re-accepted: {:?}", bodies(&again));
}

#[tokio::test]
async fn embedded_fifo_dedup_outlives_the_delete() {
    let outbox = orders_tests::TempDir::new("contract-outbox");
    fifo_dedup_outlives_the_delete(&Backends::embedded(outbox.path().to_path_buf())).await;
}

/// SQS refuses a message whose body or string attribute value holds a
/// character outside `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
/// #x10000-#x10FFFF` with `InvalidMessageContents`
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html>),
/// and enqueues nothing. moto 5.2.5 has no such check: it accepts U+FFFF (and
/// U+0000, U+0001, U+FFFE) in a body or attribute and delivers it unchanged.
/// AWS wins: this case runs on the embedded emulators only.
async fn a_character_sqs_refuses_is_not_enqueued(b: &Backends) {
    let q = &b.queues;
    let url = q
        .create_queue(&fifo_spec(
            &unique_name("contract-chars"),
            Duration::from_secs(30),
            None,
        ))
        .await
        .unwrap();
    let err = q
        .send(&url, &fifo_message("order \u{FFFF}", "g", "refused"))
        .await
        .unwrap_err();
    let cause = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(cause.contains("InvalidMessageContents"), "{err}: {cause}");
    let mut attribute = fifo_message("fine", "g", "refused-attribute");
    attribute
        .message_attributes
        .insert("correlationId".to_owned(), "c-\u{FFFF}".to_owned());
    assert!(q.send(&url, &attribute).await.is_err());

    // Allowed characters at the edges of the ranges go through unchanged.
    let allowed = "\t\n\r \u{D7FF}\u{E000}\u{FFFD}\u{10000}\u{10FFFF}";
    q.send(&url, &fifo_message(allowed, "g", "allowed"))
        .await
        .unwrap();
    let got = drain(q.as_ref(), &url, 1, ARRIVES_WITHIN).await;
    assert_eq!(
        bodies(&got),
        [allowed],
        "only the allowed message was enqueued"
    );
}

#[tokio::test]
async fn embedded_a_character_sqs_refuses_is_not_enqueued() {
    let outbox = orders_tests::TempDir::new("contract-outbox");
    a_character_sqs_refuses_is_not_enqueued(&Backends::embedded(outbox.path().to_path_buf())).await;
}

orders_tests::on_both_backends!(
    fifo_orders_per_group,
    fifo_deduplicates_within_the_window,
    trace_header_travels_as_a_system_attribute,
    visibility_timeout_and_receive_count,
    redrive_to_the_dlq_at_max_receive_count,
    conditional_put_never_overwrites_an_item_without_a_hash,
    stream_records_insert_modify_remove,
    sns_publish_reaches_filtered_queue_subscriptions,
);
