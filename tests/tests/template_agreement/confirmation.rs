//! The confirmation function: its queue, mapping and subscription agree with
//! `confirmation::settings` and keep the sends within `SesMaxSendRate`; its
//! role may read orders, write only the confirmation's attributes and send
//! only from the sender identity in the configuration set; its alarms page.

use std::collections::BTreeSet;

use confirmation::settings;
use orders_domain::confirmation::ATTRIBUTES;
use yaml_rust2::Yaml;

use crate::template::{
    at, boolean, env_names, event_properties, function_property, int, names, reference, resource,
    string, strings, template,
};

/// Every resource of the confirmation, all created only when a sender is given.
const RESOURCES: [&str; 10] = [
    "ConfirmationLogGroup",
    "ConfirmationQueue",
    "ConfirmationDlq",
    "ConfirmationQueuePolicy",
    "ConfirmationSubscription",
    "ConfirmationRole",
    "ConfirmationFunction",
    "ConfirmationDlqNotEmptyAlarm",
    "ConfirmationFailedAlarm",
    "ConfirmationQueueAgeAlarm",
];

#[test]
fn confirmation_resources_exist_only_with_a_sender() {
    let t = template();
    for id in RESOURCES {
        assert_eq!(
            resource(&t, id)["Condition"].as_str(),
            Some("SendConfirmations"),
            "{id}"
        );
    }
    let condition = &t["Conditions"]["SendConfirmations"];
    assert!(!condition.is_badvalue());
    for parameter in [
        "ConfirmationFromAddress",
        "ConfirmationSenderIdentity",
        "SesConfigurationSet",
        "SesMaxSendRate",
    ] {
        assert!(!t["Parameters"][parameter].is_badvalue(), "{parameter}");
    }
    assert_eq!(
        int(
            &t["Parameters"]["SesMaxSendRate"]["Default"],
            "SesMaxSendRate"
        ) as f64,
        settings::DEFAULT_MAX_SEND_RATE
    );
}

#[test]
fn confirmation_queue_and_mapping_match_settings_and_keep_the_send_rate() {
    let t = template();
    let q = at(resource(&t, "ConfirmationQueue"), &["Properties"]);
    assert!(q["FifoQueue"].is_badvalue(), "a standard queue");
    assert_eq!(
        int(&q["VisibilityTimeout"], "VisibilityTimeout"),
        settings::QUEUE_VISIBILITY_TIMEOUT_SECS
    );
    assert_eq!(
        int(&q["MessageRetentionPeriod"], "MessageRetentionPeriod"),
        settings::QUEUE_RETENTION_SECS
    );
    let redrive = at(q, &["RedrivePolicy"]);
    assert_eq!(
        int(&redrive["maxReceiveCount"], "maxReceiveCount"),
        u64::from(settings::MAX_RECEIVE_COUNT)
    );
    assert_eq!(
        reference(&redrive["deadLetterTargetArn"], "deadLetterTargetArn"),
        "ConfirmationDlq.Arn"
    );
    let timeout = int(
        function_property(&t, "ConfirmationFunction", "Timeout"),
        "Timeout",
    );
    assert_eq!(timeout, settings::TIMEOUT_SECS);
    assert!(int(&q["VisibilityTimeout"], "VisibilityTimeout") >= 6 * timeout);

    let m = event_properties(&t, "ConfirmationFunction", "SQS");
    assert_eq!(reference(&m["Queue"], "Queue"), "ConfirmationQueue.Arn");
    assert_eq!(
        int(&m["BatchSize"], "BatchSize"),
        settings::BATCH_SIZE as u64
    );
    assert_eq!(
        strings(&m["FunctionResponseTypes"], "FunctionResponseTypes"),
        ["ReportBatchItemFailures"]
    );
    let concurrency = int(
        at(m, &["ScalingConfig", "MaximumConcurrency"]),
        "MaximumConcurrency",
    );
    assert_eq!(concurrency, u64::from(settings::MAX_CONCURRENCY));
    // The bound the template's comment states: concurrency invocations, each
    // one send per send_interval, never more than the rate, whatever it is.
    for rate in [1.0, 14.0, 50.0] {
        let per_second = concurrency as f64 / settings::send_interval(rate).as_secs_f64();
        assert!(per_second <= rate, "{rate}: {per_second}");
    }
    let env = at(
        resource(&t, "ConfirmationFunction"),
        &["Properties", "Environment", "Variables"],
    );
    assert_eq!(
        reference(&env[confirmation::SES_MAX_SEND_RATE], "rate"),
        "SesMaxSendRate"
    );
}

#[test]
fn confirmation_env_is_what_the_crate_reads_pointing_at_the_stack() {
    let t = template();
    assert_eq!(
        env_names(&t, "ConfirmationFunction"),
        names(confirmation::ENV_VARS)
    );
    let env = at(
        resource(&t, "ConfirmationFunction"),
        &["Properties", "Environment", "Variables"],
    );
    for (name, target) in [
        (orders_adapters::config::ORDERS_TABLE_NAME, "OrdersTable"),
        (confirmation::CONFIRMATION_QUEUE_URL, "ConfirmationQueue"),
        (confirmation::SES_FROM_ADDRESS, "ConfirmationFromAddress"),
        (confirmation::SES_CONFIGURATION_SET, "SesConfigurationSet"),
        (confirmation::METRIC_NAMESPACE, "MetricNamespace"),
    ] {
        assert_eq!(reference(&env[name], name), target, "{name}");
    }
    assert!(
        env[confirmation::ORDERS_API_URL]
            .as_str()
            .is_some_and(|url| url.contains("${OrdersApi}.execute-api")),
        "the API's own URL"
    );
}

