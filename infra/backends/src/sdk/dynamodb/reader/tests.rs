//! The reader's rules against a fake streams endpoint: shards and records
//! scripted in memory, answering `DescribeStream`, `GetShardIterator` and
//! `GetRecords` as DynamoDB Streams does (pages of shards in the order
//! given, closed shards ending with no next iterator, trimmed records
//! answering `TrimmedDataAccessException`, expired iterators).

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use super::*;
use crate::backend::LeaseSpec;
use crate::backend::{ShardInfo, ShardPage, TrimmedGap};
use crate::sdk::dynamodb::checkpoint::checkpoint_order;
use crate::sdk::dynamodb::lease::tests::MemoryLeaseTable;
use crate::sdk::dynamodb::lease::{self, LeaseItem};

/// A stream record with sequence number `sequence`, arrived `sequence`
/// seconds after midnight.
fn record(sequence: u32) -> EventRecord {
    let mut r = EventRecord::default();
    r.change.sequence_number = Some(sequence.to_string());
    let at = time::macros::datetime!(2026-01-01 00:00 UTC) + Duration::from_secs(sequence.into());
    r.change.approximate_creation_date_time = serde_json::from_value(serde_json::Value::String(
        at.format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    ))
    .unwrap();
    r
}

fn arrived(sequence: u32) -> OffsetDateTime {
    time::macros::datetime!(2026-01-01 00:00 UTC) + Duration::from_secs(sequence.into())
}

#[derive(Debug, Default)]
struct FakeShard {
    id: String,
    parent: Option<String>,
    closed: bool,
    /// Every record ever written, in order; those up to `trimmed` are gone.
    records: Vec<u32>,
    trimmed: usize,
    /// Left out of `DescribeStream`, still readable.
    unlisted: bool,
}

#[derive(Debug, Default)]
struct FakeState {
    /// In `DescribeStream`'s order.
    shards: Vec<FakeShard>,
    /// Shards whose next `GetRecords` answers an expired iterator.
    expire: HashSet<String>,
    describe_calls: usize,
}

/// The fake endpoint; iterators are `shard|index`.
#[derive(Debug, Default, Clone)]
struct FakeStream(Arc<Mutex<FakeState>>);

impl FakeStream {
    fn shard(&self, id: &str, parent: Option<&str>, closed: bool, records: &[u32]) -> &Self {
        self.0.lock().unwrap().shards.push(FakeShard {
            id: id.to_owned(),
            parent: parent.map(str::to_owned),
            closed,
            records: records.to_vec(),
            trimmed: 0,
            unlisted: false,
        });
        self
    }

    fn with<T>(&self, id: &str, change: impl FnOnce(&mut FakeShard) -> T) -> T {
        let mut state = self.0.lock().unwrap();
        let shard = state.shards.iter_mut().find(|s| s.id == id).unwrap();
        change(shard)
    }

    fn append(&self, id: &str, sequence: u32) {
        self.with(id, |s| s.records.push(sequence));
    }

    /// Trims the shard's records up to and including `through`.
    fn trim_through(&self, id: &str, through: u32) {
        self.with(id, |s| {
            s.trimmed = s.records.iter().filter(|&&r| r <= through).count()
        });
    }

    fn remove(&self, id: &str) {
        self.0.lock().unwrap().shards.retain(|s| s.id != id);
    }

    fn describe_calls(&self) -> usize {
        self.0.lock().unwrap().describe_calls
    }
}

fn parse(iterator: &str) -> (String, usize) {
    let (shard, index) = iterator.split_once('|').unwrap();
    (shard.to_owned(), index.parse().unwrap())
}

#[async_trait]
impl StreamShards for FakeStream {
    async fn describe_stream(&self, exclusive_start: Option<&str>) -> BackendResult<ShardPage> {
        let mut state = self.0.lock().unwrap();
        state.describe_calls += 1;
        let listed: Vec<&FakeShard> = state.shards.iter().filter(|s| !s.unlisted).collect();
        let from = match exclusive_start {
            Some(start) => listed
                .iter()
                .position(|s| s.id == start)
                .map_or(0, |i| i + 1),
            None => 0,
        };
        // One shard a page: every listing is paged.
        let page: Vec<ShardInfo> = listed
            .iter()
            .skip(from)
            .take(1)
            .map(|s| ShardInfo {
                shard_id: s.id.clone(),
                parent_shard_id: s.parent.clone(),
                closed: s.closed,
            })
            .collect();
        let more = from + 1 < listed.len();
        Ok(ShardPage {
            last_evaluated_shard_id: more.then(|| page[0].shard_id.clone()),
            shards: page,
        })
    }

