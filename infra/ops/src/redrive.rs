//! `orders-ops dlq redrive worker`: moves the worker DLQ's messages back to
//! the orders queue.
//!
//! First the DLQ is checked to be one: `ListDeadLetterSourceQueues` must name
//! the orders queue (a redrive into a queue that never dead-lettered there
//! is refused). Then, where the endpoint supports it and no `--max` is given,
//! SQS moves the messages itself (`StartMessageMoveTask`, followed with
//! `ListMessageMoveTasks`; a task already running for the DLQ is followed
//! instead of starting another, as SQS allows one per queue:
//! <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html>).
//! Elsewhere (an emulator without move tasks, or `--max`), each message is
//! received, sent to the orders queue with the same body, attributes,
//! message group id and deduplication id, and only then deleted.
//!
//! Safe to interrupt and to run again: a message is deleted only after its
//! copy was sent, so an interruption between the two leaves it in the DLQ,
//! and the next run sends it again under the same deduplication id (SQS
//! drops the copy within its 5-minute window; later, the worker's
//! conditional put finds the order stored and answers `duplicate`). The
//! deduplication id of a DLQ message is its original message id, not the
//! intake's content hash (SQS replaces it when it dead-letters a FIFO
//! message, and the worker does the same:
//! <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html>),
//! so the copy is never mistaken for the order's first send.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde::Serialize;

use crate::error::{OpsError, OpsResult, aws};
use crate::render::Progress;
use crate::target::{Clients, queue_name};

/// How a redrive ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// SQS's own move task.
    MoveTask,
    /// Receive, send, delete, one message at a time.
    ReceiveSendDelete,
    /// Nothing moved: `--dry-run`.
    DryRun,
}

/// What a redrive did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveReport {
    /// How.
    pub method: Method,
    /// Messages moved (or, for a dry run, that would be).
    pub moved: u64,
    /// Messages in the DLQ when it started (approximate).
    pub found: u64,
    /// Why the move task was not used, when it was not.
    pub fallback_reason: Option<String>,
    /// Whether Ctrl-C stopped it early (run it again to go on).
    pub interrupted: bool,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedriveOptions {
    /// Count only; move nothing.
    pub dry_run: bool,
    /// Move at most this many (the receive/send/delete path).
    pub max: Option<u64>,
}

/// How long a received message stays hidden while it is copied.
const MOVE_VISIBILITY_SECS: i32 = 60;

/// How often a move task's progress is read.
const TASK_POLL: Duration = Duration::from_secs(2);

/// Moves the messages of the DLQ at `dlq_url` back to `destination_url`,
/// which must be a queue that names the DLQ in its redrive policy.
pub async fn redrive(
    clients: &Clients,
    dlq_url: &str,
    destination_url: &str,
    options: RedriveOptions,
) -> OpsResult<RedriveReport> {
    ensure_dead_letter_queue(clients, dlq_url, destination_url).await?;
    let found = visible(clients, dlq_url).await?;
    if options.dry_run {
        return Ok(RedriveReport {
            method: Method::DryRun,
            moved: options.max.map_or(found, |max| found.min(max)),
            found,
            fallback_reason: None,
            interrupted: false,
        });
    }
    let fallback_reason = if options.max.is_some() {
        "--max given (a move task has no count limit)".to_owned()
    } else {
        match move_task(clients, dlq_url, destination_url, found).await {
            Ok(report) => return Ok(report),
            Err(OpsError::AccessDenied {
                action,
                resource,
                code,
            }) => {
                return Err(OpsError::AccessDenied {
                    action,
                    resource,
                    code,
                });
            }
            Err(err) => err.to_string(),
        }
    };
    let (moved, interrupted) =
        receive_send_delete(clients, dlq_url, destination_url, found, options.max).await?;
    Ok(RedriveReport {
        method: Method::ReceiveSendDelete,
        moved,
        found,
        fallback_reason: Some(fallback_reason),
        interrupted,
    })
}

/// Refuses a queue that is not `destination_url`'s dead-letter queue.
async fn ensure_dead_letter_queue(
    clients: &Clients,
    dlq_url: &str,
    destination_url: &str,
) -> OpsResult<()> {
    let what = format!("queue {}", queue_name(dlq_url));
    let out = clients
        .sqs
        .list_dead_letter_source_queues()
        .queue_url(dlq_url)
        .send()
        .await
        .map_err(aws("sqs:ListDeadLetterSourceQueues", &what))?;
    // Compare names: one endpoint may spell a queue's URL in more than one way.
    let destination = queue_name(destination_url);
    if out
        .queue_urls()
        .iter()
        .any(|url| queue_name(url) == destination)
    {
        Ok(())
    } else {
        Err(OpsError::NotADeadLetterQueue {
            url: dlq_url.to_owned(),
        })
    }
}

