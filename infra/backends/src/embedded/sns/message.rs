//! What is published: one message ([`Publication`]) or the entries of a
//! `PublishBatch` call, and SNS's rules for them that do not depend on the
//! subscriptions (renderings, sizes, entry ids, which attributes travel);
//! and a published message on its way (`Delivery`: with its topic, id and
//! time), what every delivery and the SNS envelope are made from.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::backend::{BackendError, BackendResult};

/// The most message attributes a raw-delivery SQS subscription accepts: "For
/// SQS subscriptions, a maximum of 10 message attributes can be sent when Raw
/// Message Delivery is enabled. ... Messages with more than 10 message
/// attributes directed towards Raw Message Delivery enabled Amazon SQS
/// subscriptions will be discarded as client side errors"
/// (<https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html>).
pub const MAX_RAW_DELIVERY_ATTRIBUTES: usize = 10;

/// One published message on its way to the subscriptions.
#[derive(Clone, Copy)]
pub(super) struct Delivery<'a> {
    pub(super) topic_arn: &'a str,
    pub(super) message_id: &'a str,
    /// When SNS accepted it (the envelope's `Timestamp`, the e-mail's date).
    pub(super) now: OffsetDateTime,
    pub(super) publication: &'a Publication,
}

/// One message to publish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publication {
    /// The message, or with `json_structure` a JSON object of per-protocol messages.
    pub message: String,
    /// `MessageStructure=json`: one rendering per protocol, and then no
    /// message attribute is delivered (see [`Publication::delivered_attributes`]).
    pub json_structure: bool,
    /// Subject (used by e-mail and the SNS envelope).
    pub subject: Option<String>,
    /// String message attributes (what filter policies see).
    pub attributes: HashMap<String, String>,
}

impl Publication {
    /// A String-structure message: delivered as it is to every protocol.
    pub fn text(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            ..Self::default()
        }
    }

    /// Bytes SNS counts for this message in a batch: body, subject and
    /// attributes (names, type and values).
    pub fn size(&self) -> usize {
        self.message.len()
            + self.subject.as_ref().map_or(0, String::len)
            + self
                .attributes
                .iter()
                .map(|(name, value)| name.len() + "String".len() + value.len())
                .sum::<usize>()
    }

    /// The attributes subscribers receive and filter policies see: all of
    /// them for a String-structure message, none for a JSON-structured one.
    /// "Message attributes are sent only when the message structure is
    /// String, not JSON"
    /// (<https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html>).
    /// moto differs: it delivers (and filters on) the attributes of a
    /// JSON-structured message too, so only this emulator shows the loss.
    pub fn delivered_attributes(&self) -> Option<&HashMap<String, String>> {
        (!self.json_structure).then_some(&self.attributes)
    }

    /// The text for one protocol: its key of the structure, else `default`.
    pub(super) fn rendering(&self, protocol: &str) -> BackendResult<String> {
        if !self.json_structure {
            return Ok(self.message.clone());
        }
        let doc: serde_json::Value =
            serde_json::from_str(&self.message).map_err(|e| BackendError::Call(Box::new(e)))?;
        doc.get(protocol)
            .or_else(|| doc.get("default"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| BackendError::Call("message structure has no default key".into()))
    }
}

/// One entry of a `PublishBatch` call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchEntry {
    /// The entry's id, unique within the call.
    pub id: String,
    /// What to publish.
    pub publication: Publication,
    /// `MessageGroupId`, required by FIFO topics.
    pub group_id: Option<String>,
}

/// An entry of a `PublishBatch` call that was not published
/// (`BatchResultErrorEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFailure {
    /// The entry's id.
    pub id: String,
    /// The error code.
    pub code: &'static str,
    /// Whether the request was at fault.
    pub sender_fault: bool,
}

/// The answer to a `PublishBatch` call: entries succeed or fail one by one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchAnswer {
    /// `(entry id, message id)` of every published entry.
    pub successful: Vec<(String, String)>,
    /// Every entry that was not published.
    pub failed: Vec<BatchFailure>,
}

/// A `PublishBatch` call refused as a whole, with SNS's error code.
#[derive(Debug, thiserror::Error)]
#[error("PublishBatch refused: {code}")]
pub struct BatchRefused {
    /// `EmptyBatchRequest`, `TooManyEntriesInBatchRequest`,
    /// `BatchEntryIdsNotDistinct`, `InvalidBatchEntryId`,
    /// `BatchRequestTooLong` or `InvalidParameter`.
    pub code: &'static str,
}

/// Why SNS refuses a whole `PublishBatch` call, if it does
/// (<https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html>): it
/// is empty, has more than ten entries, misspells or repeats an entry id,
/// carries more than 256 KiB in all, or (FIFO topic) lacks a group id.
pub(super) fn batch_refusal(topic_arn: &str, entries: &[BatchEntry]) -> Option<BackendError> {
    let code = if entries.is_empty() {
        "EmptyBatchRequest"
    } else if entries.len() > orders_adapters::ports::MAX_PUBLISH_BATCH_ENTRIES {
        "TooManyEntriesInBatchRequest"
    } else if !entries.iter().all(|e| valid_entry_id(&e.id)) {
        "InvalidBatchEntryId"
    } else if entries
        .iter()
        .map(|e| e.id.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len()
        != entries.len()
    {
        "BatchEntryIdsNotDistinct"
    } else if entries.iter().map(|e| e.publication.size()).sum::<usize>()
        > orders_adapters::ports::MAX_PUBLISH_BATCH_BYTES
    {
        "BatchRequestTooLong"
    } else if topic_arn.ends_with(".fifo") && entries.iter().any(|e| e.group_id.is_none()) {
        "InvalidParameter"
    } else {
        return None;
    };
    Some(BackendError::Call(Box::new(BatchRefused { code })))
}

/// Whether an entry id is what SNS accepts: "up to 80 characters ...
/// alphanumeric characters, hyphens (-), and underscores (_)"
/// (<https://docs.aws.amazon.com/sns/latest/api/API_PublishBatchRequestEntry.html>).
fn valid_entry_id(id: &str) -> bool {
    (1..=80).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
