//! The customer's confirmation: what one stored order becomes.
//!
//! The order id, each line (item id, quantity, unit price when known), the
//! total with its currency when known, when the order was accepted, and how
//! to ask about it: the status URL (`GET /orders/{orderId}`, the caller's
//! own credentials required) and the correlation id. The customer's name
//! greets them; the address is the recipient and nowhere in the body.
//!
//! Two bodies of the same content: plain text, and simple HTML in which
//! every value is escaped ([`escape`]), since a name or an id may hold
//! `<`, `&` or quotes. The subject holds the order id only (ASCII by
//! validation).

use orders_adapters::record::StoredOrder;
use orders_domain::model::{Currency, Money};
use time::format_description::well_known::Rfc3339;

/// A rendered confirmation, without its recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// The confirmation of `order`, whose status the customer reads at
/// `<api_url>/orders/<orderId>`.
pub fn render(order: &StoredOrder, api_url: &str) -> Rendered {
    let id = order.order_id.as_str();
    let name = order.order.customer_name().as_str();
    let accepted = order.accepted_at.format(&Rfc3339).unwrap_or_default();
    let status_url = format!("{}/orders/{id}", api_url.trim_end_matches('/'));
    let correlation = order.correlation_id.as_str();
    let lines = lines(order);
    let total = total(order);

    let mut text = format!(
        "Hello {name},\n\nthank you for your order {id}. We accepted it at {accepted}.\n\n"
    );
    for line in &lines {
        text.push_str(&format!("  {}\n", line.text()));
    }
    text.push_str(&format!("\n{total}\n\n"));
    text.push_str(&format!(
        "To ask about this order, look it up at\n  GET {status_url}\nor quote its order id {id} and correlation id {correlation}.\n"
    ));

    let mut html =
        String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n");
    html.push_str(&format!(
        "<p>Hello {},</p>\n<p>thank you for your order <b>{}</b>. We accepted it at {}.</p>\n",
        escape(name),
        escape(id),
        escape(&accepted)
    ));
    html.push_str("<table>\n<tr><th>Item</th><th>Quantity</th><th>Unit price</th></tr>\n");
    for line in &lines {
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&line.item),
            line.quantity,
            escape(line.price.as_deref().unwrap_or(""))
        ));
    }
    html.push_str(&format!("</table>\n<p>{}</p>\n", escape(&total)));
    html.push_str(&format!(
        "<p>To ask about this order, look it up at <code>GET {}</code> or quote its order id {} and correlation id {}.</p>\n</body></html>\n",
        escape(&status_url),
        escape(id),
        escape(correlation)
    ));

    Rendered {
        subject: format!("Your order {id} is confirmed"),
        text,
        html,
    }
}

/// One line of the order.
struct Line {
    item: String,
    quantity: u32,
    price: Option<String>,
}

impl Line {
    /// `item456 x 22 at 1.50 EUR`.
    fn text(&self) -> String {
        match &self.price {
            Some(price) => format!("{} x {} at {price}", self.item, self.quantity),
            None => format!("{} x {}", self.item, self.quantity),
        }
    }
}

fn lines(order: &StoredOrder) -> Vec<Line> {
    let currency = order.order.currency();
    order
        .order
        .items()
        .iter()
        .map(|item| Line {
            item: item.item_id.as_str().to_owned(),
            quantity: item.quantity.get(),
            price: item.unit_price.map(|p| money(p, currency)),
        })
        .collect()
}

/// An amount with its currency (every priced order has one).
fn money(amount: Money, currency: Option<&Currency>) -> String {
    match currency {
        Some(currency) => amount.display_with(currency),
        None => format!("{} (minor units)", amount.minor_units()),
    }
}

/// `Total: 33.00 EUR`, or why it is not known.
fn total(order: &StoredOrder) -> String {
    match order.order.total() {
        Some(total) => format!("Total: {}", money(total, order.order.currency())),
        None => "Total: to be confirmed (not every line has a price)".to_owned(),
    }
}

/// `text` with HTML's five special characters escaped, safe in element
/// content and in quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
