//! Restarts over moto: `orders-local --endpoint-url` keeps its state in the
//! endpoint, as on AWS, so a runner killed with SIGKILL and started again
//! (same `--name-prefix`, same moto) loses nothing and announces again only
//! what was in flight at a kill. A restarted runner takes the stream's lease
//! over once the killed one's went unrenewed; a second runner started beside
//! a live one with the same prefix refuses to start, naming the first.
//!
//! The verdicts come from a ledger the tests build themselves, through the
//! SDK (the table scanned, the events queue drained and counted by
//! `orderId`), not from the runner's counters; time only bounds them, with
//! generous deadlines.

// Test code, helpers included: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use orders_adapters::record::{KEY_ATTRIBUTE, ORDER_ID_ATTRIBUTE};
use orders_adapters::settings::NOTIFIER_BATCH_SIZE;
use orders_backends::backend::{LeaseSpec, QueueSpec};
use orders_domain::test_support::{LEGACY_SHIPPING_ADDRESS, legacy_order};
use orders_tests::local::LocalPipeline;
use orders_tests::services::ReceiveAndDelete;
use orders_tests::{MotoServer, MotoStack, queue_attribute, require_moto, services};

/// Bound of each stage (all orders accepted; all stored and announced):
/// generous, since moto answers one call at a time and the notifier
/// publishes a batch's records one after another.
const WITHIN: Duration = Duration::from_secs(90);

/// Concurrent clients of the kill -9 run, and the orders they post.
const CLIENTS: usize = 6;
const ORDERS: usize = 150;
/// The runner is killed once this many orders were accepted, each time.
const KILL_AT: [usize; 3] = [30, 70, 110];

/// Writes to the process's standard error directly: libtest captures
/// `eprintln!` of passing tests, and the ledger is the point of the run.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// One runner's name prefix and arguments, and the clients to check what it
/// left behind.
struct Runs {
    stack: MotoStack,
    email: Option<&'static str>,
}

impl Runs {
    fn new(moto: &MotoServer, email: Option<&'static str>) -> Self {
        Self {
            stack: MotoStack::new(moto, "rst"),
            email,
        }
    }

    /// Starts `orders-local` over moto with this prefix (blocking work on
    /// a blocking thread: the clients keep running meanwhile).
    async fn start(&self) -> LocalPipeline {
        let mut args = vec![
            // Visibility timeout 60 s → 6 s: the batches a kill leaves in
            // flight come back soon. Not shorter: a message that becomes
            // visible while a worker still holds it is received by another
            // poller as the first deletes it, and moto 5.2.5 (a receive
            // racing a delete on its snapshot of the queue) can then keep
            // its message group "pending" for good, stalling that customer's
            // later orders; AWS has no such state.
            "--time-scale",
            "0.1",
            "--drain-timeout",
            "1",
        ];
        if let Some(email) = self.email {
            args.extend(["--email", email]);
        }
        self.stack.start(&args).await
    }

    /// Every item of the orders table, by order id (a consistent scan).
    async fn scan(&self) -> Vec<HashMap<String, AttributeValue>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .stack
                .dynamo
                .scan()
                .table_name(self.stack.name("orders"))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .unwrap();
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return items,
            }
        }
    }

    /// One receive on the events queue (waiting up to a second), deleting
    /// what arrived; adds each event's `orderId` to `counts`. Returns how
    /// many arrived.
    async fn receive_events(&self, url: &str, counts: &mut BTreeMap<String, u32>) -> usize {
        let messages = self.stack.sqs.receive_and_delete(url).await;
        for m in &messages {
            // Enveloped delivery: the event is the envelope's `Message`.
            let envelope: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
            let event: serde_json::Value =
                serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
            let id = event["orderId"].as_str().unwrap().to_owned();
            *counts.entry(id).or_default() += 1;
        }
        messages.len()
    }

    /// Receives until two receives in a row bring nothing.
    async fn drain_events(&self, url: &str, counts: &mut BTreeMap<String, u32>) {
        let mut empty = 0;
        while empty < 2 {
            if self.receive_events(url, counts).await == 0 {
                empty += 1;
            } else {
                empty = 0;
            }
        }
    }
}

