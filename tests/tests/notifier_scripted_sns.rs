//! The notifier through the real SNS adapter against a scripted SNS: a local
//! HTTP server that speaks the SNS Query protocol
//! (<https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html>) and
//! refuses what the test tells it to. moto accepts every entry, so it cannot
//! show what the notifier does with a throttled entry or a failed call.
//!
//! What must hold: every order is accepted by SNS exactly once, whichever
//! entries or calls were refused on the way.

// Test code, helpers included: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_sns::config::{Credentials, SharedCredentialsProvider};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lambda_runtime::{Context, LambdaEvent};
use orders_adapters::aws::SnsEventPublisher;
use orders_adapters::memory::MemoryDeadLetters;
use orders_adapters::record::ItemMapping;
use orders_domain::contract::OrderCreated;
use orders_tests::fixtures::{order_created, order_message, stored_order};

/// What the scripted SNS does with the calls it gets, in order.
#[derive(Debug, Clone, Copy)]
enum Script {
    /// Answer the whole call with a throttling error.
    FailCall,
    /// Throttle the entries at these positions of the call; accept the rest.
    ThrottleEntries(&'static [usize]),
}

#[derive(Default)]
struct Sns {
    /// What to do with the next calls; a call past the script accepts all.
    script: Mutex<Vec<Script>>,
    /// How many times SNS accepted each event, by `eventId`.
    accepted: Mutex<BTreeMap<String, usize>>,
    /// Entries per `PublishBatch` call, refused or not.
    calls: Mutex<Vec<usize>>,
}

const THROTTLED_CALL: &str = r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>scripted</RequestId></ErrorResponse>"#;

async fn sns(State(sns): State<Arc<Sns>>, body: Bytes) -> axum::response::Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    assert_eq!(
        form.get("Action").map(String::as_str),
        Some("PublishBatch"),
        "{form:?}"
    );
    // Entries are members 1..n, each with its Id and Message.
    let mut entries = Vec::new();
    for n in 1.. {
        let Some(id) = form.get(&format!("PublishBatchRequestEntries.member.{n}.Id")) else {
            break;
        };
        let message = &form[&format!("PublishBatchRequestEntries.member.{n}.Message")];
        assert!(
            !form.contains_key(&format!(
                "PublishBatchRequestEntries.member.{n}.MessageStructure"
            )),
            "events are String-structure messages"
        );
        entries.push((
            id.clone(),
            serde_json::from_str::<OrderCreated>(message).unwrap(),
        ));
    }
    sns.calls.lock().unwrap().push(entries.len());
    let step = {
        let mut script = sns.script.lock().unwrap();
        (!script.is_empty()).then(|| script.remove(0))
    };
    let throttled: &[usize] = match step {
        Some(Script::FailCall) => {
            return (
                StatusCode::BAD_REQUEST,
                [("content-type", "text/xml")],
                THROTTLED_CALL,
            )
                .into_response();
        }
        Some(Script::ThrottleEntries(positions)) => positions,
        None => &[],
    };
    let (mut ok, mut failed) = (String::new(), String::new());
    for (position, (id, event)) in entries.iter().enumerate() {
        if throttled.contains(&position) {
            failed += &format!(
                "<member><Id>{id}</Id><Code>Throttling</Code><Message>Rate exceeded</Message><SenderFault>false</SenderFault></member>"
            );
        } else {
            *sns.accepted
                .lock()
                .unwrap()
                .entry(event.event_id.clone())
                .or_insert(0) += 1;
            ok += &format!("<member><Id>{id}</Id><MessageId>m-{id}</MessageId></member>");
        }
    }
    let xml = format!(
        r#"<PublishBatchResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishBatchResult><Successful>{ok}</Successful><Failed>{failed}</Failed></PublishBatchResult><ResponseMetadata><RequestId>scripted</RequestId></ResponseMetadata></PublishBatchResponse>"#
    );
    ([("content-type", "text/xml")], xml).into_response()
}

