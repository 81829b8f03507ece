//! Who an order belongs to: the authenticated caller that posted it, kept
//! only as an opaque key.
//!
//! An order's identity is (owner, order id): two callers may use the same
//! `orderID` and neither blocks or sees the other. The caller's identity
//! (a token's issuer and subject, an IAM principal) is personal data, so it
//! never leaves the HTTP edge: the edge turns it into an [`OwnerKey`] with a
//! keyed hash ([`OwnerKey::of`]), and only that key is stored, queued,
//! published and logged. Without the secret the key cannot be turned back
//! into a subject, nor can a guessed subject be checked against it.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::rules::InvalidValue;

/// The one owner of every order while the API is open (no authorizer): the
/// pipeline then keeps the single namespace of order ids it always had.
pub const ANONYMOUS_OWNER: &str = "anonymous";

/// The two forms of an owner key as a regular expression group, for the
/// published schemas; [`OwnerKey::parse`] is the rule itself.
pub const OWNER_KEY_ALTERNATIVES: &str = "(anonymous|[0-9a-f]{32})";

/// Hex digits of a hashed owner key: 128 bits of the HMAC, as collision-free
/// as the owners need and short enough for keys, group ids and log lines.
const HASHED_KEY_HEX_LEN: usize = 32;

/// Fewest bytes of an [`OwnerSecret`]: HMAC-SHA-256's key should be at least
/// its output length (RFC 2104, section 3).
pub const MIN_OWNER_SECRET_LEN: usize = 32;

/// Who called, as the API's authorizer established it. Built by the HTTP edge
/// from the request context and consumed at once by [`OwnerKey::of`]: it is
/// never stored, logged or sent.
#[derive(Clone, PartialEq, Eq)]
pub enum Caller {
    /// The API is open: no identity.
    Anonymous,
    /// A JWT authorizer's caller: the token's `iss` and `sub` claims. A
    /// subject is unique only within its issuer, so both make the owner.
    Token {
        /// The `iss` claim.
        issuer: String,
        /// The `sub` claim.
        subject: String,
    },
    /// An IAM-authorized caller: the principal's ARN as API Gateway reports it.
    Principal {
        /// The caller's ARN (`userArn`).
        arn: String,
    },
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The identity itself is personal data: only its kind is printed.
        f.write_str(match self {
            Self::Anonymous => "Caller::Anonymous",
            Self::Token { .. } => "Caller::Token(<redacted>)",
            Self::Principal { .. } => "Caller::Principal(<redacted>)",
        })
    }
}

/// The key of the owner keys' HMAC, from the stack's generated secret.
/// Changing it gives every caller a new owner key, so their earlier orders
/// no longer answer to them: it is set once per stack and never rotated.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnerSecret(Vec<u8>);

impl OwnerSecret {
    /// Takes a secret of at least [`MIN_OWNER_SECRET_LEN`] bytes.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, InvalidValue> {
        let secret = secret.into();
        if secret.len() < MIN_OWNER_SECRET_LEN {
            return Err(InvalidValue::new(format!(
                "the owner key secret needs at least {MIN_OWNER_SECRET_LEN} bytes"
            )));
        }
        Ok(Self(secret))
    }
}

impl fmt::Debug for OwnerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnerSecret(<redacted>)")
    }
}

/// The opaque key of an order's owner: [`ANONYMOUS_OWNER`], or 32 lowercase
/// hex digits of a keyed hash of the caller's identity.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OwnerKey(String);

impl OwnerKey {
    /// The owner of every order while the API is open.
    pub fn anonymous() -> Self {
        Self(ANONYMOUS_OWNER.to_owned())
    }

    /// The owner key of `caller`. An anonymous caller is [`Self::anonymous`]
    /// and needs no secret; an identified one needs `secret`, and `None` is
    /// the caller back (the configuration names no secret).
    ///
    /// Each kind of identity is hashed under its own label, with its parts
    /// length-prefixed, so no token can hash like a principal and no
    /// (issuer, subject) split like another.
    pub fn of(caller: &Caller, secret: Option<&OwnerSecret>) -> Result<Self, Caller> {
        let parts: Vec<&str> = match caller {
            Caller::Anonymous => return Ok(Self::anonymous()),
            Caller::Token { issuer, subject } => vec!["jwt", issuer, subject],
            Caller::Principal { arn } => vec!["iam", arn],
        };
        let Some(OwnerSecret(secret)) = secret else {
            return Err(caller.clone());
        };
        // HMAC takes a key of any length, so this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
            return Err(caller.clone());
        };
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        let digest = mac.finalize().into_bytes();
        Ok(Self(hex::encode(&digest[..HASHED_KEY_HEX_LEN / 2])))
    }

    /// Reads a key back from a message, an item or an event.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let hashed = raw.len() == HASHED_KEY_HEX_LEN
            && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if raw == ANONYMOUS_OWNER || hashed {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue::new(format!(
                "an owner key is \"{ANONYMOUS_OWNER}\" or {HASHED_KEY_HEX_LEN} lowercase hex digits"
            )))
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OwnerKey {
    type Error = InvalidValue;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<OwnerKey> for String {
    fn from(value: OwnerKey) -> String {
        value.0
    }
}

impl fmt::Debug for OwnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnerKey").field(&self.0).finish()
    }
}