/// The legacy order made distinct per `i` (id, customer, item, quantity,
/// address).
fn order_body(i: usize) -> serde_json::Value {
    let mut body = legacy_order(&order_id(i));
    body["customerName"] = format!("Customer {}", i % 23).into();
    body["items"][0]["itemId"] = format!("item-{i}").into();
    body["items"][0]["quantity"] = (i % 50 + 1).into();
    body["shippingAddress"] = format!("{i}, {LEGACY_SHIPPING_ADDRESS}").into();
    body
}

fn order_id(i: usize) -> String {
    format!("r{i:04}")
}

/// Whether a stored item holds what the client sent for order `i`.
fn stored_as_sent(item: &HashMap<String, AttributeValue>, i: usize) -> bool {
    let sent = order_body(i);
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    };
    let line = match item.get("items") {
        Some(AttributeValue::L(lines)) if lines.len() == 1 => match &lines[0] {
            AttributeValue::M(line) => Some(line),
            _ => None,
        },
        _ => None,
    };
    text(ORDER_ID_ATTRIBUTE) == sent["orderID"].as_str()
        && text("customerName") == sent["customerName"].as_str()
        && text("shippingAddress") == sent["shippingAddress"].as_str()
        && line.is_some_and(|line| {
            line.get("itemId") == Some(&AttributeValue::S(format!("item-{i}")))
                && line.get("quantity") == Some(&AttributeValue::N((i % 50 + 1).to_string()))
        })
}

