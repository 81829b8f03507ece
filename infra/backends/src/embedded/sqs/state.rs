//! The queues' contents: messages, their visibility and receive counts,
//! FIFO ordering and deduplication, redrive to the dead-letter queue.
//!
//! Every operation costs what it touches, not the queue's length, so a
//! backlog of tens of thousands of messages (a load test, a consumer that
//! fell behind) does not slow sends, receives and deletes down: messages are
//! kept by arrival number, each FIFO group knows its own messages and its
//! head, received messages are indexed by receipt handle, and the dedup
//! window expires oldest first.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    /// `AWSTraceHeader`, a system attribute: returned with the others.
    pub(super) trace_header: Option<String>,
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
        if let Some(t) = &self.trace_header {
            attributes.insert(
                orders_adapters::ports::AWS_TRACE_HEADER_ATTRIBUTE.to_owned(),
                t.clone(),
            );
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

/// FIFO deduplication ids seen within the window, expiring oldest first.
#[derive(Debug, Default)]
pub(super) struct Dedup {
    /// Dedup id → (when first sent, message id).
    seen: HashMap<String, (Instant, String)>,
    /// The same ids in the order they were first sent.
    order: VecDeque<(Instant, String)>,
}

impl Dedup {
    /// The message id a dedup id was first sent as, if that was less than
    /// `window` before `now`.
    pub(super) fn get(&mut self, dedup_id: &str, now: Instant, window: Duration) -> Option<&str> {
        while let Some((at, id)) = self.order.front() {
            if now.duration_since(*at) < window {
                break;
            }
            // Only the entry this one recorded: the id may have been sent anew since.
            if self.seen.get(id).is_some_and(|(seen_at, _)| seen_at == at) {
                self.seen.remove(id);
            }
            self.order.pop_front();
        }
        self.seen.get(dedup_id).map(|(_, id)| id.as_str())
    }

    /// Remembers a dedup id first sent `now` as `message_id`.
    pub(super) fn insert(&mut self, dedup_id: String, now: Instant, message_id: String) {
        self.order.push_back((now, dedup_id.clone()));
        self.seen.insert(dedup_id, (now, message_id));
    }
}

#[derive(Debug)]
pub(super) struct Queue {
    pub(super) spec: QueueSpec,
    /// Messages by arrival number, in send order.
    messages: BTreeMap<u64, Message>,
    next_arrival: u64,
    /// FIFO: group → arrival numbers of its messages.
    groups: HashMap<String, BTreeSet<u64>>,
    /// FIFO: each non-empty group's first arrival number → the group, so a
    /// receive visits groups in the order of their oldest message.
    heads: BTreeMap<u64, String>,
    /// Arrival numbers of messages received whose visibility may not have
    /// ended yet (pruned when it has).
    received: BTreeSet<u64>,
    /// Receipt handle → arrival number, for the messages in `received`.
    receipts: HashMap<String, u64>,
    pub(super) dedup: Dedup,
    pub(super) next_sequence: u128,
}

impl Queue {
    pub(super) fn new(spec: QueueSpec) -> Self {
        Self {
            spec,
            messages: BTreeMap::new(),
            next_arrival: 0,
            groups: HashMap::new(),
            heads: BTreeMap::new(),
            received: BTreeSet::new(),
            receipts: HashMap::new(),
            dedup: Dedup::default(),
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
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        if let Some(group) = message.group_id.clone().filter(|_| self.spec.fifo) {
            let members = self.groups.entry(group.clone()).or_default();
            if members.is_empty() {
                self.heads.insert(arrival, group);
            }
            members.insert(arrival);
        }
        self.messages.insert(arrival, message);
    }

    /// Every message, in send order.
    pub(super) fn messages(&self) -> impl Iterator<Item = &Message> {
        self.messages.values()
    }

    /// Number of messages, visible or not.
    pub(super) fn len(&self) -> usize {
        self.messages.len()
    }

    /// Forgets received messages whose visibility has ended; returns the
    /// groups of those still in flight.
    fn prune_received(&mut self, now: Instant) -> HashSet<String> {
        let mut blocked = HashSet::new();
        let messages = &self.messages;
        let receipts = &mut self.receipts;
        self.received.retain(|arrival| match messages.get(arrival) {
            Some(m) if m.in_flight(now) => {
                if let Some(g) = &m.group_id {
                    blocked.insert(g.clone());
                }
                true
            }
            Some(m) => {
                // Its receipt died with its visibility.
                if let Some(r) = &m.receipt {
                    receipts.remove(r);
                }
                false
            }
            None => false,
        });
        blocked
    }

    /// Messages in flight now.
    pub(super) fn in_flight(&mut self, now: Instant) -> usize {
        self.prune_received(now);
        self.received.len()
    }

    /// Ends the visibility of every in-flight message now; returns how many.
    pub(super) fn expire_all(&mut self, now: Instant) -> usize {
        self.prune_received(now);
        let mut expired = 0;
        for arrival in &self.received {
            if let Some(m) = self.messages.get_mut(arrival) {
                m.invisible_until = Some(now);
                expired += 1;
            }
        }
        expired
    }

    /// The in-flight message a receipt handle names, if it is still valid
    /// (a receipt lasts while its receive's visibility does, as on FIFO queues).
    pub(super) fn by_receipt(
        &mut self,
        receipt: &str,
        now: Instant,
    ) -> Option<(u64, &mut Message)> {
        let arrival = *self.receipts.get(receipt)?;
        let m = self.messages.get_mut(&arrival)?;
        (m.receipt.as_deref() == Some(receipt) && m.in_flight(now)).then_some((arrival, m))
    }

    /// Removes a message wherever it is.
    pub(super) fn remove(&mut self, arrival: u64) -> Option<Message> {
        let m = self.messages.remove(&arrival)?;
        self.received.remove(&arrival);
        if let Some(r) = &m.receipt {
            self.receipts.remove(r);
        }
        if let Some(group) = m.group_id.as_ref().filter(|_| self.spec.fifo)
            && let Some(members) = self.groups.get_mut(group)
        {
            let was_head = members.first() == Some(&arrival);
            members.remove(&arrival);
            if was_head {
                self.heads.remove(&arrival);
                match members.first() {
                    Some(next) => {
                        self.heads.insert(*next, group.clone());
                    }
                    None => {
                        self.groups.remove(group);
                    }
                }
            }
        }
        Some(m)
    }

    /// The earliest moment an in-flight message becomes visible again.
    fn next_expiry(&self, now: Instant) -> Option<Instant> {
        self.received
            .iter()
            .filter_map(|a| self.messages.get(a))
            .filter_map(|m| m.invisible_until.filter(|t| *t > now))
            .min()
    }

    /// Up to `max` deliverable arrival numbers, oldest first, leaving out
    /// `excluded`: on a FIFO queue the messages of groups with none in
    /// flight before this receive (several of a group may go together, in
    /// order), on a standard queue the visible ones.
    fn candidates(
        &self,
        blocked: &HashSet<String>,
        excluded: &HashSet<u64>,
        now: Instant,
        max: usize,
    ) -> Vec<u64> {
        if !self.spec.fifo {
            return self
                .messages
                .iter()
                .filter(|(a, m)| !m.in_flight(now) && !excluded.contains(a))
                .map(|(a, _)| *a)
                .take(max)
                .collect();
        }
        // Merge the unblocked groups' messages, visiting groups by their
        // oldest message and stopping at the first group that cannot hold
        // anything older than the `max` picked so far.
        let mut picked: Vec<u64> = Vec::new();
        for (head, group) in &self.heads {
            if picked.len() >= max && picked.get(max - 1).is_some_and(|last| head > last) {
                break;
            }
            if blocked.contains(group) {
                continue;
            }
            if let Some(members) = self.groups.get(group) {
                picked.extend(members.iter().filter(|a| !excluded.contains(a)).take(max));
                picked.sort_unstable();
                picked.truncate(max);
            }
        }
        picked
    }

    /// Marks a message received now; returns what the receiver gets.
    fn receive_one(&mut self, arrival: u64, now: Instant) -> Option<ReceivedMessage> {
        let visibility = self.spec.visibility_timeout;
        let m = self.messages.get_mut(&arrival)?;
        m.receive_count += 1;
        m.first_receive_ms.get_or_insert_with(epoch_millis);
        m.invisible_until = Some(now + visibility);
        let receipt = uuid::Uuid::new_v4().to_string();
        if let Some(old) = m.receipt.replace(receipt.clone()) {
            self.receipts.remove(&old);
        }
        let received = m.received();
        self.receipts.insert(receipt, arrival);
        self.received.insert(arrival);
        Some(received)
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
        let redrive = self.queue_mut(url)?.spec.redrive.clone();
        let dlq_exists = redrive
            .as_ref()
            .is_none_or(|r| self.queues.contains_key(&r.dlq_url));
        let queue = self.queue_mut(url)?;
        // Groups with a message in flight deliver nothing until it is done.
        let blocked = queue.prune_received(now);
        let mut out = Vec::new();
        let mut dead = Vec::new();
        // Received by this call, or left where they are (over the limit with
        // the DLQ missing).
        let mut excluded: HashSet<u64> = HashSet::new();
        let mut stuck = false;
        while out.len() < max {
            let candidates = queue.candidates(&blocked, &excluded, now, max - out.len());
            if candidates.is_empty() {
                break;
            }
            for arrival in candidates {
                excluded.insert(arrival);
                let Some(m) = queue.messages.get(&arrival) else {
                    continue;
                };
                if let Some(Redrive {
                    max_receive_count, ..
                }) = &redrive
                    && m.receive_count >= *max_receive_count
                {
                    // SQS moves the message when this receive would exceed maxReceiveCount.
                    if dlq_exists {
                        if let Some(m) = queue.remove(arrival) {
                            dead.push(m);
                        }
                    } else {
                        stuck = true;
                    }
                    continue;
                }
                if let Some(received) = queue.receive_one(arrival, now) {
                    out.push(received);
                }
            }
        }
        let next = queue.next_expiry(now);
        if stuck && let Some(redrive) = &redrive {
            // Like SQS with a missing DLQ: the message stays where it was.
            tracing::error!(dlq = %redrive.dlq_url, "dead-letter queue does not exist");
        }
        if let (Some(redrive), false) = (redrive, dead.is_empty())
            && let Some(dlq) = self.queues.get_mut(&redrive.dlq_url)
        {
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
        Ok((out, next))
    }
}
