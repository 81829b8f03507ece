//! `PublishBatch` and the checkpoint: examples, then the property over every
//! batch and every pattern of per-entry failures.

use super::*;
use proptest::prelude::*;

#[tokio::test]
async fn given_twenty_five_inserts_when_handled_then_three_batch_calls_publish_them_in_order() {
    let (publisher, deps) = setup();
    let records: Vec<Value> = (0..25)
        .map(|i| insert(&format!("{}", 1000 + i), &format!("o-{i}")))
        .collect();

    let response = handle(&deps, event(records)).await.unwrap();

    assert!(failures(&response).is_empty());
    assert_eq!(publisher.batch_calls(), [10, 10, 5]);
    let expected: Vec<String> = (0..25).map(|i| format!("o-{i}")).collect();
    assert_eq!(published_ids(&publisher), expected);
}

#[tokio::test]
async fn given_a_refused_entry_then_a_failing_one_when_handled_then_the_refused_one_is_dead_lettered_and_the_failing_one_is_the_checkpoint()
 {
    let (publisher, dead_letters, deps) = setup_with_dlq();
    publisher.fail_order("o-2", Fault::Permanent);
    publisher.fail_order("o-3", Fault::Transient);
    publisher.fail_order("o-4", Fault::Permanent);

    let response = handle(
        &deps,
        event(vec![
            insert("801", "o-1"),
            insert("802", "o-2"),
            insert("803", "o-3"),
            insert("804", "o-4"),
            insert("805", "o-5"),
        ]),
    )
    .await
    .unwrap();

    assert_eq!(publisher.batch_calls(), [5]);
    // o-5 was accepted in the same call, after the checkpoint: settled and
    // remembered, not reported.
    assert_eq!(failures(&response), [Some("803"), Some("804")]);
    assert_eq!(published_ids(&publisher), ["o-1", "o-5"]);
    // Only the refusal before the checkpoint is dead-lettered now; o-4 is met
    // again by the retry and dead-lettered then, once.
    let sequences: Vec<_> = dead_letters
        .sent()
        .iter()
        .map(|l| {
            l.attribute(DEAD_LETTER_SEQUENCE_NUMBER_ATTRIBUTE)
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(sequences, [Some("802".to_owned())]);
}

/// What a generated stream record is, and how its publish or dead letter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An INSERT whose publish succeeds.
    Ok,
    /// A MODIFY: nothing to publish.
    Modify,
    /// An INSERT whose publish fails in a way a retry may fix.
    Transient,
    /// An INSERT the topic refuses for good; the DLQ takes it or not.
    Refused { dlq_ok: bool },
    /// An INSERT without a readable image; the DLQ takes it or not.
    Poison { dlq_ok: bool },
}

impl Kind {
    /// Whether this record, met before any checkpoint, becomes the checkpoint.
    fn is_checkpoint(self) -> bool {
        matches!(
            self,
            Self::Transient | Self::Refused { dlq_ok: false } | Self::Poison { dlq_ok: false }
        )
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        6 => Just(Kind::Ok),
        1 => Just(Kind::Modify),
        1 => Just(Kind::Transient),
        1 => any::<bool>().prop_map(|dlq_ok| Kind::Refused { dlq_ok }),
        1 => any::<bool>().prop_map(|dlq_ok| Kind::Poison { dlq_ok }),
    ]
}

fn sequence(i: usize) -> String {
    format!("{}", 5000 + i)
}

fn stream_record(i: usize, kind: Kind) -> Value {
    let id = format!("o-{i}");
    match kind {
        Kind::Modify => record(
            "MODIFY",
            &sequence(i),
            &id,
            json!({"NewImage": image(&stored(&id)), "OldImage": image(&stored(&id))}),
        ),
        Kind::Poison { .. } => record("INSERT", &sequence(i), &id, json!({})),
        _ => insert(&sequence(i), &id),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// How many times `id` was published.
fn times_published(publisher: &MemoryPublisher, id: &str) -> usize {
    published_ids(publisher).iter().filter(|p| *p == id).count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Given any batch and any pattern of per-entry failures, and no time to
    /// retry inside the invocation: the lowest reported record is the first
    /// one that could not be settled and nothing before it is reported;
    /// everything before it is settled (published once, or dead-lettered, or
    /// skipped); nothing after it is dead-lettered; every call holds at most
    /// ten entries; and the retry from the checkpoint, once the faults pass,
    /// announces every readable INSERT exactly once: an entry SNS accepted
    /// is never published again.
    #[test]
    fn the_checkpoint_is_the_first_unsettled_record_and_no_accepted_entry_is_published_twice(
        kinds in proptest::collection::vec(kind(), 1..35)
    ) {
        runtime().block_on(async {
            let (publisher, dead_letters, deps) = setup_with_dlq();
            for (i, kind) in kinds.iter().enumerate() {
                let id = format!("o-{i}");
                match kind {
                    Kind::Transient => publisher.fail_order(&id, Fault::Transient),
                    Kind::Refused { dlq_ok } => {
                        publisher.fail_order(&id, Fault::Permanent);
                        if !dlq_ok {
                            dead_letters.fail_order(&id, Fault::Transient);
                        }
                    }
                    Kind::Poison { dlq_ok: false } => dead_letters.fail_order(&id, Fault::Transient),
                    _ => {}
                }
            }
            let records: Vec<Value> =
                kinds.iter().enumerate().map(|(i, k)| stream_record(i, *k)).collect();

            let response = handle(&deps, event(records.clone())).await.unwrap();

            let checkpoint = kinds.iter().position(|k| k.is_checkpoint());
            let reported: Vec<usize> = failures(&response)
                .into_iter()
                .map(|f| f.unwrap().parse::<usize>().unwrap() - 5000)
                .collect();
            prop_assert_eq!(reported.iter().min().copied(), checkpoint);
            if let Some(f) = checkpoint {
                prop_assert_eq!(reported[0], f);
            }
            prop_assert!(publisher.batch_calls().iter().all(|n| (1..=10).contains(n)));

            let settled = checkpoint.unwrap_or(kinds.len());
            for (i, kind) in kinds.iter().enumerate().take(settled) {
                let id = format!("o-{i}");
                prop_assert_eq!(times_published(&publisher, &id), usize::from(*kind == Kind::Ok), "{} {:?}", id, kind);
            }
            let dead: Vec<String> = dead_letters
                .sent()
                .iter()
                .filter_map(|l| l.attribute(DEAD_LETTER_SEQUENCE_NUMBER_ATTRIBUTE).map(str::to_owned))
                .collect();
            let expected_dead: Vec<String> = kinds
                .iter()
                .enumerate()
                .take(settled)
                .filter(|(_, k)| matches!(k, Kind::Refused { dlq_ok: true } | Kind::Poison { dlq_ok: true }))
                .map(|(i, _)| sequence(i))
                .collect();
            prop_assert_eq!(&dead, &expected_dead);

            // Lambda retries from the checkpoint; the faults have passed.
            if let Some(f) = checkpoint {
                publisher.heal();
                dead_letters.heal();
                let retry = handle(&deps, event(records[f..].to_vec())).await.unwrap();
                prop_assert!(failures(&retry).is_empty());
                for (i, kind) in kinds.iter().enumerate() {
                    let id = format!("o-{i}");
                    let expected = match kind {
                        Kind::Ok | Kind::Transient => 1,
                        Kind::Refused { .. } if i >= f => 1,
                        _ => 0,
                    };
                    prop_assert_eq!(times_published(&publisher, &id), expected, "{} {:?}", id, kind);
                }
                prop_assert!(dead_letters.sent().len() >= expected_dead.len());
            }
            Ok(())
        })?;
    }

    /// Given any batch whose entries SNS throttles a few times each, with
    /// the time of a real invocation: every readable INSERT is announced
    /// exactly once in that one invocation, nothing is reported, every
    /// refusal and unreadable record is dead-lettered once, and every call
    /// after the first carries only what was refused.
    #[test]
    fn throttled_entries_are_retried_alone_until_accepted_and_published_exactly_once(
        plan in proptest::collection::vec((kind(), 0usize..4), 1..35)
    ) {
        let plan: Vec<(Kind, usize)> = plan
            .into_iter()
            .map(|(kind, throttles)| match kind {
                // Every refusal and poison record reaches the DLQ here.
                Kind::Refused { .. } => (Kind::Refused { dlq_ok: true }, 0),
                Kind::Poison { .. } => (Kind::Poison { dlq_ok: true }, 0),
                Kind::Transient => (Kind::Ok, throttles.max(1)),
                kind => (kind, throttles),
            })
            .collect();
        paused_runtime().block_on(async {
            let (publisher, dead_letters, deps) = setup_with_dlq();
            for (i, (kind, throttles)) in plan.iter().enumerate() {
                let id = format!("o-{i}");
                match kind {
                    Kind::Refused { .. } => publisher.fail_order(&id, Fault::Permanent),
                    _ => publisher.fail_order_times(&id, *throttles, Fault::Transient),
                }
            }
            let records: Vec<Value> =
                plan.iter().enumerate().map(|(i, (k, _))| stream_record(i, *k)).collect();

            let response = handle(
                &deps,
                event_with_time(records, std::time::Duration::from_secs(10)),
            )
            .await
            .unwrap();

            prop_assert!(failures(&response).is_empty());
            for (i, (kind, _)) in plan.iter().enumerate() {
                let id = format!("o-{i}");
                prop_assert_eq!(times_published(&publisher, &id), usize::from(*kind == Kind::Ok), "{} {:?}", id, kind);
            }
            let dead = plan
                .iter()
                .filter(|(k, _)| matches!(k, Kind::Refused { .. } | Kind::Poison { .. }))
                .count();
            prop_assert_eq!(dead_letters.sent().len(), dead);
            prop_assert!(publisher.batch_calls().iter().all(|n| (1..=10).contains(n)));
            prop_assert!(deps.ahead.is_empty());
            Ok(())
        })?;
    }
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn given_ten_inserts_when_the_first_entry_is_throttled_once_then_only_it_is_sent_again_and_each_order_is_published_once()
 {
    let (publisher, deps) = setup();
    publisher.fail_next(1, Fault::Transient);
    let records: Vec<Value> = (0..10)
        .map(|i| insert(&format!("{}", 700 + i), &format!("o-{i}")))
        .collect();

    let response = handle(
        &deps,
        event_with_time(records, std::time::Duration::from_secs(10)),
    )
    .await
    .unwrap();

    assert!(failures(&response).is_empty());
    assert_eq!(publisher.batch_calls(), [10, 1]);
    for i in 0..10 {
        assert_eq!(times_published(&publisher, &format!("o-{i}")), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn given_ten_inserts_when_the_whole_call_fails_once_then_the_ten_are_sent_again_and_each_is_published_once()
 {
    let (publisher, deps) = setup();
    publisher.fail_next(10, Fault::Transient);
    let records: Vec<Value> = (0..10)
        .map(|i| insert(&format!("{}", 700 + i), &format!("o-{i}")))
        .collect();

    let response = handle(
        &deps,
        event_with_time(records, std::time::Duration::from_secs(10)),
    )
    .await
    .unwrap();

    assert!(failures(&response).is_empty());
    assert_eq!(publisher.batch_calls(), [10, 10]);
    let expected: Vec<String> = (0..10).map(|i| format!("o-{i}")).collect();
    assert_eq!(published_ids(&publisher), expected);
}

#[tokio::test(start_paused = true)]
async fn given_a_refusal_that_outlasts_the_invocation_then_only_it_is_reported_and_the_retry_publishes_only_it()
 {
    let (publisher, deps) = setup();
    publisher.fail_order("o-0", Fault::Transient);
    let records: Vec<Value> = (0..10)
        .map(|i| insert(&format!("{}", 700 + i), &format!("o-{i}")))
        .collect();
    let started = tokio::time::Instant::now();

    let response = handle(
        &deps,
        event_with_time(records.clone(), std::time::Duration::from_secs(10)),
    )
    .await
    .unwrap();

    // Retried alone until two seconds (the reserve) before the deadline.
    assert!(started.elapsed() <= std::time::Duration::from_secs(8));
    assert_eq!(failures(&response), [Some("700")]);
    let calls = publisher.batch_calls();
    assert_eq!(calls[0], 10);
    assert!(
        calls.len() > 2 && calls[1..].iter().all(|n| *n == 1),
        "{calls:?}"
    );
    publisher.heal();

    let retry = handle(
        &deps,
        event_with_time(records, std::time::Duration::from_secs(10)),
    )
    .await
    .unwrap();

    assert!(failures(&retry).is_empty());
    for i in 0..10 {
        assert_eq!(times_published(&publisher, &format!("o-{i}")), 1, "o-{i}");
    }
    assert!(deps.ahead.is_empty());
}
