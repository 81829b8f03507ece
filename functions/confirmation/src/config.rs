//! What the handler needs from its environment: the orders table, its own
//! queue (for the backoff), the sender, the configuration set, the
//! account's send rate, the API's URL and the metric namespace, named once
//! at cold start.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use orders_adapters::aws::SqsVisibilityDelay;
use orders_adapters::config::{ConfigError, FromVars, ORDERS_TABLE_NAME, Vars};
use orders_adapters::ports::VisibilityDelay;

use crate::mailer::{CustomerMailer, SesCustomerMailer};
use crate::metrics::{EmfMetrics, Metrics};
use crate::settings::{CLAIM_FOR, DEFAULT_MAX_SEND_RATE, send_interval};
use crate::store::ConfirmationStore;
use crate::store::dynamodb::DynamoConfirmationStore;
use orders_adapters::pacing::Pacer;

/// URL of the function's own queue, whose records it backs off.
pub const CONFIRMATION_QUEUE_URL: &str = "CONFIRMATION_QUEUE_URL";
/// The confirmations' From address, of a verified SES identity.
pub const SES_FROM_ADDRESS: &str = "SES_FROM_ADDRESS";
/// The SES configuration set every send names (its event destinations
/// report bounces, complaints and suppressed addresses).
pub const SES_CONFIGURATION_SET: &str = "SES_CONFIGURATION_SET";
/// The account's SES maximum send rate, e-mails per second.
pub const SES_MAX_SEND_RATE: &str = "SES_MAX_SEND_RATE";
/// The HTTP API's base URL, for the status link in the e-mail.
pub const ORDERS_API_URL: &str = "ORDERS_API_URL";
/// The CloudWatch namespace of the `ConfirmationFailed` metric.
pub const METRIC_NAMESPACE: &str = "METRIC_NAMESPACE";

/// Every environment variable the confirmation function reads.
pub const ENV_VARS: &[&str] = &[
    ORDERS_TABLE_NAME,
    CONFIRMATION_QUEUE_URL,
    SES_FROM_ADDRESS,
    SES_CONFIGURATION_SET,
    SES_MAX_SEND_RATE,
    ORDERS_API_URL,
    METRIC_NAMESPACE,
];

/// The confirmation function's settings, read from the environment once.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Name of the orders table.
    pub table: String,
    /// URL of the confirmation queue.
    pub queue_url: String,
    /// The From address.
    pub from: String,
    /// The configuration set.
    pub configuration_set: String,
    /// The account's maximum send rate, per second (positive).
    pub max_send_rate: f64,
    /// The HTTP API's base URL.
    pub api_url: String,
    /// The metric namespace.
    pub metric_namespace: String,
}

/// Every variable is required but the send rate, which defaults to
/// [`DEFAULT_MAX_SEND_RATE`] and must be a positive number.
impl FromVars for Config {
    fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        let max_send_rate = match vars.optional(SES_MAX_SEND_RATE) {
            None => DEFAULT_MAX_SEND_RATE,
            Some(raw) => match raw.trim().parse::<f64>() {
                Ok(rate) if rate.is_finite() && rate > 0.0 => rate,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: SES_MAX_SEND_RATE,
                        reason: "not a positive number of e-mails per second".to_owned(),
                    });
                }
            },
        };
        Ok(Self {
            table: vars.required(ORDERS_TABLE_NAME)?,
            queue_url: vars.required(CONFIRMATION_QUEUE_URL)?,
            from: vars.required(SES_FROM_ADDRESS)?,
            configuration_set: vars.required(SES_CONFIGURATION_SET)?,
            max_send_rate,
            api_url: vars.required(ORDERS_API_URL)?,
            metric_namespace: vars.required(METRIC_NAMESPACE)?,
        })
    }
}

/// The handler's dependencies, built once per cold start and lent to every
/// invocation.
#[derive(Clone)]
pub struct Deps {
    store: Arc<dyn ConfirmationStore>,
    mailer: Arc<dyn CustomerMailer>,
    visibility: Arc<dyn VisibilityDelay>,
    metrics: Arc<dyn Metrics>,
    pacer: Pacer,
    api_url: String,
    claim_for: Duration,
    send_reserve: Duration,
}

