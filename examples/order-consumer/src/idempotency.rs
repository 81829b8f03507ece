//! Remembering which events were handled, keyed by `eventId`.
//!
//! Delivery is at least once: a notifier retry, a replay or an SQS redelivery
//! can bring the same `OrderCreated` again, always with the same `eventId`.
//! Before handling an event the consumer *claims* its id; a claim is either
//! new (handle it, then mark it done, or release it on failure so a retry can
//! claim it again), already done (drop the duplicate) or held by another
//! delivery still in flight (retry later). A claim that is never finished
//! (the function crashed or timed out) lapses after its lock period, so the
//! event is handled again rather than lost.
//!
//! [`MemoryProcessedEvents`] is for tests; [`DynamoDbProcessedEvents`] is what
//! a team deploys: one DynamoDB table (partition key `eventId`, string; TTL
//! attribute `expiresAt`) and conditional writes, so concurrent deliveries of
//! one event on different function instances cannot both claim it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

/// A store call failed; the record is retried (it may pass).
#[derive(Debug, thiserror::Error)]
#[error("idempotency store call failed")]
pub struct StoreError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// What claiming an event id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nobody handled it (or an earlier claim lapsed): handle it now.
    New,
    /// It was handled before: drop this delivery.
    AlreadyDone,
    /// Another delivery holds an unexpired claim: try again later.
    InProgress,
}

/// The idempotency port: claims, completes and releases event ids. Times are
/// Unix seconds, passed in so that tests control the clock.
#[async_trait]
pub trait ProcessedEvents: Send + Sync {
    /// Claims `key` until `lock_until`, unless it is done or claimed and
    /// the claim has not lapsed at `now`.
    async fn claim(&self, key: &str, now: i64, lock_until: i64) -> Result<Claim, StoreError>;
    /// Marks `key` done; it is remembered until `keep_until`.
    async fn complete(&self, key: &str, keep_until: i64) -> Result<(), StoreError>;
    /// Drops an unfinished claim on `key`, so a retry can claim it at once.
    async fn release(&self, key: &str) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InProgress { lock_until: i64 },
    Done,
}

/// In-memory [`ProcessedEvents`], for tests and local runs.
#[derive(Debug, Default)]
pub struct MemoryProcessedEvents {
    states: Mutex<HashMap<String, State>>,
}

impl MemoryProcessedEvents {
    /// Whether `key` is marked done.
    pub fn is_done(&self, key: &str) -> bool {
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        states.get(key) == Some(&State::Done)
    }
}

#[async_trait]
impl ProcessedEvents for MemoryProcessedEvents {
    async fn claim(&self, key: &str, now: i64, lock_until: i64) -> Result<Claim, StoreError> {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        match states.get(key) {
            Some(State::Done) => Ok(Claim::AlreadyDone),
            Some(State::InProgress { lock_until: held }) if *held >= now => Ok(Claim::InProgress),
            _ => {
                states.insert(key.to_owned(), State::InProgress { lock_until });
                Ok(Claim::New)
            }
        }
    }

    async fn complete(&self, key: &str, _keep_until: i64) -> Result<(), StoreError> {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        states.insert(key.to_owned(), State::Done);
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(states.get(key), Some(State::InProgress { .. })) {
            states.remove(key);
        }
        Ok(())
    }
}

/// Partition key of the table.
pub const KEY_ATTRIBUTE: &str = "eventId";
/// `IN_PROGRESS` or `COMPLETED`.
const STATUS_ATTRIBUTE: &str = "status";
/// Unix seconds after which an `IN_PROGRESS` claim lapses.
const LOCK_ATTRIBUTE: &str = "lockExpiresAt";
/// Unix seconds; the table's TTL attribute, so old ids are deleted by DynamoDB.
pub const TTL_ATTRIBUTE: &str = "expiresAt";
const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETED: &str = "COMPLETED";

