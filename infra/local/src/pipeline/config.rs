//! How a pipeline is configured: resource names, timeouts, the handlers'
//! ports, and what starting may fail with.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use orders_adapters::ports::{
    DeadLetterQueue, EventPublisher, OrderQueue, OrderStore, VisibilityDelay,
};
use orders_adapters::settings::{NOTIFIER_TIMEOUT_SECS, WORKER_TIMEOUT_SECS};
use orders_backends::backend::BackendError;

use crate::stats::TimeScale;

/// Names of the resources the pipeline uses (created if missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceNames {
    /// Orders FIFO queue (ends in `.fifo`).
    pub orders_queue: String,
    /// Its FIFO dead-letter queue.
    pub orders_dlq: String,
    /// Orders table.
    pub table: String,
    /// Order-events topic.
    pub topic: String,
    /// The notifier's on-failure destination (standard queue).
    pub notifier_on_failure_queue: String,
    /// A standard queue subscribed to the topic, to see the events.
    pub events_queue: String,
    /// The admin digest's standard queue, subscribed to the topic.
    pub admin_digest_queue: String,
    /// Its dead-letter queue (also the subscription's).
    pub admin_digest_dlq: String,
    /// The admin topic, which holds the e-mail subscription.
    pub admin_topic: String,
    /// The confirmation function's standard queue, subscribed to the topic.
    pub confirmation_queue: String,
    /// Its dead-letter queue (also the subscription's).
    pub confirmation_dlq: String,
    /// The SES configuration set the confirmations are sent in.
    pub configuration_set: String,
    /// Prefix of the emulated function names.
    pub function_prefix: String,
}

impl ResourceNames {
    /// Every name with `prefix` in front (e.g. a test's unique id).
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            orders_queue: format!("{prefix}orders.fifo"),
            orders_dlq: format!("{prefix}orders-dlq.fifo"),
            table: format!("{prefix}orders"),
            topic: format!("{prefix}order-events"),
            notifier_on_failure_queue: format!("{prefix}notifier-on-failure"),
            events_queue: format!("{prefix}order-events-queue"),
            admin_digest_queue: format!("{prefix}admin-digest"),
            admin_digest_dlq: format!("{prefix}admin-digest-dlq"),
            admin_topic: format!("{prefix}admin"),
            confirmation_queue: format!("{prefix}confirmation"),
            confirmation_dlq: format!("{prefix}confirmation-dlq"),
            configuration_set: format!("{prefix}confirmations"),
            function_prefix: prefix.to_owned(),
        }
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Address of the emulated HTTP API (port 0 = any free port).
    pub bind: SocketAddr,
    /// Resource names.
    pub names: ResourceNames,
    /// How intake groups orders on the FIFO queue.
    pub group_strategy: intake::GroupStrategy,
    /// Duration scale (tests only; counts are never scaled).
    pub time_scale: TimeScale,
    /// E-mail address subscribed to the admin topic (the outbox, when embedded).
    pub email: Option<String>,
    /// Region in ARNs and events.
    pub region: String,
    /// `embedded` or the endpoint URL, for the status answer.
    pub backend_label: String,
    /// How long shutdown waits for queued work to finish.
    pub drain_timeout: Duration,
    /// The worker's timeout (default: the deployed one). The chaos run
    /// shortens it so an injected crash costs little of its time.
    pub worker_timeout: Duration,
    /// The notifier's timeout (default: the deployed one).
    pub notifier_timeout: Duration,
    /// The confirmation function's timeout (default: the deployed one). The
    /// chaos run shortens it, so an injected crash costs little.
    pub confirmation_timeout: Duration,
    /// The account's SES maximum send rate the confirmations are paced to
    /// (default: the stack's default, which the embedded SES enforces).
    pub ses_max_send_rate: f64,
    /// How the HTTP API authorizes its callers, and so who owns an order.
    pub auth: LocalAuth,
}

/// The local HTTP API's authorization (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LocalAuth {
    /// Open (the stack's `AuthMode=NONE`): every order is the anonymous owner's.
    #[default]
    None,
    /// A JWT authorizer (the stack's `AuthMode=JWT`) taking tokens this
    /// runner mints for named users: each user owns their orders.
    Jwt,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 3000)),
            names: ResourceNames::with_prefix("orders-local-"),
            group_strategy: intake::GroupStrategy::default(),
            time_scale: TimeScale::REAL,
            email: None,
            region: orders_backends::embedded::EMBEDDED_REGION.to_owned(),
            backend_label: "embedded".to_owned(),
            drain_timeout: Duration::from_secs(10),
            worker_timeout: Duration::from_secs(WORKER_TIMEOUT_SECS),
            notifier_timeout: Duration::from_secs(NOTIFIER_TIMEOUT_SECS),
            confirmation_timeout: Duration::from_secs(confirmation::settings::TIMEOUT_SECS),
            ses_max_send_rate: super::confirmation::LOCAL_MAX_SEND_RATE,
            auth: LocalAuth::None,
        }
    }
}

/// The handlers' ports, which a test may wrap (e.g. a publisher failing for
/// one order) before the pipeline starts.
#[derive(Clone)]
pub struct Ports {
    /// Intake's queue.
    pub queue: Arc<dyn OrderQueue>,
    /// Worker's store.
    pub store: Arc<dyn OrderStore>,
    /// Notifier's publisher.
    pub publisher: Arc<dyn EventPublisher>,
    /// Worker's dead-letter queue (the orders DLQ).
    pub worker_dead_letters: Arc<dyn DeadLetterQueue>,
    /// Worker's backoff on the orders queue, taking the deployed (unscaled)
    /// durations the worker asks for; the pipeline scales them underneath.
    pub worker_visibility: Arc<dyn VisibilityDelay>,
    /// Notifier's dead-letter queue (its on-failure queue).
    pub notifier_dead_letters: Arc<dyn DeadLetterQueue>,
    /// Admin digest's mailbox (the admin topic).
    pub admin_mailbox: Arc<dyn admin_digest::AdminMailbox>,
    /// Admin digest's record of e-mailed event ids. The runner keeps it in
    /// memory, also over an endpoint: a restarted runner may e-mail an order
    /// again whose event was still on the digest queue (at least once).
    pub admin_processed: Arc<dyn order_consumer::idempotency::ProcessedEvents>,
    /// Confirmation's mailer (the backends' SES).
    pub customer_mailer: Arc<dyn confirmation::CustomerMailer>,
    /// Confirmation's claims and marks on the orders table.
    pub confirmations: Arc<dyn confirmation::ConfirmationStore>,
    /// Confirmation's backoff on its queue (deployed durations; scaled
    /// underneath, like the worker's).
    pub confirmation_visibility: Arc<dyn VisibilityDelay>,
    /// Confirmation's `ConfirmationFailed` count.
    pub confirmation_metrics: Arc<dyn confirmation::metrics::Metrics>,
}

/// Starting failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A resource could not be created or opened.
    #[error("could not set up {what}")]
    Setup {
        /// Which resource.
        what: &'static str,
        /// Why.
        #[source]
        source: BackendError,
    },
    /// Another runner reads the stream of the table (same name prefix, same
    /// endpoint) and keeps renewing its lease: two would announce every
    /// order twice.
    #[error(
        "another runner reads the stream of table {table} ({held}): stop it, or start this one with another --name-prefix"
    )]
    StreamLeaseHeld {
        /// The orders table.
        table: String,
        /// Who holds the lease, until when.
        held: orders_backends::backend::LeaseHeld,
    },
    /// The HTTP port could not be bound.
    #[error("could not listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
