//! Delivery to queues and the outbox, and `PublishBatch`'s answers.

use super::*;

#[tokio::test]
async fn queues_get_the_envelope_or_the_raw_message_by_filter() {
    let s = setup().await;
    let wrapped = standard(&s.queues, "wrapped").await;
    let raw = standard(&s.queues, "raw").await;
    let filtered_out = standard(&s.queues, "other").await;
    let t = &s.topics;
    t.subscribe_queue(&s.topic, &wrapped, None, false)
        .await
        .unwrap();
    t.subscribe_queue(
        &s.topic,
        &raw,
        Some(r#"{"eventType":["OrderCreated"]}"#),
        true,
    )
    .await
    .unwrap();
    t.subscribe_queue(
        &s.topic,
        &filtered_out,
        Some(r#"{"eventType":[{"anything-but":"OrderCreated"}]}"#),
        true,
    )
    .await
    .unwrap();
    let mut publication = text_publication();
    publication.subject = Some("A subject".into());
    let id = t.publish(&s.topic, &publication).await.unwrap();

    let env = &received(&s.queues, &wrapped).await[0];
    let v: serde_json::Value = serde_json::from_str(&env.body).unwrap();
    assert_eq!(v["Type"], "Notification");
    assert_eq!(v["MessageId"], id.as_str());
    assert_eq!(v["TopicArn"], s.topic.as_str());
    assert_eq!(v["Message"], r#"{"x":1}"#);
    assert_eq!(v["Subject"], "A subject");
    assert_eq!(v["Timestamp"], "2026-11-24T10:00:00Z");
    assert_eq!(
        envelope_attributes(&env.body).unwrap(),
        attributes(&[("eventType", "OrderCreated"), ("schemaVersion", "2")])
    );

    let bare = &received(&s.queues, &raw).await[0];
    assert_eq!(bare.body, r#"{"x":1}"#);
    assert_eq!(bare.message_attributes, publication.attributes);
    assert_eq!(s.queues.depth(&filtered_out).await.unwrap().visible, 0);
}

#[tokio::test]
async fn an_envelope_without_attributes_or_subject_has_neither_key() {
    let s = setup().await;
    let wrapped = standard(&s.queues, "wrapped").await;
    s.topics
        .subscribe_queue(&s.topic, &wrapped, None, false)
        .await
        .unwrap();
    s.topics
        .publish(&s.topic, &Publication::text("plain"))
        .await
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&received(&s.queues, &wrapped).await[0].body).unwrap();
    assert_eq!(v["Message"], "plain");
    assert!(v.get("Subject").is_none(), "{v}");
    assert!(v.get("MessageAttributes").is_none(), "{v}");
}

#[tokio::test]
async fn email_subscriptions_write_the_email_rendering_to_the_outbox() {
    let s = setup().await;
    s.topics
        .subscribe_email(&s.topic, "ops@example.com", None)
        .await
        .unwrap();
    s.topics
        .publish(&s.topic, &json_publication())
        .await
        .unwrap();
    let files = outbox_files(&s.topics, &s.outbox).await;
    assert_eq!(s.topics.undelivered(), 0);
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(s.outbox.join(&files[0])).unwrap();
    assert!(text.contains("Subject: New order 1"));
    assert!(text.contains("To: ops@example.com"));
    assert!(text.ends_with("Hello\r\n"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
    /// However many publishes and batches, once `delivered` returns the
    /// outbox holds exactly one file per e-mail published, each with its
    /// own message id, and nothing is left undelivered. The clock moves a
    /// second per call, so the subscription stays within its rate.
    #[test]
    fn delivered_means_one_file_per_published_email(
        calls in proptest::collection::vec(1usize..=10, 1..12),
        remove_outbox_midway in proptest::bool::ANY,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let s = setup().await;
            s.topics.subscribe_email(&s.topic, "ops@example.com", None).await.unwrap();
            let mut ids = std::collections::HashSet::new();
            for (n, size) in calls.iter().enumerate() {
                if remove_outbox_midway && n == calls.len() / 2 {
                    s.topics.delivered().await;
                    let _ = std::fs::remove_dir_all(&s.outbox);
                }
                let entries: Vec<BatchEntry> = (0..*size).map(|i| entry(&i.to_string())).collect();
                let answer = s.topics.publish_batch(&s.topic, &entries).await.unwrap();
                ids.extend(answer.successful.into_iter().map(|(_, id)| id));
                s.clock.advance(Duration::from_secs(1));
            }
            let files = outbox_files(&s.topics, &s.outbox).await;
            assert_eq!(s.topics.undelivered(), 0);
            let expected = if remove_outbox_midway {
                calls[calls.len() / 2..].iter().sum::<usize>()
            } else {
                calls.iter().sum::<usize>()
            };
            assert_eq!(files.len(), expected);
            assert!(files.iter().all(|f| ids.iter().any(|id| f.ends_with(&format!("-{id}.eml")))));
            assert!(s.topics.suspended_subscriptions().is_empty());
        });
    }
}

fn entry(id: &str) -> BatchEntry {
    BatchEntry {
        id: id.into(),
        publication: json_publication(),
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
    let s = setup().await;
    let (t, arn) = (&s.topics, &s.topic);
    let eleven: Vec<BatchEntry> = (0..11).map(|i| entry(&i.to_string())).collect();
    assert_eq!(
        refusal(t.publish_batch(arn, &[]).await),
        "EmptyBatchRequest"
    );
    assert_eq!(
        refusal(t.publish_batch(arn, &eleven).await),
        "TooManyEntriesInBatchRequest"
    );
    assert_eq!(
        refusal(t.publish_batch(arn, &[entry("a"), entry("a")]).await),
        "BatchEntryIdsNotDistinct"
    );
    assert_eq!(
        refusal(t.publish_batch(arn, &[entry("no spaces")]).await),
        "InvalidBatchEntryId"
    );
    let mut big = entry("big");
    big.publication.message = format!(r#"{{"default":"{}"}}"#, "x".repeat(300_000));
    assert_eq!(
        refusal(t.publish_batch(arn, &[big]).await),
        "BatchRequestTooLong"
    );
    let fifo = t.create_topic("events.fifo").await.unwrap();
    assert_eq!(
        refusal(t.publish_batch(&fifo, &[entry("a")]).await),
        "InvalidParameter"
    );
}

#[tokio::test]
async fn publish_batch_answers_each_entry_and_publishes_the_good_ones() {
    let s = setup().await;
    let raw = standard(&s.queues, "raw").await;
    s.topics
        .subscribe_queue(&s.topic, &raw, None, true)
        .await
        .unwrap();
    let mut broken = entry("b");
    broken.publication.message = r#"{"email":"no default"}"#.into();

    let answer = s
        .topics
        .publish_batch(&s.topic, &[entry("a"), broken, entry("c")])
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
    assert_eq!(s.queues.depth(&raw).await.unwrap().visible, 2);
}

#[tokio::test]
async fn unsupported_filters_and_unknown_topics_are_refused() {
    let s = setup().await;
    let q = standard(&s.queues, "q").await;
    assert!(
        s.topics
            .subscribe_queue(&s.topic, &q, Some(r#"{"n":[{"numeric":["=",1]}]}"#), true)
            .await
            .is_err()
    );
    assert!(matches!(
        s.topics.publish("arn:nope", &text_publication()).await,
        Err(BackendError::NotFound(_))
    ));
}
