//! Test harness of the integration tests, one module per job:
//!
//! - [`moto`](mod@moto): a moto server on a free loopback port, shared by the
//!   tests of a binary and never outliving it, and an `SdkConfig` for it;
//! - [`process`]: [`Watched`] child processes, stopped when the test process
//!   ends in any way;
//! - [`local`]: the `orders-local` binary as a child process;
//! - [`stack`]: one `orders-local` name prefix over moto, with SDK clients;
//! - [`services`]: draining queues and reading streams;
//! - [`fixtures`]: valid-by-construction test data;
//! - [`sqs`]: SQS SDK attribute helpers;
//! - [`consumer`]: the consumer kit: the OrderCreated schema and its
//!   validator, the Python consumer, the documented filter policies;
//!
//! and, here, unique resource names, temporary directories and the legacy
//! request body.

// Test support code: a failed set-up must stop the test with its reason, as a
// test's own `unwrap` would.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

pub mod consumer;
pub mod fixtures;
pub mod local;
pub mod moto;
pub mod process;
pub mod services;
pub mod sqs;
pub mod stack;

pub use moto::{INSTALL_HINT, MotoServer, StartError, moto, moto_server_path};
pub use process::Watched;
pub use sqs::{queue_attribute, string_attribute};
pub use stack::MotoStack;

/// Region every test resource lives in.
pub const REGION: &str = "us-east-1";

/// Whether this is a CI run (`CI` set to anything but empty, `0` or `false`):
/// there a missing emulator fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"))
}

/// Root of the cargo workspace (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// A unique resource name: `prefix-<32 hex digits>` (46 characters for a
/// 13-character prefix, within every SQS, SNS and DynamoDB limit once `.fifo`
/// is added).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A directory under the system's temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<tmp>/<prefix>-<uuid>`.
    pub fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Instantiates each `async fn case(&Backends)` twice: in `mod embedded` on
/// the in-process emulators and in `mod moto` on the AWS SDK backends over
/// moto. Used by every suite that must hold on both.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        /// The embedded emulators, in process.
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let outbox = orders_tests::TempDir::new("backends-outbox");
                    let backends = orders_backends::backend::Backends::embedded(outbox.path().to_path_buf());
                    super::$case(&backends).await;
                }
            )+
        }

        /// The AWS SDK backends over moto.
        mod moto {
            $(
                #[tokio::test]
                async fn $case() {
                    let moto = orders_tests::require_moto!();
                    let backends = orders_backends::backend::Backends::aws(&moto.sdk_config());
                    super::$case(&backends).await;
                }
            )+
        }
    };
}
