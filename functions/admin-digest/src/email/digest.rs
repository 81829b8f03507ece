//! The e-mail of a batch of several new orders: a digest.
//!
//! ```text
//! 3 new orders
//!
//! Totals:
//!   146.48 EUR for 2 orders
//!   not known for 1 order (not every line has a unit price)
//!
//! The customers' names, addresses and e-mails are not in this message.
//! With access to the orders table, show them with the orders-ops
//! command under each order.
//!
//! Order A-1001 (3 lines, 123 units), accepted 2026-11-24T10:00:00.25Z
//!   book-1843    x   2  at 19.99 EUR =  39.98 EUR
//!   ...
//!   Total: 146.48 EUR
//!   orders-ops order show A-1001 --show-personal-data
//! ```
//!
//! The orders are packed in batch order into as few e-mails as
//! [`MAX_MESSAGE_BYTES`](super::MAX_MESSAGE_BYTES) allows; each part counts
//! and totals its own orders and says which part of how many it is.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;

use orders_domain::contract::OrderCreated;
use orders_domain::model::Currency;

use super::{Email, MAX_MESSAGE_BYTES};

/// Bytes kept free in every part for its label, `(part 12 of 34)` in the
/// first line, which is known only once the parts are.
const PART_LABEL_RESERVE: usize = 40;

/// What one e-mail's orders add up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Totals {
    /// Per currency (`None`: a total without one, which validation
    /// prevents), the sum in minor units and the number of orders.
    known: BTreeMap<Option<String>, (u64, usize)>,
    /// Orders whose total is not known (some line has no price).
    unknown: usize,
}

impl Totals {
    fn add(&mut self, event: &OrderCreated) {
        match event.total {
            Some(total) => {
                let key = event.currency.as_ref().map(|c| c.as_str().to_owned());
                let (sum, orders) = self.known.entry(key).or_default();
                // A thousand orders of the largest total stay far below
                // u64::MAX; saturating rather than wrapping all the same.
                *sum = sum.saturating_add(total);
                *orders += 1;
            }
            None => self.unknown += 1,
        }
    }
}

/// The digest e-mails of `orders` (two or more).
pub fn emails(orders: &[OrderCreated]) -> Vec<Email> {
    let blocks: Vec<String> = orders.iter().map(block).collect();
    let parts = pack(orders, &blocks);
    let count = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(index, range)| {
            let mut totals = Totals::default();
            orders[range.clone()]
                .iter()
                .for_each(|order| totals.add(order));
            let label = (count > 1).then(|| format!(" (part {} of {count})", index + 1));
            let title = title(range.len(), label.as_deref().unwrap_or_default());
            let mut text = header(&title, &totals);
            blocks[range.clone()]
                .iter()
                .for_each(|block| text.push_str(block));
            Email {
                subject: title,
                text,
                orders: range,
            }
        })
        .collect()
}

/// Splits the orders, in order, into consecutive ranges whose e-mail fits
/// the message limit. An order is added to the current e-mail when the
/// e-mail's header (its counts and totals with that order) and blocks still
/// fit; otherwise it starts the next one. An order too large to fit even
/// alone gets an e-mail to itself (the domain's limits keep every order
/// far below that).
fn pack(orders: &[OrderCreated], blocks: &[String]) -> Vec<Range<usize>> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut totals = Totals::default();
    let mut body = 0;
    for (index, (order, block)) in orders.iter().zip(blocks).enumerate() {
        let mut with = totals.clone();
        with.add(order);
        let size = header(&title(index + 1 - start, ""), &with).len()
            + PART_LABEL_RESERVE
            + body
            + block.len();
        if index > start && size > MAX_MESSAGE_BYTES {
            parts.push(start..index);
            start = index;
            totals = Totals::default();
            totals.add(order);
            body = block.len();
        } else {
            totals = with;
            body += block.len();
        }
    }
    if start < orders.len() {
        parts.push(start..orders.len());
    }
    parts
}

/// The first line and subject: `3 new orders`, with the part's label.
fn title(orders: usize, label: &str) -> String {
    let noun = if orders == 1 {
        "new order"
    } else {
        "new orders"
    };
    format!("{orders} {noun}{label}")
}

/// Everything before the orders: the title, the totals and where the
/// customers' details are.
fn header(title: &str, totals: &Totals) -> String {
    let mut text = format!("{title}\n\nTotals:\n");
    for (currency, (sum, orders)) in &totals.known {
        let currency = currency.clone().and_then(|c| Currency::try_from(c).ok());
        let _ = writeln!(
            text,
            "  {} for {}",
            super::money(*sum, currency.as_ref()),
            super::plural(*orders as u64, "order", "orders")
        );
    }
    if totals.unknown > 0 {
        let _ = writeln!(
            text,
            "  not known for {} (not every line has a unit price)",
            super::plural(totals.unknown as u64, "order", "orders")
        );
    }
    text.push_str(
        "\nThe customers' names, addresses and e-mails are not in this message.\n\
         With access to the orders table, show them with the orders-ops\n\
         command under each order.\n",
    );
    text
}

/// One order: id, counts, when it was accepted, its lines, its total and
/// the command; a blank line before it.
fn block(event: &OrderCreated) -> String {
    let mut text = format!(
        "\nOrder {} {}, accepted {}\n",
        event.order_id,
        super::counts(event),
        super::accepted(event)
    );
    for row in super::item_rows(event) {
        let _ = writeln!(text, "  {row}");
    }
    let _ = writeln!(text, "  {}", super::total_line(event));
    let _ = writeln!(text, "  {}", super::command(event));
    text
}
