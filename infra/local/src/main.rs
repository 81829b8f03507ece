//! `orders-local`: the order pipeline on this machine (`make run`).
//!
//! Parses flags, sets up logging (to stderr, so stdout carries the
//! machine-readable `orders-local listening on URL` first line and the
//! banner), builds the backends (embedded, or the SDK against
//! `--endpoint-url`), starts the pipeline and stops it cleanly on Ctrl-C or
//! SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use orders_backends::backend::Backends;
use orders_backends::embedded::{EMBEDDED_REGION, Embedded};
use orders_backends::sdk::endpoint_sdk_config;
use orders_local::gateway::authorizer::{PRINTED_USERS, TOKEN_PATH};
use orders_local::{LocalAuth, Pipeline, PipelineConfig, ResourceNames, TimeScale};

/// Runs the whole order pipeline locally: an emulated API Gateway HTTP API in
/// front of the intake, worker and notifier handlers that ship to Lambda, on
/// embedded SQS FIFO, DynamoDB Streams and SNS emulators, or on any
/// AWS-compatible endpoint.
#[derive(Debug, Parser)]
#[command(name = "orders-local", version)]
struct Args {
    /// Address the HTTP API listens on.
    #[arg(long, env = "ORDERS_LOCAL_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port the HTTP API listens on; 0 picks a free port (the first stdout
    /// line gives the bound URL).
    #[arg(long, env = "ORDERS_LOCAL_PORT", default_value_t = 3000)]
    port: u16,
    /// Use the AWS SDK against this endpoint (moto server, LocalStack, a real
    /// account's endpoint) instead of the embedded emulators. Resources are
    /// created if missing.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// Region for the SDK and the ARNs.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// Prefix of every resource name (queues, table, topic, function names);
    /// give each run against a shared endpoint its own.
    #[arg(
        long,
        env = "ORDERS_LOCAL_NAME_PREFIX",
        default_value = "orders-local-"
    )]
    name_prefix: String,
    /// How intake groups orders on the FIFO queue: `customer` or `order`.
    #[arg(long, env = "MESSAGE_GROUP_STRATEGY", default_value = "customer")]
    group_strategy: intake::GroupStrategy,
    /// Folder the embedded SNS writes the admin's e-mail notifications into;
    /// the embedded SES writes the customers' confirmations into its
    /// `customers` folder.
    #[arg(long, env = "ORDERS_LOCAL_OUTBOX", default_value = ".local/outbox")]
    outbox: PathBuf,
    /// E-mail address subscribed to the admin topic, which the admin digest
    /// sends one e-mail per batch of new orders to. Embedded: the outbox's
    /// recipient (default orders-team@example.com). With --endpoint-url: only
    /// subscribed when given (real SNS sends a confirmation mail).
    #[arg(long, env = "ORDERS_LOCAL_EMAIL")]
    email: Option<String>,
    /// How the HTTP API authorizes callers: `none` (open; every order has
    /// one owner) or `jwt` (a JWT authorizer: each user owns their orders,
    /// with tokens the runner prints and mints at POST /_local/token?user=NAME).
    #[arg(long, env = "ORDERS_LOCAL_AUTH", value_enum, default_value_t = LocalAuth::None)]
    auth: LocalAuth,
    /// TEST ONLY: multiply the deployed durations tests wait on (visibility
    /// timeout and the worker's backoff, FIFO dedup window, max record age,
    /// retry backoff, the admin digest's batching window) by this factor; function timeouts stay as deployed. Counts (maxReceiveCount, retries, batch sizes) are
    /// never scaled.
    #[arg(long, env = "ORDERS_LOCAL_TIME_SCALE", default_value_t = 1.0)]
    time_scale: f64,
    /// On Ctrl-C/SIGTERM, how long to let queued work finish, in seconds.
    #[arg(long, default_value_t = 10)]
    drain_timeout: u64,
    /// Run another mode instead of the pipeline (operations commands are in
    /// `orders-ops`).
    #[command(subcommand)]
    command: Option<Command>,
}

