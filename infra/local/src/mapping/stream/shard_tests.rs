//! The notifier mapping over a reader of several shards: batches of one
//! shard each, and a trimmed gap sent to the on-failure destination.

use std::collections::VecDeque;

use async_trait::async_trait;
use orders_adapters::ports::{EventPublisher, PortError};
use orders_adapters::record::{ItemMapping, StoredOrder};
use orders_backends::backend::{BackendResult, QueueSpec, TableService};
use orders_backends::embedded::Embedded;
use orders_domain::contract::{CorrelationId, OrderCreated, OrderMessage};
use orders_domain::model::OrderRequest;
use orders_domain::test_support::legacy_order;

use super::*;

/// Hands out scripted reads, each of one shard, with the gaps found before
/// it; records every checkpoint it is told, with the number of on-failure
/// messages there were then.
struct Scripted {
    reads: VecDeque<(String, Vec<EventRecord>, Vec<TrimmedGap>)>,
    current: String,
    gaps: Vec<TrimmedGap>,
    checkpoints: Arc<Mutex<Vec<(String, usize)>>>,
    on_failure: (orders_backends::embedded::sqs::EmbeddedQueues, String),
}

#[async_trait]
impl StreamReader for Scripted {
    async fn next_records(&mut self, _max: usize) -> BackendResult<Vec<EventRecord>> {
        let Some((shard, records, gaps)) = self.reads.pop_front() else {
            return Ok(Vec::new());
        };
        self.current = shard;
        self.gaps = gaps;
        Ok(records)
    }

    fn shard_id(&self) -> String {
        self.current.clone()
    }

    async fn checkpoint(&mut self, sequence_number: &str) -> BackendResult<()> {
        let (queues, url) = &self.on_failure;
        let dead = queues.peek(url).unwrap().len();
        self.checkpoints
            .lock()
            .unwrap()
            .push((sequence_number.to_owned(), dead));
        Ok(())
    }

    fn take_trimmed_gaps(&mut self) -> Vec<TrimmedGap> {
        std::mem::take(&mut self.gaps)
    }
}

/// Refuses the publish of one order until `until` on tokio's (paused) clock.
struct Refusing {
    order: &'static str,
    until: tokio::time::Instant,
}

impl Refusing {
    /// For as long as the test runs.
    fn always(order: &'static str) -> Self {
        Self {
            order,
            until: tokio::time::Instant::now() + Duration::from_secs(24 * 3600),
        }
    }
}

#[async_trait]
impl EventPublisher for Refusing {
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError> {
        if event.order_id.as_str() == self.order && tokio::time::Instant::now() < self.until {
            return Err(PortError::Transient("throttled".into()));
        }
        Ok(())
    }
}

/// Stream records (INSERTs, as the embedded table writes them) of `ids`.
async fn records(embedded: &Embedded, table: &str, ids: &[&str]) -> Vec<EventRecord> {
    embedded.tables.create_table(table).await.unwrap();
    for id in ids {
        let request = OrderRequest::from_json(&legacy_order(id)).unwrap();
        let now = OffsetDateTime::now_utc();
        let message = OrderMessage::new(
            orders_domain::model::OwnerKey::anonymous(),
            request.order_id.unwrap(),
            CorrelationId::parse("c-test").unwrap(),
            now,
            request.order,
        );
        let item = StoredOrder::from_message(&message, now).to_item().unwrap();
        embedded.tables.put(table, item).await.unwrap();
    }
    let mut reader = embedded.tables.open_stream(table).await.unwrap();
    reader.next_records(10).await.unwrap()
}

/// Runs the mapping over `reads` with `publisher` and `max_retry_attempts`;
/// returns the on-failure messages and the checkpoints told (with the
/// number of on-failure messages sent before each).
async fn run(
    embedded: &Embedded,
    reads: Vec<(String, Vec<EventRecord>, Vec<TrimmedGap>)>,
    publisher: Refusing,
    max_retry_attempts: Option<u32>,
) -> (Vec<serde_json::Value>, Vec<(String, usize)>) {
    let queues = embedded.backends().queues;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let on_failure_url = queues
        .create_queue(&QueueSpec {
            name: format!("shards{}-on-failure", &id[..8]),
            fifo: false,
            visibility_timeout: Duration::from_secs(30),
            redrive: None,
        })
        .await
        .unwrap();
    let checkpoints = Arc::new(Mutex::new(Vec::new()));
    let mapping = StreamMapping {
        reader: tokio::sync::Mutex::new(Box::new(Scripted {
            reads: reads.into(),
            current: String::new(),
            gaps: Vec::new(),
            checkpoints: checkpoints.clone(),
            on_failure: (embedded.queues.clone(), on_failure_url.clone()),
        })),
        deps: Arc::new(notifier::Deps::new(
            Arc::new(publisher),
            queues.dead_letter_queue(&on_failure_url),
        )),
        queues: queues.clone(),
        on_failure_url: on_failure_url.clone(),
        function_arn: "arn:aws:lambda:us-east-1:000000000000:function:test-notifier".into(),
        timeout: Duration::from_secs(10),
        max_record_age: Duration::from_secs(3600),
        max_retry_attempts,
        retry_backoff: Duration::from_millis(1),
        counters: Arc::default(),
        idle_at: Arc::default(),
        pending_count: Arc::default(),
    };
    let (_stop, stopped) = watch::channel(true);
    tokio::time::timeout(Duration::from_secs(60), mapping.run(stopped))
        .await
        .unwrap();
    let dead = embedded
        .queues
        .peek(&on_failure_url)
        .unwrap()
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect();
    let told = checkpoints.lock().unwrap().clone();
    (dead, told)
}

