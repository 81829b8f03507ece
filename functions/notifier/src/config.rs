//! What the notifier needs from its environment: the events topic and its
//! own dead-letter queue, read once at cold start, and the clients built once.

use std::sync::Arc;

use orders_adapters::config::{
    ConfigError, FromVars, NOTIFIER_DLQ_URL, ORDER_EVENTS_TOPIC_ARN, Vars,
};
use orders_adapters::ports::{DeadLetterQueue, EventPublisher};

use crate::ahead::AcceptedAhead;

/// Every environment variable the notifier reads.
pub const ENV_VARS: &[&str] = &[ORDER_EVENTS_TOPIC_ARN, NOTIFIER_DLQ_URL];

/// The notifier's settings, read from the environment once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// ARN of the order-events topic.
    pub topic_arn: String,
    /// URL of the notifier DLQ.
    pub dlq_url: String,
}

/// Both variables are required.
impl FromVars for Config {
    fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            topic_arn: vars.required(ORDER_EVENTS_TOPIC_ARN)?,
            dlq_url: vars.required(NOTIFIER_DLQ_URL)?,
        })
    }
}

/// What the handler needs, built once per cold start and lent to every invocation.
#[derive(Clone)]
pub struct Deps {
    pub(crate) publisher: Arc<dyn EventPublisher>,
    pub(crate) dead_letters: Arc<dyn DeadLetterQueue>,
    /// Events SNS accepted after a record of their batch that was still
    /// refused when the invocation's time ran out: the retry of that batch
    /// acknowledges them instead of publishing them again.
    pub(crate) ahead: Arc<AcceptedAhead>,
}

impl Deps {
    /// Wraps an event publisher and the notifier DLQ (in tests and the local
    /// runner, in-memory or emulated ones).
    pub fn new(publisher: Arc<dyn EventPublisher>, dead_letters: Arc<dyn DeadLetterQueue>) -> Self {
        Self {
            publisher,
            dead_letters,
            ahead: Arc::new(AcceptedAhead::default()),
        }
    }

    /// Builds the SNS publisher and the SQS dead-letter queue of `config`
    /// over the function's SDK configuration.
    pub fn from_config(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let publisher = orders_adapters::aws::SnsEventPublisher::new(
            aws_sdk_sns::Client::new(sdk),
            config.topic_arn.clone(),
        );
        let dead_letters = orders_adapters::aws::SqsDeadLetterQueue::new(
            aws_sdk_sqs::Client::new(sdk),
            config.dlq_url.clone(),
        );
        Self::new(Arc::new(publisher), Arc::new(dead_letters))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_missing_variable_when_the_config_is_read_then_it_is_named() {
        assert_eq!(ENV_VARS, [ORDER_EVENTS_TOPIC_ARN, NOTIFIER_DLQ_URL]);
        let topic = (
            ORDER_EVENTS_TOPIC_ARN,
            "arn:aws:sns:eu-west-1:123456789012:order-events",
        );
        let dlq = (
            NOTIFIER_DLQ_URL,
            "https://sqs.eu-west-1.amazonaws.com/123456789012/notifier-dlq",
        );
        assert!(matches!(
            Config::from_vars(&[dlq]),
            Err(ConfigError::Missing(ORDER_EVENTS_TOPIC_ARN))
        ));
        assert!(matches!(
            Config::from_vars(&[topic]),
            Err(ConfigError::Missing(NOTIFIER_DLQ_URL))
        ));
        let config = Config::from_vars(&[topic, dlq]).unwrap();
        assert_eq!(config.topic_arn, topic.1);
        assert_eq!(config.dlq_url, dlq.1);
    }
}
