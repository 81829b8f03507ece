//! Configuration from environment variables, read once at cold start.
//!
//! Variable names are constants here so the handlers, the local runner and the
//! template-agreement test all use the same spelling. A function's `Config`
//! reads them through [`Vars`] ([`FromVars`]), from the process environment
//! at cold start and from fixed values in its tests, with the same code.

/// Intake and worker: URL of the orders FIFO queue (intake sends to it; the
/// worker changes the visibility of the records it backs off).
pub const ORDERS_QUEUE_URL: &str = "ORDERS_QUEUE_URL";
/// Intake: how orders are grouped on the FIFO queue (`customer` or `order`).
pub const MESSAGE_GROUP_STRATEGY: &str = "MESSAGE_GROUP_STRATEGY";
/// Worker: name of the orders table.
pub const ORDERS_TABLE_NAME: &str = "ORDERS_TABLE_NAME";
/// Notifier: ARN of the order-events topic.
pub const ORDER_EVENTS_TOPIC_ARN: &str = "ORDER_EVENTS_TOPIC_ARN";
/// Worker: URL of the worker's FIFO dead-letter queue, where conflicting and
/// unreadable messages go at once.
pub const WORKER_DLQ_URL: &str = "WORKER_DLQ_URL";
/// Notifier: URL of the notifier's dead-letter queue, where unreadable stream
/// records and refused events go at once.
pub const NOTIFIER_DLQ_URL: &str = "NOTIFIER_DLQ_URL";
/// Admin digest: ARN of the admin topic, which holds the admin's e-mail
/// subscription.
pub const ADMIN_TOPIC_ARN: &str = "ADMIN_TOPIC_ARN";

/// A required setting is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The variable is unset or empty.
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    /// The variable is set but unusable.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why, without echoing secrets.
        reason: String,
    },
}

/// Where a function's settings are read from: [`ProcessEnv`] at cold
/// start, or fixed `(name, value)` pairs in tests, which try a setting
/// without changing the process environment. Either way a setting is read
/// by the same [`Vars::required`] and [`Vars::optional`].
pub trait Vars {
    /// The variable's value as set, if it is set.
    fn var(&self, name: &'static str) -> Option<String>;

    /// An optional setting; empty or blank counts as unset.
    fn optional(&self, name: &'static str) -> Option<String> {
        self.var(name).filter(|v| !v.trim().is_empty())
    }

    /// A required setting: unset, empty or blank is [`ConfigError::Missing`].
    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }
}

/// A function's settings, read once at cold start. A function says how to
/// read them from any [`Vars`] ([`FromVars::from_vars`]); its `main` reads
/// them from the process environment ([`FromVars::from_env`]) and its tests
/// from fixed values, through the same code.
pub trait FromVars: Sized {
    /// Reads the settings from `vars`: the first one missing or malformed is
    /// the error.
    fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError>;

    /// Reads the settings from the process environment, so a
    /// misconfiguration fails the cold start rather than a request.
    fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&ProcessEnv)
    }
}

/// The process environment, where Lambda puts a function's variables.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Vars for ProcessEnv {
    fn var(&self, name: &'static str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// Fixed settings, by name; a name not listed is unset.
impl<const N: usize> Vars for [(&'static str, &str); N] {
    fn var(&self, name: &'static str) -> Option<String> {
        self.iter()
            .find(|(set, _)| *set == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

/// Reads a required, non-empty variable of the process environment.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    ProcessEnv.required(name)
}

/// Reads an optional variable of the process environment; empty counts as
/// unset.
pub fn optional(name: &'static str) -> Option<String> {
    ProcessEnv.optional(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_fixed_settings_then_blank_is_unset_and_a_missing_one_is_named() {
        let vars = [(ORDERS_TABLE_NAME, "orders"), (WORKER_DLQ_URL, "  ")];
        assert_eq!(vars.required(ORDERS_TABLE_NAME).unwrap(), "orders");
        assert_eq!(vars.optional(WORKER_DLQ_URL), None);
        assert!(matches!(
            vars.required(WORKER_DLQ_URL),
            Err(ConfigError::Missing(WORKER_DLQ_URL))
        ));
        assert!(matches!(
            vars.required(ORDERS_QUEUE_URL),
            Err(ConfigError::Missing(ORDERS_QUEUE_URL))
        ));
    }

    #[test]
    fn missing_variable_is_named_in_the_error() {
        let err = required("ORDERS_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing environment variable ORDERS_TEST_SURELY_UNSET_VARIABLE"
        );
    }
}
