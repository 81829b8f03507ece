//! `GET /orders/{orderId}` end to end: the `Location` of a `202` answers `404`
//! with `Retry-After` until the order is stored, then `200` with its status,
//! through the shipped intake, worker and status handlers behind
//! `orders-local`'s emulated API Gateway.
//!
//! The in-process cases run on both backends (`on_both_backends!`: the
//! embedded emulators, and the AWS SDK adapters over moto) with the worker's
//! store held shut by a gate, so "before persistence" is a state the test
//! sets, not a race it hopes to win. The last case runs the `orders-local`
//! binary over moto, as a client would use it.

// Test code, helpers included: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use orders_adapters::ports::{OrderStore, PortError, PutOutcome};
use orders_adapters::record::StoredOrder;
use orders_backends::backend::Backends;
use orders_domain::model::{OrderId, OwnerKey};
use orders_domain::test_support::{LEGACY_CUSTOMER_NAME, LEGACY_SHIPPING_ADDRESS, legacy_order};
use orders_local::{Pipeline, PipelineConfig, Ports, ResourceNames};
use orders_tests::fixtures::{order_message, stored_order};
use orders_tests::{MotoStack, require_moto, unique_name};
use serde_json::{Value, json};
use tokio::sync::watch;

/// How long an order may take to be stored once the gate opens (moto is slow).
const WITHIN: Duration = Duration::from_secs(60);

/// The personal data of [`order_body`], which no status answer may hold.
const PERSONAL: [&str; 3] = [
    LEGACY_CUSTOMER_NAME,
    LEGACY_SHIPPING_ADDRESS,
    "harry@example.com",
];

/// The legacy order with an e-mail and a price.
fn order_body(order_id: &str) -> Value {
    let mut body = legacy_order(order_id);
    body["customerEmail"] = json!(PERSONAL[2]);
    body["currency"] = json!("EUR");
    body["items"][0]["unitPrice"] = json!(150);
    body
}

/// The worker's store behind a gate: every put waits until the gate opens.
struct GatedStore {
    inner: Arc<dyn OrderStore>,
    open: watch::Receiver<bool>,
}

#[async_trait]
impl OrderStore for GatedStore {
    async fn put_if_absent(&self, order: &StoredOrder) -> Result<PutOutcome, PortError> {
        let mut open = self.open.clone();
        // The sender lives as long as the test; a closed gate would be a bug here.
        open.wait_for(|open| *open).await.unwrap();
        self.inner.put_if_absent(order).await
    }
}

async fn start_gated(backends: &Backends) -> (Pipeline, watch::Sender<bool>) {
    let (gate, open) = watch::channel(false);
    let config = PipelineConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        names: ResourceNames::with_prefix(&unique_name("st")),
        drain_timeout: Duration::from_secs(1),
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::start_with(config, backends.clone(), |ports| Ports {
        store: Arc::new(GatedStore {
            inner: ports.store.clone(),
            open,
        }),
        ..ports
    })
    .await
    .unwrap();
    (pipeline, gate)
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap())
}

