//! Lambda entry point of the admin digest: configuration and clients are
//! built once per cold start, then every batch borrows them.

use lambda_runtime::service_fn;
use orders_adapters::config::FromVars;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_adapters::telemetry::init();
    // A missing topic or table fails the cold start, not every batch.
    let config = admin_digest::Config::from_env()?;
    let sdk = orders_adapters::aws::lambda_sdk_config();
    let deps = admin_digest::Deps::from_config(&sdk, &config);
    lambda_runtime::run(service_fn(|event| admin_digest::handle(&deps, event))).await
}
