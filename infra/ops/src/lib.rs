//! `orders-ops`: operating the order pipeline.
//!
//! One tool for what an alarm asks of an operator (see `infra/RUNBOOK.md`):
//! [`status`] of every stage, [`peek`] into a dead-letter queue, moving its
//! messages back once the cause is fixed ([`redrive`] for the worker DLQ,
//! [`replay`] of the stream for the notifier DLQ), announcing stored orders
//! again ([`renotify`]), both paced by [`pace`], and looking one up
//! ([`order`]). [`target`] finds the
//! resources of a deployed stack or of an `orders-local` name prefix;
//! [`cli`] is the command line, [`error`] the one-line failures, [`render`]
//! the terminal output.

pub mod cli;
pub mod error;
pub mod order;
pub mod pace;
pub mod peek;
pub mod redrive;
pub mod render;
pub mod renotify;
pub mod replay;
pub mod status;
pub mod target;

pub use error::{OpsError, OpsResult};
