//! Lambda entry point of the status function: configuration and the DynamoDB
//! client are built once per cold start, then every request is lent them.

use lambda_http::{Error, service_fn};
use orders_adapters::config::FromVars;

#[tokio::main]
async fn main() -> Result<(), Error> {
    orders_adapters::telemetry::init();
    // A missing table name fails the cold start, not a request.
    let config = order_status::Config::from_env()?;
    let sdk = orders_adapters::aws::lambda_sdk_config();
    let deps = order_status::Deps::from_config(&sdk, &config);
    lambda_http::run(service_fn(|request| order_status::handle(&deps, request))).await
}
