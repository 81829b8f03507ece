//! Hardening: every queue and topic refuses requests without TLS while SNS
//! still delivers to the digest queue and CloudWatch still publishes alarms;
//! the ops topic has a key of its own, so no AWS service but CloudWatch Logs
//! may use the key of the table's personal data; `dynamodb:ListStreams`, which
//! supports no resource-level permission, is the only stream action on `*`.

use std::collections::BTreeSet;

use yaml_rust2::Yaml;

use crate::policy::{Decision, Principal, Request, actions, decide, one_or_many};
use crate::template::{at, reference, resource, string, template};

/// Every action a topic policy can name
/// (<https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-language-api-permissions-reference.html>).
const SNS_TOPIC_ACTIONS: [&str; 11] = [
    "sns:AddPermission",
    "sns:DeleteTopic",
    "sns:GetDataProtectionPolicy",
    "sns:GetTopicAttributes",
    "sns:ListSubscriptionsByTopic",
    "sns:ListTagsForResource",
    "sns:Publish",
    "sns:PutDataProtectionPolicy",
    "sns:RemovePermission",
    "sns:SetTopicAttributes",
    "sns:Subscribe",
];

/// SQS actions operators, functions, mappings and SNS use on the queues.
const SQS_ACTIONS: [&str; 7] = [
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:StartMessageMoveTask",
    "sqs:PurgeQueue",
];

/// An alarm's ARN as CloudWatch sends it in `aws:SourceArn` (CloudFormation
/// names an alarm `<stack>-<logical id>-<suffix>`).
const ALARM_ARN: &str = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:orders-IntakeFailedAlarm-1A2B3C";

/// Logical ids of the resources of a type.
fn of_type(t: &Yaml, resource_type: &str) -> Vec<String> {
    at(t, &["Resources"])
        .as_hash()
        .expect("Resources is a mapping")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(resource_type))
        .map(|(id, _)| string(id, "logical id").to_owned())
        .collect()
}

/// The statements of a policy document, with a conditional one
/// (`!If [condition, statement, !Ref AWS::NoValue]`, which the YAML reader
/// gives as a list) counted as present: what the stack has when the
/// condition holds.
fn statements_of(document: &Yaml) -> Vec<&Yaml> {
    document["Statement"]
        .as_vec()
        .expect("Statement is a list")
        .iter()
        .flat_map(|s| match s {
            Yaml::Array(branches) => branches.iter().filter(|b| b.as_hash().is_some()).collect(),
            statement => vec![statement],
        })
        .collect()
}

/// The statements of every `policy_type` resource that applies to `target`
/// (listed in its `list_key`: `Queues` or `Topics`).
fn statements_for<'a>(
    t: &'a Yaml,
    policy_type: &str,
    list_key: &str,
    target: &str,
) -> Vec<&'a Yaml> {
    of_type(t, policy_type)
        .iter()
        .map(|id| resource(t, id))
        .filter(|p| one_or_many(&p["Properties"][list_key], list_key).contains(&target.to_owned()))
        .flat_map(|p| statements_of(at(p, &["Properties", "PolicyDocument"])))
        .collect()
}

fn queue_statements<'a>(t: &'a Yaml, queue: &str) -> Vec<&'a Yaml> {
    statements_for(t, "AWS::SQS::QueuePolicy", "Queues", queue)
}

fn topic_statements<'a>(t: &'a Yaml, topic: &str) -> Vec<&'a Yaml> {
    statements_for(t, "AWS::SNS::TopicPolicy", "Topics", topic)
}

