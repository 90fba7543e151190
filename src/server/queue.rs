//! The reconcile queue of one source: single flight and coalescing.
//!
//! Inputs: requests from every trigger (webhooks, polling, file watching), each with a reason.
//! Output: for the one worker that runs passes, the next batch of requests to serve ([`Batch`]).
//! Requests that arrive while a pass runs are folded into one pending batch, so a burst of any
//! size costs at most the pass in flight plus one more, and that one reads the newest tip; a
//! request is never lost, because the worker takes the pending batch after every pass.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Requests folded together since the worker last took them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// How many requests of each reason (`webhook/github`, `poll`, `watch`, ...).
    pub reasons: BTreeMap<String, u64>,
}

impl Batch {
    /// How many requests the batch folds.
    pub fn requests(&self) -> u64 {
        self.reasons.values().sum()
    }
}

/// The queue: any number of producers, one worker.
#[derive(Debug, Default)]
pub struct ReconcileQueue {
    pending: Mutex<Option<Batch>>,
    wake: Notify,
}

impl ReconcileQueue {
    /// An empty queue.
    pub fn new() -> ReconcileQueue {
        ReconcileQueue::default()
    }

    /// Asks for a pass; returns at once (a webhook reply never waits for a reconcile).
    pub fn request(&self, reason: &str) {
        {
            let mut pending = lock(&self.pending);
            let batch = pending.get_or_insert_with(Batch::default);
            *batch.reasons.entry(reason.to_string()).or_default() += 1;
        }
        // One permit is kept if the worker is busy: it finds the batch when it comes back.
        self.wake.notify_one();
    }

    /// Waits for requests and takes them all; `None` once `cancel` fires (pending requests are
    /// then left: a stopping service takes no new work).
    pub async fn next(&self, cancel: &CancellationToken) -> Option<Batch> {
        loop {
            if cancel.is_cancelled() {
                return None;
            }
            if let Some(batch) = lock(&self.pending).take() {
                return Some(batch);
            }
            tokio::select! {
                () = cancel.cancelled() => return None,
                () = self.wake.notified() => {}
            }
        }
    }

    /// Whether requests wait for the worker.
    pub fn is_pending(&self) -> bool {
        lock(&self.pending).is_some()
    }
}

/// The batch survives a producer that panicked while holding the lock: it is plain data, always
/// consistent.
fn lock(m: &Mutex<Option<Batch>>) -> std::sync::MutexGuard<'_, Option<Batch>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_during_a_pass_costs_one_more_pass_and_loses_nothing() {
        let queue = Arc::new(ReconcileQueue::new());
        let cancel = CancellationToken::new();
        let passes = Arc::new(AtomicU64::new(0));
        let served = Arc::new(AtomicU64::new(0));
        let worker = {
            let (queue, cancel, passes, served) = (
                queue.clone(),
                cancel.clone(),
                passes.clone(),
                served.clone(),
            );
            tokio::spawn(async move {
                while let Some(batch) = queue.next(&cancel).await {
                    passes.fetch_add(1, Ordering::SeqCst);
                    served.fetch_add(batch.requests(), Ordering::SeqCst);
                    // A pass takes long next to the burst.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        let producers: Vec<_> = (0..1000)
            .map(|i| {
                let queue = queue.clone();
                tokio::spawn(async move {
                    queue.request(if i % 2 == 0 { "webhook/github" } else { "poll" })
                })
            })
            .collect();
        for p in producers {
            p.await.expect("producer");
        }
        // Let the worker take what the burst left.
        for _ in 0..100 {
            if !queue.is_pending() && served.load(Ordering::SeqCst) == 1000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(served.load(Ordering::SeqCst), 1000, "every request served");
        let n = passes.load(Ordering::SeqCst);
        assert!((1..=2).contains(&n), "{n} passes for a burst of 1000");
        cancel.cancel();
        worker.await.expect("worker");
    }

    #[tokio::test]
    async fn a_request_after_a_pass_starts_another_and_cancel_stops_the_worker() {
        let queue = ReconcileQueue::new();
        let cancel = CancellationToken::new();
        queue.request("watch");
        let first = queue.next(&cancel).await.expect("first");
        assert_eq!(first.reasons.get("watch"), Some(&1));
        queue.request("poll");
        queue.request("poll");
        let second = queue.next(&cancel).await.expect("second");
        assert_eq!(second.requests(), 2);
        cancel.cancel();
        assert_eq!(queue.next(&cancel).await, None);
    }
}
