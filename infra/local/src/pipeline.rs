//! The runner as a library: creates the resources, serves the emulated HTTP
//! API, runs the event source mappings, reports status and stops cleanly.
//!
//! Every queue attribute, batch size, retry limit and filter comes from
//! `adapters::settings`; only the durations tests wait on may be scaled
//! ([`TimeScale`]: visibility timeout, FIFO dedup window, max record age, retry
//! backoff). Function timeouts are ceilings nobody waits for, so they stay as
//! deployed (scaling them would only make slow CI machines time out).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use adapters::ports::{DeadLetterQueue, EventPublisher, OrderQueue, OrderStore};
use adapters::settings::{
    INTAKE_TIMEOUT_SECS, MAX_RECEIVE_COUNT, NOTIFIER_MAX_RECORD_AGE_SECS,
    NOTIFIER_MAX_RETRY_ATTEMPTS, NOTIFIER_TIMEOUT_SECS, ORDERS_QUEUE_VISIBILITY_TIMEOUT_SECS,
    WORKER_MAX_CONCURRENCY, WORKER_TIMEOUT_SECS,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backend::{BackendError, Backends, QueueSpec, Redrive};
use crate::mapping::sqs::SqsMapping;
use crate::mapping::stream::StreamMapping;
use crate::stats::{Counters, QueueStatus, Stages, Status, TimeScale};

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
    /// E-mail address subscribed to the topic (the outbox, when embedded).
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
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 3000)),
            names: ResourceNames::with_prefix("orders-local-"),
            group_strategy: intake::GroupStrategy::default(),
            time_scale: TimeScale::REAL,
            email: None,
            region: crate::embedded::EMBEDDED_REGION.to_owned(),
            backend_label: "embedded".to_owned(),
            drain_timeout: Duration::from_secs(10),
            worker_timeout: Duration::from_secs(WORKER_TIMEOUT_SECS),
            notifier_timeout: Duration::from_secs(NOTIFIER_TIMEOUT_SECS),
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
    /// Notifier's dead-letter queue (its on-failure queue).
    pub notifier_dead_letters: Arc<dyn DeadLetterQueue>,
}

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

/// State shared by the gateway, the mappings and the handle.
pub struct Shared {
    backends: Backends,
    resources: Resources,
    counters: Arc<Counters>,
    backend_label: String,
    notifier_idle_at: Arc<Mutex<Option<tokio::time::Instant>>>,
    notifier_pending: Arc<AtomicU64>,
}

impl Shared {
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
        ]);
        Status {
            backend: self.backend_label.clone(),
            stages,
            queues,
            invocations,
        }
    }

    /// Whether everything accepted so far has been worked off: the orders
    /// queue is empty and the notifier found nothing new since.
    async fn drained(&self) -> bool {
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
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

/// What shutdown left behind.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The final status.
    pub status: Status,
    /// Stream records read but not handled when the notifier stopped.
    pub notifier_pending: u64,
    /// Whether queued work finished within the drain timeout.
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
        if lines.len() == 1 {
            lines.push("  nothing left queued".to_owned());
        }
        lines
    }
}

/// A running pipeline.
pub struct Pipeline {
    url: String,
    shared: Arc<Shared>,
    config: PipelineConfig,
    stop_http: Option<tokio::sync::oneshot::Sender<()>>,
    http: JoinHandle<()>,
    stop_mappings: watch::Sender<bool>,
    mappings: Vec<JoinHandle<()>>,
}