#[test]
fn every_queue_and_topic_refuses_any_request_without_tls() {
    let t = template();
    let sns = Principal::Service("sns.amazonaws.com");
    let cloudwatch = Principal::Service("cloudwatch.amazonaws.com");
    let queues = of_type(&t, "AWS::SQS::Queue");
    let topics = of_type(&t, "AWS::SNS::Topic");
    assert!(
        queues.len() >= 5 && topics.len() >= 3,
        "{queues:?} {topics:?}"
    );
    for queue in &queues {
        let statements = queue_statements(&t, queue);
        let arn = format!("{queue}.Arn");
        for action in SQS_ACTIONS {
            for principal in [Principal::Account, sns] {
                let plain = Request {
                    source_arn: Some("OrderEventsTopic"),
                    ..Request::new(principal, action, &arn, Some(false))
                };
                assert_eq!(
                    decide(&statements, &plain),
                    Decision::Deny,
                    "{queue}: {plain:?}"
                );
                let tls = Request {
                    secure_transport: Some(true),
                    ..plain
                };
                assert_ne!(
                    decide(&statements, &tls),
                    Decision::Deny,
                    "{queue}: {tls:?}"
                );
            }
        }
    }
    for topic in &topics {
        let statements = topic_statements(&t, topic);
        for action in SNS_TOPIC_ACTIONS {
            for principal in [Principal::Account, cloudwatch] {
                let plain = Request {
                    source_account: Some("AWS::AccountId"),
                    source_arn: Some(ALARM_ARN),
                    ..Request::new(principal, action, topic, Some(false))
                };
                assert_eq!(
                    decide(&statements, &plain),
                    Decision::Deny,
                    "{topic}: {plain:?}"
                );
                let tls = Request {
                    secure_transport: Some(true),
                    ..plain
                };
                assert_ne!(
                    decide(&statements, &tls),
                    Decision::Deny,
                    "{topic}: {tls:?}"
                );
            }
        }
    }
}

/// The consuming teams' template (infra/consumer-template.yaml).
const CONSUMER_TEMPLATE: &str = include_str!("../../../infra/consumer-template.yaml");

#[test]
fn every_queue_of_the_consumer_template_refuses_any_request_without_tls() {
    let mut docs = yaml_rust2::YamlLoader::load_from_str(CONSUMER_TEMPLATE)
        .expect("infra/consumer-template.yaml is valid YAML");
    let t = docs.remove(0);
    let sns = Principal::Service("sns.amazonaws.com");
    let queues = of_type(&t, "AWS::SQS::Queue");
    assert_eq!(queues.len(), 3, "{queues:?}");
    for queue in &queues {
        let statements = queue_statements(&t, queue);
        let arn = format!("{queue}.Arn");
        for action in SQS_ACTIONS {
            for principal in [Principal::Account, sns] {
                let plain = Request {
                    source_arn: Some("OrderEventsTopicArn"),
                    ..Request::new(principal, action, &arn, Some(false))
                };
                assert_eq!(
                    decide(&statements, &plain),
                    Decision::Deny,
                    "{queue}: {plain:?}"
                );
                let tls = Request {
                    secure_transport: Some(true),
                    ..plain
                };
                assert_ne!(
                    decide(&statements, &tls),
                    Decision::Deny,
                    "{queue}: {tls:?}"
                );
            }
        }
    }
}

