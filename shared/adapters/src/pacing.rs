//! The send pace of the e-mailing consumers (admin-digest, confirmation):
//! at most one send per interval per invocation.
//!
//! After each send the handler sleeps what is left of the interval since
//! the send began, the last send included, so an invocation that returns
//! and a next one that starts at once still keep the pace. With the event
//! source mapping's `MaximumConcurrency` invocations at most at a time, a
//! function's send rate is bounded by `MaximumConcurrency / interval`
//! whatever the order rate: each function picks the interval that makes
//! that its quota (the admin topic's e-mail rate, the account's SES
//! maximum send rate).
//!
//! Time is tokio's: in Lambda and the local runner the real clock, in tests
//! a paused one that `sleep` advances at once, so the pace is checked
//! exactly and without waiting.

use std::time::Duration;

use tokio::time::Instant;

/// Keeps sends at least `interval` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacer {
    interval: Duration,
}

impl Pacer {
    /// A pace of one send per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self { interval }
    }

    /// The interval.
    pub fn interval(self) -> Duration {
        self.interval
    }

    /// Waits until `interval` has passed since `started`, when the send began.
    pub async fn after_send(self, started: Instant) {
        tokio::time::sleep_until(started + self.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn given_a_quick_send_then_the_rest_of_the_interval_is_slept() {
        let pacer = Pacer::new(Duration::from_secs(1));
        let started = Instant::now();
        tokio::time::advance(Duration::from_millis(120)).await;
        pacer.after_send(started).await;
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn given_a_send_slower_than_the_interval_then_nothing_more_is_slept() {
        let pacer = Pacer::new(Duration::from_secs(1));
        let started = Instant::now();
        tokio::time::advance(Duration::from_millis(1500)).await;
        pacer.after_send(started).await;
        assert_eq!(started.elapsed(), Duration::from_millis(1500));
    }
}
