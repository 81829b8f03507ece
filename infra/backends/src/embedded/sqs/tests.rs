//! The embedded SQS, through its `QueueService` and ports.

use super::*;
use crate::backend::Redrive;

fn fifo(name: &str, visibility_ms: u64, redrive: Option<Redrive>) -> QueueSpec {
    QueueSpec {
        name: name.into(),
        fifo: true,
        visibility_timeout: Duration::from_millis(visibility_ms),
        redrive,
    }
}

fn msg(group: &str, dedup: &str, body: &str) -> SendMessage {
    SendMessage {
        body: body.into(),
        group_id: Some(group.into()),
        dedup_id: Some(dedup.into()),
        ..SendMessage::default()
    }
}

fn bodies(ms: &[ReceivedMessage]) -> Vec<&str> {
    ms.iter().map(|m| m.body.as_str()).collect()
}

#[tokio::test]
async fn given_a_group_in_flight_when_receiving_then_only_other_groups_are_delivered() {
    let q = EmbeddedQueues::new(1.0);
    let url = q.create_queue(&fifo("a.fifo", 60_000, None)).await.unwrap();
    for (g, d, b) in [("A", "1", "a1"), ("A", "2", "a2"), ("B", "3", "b1")] {
        q.send(&url, &msg(g, d, b)).await.unwrap();
    }
    let first = q.receive(&url, 1, Duration::ZERO).await.unwrap();
    assert_eq!(bodies(&first), ["a1"]);
    let second = q.receive(&url, 10, Duration::ZERO).await.unwrap();
    assert_eq!(bodies(&second), ["b1"], "a2 waits for a1");
    q.delete(&url, &first[0].receipt_handle).await.unwrap();
    let third = q.receive(&url, 10, Duration::ZERO).await.unwrap();
    assert_eq!(bodies(&third), ["a2"]);
    assert_eq!(third[0].attributes["MessageGroupId"], "A");
    assert!(third[0].attributes["SequenceNumber"] > first[0].attributes["SequenceNumber"]);
}

#[tokio::test]
async fn given_a_dedup_id_seen_within_the_window_when_sent_again_then_nothing_is_enqueued() {
    let q = EmbeddedQueues::new(1.0);
    let url = q.create_queue(&fifo("d.fifo", 60_000, None)).await.unwrap();
    let id1 = q.send(&url, &msg("A", "same", "x")).await.unwrap();
    let id2 = q.send(&url, &msg("B", "same", "y")).await.unwrap();
    assert_eq!(id1, id2);
    assert_eq!(q.depth(&url).await.unwrap().visible, 1);
}

