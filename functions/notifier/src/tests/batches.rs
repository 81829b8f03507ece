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
    assert_eq!(failures(&response), [Some("803"), Some("804"), Some("805")]);
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Given any batch and any pattern of per-entry failures, the response
    /// reports exactly the first record that must be retried and every
    /// record after it; everything before it is settled (published once, or
    /// dead-lettered, or skipped); nothing after it is dead-lettered; every
    /// call holds at most ten entries; and the retry from the checkpoint,
    /// once the faults pass, leaves no readable INSERT unannounced.
    #[test]
    fn the_notifier_reports_exactly_the_first_failed_record_onward_and_never_skips_one(
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
            let expected: Vec<String> = checkpoint
                .map_or(0..0, |f| f..kinds.len())
                .map(sequence)
                .collect();
            let reported: Vec<String> = failures(&response)
                .into_iter()
                .map(|f| f.unwrap().to_owned())
                .collect();
            prop_assert_eq!(&reported, &expected);
            prop_assert!(publisher.batch_calls().iter().all(|n| (1..=10).contains(n)));

            let settled = checkpoint.unwrap_or(kinds.len());
            let published = published_ids(&publisher);
            for (i, kind) in kinds.iter().enumerate().take(settled) {
                let id = format!("o-{i}");
                let times = published.iter().filter(|p| **p == id).count();
                prop_assert_eq!(times, usize::from(*kind == Kind::Ok), "{} {:?}", id, kind);
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
                let published = published_ids(&publisher);
                let dead = dead_letters.sent().len();
                for (i, kind) in kinds.iter().enumerate() {
                    let id = format!("o-{i}");
                    let announced = published.contains(&id);
                    match kind {
                        Kind::Ok | Kind::Transient => prop_assert!(announced, "{} never announced", id),
                        Kind::Refused { .. } if i >= f => prop_assert!(announced, "{} never announced", id),
                        _ => {}
                    }
                }
                prop_assert!(dead >= expected_dead.len());
            }
            Ok(())
        })?;
    }
}
