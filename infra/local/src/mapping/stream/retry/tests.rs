//! The retry state, invocation by invocation.

use super::*;

fn batches(c: &Checkpoint) -> Vec<usize> {
    c.retry_batches.iter().copied().collect()
}

#[test]
fn given_an_item_failure_then_the_records_before_are_done_and_the_whole_rest_is_retried() {
    let mut c = Checkpoint::default();
    assert_eq!(c.next_len(25), NOTIFIER_BATCH_SIZE);
    let d = c.after(10, Invocation::ItemFailure(3), Some(5), true);
    assert_eq!(d.done, 3);
    assert_eq!(d.exhausted, 0);
    assert_eq!(d.backoff, 1);
    assert_eq!(c.next_len(22), 7, "the remaining 7, not half of them");
    let d = c.after(7, Invocation::ItemFailure(0), Some(5), true);
    assert_eq!((d.done, d.backoff), (0, 2));
    assert_eq!(c.next_len(22), 7, "still not halved");
    let d = c.after(7, Invocation::Success, Some(5), true);
    assert_eq!(d.done, 7);
    assert_eq!(c.next_len(15), NOTIFIER_BATCH_SIZE, "back to fresh batches");
    assert_eq!(c.retries, 0);
}

#[test]
fn given_the_retries_run_out_then_the_whole_remainder_is_given_up_on_in_one_go() {
    let mut c = Checkpoint::default();
    let d = c.after(4, Invocation::ItemFailure(1), Some(2), true);
    assert_eq!((d.done, d.exhausted), (1, 0));
    let d = c.after(3, Invocation::ItemFailure(0), Some(2), true);
    assert_eq!((d.done, d.exhausted), (0, 0));
    let d = c.after(3, Invocation::ItemFailure(0), Some(2), true);
    assert_eq!(
        (d.done, d.exhausted, d.invoke_count),
        (0, 3, 3),
        "1 + MaximumRetryAttempts invocations, then the 3 remaining records"
    );
    assert!(batches(&c).is_empty());
    assert_eq!(c.retries, 0, "the next record starts a fresh quota");
}

#[test]
fn given_a_partial_success_then_the_quota_starts_again_for_the_new_checkpoint() {
    let mut c = Checkpoint::default();
    c.after(5, Invocation::ItemFailure(0), Some(1), true);
    let d = c.after(5, Invocation::ItemFailure(2), Some(1), true);
    assert_eq!(
        (d.done, d.exhausted),
        (2, 0),
        "the checkpoint moved: retry 1 of 1"
    );
    let d = c.after(3, Invocation::ItemFailure(0), Some(1), true);
    assert_eq!((d.done, d.exhausted), (0, 3));
}

#[test]
fn given_a_function_error_then_the_batch_is_bisected_without_using_the_quota() {
    let mut c = Checkpoint::default();
    // Max 0 retries: any counted failure would give up at once.
    let d = c.after(5, Invocation::FunctionError, Some(0), true);
    assert_eq!(
        d,
        Decision {
            backoff: 1,
            ..Decision::default()
        }
    );
    assert_eq!(batches(&c), [3, 2]);
    let d = c.after(3, Invocation::FunctionError, Some(0), true);
    assert_eq!(d.exhausted, 0);
    assert_eq!(batches(&c), [2, 1, 2]);
    let d = c.after(2, Invocation::Success, Some(0), true);
    assert_eq!(d.done, 2);
    assert_eq!(batches(&c), [1, 2]);
    // One record cannot be split: that failure is a retry, and the last.
    let d = c.after(1, Invocation::FunctionError, Some(0), true);
    assert_eq!((d.done, d.exhausted), (0, 1));
    assert_eq!(batches(&c), [2], "the second half is still tried");
}

#[test]
fn given_bisection_off_then_a_function_error_retries_the_whole_batch() {
    let mut c = Checkpoint::default();
    let d = c.after(4, Invocation::FunctionError, Some(1), false);
    assert_eq!((d.exhausted, d.backoff), (0, 1));
    assert_eq!(batches(&c), [4]);
    let d = c.after(4, Invocation::FunctionError, Some(1), false);
    assert_eq!(d.exhausted, 4);
}

#[test]
fn given_unlimited_retries_then_nothing_is_ever_given_up_on() {
    let mut c = Checkpoint::default();
    for _ in 0..1000 {
        let d = c.after(3, Invocation::ItemFailure(0), None, true);
        assert_eq!(d.exhausted, 0);
        assert!(d.backoff <= MAX_BACKOFF_STEPS, "the pause stops growing");
    }
    assert_eq!(c.next_len(3), 3);
}

#[test]
fn given_aged_out_records_then_they_leave_the_retry_batches() {
    let mut c = Checkpoint::default();
    c.after(6, Invocation::FunctionError, Some(3), true);
    assert_eq!(batches(&c), [3, 3]);
    c.skip(4);
    assert_eq!(batches(&c), [2]);
    assert_eq!(c.retries, 0);
}
