//! Fixtures shared by the workspace's tests. Compiled only with the
//! `test-support` feature, which only dev-dependencies enable, so nothing
//! here ships in a Lambda.

use serde_json::{Value, json};

/// The customer's name in [`legacy_order`]: personal data, which no log
/// line, event, status answer or e-mail may hold.
pub const LEGACY_CUSTOMER_NAME: &str = "Harry Kane";

/// The shipping address in [`legacy_order`]: personal data too.
pub const LEGACY_SHIPPING_ADDRESS: &str = "11 Nguyen Van Linh, Hanoi, Vietnam";

/// The old system's order body, which its clients send today and intake
/// accepts as is, with `order_id` as its `orderID` (the old system's own
/// sample, `events/apigw-v1-legacy-order.json`, has `23214`): one line of 22
/// `item456`, no prices, no currency, no e-mail.
///
/// A test that needs a variation (another quantity, no id, prices) changes
/// the returned value, so what it varies is visible at the call.
pub fn legacy_order(order_id: &str) -> Value {
    json!({
        "orderID": order_id,
        "customerName": LEGACY_CUSTOMER_NAME,
        "items": [{"itemId": "item456", "quantity": 22}],
        "shippingAddress": LEGACY_SHIPPING_ADDRESS,
    })
}
