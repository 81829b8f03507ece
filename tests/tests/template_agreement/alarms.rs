//! Alarms that page: every `5xx` a client gets (per route, and intake's and
//! status's own answers, which are successful invocations the `Errors` alarms
//! never see), a failed stream batch Lambda could not even dead-letter, and
//! (when audited) personal data in an event. Every alarm pages the ops topic
//! and is in the runbook's "which alarm fires for what" table.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use orders_adapters::memory::{Fault, MemoryQueue, MemoryStore};
use orders_adapters::telemetry::LogCapture;
use yaml_rust2::Yaml;

use crate::api::openapi;
use crate::observability::filter_matches;
use crate::template::{at, boolean, event_properties, int, reference, resource, string, template};

/// The runbook, whose table names every alarm.
const RUNBOOK: &str = include_str!("../../../infra/RUNBOOK.md");

/// The properties of an alarm, checked to page the ops topic on any datum
/// above zero in a minute, and quiet when there is no data.
fn paging_alarm<'a>(t: &'a Yaml, id: &str) -> &'a Yaml {
    let r = resource(t, id);
    assert_eq!(r["Type"].as_str(), Some("AWS::CloudWatch::Alarm"), "{id}");
    let a = at(r, &["Properties"]);
    assert_eq!(string(&a["Statistic"], "Statistic"), "Sum", "{id}");
    assert_eq!(int(&a["Period"], "Period"), 60, "{id}");
    assert_eq!(int(&a["EvaluationPeriods"], "EvaluationPeriods"), 1, "{id}");
    assert_eq!(int(&a["Threshold"], "Threshold"), 0, "{id}");
    assert_eq!(
        string(&a["ComparisonOperator"], "ComparisonOperator"),
        "GreaterThanThreshold",
        "{id}"
    );
    assert_eq!(
        string(&a["TreatMissingData"], "TreatMissingData"),
        "notBreaching",
        "{id}"
    );
    for actions in ["AlarmActions", "OKActions"] {
        let targets: Vec<String> = a[actions]
            .as_vec()
            .unwrap_or_else(|| panic!("{id}.{actions}"))
            .iter()
            .map(|n| reference(n, actions))
            .collect();
        assert_eq!(targets, ["OpsTopic"], "{id}.{actions}");
    }
    a
}

/// An alarm's dimensions, name -> what the value refers to.
fn dimensions(alarm: &Yaml) -> BTreeMap<String, String> {
    alarm["Dimensions"]
        .as_vec()
        .expect("Dimensions")
        .iter()
        .map(|d| {
            (
                string(&d["Name"], "Name").to_owned(),
                reference(&d["Value"], "Value"),
            )
        })
        .collect()
}

/// The metric filter publishing `metric`: (log group, filter pattern).
fn filter_publishing<'a>(t: &'a Yaml, metric: &str) -> (String, &'a str) {
    let filters: Vec<&Yaml> = at(t, &["Resources"])
        .as_hash()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Logs::MetricFilter"))
        .filter(|r| {
            r["Properties"]["MetricTransformations"]
                .as_vec()
                .expect("MetricTransformations")
                .iter()
                .any(|m| m["MetricName"].as_str() == Some(metric))
        })
        .collect();
    assert_eq!(filters.len(), 1, "one metric filter publishes {metric}");
    let p = &filters[0]["Properties"];
    let m = &p["MetricTransformations"][0];
    assert_eq!(reference(&m["MetricNamespace"], metric), "MetricNamespace");
    assert_eq!(
        string(&m["MetricValue"], metric),
        "1",
        "{metric} counts lines"
    );
    (
        reference(&p["LogGroupName"], "LogGroupName"),
        string(&p["FilterPattern"], "FilterPattern"),
    )
}

#[test]
fn every_5xx_a_client_gets_pages_per_route() {
    let t = template();
    let settings = at(
        resource(&t, "OrdersApi"),
        &["Properties", "DefaultRouteSettings"],
    );
    assert!(
        boolean(
            &settings["DetailedMetricsEnabled"],
            "DetailedMetricsEnabled"
        ),
        "per-route metrics need the stage's detailed metrics"
    );
    let doc = openapi();
    for (id, method, path, function) in [
        ("IntakeRoute5xxAlarm", "POST", "/orders", "IntakeFunction"),
        (
            "StatusRoute5xxAlarm",
            "GET",
            "/orders/{orderId}",
            "StatusFunction",
        ),
    ] {
        let alarm = paging_alarm(&t, id);
        assert_eq!(string(&alarm["Namespace"], id), "AWS/ApiGateway");
        assert_eq!(
            string(&alarm["MetricName"], id),
            "5xx",
            "the HTTP API's name"
        );
        // https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html
        let expected: BTreeMap<String, String> = [
            ("ApiId", "OrdersApi"),
            ("Stage", "OrdersApi.Stage"),
            ("Method", method),
            ("Resource", path),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        assert_eq!(dimensions(alarm), expected, "{id}");
        // The route exists, and is the function's.
        let lower = method.to_lowercase();
        let operation = at(&doc, &["paths", path, lower.as_str()]);
        let uri = &operation["x-amazon-apigateway-integration"]["uri"];
        assert_eq!(reference(uri, "uri"), format!("{function}.Arn"), "{id}");
    }
}

/// Each JSON log line `lines` holds that `pattern` matches.
fn matching<'a>(pattern: &str, lines: &'a [serde_json::Value]) -> Vec<&'a serde_json::Value> {
    lines
        .iter()
        .filter(|l| filter_matches(pattern, l))
        .collect()
}

