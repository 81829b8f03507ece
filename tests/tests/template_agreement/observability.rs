//! Tracing, latency and alarms: every function traces, the metric filters
//! match the lines the handlers really log, and the alarm and the dashboard
//! read the metrics those filters publish.

use std::collections::BTreeSet;

use yaml_rust2::Yaml;

use crate::template::{at, function_property, int, reference, resource, string, strings, template};

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
pub(crate) fn filter_matches(pattern: &str, line: &serde_json::Value) -> bool {
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
            format!("$.{}", orders_adapters::telemetry::AGE_MS_FIELD)
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
    use lambda_http::RequestExt;
    use lambda_runtime::{Context, LambdaEvent};
    use orders_adapters::memory::{MemoryDeadLetters, MemoryPublisher, MemoryQueue, MemoryStore};
    use orders_adapters::record::ItemMapping;
    use orders_domain::test_support::legacy_order;
    use std::sync::Arc;

    let capture = orders_adapters::telemetry::LogCapture::default();
    let _guard = capture.set_default();
    let queue = Arc::new(MemoryQueue::default());
    let mut context = Context::default();
    context.xray_trace_id = Some(trace_header.to_owned());
    let request = http::Request::builder()
        .method("POST")
        .uri("/orders")
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(legacy_order("lat-1").to_string()))
        .unwrap()
        .with_lambda_context(context);
    let intake_deps = intake::Deps::new(
        queue.clone(),
        intake::GroupStrategy::Customer,
        orders_http::Owners::open(),
    );
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
            line[orders_adapters::telemetry::AGE_MS_FIELD].is_u64(),
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
