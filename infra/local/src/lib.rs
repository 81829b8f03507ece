//! `orders-local`: the whole order pipeline on one machine.
//!
//! The same handler code that ships to Lambda, wired to embedded emulators of
//! SQS FIFO, DynamoDB Streams and SNS (or to any AWS endpoint), with emulated
//! API Gateway and event source mappings.

pub mod arn;
pub mod aws;
pub mod backend;
pub mod chaos;
pub mod embedded;
pub mod filter_policy;
pub mod gateway;
pub mod mapping;
pub mod md5;
pub mod openapi;
pub mod pipeline;
pub mod replay;
pub mod stats;

pub use backend::Backends;
pub use pipeline::{Pipeline, PipelineConfig, Ports, ResourceNames, Resources, Summary};
pub use stats::{Status, TimeScale};
