//! Embedded SNS: topics with queue and e-mail subscriptions and filter policies.
//!
//! A publish is delivered to every subscription whose filter policy matches the
//! message attributes (see [`crate::filter_policy`] for what is supported). With
//! `MessageStructure=json` each protocol gets its own rendering (`sqs`, `email`,
//! falling back to `default`), as on SNS. Queue subscriptions get the SNS JSON
//! envelope, or the bare message with raw delivery; e-mail subscriptions write
//! one file per notification into the outbox folder and log a one-line summary
//! (the file name and subject, never the address or the body).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use adapters::ports::{EventPublisher, PortError};
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

struct Inner {
    queues: EmbeddedQueues,
    outbox: PathBuf,
    region: String,
    /// Topic ARN → subscriptions.
    topics: Mutex<HashMap<String, Vec<Subscription>>>,
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
            }),
        }
    }

    /// The outbox folder.
    pub fn outbox(&self) -> &Path {
        &self.inner.outbox
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
                    self.deliver_email(&message_id, now, address, publication)
                }
            };
            if let Err(err) = delivered {
                tracing::error!(subscription = %sub.arn, error = &err as &dyn std::error::Error, "SNS delivery failed");
            }
        }
        Ok(message_id)
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

    fn deliver_email(
        &self,
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
        let outbox = &self.inner.outbox;
        std::fs::create_dir_all(outbox).map_err(|e| BackendError::Call(Box::new(e)))?;
        let millis = now.unix_timestamp_nanos() / 1_000_000;
        let path = outbox.join(format!("{millis}-{message_id}.eml"));
        std::fs::write(&path, email).map_err(|e| BackendError::Call(Box::new(e)))?;
        // One line per e-mail: the file and the subject (an order id), never the address.
        tracing::info!(file = %path.display(), subject = %subject, "email written to outbox");
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
}

/// The notifier's port over an embedded topic: the same request
/// `SnsEventPublisher` makes (message structure, subject, attributes).
struct EmbeddedEventPublisher {
    topics: EmbeddedTopics,
    topic_arn: String,
}

#[async_trait]
impl EventPublisher for EmbeddedEventPublisher {
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError> {
        let publication = Publication {
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
        };
        self.topics
            .publish(&self.topic_arn, &publication)
            .await
            .map(|_| ())
            .map_err(|e| PortError::Permanent(Box::new(e)))
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
        let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        assert!(text.contains("Subject: New order 1"));
        assert!(text.contains("To: ops@example.com"));
        assert!(text.ends_with("Hello\r\n"));
        std::fs::remove_dir_all(outbox).unwrap();
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
