//! Reading a DynamoDB stream forward by the Kinesis Client Library's rules,
//! over [`StreamShards`] (the DynamoDB Streams calls, or a scripted fake in
//! the tests).
//!
//! A table's stream has one open shard per partition, and "shards are
//! ephemeral: they are created and deleted automatically, as needed. Any
//! shard can also split into multiple new shards"; a shard names the one it
//! split from (`ParentShardId`), and "because shards have a lineage (parent
//! and children), an application must always process a parent shard before
//! it processes a child shard"
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html>).
//! `DescribeStream` promises no order of the shards it lists (a child may
//! come before its parent), so the reader orders them by lineage itself.
//!
//! - **Every open shard in turn**: each call reads the shards one after the
//!   other, starting after the one read last, and returns the first records
//!   found (all of one shard, so [`StreamReader::shard_id`] names it).
//! - **Rediscovery**: `DescribeStream` again every [`DISCOVERY_INTERVAL`]
//!   (the KCL's `shardSyncIntervalMillis`,
//!   <https://docs.aws.amazon.com/streams/latest/dev/kcl-configuration.html>),
//!   at once after a shard ends (its children appear then), and while no
//!   shard is known.
//! - **Parents first**: a child is read only once its parent was read to
//!   its end and every record of it is done (checkpointed `SHARD_END`, see
//!   [`super::checkpoint`]); a parent the stream no longer lists, and that
//!   has no checkpoint, was trimmed before this reader knew it.
//! - **Trimmed gaps**: a position the stream no longer keeps
//!   (`TrimmedDataAccessException`) reads on from the shard's trim horizon,
//!   and the records between are a [`TrimmedGap`] for the caller to report
//!   ([`StreamReader::take_trimmed_gaps`]); so is the rest of a
//!   checkpointed shard the stream no longer lists. An expired iterator is
//!   replaced by a fresh one at the same position.
//! - **Lease**: with a lease ([`super::lease`]), nothing is read while it is
//!   unconfirmed, and nothing read or checkpointed once it is lost.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::checkpoint::{Progress, arrival};
use super::lease::{Lease, LeaseStatus};
use crate::backend::{
    BackendError, BackendResult, Checkpoint, CheckpointStore, RecordPage, StreamReader,
    StreamShards, TrimmedGap,
};

/// How often the shards are listed again while reading (the KCL's default
/// `shardSyncIntervalMillis`, 60,000).
pub(super) const DISCOVERY_INTERVAL: Duration = Duration::from_secs(60);

/// Where a shard is read from next.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Position {
    /// Its oldest record kept: nothing of it was read or checkpointed.
    TrimHorizon,
    /// Right after this record.
    After {
        sequence_number: String,
        arrived_at: Option<OffsetDateTime>,
    },
}

/// A known shard.
#[derive(Debug)]
struct Shard {
    parent: Option<String>,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Not read until its parent is done.
    Waiting(Position),
    /// Being read.
    Reading {
        position: Position,
        /// The next iterator; none before the first read or after a failed
        /// one (a fresh one is taken at the position).
        iterator: Option<String>,
        /// The position the stream no longer kept, until the first read
        /// from the trim horizon says where the gap ends.
        trimmed_after: Option<(String, Option<OffsetDateTime>)>,
    },
    /// Read to its end, or gone from the stream.
    Ended,
}

/// Reads every shard of a stream (see the module's documentation). With a
/// [`CheckpointStore`], each shard resumes after its checkpoint and
/// [`StreamReader::checkpoint`] saves new ones; without one, every shard
/// starts at `TRIM_HORIZON` and nothing is kept.
pub(super) struct AwsStreamReader {
    api: Box<dyn StreamShards>,
    stream_arn: String,
    store: Option<Arc<dyn CheckpointStore>>,
    lease: Option<Lease>,
    shards: BTreeMap<String, Shard>,
    /// Shards being read, in the order of their next turn.
    turns: VecDeque<String>,
    /// The checkpoints saved before this reader started, loaded at the first
    /// discovery (a failed load is an error of that read, tried again with
    /// the next: starting at the trim horizon instead would publish
    /// everything again).
    resume: Option<HashMap<String, Checkpoint>>,
    /// Whether the checkpointed shards the first listing left out were
    /// looked up.
    unlisted_checked: bool,
    progress: Progress,
    gaps: Vec<TrimmedGap>,
    current_shard: String,
    /// When to list the shards again; `None`: at the next read.
    next_discovery: Option<Instant>,
}

