//! The worker's backoff: a record that failed in a way that may pass comes
//! back later with every failed receive, instead of after the queue's own
//! 60-second visibility timeout, so that its `maxReceiveCount` receives
//! span more than an hour of table trouble rather than five minutes.
//!
//! After the `n`-th receive failed, the failed record and the later records
//! of its message group held back with it get one visibility timeout drawn
//! from step `n` of `orders_adapters::settings::WORKER_BACKOFF_SECS` (about 1, 4,
//! 15 and 45 minutes, each up to half as long again). One draw per group, so
//! the group comes back together: on a FIFO queue no record of a group is
//! delivered while another is in flight, and a held-back record kept
//! invisible longer than the record before it would hold that one back in
//! turn. The step is the highest receive count of those records (normally
//! the failed one's: the records after it were received with it or less
//! often), so no record's own schedule is shortened.
//!
//! From the last receive on nothing is changed: the next receive would move
//! the message to the DLQ anyway, and the queue's own timeout gets it there
//! soonest. A refused `ChangeMessageVisibility` is logged and changes
//! nothing else: the record is still reported failed and comes back after
//! the queue's own timeout (AWS: "if you don't delete a message after it is
//! received, the visibility timeout for the message reverts to the original
//! timeout value", the API reference of
//! <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html>).

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use orders_adapters::ports::VisibilityDelay;
use orders_adapters::settings::WORKER_BACKOFF_SECS;
use orders_adapters::telemetry::ErrorChain;

use crate::handler::STAGE;

/// The SQS system attribute with the number of times a message was received,
/// this receive included.
pub const APPROXIMATE_RECEIVE_COUNT: &str = "ApproximateReceiveCount";

/// The record's receive count, this receive included; `None` when Lambda
/// sent none (never, from an SQS trigger) or it does not parse.
pub fn receive_count(record: &SqsMessage) -> Option<u32> {
    record
        .attributes
        .get(APPROXIMATE_RECEIVE_COUNT)
        .and_then(|count| count.parse().ok())
}

/// The visibility timeout after the `receive_count`-th receive of a record
/// failed, for a uniform draw `unit` in `[0, 1)`: within step
/// `receive_count` of the schedule, `None` from the last receive on. A
/// count of 0 (unknown) counts as the first receive.
pub fn backoff(receive_count: u32, unit: f64) -> Option<Duration> {
    let step = usize::try_from(receive_count.max(1) - 1).ok()?;
    let (floor, ceiling) = *WORKER_BACKOFF_SECS.get(step)?;
    let jitter = Duration::from_secs(ceiling - floor).mul_f64(unit.clamp(0.0, 1.0));
    Some(Duration::from_secs(floor) + jitter)
}

/// Keeps `records` (a failed record and the records of its group held back
/// after it) invisible for one backoff draw. Never fails: what SQS refuses
/// is logged, and those records come back after the queue's own timeout.
pub(crate) async fn back_off(visibility: &dyn VisibilityDelay, records: &[&SqsMessage]) {
    let Some(first) = records.first() else {
        return;
    };
    let message_id = first.message_id.as_deref().unwrap_or_default();
    let count = records
        .iter()
        .filter_map(|record| receive_count(record))
        .max()
        .unwrap_or(1);
    let Some(delay) = backoff(count, fastrand::f64()) else {
        return; // The last receive: the redrive policy takes it from here.
    };
    let changes = records.iter().map(|record| async move {
        let id = record.message_id.as_deref().unwrap_or_default();
        let Some(handle) = record.receipt_handle.as_deref() else {
            tracing::warn!(
                stage = STAGE,
                message_id = id,
                "record without a receipt handle: not backed off"
            );
            return false;
        };
        match visibility.delay(handle, delay).await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(
                    stage = STAGE,
                    message_id = id,
                    error = %ErrorChain(&err),
                    "visibility not changed; the record comes back after the queue's own timeout"
                );
                false
            }
        }
    });
    let changed = futures_util::future::join_all(changes)
        .await
        .into_iter()
        .filter(|changed| *changed)
        .count();
    tracing::info!(
        stage = STAGE,
        message_id,
        receive_count = count,
        backoff_secs = delay.as_secs(),
        records = records.len(),
        changed,
        "record and the records of its group held back with it retried after a backoff"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use orders_adapters::settings::{MAX_RECEIVE_COUNT, WORKER_SECS_TO_LAST_RECEIVE};
    use proptest::prelude::*;

    proptest! {
        /// Given any receive before the last and any draw, the backoff lies
        /// within that receive's step.
        #[test]
        fn every_backoff_is_within_its_step(count in 1u32..MAX_RECEIVE_COUNT, unit in 0.0f64..1.0) {
            let (floor, ceiling) = WORKER_BACKOFF_SECS[count as usize - 1];
            let delay = backoff(count, unit).unwrap();
            prop_assert!(delay >= Duration::from_secs(floor));
            prop_assert!(delay <= Duration::from_secs(ceiling));
        }
    }

    #[test]
    fn given_the_lowest_draws_then_the_last_receive_comes_after_more_than_an_hour() {
        let earliest: Duration = (1..MAX_RECEIVE_COUNT)
            .map(|count| backoff(count, 0.0).unwrap())
            .sum();
        assert_eq!(earliest, Duration::from_secs(WORKER_SECS_TO_LAST_RECEIVE));
        assert!(earliest >= Duration::from_secs(3600), "{earliest:?}");
    }

    #[test]
    fn given_the_last_receive_or_later_then_no_backoff() {
        assert_eq!(backoff(MAX_RECEIVE_COUNT, 0.5), None);
        assert_eq!(backoff(MAX_RECEIVE_COUNT + 7, 0.5), None);
        assert_eq!(backoff(u32::MAX, 0.5), None);
    }

    #[test]
    fn given_an_unknown_count_then_the_first_step() {
        assert_eq!(backoff(0, 0.0), Some(Duration::from_secs(60)));
        assert_eq!(
            backoff(0, 0.0),
            backoff(1, 0.0),
            "an unknown count never skips steps"
        );
    }

    #[test]
    fn given_the_top_of_the_draw_then_each_step_ends_half_as_long_again() {
        let tops: Vec<u64> = (1..MAX_RECEIVE_COUNT)
            .map(|count| backoff(count, 1.0).unwrap().as_secs())
            .collect();
        assert_eq!(tops, [90, 360, 1350, 4050]);
    }
}
