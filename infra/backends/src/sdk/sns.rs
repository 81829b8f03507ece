//! [`TopicService`] over the SNS API.
//!
//! Creating is idempotent, so a restarted runner reuses its topic and its
//! subscriptions instead of adding one per start (each would deliver every
//! event once more). `CreateTopic` returns the existing topic's ARN
//! (<https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html>). For
//! subscriptions we do not rely on `Subscribe` itself: AWS refuses a repeat
//! whose attributes differ ("Invalid parameter: Attributes Reason:
//! Subscription already exists with different attributes", as reported in
//! <https://github.com/localstack/localstack/issues/8816>), and repeating a
//! pending e-mail subscription may mail the recipient another confirmation.
//! So the topic's subscriptions are listed
//! first (`ListSubscriptionsByTopic`, "up to 100" per call, then
//! `NextToken`,
//! <https://docs.aws.amazon.com/sns/latest/api/API_ListSubscriptionsByTopic.html>);
//! one with the same protocol and endpoint is reused, its filter policy and
//! raw delivery set to this run's when it is confirmed.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use orders_adapters::aws::SnsEventPublisher;
use orders_adapters::ports::EventPublisher;

use super::{AwsQueues, backend_error};
use crate::backend::{
    BackendError, BackendResult, SubscriptionEndpoint, SubscriptionSpec, TextMessage, TopicService,
};

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

    /// The ARN of the topic's subscription with this protocol and endpoint
    /// (`PendingConfirmation` for one not yet confirmed), if there is one.
    async fn existing_subscription(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
    ) -> BackendResult<Option<String>> {
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .list_subscriptions_by_topic()
                .topic_arn(topic_arn)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| backend_error(format!("topic {topic_arn}"), e))?;
            let found = page
                .subscriptions()
                .iter()
                .find(|s| s.protocol() == Some(protocol) && s.endpoint() == Some(endpoint));
            if let Some(subscription) = found {
                return Ok(Some(
                    subscription
                        .subscription_arn()
                        .unwrap_or_default()
                        .to_owned(),
                ));
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => return Ok(None),
            }
        }
    }

    /// Sets the queue's policy to let the topic send to it, as a real account
    /// requires of a subscribed queue and of a subscription's dead-letter
    /// queue (<https://docs.aws.amazon.com/sns/latest/dg/sns-configure-dead-letter-queue.html>).
    /// Returns the queue's ARN.
    async fn allow_topic_to_send(&self, topic_arn: &str, queue_url: &str) -> BackendResult<String> {
        let queue_arn = AwsQueues::new(self.sqs.clone())
            .queue_arn(queue_url)
            .await?;
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
        Ok(queue_arn)
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

    /// Subscribes the endpoint unless the topic already has that
    /// subscription, whose attributes are then brought up to date (see the
    /// module's documentation). A queue's policy is set to let the topic
    /// send to it first.
    async fn subscribe(&self, topic_arn: &str, spec: &SubscriptionSpec) -> BackendResult<String> {
        let (protocol, endpoint) = match &spec.endpoint {
            SubscriptionEndpoint::Queue { url, .. } => {
                ("sqs", self.allow_topic_to_send(topic_arn, url).await?)
            }
            SubscriptionEndpoint::Email { address } => ("email", address.clone()),
        };
        let attributes = spec.attributes();
        if let Some(arn) = self
            .existing_subscription(topic_arn, protocol, &endpoint)
            .await?
        {
            // A pending subscription has no ARN to set attributes on yet.
            if arn.starts_with("arn:") {
                for (name, value) in attributes {
                    self.client
                        .set_subscription_attributes()
                        .subscription_arn(&arn)
                        .attribute_name(name)
                        .attribute_value(value)
                        .send()
                        .await
                        .map_err(|e| backend_error(format!("subscription {arn}"), e))?;
                }
            }
            tracing::info!(protocol, subscription_arn = %arn, "reusing the topic's subscription");
            return Ok(arn);
        }
        let out = self
            .client
            .subscribe()
            .topic_arn(topic_arn)
            .protocol(protocol)
            .endpoint(endpoint)
            .set_attributes((!attributes.is_empty()).then(|| {
                attributes
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect()
            }))
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| backend_error(format!("topic {topic_arn}"), e))?;
        Ok(out.subscription_arn().unwrap_or_default().to_owned())
    }

    fn event_publisher(&self, topic_arn: &str) -> Arc<dyn EventPublisher> {
        Arc::new(SnsEventPublisher::new(self.client.clone(), topic_arn))
    }

    async fn publish_text(&self, topic_arn: &str, message: &TextMessage) -> BackendResult<String> {
        let mut attributes = HashMap::with_capacity(message.attributes.len());
        for (name, value) in &message.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| BackendError::Call(Box::new(e)))?;
            attributes.insert(name.clone(), value);
        }
        let out = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .message(&message.message)
            .set_subject(message.subject.clone())
            .set_message_attributes((!attributes.is_empty()).then_some(attributes))
            .send()
            .await
            .map_err(|e| backend_error(format!("topic {topic_arn}"), e))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }

    async fn set_dead_letter_queue(
        &self,
        subscription_arn: &str,
        dlq_url: &str,
    ) -> BackendResult<()> {
        // A subscription ARN is its topic's ARN and an id.
        let topic_arn = subscription_arn
            .rsplit_once(':')
            .map_or(subscription_arn, |(topic, _)| topic);
        let dlq_arn = self.allow_topic_to_send(topic_arn, dlq_url).await?;
        let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn });
        self.client
            .set_subscription_attributes()
            .subscription_arn(subscription_arn)
            .attribute_name("RedrivePolicy")
            .attribute_value(redrive.to_string())
            .send()
            .await
            .map_err(|e| backend_error(format!("subscription {subscription_arn}"), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_each_subscription_then_its_attributes_are_what_subscribe_and_its_update_set() {
        let policy = r#"{"eventType":["OrderCreated"]}"#;
        assert_eq!(
            SubscriptionSpec::queue("https://sqs.test/1/q", Some(policy), true).attributes(),
            [
                ("FilterPolicy", policy.to_owned()),
                ("RawMessageDelivery", "true".to_owned())
            ]
        );
        assert_eq!(
            SubscriptionSpec::queue("https://sqs.test/1/q", None, false).attributes(),
            [("RawMessageDelivery", "false".to_owned())]
        );
        assert_eq!(
            SubscriptionSpec::email("ops@example.com", Some(policy)).attributes(),
            [("FilterPolicy", policy.to_owned())]
        );
        assert!(
            SubscriptionSpec::email("ops@example.com", None)
                .attributes()
                .is_empty()
        );
    }
}
