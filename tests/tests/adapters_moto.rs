//! The AWS adapters of `shared` (`SqsOrderQueue`, `DynamoOrderStore`,
//! `SnsEventPublisher`) against moto over HTTP.
//!
//! Each test creates its own uniquely named resources and deletes them at the
//! end. Known moto gaps are not asserted on (deduplicated sends return a fresh
//! MessageId; FIFO `SequenceNumber` is absent).

// Test code, helpers included: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use orders_adapters::record::ItemMapping;
use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use orders_adapters::aws::{DynamoOrderStore, SnsEventPublisher, SqsOrderQueue};
use orders_adapters::ports::{EventPublisher, OrderQueue, OrderStore, PutOutcome};
use orders_adapters::record::{HASH_ATTRIBUTE, KEY_ATTRIBUTE, StoredOrder};
use orders_domain::contract::{ORDER_CREATED_EVENT_TYPE, OrderCreated, OrderMessage};
use orders_tests::fixtures::{order_created, order_message, outgoing, stored_order};
use orders_tests::services::drain;
use orders_tests::{queue_attribute, string_attribute};
use orders_tests::{require_moto, unique_name};

async fn create_fifo_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

async fn create_standard_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = queue_attribute(sqs, &url, QueueAttributeName::QueueArn)
        .await
        .unwrap();
    (url, arn)
}

