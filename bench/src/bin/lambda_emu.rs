//! `lambda-emu`: a Lambda Runtime API emulator that runs one bootstrap binary
//! (or any command) the way Lambda does and measures it.
//!
//! It serves the runtime interface
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>) on
//! 127.0.0.1, starts the command with `AWS_LAMBDA_RUNTIME_API` pointing at it,
//! and reports, as one JSON line on stdout:
//!
//! - `init_ms`: from spawning the process to its first `GET .../invocation/next`
//!   (Lambda's init phase ends there);
//! - `first_ms`, `next20_median_ms`, `median_ms`: from handing an event to the
//!   waiting runtime to its `POST .../response`, for the first invocation after
//!   the cold start, the median of the 20 after it, and the median of all;
//! - `peak_rss_kb`: the process's `VmHWM` from `/proc/<pid>/status` after the
//!   last invocation (the peak resident set over its life);
//! - `errors`: invocations reported through `.../error`, and `unsuccessful`:
//!   responses that are an HTTP status >= 400 or carry `batchItemFailures`.
//!
//! Usage: `lambda-emu [--invocations N] [--event FILE] [--vary TEXT]...
//! [--env KEY=VALUE]... [--log FILE] [--timeout-secs S] -- COMMAND [ARG]...`
//! `--vary TEXT` replaces every occurrence of TEXT in the event with
//! `TEXT-<n>` for invocation n, so each invocation carries new order ids.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::{Mutex, mpsc};

/// What the runtime did, as seen by the emulator.
enum Signal {
    /// The runtime asked for the next event.
    Next(Instant),
    /// The runtime answered an invocation (`ok` is false for `.../error`).
    Done { ok: bool, body: Bytes, at: Instant },
    /// The runtime reported an init error.
    InitError(String),
}

/// State shared by the runtime API routes.
struct Api {
    events: Mutex<mpsc::Receiver<(String, String)>>,
    signals: mpsc::UnboundedSender<Signal>,
}

async fn next(State(api): State<Arc<Api>>) -> impl IntoResponse {
    let _ = api.signals.send(Signal::Next(Instant::now()));
    let event = api.events.lock().await.recv().await;
    let Some((id, body)) = event else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 30_000;
    let mut headers = HeaderMap::new();
    let pairs = [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0".to_owned(),
        ),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (StatusCode::OK, headers, body)
}

async fn response(State(api): State<Arc<Api>>, Path(_id): Path<String>, body: Bytes) -> StatusCode {
    let _ = api.signals.send(Signal::Done {
        ok: true,
        body,
        at: Instant::now(),
    });
    StatusCode::ACCEPTED
}

async fn error(State(api): State<Arc<Api>>, Path(_id): Path<String>, body: Bytes) -> StatusCode {
    let _ = api.signals.send(Signal::Done {
        ok: false,
        body,
        at: Instant::now(),
    });
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<Arc<Api>>, body: Bytes) -> StatusCode {
    let _ = api.signals.send(Signal::InitError(
        String::from_utf8_lossy(&body).into_owned(),
    ));
    StatusCode::ACCEPTED
}

/// Parsed command line.
struct Args {
    invocations: usize,
    event: String,
    vary: Vec<String>,
    env: Vec<(String, String)>,
    log: Option<String>,
    timeout: Duration,
    command: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        invocations: 0,
        event: "{}".to_owned(),
        vary: Vec::new(),
        env: Vec::new(),
        log: None,
        timeout: Duration::from_secs(60),
        command: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if arg == "--" {
            args.command = it.by_ref().collect();
            break;
        }
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--invocations" => {
                args.invocations = value()?
                    .parse()
                    .map_err(|e| format!("--invocations: {e}"))?;
            }
            "--event" => {
                let path = value()?;
                args.event =
                    std::fs::read_to_string(&path).map_err(|e| format!("--event {path}: {e}"))?;
            }
            "--vary" => args.vary.push(value()?),
            "--env" => {
                let pair = value()?;
                let (k, v) = pair.split_once('=').ok_or("--env wants KEY=VALUE")?;
                args.env.push((k.to_owned(), v.to_owned()));
            }
            "--log" => args.log = Some(value()?),
            "--timeout-secs" => {
                let secs: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--timeout-secs: {e}"))?;
                args.timeout = Duration::from_secs(secs);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.command.is_empty() {
        return Err("usage: lambda-emu [options] -- COMMAND [ARG]...".to_owned());
    }
    Ok(args)
}

