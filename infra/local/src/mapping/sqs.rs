//! The SQS event source mappings: the worker's on the orders FIFO queue and
//! the admin digest's on its standard queue.
//!
//! Each poller receives messages, gathering them as Lambda does: with no
//! batching window, one receive of up to the batch size (at most ten); with
//! one, it keeps receiving until the batch size is reached, the window has
//! passed since the first message, or the payload nears Lambda's 6 MB
//! invocation limit ("the maximum amount of time, in seconds, that Lambda
//! spends gathering records before invoking the function";
//! <https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html>,
//! <https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html>).
//! It then builds the `SqsEvent` Lambda would (ids, receipt handles, bodies,
//! `md5OfBody`, system attributes including the FIFO ones, message
//! attributes, `aws:sqs`, the queue ARN, the region), invokes the function
//! and honours `batchItemFailures`: successes are deleted, failures stay in
//! flight until their visibility timeout so SQS redelivers them (and
//! redrives them after `maxReceiveCount` receives). The worker's backoff
//! lengthens that timeout through [`ScaledVisibilityDelay`], with the
//! durations scaled like the queue's own timeout. An invocation error or
//! timeout leaves the whole batch, as on Lambda. As many pollers run as the
//! mapping's `MaximumConcurrency`, each invoking one batch at a time, so no
//! more invocations than that run at once; FIFO's group locking keeps each
//! group in order across them.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use lambda_runtime::LambdaEvent;
use orders_adapters::ports::{MAX_VISIBILITY_DELAY, PortError, VisibilityDelay};
use orders_backends::backend::{QueueService, ReceivedMessage};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::stats::{Counters, TimeScale};

/// Long-poll wait per receive; short so a stop request is seen quickly.
const POLL_WAIT: Duration = Duration::from_secs(1);

/// Most messages one `ReceiveMessage` returns
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html>).
const MAX_RECEIVE: usize = 10;

/// Lambda's synchronous invocation payload limit, 6 MB, which ends a
/// batching window early. Gathering stops while one more receive of the
/// largest messages (ten of 256 KiB) still fits under it.
const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
const GATHER_PAYLOAD_BYTES: usize = MAX_PAYLOAD_BYTES - MAX_RECEIVE * 256 * 1024;

/// What an invocation answers.
pub type SqsResult = Result<SqsBatchResponse, lambda_runtime::Error>;

/// The emulated function: the shipped handler with its dependencies.
pub type SqsFunction = Arc<
    dyn Fn(LambdaEvent<SqsEvent>) -> Pin<Box<dyn Future<Output = SqsResult> + Send>> + Send + Sync,
>;

/// Which of the shared [`Counters`] a mapping counts its invocations in.
#[derive(Debug, Clone, Copy)]
pub struct MappingCounters {
    /// Invocations.
    pub invocations: fn(&Counters) -> &AtomicU64,
    /// Records reported failed (each attempt counts).
    pub item_failures: fn(&Counters) -> &AtomicU64,
    /// Invocations that ran past the function's timeout.
    pub timeouts: fn(&Counters) -> &AtomicU64,
}

impl MappingCounters {
    /// The worker's.
    pub const WORKER: Self = Self {
        invocations: |c| &c.worker_invocations,
        item_failures: |c| &c.worker_item_failures,
        timeouts: |c| &c.worker_timeouts,
    };

    /// The admin digest's.
    pub const ADMIN_DIGEST: Self = Self {
        invocations: |c| &c.admin_digest_invocations,
        item_failures: |c| &c.admin_digest_item_failures,
        timeouts: |c| &c.admin_digest_timeouts,
    };

    /// The confirmation function's.
    pub const CONFIRMATION: Self = Self {
        invocations: |c| &c.confirmation_invocations,
        item_failures: |c| &c.confirmation_item_failures,
        timeouts: |c| &c.confirmation_timeouts,
    };
}

