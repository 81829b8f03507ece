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

use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;

use crate::error::{OpsError, OpsResult, aws};
use crate::target::{Clients, queue_name};

mod move_task;
mod receive_send_delete;

use move_task::move_task;
use receive_send_delete::receive_send_delete;

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

/// One attribute of the queue at `url`.
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

/// The approximate number of visible messages of the queue at `url`.
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

/// The ARN of the queue at `url`.
async fn arn(clients: &Clients, url: &str) -> OpsResult<String> {
    attribute(clients, url, QueueAttributeName::QueueArn)
        .await?
        .ok_or_else(|| OpsError::NotFound {
            what: format!("the ARN of queue {}", queue_name(url)),
        })
}
