//! The stream's lease: one runner per name prefix reads the stream.
//!
//! Two runners reading one stream announce every order twice and write each
//! other's checkpoints, so the reader first takes a lease, an item of the
//! checkpoint table (key [`LEASE_KEY`]), the way the Kinesis Client Library
//! gives each shard to one worker through its lease table
//! (<https://docs.aws.amazon.com/streams/latest/dev/shared-throughput-kcl-consumers.html>,
//! "lease table"; its fields,
//! <https://docs.aws.amazon.com/streams/latest/dev/kcl-dynamoDB.html>):
//! `leaseOwner` (the runner's id), `leaseCounter` ("used for lease
//! versioning so that workers can detect that their lease has been taken by
//! another worker"), `leaseDurationMs` and, for people and for the message
//! of a refused runner, `expiresAt`. Every write of it is conditional on
//! what the writer last read (owner and counter), so two runners never both
//! win.
//!
//! - **Taking**: no lease, or this runner's own: take it. Another runner's:
//!   watch its counter on our own clock, as the KCL does (a lease is
//!   expired when its counter has not moved for its whole duration,
//!   `failoverTimeMillis`,
//!   <https://docs.aws.amazon.com/streams/latest/dev/kcl-configuration.html>):
//!   if it moves, its holder is alive and this runner is refused
//!   ([`BackendError::LeaseHeld`]: who holds it and until when); if it does
//!   not, the holder died (a `kill -9`) and the lease is taken over.
//!   Comparing counters on one clock needs no agreement between clocks.
//! - **Holding**: renewed every third of its duration. A renewal refused
//!   because the counter moved means another runner took it over: this one
//!   stops reading for good ([`BackendError::LeaseLost`]). While no renewal
//!   has succeeded for a whole duration (the endpoint unreachable), the
//!   reader reads nothing, since another runner may be taking over.
//! - **Releasing**: a runner that stops cleanly deletes its lease, so the
//!   next one starts at once; one killed leaves it to expire.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::backend_error;
use super::checkpoint::CHECKPOINT_KEY;
use crate::backend::{BackendError, BackendResult, LeaseHeld, LeaseSpec};

/// The key of the lease item in the checkpoint table (a shard id never
/// reads like this: they start with `shardId-`).
pub const LEASE_KEY: &str = "lease";
/// The runner holding the lease.
pub const LEASE_OWNER: &str = "leaseOwner";
/// Moves with every renewal and take-over.
pub const LEASE_COUNTER: &str = "leaseCounter";
/// How long the lease holds without a renewal, in milliseconds.
pub const LEASE_DURATION: &str = "leaseDurationMs";
/// When the lease expires unless renewed (RFC 3339, the holder's clock).
pub const LEASE_EXPIRES: &str = "expiresAt";

/// The lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LeaseItem {
    pub(super) owner: String,
    pub(super) counter: u64,
    pub(super) duration: Duration,
    pub(super) expires_at: String,
}

