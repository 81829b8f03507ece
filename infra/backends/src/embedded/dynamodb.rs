//! Embedded DynamoDB: tables keyed by `orderId` with a `NEW_AND_OLD_IMAGES`
//! stream of one shard.
//!
//! Every write that changes an item appends one stream record (INSERT, MODIFY
//! or REMOVE) with keys, images and a increasing sequence number, so records
//! are in order per item (and, with one shard, overall). A conditional put that
//! finds the item writes nothing and emits nothing, as on DynamoDB; so does a
//! put that changes nothing. Records stay until a test trims them
//! ([`EmbeddedTables::trim_stream`], what DynamoDB's 24-hour retention does);
//! nothing trims them on a timer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{EventRecord, StreamViewType};
use orders_adapters::ports::{OrderReader, OrderStore};
use orders_adapters::record::KEY_ATTRIBUTE;
use orders_adapters::sync::lock;
use serde_dynamo::{AttributeValue, Item};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Notify;

use crate::arn::EMBEDDED_ACCOUNT;
use crate::backend::{BackendError, BackendResult, StreamReader, StreamShards, TableService};

mod ports;
mod stream;

use ports::{EmbeddedOrderReader, EmbeddedOrderStore};
use stream::{EmbeddedStreamReader, EmbeddedStreamShards};

/// The one shard of every embedded stream.
pub const EMBEDDED_SHARD_ID: &str = "shardId-00000000000000000001-00000001";

#[derive(Debug)]
struct Table {
    stream_arn: String,
    items: HashMap<String, Item>,
    /// The records still kept; `stream[0]` is record number `trimmed`.
    stream: Vec<EventRecord>,
    /// Records dropped from the front so far. Positions in the stream count
    /// from the first record ever written, so readers survive a trim.
    trimmed: usize,
    next_sequence: u128,
}

impl Table {
    /// Position after the last record ever written.
    fn end(&self) -> usize {
        self.trimmed + self.stream.len()
    }

    /// Up to `max` records from `position` (moved to the trim horizon when
    /// it was trimmed), and the position after them.
    fn read(&self, position: usize, max: usize) -> (Vec<EventRecord>, usize) {
        let from = position.max(self.trimmed);
        let to = self.end().min(from.saturating_add(max));
        let records = self
            .stream
            .get(from - self.trimmed..to - self.trimmed)
            .unwrap_or_default()
            .to_vec();
        (records, to.max(from))
    }
}

/// How a write is conditioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    None,
    /// `attribute_not_exists(orderId)`.
    Absent,
}

/// What a write did.
#[derive(Debug)]
enum WriteOutcome {
    Written,
    Unchanged,
    /// The condition failed; the stored item.
    ConditionFailed(Item),
}

struct Inner {
    tables: Mutex<HashMap<String, Table>>,
    /// Woken on every stream append.
    appended: Notify,
    region: String,
}

/// The embedded DynamoDB and DynamoDB Streams service. Cheap to clone.
#[derive(Clone)]
pub struct EmbeddedTables {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedTables").finish_non_exhaustive()
    }
}

fn key_of(item: &Item) -> BackendResult<String> {
    match item.get(KEY_ATTRIBUTE) {
        Some(AttributeValue::S(k)) if !k.is_empty() => Ok(k.clone()),
        _ => Err(BackendError::Call(
            format!("item has no string {KEY_ATTRIBUTE}").into(),
        )),
    }
}

fn keys(order_id: &str) -> Item {
    Item::from(HashMap::from([(
        KEY_ATTRIBUTE.to_owned(),
        AttributeValue::S(order_id.to_owned()),
    )]))
}

fn approximate_size(item: &Item) -> i64 {
    serde_json::to_string(item).map_or(0, |s| s.len() as i64)
}