async fn attribute(
    clients: &Clients,
    url: &str,
    name: QueueAttributeName,
) -> OpsResult<Option<String>> {
    let out = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .map_err(aws(
            "sqs:GetQueueAttributes",
            &format!("queue {}", queue_name(url)),
        ))?;
    Ok(out.attributes().and_then(|a| a.get(&name)).cloned())
}

async fn visible(clients: &Clients, url: &str) -> OpsResult<u64> {
    Ok(attribute(
        clients,
        url,
        QueueAttributeName::ApproximateNumberOfMessages,
    )
    .await?
    .and_then(|n| n.parse().ok())
    .unwrap_or(0))
}

async fn arn(clients: &Clients, url: &str) -> OpsResult<String> {
    attribute(clients, url, QueueAttributeName::QueueArn)
        .await?
        .ok_or_else(|| OpsError::NotFound {
            what: format!("the ARN of queue {}", queue_name(url)),
        })
}

/// SQS's move task: starts one (or follows the one running) and waits for it
/// with a progress bar. Any error means "not here": the caller falls back.
async fn move_task(
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
            .config_override(
                aws_sdk_sqs::config::Config::builder()
                    .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled()),
            )
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
        .config_override(
            aws_sdk_sqs::config::Config::builder()
                .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled()),
        )
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

/// Moves message by message; returns how many moved and whether Ctrl-C
/// stopped it.
async fn receive_send_delete(
    clients: &Clients,
    dlq_url: &str,
    destination_url: &str,
    found: u64,
    max: Option<u64>,
) -> OpsResult<(u64, bool)> {
    let dlq = format!("queue {}", queue_name(dlq_url));
    let destination = format!("queue {}", queue_name(destination_url));
    let limit = max.unwrap_or(u64::MAX);
    let mut progress = Progress::new("moved", found.min(limit));
    let mut moved = 0u64;
    let mut seen = HashSet::new();
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    while moved < limit {
        let want = i32::try_from((limit - moved).min(10)).unwrap_or(10);
        let out = clients
            .sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(want)
            .visibility_timeout(MOVE_VISIBILITY_SECS)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::MessageDeduplicationId)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(aws("sqs:ReceiveMessage", &dlq))?;
        let messages = out.messages.unwrap_or_default();
        // A message seen before came back after its visibility timeout: every
        // message present has had its turn.
        if messages.is_empty()
            || messages
                .iter()
                .all(|m| !seen.insert(m.message_id().unwrap_or_default().to_owned()))
        {
            break;
        }
        // In order: a FIFO DLQ returns a group's messages in order, and they
        // must reach the orders queue in that order.
        for message in messages {
            let system = |name: MessageSystemAttributeName| {
                message.attributes().and_then(|a| a.get(&name)).cloned()
            };
            clients
                .sqs
                .send_message()
                .queue_url(destination_url)
                .message_body(message.body().unwrap_or_default())
                .set_message_attributes(message.message_attributes().cloned())
                .set_message_group_id(system(MessageSystemAttributeName::MessageGroupId))
                .set_message_deduplication_id(
                    system(MessageSystemAttributeName::MessageDeduplicationId)
                        .or_else(|| message.message_id().map(str::to_owned)),
                )
                .send()
                .await
                .map_err(aws("sqs:SendMessage", &destination))?;
            clients
                .sqs
                .delete_message()
                .queue_url(dlq_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .map_err(aws("sqs:DeleteMessage", &dlq))?;
            moved += 1;
            progress.set(moved);
            // Stop between messages, never between a send and its delete.
            if futures_ready(&mut interrupt).await {
                progress.finish();
                return Ok((moved, true));
            }
        }
    }
    progress.finish();
    Ok((moved, false))
}

/// Whether `future` is already complete, without waiting for it.
async fn futures_ready<F: std::future::Future + Unpin>(future: &mut F) -> bool {
    tokio::select! {
        biased;
        _ = future => true,
        () = std::future::ready(()) => false,
    }
}
