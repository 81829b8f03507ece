//! Golden-file tests of the admin's e-mails: the text a person reads in a
//! plain-text mail client is pinned byte for byte in `tests/golden/*.txt`
//! (the detail of one order, `detail_*.txt`; a digest, `digest.txt`). After
//! an intended change of layout, regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p admin-digest --test email_golden` and
//! review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use admin_digest::email::{Email, plan};
use orders_domain::contract::{CorrelationId, OrderCreated};
use orders_domain::model::OrderRequest;
use orders_domain::test_support::legacy_order;
use serde_json::{Value, json};

fn event(body: Value) -> OrderCreated {
    let req = OrderRequest::from_json(&body).unwrap();
    OrderCreated::new(
        orders_domain::model::OwnerKey::anonymous(),
        req.order_id.unwrap(),
        CorrelationId::parse("c0ffee-42").unwrap(),
        time::macros::datetime!(2026-11-24 10:00:00.250 UTC),
        time::macros::datetime!(2026-11-24 10:00:01 UTC),
        &req.order,
    )
}

/// Compares `text` with the golden file, or rewrites it under `UPDATE_GOLDEN`.
fn assert_golden(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(text, want, "e-mail text differs from {}", path.display());
}

/// What a plain-text client needs: printable ASCII lines (no tabs, no
/// markup, no JSON) of at most 78 characters, ending with a newline.
fn assert_plain_text(text: &str) {
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        assert!(line.len() <= 78, "line too long: {line:?}");
        assert!(line.bytes().all(|b| (0x20..0x7f).contains(&b)), "{line:?}");
    }
    assert!(!text.contains('{') && !text.contains('<'));
}

fn assert_no_personal_data(text: &str, bodies: &[&Value]) {
    for body in bodies {
        for field in ["customerName", "shippingAddress", "customerEmail"] {
            if let Some(value) = body[field].as_str() {
                assert!(!text.contains(value), "{field} leaked into the e-mail");
            }
        }
    }
}

fn only(emails: Vec<Email>) -> Email {
    assert_eq!(emails.len(), 1, "{emails:?}");
    emails.into_iter().next().unwrap()
}

fn priced() -> Value {
    json!({"orderID":"A-1001","customerName":"Ada Lovelace",
        "customerEmail":"ada@example.com","currency":"EUR",
        "items":[{"itemId":"book-1843","quantity":2,"unitPrice":1999},
                 {"itemId":"pen","quantity":120,"unitPrice":85},
                 {"itemId":"notebook.a5","quantity":1,"unitPrice":450}],
        "shippingAddress":"12 St James's Square, London"})
}

fn single() -> Value {
    json!({"orderID":"one","customerName":"Grace Hopper","currency":"USD",
        "items":[{"itemId":"cobol-manual","quantity":1,"unitPrice":0}],
        "shippingAddress":"Arlington, VA"})
}

#[test]
fn given_the_legacy_order_alone_then_its_detail_lists_the_line_and_no_total() {
    let body = legacy_order("23214");
    let email = only(plan(&[event(body.clone())]));
    assert_eq!(email.subject, "New order 23214");
    assert_golden("detail_unpriced.txt", &email.text);
    assert_plain_text(&email.text);
    assert_no_personal_data(&email.text, &[&body]);
    assert!(
        email
            .text
            .contains("orders-ops order show 23214 --show-personal-data")
    );
}

#[test]
fn given_a_priced_order_alone_then_its_detail_lists_prices_and_the_total() {
    let body = priced();
    let email = only(plan(&[event(body.clone())]));
    assert_golden("detail_priced.txt", &email.text);
    assert_plain_text(&email.text);
    assert_no_personal_data(&email.text, &[&body]);
    assert!(email.text.contains("Total: 146.48 EUR"));
}

#[test]
fn given_a_single_unit_alone_then_the_counts_are_singular() {
    let body = single();
    let email = only(plan(&[event(body.clone())]));
    assert_golden("detail_single.txt", &email.text);
    assert_plain_text(&email.text);
    assert_no_personal_data(&email.text, &[&body]);
}

#[test]
fn given_three_orders_then_one_digest_with_counts_totals_and_every_order() {
    let bodies = [legacy_order("23214"), priced(), single()];
    let events: Vec<OrderCreated> = bodies.iter().map(|b| event(b.clone())).collect();
    let email = only(plan(&events));
    assert_eq!(email.subject, "3 new orders");
    assert_golden("digest.txt", &email.text);
    assert_plain_text(&email.text);
    assert_no_personal_data(&email.text, &bodies.iter().collect::<Vec<_>>());
}
