//! Embedded SNS: topics with queue and e-mail subscriptions and filter policies.
//!
//! A publish is delivered to every subscription whose filter policy matches the
//! message attributes (see [`crate::filter_policy`] for what is supported). With
//! `MessageStructure=json` each protocol gets its own rendering (`sqs`, `email`,
//! falling back to `default`), as on SNS. Queue subscriptions get the SNS JSON
//! envelope, or the bare message with raw delivery; e-mail subscriptions write
//! one file per notification into the outbox folder and log a one-line summary
//! (the file name and subject, never the address or the body).
//!
//! E-mail is delivered after the publish returns, as on SNS: `Publish` answers
//! once SNS has accepted the message, and delivery to each endpoint (SMTP among
//! the "customer managed endpoints", with its own retry policy) happens
//! afterwards (<https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html>,
//! <https://docs.aws.amazon.com/sns/latest/api/API_Publish.html>). One writer
//! thread, fed by a channel, writes the files in publish order, so creating a
//! file (tens to hundreds of microseconds on a journalled disk) stays off the
//! notifier's path; [`EmbeddedTopics::delivered`] waits for it to catch up.
//! Queue subscriptions stay synchronous: they are in memory and cost next to
//! nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use adapters::ports::{EntryResult, EventPublisher, PortError};
use async_trait::async_trait;
use orders_domain::contract::{ORDER_CREATED_EVENT_TYPE, OrderCreated};
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

use crate::arn::EMBEDDED_ACCOUNT;
use crate::backend::{BackendError, BackendResult, QueueService, SendMessage, TopicService};
use crate::embedded::sqs::EmbeddedQueues;
use crate::filter_policy::FilterPolicy;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One message to publish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publication {
    /// The message, or with `json_structure` a JSON object of per-protocol messages.
    pub message: String,
    /// `MessageStructure=json`.
    pub json_structure: bool,
    /// Subject (used by e-mail).
    pub subject: Option<String>,
    /// String message attributes (what filter policies see).
    pub attributes: HashMap<String, String>,
}

impl Publication {
    /// Bytes SNS counts for this message in a batch: body, subject and
    /// attributes (names, type and values).
    pub fn size(&self) -> usize {
        self.message.len()
            + self.subject.as_ref().map_or(0, String::len)
            + self
                .attributes
                .iter()
                .map(|(name, value)| name.len() + "String".len() + value.len())
                .sum::<usize>()
    }

    /// The text for one protocol: its key of the structure, else `default`.
    fn rendering(&self, protocol: &str) -> BackendResult<String> {
        if !self.json_structure {
            return Ok(self.message.clone());
        }
        let doc: serde_json::Value =
            serde_json::from_str(&self.message).map_err(|e| BackendError::Call(Box::new(e)))?;
        doc.get(protocol)
            .or_else(|| doc.get("default"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| BackendError::Call("message structure has no default key".into()))
    }
}

/// One entry of a `PublishBatch` call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchEntry {
    /// The entry's id, unique within the call.
    pub id: String,
    /// What to publish.
    pub publication: Publication,
    /// `MessageGroupId`, required by FIFO topics.
    pub group_id: Option<String>,
}

/// An entry of a `PublishBatch` call that was not published
/// (`BatchResultErrorEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFailure {
    /// The entry's id.
    pub id: String,
    /// The error code.
    pub code: &'static str,
    /// Whether the request was at fault.
    pub sender_fault: bool,
}

/// The answer to a `PublishBatch` call: entries succeed or fail one by one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchAnswer {
    /// `(entry id, message id)` of every published entry.
    pub successful: Vec<(String, String)>,
    /// Every entry that was not published.
    pub failed: Vec<BatchFailure>,
}

/// A `PublishBatch` call refused as a whole, with SNS's error code.
#[derive(Debug, thiserror::Error)]
#[error("PublishBatch refused: {code}")]
pub struct BatchRefused {
    /// `EmptyBatchRequest`, `TooManyEntriesInBatchRequest`,
    /// `BatchEntryIdsNotDistinct`, `InvalidBatchEntryId`,
    /// `BatchRequestTooLong` or `InvalidParameter`.
    pub code: &'static str,
}

fn refused(code: &'static str) -> BackendError {
    BackendError::Call(Box::new(BatchRefused { code }))
}

