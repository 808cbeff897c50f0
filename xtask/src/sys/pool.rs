//! One bounded thread pool for everything that runs side by side: registry requests, image
//! tests. Results come back in the order of the items.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Runs `f` on every item with at most `limit` threads and returns the results in the items'
/// order: registry round trips, not the CPU, bound a check of many tags.
pub fn map_concurrent<T: Send, R: Send>(items: Vec<T>, limit: usize, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let count = items.len();
    let queue = Mutex::new(items.into_iter().enumerate());
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..limit.max(1).min(count) {
            scope.spawn(|| loop {
                let Some((index, item)) = lock(&queue).next() else { break };
                let result = f(item);
                lock(&results)[index] = Some(result);
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(PoisonError::into_inner);
    results.into_iter().map(|r| r.expect("every item was mapped")).collect()
}

/// A poisoned lock only means another thread panicked mid-request; the data stays usable.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn map_concurrent_keeps_order_and_its_limit() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (active, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let out = map_concurrent((0..24).collect(), 3, |i: u64| {
            let now = active.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(15));
            active.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, (0..24).map(|i| i * 2).collect::<Vec<_>>());
        let peak = peak.into_inner();
        assert!((2..=3).contains(&peak), "peak concurrency {peak}");
        assert!(map_concurrent(Vec::<u8>::new(), 8, |i| i).is_empty());
    }
}
