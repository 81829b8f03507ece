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
/// reason that passes (SNS throttling or an outage). Retrying it for as long
/// as the stream keeps the records means a readable record is never given up
/// on while it could still be published; the shard waits instead, which the
/// iterator-age alarm shows.
pub const NOTIFIER_MAX_RETRY_ATTEMPTS: Option<u32> = None;
/// Notifier event source mapping: records older than this go to the
/// on-failure destination. 24 hours, the DynamoDB stream's retention
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html>):
/// a record is retried for as long as the stream keeps it and, instead of
/// vanishing silently when the stream trims it, is then reported with its
/// position, to be announced again from the table.
pub const NOTIFIER_MAX_RECORD_AGE_SECS: u64 = 24 * 3600;
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
