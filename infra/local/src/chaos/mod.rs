//! The chaos run (`make chaos`): the whole pipeline on the embedded backends,
//! thousands of orders from careful clients, a thousand seeded faults across
//! every stage, and an independent ledger of what became of each order.
//!
//! - **Load:** [`clients`] post distinct orders concurrently over HTTP and
//!   retry the same body on a connection error, a timeout or a `5xx`, some
//!   retries soon and some after the FIFO deduplication window.
//! - **Faults:** [`faults`] wraps intake's queue, the worker's store, the
//!   notifier's publisher and the confirmation's mailer (queue refusals and
//!   lost acknowledgements, slow sends, throttling, crashes before and after
//!   the put, after the publish and between the confirmation's send and its
//!   sent mark, conditional-check races, visibility expiry mid-batch, SNS
//!   failures, SES throttles and refusals), each drawn from the seed.
//! - **Time:** the run uses the runner's time scale, so the 5-minute window,
//!   visibility timeouts and retry backoffs pass in seconds; function
//!   timeouts are shortened so a crash costs little.
//! - **Ledger:** [`ledger`] counts from what clients were told (every `2xx`),
//!   the table (and its stream) and a queue subscribed to the topic, never
//!   from the handlers' counters.
//!
//! The last line of [`ChaosReport::lines`] is the run's verdict:
//! `chaos: orders=… faults=… lost=… duplicate_items=… lost_notifications=…
//! duplicate_notifications=… duplicates_without_crash=… confirmations=…
//! confirmations_sent=… confirmations_refused=… confirmations_lost=…
//! duplicate_confirmations=… confirmation_duplicates_without_crash=…
//! unrequested_confirmations=… seed=… secs=…`.
//! `duplicates_without_crash` counts the announcements beyond an order's
//! first that no timed-out notifier invocation carrying its record explains;
//! `confirmation_duplicates_without_crash` the e-mails beyond an order's first
//! that no crash between the send and the sent mark explains (the claim
//! window's cost). The run holds only when those, the lost confirmations
//! (an order with an address neither `SENT` nor `FAILED` by an injected
//! refusal) and the e-mails to orders without an address are all 0.

pub mod clients;
pub mod faults;
pub mod ledger;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orders_adapters::settings::FIFO_DEDUP_WINDOW_SECS;
use orders_backends::backend::BackendError;
use orders_backends::backend::Backends;
use orders_backends::embedded::Embedded;
use orders_backends::embedded::ses::EmbeddedSes;
use orders_backends::embedded::sqs::EmbeddedQueues;

use crate::pipeline::{Pipeline, PipelineConfig, PipelineError, Ports, ResourceNames};
use crate::stats::TimeScale;
use clients::{ClientConfig, ClientLog};
use faults::{ChaosMailer, ChaosPublisher, ChaosQueue, ChaosStore, FaultPlan};
use ledger::{Announcements, Tally};

/// What to run.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// Seed of the bodies, the faults and the retry delays.
    pub seed: u64,
    /// Distinct orders to send.
    pub orders: usize,
    /// Faults to inject in all (the run stops injecting at this count).
    pub faults: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// The runner's time scale (0.02: five minutes pass in six seconds).
    pub time_scale: f64,
    /// How long to wait for the pipeline to settle after the last answer.
    pub settle_within: Duration,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            orders: 10_000,
            faults: 1_000,
            clients: 16,
            time_scale: 0.02,
            settle_within: Duration::from_secs(600),
        }
    }
}

