//! Every `orders-ops` subcommand over moto, run as the binary an operator
//! runs, against resources `orders-local` created under a unique name prefix
//! (its in-process `Pipeline`, started and stopped by the test) or a small
//! CloudFormation stack.
//!
//! moto has no `StartMessageMoveTask` (it answers 500), so the worker DLQ
//! redrive here takes the receive → send → delete path.

// Test code, helpers included: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::process::Output;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use orders_adapters::ports::{
    CORRELATION_ID_ATTRIBUTE, DEAD_LETTER_ORDER_ID_ATTRIBUTE, DEAD_LETTER_REASON_ATTRIBUTE,
    DEAD_LETTER_SOURCE_MESSAGE_ID_ATTRIBUTE, DEAD_LETTER_STAGE_ATTRIBUTE, DeadLetterReason,
};
use orders_adapters::record::{ItemMapping, KEY_ATTRIBUTE};
use orders_domain::contract::OrderCreated;
use orders_local::{Pipeline, PipelineConfig, ResourceNames, TimeScale};
use orders_ops::target::PrefixNames;
use orders_tests::fixtures::{order_message, stored_order};
use orders_tests::services::drain;
use orders_tests::{MotoServer, MotoStack, REGION, queue_attribute, require_moto};
use serde_json::Value;

const WITHIN: Duration = Duration::from_secs(60);

