//! Lambda entry point of the notifier: configuration and clients are built once
//! per cold start, then every invocation borrows them.

use lambda_runtime::service_fn;
use orders_adapters::config::FromVars;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    orders_adapters::telemetry::init();
    // A missing topic ARN fails the cold start, not every record.
    let config = notifier::Config::from_env()?;
    let sdk = orders_adapters::aws::lambda_sdk_config();
    let deps = notifier::Deps::from_config(&sdk, &config);
    // Connection, TLS and credentials are set up here, in init, rather than
    // on the first batch: one bounded call, never fatal.
    orders_adapters::aws::warm_up_topic(&sdk, &config.topic_arn).await;
    lambda_runtime::run(service_fn(|event| notifier::handle(&deps, event))).await
}
