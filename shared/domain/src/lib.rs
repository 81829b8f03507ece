//! The order pipeline's domain, free of AWS: the types a client request is
//! parsed into ([`model`]), the versioned message contracts between the
//! stages ([`contract`]), the JSON Schema published for the event contract
//! ([`schema`]), the model of a stored order ([`record`]) and its
//! customer confirmation's marks ([`confirmation`]).
//!
//! Cargo keeps this crate clean: its dependency tree has no AWS SDK, no
//! serde_dynamo and no Lambda crate. Adapters (the `orders-adapters` crate) own the
//! wire mappings.
//!
//! With the `test-support` feature, which only dev-dependencies enable,
//! [`test_support`] holds the fixtures the workspace's tests share.

pub mod confirmation;
pub mod contract;
pub mod model;
pub mod record;
pub mod schema;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
