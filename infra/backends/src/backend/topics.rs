//! Topics: SNS topics, their subscriptions and publishing.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use orders_adapters::ports::EventPublisher;

use super::*;

/// A String-structure message to publish as it is (no `MessageStructure`):
/// every protocol receives `message` unchanged, e-mail with `subject`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextMessage {
    /// The message (plain text, or JSON for machines).
    pub message: String,
    /// `Subject`: the e-mail's subject line (and the envelope's `Subject`).
    pub subject: Option<String>,
    /// String message attributes, delivered and filtered on as SNS does
    /// (at most ten reach a raw-delivery queue).
    pub attributes: HashMap<String, String>,
}

/// Where a subscription delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionEndpoint {
    /// An SQS queue, by URL: SNS's JSON envelope, or with raw delivery the
    /// bare message.
    Queue {
        /// The queue's URL.
        url: String,
        /// `RawMessageDelivery`.
        raw_delivery: bool,
    },
    /// An e-mail address. Embedded: each notification becomes a file in the
    /// outbox. AWS: a real e-mail subscription (pending until the recipient
    /// confirms it).
    Email {
        /// The recipient.
        address: String,
    },
}

/// A subscription to make: where it delivers and what it lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// Where it delivers.
    pub endpoint: SubscriptionEndpoint,
    /// `FilterPolicy`: JSON, on message attributes; `None` lets everything
    /// through.
    pub filter_policy: Option<String>,
}

impl SubscriptionSpec {
    /// A queue subscription.
    pub fn queue(url: &str, filter_policy: Option<&str>, raw_delivery: bool) -> Self {
        Self {
            endpoint: SubscriptionEndpoint::Queue {
                url: url.to_owned(),
                raw_delivery,
            },
            filter_policy: filter_policy.map(str::to_owned),
        }
    }

    /// An e-mail subscription.
    pub fn email(address: &str, filter_policy: Option<&str>) -> Self {
        Self {
            endpoint: SubscriptionEndpoint::Email {
                address: address.to_owned(),
            },
            filter_policy: filter_policy.map(str::to_owned),
        }
    }

    /// The subscription attributes that say so, by their SNS names, as
    /// `Subscribe` and `SetSubscriptionAttributes` take them: `FilterPolicy`
    /// when there is one, `RawMessageDelivery` for a queue
    /// (<https://docs.aws.amazon.com/sns/latest/api/API_SetSubscriptionAttributes.html>).
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut attributes = Vec::new();
        if let Some(policy) = &self.filter_policy {
            attributes.push(("FilterPolicy", policy.clone()));
        }
        if let SubscriptionEndpoint::Queue { raw_delivery, .. } = self.endpoint {
            attributes.push(("RawMessageDelivery", raw_delivery.to_string()));
        }
        attributes
    }
}

/// SNS: the order-events topic and its subscriptions.
#[async_trait]
pub trait TopicService: Send + Sync {
    /// Creates the topic if it does not exist and returns its ARN.
    async fn create_topic(&self, name: &str) -> BackendResult<String>;
    /// Subscribes an endpoint (`Subscribe`). Returns the subscription ARN.
    async fn subscribe(&self, topic_arn: &str, spec: &SubscriptionSpec) -> BackendResult<String>;
    /// Subscribes a queue, with an optional filter policy (JSON, on message
    /// attributes) and raw message delivery on or off. Returns the subscription ARN.
    async fn subscribe_queue(
        &self,
        topic_arn: &str,
        queue_url: &str,
        filter_policy: Option<&str>,
        raw_delivery: bool,
    ) -> BackendResult<String> {
        let spec = SubscriptionSpec::queue(queue_url, filter_policy, raw_delivery);
        self.subscribe(topic_arn, &spec).await
    }
    /// The notifier's port over this topic.
    fn event_publisher(&self, topic_arn: &str) -> Arc<dyn EventPublisher>;

    /// Publishes one String-structure message (`Publish` with `Message`,
    /// optional `Subject` and attributes, no `MessageStructure`), such as a
    /// plain-text e-mail to an admin topic. Returns the message id.
    async fn publish_text(&self, topic_arn: &str, message: &TextMessage) -> BackendResult<String>;

    /// Gives a subscription its own dead-letter queue (`RedrivePolicy`):
    /// what SNS cannot deliver to the endpoint goes there instead of being
    /// dropped (<https://docs.aws.amazon.com/sns/latest/dg/sns-configure-dead-letter-queue.html>).
    /// AWS: the queue's policy is set to let the subscription's topic send.
    async fn set_dead_letter_queue(
        &self,
        subscription_arn: &str,
        dlq_url: &str,
    ) -> BackendResult<()>;

    /// Subscribes an e-mail address, with an optional filter policy (see
    /// [`SubscriptionEndpoint::Email`]). Returns the subscription ARN.
    async fn subscribe_email(
        &self,
        topic_arn: &str,
        address: &str,
        filter_policy: Option<&str>,
    ) -> BackendResult<String> {
        let spec = SubscriptionSpec::email(address, filter_policy);
        self.subscribe(topic_arn, &spec).await
    }

    /// Waits until every notification published so far has been delivered
    /// where this backend delivers after the publish returns (embedded: the
    /// outbox files). AWS: nothing to wait for here, delivery is SNS's.
    async fn delivered(&self) {}

    /// Notifications published but not yet delivered by this process (see
    /// [`TopicService::delivered`]); they are lost if it exits now.
    fn undelivered(&self) -> u64 {
        0
    }

    /// The ARNs of the e-mail subscriptions SNS has suspended (sent more
    /// than ten messages in one second: `PendingConfirmation`, nothing
    /// delivered any more), for the runner to report. Embedded only; on AWS
    /// SNS keeps that state and the default reports none.
    fn suspended_subscriptions(&self) -> Vec<String> {
        Vec::new()
    }
}
