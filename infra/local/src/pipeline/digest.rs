//! The admin digest in the runner: its mapping, with the deployed batch
//! size, batching window (scaled like every wait) and maximum concurrency,
//! and its mailbox over the runner's topics, so the outbox shows what the
//! admin will get.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orders_adapters::ports::PortError;
use orders_adapters::settings::{
    ADMIN_DIGEST_BATCH_SIZE, ADMIN_DIGEST_BATCHING_WINDOW_SECS, ADMIN_DIGEST_MAX_CONCURRENCY,
    ADMIN_DIGEST_TIMEOUT_SECS,
};
use orders_backends::backend::{BackendError, Backends, TextMessage, TopicService};

use super::config::{PipelineConfig, Ports};
use crate::mapping::sqs::{MappingCounters, SqsMapping, admin_digest_function};
use crate::state::Resources;
use crate::stats::Counters;

/// Pollers of the digest's mapping: its `MaximumConcurrency`.
pub(super) const MAX_CONCURRENCY: u32 = ADMIN_DIGEST_MAX_CONCURRENCY;

/// The digest's mapping over its queue, with the handler's ports. The pace
/// between e-mails is the deployed one, never scaled: it keeps the rate
/// below what suspends the (emulated) e-mail subscription, whose clock is
/// the wall clock.
pub(super) fn mapping(
    config: &PipelineConfig,
    backends: &Backends,
    resources: &Resources,
    ports: &Ports,
    function_arn: String,
    counters: Arc<Counters>,
) -> Arc<SqsMapping> {
    let deps = admin_digest::Deps::new(ports.admin_mailbox.clone(), ports.admin_processed.clone());
    Arc::new(SqsMapping {
        queues: backends.queues.clone(),
        queue_url: resources.admin_digest_queue_url.clone(),
        queue_arn: orders_backends::arn::queue_arn(
            &resources.admin_digest_queue_url,
            &config.region,
        ),
        region: config.region.clone(),
        name: "admin-digest",
        function_arn,
        function: admin_digest_function(Arc::new(deps)),
        timeout: Duration::from_secs(ADMIN_DIGEST_TIMEOUT_SECS),
        batch_size: ADMIN_DIGEST_BATCH_SIZE,
        batching_window: config.time_scale.secs(ADMIN_DIGEST_BATCHING_WINDOW_SECS),
        counters,
        counted_in: MappingCounters::ADMIN_DIGEST,
    })
}

/// The digest's [`admin_digest::AdminMailbox`] over a topic of the
/// backends: the same `Publish` `SnsAdminMailbox` makes (a String message
/// with a subject, no attributes), through the embedded SNS or an endpoint.
pub struct TopicMailbox {
    topics: Arc<dyn TopicService>,
    topic_arn: String,
}

impl TopicMailbox {
    /// The mailbox behind `topic_arn`.
    pub fn new(topics: Arc<dyn TopicService>, topic_arn: &str) -> Self {
        Self {
            topics,
            topic_arn: topic_arn.to_owned(),
        }
    }
}

#[async_trait]
impl admin_digest::AdminMailbox for TopicMailbox {
    async fn send(&self, subject: &str, text: &str) -> Result<(), PortError> {
        let message = TextMessage {
            message: text.to_owned(),
            subject: Some(subject.to_owned()),
            attributes: Default::default(),
        };
        match self.topics.publish_text(&self.topic_arn, &message).await {
            Ok(_) => Ok(()),
            // A missing topic stays missing; anything else may pass.
            Err(err @ BackendError::NotFound(_)) => Err(PortError::Permanent(Box::new(err))),
            Err(err) => Err(PortError::Transient(Box::new(err))),
        }
    }
}