impl fmt::Debug for Deps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deps")
            .field("pacer", &self.pacer)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl Deps {
    /// Wires the handler to its ports, sending at most `max_send_rate`
    /// e-mails per second across the mapping's concurrent invocations
    /// ([`send_interval`]).
    pub fn new(
        store: Arc<dyn ConfirmationStore>,
        mailer: Arc<dyn CustomerMailer>,
        visibility: Arc<dyn VisibilityDelay>,
        metrics: Arc<dyn Metrics>,
        max_send_rate: f64,
        api_url: impl Into<String>,
    ) -> Self {
        Self {
            store,
            mailer,
            visibility,
            metrics,
            pacer: Pacer::new(send_interval(max_send_rate)),
            api_url: api_url.into(),
            claim_for: CLAIM_FOR,
            send_reserve: crate::handler::SEND_RESERVE,
        }
    }

    /// The same, starting a send only while `reserve` and the pace remain
    /// before the invocation's deadline, instead of the deployed
    /// [`SEND_RESERVE`](crate::handler::SEND_RESERVE): a chaos run shortens
    /// the function's timeout, and the reserve with it.
    pub fn with_send_reserve(mut self, reserve: Duration) -> Self {
        self.send_reserve = reserve;
        self
    }

    /// The same, with claims that hold for `claim_for` instead of the
    /// deployed [`CLAIM_FOR`]: the local runner scales it with its other
    /// waits, so a chaos run sees a crashed claim expire.
    pub fn with_claim_for(mut self, claim_for: Duration) -> Self {
        self.claim_for = claim_for;
        self
    }

    /// Builds the DynamoDB, SES v2 and SQS adapters of `config` over the
    /// function's SDK configuration, once. Performs no network I/O.
    pub fn from_config(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        Self::new(
            Arc::new(DynamoConfirmationStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.table.clone(),
            )),
            Arc::new(SesCustomerMailer::new(
                aws_sdk_sesv2::Client::new(sdk),
                config.from.clone(),
                Some(config.configuration_set.clone()),
            )),
            Arc::new(SqsVisibilityDelay::new(
                aws_sdk_sqs::Client::new(sdk),
                config.queue_url.clone(),
            )),
            Arc::new(EmfMetrics::new(config.metric_namespace.clone())),
            config.max_send_rate,
            config.api_url.clone(),
        )
    }

    pub(crate) fn store(&self) -> &dyn ConfirmationStore {
        self.store.as_ref()
    }

    pub(crate) fn mailer(&self) -> &dyn CustomerMailer {
        self.mailer.as_ref()
    }

    pub(crate) fn visibility(&self) -> &dyn VisibilityDelay {
        self.visibility.as_ref()
    }

    pub(crate) fn metrics(&self) -> &dyn Metrics {
        self.metrics.as_ref()
    }

    /// The send pace.
    pub fn interval(&self) -> Duration {
        self.pacer.interval()
    }

    pub(crate) fn pacer(&self) -> Pacer {
        self.pacer
    }

    pub(crate) fn send_reserve(&self) -> Duration {
        self.send_reserve
    }

    pub(crate) fn claim_for(&self) -> Duration {
        self.claim_for
    }

    pub(crate) fn api_url(&self) -> &str {
        &self.api_url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [(&str, &str); 7] = [
        (ORDERS_TABLE_NAME, "orders"),
        (
            CONFIRMATION_QUEUE_URL,
            "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-confirmation",
        ),
        (SES_FROM_ADDRESS, "orders@example.com"),
        (SES_CONFIGURATION_SET, "orders"),
        (SES_MAX_SEND_RATE, "14"),
        (ORDERS_API_URL, "https://api.example.com"),
        (METRIC_NAMESPACE, "Orders"),
    ];

    #[test]
    fn given_every_variable_then_the_config_and_a_pace_within_the_rate() {
        let config = Config::from_vars(&ALL).unwrap();
        assert_eq!(config.max_send_rate, 14.0);
        let deps = Deps::from_config(&orders_adapters::aws::lambda_sdk_config(), &config);
        assert_eq!(deps.interval(), Duration::from_millis(143));
    }

    /// Settings a test varies: `ALL` with some left out or replaced.
    struct Picked(Vec<(&'static str, &'static str)>);

    impl Vars for Picked {
        fn var(&self, name: &'static str) -> Option<String> {
            self.0
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn without(name: &str) -> Vec<(&'static str, &'static str)> {
        ALL.iter().copied().filter(|(n, _)| *n != name).collect()
    }

    #[test]
    fn given_a_missing_or_bad_variable_then_it_is_named() {
        for name in ENV_VARS.iter().filter(|n| **n != SES_MAX_SEND_RATE) {
            assert!(
                matches!(Config::from_vars(&Picked(without(name))), Err(ConfigError::Missing(n)) if n == *name),
                "{name}"
            );
        }
        for bad in ["0", "-1", "fast", "NaN", "inf"] {
            let mut vars = without(SES_MAX_SEND_RATE);
            vars.push((SES_MAX_SEND_RATE, bad));
            assert!(
                matches!(
                    Config::from_vars(&Picked(vars)),
                    Err(ConfigError::Invalid {
                        name: SES_MAX_SEND_RATE,
                        ..
                    })
                ),
                "{bad}"
            );
        }
        let sandbox = Config::from_vars(&Picked(without(SES_MAX_SEND_RATE))).unwrap();
        assert_eq!(sandbox.max_send_rate, DEFAULT_MAX_SEND_RATE);
    }
}
