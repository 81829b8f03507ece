//! Careful clients: each posts its orders over HTTP and, on a connection
//! error, a timeout or a `5xx`, retries the same body with the same id
//! (`orderID`, or the `Idempotency-Key` header for the orders sent without
//! one), some retries soon and some after the FIFO deduplication window.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};

use super::faults::draw;

/// Attempts per order before a client gives up (never reached in a healthy run).
const MAX_ATTEMPTS: u32 = 40;

/// What one order's client was finally told.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The body sent (every attempt sent this same body).
    pub body: Value,
    /// The `Idempotency-Key` header sent, when the body has no `orderID`.
    pub key: Option<String>,
}

/// What the clients saw, by order id of the `2xx` answers.
#[derive(Debug, Default)]
pub struct ClientLog {
    /// Orders a client got a `2xx` for, by the order id in the answer.
    pub accepted: Mutex<HashMap<String, Accepted>>,
    /// Retries after an error or a `5xx`.
    pub retries: AtomicU64,
    /// Of those, retries sent after the deduplication window.
    pub late_retries: AtomicU64,
    /// `4xx` answers (a bug: every body is valid).
    pub rejected: AtomicU64,
    /// Orders given up after [`MAX_ATTEMPTS`].
    pub gave_up: AtomicU64,
}

/// How the clients behave.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL of the emulated HTTP API.
    pub url: String,
    /// Seed of the bodies and retry delays.
    pub seed: u64,
    /// Orders in all.
    pub orders: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Wait of a late retry: past the (scaled) deduplication window.
    pub late_retry_after: Duration,
}

/// Order `i`'s body and, for one in four, its key header instead of `orderID`.
pub fn order(seed: u64, i: usize) -> Accepted {
    let id = format!("chaos-{seed}-{i}");
    let customer = draw(seed, &[11], &id, 50);
    let lines = 1 + draw(seed, &[12], &id, 3);
    let items: Vec<Value> = (0..lines)
        .map(|l| {
            json!({
                "itemId": format!("item-{}", draw(seed, &[13, l], &id, 1000) * 3 + l),
                "quantity": 1 + draw(seed, &[14, l], &id, 20),
                "unitPrice": 100 + draw(seed, &[15, l], &id, 10_000),
            })
        })
        .collect();
    let mut body = json!({
        "customerName": format!("Customer {customer}"),
        "shippingAddress": format!("{customer} Chaos Street, Testville"),
        "currency": "EUR",
        "items": items,
    });
    // One order in three asks for a confirmation e-mail.
    if draw(seed, &[17], &id, 3) == 0 {
        body["customerEmail"] = json!(format!("customer{customer}@chaos.example"));
    }
    if draw(seed, &[16], &id, 4) == 0 {
        Accepted {
            body,
            key: Some(id),
        }
    } else {
        body["orderID"] = json!(id);
        Accepted { body, key: None }
    }
}

/// Runs the clients to the end of the orders.
pub async fn run(config: ClientConfig, log: Arc<ClientLog>) {
    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::builder()
        .timeout(config.timeout)
        .build()
        .unwrap_or_default();
    let mut tasks = Vec::with_capacity(config.clients);
    for _ in 0..config.clients {
        let (next, http, log, config) = (next.clone(), http.clone(), log.clone(), config.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= config.orders {
                    return;
                }
                send(&http, &config, i, &log).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

async fn send(http: &reqwest::Client, config: &ClientConfig, i: usize, log: &ClientLog) {
    let order = order(config.seed, i);
    let body = order.body.to_string();
    for attempt in 1..=MAX_ATTEMPTS {
        let mut request = http
            .post(format!("{}/orders", config.url))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(key) = &order.key {
            request = request.header("idempotency-key", key);
        }
        let outcome = request.send().await;
        match outcome {
            Ok(response) if response.status().is_success() => {
                let answer: Value = response.json().await.unwrap_or_default();
                let id = answer["orderId"].as_str().unwrap_or_default().to_owned();
                log.accepted
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(id, order);
                return;
            }
            Ok(response) if response.status().is_client_error() => {
                log.rejected.fetch_add(1, Ordering::Relaxed);
                return;
            }
            // A 5xx, a connection error or a timeout: retry the same request.
            _ => {
                log.retries.fetch_add(1, Ordering::Relaxed);
                let id = format!("{}-{i}", config.seed);
                let late = draw(config.seed, &[17, u64::from(attempt)], &id, 5) == 0;
                let wait = if late {
                    log.late_retries.fetch_add(1, Ordering::Relaxed);
                    config.late_retry_after
                } else {
                    Duration::from_millis(20 * u64::from(attempt))
                };
                tokio::time::sleep(wait).await;
            }
        }
    }
    log.gave_up.fetch_add(1, Ordering::Relaxed);
}