impl LeaseItem {
    /// `spec`'s owner holding it at `counter`, from now.
    fn held(spec: &LeaseSpec, counter: u64) -> Self {
        let expires = OffsetDateTime::now_utc() + spec.duration;
        Self {
            owner: spec.owner.clone(),
            counter,
            duration: spec.duration,
            expires_at: expires.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

/// The lease item's reads and conditional writes.
#[async_trait]
pub(super) trait LeaseTable: Send + Sync {
    /// The lease, if any (strongly consistent).
    async fn read(&self) -> BackendResult<Option<LeaseItem>>;
    /// Writes `item` unless a lease exists; `false` when one does.
    async fn create(&self, item: &LeaseItem) -> BackendResult<bool>;
    /// Writes `item` if the lease is still `owner`'s at `counter`; `false`
    /// when it is not.
    async fn replace(&self, owner: &str, counter: u64, item: &LeaseItem) -> BackendResult<bool>;
    /// Deletes the lease if it is `owner`'s.
    async fn delete(&self, owner: &str) -> BackendResult<()>;
}

/// Replaces the lease `current` with `spec`'s owner's at `next`, unless it
/// changed meanwhile; whether this runner now holds it.
async fn take_over(
    table: &dyn LeaseTable,
    spec: &LeaseSpec,
    current: &LeaseItem,
    next: u64,
) -> BackendResult<bool> {
    table
        .replace(
            &current.owner,
            current.counter,
            &LeaseItem::held(spec, next),
        )
        .await
}

/// Takes the lease for `spec`'s owner (see the module's documentation):
/// returns once it is held, or refuses while its holder renews it.
pub(super) async fn acquire(table: Arc<dyn LeaseTable>, spec: &LeaseSpec) -> BackendResult<Lease> {
    // The other holder's lease as first seen, and when.
    let mut watched: Option<(LeaseItem, Instant)> = None;
    loop {
        let Some(current) = table.read().await? else {
            if table.create(&LeaseItem::held(spec, 1)).await? {
                return Ok(Lease::start(table, spec, 1));
            }
            continue;
        };
        let next = current.counter + 1;
        if current.owner == spec.owner {
            // This runner's own (the same id started again): take it back.
            if take_over(table.as_ref(), spec, &current, next).await? {
                return Ok(Lease::start(table, spec, next));
            }
            continue;
        }
        match watched.take() {
            None => {
                tracing::info!(
                    lease_owner = %current.owner,
                    expires_at = %current.expires_at,
                    "the stream's lease is held by another runner: watching whether it renews it"
                );
                watched = Some((current.clone(), Instant::now()));
            }
            Some((seen, since)) if same_version(&seen, &current) => {
                if since.elapsed() >= current.duration {
                    if take_over(table.as_ref(), spec, &current, next).await? {
                        tracing::warn!(
                            previous_owner = %current.owner,
                            "took over the stream's lease: its holder stopped renewing it"
                        );
                        return Ok(Lease::start(table, spec, next));
                    }
                    // Someone else wrote it meanwhile: watch the new holder.
                    continue;
                }
                watched = Some((seen, since));
            }
            // Renewed (or taken over by a third runner): its holder is alive.
            Some(_) => {
                return Err(BackendError::LeaseHeld(LeaseHeld {
                    owner: current.owner,
                    expires_at: current.expires_at,
                }));
            }
        }
        tokio::time::sleep((current.duration / 5).max(Duration::from_millis(10))).await;
    }
}

/// Same holder, same counter: not renewed since.
fn same_version(a: &LeaseItem, b: &LeaseItem) -> bool {
    a.owner == b.owner && a.counter == b.counter
}

/// What the renewals found.
#[derive(Debug)]
struct LeaseState {
    owner: String,
    duration: Duration,
    lost: AtomicBool,
    renewed_at: std::sync::Mutex<Instant>,
}

/// Whether the reader may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LeaseStatus {
    /// Held and renewed within its duration.
    Held,
    /// Not renewed for a whole duration: another runner may be taking over.
    Unconfirmed,
    /// Taken over by another runner.
    Lost,
}

/// A held lease, renewed by a task of its own until released or dropped.
pub(super) struct Lease {
    state: Arc<LeaseState>,
    table: Arc<dyn LeaseTable>,
    renewal: JoinHandle<()>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Lease {
    fn start(table: Arc<dyn LeaseTable>, spec: &LeaseSpec, counter: u64) -> Self {
        tracing::info!(lease_owner = %spec.owner, "holding the stream's lease");
        let state = Arc::new(LeaseState {
            owner: spec.owner.clone(),
            duration: spec.duration,
            lost: AtomicBool::new(false),
            renewed_at: std::sync::Mutex::new(Instant::now()),
        });
        let renewal = tokio::spawn(renew(table.clone(), spec.clone(), state.clone(), counter));
        Self {
            state,
            table,
            renewal,
        }
    }

    /// Whether it is held.
    pub(super) fn status(&self) -> LeaseStatus {
        if self.state.lost.load(Ordering::SeqCst) {
            return LeaseStatus::Lost;
        }
        let renewed_at = *self
            .state
            .renewed_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if renewed_at.elapsed() < self.state.duration {
            LeaseStatus::Held
        } else {
            LeaseStatus::Unconfirmed
        }
    }

    /// The error a reader answers once the lease is lost.
    pub(super) fn lost(&self) -> BackendError {
        BackendError::LeaseLost {
            owner: self.state.owner.clone(),
        }
    }

    /// Stops renewing and deletes the lease (if still this runner's).
    pub(super) async fn release(&self) -> BackendResult<()> {
        self.renewal.abort();
        self.table.delete(&self.state.owner).await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Unreleased (a crash, or a reader dropped): the lease expires.
        self.renewal.abort();
    }
}

/// Renews the lease every third of its duration until it is lost.
async fn renew(
    table: Arc<dyn LeaseTable>,
    spec: LeaseSpec,
    state: Arc<LeaseState>,
    mut counter: u64,
) {
    let every = spec.duration / 3;
    loop {
        tokio::time::sleep(every).await;
        match table
            .replace(&spec.owner, counter, &LeaseItem::held(&spec, counter + 1))
            .await
        {
            Ok(true) => {
                counter += 1;
                *state
                    .renewed_at
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
            }
            Ok(false) => {
                state.lost.store(true, Ordering::SeqCst);
                tracing::error!(
                    lease_owner = %spec.owner,
                    "another runner took over the stream's lease: this runner stops reading the stream"
                );
                return;
            }
            Err(err) => tracing::warn!(
                error = &err as &dyn std::error::Error,
                "renewing the stream's lease failed: trying again"
            ),
        }
    }
}

/// [`LeaseTable`] over the checkpoint table.
#[derive(Debug, Clone)]
pub(super) struct DynamoLeaseTable {
    pub(super) client: aws_sdk_dynamodb::Client,
    pub(super) table: String,
}

impl DynamoLeaseTable {
    fn key(&self) -> AttributeValue {
        AttributeValue::S(LEASE_KEY.to_owned())
    }

    /// A conditional write's answer: `false` when its condition failed.
    fn conditional<T, E, R>(&self, result: Result<T, SdkError<E, R>>) -> BackendResult<bool>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(backend_error(format!("table {}", self.table), e)),
        }
    }

    /// A put of `item`, to which a condition is added.
    fn put(&self, item: &LeaseItem) -> PutItemFluentBuilder {
        let millis = u64::try_from(item.duration.as_millis()).unwrap_or(u64::MAX);
        self.client
            .put_item()
            .table_name(&self.table)
            .item(CHECKPOINT_KEY, self.key())
            .item(LEASE_OWNER, AttributeValue::S(item.owner.clone()))
            .item(LEASE_COUNTER, AttributeValue::N(item.counter.to_string()))
            .item(LEASE_DURATION, AttributeValue::N(millis.to_string()))
            .item(LEASE_EXPIRES, AttributeValue::S(item.expires_at.clone()))
    }
}

#[async_trait]
impl LeaseTable for DynamoLeaseTable {
    async fn read(&self) -> BackendResult<Option<LeaseItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(CHECKPOINT_KEY, self.key())
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend_error(format!("table {}", self.table), e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let text = |name: &str| match item.get(name) {
            Some(AttributeValue::S(s)) => s.clone(),
            _ => String::new(),
        };
        let number = |name: &str| match item.get(name) {
            Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
            _ => None,
        };
        Ok(Some(LeaseItem {
            owner: text(LEASE_OWNER),
            counter: number(LEASE_COUNTER).unwrap_or(0),
            duration: number(LEASE_DURATION)
                .map_or(LeaseSpec::KCL_FAILOVER_TIME, Duration::from_millis),
            expires_at: text(LEASE_EXPIRES),
        }))
    }

    async fn create(&self, item: &LeaseItem) -> BackendResult<bool> {
        let result = self
            .put(item)
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", CHECKPOINT_KEY)
            .send()
            .await;
        self.conditional(result)
    }

    async fn replace(&self, owner: &str, counter: u64, item: &LeaseItem) -> BackendResult<bool> {
        let result = self
            .put(item)
            .condition_expression("#owner = :owner AND #counter = :counter")
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#counter", LEASE_COUNTER)
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(":counter", AttributeValue::N(counter.to_string()))
            .send()
            .await;
        self.conditional(result)
    }

    async fn delete(&self, owner: &str) -> BackendResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(CHECKPOINT_KEY, self.key())
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .send()
            .await;
        // Not ours any more (taken over): nothing to release.
        self.conditional(result).map(|_| ())
    }
}

#[cfg(test)]
pub(super) mod tests;
