//! Locking shared state that a panic must not make unreadable.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, recovering the guard when a thread panicked while holding
/// it.
///
/// Every user keeps state whose invariants hold between statements (a
/// recorder, an emulated service's tables), so the data behind a poisoned
/// lock is still sound. Recovering keeps one panicking test, or one
/// panicking handler in the local runner, from failing every later caller,
/// and keeps `unwrap` off the lock.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_lock_poisoned_by_a_panic_then_its_data_is_still_readable() {
        let shared = std::sync::Arc::new(Mutex::new(vec![1]));
        let holder = shared.clone();
        let panicked = std::thread::spawn(move || {
            let mut data = holder.lock().unwrap();
            data.push(2);
            panic!("while holding the lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(shared.is_poisoned());

        lock(&shared).push(3);
        assert_eq!(*lock(&shared), vec![1, 2, 3]);
    }
}
