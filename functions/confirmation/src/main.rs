//! Lambda entry point of the confirmation function: configuration and
//! clients are built once per cold start, then every batch borrows them.

use lambda_runtime::service_fn;
use orders_adapters::config::FromVars;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_adapters::telemetry::init();
    // A missing table, queue or sender fails the cold start, not every batch.
    let config = confirmation::Config::from_env()?;
    let sdk = orders_adapters::aws::lambda_sdk_config();
    let deps = confirmation::Deps::from_config(&sdk, &config);
    lambda_runtime::run(service_fn(|event| confirmation::handle(&deps, event))).await
}