/// Whether an entry id is what SNS accepts: "up to 80 characters ...
/// alphanumeric characters, hyphens (-), and underscores (_)"
/// (<https://docs.aws.amazon.com/sns/latest/api/API_PublishBatchRequestEntry.html>).
fn valid_entry_id(id: &str) -> bool {
    (1..=80).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Debug, Clone)]
enum Endpoint {
    Queue { url: String, raw: bool },
    Email { address: String },
}

#[derive(Debug, Clone)]
struct Subscription {
    arn: String,
    endpoint: Endpoint,
    filter: Option<FilterPolicy>,
}

/// One e-mail, rendered and named, waiting for the writer.
struct Email {
    /// The subscription it is delivered for (logged when the write fails).
    subscription: String,
    path: PathBuf,
    subject: String,
    text: String,
}

impl Email {
    /// Writes the file, creating the outbox folder the first time (and again
    /// if someone removed it meanwhile).
    fn write(&self, outbox: &Path, outbox_made: &mut bool) -> std::io::Result<()> {
        if !*outbox_made {
            std::fs::create_dir_all(outbox)?;
            *outbox_made = true;
        }
        match std::fs::write(&self.path, &self.text) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(outbox)?;
                std::fs::write(&self.path, &self.text)
            }
            other => other,
        }
    }

    /// Writes the file and logs the outcome: one line per e-mail, the file
    /// and the subject (an order id), never the address or the body.
    fn deliver(&self, outbox: &Path, outbox_made: &mut bool) {
        match self.write(outbox, outbox_made) {
            Ok(()) => {
                tracing::info!(file = %self.path.display(), subject = %self.subject, "email written to outbox");
            }
            Err(err) => {
                // SNS would retry and then drop it; the publish already succeeded.
                tracing::error!(subscription = %self.subscription, file = %self.path.display(), error = &err as &dyn std::error::Error, "SNS e-mail delivery failed");
            }
        }
    }
}

/// What the writer thread is handed, in publish order.
enum Outgoing {
    /// An e-mail to write.
    Email(Email),
    /// Answered once every e-mail sent before it has been written.
    Marker(tokio::sync::oneshot::Sender<()>),
}

/// The writer thread: writes e-mails until every sender is gone (the topics
/// dropped), then ends.
fn run_writer(outbox: &Path, jobs: &mpsc::Receiver<Outgoing>, undelivered: &AtomicU64) {
    let mut outbox_made = false;
    for job in jobs {
        match job {
            Outgoing::Email(email) => {
                email.deliver(outbox, &mut outbox_made);
                undelivered.fetch_sub(1, Ordering::SeqCst);
            }
            Outgoing::Marker(done) => {
                // The waiter may have given up; nothing to tell it then.
                let _ = done.send(());
            }
        }
    }
}

struct Inner {
    queues: EmbeddedQueues,
    outbox: PathBuf,
    region: String,
    /// Topic ARN → subscriptions.
    topics: Mutex<HashMap<String, Vec<Subscription>>>,
    /// The e-mail writer's channel, started with the first e-mail; `None`
    /// when the thread could not be started (e-mails are then written inline).
    writer: OnceLock<Option<mpsc::Sender<Outgoing>>>,
    /// E-mails handed to the writer and not yet written (or failed).
    undelivered: Arc<AtomicU64>,
}

/// The embedded SNS service. Cheap to clone.
#[derive(Clone)]
pub struct EmbeddedTopics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedTopics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedTopics")
            .field("outbox", &self.inner.outbox)
            .finish_non_exhaustive()
    }
}

