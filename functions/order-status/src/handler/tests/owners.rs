//! A caller reads only their own orders: under a JWT authorizer another
//! owner's order answers exactly as an id never seen.

use orders_domain::model::{MIN_OWNER_SECRET_LEN, OwnerKey, OwnerSecret};
use orders_http::{AuthMode, Owners};

use super::*;

const ISSUER: &str = "https://idp.example.com/pool";

fn owners() -> Owners {
    let secret = OwnerSecret::new(vec![5u8; MIN_OWNER_SECRET_LEN]).unwrap();
    Owners::new(AuthMode::Jwt, Some(secret))
}

/// The owner key `subject` of [`ISSUER`] gets.
fn owner_of(subject: &str) -> OwnerKey {
    owners().owner(&get_as(Some(subject), "x")).unwrap()
}

/// The HTTP API sample reading `order_id`, as `subject` (or with no
/// authorizer context when `None`).
fn get_as(subject: Option<&str>, order_id: &str) -> Request {
    let mut raw: Value = serde_json::from_str(V2_STATUS).unwrap();
    raw["pathParameters"] = json!({ "orderId": order_id });
    raw["rawPath"] = json!(format!("/orders/{order_id}"));
    raw["requestContext"]["http"]["path"] = json!(format!("/orders/{order_id}"));
    if let Some(subject) = subject {
        raw["requestContext"]["authorizer"] =
            json!({"jwt": {"claims": {"iss": ISSUER, "sub": subject}, "scopes": null}});
    }
    event(&raw.to_string())
}

/// The item `subject` stored as `order_id` with `quantity` units.
fn stored_by(subject: &str, order_id: &str, quantity: u32) -> StoredOrder {
    let mut body = legacy_order(order_id);
    body["items"][0]["quantity"] = json!(quantity);
    let mut item = stored(order_id, &body.to_string());
    item.owner = owner_of(subject);
    item
}

/// Everything of a problem answer a client could tell apart, but the
/// correlation id (each request's own).
fn comparable(response: &Response<Body>) -> (u16, Option<String>, Value) {
    let mut body = json_body(response);
    body.as_object_mut().unwrap().remove("correlationId");
    let retry_after = header_of(response, header::RETRY_AFTER).map(str::to_owned);
    (response.status().as_u16(), retry_after, body)
}

#[tokio::test]
async fn given_two_owners_of_one_order_id_then_each_reads_their_own() {
    let store = Arc::new(MemoryStore::default());
    let deps = Deps::new(store.clone(), owners());
    store
        .put_if_absent(&stored_by("alice", "23214", 22))
        .await
        .unwrap();
    store
        .put_if_absent(&stored_by("bob", "23214", 5))
        .await
        .unwrap();

    let alice = send(&deps, get_as(Some("alice"), "23214")).await;
    let bob = send(&deps, get_as(Some("bob"), "23214")).await;

    assert_eq!(alice.status(), 200);
    assert_eq!(bob.status(), 200);
    assert_eq!(json_body(&alice)["items"][0]["quantity"], 22);
    assert_eq!(json_body(&bob)["items"][0]["quantity"], 5);
    // The answer never names the owner or the caller's identity
    for response in [&alice, &bob] {
        let text = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        assert!(!text.contains("owner") && !text.contains("alice"), "{text}");
    }
}

#[tokio::test]
async fn given_another_owners_order_then_the_answer_equals_an_unknown_ids() {
    let store = Arc::new(MemoryStore::default());
    let deps = Deps::new(store.clone(), owners());
    store
        .put_if_absent(&stored_by("alice", "23214", 22))
        .await
        .unwrap();

    // When a third caller reads alice's order, and an id nobody posted
    let others = send(&deps, get_as(Some("carol"), "23214")).await;
    let unknown = send(&deps, get_as(Some("carol"), "99999")).await;

    // Then the two answers are the same but for the id in the words
    let (status, retry_after, body) = comparable(&others);
    let (unknown_status, unknown_retry_after, unknown_body) = comparable(&unknown);
    assert_eq!(status, 404);
    assert_eq!((status, retry_after), (unknown_status, unknown_retry_after));
    assert_eq!(
        body.to_string().replace("23214", "ID"),
        unknown_body.to_string().replace("99999", "ID")
    );
}

#[tokio::test]
async fn given_no_caller_identity_behind_a_jwt_authorizer_then_401() {
    let store = Arc::new(MemoryStore::default());
    let deps = Deps::new(store.clone(), owners());
    store
        .put_if_absent(&stored_by("alice", "23214", 22))
        .await
        .unwrap();
    let response = send(&deps, get_as(None, "23214")).await;
    problem(&response, 401, "unauthenticated");
}

#[tokio::test]
async fn given_identified_callers_then_no_log_line_holds_their_subject_or_issuer() {
    let capture = LogCapture::default();
    let _guard = capture.set_default();
    let store = Arc::new(MemoryStore::default());
    let deps = Deps::new(store.clone(), owners());
    store
        .put_if_absent(&stored_by("alice", "23214", 22))
        .await
        .unwrap();
    store.fail_order("broken", Fault::Permanent);

    send(&deps, get_as(Some("alice"), "23214")).await;
    send(&deps, get_as(Some("alice"), "99999")).await;
    send(&deps, get_as(Some("alice"), "broken")).await;
    send(&deps, get_as(Some("alice"), "bad id")).await;
    send(&deps, get_as(None, "23214")).await;

    let logs = capture.contents();
    assert!(logs.contains("23214") && logs.contains("broken"), "{logs}");
    assert!(!logs.contains("alice"), "{logs}");
    assert!(!logs.contains("idp.example.com"), "{logs}");
}