/// Modes other than running the pipeline.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// The chaos run: the whole pipeline on the embedded backends, careful
    /// clients posting distinct orders, seeded faults across every stage, and
    /// an independent ledger. The last line is the verdict; the exit status is
    /// non-zero when an accepted order was lost, stored twice or never
    /// announced.
    Chaos {
        /// Seed of the bodies, the faults and the retry delays.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Distinct orders to send.
        #[arg(long, default_value_t = 10_000)]
        orders: usize,
        /// Faults to inject in all.
        #[arg(long, default_value_t = 1_000)]
        faults: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
    },
    /// Benchmark yardstick: a bare HTTP server answering 202 to everything
    /// on --host/--port (what `make bench` compares the pipeline with).
    #[command(name = "bare-202", hide = true)]
    Yardstick,
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // The extra layer keeps the last orders and failures for `/` and
    // `/_local/status`, from the same outcome lines CloudWatch reads.
    orders_adapters::telemetry::init_with_layer(
        orders_adapters::telemetry::LogFormat::from_env(),
        std::io::stderr,
        orders_local::recent::layer(),
    );
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        return Err("--time-scale must be a positive number".into());
    }
    if let Some(Command::Chaos {
        seed,
        orders,
        faults,
        clients,
    }) = &args.command
    {
        let config = orders_local::chaos::ChaosConfig {
            seed: *seed,
            orders: *orders,
            faults: *faults,
            clients: (*clients).max(1),
            ..orders_local::chaos::ChaosConfig::default()
        };
        println!("chaos: seed={seed} orders={orders} faults={faults} clients={clients}: running");
        let report = orders_local::chaos::run(config).await?;
        for line in report.lines() {
            println!("{line}");
        }
        if !report.holds() {
            std::process::exit(1);
        }
        return Ok(());
    }
    if let Some(Command::Yardstick) = &args.command {
        orders_local::yardstick::serve(SocketAddr::new(args.host, args.port)).await?;
        return Ok(());
    }
    let time_scale = TimeScale(args.time_scale);
    let (backends, label, email) = match &args.endpoint_url {
        Some(endpoint) => (
            Backends::aws(&endpoint_sdk_config(Some(endpoint), Some(&args.region)).await),
            endpoint.clone(),
            args.email.clone(),
        ),
        None => (
            Embedded::new(args.outbox.clone(), args.time_scale).backends(),
            "embedded".to_owned(),
            Some(
                args.email
                    .clone()
                    .unwrap_or_else(|| "orders-team@example.com".to_owned()),
            ),
        ),
    };
    let config = PipelineConfig {
        bind: SocketAddr::new(args.host, args.port),
        names: ResourceNames::with_prefix(&args.name_prefix),
        group_strategy: args.group_strategy,
        time_scale,
        email,
        region: if args.endpoint_url.is_some() {
            args.region.clone()
        } else {
            EMBEDDED_REGION.to_owned()
        },
        backend_label: label.clone(),
        drain_timeout: Duration::from_secs(args.drain_timeout),
        auth: args.auth,
        ..PipelineConfig::default()
    };
    let pipeline = match Pipeline::start(config, backends).await {
        Ok(pipeline) => pipeline,
        Err(err) => {
            // One line with its causes, for the operator to act on (the
            // `?` would print the error's Debug form).
            let mut line = err.to_string();
            let mut cause = std::error::Error::source(&err);
            while let Some(source) = cause {
                line.push_str(": ");
                line.push_str(&source.to_string());
                cause = source.source();
            }
            eprintln!("orders-local: {line}");
            std::process::exit(1);
        }
    };
    let url = pipeline.url().to_owned();
    // First stdout line, machine-readable: test harnesses wait for it.
    println!("orders-local listening on {url}");
    let r = pipeline.resources();
    println!("  backend:   {label}");
    println!(
        "  queue:     {} (DLQ {})",
        r.orders_queue_url, r.orders_dlq_url
    );
    println!("  table:     {}   topic: {}", r.table, r.topic_arn);
    println!(
        "  events:    {}   notifier on-failure: {}",
        r.events_queue_url, r.on_failure_queue_url
    );
    println!(
        "  admin:     {} (digest queue {}, DLQ {})",
        r.admin_topic_arn, r.admin_digest_queue_url, r.admin_digest_dlq_url
    );
    println!(
        "  customers: confirmations from {} (queue {}, DLQ {})",
        r.ses_sender, r.confirmation_queue_url, r.confirmation_dlq_url
    );
    if args.endpoint_url.is_none() {
        println!(
            "  outbox:    {}   (the admin's e-mails: one per digest batch)",
            args.outbox.display()
        );
        println!(
            "             {}   (the customers' confirmations: one .eml per order with a customerEmail)",
            args.outbox.join("customers").display()
        );
    }
    println!("  page:      {url}/   (live view, open it in a browser)");
    println!("  status:    curl {url}/_local/status");
    println!("Try it:");
    let legacy = r#"{"orderID":"23214","customerName":"Harry Kane","items":[{"itemId":"item456","quantity":22}],"shippingAddress":"11 Nguyen Van Linh, Hanoi, Vietnam"}"#;
    match pipeline.mint_token(PRINTED_USERS[0]) {
        None => println!(
            "  curl -i -X POST {url}/orders -H 'Content-Type: application/json' -d '{legacy}'"
        ),
        Some(_) => {
            println!("  JWT authorizer on: each user owns their orders. Tokens (this run only):");
            for user in PRINTED_USERS {
                let token = pipeline.mint_token(user).unwrap_or_default();
                println!("    {user}: {token}");
            }
            println!("  more users: curl -s -X POST '{url}{TOKEN_PATH}?user=NAME'");
            println!(
                "  curl -i -X POST {url}/orders -H \"Authorization: Bearer $ALICE\" -H 'Content-Type: application/json' -d '{legacy}'"
            );
            println!(
                "  curl -i {url}/orders/23214 -H \"Authorization: Bearer $BOB\"   (404: not bob's order)"
            );
        }
    }
    println!(
        "Ctrl-C stops intake, drains queued work (up to {}s) and prints a summary.",
        args.drain_timeout
    );

    wait_for_signal().await;
    println!("stopping: intake closed, draining queued work…");
    let summary = pipeline.shutdown().await;
    for line in summary.lines() {
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_is_documented() {
        use clap::CommandFactory;
        Args::command().debug_assert();
        for arg in Args::command().get_arguments() {
            assert!(arg.get_help().is_some(), "{} has no help", arg.get_id());
        }
    }
}
