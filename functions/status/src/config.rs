//! What the handler needs from its environment: the table it reads, named
//! once at cold start.

use std::fmt;
use std::sync::Arc;

use adapters::aws::DynamoOrderReader;
use adapters::config::{self, ConfigError, ORDERS_TABLE_NAME};
use adapters::ports::OrderReader;

/// Every environment variable the status function reads.
pub const ENV_VARS: &[&str] = &[ORDERS_TABLE_NAME];

/// The status function's settings, read from the environment once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Name of the orders table.
    pub table_name: String,
}

impl Config {
    /// Reads [`ENV_VARS`]. Fails fast, so a misconfiguration fails the cold
    /// start rather than a request. `ORDERS_TABLE_NAME` is required.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(config::optional(ORDERS_TABLE_NAME))
    }

    /// [`Config::from_env`] on a value already read, so tests need not mutate
    /// the process environment.
    fn from_settings(table_name: Option<String>) -> Result<Self, ConfigError> {
        let table_name = table_name.ok_or(ConfigError::Missing(ORDERS_TABLE_NAME))?;
        Ok(Self { table_name })
    }
}

/// The handler's dependencies, built once per cold start and lent to every
/// invocation.
#[derive(Clone)]
pub struct Deps {
    reader: Arc<dyn OrderReader>,
}

impl fmt::Debug for Deps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deps").finish_non_exhaustive()
    }
}

impl Deps {
    /// Wires the handler to any reader (the DynamoDB adapter in Lambda, the
    /// memory store or an emulated table in tests and the local runner).
    pub fn new(reader: Arc<dyn OrderReader>) -> Self {
        Self { reader }
    }

    /// Builds the DynamoDB adapter of `config` over the function's SDK
    /// configuration, once. Performs no network I/O.
    pub fn from_config(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let reader = DynamoOrderReader::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table_name.clone(),
        );
        Self::new(Arc::new(reader))
    }

    /// Where orders are read.
    pub fn reader(&self) -> &dyn OrderReader {
        self.reader.as_ref()
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
        assert_eq!(ENV_VARS, ["ORDERS_TABLE_NAME"]);
    }

    #[test]
    fn given_no_table_name_when_built_then_the_variable_is_named() {
        assert!(matches!(
            Config::from_settings(None),
            Err(ConfigError::Missing(ORDERS_TABLE_NAME))
        ));
        let config = Config::from_settings(Some("orders".into())).unwrap();
        assert_eq!(config.table_name, "orders");
        let _deps = Deps::from_config(&sdk(), &config);
    }
}
