//! A range the stream no longer holds: finding its orders in the table.
//!
//! Past the stream's retention the records are gone, but the orders they
//! announced are stored, and each was created shortly before its record
//! arrived in the stream: the worker stamps `createdAt` just before its
//! conditional put, inside one invocation, so at most the worker's timeout
//! before DynamoDB wrote the record, whose arrival time
//! (`ApproximateCreationDateTime`) is rounded down to the second
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html>).
//! So the orders of a range are the ones created in its arrival window
//! widened by that, plus [`CLOCK_SLACK`] each side ([`CreatedWindow::of_arrivals`]);
//! re-announcing them is the path of `orders-ops renotify --since/--until`,
//! and consumers drop the orders of the window that were announced already
//! (same `eventId`).
//!
//! A message whose window is unknown is bounded instead: every record of it
//! was still in the stream when it was written, so arrived at most the
//! stream's 24 hours before ([`CreatedWindow::before`]). That window is a
//! day of orders, so it is printed as a command, not run.
//!
//! [`renotify_gone`] does this for a replay run: the notifier's own messages
//! by their order id (one `GetItem` each), Lambda's by window (one scan for
//! all of them, [`StoredOrders::created_within`]), each order published once
//! per run through the same notifier handler and pacer as the replay.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use notifier::dead_letter::{ArrivalWindow, NotifierDeadLetter};
use orders_adapters::settings::WORKER_TIMEOUT_SECS;
use orders_adapters::telemetry::ErrorChain;
use orders_backends::backend::{BackendResult, QueueService, TableService};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ReplayReport;
use crate::error::OpsResult;
use crate::pace::{Pacer, Rate};
use crate::renotify::{created_at, order_id, renotify_paced};

/// A stored item, as the DynamoDB API answers it.
pub type Item = HashMap<String, AttributeValue>;

/// How long DynamoDB Streams keeps a record: 24 hours
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html>).
pub const STREAM_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Added to each side of a window for the clocks of the worker's execution
/// environment and of DynamoDB, which need not agree to the second. A wider
/// window only re-announces more orders, which consumers drop by `eventId`.
pub const CLOCK_SLACK: Duration = Duration::from_secs(60);

/// The stored orders of the stream's table, for re-announcing a range the
/// stream no longer holds.
#[async_trait]
pub trait StoredOrders: Send + Sync {
    /// The stored order `order_id`, if there is one.
    async fn get(&self, order_id: &str) -> OpsResult<Option<Item>>;

    /// The stored orders created inside any of `windows`, in one pass over
    /// the table; `None` when this source cannot read the table by time (the
    /// windows are then printed as commands).
    async fn created_within(&self, windows: &[CreatedWindow]) -> OpsResult<Option<Vec<Item>>>;
}

/// [`StoredOrders`] over a [`TableService`]: orders by id only, since the
/// port has no scan.
pub struct BackendOrders<'a> {
    /// The backend.
    pub tables: &'a dyn TableService,
    /// The orders table.
    pub table: &'a str,
}

#[async_trait]
impl StoredOrders for BackendOrders<'_> {
    async fn get(&self, order_id: &str) -> OpsResult<Option<Item>> {
        let key = orders_adapters::record::order_key_from_operator(order_id);
        let item = self.tables.get(self.table, &key).await?;
        Ok(item.map(Item::from))
    }

    async fn created_within(&self, _windows: &[CreatedWindow]) -> OpsResult<Option<Vec<Item>>> {
        Ok(None)
    }
}

/// Orders created in `[since, until)`, instants compared as instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedWindow {
    /// From (inclusive), a whole second.
    pub since: OffsetDateTime,
    /// Until (exclusive), a whole second.
    pub until: OffsetDateTime,
}

fn whole_second(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

impl CreatedWindow {
    /// The orders whose records arrived in `arrivals`: created from the
    /// worker's timeout before the first arrival up to the second after the
    /// last (arrivals are rounded down to the second), [`CLOCK_SLACK`]
    /// wider each side.
    pub fn of_arrivals(arrivals: ArrivalWindow) -> Self {
        let before = Duration::from_secs(WORKER_TIMEOUT_SECS) + CLOCK_SLACK;
        let after = Duration::from_secs(1) + CLOCK_SLACK;
        Self {
            since: whole_second(arrivals.first) - before,
            until: whole_second(arrivals.last) + after,
        }
    }

    /// Every order a message written at `written` can be about: its records
    /// were in the stream when it was written, so arrived at most
    /// [`STREAM_RETENTION`] before.
    pub fn before(written: OffsetDateTime) -> Self {
        Self::of_arrivals(ArrivalWindow {
            first: written - STREAM_RETENTION,
            last: written,
        })
    }

    /// Whether an order created at `created` is inside.
    pub fn contains(&self, created: OffsetDateTime) -> bool {
        self.since <= created && created < self.until
    }

    /// `--since … --until …`, as `orders-ops renotify` takes them.
    pub fn flags(&self) -> String {
        let text = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        format!("--since {} --until {}", text(self.since), text(self.until))
    }
}

/// How a message's orders are found in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The notifier's own message names its one order.
    Order(String),
    /// The range's arrival window, widened to the orders' creation times.
    Window(CreatedWindow),
    /// No window: the day before the message was written bounds it.
    Bounded(CreatedWindow),
    /// Neither a window nor when the message was written.
    Unknown,
}

