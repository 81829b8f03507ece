//! The order domain: types that cannot hold a bad value, parsed once at the edge.
//!
//! Raw client JSON becomes an [`OrderRequest`] through [`OrderRequest::from_json`],
//! which walks the whole document and reports every field error at once (as JSON
//! pointers), so a client fixes its request in one round trip. Inside the pipeline
//! only these types travel; their `Deserialize` impls re-validate, so a message
//! read back from a queue or a table is checked by the same rules.
//!
//! Personal data ([`CustomerName`], [`ShippingAddress`], [`CustomerEmail`]) has a
//! redacting `Debug` so it cannot leak into a log line by accident.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Longest accepted order id, item id and idempotency key, in characters.
pub const MAX_ID_LEN: usize = 64;
/// Longest accepted customer name, in characters.
pub const MAX_NAME_LEN: usize = 200;
/// Longest accepted shipping address, in characters.
pub const MAX_ADDRESS_LEN: usize = 500;
/// Longest accepted e-mail address (RFC 5321 path limit), in characters.
pub const MAX_EMAIL_LEN: usize = 254;
/// Most line items one order may carry.
pub const MAX_ITEMS: usize = 100;
/// Largest quantity of one line item.
pub const MAX_QUANTITY: u32 = 10_000;
/// Largest unit price, in minor units (one million major units of a two-decimal currency).
pub const MAX_UNIT_PRICE_MINOR: u64 = 100_000_000;

/// One problem with one field of a request, located by an RFC 6901 JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON pointer to the offending field, e.g. `/items/0/quantity`.
    pub pointer: String,
    /// What is wrong, in words a client developer can act on. Never echoes the value.
    pub detail: String,
}

impl FieldError {
    fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

/// Every field error found in one request; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid field(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// The individual field errors, in document order.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }
}

/// Why a single value was rejected; the caller adds the location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(String);

impl InvalidValue {
    fn new(detail: impl Into<String>) -> Self {
        Self(detail.into())
    }
}

fn check_id(raw: &str, what: &str) -> Result<(), InvalidValue> {
    if raw.is_empty() {
        return Err(InvalidValue::new(format!("{what} must not be empty")));
    }
    if raw.chars().count() > MAX_ID_LEN {
        return Err(InvalidValue::new(format!(
            "{what} must be at most {MAX_ID_LEN} characters"
        )));
    }
    if !raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(InvalidValue::new(format!(
            "{what} may contain only letters, digits, '-', '_', '.' and ':'"
        )));
    }
    Ok(())
}

/// Whether SQS can carry `c` in a message body or attribute. SQS refuses
/// anything outside `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
/// #x10000-#x10FFFF` with `InvalidMessageContents`
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html>),
/// so text the order queue must carry is held to that set at the edge, where
/// the client can still be told.
pub fn is_queue_safe(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether `c` is a bidirectional embedding, override or isolate control
/// (U+202A-U+202E, U+2066-U+2069). In a name or an address they can make the
/// admin e-mail read differently from what was ordered ("Trojan Source",
/// CVE-2021-42574). Zero-width joiners and the marks U+200E/U+200F are left
/// alone: many scripts and emoji need them and they cannot reorder text.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn check_text(raw: &str, what: &str, max: usize) -> Result<String, InvalidValue> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(InvalidValue::new(format!("{what} must not be blank")));
    }
    if trimmed.chars().count() > max {
        return Err(InvalidValue::new(format!(
            "{what} must be at most {max} characters"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(InvalidValue::new(format!(
            "{what} must not contain control characters"
        )));
    }
    if !trimmed.chars().all(is_queue_safe) {
        return Err(InvalidValue::new(format!(
            "{what} must not contain the noncharacters U+FFFE or U+FFFF"
        )));
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(InvalidValue::new(format!(
            "{what} must not contain bidirectional embedding, override or isolate controls (U+202A-U+202E, U+2066-U+2069)"
        )));
    }
    Ok(trimmed.to_owned())
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, redacted = $redacted:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The validated value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if $redacted {
                    f.write_str(concat!(stringify!($name), "(<redacted>)"))
                } else {
                    f.debug_tuple(stringify!($name)).field(&self.0).finish()
                }
            }
        }
    };
}

