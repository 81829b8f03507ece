//! What the handler needs from its environment: the table it reads and
//! whose orders a request may read, read once at cold start.

use std::fmt;
use std::sync::Arc;

use orders_adapters::aws::DynamoOrderReader;
use orders_adapters::config::{ConfigError, FromVars, ORDERS_TABLE_NAME, Vars};
use orders_adapters::ports::OrderReader;
use orders_http::{AUTH_MODE, OWNER_KEY_SECRET, Owners};

/// Every environment variable the status function reads.
pub const ENV_VARS: &[&str] = &[ORDERS_TABLE_NAME, AUTH_MODE, OWNER_KEY_SECRET];

/// The status function's settings, read from the environment once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Name of the orders table.
    pub table_name: String,
    /// Whose orders a request may read: intake's settings, so a caller
    /// reads under the owner key its orders were stored under.
    pub owners: Owners,
}

/// `ORDERS_TABLE_NAME` is required; `AUTH_MODE` and `OWNER_KEY_SECRET` as
/// [`Owners`] reads them.
impl FromVars for Config {
    fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required(ORDERS_TABLE_NAME)?,
            owners: Owners::from_vars(vars)?,
        })
    }
}

/// The handler's dependencies, built once per cold start and lent to every
/// invocation.
#[derive(Clone)]
pub struct Deps {
    reader: Arc<dyn OrderReader>,
    owners: Owners,
}

impl fmt::Debug for Deps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deps")
            .field("auth_mode", &self.owners.mode())
            .finish_non_exhaustive()
    }
}

impl Deps {
    /// Wires the handler to any reader (the DynamoDB adapter in Lambda, the
    /// memory store or an emulated table in tests and the local runner).
    pub fn new(reader: Arc<dyn OrderReader>, owners: Owners) -> Self {
        Self { reader, owners }
    }

    /// Builds the DynamoDB adapter of `config` over the function's SDK
    /// configuration, once. Performs no network I/O.
    pub fn from_config(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let reader = DynamoOrderReader::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table_name.clone(),
        );
        Self::new(Arc::new(reader), config.owners.clone())
    }

    /// Where orders are read.
    pub fn reader(&self) -> &dyn OrderReader {
        self.reader.as_ref()
    }

    /// Whose orders the requests read.
    pub fn owners(&self) -> &Owners {
        &self.owners
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_vars_name_exactly_what_the_function_reads() {
        assert_eq!(
            ENV_VARS,
            ["ORDERS_TABLE_NAME", "AUTH_MODE", "OWNER_KEY_SECRET"]
        );
    }

    #[test]
    fn given_no_table_name_when_built_then_the_variable_is_named() {
        assert!(matches!(
            Config::from_vars(&[(ORDERS_TABLE_NAME, ""), (AUTH_MODE, "NONE")]),
            Err(ConfigError::Missing(ORDERS_TABLE_NAME))
        ));
        assert!(matches!(
            Config::from_vars(&[(ORDERS_TABLE_NAME, "orders")]),
            Err(ConfigError::Missing(AUTH_MODE))
        ));
        let config =
            Config::from_vars(&[(ORDERS_TABLE_NAME, "orders"), (AUTH_MODE, "NONE")]).unwrap();
        assert_eq!(config.table_name, "orders");
        let _deps = Deps::from_config(&orders_adapters::aws::lambda_sdk_config(), &config);
    }
}