impl Lookup {
    /// How to find `letter`'s orders; `sent_at` is when SQS received the
    /// message, for a message that does not say when it was written.
    pub fn of(letter: &NotifierDeadLetter, sent_at: Option<OffsetDateTime>) -> Self {
        if let Some(id) = letter.order_key() {
            return Self::Order(id.to_owned());
        }
        if let Some(arrivals) = letter.arrival_window() {
            return Self::Window(CreatedWindow::of_arrivals(arrivals));
        }
        match letter.written_at().or(sent_at) {
            Some(written) => Self::Bounded(CreatedWindow::before(written)),
            None => Self::Unknown,
        }
    }

    /// The `orders-ops renotify` arguments that re-announce these orders.
    pub fn renotify_args(&self) -> Option<String> {
        match self {
            Self::Order(id) => Some(format!("renotify --order {id}")),
            Self::Window(window) | Self::Bounded(window) => {
                Some(format!("renotify {}", window.flags()))
            }
            Self::Unknown => None,
        }
    }
}

/// What a replay falls back on for a range the stream no longer holds.
pub struct Fallback<'a> {
    /// The stored orders of the stream's table.
    pub orders: &'a dyn StoredOrders,
    /// The table's name.
    pub table: &'a str,
    /// The command line that reaches this target (`orders-ops --stack
    /// orders`), which printed commands start with.
    pub ops_command: &'a str,
    /// The rate printed commands are given, when not the default.
    pub rate: Rate,
}

impl Fallback<'_> {
    fn command(&self, lookup: &Lookup) -> Option<String> {
        let args = lookup.renotify_args()?;
        let rate = if self.rate == Rate::DEFAULT {
            String::new()
        } else {
            format!(" --rate {}", self.rate)
        };
        Some(format!("{} {args}{rate}", self.ops_command))
    }
}

/// Re-announces from the table the orders of the messages whose range the
/// stream no longer holds (see the module): by id one `GetItem` each, by
/// window one scan for all of them.
pub(super) async fn renotify_gone(
    queues: &dyn QueueService,
    dlq_url: &str,
    deps: &notifier::Deps,
    fallback: &Fallback<'_>,
    gone: Vec<super::Pending>,
    pacer: &mut Pacer,
    report: &mut ReplayReport,
) -> BackendResult<()> {
    let lookups: Vec<(super::Pending, Lookup)> = gone
        .into_iter()
        .map(|p| {
            let lookup = Lookup::of(&p.letter, p.sent_at);
            (p, lookup)
        })
        .collect();
    let windows: Vec<CreatedWindow> = lookups
        .iter()
        .filter_map(|(_, lookup)| match lookup {
            Lookup::Window(w) => Some(*w),
            _ => None,
        })
        .collect();
    let in_windows = if windows.is_empty() {
        Ok(Some(Vec::new()))
    } else {
        fallback.orders.created_within(&windows).await
    };
    // Orders re-announced in this run: a window overlapping another's does
    // not publish them twice.
    let mut announced: HashSet<String> = HashSet::new();
    let mut unreadable: HashSet<String> = HashSet::new();
    for (p, lookup) in lookups {
        let command = fallback.command(&lookup);
        let items: Vec<Item> = match (&lookup, &in_windows) {
            (Lookup::Order(id), _) => match fallback.orders.get(id).await {
                Ok(Some(item)) => vec![item],
                Ok(None) => {
                    let reason = format!("order {id} is not in the table: nothing to re-announce");
                    report.leave(p.id, reason, None);
                    continue;
                }
                Err(err) => {
                    let reason = format!("reading order {id} failed: {}", ErrorChain(&err));
                    report.leave(p.id, reason, command);
                    continue;
                }
            },
            (Lookup::Window(w), Ok(Some(all))) => {
                let items: Vec<Item> = all
                    .iter()
                    .filter(|item| created_at(item).is_some_and(|t| w.contains(t)))
                    .cloned()
                    .collect();
                let expected = p.letter.batch.batch_size;
                if items.len() < expected {
                    let reason = format!(
                        "{} order(s) created in its window, fewer than the {expected} record(s) of its range",
                        items.len()
                    );
                    report.leave(p.id, reason, command);
                    continue;
                }
                items
            }
            (Lookup::Window(_), Ok(None)) => {
                let reason = "this target cannot read the table by time".to_owned();
                report.leave(p.id, reason, command);
                continue;
            }
            (Lookup::Window(_), Err(err)) => {
                let reason = format!("reading the table by time failed: {}", ErrorChain(err));
                report.leave(p.id, reason, command);
                continue;
            }
            (Lookup::Bounded(_), _) => {
                let reason = "no arrival window in the message: the orders of the day before \
                              it was written include them"
                    .to_owned();
                report.leave(p.id, reason, command);
                continue;
            }
            (Lookup::Unknown, _) => {
                let reason = "no arrival window or time in the message: re-announce by when \
                              its orders were created (infra/RUNBOOK.md)"
                    .to_owned();
                report.leave(p.id, reason, None);
                continue;
            }
        };
        let fresh: Vec<Item> = items
            .iter()
            .filter(|item| !announced.contains(&order_id(item)))
            .cloned()
            .collect();
        let renotified = renotify_paced(deps, fallback.table, &fresh, pacer).await;
        unreadable.extend(renotified.unreadable.iter().cloned());
        announced.extend(renotified.published.iter().cloned());
        if renotified.failed.is_empty() {
            queues.delete(dlq_url, &p.receipt_handle).await?;
            tracing::info!(message_id = %p.id, orders = items.len(), "range no longer in the stream: orders re-announced from the table, DLQ message deleted");
            report.renotified_orders += renotified.published.len();
            report.renotified.push(p.id);
        } else {
            tracing::warn!(message_id = %p.id, failed = renotified.failed.len(), "re-announce from the table still fails; left in the DLQ");
            report.still_failing.push(p.id);
        }
    }
    let mut unreadable: Vec<String> = unreadable.into_iter().collect();
    unreadable.sort();
    report.unreadable_orders = unreadable;
    Ok(())
}

