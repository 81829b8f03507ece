//! The admin digest: its queue, mapping and subscription agree with
//! `orders_adapters::settings` and bound the e-mail rate; the admin e-mail is on its
//! own topic, never on the events topic.

use std::collections::BTreeSet;

use orders_adapters::settings;
use yaml_rust2::Yaml;

use crate::template::{
    TEMPLATE, at, boolean, event_properties, function_property, int, reference, resource, string,
    strings, template,
};

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
        serde_json::json!({ orders_adapters::ports::EVENT_TYPE_ATTRIBUTE: [orders_domain::contract::ORDER_CREATED_EVENT_TYPE] })
    );
    assert_eq!(
        reference(
            at(sub, &["RedrivePolicy", "deadLetterTargetArn"]),
            "deadLetterTargetArn"
        ),
        "AdminDigestDlq.Arn"
    );
    // The topic may send to the queue and to the DLQ, and no other topic may
    // (the policy's TLS deny: hardening.rs).
    let allows: Vec<&Yaml> = at(
        resource(&t, "AdminDigestQueuePolicy"),
        &["Properties", "PolicyDocument", "Statement"],
    )
    .as_vec()
    .unwrap()
    .iter()
    .filter(|s| s["Effect"].as_str() == Some("Allow"))
    .collect();
    assert_eq!(allows.len(), 1);
    let s = allows[0];
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
