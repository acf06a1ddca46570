//! Work over a large slice split across the cores, results in the slice's order.
//!
//! Mapping and diffing a million people are independent per person; two cores halve the
//! wall time. Small inputs stay on the calling thread, where a thread costs more than it saves.

use std::ops::Range;

/// How many threads `len` items are worth, at least `per_thread` items each.
pub fn threads_for(len: usize, per_thread: usize) -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(len / per_thread.max(1)).max(1)
}

/// `work` on `threads` consecutive chunks of `items`, the results in chunk order. A panic
/// in a chunk is a panic here.
pub fn map_chunks<T: Sync, R: Send>(items: &[T], threads: usize, work: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    if threads <= 1 || items.len() < 2 {
        return vec![work(items)];
    }
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            items.chunks(items.len().div_ceil(threads)).map(|chunk| scope.spawn(move || work(chunk))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}

/// `work` on `threads` consecutive ranges of `0..len`, the results in range order.
pub fn map_ranges<R: Send>(len: usize, threads: usize, work: impl Fn(Range<usize>) -> R + Sync) -> Vec<R> {
    if threads <= 1 || len < 2 {
        return vec![work(0..len)];
    }
    let work = &work;
    let step = len.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            (0..len).step_by(step).map(|start| scope.spawn(move || work(start..(start + step).min(len)))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_back_in_order_whatever_the_thread_count() {
        let items: Vec<u32> = (0..1000).collect();
        for threads in [1, 2, 3, 7, 2000] {
            let sums: Vec<Vec<u32>> = map_chunks(&items, threads, |c| c.to_vec());
            assert_eq!(sums.concat(), items, "{threads} threads");
        }
        assert_eq!(threads_for(10, 8192), 1);
        for threads in [1, 2, 3, 7, 2000] {
            let ranges = map_ranges(1000, threads, |r| r.collect::<Vec<usize>>());
            assert_eq!(ranges.concat(), (0..1000).collect::<Vec<_>>(), "{threads} threads");
        }
    }
}
