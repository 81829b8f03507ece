//! The handler on fakes: the in-memory store, mailer, visibility and
//! metrics, on tokio's paused clock (the pace is read off the clock, never
//! waited for).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsBatchResponse;
use orders_adapters::memory::MemoryVisibility;
use orders_adapters::record::StoredOrder;
use orders_domain::confirmation::{ConfirmationMarks, ConfirmationState, RefusalCode};
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::fixtures::{
    EMAIL, PERSONAL_DATA, batch, event, record, stored, stored_from, without_address,
};
use crate::mailer::memory::MemoryMailer;
use crate::metrics::memory::RecordingMetrics;
use crate::settings::{BACKOFF_SECS, CLAIM_FOR};
use crate::store::memory::MemoryConfirmations;

/// The handler's fakes, at the sandbox's rate of one e-mail a second.
struct Rig {
    store: Arc<MemoryConfirmations>,
    mailer: Arc<MemoryMailer>,
    visibility: Arc<MemoryVisibility>,
    metrics: Arc<RecordingMetrics>,
    deps: Deps,
}

impl Rig {
    fn new() -> Self {
        let store = Arc::new(MemoryConfirmations::default());
        let mailer = Arc::new(MemoryMailer::default());
        let visibility = Arc::new(MemoryVisibility::default());
        let metrics = Arc::new(RecordingMetrics::default());
        let deps = Deps::new(
            store.clone(),
            mailer.clone(),
            visibility.clone(),
            metrics.clone(),
            1.0,
            "https://api.example.com",
        );
        Self {
            store,
            mailer,
            visibility,
            metrics,
            deps,
        }
    }

    /// Stores `orders` and returns their events.
    fn stored(&self, orders: &[StoredOrder]) -> Vec<OrderCreated> {
        orders
            .iter()
            .map(|o| {
                self.store.insert(o.clone());
                event(o)
            })
            .collect()
    }

    /// Runs one batch of `events`, received `receive` times.
    async fn run(&self, prefix: &str, events: &[OrderCreated], receive: u32) -> Vec<String> {
        let records = events
            .iter()
            .enumerate()
            .map(|(n, e)| record(&format!("{prefix}-{n}"), &e.to_json(), receive))
            .collect();
        reported(&handle(&self.deps, batch(records)).await.unwrap())
    }

    fn state(&self, order: &StoredOrder) -> ConfirmationState {
        let marks = self.store.marks(&order.key()).unwrap();
        ConfirmationState::of(order.order.customer_email().is_some(), &marks)
    }
}

fn reported(response: &SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn given_an_order_with_an_address_then_one_confirmation_to_it_and_the_sent_mark() {
    // Given a stored order with an address
    let rig = Rig::new();
    let order = stored("A-1001");
    let events = rig.stored(std::slice::from_ref(&order));
    // When its event is handled
    let failed = rig.run("m", &events, 1).await;
    // Then one e-mail to the address from the table, and the order is SENT
    assert!(failed.is_empty());
    let sent = rig.mailer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].email.to.as_str(), EMAIL);
    assert_eq!(sent[0].email.subject, "Your order A-1001 is confirmed");
    assert_eq!(rig.state(&order), ConfirmationState::Sent);
    let marks = rig.store.marks(&order.key()).unwrap();
    assert_eq!(marks.confirmation_message_id.as_deref(), Some("memory-1"));
    assert_eq!(marks.confirmation_claim, None, "the claim is gone");
}

#[tokio::test(start_paused = true)]
async fn given_a_repost_a_redrive_or_a_repeat_then_nothing_new_is_sent() {
    let rig = Rig::new();
    let order = stored("A-1002");
    let events = rig.stored(std::slice::from_ref(&order));
    // A batch with the event twice (a standard queue's repeat)
    let failed = rig
        .run("one", &[events[0].clone(), events[0].clone()], 1)
        .await;
    assert!(failed.is_empty());
    // And the event again later (a re-post, a redrive, a renotify)
    let failed = rig.run("two", &events, 1).await;
    assert!(failed.is_empty());
    assert_eq!(rig.mailer.sent().len(), 1);
    assert_eq!(rig.state(&order), ConfirmationState::Sent);
}

#[tokio::test(start_paused = true)]
async fn given_no_address_then_nothing_is_sent_and_nothing_written() {
    let rig = Rig::new();
    let order = without_address("23214");
    let events = rig.stored(std::slice::from_ref(&order));
    assert!(rig.run("m", &events, 1).await.is_empty());
    assert!(rig.mailer.sent().is_empty());
    assert_eq!(
        rig.store.marks(&order.key()),
        Some(ConfirmationMarks::default())
    );
    assert_eq!(rig.state(&order), ConfirmationState::NotRequested);
}

