//! What the handler needs from its environment: the admin topic and the
//! idempotency table, named once at cold start, and the pace.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use adapters::config::{self, ADMIN_TOPIC_ARN, ConfigError};
use adapters::settings::{ADMIN_DIGEST_MIN_EMAIL_INTERVAL_MS, ADMIN_DIGEST_TIMEOUT_SECS};
use order_consumer::PROCESSED_EVENTS_TABLE;
use order_consumer::idempotency::{DynamoDbProcessedEvents, ProcessedEvents};

use crate::mailbox::{AdminMailbox, SnsAdminMailbox};
use crate::pacing::Pacer;

/// Every environment variable the admin-digest function reads.
pub const ENV_VARS: &[&str] = &[ADMIN_TOPIC_ARN, PROCESSED_EVENTS_TABLE];

/// How long a claim on an event id holds off other deliveries: twice the
/// function's timeout, so it outlives the invocation that took it (a crash
/// lets it lapse, and the event is e-mailed by a later delivery).
pub const LOCK_FOR: Duration = Duration::from_secs(2 * ADMIN_DIGEST_TIMEOUT_SECS);
const _: () = assert!(LOCK_FOR.as_secs() > ADMIN_DIGEST_TIMEOUT_SECS);

/// How long an e-mailed event id is remembered: the consumer kit's 30 days,
/// longer than the queue keeps a message and than any replay of the topic.
pub const REMEMBER_FOR: Duration = order_consumer::REMEMBER_FOR;

/// The handler's dependencies, built once per cold start and lent to every
/// invocation.
#[derive(Clone)]
pub struct Deps {
    mailbox: Arc<dyn AdminMailbox>,
    processed: Arc<dyn ProcessedEvents>,
    pacer: Pacer,
}

impl fmt::Debug for Deps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deps")
            .field("pacer", &self.pacer)
            .finish_non_exhaustive()
    }
}

impl Deps {
    /// Wires the handler to a mailbox and an idempotency store (the SNS and
    /// DynamoDB adapters in Lambda; emulated or in-memory ones in the local
    /// runner and tests), at the deployed pace,
    /// [`ADMIN_DIGEST_MIN_EMAIL_INTERVAL_MS`].
    pub fn new(mailbox: Arc<dyn AdminMailbox>, processed: Arc<dyn ProcessedEvents>) -> Self {
        Self {
            mailbox,
            processed,
            pacer: Pacer::new(Duration::from_millis(ADMIN_DIGEST_MIN_EMAIL_INTERVAL_MS)),
        }
    }

    /// Reads [`ENV_VARS`] and builds the SNS and DynamoDB adapters once.
    /// Performs no network I/O, so a misconfiguration fails the cold start
    /// rather than a batch. Both variables are required.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Self::from_settings(
            sdk,
            config::optional(ADMIN_TOPIC_ARN),
            config::optional(PROCESSED_EVENTS_TABLE),
        )
    }

    /// [`Deps::from_env`] on values already read, so tests need not mutate
    /// the process environment.
    fn from_settings(
        sdk: &aws_config::SdkConfig,
        topic_arn: Option<String>,
        table: Option<String>,
    ) -> Result<Self, ConfigError> {
        let topic_arn = topic_arn.ok_or(ConfigError::Missing(ADMIN_TOPIC_ARN))?;
        let table = table.ok_or(ConfigError::Missing(PROCESSED_EVENTS_TABLE))?;
        Ok(Self::new(
            Arc::new(SnsAdminMailbox::new(
                aws_sdk_sns::Client::new(sdk),
                topic_arn,
            )),
            Arc::new(DynamoDbProcessedEvents::new(
                aws_sdk_dynamodb::Client::new(sdk),
                table,
            )),
        ))
    }

    /// Where the e-mails go.
    pub(crate) fn mailbox(&self) -> &dyn AdminMailbox {
        self.mailbox.as_ref()
    }

    /// Which events were e-mailed.
    pub(crate) fn processed(&self) -> &dyn ProcessedEvents {
        self.processed.as_ref()
    }

    /// The e-mail pace.
    pub(crate) fn pacer(&self) -> Pacer {
        self.pacer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .build()
    }

    #[test]
    fn env_vars_name_exactly_what_the_function_reads() {
        assert_eq!(ENV_VARS, ["ADMIN_TOPIC_ARN", "PROCESSED_EVENTS_TABLE"]);
    }

    #[test]
    fn given_a_missing_variable_when_built_then_it_is_named() {
        let topic = || Some("arn:aws:sns:eu-west-1:123456789012:orders-admin".to_owned());
        let table = || Some("orders-admin-digest-processed".to_owned());
        assert!(matches!(
            Deps::from_settings(&sdk(), None, table()),
            Err(ConfigError::Missing(ADMIN_TOPIC_ARN))
        ));
        assert!(matches!(
            Deps::from_settings(&sdk(), topic(), None),
            Err(ConfigError::Missing(PROCESSED_EVENTS_TABLE))
        ));
        let deps = Deps::from_settings(&sdk(), topic(), table()).unwrap();
        assert_eq!(deps.pacer().interval(), Duration::from_secs(1));
    }
}