#[tokio::test]
async fn given_the_window_passed_when_sent_again_then_it_is_enqueued() {
    let q = EmbeddedQueues::new(0.0001); // 30 ms window
    let url = q.create_queue(&fifo("w.fifo", 60_000, None)).await.unwrap();
    q.send(&url, &msg("A", "same", "x")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    q.send(&url, &msg("A", "same", "x")).await.unwrap();
    assert_eq!(q.depth(&url).await.unwrap().visible, 2);
}

#[tokio::test]
async fn given_an_expired_visibility_when_receiving_then_the_count_grows_and_old_receipts_die() {
    let q = EmbeddedQueues::new(1.0);
    let url = q.create_queue(&fifo("v.fifo", 30, None)).await.unwrap();
    q.send(&url, &msg("A", "1", "x")).await.unwrap();
    let first = q.receive(&url, 10, Duration::ZERO).await.unwrap();
    assert_eq!(first[0].receive_count(), 1);
    assert_eq!(q.depth(&url).await.unwrap().in_flight, 1);
    // Long poll wakes when the visibility timeout ends.
    let second = q.receive(&url, 10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(second[0].receive_count(), 2);
    assert!(q.delete(&url, &first[0].receipt_handle).await.is_err());
    q.delete(&url, &second[0].receipt_handle).await.unwrap();
    assert_eq!(q.depth(&url).await.unwrap(), QueueDepth::default());
}

#[tokio::test]
async fn given_max_receive_count_reached_when_receiving_then_the_message_moves_to_the_dlq() {
    let q = EmbeddedQueues::new(1.0);
    let dlq = q
        .create_queue(&fifo("x-dlq.fifo", 60_000, None))
        .await
        .unwrap();
    let url = q
        .create_queue(&fifo(
            "x.fifo",
            60_000,
            Some(Redrive {
                dlq_url: dlq.clone(),
                max_receive_count: 3,
            }),
        ))
        .await
        .unwrap();
    q.send(&url, &msg("A", "1", "poison")).await.unwrap();
    q.send(&url, &msg("A", "2", "next")).await.unwrap();
    for n in 1..=3 {
        let got = q.receive(&url, 1, Duration::ZERO).await.unwrap();
        assert_eq!(bodies(&got), ["poison"]);
        assert_eq!(got[0].receive_count(), n);
        q.change_visibility(&url, &got[0].receipt_handle, Duration::ZERO)
            .await
            .unwrap();
    }
    let got = q.receive(&url, 1, Duration::ZERO).await.unwrap();
    assert_eq!(bodies(&got), ["next"], "the group flows again");
    let dead = q.peek(&dlq).unwrap();
    assert_eq!(bodies(&dead), ["poison"]);
    assert_eq!(dead[0].receive_count(), 3);
}

#[tokio::test]
async fn given_the_backoff_port_when_a_received_message_is_delayed_then_it_and_its_group_wait_that_long()
 {
    let q = EmbeddedQueues::new(1.0);
    let url = q.create_queue(&fifo("b.fifo", 30, None)).await.unwrap();
    q.send(&url, &msg("A", "1", "a1")).await.unwrap();
    q.send(&url, &msg("A", "2", "a2")).await.unwrap();
    let got = q.receive(&url, 1, Duration::ZERO).await.unwrap();
    let received = Instant::now();
    let port = q.visibility_delay(&url);

    // A delay ten times the queue's own timeout holds.
    port.delay(&got[0].receipt_handle, Duration::from_millis(300))
        .await
        .unwrap();

    tokio::time::sleep(Duration::from_millis(100)).await;
    let early = q.receive(&url, 10, Duration::ZERO).await.unwrap();
    assert!(
        bodies(&early).is_empty(),
        "the group waits for a1: {early:?}"
    );
    let again = q.receive(&url, 10, Duration::from_secs(2)).await.unwrap();
    assert!(received.elapsed() >= Duration::from_millis(300));
    assert_eq!(bodies(&again), ["a1", "a2"]);
    assert_eq!(again[0].receive_count(), 2);
    // The old receive's handle is stale: refused, as SQS refuses it.
    let stale = port
        .delay(&got[0].receipt_handle, Duration::from_secs(60))
        .await;
    assert!(matches!(stale, Err(PortError::Permanent(_))), "{stale:?}");
}

#[tokio::test]
async fn given_a_visibility_timeout_over_twelve_hours_then_it_is_refused_and_the_port_caps_it() {
    let q = EmbeddedQueues::new(1.0);
    let url = q.create_queue(&fifo("t.fifo", 60_000, None)).await.unwrap();
    q.send(&url, &msg("A", "1", "x")).await.unwrap();
    let got = q.receive(&url, 1, Duration::ZERO).await.unwrap();
    let handle = &got[0].receipt_handle;

    let over = MAX_VISIBILITY_DELAY + Duration::from_secs(1);
    assert!(q.change_visibility(&url, handle, over).await.is_err());
    q.change_visibility(&url, handle, MAX_VISIBILITY_DELAY)
        .await
        .unwrap();
    // The port, like the SQS adapter, asks for the limit instead.
    q.visibility_delay(&url).delay(handle, over).await.unwrap();
}

#[tokio::test]
async fn long_poll_wakes_on_send() {
    let q = EmbeddedQueues::new(1.0);
    let url = q
        .create_queue(&QueueSpec {
            name: "std".into(),
            fifo: false,
            visibility_timeout: Duration::from_secs(30),
            redrive: None,
        })
        .await
        .unwrap();
    let (q2, url2) = (q.clone(), url.clone());
    let waiter = tokio::spawn(async move { q2.receive(&url2, 10, Duration::from_secs(5)).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let started = std::time::Instant::now();
    q.send(
        &url,
        &SendMessage {
            body: "hi".into(),
            ..SendMessage::default()
        },
    )
    .await
    .unwrap();
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(bodies(&got), ["hi"]);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        q.send(&url, &msg("g", "d", "b")).await.is_ok(),
        "standard queues ignore group ids"
    );
}

#[tokio::test]
async fn fifo_sends_need_a_group_and_unknown_queues_are_not_found() {
    let q = EmbeddedQueues::new(1.0);
    let url = q.create_queue(&fifo("n.fifo", 1000, None)).await.unwrap();
    assert!(q.send(&url, &SendMessage::default()).await.is_err());
    assert!(matches!(
        q.depth("http://nope").await,
        Err(BackendError::NotFound(_))
    ));
}

#[tokio::test]
async fn given_a_character_sqs_refuses_when_sent_then_invalid_message_contents_and_nothing_enqueued()
 {
    let q = EmbeddedQueues::new(1.0);
    let url = q
        .create_queue(&fifo("chars.fifo", 1000, None))
        .await
        .unwrap();
    for (n, refused) in ['\u{FFFF}', '\u{FFFE}', '\u{0}', '\u{1}', '\u{B}', '\u{1F}']
        .into_iter()
        .enumerate()
    {
        let body = format!("order {refused} body");
        let err = q
            .send(&url, &msg("g", &format!("body-{n}"), &body))
            .await
            .unwrap_err();
        let BackendError::Call(source) = &err else {
            panic!("not a call error: {err:?}");
        };
        let contents = source
            .downcast_ref::<InvalidMessageContents>()
            .unwrap_or_else(|| panic!("not InvalidMessageContents: {source}"));
        assert_eq!(contents.part, "body");
        assert_eq!(contents.code_point, u32::from(refused));
        assert!(source.to_string().starts_with("InvalidMessageContents"));
        assert!(
            !source.to_string().contains("order"),
            "no message text in the error"
        );
    }
    let mut attribute = msg("g", "attr", "fine");
    attribute
        .message_attributes
        .insert("correlationId".into(), "c-\u{FFFF}".into());
    let err = q.send(&url, &attribute).await.unwrap_err();
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        source.starts_with("InvalidMessageContents: the message attribute correlationId"),
        "{source}"
    );
    assert!(q.peek(&url).unwrap().is_empty(), "nothing was enqueued");
}

#[tokio::test]
async fn given_every_character_sqs_allows_when_sent_then_it_is_enqueued_unchanged() {
    let q = EmbeddedQueues::new(1.0);
    let url = q.create_queue(&fifo("ok.fifo", 1000, None)).await.unwrap();
    let body = "tab\t nl\n cr\r space ~ \u{7F} \u{85} \u{D7FF} \u{E000} \u{FFFD} \u{10000} \u{10FFFF} Nguyễn 😀";
    q.send(&url, &msg("g", "d", body)).await.unwrap();
    assert_eq!(bodies(&q.peek(&url).unwrap()), [body]);
}

/// The FIFO rules as the emulator first wrote them, one scan of the whole
/// queue per call: the reference the indexed queue must agree with.
mod model {
    pub struct Msg {
        pub body: String,
        pub group: String,
        pub in_flight: bool,
        pub receipt: Option<usize>,
        pub count: u32,
    }

    #[derive(Default)]
    pub struct Fifo {
        pub msgs: Vec<Msg>,
        pub dlq: Vec<String>,
        next_receipt: usize,
    }

    impl Fifo {
        /// Bodies and receive counts delivered, with their receipt numbers.
        pub fn receive(&mut self, max: usize, max_receives: u32) -> Vec<(String, u32, usize)> {
            let blocked: Vec<String> = self
                .msgs
                .iter()
                .filter(|m| m.in_flight)
                .map(|m| m.group.clone())
                .collect();
            let mut out = Vec::new();
            let mut i = 0;
            while i < self.msgs.len() && out.len() < max {
                let m = &mut self.msgs[i];
                if m.in_flight || blocked.contains(&m.group) {
                    i += 1;
                    continue;
                }
                if m.count >= max_receives {
                    let m = self.msgs.remove(i);
                    self.dlq.push(m.body);
                    continue;
                }
                m.count += 1;
                m.in_flight = true;
                m.receipt = Some(self.next_receipt);
                out.push((m.body.clone(), m.count, self.next_receipt));
                self.next_receipt += 1;
                i += 1;
            }
            out
        }

        fn valid(&self, receipt: usize) -> Option<usize> {
            self.msgs
                .iter()
                .position(|m| m.in_flight && m.receipt == Some(receipt))
        }

        pub fn delete(&mut self, receipt: usize) -> bool {
            self.valid(receipt).map(|i| self.msgs.remove(i)).is_some()
        }

        pub fn release(&mut self, receipt: usize) -> bool {
            self.valid(receipt)
                .map(|i| self.msgs[i].in_flight = false)
                .is_some()
        }

        pub fn in_flight(&self) -> usize {
            self.msgs.iter().filter(|m| m.in_flight).count()
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Send(u8),
    Receive(usize),
    Delete(usize),
    Release(usize),
    ExpireAll,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0u8..5).prop_map(Op::Send),
        3 => (1usize..=10).prop_map(Op::Receive),
        3 => any::<usize>().prop_map(Op::Delete),
        1 => any::<usize>().prop_map(Op::Release),
        1 => Just(Op::ExpireAll),
    ]
}

proptest::proptest! {
    /// Whatever the sends, receives, deletes, visibility changes and
    /// expiries, the queue delivers exactly what the one-scan rules do: the
    /// same messages in the same order with the same receive counts, the same
    /// receipts valid, the same depth, the same redrives.
    #[test]
    fn fifo_queue_agrees_with_the_one_scan_rules(ops in proptest::collection::vec(op(), 1..120)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let q = EmbeddedQueues::new(1.0);
            let dlq = q.create_queue(&fifo("m-dlq.fifo", 60_000, None)).await.unwrap();
            let url = q
                .create_queue(&fifo("m.fifo", 60_000, Some(Redrive { dlq_url: dlq.clone(), max_receive_count: 3 })))
                .await
                .unwrap();
            let mut model = model::Fifo::default();
            // Receipts handed out so far: the queue's and the model's.
            let mut receipts: Vec<(String, usize)> = Vec::new();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Send(group) => {
                        let body = format!("m{n}");
                        q.send(&url, &msg(&format!("g{group}"), &body, &body)).await.unwrap();
                        model.msgs.push(model::Msg { body, group: format!("g{group}"), in_flight: false, receipt: None, count: 0 });
                    }
                    Op::Receive(max) => {
                        let got = q.receive(&url, max, Duration::ZERO).await.unwrap();
                        let want = model.receive(max, 3);
                        let got_view: Vec<(&str, u32)> = got.iter().map(|m| (m.body.as_str(), m.receive_count())).collect();
                        let want_view: Vec<(&str, u32)> = want.iter().map(|(b, c, _)| (b.as_str(), *c)).collect();
                        assert_eq!(got_view, want_view, "receive {max}");
                        receipts.extend(got.iter().zip(&want).map(|(g, w)| (g.receipt_handle.clone(), w.2)));
                    }
                    Op::Delete(i) | Op::Release(i) if receipts.is_empty() => { let _ = i; }
                    Op::Delete(i) => {
                        let (real, modelled) = &receipts[i % receipts.len()];
                        assert_eq!(q.delete(&url, real).await.is_ok(), model.delete(*modelled), "delete");
                    }
                    Op::Release(i) => {
                        let (real, modelled) = &receipts[i % receipts.len()];
                        let released = q.change_visibility(&url, real, Duration::ZERO).await.is_ok();
                        assert_eq!(released, model.release(*modelled), "release");
                    }
                    Op::ExpireAll => {
                        let expired = q.expire_visibility(&url).unwrap();
                        assert_eq!(expired, model.in_flight());
                        for m in &mut model.msgs { m.in_flight = false; }
                    }
                }
                let depth = q.depth(&url).await.unwrap();
                assert_eq!(depth.in_flight as usize, model.in_flight());
                assert_eq!((depth.visible + depth.in_flight) as usize, model.msgs.len());
            }
            let left: Vec<String> = q.peek(&url).unwrap().into_iter().map(|m| m.body).collect();
            let model_left: Vec<String> = model.msgs.iter().map(|m| m.body.clone()).collect();
            assert_eq!(left, model_left);
            let dead: Vec<String> = q.peek(&dlq).unwrap().into_iter().map(|m| m.body).collect();
            assert_eq!(dead, model.dlq);
        });
    }
}
