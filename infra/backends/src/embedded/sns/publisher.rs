//! The notifier's port ([`EventPublisher`]) over an embedded topic: the
//! request the AWS adapter (`orders_adapters::aws::SnsEventPublisher`) makes, so
//! what subscribers receive locally is what they receive on AWS.

use async_trait::async_trait;
use orders_adapters::ports::{EntryResult, EventPublisher, PortError};
use orders_domain::contract::OrderCreated;

use super::EmbeddedTopics;
use super::message::{BatchAnswer, BatchEntry, Publication};

/// [`EventPublisher`] over one embedded topic.
pub(super) struct EmbeddedEventPublisher {
    pub(super) topics: EmbeddedTopics,
    pub(super) topic_arn: String,
}

/// The publication of one event, as the AWS adapter sends it: String
/// structure (never `MessageStructure=json`, which would lose the
/// attributes: "Message attributes are sent only when the message structure
/// is String, not JSON",
/// <https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html>),
/// the event's JSON as the body, the attributes consumers filter on (the
/// adapter's own [`orders_adapters::aws::order_created_attributes`]), and no
/// subject.
pub fn publication(event: &OrderCreated) -> Publication {
    Publication {
        message: event.to_json(),
        json_structure: false,
        subject: None,
        attributes: orders_adapters::aws::order_created_attributes(event)
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
    }
}

#[async_trait]
impl EventPublisher for EmbeddedEventPublisher {
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError> {
        self.topics
            .publish(&self.topic_arn, &publication(event))
            .await
            .map(|_| ())
            .map_err(|e| PortError::Permanent(Box::new(e)))
    }

    /// `PublishBatch` calls packed as the AWS adapter packs them, each
    /// entry's result read from the answer.
    async fn publish_batch(&self, events: &[OrderCreated]) -> Vec<EntryResult> {
        let entries: Vec<BatchEntry> = events
            .iter()
            .enumerate()
            .map(|(index, event)| BatchEntry {
                id: index.to_string(),
                publication: publication(event),
                group_id: None,
            })
            .collect();
        let sizes: Vec<usize> = entries.iter().map(|e| e.publication.size()).collect();
        let mut results = Vec::with_capacity(events.len());
        for range in orders_adapters::ports::publish_batch_ranges(&sizes) {
            let call = &entries[range];
            match self.topics.publish_batch(&self.topic_arn, call).await {
                Ok(answer) => {
                    results.extend(call.iter().map(|entry| entry_result(&answer, &entry.id)))
                }
                Err(err) => {
                    let mut first = Some(err);
                    results.extend(call.iter().map(|_| {
                        let source: orders_adapters::ports::BoxError = match first.take() {
                            Some(err) => Box::new(err),
                            None => Box::new(orders_adapters::aws::BatchCallError::CallFailed),
                        };
                        Err(PortError::Permanent(source))
                    }));
                }
            }
        }
        results
    }
}

/// One entry's result in an answer; an entry the answer does not mention
/// may or may not have been published, so it is transient.
fn entry_result(answer: &BatchAnswer, id: &str) -> EntryResult {
    if answer.successful.iter().any(|(ok, _)| ok == id) {
        return Ok(());
    }
    match answer.failed.iter().find(|f| f.id == id) {
        Some(failure) => Err(orders_adapters::aws::BatchEntryError {
            code: failure.code.to_owned(),
            sender_fault: failure.sender_fault,
        }
        .into_port_error()),
        None => Err(PortError::Transient(Box::new(
            orders_adapters::aws::BatchCallError::NoAnswer,
        ))),
    }
}
