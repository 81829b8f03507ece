//! The HTTP API: its one OpenAPI file, its routes and authorization, the
//! answers and the order status it documents, and its limits, against the
//! template, the handlers and the domain's constants.

use std::collections::BTreeSet;

use yaml_rust2::{Yaml, YamlLoader};

use crate::template::{at, int, reference, resource, string, template};

/// The API's one OpenAPI document, which the template includes and
/// orders-local serves.
const OPENAPI: &str = include_str!("../../../infra/openapi.yaml");

/// The OpenAPI file's one YAML document.
pub(crate) fn openapi() -> Yaml {
    let mut docs = YamlLoader::load_from_str(OPENAPI).expect("infra/openapi.yaml is valid YAML");
    assert_eq!(docs.len(), 1, "one YAML document");
    docs.remove(0)
}

#[test]
fn the_api_definition_is_the_one_openapi_file() {
    // Given the template's HTTP API
    let t = template();
    let api = at(resource(&t, "OrdersApi"), &["Properties"]);
    // Then its definition is infra/openapi.yaml, included whole
    let body = at(api, &["DefinitionBody"]);
    assert_eq!(
        body.as_hash().map(|h| h.len()),
        Some(1),
        "DefinitionBody is one Fn::Transform: {body:?}"
    );
    let transform = at(body, &["Fn::Transform"]);
    assert_eq!(
        string(&transform["Name"], "Fn::Transform.Name"),
        "AWS::Include"
    );
    assert_eq!(
        string(&transform["Parameters"]["Location"], "Parameters.Location"),
        "openapi.yaml"
    );
    assert!(
        api["DefinitionUri"].is_badvalue(),
        "OrdersApi has no second definition (DefinitionUri)"
    );
    // And that file is the one orders-local serves
    assert_eq!(OPENAPI, orders_local::openapi::SOURCE);
    // And it uses no short-form tag, which AWS::Include refuses
    for (number, line) in OPENAPI.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or_default();
        if line.trim_start().starts_with('#') {
            continue;
        }
        for tag in [
            "!Ref", "!GetAtt", "!Sub", "!If", "!Equals", "!Not", "!Join", "!Select",
        ] {
            assert!(
                !code.contains(&format!("{tag} ")) && !code.contains(&format!("[{tag}")),
                "infra/openapi.yaml:{}: short-form {tag}; write the long form (Fn::If:)",
                number + 1
            );
        }
    }
}

#[test]
fn the_openapi_file_routes_post_orders_to_intake_with_the_template_auth() {
    // Given the template and the OpenAPI file
    let (t, doc) = (template(), openapi());
    // Then the routes are POST /orders and GET /orders/{orderId}
    let paths = at(&doc, &["paths"]).as_hash().expect("paths is a mapping");
    let routes: Vec<(String, Vec<String>)> = paths
        .iter()
        .map(|(path, methods)| {
            let methods = methods.as_hash().expect("a path item is a mapping");
            let methods = methods
                .keys()
                .map(|m| string(m, "method").to_owned())
                .filter(|m| !m.starts_with("x-") && m != "parameters")
                .collect();
            (string(path, "path").to_owned(), methods)
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("/orders".to_owned(), vec!["post".to_owned()]),
            ("/orders/{orderId}".to_owned(), vec!["get".to_owned()]),
        ]
    );
    // And the function may be invoked for exactly that route
    let source_arn = at(
        resource(&t, "IntakeApiPermission"),
        &["Properties", "SourceArn"],
    );
    assert!(
        string(source_arn, "SourceArn").ends_with("/POST/orders"),
        "IntakeApiPermission.SourceArn covers POST /orders: {source_arn:?}"
    );
    // And API Gateway proxies it to the intake function, payload format 2.0
    let post = at(&doc, &["paths", "/orders", "post"]);
    let integration = at(post, &["x-amazon-apigateway-integration"]);
    assert_eq!(string(&integration["type"], "type"), "aws_proxy");
    assert_eq!(
        string(&integration["payloadFormatVersion"], "payloadFormatVersion"),
        "2.0"
    );
    assert_eq!(
        reference(&integration["uri"], "integration uri"),
        "IntakeFunction.Arn"
    );
    // And GET /orders/{orderId} goes to the status function the same way,
    // which may be invoked for that route only
    let get = at(&doc, &["paths", "/orders/{orderId}", "get"]);
    let integration = at(get, &["x-amazon-apigateway-integration"]);
    assert_eq!(string(&integration["type"], "type"), "aws_proxy");
    assert_eq!(
        string(&integration["payloadFormatVersion"], "payloadFormatVersion"),
        "2.0"
    );
    assert_eq!(
        reference(&integration["uri"], "integration uri"),
        "StatusFunction.Arn"
    );
    let source_arn = at(
        resource(&t, "StatusApiPermission"),
        &["Properties", "SourceArn"],
    );
    assert!(
        string(source_arn, "SourceArn").ends_with("/GET/orders/*"),
        "StatusApiPermission.SourceArn covers GET /orders/*: {source_arn:?}"
    );
    // And both routes have the same authorization (the same authorizer),
    // following the AuthMode conditions of the template
    assert_eq!(at(get, &["security"]), at(post, &["security"]));
    for (node, what) in [
        (at(post, &["security"]), "security"),
        (
            at(&doc, &["components", "securitySchemes"]),
            "securitySchemes",
        ),
    ] {
        let condition = string(&at(node, &["Fn::If"])[0], what);
        assert_eq!(condition, "UseIamAuth", "{what}");
        let nested = string(&node["Fn::If"][2]["Fn::If"][0], what);
        assert_eq!(nested, "UseJwtAuth", "{what}");
        for name in [condition, nested] {
            at(&t, &["Conditions", name]);
        }
    }
}

