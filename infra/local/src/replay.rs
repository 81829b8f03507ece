//! The notifier stage's redrive path: replays the stream batches its event
//! source mapping gave up on.
//!
//! The mapping's on-failure destination (the notifier DLQ) receives metadata,
//! not records: each message names a stream and a range of sequence numbers
//! (`DDBStreamBatchInfo`). Moving those messages back anywhere would publish
//! nothing, so replaying means reading the records of that range from the
//! stream again (they stay there for 24 hours), keeping the `INSERT`s as the
//! deployed filter does, and handing them to the same notifier handler. A DLQ
//! message is deleted only when its whole range was found and published; the
//! rest stay for the next attempt or for the manual path past the stream's
//! retention (see `infra/README.md`).
//!
//! Works on any [`Backends`](crate::Backends): the embedded emulators, moto, or
//! a real account (`orders-local replay-notifier-dlq`).

use std::cmp::Ordering;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use lambda_runtime::{Context, LambdaEvent};
use serde::Deserialize;
use shared::settings::{NOTIFIER_BATCH_SIZE, NOTIFIER_FILTER_EVENT_NAMES};

use crate::backend::{BackendResult, QueueService, TableService};

/// Consecutive empty stream reads after which the stream counts as read to its
/// end (an open shard may answer an empty page before its last records).
const EMPTY_READS_AT_END: usize = 3;

/// What one replay run did, by DLQ message id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Messages whose records were all published again (and deleted from the DLQ).
    pub replayed: Vec<String>,
    /// Records handed to the notifier in total.
    pub records: usize,
    /// Messages whose records still fail to publish (left in the DLQ).
    pub still_failing: Vec<String>,
    /// Messages whose records are no longer in the stream (left in the DLQ;
    /// replay them from the table by hand).
    pub expired: Vec<String>,
    /// Messages that are not stream-batch failure records (left in the DLQ).
    pub unreadable: Vec<String>,
}

/// The part of an on-failure record this replay needs.
#[derive(Debug, Deserialize)]
struct FailureRecord {
    #[serde(rename = "DDBStreamBatchInfo")]
    batch: BatchInfo,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchInfo {
    start_sequence_number: String,
    end_sequence_number: String,
}

/// Orders decimal sequence numbers of any length numerically.
fn compare_sequence(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn in_range(record: &EventRecord, batch: &BatchInfo) -> bool {
    record.change.sequence_number.as_deref().is_some_and(|seq| {
        compare_sequence(seq, &batch.start_sequence_number) != Ordering::Less
            && compare_sequence(seq, &batch.end_sequence_number) != Ordering::Greater
    })
}

/// Reads the whole stream of `table` once (from the trim horizon).
async fn read_stream(tables: &dyn TableService, table: &str) -> BackendResult<Vec<EventRecord>> {
    let mut reader = tables.open_stream(table).await?;
    let mut records = Vec::new();
    let mut empty_reads = 0;
    while empty_reads < EMPTY_READS_AT_END {
        let page = reader.next_records(1000).await?;
        if page.is_empty() {
            empty_reads += 1;
        } else {
            empty_reads = 0;
            records.extend(page);
        }
    }
    Ok(records)
}

/// Replays every message now visible in the notifier DLQ at `dlq_url` through
/// `deps` (the notifier's publisher), reading records from the stream of `table`.
pub async fn replay_notifier_dlq(
    queues: &dyn QueueService,
    tables: &dyn TableService,
    table: &str,
    dlq_url: &str,
    deps: &notifier::Deps,
) -> BackendResult<ReplayReport> {
    let mut report = ReplayReport::default();
    let mut stream: Option<Vec<EventRecord>> = None;
    // Messages left in the DLQ stay invisible for its visibility timeout, so
    // the loop ends once every message present at the start was seen.
    loop {
        let messages = queues.receive(dlq_url, 10, Duration::ZERO).await?;
        if messages.is_empty() {
            return Ok(report);
        }
        for message in messages {
            let Ok(failure) = serde_json::from_str::<FailureRecord>(&message.body) else {
                tracing::warn!(message_id = %message.message_id, "not a stream batch failure record; left in the DLQ");
                report.unreadable.push(message.message_id);
                continue;
            };
            if stream.is_none() {
                stream = Some(read_stream(tables, table).await?);
            }
            let records: Vec<EventRecord> = stream
                .iter()
                .flatten()
                .filter(|r| in_range(r, &failure.batch))
                .filter(|r| NOTIFIER_FILTER_EVENT_NAMES.contains(&r.event_name.as_str()))
                .cloned()
                .collect();
            if records.is_empty() {
                tracing::warn!(message_id = %message.message_id, start = %failure.batch.start_sequence_number, "records no longer in the stream; left in the DLQ");
                report.expired.push(message.message_id);
                continue;
            }
            if publish_all(deps, &records).await {
                queues.delete(dlq_url, &message.receipt_handle).await?;
                tracing::info!(message_id = %message.message_id, records = records.len(), "notifier DLQ message replayed and deleted");
                report.records += records.len();
                report.replayed.push(message.message_id);
            } else {
                tracing::warn!(message_id = %message.message_id, "replay still fails; left in the DLQ");
                report.still_failing.push(message.message_id);
            }
        }
    }
}

/// Hands the records to the notifier in mapping-sized batches, in order;
/// `true` when every record was published.
async fn publish_all(deps: &notifier::Deps, records: &[EventRecord]) -> bool {
    for batch in records.chunks(NOTIFIER_BATCH_SIZE) {
        let mut event = Event::default();
        event.records = batch.to_vec();
        match notifier::handle(deps, LambdaEvent::new(event, Context::default())).await {
            Ok(response) if response.batch_item_failures.is_empty() => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_numerically_whatever_their_length() {
        assert_eq!(compare_sequence("9", "10"), Ordering::Less);
        assert_eq!(compare_sequence("100", "0100"), Ordering::Equal);
        assert_eq!(
            compare_sequence("400000000000000000002", "300000000000000000009"),
            Ordering::Greater
        );
    }
}
