//! Orders belong to their caller: under a JWT authorizer the owner is the
//! token's issuer and subject, kept only as an opaque key.

use orders_domain::model::{MIN_OWNER_SECRET_LEN, OwnerKey, OwnerSecret};
use orders_http::{AuthMode, Owners};

use super::*;

const ISSUER: &str = "https://idp.example.com/pool";

/// Intake behind a JWT authorizer, on the in-memory queue.
fn jwt_deps() -> (Arc<MemoryQueue>, Deps) {
    let queue = Arc::new(MemoryQueue::default());
    let secret = OwnerSecret::new(vec![9u8; MIN_OWNER_SECRET_LEN]).unwrap();
    let owners = Owners::new(AuthMode::Jwt, Some(secret));
    (
        queue.clone(),
        Deps::new(queue, GroupStrategy::Customer, owners),
    )
}

/// The HTTP API sample posting `body`, as `subject` of [`ISSUER`] (or with
/// no authorizer context when `None`).
fn post_as(subject: Option<&str>, body: &Value) -> Request {
    let mut raw: Value = serde_json::from_str(V2_ORDER).unwrap();
    raw["body"] = json!(body.to_string());
    // The sample's Idempotency-Key names its own order; these name theirs in the body.
    raw["headers"]
        .as_object_mut()
        .unwrap()
        .retain(|name, _| !name.eq_ignore_ascii_case("idempotency-key"));
    if let Some(subject) = subject {
        raw["requestContext"]["authorizer"] =
            json!({"jwt": {"claims": {"iss": ISSUER, "sub": subject}, "scopes": null}});
    }
    event(&raw.to_string())
}

#[tokio::test]
async fn given_two_callers_posting_one_order_id_then_both_orders_are_queued_apart() {
    let (queue, deps) = jwt_deps();
    let mut bobs = legacy_order("23214");
    bobs["items"][0]["quantity"] = json!(5);

    // When two callers post the same orderID with different content
    let alice = send(
        &deps,
        post_as(Some("alice-subject"), &legacy_order("23214")),
    )
    .await;
    let bob = send(&deps, post_as(Some("bob-subject"), &bobs)).await;

    // Then both are accepted under that id
    assert_eq!(alice.status(), 202);
    assert_eq!(bob.status(), 202);
    assert_eq!(json_body(&bob)["orderId"], "23214");
    // And both are on the queue, each with its own owner, and neither can
    // be dropped as the other's retry nor wait in the other's group
    let sent = queue.sent();
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0].message.owner, sent[1].message.owner);
    assert_ne!(sent[0].dedup_id, sent[1].dedup_id);
    assert_ne!(sent[0].group_id, sent[1].group_id);
    for message in &sent {
        assert_ne!(message.message.owner, OwnerKey::anonymous());
        assert!(!message.message.owner.as_str().contains("subject"));
    }
}

#[tokio::test]
async fn given_one_caller_retrying_then_the_queue_drops_the_retry_as_their_own() {
    let (queue, deps) = jwt_deps();
    let first = send(
        &deps,
        post_as(Some("alice-subject"), &legacy_order("23214")),
    )
    .await;
    let retry = send(
        &deps,
        post_as(Some("alice-subject"), &legacy_order("23214")),
    )
    .await;
    assert_eq!(
        (first.status().as_u16(), retry.status().as_u16()),
        (202, 202)
    );
    // The same owner and content: the same deduplication id, one message
    assert_eq!(queue.sent().len(), 1);
}

#[tokio::test]
async fn given_no_caller_identity_behind_a_jwt_authorizer_then_401_and_nothing_queued() {
    let (queue, deps) = jwt_deps();
    let response = send(&deps, post_as(None, &legacy_order("23214"))).await;
    problem(&response, 401, "unauthenticated");
    assert!(queue.sent().is_empty());
}

#[tokio::test]
async fn given_identified_callers_then_no_log_line_holds_their_subject_or_issuer() {
    let capture = LogCapture::default();
    let _guard = capture.set_default();
    let (queue, deps) = jwt_deps();
    queue.fail_order("fails", Fault::Permanent);

    send(
        &deps,
        post_as(Some("alice-subject"), &legacy_order("23214")),
    )
    .await;
    send(
        &deps,
        post_as(Some("alice-subject"), &json!({"orderID": "x"})),
    )
    .await;
    send(
        &deps,
        post_as(Some("alice-subject"), &legacy_order("fails")),
    )
    .await;
    send(&deps, post_as(None, &legacy_order("23214"))).await;

    let logs = capture.contents();
    assert!(logs.contains("23214") && logs.contains("fails"), "{logs}");
    assert!(!logs.contains("alice"), "{logs}");
    assert!(!logs.contains("idp.example.com"), "{logs}");
}
