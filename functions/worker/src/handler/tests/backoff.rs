//! The worker's backoff: which records are kept invisible after a failure,
//! for how long, and what happens when the queue refuses.

use super::*;
use orders_adapters::memory::MemoryVisibility;
use orders_adapters::settings::WORKER_BACKOFF_SECS;
use std::time::Duration;

struct Setup {
    store: Arc<MemoryStore>,
    dead_letters: Arc<MemoryDeadLetters>,
    visibility: Arc<MemoryVisibility>,
    deps: Deps,
}

fn setup_with_visibility() -> Setup {
    let store = Arc::new(MemoryStore::default());
    let dead_letters = Arc::new(MemoryDeadLetters::default());
    let visibility = Arc::new(MemoryVisibility::default());
    let deps =
        Deps::new(store.clone(), dead_letters.clone()).with_visibility_delay(visibility.clone());
    Setup {
        store,
        dead_letters,
        visibility,
        deps,
    }
}

/// Whether `delay` lies within step `receive_count` of the schedule.
fn within_step(delay: Duration, receive_count: u32) -> bool {
    let (floor, ceiling) = WORKER_BACKOFF_SECS[receive_count as usize - 1];
    delay >= Duration::from_secs(floor) && delay <= Duration::from_secs(ceiling)
}

fn handles(delays: &[(String, Duration)]) -> Vec<&str> {
    delays.iter().map(|(handle, _)| handle.as_str()).collect()
}

#[tokio::test]
async fn given_a_transient_failure_mid_group_when_handled_then_it_and_its_held_back_records_share_one_backoff_and_other_groups_none()
 {
    // Given group A: stored, throttled (second receive), held back; group B: stored
    let s = setup_with_visibility();
    s.store.fail_order("o-2", Fault::Transient);
    let batch = event(vec![
        record_in("A", "m-1", &body("o-1"), 1),
        record_in("A", "m-2", &body("o-2"), 2),
        record_in("A", "m-3", &body("o-3"), 1),
        record_in("B", "m-4", &body("o-4"), 2),
    ]);

    // When the batch is handled
    let response = handle(&s.deps, batch).await.unwrap();

    // Then the throttled record and the one held back after it are reported
    assert_eq!(failures(&response), ["m-2", "m-3"]);
    // And both are kept invisible for the same draw of the second step
    let delays = s.visibility.delays();
    assert_eq!(handles(&delays), ["AQEB-m-2", "AQEB-m-3"]);
    assert_eq!(delays[0].1, delays[1].1, "one draw per group");
    assert!(within_step(delays[0].1, 2), "{delays:?}");
    // And the stored records of both groups are left alone
    assert!(s.store.get("o-1").is_some() && s.store.get("o-4").is_some());
}

#[tokio::test]
async fn given_a_held_back_record_received_more_often_when_backed_off_then_the_highest_count_sets_the_step()
 {
    let s = setup_with_visibility();
    s.store.fail_order("o-1", Fault::Transient);
    let batch = event(vec![
        record("m-1", &body("o-1"), 1),
        record("m-2", &body("o-2"), 3),
    ]);

    handle(&s.deps, batch).await.unwrap();

    let delays = s.visibility.delays();
    assert_eq!(handles(&delays), ["AQEB-m-1", "AQEB-m-2"]);
    assert!(within_step(delays[0].1, 3), "{delays:?}");
}

#[tokio::test]
async fn given_each_receive_before_the_last_when_the_store_throttles_then_the_backoff_grows_with_it()
 {
    for receive_count in 1..MAX_RECEIVE_COUNT {
        let s = setup_with_visibility();
        s.store.fail_order("o-1", Fault::Transient);

        handle(
            &s.deps,
            event(vec![record("m-1", &body("o-1"), receive_count)]),
        )
        .await
        .unwrap();

        let delays = s.visibility.delays();
        assert_eq!(delays.len(), 1, "receive {receive_count}");
        assert!(
            within_step(delays[0].1, receive_count),
            "receive {receive_count}: {delays:?}"
        );
    }
}