impl EmbeddedTables {
    /// An empty service whose ARNs name `region`.
    pub fn new(region: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                tables: Mutex::new(HashMap::new()),
                appended: Notify::new(),
                region: region.to_owned(),
            }),
        }
    }

    fn write(
        &self,
        table: &str,
        order_id: &str,
        new: Option<Item>,
        condition: Condition,
    ) -> BackendResult<WriteOutcome> {
        let mut tables = lock(&self.inner.tables);
        let t = tables
            .get_mut(table)
            .ok_or_else(|| BackendError::NotFound(format!("table {table}")))?;
        let old = t.items.get(order_id).cloned();
        if let (Condition::Absent, Some(existing)) = (condition, &old) {
            return Ok(WriteOutcome::ConditionFailed(existing.clone()));
        }
        if old == new {
            return Ok(WriteOutcome::Unchanged);
        }
        let event_name = match (&old, &new) {
            (None, Some(_)) => "INSERT",
            (Some(_), Some(_)) => "MODIFY",
            (Some(_), None) => "REMOVE",
            (None, None) => return Ok(WriteOutcome::Unchanged),
        };
        match &new {
            Some(item) => t.items.insert(order_id.to_owned(), item.clone()),
            None => t.items.remove(order_id),
        };
        let sequence = format!("{:021}", t.next_sequence);
        t.next_sequence += 1;
        let mut record = EventRecord::default();
        record.aws_region = self.inner.region.clone();
        record.event_id = uuid::Uuid::new_v4().simple().to_string();
        record.event_name = event_name.to_owned();
        record.event_source = Some("aws:dynamodb".to_owned());
        record.event_version = Some("1.1".to_owned());
        record.event_source_arn = Some(t.stream_arn.clone());
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        // Set through serde so this crate needs no direct chrono dependency.
        if let Ok(at) = serde_json::from_value(serde_json::Value::String(now)) {
            record.change.approximate_creation_date_time = at;
        }
        record.change.keys = keys(order_id);
        record.change.size_bytes = new.as_ref().or(old.as_ref()).map_or(0, approximate_size);
        record.change.new_image = new.unwrap_or_default();
        record.change.old_image = old.unwrap_or_default();
        record.change.sequence_number = Some(sequence);
        record.change.stream_view_type = Some(StreamViewType::NewAndOldImages);
        t.stream.push(record);
        drop(tables);
        self.inner.appended.notify_waiters();
        Ok(WriteOutcome::Written)
    }

    /// Number of records on a table's stream so far (trimmed ones included).
    pub fn stream_len(&self, table: &str) -> usize {
        lock(&self.inner.tables).get(table).map_or(0, Table::end)
    }

    /// Drops the oldest `records` records of a table's stream, as DynamoDB
    /// does with records older than 24 hours
    /// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html>),
    /// so tests can replay a range whose start is gone.
    pub fn trim_stream(&self, table: &str, records: usize) -> BackendResult<()> {
        let mut tables = lock(&self.inner.tables);
        let t = tables
            .get_mut(table)
            .ok_or_else(|| BackendError::NotFound(format!("table {table}")))?;
        let n = records.min(t.stream.len());
        t.stream.drain(..n);
        t.trimmed += n;
        Ok(())
    }

    fn table_read<T>(&self, table: &str, f: impl FnOnce(&Table) -> T) -> BackendResult<T> {
        let tables = lock(&self.inner.tables);
        let t = tables
            .get(table)
            .ok_or_else(|| BackendError::NotFound(format!("table {table}")))?;
        Ok(f(t))
    }
}

#[async_trait]
impl TableService for EmbeddedTables {
    async fn create_table(&self, table: &str) -> BackendResult<()> {
        let stream_arn = format!(
            "arn:aws:dynamodb:{}:{EMBEDDED_ACCOUNT}:table/{table}/stream/1970-01-01T00:00:00.000",
            self.inner.region
        );
        lock(&self.inner.tables)
            .entry(table.to_owned())
            .or_insert_with(|| Table {
                stream_arn,
                items: HashMap::new(),
                stream: Vec::new(),
                trimmed: 0,
                next_sequence: 100_000_000_000_000_000_001,
            });
        Ok(())
    }

    fn order_store(&self, table: &str) -> Arc<dyn OrderStore> {
        Arc::new(EmbeddedOrderStore {
            tables: self.clone(),
            table: table.to_owned(),
        })
    }

    fn order_reader(&self, table: &str) -> Arc<dyn OrderReader> {
        Arc::new(EmbeddedOrderReader {
            tables: self.clone(),
            table: table.to_owned(),
        })
    }

    async fn get(&self, table: &str, order_id: &str) -> BackendResult<Option<Item>> {
        let tables = lock(&self.inner.tables);
        let t = tables
            .get(table)
            .ok_or_else(|| BackendError::NotFound(format!("table {table}")))?;
        Ok(t.items.get(order_id).cloned())
    }

    async fn put(&self, table: &str, item: Item) -> BackendResult<()> {
        let key = key_of(&item)?;
        self.write(table, &key, Some(item), Condition::None)
            .map(|_| ())
    }

    async fn delete(&self, table: &str, order_id: &str) -> BackendResult<()> {
        self.write(table, order_id, None, Condition::None)
            .map(|_| ())
    }

    async fn open_stream(&self, table: &str) -> BackendResult<Box<dyn StreamReader>> {
        if !lock(&self.inner.tables).contains_key(table) {
            return Err(BackendError::NotFound(format!("table {table}")));
        }
        Ok(Box::new(EmbeddedStreamReader {
            tables: self.clone(),
            table: table.to_owned(),
            position: 0,
        }))
    }

    async fn stream_shards(&self, table: &str) -> BackendResult<Box<dyn StreamShards>> {
        self.table_read(table, |_| ())?;
        Ok(Box::new(EmbeddedStreamShards {
            tables: self.clone(),
            table: table.to_owned(),
        }))
    }
}

#[cfg(test)]
mod tests;
