//! Finding the stream's shards and ordering them by lineage: which shards
//! exist (every page of `DescribeStream`), where each starts (its
//! checkpoint), and which may be read now (those whose parent is done).

use std::collections::HashMap;

use tokio::time::Instant;

use super::{AwsStreamReader, DISCOVERY_INTERVAL, Position, Shard, State};
use crate::backend::{BackendError, BackendResult, Checkpoint, ShardInfo};

impl AwsStreamReader {
    /// Every page of `DescribeStream`.
    async fn list_shards(&self) -> BackendResult<Vec<ShardInfo>> {
        let mut listed = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let page = self.api.describe_stream(start.as_deref()).await?;
            listed.extend(page.shards);
            match page.last_evaluated_shard_id {
                // An endpoint repeating its own start would loop forever.
                Some(last) if start.as_deref() != Some(last.as_str()) => start = Some(last),
                _ => return Ok(listed),
            }
        }
    }

    /// Lists the shards and learns the new ones, each waiting at its
    /// checkpoint (or ended at `SHARD_END`); once, a checkpointed shard no
    /// longer listed is looked up (see [`AwsStreamReader::check_unlisted`]).
    pub(super) async fn discover(&mut self) -> BackendResult<()> {
        let listed = self.list_shards().await?;
        if self.resume.is_none() {
            let loaded = match &self.store {
                Some(store) => store.load(&self.stream_arn).await?,
                None => HashMap::new(),
            };
            self.resume = Some(loaded);
        }
        let resume = self.resume.clone().unwrap_or_default();
        for info in listed {
            if self.shards.contains_key(&info.shard_id) {
                continue;
            }
            let state = match resume.get(&info.shard_id) {
                Some(Checkpoint::ShardEnd) => {
                    self.progress.mark_ended(&info.shard_id);
                    State::Ended
                }
                Some(Checkpoint::After {
                    sequence_number,
                    arrived_at,
                }) => {
                    tracing::info!(
                        shard_id = %info.shard_id,
                        sequence_number,
                        "stream reader resumes after its checkpoint"
                    );
                    State::Waiting(Position::After {
                        sequence_number: sequence_number.clone(),
                        arrived_at: *arrived_at,
                    })
                }
                None => State::Waiting(Position::TrimHorizon),
            };
            let shard = Shard {
                parent: info.parent_shard_id,
                state,
            };
            self.shards.insert(info.shard_id, shard);
        }
        if !self.unlisted_checked {
            self.check_unlisted(resume).await?;
            self.unlisted_checked = true;
        }
        self.next_discovery = Some(Instant::now() + DISCOVERY_INTERVAL);
        Ok(())
    }

    /// The checkpointed shards (not at their end) the listing left out: one
    /// the stream no longer has was closed and deleted since, and what
    /// followed its checkpoint went with it (a gap); one it still has (the
    /// listing was short) is read like the others.
    async fn check_unlisted(&mut self, resume: HashMap<String, Checkpoint>) -> BackendResult<()> {
        for (shard_id, checkpoint) in resume {
            let Checkpoint::After {
                sequence_number,
                arrived_at,
            } = checkpoint
            else {
                continue;
            };
            if self.shards.contains_key(&shard_id) {
                continue;
            }
            let state = match self
                .api
                .after_sequence_number(&shard_id, &sequence_number)
                .await
            {
                Err(BackendError::NotFound(_)) => None,
                // Still there: reading it finds any gap the usual way.
                Ok(_) | Err(BackendError::Trimmed(_)) => Some(State::Waiting(Position::After {
                    sequence_number: sequence_number.clone(),
                    arrived_at,
                })),
                Err(err) => return Err(err),
            };
            let gone = state.is_none();
            let shard = Shard {
                parent: None,
                state: state.unwrap_or(State::Ended),
            };
            self.shards.insert(shard_id.clone(), shard);
            if gone {
                self.gone(&shard_id, Some((sequence_number, arrived_at)));
            }
        }
        Ok(())
    }

    /// Whether `parent` (a child's) is done: read to its end with every
    /// record done, or unknown to the stream and to the checkpoints.
    fn parent_done(&self, parent: Option<&str>) -> bool {
        parent.is_none_or(|p| !self.shards.contains_key(p) || self.progress.is_ended(p))
    }

    /// Starts reading the waiting shards whose parent is done.
    pub(super) fn promote(&mut self) {
        let ready: Vec<String> = self
            .shards
            .iter()
            .filter(|(_, s)| matches!(s.state, State::Waiting(_)))
            .filter(|(_, s)| self.parent_done(s.parent.as_deref()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ready {
            if let Some(shard) = self.shards.get_mut(&id) {
                let state = std::mem::replace(&mut shard.state, State::Ended);
                if let State::Waiting(position) = state {
                    shard.state = State::Reading {
                        position,
                        iterator: None,
                        trimmed_after: None,
                    };
                    self.turns.push_back(id);
                }
            }
        }
    }

    /// Whether a shard waits for its parent.
    pub(super) fn any_waiting(&self) -> bool {
        self.shards
            .values()
            .any(|s| matches!(s.state, State::Waiting(_)))
    }
}
