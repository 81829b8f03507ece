//! The notifier DLQ message for one stream record the notifier gave up on.
//!
//! The notifier DLQ is also the stream mapping's on-failure destination, whose
//! messages carry `DDBStreamBatchInfo` (the shard range Lambda gave up on,
//! <https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html>).
//! The notifier's own messages use the same member for the one record's
//! position, so one replay reads both kinds, and add what Lambda's record
//! lacks: `source`, `reason`, `table`, `keys`. Never the image: it holds the
//! customer's name and address.

use adapters::ports::DeadLetterReason;
use aws_lambda_events::event::dynamodb::EventRecord;
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
    /// Records in the range as delivered.
    #[serde(default)]
    pub batch_size: usize,
    /// The stream.
    #[serde(default)]
    pub stream_arn: String,
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
    let stream_arn = record.event_source_arn.clone().unwrap_or_default();
    let keys = crate::handler::key_order_id(record).map(|id| {
        let mut keys = serde_json::Map::new();
        keys.insert(
            adapters::record::KEY_ATTRIBUTE.to_owned(),
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
    }
}
