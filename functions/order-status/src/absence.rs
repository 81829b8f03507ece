//! What a `404` says about an order that is not stored: whether it may still
//! be on its way (ask again soon) or is overdue (ask again later).
//!
//! The status function reads the table only (its role has `GetItem` and
//! nothing else): it cannot see the queue. What it can know comes from the id
//! itself. Intake mints UUIDv7 ids, whose first 48 bits are the minting time
//! in Unix milliseconds (RFC 9562, section 5.7), and an accepted message
//! leaves the orders queue, stored, dead-lettered or expired, within the
//! queue's retention period
//! (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html>,
//! `MessageRetentionPeriod`). So an order accepted under an id in intake's
//! minted form older than that is no longer on the queue; any other id may
//! be.
//!
//! Neither answer is final. An order that left the queue unstored went to
//! the worker DLQ, and an operator's redrive stores it later (the DLQ keeps
//! it 14 days, and a redriven message is a new message); and a client may
//! post an order under an id it chose itself, even a UUIDv7 minted long
//! before, at any time. So no `404` says that an order will never exist.

use orders_adapters::settings::ORDERS_QUEUE_RETENTION_SECS;
use orders_domain::model::OrderId;
use time::{Duration, OffsetDateTime};

/// `Retry-After` of a `404` for an order that may still be queued, seconds.
/// The worker's mapping long-polls the queue and stores a batch as it
/// arrives, so an order is normally stored well within a second of its
/// `202`; one second is the smallest delay `Retry-After` can say.
pub const NOT_FOUND_RETRY_AFTER_SECS: u32 = 1;

/// Why an order is not (yet) in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absence {
    /// It may still be on the queue (or never have been accepted: the table
    /// cannot tell): ask again after [`NOT_FOUND_RETRY_AFTER_SECS`].
    MayBeQueued,
    /// The id is in intake's minted form and older than the queue's
    /// retention: an order accepted when it was minted has left the queue
    /// (an operator may still store it from the worker DLQ).
    Overdue,
}

impl Absence {
    /// Classifies a missing order by its id, at `now`.
    ///
    /// Only ids in exactly intake's minted form (a lower-case hyphenated
    /// UUIDv7) carry a trustworthy time; a client's own UUIDv7 might have
    /// been minted long before it was posted, which is why nothing but an id
    /// older than the retention period is called [`Absence::Overdue`].
    pub fn of(order_id: &OrderId, now: OffsetDateTime) -> Self {
        match minted_at(order_id) {
            Some(minted) if now - minted > Duration::seconds(retention_secs()) => Self::Overdue,
            _ => Self::MayBeQueued,
        }
    }
}

/// The queue's retention in whole seconds, as `time` counts them.
fn retention_secs() -> i64 {
    i64::try_from(ORDERS_QUEUE_RETENTION_SECS).unwrap_or(i64::MAX)
}

/// When a UUIDv7 in intake's minted form was minted.
fn minted_at(order_id: &OrderId) -> Option<OffsetDateTime> {
    let uuid = uuid::Uuid::try_parse(order_id.as_str()).ok()?;
    // `try_parse` also reads braced, URN and simple forms; intake writes
    // only the lower-case hyphenated one.
    if uuid.get_version_num() != 7 || uuid.hyphenated().to_string() != order_id.as_str() {
        return None;
    }
    let (secs, nanos) = uuid.get_timestamp()?.to_unix();
    let secs = i64::try_from(secs).ok()?;
    let at = OffsetDateTime::from_unix_timestamp(secs).ok()?;
    Some(at + Duration::nanoseconds(i64::from(nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn uuid_v7_at(at: OffsetDateTime) -> OrderId {
        let secs = u64::try_from(at.unix_timestamp()).unwrap();
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, 0);
        OrderId::parse(&uuid::Uuid::new_v7(ts).to_string()).unwrap()
    }

    #[test]
    fn given_a_freshly_minted_id_then_it_may_be_queued() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(Absence::of(&OrderId::mint(), now), Absence::MayBeQueued);
    }

    #[test]
    fn given_a_minted_id_older_than_the_queue_retention_then_it_is_overdue() {
        let now = OffsetDateTime::now_utc();
        let retention = Duration::seconds(retention_secs());
        let old = uuid_v7_at(now - retention - Duration::minutes(1));
        assert_eq!(Absence::of(&old, now), Absence::Overdue);
        let recent = uuid_v7_at(now - retention + Duration::minutes(1));
        assert_eq!(Absence::of(&recent, now), Absence::MayBeQueued);
    }

    #[test]
    fn given_other_forms_of_an_old_uuid_then_they_are_treated_as_client_ids() {
        let now = OffsetDateTime::now_utc();
        let old = uuid_v7_at(now - Duration::days(30));
        let upper = OrderId::parse(&old.as_str().to_uppercase()).unwrap();
        let simple = OrderId::parse(&old.as_str().replace('-', "")).unwrap();
        let urn = OrderId::parse(&format!("urn:uuid:{old}")).unwrap();
        let v4 = OrderId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
        for id in [upper, simple, urn, v4] {
            assert_eq!(Absence::of(&id, now), Absence::MayBeQueued, "{id}");
        }
    }

    proptest! {
        /// Any id that is not a UUID (every legacy or client id) may be queued.
        #[test]
        fn client_ids_may_always_be_queued(raw in "[A-Za-z0-9._:-]{1,64}") {
            let id = OrderId::parse(&raw).unwrap();
            prop_assume!(uuid::Uuid::try_parse(&raw).is_err());
            prop_assert_eq!(Absence::of(&id, OffsetDateTime::now_utc()), Absence::MayBeQueued);
        }
    }
}
