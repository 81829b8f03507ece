//! The queues' contents: messages, their visibility and receive counts,
//! FIFO ordering and deduplication, redrive to the dead-letter queue.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::backend::{BackendError, BackendResult, QueueSpec, ReceivedMessage, Redrive};

/// The `SenderId` of every embedded message.
const SENDER_ID: &str = "AIDAEMBEDDEDORDERSLOCAL";

pub(super) fn epoch_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
pub(super) struct Message {
    pub(super) id: String,
    pub(super) body: String,
    pub(super) group_id: Option<String>,
    pub(super) dedup_id: Option<String>,
    pub(super) attributes: HashMap<String, String>,
    pub(super) sent_ms: u128,
    pub(super) sequence_number: Option<String>,
    pub(super) receive_count: u32,
    pub(super) first_receive_ms: Option<u128>,
    pub(super) invisible_until: Option<Instant>,
    pub(super) receipt: Option<String>,
}

impl Message {
    pub(super) fn in_flight(&self, now: Instant) -> bool {
        self.invisible_until.is_some_and(|t| t > now)
    }

    pub(super) fn received(&self) -> ReceivedMessage {
        let mut attributes = HashMap::from([
            (
                "ApproximateReceiveCount".to_owned(),
                self.receive_count.to_string(),
            ),
            ("SentTimestamp".to_owned(), self.sent_ms.to_string()),
            ("SenderId".to_owned(), SENDER_ID.to_owned()),
            (
                "ApproximateFirstReceiveTimestamp".to_owned(),
                self.first_receive_ms.unwrap_or(self.sent_ms).to_string(),
            ),
        ]);
        if let Some(g) = &self.group_id {
            attributes.insert("MessageGroupId".to_owned(), g.clone());
        }
        if let Some(d) = &self.dedup_id {
            attributes.insert("MessageDeduplicationId".to_owned(), d.clone());
        }
        if let Some(s) = &self.sequence_number {
            attributes.insert("SequenceNumber".to_owned(), s.clone());
        }
        ReceivedMessage {
            message_id: self.id.clone(),
            receipt_handle: self.receipt.clone().unwrap_or_default(),
            body: self.body.clone(),
            attributes,
            message_attributes: self.attributes.clone(),
        }
    }
}

#[derive(Debug)]
pub(super) struct Queue {
    pub(super) spec: QueueSpec,
    pub(super) messages: VecDeque<Message>,
    /// Dedup id → (when first sent, message id), pruned lazily.
    pub(super) dedup: HashMap<String, (Instant, String)>,
    pub(super) next_sequence: u128,
}

impl Queue {
    pub(super) fn new(spec: QueueSpec) -> Self {
        Self {
            spec,
            messages: VecDeque::new(),
            dedup: HashMap::new(),
            next_sequence: 1,
        }
    }

    pub(super) fn enqueue(&mut self, mut message: Message) {
        if self.spec.fifo {
            // 20-digit, zero-padded: compares as text as it does as a number.
            message.sequence_number = Some(format!("{:020}", self.next_sequence));
            self.next_sequence += 1;
        }
        message.invisible_until = None;
        message.receipt = None;
        self.messages.push_back(message);
    }

    /// The earliest moment an in-flight message becomes visible again.
    pub(super) fn next_expiry(&self, now: Instant) -> Option<Instant> {
        self.messages
            .iter()
            .filter_map(|m| m.invisible_until.filter(|t| *t > now))
            .min()
    }
}

#[derive(Debug, Default)]
pub(super) struct State {
    /// Queue URL → queue.
    pub(super) queues: HashMap<String, Queue>,
}

impl State {
    pub(super) fn queue_mut(&mut self, url: &str) -> BackendResult<&mut Queue> {
        self.queues
            .get_mut(url)
            .ok_or_else(|| BackendError::NotFound(format!("queue {url}")))
    }

    /// One receive attempt: picks deliverable messages, moving those past
    /// their redrive limit to the DLQ first.
    pub(super) fn try_receive(
        &mut self,
        url: &str,
        max: usize,
        now: Instant,
    ) -> BackendResult<(Vec<ReceivedMessage>, Option<Instant>)> {
        let queue = self.queue_mut(url)?;
        let fifo = queue.spec.fifo;
        let visibility = queue.spec.visibility_timeout;
        let redrive = queue.spec.redrive.clone();
        // Groups with a message in flight deliver nothing until it is done.
        let blocked: HashSet<String> = if fifo {
            queue
                .messages
                .iter()
                .filter(|m| m.in_flight(now))
                .filter_map(|m| m.group_id.clone())
                .collect()
        } else {
            HashSet::new()
        };
        let mut out = Vec::new();
        let mut dead = Vec::new();
        let mut index = 0;
        while index < queue.messages.len() && out.len() < max {
            let Some(m) = queue.messages.get_mut(index) else {
                break;
            };
            let skip = m.in_flight(now) || m.group_id.as_ref().is_some_and(|g| blocked.contains(g));
            if skip {
                index += 1;
                continue;
            }
            if let Some(Redrive {
                max_receive_count, ..
            }) = &redrive
                && m.receive_count >= *max_receive_count
            {
                // SQS moves the message when this receive would exceed maxReceiveCount.
                if let Some(m) = queue.messages.remove(index) {
                    dead.push(m);
                }
                continue;
            }
            m.receive_count += 1;
            let now_ms = epoch_millis();
            m.first_receive_ms.get_or_insert(now_ms);
            m.invisible_until = Some(now + visibility);
            m.receipt = Some(uuid::Uuid::new_v4().to_string());
            out.push(m.received());
            index += 1;
        }
        let next = queue.next_expiry(now);
        if let (Some(redrive), false) = (redrive, dead.is_empty()) {
            match self.queues.get_mut(&redrive.dlq_url) {
                Some(dlq) => {
                    for m in dead {
                        tracing::warn!(
                            message_id = %m.id,
                            receive_count = m.receive_count,
                            queue = crate::arn::queue_name(url),
                            "moved to the dead-letter queue"
                        );
                        dlq.enqueue(m);
                    }
                }
                None => {
                    // Like SQS with a missing DLQ: the message stays where it was.
                    tracing::error!(dlq = %redrive.dlq_url, "dead-letter queue does not exist");
                    if let Ok(queue) = self.queue_mut(url) {
                        for m in dead {
                            queue.messages.push_front(m);
                        }
                    }
                }
            }
        }
        Ok((out, next))
    }
}