impl AwsStreamReader {
    pub(super) fn new(
        api: Box<dyn StreamShards>,
        stream_arn: &str,
        store: Option<Arc<dyn CheckpointStore>>,
        lease: Option<Lease>,
    ) -> Self {
        Self {
            api,
            stream_arn: stream_arn.to_owned(),
            store,
            lease,
            shards: BTreeMap::new(),
            turns: VecDeque::new(),
            resume: None,
            unlisted_checked: false,
            progress: Progress::default(),
            gaps: Vec::new(),
            current_shard: String::new(),
            next_discovery: None,
        }
    }

    /// `shard_id` ended: its end is done once its records are, and its
    /// children are looked for at once.
    fn end(&mut self, shard_id: &str) {
        if let Some(shard) = self.shards.get_mut(shard_id) {
            shard.state = State::Ended;
        }
        if self.store.is_some() {
            self.progress.end_of_shard(shard_id);
        } else {
            self.progress.mark_ended(shard_id);
        }
        self.next_discovery = None;
    }

    /// `shard_id` is gone from the stream: records after `after` (when this
    /// reader had a position in it) went with it.
    fn gone(&mut self, shard_id: &str, after: Option<(String, Option<OffsetDateTime>)>) {
        if let Some((sequence_number, arrived_at)) = after {
            tracing::warn!(
                shard_id,
                sequence_number,
                "stream shard gone with records not yet read: the gap goes to the on-failure destination"
            );
            self.gaps.push(TrimmedGap {
                stream_arn: self.stream_arn.clone(),
                shard_id: shard_id.to_owned(),
                after_sequence_number: sequence_number,
                after_arrival: arrived_at,
                before_sequence_number: None,
                before_arrival: OffsetDateTime::now_utc(),
            });
        }
        self.end(shard_id);
    }

    /// The position of a shard being read, with a trimmed position first.
    fn known_position(&self, shard_id: &str) -> Option<(String, Option<OffsetDateTime>)> {
        match &self.shards.get(shard_id)?.state {
            State::Reading {
                trimmed_after: Some(trimmed),
                ..
            } => Some(trimmed.clone()),
            State::Reading {
                position:
                    Position::After {
                        sequence_number,
                        arrived_at,
                    },
                ..
            } => Some((sequence_number.clone(), *arrived_at)),
            _ => None,
        }
    }

