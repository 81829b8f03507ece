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
