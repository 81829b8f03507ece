//! `orders-local`: the whole order pipeline on one machine.
//!
//! The same handler code that ships to Lambda, wired to embedded emulators of
//! SQS FIFO, DynamoDB Streams and SNS (or to any AWS endpoint), with emulated
//! API Gateway and event source mappings. The services themselves (the
//! emulators and the SDK backends) are `orders-backends`'s: callers name them
//! there.

pub mod chaos;
pub mod dashboard;
pub mod gateway;
pub mod mapping;
pub mod openapi;
pub mod pipeline;
pub mod recent;
pub mod state;
pub mod stats;
pub mod yardstick;

pub use pipeline::{LocalAuth, Pipeline, PipelineConfig, Ports, ResourceNames, Resources, Summary};
pub use stats::{Status, TimeScale};
