//! The deployed stack (`infra/template.yaml`) agrees with the code.
//!
//! * Each function's `Environment.Variables` are exactly the variables its crate
//!   reads (`<crate>::ENV_VARS`, spelled by `adapters::config`).
//! * Queue and event-source-mapping settings equal `adapters::settings`, which the
//!   local runner reproduces.
//! * The HTTP API's definition is `infra/openapi.yaml` (included whole, the file
//!   orders-local serves), routing POST /orders to intake and GET
//!   /orders/{orderId} to status, documenting exactly the statuses each can
//!   answer, with the domain's limits.
//! * The status function's role may read single orders and nothing else.
//!
//! The template is read with `include_str!`, so editing either side rebuilds and
//! re-runs this test. CloudFormation short-form tags (`!Ref`, `!GetAtt`, `!Sub`,
//! `!If`) are accepted by yaml-rust2, which drops the tag and keeps the node:
//! `!GetAtt OrdersQueue.Arn` reads as the string `OrdersQueue.Arn`.

// Test code, helpers included: a mismatch stops the test with the path at fault.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use adapters::{config, settings};
use yaml_rust2::{Yaml, YamlLoader};

const TEMPLATE: &str = include_str!("../../infra/template.yaml");

fn template() -> Yaml {
    let mut docs = YamlLoader::load_from_str(TEMPLATE).expect("infra/template.yaml is valid YAML");
    assert_eq!(docs.len(), 1, "one YAML document");
    docs.remove(0)
}

/// The node at `path` under `node`; panics naming the path when it is missing.
fn at<'a>(node: &'a Yaml, path: &[&str]) -> &'a Yaml {
    path.iter().fold(node, |n, key| {
        let child = &n[*key];
        assert!(
            !child.is_badvalue(),
            "template has no {} (looked up {:?})",
            path.join("."),
            key
        );
        child
    })
}

fn resource<'a>(t: &'a Yaml, logical_id: &str) -> &'a Yaml {
    at(t, &["Resources", logical_id])
}

/// An integer, written as a YAML integer or a quoted one (CloudFormation takes both).
fn int(node: &Yaml, what: &str) -> u64 {
    match node {
        Yaml::Integer(i) => u64::try_from(*i).unwrap_or_else(|_| panic!("{what} is negative")),
        Yaml::String(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{what} is not an integer: {s:?}")),
        other => panic!("{what} is not an integer: {other:?}"),
    }
}

fn boolean(node: &Yaml, what: &str) -> bool {
    match node {
        Yaml::Boolean(b) => *b,
        Yaml::String(s) if s == "true" => true,
        Yaml::String(s) if s == "false" => false,
        other => panic!("{what} is not a boolean: {other:?}"),
    }
}

fn string<'a>(node: &'a Yaml, what: &str) -> &'a str {
    node.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {node:?}"))
}

/// What a `Ref`/`GetAtt` points at, in either syntax: `!Ref X` and `{Ref: X}`
/// give `X`; `!GetAtt X.Arn`, `{Fn::GetAtt: X.Arn}` and `{Fn::GetAtt: [X, Arn]}`
/// give `X.Arn`.
fn reference(node: &Yaml, what: &str) -> String {
    if let Some(s) = node.as_str() {
        return s.to_owned();
    }
    if let Some(name) = node["Ref"].as_str() {
        return name.to_owned();
    }
    match &node["Fn::GetAtt"] {
        Yaml::String(s) => s.clone(),
        Yaml::Array(parts) => parts
            .iter()
            .map(|p| string(p, what))
            .collect::<Vec<_>>()
            .join("."),
        _ => panic!("{what} is not a Ref or GetAtt: {node:?}"),
    }
}

/// A function's property, falling back to `Globals.Function`.
fn function_property<'a>(t: &'a Yaml, function: &str, name: &str) -> &'a Yaml {
    let own = &resource(t, function)["Properties"][name];
    if own.is_badvalue() {
        at(t, &["Globals", "Function", name])
    } else {
        own
    }
}

/// The function's only event of the given SAM event type.
fn event_properties<'a>(t: &'a Yaml, function: &str, event_type: &str) -> &'a Yaml {
    let events = at(resource(t, function), &["Properties", "Events"])
        .as_hash()
        .unwrap_or_else(|| panic!("{function}.Events is not a mapping"));
    let matching: Vec<&Yaml> = events
        .values()
        .filter(|e| e["Type"].as_str() == Some(event_type))
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "{function} has exactly one {event_type} event"
    );
    at(matching[0], &["Properties"])
}

fn env_names(t: &Yaml, function: &str) -> BTreeSet<String> {
    at(
        resource(t, function),
        &["Properties", "Environment", "Variables"],
    )
    .as_hash()
    .unwrap_or_else(|| panic!("{function}.Environment.Variables is not a mapping"))
    .keys()
    .map(|k| string(k, "variable name").to_owned())
    .collect()
}

fn names(vars: &[&str]) -> BTreeSet<String> {
    vars.iter().map(|v| (*v).to_owned()).collect()
}

fn strings(node: &Yaml, what: &str) -> Vec<String> {
    node.as_vec()
        .unwrap_or_else(|| panic!("{what} is not a list"))
        .iter()
        .map(|v| string(v, what).to_owned())
        .collect()
}

// ------------------------------------------------------------ environment

#[test]
fn each_function_gets_exactly_the_variables_its_crate_reads() {
    // Given the template and the variables each crate declares it reads
    let t = template();
    let cases = [
        ("IntakeFunction", intake::ENV_VARS),
        ("WorkerFunction", worker::ENV_VARS),
        ("NotifierFunction", notifier::ENV_VARS),
        ("StatusFunction", status::ENV_VARS),
        ("AdminDigestFunction", admin_digest::ENV_VARS),
    ];
    for (function, read) in cases {
        // When the function's environment is read from the template
        let set = env_names(&t, function);
        // Then nothing the crate reads is missing and nothing unread is set
        let read = names(read);
        let missing: Vec<_> = read.difference(&set).collect();
        let unread: Vec<_> = set.difference(&read).collect();
        assert!(
            missing.is_empty(),
            "{function}: read by the crate but not set in the template: {missing:?}"
        );
        assert!(
            unread.is_empty(),
            "{function}: set in the template but not read by the crate: {unread:?}"
        );
    }
}

#[test]
fn each_crate_reads_its_shared_config_variables() {
    // The crates' lists are spelled with the shared constants, and say what the
    // template wires to each function.
    assert_eq!(
        names(intake::ENV_VARS),
        names(&[config::ORDERS_QUEUE_URL, config::MESSAGE_GROUP_STRATEGY])
    );
    assert_eq!(
        names(worker::ENV_VARS),
        names(&[config::ORDERS_TABLE_NAME, config::WORKER_DLQ_URL])
    );
    assert_eq!(
        names(notifier::ENV_VARS),
        names(&[config::ORDER_EVENTS_TOPIC_ARN, config::NOTIFIER_DLQ_URL])
    );
    assert_eq!(names(status::ENV_VARS), names(&[config::ORDERS_TABLE_NAME]));
    assert_eq!(
        names(admin_digest::ENV_VARS),
        names(&[
            config::ADMIN_TOPIC_ARN,
            order_consumer::PROCESSED_EVENTS_TABLE
        ])
    );
}

