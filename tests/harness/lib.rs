//! Test harness of the integration tests: a moto server on a free loopback port,
//! an `SdkConfig` pointing at it, and unique resource names.
//!
//! One moto server is shared by every test of a test binary ([`moto`]). It never
//! outlives the binary: moto runs under a small `sh` watchdog whose standard
//! input is a pipe held by the test process. When the test process closes the
//! pipe ([`MotoServer`]'s `Drop`) or dies in any way (the kernel closes its
//! descriptors), the watchdog reads end-of-file and stops moto. A static is
//! never dropped, which is why the pipe, not `Drop`, is the guarantee.
//!
//! Where to find moto: `$MOTO_SERVER`, else `<workspace>/.venv/moto/bin/moto_server`
//! (both set up by `make .venv/moto/.installed`). Under `CI=true` a missing
//! moto fails the test; elsewhere the test prints how to get it and skips.

// Test support code: a failed set-up must stop the test with its reason, as a
// test's own `unwrap` would.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};

/// Region every test resource lives in.
pub const REGION: &str = "us-east-1";

/// How to install moto, printed when it is missing.
pub const INSTALL_HINT: &str =
    "run `make .venv/moto/.installed` (or set MOTO_SERVER to a moto_server executable)";

/// How long moto may take to answer after it is spawned (a cold Python import on
/// a busy two-core machine takes several seconds).
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs a command in the background and stops it when standard input reaches
/// end-of-file: `$1` is the log file (standard error, and standard output
/// unless `$2` is `keep-stdout`), the rest is the command line. TERM first,
/// KILL after five seconds, then the log is removed.
const WATCHDOG: &str = r#"log=$1; stdout=$2; shift 2
if [ "$stdout" = keep-stdout ]; then
  "$@" </dev/null 2>"$log" &
else
  "$@" </dev/null >"$log" 2>&1 &
fi
pid=$!
exec >/dev/null
cat >/dev/null
kill -TERM "$pid" 2>/dev/null
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL "$pid" 2>/dev/null
wait "$pid"
rm -f "$log"
"#;

/// A child process that cannot outlive the test process: it runs under an
/// `sh` watchdog whose standard input is a pipe only this process holds.
/// Dropping it (or this process dying) closes the pipe, and the watchdog
/// stops the child. Its standard error (and standard output, unless taken
/// with [`Watched::take_stdout`]) goes to a log file removed at the end.
#[derive(Debug)]
pub struct Watched {
    watchdog: Child,
    pipe: Option<ChildStdin>,
    log: PathBuf,
    /// The child's file name, to find it among the watchdog's children.
    program: String,
}

