//! The customers' confirmations in the runner: the function's mapping,
//! with the deployed batch size and maximum concurrency, its mailer over
//! the backends' SES ([`BackendMailer`]: the embedded one writes `.eml`
//! files into `<outbox>/customers`), and its store over the backends' table
//! ([`TableConfirmations`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use confirmation::mailer::{ConfirmationEmail, CustomerMailer, SendError, classify};
use confirmation::settings::{BATCH_SIZE, MAX_CONCURRENCY as CONFIRMATION_MAX_CONCURRENCY};
use confirmation::store::{Claim, ConfirmationStore, MarkWrite, OrderToConfirm, Written};
use orders_adapters::ports::PortError;
use orders_adapters::record::{ItemMapping, StoredOrder};
use orders_backends::backend::{Backends, MailError, MailService, OutgoingEmail, TableService};
use orders_domain::confirmation::RefusalCode;
use time::OffsetDateTime;

use super::config::{PipelineConfig, Ports};
use crate::mapping::sqs::{MappingCounters, SqsMapping, confirmation_function};
use crate::state::Resources;
use crate::stats::Counters;

/// Pollers of the mapping: its `MaximumConcurrency`.
pub(super) const MAX_CONCURRENCY: u32 = CONFIRMATION_MAX_CONCURRENCY;

/// The From address of the runner's confirmations, a verified identity of
/// its SES.
pub const LOCAL_SENDER: &str = "orders@orders-local.example";

/// The account's maximum send rate the runner paces to: the stack's
/// default, and the embedded SES's own.
pub const LOCAL_MAX_SEND_RATE: f64 = orders_backends::embedded::CUSTOMER_MAX_SEND_RATE;

/// The function's mapping over its queue, with the handler's ports. The
/// pace is the configured rate (never scaled); the claim window and the
/// time a send needs before the deadline are scaled like every wait, so a
/// crashed claim expires within a test.
pub(super) fn mapping(
    config: &PipelineConfig,
    backends: &Backends,
    resources: &Resources,
    ports: &Ports,
    api_url: &str,
    function_arn: String,
    counters: Arc<Counters>,
) -> Arc<SqsMapping> {
    let deps = confirmation::Deps::new(
        ports.confirmations.clone(),
        ports.customer_mailer.clone(),
        ports.confirmation_visibility.clone(),
        ports.confirmation_metrics.clone(),
        config.ses_max_send_rate,
        api_url,
    )
    .with_claim_for(
        config
            .time_scale
            .secs(confirmation::settings::CLAIM_FOR.as_secs()),
    )
    .with_send_reserve(
        config
            .time_scale
            .secs(confirmation::handler::SEND_RESERVE.as_secs()),
    );
    Arc::new(SqsMapping {
        queues: backends.queues.clone(),
        queue_url: resources.confirmation_queue_url.clone(),
        queue_arn: orders_backends::arn::queue_arn(
            &resources.confirmation_queue_url,
            &config.region,
        ),
        region: config.region.clone(),
        name: "confirmation",
        function_arn,
        function: confirmation_function(Arc::new(deps)),
        timeout: config.confirmation_timeout,
        batch_size: BATCH_SIZE,
        batching_window: Duration::ZERO,
        counters,
        counted_in: MappingCounters::CONFIRMATION,
    })
}

/// [`CustomerMailer`] over the backends' SES: the same `SendEmail` the
/// shipped `SesCustomerMailer` makes, through the embedded SES or an
/// endpoint, its errors classified by the function's one rule
/// ([`classify`]).
pub struct BackendMailer {
    mail: Arc<dyn MailService>,
    from: String,
    configuration_set: String,
}

impl BackendMailer {
    /// Sends from `from` in `configuration_set`.
    pub fn new(mail: Arc<dyn MailService>, from: &str, configuration_set: &str) -> Self {
        Self {
            mail,
            from: from.to_owned(),
            configuration_set: configuration_set.to_owned(),
        }
    }
}

