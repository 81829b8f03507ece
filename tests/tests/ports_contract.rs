//! The store port's contract, run against every implementation the handlers
//! can be given: the in-memory fake (unit tests), the embedded emulator
//! (`orders-local`) and the DynamoDB adapter over moto. All three decide
//! through `orders_adapters::ports::put_outcome_when_taken`, and this keeps them
//! answering alike.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use orders_adapters::memory::MemoryStore;
use orders_adapters::ports::{OrderStore, PutOutcome};
use orders_backends::backend::Backends;
use orders_tests::fixtures::{order_message, stored_order};
use orders_tests::unique_name;

/// Created, then the same content is a duplicate, other content a conflict
/// naming the stored hash; nothing is overwritten.
async fn put_if_absent_tells_created_duplicate_and_conflict(store: Arc<dyn OrderStore>) {
    let id = unique_name("port");
    let first = stored_order(&order_message(&id, "Harry Kane", 1));
    let same = stored_order(&order_message(&id, "Harry Kane", 1));
    let other = stored_order(&order_message(&id, "Harry Kane", 2));

    assert_eq!(
        store.put_if_absent(&first).await.unwrap(),
        PutOutcome::Created
    );
    assert_eq!(
        store.put_if_absent(&same).await.unwrap(),
        PutOutcome::Duplicate
    );
    assert_eq!(
        store.put_if_absent(&other).await.unwrap(),
        PutOutcome::Conflict {
            existing: first.content_hash.clone()
        }
    );
    // Still the first version: a conflict never overwrites.
    assert_eq!(
        store.put_if_absent(&same).await.unwrap(),
        PutOutcome::Duplicate
    );
}

#[tokio::test]
async fn memory_store() {
    put_if_absent_tells_created_duplicate_and_conflict(Arc::new(MemoryStore::default())).await;
}

#[tokio::test]
async fn embedded_store() {
    let outbox = orders_tests::TempDir::new("ports-outbox");
    let backends = Backends::embedded(outbox.path().to_path_buf());
    let table = unique_name("ports-orders");
    backends.tables.create_table(&table).await.unwrap();
    put_if_absent_tells_created_duplicate_and_conflict(backends.tables.order_store(&table)).await;
}

#[tokio::test]
async fn dynamodb_store_over_moto() {
    let moto = orders_tests::require_moto!();
    let backends = Backends::aws(&moto.sdk_config());
    let table = unique_name("ports-orders");
    backends.tables.create_table(&table).await.unwrap();
    put_if_absent_tells_created_duplicate_and_conflict(backends.tables.order_store(&table)).await;
}
