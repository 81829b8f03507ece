//! What the order pipeline's functions share beyond the domain: the
//! narrow ports the handlers depend on ([`ports`]), with AWS SDK ([`aws`]) and
//! in-memory adapters, the DynamoDB item mapping ([`record`]),
//! configuration, deployed settings, telemetry and a poison-tolerant
//! [`sync::lock`].
//!
//! What only tests use, the in-memory adapters (`memory`) and the log
//! capture (`telemetry::LogCapture`), compiles only with the `test-support`
//! feature, which only dev-dependencies enable: none of it ships in a Lambda.
//!
//! The domain itself (types, validation, contracts, the stored-order model)
//! is the `orders-domain` crate, which Cargo keeps free of AWS.

pub mod aws;
pub mod config;
pub mod deadline;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
pub mod pacing;
pub mod ports;
pub mod record;
pub mod settings;
pub mod sync;
pub mod telemetry;
