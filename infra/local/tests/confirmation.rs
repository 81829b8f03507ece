//! The customers' confirmations in the local pipeline, over the embedded
//! emulators: an order with a `customerEmail` gets one `.eml` under
//! `<outbox>/customers` and its status says `SENT`; posting it again adds
//! nothing; an order without an address says `NOT_REQUESTED` and sends
//! nothing; the claim and marks (stream `MODIFY` records) announce nothing.

// The whole file is test code; clippy's test allowance covers only `#[test]` fns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use orders_adapters::record::{ItemMapping, StoredOrder, order_key};
use orders_backends::backend::TableService as _;
use orders_backends::embedded::Embedded;
use orders_domain::contract::OrderCreated;
use orders_domain::model::{OrderId, OwnerKey};
use orders_domain::test_support::legacy_order;
use orders_local::{Pipeline, PipelineConfig, ResourceNames, TimeScale};
use serde_json::{Value, json};

const SCALE: f64 = 0.01;
const DEADLINE: Duration = Duration::from_secs(15);
const ADDRESS: &str = "harry@example.org";

struct Harness {
    pipeline: Pipeline,
    embedded: Embedded,
    http: reqwest::Client,
    outbox: PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.outbox);
    }
}

impl Harness {
    async fn start() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let outbox = std::env::temp_dir().join(format!("orders-local-confirm-{id}"));
        let embedded = Embedded::new(outbox.clone(), SCALE);
        let config = PipelineConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            names: ResourceNames::with_prefix(&format!("c{}-", &id[..8])),
            time_scale: TimeScale(SCALE),
            drain_timeout: Duration::from_secs(3),
            ..PipelineConfig::default()
        };
        let pipeline = Pipeline::start(config, embedded.backends()).await.unwrap();
        Self {
            pipeline,
            embedded,
            http: reqwest::Client::new(),
            outbox,
        }
    }

    async fn post(&self, body: &Value) {
        let response = self
            .http
            .post(format!("{}/orders", self.pipeline.url()))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }

    async fn order_status(&self, id: &str) -> Value {
        self.http
            .get(format!("{}/orders/{id}", self.pipeline.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until the order's confirmation is `state`.
    async fn confirmation_becomes(&self, id: &str, state: &str) -> Value {
        let start = Instant::now();
        loop {
            let status = self.order_status(id).await;
            if status["confirmation"] == state {
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "{id}: {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the confirmation queue holds nothing.
    async fn drained(&self) {
        let start = Instant::now();
        loop {
            let s = self.pipeline.status().await;
            let q = &s.queues["confirmation"];
            if q.visible + q.in_flight == 0 && s.stages.notified == s.stages.persisted {
                return;
            }
            assert!(start.elapsed() < DEADLINE, "{s:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn customer_emails(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.outbox.join("customers")) else {
            return Vec::new();
        };
        dir.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }
}

fn with_address(id: &str) -> Value {
    let mut body = legacy_order(id);
    body["customerEmail"] = json!(ADDRESS);
    body["currency"] = json!("EUR");
    body["items"][0]["unitPrice"] = json!(150);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_with_an_address_is_confirmed_once_and_one_without_is_not_requested() {
    let h = Harness::start().await;
    // Given an order with an address and one without
    h.post(&with_address("conf-1")).await;
    h.post(&legacy_order("conf-2")).await;
    // Then the first is SENT, with one .eml addressed to the customer
    let status = h.confirmation_becomes("conf-1", "SENT").await;
    assert!(!status.to_string().contains(ADDRESS), "{status}");
    h.confirmation_becomes("conf-2", "NOT_REQUESTED").await;
    h.drained().await;
    let emails = h.customer_emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
    let eml = &emails[0];
    assert!(eml.contains(&format!("To: {ADDRESS}\r\n")), "{eml}");
    assert!(eml.contains("From: orders@orders-local.example\r\n"));
    assert!(eml.contains("Subject: Your order conf-1 is confirmed\r\n"));
    assert!(eml.contains("Content-Type: multipart/alternative"));
    assert_eq!(h.embedded.mail.sent(), 1);
    let notified = h.pipeline.status().await.stages.notified;
    assert_eq!(notified, 2, "the claim and the mark announced nothing");

    // When the order is posted again (a client's retry)
    h.post(&with_address("conf-1")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.drained().await;
    // Then nothing new is sent and nothing new announced
    assert_eq!(h.customer_emails().len(), 1);
    assert_eq!(h.pipeline.status().await.stages.notified, 2);

    // When its event is announced again (what a renotify or a redrive does)
    let table = &h.pipeline.resources().table;
    let key = order_key(&OwnerKey::anonymous(), &OrderId::parse("conf-1").unwrap());
    let item = h.embedded.tables.get(table, &key).await.unwrap().unwrap();
    let stored = StoredOrder::from_item(item).unwrap();
    let event = OrderCreated::new(
        stored.owner.clone(),
        stored.order_id.clone(),
        stored.correlation_id.clone(),
        stored.accepted_at,
        stored.created_at,
        &stored.order,
    );
    h.embedded
        .backends()
        .topics
        .event_publisher(&h.pipeline.resources().topic_arn)
        .publish(&event)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.drained().await;
    // Then the sent mark is found first and nothing is sent
    assert_eq!(h.customer_emails().len(), 1);
    assert_eq!(h.embedded.mail.sent(), 1);
    assert_eq!(h.order_status("conf-1").await["confirmation"], "SENT");
}
