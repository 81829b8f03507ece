//! The redrive where no move task can run (an emulator without them, or
//! `--max`): each message received from the DLQ, sent to the orders queue
//! with the same body, attributes, message group id and deduplication id,
//! and only then deleted.

use std::collections::HashSet;

use aws_sdk_sqs::types::MessageSystemAttributeName;

use crate::error::{OpsResult, aws};
use crate::render::Progress;
use crate::target::{Clients, queue_name};

/// How long a received message stays hidden while it is copied.
const MOVE_VISIBILITY_SECS: i32 = 60;

/// Moves message by message; returns how many moved and whether Ctrl-C
/// stopped it.
pub(super) async fn receive_send_delete(
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
