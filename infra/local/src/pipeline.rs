//! The runner as a library: creates the resources, serves the emulated HTTP
//! API, runs the event source mappings, reports status and stops cleanly.
//!
//! Every queue attribute, batch size, retry limit and filter comes from
//! `orders_adapters::settings`; only the durations tests wait on may be scaled
//! ([`TimeScale`](crate::stats::TimeScale): visibility timeout and the
//! worker's backoff, FIFO dedup window, max record age, retry backoff).
//! Function timeouts are ceilings nobody waits for, so they stay as deployed
//! (scaling them would only make slow CI machines time out).

mod config;
mod confirmation;
mod digest;
mod resources;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use orders_adapters::settings::{
    ADMIN_DIGEST_TIMEOUT_SECS, INTAKE_TIMEOUT_SECS, NOTIFIER_MAX_RECORD_AGE_SECS,
    NOTIFIER_MAX_RETRY_ATTEMPTS, WORKER_BATCH_SIZE, WORKER_MAX_CONCURRENCY,
};
use orders_backends::backend::{BackendError, Backends, LeaseSpec};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::mapping::sqs::{MappingCounters, ScaledVisibilityDelay, SqsMapping, worker_function};
use crate::mapping::stream::StreamMapping;
use crate::stats::{Counters, Status};
use resources::{create_resources, setup};

use crate::state::PipelineState;
pub use crate::state::Resources;
pub use config::{LocalAuth, PipelineConfig, PipelineError, Ports, ResourceNames};
pub use confirmation::{
    BackendMailer, LOCAL_MAX_SEND_RATE, LOCAL_SENDER, LoggedMetrics, TableConfirmations,
};
pub use digest::TopicMailbox;
pub use resources::checkpoint_table;

/// What shutdown left behind.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The final status.
    pub status: Status,
    /// Stream records read but not handled when the notifier stopped.
    pub notifier_pending: u64,
    /// Notifications published but not delivered when the runner stopped
    /// (embedded: e-mails not yet written to the outbox); they are lost.
    pub undelivered: u64,
    /// Whether queued work, e-mails included, finished within the drain timeout.
    pub drained: bool,
}

impl Summary {
    /// Human-readable lines for the exit message.
    pub fn lines(&self) -> Vec<String> {
        let s = &self.status.stages;
        let mut lines = vec![format!(
            "orders-local stopped: accepted {}, rejected {}, persisted {}, notified {}, failed {}",
            s.accepted, s.rejected, s.persisted, s.notified, s.failed
        )];
        for (name, q) in &self.status.queues {
            if q.visible + q.in_flight > 0 {
                // The events queue is a tap for people to look at; nothing consumes it.
                let note = if name == "events" {
                    ", a tap nothing consumes"
                } else {
                    ""
                };
                lines.push(format!(
                    "  still queued in {name}: {} visible, {} in flight ({}{note})",
                    q.visible, q.in_flight, q.url
                ));
            }
        }
        if self.notifier_pending > 0 {
            lines.push(format!(
                "  {} stream record(s) not yet notified",
                self.notifier_pending
            ));
        }
        if self.undelivered > 0 {
            lines.push(format!(
                "  {} e-mail(s) published but not written to the outbox",
                self.undelivered
            ));
        }
        if lines.len() == 1 {
            lines.push("  nothing left queued".to_owned());
        }
        lines
    }
}

/// A running pipeline.
pub struct Pipeline {
    url: String,
    state: Arc<PipelineState>,
    config: PipelineConfig,
    stop_http: Option<tokio::sync::oneshot::Sender<()>>,
    http: JoinHandle<()>,
    stop_mappings: watch::Sender<bool>,
    /// Set when shutdown begins: batching windows end at once.
    cut_windows: watch::Sender<bool>,
    mappings: Vec<JoinHandle<()>>,
    /// Where the mappings run (see [`mapping_runtime`]); `None` once shut down.
    mapping_runtime: Option<tokio::runtime::Runtime>,
    /// The API's JWT authorizer, with `--auth jwt`.
    authorizer: Option<crate::gateway::authorizer::LocalAuthorizer>,
}

/// The owner key secret of this runner's owners (`--auth jwt`): fixed, so
/// a user owns the same orders after a restart. Local only: a deployed
/// stack generates its own (`OwnerKeySecret`).
const LOCAL_OWNER_KEY_SECRET: &[u8] = b"orders-local owner keys: for this runner only";

