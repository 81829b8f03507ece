//! The string values of an order (ids, names, address, e-mail, currency):
//! newtypes that cannot hold a bad value; personal data redacts its `Debug`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::rules::{
    InvalidValue, MAX_ADDRESS_LEN, MAX_EMAIL_LEN, MAX_NAME_LEN, check_id, check_text, id_violations,
};

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

    /// Validates an order id, naming every rule it breaks (a too-long id
    /// may hold characters outside the alphabet too), so a client fixes
    /// them at once.
    pub fn parse_reporting_all(raw: &str) -> Result<Self, Vec<InvalidValue>> {
        let broken = id_violations(raw, "order id");
        if broken.is_empty() {
            Ok(Self(raw.to_owned()))
        } else {
            Err(broken)
        }
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
