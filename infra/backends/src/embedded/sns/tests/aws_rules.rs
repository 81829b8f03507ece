//! The AWS rules the embedded SNS enforces and moto does not: each test
//! names the page it follows.

use super::*;

/// <https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html>:
/// "Message attributes are sent only when the message structure is String,
/// not JSON". moto sends them anyway.
#[tokio::test]
async fn given_a_json_structured_publish_then_no_subscriber_receives_its_attributes() {
    let s = setup().await;
    let wrapped = standard(&s.queues, "wrapped").await;
    let raw = standard(&s.queues, "raw").await;
    s.topics
        .subscribe_queue(&s.topic, &wrapped, None, false)
        .await
        .unwrap();
    s.topics
        .subscribe_queue(&s.topic, &raw, None, true)
        .await
        .unwrap();

    s.topics
        .publish(&s.topic, &json_publication())
        .await
        .unwrap();

    let env = &received(&s.queues, &wrapped).await[0];
    let v: serde_json::Value = serde_json::from_str(&env.body).unwrap();
    assert_eq!(v["Message"], r#"{"x":1}"#, "the sqs/default rendering");
    assert_eq!(envelope_attributes(&env.body), None, "{v}");
    let bare = &received(&s.queues, &raw).await[0];
    assert_eq!(bare.body, r#"{"x":1}"#);
    assert!(bare.message_attributes.is_empty());
}

/// Same page: with no attribute sent, an attribute-scoped filter policy has
/// nothing to match. AWS does not document that it matches anyway, so the
/// emulator never does (moto does, on the attributes it should not have).
#[tokio::test]
async fn given_a_json_structured_publish_then_no_attribute_filter_policy_matches_it() {
    let s = setup().await;
    let filtered = standard(&s.queues, "filtered").await;
    let unfiltered = standard(&s.queues, "unfiltered").await;
    let documented = r#"{"eventType":["OrderCreated"],"schemaVersion":["2"]}"#;
    s.topics
        .subscribe_queue(&s.topic, &filtered, Some(documented), true)
        .await
        .unwrap();
    s.topics
        .subscribe_queue(&s.topic, &unfiltered, None, true)
        .await
        .unwrap();

    s.topics
        .publish(&s.topic, &json_publication())
        .await
        .unwrap();
    assert!(received(&s.queues, &filtered).await.is_empty());
    assert_eq!(received(&s.queues, &unfiltered).await.len(), 1);

    // The same attributes on a String message match.
    s.topics
        .publish(&s.topic, &text_publication())
        .await
        .unwrap();
    let got = received(&s.queues, &filtered).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_attributes["eventType"], "OrderCreated");
}

fn with_attributes(n: usize) -> Publication {
    let mut publication = Publication::text("many");
    publication.attributes = (0..n).map(|i| (format!("a{i}"), i.to_string())).collect();
    publication
}

/// <https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html>:
/// "Messages with more than 10 message attributes directed towards Raw
/// Message Delivery enabled Amazon SQS subscriptions will be discarded as
/// client side errors"; the envelope carries them all. moto delivers them.
#[tokio::test]
async fn given_more_than_ten_attributes_then_raw_delivery_drops_the_message() {
    let s = setup().await;
    let raw = standard(&s.queues, "raw").await;
    let wrapped = standard(&s.queues, "wrapped").await;
    s.topics
        .subscribe_queue(&s.topic, &raw, None, true)
        .await
        .unwrap();
    s.topics
        .subscribe_queue(&s.topic, &wrapped, None, false)
        .await
        .unwrap();

    s.topics
        .publish(&s.topic, &with_attributes(11))
        .await
        .unwrap();
    assert!(received(&s.queues, &raw).await.is_empty());
    let env = &received(&s.queues, &wrapped).await[0];
    assert_eq!(envelope_attributes(&env.body).unwrap().len(), 11);

    s.topics
        .publish(&s.topic, &with_attributes(10))
        .await
        .unwrap();
    let got = received(&s.queues, &raw).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_attributes.len(), MAX_RAW_DELIVERY_ATTRIBUTES);
}

