//! Reading a DynamoDB stream over the DynamoDB Streams API.
//!
//! A stream's shards are listed with `DescribeStream`, page by page
//! (`ExclusiveStartShardId` / `LastEvaluatedShardId`: one page holds at most
//! 100 shards,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_DescribeStream.html>),
//! and read from `TRIM_HORIZON` with `GetRecords` until a closed shard
//! answers no `NextShardIterator`
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html>).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::backend_error;
use super::checkpoint::{Progress, Start, start_positions};
use crate::backend::{
    BackendError, BackendResult, CheckpointStore, RecordPage, ShardInfo, ShardPage, StreamReader,
    StreamShards,
};

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
            .map_err(|e| backend_error(format!("stream {}", self.stream_arn), e))?;
        Ok(RecordPage {
            records: out
                .records()
                .iter()
                .map(|r| event_record(r, &self.stream_arn, &self.region))
                .collect(),
            next_iterator: out.next_shard_iterator().map(str::to_owned),
        })
    }
}

impl AwsStreamShards {
    /// `GetShardIterator` at `AFTER_SEQUENCE_NUMBER`; at `TRIM_HORIZON` when
    /// the stream no longer keeps that record.
    async fn after_sequence_number(
        &self,
        shard_id: &str,
        sequence_number: &str,
    ) -> BackendResult<String> {
        let answer = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard_id)
            .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
            .sequence_number(sequence_number)
            .send()
            .await;
        match answer {
            Ok(out) => out
                .shard_iterator()
                .map(str::to_owned)
                .ok_or_else(|| BackendError::NotFound(format!("iterator of shard {shard_id}"))),
            Err(e) if e.code() == Some("TrimmedDataAccessException") => {
                // Past the 24-hour retention: what is left of the shard
                // starts at its trim horizon (nothing older can be read).
                tracing::warn!(
                    shard_id,
                    sequence_number,
                    "stream checkpoint is older than the stream keeps: reading the shard from its trim horizon"
                );
                self.trim_horizon(shard_id).await
            }
            Err(e) => Err(backend_error(format!("shard {shard_id}"), e)),
        }
    }
}

/// Reads every shard of a stream, one shard at a time in the order
/// `DescribeStream` lists them (parents before children), moving on when a
/// shard is closed and drained. With a [`CheckpointStore`], each shard
/// resumes after its checkpoint (see [`super::checkpoint`]) and
/// [`StreamReader::checkpoint`] saves new ones; without one, every shard
/// starts at `TRIM_HORIZON` and nothing is kept.
pub(super) struct AwsStreamReader {
    shards_api: AwsStreamShards,
    /// (shard id, iterator) of shards still to read; no iterator after a
    /// failed read (a fresh one is taken at the shard's position).
    shards: VecDeque<(String, Option<String>)>,
    /// Where each queued shard is read from next: its start, then after the
    /// last record returned.
    positions: HashMap<String, Start>,
    seen: HashSet<String>,
    current_shard: String,
    store: Option<Arc<dyn CheckpointStore>>,
    /// The checkpoints saved before this reader started, loaded at the first
    /// discovery (a failed load is an error of that read, tried again with
    /// the next: starting at the trim horizon instead would publish
    /// everything again).
    resume: Option<HashMap<String, String>>,
    progress: Progress,
}

impl AwsStreamReader {
    pub(super) fn new(
        shards_api: AwsStreamShards,
        store: Option<Arc<dyn CheckpointStore>>,
    ) -> Self {
        Self {
            shards_api,
            shards: VecDeque::new(),
            positions: HashMap::new(),
            seen: HashSet::new(),
            current_shard: String::new(),
            store,
            resume: None,
            progress: Progress::default(),
        }
    }

    /// Queues the shards not seen yet, every page of `DescribeStream`, each
    /// at its start position.
    async fn discover_shards(&mut self) -> BackendResult<()> {
        let mut listed = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let page = self.shards_api.describe_stream(start.as_deref()).await?;
            listed.extend(page.shards);
            match page.last_evaluated_shard_id {
                Some(last) => start = Some(last),
                None => break,
            }
        }
        if self.resume.is_none() {
            let loaded = match &self.store {
                Some(store) => store.load(&self.shards_api.stream_arn).await?,
                None => HashMap::new(),
            };
            self.resume = Some(loaded);
        }
        let none = HashMap::new();
        let checkpoints = self.resume.as_ref().unwrap_or(&none);
        for (shard_id, start) in start_positions(&listed, checkpoints) {
            if self.seen.contains(&shard_id) {
                continue;
            }
            if start == Start::Done {
                self.seen.insert(shard_id);
                continue;
            }
            if let Start::After(sequence) = &start {
                tracing::info!(
                    shard_id,
                    sequence_number = sequence,
                    "stream reader resumes after its checkpoint"
                );
            }
            self.positions.insert(shard_id.clone(), start);
            let iterator = self.iterator_at(&shard_id).await?;
            self.seen.insert(shard_id.clone());
            self.shards.push_back((shard_id, Some(iterator)));
        }
        Ok(())
    }

    /// A fresh iterator at the shard's position.
    async fn iterator_at(&self, shard_id: &str) -> BackendResult<String> {
        match self.positions.get(shard_id) {
            Some(Start::After(sequence)) => {
                self.shards_api
                    .after_sequence_number(shard_id, sequence)
                    .await
            }
            _ => self.shards_api.trim_horizon(shard_id).await,
        }
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

#[async_trait]
impl StreamReader for AwsStreamReader {
    async fn next_records(&mut self, max: usize) -> BackendResult<Vec<EventRecord>> {
        if self.shards.is_empty() {
            self.discover_shards().await?;
        }
        let Some((shard_id, iterator)) = self.shards.pop_front() else {
            return Ok(Vec::new());
        };
        let read = match iterator {
            Some(iterator) => self.shards_api.get_records(&iterator, max).await,
            None => match self.iterator_at(&shard_id).await {
                Ok(iterator) => self.shards_api.get_records(&iterator, max).await,
                Err(err) => Err(err),
            },
        };
        let page = match read {
            Ok(page) => page,
            Err(err) => {
                // Keep the shard, to be read again from its position with a
                // fresh iterator (this one may have expired): dropping it
                // would stop reading it for the rest of the run.
                self.shards.push_front((shard_id, None));
                return Err(err);
            }
        };
        self.current_shard = shard_id.clone();
        if let Some(last) = page
            .records
            .last()
            .and_then(|r| r.change.sequence_number.clone())
        {
            self.positions.insert(shard_id.clone(), Start::After(last));
        }
        if self.store.is_some() {
            self.progress.returned(&shard_id, &page.records);
        }
        // Still open (or not yet drained): keep reading it first. A closed,
        // drained shard's children are found on the next discovery.
        match page.next_iterator {
            Some(next) => self.shards.push_front((shard_id, Some(next))),
            None => {
                self.positions.remove(&shard_id);
            }
        }
        Ok(page.records)
    }

    fn shard_id(&self) -> String {
        self.current_shard.clone()
    }

    async fn checkpoint(&mut self, sequence_number: &str) -> BackendResult<()> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        self.progress.done_through(sequence_number);
        self.progress
            .save(store.as_ref(), &self.shards_api.stream_arn)
            .await
    }
}
