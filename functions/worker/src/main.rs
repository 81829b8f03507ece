//! Lambda entry point of the worker: configuration and clients are built once
//! per cold start, then every invocation borrows them.

use lambda_runtime::service_fn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    adapters::telemetry::init();
    let sdk = adapters::aws::sdk_config().await;
    // A missing table name fails the cold start, not every record.
    let deps = worker::Deps::from_env(&sdk)?;
    // Connection, TLS and credentials are set up here, in init, rather than
    // on the first batch: one bounded call, never fatal.
    let table = adapters::config::required(adapters::config::ORDERS_TABLE_NAME)?;
    adapters::aws::warm_up_table(&sdk, &table).await;
    lambda_runtime::run(service_fn(|event| worker::handle(&deps, event))).await
}
