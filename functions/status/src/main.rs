//! Lambda entry point of the status function: configuration and the DynamoDB
//! client are built once per cold start, then every request is lent them.

use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    adapters::telemetry::init();
    let sdk = adapters::aws::sdk_config().await;
    // A missing table name fails the cold start, not a request.
    let deps = status::Deps::from_env(&sdk)?;
    lambda_http::run(service_fn(|request| status::handle(&deps, request))).await
}
