//! Evaluating the template's resource policies (queue, topic and key policies)
//! against a request, the way AWS combines statements: an explicit Deny wins,
//! then an Allow, else the policy has no opinion (an IAM policy of this account
//! may still allow; a service principal needs the Allow).
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>
//!
//! Only the principal, action, resource and condition forms this stack writes
//! are understood; any other form fails the test rather than being guessed at.

use yaml_rust2::Yaml;

use crate::template::{reference, string, strings};

/// Who sends a request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Principal<'a> {
    /// A role or user of this account (the functions, the operators).
    Account,
    /// An AWS service principal, e.g. `sns.amazonaws.com`.
    Service(&'a str),
}

/// A request, with the context keys the stack's conditions read. `None` means
/// the request carries no such key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub principal: Principal<'a>,
    pub action: &'a str,
    /// The resource as the template names it (`OrdersQueue.Arn`, `OpsTopic`).
    pub resource: &'a str,
    pub secure_transport: Option<bool>,
    /// `aws:SourceAccount`, as the template names it (`AWS::AccountId`).
    pub source_account: Option<&'a str>,
    /// `aws:SourceArn`, as the template names it (`OrderEventsTopic`, or an
    /// ARN in `!Sub` syntax).
    pub source_arn: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A request of `principal` with no context key but TLS as given.
    pub(crate) fn new(
        principal: Principal<'a>,
        action: &'a str,
        resource: &'a str,
        secure_transport: Option<bool>,
    ) -> Self {
        Self {
            principal,
            action,
            resource,
            secure_transport,
            source_account: None,
            source_arn: None,
        }
    }
}

/// What a policy says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Deny,
    Allow,
    NoOpinion,
}

/// The decision of `statements` (of one or more policies) on `request`.
pub(crate) fn decide(statements: &[&Yaml], request: &Request) -> Decision {
    let matching: Vec<&str> = statements
        .iter()
        .filter(|s| applies(s, request))
        .map(|s| string(&s["Effect"], "Effect"))
        .collect();
    if matching.contains(&"Deny") {
        Decision::Deny
    } else if matching.contains(&"Allow") {
        Decision::Allow
    } else {
        Decision::NoOpinion
    }
}

/// A node that is one string or a list of them, as strings (references
/// resolved to the template's names).
pub(crate) fn one_or_many(node: &Yaml, what: &str) -> Vec<String> {
    match node {
        Yaml::Array(items) => items.iter().map(|i| reference(i, what)).collect(),
        other => vec![reference(other, what)],
    }
}

/// The actions of a statement.
pub(crate) fn actions(statement: &Yaml) -> Vec<String> {
    match &statement["Action"] {
        Yaml::String(a) => vec![a.clone()],
        list => strings(list, "Action"),
    }
}

fn applies(statement: &Yaml, request: &Request) -> bool {
    principal_matches(&statement["Principal"], request.principal)
        && actions(statement)
            .iter()
            .any(|a| action_matches(a, request.action))
        && one_or_many(&statement["Resource"], "Resource")
            .iter()
            .any(|r| r == request.resource)
        && conditions_hold(&statement["Condition"], request)
}

fn principal_matches(node: &Yaml, principal: Principal) -> bool {
    if node.as_str() == Some("*") || node["AWS"].as_str() == Some("*") {
        return true;
    }
    match principal {
        Principal::Service(service) => node["Service"].as_str() == Some(service),
        Principal::Account => node["AWS"]
            .as_str()
            .is_some_and(|arn| arn == "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"),
    }
}

/// IAM action names are case-insensitive; `svc:*` covers a whole service.
fn action_matches(pattern: &str, action: &str) -> bool {
    let (pattern, action) = (pattern.to_lowercase(), action.to_lowercase());
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => pattern == action,
    }
}

fn conditions_hold(node: &Yaml, request: &Request) -> bool {
    let Some(operators) = node.as_hash() else {
        assert!(node.is_badvalue(), "Condition is not a mapping: {node:?}");
        return true;
    };
    operators.iter().all(|(operator, keys)| {
        let operator = string(operator, "condition operator");
        keys.as_hash()
            .unwrap_or_else(|| panic!("{operator} is not a mapping"))
            .iter()
            .all(|(key, expected)| {
                let key = string(key, "condition key");
                let expected = one_or_many(expected, key);
                holds(operator, key, &expected, request)
            })
    })
}

/// One condition. A key the request lacks fails every operator here (none of
/// them is an `...IfExists` form), so such a statement does not apply.
fn holds(operator: &str, key: &str, expected: &[String], request: &Request) -> bool {
    let actual: Option<String> = match key {
        "aws:SecureTransport" => request.secure_transport.map(|b| b.to_string()),
        "aws:SourceAccount" => request.source_account.map(str::to_owned),
        "aws:SourceArn" => request.source_arn.map(str::to_owned),
        other => panic!("condition key {other} not understood by this test"),
    };
    let Some(actual) = actual else {
        return false;
    };
    match operator {
        "Bool" | "StringEquals" | "ArnEquals" => expected.contains(&actual),
        "ArnLike" => expected.iter().any(|e| glob(e, &actual)),
        other => panic!("condition operator {other} not understood by this test"),
    }
}

/// `*` matches any run of characters (the only wildcard the stack uses).
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => text.strip_prefix(head).is_some_and(|rest| {
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| glob(tail, &rest[i..]))
        }),
    }
}

#[test]
fn the_evaluator_matches_wildcards_and_fails_missing_keys() {
    assert!(glob("arn:a:alarm:*", "arn:a:alarm:x-1"));
    assert!(!glob("arn:a:alarm:*", "arn:a:topic:x"));
    assert!(glob("a*c*", "abcd"));
    assert!(action_matches("sqs:*", "sqs:SendMessage"));
    assert!(action_matches("SNS:Publish", "sns:publish"));
    assert!(!action_matches("sns:Publish", "sns:Subscribe"));
    let request = Request::new(Principal::Account, "sqs:SendMessage", "Q.Arn", None);
    assert!(!holds(
        "Bool",
        "aws:SecureTransport",
        &["false".into()],
        &request
    ));
}
