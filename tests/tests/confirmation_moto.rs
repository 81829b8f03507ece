//! The confirmation function's AWS adapters against moto over HTTP: SES v2
//! `SendEmail` from a verified identity (`SesCustomerMailer`), the claim and
//! marks on the orders table (`DynamoConfirmationStore`, with the one store
//! contract it shares with the in-memory store and the local runner's), and
//! the handler over both: an order is confirmed once, a refused one ends `FAILED` with
//! its reason and is not retried, a throttled one is retried and sent once.
//!
//! moto cannot throttle SES, so the throttle is scripted at the port (a
//! mailer that answers `TooManyRequestsException` once, then sends through
//! moto). moto refuses an unverified sender with `MessageRejected` ("Email
//! address not verified"), as SES does
//! (<https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html>);
//! it does not refuse recipients (no sandbox, no suppression list), so the
//! refusal here is the sender's. Each test creates its own table and
//! identities.

// Test code, helpers included: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use confirmation::mailer::memory::MemoryMailer;
use confirmation::mailer::{ConfirmationEmail, CustomerMailer, SendError, Verdict};
use confirmation::metrics::memory::RecordingMetrics;
use confirmation::store::dynamodb::DynamoConfirmationStore;
use confirmation::store::memory::MemoryConfirmations;
use confirmation::store::{Claim, ConfirmationStore, Written};
use confirmation::{Deps, SesCustomerMailer};
use lambda_runtime::{Context, LambdaEvent};
use orders_adapters::memory::MemoryVisibility;
use orders_adapters::record::{ItemMapping, KEY_ATTRIBUTE, StoredOrder};
use orders_backends::backend::TableService as _;
use orders_backends::embedded::dynamodb::EmbeddedTables;
use orders_domain::confirmation::{ConfirmationMarks, ConfirmationState, RefusalCode};
use orders_domain::model::CustomerEmail;
use orders_local::pipeline::TableConfirmations;
use orders_tests::fixtures::{order_created, order_message, stored_order};
use orders_tests::{require_moto, unique_name};
use serde_json::json;

const VERIFIED_DOMAIN: &str = "shop.example";
const FROM: &str = "orders@shop.example";
const TO: &str = "harry@example.org";

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

/// A stored order `id` with the customer's address, written as the worker
/// writes it.
async fn put_order(dynamo: &aws_sdk_dynamodb::Client, table: &str, id: &str) -> StoredOrder {
    let order = addressed(id);
    dynamo
        .put_item()
        .table_name(table)
        .set_item(Some(order.to_item().unwrap()))
        .send()
        .await
        .unwrap();
    order
}

