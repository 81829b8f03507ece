//! The order's content and its invariants: each cross-field rule is one
//! function here, applied by `TryFrom<OrderFields>` to every order built or
//! read back, and by the request parser to a request's fields.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::money::{Money, Quantity};
use super::owner::OwnerKey;
use super::rules::{InvalidValue, MAX_ITEMS};
use super::values::{Currency, CustomerEmail, CustomerName, ItemId, ShippingAddress};

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
pub(crate) struct OrderFields {
    pub(crate) customer_name: CustomerName,
    #[serde(default)]
    pub(crate) customer_email: Option<CustomerEmail>,
    pub(crate) shipping_address: ShippingAddress,
    pub(crate) items: Vec<LineItem>,
    #[serde(default)]
    pub(crate) currency: Option<Currency>,
}

// The cross-field rules of an order, each stated once. `Order`'s
// constructor applies them to every order built or read back; the request
// parser applies the same functions to a request's fields as it reads them,
// so it can point at the field and report the rest of the request's errors
// with them.

/// "1 to [`MAX_ITEMS`] items": broken by a list of `count` items.
pub(crate) fn item_count_violation(count: usize) -> Option<InvalidValue> {
    (count == 0 || count > MAX_ITEMS)
        .then(|| InvalidValue::new(format!("an order has 1 to {MAX_ITEMS} items")))
}

/// "Each item id once": the positions (in `ids`' order) of the repeats.
pub(crate) fn duplicate_item_violations<'a>(
    ids: impl IntoIterator<Item = (usize, &'a str)>,
) -> Vec<(usize, InvalidValue)> {
    let mut seen = std::collections::HashSet::new();
    ids.into_iter()
        .filter(|(_, id)| !seen.insert(*id))
        .map(|(position, _)| {
            (
                position,
                InvalidValue::new("duplicate itemId: list each item once with its total quantity"),
            )
        })
        .collect()
}

/// "A currency is required when unit prices are given".
pub(crate) fn currency_violation(
    any_unit_price: bool,
    currency_given: bool,
) -> Option<InvalidValue> {
    (any_unit_price && !currency_given)
        .then(|| InvalidValue::new("currency is required when unit prices are given"))
}

impl TryFrom<OrderFields> for Order {
    type Error = InvalidValue;
    /// Every [`Order`] is built through here: intake's too, so what intake
    /// accepts the worker reads.
    fn try_from(f: OrderFields) -> Result<Self, Self::Error> {
        if let Some(broken) = item_count_violation(f.items.len()) {
            return Err(broken);
        }
        let ids = f
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| (i, item.item_id.as_str()));
        if let Some((_, broken)) = duplicate_item_violations(ids).into_iter().next() {
            return Err(broken);
        }
        for price in f.items.iter().filter_map(|i| i.unit_price) {
            // A message or item is re-checked as strictly as a request, so no
            // stored price can overflow the total.
            Money::unit_price(price.minor_units())?;
        }
        let any_unit_price = f.items.iter().any(|i| i.unit_price.is_some());
        if let Some(broken) = currency_violation(any_unit_price, f.currency.is_some()) {
            return Err(broken);
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
            .map(Money::from_minor)
    }

    /// A stable key for "the same customer of the same owner", used to keep
    /// one customer's orders in one FIFO message group. Hashed so no personal
    /// data leaves the domain as a routing key. E-mail wins over name when
    /// present; case and surrounding space are ignored. The owner is part of
    /// it, so one owner's stuck message never holds back another's orders.
    pub fn customer_key(&self, owner: &OwnerKey) -> String {
        let customer = match &self.customer_email {
            Some(email) => format!("email:{}", email.as_str().to_lowercase()),
            None => format!("name:{}", self.customer_name.as_str().to_lowercase()),
        };
        let basis = format!("{owner}\n{customer}");
        hex::encode(&Sha256::digest(basis.as_bytes())[..16])
    }
}
