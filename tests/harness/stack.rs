//! One `orders-local` name prefix over moto ([`MotoStack`]): the runner's
//! queues, table and topic as the end-to-end tests see them, with SDK
//! clients to check them independently of the runner.

use crate::local::LocalPipeline;
use crate::{MotoServer, REGION};

/// The resources of one name prefix on a moto server, and SDK clients for
/// them. Every runner started with [`MotoStack::start`] uses the prefix, so
/// one started again finds what the last one left.
#[derive(Debug)]
pub struct MotoStack {
    endpoint: String,
    /// The name prefix: `<tag><12 hex digits>-`, unique per stack.
    pub prefix: String,
    /// SQS client of the moto server.
    pub sqs: aws_sdk_sqs::Client,
    /// SNS client of the moto server.
    pub sns: aws_sdk_sns::Client,
    /// DynamoDB client of the moto server.
    pub dynamo: aws_sdk_dynamodb::Client,
}

impl MotoStack {
    /// A fresh prefix starting with `tag` on `moto`. Build it inside the
    /// test's runtime: the clients' HTTP connections belong to that runtime.
    pub fn new(moto: &MotoServer, tag: &str) -> Self {
        let config = moto.sdk_config();
        Self {
            endpoint: moto.endpoint().to_owned(),
            prefix: format!("{tag}{}-", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            sqs: aws_sdk_sqs::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            dynamo: aws_sdk_dynamodb::Client::new(&config),
        }
    }

    /// The name of the resource `suffix` of this prefix (`orders`,
    /// `orders.fifo`, `order-events`, ...).
    pub fn name(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// Starts `orders-local` on moto with this prefix, region [`REGION`],
    /// moto's dummy credentials and `args` (`--time-scale`, `--email`, ...),
    /// and waits until it listens. The blocking start runs on a blocking
    /// thread, so the test's other tasks keep running meanwhile.
    pub async fn start(&self, args: &[&str]) -> LocalPipeline {
        let mut all: Vec<String> = vec![
            "--endpoint-url".to_owned(),
            self.endpoint.clone(),
            "--region".to_owned(),
            REGION.to_owned(),
            "--name-prefix".to_owned(),
            self.prefix.clone(),
        ];
        all.extend(args.iter().map(|&arg| arg.to_owned()));
        let started = tokio::task::spawn_blocking(move || {
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            LocalPipeline::start(
                &all,
                &[
                    ("AWS_ACCESS_KEY_ID", "testing"),
                    ("AWS_SECRET_ACCESS_KEY", "testing"),
                ],
            )
        })
        .await;
        match started {
            Ok(pipeline) => pipeline,
            // The start's own panic (its message names what went wrong).
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => panic!("starting orders-local was cancelled: {err}"),
        }
    }

    /// The URL of the queue `suffix` of this prefix.
    pub async fn queue_url(&self, suffix: &str) -> String {
        self.sqs
            .get_queue_url()
            .queue_name(self.name(suffix))
            .send()
            .await
            .expect("get the queue URL")
            .queue_url
            .expect("a queue URL")
    }

    /// The ARN of the pipeline's topic (CreateTopic is idempotent: it
    /// returns the existing one).
    pub async fn topic_arn(&self) -> String {
        self.sns
            .create_topic()
            .name(self.name("order-events"))
            .send()
            .await
            .expect("create (find) the topic")
            .topic_arn
            .expect("a topic ARN")
    }
}
