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
//! so a caller's error path for it can be tested locally; so is a visibility
//! timeout over SQS's 12 hours. Not emulated:
//! retention, delays, content-based deduplication, batch APIs.

mod contents;
mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use orders_adapters::ports::{
    DeadLetter, DeadLetterQueue, MAX_VISIBILITY_DELAY, OrderQueue, OutgoingOrder, PortError,
    QueueError, VisibilityDelay,
};
use orders_adapters::sync::lock;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::arn::EMBEDDED_ACCOUNT;
use crate::backend::{
    BackendError, BackendResult, QueueDepth, QueueService, QueueSpec, ReceivedMessage, SendMessage,
};
use contents::check_contents;
use state::{Message, Queue, State, epoch_millis};

pub use contents::InvalidMessageContents;

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
        let window = Duration::from_secs(orders_adapters::settings::FIFO_DEDUP_WINDOW_SECS)
            .mul_f64(time_scale);
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
            if let Some(id) = queue.dedup.get(&dedup, now, self.inner.dedup_window) {
                // Accepted but not enqueued again, with the first send's id.
                return Ok(id.to_owned());
            }
            (Some(group), Some(dedup))
        } else {
            (None, None)
        };
        let id = uuid::Uuid::new_v4().to_string();
        if let Some(d) = &dedup_id {
            queue.dedup.insert(d.clone(), now, id.clone());
        }
        queue.enqueue(Message {
            id: id.clone(),
            body: message.body.clone(),
            group_id,
            dedup_id,
            attributes: message.message_attributes.clone(),
            trace_header: message.trace_header.clone(),
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
        Ok(queue.messages().map(Message::received).collect())
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
        let expired = state.queue_mut(queue_url)?.expire_all(now);
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
        let Some((arrival, _)) = queue.by_receipt(receipt_handle, now) else {
            return Err(BackendError::NotFound(format!(
                "receipt handle {receipt_handle}"
            )));
        };
        queue.remove(arrival);
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
        // SQS refuses a timeout over 12 hours rather than capping it
        // (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html>).
        if timeout > MAX_VISIBILITY_DELAY {
            return Err(BackendError::Call(
                format!(
                    "InvalidParameterValue: VisibilityTimeout {} s is over the 43200 s SQS allows",
                    timeout.as_secs()
                )
                .into(),
            ));
        }
        let now = Instant::now();
        let mut state = lock(&self.inner.state);
        let queue = state.queue_mut(queue_url)?;
        let (_, message) = queue
            .by_receipt(receipt_handle, now)
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
        let in_flight = queue.in_flight(now) as u64;
        Ok(QueueDepth {
            visible: queue.len() as u64 - in_flight,
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

    fn visibility_delay(&self, queue_url: &str) -> Arc<dyn VisibilityDelay> {
        Arc::new(EmbeddedVisibilityDelay {
            queues: self.clone(),
            queue_url: queue_url.to_owned(),
        })
    }
}

/// The worker's backoff port over an embedded queue, shaped like
/// `SqsVisibilityDelay`: a delay over SQS's limit becomes the limit, and
/// every failure (a stale receipt handle, as SQS's `ReceiptHandleIsInvalid`)
/// is permanent, since the embedded queue is never throttled.
struct EmbeddedVisibilityDelay {
    queues: EmbeddedQueues,
    queue_url: String,
}

#[async_trait]
impl VisibilityDelay for EmbeddedVisibilityDelay {
    async fn delay(&self, receipt_handle: &str, delay: Duration) -> Result<(), PortError> {
        self.queues
            .change_visibility(
                &self.queue_url,
                receipt_handle,
                delay.min(MAX_VISIBILITY_DELAY),
            )
            .await
            .map_err(|e| PortError::Permanent(Box::new(e)))
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
            trace_header: None,
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
                orders_adapters::ports::CORRELATION_ID_ATTRIBUTE.to_owned(),
                order.message.correlation_id.as_str().to_owned(),
            )]),
            trace_header: order.trace_header.clone(),
        };
        self.queues
            .send_now(&self.queue_url, &message)
            .map(|_| ())
            .map_err(|e| QueueError::Rejected(Box::new(e)))
    }
}

#[cfg(test)]
mod tests;