/// Runs `orders-ops` with `args` against moto; the blocking wait runs on a
/// blocking thread so the test's runtime keeps going.
async fn ops(moto: &MotoServer, args: &[&str]) -> Output {
    let mut all: Vec<String> = vec![
        "--endpoint-url".into(),
        moto.endpoint().into(),
        "--region".into(),
        REGION.into(),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_orders-ops"))
            .args(&all)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `orders-ops --name-prefix P args` and expects success.
async fn ok(moto: &MotoServer, stack: &MotoStack, args: &[&str]) -> String {
    let mut all = vec!["--name-prefix", stack.prefix.as_str()];
    all.extend_from_slice(args);
    let output = ops(moto, &all).await;
    assert!(
        output.status.success(),
        "orders-ops {args:?} failed:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// Runs it and expects failure with exactly one line on standard error.
async fn fails(moto: &MotoServer, args: &[&str]) -> String {
    let output = ops(moto, args).await;
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with("orders-ops: "), "{err}");
    err
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Starts `orders-local`'s pipeline in process over moto with the stack's
/// prefix (creating what is missing), as `orders-local --endpoint-url` does.
async fn pipeline(moto: &MotoServer, stack: &MotoStack) -> Pipeline {
    let config = PipelineConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        names: ResourceNames::with_prefix(&stack.prefix),
        time_scale: TimeScale(0.05),
        region: REGION.to_owned(),
        backend_label: moto.endpoint().to_owned(),
        drain_timeout: Duration::from_secs(1),
        ..PipelineConfig::default()
    };
    Pipeline::start(
        config,
        orders_backends::backend::Backends::aws(&moto.sdk_config()),
    )
    .await
    .unwrap()
}

/// The resources of a fresh prefix, created by a pipeline that is stopped
/// again (nothing consumes them until a test starts one).
async fn resources(moto: &MotoServer, tag: &str) -> MotoStack {
    let stack = MotoStack::new(moto, tag);
    pipeline(moto, &stack).await.shutdown().await;
    stack
}

fn string(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .unwrap()
}

async fn visible(stack: &MotoStack, url: &str) -> u64 {
    queue_attribute(
        &stack.sqs,
        url,
        QueueAttributeName::ApproximateNumberOfMessages,
    )
    .await
    .map_or(0, |n| n.parse().unwrap())
}

/// Puts a message in the worker DLQ the way the worker dead-letters one:
/// the order message unchanged, its group, the source message id as the
/// deduplication id, and the reason attributes.
async fn dead_letter_in_worker_dlq(stack: &MotoStack, order_id: &str, reason: DeadLetterReason) {
    let message = order_message(order_id, "Harry Kane", 22);
    let body = serde_json::to_string(&message).unwrap();
    let source_id = format!("src-{order_id}");
    stack
        .sqs
        .send_message()
        .queue_url(stack.queue_url("orders-dlq.fifo").await)
        .message_body(body)
        .message_group_id("customer-harry")
        .message_deduplication_id(&source_id)
        .message_attributes(DEAD_LETTER_REASON_ATTRIBUTE, string(reason.as_str()))
        .message_attributes(DEAD_LETTER_STAGE_ATTRIBUTE, string("worker"))
        .message_attributes(DEAD_LETTER_SOURCE_MESSAGE_ID_ATTRIBUTE, string(&source_id))
        .message_attributes(DEAD_LETTER_ORDER_ID_ATTRIBUTE, string(order_id))
        .message_attributes(
            CORRELATION_ID_ATTRIBUTE,
            string(&format!("corr-{order_id}")),
        )
        .send()
        .await
        .unwrap();
}

async fn stored(stack: &MotoStack, order_id: &str) -> Option<HashMap<String, AttributeValue>> {
    stack
        .dynamo
        .get_item()
        .table_name(stack.name("orders"))
        .key(
            KEY_ATTRIBUTE,
            AttributeValue::S(format!("anonymous#{order_id}")),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

/// A standard queue subscribed to the prefix's topic with raw delivery.
async fn subscribe_raw_queue(stack: &MotoStack) -> String {
    let url = stack
        .sqs
        .create_queue()
        .queue_name(stack.name("test-events"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = queue_attribute(&stack.sqs, &url, QueueAttributeName::QueueArn)
        .await
        .unwrap();
    stack
        .sns
        .subscribe()
        .topic_arn(stack.topic_arn().await)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    url
}

async fn events(stack: &MotoStack, url: &str, want: usize) -> Vec<OrderCreated> {
    drain(&stack.sqs, url, want, WITHIN)
        .await
        .iter()
        .map(|m| OrderCreated::from_sqs_body(m.body().unwrap()).unwrap())
        .collect()
}

#[test]
fn the_prefix_names_are_the_ones_orders_local_creates() {
    let ours = PrefixNames::with_prefix("p-");
    let local = ResourceNames::with_prefix("p-");
    assert_eq!(ours.orders_queue, local.orders_queue);
    assert_eq!(ours.worker_dlq, local.orders_dlq);
    assert_eq!(ours.notifier_dlq, local.notifier_on_failure_queue);
    assert_eq!(ours.table, local.table);
    assert_eq!(ours.topic, local.topic);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_depths_per_stage_and_the_alarm_states_cloudwatch_has() {
    let moto = require_moto!();
    let stack = resources(moto, "opsst").await;
    dead_letter_in_worker_dlq(&stack, "st-1", DeadLetterReason::Conflict).await;
    // Given an alarm of this prefix in ALARM
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&moto.sdk_config());
    let alarm = stack.name("WorkerDlqNotEmptyAlarm");
    cloudwatch
        .put_metric_alarm()
        .alarm_name(&alarm)
        .namespace("AWS/SQS")
        .metric_name("ApproximateNumberOfMessagesVisible")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Maximum)
        .period(60)
        .evaluation_periods(1)
        .threshold(0.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    cloudwatch
        .set_alarm_state()
        .alarm_name(&alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("test")
        .send()
        .await
        .unwrap();

    // When status is asked for JSON
    let status = json(&ok(moto, &stack, &["--json", "status"]).await);

    // Then the worker stage has its queue, its DLQ's message and the alarm
    let worker = status["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "worker")
        .unwrap();
    assert_eq!(worker["queue"]["name"], stack.name("orders.fifo"));
    assert_eq!(worker["queue"]["visible"], 0);
    assert_eq!(worker["dlq"]["visible"], 1, "{status:#}");
    assert_eq!(worker["alarms"][0]["logicalId"], "WorkerDlqNotEmptyAlarm");
    assert_eq!(worker["alarms"][0]["state"], "ALARM");
    // moto keeps no SQS metrics: the age is unknown, not made up
    assert!(worker["queue"]["oldestAgeSecs"].is_null());

    // And the text screen says the same on the worker's line
    let text = ok(moto, &stack, &["status"]).await;
    let line = text.lines().find(|l| l.starts_with("worker")).unwrap();
    assert!(line.contains("ALARM WorkerDlqNotEmptyAlarm"), "{text}");
    assert!(!text.contains('\x1b'), "no colour on a pipe: {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_peeked_redriven_once_its_cause_is_fixed_and_stored() {
    let moto = require_moto!();
    let stack = resources(moto, "opsrw").await;
    let dlq = stack.queue_url("orders-dlq.fifo").await;
    let queue = stack.queue_url("orders.fifo").await;
    // Given a message a worker release could not read, dead-lettered as poison
    dead_letter_in_worker_dlq(&stack, "pz-1", DeadLetterReason::Poison).await;

    // When peeked, then its reason and ids show, and no personal data
    let text = ok(moto, &stack, &["dlq", "peek", "worker"]).await;
    assert!(
        text.contains("reason=poison stage=worker order=pz-1 correlation=corr-pz-1"),
        "{text}"
    );
    assert!(
        !text.contains("Harry") && !text.contains("Nguyen"),
        "{text}"
    );
    let peeked = json(
        &ok(
            moto,
            &stack,
            &["--json", "dlq", "peek", "worker", "-n", "5"],
        )
        .await,
    );
    assert_eq!(peeked.as_array().unwrap().len(), 1);
    assert!(peeked[0]["body"].is_null());
    let shown = ok(
        moto,
        &stack,
        &["dlq", "peek", "worker", "--show-personal-data"],
    )
    .await;
    assert!(shown.contains("Harry Kane"), "{shown}");
    // And the peek left it where it was, visible
    assert_eq!(visible(&stack, &dlq).await, 1);

    // When a dry run is asked for, then nothing moves
    let dry = json(
        &ok(
            moto,
            &stack,
            &["--json", "dlq", "redrive", "worker", "--dry-run"],
        )
        .await,
    );
    assert_eq!(dry["method"], "dry-run");
    assert_eq!(dry["moved"], 1);
    assert_eq!(visible(&stack, &dlq).await, 1);

    // When redriven (moto has no move task: message by message)
    let report = json(&ok(moto, &stack, &["--json", "dlq", "redrive", "worker"]).await);
    assert_eq!(report["method"], "receive-send-delete", "{report:#}");
    assert_eq!(report["moved"], 1);
    assert_eq!(report["interrupted"], false);

    // Then the DLQ is empty and the orders queue holds the message with its
    // group, deduplication id and attributes
    assert_eq!(visible(&stack, &dlq).await, 0);
    let moved = stack
        .sqs
        .receive_message()
        .queue_url(&queue)
        .visibility_timeout(0)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap();
    assert_eq!(moved.len(), 1);
    let attributes = moved[0].attributes().unwrap();
    assert_eq!(
        attributes[&MessageSystemAttributeName::MessageGroupId],
        "customer-harry"
    );
    assert_eq!(
        attributes[&MessageSystemAttributeName::MessageDeduplicationId],
        "src-pz-1"
    );
    assert_eq!(
        moved[0].message_attributes().unwrap()[DEAD_LETTER_ORDER_ID_ATTRIBUTE].string_value(),
        Some("pz-1")
    );

    // And run again, it finds nothing more to move
    let again = json(&ok(moto, &stack, &["--json", "dlq", "redrive", "worker"]).await);
    assert_eq!(again["moved"], 0);

    // When the fixed worker runs, then the order is stored
    let running = pipeline(moto, &stack).await;
    let deadline = Instant::now() + WITHIN;
    while stored(&stack, "pz-1").await.is_none() {
        assert!(Instant::now() < deadline, "pz-1 never stored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.shutdown().await;

    // And `order show` gives its status without personal data, unless asked
    let view = json(&ok(moto, &stack, &["--json", "order", "show", "pz-1"]).await);
    assert_eq!(view["status"], "CREATED");
    assert_eq!(view["correlationId"], "corr-pz-1");
    assert_eq!(view["units"], 22);
    assert!(view["personal"].is_null());
    let text = ok(moto, &stack, &["order", "show", "pz-1"]).await;
    assert!(!text.contains("Harry"), "{text}");
    let text = ok(
        moto,
        &stack,
        &["order", "show", "pz-1", "--show-personal-data"],
    )
    .await;
    assert!(text.contains("Harry Kane"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_max_moves_only_that_many_in_order() {
    let moto = require_moto!();
    let stack = resources(moto, "opsmx").await;
    let dlq = stack.queue_url("orders-dlq.fifo").await;
    for id in ["mx-1", "mx-2", "mx-3"] {
        dead_letter_in_worker_dlq(&stack, id, DeadLetterReason::Poison).await;
    }
    let report = json(
        &ok(
            moto,
            &stack,
            &["--json", "dlq", "redrive", "worker", "--max", "2"],
        )
        .await,
    );
    assert_eq!(report["moved"], 2);
    assert_eq!(visible(&stack, &dlq).await, 1);
    let queue = stack.queue_url("orders.fifo").await;
    let moved = drain(&stack.sqs, &queue, 2, WITHIN).await;
    let ids: Vec<String> = moved
        .iter()
        .map(|m| {
            m.message_attributes().unwrap()[DEAD_LETTER_ORDER_ID_ATTRIBUTE]
                .string_value()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        ids,
        ["mx-1", "mx-2"],
        "one group's messages keep their order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notifier_dlq_is_replayed_from_the_stream_once_the_topic_accepts_again() {
    let moto = require_moto!();
    let stack = resources(moto, "opsnr").await;
    let dlq = stack.queue_url("notifier-on-failure").await;
    let backends = orders_backends::backend::Backends::aws(&moto.sdk_config());
    // Given a stored order whose publish the topic refused: the notifier's
    // own dead letter names its stream record
    let stored_item: HashMap<String, AttributeValue> =
        stored_order(&order_message("nr-1", "Harry Kane", 3))
            .to_item()
            .unwrap();
    stack
        .dynamo
        .put_item()
        .table_name(stack.name("orders"))
        .set_item(Some(stored_item))
        .send()
        .await
        .unwrap();
    let mut reader = backends
        .tables
        .open_stream(&stack.name("orders"))
        .await
        .unwrap();
    let records = orders_tests::services::read_stream(reader.as_mut(), 1, WITHIN).await;
    let body =
        notifier::dead_letter::body(&records[0], DeadLetterReason::PublishRefused, "refused");
    stack
        .sqs
        .send_message()
        .queue_url(&dlq)
        .message_body(body)
        .message_attributes(DEAD_LETTER_REASON_ATTRIBUTE, string("publish-refused"))
        .message_attributes(DEAD_LETTER_ORDER_ID_ATTRIBUTE, string("nr-1"))
        .send()
        .await
        .unwrap();
    // And the topic accepts again, with a subscriber
    let events_queue = subscribe_raw_queue(&stack).await;

    // When peeked, then the reason, order and range show
    let text = ok(moto, &stack, &["dlq", "peek", "notifier"]).await;
    assert!(
        text.contains("reason=publish-refused stage=notifier order=nr-1"),
        "{text}"
    );
    assert!(text.contains("(1 record(s))"), "{text}");

    // When replayed, then the record is read from the stream again, published,
    // and the DLQ message deleted
    let text = ok(moto, &stack, &["dlq", "redrive", "notifier"]).await;
    assert!(
        text.contains(
            "replayed 1 message(s), 1 record(s); left in the DLQ: still failing 0, \
             not wholly in the stream 0, poison 0, unreadable 0"
        ),
        "{text}"
    );
    let got = events(&stack, &events_queue, 1).await;
    assert_eq!(got[0].order_id.as_str(), "nr-1");
    assert_eq!(visible(&stack, &dlq).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_whose_stream_record_expired_is_renotified_from_the_table() {
    let moto = require_moto!();
    let stack = resources(moto, "opsrn").await;
    let dlq = stack.queue_url("notifier-on-failure").await;
    // Given three stored orders, a day apart
    let day_one = time::macros::datetime!(2026-11-01 10:00 UTC);
    for (id, created) in [
        ("rn-old", day_one),
        ("rn-new", day_one + time::Duration::days(1)),
        ("rn-window", day_one + time::Duration::days(2)),
    ] {
        let mut order = stored_order(&order_message(id, "Harry Kane", 1));
        order.created_at = created;
        let item: HashMap<String, AttributeValue> = order.to_item().unwrap();
        stack
            .dynamo
            .put_item()
            .table_name(stack.name("orders"))
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    // And Lambda's on-failure record for a range the stream no longer holds,
    // whose records arrived just after rn-window was created
    let windowed = serde_json::json!({
        "requestContext": {"condition": "RecordAgeExceeded", "approximateInvokeCount": 9},
        "timestamp": "2026-11-03T22:00:01.000Z",
        "DDBStreamBatchInfo": {
            "shardId": "shardId-00000000000000000001-00000001",
            "startSequenceNumber": "7",
            "endSequenceNumber": "7",
            "approximateArrivalOfFirstRecord": "2026-11-03T10:00:00Z",
            "approximateArrivalOfLastRecord": "2026-11-03T10:00:00Z",
            "batchSize": 1,
            "streamArn": "arn:aws:dynamodb:us-east-1:123456789012:table/x/stream/2026-11-01T00:00:00.000"
        }
    });
    stack
        .sqs
        .send_message()
        .queue_url(&dlq)
        .message_body(windowed.to_string())
        .send()
        .await
        .unwrap();
    // And an older one without an arrival window
    let expired = serde_json::json!({
        "requestContext": {"condition": "RecordAgeExceeded", "approximateInvokeCount": 9},
        "DDBStreamBatchInfo": {
            "shardId": "shardId-00000000000000000001-00000001",
            "startSequenceNumber": "1",
            "endSequenceNumber": "1",
            "batchSize": 1,
            "streamArn": "arn:aws:dynamodb:us-east-1:123456789012:table/x/stream/2026-11-01T00:00:00.000"
        }
    });
    stack
        .sqs
        .send_message()
        .queue_url(&dlq)
        .message_body(expired.to_string())
        .send()
        .await
        .unwrap();
    let events_queue = subscribe_raw_queue(&stack).await;

    // When replayed, then the windowed range's order is re-announced from
    // the table (one scan) and its message deleted; the other stays in the
    // DLQ, reported as not in the stream, with the command that announces
    // the day before SQS got it, for this very target
    let text = ok(moto, &stack, &["dlq", "redrive", "notifier"]).await;
    assert!(text.contains("not wholly in the stream 1"), "{text}");
    assert!(
        text.contains(
            "re-announced from the table (range no longer in the stream): 1 message(s), 1 order(s)"
        ),
        "{text}"
    );
    let command = format!(
        "run: orders-ops --endpoint-url {} --name-prefix {} --region {REGION} renotify --since ",
        moto.endpoint(),
        stack.prefix
    );
    assert!(text.contains(&command), "{text}");
    let got = events(&stack, &events_queue, 1).await;
    assert_eq!(got[0].order_id.as_str(), "rn-window");
    assert_eq!(got[0].event_id, "OrderCreated:anonymous:rn-window");

    // When that order is renotified from the table
    let report = json(&ok(moto, &stack, &["--json", "renotify", "--order", "rn-old"]).await);
    assert_eq!(report["published"], serde_json::json!(["anonymous#rn-old"]));

    // Then its OrderCreated goes out with the notifier's stable event id
    let got = events(&stack, &events_queue, 1).await;
    assert_eq!(got[0].order_id.as_str(), "rn-old");
    assert_eq!(got[0].event_id, "OrderCreated:anonymous:rn-old");

    // When orders created in a window are renotified, only those are
    let report = json(
        &ok(
            moto,
            &stack,
            &[
                "--json",
                "renotify",
                "--since",
                "2026-11-02T00:00:00Z",
                "--until",
                "2026-11-03T00:00:00Z",
            ],
        )
        .await,
    );
    assert_eq!(report["published"], serde_json::json!(["anonymous#rn-new"]));
    let got = events(&stack, &events_queue, 1).await;
    assert_eq!(got[0].order_id.as_str(), "rn-new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_one_clear_line_and_a_non_zero_exit() {
    let moto = require_moto!();
    let stack = resources(moto, "opsbad").await;

    // No target at all
    let err = fails(moto, &["status"]).await;
    assert!(err.contains("no target"), "{err}");

    // An unknown stack
    let err = fails(moto, &["--stack", "no-such-stack", "status"]).await;
    assert!(
        err.contains("no stack named no-such-stack in this account and region (us-east-1)"),
        "{err}"
    );

    // A prefix nothing was created under
    let err = fails(moto, &["--name-prefix", "nothing-here-", "status"]).await;
    assert!(
        err.contains("queue nothing-here-orders.fifo does not exist"),
        "{err}"
    );

    // An order that is not stored
    let err = fails(
        moto,
        &["--name-prefix", &stack.prefix, "order", "show", "nope"],
    )
    .await;
    assert!(
        err.contains(&format!(
            "order nope in table {} does not exist",
            stack.name("orders")
        )),
        "{err}"
    );

    // A window backwards
    let err = fails(
        moto,
        &[
            "--name-prefix",
            &stack.prefix,
            "renotify",
            "--since",
            "2026-11-02T00:00:00Z",
            "--until",
            "2026-11-01T00:00:00Z",
        ],
    )
    .await;
    assert!(err.contains("--since must be before --until"), "{err}");

    // A stack whose worker DLQ output names a queue that is no queue's DLQ
    let cfn = aws_sdk_cloudformation::Client::new(&moto.sdk_config());
    let name = format!("{}stack", stack.prefix.trim_end_matches('-'));
    let template = serde_json::json!({
        "Resources": {"PlainQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": stack.name("plain.fifo"), "FifoQueue": true}}},
        "Outputs": {
            "OrdersQueueUrl": {"Value": stack.queue_url("orders.fifo").await},
            "WorkerDlqUrl": {"Value": {"Ref": "PlainQueue"}},
            "NotifierDlqUrl": {"Value": stack.queue_url("notifier-on-failure").await},
            "OrdersTableName": {"Value": stack.name("orders")},
            "OrderEventsTopicArn": {"Value": stack.topic_arn().await},
        }
    });
    cfn.create_stack()
        .stack_name(&name)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    // The stack resolves: status reads through its outputs
    let output = ops(moto, &["--stack", &name, "--json", "status"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let status = json(&stdout(&output));
    assert_eq!(status["target"], format!("stack {name} (us-east-1)"));
    // And a redrive from the plain queue is refused
    let err = fails(moto, &["--stack", &name, "dlq", "redrive", "worker"]).await;
    assert!(err.contains("is not a dead-letter queue"), "{err}");
    assert!(err.contains(&stack.name("plain.fifo")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_interrupted_between_send_and_delete_is_rerun_without_a_second_copy() {
    let moto = require_moto!();
    let stack = resources(moto, "opsint").await;
    let dlq = stack.queue_url("orders-dlq.fifo").await;
    let queue = stack.queue_url("orders.fifo").await;
    dead_letter_in_worker_dlq(&stack, "int-1", DeadLetterReason::Poison).await;
    // Given an earlier run sent the copy (same group, same deduplication id)
    // and was stopped before deleting the DLQ message
    let message = order_message("int-1", "Harry Kane", 22);
    stack
        .sqs
        .send_message()
        .queue_url(&queue)
        .message_body(serde_json::to_string(&message).unwrap())
        .message_group_id("customer-harry")
        .message_deduplication_id("src-int-1")
        .send()
        .await
        .unwrap();

    // When it is run again
    let report = json(&ok(moto, &stack, &["--json", "dlq", "redrive", "worker"]).await);
    assert_eq!(report["moved"], 1);

    // Then the DLQ is empty and the orders queue still holds one copy: SQS
    // dropped the second send by its deduplication id
    assert_eq!(visible(&stack, &dlq).await, 0);
    assert_eq!(visible(&stack, &queue).await, 1);
}
