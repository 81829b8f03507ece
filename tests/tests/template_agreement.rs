//! The deployed stack (`infra/template.yaml`) agrees with the code.
//!
//! * Each function's `Environment.Variables` are exactly the variables its crate
//!   reads (`<crate>::ENV_VARS`, spelled by `shared::config`).
//! * Queue and event-source-mapping settings equal `shared::settings`, which the
//!   local runner reproduces.
//!
//! The template is read with `include_str!`, so editing either side rebuilds and
//! re-runs this test. CloudFormation short-form tags (`!Ref`, `!GetAtt`, `!Sub`,
//! `!If`) are accepted by yaml-rust2, which drops the tag and keeps the node:
//! `!GetAtt OrdersQueue.Arn` reads as the string `OrdersQueue.Arn`.

// Test code, helpers included: a mismatch stops the test with the path at fault.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use shared::{config, settings};
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
    assert_eq!(names(worker::ENV_VARS), names(&[config::ORDERS_TABLE_NAME]));
    assert_eq!(
        names(notifier::ENV_VARS),
        names(&[config::ORDER_EVENTS_TOPIC_ARN])
    );
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
        var("NotifierFunction", config::ORDER_EVENTS_TOPIC_ARN),
        "OrderEventsTopic"
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
    for dlq in ["WorkerDlq", "NotifierDlq"] {
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
    assert_eq!(
        int(&m["MaximumRetryAttempts"], "MaximumRetryAttempts"),
        u64::from(settings::NOTIFIER_MAX_RETRY_ATTEMPTS)
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
