//! Settings of the deployed stack that the local runner must reproduce.
//!
//! `infra/template.yaml` is checked against these values by the
//! template-agreement test, so the template and the local pipeline cannot drift.

/// Timeout of the intake function, seconds.
pub const INTAKE_TIMEOUT_SECS: u64 = 5;
/// Timeout of the worker function, seconds.
pub const WORKER_TIMEOUT_SECS: u64 = 10;
/// Timeout of the notifier function, seconds.
pub const NOTIFIER_TIMEOUT_SECS: u64 = 10;
/// Timeout of the status function, seconds: one `GetItem`, like intake's one
/// `SendMessage`, well inside API Gateway's 30-second integration limit.
pub const STATUS_TIMEOUT_SECS: u64 = 5;

/// Visibility timeout of the orders queue: AWS asks for at least six times the
/// worker's timeout so a batch is not redelivered while it is still running.
pub const ORDERS_QUEUE_VISIBILITY_TIMEOUT_SECS: u64 = 6 * WORKER_TIMEOUT_SECS;
/// Retention of the orders queue (4 days).
pub const ORDERS_QUEUE_RETENTION_SECS: u64 = 4 * 24 * 3600;
/// Receives after which a message moves to the worker DLQ.
pub const MAX_RECEIVE_COUNT: u32 = 5;

/// Worker backoff, seconds: after the `n`-th receive of a record failed in
/// a way that may pass (the table throttled or unavailable, the worker DLQ
/// unreachable), the worker sets the visibility timeout of that record, and
/// of the later records of its message group it held back, to a duration
/// drawn uniformly from `WORKER_BACKOFF_SECS[n - 1]` (floor, ceiling), one
/// draw per group (`ChangeMessageVisibility`). About 1, 4, 15 and 45
/// minutes, each up to half as long again: the jitter spreads the retries of
/// a backlog that failed together over the step instead of returning them to
/// a recovering table in one wave.
///
/// Five receives at the queue's 60-second timeout would send every order to
/// the DLQ after five minutes of trouble. With these steps the fifth receive
/// comes at least [`WORKER_SECS_TO_LAST_RECEIVE`] (65 minutes) after the
/// first, so an order outlives an hour of table trouble and is stored on its
/// first receive after it. After the last receive nothing is changed: the
/// queue's own timeout passes and the redrive policy moves the message, at
/// least [`WORKER_SECS_BEFORE_DLQ`] (66 minutes) after its first receive.
/// SQS takes visibility timeouts up to 12 hours
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html>),
/// and a changed timeout holds for that receive only: the next receive starts
/// with the queue's own again
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html>).
pub const WORKER_BACKOFF_SECS: [(u64, u64); (MAX_RECEIVE_COUNT - 1) as usize] =
    [(60, 90), (240, 360), (900, 1350), (2700, 4050)];

/// The least time, seconds, from a record's first receive to its last
/// (the `MAX_RECEIVE_COUNT`-th) when every receive fails: the sum of the
/// backoff floors. The longest table outage an order is sure to outlive.
pub const WORKER_SECS_TO_LAST_RECEIVE: u64 = backoff_floor_sum();

/// The least time, seconds, from a record's first receive to the worker DLQ
/// when every receive fails: the backoff floors and then the queue's own
/// visibility timeout after the last receive.
pub const WORKER_SECS_BEFORE_DLQ: u64 =
    WORKER_SECS_TO_LAST_RECEIVE + ORDERS_QUEUE_VISIBILITY_TIMEOUT_SECS;

const fn backoff_floor_sum() -> u64 {
    let mut sum = 0;
    let mut step = 0;
    while step < WORKER_BACKOFF_SECS.len() {
        sum += WORKER_BACKOFF_SECS[step].0;
        step += 1;
    }
    sum
}

// The schedule's promises, checked when the crate compiles: an hour of
// trouble is outlived; no step is shorter than the queue's own timeout (a
// backoff never speeds a retry up) or empty, none grows shorter, and none is
// longer than SQS allows.
const _: () = {
    assert!(WORKER_SECS_TO_LAST_RECEIVE >= 3600);
    let mut step = 0;
    while step < WORKER_BACKOFF_SECS.len() {
        let (floor, ceiling) = WORKER_BACKOFF_SECS[step];
        assert!(floor >= ORDERS_QUEUE_VISIBILITY_TIMEOUT_SECS);
        assert!(floor < ceiling);
        assert!(ceiling <= crate::ports::MAX_VISIBILITY_DELAY.as_secs());
        assert!(step == 0 || WORKER_BACKOFF_SECS[step - 1].0 <= floor);
        step += 1;
    }
};

/// Retention of every DLQ (14 days, the SQS maximum).
pub const DLQ_RETENTION_SECS: u64 = 14 * 24 * 3600;
/// SQS FIFO deduplication window (fixed by SQS), seconds.
pub const FIFO_DEDUP_WINDOW_SECS: u64 = 300;

/// Worker event source mapping: records per batch.
pub const WORKER_BATCH_SIZE: usize = 10;
/// Worker event source mapping: default maximum concurrency (a template parameter).
pub const WORKER_MAX_CONCURRENCY: u32 = 5;

