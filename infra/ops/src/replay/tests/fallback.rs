//! Ranges the stream no longer holds: re-announced from the table by arrival
//! window or order id, or left with the exact command; and the pacing that
//! holds across both paths.

use time::macros::datetime;

use super::*;
use crate::replay::fallback::CLOCK_SLACK;

/// When the trimmed range's records arrived in the stream.
const FIRST: OffsetDateTime = datetime!(2026-11-24 10:00:00 UTC);
const LAST: OffsetDateTime = datetime!(2026-11-24 10:00:02 UTC);

/// Lambda's on-failure record for `start..=end`, with its arrival window.
fn lambda_record_at(start: u64, end: u64, first: OffsetDateTime, last: OffsetDateTime) -> String {
    let mut body: serde_json::Value = serde_json::from_str(&lambda_record(start, end)).unwrap();
    let text = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    body["DDBStreamBatchInfo"]["approximateArrivalOfFirstRecord"] = text(first).into();
    body["DDBStreamBatchInfo"]["approximateArrivalOfLastRecord"] = text(last).into();
    body.to_string()
}

/// The orders of the trimmed range 0..=2, created just before their records
/// arrived, and two orders outside its window.
fn store_range_orders(orders: &MemoryOrders) {
    let ms = time::Duration::milliseconds;
    orders.store("o-0", FIRST - ms(800));
    orders.store("o-1", FIRST + ms(500));
    orders.store("o-2", LAST + ms(300));
    orders.store("early", FIRST - time::Duration::hours(1));
    orders.store("late", LAST + time::Duration::hours(1));
}

#[tokio::test]
async fn given_a_trimmed_range_with_its_arrival_window_when_replayed_then_its_orders_are_reannounced_from_the_table_and_it_is_deleted()
 {
    // Given Lambda's record for 0..=2, whose record 0 the stream trimmed
    let r = Replay::new().await;
    store_range_orders(&r.orders);
    let id = r.send(lambda_record_at(0, 2, FIRST, LAST)).await;

    // When replayed
    let report = r.run(&split_stream()).await;

    // Then the orders created in its window are announced from the table,
    // none from the stream, and the message is deleted
    assert_eq!(report.renotified, std::slice::from_ref(&id), "{report:?}");
    assert_eq!(report.renotified_orders, 3);
    assert!(report.incomplete.is_empty() && report.replayed.is_empty());
    assert_eq!(r.published(), ["o-0", "o-1", "o-2"]);
    let ids: Vec<String> = r
        .publisher
        .published()
        .iter()
        .map(|e| e.event_id.as_str().to_owned())
        .collect();
    assert_eq!(
        ids[0], "OrderCreated:anonymous:o-0",
        "the notifier's own stable id"
    );
    assert_eq!(r.left(), 0);
    assert!(
        report.lines()[1].contains("re-announced from the table"),
        "{:?}",
        report.lines()
    );
}

#[tokio::test]
async fn given_two_trimmed_ranges_with_overlapping_windows_then_one_scan_finds_them_and_each_order_goes_out_once()
 {
    let r = Replay::new().await;
    store_range_orders(&r.orders);
    let a = r.send(lambda_record_at(0, 1, FIRST, FIRST)).await;
    let b = r.send(lambda_record_at(100, 101, FIRST, LAST)).await;

    let report = r.run(&split_stream()).await;

    let mut renotified = report.renotified.clone();
    renotified.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(renotified, expected, "{report:?}");
    assert_eq!(r.orders.scans.load(AtomicOrdering::SeqCst), 1);
    let mut published = r.published();
    published.sort();
    assert_eq!(published, ["o-0", "o-1", "o-2"], "no order twice");
    assert_eq!(r.left(), 0);
}

#[tokio::test]
async fn given_fewer_orders_in_the_window_than_the_range_held_then_it_stays_with_its_command() {
    // Given the range's window holds only o-1 (o-0 and o-2 are missing)
    let r = Replay::new().await;
    r.orders.store("o-1", FIRST);
    let id = r.send(lambda_record_at(0, 2, FIRST, LAST)).await;

    let report = r.run(&split_stream()).await;

    assert_eq!(report.incomplete, std::slice::from_ref(&id));
    assert!(
        r.published().is_empty(),
        "nothing announced from a partial window"
    );
    let step = &report.manual[0];
    assert_eq!(
        step.reason,
        "1 order(s) created in its window, fewer than the 3 record(s) of its range"
    );
    let window = CreatedWindow::of_arrivals(notifier::dead_letter::ArrivalWindow {
        first: FIRST,
        last: LAST,
    });
    assert_eq!(
        step.command.as_deref(),
        Some(format!("{OPS} renotify {}", window.flags()).as_str())
    );
    assert_eq!(r.left(), 1);
}

