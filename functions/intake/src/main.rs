//! Lambda entry point of the intake function: configuration and clients are
//! built once per cold start, then every request is lent them.

use lambda_http::{Error, service_fn};
use orders_adapters::config::FromVars;

#[tokio::main]
async fn main() -> Result<(), Error> {
    orders_adapters::telemetry::init();
    // A missing or malformed setting fails the cold start, not a request.
    let config = intake::Config::from_env()?;
    let sdk = orders_adapters::aws::lambda_sdk_config();
    let deps = intake::Deps::from_config(&sdk, &config);
    // Connection, TLS and credentials are set up here, in init, rather than
    // on the first order: one bounded call, never fatal.
    orders_adapters::aws::warm_up_queue(&sdk, &config.queue_url).await;
    lambda_http::run(service_fn(|request| intake::handle(&deps, request))).await
}
