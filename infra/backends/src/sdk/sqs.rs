//! [`QueueService`] over the SQS API.
//!
//! Creating is idempotent, so a restarted runner reuses its queues:
//! "If you provide the name of an existing queue along with the exact names
//! and values of all the queue's attributes, `CreateQueue` returns the queue
//! URL for the existing queue", and answers `QueueNameExists` "only if the
//! request includes attributes whose values differ from those of the
//! existing queue"
//! (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html>).
//! A queue whose attributes differ (a run with another `--time-scale`) is
//! reused too, its attributes set to this run's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use orders_adapters::aws::SqsOrderQueue;
use orders_adapters::ports::{DeadLetterQueue, OrderQueue, VisibilityDelay};

use super::backend_error;
use crate::backend::{
    BackendError, BackendResult, QueueDepth, QueueService, QueueSpec, ReceivedMessage, SendMessage,
};

/// SQS over the SDK.
#[derive(Debug, Clone)]
pub struct AwsQueues {
    client: Client,
}

/// The error codes of `CreateQueue` for a name taken with other attributes
/// (`QueueNameExists` in the API reference, `QueueAlreadyExists` as moto
/// answers it).
const QUEUE_EXISTS_CODES: &[&str] = &[
    "QueueNameExists",
    "QueueAlreadyExists",
    "AWS.SimpleQueueService.QueueNameExists",
];

/// SQS takes whole seconds; a scaled sub-second timeout rounds up, never to 0.
fn whole_seconds(d: Duration) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs.max(1)).unwrap_or(i32::MAX)
}

impl AwsQueues {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The queue's ARN, as SQS reports it.
    pub async fn queue_arn(&self, queue_url: &str) -> BackendResult<String> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| backend_error(format!("queue {queue_url}"), e))?;
        out.attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| BackendError::Call("GetQueueAttributes returned no QueueArn".into()))
    }
}

#[async_trait]
impl QueueService for AwsQueues {
    async fn create_queue(&self, spec: &QueueSpec) -> BackendResult<String> {
        // The attributes that may change on an existing queue (FifoQueue may not).
        let mut mutable = HashMap::from([(
            QueueAttributeName::VisibilityTimeout,
            whole_seconds(spec.visibility_timeout).to_string(),
        )]);
        if let Some(redrive) = &spec.redrive {
            let policy = serde_json::json!({
                "deadLetterTargetArn": self.queue_arn(&redrive.dlq_url).await?,
                "maxReceiveCount": redrive.max_receive_count,
            });
            mutable.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let mut attributes = mutable.clone();
        if spec.fifo {
            attributes.insert(QueueAttributeName::FifoQueue, "true".to_owned());
        }
        // CreateQueue returns the existing queue's URL when the attributes match.
        let created = self
            .client
            .create_queue()
            .queue_name(&spec.name)
            .set_attributes(Some(attributes))
            .send()
            .await;
        let url = match created {
            Ok(out) => out.queue_url().map(str::to_owned),
            Err(e) if e.code().is_some_and(|c| QUEUE_EXISTS_CODES.contains(&c)) => {
                let url = self
                    .client
                    .get_queue_url()
                    .queue_name(&spec.name)
                    .send()
                    .await
                    .map_err(|e| backend_error(format!("queue {}", spec.name), e))?
                    .queue_url()
                    .map(str::to_owned)
                    .ok_or_else(|| BackendError::Call("GetQueueUrl returned no URL".into()))?;
                tracing::info!(
                    queue = %spec.name,
                    "queue exists with other attributes: reusing it with this run's"
                );
                self.client
                    .set_queue_attributes()
                    .queue_url(&url)
                    .set_attributes(Some(mutable))
                    .send()
                    .await
                    .map_err(|e| backend_error(format!("queue {url}"), e))?;
                Some(url)
            }
            Err(e) => return Err(backend_error(format!("queue {}", spec.name), e)),
        };
        url.ok_or_else(|| BackendError::Call("CreateQueue returned no URL".into()))
    }

    async fn send(&self, queue_url: &str, message: &SendMessage) -> BackendResult<String> {
        let mut request = self
            .client
            .send_message()
            .queue_url(queue_url)
            .message_body(&message.body)
            .set_message_group_id(message.group_id.clone())
            .set_message_deduplication_id(message.dedup_id.clone());
        for (name, value) in &message.message_attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| BackendError::Call(Box::new(e)))?;
            request = request.message_attributes(name, value);
        }
        if let Some(trace_header) = &message.trace_header {
            // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
            let value = aws_sdk_sqs::types::MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(trace_header)
                .build()
                .map_err(|e| BackendError::Call(Box::new(e)))?;
            request = request.message_system_attributes(
                aws_sdk_sqs::types::MessageSystemAttributeNameForSends::AwsTraceHeader,
                value,
            );
        }
        let out = request
            .send()
            .await
            .map_err(|e| backend_error(format!("queue {queue_url}"), e))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }

    async fn receive(
        &self,
        queue_url: &str,
        max: usize,
        wait: Duration,
    ) -> BackendResult<Vec<ReceivedMessage>> {
        let out = self
            .client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .wait_time_seconds(i32::try_from(wait.as_secs().min(20)).unwrap_or(20))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| backend_error(format!("queue {queue_url}"), e))?;
        Ok(out
            .messages()
            .iter()
            .map(|m| ReceivedMessage {
                message_id: m.message_id().unwrap_or_default().to_owned(),
                receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
                body: m.body().unwrap_or_default().to_owned(),
                attributes: m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
                message_attributes: m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .filter_map(|(k, v)| {
                                v.string_value().map(|s| (k.clone(), s.to_owned()))
                            })
                            .collect::<HashMap<_, _>>()
                    })
                    .unwrap_or_default(),
            })
            .collect())
    }

    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> BackendResult<()> {
        self.client
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| backend_error(format!("receipt handle on {queue_url}"), e))?;
        Ok(())
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> BackendResult<()> {
        // Zero is meaningful here (visible now), so no rounding up to 1.
        let secs = i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX);
        self.client
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(|e| backend_error(format!("receipt handle on {queue_url}"), e))?;
        Ok(())
    }

    async fn depth(&self, queue_url: &str) -> BackendResult<QueueDepth> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| backend_error(format!("queue {queue_url}"), e))?;
        let count = |name: &QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(QueueDepth {
            visible: count(&QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        })
    }

    fn order_queue(&self, queue_url: &str) -> Arc<dyn OrderQueue> {
        Arc::new(SqsOrderQueue::new(self.client.clone(), queue_url))
    }

    fn dead_letter_queue(&self, queue_url: &str) -> Arc<dyn DeadLetterQueue> {
        Arc::new(orders_adapters::aws::SqsDeadLetterQueue::new(
            self.client.clone(),
            queue_url,
        ))
    }

    fn visibility_delay(&self, queue_url: &str) -> Arc<dyn VisibilityDelay> {
        Arc::new(orders_adapters::aws::SqsVisibilityDelay::new(
            self.client.clone(),
            queue_url,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_timeouts_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1200)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(10)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(60)), 60);
    }
}
