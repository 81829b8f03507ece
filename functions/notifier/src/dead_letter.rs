//! The notifier DLQ message for one stream record the notifier gave up on.
//!
//! The notifier DLQ is also the stream mapping's on-failure destination, whose
//! messages carry `DDBStreamBatchInfo` (the shard range Lambda gave up on,
//! <https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html>).
//! The notifier's own messages use the same member for the one record's
//! position, so one replay reads both kinds, and add what Lambda's record
//! lacks: `source`, `reason`, `table`, `keys`. Never the image: it holds the
//! customer's name and address.
//!
//! Both carry the range's arrival window (`approximateArrivalOfFirstRecord`,
//! `approximateArrivalOfLastRecord`: when DynamoDB wrote the first and last
//! record), by which a range the stream no longer holds can still be found
//! in the table ([`NotifierDeadLetter::arrival_window`]).

use aws_lambda_events::event::dynamodb::EventRecord;
use orders_adapters::ports::DeadLetterReason;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The `source` of the notifier's own dead letters.
pub const SOURCE: &str = "notifier";

/// The record's position in the stream, in the on-failure record's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInfo {
    /// Shard, when known (Lambda's records carry it; a stream record does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_id: Option<String>,
    /// First sequence number of the range.
    pub start_sequence_number: String,
    /// Last sequence number of the range (inclusive).
    pub end_sequence_number: String,
    /// When the range's first record arrived in the stream (RFC 3339;
    /// DynamoDB's `ApproximateCreationDateTime`, rounded down to the second).
    /// Absent from messages written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_arrival_of_first_record: Option<String>,
    /// When the range's last record arrived in the stream (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_arrival_of_last_record: Option<String>,
    /// Records in the range as delivered.
    #[serde(default)]
    pub batch_size: usize,
    /// The stream.
    #[serde(default)]
    pub stream_arn: String,
}

/// When the records of a range arrived in the stream, first to last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrivalWindow {
    /// The first record's arrival.
    pub first: OffsetDateTime,
    /// The last record's arrival (not before `first`).
    pub last: OffsetDateTime,
}

/// A notifier DLQ message: either Lambda's on-failure record (no `source`)
/// or one of the notifier's own (with `source`, `reason`, `table`, `keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifierDeadLetter {
    /// [`SOURCE`] for the notifier's own messages; absent in Lambda's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A [`DeadLetterReason`] word for the notifier's own messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why, in words without values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The table the stream belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The item's key (`orderId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<serde_json::Map<String, serde_json::Value>>,
    /// When the message was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Where the records are in the stream.
    #[serde(rename = "DDBStreamBatchInfo")]
    pub batch: BatchInfo,
}

impl NotifierDeadLetter {
    /// The reason, for the notifier's own messages.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Whether replaying the range can help: Lambda's records and refused
    /// publishes can; a poison record fails the same way again.
    pub fn is_replayable(&self) -> bool {
        self.reason() != Some(DeadLetterReason::Poison.as_str())
    }

    /// The range's arrival window, when both ends are RFC 3339 instants in
    /// order; `None` for a message without them (or with an empty or
    /// unreadable one).
    pub fn arrival_window(&self) -> Option<ArrivalWindow> {
        let parse = |text: &Option<String>| {
            text.as_deref()
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        };
        let first = parse(&self.batch.approximate_arrival_of_first_record)?;
        let last = parse(&self.batch.approximate_arrival_of_last_record)?;
        (first <= last).then_some(ArrivalWindow { first, last })
    }

    /// When the message was written (`timestamp`), if readable.
    pub fn written_at(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(self.timestamp.as_deref()?, &Rfc3339).ok()
    }

    /// The order's table key in `keys` (owner key and order id), for the
    /// notifier's own messages.
    pub fn order_key(&self) -> Option<&str> {
        self.keys
            .as_ref()?
            .get(orders_adapters::record::KEY_ATTRIBUTE)?
            .as_str()
    }
}

/// When `record` arrived in the stream, as RFC 3339; `None` when the record
/// does not say (its `ApproximateCreationDateTime` is the epoch default).
fn arrival(record: &EventRecord) -> Option<String> {
    let ms = record
        .change
        .approximate_creation_date_time
        .timestamp_millis();
    orders_adapters::record::stream_arrival(ms)?
        .format(&Rfc3339)
        .ok()
}

/// The table name inside a stream ARN
/// (`arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL`).
pub fn table_of(stream_arn: &str) -> Option<&str> {
    let (_, rest) = stream_arn.split_once(":table/")?;
    Some(rest.split_once('/').map_or(rest, |(name, _)| name))
}

