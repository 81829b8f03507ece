//! Functions, queues and event-source mappings are configured as
//! `orders_adapters::settings` says (the values the local runner reproduces).

use orders_adapters::settings;
use yaml_rust2::Yaml;

use crate::template::{
    at, boolean, event_properties, function_property, int, reference, resource, string, strings,
    template,
};

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
fn an_order_may_fail_for_more_than_an_hour_before_the_worker_dlq() {
    // Given the orders queue's redrive policy and visibility timeout
    let t = template();
    let q = at(resource(&t, "OrdersQueue"), &["Properties"]);
    let max_receive_count = int(
        at(q, &["RedrivePolicy", "maxReceiveCount"]),
        "maxReceiveCount",
    );
    let visibility = int(&q["VisibilityTimeout"], "VisibilityTimeout");
    // When every receive fails, the worker backs off after each receive but
    // the last (the queue's own timeout where the schedule has no step), and
    // after the last the queue's timeout passes before the redrive policy
    // moves the message
    let after_receive = |n: u64| {
        usize::try_from(n - 1)
            .ok()
            .and_then(|step| settings::WORKER_BACKOFF_SECS.get(step))
            .map_or(visibility, |(floor, _)| *floor)
    };
    let to_last_receive: u64 = (1..max_receive_count).map(after_receive).sum();
    let before_dlq = to_last_receive + visibility;
    // Then the last receive comes after at least an hour of failures, so an
    // hour of table trouble ends before an order's receives do
    assert!(
        to_last_receive >= 3600,
        "the {max_receive_count}th receive comes {to_last_receive} s after the first: an hour of throttling sends orders to the DLQ"
    );
    assert_eq!(to_last_receive, settings::WORKER_SECS_TO_LAST_RECEIVE);
    assert_eq!(before_dlq, settings::WORKER_SECS_BEFORE_DLQ);
    assert!(before_dlq >= 3600, "{before_dlq} s before the DLQ");
    // And the schedule has a step for every receive but the last, each
    // within what ChangeMessageVisibility takes (0 to 43,200 s)
    assert_eq!(
        settings::WORKER_BACKOFF_SECS.len() as u64,
        max_receive_count - 1
    );
    for (floor, ceiling) in settings::WORKER_BACKOFF_SECS {
        assert!(visibility <= floor && floor < ceiling && ceiling <= 43_200);
    }
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
    let record_age = int(&m["MaximumRecordAgeInSeconds"], "MaximumRecordAgeInSeconds");
    assert_eq!(record_age, settings::NOTIFIER_MAX_RECORD_AGE_SECS);
    // The stream keeps records 24 hours
    // (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html);
    // a range that reaches the DLQ must stay readable for at least 12 of
    // them, so the notifier redrive can replay it from the stream.
    assert!(
        record_age <= 43_200,
        "MaximumRecordAgeInSeconds {record_age} leaves less than 12 h of the stream's 24 to replay a failed range"
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
