//! Lambda entry point of the worker: configuration and clients are built once
//! per cold start, then every invocation borrows them.

use lambda_runtime::service_fn;
use orders_adapters::config::FromVars;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_adapters::telemetry::init();
    // A missing table name fails the cold start, not every record.
    let config = worker::Config::from_env()?;
    let sdk = orders_adapters::aws::lambda_sdk_config();
    let deps = worker::Deps::from_config(&sdk, &config);
    // Connection, TLS and credentials are set up here, in init, rather than
    // on the first batch: one bounded call, never fatal.
    orders_adapters::aws::warm_up_table(&sdk, &config.table_name).await;
    lambda_runtime::run(service_fn(|event| worker::handle(&deps, event))).await
}
