//! Everything the three order-pipeline functions share: the domain types parsed at
//! the edge, the versioned message contracts, the DynamoDB item mapping, the narrow
//! ports the handlers depend on (with AWS SDK and in-memory implementations),
//! configuration and telemetry.
//!
//! The [`domain`] module knows nothing of AWS; adapters in [`aws`] own the wire
//! mapping.

pub mod aws;
pub mod config;
pub mod contract;
pub mod domain;
pub mod memory;
pub mod ports;
pub mod record;
pub mod settings;
pub mod telemetry;