#[test]
fn each_stage_dead_letters_to_its_own_dlq_and_may_send_there() {
    // Given the template
    let t = template();
    let resources = &t["Resources"];
    for (function, variable, dlq, role) in [
        (
            "WorkerFunction",
            config::WORKER_DLQ_URL,
            "WorkerDlq",
            "WorkerRole",
        ),
        (
            "NotifierFunction",
            config::NOTIFIER_DLQ_URL,
            "NotifierDlq",
            "NotifierRole",
        ),
    ] {
        // Then the variable names the stage's DLQ (Ref of a queue is its URL)
        let value = &resources[function]["Properties"]["Environment"]["Variables"][variable];
        assert_eq!(reference(value, variable), dlq, "{function}");
        // And the stage's role may send to it
        let statements =
            &resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
        let allowed = statements.as_vec().into_iter().flatten().any(|s| {
            let actions = match &s["Action"] {
                Yaml::String(a) => vec![a.clone()],
                other => strings(other, "Action"),
            };
            actions.iter().any(|a| a == "sqs:SendMessage")
                && reference(&s["Resource"], "Resource").starts_with(dlq)
        });
        assert!(allowed, "{role} may not send to {dlq}");
    }
}

#[test]
fn each_function_may_make_exactly_its_cold_start_warm_up_call() {
    // Given the template
    let t = template();
    // The warm-up calls of adapters::aws, one per function, on its own resource
    for (role, action, target) in [
        ("IntakeRole", "sqs:GetQueueAttributes", "OrdersQueue.Arn"),
        ("WorkerRole", "dynamodb:DescribeTable", "OrdersTable.Arn"),
        ("NotifierRole", "sns:GetTopicAttributes", "OrderEventsTopic"),
    ] {
        let statements = at(resource(&t, role), &["Properties", "Policies"])
            .as_vec()
            .into_iter()
            .flatten()
            .flat_map(|p| {
                at(p, &["PolicyDocument", "Statement"])
                    .as_vec()
                    .into_iter()
                    .flatten()
            });
        let granting: Vec<&Yaml> = statements
            .filter(|s| {
                let actions = match &s["Action"] {
                    Yaml::String(a) => vec![a.clone()],
                    other => strings(other, "Action"),
                };
                actions.iter().any(|a| a == action)
            })
            .collect();
        // Then one statement grants it, alone, on that resource only
        assert_eq!(granting.len(), 1, "{role}: {action} granted once");
        assert_eq!(granting[0]["Action"].as_str(), Some(action), "{role}");
        assert_eq!(
            reference(&granting[0]["Resource"], "Resource"),
            target,
            "{role}"
        );
    }
}

#[test]
fn variables_point_at_the_stack_resources() {
    let t = template();
    let var = |function: &str, name: &str| {
        reference(
            at(
                resource(&t, function),
                &["Properties", "Environment", "Variables", name],
            ),
            name,
        )
    };
    assert_eq!(
        var("IntakeFunction", config::ORDERS_QUEUE_URL),
        "OrdersQueue"
    );
    assert_eq!(
        var("IntakeFunction", config::MESSAGE_GROUP_STRATEGY),
        "MessageGroupStrategy"
    );
    assert_eq!(
        var("WorkerFunction", config::ORDERS_TABLE_NAME),
        "OrdersTable"
    );
    assert_eq!(
        var("StatusFunction", config::ORDERS_TABLE_NAME),
        "OrdersTable"
    );
    assert_eq!(
        var("NotifierFunction", config::ORDER_EVENTS_TOPIC_ARN),
        "OrderEventsTopic"
    );
    assert_eq!(
        var("AdminDigestFunction", config::ADMIN_TOPIC_ARN),
        "AdminTopic"
    );
    assert_eq!(
        var(
            "AdminDigestFunction",
            order_consumer::PROCESSED_EVENTS_TABLE
        ),
        "AdminDigestTable"
    );
    // The strategy parameter offers exactly the values intake parses.
    let allowed = strings(
        at(&t, &["Parameters", "MessageGroupStrategy", "AllowedValues"]),
        "MessageGroupStrategy.AllowedValues",
    );
    assert_eq!(allowed, ["customer", "order"]);
}

#[test]
fn no_variable_is_set_for_every_function_at_once() {
    // Globals would hand every function variables it does not read.
    let t = template();
    assert!(
        t["Globals"]["Function"]["Environment"].is_badvalue(),
        "Globals.Function.Environment must not be set"
    );
}

// -------------------------------------------------------------- settings

#[test]
fn function_timeouts_match_settings() {
    let t = template();
    for (function, expected) in [
        ("IntakeFunction", settings::INTAKE_TIMEOUT_SECS),
        ("WorkerFunction", settings::WORKER_TIMEOUT_SECS),
        ("NotifierFunction", settings::NOTIFIER_TIMEOUT_SECS),
        ("StatusFunction", settings::STATUS_TIMEOUT_SECS),
        ("AdminDigestFunction", settings::ADMIN_DIGEST_TIMEOUT_SECS),
    ] {
        let timeout = int(function_property(&t, function, "Timeout"), function);
        assert_eq!(timeout, expected, "{function}.Timeout");
    }
}

#[test]
fn orders_queue_matches_settings() {
    let t = template();
    let q = at(resource(&t, "OrdersQueue"), &["Properties"]);
    assert_eq!(
        int(&q["VisibilityTimeout"], "VisibilityTimeout"),
        settings::ORDERS_QUEUE_VISIBILITY_TIMEOUT_SECS
    );
    assert_eq!(
        int(&q["MessageRetentionPeriod"], "MessageRetentionPeriod"),
        settings::ORDERS_QUEUE_RETENTION_SECS
    );
    assert!(boolean(&q["FifoQueue"], "FifoQueue"));
    assert!(!boolean(
        &q["ContentBasedDeduplication"],
        "ContentBasedDeduplication"
    ));
    assert_eq!(
        string(&q["DeduplicationScope"], "DeduplicationScope"),
        "messageGroup"
    );

    let redrive = at(q, &["RedrivePolicy"]);
    assert_eq!(
        int(&redrive["maxReceiveCount"], "maxReceiveCount"),
        u64::from(settings::MAX_RECEIVE_COUNT)
    );
    assert_eq!(
        reference(&redrive["deadLetterTargetArn"], "deadLetterTargetArn"),
        "WorkerDlq.Arn"
    );
}

#[test]
fn visibility_timeout_is_at_least_six_worker_timeouts() {
    // AWS's rule for SQS-triggered functions, checked on the template's own values.
    let t = template();
    let visibility = int(
        at(
            resource(&t, "OrdersQueue"),
            &["Properties", "VisibilityTimeout"],
        ),
        "VisibilityTimeout",
    );
    let worker_timeout = int(
        function_property(&t, "WorkerFunction", "Timeout"),
        "WorkerFunction.Timeout",
    );
    assert!(
        visibility >= 6 * worker_timeout,
        "visibility timeout {visibility}s < 6 x worker timeout {worker_timeout}s"
    );
}

#[test]
fn dead_letter_queues_keep_messages_as_long_as_settings_say() {
    let t = template();
    for dlq in ["WorkerDlq", "NotifierDlq", "AdminDigestDlq"] {
        let retention = int(
            at(resource(&t, dlq), &["Properties", "MessageRetentionPeriod"]),
            dlq,
        );
        assert_eq!(
            retention,
            settings::DLQ_RETENTION_SECS,
            "{dlq}.MessageRetentionPeriod"
        );
    }
    // A FIFO source queue needs a FIFO dead-letter queue.
    assert!(boolean(
        at(resource(&t, "WorkerDlq"), &["Properties", "FifoQueue"]),
        "WorkerDlq.FifoQueue"
    ));
}

