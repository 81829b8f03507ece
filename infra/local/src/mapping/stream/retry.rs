//! The retry state at the shard's checkpoint, after AWS's documented
//! semantics (see [`super`]): pure, so they are unit-tested without a stream.

use std::collections::VecDeque;

use orders_adapters::settings::NOTIFIER_BATCH_SIZE;

use super::MAX_BACKOFF_STEPS;

/// What one invocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Invocation {
    /// Every record succeeded.
    Success,
    /// Records before this index succeeded; the function returned normally.
    ItemFailure(usize),
    /// Error, timeout or unknown identifier: nothing succeeded.
    FunctionError,
}

/// What the mapping does after one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Decision {
    /// Leading records of the batch that are done (the checkpoint moves past them).
    pub(super) done: usize,
    /// Records after those that go to the on-failure destination, retries
    /// exhausted.
    pub(super) exhausted: usize,
    /// `approximateInvokeCount` for the on-failure record.
    pub(super) invoke_count: u32,
    /// Wait `retry_backoff` times this before the next invocation (0: none).
    pub(super) backoff: u32,
}

/// The retry state of the shard's checkpoint: which batches the next
/// invocations take and how much of the retry quota the record at the
/// checkpoint has used. Pure, so the documented semantics are unit-tested
/// without a stream.
#[derive(Debug, Default)]
pub(super) struct Checkpoint {
    /// Sizes of the batches to invoke, in order, before a fresh batch is
    /// taken: the rest of a batch after an item failure, or the halves of a
    /// bisected one. They cover the leading pending records.
    pub(super) retry_batches: VecDeque<usize>,
    /// Failed invocations counted against the quota since the checkpoint
    /// last moved.
    pub(super) retries: u32,
    /// Invocations that held the record at the checkpoint.
    pub(super) invocations: u32,
}

impl Checkpoint {
    /// Size of the next batch, given `available` pending records.
    pub(super) fn next_len(&self, available: usize) -> usize {
        self.retry_batches
            .front()
            .copied()
            .unwrap_or(NOTIFIER_BATCH_SIZE)
            .min(available)
    }

    /// The checkpoint moved past `n` records without an invocation (records
    /// aged out): they leave the retry batches, and the quota starts again.
    pub(super) fn skip(&mut self, mut n: usize) {
        if n == 0 {
            return;
        }
        while n > 0 {
            let Some(front) = self.retry_batches.front_mut() else {
                break;
            };
            let taken = n.min(*front);
            *front -= taken;
            n -= taken;
            if *front == 0 {
                self.retry_batches.pop_front();
            }
        }
        self.retries = 0;
        self.invocations = 0;
    }

    /// Counts one failure against the quota of the batch of `len` records
    /// (already the remainder from the checkpoint) and decides whether it is
    /// retried or given up on.
    fn retry_or_give_up(&mut self, len: usize, max_retries: Option<u32>, done: usize) -> Decision {
        self.retries = self.retries.saturating_add(1);
        if max_retries.is_some_and(|max| self.retries > max) {
            let invoke_count = self.invocations;
            self.retries = 0;
            self.invocations = 0;
            return Decision {
                done,
                exhausted: len,
                invoke_count,
                backoff: 0,
            };
        }
        self.retry_batches.push_front(len);
        Decision {
            done,
            backoff: self.retries.min(MAX_BACKOFF_STEPS),
            ..Decision::default()
        }
    }

    /// Applies the outcome of invoking the first `len` pending records (the
    /// batch [`Checkpoint::next_len`] chose).
    pub(super) fn after(
        &mut self,
        len: usize,
        outcome: Invocation,
        max_retries: Option<u32>,
        bisect: bool,
    ) -> Decision {
        // The batch just invoked was the first retry batch, if there was one.
        self.retry_batches.pop_front();
        self.invocations = self.invocations.saturating_add(1);
        match outcome {
            Invocation::Success => {
                self.retries = 0;
                self.invocations = 0;
                Decision {
                    done: len,
                    ..Decision::default()
                }
            }
            Invocation::ItemFailure(index) => {
                let index = index.min(len);
                if index > 0 {
                    // A new record is at the checkpoint; this invocation held it once.
                    self.retries = 0;
                    self.invocations = 1;
                }
                // "Bisected at the returned sequence number": the whole rest
                // of the batch is retried, not half of it.
                self.retry_or_give_up(len - index, max_retries, index)
            }
            Invocation::FunctionError if bisect && len > 1 => {
                // Splitting does not consume the retry quota.
                let first = len.div_ceil(2);
                self.retry_batches.push_front(len - first);
                self.retry_batches.push_front(first);
                Decision {
                    backoff: 1,
                    ..Decision::default()
                }
            }
            Invocation::FunctionError => self.retry_or_give_up(len, max_retries, 0),
        }
    }
}

#[cfg(test)]
mod tests;