impl Watched {
    /// Spawns `program args` with extra environment `envs`. With
    /// `keep_stdout`, the child's standard output is a pipe to this process.
    pub fn spawn<I, S>(
        program: &Path,
        args: I,
        envs: &[(&str, &str)],
        keep_stdout: bool,
    ) -> std::io::Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let log = std::env::temp_dir().join(format!(
            "{}.log",
            unique_name(&format!("orders-tests-{}", std::process::id()))
        ));
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg("orders-tests-watchdog")
            .arg(&log)
            .arg(if keep_stdout {
                "keep-stdout"
            } else {
                "log-stdout"
            })
            .arg(program)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(if keep_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::null());
        // Its own process group, so a stuck child can be killed with everything
        // it started, and a terminal's Ctrl-C reaches the test, not the child.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut watchdog = command.spawn()?;
        let pipe = watchdog.stdin.take();
        Ok(Self {
            watchdog,
            pipe,
            log,
            program: program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
    }

    /// Kills the child with SIGKILL, as a crash or `kill -9` would (no
    /// signal handler runs, nothing is drained), and waits until it is gone.
    /// The watchdog stays until [`Watched::stop`] or drop, so the log stays
    /// readable. The child is found as the watchdog's child process (the
    /// watchdog's `sh` runs it directly, `"$@" &`) named like the program;
    /// `false` when there is none (it already exited).
    pub fn kill_child(&mut self) -> bool {
        let watchdog = self.watchdog.id();
        // /proc/<pid>/comm holds at most 15 bytes of the name.
        let comm: String = self.program.chars().take(15).collect();
        let Some(pid) = proc_children(watchdog)
            .into_iter()
            .find(|(_, name, _)| *name == comm)
            .map(|(pid, _, _)| pid)
        else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Gone, or a zombie until the watchdog reaps it: either way it holds
        // no port and runs no code.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match proc_stat(pid) {
                None | Some((_, _, 'Z')) => return true,
                Some(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        panic!("process {pid} survived SIGKILL for 10 s");
    }

    /// The child's standard output (once; `None` unless spawned with `keep_stdout`).
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.watchdog.stdout.take()
    }

    /// The log so far (standard error, and standard output unless kept).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the watchdog is still running (it exits only after the child).
    pub fn is_running(&mut self) -> bool {
        matches!(self.watchdog.try_wait(), Ok(None))
    }

    /// Stops the child and waits for it (idempotent).
    pub fn stop(&mut self) {
        // End-of-file on the pipe: the watchdog terminates the child.
        drop(self.pipe.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.watchdog.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The watchdog itself is stuck: kill its whole process group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.watchdog.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.watchdog.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// (parent pid, command name, state) of a process, from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(u32, String, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …"; the name may hold spaces and parentheses.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((ppid, name, state))
}

/// (pid, command name, state) of the live children of `parent`.
fn proc_children(parent: u32) -> Vec<(u32, String, char)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (ppid, name, state) = proc_stat(pid)?;
            (ppid == parent && state != 'Z').then_some((pid, name, state))
        })
        .collect()
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.stop();
    }
}

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

/// Where moto is expected: `$MOTO_SERVER`, else the project's virtual environment.
pub fn moto_server_path() -> PathBuf {
    match std::env::var_os("MOTO_SERVER") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join(".venv/moto/bin/moto_server"),
    }
}

/// A unique resource name: `prefix-<32 hex digits>` (46 characters for a
/// 13-character prefix, within every SQS, SNS and DynamoDB limit once `.fifo`
/// is added).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
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

/// The old system's request body, accepted by intake as is.
pub const LEGACY_BODY: &str = r#"{"orderID":"23214","customerName":"Harry Kane","items":[{"itemId":"item456","quantity":22}],"shippingAddress":"11 Nguyen Van Linh, Hanoi, Vietnam"}"#;

/// Test data: orders, messages, items and events built through the domain's
/// own constructors, so they are valid by construction.
pub mod fixtures {
    use adapters::ports::OutgoingOrder;
    use adapters::record::StoredOrder;
    use orders_domain::contract::{CorrelationId, OrderCreated, OrderMessage};
    use orders_domain::domain::OrderRequest;
    use time::OffsetDateTime;

    /// A queue message for the legacy body with this order id, customer name
    /// and quantity (a different name or quantity changes the content hash).
    pub fn order_message(order_id: &str, customer: &str, quantity: u32) -> OrderMessage {
        let body = serde_json::json!({
            "orderID": order_id,
            "customerName": customer,
            "items": [{"itemId": "item456", "quantity": quantity}],
            "shippingAddress": "11 Nguyen Van Linh, Hanoi, Vietnam",
        });
        let request = OrderRequest::from_json(&body).expect("a valid legacy body");
        OrderMessage::new(
            request.order_id.expect("the body has an orderID"),
            CorrelationId::parse(&format!("corr-{order_id}")).expect("a valid correlation id"),
            OffsetDateTime::now_utc(),
            request.order,
        )
    }

    /// The message routed to `group`, deduplicated by `dedup`.
    pub fn outgoing(message: OrderMessage, group: &str, dedup: &str) -> OutgoingOrder {
        OutgoingOrder {
            message,
            group_id: group.to_owned(),
            dedup_id: dedup.to_owned(),
        }
    }

