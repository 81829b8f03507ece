//! Embedded SNS: topics with queue and e-mail subscriptions, filter policies
//! and subscription dead-letter queues.
//!
//! A publish is delivered to every subscription whose filter policy matches
//! the delivered message attributes (see [`crate::filter_policy`] for what is
//! supported). With `MessageStructure=json` each protocol gets its own
//! rendering (`sqs`, `email`, falling back to `default`) and no attribute is
//! delivered, as on SNS. Queue subscriptions get the SNS JSON envelope, or
//! the bare message with raw delivery; e-mail subscriptions write one file
//! per notification into the outbox folder (see `outbox`) and log a one-line
//! summary (the file name and subject, never the address or the body).
//!
//! Where AWS's documented rules matter to the pipeline they hold here, each
//! cited where it is enforced and tested in `sns/tests`: a JSON-structured
//! message delivers no attributes and matches no attribute filter policy
//! ([`Publication::delivered_attributes`]); raw delivery drops a message with
//! more than ten attributes ([`MAX_RAW_DELIVERY_ATTRIBUTES`]); an e-mail
//! subscription sent more than ten messages in one second is suspended
//! ([`MAX_EMAILS_PER_SECOND`]). moto follows none of the three. Time comes
//! from a [`Clock`], so the rate rule is tested on a clock moved by hand.
//!
//! The module's parts: `message` (what is published), `subscriptions`
//! (who receives what), `delivery` (to one subscription), `outbox` (the
//! e-mail writer thread), `publisher` (the notifier's port), `clock`.

mod clock;
mod delivery;
mod message;
mod outbox;
mod publisher;
mod subscriptions;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use orders_adapters::ports::EventPublisher;
use orders_adapters::sync::lock;

use crate::arn::EMBEDDED_ACCOUNT;
use crate::backend::{
    BackendError, BackendResult, QueueService, SubscriptionEndpoint, SubscriptionSpec, TextMessage,
    TopicService,
};
use crate::embedded::sqs::EmbeddedQueues;
use crate::filter_policy::FilterPolicy;
use message::Delivery;
use outbox::Outbox;
use publisher::EmbeddedEventPublisher;
use subscriptions::{Endpoint, Subscription};

pub use clock::{Clock, ManualClock, SystemClock};
pub use message::{
    BatchAnswer, BatchEntry, BatchFailure, BatchRefused, MAX_RAW_DELIVERY_ATTRIBUTES, Publication,
};
pub use publisher::publication;
pub use subscriptions::{DeliveryRefused, MAX_EMAILS_PER_SECOND, SubscriptionStatus};

struct Inner {
    queues: EmbeddedQueues,
    outbox: Outbox,
    region: String,
    clock: Arc<dyn Clock>,
    /// Topic ARN → subscriptions.
    topics: Mutex<HashMap<String, Vec<Subscription>>>,
}

/// The embedded SNS service. Cheap to clone.
#[derive(Clone)]
pub struct EmbeddedTopics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedTopics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedTopics")
            .field("outbox", &self.inner.outbox.dir())
            .finish_non_exhaustive()
    }
}

impl EmbeddedTopics {
    /// Topics delivering to `queues` and writing e-mails into `outbox`
    /// (created on the first e-mail), on the wall clock.
    pub fn new(queues: EmbeddedQueues, outbox: PathBuf, region: &str) -> Self {
        Self::with_clock(queues, outbox, region, Arc::new(SystemClock))
    }

