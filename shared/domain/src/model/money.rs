//! Quantities and money: integers with their bounds, never floats.

use serde::{Deserialize, Serialize};

use super::rules::{InvalidValue, MAX_QUANTITY, MAX_UNIT_PRICE_MINOR};
use super::values::Currency;

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
