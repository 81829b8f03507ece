//! The embedded table's stream as the runner reads it: shard by shard and
//! call by call (`DescribeStream`, `GetShardIterator`, `GetRecords`), or from
//! its start by one reader that waits for appends.

use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;

use super::{EMBEDDED_SHARD_ID, EmbeddedTables};
use crate::backend::{
    BackendError, BackendResult, RecordPage, ShardInfo, ShardPage, StreamReader, StreamShards,
};

/// The embedded stream call by call: one open shard whose iterators are
/// positions in it.
pub(super) struct EmbeddedStreamShards {
    pub(super) tables: EmbeddedTables,
    pub(super) table: String,
}

#[async_trait]
impl StreamShards for EmbeddedStreamShards {
    async fn describe_stream(
        &self,
        exclusive_start_shard_id: Option<&str>,
    ) -> BackendResult<ShardPage> {
        self.tables.table_read(&self.table, |_| ())?;
        let shards = if exclusive_start_shard_id.is_some_and(|id| id >= EMBEDDED_SHARD_ID) {
            Vec::new()
        } else {
            vec![ShardInfo {
                shard_id: EMBEDDED_SHARD_ID.to_owned(),
                parent_shard_id: None,
                closed: false,
            }]
        };
        Ok(ShardPage {
            shards,
            last_evaluated_shard_id: None,
        })
    }

    async fn trim_horizon(&self, shard_id: &str) -> BackendResult<String> {
        if shard_id != EMBEDDED_SHARD_ID {
            return Err(BackendError::NotFound(format!("shard {shard_id}")));
        }
        self.tables
            .table_read(&self.table, |t| t.trimmed.to_string())
    }

    async fn get_records(&self, iterator: &str, limit: usize) -> BackendResult<RecordPage> {
        let position: usize = iterator
            .parse()
            .map_err(|_| BackendError::Call(format!("invalid shard iterator {iterator}").into()))?;
        let (records, next) = self
            .tables
            .table_read(&self.table, |t| t.read(position, limit.clamp(1, 1000)))?;
        Ok(RecordPage {
            records,
            // The shard is open: there is always a next iterator.
            next_iterator: Some(next.to_string()),
        })
    }
}

/// Reads an embedded stream from its start.
pub(super) struct EmbeddedStreamReader {
    pub(super) tables: EmbeddedTables,
    pub(super) table: String,
    pub(super) position: usize,
}

#[async_trait]
impl StreamReader for EmbeddedStreamReader {
    async fn next_records(&mut self, max: usize) -> BackendResult<Vec<EventRecord>> {
        let (records, next) = self
            .tables
            .table_read(&self.table, |t| t.read(self.position, max))?;
        self.position = next;
        Ok(records)
    }

    async fn wait_for_records(&mut self, timeout: Duration) {
        let notified = self.tables.inner.appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.tables.stream_len(&self.table) > self.position {
            return;
        }
        let _ = tokio::time::timeout(timeout, notified).await;
    }

    fn shard_id(&self) -> String {
        EMBEDDED_SHARD_ID.to_owned()
    }
}