/// How intake and status tell owners apart under `auth`, and the API's
/// authorizer: open (everyone is anonymous), or a JWT authorizer whose
/// users own their orders, keyed as a deployed stack keys them.
fn callers(
    auth: LocalAuth,
) -> (
    orders_http::Owners,
    Option<crate::gateway::authorizer::LocalAuthorizer>,
) {
    match auth {
        LocalAuth::None => (orders_http::Owners::open(), None),
        LocalAuth::Jwt => (
            orders_http::Owners::new(
                orders_http::AuthMode::Jwt,
                orders_domain::model::OwnerSecret::new(LOCAL_OWNER_KEY_SECRET).ok(),
            ),
            Some(crate::gateway::authorizer::LocalAuthorizer::new(
                crate::gateway::authorizer::LOCAL_ISSUER,
            )),
        ),
    }
}

/// Threads of the mappings' own runtime.
const MAPPING_THREADS: usize = 2;

/// The shortest stream lease, whatever the time scale: renewed every third
/// of it against an endpoint that may answer slowly under load.
const MIN_STREAM_LEASE: Duration = Duration::from_secs(1);

/// This runner's lease on the stream: a fresh owner id (the process id,
/// for an operator to find the holder, and a random part, since process
/// ids repeat) and the KCL's failover time, scaled (a runner killed with
/// `kill -9` holds up the next one that long), at least
/// [`MIN_STREAM_LEASE`].
fn stream_lease(scale: crate::stats::TimeScale) -> LeaseSpec {
    let random = uuid::Uuid::new_v4().simple().to_string();
    LeaseSpec {
        owner: format!("orders-local-{}-{}", std::process::id(), &random[..8]),
        duration: LeaseSpec::KCL_FAILOVER_TIME
            .mul_f64(scale.0)
            .max(MIN_STREAM_LEASE),
    }
}

