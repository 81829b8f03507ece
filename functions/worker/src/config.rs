//! What the worker needs from its environment: the orders table and its own
//! dead-letter queue, read once at cold start, and the clients built once.

use std::sync::Arc;

use adapters::config::{self, ConfigError, ORDERS_TABLE_NAME, WORKER_DLQ_URL};
use adapters::ports::{DeadLetterQueue, OrderStore};

/// Every environment variable the worker reads.
pub const ENV_VARS: &[&str] = &[ORDERS_TABLE_NAME, WORKER_DLQ_URL];

/// The worker's settings, read from the environment once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Name of the orders table.
    pub table_name: String,
    /// URL of the worker DLQ.
    pub dlq_url: String,
}

impl Config {
    /// Reads `ORDERS_TABLE_NAME` and `WORKER_DLQ_URL`; fails fast when one is
    /// missing, so a misconfigured function fails at cold start instead of
    /// per record.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: config::required(ORDERS_TABLE_NAME)?,
            dlq_url: config::required(WORKER_DLQ_URL)?,
        })
    }
}

/// What the handler needs, built once per cold start and lent to every invocation.
#[derive(Clone)]
pub struct Deps {
    pub(crate) store: Arc<dyn OrderStore>,
    pub(crate) dead_letters: Arc<dyn DeadLetterQueue>,
}

impl Deps {
    /// Wraps an order store and the worker DLQ (in tests and the local
    /// runner, in-memory or emulated ones).
    pub fn new(store: Arc<dyn OrderStore>, dead_letters: Arc<dyn DeadLetterQueue>) -> Self {
        Self {
            store,
            dead_letters,
        }
    }

    /// Builds the DynamoDB store and the SQS dead-letter queue of `config`
    /// over the function's SDK configuration. Performs no network I/O.
    pub fn from_config(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let store = adapters::aws::DynamoOrderStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table_name.clone(),
        );
        let dead_letters = adapters::aws::SqsDeadLetterQueue::new(
            aws_sdk_sqs::Client::new(sdk),
            config.dlq_url.clone(),
        );
        Self::new(Arc::new(store), Arc::new(dead_letters))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_no_table_name_when_the_config_is_read_then_the_variable_is_named() {
        assert_eq!(ENV_VARS, [ORDERS_TABLE_NAME, WORKER_DLQ_URL]);
        if std::env::var_os(ORDERS_TABLE_NAME).is_some() {
            return; // Set by the caller's environment: nothing to check here.
        }
        assert!(matches!(
            Config::from_env(),
            Err(ConfigError::Missing(ORDERS_TABLE_NAME))
        ));
    }
}
