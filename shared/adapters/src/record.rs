//! The DynamoDB item of an order, mapped with `serde_dynamo`: the stored-order
//! model of `orders_domain::record`, re-exported here, and [`ItemMapping`],
//! the one mapping every adapter uses (SDK `AttributeValue` maps, stream
//! images).

pub use orders_domain::record::*;

/// An item image could not be read as an order.
#[derive(Debug, thiserror::Error)]
#[error("item is not a valid order")]
pub struct RecordError(#[source] pub serde_dynamo::Error);

/// Maps a [`StoredOrder`] to and from DynamoDB items.
pub trait ItemMapping: Sized {
    /// Maps to any `serde_dynamo` item type (SDK `AttributeValue` maps, stream images).
    fn to_item<I: From<serde_dynamo::Item>>(&self) -> Result<I, RecordError>;
    /// Reads any `serde_dynamo` item type back, re-validating every field.
    fn from_item<I: Into<serde_dynamo::Item>>(item: I) -> Result<Self, RecordError>;
}

impl ItemMapping for StoredOrder {
    /// The order's fields and its table key ([`StoredOrder::key`]), which
    /// is derived, so the model does not hold it twice.
    fn to_item<I: From<serde_dynamo::Item>>(&self) -> Result<I, RecordError> {
        let mut item: serde_dynamo::Item = serde_dynamo::to_item(self).map_err(RecordError)?;
        item.insert(
            KEY_ATTRIBUTE.to_owned(),
            serde_dynamo::AttributeValue::S(self.key()),
        );
        Ok(item.into())
    }

    fn from_item<I: Into<serde_dynamo::Item>>(item: I) -> Result<Self, RecordError> {
        serde_dynamo::from_item(item).map_err(RecordError)
    }
}

/// When a stream record arrived, from its `ApproximateCreationDateTime` in
/// milliseconds since the epoch; `None` when the record does not say (the
/// epoch default Lambda's and the SDK's types fill in).
pub fn stream_arrival(approximate_creation_ms: i64) -> Option<time::OffsetDateTime> {
    if approximate_creation_ms <= 0 {
        return None;
    }
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(approximate_creation_ms) * 1_000_000)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use orders_domain::contract::{CorrelationId, OrderMessage};
    use orders_domain::model::OrderRequest;
    use orders_domain::test_support::legacy_order;
    use serde_dynamo::AttributeValue;
    use serde_json::json;

    /// The legacy order with a price, so the item's lines carry `unitPrice`.
    fn stored() -> StoredOrder {
        let mut body = legacy_order("23214");
        body["currency"] = json!("EUR");
        body["items"][0]["unitPrice"] = json!(150);
        let req = OrderRequest::from_json(&body).unwrap();
        let msg = OrderMessage::new(
            orders_domain::model::OwnerKey::anonymous(),
            req.order_id.unwrap(),
            CorrelationId::parse("c-1").unwrap(),
            time::macros::datetime!(2026-11-24 10:00 UTC),
            req.order,
        );
        StoredOrder::from_message(&msg, time::macros::datetime!(2026-11-24 10:00:01 UTC))
    }

    #[test]
    fn items_are_a_native_list_of_maps_at_the_top_level() {
        let item: serde_dynamo::Item = stored().to_item().unwrap();
        assert_eq!(
            item.get(KEY_ATTRIBUTE),
            Some(&AttributeValue::S("anonymous#23214".into()))
        );
        assert_eq!(
            item.get(ORDER_ID_ATTRIBUTE),
            Some(&AttributeValue::S("23214".into()))
        );
        assert_eq!(
            item.get(OWNER_ATTRIBUTE),
            Some(&AttributeValue::S("anonymous".into()))
        );
        assert_eq!(
            item.get("status"),
            Some(&AttributeValue::S("CREATED".into()))
        );
        assert!(matches!(
            item.get(HASH_ATTRIBUTE),
            Some(AttributeValue::S(_))
        ));
        let Some(AttributeValue::L(items)) = item.get("items") else {
            panic!("items is not a list: {:?}", item.get("items"));
        };
        let AttributeValue::M(first) = &items[0] else {
            panic!("item is not a map");
        };
        assert_eq!(first.get("quantity"), Some(&AttributeValue::N("22".into())));
        assert_eq!(
            first.get("unitPrice"),
            Some(&AttributeValue::N("150".into()))
        );
    }

    #[test]
    fn round_trips_through_sdk_and_stream_item_types() {
        let s = stored();
        let sdk: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
            s.to_item().unwrap();
        assert_eq!(StoredOrder::from_item(sdk).unwrap(), s);
        let image: serde_dynamo::Item = s.to_item().unwrap();
        assert_eq!(StoredOrder::from_item(image).unwrap(), s);
    }

    #[test]
    fn the_confirmation_marks_round_trip_beside_the_order_and_are_absent_at_first() {
        use orders_domain::confirmation::{ATTRIBUTES, ConfirmationMarks, RefusalCode};
        // The worker's item has none of the confirmation's attributes
        let fresh: serde_dynamo::Item = stored().to_item().unwrap();
        for name in ATTRIBUTES {
            assert!(fresh.get(name).is_none(), "{name}");
        }
        // Marks written on the item read back, the order unchanged
        let mut marked = stored();
        marked.confirmation = ConfirmationMarks {
            confirmation_claim: Some("token".into()),
            confirmation_claim_until: Some(1_800_000_000),
            confirmation_sent_at: Some(time::macros::datetime!(2026-11-24 10:00:02 UTC)),
            confirmation_message_id: Some("0100-abc".into()),
            confirmation_failed: Some(RefusalCode::InvalidAddress),
        };
        let item: serde_dynamo::Item = marked.to_item().unwrap();
        assert_eq!(
            item.get("confirmationClaimUntil"),
            Some(&AttributeValue::N("1800000000".into()))
        );
        assert_eq!(
            item.get("confirmationFailed"),
            Some(&AttributeValue::S("invalid-address".into()))
        );
        let back = StoredOrder::from_item(item).unwrap();
        assert_eq!(back, marked);
        assert_eq!(back.order, stored().order);
    }

    #[test]
    fn a_tampered_item_is_rejected() {
        let mut item: serde_dynamo::Item = stored().to_item().unwrap();
        item.insert("items".into(), AttributeValue::L(vec![]));
        assert!(StoredOrder::from_item(item).is_err());
    }
}
