//! Pacing of re-announcements: `--rate` events per second.
//!
//! `renotify` and the notifier DLQ redrive publish `OrderCreated` events in
//! bulk; unpaced, they go out as fast as SNS answers, which can flood the
//! consuming teams' queues and functions and eat into the account's SNS
//! Publish quota that the live notifier shares. A [`Pacer`] admits at most
//! [`Rate`] events in any one second of tokio time, spread evenly: each batch
//! books `events / rate` seconds, and a batch waits while the last second's
//! admissions plus its own would exceed the rate. Idle time earns no burst.
//!
//! The pacer counts the start of each publish call; tests drive it on tokio's
//! paused clock, never on the wall clock.

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use tokio::time::Instant;

/// The window the rate is counted over.
const WINDOW: Duration = Duration::from_secs(1);

/// Events per second: a whole number, at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(NonZeroU32);

impl Rate {
    /// The default `--rate`: 50 events per second, the orders API's own default
    /// steady-state rate (the template's `ApiThrottleRateLimit`), so consumers
    /// sized for everyday traffic keep up with a re-announce; and a small
    /// fraction of SNS's Publish quota (30,000 messages per second in
    /// us-east-1, less in smaller Regions:
    /// <https://docs.aws.amazon.com/general/latest/gr/sns.html>), which the
    /// live notifier needs too.
    // 1 + 49: a `NonZeroU32` built in a const without a fallible step.
    pub const DEFAULT: Rate = Rate(NonZeroU32::MIN.saturating_add(49));

    /// Events per second.
    pub fn per_second(self) -> u32 {
        self.0.get()
    }

    /// The largest batch to hand over at once: `max`, or the rate when it is
    /// smaller (a batch larger than the rate could never fit in one second).
    pub fn batch_size(self, max: usize) -> usize {
        usize::try_from(self.0.get())
            .unwrap_or(usize::MAX)
            .min(max)
            .max(1)
    }

    /// The time one event books: one second over the rate, rounded up to the
    /// nanosecond so that `rate` events never book less than a second.
    fn spacing(self) -> Duration {
        let rate = u64::from(self.0.get());
        Duration::from_nanos(1_000_000_000_u64.div_ceil(rate))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // Parsed as signed first, so that "-5" gets the rule rather than
        // "invalid digit".
        let value: i64 = text.trim().parse().map_err(|_| {
            format!("{text:?} is not a whole number of events per second (e.g. 50)")
        })?;
        if value < 1 {
            return Err(format!("{value} events per second: give at least 1"));
        }
        u32::try_from(value)
            .ok()
            .and_then(NonZeroU32::new)
            .map(Rate)
            .ok_or_else(|| format!("{value} events per second: give at most {}", u32::MAX))
    }
}

/// Admits publishes at most [`Rate`] events per second (see the module).
#[derive(Debug)]
pub struct Pacer {
    rate: Rate,
    /// The earliest instant the next batch may start (even spacing).
    next: Option<Instant>,
    /// Batches admitted less than [`WINDOW`] ago: when, and how many events.
    recent: VecDeque<(Instant, usize)>,
}

