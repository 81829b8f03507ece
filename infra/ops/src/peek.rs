//! `orders-ops dlq peek worker|notifier`: what is in a DLQ and why, without
//! moving anything.
//!
//! For each message: the failure reason, the stage, the order id, the
//! correlation id and its age. The worker and notifier attach these as
//! message attributes when they dead-letter a message themselves
//! (`orders_adapters::ports::DEAD_LETTER_*_ATTRIBUTE`); a message that arrived by
//! the orders queue's redrive policy has none (`reason` then reads
//! `max-receives`: the store kept failing), and Lambda's on-failure records
//! in the notifier DLQ say why in their body (`requestContext.condition`).
//! Bodies are shown only with `--show-personal-data`: a worker DLQ body is
//! the whole order, with the customer's name and address.
//!
//! Peeking receives the messages with a visibility timeout and then makes
//! each visible again at once (`ChangeMessageVisibility` to 0), so the queue
//! is left as it was found (except each message's receive count, which a
//! DLQ does not act on). On a FIFO DLQ, SQS returns no further message of a
//! group while one of its messages is hidden
//! (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html>),
//! so a peek shows at most one receive (10 messages) of each group.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use notifier::dead_letter::NotifierDeadLetter;
use orders_adapters::ports::{
    CORRELATION_ID_ATTRIBUTE, DEAD_LETTER_ORDER_ID_ATTRIBUTE, DEAD_LETTER_REASON_ATTRIBUTE,
    DEAD_LETTER_STAGE_ATTRIBUTE,
};
use serde::Serialize;

use crate::error::{OpsResult, aws};
use crate::target::{Clients, queue_name};

/// Which DLQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The worker DLQ (FIFO): orders the worker could not store.
    Worker,
    /// The notifier DLQ: stream positions the notifier could not announce.
    Notifier,
}

impl Stage {
    /// The stage's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Worker => "worker",
            Self::Notifier => "notifier",
        }
    }
}

/// The `reason` of a worker DLQ message that the redrive policy moved (the
/// worker never gave up on it; it kept failing for `maxReceiveCount` receives).
pub const REASON_MAX_RECEIVES: &str = "max-receives";

/// One DLQ message, described.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Peeked {
    /// The DLQ's message id.
    pub message_id: String,
    /// Why it is there.
    pub reason: String,
    /// Which stage gave up on it.
    pub stage: String,
    /// The order, when known.
    pub order_id: Option<String>,
    /// The correlation id, when known.
    pub correlation_id: Option<String>,
    /// Seconds since it was first sent.
    pub age_secs: Option<u64>,
    /// How often it has been received.
    pub receive_count: Option<u64>,
    /// The stream range (notifier DLQ): `start..end`, sequence numbers.
    pub range: Option<String>,
    /// The body, only with `--show-personal-data`.
    pub body: Option<String>,
}

/// How long peeked messages stay hidden while the peek collects them.
const PEEK_VISIBILITY_SECS: i32 = 30;