/// The peak resident set of a live process, in KiB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

/// Whether a function's answer reports a failure without an error call: an
/// HTTP status >= 400 (intake) or a partial batch failure (worker, notifier).
fn unsuccessful(body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let status = value.get("statusCode").and_then(serde_json::Value::as_u64);
    let failures = value
        .get("batchItemFailures")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|failures| !failures.is_empty());
    status.is_some_and(|s| s >= 400) || failures
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 0 {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// The function's process: killed and reaped when dropped, so no run leaves
/// one behind.
struct Reaper(std::process::Child);

impl Reaper {
    /// The runtime's next signal, or an error when the process exits or
    /// `timeout` passes first.
    async fn next_signal(
        &mut self,
        signals: &mut mpsc::UnboundedReceiver<Signal>,
        timeout: Duration,
    ) -> Result<Signal, String> {
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout(Duration::from_millis(50), signals.recv()).await {
                Ok(Some(signal)) => return Ok(signal),
                Ok(None) => return Err("runtime API stopped".to_owned()),
                Err(_) => {}
            }
            if let Ok(Some(status)) = self.0.try_wait() {
                return Err(format!("the function exited: {status}"));
            }
            if Instant::now() > deadline {
                return Err(format!("no answer within {timeout:?}"));
            }
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(line) => {
            println!("{line}");
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("lambda-emu: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<serde_json::Value, String> {
    let args = parse_args()?;
    let (event_tx, event_rx) = mpsc::channel::<(String, String)>(1);
    let (signal_tx, mut signals) = mpsc::unbounded_channel();
    let api = Arc::new(Api {
        events: Mutex::new(event_rx),
        signals: signal_tx,
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("local addr: {e}"))?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let output = || -> Result<Stdio, String> {
        match &args.log {
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(Stdio::from)
                .map_err(|e| format!("--log {path}: {e}")),
            None => Ok(Stdio::null()),
        }
    };
    let mut command = std::process::Command::new(&args.command[0]);
    command
        .args(&args.command[1..])
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .envs(args.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(output()?)
        .stderr(output()?);

    let started = Instant::now();
    let child = command
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", args.command[0]))?;
    let pid = child.id();
    let mut child = Reaper(child);

    let first_next = loop {
        match child.next_signal(&mut signals, args.timeout).await? {
            Signal::Next(at) => break at,
            Signal::InitError(body) => return Err(format!("init error: {body}")),
            Signal::Done { .. } => {}
        }
    };
    let init = first_next - started;

    let mut durations = Vec::with_capacity(args.invocations);
    let mut errors = 0usize;
    let mut failed = 0usize;
    for n in 0..args.invocations {
        let mut event = args.event.clone();
        for text in &args.vary {
            event = event.replace(text.as_str(), &format!("{text}-{n}"));
        }
        let handed = Instant::now();
        event_tx
            .send((format!("bench-{n:06}"), event))
            .await
            .map_err(|_| "runtime API stopped")?;
        let done = loop {
            match child.next_signal(&mut signals, args.timeout).await? {
                Signal::Done { ok, body, at } => {
                    if !ok {
                        errors += 1;
                    } else if unsuccessful(&body) {
                        failed += 1;
                        if failed == 1 {
                            eprintln!(
                                "lambda-emu: unsuccessful: {}",
                                String::from_utf8_lossy(&body)
                            );
                        }
                    }
                    break at;
                }
                Signal::Next(_) | Signal::InitError(_) => {}
            }
        };
        durations.push(ms(done - handed));
    }
    // Let the runtime reach its next /next, so the peak includes the whole loop.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let peak = peak_rss_kb(pid);
    drop(child);

    let next20: Vec<f64> = durations.iter().skip(1).take(20).copied().collect();
    Ok(serde_json::json!({
        "init_ms": ms(init),
        "invocations": durations.len(),
        "first_ms": durations.first(),
        "next20_median_ms": median(&next20),
        "median_ms": median(&durations),
        "peak_rss_kb": peak,
        "errors": errors,
        "unsuccessful": failed,
    }))
}
