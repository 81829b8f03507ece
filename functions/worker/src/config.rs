//! What the worker needs from its environment: the orders table, its own
//! dead-letter queue and the orders queue it is triggered by, read once at
//! cold start, and the clients built once.
//!
//! The orders queue's URL is a variable of its own (`ORDERS_QUEUE_URL`, the
//! template's `!Ref` of the queue) rather than derived from the records'
//! `eventSourceARN`: a queue URL's form depends on the partition's domain
//! and on the endpoint in use (a China region, a VPC endpoint, an emulator),
//! which an ARN does not carry, and a variable is checked against the
//! mapping's queue by the template-agreement tests.

use std::sync::Arc;

use orders_adapters::config::{
    ConfigError, FromVars, ORDERS_QUEUE_URL, ORDERS_TABLE_NAME, Vars, WORKER_DLQ_URL,
};
use orders_adapters::ports::{DeadLetterQueue, OrderStore, VisibilityDelay};

/// Every environment variable the worker reads.
pub const ENV_VARS: &[&str] = &[ORDERS_TABLE_NAME, WORKER_DLQ_URL, ORDERS_QUEUE_URL];

/// The worker's settings, read from the environment once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Name of the orders table.
    pub table_name: String,
    /// URL of the worker DLQ.
    pub dlq_url: String,
    /// URL of the orders queue, whose records the worker backs off.
    pub queue_url: String,
}

/// All three variables are required: a misconfigured function fails at
/// cold start instead of per record.
impl FromVars for Config {
    fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required(ORDERS_TABLE_NAME)?,
            dlq_url: vars.required(WORKER_DLQ_URL)?,
            queue_url: vars.required(ORDERS_QUEUE_URL)?,
        })
    }
}

/// What the handler needs, built once per cold start and lent to every invocation.
#[derive(Clone)]
pub struct Deps {
    pub(crate) store: Arc<dyn OrderStore>,
    pub(crate) dead_letters: Arc<dyn DeadLetterQueue>,
    pub(crate) visibility: Option<Arc<dyn VisibilityDelay>>,
}

impl Deps {
    /// Wraps an order store and the worker DLQ (in tests and the local
    /// runner, in-memory or emulated ones). Without
    /// [`Deps::with_visibility_delay`] there is no backoff: a failed record
    /// comes back after the queue's own visibility timeout.
    pub fn new(store: Arc<dyn OrderStore>, dead_letters: Arc<dyn DeadLetterQueue>) -> Self {
        Self {
            store,
            dead_letters,
            visibility: None,
        }
    }

    /// Adds the orders queue's visibility port, through which a record that
    /// failed in a way that may pass, and the records of its group held back
    /// with it, are retried after the backoff of
    /// `orders_adapters::settings::WORKER_BACKOFF_SECS`.
    pub fn with_visibility_delay(mut self, visibility: Arc<dyn VisibilityDelay>) -> Self {
        self.visibility = Some(visibility);
        self
    }

    /// Builds the DynamoDB store, the SQS dead-letter queue and the orders
    /// queue's visibility port of `config` over the function's SDK
    /// configuration. Performs no network I/O.
    pub fn from_config(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let store = orders_adapters::aws::DynamoOrderStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table_name.clone(),
        );
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let dead_letters =
            orders_adapters::aws::SqsDeadLetterQueue::new(sqs.clone(), config.dlq_url.clone());
        let visibility =
            orders_adapters::aws::SqsVisibilityDelay::new(sqs, config.queue_url.clone());
        Self::new(Arc::new(store), Arc::new(dead_letters))
            .with_visibility_delay(Arc::new(visibility))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_missing_variable_when_the_config_is_read_then_it_is_named() {
        assert_eq!(
            ENV_VARS,
            [ORDERS_TABLE_NAME, WORKER_DLQ_URL, ORDERS_QUEUE_URL]
        );
        let table = (ORDERS_TABLE_NAME, "orders");
        let dlq = (
            WORKER_DLQ_URL,
            "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq.fifo",
        );
        let queue = (
            ORDERS_QUEUE_URL,
            "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo",
        );
        assert!(matches!(
            Config::from_vars(&[dlq, queue]),
            Err(ConfigError::Missing(ORDERS_TABLE_NAME))
        ));
        assert!(matches!(
            Config::from_vars(&[table, queue]),
            Err(ConfigError::Missing(WORKER_DLQ_URL))
        ));
        assert!(matches!(
            Config::from_vars(&[table, dlq, (ORDERS_QUEUE_URL, " ")]),
            Err(ConfigError::Missing(ORDERS_QUEUE_URL))
        ));
        let config = Config::from_vars(&[table, dlq, queue]).unwrap();
        assert_eq!(
            (
                config.table_name.as_str(),
                config.dlq_url.as_str(),
                config.queue_url.as_str()
            ),
            (table.1, dlq.1, queue.1)
        );
        let deps = Deps::from_config(&orders_adapters::aws::lambda_sdk_config(), &config);
        assert!(deps.visibility.is_some(), "the deployed worker backs off");
    }
}
