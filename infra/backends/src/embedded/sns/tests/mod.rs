//! Tests of the embedded SNS, on a clock moved by hand: delivery and
//! `PublishBatch` ([`delivery`]), the AWS rules it enforces ([`aws_rules`]),
//! and the ports it offers ([`ports`]).

mod aws_rules;
mod delivery;
mod ports;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::macros::datetime;

use super::*;
use crate::backend::{QueueSpec, ReceivedMessage};

/// A test's topic, its services and its clock.
struct Setup {
    queues: EmbeddedQueues,
    topics: EmbeddedTopics,
    topic: String,
    outbox: PathBuf,
    clock: ManualClock,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.outbox);
    }
}

async fn setup() -> Setup {
    let queues = EmbeddedQueues::new(1.0);
    let outbox = std::env::temp_dir().join(format!("orders-local-sns-{}", uuid::Uuid::new_v4()));
    let clock = ManualClock::new(datetime!(2026-11-24 10:00:00 UTC));
    let topics = EmbeddedTopics::with_clock(
        queues.clone(),
        outbox.clone(),
        "us-east-1",
        Arc::new(clock.clone()),
    );
    let topic = topics.create_topic("events").await.unwrap();
    Setup {
        queues,
        topics,
        topic,
        outbox,
        clock,
    }
}

async fn standard(queues: &EmbeddedQueues, name: &str) -> String {
    queues
        .create_queue(&QueueSpec {
            name: name.into(),
            fifo: false,
            visibility_timeout: Duration::from_secs(30),
            redrive: None,
        })
        .await
        .unwrap()
}

/// Everything on a queue now.
async fn received(queues: &EmbeddedQueues, url: &str) -> Vec<ReceivedMessage> {
    queues.receive(url, 10, Duration::ZERO).await.unwrap()
}

fn attributes(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A String-structure message with the events' attributes.
fn text_publication() -> Publication {
    Publication {
        message: r#"{"x":1}"#.into(),
        json_structure: false,
        subject: None,
        attributes: attributes(&[("eventType", "OrderCreated"), ("schemaVersion", "2")]),
    }
}

/// A JSON-structured message (one rendering per protocol) with the same
/// attributes.
fn json_publication() -> Publication {
    Publication {
        message: r#"{"default":"{\"x\":1}","email":"Hello"}"#.into(),
        json_structure: true,
        subject: Some("New order 1".into()),
        attributes: attributes(&[("eventType", "OrderCreated"), ("schemaVersion", "2")]),
    }
}

/// The names of the outbox's files, sorted (after the writer caught up).
async fn outbox_files(topics: &EmbeddedTopics, outbox: &Path) -> Vec<String> {
    topics.delivered().await;
    let Ok(dir) = std::fs::read_dir(outbox) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The envelope's `MessageAttributes`, by name → value (`None` without the key).
fn envelope_attributes(body: &str) -> Option<HashMap<String, String>> {
    let envelope: serde_json::Value = serde_json::from_str(body).unwrap();
    let attributes = envelope.get("MessageAttributes")?.as_object()?;
    Some(
        attributes
            .iter()
            .map(|(k, v)| (k.clone(), v["Value"].as_str().unwrap().to_owned()))
            .collect(),
    )
}