impl EmbeddedTopics {
    /// Topics delivering to `queues` and writing e-mails into `outbox`
    /// (created on the first e-mail).
    pub fn new(queues: EmbeddedQueues, outbox: PathBuf, region: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                queues,
                outbox,
                region: region.to_owned(),
                topics: Mutex::new(HashMap::new()),
                writer: OnceLock::new(),
                undelivered: Arc::default(),
            }),
        }
    }

    /// The outbox folder.
    pub fn outbox(&self) -> &Path {
        &self.inner.outbox
    }

    /// Waits until every e-mail published so far is in the outbox (written,
    /// or its failure logged). Tests call it before reading the outbox, and
    /// the runner before it exits so that no accepted e-mail is lost.
    pub async fn delivered(&self) {
        let Some(Some(writer)) = self.inner.writer.get() else {
            // No e-mail was ever handed to a writer thread.
            return;
        };
        let (done, wait) = tokio::sync::oneshot::channel();
        if writer.send(Outgoing::Marker(done)).is_ok() {
            // An error means the thread is gone, and with it what it held.
            let _ = wait.await;
        }
    }

    /// E-mails published but not yet written to the outbox.
    pub fn undelivered(&self) -> u64 {
        self.inner.undelivered.load(Ordering::SeqCst)
    }

    /// The writer thread's channel, starting the thread on first use; `None`
    /// when it cannot be started.
    fn writer(&self) -> Option<&mpsc::Sender<Outgoing>> {
        self.inner
            .writer
            .get_or_init(|| {
                let (send, jobs) = mpsc::channel();
                let outbox = self.inner.outbox.clone();
                let undelivered = self.inner.undelivered.clone();
                let started = std::thread::Builder::new()
                    .name("sns-email-writer".to_owned())
                    .spawn(move || run_writer(&outbox, &jobs, &undelivered));
                match started {
                    Ok(_) => Some(send),
                    Err(err) => {
                        tracing::warn!(
                            error = &err as &dyn std::error::Error,
                            "no e-mail writer thread: e-mails are written as they are published"
                        );
                        None
                    }
                }
            })
            .as_ref()
    }

    /// Hands an e-mail to the writer thread (or, without one, writes it now).
    fn send_email(&self, email: Email) {
        let email = match self.writer() {
            Some(writer) => {
                self.inner.undelivered.fetch_add(1, Ordering::SeqCst);
                match writer.send(Outgoing::Email(email)) {
                    Ok(()) => return,
                    Err(mpsc::SendError(unsent)) => {
                        self.inner.undelivered.fetch_sub(1, Ordering::SeqCst);
                        match unsent {
                            Outgoing::Email(email) => email,
                            Outgoing::Marker(_) => return,
                        }
                    }
                }
            }
            None => email,
        };
        email.deliver(&self.inner.outbox, &mut false);
    }

    fn subscribe(
        &self,
        topic_arn: &str,
        endpoint: Endpoint,
        filter_policy: Option<&str>,
    ) -> BackendResult<String> {
        let filter = filter_policy
            .map(FilterPolicy::parse)
            .transpose()
            .map_err(|e| BackendError::Call(Box::new(e)))?;
        let mut topics = lock(&self.inner.topics);
        let subs = topics
            .get_mut(topic_arn)
            .ok_or_else(|| BackendError::NotFound(format!("topic {topic_arn}")))?;
        let arn = format!("{topic_arn}:{}", uuid::Uuid::new_v4());
        subs.push(Subscription {
            arn: arn.clone(),
            endpoint,
            filter,
        });
        Ok(arn)
    }

    /// Publishes one message; returns its message id. Deliveries that fail are
    /// logged, as SNS would retry and then drop them; the publish still succeeds.
    pub async fn publish(
        &self,
        topic_arn: &str,
        publication: &Publication,
    ) -> BackendResult<String> {
        let subs = lock(&self.inner.topics)
            .get(topic_arn)
            .cloned()
            .ok_or_else(|| BackendError::NotFound(format!("topic {topic_arn}")))?;
        // Validate the structure up front: SNS refuses a bad one at publish time.
        publication.rendering("default")?;
        let message_id = uuid::Uuid::new_v4().to_string();
        let now = OffsetDateTime::now_utc();
        for sub in subs {
            if sub
                .filter
                .as_ref()
                .is_some_and(|f| !f.matches(&publication.attributes))
            {
                continue;
            }
            let delivered = match &sub.endpoint {
                Endpoint::Queue { url, raw } => {
                    self.deliver_to_queue(topic_arn, &message_id, now, url, *raw, publication)
                        .await
                }
                Endpoint::Email { address } => {
                    self.deliver_email(&sub.arn, &message_id, now, address, publication)
                }
            };
            if let Err(err) = delivered {
                tracing::error!(subscription = %sub.arn, error = &err as &dyn std::error::Error, "SNS delivery failed");
            }
        }
        Ok(message_id)
    }

    /// `PublishBatch`, as SNS answers it
    /// (<https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html>):
    /// the call is refused as a whole when it is empty, has more than ten
    /// entries, repeats or misspells an entry id, carries more than 256 KiB
    /// in all, or (FIFO topic) lacks a group id; otherwise each entry is
    /// published or failed on its own, and the answer lists both.
    pub async fn publish_batch(
        &self,
        topic_arn: &str,
        entries: &[BatchEntry],
    ) -> BackendResult<BatchAnswer> {
        if entries.is_empty() {
            return Err(refused("EmptyBatchRequest"));
        }
        if entries.len() > adapters::ports::MAX_PUBLISH_BATCH_ENTRIES {
            return Err(refused("TooManyEntriesInBatchRequest"));
        }
        if !entries.iter().all(|e| valid_entry_id(&e.id)) {
            return Err(refused("InvalidBatchEntryId"));
        }
        let ids: std::collections::HashSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        if ids.len() != entries.len() {
            return Err(refused("BatchEntryIdsNotDistinct"));
        }
        let total: usize = entries.iter().map(|e| e.publication.size()).sum();
        if total > adapters::ports::MAX_PUBLISH_BATCH_BYTES {
            return Err(refused("BatchRequestTooLong"));
        }
        if topic_arn.ends_with(".fifo") && entries.iter().any(|e| e.group_id.is_none()) {
            return Err(refused("InvalidParameter"));
        }
        if !lock(&self.inner.topics).contains_key(topic_arn) {
            return Err(BackendError::NotFound(format!("topic {topic_arn}")));
        }
        let mut answer = BatchAnswer::default();
        for entry in entries {
            match self.publish(topic_arn, &entry.publication).await {
                Ok(message_id) => answer.successful.push((entry.id.clone(), message_id)),
                Err(err) => {
                    tracing::warn!(entry = %entry.id, error = &err as &dyn std::error::Error, "PublishBatch entry refused");
                    answer.failed.push(BatchFailure {
                        id: entry.id.clone(),
                        code: "InvalidParameter",
                        sender_fault: true,
                    });
                }
            }
        }
        Ok(answer)
    }

    async fn deliver_to_queue(
        &self,
        topic_arn: &str,
        message_id: &str,
        now: OffsetDateTime,
        url: &str,
        raw: bool,
        publication: &Publication,
    ) -> BackendResult<()> {
        let message = publication.rendering("sqs")?;
        let send = if raw {
            SendMessage {
                body: message,
                message_attributes: publication.attributes.clone(),
                ..SendMessage::default()
            }
        } else {
            let attributes: serde_json::Map<String, serde_json::Value> = publication
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!({"Type": "String", "Value": v})))
                .collect();
            let mut envelope = serde_json::json!({
                "Type": "Notification",
                "MessageId": message_id,
                "TopicArn": topic_arn,
                "Message": message,
                "Timestamp": now.format(&Rfc3339).unwrap_or_default(),
                "SignatureVersion": "1",
                "Signature": "EMBEDDED",
                "SigningCertURL": "https://sns.embedded.local/cert.pem",
                "UnsubscribeURL": "https://sns.embedded.local/unsubscribe",
                "MessageAttributes": attributes,
            });
            if let Some(subject) = &publication.subject {
                envelope["Subject"] = serde_json::Value::String(subject.clone());
            }
            SendMessage {
                body: envelope.to_string(),
                ..SendMessage::default()
            }
        };
        self.inner.queues.send(url, &send).await.map(|_| ())
    }

    /// Renders the e-mail and hands it to the writer; only a message that
    /// cannot be rendered fails here.
    fn deliver_email(
        &self,
        subscription: &str,
        message_id: &str,
        now: OffsetDateTime,
        address: &str,
        publication: &Publication,
    ) -> BackendResult<()> {
        let text = publication.rendering("email")?;
        let subject = publication
            .subject
            .clone()
            .unwrap_or_else(|| "AWS Notification Message".to_owned());
        let email = format!(
            "From: AWS Notifications <no-reply@sns.amazonaws.com>\r\n\
             To: {address}\r\n\
             Subject: {subject}\r\n\
             Date: {date}\r\n\
             Message-ID: <{message_id}@sns.embedded.local>\r\n\
             Content-Type: text/plain; charset=UTF-8\r\n\
             \r\n\
             {text}\r\n",
            date = now.format(&Rfc2822).unwrap_or_default(),
        );
        let millis = now.unix_timestamp_nanos() / 1_000_000;
        self.send_email(Email {
            subscription: subscription.to_owned(),
            path: self.inner.outbox.join(format!("{millis}-{message_id}.eml")),
            subject,
            text: email,
        });
        Ok(())
    }
}