/// Receives up to `max` messages of the DLQ at `url` without consuming them.
pub async fn peek(
    clients: &Clients,
    stage: Stage,
    url: &str,
    max: usize,
    show_personal_data: bool,
) -> OpsResult<Vec<Peeked>> {
    let what = format!("queue {}", queue_name(url));
    let mut seen = HashSet::new();
    let mut received: Vec<Message> = Vec::new();
    while received.len() < max {
        let want = i32::try_from((max - received.len()).min(10)).unwrap_or(10);
        let out = clients
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(want)
            .visibility_timeout(PEEK_VISIBILITY_SECS)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(aws("sqs:ReceiveMessage", &what))?;
        let fresh: Vec<Message> = out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter(|m| seen.insert(m.message_id().unwrap_or_default().to_owned()))
            .collect();
        if fresh.is_empty() {
            break;
        }
        received.extend(fresh);
    }
    // Visible again at once: a peek moves nothing.
    for message in &received {
        if let Some(handle) = message.receipt_handle() {
            clients
                .sqs
                .change_message_visibility()
                .queue_url(url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await
                .map_err(aws("sqs:ChangeMessageVisibility", &what))?;
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Ok(received
        .iter()
        .map(|m| describe(stage, m, now, show_personal_data))
        .collect())
}

fn attribute<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
}

fn system(message: &Message, name: MessageSystemAttributeName) -> Option<&str> {
    message
        .attributes()
        .and_then(|a| a.get(&name))
        .map(String::as_str)
}

/// Describes one DLQ message; `now` is the time since the epoch.
pub fn describe(
    stage: Stage,
    message: &Message,
    now: Duration,
    show_personal_data: bool,
) -> Peeked {
    let body = message.body().unwrap_or_default();
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let from_body = |field: &str| -> Option<String> {
        json.as_ref()
            .and_then(|v| v.get(field))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let age_secs = system(message, MessageSystemAttributeName::SentTimestamp)
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(|ms| now.as_secs().saturating_sub(ms / 1000));
    let receive_count = system(message, MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|n| n.parse().ok());
    let mut peeked = Peeked {
        message_id: message.message_id().unwrap_or_default().to_owned(),
        reason: attribute(message, DEAD_LETTER_REASON_ATTRIBUTE)
            .map(str::to_owned)
            .unwrap_or_default(),
        stage: attribute(message, DEAD_LETTER_STAGE_ATTRIBUTE)
            .unwrap_or(stage.as_str())
            .to_owned(),
        order_id: attribute(message, DEAD_LETTER_ORDER_ID_ATTRIBUTE).map(str::to_owned),
        correlation_id: attribute(message, CORRELATION_ID_ATTRIBUTE).map(str::to_owned),
        age_secs,
        receive_count,
        range: None,
        body: show_personal_data.then(|| body.to_owned()),
    };
    match stage {
        Stage::Worker => {
            // An order message carries its ids at the top level (ids are
            // not personal data; nothing else of the body is read).
            peeked.order_id = peeked.order_id.or_else(|| from_body("orderId"));
            peeked.correlation_id = peeked.correlation_id.or_else(|| from_body("correlationId"));
            if peeked.reason.is_empty() {
                peeked.reason = REASON_MAX_RECEIVES.to_owned();
            }
        }
        Stage::Notifier => {
            if let Ok(letter) = serde_json::from_str::<NotifierDeadLetter>(body) {
                let batch = &letter.batch;
                peeked.range = Some(format!(
                    "{}..{} ({} record(s))",
                    batch.start_sequence_number, batch.end_sequence_number, batch.batch_size
                ));
                peeked.order_id = peeked.order_id.or_else(|| {
                    letter
                        .keys
                        .as_ref()
                        .and_then(|k| k.get(orders_adapters::record::KEY_ATTRIBUTE))
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                });
                if peeked.reason.is_empty() {
                    // Lambda's on-failure record: why the mapping gave up.
                    peeked.reason = letter.reason().map(str::to_owned).unwrap_or_else(|| {
                        json.as_ref()
                            .and_then(|v| v.pointer("/requestContext/condition"))
                            .and_then(|v| v.as_str())
                            .unwrap_or("retries-exhausted")
                            .to_owned()
                    });
                }
            } else if peeked.reason.is_empty() {
                peeked.reason = "unreadable".to_owned();
            }
        }
    }
    peeked
}

/// The peeked messages as lines of text.
pub fn lines(stage: Stage, url: &str, peeked: &[Peeked]) -> Vec<String> {
    let mut lines = vec![format!(
        "{} message(s) in the {} DLQ {}",
        peeked.len(),
        stage.as_str(),
        queue_name(url)
    )];
    for p in peeked {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
        let mut line = format!(
            "  {}  reason={} stage={} order={} correlation={} age={} receives={}",
            p.message_id,
            p.reason,
            p.stage,
            dash(&p.order_id),
            dash(&p.correlation_id),
            p.age_secs
                .map_or_else(|| "?".to_owned(), crate::render::age),
            p.receive_count
                .map_or_else(|| "?".to_owned(), |n| n.to_string()),
        );
        if let Some(range) = &p.range {
            line.push_str(&format!(" range={range}"));
        }
        lines.push(line);
        if let Some(body) = &p.body {
            lines.push(format!("    body: {body}"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::MessageAttributeValue;
    use orders_domain::contract::{CorrelationId, OrderMessage};
    use orders_domain::model::OrderRequest;
    use orders_domain::test_support::legacy_order;

    fn string(value: &str) -> MessageAttributeValue {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .unwrap()
    }

    /// The worker queue's message for the legacy order 23214, correlation id `c-9`.
    fn order_body() -> String {
        let request = OrderRequest::from_json(&legacy_order("23214")).unwrap();
        OrderMessage::new(
            orders_domain::model::OwnerKey::anonymous(),
            request.order_id.unwrap(),
            CorrelationId::parse("c-9").unwrap(),
            time::macros::datetime!(2026-11-24 10:00 UTC),
            request.order,
        )
        .to_body()
    }

    #[test]
    fn given_a_worker_dead_letter_then_its_attributes_are_read_and_the_body_is_hidden() {
        let message = Message::builder()
            .message_id("m-1")
            .body(order_body())
            .message_attributes(DEAD_LETTER_REASON_ATTRIBUTE, string("poison"))
            .message_attributes(DEAD_LETTER_STAGE_ATTRIBUTE, string("worker"))
            .message_attributes(DEAD_LETTER_ORDER_ID_ATTRIBUTE, string("23214"))
            .attributes(MessageSystemAttributeName::SentTimestamp, "1000000")
            .build();
        let p = describe(Stage::Worker, &message, Duration::from_secs(1090), false);
        assert_eq!(p.reason, "poison");
        assert_eq!(p.order_id.as_deref(), Some("23214"));
        assert_eq!(p.correlation_id.as_deref(), Some("c-9"));
        assert_eq!(p.age_secs, Some(90));
        assert_eq!(p.body, None);
        let text = lines(Stage::Worker, "http://x/q.fifo", &[p]).join("\n");
        assert!(!text.contains("Harry"), "{text}");
        assert!(!text.contains("Nguyen"), "{text}");
    }

    #[test]
    fn given_a_message_moved_by_the_redrive_policy_then_the_reason_says_max_receives() {
        let message = Message::builder()
            .message_id("m-2")
            .body(order_body())
            .build();
        let p = describe(Stage::Worker, &message, Duration::ZERO, true);
        assert_eq!(p.reason, REASON_MAX_RECEIVES);
        assert_eq!(p.stage, "worker");
        assert_eq!(p.body, Some(order_body()));
    }

    #[test]
    fn given_a_lambda_on_failure_record_then_its_condition_is_the_reason() {
        let body = r#"{"requestContext":{"condition":"RecordAgeExceeded"},"DDBStreamBatchInfo":{"startSequenceNumber":"1","endSequenceNumber":"5","batchSize":5,"streamArn":"arn"}}"#;
        let message = Message::builder().message_id("m-3").body(body).build();
        let p = describe(Stage::Notifier, &message, Duration::ZERO, false);
        assert_eq!(p.reason, "RecordAgeExceeded");
        assert_eq!(p.range.as_deref(), Some("1..5 (5 record(s))"));
        assert_eq!(p.order_id, None);
    }
}