    async fn trim_horizon(&self, shard_id: &str) -> BackendResult<String> {
        let state = self.0.lock().unwrap();
        let shard = state
            .shards
            .iter()
            .find(|s| s.id == shard_id)
            .ok_or_else(|| BackendError::NotFound(shard_id.to_owned()))?;
        Ok(format!("{shard_id}|{}", shard.trimmed))
    }

    async fn after_sequence_number(&self, shard_id: &str, sequence: &str) -> BackendResult<String> {
        let state = self.0.lock().unwrap();
        let shard = state
            .shards
            .iter()
            .find(|s| s.id == shard_id)
            .ok_or_else(|| BackendError::NotFound(shard_id.to_owned()))?;
        let sequence: u32 = sequence.parse().unwrap();
        let index = shard.records.iter().filter(|&&r| r <= sequence).count();
        if index <= shard.trimmed {
            return Err(BackendError::Trimmed(shard_id.to_owned()));
        }
        Ok(format!("{shard_id}|{index}"))
    }

    async fn get_records(&self, iterator: &str, limit: usize) -> BackendResult<RecordPage> {
        let (shard_id, index) = parse(iterator);
        let mut state = self.0.lock().unwrap();
        if state.expire.remove(&shard_id) {
            return Err(BackendError::IteratorExpired(shard_id));
        }
        let shard = state
            .shards
            .iter()
            .find(|s| s.id == shard_id)
            .ok_or_else(|| BackendError::NotFound(shard_id.clone()))?;
        if index < shard.trimmed {
            return Err(BackendError::Trimmed(shard_id));
        }
        let end = (index + limit).min(shard.records.len());
        let records = shard.records[index..end]
            .iter()
            .map(|&s| record(s))
            .collect();
        let next_iterator =
            (!shard.closed || end < shard.records.len()).then(|| format!("{shard_id}|{end}"));
        Ok(RecordPage {
            records,
            next_iterator,
        })
    }
}

/// A checkpoint table in memory, with DynamoDB's forward-only write.
#[derive(Debug, Default, Clone)]
struct MemoryCheckpoints(Arc<Mutex<BTreeMap<String, Checkpoint>>>);

impl MemoryCheckpoints {
    fn get(&self, shard: &str) -> Option<Checkpoint> {
        self.0.lock().unwrap().get(shard).cloned()
    }

    fn set(&self, shard: &str, checkpoint: Checkpoint) {
        self.0.lock().unwrap().insert(shard.to_owned(), checkpoint);
    }
}

#[async_trait]
impl CheckpointStore for MemoryCheckpoints {
    async fn load(&self, _stream_arn: &str) -> BackendResult<HashMap<String, Checkpoint>> {
        Ok(self.0.lock().unwrap().clone().into_iter().collect())
    }

    async fn save(&self, _arn: &str, shard_id: &str, checkpoint: &Checkpoint) -> BackendResult<()> {
        let mut saved = self.0.lock().unwrap();
        let ahead = saved
            .get(shard_id)
            .is_some_and(|old| checkpoint_order(old) >= checkpoint_order(checkpoint));
        if !ahead {
            saved.insert(shard_id.to_owned(), checkpoint.clone());
        }
        Ok(())
    }
}

fn after(sequence: u32) -> Checkpoint {
    Checkpoint::After {
        sequence_number: sequence.to_string(),
        arrived_at: Some(arrived(sequence)),
    }
}

fn reader(stream: &FakeStream, store: Option<&MemoryCheckpoints>) -> AwsStreamReader {
    AwsStreamReader::new(
        Box::new(stream.clone()),
        "arn:stream",
        store.map(|s| Arc::new(s.clone()) as Arc<dyn CheckpointStore>),
        None,
    )
}