/// [`ProcessedEvents`] on a DynamoDB table, with conditional writes.
#[derive(Debug, Clone)]
pub struct DynamoDbProcessedEvents {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbProcessedEvents {
    /// The store over `table` (partition key [`KEY_ATTRIBUTE`], string).
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn store_error<E: std::error::Error + Send + Sync + 'static>(err: E) -> StoreError {
    StoreError(Box::new(err))
}

#[async_trait]
impl ProcessedEvents for DynamoDbProcessedEvents {
    async fn claim(&self, key: &str, now: i64, lock_until: i64) -> Result<Claim, StoreError> {
        // One conditional put decides between concurrent deliveries: it
        // succeeds for a new id or a lapsed claim, and on failure returns the
        // item that made it fail (ReturnValuesOnConditionCheckFailure), so no
        // second read is needed.
        // https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY_ATTRIBUTE, AttributeValue::S(key.to_owned()))
            .item(STATUS_ATTRIBUTE, AttributeValue::S(IN_PROGRESS.to_owned()))
            .item(LOCK_ATTRIBUTE, AttributeValue::N(lock_until.to_string()))
            .item(TTL_ATTRIBUTE, AttributeValue::N(lock_until.to_string()))
            .condition_expression("attribute_not_exists(#k) OR (#s = :progress AND #l < :now)")
            .expression_attribute_names("#k", KEY_ATTRIBUTE)
            .expression_attribute_names("#s", STATUS_ATTRIBUTE)
            .expression_attribute_names("#l", LOCK_ATTRIBUTE)
            .expression_attribute_values(":progress", AttributeValue::S(IN_PROGRESS.to_owned()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::New),
            Err(err) => match err.as_service_error() {
                Some(service) if service.is_conditional_check_failed_exception() => {
                    let done = match service {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(e) => e
                            .item()
                            .and_then(|item| item.get(STATUS_ATTRIBUTE))
                            .and_then(|status| status.as_s().ok())
                            .is_some_and(|status| status == COMPLETED),
                        _ => false,
                    };
                    Ok(if done {
                        Claim::AlreadyDone
                    } else {
                        Claim::InProgress
                    })
                }
                _ => Err(store_error(err)),
            },
        }
    }

    async fn complete(&self, key: &str, keep_until: i64) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(KEY_ATTRIBUTE, AttributeValue::S(key.to_owned()))
            .item(STATUS_ATTRIBUTE, AttributeValue::S(COMPLETED.to_owned()))
            .item(TTL_ATTRIBUTE, AttributeValue::N(keep_until.to_string()))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        // Only an unfinished claim is dropped; a completed id stays.
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY_ATTRIBUTE, AttributeValue::S(key.to_owned()))
            .condition_expression("#s = :progress")
            .expression_attribute_names("#s", STATUS_ATTRIBUTE)
            .expression_attribute_values(":progress", AttributeValue::S(IN_PROGRESS.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(store_error(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn given_a_claim_then_duplicates_wait_or_drop_and_a_lapsed_claim_is_taken_over() {
        let store = MemoryProcessedEvents::default();
        assert_eq!(store.claim("e1", 100, 160).await.unwrap(), Claim::New);
        // Another delivery while the first one works on it.
        assert_eq!(
            store.claim("e1", 120, 180).await.unwrap(),
            Claim::InProgress
        );
        // The first one crashed: after its lock the event is handled again.
        assert_eq!(store.claim("e1", 161, 221).await.unwrap(), Claim::New);
        store.complete("e1", 10_000).await.unwrap();
        assert_eq!(
            store.claim("e1", 300, 360).await.unwrap(),
            Claim::AlreadyDone
        );
        // Releasing a completed id changes nothing.
        store.release("e1").await.unwrap();
        assert!(store.is_done("e1"));
    }

    #[tokio::test]
    async fn given_a_released_claim_then_a_retry_claims_it_at_once() {
        let store = MemoryProcessedEvents::default();
        assert_eq!(store.claim("e2", 100, 160).await.unwrap(), Claim::New);
        store.release("e2").await.unwrap();
        assert_eq!(store.claim("e2", 101, 161).await.unwrap(), Claim::New);
    }
}