/// One SQS mapping, shared by its pollers.
pub struct SqsMapping {
    /// The queue service.
    pub queues: Arc<dyn QueueService>,
    /// The source queue.
    pub queue_url: String,
    /// Its ARN (`eventSourceARN`).
    pub queue_arn: String,
    /// Region (`awsRegion`).
    pub region: String,
    /// The emulated function's name, for the logs.
    pub name: &'static str,
    /// The emulated function's ARN.
    pub function_arn: String,
    /// The function.
    pub function: SqsFunction,
    /// The function's (deployed) timeout.
    pub timeout: Duration,
    /// `BatchSize`.
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds` (scaled); zero for none.
    pub batching_window: Duration,
    /// Shared counters.
    pub counters: Arc<Counters>,
    /// Which of them this mapping updates.
    pub counted_in: MappingCounters,
}

/// The worker's backoff port with the runner's time scale applied: the
/// worker asks for the deployed durations (minutes), the queue keeps the
/// message invisible for the scaled ones, as it does with the queue's own
/// visibility timeout, so a test waits seconds for an hour of backoff.
pub struct ScaledVisibilityDelay {
    inner: Arc<dyn VisibilityDelay>,
    scale: TimeScale,
}

impl ScaledVisibilityDelay {
    /// Scales every delay asked of `inner` by `scale`.
    pub fn new(inner: Arc<dyn VisibilityDelay>, scale: TimeScale) -> Self {
        Self { inner, scale }
    }
}

#[async_trait::async_trait]
impl VisibilityDelay for ScaledVisibilityDelay {
    async fn delay(&self, receipt_handle: &str, delay: Duration) -> Result<(), PortError> {
        // Capped before scaling, so a scaled run keeps SQS's limit in view;
        // a scale that makes no duration (never, after the CLI's check)
        // leaves the delay as asked.
        let capped = delay.min(MAX_VISIBILITY_DELAY);
        let scaled =
            Duration::try_from_secs_f64(capped.as_secs_f64() * self.scale.0).unwrap_or(capped);
        self.inner.delay(receipt_handle, scaled).await
    }
}

/// The worker's function: `worker::handle` over `deps`.
pub fn worker_function(deps: Arc<worker::Deps>) -> SqsFunction {
    Arc::new(move |event| {
        let deps = deps.clone();
        Box::pin(async move { worker::handle(&deps, event).await })
    })
}

/// The admin digest's function: `admin_digest::handle` over `deps`.
pub fn admin_digest_function(deps: Arc<admin_digest::Deps>) -> SqsFunction {
    Arc::new(move |event| {
        let deps = deps.clone();
        Box::pin(async move { admin_digest::handle(&deps, event).await })
    })
}

/// The confirmation function: `confirmation::handle` over `deps`.
pub fn confirmation_function(deps: Arc<confirmation::Deps>) -> SqsFunction {
    Arc::new(move |event| {
        let deps = deps.clone();
        Box::pin(async move { confirmation::handle(&deps, event).await })
    })
}

fn sqs_message(m: &ReceivedMessage, queue_arn: &str, region: &str) -> SqsMessage {
    let mut out = SqsMessage::default();
    out.message_id = Some(m.message_id.clone());
    out.receipt_handle = Some(m.receipt_handle.clone());
    out.body = Some(m.body.clone());
    out.md5_of_body = Some(orders_backends::md5::md5_hex(m.body.as_bytes()));
    out.attributes = m.attributes.clone();
    out.message_attributes = m
        .message_attributes
        .iter()
        .map(|(k, v)| {
            let mut a = SqsMessageAttribute::default();
            a.string_value = Some(v.clone());
            a.data_type = Some("String".to_owned());
            (k.clone(), a)
        })
        .collect::<HashMap<_, _>>();
    out.event_source = Some("aws:sqs".to_owned());
    out.event_source_arn = Some(queue_arn.to_owned());
    out.aws_region = Some(region.to_owned());
    out
}

impl SqsMapping {
    /// The event Lambda would deliver for these messages.
    pub fn event(&self, messages: &[ReceivedMessage]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = messages
            .iter()
            .map(|m| sqs_message(m, &self.queue_arn, &self.region))
            .collect();
        event
    }

    /// Polls until `stop` turns true, finishing the batch in hand. While
    /// `cut_windows` is true (the runner is draining), a batching window
    /// ends at once: what was gathered is invoked without waiting.
    pub async fn run_poller(
        self: Arc<Self>,
        mut stop: watch::Receiver<bool>,
        cut_windows: watch::Receiver<bool>,
    ) {
        while !*stop.borrow_and_update() {
            match self.gather(&stop, &cut_windows).await {
                Ok(messages) if !messages.is_empty() => self.process(&messages).await,
                Ok(_) => {}
                Err(err) => {
                    tracing::error!(
                        function = self.name,
                        error = &err as &dyn std::error::Error,
                        "mapping: receive failed"
                    );
                    // Back off instead of hammering a failing endpoint.
                    tokio::select! {
                        _ = stop.changed() => {}
                        () = tokio::time::sleep(POLL_WAIT) => {}
                    }
                }
            }
        }
    }

    /// One batch: a first long-polled receive, then, with a batching window,
    /// more receives until the batch is full, the window has passed, the
    /// payload nears the limit or the runner stops or drains. Messages
    /// received before a failed receive are kept (they are in flight).
    async fn gather(
        &self,
        stop: &watch::Receiver<bool>,
        cut_windows: &watch::Receiver<bool>,
    ) -> Result<Vec<ReceivedMessage>, orders_backends::backend::BackendError> {
        let first = MAX_RECEIVE.min(self.batch_size);
        let mut batch = self
            .queues
            .receive(&self.queue_url, first, POLL_WAIT)
            .await?;
        if batch.is_empty() || self.batching_window.is_zero() {
            return Ok(batch);
        }
        let until = Instant::now() + self.batching_window;
        let mut bytes: usize = batch.iter().map(|m| m.body.len()).sum();
        loop {
            let now = Instant::now();
            let full = batch.len() >= self.batch_size || bytes >= GATHER_PAYLOAD_BYTES;
            if full || now >= until || *stop.borrow() || *cut_windows.borrow() {
                return Ok(batch);
            }
            let max = MAX_RECEIVE.min(self.batch_size - batch.len());
            let wait = (until - now).min(POLL_WAIT);
            match self.queues.receive(&self.queue_url, max, wait).await {
                Ok(more) => {
                    bytes += more.iter().map(|m| m.body.len()).sum::<usize>();
                    batch.extend(more);
                }
                Err(err) => {
                    tracing::warn!(
                        function = self.name,
                        error = &err as &dyn std::error::Error,
                        "mapping: receive failed while gathering; invoking with what is in hand"
                    );
                    return Ok(batch);
                }
            }
        }
    }

    /// Invokes the function with one batch and deletes what succeeded.
    pub async fn process(&self, messages: &[ReceivedMessage]) {
        let counted = self.counted_in;
        Counters::add((counted.invocations)(&self.counters), 1);
        let context = super::invocation_context(&self.function_arn, self.timeout);
        let request_id = context.request_id.clone();
        let invocation = (self.function)(LambdaEvent::new(self.event(messages), context));
        let name = self.name;
        let failed: HashSet<String> = match tokio::time::timeout(self.timeout, invocation).await {
            Ok(Ok(response)) => {
                let ids: HashSet<String> = response
                    .batch_item_failures
                    .iter()
                    .map(|f| f.item_identifier.clone())
                    .collect();
                // Lambda treats an identifier it did not send as a failed batch.
                if ids
                    .iter()
                    .all(|id| messages.iter().any(|m| &m.message_id == id))
                {
                    ids
                } else {
                    tracing::error!(function = name, %request_id, "function returned an unknown item identifier: whole batch failed");
                    messages.iter().map(|m| m.message_id.clone()).collect()
                }
            }
            Ok(Err(err)) => {
                tracing::error!(function = name, %request_id, error = &*err as &dyn std::error::Error, "invocation failed: whole batch left for retry");
                messages.iter().map(|m| m.message_id.clone()).collect()
            }
            Err(_) => {
                Counters::add((counted.timeouts)(&self.counters), 1);
                tracing::error!(function = name, %request_id, "invocation timed out: whole batch left for retry");
                messages.iter().map(|m| m.message_id.clone()).collect()
            }
        };
        Counters::add((counted.item_failures)(&self.counters), failed.len() as u64);
        for m in messages.iter().filter(|m| !failed.contains(&m.message_id)) {
            if let Err(err) = self.queues.delete(&self.queue_url, &m.receipt_handle).await {
                // The message will be redelivered; both functions drop a repeat
                // (the worker's conditional put, the digest's claim by eventId).
                tracing::warn!(function = name, message_id = %m.message_id, error = &err as &dyn std::error::Error, "delete after success failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The queue's side: what it was asked to do.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<(String, Duration)>>);

    #[async_trait::async_trait]
    impl VisibilityDelay for Recorded {
        async fn delay(&self, receipt_handle: &str, delay: Duration) -> Result<(), PortError> {
            self.0
                .lock()
                .unwrap()
                .push((receipt_handle.to_owned(), delay));
            Ok(())
        }
    }

    #[tokio::test]
    async fn given_a_time_scale_then_the_queue_gets_the_scaled_delay_capped_at_sqs_limit_first() {
        let queue = Arc::new(Recorded::default());
        let scaled = ScaledVisibilityDelay::new(queue.clone(), TimeScale(0.01));

        scaled.delay("r-1", Duration::from_secs(240)).await.unwrap();
        scaled.delay("r-2", Duration::MAX).await.unwrap();

        assert_eq!(
            *queue.0.lock().unwrap(),
            [
                ("r-1".to_owned(), Duration::from_millis(2_400)),
                ("r-2".to_owned(), MAX_VISIBILITY_DELAY.mul_f64(0.01)),
            ]
        );
    }
}
