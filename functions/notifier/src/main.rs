//! Lambda entry point of the notifier: configuration and clients are built once
//! per cold start, then every invocation borrows them.

use lambda_runtime::service_fn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    adapters::telemetry::init();
    let sdk = adapters::aws::sdk_config().await;
    // A missing topic ARN fails the cold start, not every record.
    let deps = notifier::Deps::from_env(&sdk)?;
    // Connection, TLS and credentials are set up here, in init, rather than
    // on the first batch: one bounded call, never fatal.
    let topic_arn = adapters::config::required(adapters::config::ORDER_EVENTS_TOPIC_ARN)?;
    adapters::aws::warm_up_topic(&sdk, &topic_arn).await;
    lambda_runtime::run(service_fn(|event| notifier::handle(&deps, event))).await
}
