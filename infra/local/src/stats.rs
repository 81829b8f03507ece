//! Counters per stage, shared by the gateway, the mappings and `/_local/status`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Monotonic counters, updated lock-free from every task.
#[derive(Debug, Default)]
pub struct Counters {
    /// Intake answered 202.
    pub accepted: AtomicU64,
    /// Intake answered anything else.
    pub rejected: AtomicU64,
    /// INSERT records seen on the table's stream (orders durably stored).
    pub persisted: AtomicU64,
    /// Stream records the notifier processed without failure.
    pub notified: AtomicU64,
    /// Worker invocations.
    pub worker_invocations: AtomicU64,
    /// Records the worker reported as failed (each attempt counts).
    pub worker_item_failures: AtomicU64,
    /// Worker invocations that ran past the function's timeout (a crash, as
    /// Lambda sees it: the whole batch is retried).
    pub worker_timeouts: AtomicU64,
    /// Admin-digest invocations.
    pub admin_digest_invocations: AtomicU64,
    /// Records the admin digest reported as failed (each attempt counts).
    pub admin_digest_item_failures: AtomicU64,
    /// Admin-digest invocations that ran past the function's timeout.
    pub admin_digest_timeouts: AtomicU64,
    /// Confirmation invocations.
    pub confirmation_invocations: AtomicU64,
    /// Records the confirmation function reported as failed (each attempt counts).
    pub confirmation_item_failures: AtomicU64,
    /// Confirmation invocations that ran past the function's timeout.
    pub confirmation_timeouts: AtomicU64,
    /// Notifier invocations.
    pub notifier_invocations: AtomicU64,
    /// Failed notifier invocations (item failure, error or timeout).
    pub notifier_failures: AtomicU64,
    /// Notifier invocations that ran past the function's timeout: records
    /// they published before it are published again by the retry.
    pub notifier_timeouts: AtomicU64,
    /// Stream records sent to the notifier's on-failure queue.
    pub notifier_dead_records: AtomicU64,
    /// Stream records dropped by the filter criteria (MODIFY, REMOVE).
    pub filtered_out: AtomicU64,
    /// Per order id, how many timed-out notifier invocations carried its
    /// record: each may have published it before the timeout, and the retry
    /// publishes it again. The one cause a duplicate announcement may have.
    notifier_timed_out_orders: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

impl Counters {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Notes a notifier invocation that timed out carrying `order_ids`.
    pub fn note_notifier_timeout<'a>(&self, order_ids: impl IntoIterator<Item = &'a str>) {
        let mut orders = self
            .notifier_timed_out_orders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in order_ids {
            *orders.entry(id.to_owned()).or_insert(0) += 1;
        }
    }

    /// How many timed-out notifier invocations carried `order_id`'s record.
    pub fn notifier_timeouts_of(&self, order_id: &str) -> u64 {
        self.notifier_timed_out_orders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(order_id)
            .copied()
            .unwrap_or(0)
    }
}

/// Scales the deployed durations for tests (`1.0` = as deployed). Counts
/// (receive counts, retries, batch sizes) are never scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeScale(pub f64);

impl TimeScale {
    /// Real time.
    pub const REAL: Self = Self(1.0);

    /// `secs` seconds, scaled.
    pub fn secs(self, secs: u64) -> Duration {
        Duration::from_secs(secs).mul_f64(self.0)
    }
}

/// Depth of one queue in the status answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    /// Queue URL.
    pub url: String,
    /// Messages available.
    pub visible: u64,
    /// Messages received and not yet deleted.
    pub in_flight: u64,
}

/// Counts per stage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Stages {
    /// Intake answered 202.
    pub accepted: u64,
    /// Intake refused (4xx/5xx).
    pub rejected: u64,
    /// Orders stored (INSERTs on the stream).
    pub persisted: u64,
    /// Stream records handled by the notifier.
    pub notified: u64,
    /// Messages in the worker DLQ plus records sent to the notifier's on-failure queue.
    pub failed: u64,
}

/// The `GET /_local/status` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// `embedded` or the endpoint URL.
    pub backend: String,
    /// Counts per stage.
    pub stages: Stages,
    /// Orders queue, its DLQ, the notifier's on-failure queue and the events queue.
    pub queues: std::collections::BTreeMap<String, QueueStatus>,
    /// Invocation counters of the emulated event source mappings.
    pub invocations: std::collections::BTreeMap<String, u64>,
    /// The last orders (ids, status, age at each stage), newest first
    /// ([`crate::recent`]).
    #[serde(default)]
    pub recent_orders: Vec<crate::recent::RecentOrder>,
    /// The last failures with their reasons, newest first.
    #[serde(default)]
    pub recent_failures: Vec<crate::recent::RecentFailure>,
}
