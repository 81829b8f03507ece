//! What the handler needs from its environment: the queue it writes to, how
//! orders are grouped on it and whose orders they are, read once at cold
//! start.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use orders_adapters::aws::SqsOrderQueue;
use orders_adapters::config::{
    ConfigError, FromVars, MESSAGE_GROUP_STRATEGY, ORDERS_QUEUE_URL, Vars,
};
use orders_adapters::ports::OrderQueue;
use orders_domain::model::{Order, OrderId, OwnerKey};
use orders_http::{AUTH_MODE, OWNER_KEY_SECRET, Owners};

/// Every environment variable the intake function reads.
pub const ENV_VARS: &[&str] = &[
    ORDERS_QUEUE_URL,
    MESSAGE_GROUP_STRATEGY,
    AUTH_MODE,
    OWNER_KEY_SECRET,
];

/// How orders are spread over FIFO message groups.
///
/// SQS FIFO delivers one group strictly in order and different groups in
/// parallel, so the choice trades ordering for throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupStrategy {
    /// One group per customer of an owner (`customer-<hashed key>`): a
    /// customer's orders are processed in the order they arrived. The default.
    #[default]
    Customer,
    /// One group per order (`order-<owner>-<orderId>`): maximum parallelism,
    /// no ordering between orders.
    Order,
}

impl GroupStrategy {
    /// The `MessageGroupId` of an order. Never a constant (one group would
    /// serialise the whole pipeline) and never personal data (the customer key
    /// is a hash). Always per owner, so one owner's stuck message never
    /// holds back another owner's orders.
    pub fn group_id(self, owner: &OwnerKey, order_id: &OrderId, order: &Order) -> String {
        match self {
            Self::Customer => format!("customer-{}", order.customer_key(owner)),
            Self::Order => format!("order-{owner}-{order_id}"),
        }
    }
}

impl FromStr for GroupStrategy {
    type Err = ConfigError;

    /// Accepts `customer` or `order`, ignoring case and surrounding space.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let value = raw.trim();
        if value.eq_ignore_ascii_case("customer") {
            Ok(Self::Customer)
        } else if value.eq_ignore_ascii_case("order") {
            Ok(Self::Order)
        } else {
            Err(ConfigError::Invalid {
                name: MESSAGE_GROUP_STRATEGY,
                reason: "expected \"customer\" or \"order\"".to_owned(),
            })
        }
    }
}

impl fmt::Display for GroupStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Customer => "customer",
            Self::Order => "order",
        })
    }
}

/// The intake function's settings, read from the environment once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// URL of the orders FIFO queue.
    pub queue_url: String,
    /// How orders are grouped on the queue.
    pub strategy: GroupStrategy,
    /// Whose orders they are: the API's authorization and the owner key's secret.
    pub owners: Owners,
}

/// `ORDERS_QUEUE_URL` is required and must name a FIFO queue (`.fifo`);
/// `MESSAGE_GROUP_STRATEGY` defaults to `customer`; `AUTH_MODE` and
/// `OWNER_KEY_SECRET` as [`Owners`] reads them.
impl FromVars for Config {
    fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        let queue_url = vars.required(ORDERS_QUEUE_URL)?;
        // Only FIFO queues honour the group and deduplication ids this function
        // relies on, and SQS requires their names to end in `.fifo`.
        if !queue_url.trim_end_matches('/').ends_with(".fifo") {
            return Err(ConfigError::Invalid {
                name: ORDERS_QUEUE_URL,
                reason: "expected the URL of a FIFO queue (name ending in .fifo)".to_owned(),
            });
        }
        let strategy = vars
            .optional(MESSAGE_GROUP_STRATEGY)
            .as_deref()
            .map(str::parse)
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            queue_url,
            strategy,
            owners: Owners::from_vars(vars)?,
        })
    }
}

/// The handler's dependencies, built once per cold start and lent to every
/// invocation.
#[derive(Clone)]
pub struct Deps {
    queue: Arc<dyn OrderQueue>,
    strategy: GroupStrategy,
    owners: Owners,
}

impl fmt::Debug for Deps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deps")
            .field("strategy", &self.strategy)
            .field("auth_mode", &self.owners.mode())
            .finish_non_exhaustive()
    }
}

impl Deps {
    /// Wires the handler to any queue (the SQS adapter in Lambda, a memory or
    /// emulated queue in tests and the local runner).
    pub fn new(queue: Arc<dyn OrderQueue>, strategy: GroupStrategy, owners: Owners) -> Self {
        Self {
            queue,
            strategy,
            owners,
        }
    }

