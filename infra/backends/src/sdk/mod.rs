//! The AWS SDK implementations of the backend traits, for any AWS-compatible
//! endpoint (moto server, LocalStack, a real account), and the SDK
//! configuration for such an endpoint ([`endpoint_sdk_config`]). The handlers'
//! ports are the shipping adapters of `orders_adapters::aws`, so this mode runs
//! exactly the production wire code.

mod dynamodb;
mod endpoint;
mod ses;
mod sns;
mod sqs;

use std::sync::Arc;

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

use crate::backend::{BackendError, Backends};

pub use dynamodb::{AwsTables, DynamoCheckpoints};
pub use endpoint::{endpoint_sdk_config, is_loopback};
pub use ses::AwsMail;
pub use sns::AwsTopics;
pub use sqs::AwsQueues;

/// Error codes meaning "the resource does not exist", across the three services.
const NOT_FOUND_CODES: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ReceiptHandleIsInvalid",
    "ResourceNotFoundException",
    "NotFound",
];

/// Maps an SDK error: missing resources to `NotFound`, everything else kept as
/// the source of `Call`.
fn backend_error<E, R>(what: impl Into<String>, err: SdkError<E, R>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match err.code() {
        Some(code) if NOT_FOUND_CODES.contains(&code) => BackendError::NotFound(what.into()),
        _ => BackendError::Call(Box::new(err)),
    }
}

impl Backends {
    /// The AWS SDK services over `sdk` (its region, credentials and endpoint).
    pub fn aws(sdk: &aws_config::SdkConfig) -> Backends {
        let region = sdk
            .region()
            .map_or_else(|| "us-east-1".to_owned(), ToString::to_string);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        Backends {
            queues: Arc::new(AwsQueues::new(sqs.clone())),
            tables: Arc::new(AwsTables::new(
                aws_sdk_dynamodb::Client::new(sdk),
                aws_sdk_dynamodbstreams::Client::new(sdk),
                &region,
            )),
            topics: Arc::new(AwsTopics::new(aws_sdk_sns::Client::new(sdk), sqs)),
            mail: Arc::new(AwsMail::new(aws_sdk_sesv2::Client::new(sdk))),
        }
    }
}
