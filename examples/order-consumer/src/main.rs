//! Lambda entry point of the example consumer: configuration and clients are
//! built once per cold start, then every invocation borrows them.

use std::sync::Arc;

use aws_config::BehaviorVersion;
use lambda_runtime::service_fn;
use order_consumer::idempotency::DynamoDbProcessedEvents;
use order_consumer::{Deps, LOCK_FOR, LogOrderCreated, PROCESSED_EVENTS_TABLE, REMEMBER_FOR};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A missing table name fails the cold start, not every record.
    let table = std::env::var(PROCESSED_EVENTS_TABLE)
        .map_err(|_| format!("{PROCESSED_EVENTS_TABLE} is not set"))?;
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let deps = Deps {
        processed: Arc::new(DynamoDbProcessedEvents::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            table,
        )),
        handler: Arc::new(LogOrderCreated),
        lock_for: LOCK_FOR,
        remember_for: REMEMBER_FOR,
    };
    lambda_runtime::run(service_fn(|event| {
        order_consumer::handle_batch(&deps, event)
    }))
    .await
}
