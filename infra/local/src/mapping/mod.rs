//! Emulated Lambda event source mappings: the SQS poller that invokes the
//! worker and the DynamoDB Streams poller that invokes the notifier, with the
//! deployed batch sizes, filter criteria and retry settings of
//! `orders_adapters::settings`.

pub mod sqs;
pub mod stream;

use lambda_runtime::Context;

/// Account id in the emulated function ARNs.
pub const FUNCTION_ACCOUNT: &str = orders_backends::arn::EMBEDDED_ACCOUNT;

/// A fresh X-Ray trace header of the form Lambda hands a traced function
/// (`Root=1-<epoch seconds, 8 hex>-<96 random bits, 24 hex>;Parent=<16 hex>;Sampled=0`;
/// <https://docs.aws.amazon.com/xray/latest/devguide/xray-api-sendingdata.html#xray-api-traceids>),
/// so intake passes one to the queue as `AWSTraceHeader` locally too.
pub fn new_trace_header() -> String {
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let random = uuid::Uuid::new_v4().simple().to_string();
    let parent = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        epoch & 0xffff_ffff,
        &random[..24],
        &parent[..16]
    )
}

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
