//! [`TableService`] over the DynamoDB and DynamoDB Streams APIs.
//!
//! A stream's shards are listed with `DescribeStream`, page by page
//! (`ExclusiveStartShardId` / `LastEvaluatedShardId`: one page holds at most
//! 100 shards,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_DescribeStream.html>),
//! and read from `TRIM_HORIZON` with `GetRecords` until a closed shard
//! answers no `NextShardIterator`
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html>).
//!
//! ## Checkpoints
//!
//! Over an endpoint the stream outlives the runner, so the notifier mapping's
//! reader ([`TableService::open_stream_resuming`]) keeps its checkpoints in
//! the endpoint too, the way the Kinesis Client Library does: a DynamoDB
//! table with one item per shard, keyed by the shard id, holding the shard's
//! most recent checkpoint sequence number, and a parent shard is processed
//! to its end before its children are started (the KCL's lease table,
//! <https://docs.aws.amazon.com/streams/latest/dev/kcl-dynamoDB.html>; the
//! KCL's patterns apply to DynamoDB Streams through its Kinesis adapter,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.KCLAdapter.html>).
//! Our items: `shardId` (key), `sequenceNumber`, `streamArn` (a table created
//! again has a new stream whose shard ids may repeat the old ones, and moto
//! reuses one shard id for every table) and `updatedAt`.
//!
//! - **Saving**: [`StreamReader::checkpoint`] is called once a batch (or the
//!   part of it before a reported failure, or records sent to the on-failure
//!   destination) is done. Each shard's last record done up to there is
//!   written; a write that fails stays pending and is written with the next
//!   call, so a restart re-reads at most what was done since the last
//!   successful write (at least once), never skips a record.
//! - **Resuming**: a shard with a checkpoint is read from
//!   `AFTER_SEQUENCE_NUMBER` ("start reading right after the position denoted
//!   by a specific sequence number"), a shard without one from
//!   `TRIM_HORIZON` ("the oldest record in the shard"), and a closed shard
//!   whose descendant has a checkpoint not at all: it was read to its end
//!   before that descendant was started
//!   (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetShardIterator.html>).
//!   A checkpoint older than the stream's 24-hour retention answers
//!   `TrimmedDataAccessException`; that shard then starts at its trim horizon.
//!
//! One runner per table is assumed (as one event source mapping per
//! function and stream): checkpoints carry no lease owner.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use adapters::aws::DynamoOrderStore;
use adapters::ports::OrderStore;
use adapters::record::KEY_ATTRIBUTE;
use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::backend_error;
use crate::backend::{
    BackendError, BackendResult, CheckpointStore, RecordPage, ShardInfo, ShardPage, StreamReader,
    StreamShards, TableService,
};

/// How long creating a table waits for it to become active.
const ACTIVE_WAIT: Duration = Duration::from_secs(60);

/// The checkpoint table's key: the shard id (the KCL's `leaseKey`).
pub const CHECKPOINT_KEY: &str = "shardId";
/// The sequence number of the shard's last record done.
pub const CHECKPOINT_SEQUENCE: &str = "sequenceNumber";
/// The stream the shard belongs to.
pub const CHECKPOINT_STREAM: &str = "streamArn";
/// When the checkpoint was written (RFC 3339), for people looking at it.
pub const CHECKPOINT_UPDATED: &str = "updatedAt";

/// DynamoDB and its streams over the SDK.
#[derive(Debug, Clone)]
pub struct AwsTables {
    client: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    region: String,
}

fn key(order_id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(
        KEY_ATTRIBUTE.to_owned(),
        AttributeValue::S(order_id.to_owned()),
    )])
}

