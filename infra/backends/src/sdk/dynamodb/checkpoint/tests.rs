//! Checkpoint progress and order, on a fake store.

use std::sync::Mutex;

use super::*;
use crate::backend::BackendError;

fn record(sequence: &str) -> EventRecord {
    let mut r = EventRecord::default();
    r.change.sequence_number = Some(sequence.to_owned());
    r
}

fn after(sequence: &str) -> Checkpoint {
    Checkpoint::After {
        sequence_number: sequence.to_owned(),
        arrived_at: None,
    }
}

/// Saves into a map; fails the first `failures` calls.
#[derive(Default)]
struct FakeStore {
    saved: Mutex<BTreeMap<String, Checkpoint>>,
    failures: Mutex<u32>,
}

#[async_trait]
impl CheckpointStore for FakeStore {
    async fn load(&self, _stream_arn: &str) -> BackendResult<HashMap<String, Checkpoint>> {
        Ok(self.saved.lock().unwrap().clone().into_iter().collect())
    }

    async fn save(
        &self,
        _stream_arn: &str,
        shard_id: &str,
        checkpoint: &Checkpoint,
    ) -> BackendResult<()> {
        let mut failures = self.failures.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return Err(BackendError::Call("throttled".into()));
        }
        self.saved
            .lock()
            .unwrap()
            .insert(shard_id.to_owned(), checkpoint.clone());
        Ok(())
    }
}

#[tokio::test]
async fn given_records_done_then_each_shard_saves_its_last_done_record() {
    let store = FakeStore::default();
    let mut progress = Progress::default();
    progress.returned("a", &[record("1"), record("2")]);
    progress.returned("b", &[record("3"), record("4"), record("5")]);
    progress.done_through("4");
    progress.save(&store, "arn").await.unwrap();
    assert_eq!(
        *store.saved.lock().unwrap(),
        BTreeMap::from([("a".to_owned(), after("2")), ("b".to_owned(), after("4"))])
    );
    // An unknown or already-done sequence number moves nothing.
    progress.done_through("2");
    progress.done_through("99");
    assert_eq!(progress.returned.len(), 1);
}

#[tokio::test]
async fn given_a_failed_save_then_it_is_saved_with_the_next_checkpoint() {
    let store = FakeStore {
        failures: Mutex::new(1),
        ..FakeStore::default()
    };
    let mut progress = Progress::default();
    progress.returned("a", &[record("1"), record("2"), record("3")]);
    progress.done_through("1");
    assert!(progress.save(&store, "arn").await.is_err());
    assert!(store.saved.lock().unwrap().is_empty());
    // The next batch's checkpoint writes the newest position.
    progress.done_through("2");
    progress.save(&store, "arn").await.unwrap();
    assert_eq!(store.saved.lock().unwrap().get("a"), Some(&after("2")));
    assert!(progress.unsaved.is_empty());
}

#[tokio::test]
async fn given_a_shard_read_to_its_end_then_it_ends_only_once_its_last_record_is_done() {
    let store = FakeStore::default();
    let mut progress = Progress::default();
    // Given parent p read to its end between records of an open shard o
    progress.returned("o", &[record("1")]);
    progress.returned("p", &[record("2"), record("3")]);
    progress.end_of_shard("p");
    progress.returned("o", &[record("4")]);

    // When only p's first record is done, p has not ended
    progress.done_through("2");
    assert!(!progress.is_ended("p"));

    // Then once its last one is, it has, and SHARD_END is what is saved
    progress.done_through("3");
    assert!(progress.is_ended("p"));
    progress.save(&store, "arn").await.unwrap();
    assert_eq!(
        store.saved.lock().unwrap().get("p"),
        Some(&Checkpoint::ShardEnd)
    );
    assert_eq!(store.saved.lock().unwrap().get("o"), Some(&after("1")));
}

#[test]
fn given_a_shard_ended_with_nothing_pending_then_it_is_done_at_once() {
    let mut progress = Progress::default();
    progress.end_of_shard("p");
    assert!(progress.is_ended("p"));
    assert_eq!(progress.unsaved.get("p"), Some(&Checkpoint::ShardEnd));
}

#[test]
fn given_sequence_numbers_of_any_length_then_their_order_is_the_numbers_order() {
    let order = |s: &str| checkpoint_order(&after(s));
    // Longer numbers are larger, whatever their first digits.
    assert!(order("9") < order("10"));
    assert!(order("999999999999999999999") < order("1000000000000000000000"));
    assert!(order("100000000006446513346") < order("100000000006446513347"));
    // Leading zeros change nothing.
    assert_eq!(order("000123"), order("123"));
    // The shard's end is after every record of it.
    let end = checkpoint_order(&Checkpoint::ShardEnd);
    assert!(order(&"9".repeat(129)) < end);
}