    /// Builds the SQS adapter of `config` over the function's SDK
    /// configuration, once. Performs no network I/O.
    pub fn from_config(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let queue = SqsOrderQueue::new(aws_sdk_sqs::Client::new(sdk), config.queue_url.clone());
        Self::new(Arc::new(queue), config.strategy, config.owners.clone())
    }

    /// The queue orders are sent to.
    pub fn queue(&self) -> &dyn OrderQueue {
        self.queue.as_ref()
    }

    /// How orders are grouped on the queue.
    pub fn strategy(&self) -> GroupStrategy {
        self.strategy
    }

    /// Whose orders the requests post.
    pub fn owners(&self) -> &Owners {
        &self.owners
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orders_domain::model::OrderRequest;
    use serde_json::json;

    const URL: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo";

    #[test]
    fn env_vars_name_exactly_what_the_function_reads() {
        assert_eq!(
            ENV_VARS,
            [
                "ORDERS_QUEUE_URL",
                "MESSAGE_GROUP_STRATEGY",
                "AUTH_MODE",
                "OWNER_KEY_SECRET"
            ]
        );
    }

    #[test]
    fn given_strategy_names_when_parsed_then_customer_and_order_are_accepted_in_any_case() {
        assert_eq!(
            "customer".parse::<GroupStrategy>().unwrap(),
            GroupStrategy::Customer
        );
        assert_eq!(
            " Order ".parse::<GroupStrategy>().unwrap(),
            GroupStrategy::Order
        );
        assert_eq!(GroupStrategy::default(), GroupStrategy::Customer);
        let err = "random".parse::<GroupStrategy>().unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: MESSAGE_GROUP_STRATEGY,
                ..
            }
        ));
    }

    #[test]
    fn given_an_order_then_group_ids_follow_the_strategy_and_hold_no_personal_data() {
        let req = OrderRequest::from_json(&json!({"customerName":"Harry Kane","shippingAddress":"Hanoi","items":[{"itemId":"a","quantity":1}]})).unwrap();
        let id = OrderId::parse("o-1").unwrap();
        let owner = OwnerKey::anonymous();
        let by_customer = GroupStrategy::Customer.group_id(&owner, &id, &req.order);
        assert_eq!(
            by_customer,
            format!("customer-{}", req.order.customer_key(&owner))
        );
        assert!(!by_customer.to_lowercase().contains("harry"));
        assert_eq!(
            GroupStrategy::Order.group_id(&owner, &id, &req.order),
            "order-anonymous-o-1"
        );
        // The longest owner and id still make a valid FIFO group id
        // (at most 128 characters).
        let bob = OwnerKey::parse(&"b".repeat(32)).unwrap();
        let longest = OrderId::parse(&"x".repeat(orders_domain::model::MAX_ID_LEN)).unwrap();
        assert!(
            GroupStrategy::Order
                .group_id(&bob, &longest, &req.order)
                .len()
                <= 128
        );
    }

    #[test]
    fn given_no_strategy_when_built_from_settings_then_customer_is_used() {
        let sdk = orders_adapters::aws::lambda_sdk_config();
        let config = Config::from_vars(&[(ORDERS_QUEUE_URL, URL), (AUTH_MODE, "NONE")]).unwrap();
        assert_eq!(
            Deps::from_config(&sdk, &config).strategy(),
            GroupStrategy::Customer
        );
        let config = Config::from_vars(&[
            (ORDERS_QUEUE_URL, URL),
            (MESSAGE_GROUP_STRATEGY, "order"),
            (AUTH_MODE, "NONE"),
        ])
        .unwrap();
        assert_eq!(
            Deps::from_config(&sdk, &config).strategy(),
            GroupStrategy::Order
        );
    }

    #[test]
    fn given_bad_settings_when_built_then_the_variable_is_named() {
        assert!(matches!(
            Config::from_vars(&[(MESSAGE_GROUP_STRATEGY, "order")]),
            Err(ConfigError::Missing(ORDERS_QUEUE_URL))
        ));
        assert!(matches!(
            Config::from_vars(&[(
                ORDERS_QUEUE_URL,
                "https://sqs.eu-west-1.amazonaws.com/1/orders"
            )]),
            Err(ConfigError::Invalid {
                name: ORDERS_QUEUE_URL,
                ..
            })
        ));
        assert!(matches!(
            Config::from_vars(&[
                (ORDERS_QUEUE_URL, URL),
                (MESSAGE_GROUP_STRATEGY, "fifo"),
                (AUTH_MODE, "NONE"),
            ]),
            Err(ConfigError::Invalid {
                name: MESSAGE_GROUP_STRATEGY,
                ..
            })
        ));
    }
}