    /// The item the worker would store for this message.
    pub fn stored_order(message: &OrderMessage) -> StoredOrder {
        StoredOrder::from_message(message, OffsetDateTime::now_utc())
    }

    /// The event the notifier would publish for this stored order.
    pub fn order_created(stored: &StoredOrder) -> OrderCreated {
        OrderCreated::new(
            stored.order_id.clone(),
            stored.correlation_id.clone(),
            stored.accepted_at,
            stored.created_at,
            &stored.order,
        )
    }
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

/// One attribute of a queue (`QueueArn`, `ApproximateNumberOfMessages`, ...).
pub async fn queue_attribute(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    name: aws_sdk_sqs::types::QueueAttributeName,
) -> Option<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .ok()?
        .attributes?
        .remove(&name)
}

/// A string message attribute of a message received with the SQS SDK.
pub fn string_attribute(message: &aws_sdk_sqs::types::Message, name: &str) -> Option<String> {
    message
        .message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .map(str::to_owned)
}

/// Helpers over the local runner's service traits, shared by the contract
/// suite and the end-to-end tests.
pub mod services {
    use std::time::{Duration, Instant};

    use aws_lambda_events::event::dynamodb::EventRecord;
    use orders_local::backend::{QueueService, ReceivedMessage, StreamReader};

    /// Receives (and deletes) until `want` messages arrived or `within`
    /// passed; returns what arrived, in order.
    pub async fn drain(
        queues: &dyn QueueService,
        url: &str,
        want: usize,
        within: Duration,
    ) -> Vec<ReceivedMessage> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < want && Instant::now() < deadline {
            let batch = queues
                .receive(url, 10, Duration::from_secs(1))
                .await
                .expect("receive");
            for message in batch {
                queues
                    .delete(url, &message.receipt_handle)
                    .await
                    .expect("delete");
                got.push(message);
            }
        }
        got
    }

    /// Reads the stream until `want` records arrived or `within` passed.
    pub async fn read_stream(
        reader: &mut dyn StreamReader,
        want: usize,
        within: Duration,
    ) -> Vec<EventRecord> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < want && Instant::now() < deadline {
            let batch = reader
                .next_records(want - got.len())
                .await
                .expect("read the stream");
            if batch.is_empty() {
                reader.wait_for_records(Duration::from_millis(200)).await;
            }
            got.extend(batch);
        }
        got
    }
}

/// The `orders-local` binary, run as a child process.
pub mod local {
    use std::io::{BufRead, BufReader};
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::OnceLock;
    use std::time::Duration;

    use crate::{Watched, workspace_root};

    /// Path of `orders-local` in the target directory these tests were built
    /// into, built first (`cargo build -p orders-local`, a no-op when fresh)
    /// so a stale binary is never tested. The directory comes from this test
    /// executable's own path (`<target>/<profile>/deps/<test>`), which honours
    /// `CARGO_TARGET_DIR`, `--target-dir` and the profile.
    pub fn binary() -> PathBuf {
        static BINARY: OnceLock<PathBuf> = OnceLock::new();
        BINARY.get_or_init(build).clone()
    }

    fn build() -> PathBuf {
        let exe = std::env::current_exe().expect("the test executable's path");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("tests run from <target>/<profile>/deps")
            .to_path_buf();
        let target_dir = profile_dir
            .parent()
            .expect("<target>/<profile>")
            .to_path_buf();
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(other) => other.to_owned(),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(workspace_root())
            .args([
                "build",
                "--quiet",
                "-p",
                "orders-local",
                "--bin",
                "orders-local",
            ])
            .args(["--profile", &profile])
            .arg("--target-dir")
            .arg(&target_dir)
            .status()
            .expect("run cargo build -p orders-local");
        assert!(status.success(), "cargo build -p orders-local failed");
        let binary = profile_dir.join("orders-local");
        assert!(binary.is_file(), "{} was not built", binary.display());
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
            let mut process =
                Watched::spawn(&binary(), &all, envs, true).expect("spawn orders-local");
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
}
