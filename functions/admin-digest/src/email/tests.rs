//! The e-mail plan: detail for one order, a digest for more, split only at
//! SNS's message limit, every order in exactly one e-mail, ids only.

use super::*;
use crate::fixtures::{PERSONAL_DATA, order, plain};
use orders_domain::model::{MAX_ID_LEN, MAX_ITEMS, MAX_QUANTITY, MAX_UNIT_PRICE_MINOR};

/// What a plain-text client needs, and SNS: printable ASCII lines.
fn assert_plain_ascii(text: &str) {
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        assert!(line.bytes().all(|b| (0x20..0x7f).contains(&b)), "{line:?}");
    }
    assert!(!text.contains('{') && !text.contains('<'));
}

/// What SNS accepts as a subject.
fn assert_subject(subject: &str) {
    assert!(subject.len() <= MAX_SUBJECT_CHARS, "{subject:?}");
    assert!(
        subject.bytes().all(|b| (0x20..0x7f).contains(&b)),
        "{subject:?}"
    );
    assert!(subject.starts_with(|c: char| c.is_ascii_alphanumeric()));
}

/// How many e-mails list the order: its block (digest) or its title (detail).
fn listed_in(emails: &[Email], id: &str) -> usize {
    let block = format!("\nOrder {id} (");
    let detail = format!("New order {id}\n");
    emails
        .iter()
        .filter(|e| e.text.contains(&block) || e.text.starts_with(&detail))
        .count()
}

/// The largest order the domain accepts: every line at its limits.
fn largest(id: &str) -> OrderCreated {
    let ids: Vec<String> = (0..MAX_ITEMS)
        .map(|n| format!("{n:0>width$}", width = MAX_ID_LEN))
        .collect();
    let items: Vec<(&str, u32, Option<u64>)> = ids
        .iter()
        .map(|i| (i.as_str(), MAX_QUANTITY, Some(MAX_UNIT_PRICE_MINOR)))
        .collect();
    order(id, &items, Some("EUR"))
}

#[test]
fn given_no_new_order_then_no_email() {
    assert!(plan(&[]).is_empty());
}

#[test]
fn given_one_order_then_its_detail_as_the_admin_always_had_it() {
    // Given one priced order
    let one = order(
        "A-1001",
        &[("book-1843", 2, Some(1999)), ("pen", 120, Some(85))],
        Some("EUR"),
    );
    // When planned
    let emails = plan(std::slice::from_ref(&one));
    // Then one e-mail, the per-order layout (pinned byte for byte by the
    // golden files in tests/golden/detail_*.txt)
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].orders, 0..1);
    assert_eq!(emails[0].subject, "New order A-1001");
    assert_eq!(emails[0].text, detail::text(&one));
    assert!(emails[0].text.starts_with("New order A-1001\n\nAccepted:"));
    assert!(
        emails[0]
            .text
            .contains("  book-1843  x   2  at 19.99 EUR =  39.98 EUR\n")
    );
    assert!(
        emails[0]
            .text
            .contains("orders-ops order show A-1001 --show-personal-data\n")
    );
    assert!(emails[0].text.contains("Total: 141.98 EUR"));
    assert_plain_ascii(&emails[0].text);
    assert_subject(&emails[0].subject);
}

#[test]
fn given_orders_in_two_currencies_and_unpriced_ones_then_one_digest_with_totals_per_currency() {
    // Given five orders: two in EUR, one in USD, two without prices
    let orders = vec![
        order("eur-1", &[("book", 2, Some(1999))], Some("EUR")),
        plain("plain-1"),
        order("usd-1", &[("mug", 3, Some(500))], Some("USD")),
        order(
            "eur-2",
            &[("pen", 120, Some(85)), ("ink", 1, Some(450))],
            Some("EUR"),
        ),
        plain("plain-2"),
    ];
    // When planned
    let emails = plan(&orders);
    // Then one digest naming the count and the total per currency
    assert_eq!(emails.len(), 1, "{emails:?}");
    let digest = &emails[0];
    assert_eq!(digest.orders, 0..5);
    assert_eq!(digest.subject, "5 new orders");
    // 2 x 19.99 + 120 x 0.85 + 4.50 = 39.98 + 102.00 + 4.50
    assert!(
        digest.text.contains("  146.48 EUR for 2 orders\n"),
        "{}",
        digest.text
    );
    assert!(
        digest.text.contains("  15.00 USD for 1 order\n"),
        "{}",
        digest.text
    );
    assert!(
        digest
            .text
            .contains("  not known for 2 orders (not every line has a unit price)\n"),
        "{}",
        digest.text
    );
    // And every order with its id, items, total and command, once
    for event in &orders {
        let id = event.order_id.as_str();
        assert_eq!(listed_in(&emails, id), 1, "{id}");
        let command = format!("orders-ops order show {id} --show-personal-data");
        assert_eq!(digest.text.matches(&command).count(), 1, "{id}");
    }
    assert!(
        digest
            .text
            .contains("  book  x 2  at 19.99 EUR = 39.98 EUR\n")
    );
    assert!(digest.text.contains("  item456  x 22\n"));
    assert!(digest.text.contains("  Total: 15.00 USD\n"));
    assert!(
        digest
            .text
            .contains("  Total: not known (no unit prices were given)\n")
    );
    // And nothing personal, in plain ASCII of short lines
    for personal in PERSONAL_DATA {
        assert!(!digest.text.contains(personal), "{personal}");
    }
    assert_plain_ascii(&digest.text);
    assert!(digest.text.lines().all(|l| l.len() < 78), "{}", digest.text);
    assert_subject(&digest.subject);
}

