//! Parsing a client's JSON body into an [`OrderRequest`], every field error
//! reported at once as a JSON pointer.

use serde_json::{Map, Value};

use super::money::{Money, Quantity};
use super::order::{
    LineItem, Order, OrderFields, currency_violation, duplicate_item_violations,
    item_count_violation,
};
use super::rules::{
    FieldError, InvalidValue, MAX_QUANTITY, MAX_UNIT_PRICE_MINOR, ValidationErrors,
};
use super::values::{Currency, CustomerEmail, CustomerName, ItemId, OrderId, ShippingAddress};

/// A parsed client request: the optional client-chosen id and the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    /// The `orderID` the client sent, if any (its idempotency key).
    pub order_id: Option<OrderId>,
    /// The field that carried it: `orderID`, or its alias `orderId`.
    pub order_id_field: &'static str,
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
            let any_unit_price = items.iter().any(|i| i.unit_price.is_some());
            let currency_given = currency.is_some() || currency_invalid;
            if let Some(broken) = currency_violation(any_unit_price, currency_given) {
                c.push("/currency", broken.0);
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
                Ok(Self {
                    order_id,
                    order_id_field: id_key,
                    order,
                })
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
    if let Some(broken) = item_count_violation(list.len()) {
        c.push("/items", broken.0);
        return None;
    }
    let before = c.0.len();
    let mut items = Vec::with_capacity(list.len());
    let mut ids: Vec<(usize, String)> = Vec::new();
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
            ids.push((i, id.as_str().to_owned()));
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
    for (i, broken) in duplicate_item_violations(ids.iter().map(|(i, id)| (*i, id.as_str()))) {
        c.push(format!("/items/{i}/itemId"), broken.0);
    }
    (c.0.len() == before).then_some(items)
}
