//! The lease's rules on a lease table in memory, on tokio's paused clock.

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use super::*;

/// One lease item, with DynamoDB's conditional writes; fails every call
/// while `down`. The reader's tests use it too.
#[derive(Default)]
pub(in crate::sdk::dynamodb) struct MemoryLeaseTable {
    pub(in crate::sdk::dynamodb) item: Mutex<Option<LeaseItem>>,
    down: AtomicBool,
}

impl MemoryLeaseTable {
    fn check(&self) -> BackendResult<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(BackendError::Call("endpoint unreachable".into()));
        }
        Ok(())
    }

    fn current(&self) -> Option<LeaseItem> {
        self.item.lock().unwrap().clone()
    }
}

#[async_trait]
impl LeaseTable for MemoryLeaseTable {
    async fn read(&self) -> BackendResult<Option<LeaseItem>> {
        self.check()?;
        Ok(self.current())
    }

    async fn create(&self, item: &LeaseItem) -> BackendResult<bool> {
        self.check()?;
        let mut current = self.item.lock().unwrap();
        if current.is_some() {
            return Ok(false);
        }
        *current = Some(item.clone());
        Ok(true)
    }

    async fn replace(&self, owner: &str, counter: u64, item: &LeaseItem) -> BackendResult<bool> {
        self.check()?;
        let mut current = self.item.lock().unwrap();
        match current.as_ref() {
            Some(held) if held.owner == owner && held.counter == counter => {
                *current = Some(item.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, owner: &str) -> BackendResult<()> {
        self.check()?;
        let mut current = self.item.lock().unwrap();
        if current.as_ref().is_some_and(|held| held.owner == owner) {
            *current = None;
        }
        Ok(())
    }
}

const DURATION: Duration = Duration::from_secs(10);

fn spec(owner: &str) -> LeaseSpec {
    LeaseSpec {
        owner: owner.to_owned(),
        duration: DURATION,
    }
}

fn table() -> Arc<MemoryLeaseTable> {
    Arc::new(MemoryLeaseTable::default())
}

#[tokio::test(start_paused = true)]
async fn given_no_lease_then_the_first_runner_takes_it_at_once_and_renews_it() {
    let table = table();
    let began = Instant::now();
    let lease = acquire(table.clone(), &spec("runner-a")).await.unwrap();
    assert_eq!(began.elapsed(), Duration::ZERO);
    let item = table.current().unwrap();
    assert_eq!((item.owner.as_str(), item.counter), ("runner-a", 1));
    assert!(!item.expires_at.is_empty());

    // Renewed every third of its duration, so it stays held.
    tokio::time::sleep(DURATION * 2).await;
    assert!(table.current().unwrap().counter >= 6);
    assert_eq!(lease.status(), LeaseStatus::Held);
}

#[tokio::test(start_paused = true)]
async fn given_a_runner_renewing_its_lease_then_a_second_one_is_refused_naming_it() {
    let table = table();
    let _first = acquire(table.clone(), &spec("runner-a")).await.unwrap();
    let began = Instant::now();

    let refused = acquire(table.clone(), &spec("runner-b")).await.unwrap_err();

    let BackendError::LeaseHeld(held) = refused else {
        panic!("refused with {refused:?}");
    };
    assert_eq!(held.owner, "runner-a");
    assert_eq!(held.expires_at, table.current().unwrap().expires_at);
    // As soon as a renewal shows the holder alive: before its lease could
    // have expired.
    assert!(began.elapsed() < DURATION, "{:?}", began.elapsed());
    assert!(refused_message_names(&held));
    assert_eq!(table.current().unwrap().owner, "runner-a");
}

fn refused_message_names(held: &LeaseHeld) -> bool {
    let message = BackendError::LeaseHeld(held.clone()).to_string();
    message.contains(&held.owner) && message.contains(&held.expires_at)
}

#[tokio::test(start_paused = true)]
async fn given_a_runner_killed_while_holding_it_then_the_next_takes_it_over_once_it_went_unrenewed()
{
    let table = table();
    let killed = acquire(table.clone(), &spec("runner-a")).await.unwrap();
    // kill -9: no release, no renewals any more.
    drop(killed);
    let before = table.current().unwrap();
    let began = Instant::now();

    let lease = acquire(table.clone(), &spec("runner-b")).await.unwrap();

    assert!(began.elapsed() >= DURATION, "{:?}", began.elapsed());
    assert!(began.elapsed() < DURATION * 2, "{:?}", began.elapsed());
    let after = table.current().unwrap();
    assert_eq!(after.owner, "runner-b");
    assert_eq!(after.counter, before.counter + 1);
    assert_eq!(lease.status(), LeaseStatus::Held);
}

#[tokio::test(start_paused = true)]
async fn given_a_lease_taken_over_then_its_former_holder_sees_it_lost_at_its_next_renewal() {
    let table = table();
    let lease = acquire(table.clone(), &spec("runner-a")).await.unwrap();
    // Another runner took it over (say, after this one was paused too long).
    let taken = LeaseItem {
        owner: "runner-b".to_owned(),
        counter: 100,
        duration: DURATION,
        expires_at: String::new(),
    };
    *table.item.lock().unwrap() = Some(taken.clone());

    tokio::time::sleep(DURATION / 2).await;

    assert_eq!(lease.status(), LeaseStatus::Lost);
    assert!(matches!(lease.lost(), BackendError::LeaseLost { owner } if owner == "runner-a"));
    // It never writes the lease again.
    tokio::time::sleep(DURATION * 2).await;
    assert_eq!(table.current(), Some(taken));
}

#[tokio::test(start_paused = true)]
async fn given_renewals_failing_for_a_whole_duration_then_the_lease_is_unconfirmed_until_one_succeeds()
 {
    let table = table();
    let lease = acquire(table.clone(), &spec("runner-a")).await.unwrap();
    table.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(DURATION + Duration::from_secs(1)).await;
    assert_eq!(lease.status(), LeaseStatus::Unconfirmed);

    table.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(DURATION / 2).await;
    assert_eq!(lease.status(), LeaseStatus::Held);
}

#[tokio::test(start_paused = true)]
async fn given_a_released_lease_then_the_next_runner_takes_it_at_once() {
    let table = table();
    let first = acquire(table.clone(), &spec("runner-a")).await.unwrap();
    first.release().await.unwrap();
    assert_eq!(table.current(), None);
    let began = Instant::now();

    acquire(table.clone(), &spec("runner-b")).await.unwrap();

    assert_eq!(began.elapsed(), Duration::ZERO);
    assert_eq!(table.current().unwrap().owner, "runner-b");
}

#[tokio::test(start_paused = true)]
async fn given_a_release_by_a_runner_that_lost_the_lease_then_the_new_holder_keeps_it() {
    let table = table();
    let first = acquire(table.clone(), &spec("runner-a")).await.unwrap();
    *table.item.lock().unwrap() = Some(LeaseItem {
        owner: "runner-b".to_owned(),
        counter: 7,
        duration: DURATION,
        expires_at: String::new(),
    });
    first.release().await.unwrap();
    assert_eq!(table.current().unwrap().owner, "runner-b");
}

#[tokio::test(start_paused = true)]
async fn given_its_own_owner_id_then_a_runner_takes_its_lease_back_at_once() {
    let table = table();
    let first = acquire(table.clone(), &spec("runner-a")).await.unwrap();
    drop(first);
    let began = Instant::now();
    acquire(table.clone(), &spec("runner-a")).await.unwrap();
    assert_eq!(began.elapsed(), Duration::ZERO);
    assert_eq!(table.current().unwrap().counter, 2);
}