async fn read(dynamo: &aws_sdk_dynamodb::Client, table: &str, order: &StoredOrder) -> StoredOrder {
    let item = dynamo
        .get_item()
        .table_name(table)
        .key(KEY_ATTRIBUTE, AttributeValue::S(order.key()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    StoredOrder::from_item(item).unwrap()
}

fn state(order: &StoredOrder) -> ConfirmationState {
    ConfirmationState::of(order.order.customer_email().is_some(), &order.confirmation)
}

fn email() -> ConfirmationEmail {
    ConfirmationEmail {
        to: CustomerEmail::parse(TO).unwrap(),
        subject: "Your order m-1 is confirmed".into(),
        text: "Hello".into(),
        html: "<p>Hello</p>".into(),
    }
}

fn batch(order: &StoredOrder, message_id: &str, receive: u32) -> LambdaEvent<SqsEvent> {
    let record: SqsMessage = serde_json::from_value(json!({
        "messageId": message_id,
        "receiptHandle": format!("rh-{message_id}"),
        "body": order_created(order).to_json(),
        "attributes": {"ApproximateReceiveCount": receive.to_string()},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }))
    .unwrap();
    let mut event = SqsEvent::default();
    event.records = vec![record];
    LambdaEvent::new(event, Context::default())
}

fn reported(response: &SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

/// SES v2 on moto with `VERIFIED_DOMAIN` verified.
async fn ses(sdk: &aws_config::SdkConfig) -> aws_sdk_sesv2::Client {
    let ses = aws_sdk_sesv2::Client::new(sdk);
    ses.create_email_identity()
        .email_identity(VERIFIED_DOMAIN)
        .send()
        .await
        .unwrap();
    ses
}

#[tokio::test]
async fn ses_v2_sends_from_a_verified_identity_and_refuses_an_unverified_sender() {
    let moto = require_moto!();
    let ses = ses(&moto.sdk_config()).await;
    // From an address of the verified domain: SES's message id
    let mailer = SesCustomerMailer::new(ses.clone(), FROM, None);
    let id = mailer.send(&email()).await.unwrap();
    assert!(!id.is_empty());
    // From an unverified one: MessageRejected, a refusal that never passes
    let unverified = SesCustomerMailer::new(ses, "orders@nowhere.example", None);
    let err = unverified.send(&email()).await.unwrap_err();
    assert_eq!(err.code, "MessageRejected");
    assert_eq!(err.verdict, Verdict::Refused(RefusalCode::MessageRejected));
}

/// The one contract every `ConfirmationStore` keeps, on two stored orders
/// with an address: a claim is taken once and taken over only once expired;
/// only its holder marks or releases; a sent or failed order is never
/// claimed again; nothing is created for an order that is not there; the
/// order itself is never changed.
async fn store_contract(store: &dyn ConfirmationStore, first: &StoredOrder, second: &StoredOrder) {
    let key = first.key();
    let now = 1_800_000_000;
    let mine = Claim {
        token: "mine".into(),
        until: now + 900,
    };
    let theirs = Claim {
        token: "theirs".into(),
        until: now + 900,
    };
    // Read: the order as stored, no marks
    let found = store.order(&key).await.unwrap().unwrap();
    assert_eq!(found.order.order, first.order);
    assert_eq!(found.order.content_hash, first.content_hash);
    assert_eq!(found.marks, ConfirmationMarks::default());
    assert!(store.order("nobody#none").await.unwrap().is_none());
    // A claim is taken once; another waits for it to expire
    assert_eq!(store.claim(&key, &mine, now).await.unwrap(), Written::Done);
    assert_eq!(
        store.claim(&key, &theirs, now + 1).await.unwrap(),
        Written::Refused
    );
    // Only the holder marks or releases
    let at = time::macros::datetime!(2026-11-24 10:00:02 UTC);
    assert_eq!(
        store.mark_sent(&key, &theirs, at, "x").await.unwrap(),
        Written::Refused
    );
    assert_eq!(
        store.release(&key, &theirs).await.unwrap(),
        Written::Refused
    );
    // The holder may release, and claim again
    assert_eq!(store.release(&key, &mine).await.unwrap(), Written::Done);
    assert_eq!(store.claim(&key, &mine, now).await.unwrap(), Written::Done);
    // An expired claim is taken over
    assert_eq!(
        store.claim(&key, &theirs, now + 900).await.unwrap(),
        Written::Done
    );
    assert_eq!(
        store.mark_sent(&key, &mine, at, "x").await.unwrap(),
        Written::Refused,
        "the first claim was taken over"
    );
    assert_eq!(
        store
            .mark_sent(&key, &theirs, at, "0100-abc")
            .await
            .unwrap(),
        Written::Done
    );
    // Sent: nothing claims it again, however late
    assert_eq!(
        store.claim(&key, &mine, i64::MAX / 2).await.unwrap(),
        Written::Refused
    );
    let sent = store.order(&key).await.unwrap().unwrap();
    assert_eq!(
        ConfirmationState::of(true, &sent.marks),
        ConfirmationState::Sent
    );
    assert_eq!(sent.marks.confirmation_sent_at, Some(at));
    assert_eq!(
        sent.marks.confirmation_message_id.as_deref(),
        Some("0100-abc")
    );
    assert_eq!(sent.marks.confirmation_claim, None);
    assert_eq!(sent.order.order, first.order, "the order is untouched");
    // A claim on an order that is not there creates nothing
    assert_eq!(
        store.claim("nobody#none", &mine, now).await.unwrap(),
        Written::Refused
    );
    assert!(store.order("nobody#none").await.unwrap().is_none());
    // The failed mark, on the other order: never claimed again either
    let other = second.key();
    assert_eq!(
        store.claim(&other, &mine, now).await.unwrap(),
        Written::Done
    );
    assert_eq!(
        store
            .mark_failed(&other, &mine, RefusalCode::InvalidAddress)
            .await
            .unwrap(),
        Written::Done
    );
    assert_eq!(
        store.claim(&other, &theirs, i64::MAX / 2).await.unwrap(),
        Written::Refused
    );
    let failed = store.order(&other).await.unwrap().unwrap();
    assert_eq!(
        ConfirmationState::of(true, &failed.marks),
        ConfirmationState::Failed
    );
    assert_eq!(
        failed.marks.confirmation_failed,
        Some(RefusalCode::InvalidAddress)
    );
}

/// A stored order `id` with the customer's address, as the worker makes it.
fn addressed(id: &str) -> StoredOrder {
    let mut message = order_message(id, "Harry Kane", 2);
    let mut body = serde_json::to_value(&message.order).unwrap();
    body["customerEmail"] = json!(TO);
    message.order = serde_json::from_value(body).unwrap();
    stored_order(&message)
}

#[tokio::test]
async fn the_store_contract_holds_in_memory() {
    let store = MemoryConfirmations::default();
    let (first, second) = (addressed("mem-1"), addressed("mem-2"));
    store.insert(first.clone());
    store.insert(second.clone());
    store_contract(&store, &first, &second).await;
}

#[tokio::test]
async fn the_store_contract_holds_on_the_local_runners_embedded_table() {
    let tables = EmbeddedTables::new("us-east-1");
    let table = unique_name("confirm-embedded");
    tables.create_table(&table).await.unwrap();
    let (first, second) = (addressed("emb-1"), addressed("emb-2"));
    for order in [&first, &second] {
        tables.put(&table, order.to_item().unwrap()).await.unwrap();
    }
    let store = TableConfirmations::new(Arc::new(tables.clone()), &table);
    store_contract(&store, &first, &second).await;
}

#[tokio::test]
async fn the_claim_and_marks_are_conditional_updates_of_the_confirmations_attributes_only() {
    let moto = require_moto!();
    let dynamo = aws_sdk_dynamodb::Client::new(&moto.sdk_config());
    let table = unique_name("confirm-store");
    create_table(&dynamo, &table).await;
    let first = put_order(&dynamo, &table, "store-1").await;
    let second = put_order(&dynamo, &table, "store-2").await;
    let store = DynamoConfirmationStore::new(dynamo.clone(), &table);
    store_contract(&store, &first, &second).await;
    // Read back without the adapter: only the confirmation's attributes changed
    let after = read(&dynamo, &table, &first).await;
    assert_eq!(state(&after), ConfirmationState::Sent);
    assert_eq!(after.order, first.order);
    assert_eq!(after.content_hash, first.content_hash);
    assert_eq!(after.created_at, first.created_at);
    assert_eq!(after.updated_at, first.updated_at);
    dynamo
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
}

/// SES through moto, throttled on the first send only (scripted: moto has
/// no sending rate).
struct ThrottledOnce {
    inner: SesCustomerMailer,
    throttled: AtomicBool,
}

#[async_trait]
impl CustomerMailer for ThrottledOnce {
    async fn send(&self, email: &ConfirmationEmail) -> Result<String, SendError> {
        if !self.throttled.swap(true, Ordering::SeqCst) {
            return Err(MemoryMailer::throttled());
        }
        self.inner.send(email).await
    }
}

#[tokio::test]
async fn over_moto_an_order_is_confirmed_once_a_refusal_ends_failed_and_a_throttle_is_retried() {
    let moto = require_moto!();
    let sdk = moto.sdk_config();
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique_name("confirm-handler");
    create_table(&dynamo, &table).await;
    let ses = ses(&sdk).await;
    let store = Arc::new(DynamoConfirmationStore::new(dynamo.clone(), &table));
    let deps = |mailer: Arc<dyn CustomerMailer>,
                visibility: Arc<MemoryVisibility>,
                metrics: Arc<RecordingMetrics>| {
        Deps::new(
            store.clone(),
            mailer,
            visibility,
            metrics,
            50.0,
            "https://api.example.com",
        )
    };

    // A throttled send: retried with a backoff, the claim released
    let order = put_order(&dynamo, &table, "moto-1").await;
    let visibility = Arc::new(MemoryVisibility::default());
    let metrics = Arc::new(RecordingMetrics::default());
    let throttled = deps(
        Arc::new(ThrottledOnce {
            inner: SesCustomerMailer::new(ses.clone(), FROM, None),
            throttled: AtomicBool::new(false),
        }),
        visibility.clone(),
        metrics.clone(),
    );
    let first = confirmation::handle(&throttled, batch(&order, "m-1", 1))
        .await
        .unwrap();
    assert_eq!(reported(&first), ["m-1"]);
    assert_eq!(visibility.delays().len(), 1);
    let pending = read(&dynamo, &table, &order).await;
    assert_eq!(state(&pending), ConfirmationState::Pending);
    assert_eq!(pending.confirmation.confirmation_claim, None, "released");
    // Its redelivery is sent, through moto's SES, and marked
    let second = confirmation::handle(&throttled, batch(&order, "m-1", 2))
        .await
        .unwrap();
    assert!(reported(&second).is_empty());
    let sent = read(&dynamo, &table, &order).await;
    assert_eq!(state(&sent), ConfirmationState::Sent);
    let message_id = sent.confirmation.confirmation_message_id.clone().unwrap();
    assert!(!message_id.starts_with("memory-") && !message_id.is_empty());
    // A third delivery (a redrive, a renotify) sends nothing
    let third = confirmation::handle(&throttled, batch(&order, "m-2", 1))
        .await
        .unwrap();
    assert!(reported(&third).is_empty());
    assert_eq!(
        read(&dynamo, &table, &order)
            .await
            .confirmation
            .confirmation_message_id,
        Some(message_id),
        "not sent again"
    );

    // A refusal (moto refuses an unverified sender): FAILED with its
    // reason, counted, not retried, and never sent on a redelivery
    let refused_order = put_order(&dynamo, &table, "moto-2").await;
    let visibility = Arc::new(MemoryVisibility::default());
    let metrics = Arc::new(RecordingMetrics::default());
    let refusing = deps(
        Arc::new(SesCustomerMailer::new(ses, "orders@nowhere.example", None)),
        visibility.clone(),
        metrics.clone(),
    );
    for (n, receive) in [(1, 1), (2, 1)] {
        let response =
            confirmation::handle(&refusing, batch(&refused_order, &format!("r-{n}"), receive))
                .await
                .unwrap();
        assert!(reported(&response).is_empty(), "not retried");
    }
    let failed = read(&dynamo, &table, &refused_order).await;
    assert_eq!(state(&failed), ConfirmationState::Failed);
    assert_eq!(
        failed.confirmation.confirmation_failed,
        Some(RefusalCode::MessageRejected)
    );
    assert_eq!(
        metrics.refused(),
        [RefusalCode::MessageRejected],
        "counted once"
    );
    assert!(visibility.delays().is_empty());
    dynamo
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
}
