//! `orders-ops renotify`: announces stored orders again, from the table.
//!
//! For orders whose stream records are gone (the stream keeps them 24 hours,
//! so a notifier DLQ message older than that cannot be replayed from it;
//! `orders-ops dlq redrive notifier` then comes here itself, by the range's
//! arrival window), the item itself is the source: each is handed to the notifier's own handler as a
//! synthetic `INSERT` record whose `NewImage` is the item, exactly what the
//! stream would have delivered. The event is therefore the one the notifier
//! builds (`OrderCreated` with the same `eventId`, `OrderCreated:<orderId>`,
//! the same per-protocol message and attributes), and consumers drop it if
//! they had it already. Rewriting the items would not do: a `MODIFY` does not
//! pass the notifier's `INSERT` filter.
//!
//! Orders are read one by id (`GetItem`) or by their `createdAt` between two
//! instants (a `Scan` of the table, filtered here: the table has no index on
//! time, and the instants are compared as instants, not as strings).
//!
//! Publishing is paced ([`Pacer`]): at most `--rate` events per second, so a
//! re-announce of a whole day cannot flood the consumers or the topic.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Context, LambdaEvent};
use orders_adapters::record::{ItemMapping, KEY_ATTRIBUTE, StoredOrder, order_key_from_operator};
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::{OpsError, OpsResult, aws};
use crate::pace::{Pacer, Rate};
use crate::replay::fallback::{CreatedWindow, StoredOrders};
use crate::target::Clients;

/// Which orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// One order by id.
    Order(String),
    /// Orders created in `[since, until)`.
    Created {
        /// From (inclusive).
        since: OffsetDateTime,
        /// Until (exclusive).
        until: OffsetDateTime,
    },
}

/// What a renotify did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenotifyReport {
    /// Orders whose event was published again.
    pub published: Vec<String>,
    /// Orders whose publish failed (run it again for those).
    pub failed: Vec<String>,
    /// Items that are not readable orders (ids only).
    pub unreadable: Vec<String>,
}

/// Reads the selected items of `table`.
pub async fn select(
    clients: &Clients,
    table: &str,
    selection: &Selection,
) -> OpsResult<Vec<HashMap<String, AttributeValue>>> {
    match selection {
        Selection::Order(id) => get_order(clients, table, id)
            .await?
            .map(|item| vec![item])
            .ok_or(OpsError::NotFound {
                what: format!("order {id} in table {table}"),
            }),
        Selection::Created { since, until } => {
            scan_created(clients, table, |t| *since <= t && t < *until).await
        }
    }
}

/// The item of the order an operator named `id` (`<owner>#<orderId>`, or a
/// bare id for the anonymous owner's: [`order_key_from_operator`]), read
/// strongly consistently: what `renotify` re-announces and `order show` shows.
pub async fn get_order(
    clients: &Clients,
    table: &str,
    id: &str,
) -> OpsResult<Option<HashMap<String, AttributeValue>>> {
    let out = clients
        .dynamo
        .get_item()
        .table_name(table)
        .key(
            KEY_ATTRIBUTE,
            AttributeValue::S(order_key_from_operator(id)),
        )
        .consistent_read(true)
        .send()
        .await
        .map_err(aws("dynamodb:GetItem", &format!("table {table}")))?;
    Ok(out.item)
}

/// The items of `table` whose `createdAt` `keep` accepts: one `Scan` of the
/// whole table, page by page, holding only what is kept.
pub async fn scan_created(
    clients: &Clients,
    table: &str,
    keep: impl Fn(OffsetDateTime) -> bool,
) -> OpsResult<Vec<HashMap<String, AttributeValue>>> {
    let what = format!("table {table}");
    let mut items = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let out = clients
            .dynamo
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(aws("dynamodb:Scan", &what))?;
        for item in out.items() {
            if created_at(item).is_some_and(&keep) {
                items.push(item.clone());
            }
        }
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(items),
        }
    }
}

/// The orders of a deployed table, for the notifier DLQ redrive's fallback:
/// by id with `GetItem`, by creation windows with one `Scan`.
pub struct TableOrders<'a> {
    /// The clients.
    pub clients: &'a Clients,
    /// The orders table.
    pub table: &'a str,
}

#[async_trait]
impl StoredOrders for TableOrders<'_> {
    async fn get(&self, order_id: &str) -> OpsResult<Option<HashMap<String, AttributeValue>>> {
        get_order(self.clients, self.table, order_id).await
    }

    async fn created_within(
        &self,
        windows: &[CreatedWindow],
    ) -> OpsResult<Option<Vec<HashMap<String, AttributeValue>>>> {
        let items = scan_created(self.clients, self.table, |t| {
            windows.iter().any(|w| w.contains(t))
        })
        .await?;
        Ok(Some(items))
    }
}

