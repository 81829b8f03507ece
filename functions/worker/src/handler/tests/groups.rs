//! Message groups of a batch run concurrently, each strictly in order: an
//! example, the grouping rule, and the property over every batch of groups
//! and every set of failing records.

use super::*;
use orders_adapters::ports::{OrderStore, PortError, PutOutcome};
use proptest::prelude::*;
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A store that records the order of its calls, fails the orders it is
/// told to, and gives way to the other futures while a put is in flight,
/// so concurrent groups interleave and show up in `max_in_flight`.
#[derive(Default)]
struct RecordingStore {
    failing: HashSet<String>,
    calls: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

#[async_trait::async_trait]
impl OrderStore for RecordingStore {
    async fn put_if_absent(&self, order: &StoredOrder) -> Result<PutOutcome, PortError> {
        let id = order.order_id.as_str().to_owned();
        self.calls.lock().unwrap().push(id.clone());
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        // At least one turn, and a different number per order: calls that
        // may overlap do, and finish out of order.
        for _ in 0..1 + id.bytes().map(usize::from).sum::<usize>() % 4 {
            tokio::task::yield_now().await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.failing.contains(&id) {
            Err(PortError::Transient("injected transient fault".into()))
        } else {
            Ok(PutOutcome::Created)
        }
    }
}

fn deps_with(store: Arc<RecordingStore>) -> Deps {
    Deps::new(store, Arc::new(MemoryDeadLetters::default()))
}

/// A record of `group` (none: a standard queue's record) for order `o-{i}`.
fn numbered(i: usize, group: Option<&str>) -> Value {
    let mut record = record_in(
        group.unwrap_or("-"),
        &format!("m-{i}"),
        &body(&format!("o-{i}")),
        1,
    );
    if group.is_none() {
        record["attributes"]
            .as_object_mut()
            .unwrap()
            .remove("MessageGroupId");
    }
    record
}

#[tokio::test]
async fn given_ten_records_of_ten_groups_when_handled_then_all_ten_puts_are_in_flight_together() {
    let store = Arc::new(RecordingStore::default());
    let deps = deps_with(store.clone());
    let records = (0..10)
        .map(|i| numbered(i, Some(&format!("customer-{i}"))))
        .collect();

    let response = handle(&deps, event(records)).await.unwrap();

    assert!(failures(&response).is_empty());
    assert_eq!(store.calls.lock().unwrap().len(), 10);
    assert_eq!(store.max_in_flight.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn given_ten_records_of_one_group_when_handled_then_one_put_at_a_time_in_batch_order() {
    let store = Arc::new(RecordingStore::default());
    let deps = deps_with(store.clone());
    let records = (0..10).map(|i| numbered(i, Some("customer-1"))).collect();

    handle(&deps, event(records)).await.unwrap();

    let expected: Vec<String> = (0..10).map(|i| format!("o-{i}")).collect();
    assert_eq!(*store.calls.lock().unwrap(), expected);
    assert_eq!(store.max_in_flight.load(Ordering::SeqCst), 1);
}

#[test]
fn given_groups_and_ungrouped_records_then_each_group_is_one_ordered_sequence() {
    let groups = message_groups([Some("a"), Some("b"), None, Some("a"), None, Some("b")]);
    assert_eq!(groups, [vec![0, 3], vec![1, 5], vec![2], vec![4]]);
}

fn group() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        8 => (0..4u8).prop_map(|g| Some(format!("customer-{g}"))),
        1 => Just(None),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Given any batch of groups and any set of failing records, the
    /// reported failures are exactly the failed records plus every later
    /// record of their groups (in batch order), and exactly those are backed
    /// off, one draw per group; no held-back record reaches the store; each
    /// group's puts happen in batch order; and different groups overlap.
    #[test]
    fn the_worker_reports_exactly_the_failed_records_and_their_groups_later_records(
        batch in proptest::collection::vec((group(), any::<bool>()), 1..=10)
    ) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let failing: HashSet<String> = batch
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, fails))| *fails)
                    .map(|(i, _)| format!("o-{i}"))
                    .collect();
                let store = Arc::new(RecordingStore { failing, ..RecordingStore::default() });
                let visibility = Arc::new(orders_adapters::memory::MemoryVisibility::default());
                let deps = deps_with(store.clone()).with_visibility_delay(visibility.clone());
                let records = batch
                    .iter()
                    .enumerate()
                    .map(|(i, (group, _))| numbered(i, group.as_deref()))
                    .collect();

                let response = handle(&deps, event(records)).await.unwrap();

                // The model: a failure holds back the later records of its
                // own group only; a record without a group holds nothing.
                let mut held: HashSet<&str> = HashSet::new();
                let mut expected_reported = Vec::new();
                let mut expected_calls: Vec<Vec<String>> = Vec::new();
                let mut sequence_of: std::collections::HashMap<&str, usize> = Default::default();
                for (i, (group, fails)) in batch.iter().enumerate() {
                    let seq = match group.as_deref() {
                        Some(g) => *sequence_of.entry(g).or_insert_with(|| {
                            expected_calls.push(Vec::new());
                            expected_calls.len() - 1
                        }),
                        None => {
                            expected_calls.push(Vec::new());
                            expected_calls.len() - 1
                        }
                    };
                    if group.as_deref().is_some_and(|g| held.contains(g)) {
                        expected_reported.push(format!("m-{i}"));
                        continue;
                    }
                    expected_calls[seq].push(format!("o-{i}"));
                    if *fails {
                        expected_reported.push(format!("m-{i}"));
                        if let Some(g) = group.as_deref() {
                            held.insert(g);
                        }
                    }
                }
                prop_assert_eq!(failures(&response), expected_reported.iter().map(String::as_str).collect::<Vec<_>>());

                // Every failure here may pass: exactly the reported records
                // are backed off, and a group's records by one draw.
                let delays = visibility.delays();
                let mut delayed: Vec<&str> = delays
                    .iter()
                    .map(|(handle, _)| handle.trim_start_matches("AQEB-"))
                    .collect();
                delayed.sort_unstable();
                let mut reported: Vec<&str> = expected_reported.iter().map(String::as_str).collect();
                reported.sort_unstable();
                prop_assert_eq!(delayed, reported, "backed off: exactly the reported records");
                let mut draw_of: std::collections::HashMap<&str, std::time::Duration> = Default::default();
                for (handle, delay) in &delays {
                    let i: usize = handle.trim_start_matches("AQEB-m-").parse().unwrap();
                    if let Some(group) = batch[i].0.as_deref() {
                        let draw = *draw_of.entry(group).or_insert(*delay);
                        prop_assert_eq!(draw, *delay, "group {} backed off by two draws", group);
                    }
                }

                let calls = store.calls.lock().unwrap().clone();
                let called: usize = expected_calls.iter().map(Vec::len).sum();
                prop_assert_eq!(calls.len(), called, "held-back records reached the store: {:?}", calls);
                for sequence in &expected_calls {
                    let in_log: Vec<&String> = calls.iter().filter(|c| sequence.contains(c)).collect();
                    prop_assert_eq!(in_log, sequence.iter().collect::<Vec<_>>(), "group order broken");
                }
                let sequences = expected_calls.iter().filter(|s| !s.is_empty()).count();
                prop_assert_eq!(store.max_in_flight.load(Ordering::SeqCst) > 1, sequences > 1);
                Ok(())
            })?;
    }
}