#[test]
fn sns_still_delivers_to_the_digest_queues_and_cloudwatch_still_pages() {
    let t = template();
    let sns = Principal::Service("sns.amazonaws.com");
    // SNS's delivery, and the subscription's redrive to the DLQ, over TLS or
    // without the key at all: allowed, and never denied.
    for queue in ["AdminDigestQueue", "AdminDigestDlq"] {
        let statements = queue_statements(&t, queue);
        let arn = format!("{queue}.Arn");
        for tls in [Some(true), None] {
            let delivery = Request {
                source_arn: Some("OrderEventsTopic"),
                ..Request::new(sns, "sqs:SendMessage", &arn, tls)
            };
            assert_eq!(
                decide(&statements, &delivery),
                Decision::Allow,
                "{delivery:?}"
            );
            // Another topic may not send.
            let other = Request {
                source_arn: Some("AdminTopic"),
                ..delivery
            };
            assert_eq!(
                decide(&statements, &other),
                Decision::NoOpinion,
                "{other:?}"
            );
        }
    }
    // Every alarm pages the ops topic, whose policy lets this account's alarms
    // publish (a topic policy replaces SNS's default one).
    let ops = topic_statements(&t, "OpsTopic");
    for tls in [Some(true), None] {
        let alarm = Request {
            source_account: Some("AWS::AccountId"),
            source_arn: Some(ALARM_ARN),
            ..Request::new(
                Principal::Service("cloudwatch.amazonaws.com"),
                "sns:Publish",
                "OpsTopic",
                tls,
            )
        };
        assert_eq!(decide(&ops, &alarm), Decision::Allow, "{alarm:?}");
        let elsewhere = Request {
            source_account: Some("111122223333"),
            ..alarm
        };
        assert_eq!(
            decide(&ops, &elsewhere),
            Decision::NoOpinion,
            "{elsewhere:?}"
        );
        // The other topics let no service in.
        for topic in ["OrderEventsTopic", "AdminTopic"] {
            let statements = topic_statements(&t, topic);
            let stray = Request {
                resource: topic,
                ..alarm
            };
            assert_eq!(
                decide(&statements, &stray),
                Decision::NoOpinion,
                "{stray:?}"
            );
        }
    }
}

#[test]
fn each_topic_policy_covers_one_topic_as_sns_requires() {
    let t = template();
    let mut ids = BTreeSet::new();
    for policy in of_type(&t, "AWS::SNS::TopicPolicy") {
        let properties = at(resource(&t, &policy), &["Properties"]);
        let topics = one_or_many(&properties["Topics"], "Topics");
        assert_eq!(topics.len(), 1, "{policy}: one topic per policy");
        let document = &properties["PolicyDocument"];
        let id = string(&document["Id"], "Id");
        assert!(
            ids.insert(id.to_owned()),
            "{policy}: policy Id {id} is not unique"
        );
        let mut sids = BTreeSet::new();
        for statement in statements_of(document) {
            let sid = string(&statement["Sid"], "Sid");
            assert!(sids.insert(sid), "{policy}: Sid {sid} twice");
            assert_eq!(
                one_or_many(&statement["Resource"], "Resource"),
                topics,
                "{policy}"
            );
            if statement["Effect"].as_str() == Some("Deny") {
                let denied: BTreeSet<String> = actions(statement).into_iter().collect();
                let documented: BTreeSet<String> =
                    SNS_TOPIC_ACTIONS.iter().map(|a| (*a).to_owned()).collect();
                assert_eq!(denied, documented, "{policy}: every topic action");
            }
            // Nothing is open to the world.
            assert!(
                statement["Effect"].as_str() == Some("Deny")
                    || statement["Principal"].as_str() != Some("*"),
                "{policy}: {sid} allows everyone"
            );
        }
    }
}