/// Posts each order until it gets a 2xx, retrying the same body on a
/// connection error (the runner is down or was killed mid-request) or a
/// 5xx, at whatever URL the current runner listens on. Returns the orders
/// accepted.
async fn client(
    orders: Vec<usize>,
    url: Arc<RwLock<String>>,
    accepted: Arc<AtomicUsize>,
    deadline: Instant,
) -> Vec<usize> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut done = Vec::new();
    for i in orders {
        let body = order_body(i).to_string();
        loop {
            assert!(
                Instant::now() < deadline,
                "order {i} was not accepted in time"
            );
            let base = url.read().unwrap().clone();
            let answer = http
                .post(format!("{base}/orders"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => {
                    done.push(i);
                    accepted.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                Ok(r) if r.status().is_server_error() => {}
                Ok(r) => panic!("order {i}: {}", r.status()),
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    done
}

/// A runner's `/_local/status`.
async fn status(pipeline: &LocalPipeline) -> serde_json::Value {
    reqwest::get(format!("{}/_local/status", pipeline.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_while_clients_post_loses_nothing_and_announces_again_at_most_a_batch_per_kill() {
    let moto = require_moto!();
    let began = Instant::now();
    let runs = Runs::new(moto, None);
    let mut pipeline = runs.start().await;
    let url = Arc::new(RwLock::new(pipeline.url.clone()));
    let accepted = Arc::new(AtomicUsize::new(0));

    // Given clients posting distinct orders concurrently
    let deadline = Instant::now() + WITHIN;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let orders = (c..ORDERS).step_by(CLIENTS).collect();
            tokio::spawn(client(orders, url.clone(), accepted.clone(), deadline))
        })
        .collect();

    // When the runner is killed with SIGKILL while they post, and started
    // again each time with the same prefix on the same moto
    let mut kills = 0;
    // The killed runners, kept so their logs can be shown on failure.
    let mut killed = Vec::new();
    for at in KILL_AT {
        while accepted.load(Ordering::SeqCst) < at {
            assert!(
                Instant::now() < deadline,
                "only {} orders accepted; orders-local's log:\n{}",
                accepted.load(Ordering::SeqCst),
                pipeline.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            pipeline.kill(),
            "orders-local had exited:\n{}",
            pipeline.log()
        );
        kills += 1;
        killed.push(std::mem::replace(&mut pipeline, runs.start().await));
        *url.write().unwrap() = pipeline.url.clone();
    }
    let mut ok: Vec<usize> = Vec::new();
    for c in clients {
        ok.extend(c.await.unwrap());
    }
    ok.sort_unstable();

    // Then, once it has drained: every order a client got a 2xx for is
    // stored once, as sent, and announced at least once
    let events = runs.stack.queue_url("order-events-queue").await;
    let mut counts = BTreeMap::new();
    let deadline = Instant::now() + WITHIN;
    while ok.iter().any(|&i| !counts.contains_key(&order_id(i))) {
        if Instant::now() > deadline {
            for (n, run) in killed.iter().enumerate() {
                report(&format!("runner {n} (killed):\n{}", run.log()));
            }
            panic!(
                "announced {} of {} orders, stored {}; status {}; checkpoints {:?}; the last runner's log:\n{}",
                counts.len(),
                ok.len(),
                runs.scan().await.len(),
                status(&pipeline).await,
                runs.stack
                    .dynamo
                    .scan()
                    .table_name(orders_local::pipeline::checkpoint_table(
                        &runs.stack.name("orders")
                    ))
                    .send()
                    .await
                    .map(|out| out.items),
                pipeline.log()
            );
        }
        runs.receive_events(&events, &mut counts).await;
    }
    runs.drain_events(&events, &mut counts).await;
    let items = runs.scan().await;
    pipeline.stop();
    runs.drain_events(&events, &mut counts).await;

    let mut stored: HashMap<String, usize> = HashMap::new();
    for item in &items {
        let Some(AttributeValue::S(id)) = item.get(ORDER_ID_ATTRIBUTE) else {
            panic!("an item without {ORDER_ID_ATTRIBUTE}: {item:?}");
        };
        *stored.entry(id.clone()).or_default() += 1;
    }
    let duplicates: u32 = counts.values().map(|n| n - 1).sum();
    report(&format!(
        "restart ledger: orders {}, kills {kills}, stored {}, announced {}, duplicates {duplicates}, {:.1} s",
        ok.len(),
        stored.len(),
        counts.len(),
        began.elapsed().as_secs_f64()
    ));
    assert_eq!(ok, (0..ORDERS).collect::<Vec<_>>(), "every order accepted");
    assert_eq!(items.len(), ok.len(), "one item per order, nothing else");
    for &i in &ok {
        let id = order_id(i);
        assert_eq!(stored.get(&id), Some(&1), "{id} stored once");
        let item = items
            .iter()
            .find(|item| item.get(ORDER_ID_ATTRIBUTE) == Some(&AttributeValue::S(id.clone())))
            .unwrap();
        assert!(stored_as_sent(item, i), "{id} stored as sent: {item:?}");
        assert!(counts.get(&id).is_some_and(|&n| n >= 1), "{id} announced");
    }
    let unknown: Vec<_> = counts
        .keys()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    assert!(
        unknown.is_empty(),
        "announced but never stored: {unknown:?}"
    );
    // And only the batches in flight at a kill are announced again.
    let bound = kills * NOTIFIER_BATCH_SIZE;
    assert!(
        duplicates as usize <= bound,
        "{duplicates} duplicate notifications, more than {kills} kills × batch size {NOTIFIER_BATCH_SIZE}: {:?}",
        counts.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_nothing_new_announces_nothing_again_and_subscribes_nothing_twice() {
    let moto = require_moto!();
    let runs = Runs::new(moto, Some("orders-team@example.com"));
    let http = reqwest::Client::new();
    let post = |base: String, i: usize| {
        let http = http.clone();
        async move {
            let r = http
                .post(format!("{base}/orders"))
                .header("content-type", "application/json")
                .body(order_body(i).to_string())
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "order {i}: {}", r.status());
        }
    };

    // Given a runner that stored and announced five orders, then stopped
    let mut first = runs.start().await;
    for i in 0..5 {
        post(first.url.clone(), i).await;
    }
    let events = runs.stack.queue_url("order-events-queue").await;
    let mut counts = BTreeMap::new();
    let deadline = Instant::now() + WITHIN;
    while counts.len() < 5 {
        assert!(
            Instant::now() < deadline,
            "announced {counts:?}; log:\n{}",
            first.log()
        );
        runs.receive_events(&events, &mut counts).await;
    }
    first.stop();
    runs.drain_events(&events, &mut counts).await;
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");

    // When it starts again with the same prefix, and one new order arrives
    let second = runs.start().await;
    post(second.url.clone(), 5).await;

    // Then only the new order is announced. The stream is read in order, so
    // once the new order's record is done, whatever the restart read before
    // it has been published too.
    let mut after = BTreeMap::new();
    let deadline = Instant::now() + WITHIN;
    loop {
        runs.receive_events(&events, &mut after).await;
        let notified = status(&second).await["stages"]["notified"]
            .as_u64()
            .unwrap();
        if after.contains_key(&order_id(5)) && notified >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new order was not announced; log:\n{}",
            second.log()
        );
    }
    runs.drain_events(&events, &mut after).await;
    let stages = status(&second).await["stages"].clone();
    assert_eq!(
        after,
        BTreeMap::from([(order_id(5), 1)]),
        "announced after the restart; log:\n{}",
        second.log()
    );
    assert_eq!(stages["persisted"], 1, "INSERTs read after the restart");
    assert_eq!(stages["notified"], 1, "records notified after the restart");

    // And the restart reused the subscriptions instead of adding its own
    let subscriptions_of = |topic: String| {
        let sns = runs.stack.sns.clone();
        async move {
            sns.list_subscriptions_by_topic()
                .topic_arn(&topic)
                .send()
                .await
                .unwrap()
                .subscriptions
                .unwrap_or_default()
        }
    };
    let by_protocol = |subscriptions: &[aws_sdk_sns::types::Subscription], p: &str| {
        subscriptions
            .iter()
            .filter(|s| s.protocol() == Some(p))
            .count()
    };
    // The events topic: the events queue, the admin digest's queue and the
    // confirmations' queue.
    let events_topic = subscriptions_of(runs.stack.topic_arn().await).await;
    assert_eq!(by_protocol(&events_topic, "sqs"), 3, "{events_topic:?}");
    assert_eq!(by_protocol(&events_topic, "email"), 0, "{events_topic:?}");
    // The admin topic: the admin's e-mail.
    let admin_topic_arn = runs
        .stack
        .sns
        .create_topic()
        .name(runs.stack.name("admin"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let admin_topic = subscriptions_of(admin_topic_arn).await;
    assert_eq!(by_protocol(&admin_topic, "email"), 1, "{admin_topic:?}");
    assert_eq!(admin_topic.len(), 1, "{admin_topic:?}");

    // And the checkpoint is kept in the endpoint, for the table's stream
    let stream_arn = runs
        .stack
        .dynamo
        .describe_table()
        .table_name(runs.stack.name("orders"))
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .latest_stream_arn
        .unwrap();
    let checkpoints = runs
        .stack
        .dynamo
        .scan()
        .table_name(orders_local::pipeline::checkpoint_table(
            &runs.stack.name("orders"),
        ))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let (lease, shards): (Vec<_>, Vec<_>) = checkpoints
        .iter()
        .partition(|item| item.get("shardId") == Some(&AttributeValue::S("lease".to_owned())));
    assert_eq!(shards.len(), 1, "{checkpoints:?}");
    assert_eq!(
        shards[0].get("streamArn"),
        Some(&AttributeValue::S(stream_arn))
    );
    assert!(shards[0].contains_key("sequenceNumber"));
    // Beside the running runner's lease: the stopped one gave its own up.
    assert_eq!(lease.len(), 1, "{checkpoints:?}");
    let Some(AttributeValue::S(owner)) = lease[0].get("leaseOwner") else {
        panic!("a lease without an owner: {lease:?}");
    };
    assert!(
        second.log().contains(owner.as_str()),
        "{owner}: {}",
        second.log()
    );
    assert!(!first.log().contains(owner.as_str()), "{owner}");
}

/// Runs `orders-local` over `moto` with `prefix` until it exits (killed,
/// and the test failed, if it still runs after `within`); returns its exit
/// status and standard error.
fn run_to_exit(
    moto: &MotoServer,
    prefix: &str,
    within: Duration,
) -> (std::process::ExitStatus, String) {
    let log = std::env::temp_dir().join(format!("{}.log", orders_tests::unique_name("rst-second")));
    let mut child = std::process::Command::new(orders_tests::local::binary())
        .args(["--host", "127.0.0.1", "--port", "0", "--endpoint-url"])
        .arg(moto.endpoint())
        .args(["--region", orders_tests::REGION, "--name-prefix", prefix])
        .args(["--time-scale", "0.1", "--drain-timeout", "1"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the second runner still runs after {within:?}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    (status, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_runner_with_the_same_prefix_refuses_to_start_naming_the_first() {
    let moto = require_moto!();
    let runs = Runs::new(moto, None);

    // Given a runner reading its prefix's stream
    let first = runs.start().await;
    let lease = runs
        .stack
        .dynamo
        .get_item()
        .table_name(orders_local::pipeline::checkpoint_table(
            &runs.stack.name("orders"),
        ))
        .key("shardId", AttributeValue::S("lease".to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default();
    let Some(AttributeValue::S(owner)) = lease.get("leaseOwner") else {
        panic!("no lease in the checkpoint table: {lease:?}");
    };
    assert!(first.log().contains(owner.as_str()), "{owner}");

    // When a second one starts with the same prefix on the same endpoint
    let prefix = runs.stack.prefix.clone();
    let (status, stderr) =
        tokio::task::spawn_blocking(move || run_to_exit(moto, &prefix, Duration::from_secs(60)))
            .await
            .unwrap();

    // Then it exits non-zero, saying who holds the stream and until when
    assert!(!status.success(), "{status}: {stderr}");
    let said = stderr
        .lines()
        .find(|line| line.starts_with("orders-local: another runner reads the stream"))
        .unwrap_or_else(|| panic!("no refusal line in:\n{stderr}"));
    assert!(said.contains(owner.as_str()), "{said}");
    assert!(said.contains(&runs.stack.name("orders")), "{said}");
    assert!(
        said.contains(" until 20") && said.contains("unless renewed"),
        "{said}"
    );

    // And the first one goes on announcing orders, once each
    let r = reqwest::Client::new()
        .post(format!("{}/orders", first.url))
        .header("content-type", "application/json")
        .body(order_body(0).to_string())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let events = runs.stack.queue_url("order-events-queue").await;
    let mut counts = BTreeMap::new();
    let deadline = Instant::now() + WITHIN;
    while counts.is_empty() {
        assert!(Instant::now() < deadline, "not announced:\n{}", first.log());
        runs.receive_events(&events, &mut counts).await;
    }
    runs.drain_events(&events, &mut counts).await;
    assert_eq!(counts, BTreeMap::from([(order_id(0), 1)]));
}

#[tokio::test]
async fn a_resuming_reader_starts_after_its_checkpoint_and_a_new_one_at_the_trim_horizon() {
    let moto = require_moto!();
    let backends = orders_backends::backend::Backends::aws(&moto.sdk_config());
    let table = orders_tests::unique_name("rst-stream");
    let checkpoints = format!("{table}-checkpoints");
    backends.tables.create_table(&table).await.unwrap();
    backends
        .tables
        .create_checkpoint_table(&checkpoints)
        .await
        .unwrap();
    // Creating again reuses both.
    backends.tables.create_table(&table).await.unwrap();
    backends
        .tables
        .create_checkpoint_table(&checkpoints)
        .await
        .unwrap();
    for id in ["a", "b", "c"] {
        let item = serde_dynamo::Item::from(HashMap::from([(
            KEY_ATTRIBUTE.to_owned(),
            serde_dynamo::AttributeValue::S(id.to_owned()),
        )]));
        backends.tables.put(&table, item).await.unwrap();
    }
    let key = |r: &aws_lambda_events::event::dynamodb::EventRecord| match r
        .change
        .keys
        .get(KEY_ATTRIBUTE)
    {
        Some(serde_dynamo::AttributeValue::S(id)) => id.clone(),
        other => panic!("key {other:?}"),
    };
    // Each reader its own runner; each closed (its lease given up) before
    // the next opens.
    let lease = || LeaseSpec {
        owner: orders_tests::unique_name("rst-reader"),
        duration: Duration::from_secs(2),
    };

    // Given a reader with no checkpoint: it starts at the trim horizon
    let mut reader = backends
        .tables
        .open_stream_resuming(&table, &checkpoints, &lease())
        .await
        .unwrap();
    let read = services::read_stream(reader.as_mut(), 3, Duration::from_secs(10)).await;
    assert_eq!(read.iter().map(key).collect::<Vec<_>>(), ["a", "b", "c"]);

    // When it checkpoints after the second record
    let second = read[1].change.sequence_number.clone().unwrap();
    reader.checkpoint(&second).await.unwrap();
    reader.close().await.unwrap();

    // Then a new reader resumes after it
    let mut reader = backends
        .tables
        .open_stream_resuming(&table, &checkpoints, &lease())
        .await
        .unwrap();
    let again = services::read_stream(reader.as_mut(), 3, Duration::from_secs(3)).await;
    assert_eq!(again.iter().map(key).collect::<Vec<_>>(), ["c"]);
    reader.close().await.unwrap();

    // And a plain reader keeps reading from the trim horizon, saving nothing
    let mut plain = backends.tables.open_stream(&table).await.unwrap();
    let all = services::read_stream(plain.as_mut(), 3, Duration::from_secs(10)).await;
    assert_eq!(all.len(), 3);
    plain
        .checkpoint(all[2].change.sequence_number.as_deref().unwrap())
        .await
        .unwrap();
    let mut reader = backends
        .tables
        .open_stream_resuming(&table, &checkpoints, &lease())
        .await
        .unwrap();
    let again = services::read_stream(reader.as_mut(), 3, Duration::from_secs(3)).await;
    assert_eq!(again.iter().map(key).collect::<Vec<_>>(), ["c"]);
    reader.close().await.unwrap();

    let dynamo = aws_sdk_dynamodb::Client::new(&moto.sdk_config());
    for name in [&table, &checkpoints] {
        dynamo.delete_table().table_name(name).send().await.unwrap();
    }
}

#[tokio::test]
async fn queues_and_subscriptions_are_reused_when_created_again() {
    let moto = require_moto!();
    let backends = orders_backends::backend::Backends::aws(&moto.sdk_config());
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    let sns = aws_sdk_sns::Client::new(&moto.sdk_config());
    let name = orders_tests::unique_name("rst-queue");
    let spec = |secs| QueueSpec {
        name: name.clone(),
        fifo: false,
        visibility_timeout: Duration::from_secs(secs),
        redrive: None,
    };

    // Given a queue, created again with the same and then with other attributes
    let url = backends.queues.create_queue(&spec(30)).await.unwrap();
    assert_eq!(backends.queues.create_queue(&spec(30)).await.unwrap(), url);
    assert_eq!(backends.queues.create_queue(&spec(7)).await.unwrap(), url);
    // Then it is the same queue, with the latest attributes
    assert_eq!(
        queue_attribute(&sqs, &url, QueueAttributeName::VisibilityTimeout)
            .await
            .as_deref(),
        Some("7")
    );

    // Given a topic and the queue subscribed twice, the second time with
    // another filter policy
    let topic = backends
        .topics
        .create_topic(&orders_tests::unique_name("rst-topic"))
        .await
        .unwrap();
    let first = backends
        .topics
        .subscribe_queue(&topic, &url, Some(r#"{"eventType":["A"]}"#), false)
        .await
        .unwrap();
    let second = backends
        .topics
        .subscribe_queue(&topic, &url, Some(r#"{"eventType":["B"]}"#), true)
        .await
        .unwrap();
    let email = backends
        .topics
        .subscribe_email(&topic, "ops@example.com", None)
        .await
        .unwrap();
    let email_again = backends
        .topics
        .subscribe_email(&topic, "ops@example.com", None)
        .await
        .unwrap();

    // Then there is one subscription each, with the latest attributes
    assert_eq!(first, second);
    assert_eq!(email, email_again);
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap()
        .subscriptions
        .unwrap_or_default();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let attributes = sns
        .get_subscription_attributes()
        .subscription_arn(&first)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    assert_eq!(
        attributes.get("FilterPolicy").map(String::as_str),
        Some(r#"{"eventType":["B"]}"#)
    );
    assert_eq!(
        attributes.get("RawMessageDelivery").map(String::as_str),
        Some("true")
    );
    let distinct: HashSet<_> = listed.iter().filter_map(|s| s.endpoint()).collect();
    assert_eq!(distinct.len(), 2);

    sns.delete_topic().topic_arn(&topic).send().await.unwrap();
    sqs.delete_queue().queue_url(&url).send().await.unwrap();
}
