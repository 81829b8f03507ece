//! The e-mail of a batch that holds one new order: the order in full, as
//! the admin has always had it (one e-mail per order used to be the rule).
//! The golden files in `tests/golden/detail_*.txt` pin the layout.

use std::fmt::Write as _;

use orders_domain::contract::OrderCreated;

/// `New order <id>`: at most 74 characters, since order ids are at most 64.
pub fn subject(event: &OrderCreated) -> String {
    format!("New order {}", event.order_id)
}

/// What was ordered (each line with its quantity and unit price when
/// given, the total with its currency), when it was accepted, its
/// correlation id, and the `orders-ops` command that shows the customer's
/// details to someone with access to the table.
pub fn text(event: &OrderCreated) -> String {
    let mut text = String::new();
    // `write!` into a String cannot fail.
    let _ = write!(
        text,
        "New order {}\n\nAccepted:       {}\nCorrelation id: {}\n\nItems {}:\n",
        event.order_id,
        super::accepted(event),
        event.correlation_id,
        super::counts(event),
    );
    for row in super::item_rows(event) {
        let _ = writeln!(text, "  {row}");
    }
    let _ = write!(
        text,
        "\n{}\n\nThe customer's name, address and e-mail are not in this message.\n\
         With access to the orders table, show them with:\n\n    {}\n",
        super::total_line(event),
        super::command(event),
    );
    text
}