/// GETs `url` until it answers 200, failing after [`WITHIN`]; every earlier
/// answer must be the documented 404.
async fn poll_until_stored(http: &reqwest::Client, url: &str) -> Value {
    let deadline = Instant::now() + WITHIN;
    loop {
        let response = http.get(url).send().await.unwrap();
        match response.status().as_u16() {
            200 => return response.json().await.unwrap(),
            404 => assert_eq!(header(&response, "retry-after"), Some("1")),
            other => panic!("{url}: {other} {}", response.text().await.unwrap()),
        }
        assert!(Instant::now() < deadline, "{url} not 200 within {WITHIN:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The 200 body of [`order_body`] stored under `order_id`.
fn assert_public_view(body: &Value, order_id: &str) {
    assert_eq!(body["orderId"], order_id);
    assert_eq!(body["status"], "CREATED");
    assert_eq!(
        body["items"],
        json!([{"itemId": "item456", "quantity": 22, "unitPrice": 150}])
    );
    assert_eq!(body["currency"], "EUR");
    assert_eq!(body["total"], 22 * 150);
    let accepted = time::OffsetDateTime::parse(
        body["acceptedAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let created = time::OffsetDateTime::parse(
        body["createdAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(accepted <= created, "{body}");
    let text = body.to_string();
    for personal in PERSONAL {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
}

// ---- on both backends ----------------------------------------------------

async fn location_is_404_with_retry_after_before_persistence_and_200_after(backends: &Backends) {
    let (pipeline, gate) = start_gated(backends).await;
    let http = reqwest::Client::new();
    let order_id = unique_name("status-");

    // Given an accepted order, its worker held before the put
    let accepted = http
        .post(format!("{}/orders", pipeline.url()))
        .json(&order_body(&order_id))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status().as_u16(), 202);
    let location = header(&accepted, "location").unwrap().to_owned();
    assert_eq!(location, format!("/orders/{order_id}"));
    let url = format!("{}{location}", pipeline.url());

    // When its Location is read before the order is stored
    let early = http
        .get(&url)
        .header("x-correlation-id", "status-e2e-1")
        .send()
        .await
        .unwrap();

    // Then it is a 404 problem that says to ask again after a second
    assert_eq!(early.status().as_u16(), 404);
    assert_eq!(header(&early, "retry-after"), Some("1"));
    assert_eq!(
        header(&early, "content-type"),
        Some("application/problem+json")
    );
    assert_eq!(header(&early, "x-correlation-id"), Some("status-e2e-1"));
    let problem: Value = early.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/order-not-found");
    assert_eq!(problem["correlationId"], "status-e2e-1");

    // When the worker may store it
    gate.send(true).unwrap();

    // Then the same Location answers 200 with the order's public view
    let body = poll_until_stored(&http, &url).await;
    assert_public_view(&body, &order_id);

    // And an id never accepted stays a 404, a malformed one is a 400
    let never = http
        .get(format!(
            "{}/orders/{}",
            pipeline.url(),
            unique_name("never-")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(never.status().as_u16(), 404);
    let bad = http
        .get(format!("{}/orders/not%20an%20id", pipeline.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(problem["errors"][0]["parameter"], "orderId");

    pipeline.shutdown().await;
}

async fn the_order_reader_reads_what_the_worker_stored(backends: &Backends) {
    // Given a table, its worker store and its status reader
    let table = unique_name("reader-");
    backends.tables.create_table(&table).await.unwrap();
    let store = backends.tables.order_store(&table);
    let reader = backends.tables.order_reader(&table);
    let message = order_message(&unique_name("r-"), "Ada Lovelace", 3);
    let id = message.order_id.clone();
    let owner = message.owner.clone();

    // Then nothing is read before the put, and the stored order after it
    assert_eq!(reader.get(&owner, &id).await.unwrap(), None);
    let stored = stored_order(&message);
    assert_eq!(
        store.put_if_absent(&stored).await.unwrap(),
        PutOutcome::Created
    );
    assert_eq!(reader.get(&owner, &id).await.unwrap(), Some(stored.clone()));
    let other = OrderId::parse(&unique_name("absent-")).unwrap();
    assert_eq!(reader.get(&owner, &other).await.unwrap(), None);

    // And another owner's order with the same id and other content is
    // another order: stored beside the first, each read by its own owner,
    // neither seen by a third
    let bob = OwnerKey::parse("0123456789abcdef0123456789abcdef").unwrap();
    let mut bobs_message = order_message(id.as_str(), "Bob", 5);
    bobs_message.owner = bob.clone();
    let bobs = stored_order(&bobs_message);
    assert_eq!(
        store.put_if_absent(&bobs).await.unwrap(),
        PutOutcome::Created
    );
    assert_eq!(reader.get(&bob, &id).await.unwrap(), Some(bobs));
    assert_eq!(reader.get(&owner, &id).await.unwrap(), Some(stored));
    let carol = OwnerKey::parse("fedcba9876543210fedcba9876543210").unwrap();
    assert_eq!(reader.get(&carol, &id).await.unwrap(), None);
}

orders_tests::on_both_backends!(
    location_is_404_with_retry_after_before_persistence_and_200_after,
    the_order_reader_reads_what_the_worker_stored,
);

// ---- the orders-local binary over moto -----------------------------------

#[tokio::test]
async fn over_moto_the_location_of_a_202_answers_the_order_status_once_persisted() {
    let moto = require_moto!();
    let stack = MotoStack::new(moto, "status");
    let pipeline = stack
        .start(&["--time-scale", "0.02", "--drain-timeout", "1"])
        .await;
    let http = reqwest::Client::new();
    let order_id = unique_name("moto-status-");

    // Given an order posted as a client would
    let accepted = http
        .post(format!("{}/orders", pipeline.url))
        .json(&order_body(&order_id))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status().as_u16(), 202, "{}", pipeline.log());
    let location = header(&accepted, "location").unwrap().to_owned();

    // Then following its Location ends in 200 with the order's public view
    // (every earlier answer a 404 with Retry-After)
    let body = poll_until_stored(&http, &format!("{}{location}", pipeline.url)).await;
    assert_public_view(&body, &order_id);

    // And the status function's log names ids only
    let log = pipeline.log();
    assert!(log.contains("order status read"), "{log}");
    for personal in PERSONAL {
        assert!(!log.contains(personal), "{personal} logged");
    }
}