#[test]
fn confirmation_subscription_is_raw_filtered_and_dead_lettered() {
    let t = template();
    let sub = at(resource(&t, "ConfirmationSubscription"), &["Properties"]);
    assert_eq!(reference(&sub["TopicArn"], "TopicArn"), "OrderEventsTopic");
    assert_eq!(string(&sub["Protocol"], "Protocol"), "sqs");
    assert_eq!(
        reference(&sub["Endpoint"], "Endpoint"),
        "ConfirmationQueue.Arn"
    );
    assert!(boolean(&sub["RawMessageDelivery"], "RawMessageDelivery"));
    assert_eq!(
        string(&sub["FilterPolicyScope"], "FilterPolicyScope"),
        "MessageAttributes"
    );
    assert_eq!(
        string(&sub["FilterPolicy"], "FilterPolicy"),
        settings::FILTER_POLICY
    );
    assert_eq!(
        reference(
            at(sub, &["RedrivePolicy", "deadLetterTargetArn"]),
            "deadLetterTargetArn"
        ),
        "ConfirmationDlq.Arn"
    );
}

fn actions(statement: &Yaml) -> Vec<String> {
    match &statement["Action"] {
        Yaml::String(a) => vec![a.clone()],
        other => strings(other, "Action"),
    }
}

#[test]
fn confirmation_role_is_least_privilege() {
    let t = template();
    let statements: Vec<&Yaml> = at(
        resource(&t, "ConfirmationRole"),
        &["Properties", "Policies"],
    )
    .as_vec()
    .into_iter()
    .flatten()
    .flat_map(|p| {
        at(p, &["PolicyDocument", "Statement"])
            .as_vec()
            .into_iter()
            .flatten()
    })
    .collect();
    let all: BTreeSet<String> = statements.iter().flat_map(|s| actions(s)).collect();
    let expected: BTreeSet<String> = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "ses:SendEmail",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(all, expected);
    for s in &statements {
        assert_eq!(s["Effect"].as_str(), Some("Allow"));
        let acts = actions(s);
        if acts.iter().any(|a| a.starts_with("dynamodb:")) {
            assert_eq!(acts.len(), 1, "one table action per statement: {acts:?}");
            assert_eq!(reference(&s["Resource"], "Resource"), "OrdersTable.Arn");
        }
        if acts == ["dynamodb:UpdateItem"] {
            // Only the key and the confirmation's own attributes.
            let allowed: BTreeSet<String> = strings(
                &s["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"],
                "dynamodb:Attributes",
            )
            .into_iter()
            .collect();
            let mut expected: BTreeSet<String> =
                ATTRIBUTES.iter().map(|a| (*a).to_owned()).collect();
            expected.insert(orders_adapters::record::KEY_ATTRIBUTE.to_owned());
            assert_eq!(allowed, expected);
            assert_eq!(
                s["Condition"]["StringEqualsIfExists"]["dynamodb:ReturnValues"].as_str(),
                Some("NONE")
            );
        }
        if acts == ["ses:SendEmail"] {
            let targets: Vec<String> = s["Resource"]
                .as_vec()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(targets.len(), 2, "{targets:?}");
            assert!(targets[0].ends_with(":identity/${ConfirmationSenderIdentity}"));
            assert!(targets[1].ends_with(":configuration-set/${SesConfigurationSet}"));
            assert_eq!(
                reference(
                    &s["Condition"]["StringEquals"]["ses:FromAddress"],
                    "ses:FromAddress"
                ),
                "ConfirmationFromAddress"
            );
        }
        if acts.iter().any(|a| a.starts_with("sqs:")) {
            assert_eq!(
                reference(&s["Resource"], "Resource"),
                "ConfirmationQueue.Arn"
            );
        }
    }
    // No other role sends e-mail through SES.
    let senders: Vec<&str> = at(&t, &["Resources"])
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
                .any(|s| actions(s).iter().any(|a| a.starts_with("ses:")))
        })
        .map(|(id, _)| string(id, "id"))
        .collect();
    assert_eq!(senders, ["ConfirmationRole"]);
}

#[test]
fn confirmation_alarms_read_the_dlq_the_metric_and_the_queue_age() {
    let t = template();
    let dlq = at(
        resource(&t, "ConfirmationDlqNotEmptyAlarm"),
        &["Properties"],
    );
    assert_eq!(string(&dlq["Namespace"], "Namespace"), "AWS/SQS");
    assert_eq!(
        reference(&dlq["Dimensions"][0]["Value"], "Dimensions"),
        "ConfirmationDlq.QueueName"
    );
    assert_eq!(int(&dlq["Threshold"], "Threshold"), 0);
    let failed = at(resource(&t, "ConfirmationFailedAlarm"), &["Properties"]);
    assert_eq!(
        reference(&failed["Namespace"], "Namespace"),
        "MetricNamespace"
    );
    assert_eq!(
        string(&failed["MetricName"], "MetricName"),
        confirmation::metrics::CONFIRMATION_FAILED_METRIC
    );
    assert!(
        failed["Dimensions"].is_badvalue(),
        "the EMF metric has no dimensions"
    );
    let age = at(resource(&t, "ConfirmationQueueAgeAlarm"), &["Properties"]);
    assert!(
        int(&age["Threshold"], "Threshold") < settings::QUEUE_RETENTION_SECS / 2,
        "pages well before SQS drops a confirmation"
    );
    for a in [dlq, failed, age] {
        let targets: Vec<String> = a["AlarmActions"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|n| reference(n, "AlarmActions"))
            .collect();
        assert_eq!(targets, ["OpsTopic"]);
    }
}