/// The node a local `$ref` (`#/components/...`) names, or `node` itself.
fn deref<'a>(doc: &'a Yaml, node: &'a Yaml) -> &'a Yaml {
    match node["$ref"].as_str() {
        Some(reference) => {
            let path: Vec<&str> = reference
                .strip_prefix("#/")
                .unwrap_or_else(|| panic!("{reference} is not a local reference"))
                .split('/')
                .collect();
            deref(doc, at(doc, &path))
        }
        None => node,
    }
}

/// The `required` members and the `type`/`status` enums a response schema
/// imposes, through `$ref` and `allOf`.
fn constraints(
    doc: &Yaml,
    schema: &Yaml,
    required: &mut BTreeSet<String>,
    enums: &mut Vec<(String, Vec<serde_json::Value>)>,
) {
    let schema = deref(doc, schema);
    for name in schema["required"].as_vec().into_iter().flatten() {
        required.insert(string(name, "required").to_owned());
    }
    for field in ["type", "status"] {
        if let Some(allowed) = schema["properties"][field]["enum"].as_vec() {
            let allowed = allowed
                .iter()
                .map(|v| match v {
                    Yaml::Integer(i) => serde_json::json!(i),
                    other => serde_json::json!(string(other, "enum value")),
                })
                .collect();
            enums.push((field.to_owned(), allowed));
        }
    }
    for part in schema["allOf"].as_vec().into_iter().flatten() {
        constraints(doc, part, required, enums);
    }
}