#[test]
fn worker_mapping_matches_settings() {
    let t = template();
    let m = event_properties(&t, "WorkerFunction", "SQS");
    assert_eq!(reference(&m["Queue"], "Queue"), "OrdersQueue.Arn");
    assert_eq!(
        int(&m["BatchSize"], "BatchSize"),
        settings::WORKER_BATCH_SIZE as u64
    );
    assert_eq!(
        strings(&m["FunctionResponseTypes"], "FunctionResponseTypes"),
        ["ReportBatchItemFailures"]
    );
    // Maximum concurrency is a parameter whose default is the local runner's value.
    let parameter = reference(
        at(m, &["ScalingConfig", "MaximumConcurrency"]),
        "MaximumConcurrency",
    );
    let default = int(
        at(&t, &["Parameters", &parameter, "Default"]),
        "MaximumConcurrency default",
    );
    assert_eq!(default, u64::from(settings::WORKER_MAX_CONCURRENCY));
}

#[test]
fn notifier_mapping_matches_settings() {
    let t = template();
    let m = event_properties(&t, "NotifierFunction", "DynamoDB");
    assert_eq!(reference(&m["Stream"], "Stream"), "OrdersTable.StreamArn");
    assert_eq!(
        int(&m["BatchSize"], "BatchSize"),
        settings::NOTIFIER_BATCH_SIZE as u64
    );
    // -1 is the template's "retry until the record age limit".
    let retries = match &m["MaximumRetryAttempts"] {
        Yaml::Integer(-1) => None,
        other => Some(int(other, "MaximumRetryAttempts")),
    };
    assert_eq!(
        retries,
        settings::NOTIFIER_MAX_RETRY_ATTEMPTS.map(u64::from)
    );
    assert_eq!(
        int(&m["MaximumRecordAgeInSeconds"], "MaximumRecordAgeInSeconds"),
        settings::NOTIFIER_MAX_RECORD_AGE_SECS
    );
    assert_eq!(
        boolean(
            &m["BisectBatchOnFunctionError"],
            "BisectBatchOnFunctionError"
        ),
        settings::NOTIFIER_BISECT_ON_ERROR
    );
    // Per-order order holds at any factor (Lambda orders by partition key);
    // the capacity model in infra/CAPACITY.md assumes this one.
    assert_eq!(
        int(&m["ParallelizationFactor"], "ParallelizationFactor"),
        u64::from(settings::NOTIFIER_PARALLELIZATION_FACTOR)
    );
    assert_eq!(
        strings(&m["FunctionResponseTypes"], "FunctionResponseTypes"),
        ["ReportBatchItemFailures"]
    );
    assert_eq!(
        reference(
            at(m, &["DestinationConfig", "OnFailure", "Destination"]),
            "OnFailure.Destination"
        ),
        "NotifierDlq.Arn"
    );
}

#[test]
fn notifier_filter_is_the_settings_pattern() {
    let t = template();
    let m = event_properties(&t, "NotifierFunction", "DynamoDB");
    let filters = at(m, &["FilterCriteria", "Filters"])
        .as_vec()
        .expect("FilterCriteria.Filters is a list");
    let patterns: Vec<&str> = filters
        .iter()
        .map(|f| string(&f["Pattern"], "Filters[].Pattern"))
        .collect();
    // Then the pattern is the settings string, byte for byte
    assert_eq!(patterns, [settings::NOTIFIER_FILTER_PATTERN]);
    // And it admits exactly the settings' event names
    let pattern: serde_json::Value =
        serde_json::from_str(patterns[0]).expect("the filter pattern is JSON");
    let event_names: Vec<&str> = pattern["eventName"]
        .as_array()
        .expect("the pattern filters on eventName")
        .iter()
        .map(|v| v.as_str().expect("event names are strings"))
        .collect();
    assert_eq!(event_names, settings::NOTIFIER_FILTER_EVENT_NAMES);
}

// ----------------------------------------------------------- admin digest

#[test]
fn admin_digest_queue_matches_settings() {
    let t = template();
    let q = at(resource(&t, "AdminDigestQueue"), &["Properties"]);
    assert!(
        q["FifoQueue"].is_badvalue(),
        "a standard queue: a standard topic delivers to no other"
    );
    assert_eq!(
        int(&q["VisibilityTimeout"], "VisibilityTimeout"),
        settings::ADMIN_DIGEST_QUEUE_VISIBILITY_TIMEOUT_SECS
    );
    let redrive = at(q, &["RedrivePolicy"]);
    assert_eq!(
        int(&redrive["maxReceiveCount"], "maxReceiveCount"),
        u64::from(settings::ADMIN_DIGEST_MAX_RECEIVE_COUNT)
    );
    assert_eq!(
        reference(&redrive["deadLetterTargetArn"], "deadLetterTargetArn"),
        "AdminDigestDlq.Arn"
    );
    // AWS's rule for SQS-triggered functions, on the template's own values,
    // with the batching window on top (gathered messages are in flight).
    let timeout = int(
        function_property(&t, "AdminDigestFunction", "Timeout"),
        "AdminDigestFunction.Timeout",
    );
    let m = event_properties(&t, "AdminDigestFunction", "SQS");
    let window = int(
        &m["MaximumBatchingWindowInSeconds"],
        "MaximumBatchingWindowInSeconds",
    );
    let visibility = int(&q["VisibilityTimeout"], "VisibilityTimeout");
    assert!(
        visibility >= 6 * timeout + window,
        "visibility timeout {visibility}s < 6 x {timeout}s + {window}s"
    );
}

#[test]
fn admin_digest_mapping_matches_settings_and_bounds_the_email_rate() {
    let t = template();
    let m = event_properties(&t, "AdminDigestFunction", "SQS");
    assert_eq!(reference(&m["Queue"], "Queue"), "AdminDigestQueue.Arn");
    assert_eq!(
        int(&m["BatchSize"], "BatchSize"),
        settings::ADMIN_DIGEST_BATCH_SIZE as u64
    );
    assert_eq!(
        int(
            &m["MaximumBatchingWindowInSeconds"],
            "MaximumBatchingWindowInSeconds"
        ),
        settings::ADMIN_DIGEST_BATCHING_WINDOW_SECS
    );
    assert_eq!(
        strings(&m["FunctionResponseTypes"], "FunctionResponseTypes"),
        ["ReportBatchItemFailures"]
    );
    let concurrency = int(
        at(m, &["ScalingConfig", "MaximumConcurrency"]),
        "MaximumConcurrency",
    );
    assert_eq!(
        concurrency,
        u64::from(settings::ADMIN_DIGEST_MAX_CONCURRENCY)
    );
    // Lambda's limits: a batch above 10 needs a window; at most 300 s and
    // 10,000 records on a standard queue; MaximumConcurrency 2 to 1000.
    // https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
    let batch = int(&m["BatchSize"], "BatchSize");
    let window = int(
        &m["MaximumBatchingWindowInSeconds"],
        "MaximumBatchingWindowInSeconds",
    );
    assert!((1..=300).contains(&window), "{window}");
    assert!(batch <= 10_000 && (batch <= 10 || window >= 1), "{batch}");
    assert!((2..=1000).contains(&concurrency));
    // The bound the template's comment states: at most one e-mail per
    // interval per invocation, so concurrency / interval e-mails per second,
    // below the 10 per second that suspend an SNS e-mail subscription.
    let per_second_x1000 = concurrency * 1000 * 1000 / settings::ADMIN_DIGEST_MIN_EMAIL_INTERVAL_MS;
    assert_eq!(per_second_x1000, 2000, "2 e-mails per second");
    assert!(per_second_x1000 < 10_000);
    let comment_above_admin_topic = TEMPLATE
        .split("\n  AdminTopic:\n")
        .next()
        .and_then(|before| before.rsplit("\n\n").next())
        .unwrap_or_default();
    assert!(
        comment_above_admin_topic.contains("at most 2 e-mails per second"),
        "the comment above AdminTopic states the bound: {comment_above_admin_topic}"
    );
}

