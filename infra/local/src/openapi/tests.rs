//! The served document parses, is free of API Gateway and CloudFormation
//! constructs, and says what the intake handler really answers.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderValue, Method};
use orders_adapters::ports::{OrderQueue, OutgoingOrder, QueueError};
use orders_domain::test_support::legacy_order;
use serde_json::{Value, json};

use super::*;

fn served() -> Value {
    local_document(Some("127.0.0.1:3000")).unwrap()
}

fn create_order(document: &Value) -> &Value {
    let operation = &document["paths"]["/orders"]["post"];
    assert!(operation.is_object(), "the document has POST /orders");
    operation
}

/// Every key of every object in `value`, with its JSON pointer (RFC 6901).
fn keys(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                let escaped = key.replace('~', "~0").replace('/', "~1");
                let child_path = format!("{path}/{escaped}");
                out.push((child_path.clone(), key.clone()));
                keys(child, &child_path, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                keys(item, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The node a local `$ref` (`#/components/...`) names.
fn follow<'a>(document: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("{reference} is not a local reference"));
    document
        .pointer(pointer)
        .unwrap_or_else(|| panic!("{reference} names nothing in the document"))
}

fn deref<'a>(document: &'a Value, node: &'a Value) -> &'a Value {
    match node["$ref"].as_str() {
        Some(reference) => deref(document, follow(document, reference)),
        None => node,
    }
}

#[test]
fn given_the_embedded_file_when_served_then_it_is_json_openapi_with_the_local_server() {
    // When the document is resolved for a client of 127.0.0.1:3000
    let document = served();
    // Then it is an OpenAPI 3.0 document that survives a JSON round trip
    assert_eq!(document["openapi"], "3.0.1");
    let text = serde_json::to_string(&document).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), document);
    // And its only server is the runner
    assert_eq!(
        document["servers"],
        json!([{"url": "http://127.0.0.1:3000", "description": "orders-local (embedded API Gateway, no authorization)"}])
    );
    // And the stack name is the runner's
    assert_eq!(document["info"]["title"], "orders-local-orders");
}

#[test]
fn given_the_served_document_then_post_orders_lists_every_answer_of_intake() {
    let document = served();
    let responses: BTreeSet<&str> = create_order(&document)["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for status in ["202", "400", "401", "413", "415", "422", "500", "503"] {
        assert!(
            responses.contains(status),
            "{status} missing: {responses:?}"
        );
    }
    assert_eq!(responses.len(), 8, "{responses:?}");
    // The body is JSON and described by a schema
    let body = &create_order(&document)["requestBody"]["content"]["application/json"];
    assert_eq!(
        deref(&document, &body["schema"])["additionalProperties"],
        false
    );
}

#[test]
fn given_the_served_document_then_nothing_of_api_gateway_or_cloudformation_remains() {
    let document = served();
    let mut found = Vec::new();
    keys(&document, "", &mut found);
    for (path, key) in &found {
        assert!(
            !key.starts_with("x-amazon-apigateway-"),
            "{path}: API Gateway extension served"
        );
        assert!(
            key != "Ref" && !key.starts_with("Fn::"),
            "{path}: CloudFormation intrinsic served"
        );
        // The runner authorizes nothing, so the document asks for nothing.
        assert!(
            key != "security" && key != "securitySchemes",
            "{path}: security served"
        );
    }
}

#[test]
fn given_the_served_document_then_every_reference_resolves() {
    let document = served();
    let mut found = Vec::new();
    keys(&document, "", &mut found);
    let references: Vec<&str> = found
        .iter()
        .filter(|(_, key)| key == "$ref")
        .map(|(path, _)| document.pointer(path).unwrap().as_str().unwrap())
        .collect();
    assert!(!references.is_empty());
    for reference in references {
        follow(&document, reference);
    }
}

#[test]
fn given_a_host_header_then_the_server_url_uses_it_only_when_it_is_an_address() {
    assert_eq!(
        server_url(Some("127.0.0.1:41234")),
        "http://127.0.0.1:41234"
    );
    assert_eq!(server_url(Some("[::1]:3000")), "http://[::1]:3000");
    assert_eq!(server_url(Some("localhost")), "http://localhost");
    assert_eq!(server_url(None), "/");
    assert_eq!(server_url(Some("")), "/");
    assert_eq!(server_url(Some("evil.example/<script>")), "/");
}

#[test]
fn given_intrinsics_then_the_local_stack_values_are_used_and_others_refused() {
    // Given a condition that holds nowhere locally, the else branch is taken
    // and AWS::NoValue removes the key
    let resolved = resolve(
        "a:\n  Fn::If: [UseIamAuth, yes, {Ref: AWS::NoValue}]\nb:\n  Fn::Sub: '${AWS::StackName}-x'\n202: {x-amazon-apigateway-integration: {uri: {Fn::GetAtt: [F, Arn]}}}\n",
    )
    .unwrap();
    assert_eq!(resolved, json!({"b": "orders-local-x", "202": {}}));
    // And anything the runner has no value for is an error, not a leftover
    for source in [
        "a: {Fn::If: [SomeOtherCondition, 1, 2]}",
        "a: {Fn::Sub: '${AWS::Region}'}",
        "a: {Fn::GetAtt: [F, Arn]}",
        "a: {Ref: JwtIssuer}",
        "a: 1\n---\nb: 2",
    ] {
        assert!(resolve(source).is_err(), "{source:?} was resolved");
    }
}