    /// A fresh iterator at the shard's position; `None` when the shard is
    /// gone (and ended).
    async fn fresh_iterator(&mut self, shard_id: &str) -> BackendResult<Option<String>> {
        let position = match self.shards.get(shard_id).map(|s| &s.state) {
            Some(State::Reading { position, .. }) => position.clone(),
            _ => return Ok(None),
        };
        let answer = match &position {
            Position::TrimHorizon => self.api.trim_horizon(shard_id).await,
            Position::After {
                sequence_number,
                arrived_at,
            } => match self
                .api
                .after_sequence_number(shard_id, sequence_number)
                .await
            {
                Err(BackendError::Trimmed(_)) => {
                    tracing::warn!(
                        shard_id,
                        sequence_number,
                        "the stream no longer keeps this shard's position: reading on from its trim horizon, the gap goes to the on-failure destination"
                    );
                    if let Some(Shard {
                        state: State::Reading { trimmed_after, .. },
                        ..
                    }) = self.shards.get_mut(shard_id)
                    {
                        *trimmed_after = Some((sequence_number.clone(), *arrived_at));
                    }
                    self.api.trim_horizon(shard_id).await
                }
                other => other,
            },
        };
        match answer {
            Ok(iterator) => Ok(Some(iterator)),
            Err(BackendError::NotFound(_)) => {
                let after = self.known_position(shard_id);
                self.gone(shard_id, after);
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// One `GetRecords` of a shard being read (a second one with a fresh
    /// iterator when the first was trimmed or expired).
    async fn read_shard(&mut self, shard_id: &str, max: usize) -> BackendResult<Vec<EventRecord>> {
        let mut fresh_taken = false;
        loop {
            let held = match self.shards.get_mut(shard_id).map(|s| &mut s.state) {
                Some(State::Reading { iterator, .. }) => iterator.take(),
                _ => return Ok(Vec::new()),
            };
            let iterator = match held {
                Some(iterator) => iterator,
                None => {
                    fresh_taken = true;
                    match self.fresh_iterator(shard_id).await? {
                        Some(iterator) => iterator,
                        None => return Ok(Vec::new()),
                    }
                }
            };
            match self.api.get_records(&iterator, max).await {
                Ok(page) => return Ok(self.read_page(shard_id, page)),
                // Read on from the position with a fresh iterator (once a
                // fresh one fails too, the next read tries again).
                Err(BackendError::Trimmed(_) | BackendError::IteratorExpired(_))
                    if !fresh_taken => {}
                Err(BackendError::NotFound(_)) => {
                    let after = self.known_position(shard_id);
                    self.gone(shard_id, after);
                    return Ok(Vec::new());
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Takes in one page of a shard: its gap if one was pending, its new
    /// position and next iterator, its end.
    fn read_page(&mut self, shard_id: &str, page: RecordPage) -> Vec<EventRecord> {
        let Some(Shard {
            state:
                State::Reading {
                    position,
                    iterator,
                    trimmed_after,
                },
            ..
        }) = self.shards.get_mut(shard_id)
        else {
            return Vec::new();
        };
        let first = page.records.first();
        if let Some((after, after_arrival)) = trimmed_after.take() {
            self.gaps.push(TrimmedGap {
                stream_arn: self.stream_arn.clone(),
                shard_id: shard_id.to_owned(),
                after_sequence_number: after,
                after_arrival,
                before_sequence_number: first.and_then(|r| r.change.sequence_number.clone()),
                before_arrival: first
                    .and_then(arrival)
                    .unwrap_or_else(OffsetDateTime::now_utc),
            });
        }
        if let Some((last, sequence_number)) = page
            .records
            .iter()
            .rev()
            .find_map(|r| Some((r, r.change.sequence_number.clone()?)))
        {
            *position = Position::After {
                sequence_number,
                arrived_at: arrival(last),
            };
        }
        let ended = match page.next_iterator {
            Some(next) => {
                *iterator = Some(next);
                false
            }
            None => true,
        };
        if self.store.is_some() {
            self.progress.returned(shard_id, &page.records);
        }
        if ended {
            self.end(shard_id);
        }
        page.records
    }
}

#[async_trait]
impl StreamReader for AwsStreamReader {
    async fn next_records(&mut self, max: usize) -> BackendResult<Vec<EventRecord>> {
        if let Some(lease) = &self.lease {
            match lease.status() {
                LeaseStatus::Held => {}
                // Another runner may be taking over: read nothing until a
                // renewal says it is still ours.
                LeaseStatus::Unconfirmed => return Ok(Vec::new()),
                LeaseStatus::Lost => return Err(lease.lost()),
            }
        }
        let due = self.next_discovery.is_none_or(|at| Instant::now() >= at);
        if due || (self.turns.is_empty() && !self.any_waiting()) {
            self.discover().await?;
        }
        self.promote();
        for _ in 0..self.turns.len() {
            let Some(shard_id) = self.turns.pop_front() else {
                break;
            };
            let read = self.read_shard(&shard_id, max).await;
            let reading = matches!(
                self.shards.get(&shard_id).map(|s| &s.state),
                Some(State::Reading { .. })
            );
            if reading {
                self.turns.push_back(shard_id.clone());
            } else {
                // Its children may be read now (or after the next discovery).
                self.promote();
            }
            let records = read?;
            if !records.is_empty() {
                self.current_shard = shard_id;
                return Ok(records);
            }
        }
        Ok(Vec::new())
    }

    fn shard_id(&self) -> String {
        self.current_shard.clone()
    }

    async fn checkpoint(&mut self, sequence_number: &str) -> BackendResult<()> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        if let Some(lease) = &self.lease
            && lease.status() == LeaseStatus::Lost
        {
            return Err(lease.lost());
        }
        self.progress.done_through(sequence_number);
        self.progress.save(store.as_ref(), &self.stream_arn).await
    }

    fn take_trimmed_gaps(&mut self) -> Vec<TrimmedGap> {
        std::mem::take(&mut self.gaps)
    }

    async fn close(&mut self) -> BackendResult<()> {
        // What is done and not yet saved, unless another runner owns the
        // stream now.
        let lost = self
            .lease
            .as_ref()
            .is_some_and(|lease| lease.status() == LeaseStatus::Lost);
        let saved = match &self.store {
            Some(store) if !lost => self.progress.save(store.as_ref(), &self.stream_arn).await,
            _ => Ok(()),
        };
        if let Some(lease) = self.lease.take() {
            lease.release().await?;
        }
        saved
    }
}

mod discovery;
#[cfg(test)]
mod tests;
