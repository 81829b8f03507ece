//! Each function gets exactly the environment variables its crate reads, and
//! they point at the stack's resources.

use orders_adapters::config;

use crate::template::{at, env_names, names, reference, resource, strings, template};

#[test]
fn each_function_gets_exactly_the_variables_its_crate_reads() {
    // Given the template and the variables each crate declares it reads
    let t = template();
    let cases = [
        ("IntakeFunction", intake::ENV_VARS),
        ("WorkerFunction", worker::ENV_VARS),
        ("NotifierFunction", notifier::ENV_VARS),
        ("StatusFunction", order_status::ENV_VARS),
        ("AdminDigestFunction", admin_digest::ENV_VARS),
        ("ConfirmationFunction", confirmation::ENV_VARS),
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
        names(&[
            config::ORDERS_QUEUE_URL,
            config::MESSAGE_GROUP_STRATEGY,
            orders_http::AUTH_MODE,
            orders_http::OWNER_KEY_SECRET
        ])
    );
    assert_eq!(
        names(worker::ENV_VARS),
        names(&[
            config::ORDERS_TABLE_NAME,
            config::WORKER_DLQ_URL,
            config::ORDERS_QUEUE_URL
        ])
    );
    assert_eq!(
        names(notifier::ENV_VARS),
        names(&[config::ORDER_EVENTS_TOPIC_ARN, config::NOTIFIER_DLQ_URL])
    );
    assert_eq!(
        names(order_status::ENV_VARS),
        names(&[
            config::ORDERS_TABLE_NAME,
            orders_http::AUTH_MODE,
            orders_http::OWNER_KEY_SECRET
        ])
    );
    assert_eq!(
        names(admin_digest::ENV_VARS),
        names(&[
            config::ADMIN_TOPIC_ARN,
            order_consumer::PROCESSED_EVENTS_TABLE
        ])
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
    // The worker backs off records of the queue that triggers it.
    assert_eq!(
        var("WorkerFunction", config::ORDERS_QUEUE_URL),
        "OrdersQueue"
    );
    assert_eq!(
        reference(
            &crate::template::event_properties(&t, "WorkerFunction", "SQS")["Queue"],
            "Queue"
        ),
        "OrdersQueue.Arn"
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

#[test]
fn intake_and_status_key_owners_alike() {
    // Given the template
    let t = template();
    // Then both HTTP functions read the API's authorization and one secret,
    // so a caller reads under the owner key its orders were stored under
    for function in ["IntakeFunction", "StatusFunction"] {
        let vars = at(
            resource(&t, function),
            &["Properties", "Environment", "Variables"],
        );
        assert_eq!(reference(&vars["AUTH_MODE"], "AUTH_MODE"), "AuthMode");
        // (`!If [condition, !Sub "…", !Ref AWS::NoValue]`, tags read as their lists)
        let secret = &vars["OWNER_KEY_SECRET"];
        assert_eq!(secret[0].as_str(), Some("IdentifiesCallers"), "{function}");
        assert!(
            secret[1]
                .as_str()
                .is_some_and(|s| s.contains("resolve:secretsmanager:${OwnerKeySecret}")),
            "{function}: {:?}",
            secret[1]
        );
        assert_eq!(reference(&secret[2], "OWNER_KEY_SECRET"), "AWS::NoValue");
        let condition = at(&t, &["Conditions", "IdentifiesCallers"]);
        assert_eq!(reference(&condition[0][0], "Fn::Equals"), "AuthMode");
        assert_eq!(condition[0][1].as_str(), Some("NONE"));
        // And the variables holding it are encrypted with the stack's key
        assert_eq!(
            reference(
                &resource(&t, function)["Properties"]["KmsKeyArn"],
                "KmsKeyArn"
            ),
            "StackKey.Arn"
        );
    }
    // And the secret is kept: a new one would orphan every owner's orders
    let secret = resource(&t, "OwnerKeySecret");
    assert_eq!(secret["DeletionPolicy"].as_str(), Some("Retain"));
    assert_eq!(secret["UpdateReplacePolicy"].as_str(), Some("Retain"));
}
