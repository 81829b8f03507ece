//! The command line: flags, subcommands, and running one of them.

use std::io::Write;

use clap::{Args as ClapArgs, Parser, Subcommand};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{OpsError, OpsResult};
use crate::pace::Rate;
use crate::peek::Stage;
use crate::redrive::{Method, RedriveOptions};
use crate::render::Style;
use crate::renotify::Selection;
use crate::target::{Clients, Target};

/// Operates the order pipeline: what is queued and failing, what is in the
/// dead-letter queues and why, and moving or re-announcing it once the cause
/// is fixed. Targets a deployed stack (`--stack`) or `orders-local`'s
/// resources on any endpoint (`--endpoint-url` with `--name-prefix`).
/// infra/RUNBOOK.md says which command answers which alarm.
#[derive(Debug, Parser)]
#[command(name = "orders-ops", version)]
pub struct Cli {
    /// The deployed stack whose outputs name the queues, table and topic.
    #[arg(
        long,
        global = true,
        env = "ORDERS_STACK",
        conflicts_with = "name_prefix"
    )]
    pub stack: Option<String>,
    /// An AWS-compatible endpoint (moto, LocalStack) instead of AWS's own.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// The resource name prefix `orders-local --name-prefix` used.
    #[arg(long, global = true)]
    pub name_prefix: Option<String>,
    /// Region (default: the SDK's, from AWS_REGION or the profile).
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Print JSON for scripts instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Per stage: queue depth, in-flight, age of the oldest message, DLQ
    /// depth and alarm states.
    Status,
    /// Look at or move a dead-letter queue's messages.
    Dlq {
        /// What to do with it.
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Publish OrderCreated again from the table (past the stream's 24 hours);
    /// consumers drop repeats by eventId.
    Renotify {
        /// Which orders.
        #[command(flatten)]
        select: RenotifyArgs,
        /// Events published per second at most, spread evenly. 50/s is the
        /// orders API's own default rate (ApiThrottleRateLimit): consumers
        /// sized for everyday traffic keep up with a mass re-announce. It is
        /// also a small fraction of SNS's Publish quota (30,000/s in
        /// us-east-1, less in smaller Regions), which the live notifier
        /// shares. A whole number, at least 1.
        #[arg(long, default_value_t = Rate::DEFAULT, allow_negative_numbers = true)]
        rate: Rate,
    },
    /// Stored orders.
    Order {
        /// What to do.
        #[command(subcommand)]
        action: OrderAction,
    },
}

/// `dlq` subcommands.
#[derive(Debug, Subcommand)]
pub enum DlqAction {
    /// Each message's failure reason, stage, order id, correlation id and
    /// age; moves nothing.
    Peek {
        /// Which DLQ.
        stage: Stage,
        /// At most this many messages.
        #[arg(short = 'n', long = "max", default_value_t = 10)]
        n: usize,
        /// Also print message bodies (a worker DLQ body holds the customer's
        /// name and address).
        #[arg(long)]
        show_personal_data: bool,
    },
    /// Move the messages back once their cause is fixed. worker: to the
    /// orders queue (SQS's move task where the endpoint has it, else
    /// message by message). notifier: read each failed range from the stream
    /// again and publish it through the notifier's handler; a range the
    /// stream no longer holds is re-announced from the table by its arrival
    /// window (as `renotify --since/--until`), or the command that does it
    /// is printed.
    Redrive {
        /// Which DLQ.
        stage: Stage,
        /// Count what would move; move nothing.
        #[arg(long)]
        dry_run: bool,
        /// Move at most this many (worker; message by message).
        #[arg(long)]
        max: Option<u64>,
        /// notifier: events published per second at most, replayed and
        /// re-announced alike, spread evenly (default 50). 50/s is the orders API's own default rate
        /// (ApiThrottleRateLimit): consumers sized for everyday traffic keep
        /// up with a mass replay. It is also a small fraction of SNS's
        /// Publish quota (30,000/s in us-east-1, less in smaller Regions),
        /// which the live notifier shares. A whole number, at least 1.
        #[arg(long, allow_negative_numbers = true)]
        rate: Option<Rate>,
    },
}

/// `renotify` flags.
#[derive(Debug, ClapArgs)]
#[group(required = true, multiple = true)]
pub struct RenotifyArgs {
    /// One order: its id (the anonymous owner's order, with the API open),
    /// or `<owner>#<orderId>` as dead letters, events and e-mails name it.
    #[arg(long, conflicts_with_all = ["since", "until"])]
    pub order: Option<String>,
    /// Orders created at or after this instant (RFC 3339, e.g. 2026-11-24T00:00:00Z).
    #[arg(long, requires = "until")]
    pub since: Option<String>,
    /// Orders created before this instant (RFC 3339).
    #[arg(long, requires = "since")]
    pub until: Option<String>,
}

/// `order` subcommands.
#[derive(Debug, Subcommand)]
pub enum OrderAction {
    /// Status and timestamps of one stored order.
    Show {
        /// The order: its id (the anonymous owner's order, with the API
        /// open), or `<owner>#<orderId>` as dead letters, events and
        /// e-mails name it.
        id: String,
        /// Also print the customer's name, e-mail and address.
        #[arg(long)]
        show_personal_data: bool,
    },
}

/// The SDK configuration: the default chain, with `--region` and
/// `--endpoint-url` when given (see
/// [`endpoint_sdk_config`](orders_backends::sdk::endpoint_sdk_config)); a
/// region is required.
pub async fn sdk_config(cli: &Cli) -> OpsResult<aws_config::SdkConfig> {
    let sdk = orders_backends::sdk::endpoint_sdk_config(
        cli.endpoint_url.as_deref(),
        cli.region.as_deref(),
    )
    .await;
    if sdk.region().is_none() {
        return Err(OpsError::Invalid(
            "no region: give --region or set AWS_REGION".to_owned(),
        ));
    }
    Ok(sdk)
}

fn parse_instant(flag: &str, text: &str) -> OpsResult<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        OpsError::Invalid(format!(
            "{flag} {text:?} is not an RFC 3339 instant (e.g. 2026-11-24T00:00:00Z)"
        ))
    })
}

