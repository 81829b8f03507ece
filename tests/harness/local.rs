//! The `orders-local` binary, run as a child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::Watched;

/// Path of the `orders-local` binary these tests run: the one in the target
/// directory and profile they were built into, found from this test
/// executable's own path (`<target>/<profile>/deps/<test>`, which honours
/// `CARGO_TARGET_DIR`, `--target-dir` and the profile). `cargo test
/// --workspace` builds it; panics, naming the command that does, when it is
/// missing (as after `cargo test -p orders-tests` alone on a fresh target).
pub fn binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(locate).clone()
}

fn locate() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from <target>/<profile>/deps");
    let binary = profile_dir.join(format!("orders-local{}", std::env::consts::EXE_SUFFIX));
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => String::new(),
        Some("release") => " --release".to_owned(),
        Some(other) => format!(" --profile {other}"),
    };
    assert!(
        binary.is_file(),
        "{} is missing: build it with `cargo build -p orders-local{profile}` \
         (same target directory as the tests), or run the tests with \
         `cargo test --workspace`, which builds it",
        binary.display()
    );
    binary
}

/// A running `orders-local`, stopped on drop.
#[derive(Debug)]
pub struct LocalPipeline {
    /// The HTTP API's base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// The banner after the first line (resource URLs and ARNs).
    pub banner: Vec<String>,
    process: Watched,
}

impl LocalPipeline {
    /// Starts `orders-local --port 0` with `args` and waits for its
    /// `orders-local listening on URL` line.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut all = vec!["--host", "127.0.0.1", "--port", "0"];
        all.extend_from_slice(args);
        let mut process = Watched::spawn(&binary(), &all, envs, true).expect("spawn orders-local");
        let stdout = process.take_stdout().expect("piped stdout");
        // Read the banner on a thread: a pipeline that never prints must
        // fail the test after a timeout, not hang it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keep reading after the banner: a closed pipe would make the
            // pipeline's later prints fail.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "orders-local printed no first line; its log:\n{}",
                    process.log()
                )
            });
        let url = first
            .strip_prefix("orders-local listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .trim()
            .to_owned();
        let mut banner = Vec::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
            banner.push(line);
        }
        Self {
            url,
            banner,
            process,
        }
    }

    /// Its log (standard error) so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Stops it (SIGTERM, then SIGKILL after five seconds).
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Kills it with SIGKILL (`kill -9`: no drain, no summary) and waits
    /// until it is gone; its log stays readable. `false` when it had
    /// already exited.
    pub fn kill(&mut self) -> bool {
        self.process.kill_child()
    }
}
