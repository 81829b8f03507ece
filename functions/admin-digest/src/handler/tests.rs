//! The handler on fakes: the kit's in-memory idempotency store and a
//! recording mailbox, on tokio's paused clock (sleeps pass at once, and
//! the pace is read off the clock, never waited for).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsBatchResponse;
use order_consumer::idempotency::{Claim, MemoryProcessedEvents, ProcessedEvents, StoreError};
use orders_domain::contract::OrderCreated;

use super::*;
use crate::fixtures::{PERSONAL_DATA, batch, order, plain, record};
use crate::mailbox::memory::{MemoryMailbox, Sent};

/// The handler's fakes.
struct Rig {
    mailbox: Arc<MemoryMailbox>,
    store: Arc<MemoryProcessedEvents>,
    deps: Deps,
}

impl Rig {
    fn new() -> Self {
        let mailbox = Arc::new(MemoryMailbox::default());
        let store = Arc::new(MemoryProcessedEvents::default());
        let deps = Deps::new(mailbox.clone(), store.clone());
        Self {
            mailbox,
            store,
            deps,
        }
    }

    /// Runs one batch of `orders` (message ids `<prefix>-<n>`).
    async fn run(&self, prefix: &str, orders: &[OrderCreated]) -> SqsBatchResponse {
        handle(&self.deps, batch(records(prefix, orders)))
            .await
            .unwrap()
    }
}

fn records(prefix: &str, orders: &[OrderCreated]) -> Vec<SqsMessage> {
    orders
        .iter()
        .enumerate()
        .map(|(n, o)| record(&format!("{prefix}-{n}"), &o.to_json()))
        .collect()
}

fn reported(response: &SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

/// How many sent e-mails list the order (its digest block or its detail).
fn emails_listing(sent: &[Sent], id: &str) -> usize {
    let block = format!("\nOrder {id} (");
    let detail = format!("New order {id}\n");
    sent.iter()
        .filter(|e| e.text.contains(&block) || e.text.starts_with(&detail))
        .count()
}

/// The largest orders the domain accepts make a digest of several e-mails.
fn big(id: &str) -> OrderCreated {
    let ids: Vec<String> = (0..100).map(|n| format!("{n:0>64}")).collect();
    let items: Vec<(&str, u32, Option<u64>)> = ids
        .iter()
        .map(|i| (i.as_str(), 10_000, Some(100_000_000)))
        .collect();
    order(id, &items, Some("EUR"))
}

/// A store that fails every call.
struct DownStore;

#[async_trait]
impl ProcessedEvents for DownStore {
    async fn claim(&self, _: &str, _: i64, _: i64) -> Result<Claim, StoreError> {
        Err(StoreError("ProvisionedThroughputExceededException".into()))
    }
    async fn complete(&self, _: &str, _: i64) -> Result<(), StoreError> {
        Err(StoreError("ProvisionedThroughputExceededException".into()))
    }
    async fn release(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError("ProvisionedThroughputExceededException".into()))
    }
}

#[tokio::test(start_paused = true)]
async fn given_one_new_order_then_the_admin_gets_its_detail_and_its_id_is_remembered() {
    // Given a batch of one order
    let rig = Rig::new();
    let one = order("A-1001", &[("book-1843", 2, Some(1999))], Some("EUR"));
    // When handled
    let response = rig.run("m", std::slice::from_ref(&one)).await;
    // Then one e-mail, the order's detail, as the admin always had it
    assert!(reported(&response).is_empty());
    let sent = rig.mailbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "New order A-1001");
    assert_eq!(sent[0].text, crate::email::detail::text(&one));
    // And the event id is marked e-mailed
    assert!(rig.store.is_done("OrderCreated:anonymous:A-1001"));
}

#[tokio::test(start_paused = true)]
async fn given_many_orders_then_one_digest_with_the_total_per_currency() {
    // Given a batch of orders in two currencies and unpriced ones
    let rig = Rig::new();
    let orders = vec![
        order("e-1", &[("book", 2, Some(1999))], Some("EUR")),
        order("u-1", &[("mug", 3, Some(500))], Some("USD")),
        plain("p-1"),
        order("e-2", &[("pen", 10, Some(85))], Some("EUR")),
    ];
    // When handled
    let response = rig.run("m", &orders).await;
    // Then one e-mail: how many, the totals per currency, every order once
    assert!(reported(&response).is_empty());
    let sent = rig.mailbox.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].subject, "4 new orders");
    assert!(
        sent[0].text.contains("  48.48 EUR for 2 orders\n"),
        "{}",
        sent[0].text
    );
    assert!(sent[0].text.contains("  15.00 USD for 1 order\n"));
    assert!(sent[0].text.contains("  not known for 1 order"));
    for o in &orders {
        assert_eq!(emails_listing(&sent, o.order_id.as_str()), 1);
        assert!(sent[0].text.contains(&format!(
            "orders-ops order show {} --show-personal-data",
            o.order_id
        )));
        assert!(rig.store.is_done(o.dedup_key()));
    }
    for personal in PERSONAL_DATA {
        assert!(!sent[0].text.contains(personal));
    }
}