/// <https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html>:
/// "Messages that can't be delivered due to client errors or server errors
/// are held in the dead-letter queue". moto keeps the `RedrivePolicy` but
/// never moves a message.
#[tokio::test]
async fn given_a_subscription_dead_letter_queue_then_a_dropped_raw_delivery_lands_there() {
    let s = setup().await;
    let raw = standard(&s.queues, "raw").await;
    let dlq = standard(&s.queues, "raw-sns-dlq").await;
    let sub = s
        .topics
        .subscribe_queue(&s.topic, &raw, None, true)
        .await
        .unwrap();
    s.topics.set_dead_letter_queue(&sub, &dlq).await.unwrap();
    assert!(matches!(
        s.topics.set_dead_letter_queue("arn:nope", &dlq).await,
        Err(BackendError::NotFound(_))
    ));

    let id = s
        .topics
        .publish(&s.topic, &with_attributes(11))
        .await
        .unwrap();

    assert!(received(&s.queues, &raw).await.is_empty());
    let letter = &received(&s.queues, &dlq).await[0];
    let v: serde_json::Value = serde_json::from_str(&letter.body).unwrap();
    assert_eq!(v["MessageId"], id.as_str());
    assert_eq!(v["Message"], "many");
    assert_eq!(envelope_attributes(&letter.body).unwrap().len(), 11);
}

/// <https://docs.aws.amazon.com/sns/latest/dg/sns-email-notifications.html>:
/// "Exceeding the limit of 10 messages per second (TPS) for an email or
/// email-json endpoint will trigger an automatic suspension of the
/// subscription, placing it in a pending confirmation status". Eleven
/// messages within one second: ten e-mails, then the notice, then nothing.
/// moto delivers no e-mail and suspends nothing.
#[tokio::test]
async fn given_eleven_messages_within_one_second_then_the_email_subscription_is_suspended() {
    let s = setup().await;
    let queue = standard(&s.queues, "q").await;
    s.topics
        .subscribe_queue(&s.topic, &queue, None, true)
        .await
        .unwrap();
    let email = s
        .topics
        .subscribe_email(&s.topic, "admin@example.com", None)
        .await
        .unwrap();
    assert_eq!(
        s.topics.subscription_status(&email),
        Some(SubscriptionStatus::Confirmed)
    );

    for _ in 0..11 {
        s.topics
            .publish(&s.topic, &Publication::text("one order"))
            .await
            .unwrap();
        s.clock.advance(Duration::from_millis(90));
    }
    // Later messages are not delivered either.
    s.clock.advance(Duration::from_secs(60));
    s.topics
        .publish(&s.topic, &Publication::text("later"))
        .await
        .unwrap();

    let files = outbox_files(&s.topics, &s.outbox).await;
    let emails = files.iter().filter(|f| f.ends_with(".eml")).count();
    assert_eq!(emails, MAX_EMAILS_PER_SECOND, "{files:?}");
    let id = email.rsplit(':').next().unwrap();
    let notice_file = format!("SUSPENDED-{id}.txt");
    assert!(files.contains(&notice_file), "{files:?}");
    assert_eq!(files.len(), MAX_EMAILS_PER_SECOND + 1);
    let notice = std::fs::read_to_string(s.outbox.join(&notice_file)).unwrap();
    assert!(notice.contains(&email), "{notice}");
    assert!(notice.contains("PendingConfirmation"), "{notice}");
    assert!(notice.contains("sns-email-notifications.html"), "{notice}");
    assert!(notice.contains("2026-11-24T10:00:00.9Z"), "{notice}");
    assert!(
        !notice.contains("admin@example.com"),
        "no address: {notice}"
    );

    let since = datetime!(2026-11-24 10:00:00.9 UTC);
    assert_eq!(
        s.topics.subscription_status(&email),
        Some(SubscriptionStatus::PendingConfirmation { since })
    );
    assert_eq!(s.topics.suspended_subscriptions(), [email.as_str()]);
    assert_eq!(
        TopicService::suspended_subscriptions(&s.topics),
        [email.as_str()]
    );
    // Other subscriptions of the topic are not affected.
    let mut queued = received(&s.queues, &queue).await;
    queued.extend(received(&s.queues, &queue).await);
    assert_eq!(queued.len(), 12);
}

/// Ten per second, second after second, is within the limit: the window
/// slides, and a message exactly one second after the first of ten is the
/// start of the next second.
#[tokio::test]
async fn given_ten_messages_in_every_second_then_the_email_subscription_stays_confirmed() {
    let s = setup().await;
    let email = s
        .topics
        .subscribe_email(&s.topic, "admin@example.com", None)
        .await
        .unwrap();
    for _ in 0..35 {
        s.topics
            .publish(&s.topic, &Publication::text("one order"))
            .await
            .unwrap();
        s.clock.advance(Duration::from_millis(100));
    }
    assert_eq!(outbox_files(&s.topics, &s.outbox).await.len(), 35);
    assert_eq!(
        s.topics.subscription_status(&email),
        Some(SubscriptionStatus::Confirmed)
    );
    assert!(s.topics.suspended_subscriptions().is_empty());
}