// ------------------------------------------- the document against the handler

/// How the queue fails, if it does.
type QueueFault = Option<fn() -> QueueError>;

/// A queue that accepts, or fails the way the case asks.
struct ScriptedQueue(QueueFault);

#[async_trait]
impl OrderQueue for ScriptedQueue {
    async fn enqueue(&self, _order: &OutgoingOrder) -> Result<(), QueueError> {
        match self.0 {
            None => Ok(()),
            Some(fail) => Err(fail()),
        }
    }
}

/// The `required` names and the `status`/`type` enums a response schema
/// imposes, through `$ref` and `allOf`.
fn constraints(
    document: &Value,
    schema: &Value,
    required: &mut BTreeSet<String>,
    enums: &mut Vec<(String, Value)>,
) {
    let schema = deref(document, schema);
    for name in schema["required"].as_array().into_iter().flatten() {
        required.insert(name.as_str().unwrap().to_owned());
    }
    for field in ["status", "type"] {
        if let Some(allowed) = schema["properties"][field].get("enum") {
            enums.push((field.to_owned(), allowed.clone()));
        }
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        constraints(document, part, required, enums);
    }
}

#[tokio::test]
async fn given_each_outcome_of_intake_then_its_answer_is_the_documented_one() {
    let document = served();
    let responses = &create_order(&document)["responses"];
    let unavailable: fn() -> QueueError = || QueueError::Unavailable("throttled".into());
    let rejected: fn() -> QueueError = || QueueError::Rejected("access denied".into());
    let big = format!(r#"{{"customerName":"{}"}}"#, "n".repeat(70_000));
    let order = legacy_order("23214").to_string();
    let cases: [(&str, &str, &[u8], QueueFault, u16); 9] = [
        ("accepted", "application/json", order.as_bytes(), None, 202),
        // Behind a JWT authorizer, a request that carries no caller
        (
            "unidentified",
            "application/json",
            order.as_bytes(),
            None,
            401,
        ),
        ("malformed", "application/json", b"{", None, 400),
        ("not UTF-8", "application/json", b"\xff\xfe", None, 400),
        ("too large", "application/json", big.as_bytes(), None, 413),
        ("not JSON", "text/plain", order.as_bytes(), None, 415),
        ("invalid", "application/json", b"{\"items\":[]}", None, 422),
        (
            "unavailable",
            "application/json",
            order.as_bytes(),
            Some(unavailable),
            503,
        ),
        (
            "rejected",
            "application/json",
            order.as_bytes(),
            Some(rejected),
            500,
        ),
    ];
    let mut seen = BTreeSet::new();
    for (case, content_type, body, queue, expected) in cases {
        // Given intake over a queue that behaves as the case says
        let owners = if case == "unidentified" {
            let secret = orders_domain::model::OwnerSecret::new(vec![1u8; 32]).ok();
            orders_http::Owners::new(orders_http::AuthMode::Jwt, secret)
        } else {
            orders_http::Owners::open()
        };
        let deps = intake::Deps::new(
            Arc::new(ScriptedQueue(queue)),
            intake::GroupStrategy::Customer,
            owners,
        );
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static(content_type));
        let event = crate::gateway::http_api_event(
            &Method::POST,
            &"/orders".parse().unwrap(),
            &headers,
            body,
            "127.0.0.1",
            "request-1",
        );
        let request =
            lambda_http::request::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        // When the request is handled
        let response = intake::handle(&deps, request).await.unwrap();
        // Then the status is the expected one and documented
        let status = response.status().as_u16();
        assert_eq!(status, expected, "{case}");
        seen.insert(status.to_string());
        let documented = &responses[status.to_string()];
        assert!(documented.is_object(), "{case}: {status} is not documented");
        // And so are its media type
        let media_type = response.headers()["content-type"].to_str().unwrap();
        let content = &documented["content"][media_type];
        assert!(
            content.is_object(),
            "{case}: {status} {media_type} is not documented"
        );
        // And its required headers
        for (name, header) in documented["headers"].as_object().into_iter().flatten() {
            let header = deref(&document, header);
            if header["required"] == true {
                assert!(
                    response
                        .headers()
                        .contains_key(name.to_ascii_lowercase().as_str()),
                    "{case}: documented header {name} missing"
                );
            }
        }
        // And the body has every required member, with the documented status and type
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        let (mut required, mut enums) = (BTreeSet::new(), Vec::new());
        constraints(&document, &content["schema"], &mut required, &mut enums);
        for name in &required {
            assert!(
                body.get(name).is_some(),
                "{case}: body lacks {name}: {body}"
            );
        }
        for (field, allowed) in enums {
            assert!(
                allowed.as_array().unwrap().contains(&body[&field]),
                "{case}: {field} {} is not one of {allowed}",
                body[&field]
            );
        }
    }
    // And every documented answer was produced
    let documented: BTreeSet<String> = responses.as_object().unwrap().keys().cloned().collect();
    assert_eq!(seen, documented);
}
