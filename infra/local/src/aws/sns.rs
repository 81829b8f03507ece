//! [`TopicService`] over the SNS API.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use shared::aws::SnsEventPublisher;
use shared::ports::EventPublisher;

use super::{AwsQueues, backend_error};
use crate::backend::{BackendError, BackendResult, TopicService};

/// SNS over the SDK (with SQS, to find subscribed queues' ARNs and let the
/// topic send to them).
#[derive(Debug, Clone)]
pub struct AwsTopics {
    client: Client,
    sqs: aws_sdk_sqs::Client,
}

impl AwsTopics {
    /// Wraps the clients.
    pub fn new(client: Client, sqs: aws_sdk_sqs::Client) -> Self {
        Self { client, sqs }
    }

    async fn subscribe(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
        filter_policy: Option<&str>,
        raw_delivery: Option<bool>,
    ) -> BackendResult<String> {
        let mut request = self
            .client
            .subscribe()
            .topic_arn(topic_arn)
            .protocol(protocol)
            .endpoint(endpoint)
            .return_subscription_arn(true);
        if let Some(policy) = filter_policy {
            request = request.attributes("FilterPolicy", policy);
        }
        if let Some(raw) = raw_delivery {
            request = request.attributes("RawMessageDelivery", raw.to_string());
        }
        let out = request
            .send()
            .await
            .map_err(|e| backend_error(format!("topic {topic_arn}"), e))?;
        Ok(out.subscription_arn().unwrap_or_default().to_owned())
    }
}

#[async_trait]
impl TopicService for AwsTopics {
    async fn create_topic(&self, name: &str) -> BackendResult<String> {
        // CreateTopic is idempotent: it returns the existing topic's ARN.
        let out = self
            .client
            .create_topic()
            .name(name)
            .send()
            .await
            .map_err(|e| backend_error(format!("topic {name}"), e))?;
        out.topic_arn()
            .map(str::to_owned)
            .ok_or_else(|| BackendError::Call("CreateTopic returned no ARN".into()))
    }

    async fn subscribe_queue(
        &self,
        topic_arn: &str,
        queue_url: &str,
        filter_policy: Option<&str>,
        raw_delivery: bool,
    ) -> BackendResult<String> {
        let queue_arn = AwsQueues::new(self.sqs.clone())
            .queue_arn(queue_url)
            .await?;
        // On a real account the queue must let the topic send to it.
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }],
        });
        self.sqs
            .set_queue_attributes()
            .queue_url(queue_url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .map_err(|e| backend_error(format!("queue {queue_url}"), e))?;
        self.subscribe(
            topic_arn,
            "sqs",
            &queue_arn,
            filter_policy,
            Some(raw_delivery),
        )
        .await
    }

    fn event_publisher(&self, topic_arn: &str) -> Arc<dyn EventPublisher> {
        Arc::new(SnsEventPublisher::new(self.client.clone(), topic_arn))
    }

    async fn subscribe_email(
        &self,
        topic_arn: &str,
        address: &str,
        filter_policy: Option<&str>,
    ) -> BackendResult<String> {
        self.subscribe(topic_arn, "email", address, filter_policy, None)
            .await
    }
}
