//! Lambda entry point of the status function: configuration and the DynamoDB
//! client are built once per cold start, then every request is lent them.

use adapters::config::FromVars;
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    adapters::telemetry::init();
    // A missing table name fails the cold start, not a request.
    let config = status::Config::from_env()?;
    let sdk = adapters::aws::lambda_sdk_config();
    let deps = status::Deps::from_config(&sdk, &config);
    lambda_http::run(service_fn(|request| status::handle(&deps, request))).await
}
