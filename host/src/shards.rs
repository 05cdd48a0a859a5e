//! Shards: the workers of one host, split over N threads that each run their
//! own single-threaded tokio runtime.
//!
//! A job never moves between threads: it is fetched, run and acknowledged
//! on the thread whose worker took it, with that thread's own HTTP
//! connection pool. Measured against tokio's work-stealing runtime on the
//! same two cores, the stealing, the cross-thread wake-ups and the
//! allocations freed on another thread than the one that made them cost a
//! third more host CPU per job (see BENCHMARKS.md). Load still balances:
//! every shard takes its next job from the one shared queue when it has a
//! free worker.
//!
//! Shard 0 runs on the caller's runtime, beside the queue's own background
//! tasks and the feeder; shards 1.. each get a thread. A queue failure in
//! one shard stops them all, as it stops every worker of a single runtime.

use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use crate::queue::{Queue, QueueError};
use crate::worker::Workers;

/// Running shards; see the module doc.
pub struct Shards {
    running: JoinSet<Result<(), QueueError>>,
    cancel: watch::Sender<bool>,
    first_error: Option<QueueError>,
}

impl Shards {
    /// Start one shard per element of `shards`: the first on the current
    /// runtime, the others on threads of their own.
    pub fn start<Q: Queue>(shards: Vec<Arc<Workers<Q>>>) -> std::io::Result<Self> {
        let (cancel, _) = watch::channel(false);
        let mut running = JoinSet::new();
        let mut shards = shards.into_iter();
        let first = shards.next();
        for (index, workers) in shards.enumerate() {
            let (done, result) = oneshot::channel();
            let cancelled = cancel.subscribe();
            std::thread::Builder::new()
                .name(format!("jobhost-shard-{}", index + 1))
                .spawn(move || {
                    let ran = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => {
                            let ran = runtime.block_on(run_shard(workers, cancelled));
                            // Every worker future is dropped before the
                            // caller hears that this shard ended.
                            drop(runtime);
                            ran
                        }
                        Err(error) => Err(QueueError::Backend(format!(
                            "cannot start a worker thread's runtime: {error}"
                        ))),
                    };
                    let _ = done.send(ran);
                })?;
            running.spawn(async move {
                result.await.unwrap_or_else(|_| {
                    Err(QueueError::Backend(
                        "a worker thread panicked (a bug: please report it)".into(),
                    ))
                })
            });
        }
        if let Some(workers) = first {
            running.spawn(run_shard(workers, cancel.subscribe()));
        }
        Ok(Shards {
            running,
            cancel,
            first_error: None,
        })
    }

    /// Wait until every shard has ended; the first queue failure, if any.
    /// Cancel-safe: a dropped call loses nothing, and the next call goes on
    /// waiting for the shards not yet ended.
    pub async fn join(&mut self) -> Result<(), QueueError> {
        while let Some(joined) = self.running.join_next().await {
            let failed = match joined {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error),
                Err(join) if join.is_cancelled() => None,
                Err(join) => Some(QueueError::Backend(format!("worker shard failed: {join}"))),
            };
            if let Some(error) = failed {
                // One shard's queue failure stops the others too.
                let _ = self.cancel.send(true);
                self.first_error.get_or_insert(error);
            }
        }
        match self.first_error.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Stop every shard now (running jobs are dropped unfinished and stay
    /// in the queue's hands) and wait until they have stopped.
    pub async fn abort(&mut self) {
        let _ = self.cancel.send(true);
        let _ = self.join().await;
    }
}

async fn run_shard<Q: Queue>(
    workers: Arc<Workers<Q>>,
    mut cancel: watch::Receiver<bool>,
) -> Result<(), QueueError> {
    tokio::select! {
        ran = workers.run() => ran,
        _ = cancel.wait_for(|cancelled| *cancelled) => Ok(()),
    }
}

/// `total` workers spread over at most `threads` shards, none empty.
pub fn split(total: usize, threads: usize) -> Vec<usize> {
    let total = total.max(1);
    let shards = threads.clamp(1, total);
    (0..shards)
        .map(|i| total / shards + usize::from(i < total % shards))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_spreads_workers_evenly_and_never_leaves_a_shard_empty() {
        assert_eq!(split(64, 2), vec![32, 32]);
        assert_eq!(split(5, 2), vec![3, 2]);
        assert_eq!(split(1, 4), vec![1]);
        assert_eq!(split(3, 8), vec![1, 1, 1]);
        assert_eq!(split(0, 2), vec![1]);
        assert_eq!(split(10, 1), vec![10]);
        assert_eq!(split(10, 3).iter().sum::<usize>(), 10);
    }
}
