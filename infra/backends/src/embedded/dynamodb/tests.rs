//! The embedded table and its stream.

use std::time::Duration;

use super::*;

fn item(id: &str, v: &str) -> Item {
    Item::from(HashMap::from([
        (KEY_ATTRIBUTE.to_owned(), AttributeValue::S(id.into())),
        ("v".to_owned(), AttributeValue::S(v.into())),
    ]))
}

#[tokio::test]
async fn writes_emit_insert_modify_remove_in_order_with_images() {
    let t = EmbeddedTables::new("us-east-1");
    t.create_table("orders").await.unwrap();
    let mut reader = t.open_stream("orders").await.unwrap();
    t.put("orders", item("1", "a")).await.unwrap();
    t.put("orders", item("1", "a")).await.unwrap(); // no change: no record
    t.put("orders", item("1", "b")).await.unwrap();
    t.delete("orders", "1").await.unwrap();
    t.delete("orders", "1").await.unwrap(); // nothing to delete: no record
    let records = reader.next_records(10).await.unwrap();
    let names: Vec<_> = records.iter().map(|r| r.event_name.as_str()).collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE"]);
    let seqs: Vec<_> = records
        .iter()
        .map(|r| r.change.sequence_number.clone().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(records[1].change.old_image, item("1", "a"));
    assert_eq!(records[1].change.new_image, item("1", "b"));
    assert_eq!(records[2].change.keys, keys("1"));
    assert!(records[2].change.new_image.is_empty());
    assert_eq!(records[0].event_source.as_deref(), Some("aws:dynamodb"));
    assert!(reader.next_records(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_conditional_put_writes_and_emits_nothing() {
    let t = EmbeddedTables::new("us-east-1");
    t.create_table("orders").await.unwrap();
    t.put("orders", item("1", "a")).await.unwrap();
    let outcome = t
        .write("orders", "1", Some(item("1", "b")), Condition::Absent)
        .unwrap();
    assert!(matches!(outcome, WriteOutcome::ConditionFailed(_)));
    assert_eq!(t.get("orders", "1").await.unwrap(), Some(item("1", "a")));
    assert_eq!(t.stream_len("orders"), 1);
}

#[tokio::test]
async fn the_stream_reader_wakes_on_a_write() {
    let t = EmbeddedTables::new("us-east-1");
    t.create_table("orders").await.unwrap();
    let mut reader = t.open_stream("orders").await.unwrap();
    let t2 = t.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        t2.put("orders", item("1", "a")).await.unwrap();
    });
    let started = std::time::Instant::now();
    reader.wait_for_records(Duration::from_secs(5)).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(reader.next_records(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn given_a_trimmed_stream_then_readers_and_shard_reads_start_at_the_trim_horizon() {
    let t = EmbeddedTables::new("us-east-1");
    t.create_table("orders").await.unwrap();
    let mut reader = t.open_stream("orders").await.unwrap();
    for id in ["1", "2", "3"] {
        t.put("orders", item(id, "a")).await.unwrap();
    }
    t.trim_stream("orders", 1).unwrap();
    assert_eq!(t.stream_len("orders"), 3, "positions survive the trim");
    let keys_of = |records: &[EventRecord]| -> Vec<Item> {
        records.iter().map(|r| r.change.keys.clone()).collect()
    };
    let read = reader.next_records(10).await.unwrap();
    assert_eq!(keys_of(&read), [keys("2"), keys("3")]);

    let shards = t.stream_shards("orders").await.unwrap();
    let page = shards.describe_stream(None).await.unwrap();
    assert_eq!(page.shards.len(), 1);
    assert!(!page.shards[0].closed, "the embedded shard is open");
    assert_eq!(page.last_evaluated_shard_id, None);
    assert!(
        shards
            .describe_stream(Some(EMBEDDED_SHARD_ID))
            .await
            .unwrap()
            .shards
            .is_empty()
    );
    let iterator = shards.trim_horizon(EMBEDDED_SHARD_ID).await.unwrap();
    let first = shards.get_records(&iterator, 1).await.unwrap();
    assert_eq!(keys_of(&first.records), [keys("2")]);
    let rest = shards
        .get_records(first.next_iterator.as_deref().unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(keys_of(&rest.records), [keys("3")]);
    let end = shards
        .get_records(rest.next_iterator.as_deref().unwrap(), 10)
        .await
        .unwrap();
    assert!(end.records.is_empty());
    assert!(end.next_iterator.is_some(), "an open shard never ends");
    assert!(matches!(
        shards.trim_horizon("shardId-other").await,
        Err(BackendError::NotFound(_))
    ));
}