fn sequences(records: &[EventRecord]) -> Vec<u32> {
    records
        .iter()
        .map(|r| {
            r.change
                .sequence_number
                .as_deref()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

/// One read: the shard it came from and the records' sequence numbers.
async fn read(reader: &mut AwsStreamReader, max: usize) -> (String, Vec<u32>) {
    let records = reader.next_records(max).await.unwrap();
    (reader.shard_id(), sequences(&records))
}

#[tokio::test(start_paused = true)]
async fn given_two_open_shards_then_each_is_read_in_turn() {
    let stream = FakeStream::default();
    stream
        .shard("a", None, false, &[1, 2, 3])
        .shard("b", None, false, &[11, 12]);
    let mut reader = reader(&stream, None);

    // One record a read: the shards take turns, and an open shard read
    // now is read again later.
    let mut reads = Vec::new();
    for _ in 0..5 {
        reads.push(read(&mut reader, 1).await);
    }
    let reads: Vec<_> = reads
        .iter()
        .map(|(s, r)| (s.as_str(), r.as_slice()))
        .collect();
    assert_eq!(
        reads,
        [
            ("a", &[1][..]),
            ("b", &[11][..]),
            ("a", &[2][..]),
            ("b", &[12][..]),
            ("a", &[3][..])
        ]
    );

    // An empty shard is passed over in the same read, and new records of
    // an open shard are read.
    stream.append("b", 13);
    assert_eq!(read(&mut reader, 10).await, ("b".to_owned(), vec![13]));
    assert!(reader.next_records(10).await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn given_a_child_listed_before_its_parent_then_the_parent_is_read_to_its_end_and_checkpointed_first()
 {
    let stream = FakeStream::default();
    stream
        .shard("c", Some("p"), false, &[21, 22])
        .shard("p", None, true, &[1, 2]);
    let store = MemoryCheckpoints::default();
    let mut reader = reader(&stream, Some(&store));

    // The parent first, to its end
    assert_eq!(read(&mut reader, 10).await, ("p".to_owned(), vec![1, 2]));
    // The child waits while the parent's records are not done
    assert!(reader.next_records(10).await.unwrap().is_empty());
    reader.checkpoint("1").await.unwrap();
    assert!(reader.next_records(10).await.unwrap().is_empty());

    // Once they are, the parent is checkpointed at its end and the child read
    reader.checkpoint("2").await.unwrap();
    assert_eq!(store.get("p"), Some(Checkpoint::ShardEnd));
    assert_eq!(read(&mut reader, 10).await, ("c".to_owned(), vec![21, 22]));
    reader.checkpoint("22").await.unwrap();
    assert_eq!(store.get("c"), Some(after(22)));
}

#[tokio::test(start_paused = true)]
async fn given_a_checkpointed_child_and_a_parent_not_at_its_end_then_the_parent_is_read_first() {
    // After a crash of a reader that trusted the listing's order: the child
    // has a checkpoint, the parent is not done.
    let stream = FakeStream::default();
    stream
        .shard("c", Some("p"), false, &[21, 22, 23])
        .shard("p", None, true, &[1, 2, 3]);
    let store = MemoryCheckpoints::default();
    store.set("c", after(21));
    store.set("p", after(1));
    let mut reader = reader(&stream, Some(&store));

    assert_eq!(read(&mut reader, 10).await, ("p".to_owned(), vec![2, 3]));
    reader.checkpoint("3").await.unwrap();
    assert_eq!(read(&mut reader, 10).await, ("c".to_owned(), vec![22, 23]));
}

#[tokio::test(start_paused = true)]
async fn given_a_parent_at_shard_end_then_it_is_not_read_again_and_its_child_resumes() {
    let stream = FakeStream::default();
    stream
        .shard("c", Some("p"), false, &[21, 22])
        .shard("p", None, true, &[1, 2]);
    let store = MemoryCheckpoints::default();
    store.set("p", Checkpoint::ShardEnd);
    store.set("c", after(21));
    let mut reader = reader(&stream, Some(&store));
    assert_eq!(read(&mut reader, 10).await, ("c".to_owned(), vec![22]));
    assert!(reader.next_records(10).await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn given_a_new_shard_then_it_is_found_at_the_next_discovery() {
    let stream = FakeStream::default();
    stream.shard("a", None, false, &[1]);
    let mut reader = reader(&stream, None);
    assert_eq!(read(&mut reader, 10).await.1, [1]);

    // Given a shard created after the reader listed the shards
    stream.shard("b", None, false, &[11]);
    // Then it is not read before the next discovery
    tokio::time::advance(DISCOVERY_INTERVAL / 2).await;
    assert!(reader.next_records(10).await.unwrap().is_empty());
    // And it is read after it
    tokio::time::advance(DISCOVERY_INTERVAL / 2).await;
    assert_eq!(read(&mut reader, 10).await, ("b".to_owned(), vec![11]));
}

#[tokio::test(start_paused = true)]
async fn given_a_shard_that_ends_then_its_children_are_looked_for_at_once() {
    let stream = FakeStream::default();
    stream.shard("p", None, false, &[1]);
    let mut reader = reader(&stream, None);
    assert_eq!(read(&mut reader, 10).await.1, [1]);
    let listed = stream.describe_calls();

    // When the shard closes and a child appears
    stream.with("p", |s| s.closed = true);
    stream.shard("c", Some("p"), false, &[21]);
    // Then reading it to its end lists the shards again, long before the interval
    assert!(reader.next_records(10).await.unwrap().is_empty());
    assert_eq!(read(&mut reader, 10).await, ("c".to_owned(), vec![21]));
    assert!(stream.describe_calls() > listed);
}

#[tokio::test(start_paused = true)]
async fn given_a_checkpoint_the_stream_no_longer_keeps_then_the_gap_is_reported_and_reading_goes_on()
 {
    let stream = FakeStream::default();
    stream.shard("a", None, false, &[101, 102, 103, 104, 105, 106]);
    stream.trim_through("a", 103);
    let store = MemoryCheckpoints::default();
    store.set("a", after(101));
    let mut reader = reader(&stream, Some(&store));

    assert_eq!(read(&mut reader, 10).await.1, [104, 105, 106]);

    assert_eq!(
        reader.take_trimmed_gaps(),
        [TrimmedGap {
            stream_arn: "arn:stream".to_owned(),
            shard_id: "a".to_owned(),
            after_sequence_number: "101".to_owned(),
            after_arrival: Some(arrived(101)),
            before_sequence_number: Some("104".to_owned()),
            before_arrival: arrived(104),
        }]
    );
    // Reported once.
    assert!(reader.take_trimmed_gaps().is_empty());
}

#[tokio::test(start_paused = true)]
async fn given_records_trimmed_between_two_reads_then_the_gap_after_the_last_one_read_is_reported()
{
    let stream = FakeStream::default();
    stream.shard("a", None, false, &[101, 102, 103, 104, 105, 106]);
    let mut reader = reader(&stream, None);
    assert_eq!(read(&mut reader, 2).await.1, [101, 102]);

    // When the stream trims past the next record before it is read
    stream.trim_through("a", 104);

    assert_eq!(read(&mut reader, 10).await.1, [105, 106]);
    let gaps = reader.take_trimmed_gaps();
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].after_sequence_number, "102");
    assert_eq!(gaps[0].before_sequence_number.as_deref(), Some("105"));
}

#[tokio::test(start_paused = true)]
async fn given_an_expired_iterator_then_reading_goes_on_from_the_same_place_without_a_gap() {
    let stream = FakeStream::default();
    stream.shard("a", None, false, &[1, 2, 3]);
    let mut reader = reader(&stream, None);
    assert_eq!(read(&mut reader, 1).await.1, [1]);
    stream.0.lock().unwrap().expire.insert("a".to_owned());

    assert_eq!(read(&mut reader, 10).await.1, [2, 3]);
    assert!(reader.take_trimmed_gaps().is_empty());
}

#[tokio::test(start_paused = true)]
async fn given_a_checkpointed_shard_the_stream_no_longer_lists_then_its_rest_is_a_gap_and_its_child_is_read()
 {
    let stream = FakeStream::default();
    stream.shard("c", Some("p"), false, &[21]);
    let store = MemoryCheckpoints::default();
    store.set("p", after(5));
    let mut reader = reader(&stream, Some(&store));

    assert_eq!(read(&mut reader, 10).await, ("c".to_owned(), vec![21]));
    let gaps = reader.take_trimmed_gaps();
    assert_eq!(gaps.len(), 1);
    assert_eq!(
        (
            gaps[0].shard_id.as_str(),
            gaps[0].after_sequence_number.as_str()
        ),
        ("p", "5")
    );
    assert_eq!(gaps[0].after_arrival, Some(arrived(5)));
    assert_eq!(gaps[0].before_sequence_number, None);

    // Once the records read after it are done, the shard is done for good.
    reader.checkpoint("21").await.unwrap();
    assert_eq!(store.get("p"), Some(Checkpoint::ShardEnd));
}

#[tokio::test(start_paused = true)]
async fn given_a_shard_deleted_while_read_then_its_unread_rest_is_a_gap() {
    let stream = FakeStream::default();
    stream.shard("a", None, true, &[1, 2, 3]);
    let mut reader = reader(&stream, None);
    assert_eq!(read(&mut reader, 1).await.1, [1]);
    stream.remove("a");
    assert!(reader.next_records(10).await.unwrap().is_empty());
    let gaps = reader.take_trimmed_gaps();
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].after_sequence_number, "1");
}

#[tokio::test(start_paused = true)]
async fn given_a_checkpoint_behind_the_saved_one_then_the_saved_one_stays() {
    let stream = FakeStream::default();
    stream.shard("a", None, false, &[1, 2, 3]);
    let store = MemoryCheckpoints::default();
    let mut reader = reader(&stream, Some(&store));
    assert_eq!(read(&mut reader, 10).await.1, [1, 2, 3]);
    reader.checkpoint("3").await.unwrap();
    // A done record before the checkpoint moves nothing.
    reader.checkpoint("2").await.unwrap();
    assert_eq!(store.get("a"), Some(after(3)));
}

#[tokio::test(start_paused = true)]
async fn given_the_lease_taken_over_then_the_reader_reads_and_checkpoints_nothing_more() {
    let stream = FakeStream::default();
    stream.shard("a", None, false, &[1, 2]);
    let store = MemoryCheckpoints::default();
    let table = Arc::new(MemoryLeaseTable::default());
    let spec = LeaseSpec {
        owner: "runner-a".to_owned(),
        duration: Duration::from_secs(10),
    };
    let lease = lease::acquire(table.clone(), &spec).await.unwrap();
    let mut reader = AwsStreamReader::new(
        Box::new(stream.clone()),
        "arn:stream",
        Some(Arc::new(store.clone())),
        Some(lease),
    );
    assert_eq!(read(&mut reader, 1).await.1, [1]);

    // When another runner takes the lease over
    *table.item.lock().unwrap() = Some(LeaseItem {
        owner: "runner-b".to_owned(),
        counter: 50,
        duration: spec.duration,
        expires_at: String::new(),
    });
    tokio::time::sleep(spec.duration / 2).await;

    // Then this reader stops
    assert!(matches!(
        reader.next_records(10).await,
        Err(BackendError::LeaseLost { .. })
    ));
    assert!(matches!(
        reader.checkpoint("1").await,
        Err(BackendError::LeaseLost { .. })
    ));
    assert_eq!(store.get("a"), None);
    // And closing it leaves the new holder's lease alone
    reader.close().await.unwrap();
    assert_eq!(
        table.item.lock().unwrap().as_ref().unwrap().owner,
        "runner-b"
    );
}

#[tokio::test(start_paused = true)]
async fn given_a_reader_closed_then_its_lease_is_released_and_its_checkpoints_saved() {
    let stream = FakeStream::default();
    stream.shard("p", None, true, &[1]);
    let store = MemoryCheckpoints::default();
    let table = Arc::new(MemoryLeaseTable::default());
    let spec = LeaseSpec {
        owner: "runner-a".to_owned(),
        duration: Duration::from_secs(10),
    };
    let lease = lease::acquire(table.clone(), &spec).await.unwrap();
    let mut reader = AwsStreamReader::new(
        Box::new(stream.clone()),
        "arn:stream",
        Some(Arc::new(store.clone())),
        Some(lease),
    );
    assert_eq!(read(&mut reader, 10).await.1, [1]);
    reader.checkpoint("1").await.unwrap();
    reader.close().await.unwrap();
    assert_eq!(store.get("p"), Some(Checkpoint::ShardEnd));
    assert!(table.item.lock().unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn given_a_checkpointed_shard_the_listing_leaves_out_but_the_stream_has_then_it_is_read_without_a_gap()
 {
    let stream = FakeStream::default();
    stream.shard("a", None, false, &[1, 2, 3]);
    stream.with("a", |s| s.unlisted = true);
    let store = MemoryCheckpoints::default();
    store.set("a", after(1));
    let mut reader = reader(&stream, Some(&store));

    assert_eq!(read(&mut reader, 10).await, ("a".to_owned(), vec![2, 3]));
    assert!(reader.take_trimmed_gaps().is_empty());
}