fn setup(what: &'static str) -> impl FnOnce(BackendError) -> PipelineError {
    move |source| PipelineError::Setup { what, source }
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
        let ports = customize(Ports {
            queue: backends.queues.order_queue(&resources.orders_queue_url),
            store: backends.tables.order_store(&resources.table),
            publisher: backends.topics.event_publisher(&resources.topic_arn),
            worker_dead_letters: backends.queues.dead_letter_queue(&resources.orders_dlq_url),
            notifier_dead_letters: backends
                .queues
                .dead_letter_queue(&resources.on_failure_queue_url),
        });
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            backends: backends.clone(),
            resources: resources.clone(),
            counters: counters.clone(),
            backend_label: config.backend_label.clone(),
            notifier_idle_at: Arc::new(Mutex::new(None)),
            notifier_pending: Arc::new(AtomicU64::new(0)),
        });
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
        let mut mappings = Vec::new();
        let worker_mapping = Arc::new(SqsMapping {
            queues: backends.queues.clone(),
            queue_url: resources.orders_queue_url.clone(),
            queue_arn: crate::arn::queue_arn(&resources.orders_queue_url, &config.region),
            region: config.region.clone(),
            function_arn: function_arn("worker"),
            deps: Arc::new(worker::Deps::new(
                ports.store.clone(),
                ports.worker_dead_letters.clone(),
            )),
            timeout: config.worker_timeout,
            counters: counters.clone(),
        });
        for _ in 0..WORKER_MAX_CONCURRENCY {
            mappings.push(tokio::spawn(
                worker_mapping.clone().run_poller(stop_rx.clone()),
            ));
        }
        // Over an endpoint the stream outlives this process: resume after the
        // checkpoints kept there instead of announcing every order again.
        let reader = backends
            .tables
            .open_stream_resuming(&resources.table, &checkpoint_table(&resources.table))
            .await
            .map_err(setup("the table's stream"))?;
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
            idle_at: shared.notifier_idle_at.clone(),
            pending_count: shared.notifier_pending.clone(),
        };
        mappings.push(tokio::spawn(stream_mapping.run(stop_rx)));

        let gateway = Arc::new(crate::gateway::Gateway {
            deps: intake::Deps::new(ports.queue.clone(), config.group_strategy),
            timeout: Duration::from_secs(INTAKE_TIMEOUT_SECS),
            function_arn: function_arn("intake"),
            counters,
            pipeline: shared.clone(),
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
            shared,
            config,
            stop_http: Some(stop_http),
            http,
            stop_mappings,
            mappings,
        })
    }

    /// The bound base URL, e.g. `http://127.0.0.1:3000`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// URLs and ARNs of the resources in use.
    pub fn resources(&self) -> &Resources {
        &self.shared.resources
    }

    /// The backends in use.
    pub fn backends(&self) -> &Backends {
        &self.shared.backends
    }

    /// Counts per stage and queue depths, as `GET /_local/status` answers.
    pub async fn status(&self) -> Status {
        self.shared.status().await
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
        let deadline = tokio::time::Instant::now() + self.config.drain_timeout;
        let mut drained = false;
        while tokio::time::Instant::now() < deadline {
            if self.shared.drained().await {
                drained = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.stop_mappings.send(true);
        let bound =
            self.config.worker_timeout.max(self.config.notifier_timeout) + Duration::from_secs(2);
        for task in &mut self.mappings {
            if tokio::time::timeout(bound, &mut *task).await.is_err() {
                task.abort();
            }
        }
        Summary {
            status: self.shared.status().await,
            notifier_pending: Counters::get(&self.shared.notifier_pending),
            drained,
        }
    }
}

/// The table keeping the notifier mapping's stream checkpoints for the
/// orders table `table` (`<table>-notifier-checkpoints`; created only where
/// the stream outlives the runner, see `TableService::create_checkpoint_table`).
pub fn checkpoint_table(table: &str) -> String {
    format!("{table}-notifier-checkpoints")
}

/// Creates what is missing and reuses what exists (every backend call here
/// is idempotent), so a restarted runner finds its queues, table, topic and
/// subscriptions as it left them.
async fn create_resources(
    config: &PipelineConfig,
    backends: &Backends,
) -> Result<Resources, PipelineError> {
    let names = &config.names;
    let scale = config.time_scale;
    let visibility = scale.secs(ORDERS_QUEUE_VISIBILITY_TIMEOUT_SECS);
    let q = &backends.queues;
    let orders_dlq_url = q
        .create_queue(&QueueSpec {
            name: names.orders_dlq.clone(),
            fifo: true,
            visibility_timeout: visibility,
            redrive: None,
        })
        .await
        .map_err(setup("the worker DLQ"))?;
    let orders_queue_url = q
        .create_queue(&QueueSpec {
            name: names.orders_queue.clone(),
            fifo: true,
            visibility_timeout: visibility,
            redrive: Some(Redrive {
                dlq_url: orders_dlq_url.clone(),
                max_receive_count: MAX_RECEIVE_COUNT,
            }),
        })
        .await
        .map_err(setup("the orders queue"))?;
    let on_failure_queue_url = q
        .create_queue(&QueueSpec {
            name: names.notifier_on_failure_queue.clone(),
            fifo: false,
            visibility_timeout: visibility,
            redrive: None,
        })
        .await
        .map_err(setup("the notifier on-failure queue"))?;
    let events_queue_url = q
        .create_queue(&QueueSpec {
            name: names.events_queue.clone(),
            fifo: false,
            visibility_timeout: visibility,
            redrive: None,
        })
        .await
        .map_err(setup("the events queue"))?;
    backends
        .tables
        .create_table(&names.table)
        .await
        .map_err(setup("the orders table"))?;
    backends
        .tables
        .create_checkpoint_table(&checkpoint_table(&names.table))
        .await
        .map_err(setup("the stream checkpoint table"))?;
    let topic_arn = backends
        .topics
        .create_topic(&names.topic)
        .await
        .map_err(setup("the order-events topic"))?;
    let filter = format!(
        r#"{{"eventType":["{}"]}}"#,
        orders_domain::contract::ORDER_CREATED_EVENT_TYPE
    );
    backends
        .topics
        .subscribe_queue(&topic_arn, &events_queue_url, Some(&filter), false)
        .await
        .map_err(setup("the events queue subscription"))?;
    if let Some(email) = &config.email {
        backends
            .topics
            .subscribe_email(&topic_arn, email, None)
            .await
            .map_err(setup("the e-mail subscription"))?;
    }
    Ok(Resources {
        orders_queue_url,
        orders_dlq_url,
        table: names.table.clone(),
        topic_arn,
        on_failure_queue_url,
        events_queue_url,
    })
}
