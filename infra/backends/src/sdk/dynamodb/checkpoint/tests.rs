//! Checkpoint positions and saving, on a fake store.

use std::sync::Mutex;

use super::*;
use crate::backend::BackendError;

fn shard(id: &str, parent: Option<&str>, closed: bool) -> ShardInfo {
    ShardInfo {
        shard_id: id.to_owned(),
        parent_shard_id: parent.map(str::to_owned),
        closed,
    }
}

fn record(sequence: &str) -> EventRecord {
    let mut r = EventRecord::default();
    r.change.sequence_number = Some(sequence.to_owned());
    r
}

/// Saves into a map; fails the first `failures` calls.
#[derive(Default)]
struct FakeStore {
    saved: Mutex<BTreeMap<String, String>>,
    failures: Mutex<u32>,
}

#[async_trait]
impl CheckpointStore for FakeStore {
    async fn load(&self, _stream_arn: &str) -> BackendResult<HashMap<String, String>> {
        Ok(self.saved.lock().unwrap().clone().into_iter().collect())
    }

    async fn save(
        &self,
        _stream_arn: &str,
        shard_id: &str,
        sequence_number: &str,
    ) -> BackendResult<()> {
        let mut failures = self.failures.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return Err(BackendError::Call("throttled".into()));
        }
        self.saved
            .lock()
            .unwrap()
            .insert(shard_id.to_owned(), sequence_number.to_owned());
        Ok(())
    }
}

#[test]
fn given_no_checkpoints_then_every_shard_starts_at_its_trim_horizon() {
    let shards = [shard("a", None, true), shard("b", Some("a"), false)];
    let starts = start_positions(&shards, &HashMap::new());
    assert_eq!(
        starts,
        [
            ("a".to_owned(), Start::TrimHorizon),
            ("b".to_owned(), Start::TrimHorizon)
        ]
    );
}

#[test]
fn given_a_checkpointed_child_then_its_closed_ancestors_are_done_and_it_resumes_after_it() {
    // a → b → c (a and b closed), and b's sibling d, never read.
    let shards = [
        shard("a", None, true),
        shard("b", Some("a"), true),
        shard("c", Some("b"), false),
        shard("d", Some("a"), false),
    ];
    let checkpoints = HashMap::from([
        ("a".to_owned(), "10".to_owned()),
        ("c".to_owned(), "42".to_owned()),
    ]);
    let starts = start_positions(&shards, &checkpoints);
    assert_eq!(
        starts,
        [
            ("a".to_owned(), Start::Done),
            ("b".to_owned(), Start::Done),
            ("c".to_owned(), Start::After("42".to_owned())),
            ("d".to_owned(), Start::TrimHorizon),
        ]
    );
}

#[test]
fn given_a_checkpoint_of_a_closed_shard_without_checkpointed_children_then_it_resumes_after_it() {
    let shards = [shard("a", None, true), shard("b", Some("a"), false)];
    let checkpoints = HashMap::from([("a".to_owned(), "7".to_owned())]);
    let starts = start_positions(&shards, &checkpoints);
    assert_eq!(starts[0], ("a".to_owned(), Start::After("7".to_owned())));
    assert_eq!(starts[1], ("b".to_owned(), Start::TrimHorizon));
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
        BTreeMap::from([
            ("a".to_owned(), "2".to_owned()),
            ("b".to_owned(), "4".to_owned())
        ])
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
    assert_eq!(
        store.saved.lock().unwrap().get("a").map(String::as_str),
        Some("2")
    );
    assert!(progress.unsaved.is_empty());
}