#[async_trait]
impl TopicService for EmbeddedTopics {
    async fn create_topic(&self, name: &str) -> BackendResult<String> {
        let arn = format!(
            "arn:aws:sns:{}:{EMBEDDED_ACCOUNT}:{name}",
            self.inner.region
        );
        lock(&self.inner.topics).entry(arn.clone()).or_default();
        Ok(arn)
    }

    async fn subscribe_queue(
        &self,
        topic_arn: &str,
        queue_url: &str,
        filter_policy: Option<&str>,
        raw_delivery: bool,
    ) -> BackendResult<String> {
        // Fail now rather than on every delivery.
        self.inner.queues.depth(queue_url).await?;
        self.subscribe(
            topic_arn,
            Endpoint::Queue {
                url: queue_url.to_owned(),
                raw: raw_delivery,
            },
            filter_policy,
        )
    }

    fn event_publisher(&self, topic_arn: &str) -> Arc<dyn EventPublisher> {
        Arc::new(EmbeddedEventPublisher {
            topics: self.clone(),
            topic_arn: topic_arn.to_owned(),
        })
    }

    async fn subscribe_email(
        &self,
        topic_arn: &str,
        address: &str,
        filter_policy: Option<&str>,
    ) -> BackendResult<String> {
        self.subscribe(
            topic_arn,
            Endpoint::Email {
                address: address.to_owned(),
            },
            filter_policy,
        )
    }

