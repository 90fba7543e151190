//! Parallel work on a slice: the one helper behind every thread pool of gitstellar (the plan's
//! customization, the mailbox rendering, the pack compression).
//!
//! Input: a slice of independent items and a function of a chunk of them. Output: the function's
//! results, one per chunk, in the order of the chunks (so the caller's merge is as deterministic as
//! a sequential loop). The chunks run on scoped threads, at most [`workers()`] of them
//! ([`std::thread::available_parallelism`], capped at [`MAX_WORKERS`]).
//!
//! The panic policy, the same everywhere: a panic in a worker is a bug, and it is re-raised in the
//! caller ([`std::panic::resume_unwind`], with the worker's payload) once every worker has
//! stopped. It is never turned into an error value nor swallowed, so no chunk's results are
//! silently dropped.

use std::thread::ScopedJoinHandle;

/// The most threads one call uses: more cores than this gain little on the work gitstellar splits
/// (and the machine has other work to do).
pub const MAX_WORKERS: usize = 8;

/// How many threads a call uses: the available parallelism, between 1 and [`MAX_WORKERS`].
pub fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS)
}

/// `items` in at most `parts` chunks of equal length (the last one shorter), in order; no chunk
/// for an empty slice.
pub fn even_chunks<T>(items: &[T], parts: usize) -> Vec<&[T]> {
    let size = items.len().div_ceil(parts.max(1)).max(1);
    items.chunks(size).collect()
}

/// `items` in about `parts` chunks of equal total `weight`, in order: a chunk closes as soon as
/// its weight reaches the share of one part; no chunk for an empty slice.
pub fn weighted_chunks<T>(items: &[T], parts: usize, weight: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let total: usize = items.iter().map(&weight).sum();
    let share = total.div_ceil(parts.max(1)).max(1);
    let mut chunks = Vec::new();
    let (mut start, mut filled) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        filled += weight(item);
        if filled >= share {
            chunks.push(&items[start..=i]);
            (start, filled) = (i + 1, 0);
        }
    }
    if start < items.len() {
        chunks.push(&items[start..]);
    }
    chunks
}

/// Runs `work` on every chunk, one scoped thread per chunk, and returns the results in the order
/// of `chunks`. A single chunk runs on the calling thread. A worker's panic is re-raised here
/// (see the module docs).
pub fn run<T, R, F>(chunks: &[&[T]], work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> R + Sync,
{
    if let [only] = chunks {
        return vec![work(only)];
    }
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<ScopedJoinHandle<'_, R>> = chunks
            .iter()
            .map(|&chunk| scope.spawn(move || work(chunk)))
            .collect();
        // Join every worker before re-raising, so the first panic is the one reported and no
        // worker is left running (the scope would re-panic with a generic message otherwise).
        let joined: Vec<std::thread::Result<R>> =
            handles.into_iter().map(ScopedJoinHandle::join).collect();
        joined
            .into_iter()
            .map(|r| r.unwrap_or_else(|payload| std::panic::resume_unwind(payload)))
            .collect()
    })
}

/// [`run`] over [`even_chunks`] of `items`, one chunk per [`workers()`].
pub fn map_chunks<T, R, F>(items: &[T], work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> R + Sync,
{
    run(&even_chunks(items, workers()), work)
}

/// [`run`] over [`weighted_chunks`] of `items`, one chunk per [`workers()`]: for items whose costs
/// differ much.
pub fn map_weighted_chunks<T, R, F>(items: &[T], weight: impl Fn(&T) -> usize, work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> R + Sync,
{
    run(&weighted_chunks(items, workers(), weight), work)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn concat(parts: Vec<Vec<u32>>) -> Vec<u32> {
        parts.into_iter().flatten().collect()
    }

    #[test]
    fn results_come_back_in_input_order() {
        let items: Vec<u32> = (0..1000).collect();
        let parts = run(&even_chunks(&items, 7), |chunk| {
            // Later chunks finish first: order must not follow completion.
            std::thread::sleep(std::time::Duration::from_millis(
                u64::from(1000 - chunk[0]) / 100,
            ));
            chunk.iter().map(|x| x * 2).collect::<Vec<_>>()
        });
        assert_eq!(parts.len(), 7);
        assert_eq!(
            concat(parts),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
    }

    #[test]
    fn empty_input_runs_nothing() {
        let items: [u32; 0] = [];
        assert!(even_chunks(&items, 4).is_empty());
        assert!(weighted_chunks(&items, 4, |_| 1).is_empty());
        let parts = map_chunks(&items, |_| -> u32 { panic!("no chunk to work on") });
        assert!(parts.is_empty());
        let parts = map_weighted_chunks(&items, |_| 1, |_| -> u32 { panic!("no chunk") });
        assert!(parts.is_empty());
    }

    #[test]
    fn one_item_is_one_chunk_on_the_calling_thread() {
        let caller = std::thread::current().id();
        let parts = map_chunks(&[41u32], |chunk| {
            (chunk.to_vec(), std::thread::current().id())
        });
        assert_eq!(parts, vec![(vec![41], caller)]);
        let parts = map_weighted_chunks(&[41u32], |_| 0, <[u32]>::to_vec);
        assert_eq!(parts, vec![vec![41]]);
    }

    #[test]
    fn a_worker_panic_is_re_raised_with_its_payload() {
        let items: Vec<u32> = (0..64).collect();
        let caught = std::panic::catch_unwind(|| {
            run(&even_chunks(&items, 4), |chunk| {
                if chunk.contains(&40) {
                    std::panic::panic_any(format!("worker of {}", chunk[0]));
                }
                chunk.len()
            })
        });
        let payload = caught.expect_err("the panic reaches the caller");
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("worker of 32")
        );
    }

    #[test]
    fn a_panic_on_the_calling_thread_is_raised_too() {
        let caught =
            std::panic::catch_unwind(|| run(&[&[1u32][..]], |_| -> u32 { panic!("only") }));
        assert_eq!(
            caught.expect_err("raised").downcast_ref::<&str>(),
            Some(&"only")
        );
    }

    #[test]
    fn weighted_chunks_balance_by_weight() {
        // One heavy item, then light ones: the heavy one is a chunk of its own.
        let items = [10usize, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        let chunks = weighted_chunks(&items, 2, |&w| w);
        assert_eq!(chunks, vec![&items[..1], &items[1..]]);
    }

    proptest! {
        #[test]
        fn chunks_cover_the_input_in_order(
            items in proptest::collection::vec(0usize..20, 0..200),
            parts in 0usize..12,
        ) {
            let even = even_chunks(&items, parts);
            prop_assert!(even.len() <= parts.max(1));
            prop_assert!(even.iter().all(|c| !c.is_empty()));
            prop_assert_eq!(even.concat(), items.clone());
            let weighted = weighted_chunks(&items, parts, |&w| w);
            prop_assert!(weighted.iter().all(|c| !c.is_empty()));
            prop_assert_eq!(weighted.concat(), items.clone());
            let mapped = map_weighted_chunks(&items, |&w| w, <[usize]>::to_vec);
            prop_assert_eq!(mapped.concat(), items);
        }
    }
}
