//! Lambda entry point of the worker: configuration and clients are built once
//! per cold start, then every invocation borrows them.

use lambda_runtime::service_fn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    adapters::telemetry::init();
    let sdk = adapters::aws::sdk_config().await;
    // A missing table name fails the cold start, not every record.
    let deps = worker::Deps::from_env(&sdk)?;
    lambda_runtime::run(service_fn(|event| worker::handle(&deps, event))).await
}
