//! Lambda entry point of the notifier: configuration and clients are built once
//! per cold start, then every invocation borrows them.

use lambda_runtime::service_fn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    adapters::telemetry::init();
    let sdk = adapters::aws::sdk_config().await;
    // A missing topic ARN fails the cold start, not every record.
    let deps = notifier::Deps::from_env(&sdk)?;
    lambda_runtime::run(service_fn(|event| notifier::handle(&deps, event))).await
}
