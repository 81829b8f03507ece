//! Delivering one published message to one subscription: a queue (or the
//! subscription's dead-letter queue when the queue refuses it) or the
//! outbox (or, over the e-mail rate, the subscription's suspension).

use super::EmbeddedTopics;
use super::message::Delivery;
use super::subscriptions::{self, EmailAdmission, MAX_EMAILS_PER_SECOND, Subscription};
use crate::backend::{BackendResult, QueueService, SendMessage};

impl EmbeddedTopics {
    /// Sends to a queue subscription; what cannot be delivered (refused, or
    /// the queue gone) goes to the subscription's dead-letter queue if it
    /// has one, and is otherwise an error (logged: SNS drops it).
    pub(super) async fn deliver_to_queue(
        &self,
        delivery: &Delivery<'_>,
        sub: &Subscription,
        url: &str,
        raw: bool,
    ) -> BackendResult<()> {
        let sent = match subscriptions::queue_message(delivery, raw) {
            Ok(message) => self.inner.queues.send(url, &message).await.map(|_| ()),
            Err(refused) => Err(refused),
        };
        let (Err(err), Some(dlq)) = (&sent, &sub.dead_letter_queue) else {
            return sent;
        };
        let message = delivery.publication.rendering("sqs")?;
        let letter = SendMessage {
            body: subscriptions::envelope(delivery, message),
            ..SendMessage::default()
        };
        self.inner.queues.send(dlq, &letter).await?;
        tracing::warn!(subscription = %sub.arn, error = err as &dyn std::error::Error, "SNS delivery failed: moved to the subscription's dead-letter queue");
        Ok(())
    }

    /// Renders the e-mail and hands it to the outbox; a subscription over
    /// its rate is suspended instead (one notice in the outbox, one warning
    /// in the log, ids only). Only a message that cannot be rendered fails.
    pub(super) fn deliver_email(
        &self,
        delivery: &Delivery<'_>,
        sub: &Subscription,
        admission: EmailAdmission,
        address: &str,
    ) -> BackendResult<()> {
        let Delivery {
            topic_arn,
            message_id,
            now,
            publication,
        } = *delivery;
        match admission {
            EmailAdmission::Deliver => {}
            EmailAdmission::Suspended => return Ok(()),
            EmailAdmission::SuspendNow { first } => {
                let file = format!("SUSPENDED-{}.txt", sub.id());
                tracing::warn!(
                    subscription = %sub.arn,
                    file = %self.inner.outbox.dir().join(&file).display(),
                    limit_per_second = MAX_EMAILS_PER_SECOND,
                    "SNS suspended an e-mail subscription: more than {MAX_EMAILS_PER_SECOND} messages in one second; nothing more is delivered to it"
                );
                let notice = subscriptions::suspension_notice(&sub.arn, topic_arn, first, now);
                self.inner.outbox.notice(&sub.arn, &file, notice);
                return Ok(());
            }
        }
        let text = publication.rendering("email")?;
        let subject = publication
            .subject
            .clone()
            .unwrap_or_else(|| "AWS Notification Message".to_owned());
        let email = subscriptions::email_text(address, &subject, now, message_id, &text);
        let millis = now.unix_timestamp_nanos() / 1_000_000;
        let file = format!("{millis}-{message_id}.eml");
        self.inner.outbox.email(&sub.arn, &file, subject, email);
        Ok(())
    }
}
