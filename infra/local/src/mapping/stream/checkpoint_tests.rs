//! The notifier mapping moving the reader's checkpoint, over the embedded
//! stream.

use async_trait::async_trait;
use orders_adapters::ports::{EventPublisher, PortError};
use orders_adapters::record::StoredOrder;
use orders_backends::backend::{BackendResult, QueueSpec, TableService};
use orders_backends::embedded::Embedded;
use orders_domain::contract::{CorrelationId, OrderCreated, OrderMessage};
use orders_domain::model::OrderRequest;
use orders_domain::test_support::legacy_order;
use serde_dynamo::AttributeValue;

use super::*;
use orders_adapters::record::ItemMapping;

/// The embedded stream, recording every checkpoint it is told.
struct Recording {
    inner: Box<dyn StreamReader>,
    checkpoints: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl StreamReader for Recording {
    async fn next_records(&mut self, max: usize) -> BackendResult<Vec<EventRecord>> {
        self.inner.next_records(max).await
    }

    async fn checkpoint(&mut self, sequence_number: &str) -> BackendResult<()> {
        self.checkpoints
            .lock()
            .unwrap()
            .push(sequence_number.to_owned());
        Ok(())
    }
}

/// Fails the publish of one order transiently until `until` on tokio's
/// clock (paused in these tests): the notifier retries inside an invocation
/// for as long as its deadline allows, so a failure reaches the mapping only
/// when it outlasts that.
struct FailingFor {
    order: &'static str,
    until: tokio::time::Instant,
}

#[async_trait]
impl EventPublisher for FailingFor {
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError> {
        if event.order_id.as_str() == self.order && tokio::time::Instant::now() < self.until {
            return Err(PortError::Transient("throttled".into()));
        }
        Ok(())
    }
}

fn item(order_id: &str) -> serde_dynamo::Item {
    let request = OrderRequest::from_json(&legacy_order(order_id)).unwrap();
    let now = OffsetDateTime::now_utc();
    let message = OrderMessage::new(
        orders_domain::model::OwnerKey::anonymous(),
        request.order_id.unwrap(),
        CorrelationId::parse("c-test").unwrap(),
        now,
        request.order,
    );
    StoredOrder::from_message(&message, now).to_item().unwrap()
}

/// Writes INSERTs of a, b and c, then a MODIFY of a (filtered out), and
/// runs the mapping over them with `publisher`; returns the checkpoints
/// told, the stream's sequence numbers and the on-failure messages.
async fn run(
    publisher: FailingFor,
    max_retry_attempts: Option<u32>,
) -> (Vec<String>, Vec<String>, usize) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let embedded = Embedded::new(std::env::temp_dir().join(format!("ckpt-{id}")), 1.0);
    let table = format!("ckpt{}-orders", &id[..8]);
    embedded.tables.create_table(&table).await.unwrap();
    for order_id in ["a", "b", "c"] {
        embedded.tables.put(&table, item(order_id)).await.unwrap();
    }
    let mut modified = item("a");
    modified.insert("note".to_owned(), AttributeValue::S("changed".to_owned()));
    embedded.tables.put(&table, modified).await.unwrap();
    let sequences: Vec<String> = embedded
        .tables
        .open_stream(&table)
        .await
        .unwrap()
        .next_records(10)
        .await
        .unwrap()
        .iter()
        .map(|r| sequence(r).to_owned())
        .collect();
    let queues = embedded.backends().queues;
    let on_failure_url = queues
        .create_queue(&QueueSpec {
            name: format!("ckpt{}-on-failure", &id[..8]),
            fifo: false,
            visibility_timeout: Duration::from_secs(30),
            redrive: None,
        })
        .await
        .unwrap();
    let checkpoints = Arc::new(Mutex::new(Vec::new()));
    let mapping = StreamMapping {
        reader: tokio::sync::Mutex::new(Box::new(Recording {
            inner: embedded.tables.open_stream(&table).await.unwrap(),
            checkpoints: checkpoints.clone(),
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
    // Stopped from the start: the mapping returns once the stream is worked off.
    let (_stop, stopped) = watch::channel(true);
    tokio::time::timeout(Duration::from_secs(30), mapping.run(stopped))
        .await
        .unwrap();
    let dead = embedded.queues.peek(&on_failure_url).unwrap().len();
    let told = checkpoints.lock().unwrap().clone();
    (told, sequences, dead)
}

#[tokio::test(start_paused = true)]
async fn given_an_item_failure_then_the_records_before_it_are_checkpointed_then_the_rest() {
    // Longer than one invocation's retries (its 10 s timeout less the
    // reserve), shorter than two.
    let publisher = FailingFor {
        order: "b",
        until: tokio::time::Instant::now() + Duration::from_secs(9),
    };
    let (told, seq, dead) = run(publisher, None).await;
    // a is done first; once b and c are, so is the MODIFY read after them.
    assert_eq!(told, [seq[0].clone(), seq[3].clone()]);
    assert_eq!(dead, 0);
}

#[tokio::test(start_paused = true)]
async fn given_records_given_up_on_then_the_checkpoint_moves_past_them() {
    let publisher = FailingFor {
        order: "b",
        until: tokio::time::Instant::now() + Duration::from_secs(24 * 3600),
    };
    let (told, seq, dead) = run(publisher, Some(0)).await;
    // b and c went to the on-failure queue: done, as far as the stream goes.
    assert_eq!(dead, 1);
    assert_eq!(told.last(), Some(&seq[3]));
}