/// Starts the scripted SNS on 127.0.0.1; returns its state and endpoint.
async fn start(script: Vec<Script>) -> (Arc<Sns>, String) {
    let state = Arc::new(Sns {
        script: Mutex::new(script),
        ..Sns::default()
    });
    let app = axum::Router::new()
        .route("/", axum::routing::post(sns))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (state, endpoint)
}

fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "tests",
        )))
        .endpoint_url(endpoint)
        .build()
}

/// Ten INSERT records of new orders, as the stream delivers them.
fn ten_inserts() -> (LambdaEvent<Event>, Vec<String>) {
    let mut records = Vec::new();
    let mut event_ids = Vec::new();
    for i in 0..10 {
        let stored = stored_order(&order_message(&format!("scripted-{i}"), "Harry Kane", 2));
        event_ids.push(order_created(&stored).event_id);
        let image: serde_dynamo::Item = stored.to_item().unwrap();
        records.push(serde_json::json!({
            "eventID": format!("e-{i}"),
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"orderKey": {"S": format!("anonymous#scripted-{i}")}},
                "NewImage": serde_json::to_value(image).unwrap(),
                "SequenceNumber": format!("{}", 100 + i),
                "SizeBytes": 400,
                "StreamViewType": "NEW_AND_OLD_IMAGES"
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/1"
        }));
    }
    let payload: Event = serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
    let mut context = Context::default();
    // A notifier invocation's time: its 10-second timeout.
    let deadline = SystemTime::now() + Duration::from_secs(10);
    context.deadline = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    (LambdaEvent::new(payload, context), event_ids)
}

async fn run(script: Vec<Script>) -> (Arc<Sns>, Vec<String>) {
    let (sns, endpoint) = start(script).await;
    let config = sdk_config(&endpoint);
    let publisher = SnsEventPublisher::new(
        aws_sdk_sns::Client::new(&config),
        "arn:aws:sns:us-east-1:123456789012:events",
    );
    let deps = notifier::Deps::new(Arc::new(publisher), Arc::new(MemoryDeadLetters::default()));
    let (event, event_ids) = ten_inserts();
    let response = notifier::handle(&deps, event).await.unwrap();
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
    (sns, event_ids)
}

fn assert_each_accepted_once(sns: &Sns, event_ids: &[String]) {
    let accepted = sns.accepted.lock().unwrap();
    for id in event_ids {
        assert_eq!(accepted.get(id), Some(&1), "event {id}: {accepted:?}");
    }
    assert_eq!(accepted.len(), event_ids.len());
}

#[tokio::test]
async fn given_the_first_entry_throttled_once_when_notified_then_every_order_is_accepted_exactly_once()
 {
    let (sns, event_ids) = run(vec![Script::ThrottleEntries(&[0])]).await;

    assert_each_accepted_once(&sns, &event_ids);
    // The retry carried the refused entry alone.
    assert_eq!(*sns.calls.lock().unwrap(), [10, 1]);
}

#[tokio::test]
async fn given_a_whole_call_failing_once_when_notified_then_every_order_is_accepted_exactly_once() {
    let (sns, event_ids) = run(vec![Script::FailCall]).await;

    assert_each_accepted_once(&sns, &event_ids);
    // Refused as a whole, then sent again as a whole (by the SDK's own
    // retry or the notifier's).
    assert_eq!(*sns.calls.lock().unwrap(), [10, 10]);
}

#[tokio::test]
async fn given_entries_throttled_in_several_calls_when_notified_then_only_refused_entries_are_sent_again()
 {
    let (sns, event_ids) = run(vec![
        Script::ThrottleEntries(&[2, 5, 9]),
        Script::ThrottleEntries(&[1]),
    ])
    .await;

    assert_each_accepted_once(&sns, &event_ids);
    assert_eq!(*sns.calls.lock().unwrap(), [10, 3, 1]);
}
