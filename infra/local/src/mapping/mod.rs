//! Emulated Lambda event source mappings: the SQS poller that invokes the
//! worker and the DynamoDB Streams poller that invokes the notifier, with the
//! deployed batch sizes, filter criteria and retry settings of
//! `adapters::settings`.

pub mod sqs;
pub mod stream;

use lambda_runtime::Context;

/// Account id in the emulated function ARNs.
pub const FUNCTION_ACCOUNT: &str = crate::arn::EMBEDDED_ACCOUNT;

/// An invocation context like the one Lambda passes: a fresh request id, the
/// deadline and the function's ARN.
pub fn invocation_context(function_arn: &str, timeout: std::time::Duration) -> Context {
    let mut context = Context::default();
    context.request_id = uuid::Uuid::new_v4().to_string();
    context.invoked_function_arn = function_arn.to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    context.deadline = u64::try_from((now + timeout).as_millis()).unwrap_or(u64::MAX);
    context
}
