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

mod order_reader;
pub use order_reader::DynamoOrderReader;

mod lambda;
pub use lambda::{WARM_UP_TIMEOUT, lambda_sdk_config, warm_up_queue, warm_up_table, warm_up_topic};

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
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(order.message.to_body())
            .message_group_id(&order.group_id)
            .message_deduplication_id(&order.dedup_id)
            .message_attributes(CORRELATION_ID_ATTRIBUTE, correlation);
        if let Some(trace_header) = &order.trace_header {
            // A system attribute, not a message attribute: it does not count
            // against the 10 message attributes and Lambda passes it on as
            // `attributes.AWSTraceHeader`.
            // https://docs.aws.amazon.com/xray/latest/devguide/xray-services-sqs.html
            let value = aws_sdk_sqs::types::MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(trace_header)
                .build()
                .map_err(|e| QueueError::Rejected(Box::new(e)))?;
            request = request.message_system_attributes(
                aws_sdk_sqs::types::MessageSystemAttributeNameForSends::AwsTraceHeader,
                value,
            );
        }
        let result = request.send().await;
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

/// The message attributes every OrderCreated carries: what consumers'
/// subscription filter policies match on.
///
/// The message is published with the default `String` structure, never
/// `MessageStructure=json`: "Message attributes are sent only when the
/// message structure is String, not JSON"
/// (<https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html>),
/// so a JSON-structured event would reach raw-delivery queues without them
/// and attribute filter policies would have nothing to match. Two attributes,
/// well inside the ten that raw delivery to SQS accepts.
pub fn order_created_attributes(event: &OrderCreated) -> [(&'static str, String); 2] {
    [
        (EVENT_TYPE_ATTRIBUTE, ORDER_CREATED_EVENT_TYPE.to_owned()),
        (SCHEMA_VERSION_ATTRIBUTE, event.schema_version.to_string()),
    ]
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

/// What one event becomes on the topic: the same for `Publish` and for a
/// `PublishBatch` entry. The body is the event's JSON, the same bytes every
/// protocol receives; events carry no subject (nothing reads them as mail).
struct SnsEntry {
    message: String,
    attributes: [(&'static str, String); 2],
}

impl SnsEntry {
    fn new(event: &OrderCreated) -> Self {
        Self {
            message: event.to_json(),
            attributes: order_created_attributes(event),
        }
    }

    /// Bytes this entry adds to a batch: the message and the attributes'
    /// names, types and values (SNS counts "each message's body and
    /// attributes" towards the batch total,
    /// <https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html>).
    fn size(&self) -> usize {
        self.message.len()
            + self
                .attributes
                .iter()
                .map(|(name, value)| name.len() + "String".len() + value.len())
                .sum::<usize>()
    }

    fn attribute_values(
        &self,
    ) -> Result<HashMap<String, aws_sdk_sns::types::MessageAttributeValue>, PortError> {
        self.attributes
            .iter()
            .map(|(name, value)| Ok(((*name).to_owned(), sns_string_attribute(value)?)))
            .collect()
    }

    fn batch_entry(
        &self,
        id: usize,
    ) -> Result<aws_sdk_sns::types::PublishBatchRequestEntry, PortError> {
        aws_sdk_sns::types::PublishBatchRequestEntry::builder()
            .id(id.to_string())
            .message(&self.message)
            .set_message_attributes(Some(self.attribute_values()?))
            .build()
            .map_err(|e| PortError::Permanent(Box::new(e)))
    }
}

/// The size [`SnsEventPublisher`] counts for one event in a `PublishBatch`
/// call, so fakes and emulators pack batches the same way.
pub fn sns_entry_size(event: &OrderCreated) -> usize {
    SnsEntry::new(event).size()
}

/// One entry of a `PublishBatch` call failed (`BatchResultErrorEntry`).
#[derive(Debug, thiserror::Error)]
#[error("SNS refused the batch entry: {code} (sender fault: {sender_fault})")]
pub struct BatchEntryError {
    /// The error code SNS gave the entry.
    pub code: String,
    /// Whether the request was at fault (`SenderFault`).
    pub sender_fault: bool,
}

impl BatchEntryError {
    /// A fault on the service's side (`SenderFault: false`) or a throttling
    /// code may pass on retry; a sender fault will not
    /// (<https://docs.aws.amazon.com/sns/latest/api/API_BatchResultErrorEntry.html>).
    pub fn into_port_error(self) -> PortError {
        if !self.sender_fault || is_transient_code(&self.code) {
            PortError::Transient(Box::new(self))
        } else {
            PortError::Permanent(Box::new(self))
        }
    }
}

/// An entry of a `PublishBatch` call that did not get its own answer.
#[derive(Debug, thiserror::Error)]
pub enum BatchCallError {
    /// The call as a whole failed; the error is reported on the call's first
    /// entry, and this one shares its class.
    #[error("the PublishBatch call carrying this entry failed as a whole")]
    CallFailed,
    /// The response listed the entry neither as successful nor as failed:
    /// it may or may not have been published, so it is retried.
    #[error("the PublishBatch response did not mention this entry")]
    NoAnswer,
}

impl SnsEventPublisher {
    /// One `PublishBatch` call for `entries` (at most ten, ids `0..n`);
    /// one result per entry, in order.
    async fn publish_batch_call(&self, entries: &[SnsEntry]) -> Vec<crate::ports::EntryResult> {
        let mut request = self.client.publish_batch().topic_arn(&self.topic_arn);
        for (id, entry) in entries.iter().enumerate() {
            match entry.batch_entry(id) {
                Ok(entry) => request = request.publish_batch_request_entries(entry),
                Err(err) => return whole_call_failed(entries.len(), err),
            }
        }
        let output = match request.send().await {
            Ok(output) => output,
            Err(err) => return whole_call_failed(entries.len(), port_error(err)),
        };
        let mut results: Vec<Option<crate::ports::EntryResult>> =
            (0..entries.len()).map(|_| None).collect();
        let slot = |id: &str| id.parse::<usize>().ok().filter(|i| *i < entries.len());
        for ok in output.successful() {
            if let Some(index) = ok.id().and_then(slot) {
                results[index] = Some(Ok(()));
            }
        }
        for failed in output.failed() {
            if let Some(index) = slot(failed.id()) {
                let error = BatchEntryError {
                    code: failed.code().to_owned(),
                    sender_fault: failed.sender_fault(),
                };
                results[index] = Some(Err(error.into_port_error()));
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(PortError::Transient(Box::new(BatchCallError::NoAnswer))))
            })
            .collect()
    }
}

/// Every entry of a call that failed as a whole: the first carries the error,
/// the others the same class.
fn whole_call_failed(entries: usize, err: PortError) -> Vec<crate::ports::EntryResult> {
    let transient = err.is_transient();
    let mut results = vec![Err(err)];
    results.extend((1..entries).map(|_| {
        let source = Box::new(BatchCallError::CallFailed);
        Err(if transient {
            PortError::Transient(source)
        } else {
            PortError::Permanent(source)
        })
    }));
    results.truncate(entries);
    results
}

#[async_trait]
impl EventPublisher for SnsEventPublisher {
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError> {
        let entry = SnsEntry::new(event);
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .set_message_attributes(Some(entry.attribute_values()?))
            .message(entry.message)
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }

    /// `PublishBatch`, up to ten entries and 256 KiB per call
    /// ([`crate::ports::publish_batch_ranges`]); each entry's result is read
    /// from the response's `Successful` and `Failed` lists, since a call that
    /// answers `200` may still have failed some entries
    /// (<https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html>).
    /// Calls go one after another, so a caller's checkpoint logic sees the
    /// results in the order of `events`.
    async fn publish_batch(&self, events: &[OrderCreated]) -> Vec<crate::ports::EntryResult> {
        let entries: Vec<SnsEntry> = events.iter().map(SnsEntry::new).collect();
        let sizes: Vec<usize> = entries.iter().map(SnsEntry::size).collect();
        let mut results = Vec::with_capacity(events.len());
        for range in crate::ports::publish_batch_ranges(&sizes) {
            results.extend(self.publish_batch_call(&entries[range]).await);
        }
        results
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
