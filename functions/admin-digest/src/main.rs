//! Lambda entry point of the admin digest: configuration and clients are
//! built once per cold start, then every batch borrows them.

use lambda_runtime::service_fn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    adapters::telemetry::init();
    let sdk = adapters::aws::lambda_sdk_config();
    // A missing topic or table fails the cold start, not every batch.
    let deps = admin_digest::Deps::from_env(&sdk)?;
    lambda_runtime::run(service_fn(|event| admin_digest::handle(&deps, event))).await
}
