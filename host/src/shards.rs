//! Shards: the workers of one host, split over N threads that each run their
//! own single-threaded tokio runtime.
//!
//! A job never moves between threads: it is taken, fetched, run and
//! acknowledged on the thread whose worker took it, with that thread's own
//! HTTP connections and, on Redis, that thread's own consumer of the queue
//! (a shard is to Redis what one more host is). Against tokio's
//! work-stealing runtime, the stealing, the cross-thread wake-ups and the
//! allocations freed on another thread than the one that made them cost
//! host CPU (BENCHMARKS.md, Optimisations, shards). Load still
//! balances: a shard takes a job only when one of its workers is free.
//!
//! Shard 0 runs on the caller's runtime, beside the feeder and the other
//! control tasks; shards 1.. each get a thread, parked until given work. A
//! queue failure in one shard stops them all, as it stops every worker of
//! a single runtime.

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::queue::{Queue, QueueError};
use crate::worker::Workers;

/// The threads (and their runtimes) that shards run on. Dropping the pool
/// stops the threads, and with them every task still on their runtimes.
pub struct ShardPool {
    handles: Vec<Handle>,
    shares: Vec<usize>,
    stops: Vec<oneshot::Sender<()>>,
}

impl ShardPool {
    /// Shards for `workers` workers on at most `threads` threads: the
    /// caller's runtime plus a thread for each further shard. Must be
    /// called from within a tokio runtime.
    pub fn start(workers: usize, threads: usize) -> std::io::Result<Self> {
        let shares = split(workers, threads);
        let mut handles = vec![Handle::current()];
        let mut stops = Vec::new();
        for index in 1..shares.len() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            handles.push(runtime.handle().clone());
            std::thread::Builder::new()
                .name(format!("jobhost-shard-{index}"))
                .spawn(move || {
                    // Runs what is spawned on the handle until the pool goes.
                    let _ = runtime.block_on(stopped);
                })?;
            stops.push(stop);
        }
        Ok(ShardPool {
            handles,
            shares,
            stops,
        })
    }

    /// One runtime handle per shard, shard 0 first.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// How many workers each shard runs, shard 0 first.
    pub fn shares(&self) -> &[usize] {
        &self.shares
    }
}

impl Drop for ShardPool {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}

/// Running shards; see the module doc.
pub struct Shards {
    running: JoinSet<Result<(), QueueError>>,
    first_error: Option<QueueError>,
}

impl Shards {
    /// Run `shards[i]` on the pool's runtime `i`.
    pub fn start<Q: Queue>(pool: &ShardPool, shards: Vec<Arc<Workers<Q>>>) -> Self {
        let mut running = JoinSet::new();
        for (workers, handle) in shards.into_iter().zip(pool.handles()) {
            running.spawn_on(workers.run(), handle);
        }
        Shards {
            running,
            first_error: None,
        }
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
                self.running.abort_all();
                self.first_error.get_or_insert(error);
            }
        }
        match self.first_error.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Stop every shard now (running jobs are dropped unfinished and stay
    /// in the queue's hands) and wait until their workers are gone.
    pub async fn abort(&mut self) {
        self.running.abort_all();
        let _ = self.join().await;
    }
}

/// `total` workers spread over at most `threads` shards, none empty.
fn split(total: usize, threads: usize) -> Vec<usize> {
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