#[tokio::test]
async fn each_outcome_of_the_status_function_is_a_documented_answer_of_get_order() {
    use orders_adapters::memory::{Fault, MemoryStore};
    use orders_adapters::ports::OrderStore;
    use orders_adapters::record::StoredOrder;
    use orders_domain::contract::{CorrelationId, OrderMessage};
    use orders_domain::model::{OrderId, OrderRequest};
    use std::sync::Arc;

    // Given the status function over a table holding one order
    let request = OrderRequest::from_json(&serde_json::json!({
        "customerName": "Ada Lovelace", "shippingAddress": "12 St James's Square, London",
        "items": [{"itemId": "book-1", "quantity": 2}]
    }))
    .unwrap();
    let message = OrderMessage::new(
        orders_domain::model::OwnerKey::anonymous(),
        OrderId::parse("A-1001").unwrap(),
        CorrelationId::parse("c-1").unwrap(),
        time::OffsetDateTime::now_utc(),
        request.order,
    );
    let store = Arc::new(MemoryStore::default());
    store
        .put_if_absent(&StoredOrder::from_message(&message, message.accepted_at))
        .await
        .unwrap();
    let deps = order_status::Deps::new(store.clone(), orders_http::Owners::open());
    // And the same function behind a JWT authorizer
    let secret = orders_domain::model::OwnerSecret::new(vec![1u8; 32]).ok();
    let jwt_deps = order_status::Deps::new(
        store.clone(),
        orders_http::Owners::new(orders_http::AuthMode::Jwt, secret),
    );
    // And the answers the OpenAPI file documents for GET /orders/{orderId}
    // (API Gateway routes only GET to the function, so its 405 never reaches
    // a client and is not documented)
    let doc = openapi();
    let responses = at(&doc, &["paths", "/orders/{orderId}", "get", "responses"]);
    let cases: [(&str, &str, Option<Fault>, u16); 6] = [
        ("stored", "/orders/A-1001", None, 200),
        // A request without the caller the JWT authorizer guarantees
        ("unidentified", "/orders/A-1001", None, 401),
        ("bad id", "/orders/Ada%20Lovelace", None, 400),
        ("not stored (yet)", "/orders/A-1002", None, 404),
        (
            "table refuses",
            "/orders/A-1001",
            Some(Fault::Permanent),
            500,
        ),
        (
            "table throttled",
            "/orders/A-1001",
            Some(Fault::Transient),
            503,
        ),
    ];
    let mut seen = BTreeSet::new();
    for (case, path, fault, expected) in cases {
        if let Some(fault) = fault {
            store.fail_next(1, fault);
        }
        // When the request is handled
        let request = http::Request::builder()
            .method("GET")
            .uri(path)
            .body(lambda_http::Body::Empty)
            .unwrap();
        let deps = if case == "unidentified" {
            &jwt_deps
        } else {
            &deps
        };
        let response = order_status::handle(deps, request).await.unwrap();
        // Then the status is the expected one and documented
        let status = response.status().as_u16();
        assert_eq!(status, expected, "{case}");
        seen.insert(status);
        let documented = &responses[status.to_string().as_str()];
        assert!(
            !documented.is_badvalue(),
            "{case}: {status} is not documented"
        );
        // And so is its media type
        let media_type = response.headers()["content-type"].to_str().unwrap();
        let content = &documented["content"][media_type];
        assert!(
            !content.is_badvalue(),
            "{case}: {status} {media_type} is not documented"
        );
        // And its required headers are there
        for (name, header) in documented["headers"].as_hash().into_iter().flatten() {
            let name = string(name, "header name");
            if deref(&doc, header)["required"].as_bool() == Some(true) {
                assert!(
                    response
                        .headers()
                        .contains_key(name.to_ascii_lowercase().as_str()),
                    "{case}: documented header {name} missing"
                );
            }
        }
        // And the body has every required member, with the documented type and status
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        let (mut required, mut enums) = (BTreeSet::new(), Vec::new());
        constraints(&doc, &content["schema"], &mut required, &mut enums);
        for name in &required {
            assert!(
                body.get(name).is_some(),
                "{case}: body lacks {name}: {body}"
            );
        }
        for (field, allowed) in enums {
            assert!(
                allowed.contains(&body[&field]),
                "{case}: {field} {} is not one of {allowed:?}",
                body[&field]
            );
        }
    }
    // And every documented answer was produced
    let documented: BTreeSet<u16> = responses
        .as_hash()
        .expect("responses is a mapping")
        .keys()
        .map(|k| string(k, "status").parse().expect("a status code"))
        .collect();
    assert_eq!(seen, documented);
}

