//! `orders-local`: the whole order pipeline on one machine.
//!
//! The same handler code that ships to Lambda, wired to embedded emulators of
//! SQS FIFO, DynamoDB Streams and SNS (or to any AWS endpoint), with emulated
//! API Gateway and event source mappings.

pub mod bare;
pub mod chaos;
pub mod dashboard;
pub mod gateway;
pub mod mapping;
pub mod openapi;
pub mod pipeline;
pub mod recent;
pub mod state;
pub mod stats;

// The services live in `orders-backends`; re-exported so `orders_local::backend`
// and friends keep naming them for the runner's callers.
pub use orders_backends::{Backends, arn, aws, backend, embedded, filter_policy, md5};
pub use pipeline::{Pipeline, PipelineConfig, Ports, ResourceNames, Resources, Summary};
pub use stats::{Status, TimeScale};