impl AwsTables {
    /// Wraps the clients; `region` fills records that carry none.
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        streams: aws_sdk_dynamodbstreams::Client,
        region: &str,
    ) -> Self {
        Self {
            client,
            streams,
            region: region.to_owned(),
        }
    }

    /// Creates `table` (partition key `key`, a string; with the orders
    /// stream when `stream`) unless it exists, and waits until it is active.
    /// An existing table is used as it is.
    async fn ensure_table(&self, table: &str, key: &str, stream: bool) -> BackendResult<()> {
        if self.status(table).await?.is_none() {
            let build = |e: aws_sdk_dynamodb::error::BuildError| BackendError::Call(Box::new(e));
            let mut request = self
                .client
                .create_table()
                .table_name(table)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(key)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .map_err(build)?,
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(key)
                        .key_type(KeyType::Hash)
                        .build()
                        .map_err(build)?,
                )
                .billing_mode(BillingMode::PayPerRequest);
            if stream {
                request = request.stream_specification(
                    StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(StreamViewType::NewAndOldImages)
                        .build()
                        .map_err(build)?,
                );
            }
            match request.send().await {
                Ok(_) => {}
                // Created by someone else since we looked: use it.
                Err(e) if e.code() == Some("ResourceInUseException") => {}
                Err(e) => return Err(backend_error(format!("table {table}"), e)),
            }
        }
        let deadline = tokio::time::Instant::now() + ACTIVE_WAIT;
        loop {
            if let Some((TableStatus::Active, _)) = self.status(table).await? {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BackendError::Call(
                    format!("table {table} did not become active").into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn status(&self, table: &str) -> BackendResult<Option<(TableStatus, Option<String>)>> {
        match self.client.describe_table().table_name(table).send().await {
            Ok(out) => Ok(out.table().map(|t| {
                (
                    t.table_status().cloned().unwrap_or(TableStatus::Active),
                    t.latest_stream_arn().map(str::to_owned),
                )
            })),
            Err(e) => match backend_error(format!("table {table}"), e) {
                BackendError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }
}

#[async_trait]
impl TableService for AwsTables {
    async fn create_table(&self, table: &str) -> BackendResult<()> {
        self.ensure_table(table, KEY_ATTRIBUTE, true).await
    }

    async fn create_checkpoint_table(&self, name: &str) -> BackendResult<()> {
        self.ensure_table(name, CHECKPOINT_KEY, false).await
    }

    fn order_store(&self, table: &str) -> Arc<dyn OrderStore> {
        Arc::new(DynamoOrderStore::new(self.client.clone(), table))
    }

    async fn get(&self, table: &str, order_id: &str) -> BackendResult<Option<serde_dynamo::Item>> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key(order_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend_error(format!("table {table}"), e))?;
        Ok(out.item().cloned().map(serde_dynamo::Item::from))
    }

    async fn put(&self, table: &str, item: serde_dynamo::Item) -> BackendResult<()> {
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(item.into()))
            .send()
            .await
            .map_err(|e| backend_error(format!("table {table}"), e))?;
        Ok(())
    }

    async fn delete(&self, table: &str, order_id: &str) -> BackendResult<()> {
        self.client
            .delete_item()
            .table_name(table)
            .set_key(Some(key(order_id)))
            .send()
            .await
            .map_err(|e| backend_error(format!("table {table}"), e))?;
        Ok(())
    }

    async fn open_stream(&self, table: &str) -> BackendResult<Box<dyn StreamReader>> {
        Ok(Box::new(AwsStreamReader::new(
            self.streams_of(table).await?,
            None,
        )))
    }

    async fn open_stream_resuming(
        &self,
        table: &str,
        checkpoint_table: &str,
    ) -> BackendResult<Box<dyn StreamReader>> {
        let store = DynamoCheckpoints::new(self.client.clone(), checkpoint_table);
        Ok(Box::new(AwsStreamReader::new(
            self.streams_of(table).await?,
            Some(Arc::new(store)),
        )))
    }

    async fn stream_shards(&self, table: &str) -> BackendResult<Box<dyn StreamShards>> {
        Ok(Box::new(self.streams_of(table).await?))
    }
}

impl AwsTables {
    /// The calls on the latest stream of `table`.
    async fn streams_of(&self, table: &str) -> BackendResult<AwsStreamShards> {
        let stream_arn = self
            .status(table)
            .await?
            .and_then(|(_, arn)| arn)
            .ok_or_else(|| BackendError::NotFound(format!("stream of table {table}")))?;
        Ok(AwsStreamShards {
            client: self.streams.clone(),
            stream_arn,
            region: self.region.clone(),
        })
    }
}

/// The DynamoDB Streams calls on one stream.
struct AwsStreamShards {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    region: String,
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

/// [`CheckpointStore`] over a DynamoDB table keyed by [`CHECKPOINT_KEY`].
#[derive(Debug, Clone)]
pub struct DynamoCheckpoints {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoCheckpoints {
    /// The checkpoints kept in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }
}

#[async_trait]
impl CheckpointStore for DynamoCheckpoints {
    async fn load(&self, stream_arn: &str) -> BackendResult<HashMap<String, String>> {
        let mut checkpoints = HashMap::new();
        let mut start = None;
        loop {
            // One item per shard: a scan is small, and consistent so a
            // checkpoint written just before a restart is seen.
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| backend_error(format!("table {}", self.table), e))?;
            for item in page.items() {
                let text = |name: &str| match item.get(name) {
                    Some(AttributeValue::S(s)) => Some(s.as_str()),
                    _ => None,
                };
                if text(CHECKPOINT_STREAM) != Some(stream_arn) {
                    continue;
                }
                if let (Some(shard), Some(sequence)) =
                    (text(CHECKPOINT_KEY), text(CHECKPOINT_SEQUENCE))
                {
                    checkpoints.insert(shard.to_owned(), sequence.to_owned());
                }
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(checkpoints),
            }
        }
    }

    async fn save(
        &self,
        stream_arn: &str,
        shard_id: &str,
        sequence_number: &str,
    ) -> BackendResult<()> {
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        self.client
            .put_item()
            .table_name(&self.table)
            .item(CHECKPOINT_KEY, AttributeValue::S(shard_id.to_owned()))
            .item(
                CHECKPOINT_SEQUENCE,
                AttributeValue::S(sequence_number.to_owned()),
            )
            .item(CHECKPOINT_STREAM, AttributeValue::S(stream_arn.to_owned()))
            .item(CHECKPOINT_UPDATED, AttributeValue::S(now))
            .send()
            .await
            .map_err(|e| backend_error(format!("table {}", self.table), e))?;
        Ok(())
    }
}

/// Where reading a shard starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Start {
    /// At the oldest record kept: the shard has no checkpoint.
    TrimHorizon,
    /// Right after its checkpoint.
    After(String),
    /// Nowhere: a closed shard with a checkpointed descendant was read to its
    /// end before that descendant was started.
    Done,
}

/// Where to start each of `shards` (in their order), given the saved
/// `checkpoints` (shard id → sequence number).
fn start_positions(
    shards: &[ShardInfo],
    checkpoints: &HashMap<String, String>,
) -> Vec<(String, Start)> {
    let parents: HashMap<&str, &str> = shards
        .iter()
        .filter_map(|s| Some((s.shard_id.as_str(), s.parent_shard_id.as_deref()?)))
        .collect();
    // Every ancestor of a checkpointed shard is finished.
    let mut finished: HashSet<&str> = HashSet::new();
    for shard in checkpoints.keys() {
        let mut at = shard.as_str();
        // Bounded by the number of shards, whatever the lineage says.
        for _ in 0..shards.len() {
            let Some(&parent) = parents.get(at) else {
                break;
            };
            if !finished.insert(parent) {
                break;
            }
            at = parent;
        }
    }
    shards
        .iter()
        .map(|s| {
            let start = if s.closed && finished.contains(s.shard_id.as_str()) {
                Start::Done
            } else if let Some(sequence) = checkpoints.get(&s.shard_id) {
                Start::After(sequence.clone())
            } else {
                Start::TrimHorizon
            };
            (s.shard_id.clone(), start)
        })
        .collect()
}

/// What a checkpointing reader returned and has not yet been told is done,
/// and the checkpoints not yet saved.
#[derive(Debug, Default)]
struct Progress {
    /// (shard id, sequence number) of every record returned and not yet
    /// done, in the order returned.
    returned: VecDeque<(String, String)>,
    /// Per shard, the last record done, not yet saved.
    unsaved: BTreeMap<String, String>,
}

impl Progress {
    /// `records` of `shard_id` were returned.
    fn returned(&mut self, shard_id: &str, records: &[EventRecord]) {
        for record in records {
            if let Some(sequence) = record.change.sequence_number.as_deref() {
                self.returned
                    .push_back((shard_id.to_owned(), sequence.to_owned()));
            }
        }
    }

    /// The records returned up to and including `sequence_number` are done;
    /// a sequence number not (or no longer) pending changes nothing.
    fn done_through(&mut self, sequence_number: &str) {
        let Some(index) = self
            .returned
            .iter()
            .position(|(_, sequence)| sequence == sequence_number)
        else {
            return;
        };
        for (shard, sequence) in self.returned.drain(..=index) {
            self.unsaved.insert(shard, sequence);
        }
    }

    /// Saves every unsaved checkpoint; the ones that fail stay unsaved for
    /// the next call, and the first failure is returned.
    async fn save(&mut self, store: &dyn CheckpointStore, stream_arn: &str) -> BackendResult<()> {
        let mut failure = None;
        let unsaved = std::mem::take(&mut self.unsaved);
        for (shard, sequence) in unsaved {
            if let Err(err) = store.save(stream_arn, &shard, &sequence).await {
                failure.get_or_insert(err);
                self.unsaved.insert(shard, sequence);
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

/// Reads every shard of a stream, one shard at a time in the order
/// `DescribeStream` lists them (parents before children), moving on when a
/// shard is closed and drained. With a [`CheckpointStore`], each shard
/// resumes after its checkpoint (see the module documentation) and
/// [`StreamReader::checkpoint`] saves new ones; without one, every shard
/// starts at `TRIM_HORIZON` and nothing is kept.
struct AwsStreamReader {
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
    fn new(shards_api: AwsStreamShards, store: Option<Arc<dyn CheckpointStore>>) -> Self {
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn shard(id: &str, parent: Option<&str>, closed: bool) -> ShardInfo {
        ShardInfo {
            shard_id: id.to_owned(),
            parent_shard_id: parent.map(str::to_owned),
            closed,
        }
    }

    fn record(sequence: &str) -> EventRecord {
        let mut r = EventRecord::default();
        r.change.sequence_number = Some(sequence.to_owned());
        r
    }

    /// Saves into a map; fails the first `failures` calls.
    #[derive(Default)]
    struct FakeStore {
        saved: Mutex<BTreeMap<String, String>>,
        failures: Mutex<u32>,
    }

    #[async_trait]
    impl CheckpointStore for FakeStore {
        async fn load(&self, _stream_arn: &str) -> BackendResult<HashMap<String, String>> {
            Ok(self.saved.lock().unwrap().clone().into_iter().collect())
        }

        async fn save(
            &self,
            _stream_arn: &str,
            shard_id: &str,
            sequence_number: &str,
        ) -> BackendResult<()> {
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(BackendError::Call("throttled".into()));
            }
            self.saved
                .lock()
                .unwrap()
                .insert(shard_id.to_owned(), sequence_number.to_owned());
            Ok(())
        }
    }

    #[test]
    fn given_no_checkpoints_then_every_shard_starts_at_its_trim_horizon() {
        let shards = [shard("a", None, true), shard("b", Some("a"), false)];
        let starts = start_positions(&shards, &HashMap::new());
        assert_eq!(
            starts,
            [
                ("a".to_owned(), Start::TrimHorizon),
                ("b".to_owned(), Start::TrimHorizon)
            ]
        );
    }

    #[test]
    fn given_a_checkpointed_child_then_its_closed_ancestors_are_done_and_it_resumes_after_it() {
        // a → b → c (a and b closed), and b's sibling d, never read.
        let shards = [
            shard("a", None, true),
            shard("b", Some("a"), true),
            shard("c", Some("b"), false),
            shard("d", Some("a"), false),
        ];
        let checkpoints = HashMap::from([
            ("a".to_owned(), "10".to_owned()),
            ("c".to_owned(), "42".to_owned()),
        ]);
        let starts = start_positions(&shards, &checkpoints);
        assert_eq!(
            starts,
            [
                ("a".to_owned(), Start::Done),
                ("b".to_owned(), Start::Done),
                ("c".to_owned(), Start::After("42".to_owned())),
                ("d".to_owned(), Start::TrimHorizon),
            ]
        );
    }

    #[test]
    fn given_a_checkpoint_of_a_closed_shard_without_checkpointed_children_then_it_resumes_after_it()
    {
        let shards = [shard("a", None, true), shard("b", Some("a"), false)];
        let checkpoints = HashMap::from([("a".to_owned(), "7".to_owned())]);
        let starts = start_positions(&shards, &checkpoints);
        assert_eq!(starts[0], ("a".to_owned(), Start::After("7".to_owned())));
        assert_eq!(starts[1], ("b".to_owned(), Start::TrimHorizon));
    }

    #[tokio::test]
    async fn given_records_done_then_each_shard_saves_its_last_done_record() {
        let store = FakeStore::default();
        let mut progress = Progress::default();
        progress.returned("a", &[record("1"), record("2")]);
        progress.returned("b", &[record("3"), record("4"), record("5")]);
        progress.done_through("4");
        progress.save(&store, "arn").await.unwrap();
        assert_eq!(
            *store.saved.lock().unwrap(),
            BTreeMap::from([
                ("a".to_owned(), "2".to_owned()),
                ("b".to_owned(), "4".to_owned())
            ])
        );
        // An unknown or already-done sequence number moves nothing.
        progress.done_through("2");
        progress.done_through("99");
        assert_eq!(progress.returned.len(), 1);
    }

    #[tokio::test]
    async fn given_a_failed_save_then_it_is_saved_with_the_next_checkpoint() {
        let store = FakeStore {
            failures: Mutex::new(1),
            ..FakeStore::default()
        };
        let mut progress = Progress::default();
        progress.returned("a", &[record("1"), record("2"), record("3")]);
        progress.done_through("1");
        assert!(progress.save(&store, "arn").await.is_err());
        assert!(store.saved.lock().unwrap().is_empty());
        // The next batch's checkpoint writes the newest position.
        progress.done_through("2");
        progress.save(&store, "arn").await.unwrap();
        assert_eq!(
            store.saved.lock().unwrap().get("a").map(String::as_str),
            Some("2")
        );
        assert!(progress.unsaved.is_empty());
    }
}
