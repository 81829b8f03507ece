//! The API's OpenAPI document as `orders-local` serves it at `GET /openapi.json`.
//!
//! `infra/openapi.yaml` is the one definition of the HTTP API: the SAM template
//! includes it (`AWS::Include`) and this module embeds it at compile time. The
//! file is written for API Gateway, so before a client can use it here it is
//! resolved the way CloudFormation would resolve it for a stack named
//! [`LOCAL_STACK_NAME`] deployed with `AuthMode=NONE` (the runner has no
//! authorization): `Fn::If` takes the branch of the [`LOCAL_CONDITIONS`],
//! `Ref: AWS::NoValue` removes its key, `Fn::Sub` fills in the stack name. The
//! `x-amazon-apigateway-*` extensions (integration, authorizers) are dropped
//! and a `servers` entry names the runner's own URL. Any other intrinsic is an
//! error, so a new one in the file fails the unit tests here rather than
//! reaching a client half-resolved.

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// The OpenAPI document, as deployed (`infra/openapi.yaml`).
pub const SOURCE: &str = include_str!("../../openapi.yaml");

/// Path at which the runner serves the resolved document.
pub const PATH: &str = "/openapi.json";

/// The stack name `AWS::StackName` resolves to.
pub const LOCAL_STACK_NAME: &str = "orders-local";

/// The template's conditions as they hold for the runner: it authorizes
/// nothing, like a stack deployed with `AuthMode=NONE`.
pub const LOCAL_CONDITIONS: &[(&str, bool)] = &[("UseIamAuth", false), ("UseJwtAuth", false)];

/// Prefix of the vendor extensions only API Gateway understands.
const GATEWAY_EXTENSION_PREFIX: &str = "x-amazon-apigateway-";

/// Why the embedded document could not be turned into the served one.
#[derive(Debug, thiserror::Error)]
pub enum OpenApiError {
    /// The file is not YAML.
    #[error("infra/openapi.yaml is not valid YAML")]
    Yaml(#[from] yaml_rust2::ScanError),
    /// The file holds no document or more than one.
    #[error("infra/openapi.yaml holds {0} YAML documents instead of one")]
    Documents(usize),
    /// A node the runner cannot resolve (an unknown intrinsic, condition or
    /// substitution, an alias, a non-scalar key).
    #[error("infra/openapi.yaml at {path}: {what}")]
    Unsupported {
        /// Where, as a JSON pointer into the document.
        path: String,
        /// What was found.
        what: String,
    },
}

fn unsupported(path: &str, what: impl Into<String>) -> OpenApiError {
    OpenApiError::Unsupported {
        path: path.to_owned(),
        what: what.into(),
    }
}

/// The document a local client can use: [`SOURCE`] resolved for the runner,
/// with `servers` naming `http://<host>` (the request's `Host` header), or the
/// relative URL `/` when no usable host is given.
pub fn local_document(host: Option<&str>) -> Result<Value, OpenApiError> {
    let mut document = resolve(SOURCE)?;
    if let Value::Object(fields) = &mut document {
        fields.insert(
            "servers".to_owned(),
            serde_json::json!([{
                "url": server_url(host),
                "description": "orders-local (embedded API Gateway, no authorization)",
            }]),
        );
    }
    Ok(document)
}

/// `http://<host>` when `host` is a plain authority (`127.0.0.1:3000`,
/// `[::1]:3000`, `localhost`), else `/`: a header is never copied into the
/// document unless it can only be an address.
fn server_url(host: Option<&str>) -> String {
    match host {
        Some(host)
            if !host.is_empty()
                && host.len() <= 255
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)) =>
        {
            format!("http://{host}")
        }
        _ => "/".to_owned(),
    }
}

/// Parses an OpenAPI YAML document written for the template and resolves it
/// for the runner (see the module documentation).
pub fn resolve(source: &str) -> Result<Value, OpenApiError> {
    let mut documents = YamlLoader::load_from_str(source)?;
    if documents.len() != 1 {
        return Err(OpenApiError::Documents(documents.len()));
    }
    let document = documents.remove(0);
    Ok(convert(&document, "")?.unwrap_or(Value::Null))
}

