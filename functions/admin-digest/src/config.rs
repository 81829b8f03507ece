//! What the handler needs from its environment: the admin topic and the
//! idempotency table, named once at cold start, and the pace.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use order_consumer::PROCESSED_EVENTS_TABLE;
use order_consumer::idempotency::{DynamoDbProcessedEvents, ProcessedEvents};
use orders_adapters::config::{ADMIN_TOPIC_ARN, ConfigError, FromVars, Vars};
use orders_adapters::settings::{ADMIN_DIGEST_MIN_EMAIL_INTERVAL_MS, ADMIN_DIGEST_TIMEOUT_SECS};

use crate::mailbox::{AdminMailbox, SnsAdminMailbox};
use orders_adapters::pacing::Pacer;

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

/// The admin-digest function's settings, read from the environment once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// ARN of the admin topic.
    pub topic_arn: String,
    /// Name of the table of e-mailed event ids.
    pub processed_table: String,
}

/// Both variables are required.
impl FromVars for Config {
    fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            topic_arn: vars.required(ADMIN_TOPIC_ARN)?,
            processed_table: vars.required(PROCESSED_EVENTS_TABLE)?,
        })
    }
}

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

    /// Builds the SNS and DynamoDB adapters of `config` over the function's
    /// SDK configuration, once. Performs no network I/O.
    pub fn from_config(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        Self::new(
            Arc::new(SnsAdminMailbox::new(
                aws_sdk_sns::Client::new(sdk),
                config.topic_arn.clone(),
            )),
            Arc::new(DynamoDbProcessedEvents::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.processed_table.clone(),
            )),
        )
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

    #[test]
    fn env_vars_name_exactly_what_the_function_reads() {
        assert_eq!(ENV_VARS, ["ADMIN_TOPIC_ARN", "PROCESSED_EVENTS_TABLE"]);
    }

    #[test]
    fn given_a_missing_variable_when_read_then_it_is_named() {
        let topic = (
            ADMIN_TOPIC_ARN,
            "arn:aws:sns:eu-west-1:123456789012:orders-admin",
        );
        let table = (PROCESSED_EVENTS_TABLE, "orders-admin-digest-processed");
        assert!(matches!(
            Config::from_vars(&[table]),
            Err(ConfigError::Missing(ADMIN_TOPIC_ARN))
        ));
        assert!(matches!(
            Config::from_vars(&[topic]),
            Err(ConfigError::Missing(PROCESSED_EVENTS_TABLE))
        ));
        let config = Config::from_vars(&[topic, table]).unwrap();
        assert_eq!(config.topic_arn, topic.1);
        assert_eq!(config.processed_table, table.1);
        let deps = Deps::from_config(&orders_adapters::aws::lambda_sdk_config(), &config);
        assert_eq!(deps.pacer().interval(), Duration::from_secs(1));
    }
}
