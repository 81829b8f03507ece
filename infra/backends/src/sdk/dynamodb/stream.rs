//! The DynamoDB Streams calls on one stream ([`StreamShards`]), and the
//! mapping of an SDK stream record to the Lambda event record.
//!
//! A stream's shards are listed with `DescribeStream`, page by page
//! (`ExclusiveStartShardId` / `LastEvaluatedShardId`: one page holds at most
//! 100 shards,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_DescribeStream.html>),
//! and read with `GetRecords` until a closed shard answers no
//! `NextShardIterator`
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html>).
//! `TrimmedDataAccessException` ("the operation attempted to read past the
//! oldest stream record in a shard": a checkpoint older than the 24-hour
//! retention, or an iterator whose records were trimmed before it was used)
//! becomes [`BackendError::Trimmed`], `ExpiredIteratorException` (an
//! iterator older than 15 minutes) [`BackendError::IteratorExpired`], for
//! the reader ([`super::reader`]) to act on.

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodbstreams::error::SdkError;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::backend_error;
use crate::backend::{BackendError, BackendResult, RecordPage, ShardInfo, ShardPage, StreamShards};

/// Maps an SDK error of a call on `what`: the trimmed and expired answers to
/// their own errors, the rest as [`backend_error`] does.
fn stream_error<E, R>(what: String, err: SdkError<E, R>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match err.code() {
        Some("TrimmedDataAccessException") => BackendError::Trimmed(what),
        Some("ExpiredIteratorException") => BackendError::IteratorExpired(what),
        _ => backend_error(what, err),
    }
}

/// The DynamoDB Streams calls on one stream.
pub(super) struct AwsStreamShards {
    pub(super) client: aws_sdk_dynamodbstreams::Client,
    pub(super) stream_arn: String,
    pub(super) region: String,
}

#[async_trait]
impl StreamShards for AwsStreamShards {
    async fn describe_stream(
        &self,
        exclusive_start_shard_id: Option<&str>,
    ) -> BackendResult<ShardPage> {
        let out = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .set_exclusive_start_shard_id(exclusive_start_shard_id.map(str::to_owned))
            .send()
            .await
            .map_err(|e| backend_error(format!("stream {}", self.stream_arn), e))?;
        let Some(description) = out.stream_description() else {
            return Ok(ShardPage::default());
        };
        let shards = description
            .shards()
            .iter()
            .filter_map(|s| {
                Some(ShardInfo {
                    shard_id: s.shard_id()?.to_owned(),
                    parent_shard_id: s.parent_shard_id().map(str::to_owned),
                    closed: s
                        .sequence_number_range()
                        .and_then(|r| r.ending_sequence_number())
                        .is_some(),
                })
            })
            .collect();
        Ok(ShardPage {
            shards,
            last_evaluated_shard_id: description.last_evaluated_shard_id().map(str::to_owned),
        })
    }

    async fn trim_horizon(&self, shard_id: &str) -> BackendResult<String> {
        let out = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard_id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| backend_error(format!("shard {shard_id}"), e))?;
        out.shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| BackendError::NotFound(format!("iterator of shard {shard_id}")))
    }

    async fn get_records(&self, iterator: &str, limit: usize) -> BackendResult<RecordPage> {
        let out = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(|e| stream_error(format!("stream {}", self.stream_arn), e))?;
        Ok(RecordPage {
            records: out
                .records()
                .iter()
                .map(|r| event_record(r, &self.stream_arn, &self.region))
                .collect(),
            next_iterator: out.next_shard_iterator().map(str::to_owned),
        })
    }

    async fn after_sequence_number(
        &self,
        shard_id: &str,
        sequence_number: &str,
    ) -> BackendResult<String> {
        let out = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard_id)
            .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
            .sequence_number(sequence_number)
            .send()
            .await
            .map_err(|e| stream_error(format!("shard {shard_id}"), e))?;
        out.shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| BackendError::NotFound(format!("iterator of shard {shard_id}")))
    }
}

/// Maps an SDK stream record to the Lambda event record AWS would deliver.
fn event_record(
    record: &aws_sdk_dynamodbstreams::types::Record,
    stream_arn: &str,
    region: &str,
) -> EventRecord {
    let mut out = EventRecord::default();
    out.aws_region = record.aws_region().unwrap_or(region).to_owned();
    out.event_id = record.event_id().unwrap_or_default().to_owned();
    out.event_name = record
        .event_name()
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    out.event_source = record.event_source().map(str::to_owned);
    out.event_version = record.event_version().map(str::to_owned);
    out.event_source_arn = Some(stream_arn.to_owned());
    if let Some(change) = record.dynamodb() {
        let created = change
            .approximate_creation_date_time()
            .and_then(|t| OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok())
            .unwrap_or_else(OffsetDateTime::now_utc);
        if let Ok(at) = created
            .format(&Rfc3339)
            .map_err(|_| ())
            .and_then(|s| serde_json::from_value(serde_json::Value::String(s)).map_err(|_| ()))
        {
            out.change.approximate_creation_date_time = at;
        }
        out.change.keys = change.keys().cloned().map(Into::into).unwrap_or_default();
        out.change.new_image = change
            .new_image()
            .cloned()
            .map(Into::into)
            .unwrap_or_default();
        out.change.old_image = change
            .old_image()
            .cloned()
            .map(Into::into)
            .unwrap_or_default();
        out.change.sequence_number = change.sequence_number().map(str::to_owned);
        out.change.size_bytes = change.size_bytes().unwrap_or_default();
        out.change.stream_view_type = change.stream_view_type().and_then(|v| {
            serde_json::from_value(serde_json::Value::String(v.as_str().to_owned())).ok()
        });
    }
    out
}
