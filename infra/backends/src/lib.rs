//! The services the order pipeline runs on (SQS, DynamoDB with its stream,
//! SNS), as the traits of [`backend`] with two homes:
//!
//! - [`embedded`]: in-process emulators that keep AWS's documented semantics
//!   where the pipeline depends on them (FIFO groups and deduplication,
//!   visibility and redrive, conditional writes and the stream, filter
//!   policies), checked against moto by the contract suite;
//! - [`sdk`]: the AWS SDK against any AWS-compatible endpoint (moto server,
//!   LocalStack, a real account).
//!
//! `orders-local` (the local runner) and the operations tooling both build on
//! them; the shipped functions do not.

pub mod arn;
pub mod backend;
pub mod embedded;
pub mod filter_policy;
pub mod md5;
pub mod sdk;

pub use backend::Backends;