    async fn delivered(&self) {
        EmbeddedTopics::delivered(self).await;
    }

    fn undelivered(&self) -> u64 {
        EmbeddedTopics::undelivered(self)
    }
}

/// The notifier's port over an embedded topic: the same request
/// `SnsEventPublisher` makes (message structure, subject, attributes).
struct EmbeddedEventPublisher {
    topics: EmbeddedTopics,
    topic_arn: String,
}

/// The publication of one event: what `SnsEventPublisher` sends.
fn publication(event: &OrderCreated) -> Publication {
    Publication {
        message: adapters::aws::sns_message_structure(event),
        json_structure: true,
        subject: Some(event.email_subject()),
        attributes: HashMap::from([
            (
                adapters::ports::EVENT_TYPE_ATTRIBUTE.to_owned(),
                ORDER_CREATED_EVENT_TYPE.to_owned(),
            ),
            (
                adapters::ports::SCHEMA_VERSION_ATTRIBUTE.to_owned(),
                event.schema_version.to_string(),
            ),
        ]),
    }
}

#[async_trait]
impl EventPublisher for EmbeddedEventPublisher {
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError> {
        self.topics
            .publish(&self.topic_arn, &publication(event))
            .await
            .map(|_| ())
            .map_err(|e| PortError::Permanent(Box::new(e)))
    }

    /// `PublishBatch` calls packed as `SnsEventPublisher` packs them, each
    /// entry's result read from the answer.
    async fn publish_batch(&self, events: &[OrderCreated]) -> Vec<EntryResult> {
        let entries: Vec<BatchEntry> = events
            .iter()
            .enumerate()
            .map(|(index, event)| BatchEntry {
                id: index.to_string(),
                publication: publication(event),
                group_id: None,
            })
            .collect();
        let sizes: Vec<usize> = entries.iter().map(|e| e.publication.size()).collect();
        let mut results = Vec::with_capacity(events.len());
        for range in adapters::ports::publish_batch_ranges(&sizes) {
            let call = &entries[range];
            match self.topics.publish_batch(&self.topic_arn, call).await {
                Ok(answer) => {
                    results.extend(call.iter().map(|entry| entry_result(&answer, &entry.id)))
                }
                Err(err) => {
                    let mut first = Some(err);
                    results.extend(call.iter().map(|_| {
                        let source: adapters::ports::BoxError = match first.take() {
                            Some(err) => Box::new(err),
                            None => Box::new(adapters::aws::BatchCallError::CallFailed),
                        };
                        Err(PortError::Permanent(source))
                    }));
                }
            }
        }
        results
    }
}

