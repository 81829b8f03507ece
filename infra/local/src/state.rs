//! What the running pipeline shares between the emulated API Gateway, the
//! event source mappings and the [`crate::Pipeline`] handle: the resources
//! in use, the counters, the status `GET /_local/status` answers and the
//! drain check shutdown waits on.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use orders_backends::backend::Backends;

use crate::stats::{Counters, QueueStatus, Stages, Status};

/// URLs and ARNs of the created resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// Orders FIFO queue URL.
    pub orders_queue_url: String,
    /// Worker DLQ URL.
    pub orders_dlq_url: String,
    /// Table name.
    pub table: String,
    /// Topic ARN.
    pub topic_arn: String,
    /// Notifier on-failure queue URL.
    pub on_failure_queue_url: String,
    /// Events queue URL.
    pub events_queue_url: String,
    /// Admin topic ARN (the e-mail subscription's).
    pub admin_topic_arn: String,
    /// Admin-digest queue URL.
    pub admin_digest_queue_url: String,
    /// Admin-digest DLQ URL.
    pub admin_digest_dlq_url: String,
    /// Confirmation queue URL.
    pub confirmation_queue_url: String,
    /// Confirmation DLQ URL.
    pub confirmation_dlq_url: String,
    /// The confirmations' From address (a verified identity).
    pub ses_sender: String,
    /// The confirmations' configuration set.
    pub configuration_set: String,
}

/// State shared by the gateway, the mappings and the handle.
pub struct PipelineState {
    pub(crate) backends: Backends,
    pub(crate) resources: Resources,
    counters: Arc<Counters>,
    backend_label: String,
    /// When the notifier's poller last found nothing to do.
    pub(crate) notifier_idle_at: Arc<Mutex<Option<tokio::time::Instant>>>,
    /// Stream records read but not yet handled by the notifier.
    pub(crate) notifier_pending: Arc<AtomicU64>,
}

impl PipelineState {
    /// The counters the stages and mappings update.
    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The state of a pipeline just started over `backends` with `resources`:
    /// the notifier has not been idle yet and holds no records.
    pub(crate) fn new(
        backends: Backends,
        resources: Resources,
        counters: Arc<Counters>,
        backend_label: String,
    ) -> Self {
        Self {
            backends,
            resources,
            counters,
            backend_label,
            notifier_idle_at: Arc::new(Mutex::new(None)),
            notifier_pending: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Counts per stage and queue depths (a depth that cannot be read shows as 0
    /// and is logged).
    pub async fn status(&self) -> Status {
        let r = &self.resources;
        let mut queues = BTreeMap::new();
        for (key, url) in [
            ("orders", &r.orders_queue_url),
            ("ordersDlq", &r.orders_dlq_url),
            ("notifierOnFailure", &r.on_failure_queue_url),
            ("events", &r.events_queue_url),
            ("adminDigest", &r.admin_digest_queue_url),
            ("adminDigestDlq", &r.admin_digest_dlq_url),
            ("confirmation", &r.confirmation_queue_url),
            ("confirmationDlq", &r.confirmation_dlq_url),
        ] {
            let depth = match self.backends.queues.depth(url).await {
                Ok(d) => d,
                Err(err) => {
                    tracing::warn!(
                        queue = key,
                        error = &err as &dyn std::error::Error,
                        "queue depth unavailable"
                    );
                    Default::default()
                }
            };
            queues.insert(
                key.to_owned(),
                QueueStatus {
                    url: url.clone(),
                    visible: depth.visible,
                    in_flight: depth.in_flight,
                },
            );
        }
        let c = &self.counters;
        let dlq = queues
            .get("ordersDlq")
            .map_or(0, |q| q.visible + q.in_flight);
        let stages = Stages {
            accepted: Counters::get(&c.accepted),
            rejected: Counters::get(&c.rejected),
            persisted: Counters::get(&c.persisted),
            notified: Counters::get(&c.notified),
            failed: dlq + Counters::get(&c.notifier_dead_records),
        };
        let invocations = BTreeMap::from([
            ("worker".to_owned(), Counters::get(&c.worker_invocations)),
            (
                "workerItemFailures".to_owned(),
                Counters::get(&c.worker_item_failures),
            ),
            (
                "notifier".to_owned(),
                Counters::get(&c.notifier_invocations),
            ),
            (
                "notifierFailures".to_owned(),
                Counters::get(&c.notifier_failures),
            ),
            (
                "workerTimeouts".to_owned(),
                Counters::get(&c.worker_timeouts),
            ),
            (
                "notifierTimeouts".to_owned(),
                Counters::get(&c.notifier_timeouts),
            ),
            (
                "streamRecordsFilteredOut".to_owned(),
                Counters::get(&c.filtered_out),
            ),
            (
                "adminDigest".to_owned(),
                Counters::get(&c.admin_digest_invocations),
            ),
            (
                "adminDigestItemFailures".to_owned(),
                Counters::get(&c.admin_digest_item_failures),
            ),
            (
                "adminDigestTimeouts".to_owned(),
                Counters::get(&c.admin_digest_timeouts),
            ),
            (
                "confirmation".to_owned(),
                Counters::get(&c.confirmation_invocations),
            ),
            (
                "confirmationItemFailures".to_owned(),
                Counters::get(&c.confirmation_item_failures),
            ),
            (
                "confirmationTimeouts".to_owned(),
                Counters::get(&c.confirmation_timeouts),
            ),
        ]);
        Status {
            backend: self.backend_label.clone(),
            stages,
            queues,
            invocations,
            recent_orders: crate::recent::global().orders(),
            recent_failures: crate::recent::global().failures(),
        }
    }

    /// Whether everything accepted so far has been worked off: the orders
    /// queue is empty, the notifier found nothing new since, and the admin
    /// digest has e-mailed (or dead-lettered) every event it was given.
    pub(crate) async fn drained(&self) -> bool {
        let checked_at = tokio::time::Instant::now();
        let Ok(depth) = self
            .backends
            .queues
            .depth(&self.resources.orders_queue_url)
            .await
        else {
            return false;
        };
        if depth.visible + depth.in_flight > 0 {
            return false;
        }
        // The worker writes before it deletes, so with the queue empty every
        // INSERT is on the stream: wait for one idle read of the notifier after now.
        let deadline = checked_at + Duration::from_secs(2);
        while tokio::time::Instant::now() < deadline {
            let idle = *self
                .notifier_idle_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if idle.is_some_and(|t| t > checked_at) {
                return self.consumers_drained().await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Whether the admin-digest and confirmation queues hold nothing,
    /// visible or in flight: every event the notifier published has been
    /// e-mailed about, to the admin and to its customer.
    async fn consumers_drained(&self) -> bool {
        for url in [
            &self.resources.admin_digest_queue_url,
            &self.resources.confirmation_queue_url,
        ] {
            let empty = self
                .backends
                .queues
                .depth(url)
                .await
                .is_ok_and(|d| d.visible + d.in_flight == 0);
            if !empty {
                return false;
            }
        }
        true
    }
}
