//! Embedded SQS: standard and FIFO queues with long polling, visibility
//! timeouts, receive counts and redrive to a dead-letter queue.
//!
//! FIFO semantics kept because the pipeline depends on them: messages of a
//! group are delivered in send order and none is delivered while another of
//! its group is in flight; a dedup id seen within the deduplication window is
//! accepted but not enqueued again; a message whose receive count has reached
//! the redrive policy's `maxReceiveCount` is moved to the DLQ instead of being
//! received again (so it is received exactly `maxReceiveCount` times). A
//! body or string attribute value holding a character SQS does not carry is
//! refused with `InvalidMessageContents`, as `SendMessage` does
//! (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html>;
//! attribute values have "the same restrictions on the content as the message
//! body",
//! <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_MessageAttributeValue.html>),
//! so a caller's error path for it can be tested locally. Not emulated:
//! retention, delays, content-based deduplication, batch APIs.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adapters::ports::{
    DeadLetter, DeadLetterQueue, OrderQueue, OutgoingOrder, PortError, QueueError,
};
use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::arn::EMBEDDED_ACCOUNT;
use crate::backend::{
    BackendError, BackendResult, QueueDepth, QueueService, QueueSpec, ReceivedMessage, Redrive,
    SendMessage,
};

/// The `SenderId` of every embedded message.
const SENDER_ID: &str = "AIDAEMBEDDEDORDERSLOCAL";

/// SQS's answer to a message holding a character outside `#x9 | #xA | #xD |
/// #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF` (error code
/// `InvalidMessageContents`). Names where the character is and its code
/// point, never the text around it (it may be a customer's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "InvalidMessageContents: the message {part} contains U+{code_point:04X}, outside the characters SQS allows"
)]
pub struct InvalidMessageContents {
    /// `body` or `attribute NAME`.
    pub part: String,
    /// The first refused character.
    pub code_point: u32,
}