/// What renotify is asked for.
pub fn selection(args: &RenotifyArgs) -> OpsResult<Selection> {
    match (&args.order, &args.since, &args.until) {
        (Some(id), None, None) => Ok(Selection::Order(id.clone())),
        (None, Some(since), Some(until)) => {
            let (since, until) = (
                parse_instant("--since", since)?,
                parse_instant("--until", until)?,
            );
            if since >= until {
                return Err(OpsError::Invalid(
                    "--since must be before --until".to_owned(),
                ));
            }
            Ok(Selection::Created { since, until })
        }
        _ => Err(OpsError::Invalid(
            "give --order ID, or --since T with --until T".to_owned(),
        )),
    }
}

/// Writes `value` as JSON or `lines` as text to standard output.
fn emit<T: Serialize>(json: bool, value: &T, lines: impl FnOnce() -> Vec<String>) -> OpsResult<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::other)?;
        writeln!(out)?;
    } else {
        for line in lines() {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// Refuses a flag given to the stage it does not apply to, before any call.
pub fn check_stage_flags(command: &Command) -> OpsResult<()> {
    match command {
        Command::Dlq {
            action:
                DlqAction::Redrive {
                    stage: Stage::Worker,
                    rate: Some(_),
                    ..
                },
        } => Err(OpsError::Invalid(
            "--rate applies to the notifier DLQ, which publishes; the worker DLQ's \
             messages go back to the orders queue"
                .to_owned(),
        )),
        Command::Dlq {
            action:
                DlqAction::Redrive {
                    stage: Stage::Notifier,
                    max: Some(_),
                    ..
                },
        } => Err(OpsError::Invalid(
            "--max applies to the worker DLQ; the notifier DLQ is replayed whole".to_owned(),
        )),
        _ => Ok(()),
    }
}

/// The command line that reaches the same target as `cli`, for commands a
/// report asks the operator to run: the target flags spelled out, since they
/// may have come from the environment.
pub fn ops_command(cli: &Cli) -> String {
    let mut command = "orders-ops".to_owned();
    for (flag, value) in [
        ("--stack", &cli.stack),
        ("--endpoint-url", &cli.endpoint_url),
        ("--name-prefix", &cli.name_prefix),
        ("--region", &cli.region),
    ] {
        if let Some(value) = value {
            command.push_str(&format!(" {flag} {value}"));
        }
    }
    command
}

/// Resolves the target and runs the command.
pub async fn run(cli: Cli) -> OpsResult<()> {
    check_stage_flags(&cli.command)?;
    let ops_command = ops_command(&cli);
    let sdk = sdk_config(&cli).await?;
    let clients = Clients::new(&sdk);
    let target = match (&cli.stack, &cli.name_prefix) {
        (Some(stack), _) => Target::from_stack(&clients, stack).await?,
        (None, Some(prefix)) => {
            let endpoint = cli.endpoint_url.as_deref().unwrap_or("AWS");
            Target::from_prefix(&clients, endpoint, prefix).await?
        }
        (None, None) => return Err(OpsError::NoTarget),
    };
    let style = Style::detect();
    match cli.command {
        Command::Status => {
            let status = crate::status::status(&clients, &target).await?;
            emit(cli.json, &status, || crate::status::lines(&status, style))
        }
        Command::Dlq {
            action:
                DlqAction::Peek {
                    stage,
                    n,
                    show_personal_data,
                },
        } => {
            let url = dlq_url(&target, stage);
            let peeked = crate::peek::peek(&clients, stage, url, n, show_personal_data).await?;
            emit(cli.json, &peeked, || {
                crate::peek::lines(stage, url, &peeked)
            })
        }
        Command::Dlq {
            action:
                DlqAction::Redrive {
                    stage: Stage::Worker,
                    dry_run,
                    max,
                    rate: _,
                },
        } => {
            let report = crate::redrive::redrive(
                &clients,
                &target.worker_dlq_url,
                &target.orders_queue_url,
                RedriveOptions { dry_run, max },
            )
            .await?;
            emit(cli.json, &report, || {
                let mut lines = Vec::new();
                if let Some(reason) = &report.fallback_reason {
                    lines.push(format!("moving message by message: {reason}"));
                }
                lines.push(match report.method {
                    Method::DryRun => format!(
                        "dry run: would move {} of {} message(s) to the orders queue",
                        report.moved, report.found
                    ),
                    _ => format!(
                        "moved {} message(s) to the orders queue{}",
                        report.moved,
                        if report.interrupted {
                            " (interrupted: run it again to go on)"
                        } else {
                            ""
                        }
                    ),
                });
                lines
            })
        }
        Command::Dlq {
            action:
                DlqAction::Redrive {
                    stage: Stage::Notifier,
                    dry_run,
                    max: _,
                    rate,
                },
        } => {
            let report = if dry_run {
                let peeked = crate::peek::peek(
                    &clients,
                    Stage::Notifier,
                    &target.notifier_dlq_url,
                    usize::MAX,
                    false,
                )
                .await?;
                return emit(cli.json, &peeked, || {
                    let mut lines = vec![format!(
                        "dry run: would replay {} message(s):",
                        peeked.len()
                    )];
                    lines.extend(
                        crate::peek::lines(Stage::Notifier, &target.notifier_dlq_url, &peeked)
                            .into_iter()
                            .skip(1),
                    );
                    lines
                });
            } else {
                let topic_arn = target.topic_arn(&clients).await?;
                let backends = orders_backends::backend::Backends::aws(&sdk);
                let deps = crate::replay::replay_deps(backends.topics.event_publisher(&topic_arn));
                let orders = crate::renotify::TableOrders {
                    clients: &clients,
                    table: &target.table,
                };
                crate::replay::replay_notifier_dlq_at(
                    backends.queues.as_ref(),
                    backends.tables.as_ref(),
                    &target.notifier_dlq_url,
                    &deps,
                    &crate::replay::fallback::Fallback {
                        orders: &orders,
                        table: &target.table,
                        ops_command: &ops_command,
                        rate: rate.unwrap_or(Rate::DEFAULT),
                    },
                )
                .await?
            };
            emit(cli.json, &report, || report.lines())
        }
        Command::Renotify { select, rate } => {
            let selection = selection(&select)?;
            let topic_arn = target.topic_arn(&clients).await?;
            let items = crate::renotify::select(&clients, &target.table, &selection).await?;
            let backends = orders_backends::backend::Backends::aws(&sdk);
            let deps = crate::replay::replay_deps(backends.topics.event_publisher(&topic_arn));
            let report = crate::renotify::renotify(&deps, &target.table, &items, rate).await;
            emit(cli.json, &report, || {
                let mut lines = vec![format!(
                    "published {} OrderCreated event(s) again; failed {}, unreadable {}",
                    report.published.len(),
                    report.failed.len(),
                    report.unreadable.len()
                )];
                for (list, ids) in [
                    ("published", &report.published),
                    ("failed", &report.failed),
                    ("unreadable", &report.unreadable),
                ] {
                    lines.extend(ids.iter().map(|id| format!("  {list}: {id}")));
                }
                lines
            })?;
            if report.failed.is_empty() && report.unreadable.is_empty() {
                Ok(())
            } else {
                Err(OpsError::Invalid(format!(
                    "{} order(s) not published again: fix the cause and run it again",
                    report.failed.len() + report.unreadable.len()
                )))
            }
        }
        Command::Order {
            action:
                OrderAction::Show {
                    id,
                    show_personal_data,
                },
        } => {
            let view = crate::order::show(&clients, &target.table, &id, show_personal_data).await?;
            emit(cli.json, &view, || view.lines())
        }
    }
}

fn dlq_url(target: &Target, stage: Stage) -> &str {
    match stage {
        Stage::Worker => &target.worker_dlq_url,
        Stage::Notifier => &target.notifier_dlq_url,
    }
}

#[cfg(test)]
mod tests;