#[tokio::test(start_paused = true)]
async fn given_repeats_within_a_batch_and_across_batches_then_each_order_is_in_exactly_one_email() {
    // Given a batch where one event comes twice (a standard queue's repeat)
    let rig = Rig::new();
    let (a, b, c) = (plain("a"), plain("b"), plain("c"));
    let first = rig.run("one", &[a.clone(), b.clone(), a.clone()]).await;
    // Then both orders are in one e-mail, a once, and the repeat is not retried
    assert!(reported(&first).is_empty());
    assert_eq!(rig.mailbox.sent().len(), 1);
    // When a later batch brings b again with a new order c (a notifier retry)
    let second = rig.run("two", &[b.clone(), c.clone()]).await;
    // Then c alone is e-mailed, as its detail
    assert!(reported(&second).is_empty());
    // And a batch of repeats only sends nothing at all
    let third = rig.run("three", &[a.clone(), c.clone()]).await;
    assert!(reported(&third).is_empty());
    let sent = rig.mailbox.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1].subject, "New order c");
    for id in ["a", "b", "c"] {
        assert_eq!(emails_listing(&sent, id), 1, "{id}");
    }
}

#[tokio::test(start_paused = true)]
async fn given_an_unreadable_record_then_it_alone_is_reported_and_the_others_are_emailed() {
    // Given a batch with garbage, an unknown schema version and two orders
    let rig = Rig::new();
    let mut future: serde_json::Value = serde_json::from_str(&plain("v2").to_json()).unwrap();
    future["schemaVersion"] = serde_json::json!(3);
    let records = vec![
        record("ok-0", &plain("x").to_json()),
        record("bad-1", "{not an event"),
        record("bad-2", &future.to_string()),
        record("ok-3", &plain("y").to_json()),
    ];
    // When handled
    let response = handle(&rig.deps, batch(records)).await.unwrap();
    // Then exactly the unreadable records are reported (the DLQ after maxReceiveCount)
    assert_eq!(reported(&response), ["bad-1", "bad-2"]);
    // And the readable orders went out in one digest
    let sent = rig.mailbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "2 new orders");
}

#[tokio::test(start_paused = true)]
async fn given_a_send_the_topic_refuses_then_claims_are_released_records_reported_and_the_retry_emails_once()
 {
    // Given a mailbox that refuses the next send
    let rig = Rig::new();
    rig.mailbox.fail_next(1);
    let orders = [plain("r-1"), plain("r-2")];
    // When the batch is handled
    let response = rig.run("m", &orders).await;
    // Then every record of that e-mail is reported, and nothing was sent
    assert_eq!(reported(&response), ["m-0", "m-1"]);
    assert!(rig.mailbox.sent().is_empty());
    // And the claims are released: a retry can claim them at once
    for o in &orders {
        assert!(!rig.store.is_done(o.dedup_key()));
    }
    // When SQS delivers them again after the visibility timeout
    let retry = rig.run("m", &orders).await;
    // Then they are e-mailed, once
    assert!(reported(&retry).is_empty());
    let sent = rig.mailbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(emails_listing(&sent, "r-1"), 1);
    assert_eq!(emails_listing(&sent, "r-2"), 1);
}

#[tokio::test(start_paused = true)]
async fn given_an_event_claimed_by_another_delivery_then_it_is_retried_and_the_rest_emailed() {
    // Given another invocation holds the claim of one event
    let rig = Rig::new();
    let held = plain("held");
    let now = super::unix_now();
    assert_eq!(
        rig.store
            .claim(held.dedup_key(), now, now + 600)
            .await
            .unwrap(),
        Claim::New
    );
    // When a batch with it and another order is handled
    let response = rig.run("m", &[held.clone(), plain("free")]).await;
    // Then the held one is reported for later, the other is e-mailed alone
    assert_eq!(reported(&response), ["m-0"]);
    let sent = rig.mailbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "New order free");
}

