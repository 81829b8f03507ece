//! What an operations command fails with, worded for the operator: each
//! variant displays as one line saying what was wrong and, where it helps,
//! what to do. `main` prints the line (with its sources) and exits non-zero;
//! nothing here ever becomes a stack trace.

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use orders_backends::backend::BackendError;

/// A boxed source error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Neither `--stack` nor `--name-prefix` was given.
    #[error(
        "no target: give --stack NAME (a deployed stack), or --endpoint-url URL with --name-prefix PREFIX (orders-local's resources)"
    )]
    NoTarget,
    /// CloudFormation knows no such stack.
    #[error("no stack named {stack} in this account and region ({region})")]
    UnknownStack {
        /// The stack asked for.
        stack: String,
        /// The region asked in.
        region: String,
    },
    /// The stack lacks an output the command needs.
    #[error("stack {stack} has no output {output}: deploy the current infra/template.yaml")]
    MissingOutput {
        /// The stack.
        stack: String,
        /// The missing output's key.
        output: &'static str,
    },
    /// The caller's credentials may not do this.
    #[error("permission denied: {action} on {resource} ({code}); the caller needs that permission")]
    AccessDenied {
        /// The API action, as IAM names it (`sqs:ReceiveMessage`).
        action: &'static str,
        /// What it was called on.
        resource: String,
        /// The service's error code.
        code: String,
    },
    /// A named resource does not exist.
    #[error("{what} does not exist")]
    NotFound {
        /// The resource, named as the operator gave or derived it.
        what: String,
    },
    /// A queue given as a DLQ is no queue's dead-letter target.
    #[error("{url} is not a dead-letter queue: no queue names it in its redrive policy")]
    NotADeadLetterQueue {
        /// The queue.
        url: String,
    },
    /// The call never got an answer (endpoint unreachable, no credentials,
    /// timeout).
    #[error("{action} got no answer")]
    NoAnswer {
        /// The API action.
        action: &'static str,
        /// Why, as the SDK tells it.
        #[source]
        source: BoxError,
    },
    /// The service answered with an error this tool has no better words for.
    #[error("{action} on {resource} failed ({code})")]
    Service {
        /// The API action.
        action: &'static str,
        /// What it was called on.
        resource: String,
        /// The service's error code.
        code: String,
        /// The SDK error, with the service's message.
        #[source]
        source: BoxError,
    },
    /// The operator's input makes no sense (dates, limits).
    #[error("{0}")]
    Invalid(String),
    /// A stored item or queue message could not be read.
    #[error("{what} is not readable")]
    Unreadable {
        /// What could not be read.
        what: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The notifier DLQ replay's queue or stream access failed.
    #[error("replaying the notifier DLQ failed")]
    Replay(#[from] BackendError),
    /// Writing the output failed.
    #[error("writing the output failed")]
    Output(#[from] std::io::Error),
}

/// Error codes meaning "these credentials may not do this" across services.
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
];

/// Error codes meaning "no such resource" across SQS, DynamoDB, SNS.
const NOT_FOUND_CODES: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ResourceNotFoundException",
    "NotFound",
    "NotFoundException",
];

/// Maps an SDK error of `action` on `resource` to the operator's words:
/// permission, missing resource, no answer, or the service's own code.
pub fn aws<E, R>(action: &'static str, resource: &str) -> impl FnOnce(SdkError<E, R>) -> OpsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let resource = resource.to_owned();
    move |err| classify(action, resource, err)
}

fn classify<E, R>(action: &'static str, resource: String, err: SdkError<E, R>) -> OpsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let Some(code) = err.code().map(str::to_owned) else {
        return match err {
            SdkError::ServiceError(_) => OpsError::Service {
                action,
                resource,
                code: "no error code".to_owned(),
                source: Box::new(err),
            },
            _ => OpsError::NoAnswer {
                action,
                source: Box::new(err),
            },
        };
    };
    if ACCESS_DENIED_CODES.contains(&code.as_str()) {
        OpsError::AccessDenied {
            action,
            resource,
            code,
        }
    } else if NOT_FOUND_CODES.contains(&code.as_str()) {
        OpsError::NotFound { what: resource }
    } else {
        OpsError::Service {
            action,
            resource,
            code,
            source: Box::new(err),
        }
    }
}

/// The result of an operations command.
pub type OpsResult<T> = Result<T, OpsError>;

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::error::ErrorMetadata;
    use aws_sdk_sqs::operation::receive_message::ReceiveMessageError;

    fn service_error(code: &str) -> SdkError<ReceiveMessageError, ()> {
        SdkError::service_error(
            ReceiveMessageError::generic(
                ErrorMetadata::builder()
                    .code(code)
                    .message("User: arn:aws:iam::1:user/ops is not authorized")
                    .build(),
            ),
            (),
        )
    }

    #[test]
    fn given_a_denied_call_then_the_line_names_the_permission_to_grant() {
        let err = aws("sqs:ReceiveMessage", "queue orders-dlq.fifo")(service_error("AccessDenied"));
        assert_eq!(
            err.to_string(),
            "permission denied: sqs:ReceiveMessage on queue orders-dlq.fifo (AccessDenied); \
             the caller needs that permission"
        );
    }

    #[test]
    fn given_a_missing_queue_then_the_line_says_it_does_not_exist() {
        for code in [
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
        ] {
            let err = aws("sqs:GetQueueUrl", "queue x.fifo")(service_error(code));
            assert_eq!(err.to_string(), "queue x.fifo does not exist");
        }
    }

    #[test]
    fn given_another_service_error_then_its_code_is_named_and_its_message_kept_as_the_source() {
        let err = aws("sqs:ReceiveMessage", "queue q")(service_error("KmsThrottled"));
        assert_eq!(
            err.to_string(),
            "sqs:ReceiveMessage on queue q failed (KmsThrottled)"
        );
        let chain = orders_adapters::telemetry::ErrorChain(&err).to_string();
        assert!(chain.contains("not authorized"), "{chain}");
        assert!(!chain.contains('\n'), "one line: {chain}");
    }
}
