//! A topic's subscriptions: which of them a message reaches (filter
//! policies), what a queue subscription receives (the SNS envelope or the
//! raw message), and the per-subscription rules AWS enforces on delivery:
//! raw delivery's ten-attribute limit and the e-mail rate that suspends a
//! subscription.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

use super::message::{Delivery, MAX_RAW_DELIVERY_ATTRIBUTES, Publication};
use crate::backend::SendMessage;
use crate::filter_policy::FilterPolicy;

/// The most messages an e-mail subscription may receive within one second.
/// "Exceeding the limit of 10 messages per second (TPS) for an email or
/// email-json endpoint will trigger an automatic suspension of the
/// subscription, placing it in a pending confirmation status. The
/// subscription remains in PendingConfirmation state for 48 hours, after
/// which it will be automatically deleted unless action is taken"
/// (<https://docs.aws.amazon.com/sns/latest/dg/sns-email-notifications.html>).
/// The window slides (any eleven within less than a second suspend), the
/// strictest reading: AWS does not say how it counts. moto delivers no
/// e-mail at all and has no such limit.
pub const MAX_EMAILS_PER_SECOND: usize = 10;

/// A subscription's state, as `GetSubscriptionAttributes` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStatus {
    /// Delivering.
    Confirmed,
    /// Suspended by SNS since then (an e-mail subscription over
    /// [`MAX_EMAILS_PER_SECOND`]): nothing is delivered to it any more.
    PendingConfirmation {
        /// When it was suspended.
        since: OffsetDateTime,
    },
}

/// Where a subscription delivers.
#[derive(Debug, Clone)]
pub(super) enum Endpoint {
    /// An SQS queue, by URL; `raw` is `RawMessageDelivery`.
    Queue { url: String, raw: bool },
    /// An e-mail address, with its delivery rate (shared by every clone of
    /// the subscription).
    Email {
        address: String,
        rate: Arc<Mutex<EmailRate>>,
    },
}

/// One subscription of a topic.
#[derive(Debug, Clone)]
pub(super) struct Subscription {
    pub(super) arn: String,
    pub(super) endpoint: Endpoint,
    /// `FilterPolicy`, on the message attributes (`FilterPolicyScope:
    /// MessageAttributes`, the default and the only scope emulated).
    pub(super) filter: Option<FilterPolicy>,
    /// The subscription's dead-letter queue (`RedrivePolicy`), by URL.
    pub(super) dead_letter_queue: Option<String>,
}

impl Subscription {
    /// Whether the message is meant for this subscription: no filter
    /// policy, or one that matches the delivered attributes. A
    /// JSON-structured message delivers no attributes, and AWS does not
    /// document that an attribute-scoped policy still matches it, so here it
    /// never does: a publisher relying on it sees its consumers get nothing
    /// locally rather than on AWS.
    pub(super) fn accepts(&self, publication: &Publication) -> bool {
        match &self.filter {
            None => true,
            Some(policy) => publication
                .delivered_attributes()
                .is_some_and(|attributes| policy.matches(attributes)),
        }
    }

    /// The id part of the ARN (after the topic's), for file names.
    pub(super) fn id(&self) -> &str {
        self.arn.rsplit(':').next().unwrap_or(&self.arn)
    }

    /// The subscription's state.
    pub(super) fn status(&self) -> SubscriptionStatus {
        match &self.endpoint {
            Endpoint::Email { rate, .. } => rate
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .suspended_since
                .map_or(SubscriptionStatus::Confirmed, |since| {
                    SubscriptionStatus::PendingConfirmation { since }
                }),
            Endpoint::Queue { .. } => SubscriptionStatus::Confirmed,
        }
    }
}

/// A message SNS does not deliver to a queue subscription (a client-side
/// error: it goes to the subscription's dead-letter queue if it has one).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryRefused {
    /// Raw delivery with more than [`MAX_RAW_DELIVERY_ATTRIBUTES`] attributes.
    #[error(
        "raw message delivery carries at most {MAX_RAW_DELIVERY_ATTRIBUTES} message attributes; the message has {0}"
    )]
    TooManyAttributesForRawDelivery(usize),
}

/// What a queue subscription receives: with raw delivery the message itself,
/// its attributes as SQS message attributes (none for a JSON-structured
/// message, and a message with more than ten is refused); otherwise the
/// SNS envelope.
pub(super) fn queue_message(
    delivery: &Delivery<'_>,
    raw: bool,
) -> Result<SendMessage, crate::backend::BackendError> {
    let message = delivery.publication.rendering("sqs")?;
    if !raw {
        return Ok(SendMessage {
            body: envelope(delivery, message),
            ..SendMessage::default()
        });
    }
    let attributes = delivery
        .publication
        .delivered_attributes()
        .cloned()
        .unwrap_or_default();
    if attributes.len() > MAX_RAW_DELIVERY_ATTRIBUTES {
        return Err(crate::backend::BackendError::Call(Box::new(
            DeliveryRefused::TooManyAttributesForRawDelivery(attributes.len()),
        )));
    }
    Ok(SendMessage {
        body: message,
        message_attributes: attributes,
        ..SendMessage::default()
    })
}

