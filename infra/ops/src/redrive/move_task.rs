//! The redrive by SQS's own message move task (`StartMessageMoveTask`,
//! followed with `ListMessageMoveTasks`): SQS moves the messages itself, and
//! a task already running for the DLQ is followed instead of starting
//! another.

use std::time::Duration;

use aws_sdk_sqs::error::ProvideErrorMetadata;

use super::{Method, RedriveReport, arn};
use crate::error::{OpsError, OpsResult, aws};
use crate::render::Progress;
use crate::target::Clients;

/// How often a move task's progress is read.
const TASK_POLL: Duration = Duration::from_secs(2);

/// SQS's move task: starts one (or follows the one running) and waits for it
/// with a progress bar. Any error means "not here": the caller falls back.
pub(super) async fn move_task(
    clients: &Clients,
    dlq_url: &str,
    destination_url: &str,
    found: u64,
) -> OpsResult<RedriveReport> {
    let source_arn = arn(clients, dlq_url).await?;
    let destination_arn = arn(clients, destination_url).await?;
    let running = current_task(clients, &source_arn)
        .await
        .ok()
        .flatten()
        .filter(|t| t.status == "RUNNING");
    if running.is_none() {
        clients
            .sqs
            .start_message_move_task()
            .source_arn(&source_arn)
            .destination_arn(&destination_arn)
            // One try: an endpoint without move tasks answers 5xx, and the
            // fallback is as good as waiting for retries.
            .customize()
            .config_override(one_try())
            .send()
            .await
            .map_err(|err| {
                let denied = err.code().is_some_and(|c| c.contains("AccessDenied"));
                if denied {
                    return aws("sqs:StartMessageMoveTask", &source_arn)(err);
                }
                // Said in a few words: an emulator's answer can be a whole HTML page.
                let why = err.code().map(str::to_owned).unwrap_or_else(|| {
                    err.raw_response().map_or_else(
                        || "no answer".to_owned(),
                        |r| format!("HTTP {}", r.status()),
                    )
                });
                OpsError::Invalid(format!(
                    "the endpoint did not start a message move task ({why})"
                ))
            })?;
    }
    let mut progress = Progress::new("moved", found);
    loop {
        let Some(task) = current_task(clients, &source_arn).await? else {
            return Err(OpsError::NotFound {
                what: format!("a message move task for {source_arn}"),
            });
        };
        progress.set_total(task.moved, task.to_move.unwrap_or(found));
        match task.status.as_str() {
            "COMPLETED" => {
                progress.finish();
                return Ok(RedriveReport {
                    method: Method::MoveTask,
                    moved: task.moved,
                    found,
                    fallback_reason: None,
                    interrupted: false,
                });
            }
            "RUNNING" | "CANCELLING" => {}
            other => {
                progress.finish();
                return Err(OpsError::Invalid(format!(
                    "the message move task ended {other}: {}",
                    task.failure.unwrap_or_default()
                )));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(TASK_POLL) => {}
            _ = tokio::signal::ctrl_c() => {
                progress.finish();
                // The task goes on inside SQS; a rerun follows it.
                return Ok(RedriveReport {
                    method: Method::MoveTask,
                    moved: task.moved,
                    found,
                    fallback_reason: None,
                    interrupted: true,
                });
            }
        }
    }
}

struct TaskState {
    status: String,
    moved: u64,
    to_move: Option<u64>,
    failure: Option<String>,
}

async fn current_task(clients: &Clients, source_arn: &str) -> OpsResult<Option<TaskState>> {
    let out = clients
        .sqs
        .list_message_move_tasks()
        .source_arn(source_arn)
        .max_results(1)
        .customize()
        .config_override(one_try())
        .send()
        .await
        .map_err(aws("sqs:ListMessageMoveTasks", source_arn))?;
    Ok(out.results().first().map(|t| TaskState {
        status: t.status().unwrap_or_default().to_owned(),
        moved: u64::try_from(t.approximate_number_of_messages_moved()).unwrap_or(0),
        to_move: t
            .approximate_number_of_messages_to_move()
            .and_then(|n| u64::try_from(n).ok()),
        failure: t.failure_reason().map(str::to_owned),
    }))
}

/// The per-call override of the move-task calls: one try. An endpoint
/// without move tasks answers 5xx, and falling back at once is as good as
/// waiting for retries.
fn one_try() -> aws_sdk_sqs::config::Builder {
    aws_sdk_sqs::config::Config::builder()
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
}