    /// The same on `clock` (tests: a [`ManualClock`]).
    pub fn with_clock(
        queues: EmbeddedQueues,
        outbox: PathBuf,
        region: &str,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                queues,
                outbox: Outbox::new(outbox),
                region: region.to_owned(),
                clock,
                topics: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The outbox folder.
    pub fn outbox(&self) -> &Path {
        self.inner.outbox.dir()
    }

    /// Waits until every e-mail published so far is in the outbox (written,
    /// or its failure logged). Tests call it before reading the outbox, and
    /// the runner before it exits so that no accepted e-mail is lost.
    pub async fn delivered(&self) {
        self.inner.outbox.delivered().await;
    }

    /// Outbox files (e-mails, suspension notices) not yet written.
    pub fn undelivered(&self) -> u64 {
        self.inner.outbox.undelivered()
    }

    /// A subscription's state, `None` for an unknown ARN.
    pub fn subscription_status(&self, subscription_arn: &str) -> Option<SubscriptionStatus> {
        lock(&self.inner.topics)
            .values()
            .flatten()
            .find(|s| s.arn == subscription_arn)
            .map(Subscription::status)
    }

    /// The ARNs of every suspended subscription (see [`MAX_EMAILS_PER_SECOND`]).
    pub fn suspended_subscriptions(&self) -> Vec<String> {
        lock(&self.inner.topics)
            .values()
            .flatten()
            .filter(|s| s.status() != SubscriptionStatus::Confirmed)
            .map(|s| s.arn.clone())
            .collect()
    }

    fn add_subscription(
        &self,
        topic_arn: &str,
        endpoint: Endpoint,
        filter_policy: Option<&str>,
    ) -> BackendResult<String> {
        let filter = filter_policy
            .map(FilterPolicy::parse)
            .transpose()
            .map_err(|e| BackendError::Call(Box::new(e)))?;
        let mut topics = lock(&self.inner.topics);
        let subs = topics
            .get_mut(topic_arn)
            .ok_or_else(|| BackendError::NotFound(format!("topic {topic_arn}")))?;
        let arn = format!("{topic_arn}:{}", uuid::Uuid::new_v4());
        subs.push(Subscription {
            arn: arn.clone(),
            endpoint,
            filter,
            dead_letter_queue: None,
        });
        Ok(arn)
    }

    /// Publishes one message; returns its message id. Deliveries that fail are
    /// logged (or sent to the subscription's dead-letter queue), as SNS would
    /// retry and then drop them; the publish still succeeds.
    pub async fn publish(
        &self,
        topic_arn: &str,
        publication: &Publication,
    ) -> BackendResult<String> {
        let subs = lock(&self.inner.topics)
            .get(topic_arn)
            .cloned()
            .ok_or_else(|| BackendError::NotFound(format!("topic {topic_arn}")))?;
        // Validate the structure up front: SNS refuses a bad one at publish time.
        publication.rendering("default")?;
        let message_id = uuid::Uuid::new_v4().to_string();
        let delivery = Delivery {
            topic_arn,
            message_id: &message_id,
            now: self.inner.clock.now(),
            publication,
        };
        for sub in subs.iter().filter(|s| s.accepts(publication)) {
            let delivered = match &sub.endpoint {
                Endpoint::Queue { url, raw } => {
                    self.deliver_to_queue(&delivery, sub, url, *raw).await
                }
                Endpoint::Email { address, rate } => {
                    let admission = lock(rate).admit(delivery.now);
                    self.deliver_email(&delivery, sub, admission, address)
                }
            };
            if let Err(err) = delivered {
                tracing::error!(subscription = %sub.arn, error = &err as &dyn std::error::Error, "SNS delivery failed");
            }
        }
        Ok(message_id)
    }

    /// `PublishBatch`, as SNS answers it
    /// (<https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html>):
    /// the call is refused as a whole when it is empty, has more than ten
    /// entries, repeats or misspells an entry id, carries more than 256 KiB
    /// in all, or (FIFO topic) lacks a group id; otherwise each entry is
    /// published or failed on its own, and the answer lists both.
    pub async fn publish_batch(
        &self,
        topic_arn: &str,
        entries: &[BatchEntry],
    ) -> BackendResult<BatchAnswer> {
        if let Some(refusal) = message::batch_refusal(topic_arn, entries) {
            return Err(refusal);
        }
        if !lock(&self.inner.topics).contains_key(topic_arn) {
            return Err(BackendError::NotFound(format!("topic {topic_arn}")));
        }
        let mut answer = BatchAnswer::default();
        for entry in entries {
            match self.publish(topic_arn, &entry.publication).await {
                Ok(message_id) => answer.successful.push((entry.id.clone(), message_id)),
                Err(err) => {
                    tracing::warn!(entry = %entry.id, error = &err as &dyn std::error::Error, "PublishBatch entry refused");
                    answer.failed.push(BatchFailure {
                        id: entry.id.clone(),
                        code: "InvalidParameter",
                        sender_fault: true,
                    });
                }
            }
        }
        Ok(answer)
    }
}

#[async_trait]
impl TopicService for EmbeddedTopics {
    async fn create_topic(&self, name: &str) -> BackendResult<String> {
        let arn = format!(
            "arn:aws:sns:{}:{EMBEDDED_ACCOUNT}:{name}",
            self.inner.region
        );
        lock(&self.inner.topics).entry(arn.clone()).or_default();
        Ok(arn)
    }

    async fn subscribe(&self, topic_arn: &str, spec: &SubscriptionSpec) -> BackendResult<String> {
        let endpoint = match &spec.endpoint {
            SubscriptionEndpoint::Queue { url, raw_delivery } => {
                // Fail now rather than on every delivery.
                self.inner.queues.depth(url).await?;
                Endpoint::Queue {
                    url: url.clone(),
                    raw: *raw_delivery,
                }
            }
            SubscriptionEndpoint::Email { address } => Endpoint::Email {
                address: address.clone(),
                rate: Arc::default(),
            },
        };
        self.add_subscription(topic_arn, endpoint, spec.filter_policy.as_deref())
    }

    fn event_publisher(&self, topic_arn: &str) -> Arc<dyn EventPublisher> {
        Arc::new(EmbeddedEventPublisher {
            topics: self.clone(),
            topic_arn: topic_arn.to_owned(),
        })
    }

    async fn publish_text(&self, topic_arn: &str, message: &TextMessage) -> BackendResult<String> {
        let publication = Publication {
            message: message.message.clone(),
            json_structure: false,
            subject: message.subject.clone(),
            attributes: message.attributes.clone(),
        };
        self.publish(topic_arn, &publication).await
    }

    async fn set_dead_letter_queue(
        &self,
        subscription_arn: &str,
        dlq_url: &str,
    ) -> BackendResult<()> {
        self.inner.queues.depth(dlq_url).await?;
        let mut topics = lock(&self.inner.topics);
        let sub = topics
            .values_mut()
            .flatten()
            .find(|s| s.arn == subscription_arn)
            .ok_or_else(|| BackendError::NotFound(format!("subscription {subscription_arn}")))?;
        sub.dead_letter_queue = Some(dlq_url.to_owned());
        Ok(())
    }

    async fn delivered(&self) {
        EmbeddedTopics::delivered(self).await;
    }

    fn undelivered(&self) -> u64 {
        EmbeddedTopics::undelivered(self)
    }

    fn suspended_subscriptions(&self) -> Vec<String> {
        EmbeddedTopics::suspended_subscriptions(self)
    }
}

#[cfg(test)]
mod tests;