#[test]
fn admin_digest_subscription_is_raw_filtered_and_dead_lettered() {
    let t = template();
    let sub = at(resource(&t, "AdminDigestSubscription"), &["Properties"]);
    assert_eq!(reference(&sub["TopicArn"], "TopicArn"), "OrderEventsTopic");
    assert_eq!(string(&sub["Protocol"], "Protocol"), "sqs");
    assert_eq!(
        reference(&sub["Endpoint"], "Endpoint"),
        "AdminDigestQueue.Arn"
    );
    assert!(boolean(&sub["RawMessageDelivery"], "RawMessageDelivery"));
    assert_eq!(
        string(&sub["FilterPolicyScope"], "FilterPolicyScope"),
        "MessageAttributes"
    );
    assert_eq!(
        string(&sub["FilterPolicy"], "FilterPolicy"),
        settings::ADMIN_DIGEST_FILTER_POLICY
    );
    let policy: serde_json::Value =
        serde_json::from_str(settings::ADMIN_DIGEST_FILTER_POLICY).unwrap();
    assert_eq!(
        policy,
        serde_json::json!({ adapters::ports::EVENT_TYPE_ATTRIBUTE: [orders_domain::contract::ORDER_CREATED_EVENT_TYPE] })
    );
    assert_eq!(
        reference(
            at(sub, &["RedrivePolicy", "deadLetterTargetArn"]),
            "deadLetterTargetArn"
        ),
        "AdminDigestDlq.Arn"
    );
    // The topic may send to the queue and to the DLQ, and no other topic may.
    let statements = at(
        resource(&t, "AdminDigestQueuePolicy"),
        &["Properties", "PolicyDocument", "Statement"],
    )
    .as_vec()
    .unwrap();
    assert_eq!(statements.len(), 1);
    let s = &statements[0];
    assert_eq!(s["Action"].as_str(), Some("sqs:SendMessage"));
    assert_eq!(
        reference(&s["Condition"]["ArnEquals"]["aws:SourceArn"], "SourceArn"),
        "OrderEventsTopic"
    );
    let targets: BTreeSet<String> = s["Resource"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|r| reference(r, "Resource"))
        .collect();
    assert_eq!(
        targets,
        BTreeSet::from(["AdminDigestQueue.Arn".into(), "AdminDigestDlq.Arn".into()])
    );
}

#[test]
fn the_admin_email_is_on_the_admin_topic_and_no_email_is_on_the_events_topic() {
    let t = template();
    let emails: Vec<(String, String)> = at(&t, &["Resources"])
        .as_hash()
        .unwrap()
        .iter()
        .filter(|(_, r)| {
            r["Type"].as_str() == Some("AWS::SNS::Subscription")
                && r["Properties"]["Protocol"].as_str() == Some("email")
        })
        .map(|(id, r)| {
            (
                string(id, "id").to_owned(),
                reference(&r["Properties"]["TopicArn"], "TopicArn"),
            )
        })
        .collect();
    assert!(
        emails.contains(&("AdminEmailSubscription".into(), "AdminTopic".into())),
        "{emails:?}"
    );
    assert!(
        emails.iter().all(|(_, topic)| topic != "OrderEventsTopic"),
        "an e-mail subscription on the events topic is suspended above 10 messages/s: {emails:?}"
    );
    // Only the digest publishes to the admin topic.
    let publishers: Vec<&str> = at(&t, &["Resources"])
        .as_hash()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::IAM::Role"))
        .filter(|(_, r)| {
            r["Properties"]["Policies"]
                .as_vec()
                .into_iter()
                .flatten()
                .flat_map(|p| {
                    p["PolicyDocument"]["Statement"]
                        .as_vec()
                        .into_iter()
                        .flatten()
                })
                .any(|s| {
                    s["Action"].as_str() == Some("sns:Publish")
                        && reference(&s["Resource"], "Resource") == "AdminTopic"
                })
        })
        .map(|(id, _)| string(id, "id"))
        .collect();
    assert_eq!(publishers, ["AdminDigestRole"]);
    // And SNS's failed deliveries from it are alarmed.
    let alarm = at(
        resource(&t, "AdminTopicDeliveryFailedAlarm"),
        &["Properties"],
    );
    assert_eq!(string(&alarm["Namespace"], "Namespace"), "AWS/SNS");
    assert_eq!(
        string(&alarm["MetricName"], "MetricName"),
        "NumberOfNotificationsFailed"
    );
    assert_eq!(
        reference(&alarm["Dimensions"][0]["Value"], "Dimensions"),
        "AdminTopic.TopicName"
    );
}

#[test]
fn admin_digest_role_may_do_exactly_what_the_function_and_its_mapping_need() {
    let t = template();
    let statements = at(resource(&t, "AdminDigestRole"), &["Properties", "Policies"])
        .as_vec()
        .unwrap()
        .iter()
        .flat_map(|p| {
            at(p, &["PolicyDocument", "Statement"])
                .as_vec()
                .unwrap()
                .iter()
        });
    let mut granted = BTreeSet::new();
    for s in statements {
        assert_eq!(s["Effect"].as_str(), Some("Allow"));
        let actions = match &s["Action"] {
            Yaml::String(a) => vec![a.clone()],
            other => strings(other, "Action"),
        };
        let resource = match &s["Resource"] {
            Yaml::String(r) if r == "*" => "*".to_owned(),
            other => reference(other, "Resource"),
        };
        for action in actions {
            granted.insert((action, resource.clone()));
        }
    }
    let expected: BTreeSet<(String, String)> = [
        ("sqs:ReceiveMessage", "AdminDigestQueue.Arn"),
        ("sqs:DeleteMessage", "AdminDigestQueue.Arn"),
        ("sqs:GetQueueAttributes", "AdminDigestQueue.Arn"),
        ("sqs:ChangeMessageVisibility", "AdminDigestQueue.Arn"),
        ("sns:Publish", "AdminTopic"),
        ("dynamodb:PutItem", "AdminDigestTable.Arn"),
        ("dynamodb:DeleteItem", "AdminDigestTable.Arn"),
        ("kms:Decrypt", "StackKey.Arn"),
        ("kms:Encrypt", "StackKey.Arn"),
        ("kms:GenerateDataKey", "StackKey.Arn"),
        ("kms:DescribeKey", "StackKey.Arn"),
        ("logs:CreateLogStream", "AdminDigestLogGroup.Arn"),
        ("logs:PutLogEvents", "AdminDigestLogGroup.Arn"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_owned(), r.to_owned()))
    .collect();
    assert_eq!(granted, expected);
    // The idempotency table is the kit's: its key and TTL attributes.
    let table = at(resource(&t, "AdminDigestTable"), &["Properties"]);
    assert_eq!(
        string(&table["KeySchema"][0]["AttributeName"], "KeySchema"),
        order_consumer::idempotency::KEY_ATTRIBUTE
    );
    assert_eq!(
        string(
            &table["TimeToLiveSpecification"]["AttributeName"],
            "TimeToLiveSpecification"
        ),
        order_consumer::idempotency::TTL_ATTRIBUTE
    );
}

// ---------------------------------------------------------------- OpenAPI

/// The API's one OpenAPI document, which the template includes and
/// orders-local serves.
const OPENAPI: &str = include_str!("../../infra/openapi.yaml");

fn openapi() -> Yaml {
    let mut docs = YamlLoader::load_from_str(OPENAPI).expect("infra/openapi.yaml is valid YAML");
    assert_eq!(docs.len(), 1, "one YAML document");
    docs.remove(0)
}

