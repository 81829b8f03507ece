//! Reading the template: the document, and its nodes by path, as the types
//! CloudFormation takes, each lookup panicking with the path at fault.

use std::collections::BTreeSet;

use yaml_rust2::{Yaml, YamlLoader};

/// The deployed stack, included so that editing it re-runs these tests.
pub(crate) const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

/// The template's one YAML document.
pub(crate) fn template() -> Yaml {
    let mut docs = YamlLoader::load_from_str(TEMPLATE).expect("infra/template.yaml is valid YAML");
    assert_eq!(docs.len(), 1, "one YAML document");
    docs.remove(0)
}

/// The node at `path` under `node`; panics naming the path when it is missing.
pub(crate) fn at<'a>(node: &'a Yaml, path: &[&str]) -> &'a Yaml {
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

/// The resource of the given logical id.
pub(crate) fn resource<'a>(t: &'a Yaml, logical_id: &str) -> &'a Yaml {
    at(t, &["Resources", logical_id])
}

/// An integer, written as a YAML integer or a quoted one (CloudFormation takes both).
pub(crate) fn int(node: &Yaml, what: &str) -> u64 {
    match node {
        Yaml::Integer(i) => u64::try_from(*i).unwrap_or_else(|_| panic!("{what} is negative")),
        Yaml::String(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{what} is not an integer: {s:?}")),
        other => panic!("{what} is not an integer: {other:?}"),
    }
}

/// A boolean, written as a YAML boolean or a quoted one.
pub(crate) fn boolean(node: &Yaml, what: &str) -> bool {
    match node {
        Yaml::Boolean(b) => *b,
        Yaml::String(s) if s == "true" => true,
        Yaml::String(s) if s == "false" => false,
        other => panic!("{what} is not a boolean: {other:?}"),
    }
}

/// A string scalar.
pub(crate) fn string<'a>(node: &'a Yaml, what: &str) -> &'a str {
    node.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {node:?}"))
}

/// What a `Ref`/`GetAtt` points at, in either syntax: `!Ref X` and `{Ref: X}`
/// give `X`; `!GetAtt X.Arn`, `{Fn::GetAtt: X.Arn}` and `{Fn::GetAtt: [X, Arn]}`
/// give `X.Arn`.
pub(crate) fn reference(node: &Yaml, what: &str) -> String {
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
pub(crate) fn function_property<'a>(t: &'a Yaml, function: &str, name: &str) -> &'a Yaml {
    let own = &resource(t, function)["Properties"][name];
    if own.is_badvalue() {
        at(t, &["Globals", "Function", name])
    } else {
        own
    }
}

/// The function's only event of the given SAM event type.
pub(crate) fn event_properties<'a>(t: &'a Yaml, function: &str, event_type: &str) -> &'a Yaml {
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

/// The names of the variables the template sets for `function`.
pub(crate) fn env_names(t: &Yaml, function: &str) -> BTreeSet<String> {
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

/// Owned names, to compare as a set.
pub(crate) fn names(vars: &[&str]) -> BTreeSet<String> {
    vars.iter().map(|v| (*v).to_owned()).collect()
}

/// A list of strings.
pub(crate) fn strings(node: &Yaml, what: &str) -> Vec<String> {
    node.as_vec()
        .unwrap_or_else(|| panic!("{what} is not a list"))
        .iter()
        .map(|v| string(v, what).to_owned())
        .collect()
}
