//! The ports over an embedded topic: the notifier's [`EventPublisher`] and
//! [`TopicService::publish_text`] for plain-text messages.

use orders_domain::contract::OrderCreated;

use super::*;

fn event(order_id: &str) -> OrderCreated {
    OrderCreated::from_sqs_body(&format!(
        r#"{{"eventType":"OrderCreated","schemaVersion":2,"eventId":"OrderCreated:anonymous:{order_id}",
            "occurredAt":"2026-11-24T10:00:01Z","correlationId":"c0ffee-1","owner":"anonymous","orderId":"{order_id}",
            "acceptedAt":"2026-11-24T10:00:00Z","lineCount":1,"unitCount":22,
            "items":[{{"itemId":"item456","quantity":22}}]}}"#
    ))
    .unwrap()
}

#[test]
fn an_event_is_published_as_a_string_message_with_its_attributes_and_no_subject() {
    let e = event("23214");
    let p = publication(&e);
    assert!(!p.json_structure);
    assert_eq!(p.message, e.to_json());
    assert_eq!(p.subject, None);
    assert_eq!(
        p.attributes,
        attributes(&[
            ("eventType", "OrderCreated"),
            ("schemaVersion", "2"),
            ("customerEmailGiven", "false")
        ])
    );
    // Batches are packed by the same size on both adapters.
    assert_eq!(p.size(), orders_adapters::aws::sns_entry_size(&e));
}

/// What the documented consumer subscription (raw delivery, the filter
/// policy on `eventType` and `schemaVersion`) receives from the port, one
/// event at a time and in batches: the event's JSON and both attributes.
/// An enveloped queue gets the same JSON as `Message`, without `Subject`;
/// an e-mail subscription gets it as the body under SNS's default subject.
#[tokio::test]
async fn the_event_publisher_reaches_the_documented_subscription_with_the_attributes() {
    let s = setup().await;
    let raw = standard(&s.queues, "raw").await;
    let wrapped = standard(&s.queues, "wrapped").await;
    let policy = r#"{"eventType":["OrderCreated"],"schemaVersion":["2"]}"#;
    s.topics
        .subscribe_queue(&s.topic, &raw, Some(policy), true)
        .await
        .unwrap();
    s.topics
        .subscribe_queue(&s.topic, &wrapped, Some(policy), false)
        .await
        .unwrap();
    s.topics
        .subscribe_email(&s.topic, "ops@example.com", None)
        .await
        .unwrap();
    let publisher = s.topics.event_publisher(&s.topic);

    let one = event("1");
    publisher.publish(&one).await.unwrap();
    // Its e-mail file sorts first.
    s.clock.advance(Duration::from_millis(1));
    let batch = [event("2"), event("3")];
    let results = publisher.publish_batch(&batch).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let got = received(&s.queues, &raw).await;
    let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    let expected: Vec<String> = [&one, &batch[0], &batch[1]]
        .iter()
        .map(|e| e.to_json())
        .collect();
    assert_eq!(bodies, expected);
    for message in &got {
        assert_eq!(
            message.message_attributes,
            attributes(&[
                ("eventType", "OrderCreated"),
                ("schemaVersion", "2"),
                ("customerEmailGiven", "false")
            ])
        );
    }
    let env = &received(&s.queues, &wrapped).await[0];
    let v: serde_json::Value = serde_json::from_str(&env.body).unwrap();
    assert_eq!(v["Message"], one.to_json().as_str());
    assert!(v.get("Subject").is_none());
    assert_eq!(envelope_attributes(&env.body).unwrap().len(), 3);

    let files = outbox_files(&s.topics, &s.outbox).await;
    assert_eq!(files.len(), 3);
    let mail = std::fs::read_to_string(s.outbox.join(&files[0])).unwrap();
    assert!(
        mail.contains("Subject: AWS Notification Message\r\n"),
        "{mail}"
    );
    assert!(
        mail.ends_with(&format!("\r\n\r\n{}\r\n", one.to_json())),
        "{mail}"
    );
}

/// A plain-text message with a subject (an admin digest) reaches an e-mail
/// subscription as it is, and its attributes reach a raw queue.
#[tokio::test]
async fn publish_text_sends_the_text_with_its_subject_and_attributes() {
    let s = setup().await;
    let admin = s.topics.create_topic("admin").await.unwrap();
    let raw = standard(&s.queues, "raw").await;
    s.topics
        .subscribe_email(&admin, "admin@example.com", None)
        .await
        .unwrap();
    s.topics
        .subscribe_queue(&admin, &raw, Some(r#"{"kind":["digest"]}"#), true)
        .await
        .unwrap();
    let message = TextMessage {
        message: "3 orders\n- 1\n- 2\n- 3".into(),
        subject: Some("3 new orders".into()),
        attributes: attributes(&[("kind", "digest")]),
    };

    let id = s.topics.publish_text(&admin, &message).await.unwrap();

    let files = outbox_files(&s.topics, &s.outbox).await;
    assert_eq!(files.len(), 1);
    assert!(files[0].ends_with(&format!("-{id}.eml")));
    let mail = std::fs::read_to_string(s.outbox.join(&files[0])).unwrap();
    assert!(mail.contains("Subject: 3 new orders\r\n"), "{mail}");
    assert!(
        mail.ends_with("\r\n\r\n3 orders\n- 1\n- 2\n- 3\r\n"),
        "{mail}"
    );
    let got = received(&s.queues, &raw).await;
    assert_eq!(got[0].body, message.message);
    assert_eq!(got[0].message_attributes, message.attributes);
    assert!(matches!(
        s.topics.publish_text("arn:nope", &message).await,
        Err(BackendError::NotFound(_))
    ));
}
