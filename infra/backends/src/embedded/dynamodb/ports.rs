//! The handlers' ports over an embedded table: the worker's conditional put
//! and the status function's read, with the DynamoDB adapters' semantics.

use async_trait::async_trait;
use orders_adapters::ports::{
    OrderReader, OrderStore, PortError, PutOutcome, StoredUnderId, put_outcome_when_taken,
};
use orders_adapters::record::{HASH_ATTRIBUTE, ItemMapping, StoredOrder, order_key};
use orders_domain::model::{OrderId, OwnerKey};
use serde_dynamo::{AttributeValue, Item};

use super::{Condition, EmbeddedTables, WriteOutcome};
use crate::backend::TableService;

/// The worker's port over an embedded table, with `DynamoOrderStore`'s semantics.
pub(super) struct EmbeddedOrderStore {
    pub(super) tables: EmbeddedTables,
    pub(super) table: String,
}

#[async_trait]
impl OrderStore for EmbeddedOrderStore {
    async fn put_if_absent(&self, order: &StoredOrder) -> Result<PutOutcome, PortError> {
        let item: Item = order
            .to_item()
            .map_err(|e| PortError::Permanent(Box::new(e)))?;
        let outcome = self
            .tables
            .write(&self.table, &order.key(), Some(item), Condition::Absent)
            .map_err(|e| PortError::Permanent(Box::new(e)))?;
        match outcome {
            WriteOutcome::Written | WriteOutcome::Unchanged => Ok(PutOutcome::Created),
            WriteOutcome::ConditionFailed(existing) => {
                let stored = match existing.get(HASH_ATTRIBUTE) {
                    Some(AttributeValue::S(hash)) => StoredUnderId::Hash(hash),
                    _ => StoredUnderId::WithoutHash,
                };
                put_outcome_when_taken(stored, &order.content_hash)
            }
        }
    }
}

/// The status function's port over an embedded table, with
/// `DynamoOrderReader`'s semantics: a read sees every write before it (the
/// embedded table has one copy, so every read is strongly consistent).
pub(super) struct EmbeddedOrderReader {
    pub(super) tables: EmbeddedTables,
    pub(super) table: String,
}

#[async_trait]
impl OrderReader for EmbeddedOrderReader {
    async fn get(
        &self,
        owner: &OwnerKey,
        order_id: &OrderId,
    ) -> Result<Option<StoredOrder>, PortError> {
        let item = self
            .tables
            .get(&self.table, &order_key(owner, order_id))
            .await
            .map_err(|e| PortError::Permanent(Box::new(e)))?;
        item.map(StoredOrder::from_item)
            .transpose()
            .map_err(|e| PortError::Permanent(Box::new(e)))
    }
}