/// Converts one node; `None` is `Ref: AWS::NoValue` (the caller drops the key
/// or element).
fn convert(node: &Yaml, path: &str) -> Result<Option<Value>, OpenApiError> {
    let value = match node {
        Yaml::Hash(hash) => {
            if let Some((name, argument)) = intrinsic(hash) {
                return resolve_intrinsic(name, argument, path);
            }
            let mut fields = Map::new();
            for (key, value) in hash {
                let key = scalar_key(key, path)?;
                if key.starts_with(GATEWAY_EXTENSION_PREFIX) {
                    continue;
                }
                let child = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                if let Some(value) = convert(value, &child)? {
                    fields.insert(key, value);
                }
            }
            Value::Object(fields)
        }
        Yaml::Array(items) => {
            let mut values = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                if let Some(value) = convert(item, &format!("{path}/{i}"))? {
                    values.push(value);
                }
            }
            Value::Array(values)
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Integer(i) => Value::Number(Number::from(*i)),
        Yaml::Real(text) => node
            .as_f64()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| unsupported(path, format!("the number {text} has no JSON form")))?,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Null => Value::Null,
        Yaml::Alias(_) => return Err(unsupported(path, "a YAML alias")),
        Yaml::BadValue => return Err(unsupported(path, "an unreadable node")),
    };
    Ok(Some(value))
}

/// A mapping's key as a string; OpenAPI's keys are strings, but YAML reads an
/// unquoted `202` as an integer.
fn scalar_key(key: &Yaml, path: &str) -> Result<String, OpenApiError> {
    match key {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Integer(i) => Ok(i.to_string()),
        Yaml::Boolean(b) => Ok(b.to_string()),
        Yaml::Real(s) => Ok(s.clone()),
        _ => Err(unsupported(path, format!("a non-scalar key {key:?}"))),
    }
}

/// The intrinsic function a mapping is, in CloudFormation's long form: exactly
/// one key, `Ref` or `Fn::*`.
fn intrinsic(hash: &yaml_rust2::yaml::Hash) -> Option<(&str, &Yaml)> {
    let mut entries = hash.iter();
    let (key, argument) = entries.next()?;
    let name = key.as_str()?;
    let is_intrinsic = name == "Ref" || name.starts_with("Fn::");
    (is_intrinsic && entries.next().is_none()).then_some((name, argument))
}

fn resolve_intrinsic(
    name: &str,
    argument: &Yaml,
    path: &str,
) -> Result<Option<Value>, OpenApiError> {
    match (name, argument) {
        ("Ref", Yaml::String(target)) if target == "AWS::NoValue" => Ok(None),
        ("Ref", Yaml::String(target)) if target == "AWS::StackName" => {
            Ok(Some(Value::String(LOCAL_STACK_NAME.to_owned())))
        }
        ("Fn::If", Yaml::Array(arguments)) if arguments.len() == 3 => {
            let condition = arguments[0]
                .as_str()
                .ok_or_else(|| unsupported(path, "Fn::If without a condition name"))?;
            let holds = LOCAL_CONDITIONS
                .iter()
                .find(|(known, _)| *known == condition)
                .map(|(_, holds)| *holds)
                .ok_or_else(|| {
                    unsupported(path, format!("condition {condition} has no local value"))
                })?;
            let (index, branch) = if holds {
                (1, &arguments[1])
            } else {
                (2, &arguments[2])
            };
            convert(branch, &format!("{path}/Fn::If/{index}"))
        }
        ("Fn::Sub", Yaml::String(template)) => {
            let text = template.replace("${AWS::StackName}", LOCAL_STACK_NAME);
            if text.contains("${") {
                return Err(unsupported(
                    path,
                    format!("Fn::Sub {template:?} names a variable other than AWS::StackName"),
                ));
            }
            Ok(Some(Value::String(text)))
        }
        _ => Err(unsupported(
            path,
            format!("the intrinsic {name} has no local value"),
        )),
    }
}

#[cfg(test)]
mod tests;