/// The intake sources that build answers (tests excluded: they stop at the
/// first `#[cfg(test)]`).
const INTAKE_SOURCES: &[(&str, &str)] = &[
    (
        "config.rs",
        include_str!("../../functions/intake/src/config.rs"),
    ),
    (
        "error.rs",
        include_str!("../../functions/intake/src/error.rs"),
    ),
    (
        "handler.rs",
        include_str!("../../functions/intake/src/handler.rs"),
    ),
    ("lib.rs", include_str!("../../functions/intake/src/lib.rs")),
    (
        "edge/problem.rs",
        include_str!("../../shared/edge/src/problem.rs"),
    ),
];

/// The status function's sources that build answers, and the shared edge.
const STATUS_SOURCES: &[(&str, &str)] = &[
    (
        "error.rs",
        include_str!("../../functions/status/src/error.rs"),
    ),
    (
        "handler.rs",
        include_str!("../../functions/status/src/handler.rs"),
    ),
    (
        "view.rs",
        include_str!("../../functions/status/src/view.rs"),
    ),
    (
        "edge/problem.rs",
        include_str!("../../shared/edge/src/problem.rs"),
    ),
];

/// The numeric code of an `http::StatusCode` constant name.
fn status_code(name: &str) -> Option<u16> {
    Some(match name {
        "OK" => 200,
        "CREATED" => 201,
        "ACCEPTED" => 202,
        "BAD_REQUEST" => 400,
        "UNAUTHORIZED" => 401,
        "FORBIDDEN" => 403,
        "NOT_FOUND" => 404,
        "METHOD_NOT_ALLOWED" => 405,
        "CONFLICT" => 409,
        "PAYLOAD_TOO_LARGE" => 413,
        "UNSUPPORTED_MEDIA_TYPE" => 415,
        "UNPROCESSABLE_ENTITY" => 422,
        "TOO_MANY_REQUESTS" => 429,
        "INTERNAL_SERVER_ERROR" => 500,
        "SERVICE_UNAVAILABLE" => 503,
        _ => return None,
    })
}

/// Every status the intake handler can answer: each `StatusCode::NAME` its
/// non-test code names.
fn intake_statuses() -> BTreeSet<u16> {
    statuses_in("intake", INTAKE_SOURCES)
}

/// Every `StatusCode::NAME` the non-test code of `sources` names.
fn statuses_in(function: &str, sources: &[(&str, &str)]) -> BTreeSet<u16> {
    let mut statuses = BTreeSet::new();
    for (file, source) in sources {
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        for (at, _) in code.match_indices("StatusCode::") {
            let name: String = code[at + "StatusCode::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if name.is_empty() {
                continue; // `StatusCode::from_u16` and the like build no answer.
            }
            let status = status_code(&name).unwrap_or_else(|| {
                panic!(
                    "{function}/src/{file} answers StatusCode::{name}: add it to status_code() \
                     here and document it in infra/openapi.yaml"
                )
            });
            statuses.insert(status);
        }
    }
    statuses
}

#[test]
fn the_api_definition_is_the_one_openapi_file() {
    // Given the template's HTTP API
    let t = template();
    let api = at(resource(&t, "OrdersApi"), &["Properties"]);
    // Then its definition is infra/openapi.yaml, included whole
    let body = at(api, &["DefinitionBody"]);
    assert_eq!(
        body.as_hash().map(|h| h.len()),
        Some(1),
        "DefinitionBody is one Fn::Transform: {body:?}"
    );
    let transform = at(body, &["Fn::Transform"]);
    assert_eq!(
        string(&transform["Name"], "Fn::Transform.Name"),
        "AWS::Include"
    );
    assert_eq!(
        string(&transform["Parameters"]["Location"], "Parameters.Location"),
        "openapi.yaml"
    );
    assert!(
        api["DefinitionUri"].is_badvalue(),
        "OrdersApi has no second definition (DefinitionUri)"
    );
    // And that file is the one orders-local serves
    assert_eq!(OPENAPI, orders_local::openapi::SOURCE);
    // And it uses no short-form tag, which AWS::Include refuses
    for (number, line) in OPENAPI.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or_default();
        if line.trim_start().starts_with('#') {
            continue;
        }
        for tag in [
            "!Ref", "!GetAtt", "!Sub", "!If", "!Equals", "!Not", "!Join", "!Select",
        ] {
            assert!(
                !code.contains(&format!("{tag} ")) && !code.contains(&format!("[{tag}")),
                "infra/openapi.yaml:{}: short-form {tag}; write the long form (Fn::If:)",
                number + 1
            );
        }
    }
}

#[test]
fn the_openapi_file_routes_post_orders_to_intake_with_the_template_auth() {
    // Given the template and the OpenAPI file
    let (t, doc) = (template(), openapi());
    // Then the routes are POST /orders and GET /orders/{orderId}
    let paths = at(&doc, &["paths"]).as_hash().expect("paths is a mapping");
    let routes: Vec<(String, Vec<String>)> = paths
        .iter()
        .map(|(path, methods)| {
            let methods = methods.as_hash().expect("a path item is a mapping");
            let methods = methods
                .keys()
                .map(|m| string(m, "method").to_owned())
                .filter(|m| !m.starts_with("x-") && m != "parameters")
                .collect();
            (string(path, "path").to_owned(), methods)
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("/orders".to_owned(), vec!["post".to_owned()]),
            ("/orders/{orderId}".to_owned(), vec!["get".to_owned()]),
        ]
    );
    // And the function may be invoked for exactly that route
    let source_arn = at(
        resource(&t, "IntakeApiPermission"),
        &["Properties", "SourceArn"],
    );
    assert!(
        string(source_arn, "SourceArn").ends_with("/POST/orders"),
        "IntakeApiPermission.SourceArn covers POST /orders: {source_arn:?}"
    );
    // And API Gateway proxies it to the intake function, payload format 2.0
    let post = at(&doc, &["paths", "/orders", "post"]);
    let integration = at(post, &["x-amazon-apigateway-integration"]);
    assert_eq!(string(&integration["type"], "type"), "aws_proxy");
    assert_eq!(
        string(&integration["payloadFormatVersion"], "payloadFormatVersion"),
        "2.0"
    );
    assert_eq!(
        reference(&integration["uri"], "integration uri"),
        "IntakeFunction.Arn"
    );
    // And GET /orders/{orderId} goes to the status function the same way,
    // which may be invoked for that route only
    let get = at(&doc, &["paths", "/orders/{orderId}", "get"]);
    let integration = at(get, &["x-amazon-apigateway-integration"]);
    assert_eq!(string(&integration["type"], "type"), "aws_proxy");
    assert_eq!(
        string(&integration["payloadFormatVersion"], "payloadFormatVersion"),
        "2.0"
    );
    assert_eq!(
        reference(&integration["uri"], "integration uri"),
        "StatusFunction.Arn"
    );
    let source_arn = at(
        resource(&t, "StatusApiPermission"),
        &["Properties", "SourceArn"],
    );
    assert!(
        string(source_arn, "SourceArn").ends_with("/GET/orders/*"),
        "StatusApiPermission.SourceArn covers GET /orders/*: {source_arn:?}"
    );
    // And both routes have the same authorization (the same authorizer),
    // following the AuthMode conditions of the template
    assert_eq!(at(get, &["security"]), at(post, &["security"]));
    for (node, what) in [
        (at(post, &["security"]), "security"),
        (
            at(&doc, &["components", "securitySchemes"]),
            "securitySchemes",
        ),
    ] {
        let condition = string(&at(node, &["Fn::If"])[0], what);
        assert_eq!(condition, "UseIamAuth", "{what}");
        let nested = string(&node["Fn::If"][2]["Fn::If"][0], what);
        assert_eq!(nested, "UseJwtAuth", "{what}");
        for name in [condition, nested] {
            at(&t, &["Conditions", name]);
        }
    }
}