fn lines(capture: &LogCapture) -> Vec<serde_json::Value> {
    capture
        .contents()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON log line"))
        .collect()
}

#[tokio::test]
async fn intake_and_status_page_on_the_5xx_they_answer_themselves() {
    use orders_domain::test_support::legacy_order;

    let t = template();
    for (id, metric, log_group) in [
        ("IntakeFailedAlarm", "IntakeFailed", "IntakeLogGroup"),
        ("StatusFailedAlarm", "StatusFailed", "StatusLogGroup"),
    ] {
        let alarm = paging_alarm(&t, id);
        assert_eq!(reference(&alarm["Namespace"], id), "MetricNamespace");
        assert_eq!(string(&alarm["MetricName"], id), metric);
        assert_eq!(filter_publishing(&t, metric).0, log_group, "{metric}");
    }
    let (_, intake_pattern) = filter_publishing(&t, "IntakeFailed");
    let (_, status_pattern) = filter_publishing(&t, "StatusFailed");

    // Given intake on a queue that is throttled, then refuses, then takes the order
    let capture = LogCapture::default();
    let _guard = capture.set_default();
    let queue = Arc::new(MemoryQueue::default());
    let intake_deps = intake::Deps::new(
        queue.clone(),
        intake::GroupStrategy::Customer,
        orders_http::Owners::open(),
    );
    let post = || {
        http::Request::builder()
            .method("POST")
            .uri("/orders")
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(legacy_order("fail-1").to_string()))
            .expect("a request")
    };
    queue.fail_next(1, Fault::Transient);
    queue.fail_next(1, Fault::Permanent);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = intake::handle(&intake_deps, post())
            .await
            .expect("an answer");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [503, 500, 202]);
    // Then the filter counts exactly the two 5xx, each once
    let logged = lines(&capture);
    let failed = matching(intake_pattern, &logged);
    let failed_statuses: Vec<u64> = failed
        .iter()
        .map(|l| l["status"].as_u64().expect("status"))
        .collect();
    assert_eq!(failed_statuses, [503, 500], "{logged:?}");

    // Given status on a table that is throttled, then refuses, then has no such order
    let capture = LogCapture::default();
    let _guard = capture.set_default();
    let store = Arc::new(MemoryStore::default());
    let status_deps = order_status::Deps::new(store.clone(), orders_http::Owners::open());
    store.fail_next(1, Fault::Transient);
    store.fail_next(1, Fault::Permanent);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let get = http::Request::builder()
            .method("GET")
            .uri("/orders/fail-1")
            .body(lambda_http::Body::Empty)
            .expect("a request");
        let response = order_status::handle(&status_deps, get)
            .await
            .expect("an answer");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [503, 500, 404]);
    // Then the filter counts exactly the two 5xx; a 404 is no failure
    let logged = lines(&capture);
    let failed = matching(status_pattern, &logged);
    let failed_statuses: Vec<u64> = failed
        .iter()
        .map(|l| l["status"].as_u64().expect("status"))
        .collect();
    assert_eq!(failed_statuses, [503, 500], "{logged:?}");
}

#[test]
fn a_stream_batch_lambda_could_not_dead_letter_pages() {
    let t = template();
    let id = "NotifierDestinationDeliveryFailuresAlarm";
    let alarm = paging_alarm(&t, id);
    // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
    assert_eq!(string(&alarm["Namespace"], id), "AWS/Lambda");
    assert_eq!(
        string(&alarm["MetricName"], id),
        "DestinationDeliveryFailures"
    );
    assert_eq!(
        dimensions(alarm),
        BTreeMap::from([("FunctionName".to_owned(), "NotifierFunction".to_owned())])
    );
    // The delivery it watches: the stream mapping's on-failure destination.
    let stream = event_properties(&t, "NotifierFunction", "DynamoDB");
    assert_eq!(
        reference(
            &stream["DestinationConfig"]["OnFailure"]["Destination"],
            "Destination"
        ),
        "NotifierDlq.Arn"
    );
}

