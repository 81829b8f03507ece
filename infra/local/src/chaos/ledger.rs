//! The independent ledger: what clients were told, what the table holds, and
//! what a queue subscribed to the topic received. Never the handlers' own
//! counters.

use orders_adapters::record::ItemMapping;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use orders_adapters::record::{KEY_ATTRIBUTE, StoredOrder};
use orders_backends::backend::{BackendResult, Backends};
use orders_domain::contract::OrderCreated;
use orders_domain::model::{ContentHash, OrderId, OrderRequest, OwnerKey};

use orders_domain::confirmation::ATTRIBUTES;

use super::clients::Accepted;
use super::faults::confirmed_order;

/// The verdict over the accepted orders.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Accepted orders not in the table.
    pub lost: u64,
    /// Accepted orders stored more than once (more than one `INSERT`), changed
    /// after they were stored, or holding content other than the client's.
    pub duplicate_items: u64,
    /// Stored orders never announced.
    pub lost_notifications: u64,
    /// Announcements beyond the first, over all orders.
    pub duplicate_notifications: u64,
}

/// Reads the events queue and keeps the count of `OrderCreated` per order.
#[derive(Debug, Default)]
pub struct Announcements {
    counts: HashMap<String, u64>,
    /// Messages on the events queue that are not an `OrderCreated`.
    pub unreadable: u64,
}

impl Announcements {
    /// Receives and deletes everything now on the events queue.
    pub async fn collect(&mut self, backends: &Backends, url: &str) -> BackendResult<()> {
        loop {
            let messages = backends.queues.receive(url, 10, Duration::ZERO).await?;
            if messages.is_empty() {
                return Ok(());
            }
            for message in messages {
                match OrderCreated::from_sqs_body(&message.body) {
                    Ok(event) => self.record(event.order_id.as_str()),
                    Err(_) => self.unreadable += 1,
                }
                backends.queues.delete(url, &message.receipt_handle).await?;
            }
        }
    }

    /// Times `order_id` was announced.
    pub fn count(&self, order_id: &str) -> u64 {
        self.counts.get(order_id).copied().unwrap_or(0)
    }

    /// Notes one announcement of `order_id`.
    pub fn record(&mut self, order_id: &str) {
        *self.counts.entry(order_id.to_owned()).or_insert(0) += 1;
    }
}

/// The announcements beyond each order's first that no crash explains: an
/// order carried by `crashes(order_id)` timed-out notifier invocations may
/// have been announced that many extra times (each may have published it
/// before it ended), and no more.
pub fn duplicates_without_crash<'a>(
    order_ids: impl IntoIterator<Item = &'a str>,
    announcements: &Announcements,
    crashes: impl Fn(&str) -> u64,
) -> u64 {
    order_ids
        .into_iter()
        .map(|id| {
            announcements
                .count(id)
                .saturating_sub(1)
                .saturating_sub(crashes(id))
        })
        .sum()
}

/// The content hash the client's body implies: what the stored item must
/// hold. The chaos run posts to the open API, so every order is the
/// anonymous owner's.
fn expected_hash(order_id: &str, accepted: &Accepted) -> Option<ContentHash> {
    let request = OrderRequest::from_json(&accepted.body).ok()?;
    let id = OrderId::parse(order_id).ok()?;
    Some(ContentHash::of(&OwnerKey::anonymous(), &id, &request.order))
}

/// The table key of the anonymous owner's order `order_id`.
fn anonymous_key(order_id: &str) -> String {
    OrderId::parse(order_id).map_or_else(
        |_| order_id.to_owned(),
        |id| orders_adapters::record::order_key(&OwnerKey::anonymous(), &id),
    )
}

/// `INSERT` and `MODIFY` records per key over the whole stream. A `MODIFY`
/// that changes nothing but the confirmation's own attributes (its claim
/// and marks, `orders_domain::confirmation::ATTRIBUTES`) is the
/// confirmation at work, not a change of the order: it is not counted.
pub async fn stream_writes(
    backends: &Backends,
    table: &str,
) -> BackendResult<BTreeMap<String, (u64, u64)>> {
    let mut reader = backends.tables.open_stream(table).await?;
    let mut writes: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    loop {
        let records = reader.next_records(1000).await?;
        if records.is_empty() {
            return Ok(writes);
        }
        for record in records {
            let key = match record.change.keys.get(KEY_ATTRIBUTE) {
                Some(serde_dynamo::AttributeValue::S(id)) => id.clone(),
                _ => continue,
            };
            let entry = writes.entry(key).or_insert((0, 0));
            match record.event_name.as_str() {
                "INSERT" => entry.0 += 1,
                "MODIFY" if !confirmation_only(&record.change) => entry.1 += 1,
                _ => {}
            }
        }
    }
}

/// Whether a `MODIFY` changed only the confirmation's attributes.
fn confirmation_only(change: &aws_lambda_events::event::dynamodb::StreamRecord) -> bool {
    let order_part = |image: &serde_dynamo::Item| {
        let mut image = image.clone();
        for name in ATTRIBUTES {
            image.remove(name);
        }
        image
    };
    order_part(&change.old_image) == order_part(&change.new_image)
}

/// What became of the confirmations of the accepted orders.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Confirmations {
    /// Accepted orders with a `customerEmail`.
    pub requested: u64,
    /// Of those, marked sent.
    pub sent: u64,
    /// Of those, marked failed after a refusal the plan injected.
    pub refused: u64,
    /// Of those, neither sent nor refused by the plan: still pending, or
    /// failed without an injected refusal.
    pub lost: u64,
    /// E-mails beyond an order's first, over all orders.
    pub duplicates: u64,
    /// Of those, the ones no crash between the send and the sent mark
    /// explains.
    pub duplicates_without_crash: u64,
    /// E-mails to orders that gave no address.
    pub unrequested: u64,
}

