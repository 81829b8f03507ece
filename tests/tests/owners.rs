//! Orders belong to their caller, end to end: `orders-local` with its JWT
//! authorizer (`--auth jwt`) on the embedded emulators and on the AWS SDK
//! backends over moto. Two users post the same `orderID` with different
//! content; both are stored and each reads their own; a third user's `GET`
//! answers as an unknown id does; a second version from the same user is a
//! conflict, dead-lettered at once; the events carry opaque owner keys only.

// Test code, helpers included: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use orders_backends::backend::Backends;
use orders_domain::contract::OrderCreated;
use orders_domain::test_support::legacy_order;
use orders_local::{LocalAuth, Pipeline, PipelineConfig, ResourceNames};
use orders_tests::unique_name;
use serde_json::{Value, json};

/// How long an order may take to be stored (moto is slow).
const WITHIN: Duration = Duration::from_secs(60);

async fn start(backends: &Backends) -> Pipeline {
    let config = PipelineConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        names: ResourceNames::with_prefix(&unique_name("ow")),
        drain_timeout: Duration::from_secs(1),
        auth: LocalAuth::Jwt,
        ..PipelineConfig::default()
    };
    Pipeline::start(config, backends.clone()).await.unwrap()
}

/// One user of the runner's authorizer.
struct User<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    token: String,
}

impl User<'_> {
    async fn post(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/orders", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, order_id: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/orders/{order_id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    /// GETs the order until it is stored; every earlier answer is the 404.
    async fn poll_until_stored(&self, order_id: &str) -> Value {
        let deadline = Instant::now() + WITHIN;
        loop {
            let response = self.get(order_id).await;
            match response.status().as_u16() {
                200 => return response.json().await.unwrap(),
                404 => {}
                other => panic!("{other} {}", response.text().await.unwrap()),
            }
            assert!(
                Instant::now() < deadline,
                "{order_id} not stored within {WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A problem answer as a client can tell it apart: status, `Retry-After`,
/// and the body but its correlation id, with `order_id` written as `ID`.
async fn comparable(response: reqwest::Response, order_id: &str) -> (u16, Option<String>, String) {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let mut body: Value = response.json().await.unwrap();
    body.as_object_mut().unwrap().remove("correlationId");
    (
        status,
        retry_after,
        body.to_string().replace(order_id, "ID"),
    )
}

fn with_quantity(order_id: &str, quantity: u32) -> Value {
    let mut body = legacy_order(order_id);
    body["items"][0]["quantity"] = json!(quantity);
    body
}

async fn two_owners_share_an_order_id_and_neither_sees_the_other(backends: &Backends) {
    let pipeline = start(backends).await;
    let http = reqwest::Client::new();
    let base = pipeline.url();
    let user = |name: &str| User {
        http: &http,
        base,
        token: pipeline.mint_token(name).unwrap(),
    };
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    let id = unique_name("shared-");

    // When alice and bob post the same orderID with different content
    assert_eq!(alice.post(&with_quantity(&id, 22)).await.status(), 202);
    assert_eq!(bob.post(&with_quantity(&id, 5)).await.status(), 202);

    // Then both are stored, and each reads their own
    assert_eq!(
        alice.poll_until_stored(&id).await["items"][0]["quantity"],
        22
    );
    assert_eq!(bob.poll_until_stored(&id).await["items"][0]["quantity"], 5);

    // And a third user's GET answers exactly as an id nobody posted
    let unknown = unique_name("unknown-");
    let theirs = comparable(carol.get(&id).await, &id).await;
    let never = comparable(carol.get(&unknown).await, &unknown).await;
    assert_eq!(theirs.0, 404);
    assert_eq!(theirs, never);

    // And without a token the authorizer answers 401 before any function
    let anonymous = http
        .get(format!("{base}/orders/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // And alice's second version of her order is a conflict: dead-lettered
    // at once, her stored order unchanged
    let resources = pipeline.resources().clone();
    assert_eq!(alice.post(&with_quantity(&id, 23)).await.status(), 202);
    let deadline = Instant::now() + WITHIN;
    loop {
        let depth = backends
            .queues
            .depth(&resources.orders_dlq_url)
            .await
            .unwrap();
        if depth.visible + depth.in_flight >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the conflict was not dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        alice.poll_until_stored(&id).await["items"][0]["quantity"],
        22
    );

    // And each order was announced with its own opaque owner: two events,
    // two owner keys, neither a subject nor the issuer
    let mut events = Vec::new();
    let deadline = Instant::now() + WITHIN;
    while events.len() < 2 {
        assert!(Instant::now() < deadline, "events: {events:?}");
        let received = backends
            .queues
            .receive(&resources.events_queue_url, 10, Duration::from_secs(1))
            .await
            .unwrap();
        for message in received {
            let event = OrderCreated::from_sqs_body(&message.body).unwrap();
            if event.order_id.as_str() == id {
                events.push((event, message.body));
            }
        }
    }
    assert_ne!(events[0].0.owner, events[1].0.owner);
    assert_ne!(events[0].0.event_id, events[1].0.event_id);
    for (event, body) in &events {
        assert!(event.event_id.contains(event.owner.as_str()));
        for identity in [
            "alice",
            "bob",
            orders_local::gateway::authorizer::LOCAL_ISSUER,
        ] {
            assert!(!body.contains(identity), "{body}");
        }
    }

    pipeline.shutdown().await;
}

orders_tests::on_both_backends!(two_owners_share_an_order_id_and_neither_sees_the_other);