#[test]
fn personal_data_in_events_is_audited_never_denied_and_pages() {
    let t = template();
    // Off by default: SNS closed message data protection to new customers.
    let parameter = at(&t, &["Parameters", "EventsTopicDataProtection"]);
    assert_eq!(string(&parameter["Default"], "Default"), "Off");
    let allowed: Vec<&str> = parameter["AllowedValues"]
        .as_vec()
        .expect("AllowedValues")
        .iter()
        .map(|v| string(v, "AllowedValues"))
        .collect();
    assert_eq!(allowed, ["Off", "Audit"], "never Deny");
    let condition = at(&t, &["Conditions", "AuditOrderEvents"]);
    assert_eq!(
        reference(&condition[0], "Fn::Equals"),
        "EventsTopicDataProtection"
    );
    assert_eq!(string(&condition[1], "Fn::Equals"), "Audit");

    let policy = at(
        resource(&t, "OrderEventsTopic"),
        &["Properties", "DataProtectionPolicy"],
    );
    assert_eq!(string(&policy[0], "Fn::If"), "AuditOrderEvents");
    assert_eq!(reference(&policy[2], "Fn::If"), "AWS::NoValue");
    let statements = policy[1]["Statement"].as_vec().expect("Statement");
    assert_eq!(
        statements.len(),
        1,
        "one audit statement, nothing that blocks"
    );
    let audit = &statements[0];
    assert_eq!(string(&audit["DataDirection"], "DataDirection"), "Inbound");
    let operations: Vec<&str> = audit["Operation"]
        .as_hash()
        .expect("Operation")
        .keys()
        .map(|k| string(k, "Operation"))
        .collect();
    assert_eq!(operations, ["Audit"]);
    let identifiers: BTreeSet<&str> = audit["DataIdentifier"]
        .as_vec()
        .expect("DataIdentifier")
        .iter()
        .map(|i| string(i, "DataIdentifier"))
        .collect();
    for personal in ["Name", "Address", "EmailAddress"] {
        let arn = format!("arn:aws:dataprotection::aws:data-identifier/{personal}");
        assert!(identifiers.contains(arn.as_str()), "{personal}");
    }
    let rate = int(&audit["Operation"]["Audit"]["SampleRate"], "SampleRate");
    assert!((1..=99).contains(&rate), "SNS samples 0-99%: {rate}");
    let destination =
        &audit["Operation"]["Audit"]["FindingsDestination"]["CloudWatchLogs"]["LogGroup"];
    assert_eq!(
        reference(destination, "LogGroup"),
        "OrderEventsFindingsLogGroup"
    );

    // The findings' log group, filter and alarm exist exactly when auditing.
    let group = resource(&t, "OrderEventsFindingsLogGroup");
    let name = string(&group["Properties"]["LogGroupName"], "LogGroupName");
    assert!(
        name.starts_with("/aws/vendedlogs/"),
        "SNS requires it: {name}"
    );
    let (log_group, pattern) = filter_publishing(&t, "EventPersonalDataFindings");
    assert_eq!(log_group, "OrderEventsFindingsLogGroup");
    assert_eq!(
        pattern, "",
        "every event of the findings group is a finding"
    );
    let alarm = paging_alarm(&t, "OrderEventsPersonalDataAlarm");
    assert_eq!(
        string(&alarm["MetricName"], "MetricName"),
        "EventPersonalDataFindings"
    );
    for id in [
        "OrderEventsFindingsLogGroup",
        "OrderEventsPersonalDataMetric",
        "OrderEventsPersonalDataAlarm",
    ] {
        assert_eq!(
            resource(&t, id)["Condition"].as_str(),
            Some("AuditOrderEvents"),
            "{id}"
        );
    }
}

#[test]
fn every_alarm_pages_the_ops_topic_and_is_in_the_runbooks_table() {
    let t = template();
    let alarms: BTreeSet<String> = at(&t, &["Resources"])
        .as_hash()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|(id, _)| string(id, "logical id").to_owned())
        .collect();
    for id in &alarms {
        let actions = &resource(&t, id)["Properties"]["AlarmActions"];
        let targets: Vec<String> = actions
            .as_vec()
            .unwrap_or_else(|| panic!("{id} has no AlarmActions"))
            .iter()
            .map(|a| reference(a, "AlarmActions"))
            .collect();
        assert_eq!(targets, ["OpsTopic"], "{id}");
    }
    let heading = "\n## Which alarm fires for what\n";
    let start = RUNBOOK.find(heading).expect("the runbook's table") + heading.len();
    let table = &RUNBOOK[start..];
    let table = &table[..table.find("\n## ").unwrap_or(table.len())];
    let named: BTreeSet<String> = table
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|word| word.ends_with("Alarm"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        named, alarms,
        "the table names every alarm, and only alarms"
    );
}