/// `SentTimestamp` (Unix milliseconds), the SQS attribute.
pub fn sent_at(attributes: &HashMap<String, String>) -> Option<OffsetDateTime> {
    let ms: i128 = attributes.get("SentTimestamp")?.parse().ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn window(since: OffsetDateTime, until: OffsetDateTime) -> CreatedWindow {
        CreatedWindow { since, until }
    }

    #[test]
    fn given_an_arrival_window_then_the_orders_created_up_to_a_worker_timeout_before_it_are_inside()
    {
        let w = CreatedWindow::of_arrivals(ArrivalWindow {
            first: datetime!(2026-11-24 10:00:00.400 UTC),
            last: datetime!(2026-11-24 10:00:05 UTC),
        });
        let before = i64::try_from(WORKER_TIMEOUT_SECS).unwrap() + 60;
        assert_eq!(
            w,
            window(
                datetime!(2026-11-24 10:00:00 UTC) - time::Duration::seconds(before),
                datetime!(2026-11-24 10:01:06 UTC)
            )
        );
        // An order stamped just before the put that wrote the first record,
        // and one whose record arrived in the last record's (rounded) second.
        assert!(w.contains(datetime!(2026-11-24 09:59:59.999 UTC)));
        assert!(w.contains(datetime!(2026-11-24 10:00:05.999 UTC)));
        assert!(!w.contains(w.until));
        assert_eq!(
            w.flags(),
            format!(
                "--since {} --until 2026-11-24T10:01:06Z",
                w.since.format(&Rfc3339).unwrap()
            )
        );
    }

    fn letter(body: serde_json::Value) -> NotifierDeadLetter {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn given_each_kind_of_message_then_its_lookup_is_the_narrowest_it_allows() {
        let batch = serde_json::json!({"startSequenceNumber": "1", "endSequenceNumber": "9",
            "approximateArrivalOfFirstRecord": "2026-11-24T10:00:00Z",
            "approximateArrivalOfLastRecord": "2026-11-24T10:00:09Z"});
        // The notifier's own: by id, though it has a window too.
        let own = letter(
            serde_json::json!({"source": "notifier", "keys": {"orderKey": "anonymous#o-1"},
            "DDBStreamBatchInfo": batch}),
        );
        assert_eq!(
            Lookup::of(&own, None),
            Lookup::Order("anonymous#o-1".into())
        );
        assert_eq!(
            Lookup::of(&own, None).renotify_args().unwrap(),
            "renotify --order anonymous#o-1"
        );
        // Lambda's: by its window.
        let lambda = letter(serde_json::json!({"DDBStreamBatchInfo": batch}));
        assert!(matches!(Lookup::of(&lambda, None), Lookup::Window(_)));
        // Without a window: the day before it was written, by its
        // `timestamp`, else by when SQS got it.
        let bare = serde_json::json!({"startSequenceNumber": "1", "endSequenceNumber": "9"});
        let stamped = letter(serde_json::json!({"timestamp": "2026-11-25T10:00:00.500Z",
            "DDBStreamBatchInfo": bare}));
        let Lookup::Bounded(w) = Lookup::of(&stamped, None) else {
            panic!("bounded")
        };
        assert!(w.contains(datetime!(2026-11-24 10:00:00 UTC)));
        assert!(w.contains(datetime!(2026-11-25 10:00:00 UTC)));
        let unstamped = letter(serde_json::json!({"DDBStreamBatchInfo": bare}));
        let sent = sent_at(&HashMap::from([(
            "SentTimestamp".to_owned(),
            "1795514400000".to_owned(),
        )]));
        assert_eq!(
            sent,
            OffsetDateTime::from_unix_timestamp(1_795_514_400).ok()
        );
        assert!(matches!(Lookup::of(&unstamped, sent), Lookup::Bounded(_)));
        assert_eq!(Lookup::of(&unstamped, None), Lookup::Unknown);
        assert_eq!(Lookup::Unknown.renotify_args(), None);
    }
}
