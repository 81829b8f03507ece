//! Reading the stream for a replay, in memory bounded by the ranges asked
//! for.
//!
//! Every shard is read from `TRIM_HORIZON` page by page ([`StreamShards`]:
//! every page of `DescribeStream` with `ExclusiveStartShardId`, a closed shard
//! until `GetRecords` answers no next iterator, an open one until its reads
//! come back empty), and of each page only the records whose sequence number
//! lies inside one of the [`PendingRanges`] (their boundaries included) are
//! kept. The stream holds up to 24 hours of images, personal data included;
//! a replay holds only the records of the ranges it replays, plus the one
//! page in hand.
//!
//! What is kept is enough to tell whether a range was read *exactly*: a shard
//! is ordered and trimmed only at its start, so when its first and its last
//! record are both among one shard's kept records, every record between them
//! was read and kept too ([`find_range`]).

use std::cmp::Ordering;

use aws_lambda_events::event::dynamodb::EventRecord;
use orders_backends::backend::{BackendError, BackendResult, ShardInfo, StreamShards};

/// Records asked for per `GetRecords` call (the API's maximum).
pub const RECORDS_PER_READ: usize = 1000;

/// Consecutive empty reads after which an open shard counts as read to its
/// end: an open shard has a next iterator forever, and may answer an empty
/// page before records that are already there.
const EMPTY_READS_AT_END: usize = 3;

/// Consecutive empty reads after which a closed shard that still answers a
/// next iterator is given up on (DynamoDB ends a closed shard with a null
/// iterator; this only stops an endpoint that never does). What was read is
/// kept: a range whose end was not read stays in the DLQ.
const EMPTY_READS_CLOSED_LIMIT: usize = 100;

/// Orders decimal sequence numbers of any length numerically.
pub fn compare_sequence(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn sequence_of(record: &EventRecord) -> Option<&str> {
    record.change.sequence_number.as_deref()
}

fn has_sequence(record: &EventRecord, sequence: &str) -> bool {
    sequence_of(record).is_some_and(|s| compare_sequence(s, sequence) == Ordering::Equal)
}

/// The sequence-number ranges a replay looks for, merged into disjoint
/// intervals sorted by their start, so that whether a record is wanted is
/// one binary search however many DLQ messages there are.
///
/// Shard ids are not compared: the notifier's own messages carry none, and
/// a record kept for a range of another shard costs memory only while that
/// range's records are kept anyway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingRanges {
    /// `(start, end)`, inclusive, disjoint, sorted.
    intervals: Vec<(String, String)>,
}

impl PendingRanges {
    /// The ranges `(start, end)`, inclusive; a reversed range is read as its
    /// two ends in order.
    pub fn new<'a>(ranges: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut ranges: Vec<(String, String)> = ranges
            .into_iter()
            .map(|(a, b)| match compare_sequence(a, b) {
                Ordering::Greater => (b.to_owned(), a.to_owned()),
                _ => (a.to_owned(), b.to_owned()),
            })
            .collect();
        ranges.sort_by(|x, y| compare_sequence(&x.0, &y.0));
        let mut intervals: Vec<(String, String)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match intervals.last_mut() {
                Some(last) if compare_sequence(&start, &last.1) != Ordering::Greater => {
                    if compare_sequence(&end, &last.1) == Ordering::Greater {
                        last.1 = end;
                    }
                }
                _ => intervals.push((start, end)),
            }
        }
        Self { intervals }
    }

    /// Whether no range is pending.
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// Whether `sequence` lies inside a pending range (boundaries included).
    pub fn holds(&self, sequence: &str) -> bool {
        // The intervals starting at or before `sequence`; the last of them is
        // the only one that can hold it (they are disjoint and sorted).
        let starts_before = self
            .intervals
            .partition_point(|(start, _)| compare_sequence(start, sequence) != Ordering::Greater);
        starts_before
            .checked_sub(1)
            .and_then(|i| self.intervals.get(i))
            .is_some_and(|(_, end)| compare_sequence(sequence, end) != Ordering::Greater)
    }

    /// Whether `record` is one a replay keeps.
    pub fn keeps(&self, record: &EventRecord) -> bool {
        sequence_of(record).is_some_and(|s| self.holds(s))
    }
}