/// The event source mappings run on their own threads, as on AWS the worker
/// and notifier run beside API Gateway rather than on its capacity: a
/// backlog being worked off, or a slow e-mail write in the notifier, then
/// never queues an HTTP request behind it, and the mappings keep their share
/// of the machine however many clients are connected.
fn mapping_runtime() -> Result<tokio::runtime::Runtime, PipelineError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(MAPPING_THREADS)
        .thread_name("orders-local-mappings")
        .enable_all()
        .build()
        .map_err(|e| PipelineError::Setup {
            what: "the mappings' runtime",
            source: orders_backends::backend::BackendError::Call(Box::new(e)),
        })
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async caller must not do.
        if let Some(runtime) = self.mapping_runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Pipeline {
    /// Creates the resources and starts everything with the backends' own ports.
    pub async fn start(config: PipelineConfig, backends: Backends) -> Result<Self, PipelineError> {
        Self::start_with(config, backends, |ports| ports).await
    }

    /// Like [`Pipeline::start`], letting `customize` wrap or replace the
    /// handlers' ports first (fault injection in tests).
    pub async fn start_with(
        config: PipelineConfig,
        backends: Backends,
        customize: impl FnOnce(Ports) -> Ports,
    ) -> Result<Self, PipelineError> {
        let resources = create_resources(&config, &backends).await?;
        // Over an endpoint the stream outlives this process: resume after the
        // checkpoints kept there instead of announcing every order again,
        // once this runner holds the stream's lease. Taken before anything
        // starts: a runner refused it starts nothing.
        let reader = backends
            .tables
            .open_stream_resuming(
                &resources.table,
                &checkpoint_table(&resources.table),
                &stream_lease(config.time_scale),
            )
            .await
            .map_err(|source| match source {
                BackendError::LeaseHeld(held) => PipelineError::StreamLeaseHeld {
                    table: resources.table.clone(),
                    held,
                },
                source => setup("the table's stream")(source),
            })?;
        let ports = customize(Ports {
            queue: backends.queues.order_queue(&resources.orders_queue_url),
            store: backends.tables.order_store(&resources.table),
            publisher: backends.topics.event_publisher(&resources.topic_arn),
            worker_dead_letters: backends.queues.dead_letter_queue(&resources.orders_dlq_url),
            worker_visibility: Arc::new(ScaledVisibilityDelay::new(
                backends
                    .queues
                    .visibility_delay(&resources.orders_queue_url),
                config.time_scale,
            )),
            notifier_dead_letters: backends
                .queues
                .dead_letter_queue(&resources.on_failure_queue_url),
            admin_mailbox: Arc::new(digest::TopicMailbox::new(
                backends.topics.clone(),
                &resources.admin_topic_arn,
            )),
            admin_processed: Arc::new(order_consumer::idempotency::MemoryProcessedEvents::default()),
            customer_mailer: Arc::new(BackendMailer::new(
                backends.mail.clone(),
                &resources.ses_sender,
                &resources.configuration_set,
            )),
            confirmations: Arc::new(TableConfirmations::new(
                backends.tables.clone(),
                &resources.table,
            )),
            confirmation_visibility: Arc::new(ScaledVisibilityDelay::new(
                backends
                    .queues
                    .visibility_delay(&resources.confirmation_queue_url),
                config.time_scale,
            )),
            confirmation_metrics: Arc::new(LoggedMetrics),
        });
        let counters = Arc::new(Counters::default());
        let state = Arc::new(PipelineState::new(
            backends.clone(),
            resources.clone(),
            counters.clone(),
            config.backend_label.clone(),
        ));
        let scale = config.time_scale;
        let function_arn = |name: &str| {
            format!(
                "arn:aws:lambda:{}:{}:function:{}{name}",
                config.region,
                crate::mapping::FUNCTION_ACCOUNT,
                config.names.function_prefix
            )
        };

        let (stop_mappings, stop_rx) = watch::channel(false);
        let (cut_windows, cut_rx) = watch::channel(false);
        let mut mappings = Vec::new();
        let runtime = mapping_runtime()?;
        let worker_mapping = Arc::new(SqsMapping {
            queues: backends.queues.clone(),
            queue_url: resources.orders_queue_url.clone(),
            queue_arn: orders_backends::arn::queue_arn(&resources.orders_queue_url, &config.region),
            region: config.region.clone(),
            name: "worker",
            function_arn: function_arn("worker"),
            function: worker_function(Arc::new(
                worker::Deps::new(ports.store.clone(), ports.worker_dead_letters.clone())
                    .with_visibility_delay(ports.worker_visibility.clone()),
            )),
            timeout: config.worker_timeout,
            batch_size: WORKER_BATCH_SIZE,
            // A FIFO queue takes no batching window.
            batching_window: Duration::ZERO,
            counters: counters.clone(),
            counted_in: MappingCounters::WORKER,
        });
        for _ in 0..WORKER_MAX_CONCURRENCY {
            let poller = worker_mapping
                .clone()
                .run_poller(stop_rx.clone(), cut_rx.clone());
            mappings.push(runtime.spawn(poller));
        }
        let digest_mapping = digest::mapping(
            &config,
            &backends,
            &resources,
            &ports,
            function_arn("admin-digest"),
            counters.clone(),
        );
        for _ in 0..digest::MAX_CONCURRENCY {
            let poller = digest_mapping
                .clone()
                .run_poller(stop_rx.clone(), cut_rx.clone());
            mappings.push(runtime.spawn(poller));
        }
        let stream_mapping = StreamMapping {
            reader: tokio::sync::Mutex::new(reader),
            deps: Arc::new(notifier::Deps::new(
                ports.publisher.clone(),
                ports.notifier_dead_letters.clone(),
            )),
            queues: backends.queues.clone(),
            on_failure_url: resources.on_failure_queue_url.clone(),
            function_arn: function_arn("notifier"),
            timeout: config.notifier_timeout,
            max_record_age: scale.secs(NOTIFIER_MAX_RECORD_AGE_SECS),
            max_retry_attempts: NOTIFIER_MAX_RETRY_ATTEMPTS,
            retry_backoff: scale.secs(1),
            counters: counters.clone(),
            idle_at: state.notifier_idle_at.clone(),
            pending_count: state.notifier_pending.clone(),
        };
        mappings.push(runtime.spawn(stream_mapping.run(stop_rx.clone())));

        let confirmation_counters = counters.clone();
        let (owners, authorizer) = callers(config.auth);
        let gateway = Arc::new(crate::gateway::Gateway {
            deps: intake::Deps::new(ports.queue.clone(), config.group_strategy, owners.clone()),
            status: order_status::Deps::new(backends.tables.order_reader(&resources.table), owners),
            status_function_arn: function_arn("status"),
            timeout: Duration::from_secs(INTAKE_TIMEOUT_SECS),
            function_arn: function_arn("intake"),
            counters,
            pipeline: state.clone(),
            authorizer: authorizer.clone(),
        });
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| PipelineError::Bind {
                addr: config.bind,
                source,
            })?;
        let local = listener
            .local_addr()
            .map_err(|source| PipelineError::Bind {
                addr: config.bind,
                source,
            })?;
        // The confirmation's status link names this runner's API, known
        // once the port is bound.
        let confirmation_mapping = confirmation::mapping(
            &config,
            &backends,
            &resources,
            &ports,
            &format!("http://{local}"),
            function_arn("confirmation"),
            confirmation_counters,
        );
        for _ in 0..confirmation::MAX_CONCURRENCY {
            let poller = confirmation_mapping
                .clone()
                .run_poller(stop_rx.clone(), cut_rx.clone());
            mappings.push(runtime.spawn(poller));
        }
        let app = axum::Router::new()
            .fallback(crate::gateway::handle)
            .with_state(gateway)
            .into_make_service_with_connect_info::<SocketAddr>();
        let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
        let http = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(err) = serve.await {
                tracing::error!(error = &err as &dyn std::error::Error, "HTTP server failed");
            }
        });
        Ok(Self {
            url: format!("http://{local}"),
            state,
            config,
            stop_http: Some(stop_http),
            http,
            stop_mappings,
            cut_windows,
            mappings,
            mapping_runtime: Some(runtime),
            authorizer,
        })
    }

    /// A token of the API's authorizer for `user`; `None` while the API is
    /// open (no `--auth jwt`).
    pub fn mint_token(&self, user: &str) -> Option<String> {
        self.authorizer.as_ref().map(|local| local.mint(user))
    }

    /// The bound base URL, e.g. `http://127.0.0.1:3000`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// URLs and ARNs of the resources in use.
    pub fn resources(&self) -> &Resources {
        &self.state.resources
    }

    /// The backends in use.
    pub fn backends(&self) -> &Backends {
        &self.state.backends
    }

    /// The counters the stages and mappings update.
    pub fn counters(&self) -> &crate::stats::Counters {
        self.state.counters()
    }

    /// Counts per stage and queue depths, as `GET /_local/status` answers.
    pub async fn status(&self) -> Status {
        self.state.status().await
    }

    /// Stops intake (no new HTTP requests; in-flight ones finish), lets queued
    /// work drain for up to the drain timeout, stops the mappings after their
    /// batch in hand (bounded by the functions' timeouts) and reports what is
    /// left.
    pub async fn shutdown(mut self) -> Summary {
        if let Some(stop) = self.stop_http.take() {
            let _ = stop.send(());
        }
        let grace = Duration::from_secs(INTAKE_TIMEOUT_SECS + 1);
        if tokio::time::timeout(grace, &mut self.http).await.is_err() {
            self.http.abort();
        }
        // No more orders come in: what the admin digest gathers is sent now
        // rather than at the end of its batching window.
        let _ = self.cut_windows.send(true);
        let deadline = tokio::time::Instant::now() + self.config.drain_timeout;
        let mut drained = false;
        while tokio::time::Instant::now() < deadline {
            if self.state.drained().await {
                drained = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.stop_mappings.send(true);
        let bound = (self.config.worker_timeout)
            .max(self.config.notifier_timeout)
            .max(Duration::from_secs(ADMIN_DIGEST_TIMEOUT_SECS))
            .max(self.config.confirmation_timeout)
            + Duration::from_secs(2);
        for task in &mut self.mappings {
            if tokio::time::timeout(bound, &mut *task).await.is_err() {
                task.abort();
            }
        }
        // Publishes return before e-mails are written (as SNS delivers after
        // accepting); give the writer the same bound as the drain to catch up.
        let topics = &self.state.backends.topics;
        let _ = tokio::time::timeout(self.config.drain_timeout, topics.delivered()).await;
        let undelivered = topics.undelivered();
        Summary {
            status: self.state.status().await,
            notifier_pending: Counters::get(&self.state.notifier_pending),
            undelivered,
            drained: drained && undelivered == 0,
        }
    }
}