/// The item's `createdAt`, when it is an RFC 3339 instant.
pub fn created_at(item: &HashMap<String, AttributeValue>) -> Option<OffsetDateTime> {
    let AttributeValue::S(text) = item.get("createdAt")? else {
        return None;
    };
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// The item's key (`<owner>#<orderId>`), or a placeholder naming its absence.
pub fn order_id(item: &HashMap<String, AttributeValue>) -> String {
    match item.get(KEY_ATTRIBUTE) {
        Some(AttributeValue::S(id)) => id.clone(),
        _ => "(no orderId)".to_owned(),
    }
}

/// The stream record the notifier would have received for `item`.
pub fn insert_record(item: &HashMap<String, AttributeValue>, table: &str) -> EventRecord {
    let image: serde_dynamo::Item = item.clone().into();
    let id = order_id(item);
    let mut record = EventRecord::default();
    record.event_name = "INSERT".to_owned();
    record.event_source = Some("aws:dynamodb".to_owned());
    record.event_source_arn = Some(format!("orders-ops:renotify:table/{table}"));
    record.change.keys = serde_dynamo::Item::from(HashMap::from([(
        KEY_ATTRIBUTE.to_owned(),
        serde_dynamo::AttributeValue::S(id.clone()),
    )]));
    // Not a stream position: names the record in the notifier's log lines.
    record.change.sequence_number = Some(format!("renotify-{id}"));
    record.change.new_image = image;
    record
}

/// Publishes `OrderCreated` again for each item, through the notifier's
/// handler with `deps` (built with [`crate::replay::replay_deps`], so nothing
/// is dead-lettered: a failure is reported instead), at most `rate` events
/// per second.
pub async fn renotify(
    deps: &notifier::Deps,
    table: &str,
    items: &[HashMap<String, AttributeValue>],
    rate: Rate,
) -> RenotifyReport {
    renotify_paced(deps, table, items, &mut Pacer::new(rate)).await
}

/// [`renotify`], each event when `pacer` admits it (a caller's pacer, so its
/// rate holds across this and its other publishes).
pub async fn renotify_paced(
    deps: &notifier::Deps,
    table: &str,
    items: &[HashMap<String, AttributeValue>],
    pacer: &mut Pacer,
) -> RenotifyReport {
    let mut report = RenotifyReport::default();
    for item in items {
        let id = order_id(item);
        if StoredOrder::from_item(item.clone()).is_err() {
            report.unreadable.push(id);
            continue;
        }
        // One record, one event: an unreadable item publishes nothing and
        // takes no turn.
        pacer.admit(1).await;
        let mut event = Event::default();
        event.records = vec![insert_record(item, table)];
        match notifier::handle(deps, LambdaEvent::new(event, Context::default())).await {
            Ok(response) if response.batch_item_failures.is_empty() => report.published.push(id),
            _ => report.failed.push(id),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use orders_adapters::memory::MemoryPublisher;
    use orders_domain::contract::{CorrelationId, OrderMessage};
    use orders_domain::model::OrderRequest;
    use orders_domain::test_support::legacy_order;

    use super::*;

    fn item(id: &str) -> HashMap<String, AttributeValue> {
        let request = OrderRequest::from_json(&legacy_order(id)).unwrap();
        let now = OffsetDateTime::now_utc();
        let message = OrderMessage::new(
            orders_domain::model::OwnerKey::anonymous(),
            request.order_id.unwrap(),
            CorrelationId::parse("c-1").unwrap(),
            now,
            request.order,
        );
        StoredOrder::from_message(&message, now).to_item().unwrap()
    }

    #[tokio::test]
    async fn given_stored_items_when_renotified_then_each_gets_the_notifiers_event_with_its_stable_id()
     {
        let publisher = Arc::new(MemoryPublisher::default());
        let deps = crate::replay::replay_deps(publisher.clone());
        let mut broken = item("broken");
        broken.remove("items");
        let report = renotify(
            &deps,
            "orders",
            &[item("a-1"), broken, item("a-2")],
            Rate::DEFAULT,
        )
        .await;
        // Orders are named by their table key, as operators name them
        assert_eq!(report.published, vec!["anonymous#a-1", "anonymous#a-2"]);
        assert_eq!(report.unreadable, vec!["anonymous#broken"]);
        let ids: Vec<String> = publisher
            .published()
            .iter()
            .map(|e| e.event_id.as_str().to_owned())
            .collect();
        assert_eq!(
            ids,
            vec!["OrderCreated:anonymous:a-1", "OrderCreated:anonymous:a-2"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn given_120_orders_at_rate_50_then_each_virtual_second_publishes_50() {
        // Given 120 stored orders and a renotify at 50 per second
        let publisher = Arc::new(MemoryPublisher::default());
        let deps = crate::replay::replay_deps(publisher.clone());
        let items: Vec<_> = (0..120).map(|n| item(&format!("r-{n}"))).collect();
        let rate: Rate = "50".parse().unwrap();
        let start = tokio::time::Instant::now();
        let published = || publisher.published().len();

        // When it runs, watched at the end of each virtual second
        let (report, seen) = tokio::join!(renotify(&deps, "orders", &items, rate), async {
            let mut seen = Vec::new();
            for second in 1..=3 {
                tokio::time::sleep_until(
                    start + Duration::from_secs(second) - Duration::from_millis(1),
                )
                .await;
                seen.push(published());
            }
            seen
        });

        // Then 50 went out in the first second, 50 more in the second, the
        // rest in the third, and the last one 119 spacings after the first
        assert_eq!(seen, [50, 100, 120]);
        assert_eq!(report.published.len(), 120);
        let elapsed = tokio::time::Instant::now() - start;
        assert!(elapsed >= Duration::from_millis(119 * 20), "{elapsed:?}");
    }
}
