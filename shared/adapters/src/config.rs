//! Configuration from environment variables, read once at cold start.
//!
//! Variable names are constants here so the handlers, the local runner and the
//! template-agreement test all use the same spelling.

/// Intake: URL of the orders FIFO queue.
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

/// Reads a required, non-empty variable.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    optional(name).ok_or(ConfigError::Missing(name))
}

/// Reads an optional variable; empty counts as unset.
pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_variable_is_named_in_the_error() {
        let err = required("ORDERS_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing environment variable ORDERS_TEST_SURELY_UNSET_VARIABLE"
        );
    }
}