/// One shard's records inside the pending ranges, read from its trim horizon
/// without a gap, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardRead {
    /// The shard.
    pub shard_id: String,
    /// The records the shard still held that lie inside a pending range,
    /// oldest first.
    pub records: Vec<EventRecord>,
}

/// What a filtered read of the whole stream kept, and what it cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamRead {
    /// Each shard's kept records.
    pub shards: Vec<ShardRead>,
    /// Records read from the stream, kept or not.
    pub records_read: usize,
    /// The most records held at once: everything kept so far plus the page
    /// in hand. Bounded by the ranges (and one page), not by the stream.
    pub peak_held: usize,
}

impl StreamRead {
    /// Counts `page` records in hand on top of what is kept.
    fn in_hand(&mut self, page: usize) {
        let kept: usize = self.shards.iter().map(|s| s.records.len()).sum();
        self.peak_held = self.peak_held.max(kept + page);
        self.records_read += page;
    }
}

/// Reads every shard of a stream, every page of `DescribeStream`, each shard
/// from its trim horizon to its end, keeping only the records `ranges` hold.
pub async fn read_stream(
    shards: &dyn StreamShards,
    ranges: &PendingRanges,
) -> BackendResult<StreamRead> {
    let mut read = StreamRead::default();
    let mut start: Option<String> = None;
    loop {
        let page = shards.describe_stream(start.as_deref()).await?;
        for shard in &page.shards {
            read_shard(shards, shard, ranges, &mut read).await?;
        }
        match page.last_evaluated_shard_id {
            // An endpoint repeating its own start would loop forever.
            Some(last) if start.as_deref() != Some(last.as_str()) => start = Some(last),
            _ => return Ok(read),
        }
    }
}

/// Reads one shard from `TRIM_HORIZON` into `read`: a closed shard until no
/// next iterator, an open one until [`EMPTY_READS_AT_END`] empty reads in a
/// row.
async fn read_shard(
    shards: &dyn StreamShards,
    shard: &ShardInfo,
    ranges: &PendingRanges,
    read: &mut StreamRead,
) -> BackendResult<()> {
    read.shards.push(ShardRead {
        shard_id: shard.shard_id.clone(),
        records: Vec::new(),
    });
    let mut iterator = match shards.trim_horizon(&shard.shard_id).await {
        Ok(iterator) => iterator,
        Err(BackendError::NotFound(_)) => {
            // Listed but gone since (trimmed whole): nothing of it can be found.
            tracing::warn!(shard_id = %shard.shard_id, "shard no longer readable; its ranges are not in the stream");
            return Ok(());
        }
        Err(err) => return Err(err),
    };
    let limit = if shard.closed {
        EMPTY_READS_CLOSED_LIMIT
    } else {
        EMPTY_READS_AT_END
    };
    let mut empty_reads = 0;
    loop {
        let page = shards.get_records(&iterator, RECORDS_PER_READ).await?;
        read.in_hand(page.records.len());
        if page.records.is_empty() {
            empty_reads += 1;
        } else {
            empty_reads = 0;
            let kept = page.records.into_iter().filter(|r| ranges.keeps(r));
            if let Some(current) = read.shards.last_mut() {
                current.records.extend(kept);
            }
        }
        let Some(next) = page.next_iterator else {
            return Ok(());
        };
        if empty_reads >= limit {
            if shard.closed {
                tracing::warn!(shard_id = %shard.shard_id, "closed shard never ended; ranges past what was read are not in the stream");
            }
            return Ok(());
        }
        iterator = next;
    }
}

/// The records from `start` to `end` (inclusive) when both were found in one
/// shard's read, in that order; `None` when the start was trimmed, the end was
/// not read, or they are not in the same shard.
pub fn find_range<'a>(reads: &'a [ShardRead], start: &str, end: &str) -> Option<&'a [EventRecord]> {
    reads.iter().find_map(|read| {
        let first = read.records.iter().position(|r| has_sequence(r, start))?;
        let last = read.records.iter().position(|r| has_sequence(r, end))?;
        read.records.get(first..=last)
    })
}