#[tokio::test]
async fn given_a_target_that_cannot_scan_then_the_exact_renotify_command_is_printed_at_the_runs_rate()
 {
    let r = Replay::without_scan().await;
    store_range_orders(&r.orders);
    let id = r.send(lambda_record_at(0, 2, FIRST, LAST)).await;

    let report = r.run_at(&split_stream(), "10".parse().unwrap()).await;

    assert_eq!(report.incomplete, std::slice::from_ref(&id));
    assert!(r.published().is_empty());
    let slack = time::Duration::try_from(CLOCK_SLACK).unwrap();
    let before = time::Duration::seconds(
        i64::try_from(orders_adapters::settings::WORKER_TIMEOUT_SECS).unwrap(),
    );
    let since = (FIRST - before - slack)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(
        report.manual[0].command.as_deref(),
        Some(
            format!(
                "orders-ops --stack orders renotify --since {since} --until 2026-11-24T10:01:03Z --rate 10"
            )
            .as_str()
        )
    );
    assert_eq!(r.left(), 1);
}

#[tokio::test]
async fn given_the_notifiers_own_message_for_a_trimmed_record_then_its_order_is_reannounced_by_id()
{
    // Given the notifier's own messages for records 0 (trimmed) and 100
    // (never in this stream); only order o-0 is stored
    let r = Replay::new().await;
    r.orders.store("o-0", FIRST);
    let refused = |seq| {
        notifier::dead_letter::body(&insert(seq), DeadLetterReason::PublishRefused, "refused")
    };
    let stored_one = r.send(refused(0)).await;
    let missing_one = r.send(refused(100)).await;

    let report = r.run(&split_stream()).await;

    assert_eq!(report.renotified, [stored_one], "{report:?}");
    assert_eq!(r.published(), ["o-0"]);
    assert_eq!(report.incomplete, std::slice::from_ref(&missing_one));
    assert_eq!(
        report.manual[0],
        ManualStep {
            message_id: missing_one,
            reason: "order anonymous#o-100 is not in the table: nothing to re-announce".to_owned(),
            command: None,
        }
    );
    assert_eq!(
        r.orders.scans.load(AtomicOrdering::SeqCst),
        0,
        "by id, no scan"
    );
    assert_eq!(r.left(), 1);
}

#[tokio::test]
async fn given_an_order_the_topic_still_refuses_then_its_windows_message_stays_as_still_failing() {
    let r = Replay::new().await;
    store_range_orders(&r.orders);
    r.publisher.fail_order("o-1", Fault::Permanent);
    let id = r.send(lambda_record_at(0, 2, FIRST, LAST)).await;

    let report = r.run(&split_stream()).await;

    assert_eq!(report.still_failing, [id]);
    assert!(report.renotified.is_empty());
    assert_eq!(r.left(), 1);
}

#[tokio::test(start_paused = true)]
async fn given_a_replay_and_a_reannounce_at_rate_2_then_one_pacer_holds_across_both() {
    // Given a whole range of 2 INSERTs in the stream and a trimmed one of 3
    let r = Replay::new().await;
    store_range_orders(&r.orders);
    r.send(lambda_record(1, 2)).await;
    r.send(lambda_record_at(0, 2, FIRST, LAST)).await;
    let stream = split_stream();
    let start = tokio::time::Instant::now();

    // When replayed at 2 per second
    let (report, seen) = tokio::join!(r.run_at(&stream, "2".parse().unwrap()), async {
        let mut seen = Vec::new();
        for second in 1..=3 {
            tokio::time::sleep_until(
                start + Duration::from_secs(second) - Duration::from_millis(1),
            )
            .await;
            seen.push(r.published().len());
        }
        seen
    });

    // Then two events went out each second, whichever path published them
    // (o-1 and o-2 twice: once from the stream, once from the table, under
    // one eventId that consumers drop)
    assert_eq!(seen, [2, 4, 5], "{report:?}");
    assert_eq!(report.records, 2);
    assert_eq!(report.renotified_orders, 3);
}
