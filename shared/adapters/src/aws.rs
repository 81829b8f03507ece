//! AWS SDK adapters of the ports: SQS FIFO, DynamoDB and SNS.
//!
//! Clients are built once per cold start by the caller and lent to the adapters.
//! Each adapter owns its wire mapping and classifies SDK errors into transient
//! (retry) and permanent (stop) so the handlers never inspect SDK types.

use crate::record::ItemMapping;
use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

use crate::ports::{
    BoxError, CORRELATION_ID_ATTRIBUTE, DeadLetter, DeadLetterQueue, EVENT_TYPE_ATTRIBUTE,
    EventPublisher, OrderQueue, OrderStore, OutgoingOrder, PortError, PutOutcome, QueueError,
    SCHEMA_VERSION_ATTRIBUTE, StoredUnderId, put_outcome_when_taken,
};
use crate::record::{HASH_ATTRIBUTE, KEY_ATTRIBUTE, StoredOrder};
use orders_domain::contract::{ORDER_CREATED_EVENT_TYPE, OrderCreated};

/// Loads the SDK configuration from the environment (region, credentials,
/// `AWS_ENDPOINT_URL`). Resolves nothing over the network: credentials are
/// fetched lazily on the first call.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Error codes AWS services use for throttling and transient faults.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TransactionInProgressException",
    "InternalFailure",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "KMSThrottlingException",
    // SNS names KMS throttling without the suffix:
    // https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors
    "KMSThrottling",
];

/// Whether an AWS error code names a throttling or transient fault.
pub fn is_transient_code(code: &str) -> bool {
    TRANSIENT_CODES.contains(&code)
}

/// Whether an SDK error may pass on retry: transport failures, timeouts,
/// throttling and 5xx responses are transient; everything else is permanent.
pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => {
            ctx.raw().status().is_server_error() || ctx.err().code().is_some_and(is_transient_code)
        }
        _ => false,
    }
}

fn port_error<E>(err: SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_transient(&err) {
        PortError::Transient(Box::new(err))
    } else {
        PortError::Permanent(Box::new(err))
    }
}

/// [`OrderQueue`] over an SQS FIFO queue.
#[derive(Debug, Clone)]
pub struct SqsOrderQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsOrderQueue {
    /// Wraps a client and the queue's URL.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

fn sqs_string_attribute(
    value: &str,
) -> Result<aws_sdk_sqs::types::MessageAttributeValue, BoxError> {
    Ok(aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()?)
}

#[async_trait]
impl OrderQueue for SqsOrderQueue {
    async fn enqueue(&self, order: &OutgoingOrder) -> Result<(), QueueError> {
        let correlation = sqs_string_attribute(order.message.correlation_id.as_str())
            .map_err(QueueError::Rejected)?;
        let result = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(order.message.to_body())
            .message_group_id(&order.group_id)
            .message_deduplication_id(&order.dedup_id)
            .message_attributes(CORRELATION_ID_ATTRIBUTE, correlation)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_transient(&err) => Err(QueueError::Unavailable(Box::new(err))),
            Err(err) => Err(QueueError::Rejected(Box::new(err))),
        }
    }
}

/// [`DeadLetterQueue`] over an SQS queue (FIFO or standard).
#[derive(Debug, Clone)]
pub struct SqsDeadLetterQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetterQueue {
    /// Wraps a client and the dead-letter queue's URL.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl DeadLetterQueue for SqsDeadLetterQueue {
    async fn send(&self, letter: &DeadLetter) -> Result<(), PortError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&letter.body)
            .set_message_group_id(letter.group_id.clone())
            .set_message_deduplication_id(letter.dedup_id.clone());
        for (name, value) in &letter.attributes {
            let value = sqs_string_attribute(value).map_err(PortError::Permanent)?;
            request = request.message_attributes(*name, value);
        }
        request.send().await.map_err(port_error)?;
        Ok(())
    }
}

/// [`OrderStore`] over a DynamoDB table keyed by `orderId`.
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

    /// Reads what is stored under an id with a strongly consistent read;
    /// used when the failed condition did not return the old item.
    async fn stored_under(
        &self,
        order_id: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .key(KEY_ATTRIBUTE, AttributeValue::S(order_id.to_owned()))
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
            None => self.stored_under(order.order_id.as_str()).await?,
        };
        put_outcome_when_taken(stored_state(stored.as_ref()), &order.content_hash)
    }
}

/// [`EventPublisher`] over an SNS topic, with one rendering per protocol.
#[derive(Debug, Clone)]
pub struct SnsEventPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsEventPublisher {
    /// Wraps a client and the topic's ARN.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

/// The `MessageStructure=json` body: readable text for e-mail, the JSON event
/// for every machine protocol.
pub fn sns_message_structure(event: &OrderCreated) -> String {
    let json = event.to_json();
    serde_json::json!({
        "default": json,
        "email": event.email_text(),
        "email-json": json,
        "sqs": json,
        "http": json,
        "https": json,
        "lambda": json,
        "firehose": json,
    })
    .to_string()
}

fn sns_string_attribute(
    value: &str,
) -> Result<aws_sdk_sns::types::MessageAttributeValue, PortError> {
    aws_sdk_sns::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| PortError::Permanent(Box::new(e)))
}

#[async_trait]
impl EventPublisher for SnsEventPublisher {
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message_structure("json")
            .message(sns_message_structure(event))
            .subject(event.email_subject())
            .message_attributes(
                EVENT_TYPE_ATTRIBUTE,
                sns_string_attribute(ORDER_CREATED_EVENT_TYPE)?,
            )
            .message_attributes(
                SCHEMA_VERSION_ATTRIBUTE,
                sns_string_attribute(&event.schema_version.to_string())?,
            )
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_snss_kms_throttling_code_then_it_is_transient_and_refusals_are_not() {
        // SNS answers `KMSThrottling` (no suffix); it used to be classified
        // permanent, which now means "dead-letter at once".
        for code in ["KMSThrottling", "KMSThrottlingException", "Throttling"] {
            assert!(is_transient_code(code), "{code}");
        }
        for code in [
            "KMSAccessDenied",
            "KMSDisabled",
            "AuthorizationError",
            "NotFound",
        ] {
            assert!(!is_transient_code(code), "{code}");
        }
    }
}