#[test]
fn the_ops_topic_has_its_own_key_and_the_table_key_serves_logs_alone() {
    let t = template();
    assert_eq!(
        reference(
            &resource(&t, "OpsTopic")["Properties"]["KmsMasterKeyId"],
            "KmsMasterKeyId"
        ),
        "OpsTopicKey"
    );
    let key_statements = |key: &str| -> Vec<Yaml> {
        at(resource(&t, key), &["Properties", "KeyPolicy", "Statement"])
            .as_vec()
            .expect("Statement")
            .clone()
    };
    let services = |key: &str| -> BTreeSet<String> {
        key_statements(key)
            .iter()
            .filter_map(|s| s["Principal"]["Service"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        services("OpsTopicKey"),
        BTreeSet::from(["cloudwatch.amazonaws.com".to_owned()])
    );
    assert_eq!(
        services("StackKey"),
        BTreeSet::from(["logs.${AWS::Region}.${AWS::URLSuffix}".to_owned()]),
        "no service but CloudWatch Logs may use the table's key"
    );
    // CloudWatch may use its key for this account's alarms only.
    for s in key_statements("OpsTopicKey") {
        if !s["Principal"]["Service"].is_badvalue() {
            assert_eq!(
                reference(
                    &s["Condition"]["StringEquals"]["aws:SourceAccount"],
                    "SourceAccount"
                ),
                "AWS::AccountId"
            );
        }
    }
    // CloudWatch Logs may use the table's key for this stack's log groups only,
    // and every log group on that key is one of them.
    let logs = key_statements("StackKey")
        .into_iter()
        .find(|s| !s["Principal"]["Service"].is_badvalue())
        .expect("the logs statement");
    let patterns = one_or_many(
        &logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"],
        "encryption context",
    );
    let prefix = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:";
    for pattern in &patterns {
        let group = pattern.strip_prefix(prefix).expect("a log group ARN");
        assert!(
            group.contains("${AWS::StackName}/") && group.ends_with("/*"),
            "{pattern}"
        );
    }
    for group in of_type(&t, "AWS::Logs::LogGroup") {
        let properties = at(resource(&t, &group), &["Properties"]);
        if reference(&properties["KmsKeyId"], "KmsKeyId") == "StackKey.Arn" {
            let name = string(&properties["LogGroupName"], "LogGroupName");
            assert!(
                patterns
                    .iter()
                    .any(|p| crate::policy::glob(p, &format!("{prefix}{name}"))),
                "{group} ({name}) is on StackKey but the key policy does not cover it"
            );
        }
    }
    // Nothing but the ops topic (and the key's alias) uses the ops topic's key.
    let users: BTreeSet<String> = at(&t, &["Resources"])
        .as_hash()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| mentions(r, "OpsTopicKey"))
        .map(|(id, _)| string(id, "logical id").to_owned())
        .collect();
    assert_eq!(
        users,
        BTreeSet::from(["OpsTopic".to_owned(), "OpsTopicKeyAlias".to_owned()])
    );
}

/// Whether any string under `node` names `logical_id` (a Ref or GetAtt).
fn mentions(node: &Yaml, logical_id: &str) -> bool {
    match node {
        Yaml::String(s) => s == logical_id || s.starts_with(&format!("{logical_id}.")),
        Yaml::Array(items) => items.iter().any(|i| mentions(i, logical_id)),
        Yaml::Hash(map) => map.values().any(|v| mentions(v, logical_id)),
        _ => false,
    }
}

#[test]
fn list_streams_is_the_only_stream_action_on_every_resource() {
    let t = template();
    let mut on_star = BTreeSet::new();
    for role in of_type(&t, "AWS::IAM::Role") {
        let policies = at(resource(&t, &role), &["Properties", "Policies"])
            .as_vec()
            .expect("Policies");
        for statement in policies.iter().flat_map(|p| {
            at(p, &["PolicyDocument", "Statement"])
                .as_vec()
                .expect("Statement")
                .iter()
        }) {
            let resources = one_or_many(&statement["Resource"], "Resource");
            let acts = actions(statement);
            if resources.iter().any(|r| r == "*") {
                assert_eq!(resources, ["*"], "{role}: * alongside other resources");
                on_star.extend(acts.clone());
            }
            // The stream's record reads stay on the orders table's stream.
            for act in &acts {
                if [
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                ]
                .contains(&act.as_str())
                {
                    assert_eq!(resources, ["OrdersTable.StreamArn"], "{role}: {act}");
                }
            }
        }
    }
    // X-Ray's two actions and ListStreams support no resource-level permission
    // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html).
    let expected: BTreeSet<String> = [
        "dynamodb:ListStreams",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(on_star, expected);
    // The notifier's mapping lists the stream.
    let notifier = at(resource(&t, "NotifierRole"), &["Properties", "Policies"])
        .as_vec()
        .expect("Policies")
        .iter()
        .flat_map(|p| {
            at(p, &["PolicyDocument", "Statement"])
                .as_vec()
                .expect("Statement")
                .iter()
        })
        .filter(|s| actions(s).iter().any(|a| a == "dynamodb:ListStreams"))
        .count();
    assert_eq!(notifier, 1, "NotifierRole grants ListStreams once");
}
