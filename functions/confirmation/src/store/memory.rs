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

    /// Applies `change` to the marks under `key` when `condition` holds.
    fn update(
        &self,
        key: &str,
        condition: impl FnOnce(&ConfirmationMarks) -> bool,
        change: impl FnOnce(&mut ConfirmationMarks),
    ) -> Result<Written, PortError> {
        self.fault()?;
        let mut orders = lock(&self.orders);
        match orders.get_mut(key) {
            Some(order) if condition(&order.marks) => {
                change(&mut order.marks);
                Ok(Written::Done)
            }
            _ => Ok(Written::Refused),
        }
    }
}

fn drop_claim(marks: &mut ConfirmationMarks) {
    marks.confirmation_claim = None;
    marks.confirmation_claim_until = None;
}

#[async_trait]
impl ConfirmationStore for MemoryConfirmations {
    async fn order(&self, key: &str) -> Result<Option<OrderToConfirm>, PortError> {
        self.fault()?;
        Ok(lock(&self.orders).get(key).cloned())
    }

    async fn claim(&self, key: &str, claim: &Claim, now: i64) -> Result<Written, PortError> {
        self.update(
            key,
            |marks| may_claim(marks, now),
            |marks| {
                marks.confirmation_claim = Some(claim.token.clone());
                marks.confirmation_claim_until = Some(claim.until);
            },
        )
    }

    async fn mark_sent(
        &self,
        key: &str,
        claim: &Claim,
        sent_at: OffsetDateTime,
        message_id: &str,
    ) -> Result<Written, PortError> {
        self.update(
            key,
            |marks| holds(marks, claim),
            |marks| {
                drop_claim(marks);
                marks.confirmation_sent_at = Some(sent_at);
                marks.confirmation_message_id = Some(message_id.to_owned());
            },
        )
    }

    async fn mark_failed(
        &self,
        key: &str,
        claim: &Claim,
        reason: RefusalCode,
    ) -> Result<Written, PortError> {
        self.update(
            key,
            |marks| holds(marks, claim),
            |marks| {
                drop_claim(marks);
                marks.confirmation_failed = Some(reason);
            },
        )
    }

    async fn release(&self, key: &str, claim: &Claim) -> Result<Written, PortError> {
        self.update(key, |marks| holds(marks, claim), drop_claim)
    }
}
