//! [`OrderReader`] over the orders table: one strongly consistent `GetItem`
//! per request, mapped back through the one item mapping
//! ([`ItemMapping`](crate::record::ItemMapping)).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use orders_domain::model::{OrderId, OwnerKey};

use super::port_error;
use crate::ports::{OrderReader, PortError};
use crate::record::{ItemMapping, KEY_ATTRIBUTE, StoredOrder, order_key};

/// [`OrderReader`] over the orders table, keyed by [`order_key`].
#[derive(Debug, Clone)]
pub struct DynamoOrderReader {
    client: aws_sdk_dynamodb::Client,
    table_name: String,
}

impl DynamoOrderReader {
    /// Wraps a client and the table's name.
    pub fn new(client: aws_sdk_dynamodb::Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
        }
    }
}

#[async_trait]
impl OrderReader for DynamoOrderReader {
    async fn get(
        &self,
        owner: &OwnerKey,
        order_id: &OrderId,
    ) -> Result<Option<StoredOrder>, PortError> {
        // `ConsistentRead` so a read right after the worker's put sees it: an
        // eventually consistent read may return an earlier state
        // (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html),
        // which here would tell a client "not yet" about a stored order.
        let out = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .key(KEY_ATTRIBUTE, AttributeValue::S(order_key(owner, order_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(port_error)?;
        out.item
            .map(StoredOrder::from_item)
            .transpose()
            // An item the mapping refuses will be refused on every read.
            .map_err(|err| PortError::Permanent(Box::new(err)))
    }
}