#[tokio::test(start_paused = true)]
async fn given_a_refusal_then_failed_with_its_reason_counted_and_never_retried() {
    let rig = Rig::new();
    rig.mailer
        .refuse(EMAIL, MemoryMailer::refusal(RefusalCode::InvalidAddress));
    let order = stored("R-1");
    let events = rig.stored(std::slice::from_ref(&order));
    // When SES refuses the address
    let failed = rig.run("m", &events, 1).await;
    // Then the record is settled (not retried), FAILED with its reason, counted
    assert!(failed.is_empty());
    assert_eq!(rig.state(&order), ConfirmationState::Failed);
    let marks = rig.store.marks(&order.key()).unwrap();
    assert_eq!(marks.confirmation_failed, Some(RefusalCode::InvalidAddress));
    assert_eq!(rig.metrics.refused(), [RefusalCode::InvalidAddress]);
    assert!(rig.visibility.delays().is_empty());
    // And a redelivery sends nothing and counts nothing again
    assert!(rig.run("again", &events, 1).await.is_empty());
    assert!(rig.mailer.sent().is_empty());
    assert_eq!(rig.metrics.refused().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn given_a_throttled_send_then_the_claim_is_released_the_record_backs_off_and_is_sent_once() {
    let rig = Rig::new();
    rig.mailer.fail_next([MemoryMailer::throttled()]);
    let order = stored("T-1");
    let events = rig.stored(std::slice::from_ref(&order));
    // When SES throttles the first send
    let failed = rig.run("m", &events, 1).await;
    // Then the record is reported, kept invisible for the first backoff step,
    // its claim released, and the order still PENDING
    assert_eq!(failed, ["m-0"]);
    let delays = rig.visibility.delays();
    assert_eq!(delays.len(), 1);
    assert_eq!(delays[0].0, "rh-m-0");
    let (floor, ceiling) = BACKOFF_SECS[0];
    assert!(
        (floor..=ceiling).contains(&delays[0].1.as_secs()),
        "{delays:?}"
    );
    assert_eq!(
        rig.store.marks(&order.key()).unwrap().confirmation_claim,
        None
    );
    assert_eq!(rig.state(&order), ConfirmationState::Pending);
    // When SQS delivers it again
    assert!(rig.run("m", &events, 2).await.is_empty());
    // Then it is sent, once
    assert_eq!(rig.mailer.sent().len(), 1);
    assert_eq!(rig.state(&order), ConfirmationState::Sent);
}

#[test]
fn the_backoff_follows_the_schedule_and_stays_on_its_last_step() {
    for receive in 1..=12u32 {
        let step = (receive as usize - 1).min(BACKOFF_SECS.len() - 1);
        let (floor, ceiling) = BACKOFF_SECS[step];
        for _ in 0..20 {
            let secs = backoff(receive).as_secs();
            assert!((floor..=ceiling).contains(&secs), "{receive}: {secs}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn given_a_crash_between_claim_and_sent_mark_then_a_redelivery_waits_for_the_claim_and_sends_once_more()
 {
    let rig = Rig::new();
    let order = stored("C-1");
    let events = rig.stored(std::slice::from_ref(&order));
    // Given a delivery that claimed the order and died (its claim is left)
    let now = unix_now();
    let crashed = ConfirmationMarks {
        confirmation_claim: Some("crashed".into()),
        confirmation_claim_until: Some(now + 600),
        ..ConfirmationMarks::default()
    };
    rig.store.set_marks(&order.key(), crashed.clone());
    // When the event is redelivered inside the claim window
    let failed = rig.run("m", &events, 2).await;
    // Then nothing is sent, and the record comes back after the queue's
    // visibility timeout (no backoff of its own)
    assert_eq!(failed, ["m-0"]);
    assert!(rig.mailer.sent().is_empty());
    assert!(rig.visibility.delays().is_empty());
    assert_eq!(rig.state(&order), ConfirmationState::Pending);
    // When it comes back after the claim expired
    rig.store.set_marks(
        &order.key(),
        ConfirmationMarks {
            confirmation_claim_until: Some(now - 1),
            ..crashed
        },
    );
    assert!(rig.run("m", &events, 3).await.is_empty());
    // Then it is sent (a second time, if the crashed one had sent: the
    // window's cost) and marked
    assert_eq!(rig.mailer.sent().len(), 1);
    assert_eq!(rig.state(&order), ConfirmationState::Sent);
}

#[tokio::test(start_paused = true)]
async fn given_the_table_down_then_nothing_is_sent_and_the_record_backs_off() {
    let rig = Rig::new();
    let events = rig.stored(&[stored("S-1")]);
    rig.store.fail_next(1);
    assert_eq!(rig.run("m", &events, 1).await, ["m-0"]);
    assert!(rig.mailer.sent().is_empty());
    assert_eq!(rig.visibility.delays().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn given_unreadable_records_and_missing_orders_then_only_the_unreadable_are_reported() {
    let rig = Rig::new();
    let gone = event(&stored("gone"));
    let here = rig.stored(&[stored("here")]);
    let records = vec![
        record("bad", "{not an event", 1),
        record("gone", &gone.to_json(), 1),
        record("here", &here[0].to_json(), 1),
    ];
    let response = handle(&rig.deps, batch(records)).await.unwrap();
    assert_eq!(reported(&response), ["bad"]);
    assert_eq!(rig.mailer.sent().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn given_many_orders_then_sends_keep_the_accounts_rate_across_invocations() {
    // At one e-mail per second for the account and two invocations at most,
    // each invocation sends one every two seconds.
    let rig = Rig::new();
    let orders: Vec<StoredOrder> = (0..6).map(|n| stored(&format!("p-{n}"))).collect();
    let events = rig.stored(&orders);
    let started = tokio::time::Instant::now();
    assert!(rig.run("one", &events[..3], 1).await.is_empty());
    assert!(rig.run("two", &events[3..], 1).await.is_empty());
    let sent = rig.mailer.sent();
    assert_eq!(sent.len(), 6);
    for pair in sent.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_secs(2));
    }
    assert_eq!(started.elapsed(), Duration::from_secs(12));
}

#[tokio::test(start_paused = true)]
async fn given_too_little_time_then_no_claim_is_taken_and_the_record_is_retried() {
    let rig = Rig::new();
    let order = stored("late");
    let events = rig.stored(std::slice::from_ref(&order));
    let mut invocation = batch(vec![record("m-0", &events[0].to_json(), 1)]);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    invocation.context.deadline = now_ms + 5_000;
    let response = handle(&rig.deps, invocation).await.unwrap();
    assert_eq!(reported(&response), ["m-0"]);
    assert!(rig.mailer.sent().is_empty());
    assert_eq!(
        rig.store.marks(&order.key()),
        Some(ConfirmationMarks::default())
    );
}

#[test]
fn the_claim_outlives_the_function_by_far() {
    assert!(CLAIM_FOR >= Duration::from_secs(15 * 60));
}

/// Handles `order` (stored, with its event) on a fresh rig, with `refuse`
/// making SES refuse the address, and returns every log line written.
fn logs_of(order: &StoredOrder, refuse: bool) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let capture = orders_adapters::telemetry::LogCapture::default();
    let _guard = capture.set_default();
    runtime.block_on(async {
        let rig = Rig::new();
        if let Some(address) = order.order.customer_email() {
            if refuse {
                rig.mailer.refuse(
                    address.as_str(),
                    MemoryMailer::refusal(RefusalCode::MessageRejected),
                );
            } else {
                rig.mailer.fail_next([MemoryMailer::throttled()]);
            }
        }
        let events = rig.stored(std::slice::from_ref(order));
        rig.run("m", &events, 1).await;
        rig.run("m", &events, 2).await;
        rig.run("m", &events, 3).await;
    });
    capture.contents()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// For any order, whatever becomes of its confirmation, no log line
    /// holds the customer's address or name.
    #[test]
    fn no_log_line_holds_the_address_or_the_name(
        first in "[A-Z][a-z]{2,9}",
        last in "[A-Z][a-z]{2,11}",
        local in "[a-z]{1,8}(\\.[a-z]{1,6})?",
        domain in "[a-z]{2,10}\\.(org|com|net)",
        refuse in any::<bool>(),
    ) {
        let name = format!("{first} {last}");
        let address = format!("{local}@{domain}");
        let mut body = orders_domain::test_support::legacy_order("prop-1");
        body["customerName"] = json!(name);
        body["customerEmail"] = json!(address);
        let order = stored_from(body);
        let logs = logs_of(&order, refuse);
        prop_assert!(logs.contains("\"outcome\":\"batch\""), "lines were captured: {logs}");
        prop_assert!(!logs.contains(&address), "{logs}");
        prop_assert!(!logs.contains(&name), "{logs}");
        for personal in PERSONAL_DATA {
            prop_assert!(!logs.contains(personal));
        }
    }
}
