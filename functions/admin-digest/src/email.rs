//! The admin's e-mails: what the new orders of one batch become.
//!
//! One new order: its detail ([`detail`], the layout the admin has always
//! had). More: a digest ([`digest`]): how many orders, the total per
//! currency, and each order's id, items, total and the `orders-ops` command
//! that shows the customer's details to someone with access to the table.
//! A digest is split into several e-mails only when its text would pass
//! SNS's message limit ([`MAX_MESSAGE_BYTES`]); each order is in exactly one.
//!
//! Ids only: the events carry no name, address or e-mail, and SNS e-mail is
//! unencrypted and lands in mailboxes the stack does not control. The text
//! is plain printable ASCII (ids, item ids, currency codes and correlation
//! ids are ASCII by construction), with lines under 78 characters for
//! ordinary orders, and columns aligned for a fixed-width plain-text client.

use std::ops::Range;

use orders_domain::contract::OrderCreated;
use orders_domain::model::{Currency, Money, OwnerKey};
use orders_domain::record::order_key;

pub mod detail;
pub mod digest;

/// The most bytes one SNS message may have: "at most 256 KB in size
/// (262,144 bytes, not 262,144 characters)"
/// (<https://docs.aws.amazon.com/sns/latest/api/API_Publish.html>).
pub const MAX_MESSAGE_BYTES: usize = 262_144;

/// The most characters of a subject: SNS takes subjects "less than 100
/// characters long", ASCII, starting with a letter, number or punctuation
/// mark, without line breaks or control characters
/// (<https://docs.aws.amazon.com/sns/latest/api/API_Publish.html>).
pub const MAX_SUBJECT_CHARS: usize = 99;

/// One e-mail to the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The subject line: at most [`MAX_SUBJECT_CHARS`] ASCII characters.
    pub subject: String,
    /// The body: at most [`MAX_MESSAGE_BYTES`] for every order the domain accepts.
    pub text: String,
    /// Which orders it lists: positions in the slice given to [`plan`].
    pub orders: Range<usize>,
}

/// The e-mails for `orders`, the new orders of one batch, in order: none
/// for none, the detail of a single one, else a digest in as few e-mails
/// as SNS's message limit allows. Every order is in exactly one e-mail, and
/// the e-mails' ranges cover `orders` in order.
pub fn plan(orders: &[OrderCreated]) -> Vec<Email> {
    match orders {
        [] => Vec::new(),
        [one] => vec![Email {
            subject: detail::subject(one),
            text: detail::text(one),
            orders: 0..1,
        }],
        many => digest::emails(many),
    }
}

/// An amount with its currency, e.g. `19.99 EUR`. A price without a
/// currency cannot pass validation; say what the number is rather than
/// inventing a unit.
fn money(minor: u64, currency: Option<&Currency>) -> String {
    match currency {
        Some(currency) => Money::from_minor(minor).display_with(currency),
        None => format!("{minor} (minor units)"),
    }
}

/// `1 line`, `3 lines`.
fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// When intake accepted the order, RFC 3339.
fn accepted(event: &OrderCreated) -> String {
    event
        .accepted_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `(3 lines, 123 units)`.
fn counts(event: &OrderCreated) -> String {
    format!(
        "({}, {})",
        plural(event.line_count as u64, "line", "lines"),
        plural(event.unit_count, "unit", "units")
    )
}

/// One row per line of the order, unindented: item id, quantity, then (when
/// priced) unit price and line total, each column aligned so the amounts
/// line up.
fn item_rows(event: &OrderCreated) -> Vec<String> {
    let currency = event.currency.as_ref();
    let cells: Vec<[String; 4]> = event
        .items
        .iter()
        .map(|item| {
            let quantity = item.quantity.get();
            let (price, line_total) = item.unit_price.map_or((String::new(), String::new()), |p| {
                (
                    money(p, currency),
                    money(p.saturating_mul(u64::from(quantity)), currency),
                )
            });
            [
                item.item_id.as_str().to_owned(),
                quantity.to_string(),
                price,
                line_total,
            ]
        })
        .collect();
    let width = |col: usize| cells.iter().map(|r| r[col].len()).max().unwrap_or(0);
    let (w_id, w_qty, w_price, w_total) = (width(0), width(1), width(2), width(3));
    cells
        .iter()
        .map(|[id, quantity, price, line_total]| {
            let mut row = format!("{id:<w_id$}  x {quantity:>w_qty$}");
            if !price.is_empty() {
                row.push_str(&format!("  at {price:>w_price$} = {line_total:>w_total$}"));
            }
            row
        })
        .collect()
}

/// `Total: 146.48 EUR`, or why it is not known.
fn total_line(event: &OrderCreated) -> String {
    match event.total {
        Some(total) => format!("Total: {}", money(total, event.currency.as_ref())),
        None if event.items.iter().any(|i| i.unit_price.is_some()) => {
            "Total: not known (some lines have no unit price)".to_owned()
        }
        None => "Total: not known (no unit prices were given)".to_owned(),
    }
}

/// The command that shows the customer's details to someone with access to
/// the orders table. It names the order as `orders-ops` reads it: the bare
/// id for the anonymous owner's order, otherwise its table key (the owner
/// key, opaque, and the id).
fn command(event: &OrderCreated) -> String {
    let order = if event.owner == OwnerKey::anonymous() {
        event.order_id.to_string()
    } else {
        order_key(&event.owner, &event.order_id)
    };
    format!("orders-ops order show {order} --show-personal-data")
}

#[cfg(test)]
pub(crate) mod tests;