#[test]
fn given_more_text_than_one_message_holds_then_parts_each_within_the_limit_and_each_order_once() {
    // Given 60 of the largest orders (each ~12 KB of text: ~3 parts)
    let orders: Vec<OrderCreated> = (0..60).map(|n| largest(&format!("big-{n:02}"))).collect();
    // When planned
    let emails = plan(&orders);
    // Then several e-mails, each within SNS's limit, covering the orders in order
    assert!(emails.len() > 1, "{}", emails.len());
    let mut next = 0;
    for (index, email) in emails.iter().enumerate() {
        assert!(
            email.text.len() <= MAX_MESSAGE_BYTES,
            "{}",
            email.text.len()
        );
        assert_eq!(email.orders.start, next);
        assert!(!email.orders.is_empty());
        next = email.orders.end;
        let label = format!("(part {} of {})", index + 1, emails.len());
        assert!(email.subject.ends_with(&label), "{}", email.subject);
        assert!(email.text.starts_with(&email.subject), "{}", email.subject);
        assert_subject(&email.subject);
        assert_plain_ascii(&email.text);
    }
    assert_eq!(next, orders.len());
    for event in &orders {
        assert_eq!(listed_in(&emails, event.order_id.as_str()), 1);
    }
    // And no part could have taken the next part's first order (as few as possible)
    for pair in emails.windows(2) {
        let merged = plan(&orders[pair[0].orders.start..=pair[1].orders.start]);
        assert!(
            merged.len() > 1 || merged[0].text.len() + 40 > MAX_MESSAGE_BYTES,
            "{:?} could have taken order {}",
            pair[0].orders,
            pair[1].orders.start
        );
    }
}

#[test]
fn given_a_thousand_ordinary_orders_then_one_email() {
    let orders: Vec<OrderCreated> = (0..1000)
        .map(|n| {
            order(
                &format!("o-{n:04}"),
                &[("item456", 2, Some(250))],
                Some("EUR"),
            )
        })
        .collect();
    let emails = plan(&orders);
    assert_eq!(emails.len(), 1);
    assert!(emails[0].text.contains("  5000.00 EUR for 1000 orders\n"));
}

#[test]
fn given_the_largest_order_the_domain_accepts_then_it_fits_one_message_alone() {
    let email = &plan(&[largest("x"), largest("y")])[0];
    assert_eq!(email.orders, 0..2, "two of them fit one e-mail");
    assert!(email.text.len() <= MAX_MESSAGE_BYTES);
    let detail = &plan(&[largest(&"z".repeat(MAX_ID_LEN))])[0];
    assert!(detail.text.len() <= MAX_MESSAGE_BYTES);
    assert_subject(&detail.subject);
}

proptest::proptest! {
    /// Any batch of valid orders: every order in exactly one e-mail, in
    /// order, each e-mail within SNS's limits.
    #[test]
    fn any_batch_puts_every_order_in_exactly_one_email_within_the_limits(
        orders in proptest::collection::vec(
            (
                proptest::collection::vec(("[a-z0-9]{1,8}", 1u32..=10_000, proptest::option::of(0u64..=100_000_000)), 1..=5),
                proptest::option::of(proptest::sample::select(vec!["EUR", "USD", "JPY"])),
            ),
            0..40,
        ),
    ) {
        let orders: Vec<OrderCreated> = orders
            .iter()
            .enumerate()
            .map(|(n, (lines, currency))| {
                let mut seen = std::collections::HashSet::new();
                let lines: Vec<(&str, u32, Option<u64>)> = lines
                    .iter()
                    .filter(|(id, _, _)| seen.insert(id.clone()))
                    .map(|(id, q, p)| (id.as_str(), *q, currency.and(*p)))
                    .collect();
                order(&format!("p-{n}"), &lines, *currency)
            })
            .collect();
        let emails = plan(&orders);
        let mut next = 0;
        for email in &emails {
            proptest::prop_assert_eq!(email.orders.start, next);
            next = email.orders.end;
            proptest::prop_assert!(email.text.len() <= MAX_MESSAGE_BYTES);
            proptest::prop_assert!(email.subject.len() <= MAX_SUBJECT_CHARS);
            proptest::prop_assert!(email.text.bytes().all(|b| b == b'\n' || (0x20..0x7f).contains(&b)));
        }
        proptest::prop_assert_eq!(next, orders.len());
        for event in &orders {
            proptest::prop_assert_eq!(listed_in(&emails, event.order_id.as_str()), 1);
        }
    }
}

#[test]
fn given_an_owned_order_then_its_command_names_its_key_and_no_identity() {
    // Given an order of an identified caller (an opaque owner key)
    let mut event = plain("A-7");
    event.owner = OwnerKey::parse("0123456789abcdef0123456789abcdef").unwrap();
    // Then the command names the order as orders-ops reads it, by key
    let text = &plan(std::slice::from_ref(&event))[0].text;
    assert!(
        text.contains(
            "orders-ops order show 0123456789abcdef0123456789abcdef#A-7 --show-personal-data\n"
        ),
        "{text}"
    );
}