#[async_trait]
impl CustomerMailer for BackendMailer {
    async fn send(&self, email: &ConfirmationEmail) -> Result<String, SendError> {
        let outgoing = OutgoingEmail {
            from: self.from.clone(),
            to: email.to.as_str().to_owned(),
            subject: email.subject.clone(),
            text: email.text.clone(),
            html: email.html.clone(),
            configuration_set: Some(self.configuration_set.clone()),
        };
        match self.mail.send_email(&outgoing).await {
            Ok(id) => Ok(id),
            Err(MailError::Refused { code, status }) => Err(SendError {
                verdict: classify(Some(&code), Some(status)),
                code,
            }),
            Err(MailError::Call(_)) => Err(SendError {
                verdict: classify(None, None),
                code: "Unreachable".to_owned(),
            }),
        }
    }
}

/// [`ConfirmationStore`] over the backends' table: a strongly consistent
/// read, then the changed item written back, under one lock so the runner's
/// deliveries see each other's claims as DynamoDB's conditional updates
/// would. Nothing else in the runner writes an existing order (the worker's
/// put is conditional on its absence), and the put is a `MODIFY` on the
/// stream, which the notifier's filter drops, as for `UpdateItem`.
pub struct TableConfirmations {
    tables: Arc<dyn TableService>,
    table: String,
    lock: tokio::sync::Mutex<()>,
}

impl TableConfirmations {
    /// The store over `table`.
    pub fn new(tables: Arc<dyn TableService>, table: &str) -> Self {
        Self {
            tables,
            table: table.to_owned(),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    async fn read(
        &self,
        key: &str,
    ) -> Result<Option<(serde_dynamo::Item, OrderToConfirm)>, PortError> {
        let item = self
            .tables
            .get(&self.table, key)
            .await
            .map_err(|err| PortError::Transient(Box::new(err)))?;
        let Some(item) = item else {
            return Ok(None);
        };
        let order = StoredOrder::from_item(item.clone())
            .map_err(|err| PortError::Permanent(Box::new(err)))?;
        let marks = order.confirmation.clone();
        Ok(Some((item, OrderToConfirm { order, marks })))
    }

    /// Applies `write` to the marks under `key` when its condition holds.
    async fn update(&self, key: &str, write: MarkWrite<'_>) -> Result<Written, PortError> {
        let _held = self.lock.lock().await;
        let Some((mut item, found)) = self.read(key).await? else {
            return Ok(Written::Refused);
        };
        if !write.allowed(&found.marks) {
            return Ok(Written::Refused);
        }
        let mut marks = found.marks;
        write.apply(&mut marks);
        for name in orders_domain::confirmation::ATTRIBUTES {
            item.remove(name);
        }
        let written: std::collections::HashMap<String, serde_dynamo::AttributeValue> =
            serde_dynamo::to_item(&marks).map_err(|err| PortError::Permanent(Box::new(err)))?;
        for (name, value) in written {
            item.insert(name, value);
        }
        self.tables
            .put(&self.table, item)
            .await
            .map_err(|err| PortError::Transient(Box::new(err)))?;
        Ok(Written::Done)
    }
}

#[async_trait]
impl ConfirmationStore for TableConfirmations {
    async fn order(&self, key: &str) -> Result<Option<OrderToConfirm>, PortError> {
        Ok(self.read(key).await?.map(|(_, found)| found))
    }

    async fn claim(&self, key: &str, claim: &Claim, now: i64) -> Result<Written, PortError> {
        self.update(key, MarkWrite::Claim { claim, now }).await
    }

    async fn mark_sent(
        &self,
        key: &str,
        claim: &Claim,
        at: OffsetDateTime,
        message_id: &str,
    ) -> Result<Written, PortError> {
        let write = MarkWrite::Sent {
            claim,
            at,
            message_id,
        };
        self.update(key, write).await
    }

    async fn mark_failed(
        &self,
        key: &str,
        claim: &Claim,
        reason: RefusalCode,
    ) -> Result<Written, PortError> {
        self.update(key, MarkWrite::Failed { claim, reason }).await
    }

    async fn release(&self, key: &str, claim: &Claim) -> Result<Written, PortError> {
        self.update(key, MarkWrite::Release { claim }).await
    }
}

/// The runner's metrics: refusals are logged as the function's EMF line
/// would be counted, without writing EMF to the runner's output.
#[derive(Debug, Default)]
pub struct LoggedMetrics;

impl confirmation::metrics::Metrics for LoggedMetrics {
    fn refused(&self, reason: RefusalCode) {
        tracing::info!(
            stage = "confirmation",
            metric = confirmation::metrics::CONFIRMATION_FAILED_METRIC,
            reason = reason.as_str(),
            "metric"
        );
    }
}