#[test]
fn the_documented_answers_of_post_orders_are_exactly_those_intake_gives() {
    // Given the statuses intake's code can answer
    let mut answers = intake_statuses();
    // API Gateway invokes intake for POST /orders only (see the test above)
    // and answers any other method itself, so intake's 405 never reaches a
    // client.
    assert!(answers.remove(&405), "intake still refuses other methods");
    // When the OpenAPI file's responses of POST /orders are read
    let doc = openapi();
    let documented: BTreeSet<u16> = at(&doc, &["paths", "/orders", "post", "responses"])
        .as_hash()
        .expect("responses is a mapping")
        .keys()
        .map(|k| match k {
            Yaml::String(s) => s.parse().expect("responses are status codes"),
            Yaml::Integer(i) => u16::try_from(*i).expect("a status code"),
            other => panic!("response key {other:?}"),
        })
        .collect();
    // Then they are the same set
    assert_eq!(documented, answers);
    assert_eq!(
        documented,
        BTreeSet::from([202, 400, 413, 415, 422, 500, 503])
    );
}

#[test]
fn the_documented_answers_of_get_order_are_exactly_those_status_gives() {
    // Given the statuses the status function's code can answer; API Gateway
    // routes only GET to it, so its 405 never reaches a client
    let mut answers = statuses_in("status", STATUS_SOURCES);
    assert!(answers.remove(&405), "status still refuses other methods");
    // When the OpenAPI file's responses of GET /orders/{orderId} are read
    let doc = openapi();
    let documented: BTreeSet<u16> = at(&doc, &["paths", "/orders/{orderId}", "get", "responses"])
        .as_hash()
        .expect("responses is a mapping")
        .keys()
        .map(|k| string(k, "status").parse().expect("a status code"))
        .collect();
    // Then they are the same set
    assert_eq!(documented, answers);
    assert_eq!(documented, BTreeSet::from([200, 400, 404, 500, 503]));
}

#[test]
fn the_documented_order_status_is_exactly_what_status_answers_and_no_personal_data() {
    use orders_domain::contract::{CorrelationId, OrderMessage};
    use orders_domain::domain::{OrderId, OrderRequest};
    // Given the fullest view the status function renders (every optional field)
    let request = OrderRequest::from_json(&serde_json::json!({
        "customerName": "Ada Lovelace", "customerEmail": "ada@example.com",
        "shippingAddress": "12 St James's Square, London", "currency": "EUR",
        "items": [{"itemId": "book-1", "quantity": 2, "unitPrice": 1999}]
    }))
    .unwrap();
    let message = OrderMessage::new(
        OrderId::parse("A-1001").unwrap(),
        CorrelationId::parse("c-1").unwrap(),
        time::OffsetDateTime::now_utc(),
        request.order,
    );
    let stored = adapters::record::StoredOrder::from_message(&message, message.accepted_at);
    let view = serde_json::to_value(status::OrderView::from(&stored)).unwrap();
    let rendered: BTreeSet<String> = view.as_object().unwrap().keys().cloned().collect();
    // When the OpenAPI schema of the 200 is read
    let doc = openapi();
    let schema = at(&doc, &["components", "schemas", "OrderStatus"]);
    let documented: BTreeSet<String> = at(schema, &["properties"])
        .as_hash()
        .unwrap()
        .keys()
        .map(|k| string(k, "property").to_owned())
        .collect();
    // Then they are the same fields, none of them personal data
    assert_eq!(documented, rendered);
    for personal in ["customerName", "customerEmail", "shippingAddress"] {
        assert!(!documented.contains(personal), "{personal} documented");
    }
    let item: BTreeSet<String> = view["items"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let documented_item: BTreeSet<String> =
        at(schema, &["properties", "items", "items", "properties"])
            .as_hash()
            .unwrap()
            .keys()
            .map(|k| string(k, "property").to_owned())
            .collect();
    assert_eq!(documented_item, item);
    // And the 202 points at it with a required Location header
    let location = at(
        &doc,
        &[
            "paths",
            "/orders",
            "post",
            "responses",
            "202",
            "headers",
            "Location",
        ],
    );
    assert_eq!(location["required"].as_bool(), Some(true));
}

#[test]
fn the_status_role_may_read_single_orders_and_nothing_else() {
    // Given the status function's role
    let t = template();
    assert_eq!(
        reference(
            &resource(&t, "StatusFunction")["Properties"]["Role"],
            "Role"
        ),
        "StatusRole.Arn"
    );
    let statements: Vec<&Yaml> = at(resource(&t, "StatusRole"), &["Properties", "Policies"])
        .as_vec()
        .expect("Policies is a list")
        .iter()
        .flat_map(|p| {
            at(p, &["PolicyDocument", "Statement"])
                .as_vec()
                .unwrap()
                .iter()
        })
        .collect();
    let actions = |s: &Yaml| -> Vec<String> {
        match &s["Action"] {
            Yaml::String(a) => vec![a.clone()],
            list => strings(list, "Action"),
        }
    };
    // Then it allows exactly these actions
    let all: BTreeSet<String> = statements.iter().flat_map(|s| actions(s)).collect();
    assert_eq!(
        all,
        names(&[
            "dynamodb:GetItem",
            "kms:Decrypt",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
        ])
    );
    for statement in &statements {
        assert_eq!(statement["Effect"].as_str(), Some("Allow"));
        let acts = actions(statement);
        let resource_of = || reference(&statement["Resource"], "Resource");
        // GetItem on the orders table only
        if acts.iter().any(|a| a.starts_with("dynamodb:")) {
            assert_eq!(acts, ["dynamodb:GetItem"]);
            assert_eq!(resource_of(), "OrdersTable.Arn");
        }
        // The table's key, only through DynamoDB
        if acts.iter().any(|a| a.starts_with("kms:")) {
            assert_eq!(resource_of(), "StackKey.Arn");
            assert!(
                !statement["Condition"]["StringEquals"]["kms:ViaService"].is_badvalue(),
                "kms:Decrypt without kms:ViaService"
            );
        }
        if acts.iter().any(|a| a.starts_with("logs:")) {
            assert_eq!(resource_of(), "StatusLogGroup.Arn");
        }
    }
}

#[test]
fn the_openapi_limits_are_the_domain_constants() {
    use orders_domain::domain::{
        MAX_ADDRESS_LEN, MAX_EMAIL_LEN, MAX_ID_LEN, MAX_ITEMS, MAX_NAME_LEN, MAX_QUANTITY,
        MAX_UNIT_PRICE_MINOR,
    };
    let doc = openapi();
    let schemas = at(&doc, &["components", "schemas"]);
    let order = at(schemas, &["OrderRequest", "properties"]);
    let item = at(schemas, &["LineItem", "properties"]);
    let limit = |node: &Yaml, key: &str, what: &str| int(at(node, &[key]), what);
    for (node, key, expected, what) in [
        (at(schemas, &["Id"]), "maxLength", MAX_ID_LEN, "Id"),
        (at(order, &["orderID"]), "maxLength", MAX_ID_LEN, "orderID"),
        (at(order, &["orderId"]), "maxLength", MAX_ID_LEN, "orderId"),
        (
            at(order, &["customerName"]),
            "maxLength",
            MAX_NAME_LEN,
            "customerName",
        ),
        (
            at(order, &["customerEmail"]),
            "maxLength",
            MAX_EMAIL_LEN,
            "customerEmail",
        ),
        (
            at(order, &["shippingAddress"]),
            "maxLength",
            MAX_ADDRESS_LEN,
            "shippingAddress",
        ),
        (at(order, &["items"]), "maxItems", MAX_ITEMS, "items"),
    ] {
        assert_eq!(limit(node, key, what), expected as u64, "{what}.{key}");
    }
    assert_eq!(
        limit(at(item, &["quantity"]), "maximum", "quantity"),
        u64::from(MAX_QUANTITY)
    );
    assert_eq!(
        limit(at(item, &["unitPrice"]), "maximum", "unitPrice"),
        MAX_UNIT_PRICE_MINOR
    );
    // The Idempotency-Key header takes an order id, bare or quoted
    let parameters = at(&doc, &["paths", "/orders", "post", "parameters"])
        .as_vec()
        .expect("parameters is a list");
    let key = parameters
        .iter()
        .find(|p| p["name"].as_str() == Some("Idempotency-Key"))
        .expect("Idempotency-Key is documented");
    let pattern = string(at(key, &["schema", "pattern"]), "Idempotency-Key pattern");
    assert_eq!(
        pattern.matches(&format!("{{1,{MAX_ID_LEN}}}")).count(),
        2,
        "Idempotency-Key: {pattern}"
    );
    // The body limit is the handler's
    let body = string(
        at(
            &doc,
            &["paths", "/orders", "post", "requestBody", "description"],
        ),
        "requestBody.description",
    );
    assert!(
        body.contains(&intake::MAX_BODY_BYTES.to_string()),
        "requestBody.description names {} bytes: {body}",
        intake::MAX_BODY_BYTES
    );
    // Every documented body field is one the parser knows (an unknown one is
    // reported as such)
    let fields = at(schemas, &["OrderRequest", "properties"])
        .as_hash()
        .expect("properties is a mapping");
    for field in fields.keys().map(|k| string(k, "field")) {
        let body = serde_json::json!({ field: null });
        let errors = orders_domain::domain::OrderRequest::from_json(&body).unwrap_err();
        assert!(
            errors
                .errors()
                .iter()
                .all(|e| !(e.pointer == format!("/{field}")
                    && e.detail.starts_with("unknown field"))),
            "{field} is documented but unknown to OrderRequest::from_json"
        );
    }
}

// ------------------------------------------------------- latency and tracing

/// The metric filters that turn each stage's `age_ms` into a latency metric:
/// (logical id, log group, the outcome the stage logs, metric name).
const LATENCY_FILTERS: [(&str, &str, &str, &str); 3] = [
    (
        "IntakeEnqueuedLatencyMetric",
        "IntakeLogGroup",
        "accepted",
        "AcceptedToEnqueuedMs",
    ),
    (
        "WorkerPersistedLatencyMetric",
        "WorkerLogGroup",
        "persisted",
        "AcceptedToPersistedMs",
    ),
    (
        "NotifierNotifiedLatencyMetric",
        "NotifierLogGroup",
        "notified",
        "AcceptedToNotifiedMs",
    ),
];

/// Whether a JSON log line matches a CloudWatch JSON filter pattern of the
/// form `{ $.a = "x" && $.b = * && $.c = 3 }` (the only forms this stack uses;
/// anything else fails the test rather than being guessed at).
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html>
fn filter_matches(pattern: &str, line: &serde_json::Value) -> bool {
    let inner = pattern
        .trim()
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or_else(|| panic!("not a JSON filter pattern: {pattern}"));
    inner.split("&&").all(|term| {
        let (selector, value) = term
            .split_once('=')
            .unwrap_or_else(|| panic!("unsupported term {term:?} in {pattern}"));
        let field = selector
            .trim()
            .strip_prefix("$.")
            .unwrap_or_else(|| panic!("unsupported selector {selector:?}"));
        let actual = &line[field];
        match value.trim() {
            "*" => !actual.is_null(),
            quoted if quoted.starts_with('"') => actual.as_str() == Some(quoted.trim_matches('"')),
            number => actual.as_f64() == Some(number.parse::<f64>().unwrap()),
        }
    })
}

/// The dashboard body with `${…}` substitutions replaced: `"${X}"` by `"X"`,
/// a bare `${X}` (a number) by `0`, so it parses as JSON.
fn dashboard(t: &Yaml) -> serde_json::Value {
    let body = string(
        at(resource(t, "Dashboard"), &["Properties", "DashboardBody"]),
        "DashboardBody",
    );
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').expect("closed ${");
        out.push_str(&rest[..start]);
        let quoted = rest[..start].ends_with('"');
        out.push_str(if quoted { &rest[start + 2..end] } else { "0" });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("DashboardBody is not JSON: {e}"))
}

