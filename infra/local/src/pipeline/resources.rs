//! Creating the pipeline's queues, table, topic and subscriptions.

use adapters::settings::{MAX_RECEIVE_COUNT, ORDERS_QUEUE_VISIBILITY_TIMEOUT_SECS};

use super::config::{PipelineConfig, PipelineError};
use crate::backend::{BackendError, Backends, QueueSpec, Redrive};
use crate::state::Resources;

/// Maps a backend error of setting up `what`.
pub(super) fn setup(what: &'static str) -> impl FnOnce(BackendError) -> PipelineError {
    move |source| PipelineError::Setup { what, source }
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
pub(super) async fn create_resources(
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
