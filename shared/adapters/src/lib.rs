//! What the order pipeline's functions share beyond the domain: the
//! narrow ports the handlers depend on ([`ports`]), with AWS SDK ([`aws`]) and
//! in-memory ([`memory`]) adapters, the DynamoDB item mapping ([`record`]),
//! configuration, deployed settings and telemetry.
//!
//! The domain itself (types, validation, contracts, the stored-order model)
//! is the `orders-domain` crate, which Cargo keeps free of AWS.

pub mod aws;
pub mod config;
pub mod memory;
pub mod ports;
pub mod record;
pub mod settings;
pub mod telemetry;