/// The confirmation e-mails per order id, from the embedded SES's files
/// in `customers` (each names its order in its subject).
pub fn confirmation_emails(customers: &Path) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    let Ok(dir) = std::fs::read_dir(customers) else {
        return counts;
    };
    for entry in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        if let Some(subject) = text.lines().find_map(|line| line.strip_prefix("Subject: ")) {
            *counts
                .entry(confirmed_order(subject.trim_end()).to_owned())
                .or_insert(0) += 1;
        }
    }
    counts
}

/// Counts what became of every accepted order's confirmation: each order
/// with an address ends sent, or failed by a refusal in `refused`; a
/// repeat e-mail needs a crash after the send (`crashed`, per order).
pub async fn confirmations(
    backends: &Backends,
    table: &str,
    accepted: &HashMap<String, Accepted>,
    emails: &HashMap<String, u64>,
    refused: &HashSet<String>,
    crashed: &HashMap<String, u64>,
) -> BackendResult<Confirmations> {
    let mut c = Confirmations::default();
    for (order_id, sent) in accepted {
        let count = emails.get(order_id).copied().unwrap_or(0);
        if sent.body.get("customerEmail").is_none() {
            c.unrequested += count;
            continue;
        }
        c.requested += 1;
        let stored = backends
            .tables
            .get(table, &anonymous_key(order_id))
            .await?
            .and_then(|item| StoredOrder::from_item(item).ok());
        let marks = stored.map(|s| s.confirmation).unwrap_or_default();
        if marks.confirmation_sent_at.is_some() {
            c.sent += 1;
        } else if marks.confirmation_failed.is_some() && refused.contains(order_id) {
            c.refused += 1;
        } else {
            c.lost += 1;
        }
        let extra = count.saturating_sub(1);
        c.duplicates += extra;
        c.duplicates_without_crash +=
            extra.saturating_sub(crashed.get(order_id).copied().unwrap_or(0));
    }
    Ok(c)
}

/// Counts the verdict for every accepted order.
pub async fn tally(
    backends: &Backends,
    table: &str,
    accepted: &HashMap<String, Accepted>,
    announcements: &Announcements,
    writes: Option<&BTreeMap<String, (u64, u64)>>,
) -> BackendResult<Tally> {
    let mut tally = Tally::default();
    for (order_id, sent) in accepted {
        let key = anonymous_key(order_id);
        let Some(item) = backends.tables.get(table, &key).await? else {
            tally.lost += 1;
            continue;
        };
        let same_content = StoredOrder::from_item(item)
            .ok()
            .zip(expected_hash(order_id, sent))
            .is_some_and(|(stored, expected)| stored.content_hash == expected);
        let rewritten = writes
            .and_then(|w| w.get(&key))
            .is_some_and(|(inserts, modifies)| *inserts > 1 || *modifies > 0);
        if !same_content || rewritten {
            tally.duplicate_items += 1;
        }
        match announcements.count(order_id) {
            0 => tally.lost_notifications += 1,
            n => tally.duplicate_notifications += n - 1,
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_modify_of_the_confirmations_attributes_only_is_no_change_of_the_order() {
        use serde_dynamo::AttributeValue;
        let mut change = aws_lambda_events::event::dynamodb::StreamRecord::default();
        let order: serde_dynamo::Item = HashMap::from([
            (
                "orderKey".to_owned(),
                AttributeValue::S("anonymous#a".into()),
            ),
            ("status".to_owned(), AttributeValue::S("CREATED".into())),
        ])
        .into();
        let mut claimed = order.clone();
        claimed.insert(
            "confirmationClaim".to_owned(),
            AttributeValue::S("t".into()),
        );
        change.old_image = order.clone();
        change.new_image = claimed.clone();
        assert!(confirmation_only(&change));
        let mut changed = claimed;
        changed.insert("status".to_owned(), AttributeValue::S("CHANGED".into()));
        change.new_image = changed;
        assert!(!confirmation_only(&change));
    }

    #[test]
    fn a_confirmations_subject_names_its_order() {
        let dir = std::env::temp_dir().join(format!("chaos-ledger-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        for (n, id) in ["a-1", "a-1", "b-2"].iter().enumerate() {
            std::fs::write(
                dir.join(format!("{n}.eml")),
                format!("From: x\r\nSubject: Your order {id} is confirmed\r\n\r\nbody"),
            )
            .unwrap();
        }
        let counts = confirmation_emails(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(counts.get("a-1"), Some(&2));
        assert_eq!(counts.get("b-2"), Some(&1));
    }

    #[test]
    fn given_announcements_and_crashes_then_only_the_unexplained_repeats_count() {
        let mut announcements = Announcements::default();
        for id in ["a", "b", "b", "c", "c", "c", "d", "d"] {
            announcements.record(id);
        }
        // c was in one crashed invocation, d in two: one repeat of c is
        // unexplained, none of d's.
        let crashes = |id: &str| match id {
            "c" => 1,
            "d" => 2,
            _ => 0,
        };
        let ids = ["a", "b", "c", "d", "never-announced"];
        assert_eq!(
            duplicates_without_crash(ids, &announcements, crashes),
            1 + 1
        );
        assert_eq!(
            duplicates_without_crash(ids, &announcements, |_| 0),
            1 + 2 + 1
        );
    }
}
