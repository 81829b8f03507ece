//! JSON Schema of the published event contract, generated from the Rust types.
//!
//! Non-Rust consumers validate `OrderCreated` v2 against
//! `shared/domain/schema/order-created.v2.schema.json`; Rust consumers use
//! [`crate::contract::OrderCreated`] itself. The committed file is
//! [`order_created_v2`] pretty-printed, and a test fails when they differ, so
//! the schema cannot drift from the type. Regenerate it after an (additive)
//! change with `UPDATE_SCHEMA=1 cargo test -p orders-domain schema`.
//!
//! The schema describes what the notifier *writes* (schemars' serialize
//! contract): optional fields are absent, never `null`. It does not forbid
//! unknown properties, because fields may be added within v2 and readers
//! ignore what they do not know.
//!
//! The value types below carry their validation rules into the schema by
//! hand (patterns, lengths, ranges): their serde form is a plain string or
//! integer checked by `TryFrom`, which schemars cannot see.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings, json_schema};

use crate::contract::{CorrelationId, OrderCreated};
use crate::model::{
    Currency, ItemId, MAX_CORRELATION_ID_LEN, MAX_ID_LEN, MAX_QUANTITY, OrderId, OwnerKey,
    Quantity, id_pattern,
};

/// Where the committed v2 schema lives, relative to this crate's directory.
pub const ORDER_CREATED_V2_SCHEMA_PATH: &str = "schema/order-created.v2.schema.json";

/// The `$id` of the v2 schema: a name, not a location to fetch.
const ORDER_CREATED_V2_ID: &str = "urn:orders:schema:order-created:v2";

/// The JSON Schema (draft 2020-12) of `OrderCreated` v2 as written by the
/// notifier.
pub fn order_created_v2() -> Schema {
    let mut schema = SchemaGenerator::new(SchemaSettings::draft2020_12().for_serialize())
        .into_root_schema_for::<OrderCreated>();
    schema.insert("$id".into(), ORDER_CREATED_V2_ID.into());
    schema
}

/// [`order_created_v2`] as the committed file holds it: pretty JSON and a
/// final newline.
pub fn order_created_v2_text() -> String {
    // A schema is a JSON object of strings, numbers and arrays: it serialises.
    let mut text = serde_json::to_string_pretty(&order_created_v2()).unwrap_or_default();
    text.push('\n');
    text
}

/// An order or item id: the domain's id rule ([`id_pattern`]).
fn id_schema(description: &str) -> Schema {
    json_schema!({
        "type": "string",
        "description": description,
        "minLength": 1,
        "maxLength": MAX_ID_LEN,
        "pattern": id_pattern(""),
    })
}

impl JsonSchema for OrderId {
    fn schema_name() -> Cow<'static, str> {
        "OrderId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        id_schema("Identifies one order; the idempotency key of the whole pipeline.")
    }
}

impl JsonSchema for OwnerKey {
    fn schema_name() -> Cow<'static, str> {
        "OwnerKey".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "Who posted the order, as an opaque key: `anonymous` while the API is open, otherwise a keyed hash of the caller's identity. With orderId, the order's identity.",
            "pattern": format!("^{}$", crate::model::OWNER_KEY_ALTERNATIVES),
        })
    }
}

impl JsonSchema for ItemId {
    fn schema_name() -> Cow<'static, str> {
        "ItemId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        id_schema("Identifies a catalogue item.")
    }
}

impl JsonSchema for Currency {
    fn schema_name() -> Cow<'static, str> {
        "Currency".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "ISO 4217 alphabetic currency code, e.g. EUR.",
            "pattern": "^[A-Z]{3}$",
        })
    }
}

impl JsonSchema for CorrelationId {
    fn schema_name() -> Cow<'static, str> {
        "CorrelationId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // What readers accept (`CorrelationId::parse`): 1–128 visible ASCII
        // characters. Client-chosen ids are narrower, minted ones are UUIDs,
        // API Gateway's request ids are base64.
        json_schema!({
            "type": "string",
            "description": "Carries one request's identity through every stage and log line.",
            "minLength": 1,
            "maxLength": MAX_CORRELATION_ID_LEN,
            "pattern": format!("^[!-~]{{1,{MAX_CORRELATION_ID_LEN}}}$"),
        })
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "description": "Units of one item.",
            "minimum": 1,
            "maximum": MAX_QUANTITY,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ORDER_CREATED_SCHEMA_VERSION;
    use std::path::Path;

    /// Given the committed schema, when it is generated again from the type,
    /// then both are byte for byte the same (or, with `UPDATE_SCHEMA=1`, the
    /// committed file is rewritten).
    #[test]
    fn committed_order_created_schema_equals_the_generated_one() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(ORDER_CREATED_V2_SCHEMA_PATH);
        let generated = order_created_v2_text();
        if std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| !v.is_empty() && v != "0") {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is not the schema of OrderCreated; if the type changed on purpose \
             (additive changes only within v2), run \
             `UPDATE_SCHEMA=1 cargo test -p orders-domain schema` and commit the file",
            path.display()
        );
    }

    /// Given the v2 schema, then it pins the type and version, requires
    /// what the notifier always writes, and leaves room for added fields.
    #[test]
    fn schema_pins_type_and_version_and_allows_additions() {
        let schema = serde_json::to_value(order_created_v2()).unwrap();
        assert_eq!(schema["properties"]["eventType"]["const"], "OrderCreated");
        assert_eq!(
            schema["properties"]["schemaVersion"]["const"],
            ORDER_CREATED_SCHEMA_VERSION
        );
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for field in [
            "eventType",
            "schemaVersion",
            "eventId",
            "occurredAt",
            "correlationId",
            "orderId",
            "acceptedAt",
            "lineCount",
            "unitCount",
            "items",
        ] {
            assert!(required.contains(&field), "{field} not required");
        }
        for optional in ["currency", "total"] {
            assert!(!required.contains(&optional), "{optional} required");
        }
        assert!(schema.get("additionalProperties").is_none());
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }
}