#[test]
fn the_documented_order_status_is_exactly_what_status_answers_and_no_personal_data() {
    use orders_domain::contract::{CorrelationId, OrderMessage};
    use orders_domain::model::{OrderId, OrderRequest};
    // Given the fullest view the status function renders (every optional field)
    let request = OrderRequest::from_json(&serde_json::json!({
        "customerName": "Ada Lovelace", "customerEmail": "ada@example.com",
        "shippingAddress": "12 St James's Square, London", "currency": "EUR",
        "items": [{"itemId": "book-1", "quantity": 2, "unitPrice": 1999}]
    }))
    .unwrap();
    let message = OrderMessage::new(
        orders_domain::model::OwnerKey::anonymous(),
        OrderId::parse("A-1001").unwrap(),
        CorrelationId::parse("c-1").unwrap(),
        time::OffsetDateTime::now_utc(),
        request.order,
    );
    let stored = orders_adapters::record::StoredOrder::from_message(&message, message.accepted_at);
    let view = serde_json::to_value(order_status::OrderView::from(&stored)).unwrap();
    let rendered: BTreeSet<String> = view.as_object().unwrap().keys().cloned().collect();
    // When the OpenAPI schema of the 200 is read
    let doc = openapi();
    let schema = at(&doc, &["components", "schemas", "OrderStatus"]);
    let documented: BTreeSet<String> = at(schema, &["properties"])
        .as_hash()
        .unwrap()
        .keys()
        .map(|k| string(k, "property").to_owned())
        .collect();
    // Then they are the same fields, none of them personal data
    assert_eq!(documented, rendered);
    for personal in ["customerName", "customerEmail", "shippingAddress"] {
        assert!(!documented.contains(personal), "{personal} documented");
    }
    let item: BTreeSet<String> = view["items"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let documented_item: BTreeSet<String> =
        at(schema, &["properties", "items", "items", "properties"])
            .as_hash()
            .unwrap()
            .keys()
            .map(|k| string(k, "property").to_owned())
            .collect();
    assert_eq!(documented_item, item);
    // And the 202 points at it with a required Location header
    let location = at(
        &doc,
        &[
            "paths",
            "/orders",
            "post",
            "responses",
            "202",
            "headers",
            "Location",
        ],
    );
    assert_eq!(location["required"].as_bool(), Some(true));
}

#[test]
fn the_openapi_limits_are_the_domain_constants() {
    use orders_domain::model::{
        MAX_ADDRESS_LEN, MAX_EMAIL_LEN, MAX_ID_LEN, MAX_ITEMS, MAX_NAME_LEN, MAX_QUANTITY,
        MAX_UNIT_PRICE_MINOR,
    };
    let doc = openapi();
    let schemas = at(&doc, &["components", "schemas"]);
    let order = at(schemas, &["OrderRequest", "properties"]);
    let item = at(schemas, &["LineItem", "properties"]);
    let limit = |node: &Yaml, key: &str, what: &str| int(at(node, &[key]), what);
    for (node, key, expected, what) in [
        (at(schemas, &["Id"]), "maxLength", MAX_ID_LEN, "Id"),
        (at(order, &["orderID"]), "maxLength", MAX_ID_LEN, "orderID"),
        (at(order, &["orderId"]), "maxLength", MAX_ID_LEN, "orderId"),
        (
            at(order, &["customerName"]),
            "maxLength",
            MAX_NAME_LEN,
            "customerName",
        ),
        (
            at(order, &["customerEmail"]),
            "maxLength",
            MAX_EMAIL_LEN,
            "customerEmail",
        ),
        (
            at(order, &["shippingAddress"]),
            "maxLength",
            MAX_ADDRESS_LEN,
            "shippingAddress",
        ),
        (at(order, &["items"]), "maxItems", MAX_ITEMS, "items"),
    ] {
        assert_eq!(limit(node, key, what), expected as u64, "{what}.{key}");
    }
    assert_eq!(
        limit(at(item, &["quantity"]), "maximum", "quantity"),
        u64::from(MAX_QUANTITY)
    );
    assert_eq!(
        limit(at(item, &["unitPrice"]), "maximum", "unitPrice"),
        MAX_UNIT_PRICE_MINOR
    );
    // The Idempotency-Key header takes an order id, bare or quoted
    let parameters = at(&doc, &["paths", "/orders", "post", "parameters"])
        .as_vec()
        .expect("parameters is a list");
    let key = parameters
        .iter()
        .find(|p| p["name"].as_str() == Some("Idempotency-Key"))
        .expect("Idempotency-Key is documented");
    let pattern = string(at(key, &["schema", "pattern"]), "Idempotency-Key pattern");
    assert_eq!(
        pattern.matches(&format!("{{1,{MAX_ID_LEN}}}")).count(),
        2,
        "Idempotency-Key: {pattern}"
    );
    // The body limit is the handler's
    let body = string(
        at(
            &doc,
            &["paths", "/orders", "post", "requestBody", "description"],
        ),
        "requestBody.description",
    );
    assert!(
        body.contains(&intake::MAX_BODY_BYTES.to_string()),
        "requestBody.description names {} bytes: {body}",
        intake::MAX_BODY_BYTES
    );
    // Every documented body field is one the parser knows (an unknown one is
    // reported as such)
    let fields = at(schemas, &["OrderRequest", "properties"])
        .as_hash()
        .expect("properties is a mapping");
    for field in fields.keys().map(|k| string(k, "field")) {
        let body = serde_json::json!({ field: null });
        let errors = orders_domain::model::OrderRequest::from_json(&body).unwrap_err();
        assert!(
            errors
                .errors()
                .iter()
                .all(|e| !(e.pointer == format!("/{field}")
                    && e.detail.starts_with("unknown field"))),
            "{field} is documented but unknown to OrderRequest::from_json"
        );
    }
}
