//! The stream reader's lease and checkpoint writes over moto: the
//! conditional writes of the checkpoint table, as DynamoDB evaluates them.
//!
//! - A second reader of one checkpoint table is refused while the first
//!   renews its lease, and takes it over once the first stopped renewing
//!   (killed), or at once after the first closed.
//! - A checkpoint never moves backwards: an older one written after a newer
//!   one leaves the newer; a shard's end stays its end.

// Test code: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use orders_adapters::record::KEY_ATTRIBUTE;
use orders_backends::backend::{
    BackendError, Backends, Checkpoint, CheckpointStore, LeaseSpec, StreamReader,
};
use orders_backends::sdk::DynamoCheckpoints;
use orders_tests::{MotoServer, require_moto, services};

/// A table with its stream, one record on it, and a checkpoint table; both
/// deleted by [`Tables::delete`].
struct Tables {
    backends: Backends,
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    checkpoints: String,
}

impl Tables {
    async fn new(moto: &MotoServer) -> Self {
        let backends = Backends::aws(&moto.sdk_config());
        let table = orders_tests::unique_name("lease-stream");
        let checkpoints = format!("{table}-checkpoints");
        backends.tables.create_table(&table).await.unwrap();
        backends
            .tables
            .create_checkpoint_table(&checkpoints)
            .await
            .unwrap();
        let item = serde_dynamo::Item::from(HashMap::from([(
            KEY_ATTRIBUTE.to_owned(),
            serde_dynamo::AttributeValue::S("o-1".to_owned()),
        )]));
        backends.tables.put(&table, item).await.unwrap();
        Self {
            backends,
            dynamo: aws_sdk_dynamodb::Client::new(&moto.sdk_config()),
            table,
            checkpoints,
        }
    }

    async fn open(&self, lease: &LeaseSpec) -> Result<Box<dyn StreamReader>, BackendError> {
        self.backends
            .tables
            .open_stream_resuming(&self.table, &self.checkpoints, lease)
            .await
    }

    /// The lease item's attribute `name`.
    async fn lease(&self, name: &str) -> Option<String> {
        let item = self
            .dynamo
            .get_item()
            .table_name(&self.checkpoints)
            .key("shardId", AttributeValue::S("lease".to_owned()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item?;
        match item.get(name)? {
            AttributeValue::S(s) | AttributeValue::N(s) => Some(s.clone()),
            _ => None,
        }
    }

    async fn delete(self) {
        for name in [&self.table, &self.checkpoints] {
            self.dynamo
                .delete_table()
                .table_name(name)
                .send()
                .await
                .unwrap();
        }
    }
}

/// A lease of `duration` for a fresh owner.
fn lease(duration: Duration) -> LeaseSpec {
    LeaseSpec {
        owner: orders_tests::unique_name("runner"),
        duration,
    }
}

#[tokio::test]
async fn a_second_reader_is_refused_while_the_first_renews_its_lease() {
    let moto = require_moto!();
    let tables = Tables::new(moto).await;
    let first_lease = lease(Duration::from_secs(2));
    let mut first = tables.open(&first_lease).await.unwrap();
    assert_eq!(
        tables.lease("leaseOwner").await.as_deref(),
        Some(first_lease.owner.as_str())
    );

    // When a second reader asks for it
    let began = Instant::now();
    let refused = tables.open(&lease(Duration::from_secs(2))).await;

    // Then it is refused, naming the holder and when its lease expires,
    // as soon as a renewal shows the holder alive
    let Err(BackendError::LeaseHeld(held)) = refused else {
        panic!("not refused: {:?}", refused.map(|_| ()));
    };
    assert_eq!(held.owner, first_lease.owner);
    assert!(held.expires_at.starts_with("20"), "{held:?}");
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    // And the first still reads
    let read = services::read_stream(first.as_mut(), 1, Duration::from_secs(10)).await;
    assert_eq!(read.len(), 1);

    // And once the first closes, a reader takes the lease at once
    first.close().await.unwrap();
    assert_eq!(tables.lease("leaseOwner").await, None);
    let began = Instant::now();
    let mut next = tables.open(&lease(Duration::from_secs(2))).await.unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "{:?}",
        began.elapsed()
    );
    next.close().await.unwrap();
    tables.delete().await;
}

#[tokio::test]
async fn a_reader_killed_holding_the_lease_is_taken_over_once_its_lease_went_unrenewed() {
    let moto = require_moto!();
    let tables = Tables::new(moto).await;
    let duration = Duration::from_secs(1);
    let killed = tables.open(&lease(duration)).await.unwrap();
    let counter = tables.lease("leaseCounter").await.unwrap();
    // As kill -9: no release, no more renewals.
    drop(killed);

    let began = Instant::now();
    let heir_lease = lease(duration);
    let mut heir = tables.open(&heir_lease).await.unwrap();

    assert!(began.elapsed() >= duration, "{:?}", began.elapsed());
    assert_eq!(
        tables.lease("leaseOwner").await.as_deref(),
        Some(heir_lease.owner.as_str())
    );
    let taken: u64 = tables.lease("leaseCounter").await.unwrap().parse().unwrap();
    assert!(taken > counter.parse::<u64>().unwrap());
    // And the heir reads the stream
    let read = services::read_stream(heir.as_mut(), 1, Duration::from_secs(10)).await;
    assert_eq!(read.len(), 1);
    heir.close().await.unwrap();
    tables.delete().await;
}

fn after(sequence: &str) -> Checkpoint {
    Checkpoint::After {
        sequence_number: sequence.to_owned(),
        arrived_at: None,
    }
}

#[tokio::test]
async fn a_checkpoint_never_moves_backwards() {
    let moto = require_moto!();
    let tables = Tables::new(moto).await;
    let store = DynamoCheckpoints::new(tables.dynamo.clone(), &tables.checkpoints);
    let (stream, shard) = ("arn:stream-1", "shardId-1");

    // Given a checkpoint, then an older one written late
    store
        .save(stream, shard, &after("1000000000000000000200"))
        .await
        .unwrap();
    store
        .save(stream, shard, &after("999999999999999999999"))
        .await
        .unwrap();
    // Then the newer stays (the older is shorter: compared as numbers)
    let loaded = store.load(stream).await.unwrap();
    assert_eq!(loaded.get(shard), Some(&after("1000000000000000000200")));

    // And a newer one moves it on
    store
        .save(stream, shard, &after("1000000000000000000300"))
        .await
        .unwrap();
    assert_eq!(
        store.load(stream).await.unwrap().get(shard),
        Some(&after("1000000000000000000300"))
    );

    // And a shard's end is after every record of it
    store
        .save(stream, shard, &Checkpoint::ShardEnd)
        .await
        .unwrap();
    store
        .save(stream, shard, &after("1000000000000000000400"))
        .await
        .unwrap();
    assert_eq!(
        store.load(stream).await.unwrap().get(shard),
        Some(&Checkpoint::ShardEnd)
    );

    // And a new stream whose shard id repeats the old one's starts afresh
    store
        .save("arn:stream-2", shard, &after("5"))
        .await
        .unwrap();
    assert_eq!(
        store.load("arn:stream-2").await.unwrap().get(shard),
        Some(&after("5"))
    );
    assert!(store.load(stream).await.unwrap().is_empty());
    tables.delete().await;
}
