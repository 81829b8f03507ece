//! The confirmation's content, on the fixtures' orders.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::fixtures::{EMAIL, stored, stored_from, without_address};

const API: &str = "https://api.example.com/";

#[test]
fn given_a_priced_order_then_every_line_the_total_and_how_to_ask() {
    let order = stored("A-1001");
    let mail = render(&order, API);
    assert_eq!(mail.subject, "Your order A-1001 is confirmed");
    for needle in [
        "Hello Harry Kane,",
        "order A-1001",
        "2026-11-24T10:00:00.25Z",
        "item456 x 22 at 1.50 EUR",
        "book-1843 x 1 at 19.99 EUR",
        "Total: 52.99 EUR",
        "GET https://api.example.com/orders/A-1001",
        "correlation id c0ffee-42",
    ] {
        assert!(mail.text.contains(needle), "{needle} in\n{}", mail.text);
    }
    assert!(
        mail.html
            .contains("<td>item456</td><td>22</td><td>1.50 EUR</td>")
    );
    assert!(mail.html.contains("Total: 52.99 EUR"));
    assert!(!mail.text.contains(EMAIL) && !mail.html.contains(EMAIL));
}

#[test]
fn given_an_unpriced_order_then_no_price_and_no_invented_total() {
    let mail = render(&without_address("23214"), API);
    assert!(mail.text.contains("  item456 x 22\n"), "{}", mail.text);
    assert!(mail.text.contains("Total: to be confirmed"));
}

#[test]
fn given_markup_in_a_name_then_the_html_escapes_it() {
    let mut body = orders_domain::test_support::legacy_order("x-1");
    body["customerName"] = json!("<script>alert('&')</script> \"Bob\"");
    let mail = render(&stored_from(body), API);
    assert!(!mail.html.contains("<script>"), "{}", mail.html);
    assert!(
        mail.html
            .contains("&lt;script&gt;alert(&#39;&amp;&#39;)&lt;/script&gt; &quot;Bob&quot;")
    );
}

proptest! {
    /// Whatever the name, the HTML holds no tag the renderer did not write.
    #[test]
    fn escape_leaves_no_markup(name in "\\PC{1,40}") {
        let escaped = escape(&name);
        prop_assert!(!escaped.contains('<') && !escaped.contains('>') && !escaped.contains('"'));
        prop_assert!(!escaped.contains('\''));
    }
}
