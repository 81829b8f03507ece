//! The moto server: one per test binary, on a free loopback port ([`moto`]),
//! run as a [`Watched`] child so it never outlives the binary, and an
//! `SdkConfig` pointing at it.
//!
//! Where to find moto: `$MOTO_SERVER`, else `<workspace>/.venv/moto/bin/moto_server`
//! (both set up by `make .venv/moto/.installed`). Under `CI=true` a missing
//! moto fails the test; elsewhere the test prints how to get it and skips.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};

use crate::{REGION, Watched, in_ci, workspace_root};

/// How to install moto, printed when it is missing.
pub const INSTALL_HINT: &str =
    "run `make .venv/moto/.installed` (or set MOTO_SERVER to a moto_server executable)";

/// How long moto may take to answer after it is spawned (a cold Python import on
/// a busy two-core machine takes several seconds).
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Where moto is expected: `$MOTO_SERVER`, else the project's virtual environment.
pub fn moto_server_path() -> PathBuf {
    match std::env::var_os("MOTO_SERVER") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join(".venv/moto/bin/moto_server"),
    }
}

/// Why moto could not be started.
#[derive(Debug)]
pub enum StartError {
    /// No executable at the expected path.
    Missing(PathBuf),
    /// It was found but did not come up.
    Failed(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(path) => write!(
                f,
                "moto_server not found at {}: {INSTALL_HINT}",
                path.display()
            ),
            Self::Failed(reason) => write!(f, "moto_server did not start: {reason}"),
        }
    }
}

/// A running moto server on `127.0.0.1`, stopped on drop or when the test
/// process exits.
#[derive(Debug)]
pub struct MotoServer {
    endpoint: String,
    process: Watched,
}

impl MotoServer {
    /// Starts moto, honouring `CI`: `None` (after printing how to install it)
    /// when moto is missing outside CI. Panics when it is missing under CI or
    /// does not come up.
    pub fn start() -> Option<Self> {
        match Self::try_start() {
            Ok(server) => Some(server),
            Err(StartError::Missing(path)) if !in_ci() => {
                announce_skip(&path);
                None
            }
            Err(err) => panic!("{err}"),
        }
    }

    /// Starts moto on a free loopback port and waits until it answers HTTP.
    pub fn try_start() -> Result<Self, StartError> {
        let program = moto_server_path();
        if !program.is_file() {
            return Err(StartError::Missing(program));
        }
        // Another process may take the port between our probe and moto's bind:
        // then moto exits and we try again on another port.
        let mut last = String::new();
        for _ in 0..3 {
            match Self::spawn_on_free_port(&program) {
                Ok(server) => return Ok(server),
                Err(reason) => last = reason,
            }
        }
        Err(StartError::Failed(last))
    }

    fn spawn_on_free_port(program: &Path) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let process = Watched::spawn(
            program,
            ["-H", "127.0.0.1", "-p", &port.to_string()],
            &[],
            false,
        )
        .map_err(|e| format!("cannot run /bin/sh: {e}"))?;
        let mut server = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            process,
        };
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if answers_http(address) {
                return Ok(server);
            }
            let log = server.process.log();
            if !server.process.is_running()
                || log.contains("Address already in use")
                || Instant::now() > deadline
            {
                server.stop();
                return Err(format!(
                    "no answer on {address} after {READY_TIMEOUT:?}; moto's log:\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The endpoint URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SDK configuration for this server: region `us-east-1`, static dummy
    /// credentials, the endpoint URL and a 60-second operation timeout (a hung
    /// emulator fails a test instead of stalling the run). Build it inside the
    /// test's runtime: its HTTP connections belong to that runtime.
    pub fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "orders-tests",
            )))
            .endpoint_url(&self.endpoint)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .build()
    }

    /// Stops moto and waits for it (idempotent).
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

/// Says once per test binary that the moto tests are skipped and how to run
/// them. Written to the process's standard error directly: libtest captures
/// `eprintln!` of passing tests, and a skip must be visible.
fn announce_skip(path: &Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: moto_server not found at {}; {INSTALL_HINT} to run the tests that need moto (under CI=true this is a failure)",
            path.display()
        );
    });
}

fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Whether something on `address` answers an HTTP request.
fn answers_http(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// The moto server shared by the tests of this binary, started on first use.
/// `None` (after printing how to install moto) when moto is missing outside
/// CI; panics under CI or when moto does not come up.
pub fn moto() -> Option<&'static MotoServer> {
    static SERVER: OnceLock<Result<MotoServer, StartError>> = OnceLock::new();
    match SERVER.get_or_init(MotoServer::try_start) {
        Ok(server) => Some(server),
        Err(StartError::Missing(path)) if !in_ci() => {
            announce_skip(path);
            None
        }
        Err(err) => panic!("{err}"),
    }
}

/// The shared moto server, or return from the calling test (skipping it) when
/// moto is missing outside CI.
#[macro_export]
macro_rules! require_moto {
    () => {
        match $crate::moto() {
            Some(server) => server,
            None => return,
        }
    };
}
