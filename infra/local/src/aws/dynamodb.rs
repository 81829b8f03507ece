//! [`TableService`] over the DynamoDB and DynamoDB Streams APIs.
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
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use shared::aws::DynamoOrderStore;
use shared::ports::OrderStore;
use shared::record::KEY_ATTRIBUTE;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::backend_error;
use crate::backend::{
    BackendError, BackendResult, RecordPage, ShardInfo, ShardPage, StreamReader, StreamShards,
    TableService,
};

/// How long `create_table` waits for a new table to become active.
const ACTIVE_WAIT: Duration = Duration::from_secs(60);

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
        if self.status(table).await?.is_none() {
            let build = |e: aws_sdk_dynamodb::error::BuildError| BackendError::Call(Box::new(e));
            self.client
                .create_table()
                .table_name(table)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(KEY_ATTRIBUTE)
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .map_err(build)?,
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name(KEY_ATTRIBUTE)
                        .key_type(KeyType::Hash)
                        .build()
                        .map_err(build)?,
                )
                .billing_mode(BillingMode::PayPerRequest)
                .stream_specification(
                    StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(StreamViewType::NewAndOldImages)
                        .build()
                        .map_err(build)?,
                )
                .send()
                .await
                .map_err(|e| backend_error(format!("table {table}"), e))?;
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
        Ok(Box::new(AwsStreamReader {
            shards_api: self.streams_of(table).await?,
            shards: VecDeque::new(),
            seen: HashSet::new(),
            current_shard: String::new(),
        }))
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

/// Reads every shard of a stream from `TRIM_HORIZON`, one shard at a time in
/// the order `DescribeStream` lists them (parents before children), moving on
/// when a shard is closed and drained.
struct AwsStreamReader {
    shards_api: AwsStreamShards,
    /// (shard id, iterator) of shards still to read.
    shards: VecDeque<(String, String)>,
    seen: HashSet<String>,
    current_shard: String,
}

impl AwsStreamReader {
    /// Queues the shards not seen yet, every page of `DescribeStream`.
    async fn discover_shards(&mut self) -> BackendResult<()> {
        let mut start: Option<String> = None;
        loop {
            let page = self.shards_api.describe_stream(start.as_deref()).await?;
            for shard in page.shards {
                if self.seen.contains(&shard.shard_id) {
                    continue;
                }
                let iterator = self.shards_api.trim_horizon(&shard.shard_id).await?;
                self.seen.insert(shard.shard_id.clone());
                self.shards.push_back((shard.shard_id, iterator));
            }
            match page.last_evaluated_shard_id {
                Some(last) => start = Some(last),
                None => return Ok(()),
            }
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
        let page = self.shards_api.get_records(&iterator, max).await?;
        self.current_shard = shard_id.clone();
        // Still open (or not yet drained): keep reading it first. A closed,
        // drained shard's children are found on the next discovery.
        if let Some(next) = page.next_iterator {
            self.shards.push_front((shard_id, next));
        }
        Ok(page.records)
    }

    fn shard_id(&self) -> String {
        self.current_shard.clone()
    }
}
