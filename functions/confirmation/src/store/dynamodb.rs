//! [`ConfirmationStore`] over the orders table: a strongly consistent
//! `GetItem`, and conditional `UpdateItem` calls that write only the
//! confirmation's attributes (the role's IAM condition on
//! `dynamodb:Attributes` allows no others) and ask for no return values.
//!
//! Each condition is [`may_claim`] or [`holds`] as a condition expression
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html>);
//! a failed condition (`ConditionalCheckFailedException`) is
//! [`Written::Refused`], never an error. An update's `MODIFY` stream record
//! reaches no one: the notifier's mapping passes `INSERT` records only.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use orders_adapters::record::{ItemMapping, KEY_ATTRIBUTE, StoredOrder};
use orders_domain::confirmation::{
    CLAIM_TOKEN_ATTRIBUTE, CLAIM_UNTIL_ATTRIBUTE, FAILED_ATTRIBUTE, MESSAGE_ID_ATTRIBUTE,
    SENT_AT_ATTRIBUTE,
};
use time::format_description::well_known::Rfc3339;

use super::*;

/// [`ConfirmationStore`] over the orders table.
#[derive(Debug, Clone)]
pub struct DynamoConfirmationStore {
    client: aws_sdk_dynamodb::Client,
    table_name: String,
}

impl DynamoConfirmationStore {
    /// Wraps a client and the orders table's name.
    pub fn new(client: aws_sdk_dynamodb::Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
        }
    }

    /// An `UpdateItem` of the item under `key`, with the two attribute
    /// names every expression here uses (DynamoDB refuses a name no
    /// expression uses).
    fn update(&self, key: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table_name)
            .key(KEY_ATTRIBUTE, AttributeValue::S(key.to_owned()))
            .expression_attribute_names("#claim", CLAIM_TOKEN_ATTRIBUTE)
            .expression_attribute_names("#until", CLAIM_UNTIL_ATTRIBUTE)
    }
}

/// Sends an update; a failed condition is [`Written::Refused`].
async fn written(update: UpdateItemFluentBuilder) -> Result<Written, PortError> {
    match update.send().await {
        Ok(_) => Ok(Written::Done),
        Err(SdkError::ServiceError(ctx)) if ctx.err().is_conditional_check_failed_exception() => {
            Ok(Written::Refused)
        }
        Err(err) => Err(port_error(err)),
    }
}

fn port_error<E>(err: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> PortError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if orders_adapters::aws::is_transient(&err) {
        PortError::Transient(Box::new(err))
    } else {
        PortError::Permanent(Box::new(err))
    }
}

/// The claim's token, with the condition that the item holds it.
const HOLDS: &str = "#claim = :token";

#[async_trait]
impl ConfirmationStore for DynamoConfirmationStore {
    async fn order(&self, key: &str) -> Result<Option<OrderToConfirm>, PortError> {
        // Strongly consistent, so the marks a moment ago are seen
        // (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html).
        let out = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .key(KEY_ATTRIBUTE, AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(port_error)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        // An item the mapping refuses will be refused on every read.
        let order =
            StoredOrder::from_item(item).map_err(|err| PortError::Permanent(Box::new(err)))?;
        let marks = order.confirmation.clone();
        Ok(Some(OrderToConfirm { order, marks }))
    }

    async fn claim(&self, key: &str, claim: &Claim, now: i64) -> Result<Written, PortError> {
        written(
            self.update(key)
                .expression_attribute_names("#key", KEY_ATTRIBUTE)
                .expression_attribute_names("#sent", SENT_AT_ATTRIBUTE)
                .expression_attribute_names("#failed", FAILED_ATTRIBUTE)
                .condition_expression(
                    "attribute_exists(#key) AND attribute_not_exists(#sent) \
                     AND attribute_not_exists(#failed) \
                     AND (attribute_not_exists(#until) OR #until <= :now)",
                )
                .update_expression("SET #claim = :token, #until = :until")
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .expression_attribute_values(":token", AttributeValue::S(claim.token.clone()))
                .expression_attribute_values(":until", AttributeValue::N(claim.until.to_string())),
        )
        .await
    }

    async fn mark_sent(
        &self,
        key: &str,
        claim: &Claim,
        sent_at: OffsetDateTime,
        message_id: &str,
    ) -> Result<Written, PortError> {
        let at = sent_at
            .format(&Rfc3339)
            .map_err(|err| PortError::Permanent(Box::new(err)))?;
        written(
            self.update(key)
                .expression_attribute_names("#sent", SENT_AT_ATTRIBUTE)
                .expression_attribute_names("#mid", MESSAGE_ID_ATTRIBUTE)
                .condition_expression(HOLDS)
                .update_expression("SET #sent = :at, #mid = :mid REMOVE #claim, #until")
                .expression_attribute_values(":token", AttributeValue::S(claim.token.clone()))
                .expression_attribute_values(":at", AttributeValue::S(at))
                .expression_attribute_values(":mid", AttributeValue::S(message_id.to_owned())),
        )
        .await
    }

    async fn mark_failed(
        &self,
        key: &str,
        claim: &Claim,
        reason: RefusalCode,
    ) -> Result<Written, PortError> {
        written(
            self.update(key)
                .expression_attribute_names("#failed", FAILED_ATTRIBUTE)
                .condition_expression(HOLDS)
                .update_expression("SET #failed = :reason REMOVE #claim, #until")
                .expression_attribute_values(":token", AttributeValue::S(claim.token.clone()))
                .expression_attribute_values(
                    ":reason",
                    AttributeValue::S(reason.as_str().to_owned()),
                ),
        )
        .await
    }

    async fn release(&self, key: &str, claim: &Claim) -> Result<Written, PortError> {
        written(
            self.update(key)
                .condition_expression(HOLDS)
                .update_expression("REMOVE #claim, #until")
                .expression_attribute_values(":token", AttributeValue::S(claim.token.clone())),
        )
        .await
    }
}
