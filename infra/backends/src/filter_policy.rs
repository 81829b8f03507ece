//! SNS subscription filter policies on message attributes, for the embedded topic.
//!
//! Supported: exact string values, `anything-but` (a value, a list, or
//! `{"prefix": …}`), `prefix`, `suffix`, `equals-ignore-case` and `exists`.
//! Keys are ANDed and the values of one key ORed, as on SNS. Numeric matching,
//! `$or`, `cidr` and payload-scoped policies are not supported: such a policy
//! is refused at subscribe time rather than silently matching everything.

use std::collections::HashMap;

use serde_json::Value;

/// One accepted value rule of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Exact(String),
    AnythingBut(Vec<String>),
    AnythingButPrefix(String),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(String),
    Exists(bool),
}

impl Rule {
    fn matches(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (Self::Exists(wanted), v) => *wanted == v.is_some(),
            // Every other rule needs the attribute to be present, as on SNS.
            (_, None) => false,
            (Self::Exact(s), Some(v)) => s == v,
            (Self::AnythingBut(list), Some(v)) => !list.iter().any(|s| s == v),
            (Self::AnythingButPrefix(p), Some(v)) => !v.starts_with(p.as_str()),
            (Self::Prefix(p), Some(v)) => v.starts_with(p.as_str()),
            (Self::Suffix(p), Some(v)) => v.ends_with(p.as_str()),
            (Self::EqualsIgnoreCase(s), Some(v)) => s.eq_ignore_ascii_case(v),
        }
    }
}

/// A filter policy could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FilterPolicyError {
    /// Not JSON, or not an object of arrays.
    #[error("filter policy is malformed: {0}")]
    Malformed(String),
    /// Valid SNS syntax the embedded topic does not implement.
    #[error("filter policy uses an unsupported operator: {0}")]
    Unsupported(String),
}

/// A parsed filter policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterPolicy {
    keys: Vec<(String, Vec<Rule>)>,
}

fn string_of(v: &Value, what: &str) -> Result<String, FilterPolicyError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| FilterPolicyError::Unsupported(format!("non-string {what}")))
}

fn parse_rule(v: &Value) -> Result<Rule, FilterPolicyError> {
    match v {
        Value::String(s) => Ok(Rule::Exact(s.clone())),
        Value::Object(map) if map.len() == 1 => {
            let Some((op, arg)) = map.iter().next() else {
                return Err(FilterPolicyError::Malformed("empty operator".into()));
            };
            match op.as_str() {
                "prefix" => Ok(Rule::Prefix(string_of(arg, "prefix")?)),
                "suffix" => Ok(Rule::Suffix(string_of(arg, "suffix")?)),
                "equals-ignore-case" => Ok(Rule::EqualsIgnoreCase(string_of(arg, op)?)),
                "exists" => arg
                    .as_bool()
                    .map(Rule::Exists)
                    .ok_or_else(|| FilterPolicyError::Malformed("exists takes a boolean".into())),
                "anything-but" => match arg {
                    Value::String(s) => Ok(Rule::AnythingBut(vec![s.clone()])),
                    Value::Array(list) => Ok(Rule::AnythingBut(
                        list.iter()
                            .map(|v| string_of(v, "anything-but value"))
                            .collect::<Result<_, _>>()?,
                    )),
                    Value::Object(inner) => match inner.get("prefix") {
                        Some(p) if inner.len() == 1 => {
                            Ok(Rule::AnythingButPrefix(string_of(p, "prefix")?))
                        }
                        _ => Err(FilterPolicyError::Unsupported("anything-but {…}".into())),
                    },
                    _ => Err(FilterPolicyError::Unsupported(
                        "numeric anything-but".into(),
                    )),
                },
                other => Err(FilterPolicyError::Unsupported(other.to_owned())),
            }
        }
        Value::Number(_) => Err(FilterPolicyError::Unsupported("numeric values".into())),
        other => Err(FilterPolicyError::Unsupported(other.to_string())),
    }
}

