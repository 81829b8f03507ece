//! Least privilege: each role may do what its function (and its mapping)
//! needs, on its own resources, and nothing else.

use std::collections::BTreeSet;

use orders_adapters::config;
use yaml_rust2::Yaml;

use crate::template::{at, names, reference, resource, string, strings, template};

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
    // The warm-up calls of orders_adapters::aws, one per function, on its own resource
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

#[test]
fn the_worker_role_may_back_off_records_of_the_orders_queue_only() {
    // Given the worker's role
    let t = template();
    let statements: Vec<&Yaml> = at(resource(&t, "WorkerRole"), &["Properties", "Policies"])
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
    // When the statements granting ChangeMessageVisibility are picked
    let granting: Vec<&Yaml> = statements
        .into_iter()
        .filter(|s| {
            let actions = match &s["Action"] {
                Yaml::String(a) => vec![a.clone()],
                other => strings(other, "Action"),
            };
            actions.iter().any(|a| a == "sqs:ChangeMessageVisibility")
        })
        .collect();
    // Then the backoff's call is allowed, on the orders queue and nowhere else
    assert!(!granting.is_empty(), "WorkerRole may not change visibility");
    for statement in granting {
        assert_eq!(statement["Effect"].as_str(), Some("Allow"));
        assert_eq!(
            reference(&statement["Resource"], "Resource"),
            "OrdersQueue.Arn"
        );
    }
}