string_newtype!(
    /// Identifies one order; the idempotency key of the whole pipeline.
    /// 1–64 characters of `[A-Za-z0-9._:-]`.
    OrderId,
    redacted = false
);
string_newtype!(
    /// Identifies a catalogue item. 1–64 characters of `[A-Za-z0-9._:-]`.
    ItemId,
    redacted = false
);
string_newtype!(
    /// The customer's name: personal data, redacted in `Debug`. Trimmed, 1–200
    /// characters, no control characters.
    CustomerName,
    redacted = true
);
string_newtype!(
    /// Where the order ships to: personal data, redacted in `Debug`. Trimmed,
    /// 1–500 characters, no control characters.
    ShippingAddress,
    redacted = true
);
string_newtype!(
    /// The customer's e-mail address: personal data, redacted in `Debug`.
    CustomerEmail,
    redacted = true
);
string_newtype!(
    /// An ISO 4217 alphabetic currency code such as `EUR`.
    Currency,
    redacted = false
);

impl OrderId {
    /// Validates an order id.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        check_id(raw, "order id")?;
        Ok(Self(raw.to_owned()))
    }

    /// Mints a new, time-ordered order id (UUIDv7) for a client that sent none.
    pub fn mint() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ItemId {
    /// Validates an item id.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        check_id(raw, "item id")?;
        Ok(Self(raw.to_owned()))
    }
}

impl CustomerName {
    /// Validates and trims a customer name.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        check_text(raw, "customer name", MAX_NAME_LEN).map(Self)
    }
}

impl ShippingAddress {
    /// Validates and trims a shipping address.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        check_text(raw, "shipping address", MAX_ADDRESS_LEN).map(Self)
    }
}

impl CustomerEmail {
    /// Validates an e-mail address: one `@`, a non-empty local part, a dotted
    /// domain, no spaces or control characters. Deliverability is not checked.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = check_text(raw, "customer email", MAX_EMAIL_LEN)?;
        let well_formed = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !value.contains(char::is_whitespace)
            }
            None => false,
        };
        if !well_formed {
            return Err(InvalidValue::new(
                "customer email must look like name@example.com",
            ));
        }
        Ok(Self(value))
    }
}

impl Currency {
    /// Validates a currency code: exactly three upper-case ASCII letters.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue::new(
                "currency must be an ISO 4217 code of three upper-case letters, e.g. EUR",
            ))
        }
    }
}

/// How many units of an item were ordered: 1 to [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    /// Validates a quantity.
    pub fn new(raw: u64) -> Result<Self, InvalidValue> {
        match u32::try_from(raw) {
            Ok(q) if (1..=MAX_QUANTITY).contains(&q) => Ok(Self(q)),
            _ => Err(InvalidValue::new(format!(
                "quantity must be a whole number from 1 to {MAX_QUANTITY}"
            ))),
        }
    }

    /// The number of units.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u64> for Quantity {
    type Error = InvalidValue;
    fn try_from(raw: u64) -> Result<Self, Self::Error> {
        Self::new(raw)
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        q.0
    }
}

/// An amount of money in integer minor units (cents for EUR). Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(u64);

impl Money {
    /// Validates a unit price: 0 to [`MAX_UNIT_PRICE_MINOR`] minor units.
    pub fn unit_price(raw: u64) -> Result<Self, InvalidValue> {
        if raw <= MAX_UNIT_PRICE_MINOR {
            Ok(Self(raw))
        } else {
            Err(InvalidValue::new(format!(
                "unit price must be a whole number of minor units from 0 to {MAX_UNIT_PRICE_MINOR}"
            )))
        }
    }

    /// An amount in minor units.
    pub fn from_minor(minor: u64) -> Self {
        Self(minor)
    }

    /// The amount in minor units.
    pub fn minor_units(self) -> u64 {
        self.0
    }

    /// Formats the amount with two decimals and the currency, e.g. `19.99 EUR`.
    /// Every currency is shown with two decimals; the minor-unit value is exact.
    pub fn display_with(self, currency: &Currency) -> String {
        format!("{}.{:02} {}", self.0 / 100, self.0 % 100, currency.as_str())
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    /// What was ordered.
    pub item_id: ItemId,
    /// How many.
    pub quantity: Quantity,
    /// Price of one unit in minor units of the order's currency, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Money>,
}

/// A validated order's content: everything the client sent except its id.
///
/// Invariants: 1 to [`MAX_ITEMS`] items with distinct item ids; a currency is
/// present whenever any unit price is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "OrderFields")]
pub struct Order {
    customer_name: CustomerName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer_email: Option<CustomerEmail>,
    shipping_address: ShippingAddress,
    items: Vec<LineItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    currency: Option<Currency>,
}

/// The unchecked shape of [`Order`], used to re-check the cross-field invariants
/// when an order is read back from a message or an item.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderFields {
    customer_name: CustomerName,
    #[serde(default)]
    customer_email: Option<CustomerEmail>,
    shipping_address: ShippingAddress,
    items: Vec<LineItem>,
    #[serde(default)]
    currency: Option<Currency>,
}