impl FilterPolicy {
    /// Parses a policy document such as `{"eventType":["OrderCreated"]}`.
    pub fn parse(json: &str) -> Result<Self, FilterPolicyError> {
        let doc: Value =
            serde_json::from_str(json).map_err(|e| FilterPolicyError::Malformed(e.to_string()))?;
        let Value::Object(map) = doc else {
            return Err(FilterPolicyError::Malformed("not an object".into()));
        };
        let mut keys = Vec::with_capacity(map.len());
        for (key, rules) in map {
            if key.starts_with('$') {
                return Err(FilterPolicyError::Unsupported(key));
            }
            let rules = match rules {
                Value::Array(list) => list.iter().map(parse_rule).collect::<Result<_, _>>()?,
                // A nested object means a payload-scoped policy.
                Value::Object(_) => {
                    return Err(FilterPolicyError::Unsupported("nested keys".into()));
                }
                single => vec![parse_rule(&single)?],
            };
            keys.push((key, rules));
        }
        Ok(Self { keys })
    }

    /// Whether a message with these (string) attributes passes.
    pub fn matches(&self, attributes: &HashMap<String, String>) -> bool {
        self.keys.iter().all(|(key, rules)| {
            let value = attributes.get(key).map(String::as_str);
            rules.iter().any(|r| r.matches(value))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn exact_values_are_ored_within_a_key_and_keys_are_anded() {
        let p = FilterPolicy::parse(
            r#"{"eventType":["OrderCreated","OrderShipped"],"schemaVersion":["1"]}"#,
        )
        .unwrap();
        assert!(p.matches(&attrs(&[
            ("eventType", "OrderShipped"),
            ("schemaVersion", "1")
        ])));
        assert!(!p.matches(&attrs(&[("eventType", "OrderCreated")])));
        assert!(!p.matches(&attrs(&[("eventType", "Other"), ("schemaVersion", "1")])));
    }

    #[test]
    fn anything_but_prefix_exists_and_friends() {
        let but =
            FilterPolicy::parse(r#"{"eventType":[{"anything-but":["OrderCreated"]}]}"#).unwrap();
        assert!(but.matches(&attrs(&[("eventType", "OrderShipped")])));
        assert!(!but.matches(&attrs(&[("eventType", "OrderCreated")])));
        assert!(
            !but.matches(&attrs(&[])),
            "absent attributes never match anything-but"
        );
        let but_prefix =
            FilterPolicy::parse(r#"{"t":[{"anything-but":{"prefix":"Order"}}]}"#).unwrap();
        assert!(!but_prefix.matches(&attrs(&[("t", "OrderX")])));
        assert!(but_prefix.matches(&attrs(&[("t", "Invoice")])));
        let prefix = FilterPolicy::parse(r#"{"t":[{"prefix":"Order"}]}"#).unwrap();
        assert!(prefix.matches(&attrs(&[("t", "OrderCreated")])));
        let exists =
            FilterPolicy::parse(r#"{"t":[{"exists":true}],"u":[{"exists":false}]}"#).unwrap();
        assert!(exists.matches(&attrs(&[("t", "x")])));
        assert!(!exists.matches(&attrs(&[("t", "x"), ("u", "y")])));
        let ci = FilterPolicy::parse(
            r#"{"t":[{"equals-ignore-case":"orderCREATED"}],"s":[{"suffix":"ed"}]}"#,
        )
        .unwrap();
        assert!(ci.matches(&attrs(&[("t", "OrderCreated"), ("s", "Created")])));
    }

    #[test]
    fn unsupported_operators_are_refused_not_ignored() {
        assert!(matches!(
            FilterPolicy::parse(r#"{"price":[{"numeric":[">",0]}]}"#),
            Err(FilterPolicyError::Unsupported(_))
        ));
        assert!(matches!(
            FilterPolicy::parse(r#"{"$or":[]}"#),
            Err(FilterPolicyError::Unsupported(_))
        ));
        assert!(matches!(
            FilterPolicy::parse("[]"),
            Err(FilterPolicyError::Malformed(_))
        ));
    }
}