#[tokio::test]
async fn given_the_last_receive_when_the_store_throttles_then_nothing_is_changed_and_the_redrive_policy_takes_it()
 {
    let s = setup_with_visibility();
    s.store.fail_order("o-1", Fault::Transient);

    let response = handle(
        &s.deps,
        event(vec![record("m-1", &body("o-1"), MAX_RECEIVE_COUNT)]),
    )
    .await
    .unwrap();

    assert_eq!(failures(&response), ["m-1"]);
    assert!(s.visibility.delays().is_empty());
}

#[tokio::test]
async fn given_a_store_that_refuses_the_write_when_handled_then_the_queue_timeout_stays() {
    let s = setup_with_visibility();
    s.store.fail_order("o-1", Fault::Permanent);

    let response = handle(
        &s.deps,
        event(vec![
            record("m-1", &body("o-1"), 1),
            record("m-2", &body("o-2"), 1),
        ]),
    )
    .await
    .unwrap();

    assert_eq!(failures(&response), ["m-1", "m-2"]);
    assert!(
        s.visibility.delays().is_empty(),
        "a deployment fault reaches the DLQ and its alarm without delay"
    );
}

#[tokio::test]
async fn given_poison_and_an_unreachable_dlq_when_handled_then_it_and_its_group_back_off() {
    let s = setup_with_visibility();
    s.dead_letters.fail_next(1, Fault::Transient);

    let response = handle(
        &s.deps,
        event(vec![
            record("m-1", "{not json", 1),
            record("m-2", &body("o-2"), 1),
        ]),
    )
    .await
    .unwrap();

    assert_eq!(failures(&response), ["m-1", "m-2"]);
    let delays = s.visibility.delays();
    assert_eq!(handles(&delays), ["AQEB-m-1", "AQEB-m-2"]);
    assert!(within_step(delays[0].1, 1), "{delays:?}");
}

#[tokio::test]
async fn given_the_queue_refuses_one_change_when_backing_off_then_it_is_logged_and_the_rest_still_back_off()
 {
    // Given a throttled record whose visibility change SQS refuses
    let s = setup_with_visibility();
    s.store.fail_order("o-1", Fault::Transient);
    s.visibility.fail_order("AQEB-m-1", Fault::Permanent);
    let capture = LogCapture::default();
    let _guard = capture.set_default();

    // When the batch is handled
    let response = handle(
        &s.deps,
        event(vec![
            record("m-1", &body("o-1"), 2),
            record("m-2", &body("o-2"), 2),
        ]),
    )
    .await
    .unwrap();

    // Then the answer is the same as without a backoff
    assert_eq!(failures(&response), ["m-1", "m-2"]);
    // And the held-back record is still backed off
    assert_eq!(handles(&s.visibility.delays()), ["AQEB-m-2"]);
    // And the refusal is logged by message id, with the backoff line after it
    let logs = capture.contents();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    let refused: Vec<&Value> = lines
        .iter()
        .filter(|l| l["level"] == "WARN" && l["message_id"] == "m-1")
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("visibility not changed"))
        })
        .collect();
    assert_eq!(refused.len(), 1, "{logs}");
    assert!(refused[0]["error"].as_str().is_some(), "{logs}");
    let backoff = lines
        .iter()
        .find(|l| l["backoff_secs"].is_u64())
        .unwrap_or_else(|| panic!("no backoff line in {logs}"));
    assert_eq!(backoff["message_id"], "m-1");
    assert_eq!(backoff["receive_count"], 2);
    assert_eq!(backoff["records"], 2);
    assert_eq!(backoff["changed"], 1);
    assert!(
        backoff.get("outcome").is_none(),
        "not an outcome line: the metric filters count outcomes"
    );
    for word in PERSONAL_DATA {
        assert!(!logs.contains(word), "{word} in the logs");
    }
}

#[tokio::test]
async fn given_no_visibility_port_when_the_store_throttles_then_the_answer_is_the_same() {
    let (store, deps) = setup();
    store.fail_order("o-1", Fault::Transient);

    let response = handle(&deps, event(vec![record("m-1", &body("o-1"), 1)]))
        .await
        .unwrap();

    assert_eq!(failures(&response), ["m-1"]);
}
