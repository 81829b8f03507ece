//! [`TableService`] over the DynamoDB and DynamoDB Streams APIs: the table
//! calls here, the stream's calls in [`stream`], reading it forward by the
//! Kinesis Client Library's rules in [`reader`], and, kept in a table of the
//! endpoint, the notifier mapping's stream checkpoints ([`checkpoint`]) and
//! the lease that lets one runner read the stream ([`lease`]).

mod checkpoint;
mod lease;
mod reader;
mod stream;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
};
use orders_adapters::aws::{DynamoOrderReader, DynamoOrderStore};
use orders_adapters::ports::{OrderReader, OrderStore};
use orders_adapters::record::KEY_ATTRIBUTE;

use super::backend_error;
use crate::backend::{
    BackendError, BackendResult, LeaseSpec, StreamReader, StreamShards, TableService,
};

pub use checkpoint::{CHECKPOINT_KEY, DynamoCheckpoints};
use lease::DynamoLeaseTable;
use reader::AwsStreamReader;
use stream::AwsStreamShards;

/// How long creating a table waits for it to become active.
const ACTIVE_WAIT: Duration = Duration::from_secs(60);

/// DynamoDB and its streams over the SDK.
#[derive(Debug, Clone)]
pub struct AwsTables {
    client: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    region: String,
}

fn key(key: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(KEY_ATTRIBUTE.to_owned(), AttributeValue::S(key.to_owned()))])
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

    fn order_reader(&self, table: &str) -> Arc<dyn OrderReader> {
        Arc::new(DynamoOrderReader::new(self.client.clone(), table))
    }

    async fn get(&self, table: &str, order_key: &str) -> BackendResult<Option<serde_dynamo::Item>> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key(order_key)))
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

    async fn delete(&self, table: &str, order_key: &str) -> BackendResult<()> {
        self.client
            .delete_item()
            .table_name(table)
            .set_key(Some(key(order_key)))
            .send()
            .await
            .map_err(|e| backend_error(format!("table {table}"), e))?;
        Ok(())
    }

    async fn open_stream(&self, table: &str) -> BackendResult<Box<dyn StreamReader>> {
        let shards = self.streams_of(table).await?;
        let stream_arn = shards.stream_arn.clone();
        Ok(Box::new(AwsStreamReader::new(
            Box::new(shards),
            &stream_arn,
            None,
            None,
        )))
    }

    async fn open_stream_resuming(
        &self,
        table: &str,
        checkpoint_table: &str,
        lease: &LeaseSpec,
    ) -> BackendResult<Box<dyn StreamReader>> {
        let shards = self.streams_of(table).await?;
        let stream_arn = shards.stream_arn.clone();
        let lease_table = DynamoLeaseTable {
            client: self.client.clone(),
            table: checkpoint_table.to_owned(),
        };
        let lease = lease::acquire(Arc::new(lease_table), lease).await?;
        let store = DynamoCheckpoints::new(self.client.clone(), checkpoint_table);
        Ok(Box::new(AwsStreamReader::new(
            Box::new(shards),
            &stream_arn,
            Some(Arc::new(store)),
            Some(lease),
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