/// The detail of the rule "a currency is required when unit prices are given".
const CURRENCY_REQUIRED: &str = "currency is required when unit prices are given";

impl TryFrom<OrderFields> for Order {
    type Error = InvalidValue;
    /// The one place every [`Order`] invariant is checked: intake builds its
    /// orders through here too, so what intake accepts the worker reads.
    fn try_from(f: OrderFields) -> Result<Self, Self::Error> {
        if f.items.is_empty() || f.items.len() > MAX_ITEMS {
            return Err(InvalidValue::new(format!(
                "an order has 1 to {MAX_ITEMS} items"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        if !f.items.iter().all(|i| seen.insert(i.item_id.as_str())) {
            return Err(InvalidValue::new("item ids must be distinct"));
        }
        for price in f.items.iter().filter_map(|i| i.unit_price) {
            // A message or item is re-checked as strictly as a request, so no
            // stored price can overflow the total.
            Money::unit_price(price.minor_units())?;
        }
        if f.currency.is_none() && f.items.iter().any(|i| i.unit_price.is_some()) {
            return Err(InvalidValue::new(CURRENCY_REQUIRED));
        }
        Ok(Self {
            customer_name: f.customer_name,
            customer_email: f.customer_email,
            shipping_address: f.shipping_address,
            items: f.items,
            currency: f.currency,
        })
    }
}

impl Order {
    /// The customer's name (personal data).
    pub fn customer_name(&self) -> &CustomerName {
        &self.customer_name
    }

    /// The customer's e-mail address, when given (personal data).
    pub fn customer_email(&self) -> Option<&CustomerEmail> {
        self.customer_email.as_ref()
    }

    /// Where to ship (personal data).
    pub fn shipping_address(&self) -> &ShippingAddress {
        &self.shipping_address
    }

    /// The line items, in the order the client sent them.
    pub fn items(&self) -> &[LineItem] {
        &self.items
    }

    /// The currency of the unit prices, when given.
    pub fn currency(&self) -> Option<&Currency> {
        self.currency.as_ref()
    }

    /// Total number of units across all lines.
    pub fn unit_count(&self) -> u64 {
        self.items.iter().map(|i| u64::from(i.quantity.get())).sum()
    }

    /// The order total, known only when every line has a unit price (and so a
    /// currency is set). Cannot overflow: the limits bound it below 2^47.
    pub fn total(&self) -> Option<Money> {
        self.items
            .iter()
            .map(|i| {
                i.unit_price
                    .map(|p| p.minor_units().saturating_mul(u64::from(i.quantity.get())))
            })
            .try_fold(0u64, |total, line| line.map(|l| total.saturating_add(l)))
            .map(Money)
    }

    /// A stable key for "the same customer", used to keep one customer's orders
    /// in one FIFO message group. Hashed so no personal data leaves the domain as
    /// a routing key. E-mail wins over name when present; case and surrounding
    /// space are ignored.
    pub fn customer_key(&self) -> String {
        let basis = match &self.customer_email {
            Some(email) => format!("email:{}", email.as_str().to_lowercase()),
            None => format!("name:{}", self.customer_name.as_str().to_lowercase()),
        };
        hex::encode(&Sha256::digest(basis.as_bytes())[..16])
    }
}

/// SHA-256 of an order's id and content, hex encoded: equal hashes mean the same
/// order sent twice, different hashes under one id mean a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentHash(String);

impl ContentHash {
    /// Hashes the canonical JSON of the id and the content. Serialisation order is
    /// fixed by the struct definitions, so the hash is stable across processes.
    pub fn of(order_id: &OrderId, order: &Order) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(order_id.as_str().as_bytes());
        hasher.update([0u8]);
        // Serialising plain strings and integers cannot fail.
        if let Ok(json) = serde_json::to_vec(order) {
            hasher.update(json);
        }
        Self(hex::encode(hasher.finalize()))
    }

    /// Wraps a hash read back from storage (not re-computed).
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A parsed client request: the optional client-chosen id and the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    /// The `orderID` the client sent, if any (its idempotency key).
    pub order_id: Option<OrderId>,
    /// The validated content.
    pub order: Order,
}

/// Field names a request body may carry; anything else is an error.
const REQUEST_FIELDS: &[&str] = &[
    "orderID",
    "orderId",
    "customerName",
    "customerEmail",
    "shippingAddress",
    "items",
    "currency",
];
const ITEM_FIELDS: &[&str] = &["itemId", "quantity", "unitPrice"];

struct Collector(Vec<FieldError>);

impl Collector {
    fn push(&mut self, pointer: impl Into<String>, detail: impl Into<String>) {
        self.0.push(FieldError::new(pointer, detail));
    }

    fn string<T>(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        pointer: &str,
        required: bool,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Option<T> {
        match obj.get(key) {
            None | Some(Value::Null) => {
                if required {
                    self.push(pointer, format!("{key} is required"));
                }
                None
            }
            Some(Value::String(s)) => match parse(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.push(pointer, e.0);
                    None
                }
            },
            Some(_) => {
                self.push(pointer, format!("{key} must be a string"));
                None
            }
        }
    }

    fn unknown_fields(&mut self, obj: &Map<String, Value>, allowed: &[&str], prefix: &str) {
        for key in obj.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.push(
                format!("{prefix}/{}", escape_pointer(key)),
                "unknown field (check the spelling; see the API documentation)",
            );
        }
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl OrderRequest {
    /// Parses a request body, reporting every field error at once.
    ///
    /// Accepts the legacy body (`orderID`, `customerName`, `items[{itemId,
    /// quantity}]`, `shippingAddress`) as is, plus the optional `customerEmail`,
    /// `currency` and `items[].unitPrice` (integer minor units). `orderId` is
    /// accepted as an alias of `orderID`. Unknown fields are errors, so typos
    /// are caught instead of silently dropped.
    pub fn from_json(body: &Value) -> Result<Self, ValidationErrors> {
        let Some(obj) = body.as_object() else {
            return Err(ValidationErrors(vec![FieldError::new(
                "",
                "the request body must be a JSON object",
            )]));
        };
        let mut c = Collector(Vec::new());
        c.unknown_fields(obj, REQUEST_FIELDS, "");

        if obj.contains_key("orderID") && obj.contains_key("orderId") {
            c.push("/orderId", "send either orderID or orderId, not both");
        }
        let id_key = if obj.contains_key("orderId") {
            "orderId"
        } else {
            "orderID"
        };
        let order_id = c.string(obj, id_key, &format!("/{id_key}"), false, OrderId::parse);
        let customer_name = c.string(
            obj,
            "customerName",
            "/customerName",
            true,
            CustomerName::parse,
        );
        let customer_email = c.string(
            obj,
            "customerEmail",
            "/customerEmail",
            false,
            CustomerEmail::parse,
        );
        let shipping_address = c.string(
            obj,
            "shippingAddress",
            "/shippingAddress",
            true,
            ShippingAddress::parse,
        );
        let errors_before_currency = c.0.len();
        let currency = c.string(obj, "currency", "/currency", false, Currency::parse);
        let items = parse_items(&mut c, obj.get("items"));

        let currency_invalid = c.0.len() > errors_before_currency;
        if let Some(items) = &items {
            // Absent and null alike: the currency is missing unless a value
            // was given (an invalid one is already reported).
            if currency.is_none()
                && !currency_invalid
                && items.iter().any(|i| i.unit_price.is_some())
            {
                c.push("/currency", CURRENCY_REQUIRED);
            }
        }

        match (customer_name, shipping_address, items) {
            (Some(customer_name), Some(shipping_address), Some(items)) if c.0.is_empty() => {
                // The same constructor the worker's reader uses: an order that
                // passed the field checks above but broke an invariant would be
                // a bug here, reported as an error instead of enqueued poison.
                let order = Order::try_from(OrderFields {
                    customer_name,
                    customer_email,
                    shipping_address,
                    items,
                    currency,
                })
                .map_err(|e| ValidationErrors(vec![FieldError::new("", e.0)]))?;
                Ok(Self { order_id, order })
            }
            _ => Err(ValidationErrors(c.0)),
        }
    }
}

fn parse_items(c: &mut Collector, raw: Option<&Value>) -> Option<Vec<LineItem>> {
    let list = match raw {
        None | Some(Value::Null) => {
            c.push("/items", "items is required");
            return None;
        }
        Some(Value::Array(list)) => list,
        Some(_) => {
            c.push("/items", "items must be an array");
            return None;
        }
    };
    if list.is_empty() || list.len() > MAX_ITEMS {
        c.push("/items", format!("an order has 1 to {MAX_ITEMS} items"));
        return None;
    }
    let before = c.0.len();
    let mut items = Vec::with_capacity(list.len());
    let mut seen = std::collections::HashSet::new();
    for (i, raw) in list.iter().enumerate() {
        let base = format!("/items/{i}");
        let Some(obj) = raw.as_object() else {
            c.push(base, "each item must be an object");
            continue;
        };
        c.unknown_fields(obj, ITEM_FIELDS, &base);
        let item_id = c.string(
            obj,
            "itemId",
            &format!("{base}/itemId"),
            true,
            ItemId::parse,
        );
        if let Some(id) = &item_id {
            if !seen.insert(id.as_str().to_owned()) {
                c.push(
                    format!("{base}/itemId"),
                    "duplicate itemId: list each item once with its total quantity",
                );
            }
        }
        let quantity = match obj.get("quantity") {
            None | Some(Value::Null) => {
                c.push(format!("{base}/quantity"), "quantity is required");
                None
            }
            Some(v) => match v.as_u64().map(Quantity::new) {
                Some(Ok(q)) => Some(q),
                _ => {
                    c.push(
                        format!("{base}/quantity"),
                        format!("quantity must be a whole number from 1 to {MAX_QUANTITY}"),
                    );
                    None
                }
            },
        };
        let unit_price = match obj.get("unitPrice") {
            None | Some(Value::Null) => Some(None),
            Some(v) => match v.as_u64().map(Money::unit_price) {
                Some(Ok(p)) => Some(Some(p)),
                _ => {
                    c.push(
                        format!("{base}/unitPrice"),
                        format!(
                            "unitPrice must be a whole number of minor units (cents) from 0 to {MAX_UNIT_PRICE_MINOR}"
                        ),
                    );
                    None
                }
            },
        };
        if let (Some(item_id), Some(quantity), Some(unit_price)) = (item_id, quantity, unit_price) {
            items.push(LineItem {
                item_id,
                quantity,
                unit_price,
            });
        }
    }
    (c.0.len() == before).then_some(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn legacy_body() -> Value {
        json!({"orderID":"23214","customerName":"Harry Kane","items":[{"itemId":"item456","quantity":22}],"shippingAddress":"11 Nguyen Van Linh, Hanoi, Vietnam"})
    }

    #[test]
    fn given_the_legacy_body_when_parsed_then_it_is_accepted_as_is() {
        let req = OrderRequest::from_json(&legacy_body()).unwrap();
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
        let req = OrderRequest::from_json(&legacy_body()).unwrap();
        let dbg = format!("{req:?}");
        assert!(!dbg.contains("Harry"), "{dbg}");
        assert!(!dbg.contains("Nguyen"), "{dbg}");
        assert!(dbg.contains("23214"));
    }

    #[test]
    fn content_hash_is_stable_and_sensitive_to_content() {
        let a = OrderRequest::from_json(&legacy_body()).unwrap();
        let id = a.order_id.clone().unwrap();
        let h1 = ContentHash::of(&id, &a.order);
        let h2 = ContentHash::of(&id, &OrderRequest::from_json(&legacy_body()).unwrap().order);
        assert_eq!(h1, h2);
        let mut other = legacy_body();
        other["items"][0]["quantity"] = json!(23);
        let b = OrderRequest::from_json(&other).unwrap();
        assert_ne!(h1, ContentHash::of(&id, &b.order));
    }

    #[test]
    fn order_round_trips_through_serde_and_revalidates() {
        let a = OrderRequest::from_json(&legacy_body()).unwrap().order;
        let json = serde_json::to_value(&a).unwrap();
        let back: Order = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(a, back);
        let mut bad = json;
        bad["items"] = json!([]);
        assert!(serde_json::from_value::<Order>(bad).is_err());
    }

    #[test]
    fn customer_key_ignores_case_and_holds_no_personal_data() {
        let a = OrderRequest::from_json(&legacy_body()).unwrap().order;
        let mut body = legacy_body();
        body["customerName"] = json!("harry kane");
        let b = OrderRequest::from_json(&body).unwrap().order;
        assert_eq!(a.customer_key(), b.customer_key());
        assert!(!a.customer_key().to_lowercase().contains("harry"));
    }
}
