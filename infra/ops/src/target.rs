//! Which pipeline a command acts on, and where its resources are.
//!
//! Two ways to name one:
//!
//! - a deployed stack (`--stack NAME`): the queue URLs, table and topic come
//!   from the stack's outputs (`OrdersQueueUrl`, `WorkerDlqUrl`,
//!   `NotifierDlqUrl`, `OrdersTableName`, `OrderEventsTopicArn`), the alarms
//!   and the notifier function from its resources;
//! - a name prefix on any endpoint (`--endpoint-url URL --name-prefix P`):
//!   the names `orders-local` creates ([`PrefixNames`]), and the alarms whose
//!   names start with the prefix.

use aws_sdk_cloudformation::types::Output;

use crate::error::{OpsError, OpsResult, aws};

/// SDK clients, built once per run from one `SdkConfig`.
#[derive(Debug, Clone)]
pub struct Clients {
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// SNS.
    pub sns: aws_sdk_sns::Client,
    /// DynamoDB.
    pub dynamo: aws_sdk_dynamodb::Client,
    /// CloudFormation.
    pub cfn: aws_sdk_cloudformation::Client,
    /// CloudWatch.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// The region the clients call.
    pub region: String,
}

impl Clients {
    /// Every client from one configuration.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            sqs: aws_sdk_sqs::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            dynamo: aws_sdk_dynamodb::Client::new(sdk),
            cfn: aws_sdk_cloudformation::Client::new(sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
            region: sdk
                .region()
                .map_or_else(|| "no region".to_owned(), ToString::to_string),
        }
    }
}

/// The resource names `orders-local --name-prefix P` creates (a test keeps
/// them equal to `orders_local::ResourceNames`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixNames {
    /// Orders FIFO queue.
    pub orders_queue: String,
    /// Worker DLQ (FIFO).
    pub worker_dlq: String,
    /// Notifier DLQ (the stream mapping's on-failure destination).
    pub notifier_dlq: String,
    /// Orders table.
    pub table: String,
    /// Order-events topic.
    pub topic: String,
}

impl PrefixNames {
    /// Every name with `prefix` in front.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            orders_queue: format!("{prefix}orders.fifo"),
            worker_dlq: format!("{prefix}orders-dlq.fifo"),
            notifier_dlq: format!("{prefix}notifier-on-failure"),
            table: format!("{prefix}orders"),
            topic: format!("{prefix}order-events"),
        }
    }
}

/// Where the alarms of the target are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alarms {
    /// The stack's alarms: (logical id, alarm name).
    Named(Vec<(String, String)>),
    /// Alarms whose names start with this prefix; the logical id is the
    /// rest of the name.
    Prefix(String),
}

/// How to find the order-events topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// Its ARN (a stack output).
    Arn(String),
    /// Its name, looked up with `ListTopics` when needed.
    Name(String),
}

/// The resolved resources of one pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// How the operator named it (for headers).
    pub label: String,
    /// Orders FIFO queue URL.
    pub orders_queue_url: String,
    /// Worker DLQ URL.
    pub worker_dlq_url: String,
    /// Notifier DLQ URL.
    pub notifier_dlq_url: String,
    /// Orders table name.
    pub table: String,
    /// The order-events topic.
    pub topic: Topic,
    /// The alarms.
    pub alarms: Alarms,
    /// The notifier function's name, when known (its `IteratorAge`).
    pub notifier_function: Option<String>,
}

/// The stack outputs a target needs.
const OUTPUTS: [&str; 5] = [
    "OrdersQueueUrl",
    "WorkerDlqUrl",
    "NotifierDlqUrl",
    "OrdersTableName",
    "OrderEventsTopicArn",
];