#[tokio::test]
async fn sqs_order_queue_sends_fifo_messages_with_group_dedup_and_correlation() {
    let moto = require_moto!();
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    let url = create_fifo_queue(&sqs, &unique_name("adapters-fifo")).await;
    let queue = SqsOrderQueue::new(sqs.clone(), &url);

    // Given two orders of one customer and a retry of the first (same dedup id)
    let first = order_message("fifo-1", "Harry Kane", 1);
    let second = order_message("fifo-2", "Harry Kane", 2);
    queue
        .enqueue(&outgoing(first.clone(), "customer-a", "dedup-1"))
        .await
        .unwrap();
    queue
        .enqueue(&outgoing(second.clone(), "customer-a", "dedup-2"))
        .await
        .unwrap();
    queue
        .enqueue(&outgoing(first.clone(), "customer-a", "dedup-1"))
        .await
        .unwrap();

    // When the queue is drained
    let got = drain(&sqs, &url, 3, Duration::from_secs(4)).await;

    // Then each order arrives once, in order, with its routing and correlation id
    let bodies: Vec<OrderMessage> = got
        .iter()
        .map(|m| OrderMessage::from_body(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies, vec![first.clone(), second]);
    let attributes = got[0].attributes().unwrap();
    assert_eq!(
        attributes
            .get(&MessageSystemAttributeName::MessageGroupId)
            .map(String::as_str),
        Some("customer-a")
    );
    assert_eq!(
        attributes
            .get(&MessageSystemAttributeName::MessageDeduplicationId)
            .map(String::as_str),
        Some("dedup-1")
    );
    assert_eq!(
        string_attribute(&got[0], "correlationId").as_deref(),
        Some(first.correlation_id.as_str())
    );

    sqs.delete_queue().queue_url(&url).send().await.unwrap();
}

#[tokio::test]
async fn sqs_order_queue_on_a_missing_queue_is_rejected_not_unavailable() {
    let moto = require_moto!();
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    let url = format!(
        "{}/123456789012/{}.fifo",
        moto.endpoint(),
        unique_name("adapters-missing")
    );
    let queue = SqsOrderQueue::new(sqs, url);
    let err = queue
        .enqueue(&outgoing(order_message("m-1", "Harry Kane", 1), "g", "d"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, orders_adapters::ports::QueueError::Rejected(_)),
        "{err:?}"
    );
}

async fn create_table(dynamo: &aws_sdk_dynamodb::Client, name: &str) {
    dynamo
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(KEY_ATTRIBUTE)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(KEY_ATTRIBUTE)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

async fn get_item(
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    order_id: &str,
) -> Option<HashMap<String, AttributeValue>> {
    dynamo
        .get_item()
        .table_name(table)
        .key(
            KEY_ATTRIBUTE,
            AttributeValue::S(format!("anonymous#{order_id}")),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

/// The outcomes (created, duplicate, conflict) are the store port's contract,
/// run against every store in `ports_contract.rs`; this pins the item the
/// DynamoDB adapter writes.
#[tokio::test]
async fn dynamo_order_store_writes_the_order_as_a_native_item() {
    let moto = require_moto!();
    let dynamo = aws_sdk_dynamodb::Client::new(&moto.sdk_config());
    let table = unique_name("adapters-orders");
    create_table(&dynamo, &table).await;
    let store = DynamoOrderStore::new(dynamo.clone(), &table);

    let original = stored_order(&order_message("23214", "Harry Kane", 22));
    let other = stored_order(&order_message("23214", "Son Heung-min", 7));
    assert_eq!(
        store.put_if_absent(&original).await.unwrap(),
        PutOutcome::Created
    );
    assert!(matches!(
        store.put_if_absent(&other).await.unwrap(),
        PutOutcome::Conflict { .. }
    ));

    // The conflicting put wrote nothing: the original is intact.
    let item = get_item(&dynamo, &table, "23214").await.unwrap();
    assert_eq!(StoredOrder::from_item(item.clone()).unwrap(), original);
    // `items` is a native list of maps, not a JSON string.
    let Some(AttributeValue::L(items)) = item.get("items") else {
        panic!("items is not a list: {:?}", item.get("items"));
    };
    let AttributeValue::M(line) = &items[0] else {
        panic!("line is not a map: {:?}", items[0]);
    };
    assert_eq!(line.get("quantity"), Some(&AttributeValue::N("22".into())));
    assert_eq!(
        line.get("itemId"),
        Some(&AttributeValue::S("item456".into()))
    );

    dynamo
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
}

/// The adapter asks for `ReturnValuesOnConditionCheckFailure=ALL_OLD` to save a
/// read. AWS returns the old item in the `ConditionalCheckFailedException`;
/// this pins whether moto does too (the adapter falls back to a consistent
/// read when it does not, so either way the outcome above is right).
#[tokio::test]
async fn moto_returns_the_old_item_on_a_failed_condition() {
    let moto = require_moto!();
    let dynamo = aws_sdk_dynamodb::Client::new(&moto.sdk_config());
    let table = unique_name("adapters-rvoccf");
    create_table(&dynamo, &table).await;
    let original = stored_order(&order_message("rv-1", "Harry Kane", 1));
    let item: HashMap<String, AttributeValue> = original.to_item().unwrap();

    let put = || {
        dynamo
            .put_item()
            .table_name(&table)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", KEY_ATTRIBUTE)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
    };
    put().await.unwrap();
    let err = put().await.unwrap_err();
    let aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
        failed,
    ) = err.into_service_error()
    else {
        panic!("not a failed condition");
    };
    let old = failed
        .item()
        .expect("moto returns the old item, as AWS does");
    assert_eq!(
        old.get(HASH_ATTRIBUTE),
        Some(&AttributeValue::S(
            original.content_hash.as_str().to_owned()
        ))
    );

    dynamo
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
}

struct Subscribed {
    url: String,
    subscription_arn: String,
}

async fn subscribe_queue(
    sqs: &aws_sdk_sqs::Client,
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    prefix: &str,
    filter_policy: &str,
    raw: bool,
) -> Subscribed {
    let (url, arn) = create_standard_queue(sqs, &unique_name(prefix)).await;
    let subscription_arn = sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("FilterPolicy", filter_policy)
        .attributes("RawMessageDelivery", if raw { "true" } else { "false" })
        .return_subscription_arn(true)
        .send()
        .await
        .unwrap()
        .subscription_arn
        .unwrap();
    Subscribed {
        url,
        subscription_arn,
    }
}

async fn cleanup(
    sqs: &aws_sdk_sqs::Client,
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    subs: &[&Subscribed],
) {
    for sub in subs {
        sns.unsubscribe()
            .subscription_arn(&sub.subscription_arn)
            .send()
            .await
            .unwrap();
        sqs.delete_queue().queue_url(&sub.url).send().await.unwrap();
    }
    sns.delete_topic()
        .topic_arn(topic_arn)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn sns_event_publisher_reaches_a_raw_filtered_queue_subscription_only_when_it_matches() {
    let moto = require_moto!();
    let config = moto.sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let topic_arn = sns
        .create_topic()
        .name(unique_name("adapters-events"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let matching = subscribe_queue(
        &sqs,
        &sns,
        &topic_arn,
        "adapters-match",
        r#"{"eventType":["OrderCreated"]}"#,
        true,
    )
    .await;
    let other = subscribe_queue(
        &sqs,
        &sns,
        &topic_arn,
        "adapters-other",
        r#"{"eventType":["OrderCancelled"]}"#,
        true,
    )
    .await;

    // Given an OrderCreated event published through the adapter
    let event = order_created(&stored_order(&order_message("sns-1", "Harry Kane", 3)));
    SnsEventPublisher::new(sns.clone(), &topic_arn)
        .publish(&event)
        .await
        .unwrap();

    // Then the matching raw subscription receives the JSON event itself, with
    // the SNS message attributes as SQS message attributes
    let got = drain(&sqs, &matching.url, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let body = got[0].body().unwrap();
    assert_eq!(body, event.to_json());
    let parsed: OrderCreated = serde_json::from_str(body).unwrap();
    assert_eq!(parsed, event);
    assert_eq!(
        string_attribute(&got[0], "eventType").as_deref(),
        Some(ORDER_CREATED_EVENT_TYPE)
    );
    assert_eq!(
        string_attribute(&got[0], "schemaVersion").as_deref(),
        Some("2")
    );

    // And the subscription filtering on another event type receives nothing
    // (SNS fans out before Publish returns, on AWS nearly so: one second is ample)
    let none = drain(&sqs, &other.url, 1, Duration::from_secs(1)).await;
    assert!(none.is_empty(), "unexpected delivery: {none:?}");

    cleanup(&sqs, &sns, &topic_arn, &[&matching, &other]).await;
}

#[tokio::test]
async fn sns_event_publisher_envelope_carries_the_sqs_rendering_subject_and_attributes() {
    let moto = require_moto!();
    let config = moto.sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let topic_arn = sns
        .create_topic()
        .name(unique_name("adapters-envelope"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let sub = subscribe_queue(
        &sqs,
        &sns,
        &topic_arn,
        "adapters-env",
        r#"{"eventType":["OrderCreated"]}"#,
        false,
    )
    .await;

    let event = order_created(&stored_order(&order_message("sns-2", "Harry Kane", 3)));
    SnsEventPublisher::new(sns.clone(), &topic_arn)
        .publish(&event)
        .await
        .unwrap();

    let got = drain(&sqs, &sub.url, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let envelope: serde_json::Value = serde_json::from_str(got[0].body().unwrap()).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic_arn.as_str());
    // String structure: the message is the event's JSON, with no subject.
    assert_eq!(envelope["Message"], event.to_json().as_str());
    assert!(
        envelope
            .get("Subject")
            .is_none_or(serde_json::Value::is_null)
    );
    assert_eq!(
        envelope["MessageAttributes"]["eventType"],
        serde_json::json!({"Type": "String", "Value": ORDER_CREATED_EVENT_TYPE})
    );
    assert_eq!(
        envelope["MessageAttributes"]["schemaVersion"],
        serde_json::json!({"Type": "String", "Value": "2"})
    );

    cleanup(&sqs, &sns, &topic_arn, &[&sub]).await;
}