fn embedded() -> (Embedded, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let embedded = Embedded::new(std::env::temp_dir().join(format!("shards-{id}")), 1.0);
    (embedded, format!("shards{}-orders", &id[..8]))
}

#[tokio::test(start_paused = true)]
async fn given_records_of_two_shards_then_a_batch_given_up_on_holds_and_names_only_its_own_shard() {
    let (embedded, table) = embedded();
    let r = records(&embedded, &table, &["a1", "a2", "b1"]).await;
    let reads = vec![
        ("shard-a".to_owned(), r[..2].to_vec(), Vec::new()),
        ("shard-b".to_owned(), r[2..].to_vec(), Vec::new()),
    ];

    // When every publish of a1 is refused, and one retry is allowed (shard
    // b is read meanwhile)
    let (dead, told) = run(&embedded, reads, Refusing::always("a1"), Some(1)).await;

    // Then shard a's batch goes to the on-failure queue, alone and named
    assert_eq!(dead.len(), 1, "{dead:?}");
    let info = &dead[0]["DDBStreamBatchInfo"];
    assert_eq!(info["shardId"], "shard-a");
    assert_eq!(info["batchSize"], 2);
    assert_eq!(info["endSequenceNumber"], sequence(&r[1]));
    // And shard b's record is published and checkpointed after it
    assert_eq!(told.last().map(|(s, _)| s.as_str()), Some(sequence(&r[2])));
}

#[tokio::test(start_paused = true)]
async fn given_a_trimmed_gap_then_it_is_sent_to_the_on_failure_queue_before_the_records_after_it_are_checkpointed()
 {
    let (embedded, table) = embedded();
    let r = records(&embedded, &table, &["c1"]).await;
    let gap = TrimmedGap {
        stream_arn: r[0].event_source_arn.clone().unwrap_or_default(),
        shard_id: "shard-a".to_owned(),
        after_sequence_number: "41".to_owned(),
        after_arrival: None,
        before_sequence_number: Some(sequence(&r[0]).to_owned()),
        before_arrival: OffsetDateTime::now_utc(),
    };
    let reads = vec![("shard-a".to_owned(), r.clone(), vec![gap])];

    let (dead, told) = run(&embedded, reads, Refusing::always("none"), Some(0)).await;

    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["requestContext"]["condition"], "RecordAgeExceeded");
    let info = &dead[0]["DDBStreamBatchInfo"];
    assert_eq!(info["shardId"], "shard-a");
    assert_eq!(info["startSequenceNumber"], "42");
    assert_eq!(info["batchSize"], 0);
    // The record after the gap is published and checkpointed, once the
    // gap was sent.
    assert_eq!(told, [(sequence(&r[0]).to_owned(), 1)]);
}

#[tokio::test(start_paused = true)]
async fn given_records_of_two_shards_pending_together_then_each_batch_holds_one_shards_records() {
    let (embedded, table) = embedded();
    let r = records(&embedded, &table, &["a1", "b1", "a2"]).await;
    // a1's batch is retried while b1, then a2, are read behind it.
    let reads = vec![
        ("shard-a".to_owned(), vec![r[0].clone()], Vec::new()),
        ("shard-b".to_owned(), vec![r[1].clone()], Vec::new()),
        ("shard-a".to_owned(), vec![r[2].clone()], Vec::new()),
    ];
    // Refused through the first invocation's own retries, not the second's.
    let publisher = Refusing {
        order: "a1",
        until: tokio::time::Instant::now() + Duration::from_secs(12),
    };

    let (dead, told) = run(&embedded, reads, publisher, None).await;

    // b1 is a batch of its own (its checkpoint told), then a2 one of its own
    assert!(dead.is_empty(), "{dead:?}");
    let told: Vec<&str> = told.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(told, [sequence(&r[0]), sequence(&r[1]), sequence(&r[2])]);
}
