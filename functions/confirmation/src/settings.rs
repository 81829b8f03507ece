//! The deployed settings of the confirmation function that the local runner
//! reproduces and `infra/template.yaml` must agree with (the
//! template-agreement tests read these constants).

use std::time::Duration;

/// Timeout of the function, seconds: a batch of [`BATCH_SIZE`] sends at the
/// sandbox's pace (one per [`MAX_CONCURRENCY`] seconds each) fits with room
/// for the SDK's retries; sends that no longer fit are not started.
pub const TIMEOUT_SECS: u64 = 60;

/// Records per batch of the event source mapping. Small: each send is
/// paced, so a large batch would only hold messages in flight longer.
pub const BATCH_SIZE: usize = 10;

/// `ScalingConfig.MaximumConcurrency` of the event source mapping: the
/// fewest concurrent invocations Lambda allows (2)
/// (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html>).
/// The pace of each invocation is the account's maximum send rate divided
/// by this ([`send_interval`]), so the function as a whole never sends
/// faster than SES allows.
pub const MAX_CONCURRENCY: u32 = 2;

/// Visibility timeout of the queue: six times the function's timeout, AWS's
/// advice for SQS-triggered functions
/// (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html>).
pub const QUEUE_VISIBILITY_TIMEOUT_SECS: u64 = 6 * TIMEOUT_SECS;

/// Retention of the queue: 14 days, the SQS maximum. A flash sale's
/// confirmations queue up for hours to days at the account's send rate
/// (`infra/CAPACITY.md` gives the lag), and SQS drops an expired message
/// without dead-lettering it, so the longest wait the queue allows is the
/// longest sale whose confirmations are all sent.
pub const QUEUE_RETENTION_SECS: u64 = 14 * 24 * 3600;

/// Receives after which a message of the queue moves to its DLQ: an
/// unreadable event, or one SES kept throttling through the whole
/// [`BACKOFF_SECS`] schedule.
pub const MAX_RECEIVE_COUNT: u32 = 8;

/// Backoff after a send SES throttled or failed in a way that may pass
/// (`TooManyRequestsException`, `LimitExceededException`,
/// `SendingPausedException`, 5xx), seconds: after the `n`-th receive the
/// record stays invisible for a draw from `BACKOFF_SECS[n - 1]` (floor,
/// ceiling) (`ChangeMessageVisibility`). SES asks a throttled sender to
/// "wait for an interval of up to 10 minutes, and then retry"
/// (<https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html>):
/// the steps grow to ten minutes and stay there, so a message outlives
/// about 38 minutes of throttling before its DLQ.
pub const BACKOFF_SECS: [(u64, u64); (MAX_RECEIVE_COUNT - 1) as usize] = [
    (30, 60),
    (60, 120),
    (120, 240),
    (300, 450),
    (600, 900),
    (600, 900),
    (600, 900),
];

// Every step is within what SQS takes (12 hours) and none is empty.
const _: () = {
    let mut step = 0;
    while step < BACKOFF_SECS.len() {
        assert!(BACKOFF_SECS[step].0 < BACKOFF_SECS[step].1);
        assert!(BACKOFF_SECS[step].1 <= orders_adapters::ports::MAX_VISIBILITY_DELAY.as_secs());
        step += 1;
    }
};

/// How long a claim on an order holds off other deliveries: 15 minutes.
///
/// The claim is taken before the send and replaced by the sent mark after
/// it. A delivery that finds an unexpired claim waits (its record comes back
/// after the queue's visibility timeout, [`QUEUE_VISIBILITY_TIMEOUT_SECS`],
/// as often as it takes: the third receive after a crash finds the claim
/// expired); one that finds an expired claim takes it over and sends. So the window is what a crash costs: an invocation that dies
/// between `SendEmail` and the sent mark leaves a claim that holds the
/// order for up to 15 minutes, after which a redelivery sends the
/// confirmation a second time (the only duplicate the function can
/// produce); an invocation that dies before `SendEmail` delays the
/// confirmation by up to 15 minutes and sends it once. It is far longer
/// than the function's timeout ([`TIMEOUT_SECS`]), so a live invocation
/// never loses its claim while it sends.
pub const CLAIM_FOR: Duration = Duration::from_secs(15 * 60);
const _: () = assert!(CLAIM_FOR.as_secs() > 2 * TIMEOUT_SECS);

/// The account's maximum send rate when the stack does not say: 14 e-mails
/// per second, a common production quota (the sandbox allows 1)
/// (<https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas.html>).
pub const DEFAULT_MAX_SEND_RATE: f64 = 14.0;

/// Filter policy of the queue's subscription to the order-events topic
/// (`FilterPolicyScope: MessageAttributes`), exactly as in the template:
/// OrderCreated events whose customer gave an e-mail address
/// (`customerEmailGiven`), so an order without one never reaches the queue
/// and costs the function no invocation, receive or read; of any schema
/// version, so one the function cannot read reaches its DLQ and alarm
/// instead of being filtered out.
pub const FILTER_POLICY: &str = r#"{"eventType":["OrderCreated"],"customerEmailGiven":["true"]}"#;

/// The least interval between two sends of one invocation that keeps
/// [`MAX_CONCURRENCY`] invocations within `max_send_rate` e-mails per
/// second together: `MAX_CONCURRENCY / max_send_rate` seconds, rounded up
/// to the millisecond. 143 ms at 14 per second, 2 s in the sandbox.
pub fn send_interval(max_send_rate: f64) -> Duration {
    let millis = (f64::from(MAX_CONCURRENCY) * 1000.0 / max_send_rate).ceil();
    // A rate is validated positive and finite at cold start; clamp anyway.
    Duration::from_millis(if millis.is_finite() && millis > 0.0 {
        millis as u64
    } else {
        1000
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_send_rate_then_the_function_as_a_whole_stays_within_it() {
        for rate in [1.0, 2.0, 14.0, 50.0, 0.5, 3.3] {
            let interval = send_interval(rate);
            let per_second = f64::from(MAX_CONCURRENCY) / interval.as_secs_f64();
            assert!(per_second <= rate + 1e-9, "{rate}: {per_second}");
        }
        assert_eq!(send_interval(14.0), Duration::from_millis(143));
        assert_eq!(send_interval(1.0), Duration::from_secs(2));
    }
}
