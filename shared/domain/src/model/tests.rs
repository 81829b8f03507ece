//! Unit tests of the domain types and the request parser.

use super::*;
use crate::test_support::legacy_order;
use serde_json::json;

#[test]
fn given_the_legacy_body_when_parsed_then_it_is_accepted_as_is() {
    let req = OrderRequest::from_json(&legacy_order("23214")).unwrap();
    assert_eq!(req.order_id.unwrap().as_str(), "23214");
    assert_eq!(req.order.items().len(), 1);
    assert_eq!(req.order.unit_count(), 22);
    assert_eq!(req.order.total(), None);
}

#[test]
fn given_many_bad_fields_when_parsed_then_every_error_is_reported_at_once() {
    let body = json!({
        "orderID": "bad id!",
        "customerName": "  ",
        "shippingAddress": 12,
        "items": [{"itemId": "", "quantity": 0, "colour": "red"}, "x", {"itemId":"a","quantity":1,"unitPrice":-5}],
        "coupon": "FREE"
    });
    let errs = OrderRequest::from_json(&body).unwrap_err();
    let pointers: Vec<_> = errs.errors().iter().map(|e| e.pointer.as_str()).collect();
    for p in [
        "/coupon",
        "/orderID",
        "/customerName",
        "/shippingAddress",
        "/items/0/colour",
        "/items/0/itemId",
        "/items/0/quantity",
        "/items/1",
        "/items/2/unitPrice",
    ] {
        assert!(pointers.contains(&p), "missing {p} in {pointers:?}");
    }
}

#[test]
fn given_missing_required_fields_then_each_is_named() {
    let errs = OrderRequest::from_json(&json!({})).unwrap_err();
    let pointers: Vec<_> = errs.errors().iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(pointers, ["/customerName", "/shippingAddress", "/items"]);
}

#[test]
fn given_limits_when_exceeded_then_rejected() {
    assert!(OrderId::parse(&"a".repeat(65)).is_err());
    assert!(OrderId::parse(&"a".repeat(64)).is_ok());
    assert!(CustomerName::parse("Harry\u{0007}Kane").is_err());
    assert!(CustomerName::parse(&"n".repeat(201)).is_err());
    assert!(ShippingAddress::parse(&"a".repeat(501)).is_err());
    assert!(Quantity::new(10_001).is_err());
    assert!(Quantity::new(0).is_err());
    assert!(Money::unit_price(MAX_UNIT_PRICE_MINOR + 1).is_err());
    assert!(Currency::parse("eur").is_err());
    assert!(CustomerEmail::parse("a@b").is_err());
    assert!(CustomerEmail::parse("a@b.co").is_ok());
    let too_many: Vec<_> = (0..101)
        .map(|i| json!({"itemId": format!("i{i}"), "quantity": 1}))
        .collect();
    let body = json!({"customerName":"A","shippingAddress":"B","items": too_many});
    assert!(OrderRequest::from_json(&body).is_err());
}

#[test]
fn given_prices_without_currency_then_rejected_and_with_currency_total_is_exact() {
    let body = json!({"customerName":"A","shippingAddress":"B","items":[{"itemId":"x","quantity":3,"unitPrice":1999}]});
    let errs = OrderRequest::from_json(&body).unwrap_err();
    assert_eq!(errs.errors()[0].pointer, "/currency");
    let body = json!({"customerName":"A","shippingAddress":"B","currency":"EUR","items":[{"itemId":"x","quantity":3,"unitPrice":1999},{"itemId":"y","quantity":1,"unitPrice":1}]});
    let req = OrderRequest::from_json(&body).unwrap();
    let total = req.order.total().unwrap();
    assert_eq!(total.minor_units(), 5998);
    assert_eq!(
        total.display_with(req.order.currency().unwrap()),
        "59.98 EUR"
    );
}

#[test]
fn given_duplicate_item_ids_then_rejected() {
    let body = json!({"customerName":"A","shippingAddress":"B","items":[{"itemId":"x","quantity":1},{"itemId":"x","quantity":2}]});
    let errs = OrderRequest::from_json(&body).unwrap_err();
    assert_eq!(errs.errors()[0].pointer, "/items/1/itemId");
}

#[test]
fn personal_data_is_redacted_in_debug() {
    let req = OrderRequest::from_json(&legacy_order("23214")).unwrap();
    let dbg = format!("{req:?}");
    assert!(!dbg.contains("Harry"), "{dbg}");
    assert!(!dbg.contains("Nguyen"), "{dbg}");
    assert!(dbg.contains("23214"));
}

#[test]
fn content_hash_is_stable_and_sensitive_to_content() {
    let a = OrderRequest::from_json(&legacy_order("23214")).unwrap();
    let id = a.order_id.clone().unwrap();
    let owner = OwnerKey::anonymous();
    let h1 = ContentHash::of(&owner, &id, &a.order);
    let h2 = ContentHash::of(
        &owner,
        &id,
        &OrderRequest::from_json(&legacy_order("23214"))
            .unwrap()
            .order,
    );
    assert_eq!(h1, h2);
    let mut other = legacy_order("23214");
    other["items"][0]["quantity"] = json!(23);
    let b = OrderRequest::from_json(&other).unwrap();
    assert_ne!(h1, ContentHash::of(&owner, &id, &b.order));
    // Another owner's identical order is another order.
    let other_owner = OwnerKey::parse("0123456789abcdef0123456789abcdef").unwrap();
    assert_ne!(h1, ContentHash::of(&other_owner, &id, &a.order));
}

#[test]
fn order_round_trips_through_serde_and_revalidates() {
    let a = OrderRequest::from_json(&legacy_order("23214"))
        .unwrap()
        .order;
    let json = serde_json::to_value(&a).unwrap();
    let back: Order = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(a, back);
    let mut bad = json;
    bad["items"] = json!([]);
    assert!(serde_json::from_value::<Order>(bad).is_err());
}

#[test]
fn customer_key_ignores_case_and_holds_no_personal_data() {
    let a = OrderRequest::from_json(&legacy_order("23214"))
        .unwrap()
        .order;
    let mut body = legacy_order("23214");
    body["customerName"] = json!("harry kane");
    let b = OrderRequest::from_json(&body).unwrap().order;
    let owner = OwnerKey::anonymous();
    assert_eq!(a.customer_key(&owner), b.customer_key(&owner));
    assert!(!a.customer_key(&owner).to_lowercase().contains("harry"));
    let other_owner = OwnerKey::parse("0123456789abcdef0123456789abcdef").unwrap();
    assert_ne!(a.customer_key(&owner), a.customer_key(&other_owner));
}