impl Pacer {
    /// A pacer that has admitted nothing yet: its first batch goes at once.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            next: None,
            recent: VecDeque::new(),
        }
    }

    /// The rate this pacer keeps.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Waits until `events` more events may be published, then counts them as
    /// published now. A batch larger than the rate (callers split by
    /// [`Rate::batch_size`]) goes only when the last second admitted nothing.
    pub async fn admit(&mut self, events: usize) {
        let limit = usize::try_from(self.rate.per_second()).unwrap_or(usize::MAX);
        let now = Instant::now();
        let mut at = self.next.map_or(now, |next| next.max(now));
        loop {
            while self
                .recent
                .front()
                .is_some_and(|&(admitted, _)| admitted + WINDOW <= at)
            {
                self.recent.pop_front();
            }
            let used: usize = self.recent.iter().map(|&(_, n)| n).sum();
            match self.recent.front() {
                Some(&(oldest, _)) if used + events > limit => at = oldest + WINDOW,
                _ => break,
            }
        }
        tokio::time::sleep_until(at).await;
        let admitted = Instant::now();
        self.recent.push_back((admitted, events));
        let booked = u32::try_from(events).unwrap_or(u32::MAX);
        self.next = Some(admitted + self.rate.spacing().saturating_mul(booked));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(n: u32) -> Rate {
        Rate(NonZeroU32::new(n).unwrap())
    }

    /// Admits `batches` one after another; returns when each was admitted.
    async fn admissions(pacer: &mut Pacer, batches: &[usize]) -> Vec<(Instant, usize)> {
        let mut out = Vec::new();
        for &n in batches {
            pacer.admit(n).await;
            out.push((Instant::now(), n));
        }
        out
    }

    /// The most events admitted in any one-second window: every window that
    /// holds the most starts at an admission.
    fn busiest_second(admitted: &[(Instant, usize)]) -> usize {
        admitted
            .iter()
            .map(|&(start, _)| {
                admitted
                    .iter()
                    .filter(|&&(t, _)| t >= start && t < start + WINDOW)
                    .map(|&(_, n)| n)
                    .sum()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn given_rate_50_when_150_single_events_go_then_no_second_holds_more_than_50() {
        let start = Instant::now();
        let mut pacer = Pacer::new(rate(50));
        let admitted = admissions(&mut pacer, &[1; 150]).await;
        assert_eq!(busiest_second(&admitted), 50);
        // Evenly spread: 20 ms apart, the first at once.
        assert_eq!(admitted[0].0, start);
        assert_eq!(admitted[1].0 - admitted[0].0, Duration::from_millis(20));
        assert_eq!(admitted[149].0 - start, Duration::from_millis(149 * 20));
    }

    #[tokio::test(start_paused = true)]
    async fn given_batches_that_do_not_divide_the_rate_then_no_second_holds_more_than_the_rate() {
        let mut pacer = Pacer::new(rate(15));
        let batches = [10, 5, 10, 3, 10, 10, 1, 7, 10, 2, 10, 10];
        let admitted = admissions(&mut pacer, &batches).await;
        assert_eq!(admitted.len(), batches.len());
        assert!(
            busiest_second(&admitted) <= 15,
            "busiest second: {}",
            busiest_second(&admitted)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn given_a_long_pause_then_it_earns_no_burst() {
        let mut pacer = Pacer::new(rate(50));
        pacer.admit(1).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let admitted = admissions(&mut pacer, &[1, 1, 1]).await;
        assert_eq!(admitted[1].0 - admitted[0].0, Duration::from_millis(20));
        assert_eq!(admitted[2].0 - admitted[1].0, Duration::from_millis(20));
    }

    #[tokio::test(start_paused = true)]
    async fn given_a_batch_larger_than_the_rate_then_it_goes_alone_in_its_second() {
        let mut pacer = Pacer::new(rate(3));
        let admitted = admissions(&mut pacer, &[1, 10, 1]).await;
        // The 10 waits for the first event's second to pass; the next one
        // waits for the 10's.
        assert_eq!(admitted[1].0 - admitted[0].0, WINDOW);
        assert!(admitted[2].0 - admitted[1].0 >= WINDOW);
    }

    #[test]
    fn batches_are_split_to_fit_the_rate() {
        assert_eq!(rate(50).batch_size(10), 10);
        assert_eq!(rate(3).batch_size(10), 3);
        assert_eq!(rate(1).batch_size(10), 1);
    }

    #[test]
    fn the_spacing_of_rate_events_is_never_less_than_a_second() {
        for n in [1, 3, 7, 15, 50, 333, 30_000] {
            let spacing = rate(n).spacing();
            assert!(spacing * n >= WINDOW, "rate {n}: {spacing:?}");
        }
    }

    #[test]
    fn a_rate_is_a_whole_number_of_at_least_one() {
        assert_eq!("50".parse::<Rate>(), Ok(Rate::DEFAULT));
        assert_eq!("1".parse::<Rate>().map(Rate::per_second), Ok(1));
        for zero_or_less in ["0", "-1", "-50"] {
            let err = zero_or_less.parse::<Rate>().unwrap_err();
            assert!(err.contains("give at least 1"), "{zero_or_less}: {err}");
        }
        for not_whole in ["", "fast", "2.5", "1e3"] {
            let err = not_whole.parse::<Rate>().unwrap_err();
            assert!(err.contains("whole number"), "{not_whole}: {err}");
        }
        assert!("5000000000".parse::<Rate>().is_err(), "above u32::MAX");
    }
}
