//! [`OrderQueue`] over the SQS FIFO orders queue: one `SendMessage` per
//! order, with its message group, deduplication id, correlation id and X-Ray
//! trace header.

use async_trait::async_trait;

use super::is_transient;
use crate::ports::{BoxError, CORRELATION_ID_ATTRIBUTE, OrderQueue, OutgoingOrder, QueueError};

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

/// An SQS message attribute of type `String`, as both SQS adapters send them.
pub(super) fn sqs_string_attribute(
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