impl Target {
    /// The target a deployed stack names in its outputs and resources.
    pub async fn from_stack(clients: &Clients, stack: &str) -> OpsResult<Self> {
        let described = clients
            .cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(|err| {
                // CloudFormation answers an unknown stack with a validation error.
                let unknown = aws_sdk_sqs::error::ProvideErrorMetadata::message(&err)
                    .is_some_and(|m| m.contains("does not exist"));
                if unknown {
                    OpsError::UnknownStack {
                        stack: stack.to_owned(),
                        region: clients.region.clone(),
                    }
                } else {
                    aws("cloudformation:DescribeStacks", stack)(err)
                }
            })?;
        let outputs: Vec<Output> = described
            .stacks()
            .first()
            .map(|s| s.outputs().to_vec())
            .ok_or_else(|| OpsError::UnknownStack {
                stack: stack.to_owned(),
                region: clients.region.clone(),
            })?;
        let output = |key: &'static str| -> OpsResult<String> {
            outputs
                .iter()
                .find(|o| o.output_key() == Some(key))
                .and_then(|o| o.output_value())
                .map(str::to_owned)
                .ok_or(OpsError::MissingOutput {
                    stack: stack.to_owned(),
                    output: key,
                })
        };
        let [queue, worker_dlq, notifier_dlq, table, topic] = OUTPUTS;
        let mut alarms = Vec::new();
        let mut notifier_function = None;
        let mut token: Option<String> = None;
        loop {
            let page = clients
                .cfn
                .list_stack_resources()
                .stack_name(stack)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(aws("cloudformation:ListStackResources", stack))?;
            for resource in page.stack_resource_summaries() {
                let (Some(logical), Some(physical)) = (
                    resource.logical_resource_id(),
                    resource.physical_resource_id(),
                ) else {
                    continue;
                };
                match resource.resource_type() {
                    Some("AWS::CloudWatch::Alarm") => {
                        alarms.push((logical.to_owned(), physical.to_owned()));
                    }
                    Some("AWS::Lambda::Function") if logical == "NotifierFunction" => {
                        notifier_function = Some(physical.to_owned());
                    }
                    _ => {}
                }
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        alarms.sort();
        Ok(Self {
            label: format!("stack {stack} ({})", clients.region),
            orders_queue_url: output(queue)?,
            worker_dlq_url: output(worker_dlq)?,
            notifier_dlq_url: output(notifier_dlq)?,
            table: output(table)?,
            topic: Topic::Arn(output(topic)?),
            alarms: Alarms::Named(alarms),
            notifier_function,
        })
    }

    /// The target of `orders-local --name-prefix prefix` on `endpoint`.
    pub async fn from_prefix(clients: &Clients, endpoint: &str, prefix: &str) -> OpsResult<Self> {
        let names = PrefixNames::with_prefix(prefix);
        Ok(Self {
            label: format!("prefix {prefix} at {endpoint}"),
            orders_queue_url: queue_url(clients, &names.orders_queue).await?,
            worker_dlq_url: queue_url(clients, &names.worker_dlq).await?,
            notifier_dlq_url: queue_url(clients, &names.notifier_dlq).await?,
            table: names.table,
            topic: Topic::Name(names.topic),
            alarms: Alarms::Prefix(prefix.to_owned()),
            notifier_function: None,
        })
    }

    /// The order-events topic's ARN.
    pub async fn topic_arn(&self, clients: &Clients) -> OpsResult<String> {
        let name = match &self.topic {
            Topic::Arn(arn) => return Ok(arn.clone()),
            Topic::Name(name) => name,
        };
        let mut token: Option<String> = None;
        loop {
            let page = clients
                .sns
                .list_topics()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(aws("sns:ListTopics", name))?;
            let suffix = format!(":{name}");
            if let Some(arn) = page
                .topics()
                .iter()
                .filter_map(|t| t.topic_arn())
                .find(|arn| arn.ends_with(&suffix))
            {
                return Ok(arn.to_owned());
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => {
                    return Err(OpsError::NotFound {
                        what: format!("topic {name}"),
                    });
                }
            }
        }
    }
}

/// The URL of the queue `name`.
async fn queue_url(clients: &Clients, name: &str) -> OpsResult<String> {
    let what = format!("queue {name}");
    clients
        .sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(aws("sqs:GetQueueUrl", &what))?
        .queue_url
        .ok_or(OpsError::NotFound { what })
}

/// The name of a queue from its URL (the last path segment).
pub fn queue_name(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_name_is_the_last_segment_of_its_url() {
        assert_eq!(
            queue_name("https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq.fifo"),
            "orders-dlq.fifo"
        );
        assert_eq!(queue_name("http://127.0.0.1:5000/000000000000/q/"), "q");
    }
}