/// Notifier event source mapping: records per batch.
pub const NOTIFIER_BATCH_SIZE: usize = 10;
/// Notifier event source mapping: retries of a failing batch before it goes to
/// the on-failure destination; `None` is the template's `-1`, retry until the
/// record age limit.
///
/// The notifier dead-letters what can never be published itself (unreadable
/// images, refused publishes), so a batch that still fails is failing for a
/// reason that passes (SNS throttling or an outage). Retrying it until the
/// record age limit means a readable record is not given up on while SNS may
/// still recover; the shard waits instead, which the iterator-age alarm
/// shows.
pub const NOTIFIER_MAX_RETRY_ATTEMPTS: Option<u32> = None;
/// Notifier event source mapping: records older than this go to the
/// on-failure destination (`MaximumRecordAgeInSeconds`,
/// <https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html>). 12 hours,
/// half the DynamoDB stream's 24-hour retention
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html>):
/// a failing record is retried for 12 hours and, when it reaches the DLQ,
/// the stream still holds it for at least 12 more, so
/// `orders-ops dlq redrive notifier` can read the range again and publish it
/// exactly. Equal to the retention, a range would reach the DLQ just as the
/// stream trims it; past the retention the redrive re-announces from the
/// table by the range's arrival window instead.
pub const NOTIFIER_MAX_RECORD_AGE_SECS: u64 = 12 * 3600;
/// Notifier event source mapping: batches of one shard processed at once
/// (`ParallelizationFactor`). Lambda keeps the records of one partition key
/// (one order) in order across them
/// (<https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html#services-ddb-shards>),
/// so a shard's throughput grows tenfold without reordering an order's
/// records; `infra/CAPACITY.md` derives the value. The local runner runs one
/// batch per shard at a time, which is the same guarantee with less overlap.
pub const NOTIFIER_PARALLELIZATION_FACTOR: u32 = 10;
/// Notifier event source mapping: split a failing batch in two and retry.
pub const NOTIFIER_BISECT_ON_ERROR: bool = true;
/// Notifier event source mapping: only these stream event names reach the function.
pub const NOTIFIER_FILTER_EVENT_NAMES: &[&str] = &["INSERT"];
/// Notifier event source mapping filter pattern, exactly as in the template.
pub const NOTIFIER_FILTER_PATTERN: &str = r#"{"eventName":["INSERT"]}"#;

/// Timeout of the admin-digest function, seconds. A batch costs one e-mail
/// per 256 KiB of digest text (a few in the worst case: a 6 MB batch of the
/// largest orders) and each e-mail at least
/// [`ADMIN_DIGEST_MIN_EMAIL_INTERVAL_MS`]; the function stops sending while
/// time remains and reports what it did not send.
pub const ADMIN_DIGEST_TIMEOUT_SECS: u64 = 60;
/// Admin-digest event source mapping: records per batch. Up to 10,000 are
/// allowed on a standard queue with a batching window
/// (<https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html>);
/// a thousand orders make one e-mail of a few hundred kilobytes at most.
pub const ADMIN_DIGEST_BATCH_SIZE: usize = 1000;
/// Admin-digest event source mapping: seconds Lambda gathers records before
/// invoking (`MaximumBatchingWindowInSeconds`, at most 300), unless the batch
/// fills first. At low rates it is what turns orders into one digest.
pub const ADMIN_DIGEST_BATCHING_WINDOW_SECS: u64 = 20;
/// Admin-digest event source mapping: `ScalingConfig.MaximumConcurrency`,
/// the fewest concurrent invocations Lambda allows (2)
/// (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html>).
pub const ADMIN_DIGEST_MAX_CONCURRENCY: u32 = 2;
/// The admin-digest function sends at most one e-mail per this many
/// milliseconds per invocation, sleeping the rest after each send. With
/// [`ADMIN_DIGEST_MAX_CONCURRENCY`] invocations at once the admin gets at
/// most 2 e-mails per second at any order rate, far below the 10 messages
/// per second that suspend an SNS e-mail subscription
/// (<https://docs.aws.amazon.com/sns/latest/dg/sns-email-notifications.html>).
/// A rate, not a wait: the local runner never scales it.
pub const ADMIN_DIGEST_MIN_EMAIL_INTERVAL_MS: u64 = 1000;
/// Visibility timeout of the admin-digest queue: six times the function's
/// timeout, AWS's advice for SQS-triggered functions
/// (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html>),
/// plus the batching window, during which the gathered messages are
/// already in flight.
pub const ADMIN_DIGEST_QUEUE_VISIBILITY_TIMEOUT_SECS: u64 =
    6 * ADMIN_DIGEST_TIMEOUT_SECS + ADMIN_DIGEST_BATCHING_WINDOW_SECS;
/// Receives after which a message of the admin-digest queue moves to its DLQ:
/// an unreadable event, or one whose e-mail kept failing.
pub const ADMIN_DIGEST_MAX_RECEIVE_COUNT: u32 = 5;
/// Filter policy of the admin-digest queue's subscription to the
/// order-events topic (`FilterPolicyScope: MessageAttributes`), exactly as
/// in the template: OrderCreated events only, of any schema version, so an
/// event the digest cannot read reaches its DLQ and alarm instead of being
/// silently filtered out.
pub const ADMIN_DIGEST_FILTER_POLICY: &str = r#"{"eventType":["OrderCreated"]}"#;
