//! [`EventPublisher`] over the order-events SNS topic: each OrderCreated as a
//! String message (the event's JSON) with its filterable attributes, by
//! `Publish` or `PublishBatch`, every batch entry's result read on its own.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{is_transient_code, port_error};
use crate::ports::{
    CUSTOMER_EMAIL_GIVEN_ATTRIBUTE, EVENT_TYPE_ATTRIBUTE, EntryResult, EventPublisher, PortError,
    SCHEMA_VERSION_ATTRIBUTE, publish_batch_ranges,
};
use orders_domain::contract::{ORDER_CREATED_EVENT_TYPE, OrderCreated};

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
/// and attribute filter policies would have nothing to match. Three
/// attributes, well inside the ten that raw delivery to SQS accepts.
pub fn order_created_attributes(event: &OrderCreated) -> [(&'static str, String); 3] {
    [
        (EVENT_TYPE_ATTRIBUTE, ORDER_CREATED_EVENT_TYPE.to_owned()),
        (SCHEMA_VERSION_ATTRIBUTE, event.schema_version.to_string()),
        (
            CUSTOMER_EMAIL_GIVEN_ATTRIBUTE,
            event.customer_email_given.to_string(),
        ),
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
    attributes: [(&'static str, String); 3],
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
    async fn publish_batch_call(&self, entries: &[SnsEntry]) -> Vec<EntryResult> {
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
        let mut results: Vec<Option<EntryResult>> = (0..entries.len()).map(|_| None).collect();
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
fn whole_call_failed(entries: usize, err: PortError) -> Vec<EntryResult> {
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
    async fn publish_batch(&self, events: &[OrderCreated]) -> Vec<EntryResult> {
        let entries: Vec<SnsEntry> = events.iter().map(SnsEntry::new).collect();
        let sizes: Vec<usize> = entries.iter().map(SnsEntry::size).collect();
        let mut results = Vec::with_capacity(events.len());
        for range in publish_batch_ranges(&sizes) {
            results.extend(self.publish_batch_call(&entries[range]).await);
        }
        results
    }
}
