//! A [`ConfirmationStore`] in memory, applying the same rules as the
//! DynamoDB adapter ([`may_claim`], [`holds`]), that can be told to fail.
//! Compiled only with the `test-support` feature.

use std::collections::HashMap;
use std::sync::Mutex;

use orders_adapters::sync::lock;

use super::*;

/// Orders by table key, with their marks; fails the next `n` calls when
/// told to.
#[derive(Debug, Default)]
pub struct MemoryConfirmations {
    orders: Mutex<HashMap<String, OrderToConfirm>>,
    failures: Mutex<usize>,
}

impl MemoryConfirmations {
    /// Stores `order` as the worker would (no marks).
    pub fn insert(&self, order: StoredOrder) {
        lock(&self.orders).insert(
            order.key(),
            OrderToConfirm {
                order,
                marks: ConfirmationMarks::default(),
            },
        );
    }

    /// The marks of the order under `key`.
    pub fn marks(&self, key: &str) -> Option<ConfirmationMarks> {
        lock(&self.orders).get(key).map(|o| o.marks.clone())
    }

    /// Replaces the marks under `key` (a crashed delivery's claim, say).
    pub fn set_marks(&self, key: &str, marks: ConfirmationMarks) {
        if let Some(order) = lock(&self.orders).get_mut(key) {
            order.marks = marks;
        }
    }

    /// Makes the next `n` calls fail transiently (a throttled table).
    pub fn fail_next(&self, n: usize) {
        *lock(&self.failures) = n;
    }

    fn fault(&self) -> Result<(), PortError> {
        let mut failures = lock(&self.failures);
        if *failures > 0 {
            *failures -= 1;
            return Err(PortError::Transient(
                "ProvisionedThroughputExceededException".into(),
            ));
        }
        Ok(())
    }

    /// Applies `write` to the marks under `key` when its condition holds.
    fn update(&self, key: &str, write: MarkWrite<'_>) -> Result<Written, PortError> {
        self.fault()?;
        let mut orders = lock(&self.orders);
        match orders.get_mut(key) {
            Some(order) if write.allowed(&order.marks) => {
                write.apply(&mut order.marks);
                Ok(Written::Done)
            }
            _ => Ok(Written::Refused),
        }
    }
}

#[async_trait]
impl ConfirmationStore for MemoryConfirmations {
    async fn order(&self, key: &str) -> Result<Option<OrderToConfirm>, PortError> {
        self.fault()?;
        Ok(lock(&self.orders).get(key).cloned())
    }

    async fn claim(&self, key: &str, claim: &Claim, now: i64) -> Result<Written, PortError> {
        self.update(key, MarkWrite::Claim { claim, now })
    }

    async fn mark_sent(
        &self,
        key: &str,
        claim: &Claim,
        at: OffsetDateTime,
        message_id: &str,
    ) -> Result<Written, PortError> {
        self.update(
            key,
            MarkWrite::Sent {
                claim,
                at,
                message_id,
            },
        )
    }

    async fn mark_failed(
        &self,
        key: &str,
        claim: &Claim,
        reason: RefusalCode,
    ) -> Result<Written, PortError> {
        self.update(key, MarkWrite::Failed { claim, reason })
    }

    async fn release(&self, key: &str, claim: &Claim) -> Result<Written, PortError> {
        self.update(key, MarkWrite::Release { claim })
    }
}
