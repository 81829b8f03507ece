//! How long the notifier keeps retrying what SNS refused, and how long it
//! waits between tries.
//!
//! Refused entries are retried inside the invocation with exponential
//! backoff and full jitter: the wait before try `n` is drawn uniformly from
//! `0..=min(CAP, BASE * 2^n)`, which spreads the retries of many notifier
//! instances throttled at the same moment instead of having them return in
//! step (<https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/>,
//! <https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html>).
//!
//! Retrying stops while there is still time to settle the batch: dead-letter
//! what was refused for good and answer before Lambda's timeout ends the
//! invocation, which would retry the whole batch and publish again what SNS
//! had accepted.

use std::time::Duration;

use tokio::time::Instant;

/// The wait before the first retry may be up to this long.
pub const BASE: Duration = Duration::from_millis(25);
/// No wait is longer than this.
pub const CAP: Duration = Duration::from_secs(1);
/// Time kept back from the invocation's deadline to settle the batch (one
/// dead-letter send per refused record, the answer), unless that is more
/// than a fifth of the time there was.
pub const RESERVE: Duration = Duration::from_secs(2);

/// When the invocation stops retrying.
#[derive(Debug, Clone, Copy)]
pub struct RetryBudget {
    until: Instant,
}

impl RetryBudget {
    /// The budget of an invocation whose deadline is `deadline_ms`
    /// (milliseconds since the Unix epoch, as Lambda's context gives it).
    /// A deadline already past, or none (`0`), leaves no time to retry.
    pub fn from_deadline(deadline_ms: u64) -> Self {
        Self::within(orders_adapters::deadline::time_left(deadline_ms))
    }

    /// The budget of an invocation with `remaining` time left, counted on
    /// tokio's clock (which tests may pause and advance).
    pub fn within(remaining: Duration) -> Self {
        let reserve = RESERVE.min(remaining / 5);
        Self {
            until: Instant::now() + remaining.saturating_sub(reserve),
        }
    }

    /// Waits before retry number `attempt` (1 for the first retry) and
    /// returns `true`, or returns `false` at once when that wait would end
    /// past the budget.
    pub async fn wait(&self, attempt: u32) -> bool {
        let delay = full_jitter(attempt, fastrand::f64());
        if Instant::now() + delay >= self.until {
            return false;
        }
        tokio::time::sleep(delay).await;
        true
    }
}

/// The wait before retry `attempt`, for a uniform draw `unit` in `[0, 1)`.
pub fn full_jitter(attempt: u32, unit: f64) -> Duration {
    let ceiling = BASE
        .checked_mul(2u32.saturating_pow(attempt.min(16)))
        .unwrap_or(CAP)
        .min(CAP);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_wait_is_within_the_exponential_ceiling_and_the_cap(attempt in 0u32..100, unit in 0.0f64..1.0) {
            let wait = full_jitter(attempt, unit);
            prop_assert!(wait <= CAP);
            let ceiling = BASE.saturating_mul(2u32.saturating_pow(attempt.min(16))).min(CAP);
            prop_assert!(wait <= ceiling);
        }
    }

    #[test]
    fn given_the_top_of_the_draw_then_the_ceiling_doubles_until_the_cap() {
        let almost_one = 0.999;
        let waits: Vec<u128> = (1..8)
            .map(|a| full_jitter(a, almost_one).as_millis())
            .collect();
        assert_eq!(waits, vec![49, 99, 199, 399, 799, 999, 999]);
    }

    #[tokio::test(start_paused = true)]
    async fn given_ten_seconds_then_retries_stop_two_seconds_before_the_deadline() {
        let start = Instant::now();
        let budget = RetryBudget::within(Duration::from_secs(10));
        let mut attempt = 0;
        while budget.wait(attempt + 1).await {
            attempt += 1;
        }
        let spent = start.elapsed();
        assert!(spent <= Duration::from_secs(8), "{spent:?}");
        // With waits of up to a second, the budget ends less than one wait short of 8 s.
        assert!(spent > Duration::from_secs(7) - CAP, "{spent:?}");
        assert!(attempt > 5);
    }

    #[tokio::test(start_paused = true)]
    async fn given_no_deadline_then_there_is_no_retry() {
        let budget = RetryBudget::from_deadline(0);
        assert!(!budget.wait(1).await);
    }
}
