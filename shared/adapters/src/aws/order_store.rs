//! [`OrderStore`] over the orders table: a conditional `PutItem` that never
//! overwrites, and the stored item's hash deciding between duplicate and
//! conflict ([`put_outcome_when_taken`], the rule every store follows).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::port_error;
use crate::ports::{OrderStore, PortError, PutOutcome, StoredUnderId, put_outcome_when_taken};
use crate::record::{HASH_ATTRIBUTE, ItemMapping, KEY_ATTRIBUTE, StoredOrder};

/// [`OrderStore`] over the orders table, keyed by [`order_key`](crate::record::order_key).
#[derive(Debug, Clone)]
pub struct DynamoOrderStore {
    client: aws_sdk_dynamodb::Client,
    table_name: String,
}

impl DynamoOrderStore {
    /// Wraps a client and the table's name.
    pub fn new(client: aws_sdk_dynamodb::Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
        }
    }

    /// Reads what is stored under a key with a strongly consistent read;
    /// used when the failed condition did not return the old item.
    async fn stored_under(
        &self,
        key: String,
    ) -> Result<Option<HashMap<String, AttributeValue>>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .key(KEY_ATTRIBUTE, AttributeValue::S(key))
            .consistent_read(true)
            .projection_expression("#k, #h")
            .expression_attribute_names("#k", KEY_ATTRIBUTE)
            .expression_attribute_names("#h", HASH_ATTRIBUTE)
            .send()
            .await
            .map_err(port_error)?;
        Ok(out.item)
    }
}

/// What an item says it holds, for [`put_outcome_when_taken`].
fn stored_state(item: Option<&HashMap<String, AttributeValue>>) -> StoredUnderId<'_> {
    match item {
        None => StoredUnderId::Absent,
        Some(item) => match item.get(HASH_ATTRIBUTE).and_then(|v| v.as_s().ok()) {
            Some(hash) => StoredUnderId::Hash(hash),
            None => StoredUnderId::WithoutHash,
        },
    }
}

#[async_trait]
impl OrderStore for DynamoOrderStore {
    async fn put_if_absent(&self, order: &StoredOrder) -> Result<PutOutcome, PortError> {
        let item: HashMap<String, AttributeValue> = order
            .to_item()
            .map_err(|e| PortError::Permanent(Box::new(e)))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", KEY_ATTRIBUTE)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(PutOutcome::Created),
            Err(err) => err,
        };
        let returned = match err.as_service_error() {
            Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                failed,
            )) => failed.item().cloned(),
            _ => return Err(port_error(err)),
        };
        let stored = match returned {
            Some(item) => Some(item),
            None => self.stored_under(order.key()).await?,
        };
        put_outcome_when_taken(stored_state(stored.as_ref()), &order.content_hash)
    }
}
