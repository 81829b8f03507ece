//! The worker's SQS event source mapping.
//!
//! Each poller receives up to `WORKER_BATCH_SIZE` messages, builds the
//! `SqsEvent` Lambda would (ids, receipt handles, bodies, `md5OfBody`, system
//! attributes including the FIFO ones, message attributes, `aws:sqs`, the
//! queue ARN, the region), invokes the worker and honours
//! `batchItemFailures`: successes are deleted, failures stay in flight until
//! their visibility timeout so SQS redelivers them (and redrives them after
//! `MAX_RECEIVE_COUNT` receives). An invocation error or timeout leaves the
//! whole batch, as on Lambda. `WORKER_MAX_CONCURRENCY` pollers run at once;
//! FIFO's group locking keeps each group in order across them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use adapters::settings::WORKER_BATCH_SIZE;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use lambda_runtime::LambdaEvent;
use tokio::sync::watch;

use crate::backend::{QueueService, ReceivedMessage};
use crate::stats::Counters;

/// Long-poll wait per receive; short so a stop request is seen quickly.
const POLL_WAIT: Duration = Duration::from_secs(1);

/// One worker mapping, shared by its pollers.
pub struct SqsMapping {
    /// The queue service.
    pub queues: Arc<dyn QueueService>,
    /// The orders queue.
    pub queue_url: String,
    /// Its ARN (`eventSourceARN`).
    pub queue_arn: String,
    /// Region (`awsRegion`).
    pub region: String,
    /// The emulated function's ARN.
    pub function_arn: String,
    /// The worker's dependencies.
    pub deps: Arc<worker::Deps>,
    /// The worker's (scaled) timeout.
    pub timeout: Duration,
    /// Shared counters.
    pub counters: Arc<Counters>,
}

fn sqs_message(m: &ReceivedMessage, queue_arn: &str, region: &str) -> SqsMessage {
    let mut out = SqsMessage::default();
    out.message_id = Some(m.message_id.clone());
    out.receipt_handle = Some(m.receipt_handle.clone());
    out.body = Some(m.body.clone());
    out.md5_of_body = Some(crate::md5::md5_hex(m.body.as_bytes()));
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

    /// Polls until `stop` turns true, finishing the batch in hand.
    pub async fn run_poller(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow_and_update() {
            let messages = match self
                .queues
                .receive(&self.queue_url, WORKER_BATCH_SIZE, POLL_WAIT)
                .await
            {
                Ok(m) => m,
                Err(err) => {
                    tracing::error!(
                        error = &err as &dyn std::error::Error,
                        "worker mapping: receive failed"
                    );
                    // Back off instead of hammering a failing endpoint.
                    tokio::select! {
                        _ = stop.changed() => {}
                        () = tokio::time::sleep(POLL_WAIT) => {}
                    }
                    continue;
                }
            };
            if !messages.is_empty() {
                self.process(&messages).await;
            }
        }
    }

    /// Invokes the worker with one batch and deletes what succeeded.
    pub async fn process(&self, messages: &[ReceivedMessage]) {
        Counters::add(&self.counters.worker_invocations, 1);
        let context = super::invocation_context(&self.function_arn, self.timeout);
        let request_id = context.request_id.clone();
        let invocation =
            worker::handle(&self.deps, LambdaEvent::new(self.event(messages), context));
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
                    tracing::error!(%request_id, "worker returned an unknown item identifier: whole batch failed");
                    messages.iter().map(|m| m.message_id.clone()).collect()
                }
            }
            Ok(Err(err)) => {
                tracing::error!(%request_id, error = &*err as &dyn std::error::Error, "worker invocation failed: whole batch left for retry");
                messages.iter().map(|m| m.message_id.clone()).collect()
            }
            Err(_) => {
                Counters::add(&self.counters.worker_timeouts, 1);
                tracing::error!(%request_id, "worker invocation timed out: whole batch left for retry");
                messages.iter().map(|m| m.message_id.clone()).collect()
            }
        };
        Counters::add(&self.counters.worker_item_failures, failed.len() as u64);
        for m in messages.iter().filter(|m| !failed.contains(&m.message_id)) {
            if let Err(err) = self.queues.delete(&self.queue_url, &m.receipt_handle).await {
                // The message will be redelivered; the worker's conditional put makes that harmless.
                tracing::warn!(message_id = %m.message_id, error = &err as &dyn std::error::Error, "delete after success failed");
            }
        }
    }
}
