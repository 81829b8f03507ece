//! Queue and stream helpers shared by the contract suite and the end-to-end
//! tests: [`drain`] empties a queue through the local runner's
//! [`QueueService`] or straight through the SQS SDK, with one loop.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use orders_backends::backend::{QueueService, ReceivedMessage, StreamReader};

/// A queue client [`drain`] can use: one receive, deleting what arrived.
pub trait ReceiveAndDelete: Sync {
    /// A received message.
    type Message: Send;

    /// Receives up to ten messages from `url` (waiting up to a second for
    /// the first) and deletes each; returns them in order.
    fn receive_and_delete(&self, url: &str) -> impl Future<Output = Vec<Self::Message>> + Send;
}

/// The local runner's queue service (embedded, or the SDK-backed one).
impl ReceiveAndDelete for dyn QueueService {
    type Message = ReceivedMessage;

    async fn receive_and_delete(&self, url: &str) -> Vec<ReceivedMessage> {
        let batch = self
            .receive(url, 10, Duration::from_secs(1))
            .await
            .expect("receive");
        for message in &batch {
            self.delete(url, &message.receipt_handle)
                .await
                .expect("delete");
        }
        batch
    }
}

/// The SQS SDK, asking for every system and message attribute.
impl ReceiveAndDelete for aws_sdk_sqs::Client {
    type Message = aws_sdk_sqs::types::Message;

    async fn receive_and_delete(&self, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let out = self
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        for message in &messages {
            self.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().expect("a receipt handle"))
                .send()
                .await
                .expect("delete");
        }
        messages
    }
}

/// Receives (and deletes) until `want` messages arrived or `within`
/// passed; returns what arrived, in order.
pub async fn drain<Q: ReceiveAndDelete + ?Sized>(
    queues: &Q,
    url: &str,
    want: usize,
    within: Duration,
) -> Vec<Q::Message> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        got.extend(queues.receive_and_delete(url).await);
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