/// Refuses `message` as `SendMessage` does when its body or a string
/// attribute value holds a character SQS cannot carry.
fn check_contents(message: &SendMessage) -> Result<(), InvalidMessageContents> {
    let refused = |text: &str| {
        text.chars()
            .find(|c| !orders_domain::domain::is_queue_safe(*c))
    };
    if let Some(c) = refused(&message.body) {
        return Err(InvalidMessageContents {
            part: "body".to_owned(),
            code_point: u32::from(c),
        });
    }
    // Sorted, so the error names the same attribute whatever the map's order.
    let mut names: Vec<&String> = message.message_attributes.keys().collect();
    names.sort();
    for name in names {
        if let Some(c) = message
            .message_attributes
            .get(name)
            .and_then(|v| refused(v))
        {
            return Err(InvalidMessageContents {
                part: format!("attribute {name}"),
                code_point: u32::from(c),
            });
        }
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not make the emulator unusable for others.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn epoch_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
struct Message {
    id: String,
    body: String,
    group_id: Option<String>,
    dedup_id: Option<String>,
    attributes: HashMap<String, String>,
    sent_ms: u128,
    sequence_number: Option<String>,
    receive_count: u32,
    first_receive_ms: Option<u128>,
    invisible_until: Option<Instant>,
    receipt: Option<String>,
}

impl Message {
    fn in_flight(&self, now: Instant) -> bool {
        self.invisible_until.is_some_and(|t| t > now)
    }

    fn received(&self) -> ReceivedMessage {
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
struct Queue {
    spec: QueueSpec,
    messages: VecDeque<Message>,
    /// Dedup id → (when first sent, message id), pruned lazily.
    dedup: HashMap<String, (Instant, String)>,
    next_sequence: u128,
}

impl Queue {
    fn new(spec: QueueSpec) -> Self {
        Self {
            spec,
            messages: VecDeque::new(),
            dedup: HashMap::new(),
            next_sequence: 1,
        }
    }

    fn enqueue(&mut self, mut message: Message) {
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
    fn next_expiry(&self, now: Instant) -> Option<Instant> {
        self.messages
            .iter()
            .filter_map(|m| m.invisible_until.filter(|t| *t > now))
            .min()
    }
}

#[derive(Debug, Default)]
struct State {
    /// Queue URL → queue.
    queues: HashMap<String, Queue>,
}

impl State {
    fn queue_mut(&mut self, url: &str) -> BackendResult<&mut Queue> {
        self.queues
            .get_mut(url)
            .ok_or_else(|| BackendError::NotFound(format!("queue {url}")))
    }

    /// One receive attempt: picks deliverable messages, moving those past
    /// their redrive limit to the DLQ first.
    fn try_receive(
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

struct Inner {
    state: Mutex<State>,
    /// Woken on every send, delete, visibility change and redrive.
    changed: Notify,
    dedup_window: Duration,
}

/// The embedded SQS service. Cheap to clone; clones share the queues.
#[derive(Clone)]
pub struct EmbeddedQueues {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedQueues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedQueues").finish_non_exhaustive()
    }
}

impl EmbeddedQueues {
    /// Queues with SQS's 5-minute FIFO deduplication window scaled by
    /// `time_scale` (1.0 = real time; tests use less).
    pub fn new(time_scale: f64) -> Self {
        let window =
            Duration::from_secs(adapters::settings::FIFO_DEDUP_WINDOW_SECS).mul_f64(time_scale);
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                changed: Notify::new(),
                dedup_window: window,
            }),
        }
    }

    /// The URL an embedded queue of this name gets.
    pub fn url_of(name: &str) -> String {
        format!("http://sqs.embedded.local/{EMBEDDED_ACCOUNT}/{name}")
    }

    fn send_now(&self, queue_url: &str, message: &SendMessage) -> BackendResult<String> {
        let now = Instant::now();
        let mut state = lock(&self.inner.state);
        let queue = state.queue_mut(queue_url)?;
        check_contents(message).map_err(|e| BackendError::Call(Box::new(e)))?;
        let (group_id, dedup_id) = if queue.spec.fifo {
            let group = message
                .group_id
                .clone()
                .ok_or_else(|| BackendError::Call("MessageGroupId is required on FIFO".into()))?;
            let dedup = message.dedup_id.clone().ok_or_else(|| {
                BackendError::Call(
                    "MessageDeduplicationId is required (content-based dedup is not emulated)"
                        .into(),
                )
            })?;
            let window = self.inner.dedup_window;
            queue
                .dedup
                .retain(|_, (at, _)| now.duration_since(*at) < window);
            if let Some((_, id)) = queue.dedup.get(&dedup) {
                // Accepted but not enqueued again, with the first send's id.
                return Ok(id.clone());
            }
            (Some(group), Some(dedup))
        } else {
            (None, None)
        };
        let id = uuid::Uuid::new_v4().to_string();
        if let Some(d) = &dedup_id {
            queue.dedup.insert(d.clone(), (now, id.clone()));
        }
        queue.enqueue(Message {
            id: id.clone(),
            body: message.body.clone(),
            group_id,
            dedup_id,
            attributes: message.message_attributes.clone(),
            sent_ms: epoch_millis(),
            sequence_number: None,
            receive_count: 0,
            first_receive_ms: None,
            invisible_until: None,
            receipt: None,
        });
        drop(state);
        self.inner.changed.notify_waiters();
        Ok(id)
    }

    /// Every message of a queue, visible or not, without receiving them (for
    /// tests and the exit summary).
    pub fn peek(&self, queue_url: &str) -> BackendResult<Vec<ReceivedMessage>> {
        let mut state = lock(&self.inner.state);
        let queue = state.queue_mut(queue_url)?;
        Ok(queue.messages.iter().map(Message::received).collect())
    }

    /// Ends the visibility timeout of every in-flight message of a queue now,
    /// as if it had run out while its consumer was still busy: the messages
    /// are delivered again, and a consumer that then deletes with the old
    /// receipt handle finds it stale. The chaos run uses it to inject
    /// visibility expiry mid-batch and duplicate delivery. Returns how many
    /// messages it made visible.
    pub fn expire_visibility(&self, queue_url: &str) -> BackendResult<usize> {
        let now = Instant::now();
        let mut state = lock(&self.inner.state);
        let queue = state.queue_mut(queue_url)?;
        let mut expired = 0;
        for message in queue.messages.iter_mut().filter(|m| m.in_flight(now)) {
            message.invisible_until = Some(now);
            expired += 1;
        }
        drop(state);
        self.inner.changed.notify_waiters();
        Ok(expired)
    }
}

#[async_trait]
impl QueueService for EmbeddedQueues {
    async fn create_queue(&self, spec: &QueueSpec) -> BackendResult<String> {
        if spec.fifo != spec.name.ends_with(".fifo") {
            return Err(BackendError::Call(
                "a FIFO queue's name must end in .fifo, and only a FIFO queue's".into(),
            ));
        }
        let url = Self::url_of(&spec.name);
        let mut state = lock(&self.inner.state);
        if let Some(r) = &spec.redrive
            && let Some(dlq) = state.queues.get(&r.dlq_url)
            && dlq.spec.fifo != spec.fifo
        {
            return Err(BackendError::Call(
                "the DLQ of a FIFO queue must be FIFO and vice versa".into(),
            ));
        }
        state
            .queues
            .entry(url.clone())
            .or_insert_with(|| Queue::new(spec.clone()));
        Ok(url)
    }

    async fn send(&self, queue_url: &str, message: &SendMessage) -> BackendResult<String> {
        self.send_now(queue_url, message)
    }

    async fn receive(
        &self,
        queue_url: &str,
        max: usize,
        wait: Duration,
    ) -> BackendResult<Vec<ReceivedMessage>> {
        let max = max.clamp(1, 10);
        let deadline = Instant::now() + wait;
        loop {
            // Registered before looking, so a send in between is not missed.
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Instant::now();
            let (messages, next_expiry) =
                lock(&self.inner.state).try_receive(queue_url, max, now)?;
            if !messages.is_empty() {
                return Ok(messages);
            }
            if now >= deadline {
                return Ok(Vec::new());
            }
            let wake = next_expiry.map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> BackendResult<()> {
        let now = Instant::now();
        let mut state = lock(&self.inner.state);
        let queue = state.queue_mut(queue_url)?;
        // A receipt is valid while its receive's visibility lasts, as on FIFO queues.
        let position = queue
            .messages
            .iter()
            .position(|m| m.receipt.as_deref() == Some(receipt_handle) && m.in_flight(now));
        let Some(position) = position else {
            return Err(BackendError::NotFound(format!(
                "receipt handle {receipt_handle}"
            )));
        };
        queue.messages.remove(position);
        drop(state);
        self.inner.changed.notify_waiters();
        Ok(())
    }

    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> BackendResult<()> {
        let now = Instant::now();
        let mut state = lock(&self.inner.state);
        let queue = state.queue_mut(queue_url)?;
        let message = queue
            .messages
            .iter_mut()
            .find(|m| m.receipt.as_deref() == Some(receipt_handle) && m.in_flight(now))
            .ok_or_else(|| BackendError::NotFound(format!("receipt handle {receipt_handle}")))?;
        message.invisible_until = Some(now + timeout);
        drop(state);
        self.inner.changed.notify_waiters();
        Ok(())
    }

    async fn depth(&self, queue_url: &str) -> BackendResult<QueueDepth> {
        let now = Instant::now();
        let mut state = lock(&self.inner.state);
        let queue = state.queue_mut(queue_url)?;
        let in_flight = queue.messages.iter().filter(|m| m.in_flight(now)).count() as u64;
        Ok(QueueDepth {
            visible: queue.messages.len() as u64 - in_flight,
            in_flight,
        })
    }

    fn order_queue(&self, queue_url: &str) -> Arc<dyn OrderQueue> {
        Arc::new(EmbeddedOrderQueue {
            queues: self.clone(),
            queue_url: queue_url.to_owned(),
        })
    }

    fn dead_letter_queue(&self, queue_url: &str) -> Arc<dyn DeadLetterQueue> {
        Arc::new(EmbeddedDeadLetters {
            queues: self.clone(),
            queue_url: queue_url.to_owned(),
        })
    }
}

/// The worker's and notifier's dead-letter port over an embedded queue,
/// shaped like `SqsDeadLetterQueue`. Every failure is permanent here: the
/// embedded queue is never throttled.
struct EmbeddedDeadLetters {
    queues: EmbeddedQueues,
    queue_url: String,
}

#[async_trait]
impl DeadLetterQueue for EmbeddedDeadLetters {
    async fn send(&self, letter: &DeadLetter) -> Result<(), PortError> {
        let message = SendMessage {
            body: letter.body.clone(),
            group_id: letter.group_id.clone(),
            dedup_id: letter.dedup_id.clone(),
            message_attributes: letter
                .attributes
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
        };
        self.queues
            .send_now(&self.queue_url, &message)
            .map(|_| ())
            .map_err(|e| PortError::Permanent(Box::new(e)))
    }
}

/// The intake's port over an embedded queue, shaped like `SqsOrderQueue`.
struct EmbeddedOrderQueue {
    queues: EmbeddedQueues,
    queue_url: String,
}

#[async_trait]
impl OrderQueue for EmbeddedOrderQueue {
    async fn enqueue(&self, order: &OutgoingOrder) -> Result<(), QueueError> {
        let message = SendMessage {
            body: order.message.to_body(),
            group_id: Some(order.group_id.clone()),
            dedup_id: Some(order.dedup_id.clone()),
            message_attributes: HashMap::from([(
                adapters::ports::CORRELATION_ID_ATTRIBUTE.to_owned(),
                order.message.correlation_id.as_str().to_owned(),
            )]),
        };
        self.queues
            .send_now(&self.queue_url, &message)
            .map(|_| ())
            .map_err(|e| QueueError::Rejected(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fifo(name: &str, visibility_ms: u64, redrive: Option<Redrive>) -> QueueSpec {
        QueueSpec {
            name: name.into(),
            fifo: true,
            visibility_timeout: Duration::from_millis(visibility_ms),
            redrive,
        }
    }

    fn msg(group: &str, dedup: &str, body: &str) -> SendMessage {
        SendMessage {
            body: body.into(),
            group_id: Some(group.into()),
            dedup_id: Some(dedup.into()),
            ..SendMessage::default()
        }
    }

    fn bodies(ms: &[ReceivedMessage]) -> Vec<&str> {
        ms.iter().map(|m| m.body.as_str()).collect()
    }

    #[tokio::test]
    async fn given_a_group_in_flight_when_receiving_then_only_other_groups_are_delivered() {
        let q = EmbeddedQueues::new(1.0);
        let url = q.create_queue(&fifo("a.fifo", 60_000, None)).await.unwrap();
        for (g, d, b) in [("A", "1", "a1"), ("A", "2", "a2"), ("B", "3", "b1")] {
            q.send(&url, &msg(g, d, b)).await.unwrap();
        }
        let first = q.receive(&url, 1, Duration::ZERO).await.unwrap();
        assert_eq!(bodies(&first), ["a1"]);
        let second = q.receive(&url, 10, Duration::ZERO).await.unwrap();
        assert_eq!(bodies(&second), ["b1"], "a2 waits for a1");
        q.delete(&url, &first[0].receipt_handle).await.unwrap();
        let third = q.receive(&url, 10, Duration::ZERO).await.unwrap();
        assert_eq!(bodies(&third), ["a2"]);
        assert_eq!(third[0].attributes["MessageGroupId"], "A");
        assert!(third[0].attributes["SequenceNumber"] > first[0].attributes["SequenceNumber"]);
    }

    #[tokio::test]
    async fn given_a_dedup_id_seen_within_the_window_when_sent_again_then_nothing_is_enqueued() {
        let q = EmbeddedQueues::new(1.0);
        let url = q.create_queue(&fifo("d.fifo", 60_000, None)).await.unwrap();
        let id1 = q.send(&url, &msg("A", "same", "x")).await.unwrap();
        let id2 = q.send(&url, &msg("B", "same", "y")).await.unwrap();
        assert_eq!(id1, id2);
        assert_eq!(q.depth(&url).await.unwrap().visible, 1);
    }

    #[tokio::test]
    async fn given_the_window_passed_when_sent_again_then_it_is_enqueued() {
        let q = EmbeddedQueues::new(0.0001); // 30 ms window
        let url = q.create_queue(&fifo("w.fifo", 60_000, None)).await.unwrap();
        q.send(&url, &msg("A", "same", "x")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        q.send(&url, &msg("A", "same", "x")).await.unwrap();
        assert_eq!(q.depth(&url).await.unwrap().visible, 2);
    }

    #[tokio::test]
    async fn given_an_expired_visibility_when_receiving_then_the_count_grows_and_old_receipts_die()
    {
        let q = EmbeddedQueues::new(1.0);
        let url = q.create_queue(&fifo("v.fifo", 30, None)).await.unwrap();
        q.send(&url, &msg("A", "1", "x")).await.unwrap();
        let first = q.receive(&url, 10, Duration::ZERO).await.unwrap();
        assert_eq!(first[0].receive_count(), 1);
        assert_eq!(q.depth(&url).await.unwrap().in_flight, 1);
        // Long poll wakes when the visibility timeout ends.
        let second = q.receive(&url, 10, Duration::from_secs(2)).await.unwrap();
        assert_eq!(second[0].receive_count(), 2);
        assert!(q.delete(&url, &first[0].receipt_handle).await.is_err());
        q.delete(&url, &second[0].receipt_handle).await.unwrap();
        assert_eq!(q.depth(&url).await.unwrap(), QueueDepth::default());
    }

    #[tokio::test]
    async fn given_max_receive_count_reached_when_receiving_then_the_message_moves_to_the_dlq() {
        let q = EmbeddedQueues::new(1.0);
        let dlq = q
            .create_queue(&fifo("x-dlq.fifo", 60_000, None))
            .await
            .unwrap();
        let url = q
            .create_queue(&fifo(
                "x.fifo",
                60_000,
                Some(Redrive {
                    dlq_url: dlq.clone(),
                    max_receive_count: 3,
                }),
            ))
            .await
            .unwrap();
        q.send(&url, &msg("A", "1", "poison")).await.unwrap();
        q.send(&url, &msg("A", "2", "next")).await.unwrap();
        for n in 1..=3 {
            let got = q.receive(&url, 1, Duration::ZERO).await.unwrap();
            assert_eq!(bodies(&got), ["poison"]);
            assert_eq!(got[0].receive_count(), n);
            q.change_visibility(&url, &got[0].receipt_handle, Duration::ZERO)
                .await
                .unwrap();
        }
        let got = q.receive(&url, 1, Duration::ZERO).await.unwrap();
        assert_eq!(bodies(&got), ["next"], "the group flows again");
        let dead = q.peek(&dlq).unwrap();
        assert_eq!(bodies(&dead), ["poison"]);
        assert_eq!(dead[0].receive_count(), 3);
    }

    #[tokio::test]
    async fn long_poll_wakes_on_send() {
        let q = EmbeddedQueues::new(1.0);
        let url = q
            .create_queue(&QueueSpec {
                name: "std".into(),
                fifo: false,
                visibility_timeout: Duration::from_secs(30),
                redrive: None,
            })
            .await
            .unwrap();
        let (q2, url2) = (q.clone(), url.clone());
        let waiter =
            tokio::spawn(async move { q2.receive(&url2, 10, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = std::time::Instant::now();
        q.send(
            &url,
            &SendMessage {
                body: "hi".into(),
                ..SendMessage::default()
            },
        )
        .await
        .unwrap();
        let got = waiter.await.unwrap().unwrap();
        assert_eq!(bodies(&got), ["hi"]);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(
            q.send(&url, &msg("g", "d", "b")).await.is_ok(),
            "standard queues ignore group ids"
        );
    }

    #[tokio::test]
    async fn fifo_sends_need_a_group_and_unknown_queues_are_not_found() {
        let q = EmbeddedQueues::new(1.0);
        let url = q.create_queue(&fifo("n.fifo", 1000, None)).await.unwrap();
        assert!(q.send(&url, &SendMessage::default()).await.is_err());
        assert!(matches!(
            q.depth("http://nope").await,
            Err(BackendError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn given_a_character_sqs_refuses_when_sent_then_invalid_message_contents_and_nothing_enqueued()
     {
        let q = EmbeddedQueues::new(1.0);
        let url = q
            .create_queue(&fifo("chars.fifo", 1000, None))
            .await
            .unwrap();
        for (n, refused) in ['\u{FFFF}', '\u{FFFE}', '\u{0}', '\u{1}', '\u{B}', '\u{1F}']
            .into_iter()
            .enumerate()
        {
            let body = format!("order {refused} body");
            let err = q
                .send(&url, &msg("g", &format!("body-{n}"), &body))
                .await
                .unwrap_err();
            let BackendError::Call(source) = &err else {
                panic!("not a call error: {err:?}");
            };
            let contents = source
                .downcast_ref::<InvalidMessageContents>()
                .unwrap_or_else(|| panic!("not InvalidMessageContents: {source}"));
            assert_eq!(contents.part, "body");
            assert_eq!(contents.code_point, u32::from(refused));
            assert!(source.to_string().starts_with("InvalidMessageContents"));
            assert!(
                !source.to_string().contains("order"),
                "no message text in the error"
            );
        }
        let mut attribute = msg("g", "attr", "fine");
        attribute
            .message_attributes
            .insert("correlationId".into(), "c-\u{FFFF}".into());
        let err = q.send(&url, &attribute).await.unwrap_err();
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(
            source.starts_with("InvalidMessageContents: the message attribute correlationId"),
            "{source}"
        );
        assert!(q.peek(&url).unwrap().is_empty(), "nothing was enqueued");
    }

    #[tokio::test]
    async fn given_every_character_sqs_allows_when_sent_then_it_is_enqueued_unchanged() {
        let q = EmbeddedQueues::new(1.0);
        let url = q.create_queue(&fifo("ok.fifo", 1000, None)).await.unwrap();
        let body = "tab\t nl\n cr\r space ~ \u{7F} \u{85} \u{D7FF} \u{E000} \u{FFFD} \u{10000} \u{10FFFF} Nguyễn 😀";
        q.send(&url, &msg("g", "d", body)).await.unwrap();
        assert_eq!(bodies(&q.peek(&url).unwrap()), [body]);
    }
}
