//! Golden-file tests of the admin e-mail (`OrderCreated::email_text`): the
//! text a person reads in a plain-text mail client is pinned byte for byte in
//! `tests/golden/*.txt`. After an intended change of layout, regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p orders-domain --test email_golden` and review
//! the diff.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use orders_domain::contract::{CorrelationId, OrderCreated};
use orders_domain::domain::OrderRequest;
use orders_domain::test_support::legacy_order;
use serde_json::{Value, json};

fn event(body: Value) -> OrderCreated {
    let req = OrderRequest::from_json(&body).unwrap();
    OrderCreated::new(
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

fn assert_no_personal_data(text: &str, body: &Value) {
    for field in ["customerName", "shippingAddress", "customerEmail"] {
        if let Some(value) = body[field].as_str() {
            assert!(!text.contains(value), "{field} leaked into the e-mail");
        }
    }
}

#[test]
fn given_the_legacy_order_without_prices_then_the_mail_lists_the_line_and_no_total() {
    let body = legacy_order("23214");
    let text = event(body.clone()).email_text();
    assert_golden("email_unpriced.txt", &text);
    assert_plain_text(&text);
    assert_no_personal_data(&text, &body);
    assert!(text.contains("item456  x 22"));
    assert!(text.contains("orders-ops order show 23214 --show-personal-data"));
}

#[test]
fn given_a_priced_order_of_several_lines_then_the_mail_lists_prices_and_the_total() {
    let body = json!({"orderID":"A-1001","customerName":"Ada Lovelace",
        "customerEmail":"ada@example.com","currency":"EUR",
        "items":[{"itemId":"book-1843","quantity":2,"unitPrice":1999},
                 {"itemId":"pen","quantity":120,"unitPrice":85},
                 {"itemId":"notebook.a5","quantity":1,"unitPrice":450}],
        "shippingAddress":"12 St James's Square, London"});
    let text = event(body.clone()).email_text();
    assert_golden("email_priced.txt", &text);
    assert_plain_text(&text);
    assert_no_personal_data(&text, &body);
    // 2 x 19.99 + 120 x 0.85 + 1 x 4.50 = 39.98 + 102.00 + 4.50
    assert!(text.contains("Total: 146.48 EUR"));
    assert!(text.contains("Items (3 lines, 123 units):"));
}

#[test]
fn given_a_single_unit_then_the_counts_are_singular() {
    let body = json!({"orderID":"one","customerName":"Grace Hopper","currency":"USD",
        "items":[{"itemId":"cobol-manual","quantity":1,"unitPrice":0}],
        "shippingAddress":"Arlington, VA"});
    let text = event(body.clone()).email_text();
    assert_golden("email_single.txt", &text);
    assert_plain_text(&text);
    assert_no_personal_data(&text, &body);
}

proptest::proptest! {
    /// Any valid order, priced or not: every line is printable ASCII, every
    /// item id and quantity is listed, the total is there exactly when every
    /// line has a price, and no personal data appears.
    #[test]
    fn any_order_mails_as_plain_text_listing_every_line_and_no_personal_data(
        lines in proptest::collection::vec(
            ("[A-Za-z0-9._:-]{1,24}", 1u32..=10_000, proptest::option::of(0u64..=100_000_000)),
            1..=30,
        ),
        name in "[A-Za-z][a-z]{2,12} [A-Z][a-z]{2,12}",
    ) {
        // Distinct item ids (the domain refuses repeats).
        let mut seen = std::collections::HashSet::new();
        let lines: Vec<_> = lines.into_iter().filter(|(id, _, _)| seen.insert(id.clone())).collect();
        let priced = lines.iter().any(|(_, _, p)| p.is_some());
        let mut body = json!({"orderID": "p-1", "customerName": name,
            "customerEmail": "someone.private@example.org",
            "shippingAddress": "742 Evergreen Terrace, Springfield",
            "items": lines.iter().map(|(id, q, p)| {
                let mut item = json!({"itemId": id, "quantity": q});
                if let Some(p) = p { item["unitPrice"] = json!(p); }
                item
            }).collect::<Vec<_>>()});
        if priced {
            body["currency"] = json!("EUR");
        }
        let event = event(body.clone());
        let text = event.email_text();
        for line in text.lines() {
            proptest::prop_assert!(line.bytes().all(|b| (0x20..0x7f).contains(&b)), "{line:?}");
        }
        for (id, quantity, _) in &lines {
            let line = text.lines().find(|l| {
                // Item lines are indented by two; the command line by four.
                l.starts_with("  ")
                    && !l.starts_with("    ")
                    && l.split_whitespace().next() == Some(id.as_str())
            });
            let tokens: Vec<&str> = line.unwrap_or_default().split_whitespace().collect();
            let quantity = quantity.to_string();
            proptest::prop_assert_eq!(&tokens[..3.min(tokens.len())], &[id.as_str(), "x", quantity.as_str()][..]);
        }
        let all_priced = lines.iter().all(|(_, _, p)| p.is_some());
        proptest::prop_assert_eq!(
            text.lines().any(|l| l.starts_with("Total: ") && l.ends_with(" EUR")),
            all_priced
        );
        proptest::prop_assert!(!text.contains(name.as_str()));
        proptest::prop_assert!(!text.contains("someone.private") && !text.contains("Evergreen"));
    }
}
