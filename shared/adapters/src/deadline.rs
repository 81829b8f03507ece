//! An invocation's deadline, as Lambda gives it: milliseconds since the
//! epoch (the runtime API's `Lambda-Runtime-Deadline-Ms`, the context's
//! `deadline`), turned into time left on tokio's clock, which tests may
//! pause and advance.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// How long is left until `deadline_ms` (zero once it has passed).
pub fn time_left(deadline_ms: u64) -> Duration {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// The deadline on tokio's clock; `None` when the context has none (`0`, a
/// hand-built context in tests).
pub fn on_tokio_clock(deadline_ms: u64) -> Option<Instant> {
    (deadline_ms != 0).then(|| Instant::now() + time_left(deadline_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_ms_in(d: Duration) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        u64::try_from((now + d).as_millis()).unwrap()
    }

    #[test]
    fn given_a_deadline_ahead_then_about_that_much_is_left() {
        let left = time_left(epoch_ms_in(Duration::from_secs(30)));
        assert!(left <= Duration::from_secs(30) && left > Duration::from_secs(29));
    }

    #[test]
    fn given_a_past_or_missing_deadline_then_nothing_is_left_or_there_is_none() {
        assert_eq!(time_left(1), Duration::ZERO);
        assert_eq!(on_tokio_clock(0), None);
    }

    #[tokio::test(start_paused = true)]
    async fn given_a_deadline_then_it_is_that_far_on_tokios_clock() {
        let at = on_tokio_clock(epoch_ms_in(Duration::from_secs(60))).unwrap();
        let ahead = at - Instant::now();
        assert!(ahead <= Duration::from_secs(60) && ahead > Duration::from_secs(59));
    }
}
