//! What the handler needs from its environment: the table it reads, named
//! once at cold start.

use std::fmt;
use std::sync::Arc;

use orders_adapters::aws::DynamoOrderReader;
use orders_adapters::config::{ConfigError, FromVars, ORDERS_TABLE_NAME, Vars};
use orders_adapters::ports::OrderReader;

/// Every environment variable the status function reads.
pub const ENV_VARS: &[&str] = &[ORDERS_TABLE_NAME];

/// The status function's settings, read from the environment once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Name of the orders table.
    pub table_name: String,
}

/// `ORDERS_TABLE_NAME` is required.
impl FromVars for Config {
    fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required(ORDERS_TABLE_NAME)?,
        })
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

    #[test]
    fn env_vars_name_exactly_what_the_function_reads() {
        assert_eq!(ENV_VARS, ["ORDERS_TABLE_NAME"]);
    }

    #[test]
    fn given_no_table_name_when_built_then_the_variable_is_named() {
        assert!(matches!(
            Config::from_vars(&[(ORDERS_TABLE_NAME, "")]),
            Err(ConfigError::Missing(ORDERS_TABLE_NAME))
        ));
        let config = Config::from_vars(&[(ORDERS_TABLE_NAME, "orders")]).unwrap();
        assert_eq!(config.table_name, "orders");
        let _deps = Deps::from_config(&orders_adapters::aws::lambda_sdk_config(), &config);
    }
}