/// One entry's result in an answer; an entry the answer does not mention
/// may or may not have been published, so it is transient.
fn entry_result(answer: &BatchAnswer, id: &str) -> EntryResult {
    if answer.successful.iter().any(|(ok, _)| ok == id) {
        return Ok(());
    }
    match answer.failed.iter().find(|f| f.id == id) {
        Some(failure) => Err(adapters::aws::BatchEntryError {
            code: failure.code.to_owned(),
            sender_fault: failure.sender_fault,
        }
        .into_port_error()),
        None => Err(PortError::Transient(Box::new(
            adapters::aws::BatchCallError::NoAnswer,
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::QueueSpec;
    use std::time::Duration;

    async fn setup() -> (EmbeddedQueues, EmbeddedTopics, String, PathBuf) {
        let queues = EmbeddedQueues::new(1.0);
        let outbox =
            std::env::temp_dir().join(format!("orders-local-sns-{}", uuid::Uuid::new_v4()));
        let topics = EmbeddedTopics::new(queues.clone(), outbox.clone(), "us-east-1");
        let arn = topics.create_topic("events").await.unwrap();
        (queues, topics, arn, outbox)
    }

    async fn standard(queues: &EmbeddedQueues, name: &str) -> String {
        queues
            .create_queue(&QueueSpec {
                name: name.into(),
                fifo: false,
                visibility_timeout: Duration::from_secs(30),
                redrive: None,
            })
            .await
            .unwrap()
    }

    fn publication() -> Publication {
        Publication {
            message: r#"{"default":"{\"x\":1}","email":"Hello"}"#.into(),
            json_structure: true,
            subject: Some("New order 1".into()),
            attributes: HashMap::from([("eventType".into(), "OrderCreated".into())]),
        }
    }

    #[tokio::test]
    async fn queues_get_the_envelope_or_the_raw_message_by_filter() {
        let (queues, topics, arn, _) = setup().await;
        let wrapped = standard(&queues, "wrapped").await;
        let raw = standard(&queues, "raw").await;
        let filtered_out = standard(&queues, "other").await;
        topics
            .subscribe_queue(&arn, &wrapped, None, false)
            .await
            .unwrap();
        topics
            .subscribe_queue(&arn, &raw, Some(r#"{"eventType":["OrderCreated"]}"#), true)
            .await
            .unwrap();
        topics
            .subscribe_queue(
                &arn,
                &filtered_out,
                Some(r#"{"eventType":[{"anything-but":"OrderCreated"}]}"#),
                true,
            )
            .await
            .unwrap();
        let id = topics.publish(&arn, &publication()).await.unwrap();

        let env = &queues.receive(&wrapped, 10, Duration::ZERO).await.unwrap()[0];
        let v: serde_json::Value = serde_json::from_str(&env.body).unwrap();
        assert_eq!(v["Type"], "Notification");
        assert_eq!(v["MessageId"], id.as_str());
        assert_eq!(v["TopicArn"], arn.as_str());
        assert_eq!(v["Message"], r#"{"x":1}"#);
        assert_eq!(v["MessageAttributes"]["eventType"]["Value"], "OrderCreated");
        assert!(v["Timestamp"].as_str().unwrap().ends_with('Z'));

        let bare = &queues.receive(&raw, 10, Duration::ZERO).await.unwrap()[0];
        assert_eq!(bare.body, r#"{"x":1}"#);
        assert_eq!(bare.message_attributes["eventType"], "OrderCreated");
        assert_eq!(queues.depth(&filtered_out).await.unwrap().visible, 0);
    }

    #[tokio::test]
    async fn email_subscriptions_write_the_email_rendering_to_the_outbox() {
        let (_, topics, arn, outbox) = setup().await;
        topics
            .subscribe_email(&arn, "ops@example.com", None)
            .await
            .unwrap();
        topics.publish(&arn, &publication()).await.unwrap();
        topics.delivered().await;
        assert_eq!(topics.undelivered(), 0);
        let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        assert!(text.contains("Subject: New order 1"));
        assert!(text.contains("To: ops@example.com"));
        assert!(text.ends_with("Hello\r\n"));
        std::fs::remove_dir_all(outbox).unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
        /// However many publishes and batches, once `delivered` returns the
        /// outbox holds exactly one file per e-mail published, each with its
        /// own message id, and nothing is left undelivered.
        #[test]
        fn delivered_means_one_file_per_published_email(
            calls in proptest::collection::vec(1usize..=10, 1..12),
            remove_outbox_midway in proptest::bool::ANY,
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let (_, topics, arn, outbox) = setup().await;
                topics.subscribe_email(&arn, "ops@example.com", None).await.unwrap();
                let mut ids = std::collections::HashSet::new();
                for (n, size) in calls.iter().enumerate() {
                    if remove_outbox_midway && n == calls.len() / 2 {
                        topics.delivered().await;
                        let _ = std::fs::remove_dir_all(&outbox);
                    }
                    let entries: Vec<BatchEntry> = (0..*size).map(|i| entry(&i.to_string())).collect();
                    let answer = topics.publish_batch(&arn, &entries).await.unwrap();
                    ids.extend(answer.successful.into_iter().map(|(_, id)| id));
                }
                topics.delivered().await;
                assert_eq!(topics.undelivered(), 0);
                let files: Vec<String> = std::fs::read_dir(&outbox)
                    .unwrap()
                    .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
                let expected = if remove_outbox_midway {
                    calls[calls.len() / 2..].iter().sum::<usize>()
                } else {
                    calls.iter().sum::<usize>()
                };
                assert_eq!(files.len(), expected);
                assert!(files.iter().all(|f| ids.iter().any(|id| f.ends_with(&format!("-{id}.eml")))));
                std::fs::remove_dir_all(outbox).unwrap();
            });
        }
    }

    fn entry(id: &str) -> BatchEntry {
        BatchEntry {
            id: id.into(),
            publication: publication(),
            group_id: None,
        }
    }

    fn refusal(result: BackendResult<BatchAnswer>) -> &'static str {
        match result {
            Err(BackendError::Call(source)) => source.downcast_ref::<BatchRefused>().unwrap().code,
            other => panic!("expected a refused call, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn publish_batch_refuses_what_sns_refuses_as_a_whole() {
        let (_, topics, arn, _) = setup().await;
        let eleven: Vec<BatchEntry> = (0..11).map(|i| entry(&i.to_string())).collect();
        assert_eq!(
            refusal(topics.publish_batch(&arn, &[]).await),
            "EmptyBatchRequest"
        );
        assert_eq!(
            refusal(topics.publish_batch(&arn, &eleven).await),
            "TooManyEntriesInBatchRequest"
        );
        assert_eq!(
            refusal(topics.publish_batch(&arn, &[entry("a"), entry("a")]).await),
            "BatchEntryIdsNotDistinct"
        );
        assert_eq!(
            refusal(topics.publish_batch(&arn, &[entry("no spaces")]).await),
            "InvalidBatchEntryId"
        );
        let mut big = entry("big");
        big.publication.message = format!(r#"{{"default":"{}"}}"#, "x".repeat(300_000));
        assert_eq!(
            refusal(topics.publish_batch(&arn, &[big]).await),
            "BatchRequestTooLong"
        );
        let fifo = topics.create_topic("events.fifo").await.unwrap();
        assert_eq!(
            refusal(topics.publish_batch(&fifo, &[entry("a")]).await),
            "InvalidParameter"
        );
    }

    #[tokio::test]
    async fn publish_batch_answers_each_entry_and_publishes_the_good_ones() {
        let (queues, topics, arn, _) = setup().await;
        let raw = standard(&queues, "raw").await;
        topics
            .subscribe_queue(&arn, &raw, None, true)
            .await
            .unwrap();
        let mut broken = entry("b");
        broken.publication.message = r#"{"email":"no default"}"#.into();

        let answer = topics
            .publish_batch(&arn, &[entry("a"), broken, entry("c")])
            .await
            .unwrap();

        let ok: Vec<&str> = answer
            .successful
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(ok, ["a", "c"]);
        assert_eq!(
            answer.failed,
            [BatchFailure {
                id: "b".into(),
                code: "InvalidParameter",
                sender_fault: true
            }]
        );
        assert_eq!(queues.depth(&raw).await.unwrap().visible, 2);
    }

    #[tokio::test]
    async fn unsupported_filters_and_unknown_topics_are_refused() {
        let (queues, topics, arn, _) = setup().await;
        let q = standard(&queues, "q").await;
        assert!(
            topics
                .subscribe_queue(&arn, &q, Some(r#"{"n":[{"numeric":["=",1]}]}"#), true)
                .await
                .is_err()
        );
        assert!(matches!(
            topics.publish("arn:nope", &publication()).await,
            Err(BackendError::NotFound(_))
        ));
    }
}