#[test]
fn every_function_traces_actively_and_its_role_may_write_traces() {
    let t = template();
    for (function, role) in [
        ("IntakeFunction", "IntakeRole"),
        ("WorkerFunction", "WorkerRole"),
        ("NotifierFunction", "NotifierRole"),
        ("StatusFunction", "StatusRole"),
        ("AdminDigestFunction", "AdminDigestRole"),
    ] {
        assert_eq!(
            string(function_property(&t, function, "Tracing"), "Tracing"),
            "Active",
            "{function}.Tracing"
        );
        assert_eq!(
            reference(&resource(&t, function)["Properties"]["Role"], "Role"),
            format!("{role}.Arn")
        );
        // AWSXRayDaemonWriteAccess's two actions, in the role's own policy.
        let actions: BTreeSet<String> = at(resource(&t, role), &["Properties", "Policies"])
            .as_vec()
            .expect("Policies is a list")
            .iter()
            .flat_map(|p| {
                at(p, &["PolicyDocument", "Statement"])
                    .as_vec()
                    .unwrap()
                    .iter()
            })
            .filter(|s| s["Effect"].as_str() == Some("Allow"))
            .flat_map(|s| match &s["Action"] {
                Yaml::String(a) => vec![a.clone()],
                list => strings(list, "Action"),
            })
            .collect();
        for action in ["xray:PutTraceSegments", "xray:PutTelemetryRecords"] {
            assert!(actions.contains(action), "{role} lacks {action}");
        }
    }
}

#[test]
fn latency_metric_filters_read_the_age_each_stage_logs_in_milliseconds() {
    let t = template();
    for (id, log_group, outcome, metric) in LATENCY_FILTERS {
        let properties = at(resource(&t, id), &["Properties"]);
        assert_eq!(
            string(at(resource(&t, id), &["Type"]), "Type"),
            "AWS::Logs::MetricFilter"
        );
        assert_eq!(reference(&properties["LogGroupName"], id), log_group);
        let pattern = string(&properties["FilterPattern"], "FilterPattern");
        let transformations = properties["MetricTransformations"].as_vec().unwrap();
        assert_eq!(transformations.len(), 1, "{id}");
        let m = &transformations[0];
        assert_eq!(reference(&m["MetricNamespace"], id), "MetricNamespace");
        assert_eq!(string(&m["MetricName"], id), metric);
        assert_eq!(
            string(&m["MetricValue"], id),
            format!("$.{}", adapters::telemetry::AGE_MS_FIELD)
        );
        assert_eq!(string(&m["Unit"], id), "Milliseconds");
        // The pattern picks this stage's outcome line and only when it has an age.
        let line = serde_json::json!({"outcome": outcome, "age_ms": 12});
        assert!(filter_matches(pattern, &line), "{id}: {pattern}");
        let ageless = serde_json::json!({"outcome": outcome});
        assert!(!filter_matches(pattern, &ageless), "{id}: {pattern}");
        let other = serde_json::json!({"outcome": "skipped", "age_ms": 12});
        assert!(!filter_matches(pattern, &other), "{id}: {pattern}");
    }
    // The outcome names are the handlers' own.
    assert_eq!(worker::Outcome::Persisted.as_str(), LATENCY_FILTERS[1].2);
    assert_eq!(notifier::Outcome::Notified.as_str(), LATENCY_FILTERS[2].2);
}