/// The chaos run could not run (not: it found a loss; that is the report).
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// The pipeline did not start.
    #[error("the pipeline did not start")]
    Start(#[from] PipelineError),
    /// Reading the ledger failed.
    #[error("reading the ledger failed")]
    Ledger(#[from] BackendError),
    /// A scratch directory could not be made.
    #[error("the outbox directory could not be created")]
    Outbox(#[source] std::io::Error),
}

/// What a run found.
#[derive(Debug, Clone)]
pub struct ChaosReport {
    /// The configuration.
    pub config: ChaosConfig,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Orders a client got a `2xx` for.
    pub accepted: u64,
    /// Client retries, and of those the ones after the deduplication window.
    pub retries: (u64, u64),
    /// `4xx` answers and orders given up (both should be 0).
    pub rejected_or_gave_up: (u64, u64),
    /// Worker and notifier invocations that timed out (injected crashes and
    /// any slow invocation alike, as Lambda counts them).
    pub timeouts: (u64, u64),
    /// Messages left in the worker DLQ and the notifier DLQ.
    pub dead_letters: (u64, u64),
    /// Messages on the events queue that were not a readable `OrderCreated`.
    pub unreadable_events: u64,
    /// The ledger's verdict.
    pub tally: Tally,
    /// Announcements beyond an order's first that no timed-out notifier
    /// invocation carrying its record explains: a duplicate without a crash.
    pub duplicates_without_crash: u64,
    /// What became of the confirmations.
    pub confirmations: ledger::Confirmations,
    /// Whether the pipeline settled before the deadline.
    pub settled: bool,
    /// Wall-clock seconds.
    pub secs: u64,
}

impl ChaosReport {
    /// Faults injected in all.
    pub fn fault_total(&self) -> u64 {
        self.faults.values().sum()
    }

    /// Whether nothing accepted was lost, stored twice or left unannounced,
    /// and every duplicate announcement is explained by a crash.
    pub fn holds(&self) -> bool {
        self.tally.lost == 0
            && self.tally.duplicate_items == 0
            && self.tally.lost_notifications == 0
            && self.duplicates_without_crash == 0
            && self.confirmations.lost == 0
            && self.confirmations.duplicates_without_crash == 0
            && self.confirmations.unrequested == 0
    }

    /// The report, the verdict last.
    pub fn lines(&self) -> Vec<String> {
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(kind, n)| format!("{kind}={n}"))
            .collect();
        let t = &self.tally;
        let c = &self.confirmations;
        vec![
            format!("chaos: faults by kind: {}", faults.join(" ")),
            format!(
                "chaos: clients: accepted={} retries={} late_retries={} rejected={} gave_up={}",
                self.accepted,
                self.retries.0,
                self.retries.1,
                self.rejected_or_gave_up.0,
                self.rejected_or_gave_up.1
            ),
            format!(
                "chaos: timeouts: worker={} notifier={} (a notifier timeout may repeat the \
                 records of its batch: the only duplicates allowed)",
                self.timeouts.0, self.timeouts.1,
            ),
            format!(
                "chaos: dead letters left: worker={} notifier={}; unreadable events={}; settled={}",
                self.dead_letters.0, self.dead_letters.1, self.unreadable_events, self.settled
            ),
            format!(
                "chaos: orders={} faults={} lost={} duplicate_items={} lost_notifications={} \
                 duplicate_notifications={} duplicates_without_crash={} confirmations={} \
                 confirmations_sent={} confirmations_refused={} confirmations_lost={} \
                 duplicate_confirmations={} confirmation_duplicates_without_crash={} \
                 unrequested_confirmations={} seed={} secs={}",
                self.config.orders,
                self.fault_total(),
                t.lost,
                t.duplicate_items,
                t.lost_notifications,
                t.duplicate_notifications,
                self.duplicates_without_crash,
                c.requested,
                c.sent,
                c.refused,
                c.lost,
                c.duplicates,
                c.duplicates_without_crash,
                c.unrequested,
                self.config.seed,
                self.secs
            ),
        ]
    }
}

/// Runs the chaos run to the end and reports.
pub async fn run(config: ChaosConfig) -> Result<ChaosReport, ChaosError> {
    let started = Instant::now();
    let outbox = std::env::temp_dir().join(format!("orders-chaos-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&outbox).map_err(ChaosError::Outbox)?;
    let report = run_in(&config, &outbox, started).await;
    let _ = std::fs::remove_dir_all(&outbox);
    report
}

async fn run_in(
    config: &ChaosConfig,
    outbox: &std::path::Path,
    started: Instant,
) -> Result<ChaosReport, ChaosError> {
    let scale = TimeScale(config.time_scale);
    // The customers' SES at a rate that confirms thousands of orders in
    // seconds (the pace is the rate's, never scaled).
    let embedded = Embedded {
        mail: EmbeddedSes::new(outbox.join("customers"), CHAOS_SEND_RATE),
        ..Embedded::new(outbox.to_path_buf(), config.time_scale)
    };
    let names = ResourceNames::with_prefix(&format!("chaos{}-", config.seed));
    // Three stage calls per order at least; aim to spend the budget by about
    // two thirds of the run so that faults fall throughout it.
    let calls = 3 * config.orders.max(1) as u64;
    let per_million = (1_500_000 * config.faults as u64 / calls).min(1_000_000);
    let plan = Arc::new(FaultPlan::new(config.seed, config.faults, per_million));
    let client_timeout = Duration::from_millis(1500);

    let pipeline_config = PipelineConfig {
        bind: "127.0.0.1:0"
            .parse()
            .unwrap_or_else(|_| std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        names: names.clone(),
        time_scale: scale,
        drain_timeout: Duration::from_secs(5),
        worker_timeout: Duration::from_millis(600),
        notifier_timeout: Duration::from_millis(400),
        // Room for the scaled reserve a send needs (0.2 s) and a batch of
        // ten at the chaos rate; a crash costs no more than this.
        confirmation_timeout: Duration::from_millis(1000),
        ses_max_send_rate: CHAOS_SEND_RATE,
        ..PipelineConfig::default()
    };
    let refused = Arc::new(Mutex::new(HashSet::new()));
    let crashed = Arc::new(Mutex::new(HashMap::new()));
    let (mailer_refused, mailer_crashed) = (refused.clone(), crashed.clone());
    let queues = embedded.queues.clone();
    let orders_url = EmbeddedQueues::url_of(&names.orders_queue);
    let wrap_plan = plan.clone();
    let pipeline = Pipeline::start_with(pipeline_config, embedded.backends(), move |ports| Ports {
        queue: Arc::new(ChaosQueue {
            inner: ports.queue,
            plan: wrap_plan.clone(),
            slow: client_timeout + Duration::from_millis(300),
        }),
        store: Arc::new(ChaosStore {
            inner: ports.store,
            plan: wrap_plan.clone(),
            expire_visibility: Arc::new(move || {
                let _ = queues.expire_visibility(&orders_url);
            }),
        }),
        publisher: Arc::new(ChaosPublisher {
            inner: ports.publisher,
            plan: wrap_plan.clone(),
        }),
        customer_mailer: Arc::new(ChaosMailer {
            inner: ports.customer_mailer,
            plan: wrap_plan,
            refused: mailer_refused,
            crashed: mailer_crashed,
        }),
        ..ports
    })
    .await?;

    let log = Arc::new(ClientLog::default());
    clients::run(
        ClientConfig {
            url: pipeline.url().to_owned(),
            seed: config.seed,
            orders: config.orders,
            clients: config.clients,
            timeout: client_timeout,
            late_retry_after: scale.secs(FIFO_DEDUP_WINDOW_SECS) + Duration::from_millis(500),
        },
        log.clone(),
    )
    .await;

    let backends = pipeline.backends().clone();
    let resources = pipeline.resources().clone();
    let accepted = log
        .accepted
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut announcements = Announcements::default();
    let deadline = Instant::now() + config.settle_within;
    let mut settled = false;
    while Instant::now() < deadline {
        announcements
            .collect(&backends, &resources.events_queue_url)
            .await?;
        let tally =
            ledger::tally(&backends, &resources.table, &accepted, &announcements, None).await?;
        let orders = backends.queues.depth(&resources.orders_queue_url).await?;
        let confirming = backends
            .queues
            .depth(&resources.confirmation_queue_url)
            .await?;
        let confirmations = confirmations_now(
            &backends,
            &resources.table,
            &accepted,
            outbox,
            &refused,
            &crashed,
        )
        .await?;
        if tally.lost == 0
            && tally.lost_notifications == 0
            && orders.visible + orders.in_flight == 0
            && confirmations.lost == 0
            && confirming.visible + confirming.in_flight == 0
        {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Late duplicates (a retried batch still running) land within a few
    // visibility timeouts; count them too.
    tokio::time::sleep(scale.secs(300).min(Duration::from_secs(3))).await;
    announcements
        .collect(&backends, &resources.events_queue_url)
        .await?;
    let writes = ledger::stream_writes(&backends, &resources.table).await?;
    let tally = ledger::tally(
        &backends,
        &resources.table,
        &accepted,
        &announcements,
        Some(&writes),
    )
    .await?;
    let confirmations = confirmations_now(
        &backends,
        &resources.table,
        &accepted,
        outbox,
        &refused,
        &crashed,
    )
    .await?;
    let worker_dlq = backends.queues.depth(&resources.orders_dlq_url).await?;
    let notifier_dlq = backends
        .queues
        .depth(&resources.on_failure_queue_url)
        .await?;
    let status = pipeline.status().await;
    let invocation = |name: &str| status.invocations.get(name).copied().unwrap_or(0);
    let timeouts = (invocation("workerTimeouts"), invocation("notifierTimeouts"));
    let duplicates_without_crash = ledger::duplicates_without_crash(
        accepted.keys().map(String::as_str),
        &announcements,
        |id| pipeline.counters().notifier_timeouts_of(id),
    );
    let _summary = pipeline.shutdown().await;

    Ok(ChaosReport {
        config: config.clone(),
        faults: plan.counts(),
        accepted: accepted.len() as u64,
        retries: (
            log.retries.load(Ordering::Relaxed),
            log.late_retries.load(Ordering::Relaxed),
        ),
        rejected_or_gave_up: (
            log.rejected.load(Ordering::Relaxed),
            log.gave_up.load(Ordering::Relaxed),
        ),
        timeouts,
        dead_letters: (
            worker_dlq.visible + worker_dlq.in_flight,
            notifier_dlq.visible + notifier_dlq.in_flight,
        ),
        unreadable_events: announcements.unreadable,
        tally,
        duplicates_without_crash,
        confirmations,
        settled,
        secs: started.elapsed().as_secs(),
    })
}

/// The customers' SES rate of the chaos run, e-mails per second.
const CHAOS_SEND_RATE: f64 = 1000.0;

/// The confirmations' ledger now: the table's marks, the e-mails in the
/// outbox's `customers` folder, and the plan's refusals and crashes.
async fn confirmations_now(
    backends: &Backends,
    table: &str,
    accepted: &HashMap<String, clients::Accepted>,
    outbox: &std::path::Path,
    refused: &Mutex<HashSet<String>>,
    crashed: &Mutex<HashMap<String, u64>>,
) -> Result<ledger::Confirmations, ChaosError> {
    let emails = ledger::confirmation_emails(&outbox.join("customers"));
    let refused = refused
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let crashed = crashed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Ok(ledger::confirmations(backends, table, accepted, &emails, &refused, &crashed).await?)
}