/// The SNS envelope a queue without raw delivery receives (and what a
/// subscription's dead-letter queue is sent here: the notification whole,
/// attributes included). `Subject` and `MessageAttributes` appear only when
/// there are some, as on SNS
/// (<https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html>).
pub(super) fn envelope(delivery: &Delivery<'_>, message: String) -> String {
    let publication = delivery.publication;
    let mut envelope = serde_json::json!({
        "Type": "Notification",
        "MessageId": delivery.message_id,
        "TopicArn": delivery.topic_arn,
        "Message": message,
        "Timestamp": delivery.now.format(&Rfc3339).unwrap_or_default(),
        "SignatureVersion": "1",
        "Signature": "EMBEDDED",
        "SigningCertURL": "https://sns.embedded.local/cert.pem",
        "UnsubscribeURL": "https://sns.embedded.local/unsubscribe",
    });
    if let Some(subject) = &publication.subject {
        envelope["Subject"] = serde_json::Value::String(subject.clone());
    }
    if let Some(attributes) = publication.delivered_attributes().filter(|a| !a.is_empty()) {
        let attributes: serde_json::Map<String, serde_json::Value> = attributes
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::json!({"Type": "String", "Value": v})))
            .collect();
        envelope["MessageAttributes"] = serde_json::Value::Object(attributes);
    }
    envelope.to_string()
}

/// The e-mail SNS sends: its own sender, the publish's subject (or SNS's
/// default), the message's `email` rendering as the body.
pub(super) fn email_text(
    address: &str,
    subject: &str,
    now: OffsetDateTime,
    message_id: &str,
    text: &str,
) -> String {
    format!(
        "From: AWS Notifications <no-reply@sns.amazonaws.com>\r\n\
         To: {address}\r\n\
         Subject: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: <{message_id}@sns.embedded.local>\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         \r\n\
         {text}\r\n",
        date = now.format(&Rfc2822).unwrap_or_default(),
    )
}

/// What happens to one e-mail for a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EmailAdmission {
    /// Deliver it.
    Deliver,
    /// It is one too many: the subscription is suspended from now on, and
    /// neither this e-mail nor any later one is delivered. `first` is when
    /// the first of the messages that made up the second arrived.
    SuspendNow { first: OffsetDateTime },
    /// The subscription was suspended before: not delivered.
    Suspended,
}

/// An e-mail subscription's recent deliveries and whether it is suspended.
#[derive(Debug, Default)]
pub(super) struct EmailRate {
    /// Delivery times within the last second, oldest first.
    recent: VecDeque<OffsetDateTime>,
    suspended_since: Option<OffsetDateTime>,
}

impl EmailRate {
    /// Decides the fate of an e-mail at `now` and records it.
    pub(super) fn admit(&mut self, now: OffsetDateTime) -> EmailAdmission {
        if self.suspended_since.is_some() {
            return EmailAdmission::Suspended;
        }
        let second = Duration::from_secs(1);
        while self.recent.front().is_some_and(|t| now - *t >= second) {
            self.recent.pop_front();
        }
        if self.recent.len() >= MAX_EMAILS_PER_SECOND {
            self.suspended_since = Some(now);
            let first = self.recent.front().copied().unwrap_or(now);
            self.recent.clear();
            return EmailAdmission::SuspendNow { first };
        }
        self.recent.push_back(now);
        EmailAdmission::Deliver
    }
}

/// The notice written to the outbox when a subscription is suspended: why,
/// since when, what SNS does next and where that is documented. Ids only,
/// never the address.
pub(super) fn suspension_notice(
    subscription_arn: &str,
    topic_arn: &str,
    first: OffsetDateTime,
    now: OffsetDateTime,
) -> String {
    let at = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    format!(
        "SNS suspended this e-mail subscription.\n\
         \n\
         Subscription: {subscription_arn}\n\
         Topic:        {topic_arn}\n\
         Suspended at: {now}\n\
         \n\
         It was sent more than {MAX_EMAILS_PER_SECOND} messages within one second (the first at\n\
         {first}, the one over the limit at {now}). SNS then puts the subscription\n\
         in PendingConfirmation and stops delivering to it: no e-mail published\n\
         after that reaches the address, and after 48 hours the subscription is\n\
         deleted unless it is confirmed again.\n\
         https://docs.aws.amazon.com/sns/latest/dg/sns-email-notifications.html\n\
         \n\
         Send e-mail through a topic that receives at most {MAX_EMAILS_PER_SECOND} messages per\n\
         second (for example one digest per batch of orders), then subscribe the\n\
         address again.\n",
        first = at(first),
        now = at(now),
    )
}
