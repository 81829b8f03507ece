//! The notifier mapping's on-failure records: the one Lambda sends for a
//! batch it gave up on, and the one for records the stream trimmed before
//! the mapping could read them.
//!
//! Lambda's record (`requestContext`, `responseContext`, `DDBStreamBatchInfo`
//! with the shard, the first and last sequence numbers, their arrival and
//! the batch size; <https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html>)
//! is what the notifier DLQ's readers parse (`notifier::dead_letter`), so a
//! trimmed gap is reported in the same shape: condition `RecordAgeExceeded`
//! (its records outlived the stream's 24-hour retention, past any maximum
//! record age), `batchSize` 0 (none was read), the sequence numbers strictly
//! between the last record read and the first one kept as its inclusive
//! range, and their arrivals as its window: every record of the gap arrived
//! in it, so re-announcing the orders stored in that window covers the gap.

use aws_lambda_events::event::dynamodb::EventRecord;
use orders_backends::backend::TrimmedGap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::sequence;

/// Why records went to the on-failure destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCondition {
    /// Retries used up.
    RetryAttemptsExhausted,
    /// Older than the maximum record age (or trimmed by the stream first).
    RecordAgeExceeded,
}

impl FailureCondition {
    /// The `requestContext.condition` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Self::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

fn arrival(record: &EventRecord) -> String {
    let ms = record
        .change
        .approximate_creation_date_time
        .timestamp_millis();
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(rfc3339)
        .unwrap_or_default()
}

/// The `requestContext`, `responseContext`, `version` and `timestamp` of an
/// on-failure record, around `batch_info`.
fn record(
    function_arn: &str,
    condition: FailureCondition,
    invoke_count: u32,
    batch_info: serde_json::Value,
) -> serde_json::Value {
    let mut response_context = serde_json::json!({
        "statusCode": 200,
        "executedVersion": "$LATEST",
    });
    if condition == FailureCondition::RetryAttemptsExhausted {
        response_context["functionError"] = serde_json::json!("Unhandled");
    }
    serde_json::json!({
        "requestContext": {
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": function_arn,
            "condition": condition.as_str(),
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": response_context,
        "version": "1.0",
        "timestamp": rfc3339(OffsetDateTime::now_utc()),
        "DDBStreamBatchInfo": batch_info,
    })
}

/// The on-failure record Lambda sends for `records`, a batch of `shard_id`.
pub fn batch_record(
    function_arn: &str,
    records: &[EventRecord],
    condition: FailureCondition,
    invoke_count: u32,
    shard_id: &str,
) -> serde_json::Value {
    let first = records.first();
    let last = records.last();
    let stream_arn = first
        .and_then(|r| r.event_source_arn.clone())
        .unwrap_or_default();
    let info = serde_json::json!({
        "shardId": shard_id,
        "startSequenceNumber": first.map(sequence).unwrap_or_default(),
        "endSequenceNumber": last.map(sequence).unwrap_or_default(),
        "approximateArrivalOfFirstRecord": first.map(arrival).unwrap_or_default(),
        "approximateArrivalOfLastRecord": last.map(arrival).unwrap_or_default(),
        "batchSize": records.len(),
        "streamArn": stream_arn,
    });
    record(function_arn, condition, invoke_count, info)
}

/// The on-failure record for `gap` (see the module's documentation). When
/// the stream kept nothing after the gap, its range has no end
/// (`endSequenceNumber` empty) and its window ends when it was found.
pub fn gap_record(function_arn: &str, gap: &TrimmedGap) -> serde_json::Value {
    let start = step(&gap.after_sequence_number, Step::Up);
    let end = gap
        .before_sequence_number
        .as_deref()
        .map(|before| step(before, Step::Down))
        .unwrap_or_default();
    let info = serde_json::json!({
        "shardId": gap.shard_id,
        "startSequenceNumber": start,
        "endSequenceNumber": end,
        "approximateArrivalOfFirstRecord": gap.after_arrival.map(rfc3339).unwrap_or_default(),
        "approximateArrivalOfLastRecord": rfc3339(gap.before_arrival),
        "batchSize": 0,
        "streamArn": gap.stream_arn,
    });
    record(function_arn, FailureCondition::RecordAgeExceeded, 0, info)
}

#[derive(Clone, Copy)]
enum Step {
    Up,
    Down,
}

/// The decimal sequence number one above or below `n` (sequence numbers are
/// strings of digits); `n` itself when it is not one, or is 0 going down.
fn step(n: &str, direction: Step) -> String {
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return n.to_owned();
    }
    let mut digits: Vec<u8> = n.bytes().map(|b| b - b'0').collect();
    // The digit that carries (up) or borrows (down), and what it becomes.
    let (wraps, wrapped) = match direction {
        Step::Up => (9, 0),
        Step::Down => (0, 9),
    };
    let mut i = digits.len();
    loop {
        if i == 0 {
            match direction {
                Step::Up => digits.insert(0, 1),
                Step::Down => return n.to_owned(),
            }
            break;
        }
        i -= 1;
        if digits[i] != wraps {
            match direction {
                Step::Up => digits[i] += 1,
                Step::Down => digits[i] -= 1,
            }
            break;
        }
        digits[i] = wrapped;
    }
    let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    let trimmed = text.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(after: &str, before: Option<&str>) -> TrimmedGap {
        TrimmedGap {
            stream_arn: "arn:aws:dynamodb:us-east-1:1:table/orders/stream/x".to_owned(),
            shard_id: "shardId-1".to_owned(),
            after_sequence_number: after.to_owned(),
            after_arrival: Some(time::macros::datetime!(2026-01-01 00:00:05 UTC)),
            before_sequence_number: before.map(str::to_owned),
            before_arrival: time::macros::datetime!(2026-01-02 00:00:09 UTC),
        }
    }

    #[test]
    fn given_a_trimmed_gap_then_its_record_names_the_sequence_numbers_strictly_between_and_their_window()
     {
        let body = gap_record(
            "arn:fn",
            &gap("100000000006446513346", Some("100000000006446513400")),
        );
        let letter: notifier::dead_letter::NotifierDeadLetter =
            serde_json::from_value(body.clone()).unwrap();
        assert_eq!(body["requestContext"]["condition"], "RecordAgeExceeded");
        assert_eq!(letter.batch.shard_id.as_deref(), Some("shardId-1"));
        assert_eq!(letter.batch.start_sequence_number, "100000000006446513347");
        assert_eq!(letter.batch.end_sequence_number, "100000000006446513399");
        assert_eq!(letter.batch.batch_size, 0);
        assert_eq!(
            body["DDBStreamBatchInfo"]["approximateArrivalOfFirstRecord"],
            "2026-01-01T00:00:05Z"
        );
        assert_eq!(
            body["DDBStreamBatchInfo"]["approximateArrivalOfLastRecord"],
            "2026-01-02T00:00:09Z"
        );
        assert!(letter.is_replayable());
    }

    #[test]
    fn given_a_gap_with_nothing_kept_after_it_then_its_range_has_no_end() {
        let body = gap_record("arn:fn", &gap("199", None));
        assert_eq!(body["DDBStreamBatchInfo"]["startSequenceNumber"], "200");
        assert_eq!(body["DDBStreamBatchInfo"]["endSequenceNumber"], "");
    }

    #[test]
    fn given_decimal_sequence_numbers_then_one_step_carries_and_borrows() {
        assert_eq!(step("9", Step::Up), "10");
        assert_eq!(step("1099", Step::Up), "1100");
        assert_eq!(step("100", Step::Down), "99");
        assert_eq!(step("1", Step::Down), "0");
        assert_eq!(step("0", Step::Down), "0");
        assert_eq!(step("0042", Step::Up), "43");
        // Not a number: left as it is.
        assert_eq!(step("abc", Step::Up), "abc");
    }
}