/// The JSON body describing `record`, for the notifier DLQ.
pub fn body(record: &EventRecord, reason: DeadLetterReason, detail: &str) -> String {
    let sequence = record.change.sequence_number.clone().unwrap_or_default();
    let arrived = arrival(record);
    let stream_arn = record.event_source_arn.clone().unwrap_or_default();
    let keys = crate::handler::record_key(record).map(|id| {
        let mut keys = serde_json::Map::new();
        keys.insert(
            orders_adapters::record::KEY_ATTRIBUTE.to_owned(),
            serde_json::Value::String(id.to_owned()),
        );
        keys
    });
    let letter = NotifierDeadLetter {
        source: Some(SOURCE.to_owned()),
        reason: Some(reason.as_str().to_owned()),
        detail: Some(detail.to_owned()),
        table: table_of(&stream_arn).map(str::to_owned),
        keys,
        timestamp: OffsetDateTime::now_utc().format(&Rfc3339).ok(),
        batch: BatchInfo {
            shard_id: None,
            start_sequence_number: sequence.clone(),
            end_sequence_number: sequence,
            approximate_arrival_of_first_record: arrived.clone(),
            approximate_arrival_of_last_record: arrived,
            batch_size: 1,
            stream_arn,
        },
    };
    // Strings and an integer only: serialising cannot fail.
    serde_json::to_string(&letter).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_stream_arn_then_the_table_is_its_name() {
        assert_eq!(
            table_of("arn:aws:dynamodb:eu-west-1:1:table/orders/stream/2026-11-20T08:15:42.318"),
            Some("orders")
        );
        assert_eq!(table_of("arn:aws:sqs:eu-west-1:1:q"), None);
    }

    #[test]
    fn given_a_lambda_on_failure_record_then_it_reads_as_replayable() {
        let lambda = r#"{"requestContext":{"condition":"RetryAttemptsExhausted"},
            "DDBStreamBatchInfo":{"shardId":"s","startSequenceNumber":"1","endSequenceNumber":"9",
            "batchSize":3,"streamArn":"arn"}}"#;
        let letter: NotifierDeadLetter = serde_json::from_str(lambda).unwrap();
        assert!(letter.is_replayable());
        assert_eq!(letter.batch.end_sequence_number, "9");
        assert_eq!(letter.source, None);
        assert_eq!(letter.arrival_window(), None, "no window in this one");
    }

    #[test]
    fn given_lambdas_documented_on_failure_record_then_its_arrival_window_and_time_are_read() {
        // The example of
        // https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html
        let lambda = r#"{
            "requestContext": {"requestId": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
                "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
                "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 1},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": "2019-11-14T00:13:49.717Z",
            "DDBStreamBatchInfo": {
                "shardId": "shardId-00000001573689847184-864758bb",
                "startSequenceNumber": "800000000003126276362",
                "endSequenceNumber": "800000000003126276362",
                "approximateArrivalOfFirstRecord": "2019-11-14T00:13:19Z",
                "approximateArrivalOfLastRecord": "2019-11-14T00:13:20Z",
                "batchSize": 1,
                "streamArn": "arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-11-14T00:04:06.388"
            }
        }"#;
        let letter: NotifierDeadLetter = serde_json::from_str(lambda).unwrap();
        let window = letter.arrival_window().unwrap();
        assert_eq!(
            window.first,
            time::macros::datetime!(2019-11-14 00:13:19 UTC)
        );
        assert_eq!(
            window.last,
            time::macros::datetime!(2019-11-14 00:13:20 UTC)
        );
        assert_eq!(
            letter.written_at(),
            Some(time::macros::datetime!(2019-11-14 00:13:49.717 UTC))
        );
    }

    #[test]
    fn given_a_stream_record_then_its_body_carries_its_arrival_and_order_id_never_its_image() {
        // The shipped INSERT event (with the legacy order's personal data).
        let event: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_str(include_str!("../../../events/dynamodb-insert.json")).unwrap();
        let record = &event.records[0];
        let body = body(record, DeadLetterReason::PublishRefused, "refused");
        assert!(
            !body.contains("Harry") && !body.contains("Nguyen"),
            "{body}"
        );
        let letter: NotifierDeadLetter = serde_json::from_str(&body).unwrap();
        let arrived = OffsetDateTime::from_unix_timestamp(1_795_514_400).unwrap();
        assert_eq!(
            letter.arrival_window(),
            Some(ArrivalWindow {
                first: arrived,
                last: arrived
            })
        );
        assert_eq!(letter.order_key(), Some("anonymous#23214"));
    }

    #[test]
    fn given_an_empty_or_reversed_window_then_there_is_none() {
        let letter = |first: &str, last: &str| -> NotifierDeadLetter {
            serde_json::from_value(serde_json::json!({"DDBStreamBatchInfo": {
                "startSequenceNumber": "1", "endSequenceNumber": "2",
                "approximateArrivalOfFirstRecord": first,
                "approximateArrivalOfLastRecord": last,
            }}))
            .unwrap()
        };
        assert_eq!(letter("", "").arrival_window(), None);
        assert_eq!(
            letter("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z").arrival_window(),
            None
        );
        assert!(
            letter("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z")
                .arrival_window()
                .is_some()
        );
    }
}
