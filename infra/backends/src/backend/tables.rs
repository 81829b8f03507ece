//! Tables: the orders table and its stream.

use std::sync::Arc;

use async_trait::async_trait;
use orders_adapters::ports::{OrderReader, OrderStore};

use super::*;

/// DynamoDB: the orders table (partition key `orderId`) and its stream
/// (`NEW_AND_OLD_IMAGES`).
#[async_trait]
pub trait TableService: Send + Sync {
    /// Creates the table with its stream if it does not exist.
    async fn create_table(&self, table: &str) -> BackendResult<()>;
    /// The worker's port over this table.
    fn order_store(&self, table: &str) -> Arc<dyn OrderStore>;
    /// The status function's port over this table (strongly consistent reads).
    fn order_reader(&self, table: &str) -> Arc<dyn OrderReader>;
    /// Reads an item by its key, [`order_key`](orders_adapters::record::order_key)
    /// of its owner and id (strongly consistent).
    async fn get(&self, table: &str, key: &str) -> BackendResult<Option<serde_dynamo::Item>>;
    /// Writes an item unconditionally (an update shows as MODIFY on the stream).
    async fn put(&self, table: &str, item: serde_dynamo::Item) -> BackendResult<()>;
    /// Deletes an item by its key (REMOVE on the stream).
    async fn delete(&self, table: &str, key: &str) -> BackendResult<()>;
    /// Opens a reader at the start of the stream (`TRIM_HORIZON`).
    async fn open_stream(&self, table: &str) -> BackendResult<Box<dyn StreamReader>>;
    /// Creates `name`, the table that keeps the checkpoints of a stream
    /// mapping (key `shardId`), if it does not exist. The default creates
    /// nothing, for a backend whose stream does not outlive the process.
    async fn create_checkpoint_table(&self, name: &str) -> BackendResult<()> {
        let _ = name;
        Ok(())
    }
    /// Opens a reader that resumes where the checkpoints kept in
    /// `checkpoint_table` say (each shard after its checkpoint, a shard
    /// without one at `TRIM_HORIZON`) and keeps new ones there
    /// ([`StreamReader::checkpoint`]), once it holds the stream's lease in
    /// that table for `lease`'s owner: a second runner is refused
    /// ([`BackendError::LeaseHeld`]) while the first renews it, and takes it
    /// over once it went unrenewed for its duration. The default is
    /// [`TableService::open_stream`]: a stream that dies with the process
    /// starts empty with it, and no other process can read it.
    async fn open_stream_resuming(
        &self,
        table: &str,
        checkpoint_table: &str,
        lease: &LeaseSpec,
    ) -> BackendResult<Box<dyn StreamReader>> {
        let _ = (checkpoint_table, lease);
        self.open_stream(table).await
    }
    /// The table's latest stream, call by call (see [`StreamShards`]).
    async fn stream_shards(&self, table: &str) -> BackendResult<Box<dyn StreamShards>>;
}
