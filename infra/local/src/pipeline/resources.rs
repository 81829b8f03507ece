//! Creating the pipeline's queues, table, topic and subscriptions.

use orders_adapters::settings::{
    ADMIN_DIGEST_FILTER_POLICY, ADMIN_DIGEST_MAX_RECEIVE_COUNT,
    ADMIN_DIGEST_QUEUE_VISIBILITY_TIMEOUT_SECS, MAX_RECEIVE_COUNT,
    ORDERS_QUEUE_VISIBILITY_TIMEOUT_SECS,
};
use orders_backends::backend::{BackendError, Backends, QueueSpec, Redrive};

use super::config::{PipelineConfig, PipelineError};
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
    let admin = create_admin_digest(config, backends, &topic_arn).await?;
    let confirmation = create_confirmation(config, backends, &topic_arn).await?;
    Ok(Resources {
        orders_queue_url,
        orders_dlq_url,
        table: names.table.clone(),
        topic_arn,
        on_failure_queue_url,
        events_queue_url,
        admin_topic_arn: admin.topic_arn,
        admin_digest_queue_url: admin.queue_url,
        admin_digest_dlq_url: admin.dlq_url,
        confirmation_queue_url: confirmation.queue_url,
        confirmation_dlq_url: confirmation.dlq_url,
        ses_sender: super::confirmation::LOCAL_SENDER.to_owned(),
        configuration_set: names.configuration_set.clone(),
    })
}

/// A queue with its DLQ, subscribed to the events topic.
struct SubscribedQueue {
    queue_url: String,
    dlq_url: String,
}

/// The confirmation function as the template deploys it: its standard
/// queue (with its DLQ) subscribed to the events topic with raw delivery,
/// the filter policy and the DLQ as the subscription's own; the sender
/// identity verified and the configuration set created on the backends'
/// SES.
async fn create_confirmation(
    config: &PipelineConfig,
    backends: &Backends,
    events_topic_arn: &str,
) -> Result<SubscribedQueue, PipelineError> {
    use confirmation::settings::{FILTER_POLICY, MAX_RECEIVE_COUNT, QUEUE_VISIBILITY_TIMEOUT_SECS};
    let names = &config.names;
    let visibility = config.time_scale.secs(QUEUE_VISIBILITY_TIMEOUT_SECS);
    let dlq_url = backends
        .queues
        .create_queue(&QueueSpec {
            name: names.confirmation_dlq.clone(),
            fifo: false,
            visibility_timeout: visibility,
            redrive: None,
        })
        .await
        .map_err(setup("the confirmation DLQ"))?;
    let queue_url = backends
        .queues
        .create_queue(&QueueSpec {
            name: names.confirmation_queue.clone(),
            fifo: false,
            visibility_timeout: visibility,
            redrive: Some(Redrive {
                dlq_url: dlq_url.clone(),
                max_receive_count: MAX_RECEIVE_COUNT,
            }),
        })
        .await
        .map_err(setup("the confirmation queue"))?;
    let subscription = backends
        .topics
        .subscribe_queue(events_topic_arn, &queue_url, Some(FILTER_POLICY), true)
        .await
        .map_err(setup("the confirmation subscription"))?;
    backends
        .topics
        .set_dead_letter_queue(&subscription, &dlq_url)
        .await
        .map_err(setup("the confirmation subscription's DLQ"))?;
    backends
        .mail
        .verify_identity(super::confirmation::LOCAL_SENDER)
        .await
        .map_err(setup("the confirmations' sender identity"))?;
    backends
        .mail
        .create_configuration_set(&names.configuration_set)
        .await
        .map_err(setup("the confirmations' configuration set"))?;
    Ok(SubscribedQueue { queue_url, dlq_url })
}

/// The admin digest's resources.
struct AdminDigest {
    topic_arn: String,
    queue_url: String,
    dlq_url: String,
}

/// The admin digest as the template deploys it: its standard queue (with
/// its DLQ) subscribed to the events topic with raw delivery, the filter
/// policy and the DLQ as the subscription's own; the admin topic, which
/// holds the e-mail subscription (never the events topic, whose rate would
/// get it suspended).
async fn create_admin_digest(
    config: &PipelineConfig,
    backends: &Backends,
    events_topic_arn: &str,
) -> Result<AdminDigest, PipelineError> {
    let names = &config.names;
    let visibility = config
        .time_scale
        .secs(ADMIN_DIGEST_QUEUE_VISIBILITY_TIMEOUT_SECS);
    let dlq_url = backends
        .queues
        .create_queue(&QueueSpec {
            name: names.admin_digest_dlq.clone(),
            fifo: false,
            visibility_timeout: visibility,
            redrive: None,
        })
        .await
        .map_err(setup("the admin-digest DLQ"))?;
    let queue_url = backends
        .queues
        .create_queue(&QueueSpec {
            name: names.admin_digest_queue.clone(),
            fifo: false,
            visibility_timeout: visibility,
            redrive: Some(Redrive {
                dlq_url: dlq_url.clone(),
                max_receive_count: ADMIN_DIGEST_MAX_RECEIVE_COUNT,
            }),
        })
        .await
        .map_err(setup("the admin-digest queue"))?;
    let subscription = backends
        .topics
        .subscribe_queue(
            events_topic_arn,
            &queue_url,
            Some(ADMIN_DIGEST_FILTER_POLICY),
            true,
        )
        .await
        .map_err(setup("the admin-digest subscription"))?;
    backends
        .topics
        .set_dead_letter_queue(&subscription, &dlq_url)
        .await
        .map_err(setup("the admin-digest subscription's DLQ"))?;
    let topic_arn = backends
        .topics
        .create_topic(&names.admin_topic)
        .await
        .map_err(setup("the admin topic"))?;
    if let Some(email) = &config.email {
        backends
            .topics
            .subscribe_email(&topic_arn, email, None)
            .await
            .map_err(setup("the admin e-mail subscription"))?;
    }
    Ok(AdminDigest {
        topic_arn,
        queue_url,
        dlq_url,
    })
}
