//! The filtered read of the stream: paging, ranges found exactly, and memory
//! bounded by the ranges.

use std::cmp::Ordering;

use super::*;
use crate::replay::stream::{PendingRanges, compare_sequence, find_range, read_stream};

/// Every sequence number the tests use.
fn everything() -> PendingRanges {
    PendingRanges::new([("0", "999999")])
}

#[tokio::test]
async fn given_paged_shards_a_closed_parent_and_an_open_child_then_every_record_of_each_is_read() {
    let fake = split_stream();
    let read = read_stream(&fake, &everything()).await.unwrap();
    let reads = &read.shards;
    assert_eq!(reads.len(), 2);
    assert_eq!(reads[0].shard_id, "shardId-parent");
    assert_eq!(seqs(&reads[0].records), [1, 2, 3, 4, 5]);
    assert_eq!(reads[1].shard_id, "shardId-child");
    assert_eq!(
        seqs(&reads[1].records),
        [6, 7, 8, 9],
        "the open shard's empty pages did not end its read early"
    );
    assert_eq!(read.records_read, 9);
    assert_eq!(
        *fake.describe_starts.lock().unwrap(),
        [None, Some("shardId-parent".to_owned())],
        "DescribeStream was paged with ExclusiveStartShardId"
    );
}

#[test]
fn sequence_numbers_compare_numerically_whatever_their_length() {
    assert_eq!(compare_sequence("9", "10"), Ordering::Less);
    assert_eq!(compare_sequence("100", "0100"), Ordering::Equal);
    assert_eq!(
        compare_sequence("400000000000000000002", "300000000000000000009"),
        Ordering::Greater
    );
}

#[tokio::test]
async fn given_a_range_then_it_is_found_only_when_both_ends_are_in_one_shards_read() {
    let read = read_stream(&split_stream(), &everything()).await.unwrap();
    let reads = &read.shards;
    let found = find_range(reads, &seq(6), &seq(8)).unwrap();
    assert_eq!(seqs(found), [6, 7, 8], "every record between the ends");
    assert_eq!(seqs(find_range(reads, "2", "0003").unwrap()), [2, 3]);
    assert!(
        find_range(reads, &seq(0), &seq(2)).is_none(),
        "start trimmed: a gap"
    );
    assert!(
        find_range(reads, &seq(8), &seq(10)).is_none(),
        "end not read"
    );
    assert!(
        find_range(reads, &seq(4), &seq(6)).is_none(),
        "across shards"
    );
}

#[test]
fn given_overlapping_and_reversed_ranges_then_exactly_the_numbers_inside_one_are_held() {
    let ranges = PendingRanges::new([("20", "30"), ("25", "40"), ("9", "5"), ("100", "100")]);
    let held: Vec<u64> = (0..=120).filter(|n| ranges.holds(&n.to_string())).collect();
    let expected: Vec<u64> = (5..=9).chain(20..=40).chain([100]).collect();
    assert_eq!(held, expected);
    assert!(ranges.holds(&seq(100)), "leading zeros do not matter");
    assert!(!PendingRanges::new([]).holds("1"));
    assert!(PendingRanges::new([]).is_empty());
}

proptest::proptest! {
    /// The merged binary search answers as a check of every range would.
    #[test]
    fn held_means_inside_some_range(
        ranges in proptest::collection::vec((0u64..500, 0u64..20), 0..20),
        probe in 0u64..600,
    ) {
        let ranges: Vec<(String, String)> = ranges
            .into_iter()
            .map(|(start, len)| (start.to_string(), (start + len).to_string()))
            .collect();
        let pending = PendingRanges::new(ranges.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        let inside = ranges.iter().any(|(a, b)| {
            a.parse::<u64>().unwrap() <= probe && probe <= b.parse::<u64>().unwrap()
        });
        proptest::prop_assert_eq!(pending.holds(&probe.to_string()), inside);
    }
}

#[tokio::test]
async fn given_a_stream_of_ten_thousand_records_and_two_short_ranges_then_only_those_and_one_page_are_held()
 {
    // Given two shards of 5,000 records each, read 100 per page
    let mut fake = FakeStream::new(vec![
        (
            shard("shardId-a", None, true),
            (1..=5_000).map(|n| record(n, "o", "INSERT")).collect(),
        ),
        (
            shard("shardId-b", Some("shardId-a"), true),
            (5_001..=10_000).map(|n| record(n, "o", "INSERT")).collect(),
        ),
    ]);
    fake.records_per_page = 100;
    // And two pending ranges of 5 records, one in each shard
    let ranges = PendingRanges::new([(seq(2_001).as_str(), seq(2_005).as_str()), ("7001", "7005")]);

    // When the stream is read
    let read = read_stream(&fake, &ranges).await.unwrap();

    // Then every record was read, but only the ranges' were kept, and at no
    // time were more held than those and one page
    assert_eq!(read.records_read, 10_000);
    assert_eq!(
        seqs(&read.shards[0].records),
        (2_001..=2_005).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(&read.shards[1].records),
        (7_001..=7_005).collect::<Vec<_>>()
    );
    assert!(
        read.peak_held <= 10 + 100,
        "held {} records at once",
        read.peak_held
    );
    assert!(find_range(&read.shards, &seq(7_001), &seq(7_005)).is_some());
}

#[tokio::test]
async fn given_a_replay_then_the_stream_read_keeps_only_the_records_of_its_messages() {
    // Given a DLQ message for records 2_001..=2_010 of a 3,000-record shard
    let r = Replay::new().await;
    let mut fake = FakeStream::new(vec![(
        shard("shardId-a", None, true),
        (1..=3_000).map(insert).collect(),
    )]);
    fake.records_per_page = 1_000;
    let id = r.send(lambda_record(2_001, 2_010)).await;

    // When replayed, then exactly those ten are published
    let report = r.run(&fake).await;
    assert_eq!(report.replayed, [id], "{report:?}");
    assert_eq!(report.records, 10);
    assert_eq!(
        r.published(),
        (2_001..=2_010)
            .map(|n| format!("o-{n}"))
            .collect::<Vec<_>>()
    );
}