#[tokio::test(start_paused = true)]
async fn given_the_idempotency_store_down_then_nothing_is_sent_and_every_record_is_reported() {
    let mailbox = Arc::new(MemoryMailbox::default());
    let deps = Deps::new(mailbox.clone(), Arc::new(DownStore));
    let response = handle(&deps, batch(records("m", &[plain("s-1"), plain("s-2")])))
        .await
        .unwrap();
    assert_eq!(reported(&response), ["m-0", "m-1"]);
    assert!(mailbox.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn given_a_digest_of_several_emails_then_sends_are_a_second_apart_within_and_across_invocations()
 {
    // Given orders whose digest needs several e-mails (the largest orders)
    let rig = Rig::new();
    let orders: Vec<OrderCreated> = (0..50).map(|n| big(&format!("big-{n:02}"))).collect();
    let started = tokio::time::Instant::now();
    // When two batches are handled back to back (as one poller of the mapping would)
    let response = rig.run("one", &orders[..25]).await;
    assert!(reported(&response).is_empty());
    let first = rig.mailbox.sent().len();
    assert!(first > 1, "{first} e-mails");
    let response = rig.run("two", &orders[25..]).await;
    assert!(reported(&response).is_empty());
    // Then every send is at least a second after the one before, also
    // across the two invocations (the pace is slept after the last send too)
    let sent = rig.mailbox.sent();
    assert!(sent.len() > first);
    for pair in sent.windows(2) {
        assert!(
            pair[1].at - pair[0].at >= Duration::from_secs(1),
            "{:?}",
            pair[1].at - pair[0].at
        );
    }
    // And the pace costs no more than that: one interval per e-mail
    assert_eq!(started.elapsed(), Duration::from_secs(sent.len() as u64));
    for o in &orders {
        assert_eq!(emails_listing(&sent, o.order_id.as_str()), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn given_too_little_time_left_for_the_next_email_then_its_orders_are_released_and_reported() {
    // Given a digest of several e-mails and an invocation with time for one
    let rig = Rig::new();
    let orders: Vec<OrderCreated> = (0..25).map(|n| big(&format!("big-{n:02}"))).collect();
    let mut event = batch(records("m", &orders));
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // One interval plus the reserve, and half a second: enough for the first
    // e-mail only (the second would start a second later).
    event.context.deadline = now_ms + 11_500;
    // When handled
    let response = handle(&rig.deps, event).await.unwrap();
    // Then the first e-mail went out and the rest are reported, claims released
    let sent = rig.mailbox.sent();
    assert_eq!(sent.len(), 1);
    let emailed = orders
        .iter()
        .filter(|o| emails_listing(&sent, o.order_id.as_str()) == 1)
        .count();
    assert!(emailed > 0 && emailed < orders.len(), "{emailed}");
    assert_eq!(response.batch_item_failures.len(), orders.len() - emailed);
    for (n, o) in orders.iter().enumerate() {
        let done = rig.store.is_done(o.dedup_key());
        let failed = reported(&response).contains(&format!("m-{n}"));
        assert_ne!(done, failed, "{n}: each order e-mailed or retried");
    }
}

#[tokio::test(start_paused = true)]
async fn logs_carry_one_line_per_order_and_per_batch_with_ids_only() {
    let rig = Rig::new();
    let capture = orders_adapters::telemetry::LogCapture::default();
    let _guard = capture.set_default();
    let orders = [plain("l-1"), plain("l-2"), plain("l-1")];
    let mut all = records("m", &orders);
    all.push(record("m-3", "{not an event"));
    handle(&rig.deps, batch(all)).await.unwrap();
    let lines: Vec<serde_json::Value> = capture
        .contents()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcome = |o: &str| lines.iter().filter(|l| l["outcome"] == o).count();
    assert_eq!(outcome("emailed"), 2);
    assert_eq!(outcome("duplicate"), 1);
    assert_eq!(outcome("poison"), 1);
    assert_eq!(outcome("batch"), 1);
    let batch_line = lines.iter().find(|l| l["outcome"] == "batch").unwrap();
    assert_eq!(batch_line["emails_sent"], 1);
    assert_eq!(batch_line["emailed"], 2);
    let text = capture.contents();
    for personal in PERSONAL_DATA {
        assert!(!text.contains(personal));
    }
    assert!(!text.contains("item456"), "no order content in the logs");
}