#[test]
fn notified_latency_alarm_watches_p99_of_the_notifier_metric_against_its_parameter() {
    let t = template();
    let alarm = at(resource(&t, "NotifiedLatencyAlarm"), &["Properties"]);
    assert_eq!(
        reference(&alarm["Namespace"], "Namespace"),
        "MetricNamespace"
    );
    assert_eq!(
        string(&alarm["MetricName"], "MetricName"),
        LATENCY_FILTERS[2].3
    );
    assert_eq!(
        string(&alarm["ExtendedStatistic"], "ExtendedStatistic"),
        "p99"
    );
    assert!(
        alarm["Statistic"].is_badvalue(),
        "p99, not a plain statistic"
    );
    assert_eq!(int(&alarm["Period"], "Period"), 60, "per minute");
    assert_eq!(
        string(&alarm["ComparisonOperator"], "ComparisonOperator"),
        "GreaterThanThreshold"
    );
    assert_eq!(
        string(&alarm["TreatMissingData"], "TreatMissingData"),
        "notBreaching",
        "no orders is not slow orders"
    );
    assert_eq!(
        reference(&alarm["Threshold"], "Threshold"),
        "NotifiedLatencyAlarmMilliseconds"
    );
    let parameter = at(&t, &["Parameters", "NotifiedLatencyAlarmMilliseconds"]);
    assert_eq!(int(&parameter["Default"], "Default"), 60_000, "60 s");
    let actions = &alarm["AlarmActions"].as_vec().expect("AlarmActions")[0];
    assert_eq!(reference(actions, "AlarmActions"), "OpsTopic");
    let description = string(&alarm["AlarmDescription"], "AlarmDescription");
    assert!(
        description.contains("infra/RUNBOOK.md#notifiedlatencyalarm"),
        "{description}"
    );
}

#[test]
fn dashboard_shows_p50_and_p99_latency_per_minute_of_metrics_the_filters_publish() {
    let t = template();
    let body = dashboard(&t);
    let widgets = body["widgets"].as_array().expect("widgets");
    for metric in ["AcceptedToPersistedMs", "AcceptedToNotifiedMs"] {
        let widget = widgets
            .iter()
            .find(|w| {
                w["properties"]["metrics"]
                    .as_array()
                    .is_some_and(|ms| ms.iter().any(|m| m[1] == metric))
            })
            .unwrap_or_else(|| panic!("no dashboard widget shows {metric}"));
        assert_eq!(widget["properties"]["period"], 60, "{metric} per minute");
        let stats: BTreeSet<&str> = widget["properties"]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m[1] == metric)
            .map(|m| {
                assert_eq!(m[0], "MetricNamespace", "{metric}'s namespace");
                m.as_array().unwrap().last().unwrap()["stat"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{metric} has no stat"))
            })
            .collect();
        assert_eq!(stats, BTreeSet::from(["p50", "p99"]), "{metric}");
    }
    // Every metric of the stack's namespace on the dashboard is published by
    // one of the stack's metric filters (a renamed metric would draw nothing).
    let published: BTreeSet<String> = at(&t, &["Resources"])
        .as_hash()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Logs::MetricFilter"))
        .flat_map(|r| {
            r["Properties"]["MetricTransformations"]
                .as_vec()
                .unwrap()
                .iter()
        })
        .map(|m| string(&m["MetricName"], "MetricName").to_owned())
        .collect();
    for widget in widgets {
        for m in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if m[0] == "MetricNamespace" {
                let name = m[1].as_str().unwrap();
                assert!(
                    published.contains(name),
                    "dashboard shows unpublished {name}"
                );
            }
        }
    }
}

/// Drives one order through the shipped intake, worker and notifier handlers
/// on the memory adapters and returns every JSON log line they wrote.
async fn log_lines_of_one_order(trace_header: &str) -> (Vec<serde_json::Value>, Option<String>) {
    use adapters::memory::{MemoryDeadLetters, MemoryPublisher, MemoryQueue, MemoryStore};
    use adapters::record::ItemMapping;
    use lambda_http::RequestExt;
    use lambda_runtime::{Context, LambdaEvent};
    use std::sync::Arc;

    let capture = adapters::telemetry::LogCapture::default();
    let _guard = capture.set_default();
    let queue = Arc::new(MemoryQueue::default());
    let mut context = Context::default();
    context.xray_trace_id = Some(trace_header.to_owned());
    let request = http::Request::builder()
        .method("POST")
        .uri("/orders")
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(
            r#"{"orderID":"lat-1","customerName":"Harry Kane","items":[{"itemId":"item456","quantity":22}],"shippingAddress":"11 Nguyen Van Linh, Hanoi, Vietnam"}"#,
        ))
        .unwrap()
        .with_lambda_context(context);
    let intake_deps = intake::Deps::new(queue.clone(), intake::GroupStrategy::Customer);
    let response = intake::handle(&intake_deps, request).await.unwrap();
    assert_eq!(response.status(), 202);
    let outgoing = queue.sent().remove(0);

    let store = Arc::new(MemoryStore::default());
    let worker_deps = worker::Deps::new(store.clone(), Arc::new(MemoryDeadLetters::default()));
    let sqs = serde_json::from_value(serde_json::json!({"Records": [{
        "messageId": "m-1", "receiptHandle": "r-1", "body": outgoing.message.to_body(),
        "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": outgoing.group_id,
                       "AWSTraceHeader": trace_header},
        "messageAttributes": {}, "eventSource": "aws:sqs",
    }]}))
    .unwrap();
    worker::handle(&worker_deps, LambdaEvent::new(sqs, Context::default()))
        .await
        .unwrap();

    let stored = store.get("lat-1").expect("stored");
    let image: serde_dynamo::Item = stored.to_item().unwrap();
    let stream = serde_json::from_value(serde_json::json!({"Records": [{
        "eventID": "e-1", "eventName": "INSERT", "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "eventSourceARN": "arn:aws:dynamodb:eu-west-1:1:table/orders/stream/x",
        "dynamodb": {"ApproximateCreationDateTime": 1795514401,
            "Keys": {"orderId": {"S": "lat-1"}}, "NewImage": serde_json::to_value(&image).unwrap(),
            "SequenceNumber": "100", "SizeBytes": 1, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    }]}))
    .unwrap();
    let notifier_deps = notifier::Deps::new(
        Arc::new(MemoryPublisher::default()),
        Arc::new(MemoryDeadLetters::default()),
    );
    notifier::handle(&notifier_deps, LambdaEvent::new(stream, Context::default()))
        .await
        .unwrap();

    let lines = capture
        .contents()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, outgoing.trace_header)
}

#[tokio::test]
async fn each_latency_filter_matches_exactly_one_line_its_stage_writes_with_a_numeric_age() {
    let t = template();
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let (lines, sent_trace) = log_lines_of_one_order(trace).await;
    for (id, _, _, _) in LATENCY_FILTERS {
        let pattern = string(
            at(resource(&t, id), &["Properties", "FilterPattern"]),
            "FilterPattern",
        );
        let matched: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|l| filter_matches(pattern, l))
            .collect();
        assert_eq!(matched.len(), 1, "{id} matches {matched:?} of {lines:?}");
        let line = matched[0];
        assert_eq!(line["order_id"], "lat-1", "{id}");
        assert!(line["correlation_id"].is_string(), "{id}: correlation id");
        assert!(
            line[adapters::telemetry::AGE_MS_FIELD].is_u64(),
            "{id}: {line}"
        );
    }
    // Intake hands the invocation's trace header to SQS as AWSTraceHeader,
    // and the worker logs the one the record carries.
    assert_eq!(sent_trace.as_deref(), Some(trace));
    let persisted = lines
        .iter()
        .find(|l| l["stage"] == "worker" && l["outcome"] == "persisted")
        .expect("the worker's outcome line");
    assert_eq!(persisted["trace_header"], trace);
}
