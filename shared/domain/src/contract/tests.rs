use super::*;
use crate::model::OrderRequest;
use crate::test_support::legacy_order;
use serde_json::json;

fn message() -> OrderMessage {
    let req = OrderRequest::from_json(&legacy_order("23214")).unwrap();
    OrderMessage::new(
        crate::model::OwnerKey::anonymous(),
        req.order_id.unwrap(),
        CorrelationId::parse("corr-1").unwrap(),
        time::macros::datetime!(2026-11-24 10:00 UTC),
        req.order,
    )
}

#[test]
fn order_message_round_trips_and_has_the_documented_shape() {
    let m = message();
    let body = m.to_body();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["owner"], "anonymous");
    assert_eq!(v["orderId"], "23214");
    assert_eq!(v["correlationId"], "corr-1");
    assert_eq!(v["acceptedAt"], "2026-11-24T10:00:00Z");
    assert_eq!(v["order"]["items"][0]["quantity"], 22);
    assert_eq!(OrderMessage::from_body(&body).unwrap(), m);
}

#[test]
fn readers_ignore_unknown_fields() {
    let mut v: serde_json::Value = serde_json::from_str(&message().to_body()).unwrap();
    v["futureField"] = json!("x");
    v["order"]["giftWrap"] = json!(true);
    assert_eq!(OrderMessage::from_body(&v.to_string()).unwrap(), message());
}

#[test]
fn unknown_versions_and_garbage_are_rejected_distinctly() {
    let mut v: serde_json::Value = serde_json::from_str(&message().to_body()).unwrap();
    // Version 1 (no owner) is read by no one: it is not guessed at.
    for unknown in [1, 3] {
        v["schemaVersion"] = json!(unknown);
        assert!(matches!(
            OrderMessage::from_body(&v.to_string()),
            Err(ContractError::UnsupportedVersion(n)) if n == unknown
        ));
    }
    assert!(matches!(
        OrderMessage::from_body("not json"),
        Err(ContractError::Malformed(_))
    ));
    v["schemaVersion"] = json!(2);
    v["owner"] = json!("alice");
    assert!(matches!(
        OrderMessage::from_body(&v.to_string()),
        Err(ContractError::Malformed(_))
    ));
    v["owner"] = json!("anonymous");
    v["order"]["items"] = json!([]);
    assert!(matches!(
        OrderMessage::from_body(&v.to_string()),
        Err(ContractError::Malformed(_))
    ));
}

#[test]
fn order_created_has_no_personal_data() {
    let m = message();
    let e = OrderCreated::new(
        crate::model::OwnerKey::anonymous(),
        m.order_id.clone(),
        m.correlation_id.clone(),
        m.accepted_at,
        m.accepted_at,
        &m.order,
    );
    let json = e.to_json();
    assert!(!json.contains("Harry") && !json.contains("Nguyen"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["eventType"], "OrderCreated");
    assert_eq!(v["schemaVersion"], 2);
    assert_eq!(v["eventId"], "OrderCreated:anonymous:23214");
    assert_eq!(v["owner"], "anonymous");
    assert_eq!(v["unitCount"], 22);
    let back: OrderCreated = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e);
}

#[test]
fn given_client_correlation_ids_then_only_short_plain_ones_are_kept_and_readers_stay_lenient() {
    for good in ["abc-123", "A.b_c:9", &"x".repeat(64)] {
        assert!(CorrelationId::from_client(good).is_some(), "{good}");
    }
    for bad in ["", "a b", "<b>", "a=b", "café", &"x".repeat(65)] {
        assert!(CorrelationId::from_client(bad).is_none(), "{bad}");
    }
    // Ids already in messages and items (API Gateway's base64 ids) still read.
    let old: CorrelationId = serde_json::from_value(json!("JbN6kiBvIAMEYxw=")).unwrap();
    assert_eq!(old.as_str(), "JbN6kiBvIAMEYxw=");
}

#[test]
fn given_a_message_with_an_out_of_range_price_then_it_is_poison_not_a_panic() {
    let mut body: serde_json::Value = serde_json::from_str(&message().to_body()).unwrap();
    body["order"]["currency"] = json!("EUR");
    body["order"]["items"][0]["unitPrice"] = json!(u64::MAX);
    assert!(matches!(
        OrderMessage::from_body(&body.to_string()),
        Err(ContractError::Malformed(_))
    ));
}

#[test]
fn given_an_event_delivered_raw_or_in_the_sns_envelope_then_both_read_the_same() {
    let event = OrderCreated::new(
        crate::model::OwnerKey::anonymous(),
        message().order_id,
        CorrelationId::parse("corr-1").unwrap(),
        time::macros::datetime!(2026-11-24 10:00 UTC),
        time::macros::datetime!(2026-11-24 10:00:01 UTC),
        &message().order,
    );
    let raw = event.to_json();
    let envelope = json!({
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:eu-west-1:1:order-events",
        "Message": raw,
        "MessageAttributes": {"eventType": {"Type": "String", "Value": "OrderCreated"}},
    })
    .to_string();

    let from_raw = OrderCreated::from_sqs_body(&raw).unwrap();
    let from_envelope = OrderCreated::from_sqs_body(&envelope).unwrap();

    assert_eq!(from_raw, event);
    assert_eq!(from_envelope, event);
    assert_eq!(from_raw.dedup_key(), "OrderCreated:anonymous:23214");
}

#[test]
fn given_an_unknown_version_or_type_or_garbage_then_the_reader_refuses_it() {
    let mut v: serde_json::Value = serde_json::from_str(
        &OrderCreated::new(
            crate::model::OwnerKey::anonymous(),
            message().order_id,
            CorrelationId::parse("corr-1").unwrap(),
            time::macros::datetime!(2026-11-24 10:00 UTC),
            time::macros::datetime!(2026-11-24 10:00:01 UTC),
            &message().order,
        )
        .to_json(),
    )
    .unwrap();
    for unknown in [1, 3] {
        v["schemaVersion"] = json!(unknown);
        assert!(matches!(
            OrderCreated::from_sqs_body(&v.to_string()),
            Err(ContractError::UnsupportedVersion(n)) if n == unknown
        ));
    }
    v["schemaVersion"] = json!(2);
    v["eventType"] = json!("OrderShipped");
    assert!(matches!(
        OrderCreated::from_sqs_body(&v.to_string()),
        Err(ContractError::Malformed(_))
    ));
    assert!(OrderCreated::from_sqs_body("not json").is_err());
}

#[test]
fn given_two_owners_with_one_order_id_then_their_events_and_hashes_differ() {
    let m = message();
    let bob = crate::model::OwnerKey::parse("0123456789abcdef0123456789abcdef").unwrap();
    let event = |owner: crate::model::OwnerKey| {
        OrderCreated::new(
            owner,
            m.order_id.clone(),
            m.correlation_id.clone(),
            m.accepted_at,
            m.accepted_at,
            &m.order,
        )
    };
    assert_ne!(
        event(crate::model::OwnerKey::anonymous()).dedup_key(),
        event(bob.clone()).dedup_key()
    );
    assert_eq!(
        event(bob.clone()).dedup_key(),
        "OrderCreated:0123456789abcdef0123456789abcdef:23214"
    );
    let mut bobs = m.clone();
    bobs.owner = bob;
    assert_ne!(bobs.content_hash(), m.content_hash());
}
