//! AWS SDK adapters of the ports, one file per adapter: the SQS FIFO order
//! queue ([`SqsOrderQueue`]), the SQS dead-letter queue
//! ([`SqsDeadLetterQueue`]), the DynamoDB order store and reader
//! ([`DynamoOrderStore`], [`DynamoOrderReader`]), the SNS event publisher
//! ([`SnsEventPublisher`]), the worker's backoff on the orders queue
//! ([`SqsVisibilityDelay`]), and the SDK set-up of a Lambda cold start
//! ([`lambda_sdk_config`] and the warm-up calls).
//!
//! Clients are built once per cold start by the caller and lent to the adapters.
//! Each adapter owns its wire mapping and classifies SDK errors, through the
//! one classification here, into transient (retry) and permanent (stop) so the
//! handlers never inspect SDK types.

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

use crate::ports::PortError;

mod dead_letter_queue;
mod event_publisher;
mod lambda;
mod order_queue;
mod order_reader;
mod order_store;
mod visibility_delay;

pub use dead_letter_queue::SqsDeadLetterQueue;
pub use event_publisher::{
    BatchCallError, BatchEntryError, SnsEventPublisher, order_created_attributes, sns_entry_size,
};
pub use lambda::{WARM_UP_TIMEOUT, lambda_sdk_config, warm_up_queue, warm_up_table, warm_up_topic};
pub use order_queue::SqsOrderQueue;
pub use order_reader::DynamoOrderReader;
pub use order_store::DynamoOrderStore;
pub use visibility_delay::SqsVisibilityDelay;

/// Error codes AWS services use for throttling and transient faults.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TransactionInProgressException",
    "InternalFailure",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "KMSThrottlingException",
    // SNS names KMS throttling without the suffix:
    // https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors
    "KMSThrottling",
];

/// Whether an AWS error code names a throttling or transient fault.
pub fn is_transient_code(code: &str) -> bool {
    TRANSIENT_CODES.contains(&code)
}

/// Whether an SDK error may pass on retry: transport failures, timeouts,
/// throttling and 5xx responses are transient; everything else is permanent.
pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => {
            ctx.raw().status().is_server_error() || ctx.err().code().is_some_and(is_transient_code)
        }
        _ => false,
    }
}

/// An SDK error as a port error of its class ([`is_transient`]).
fn port_error<E>(err: SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_transient(&err) {
        PortError::Transient(Box::new(err))
    } else {
        PortError::Permanent(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_snss_kms_throttling_code_then_it_is_transient_and_refusals_are_not() {
        // SNS answers `KMSThrottling` (no suffix); it used to be classified
        // permanent, which now means "dead-letter at once".
        for code in ["KMSThrottling", "KMSThrottlingException", "Throttling"] {
            assert!(is_transient_code(code), "{code}");
        }
        for code in [
            "KMSAccessDenied",
            "KMSDisabled",
            "AuthorizationError",
            "NotFound",
        ] {
            assert!(!is_transient_code(code), "{code}");
        }
    }
}