impl fmt::Display for OwnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secret() -> OwnerSecret {
        OwnerSecret::new(vec![7u8; MIN_OWNER_SECRET_LEN]).unwrap()
    }

    fn token(issuer: &str, subject: &str) -> Caller {
        Caller::Token {
            issuer: issuer.into(),
            subject: subject.into(),
        }
    }

    #[test]
    fn an_anonymous_caller_is_the_anonymous_owner_without_a_secret() {
        assert_eq!(
            OwnerKey::of(&Caller::Anonymous, None).unwrap().as_str(),
            "anonymous"
        );
    }

    #[test]
    fn an_identified_caller_without_a_secret_is_refused() {
        assert!(OwnerKey::of(&token("https://idp", "alice"), None).is_err());
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert!(OwnerSecret::new(vec![1u8; MIN_OWNER_SECRET_LEN - 1]).is_err());
    }

    #[test]
    fn the_key_depends_on_the_secret() {
        let other = OwnerSecret::new(vec![8u8; MIN_OWNER_SECRET_LEN]).unwrap();
        let caller = token("https://idp", "alice");
        assert_ne!(
            OwnerKey::of(&caller, Some(&secret())).unwrap(),
            OwnerKey::of(&caller, Some(&other)).unwrap()
        );
    }

    #[test]
    fn debug_never_prints_an_identity_or_a_secret() {
        let caller = token("https://idp.example", "alice-subject");
        let printed = format!("{caller:?} {:?}", secret());
        assert!(!printed.contains("alice") && !printed.contains("idp.example"));
        assert!(!printed.contains("7, 7"));
    }

    proptest! {
        /// Given any identity, its key is stable, parses back, is not the
        /// anonymous owner and contains neither the issuer nor the subject.
        #[test]
        fn keys_are_stable_opaque_and_parse_back(
            issuer in "[a-z:/.]{1,30}", subject in "[a-zA-Z0-9-]{4,40}"
        ) {
            let caller = token(&issuer, &subject);
            let key = OwnerKey::of(&caller, Some(&secret())).unwrap();
            prop_assert_eq!(&key, &OwnerKey::of(&caller, Some(&secret())).unwrap());
            prop_assert_eq!(&OwnerKey::parse(key.as_str()).unwrap(), &key);
            prop_assert_ne!(key.as_str(), ANONYMOUS_OWNER);
            prop_assert!(!key.as_str().contains(&subject));
        }

        /// Given two different identities (split differently, or of another
        /// kind), their keys differ.
        #[test]
        fn different_identities_get_different_keys(
            a in "[a-z]{0,6}", b in "[a-z]{0,6}", c in "[a-z]{0,6}", d in "[a-z]{0,6}"
        ) {
            prop_assume!((a.as_str(), b.as_str()) != (c.as_str(), d.as_str()));
            let s = secret();
            prop_assert_ne!(
                OwnerKey::of(&token(&a, &b), Some(&s)).unwrap(),
                OwnerKey::of(&token(&c, &d), Some(&s)).unwrap()
            );
            let joined = format!("{a}{b}");
            prop_assert_ne!(
                OwnerKey::of(&token(&a, &b), Some(&s)).unwrap(),
                OwnerKey::of(&Caller::Principal { arn: joined }, Some(&s)).unwrap()
            );
        }

        /// Given any string, it parses exactly when the published pattern
        /// matches it.
        #[test]
        fn only_the_two_forms_parse(raw in prop_oneof!["\\PC{0,40}", "[0-9a-fA-F]{31,33}"]) {
            let hashed = raw.len() == HASHED_KEY_HEX_LEN
                && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            prop_assert_eq!(OwnerKey::parse(&raw).is_ok(), hashed || raw == ANONYMOUS_OWNER);
        }
    }
}
