//! Pipelined acknowledgements, through the public API: a worker runs its
//! next job while its previous acknowledgement is on the wire, hands in no
//! further one until that lands, does not stop before it lands, and stops
//! on its failure; and it makes the next plugin instance ahead only once
//! the queue is idle.
//!
//! The queue here is the in-memory one behind a wrapper whose `ack` answers
//! with a receipt the test resolves by hand, as a batch committed over the
//! network would.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobhost::commit::Commit;
use jobhost::fetch::{FetchConfig, Fetcher};
use jobhost::kv::{AnyKv, MemoryKv};
use jobhost::politeness::{Politeness, PolitenessConfig};
use jobhost::queue::memory::MemoryQueueOptions;
use jobhost::queue::{
    AckReceipt, Carries, Delivery, Effects, Failed, MemoryQueue, Queue, QueueError, QueueStats,
};
use jobhost::registry::Registry;
use jobhost::routing::Router;
use jobhost::runtime::engine::EngineLimits;
use jobhost::runtime::{CallLimits, Runtime};
use jobhost::sink::Sink;
use jobhost::task::Task;
use jobhost::worker::{WorkerConfig, WorkerStats, Workers};
use tokio::sync::oneshot;

use crate::util::PluginDir;

type Answer = oneshot::Sender<Result<usize, QueueError>>;

/// The in-memory queue, with acknowledgements the test commits.
struct HeldAcks {
    inner: MemoryQueue,
    pops: AtomicUsize,
    answers: Mutex<Vec<Answer>>,
}

impl Queue for HeldAcks {
    type Token = <MemoryQueue as Queue>::Token;
    const CARRIES: Carries = MemoryQueue::CARRIES;

    async fn push(&self, tasks: Vec<Task>) -> Result<usize, QueueError> {
        self.inner.push(tasks).await
    }
    async fn pop(&self) -> Result<Option<Delivery<Self::Token>>, QueueError> {
        let delivery = self.inner.pop().await?;
        if delivery.is_some() {
            self.pops.fetch_add(1, Ordering::SeqCst);
        }
        Ok(delivery)
    }
    async fn ack(
        &self,
        delivery: Delivery<Self::Token>,
        effects: Effects<'_>,
    ) -> Result<AckReceipt, QueueError> {
        // The in-memory queue commits at once; the receipt waits for the test.
        let accepted = self.inner.ack(delivery, effects).await?.wait().await?;
        assert_eq!(accepted, 0);
        let (answer, receipt) = oneshot::channel();
        self.answers.lock().unwrap().push(answer);
        Ok(AckReceipt::pending(receipt))
    }
    async fn fail(
        &self,
        delivery: Delivery<Self::Token>,
        failed: Failed,
    ) -> Result<(), QueueError> {
        self.inner.fail(delivery, failed).await
    }
    fn close(&self) {
        self.inner.close()
    }
    fn stop_intake(&self) {
        self.inner.stop_intake()
    }
    fn is_idle(&self) -> bool {
        self.inner.is_idle()
    }
    fn stats(&self) -> QueueStats {
        self.inner.stats()
    }
    async fn hand_back(&self) -> Result<usize, QueueError> {
        self.inner.hand_back().await
    }
}

impl HeldAcks {
    fn acks(&self) -> usize {
        self.answers.lock().unwrap().len()
    }

    /// Commit acknowledgement `n` (0-based) with `result`.
    fn answer(&self, n: usize, result: Result<usize, QueueError>) {
        let (answer, _) = oneshot::channel();
        let answer = std::mem::replace(&mut self.answers.lock().unwrap()[n], answer);
        answer.send(result).expect("the worker still waits for it");
    }
}

async fn one_worker(jobs: usize) -> (Arc<HeldAcks>, Arc<Workers<HeldAcks>>, PluginDir) {
    let plugins = PluginDir::with(&["template"]);
    let kv = Arc::new(AnyKv::Memory(MemoryKv::new()));
    let runtime = Runtime::new(
        &EngineLimits::default(),
        CallLimits::default(),
        kv.clone(),
        None,
    )
    .expect("engine");
    let (registry, problems) = Registry::load_dir(&runtime, plugins.path())
        .await
        .expect("plugins folder");
    assert!(problems.is_empty(), "{problems:?}");
    let registry = Arc::new(arc_swap::ArcSwap::from_pointee(registry));
    let router = Router::new(registry, Some("template".into())).expect("router");
    let queue = Arc::new(HeldAcks {
        inner: MemoryQueue::new(MemoryQueueOptions::default()),
        pops: AtomicUsize::new(0),
        answers: Mutex::new(Vec::new()),
    });
    let tasks = (0..jobs)
        .map(|i| {
            Task::parse_line(&format!(r#"{{"id":"t{i}","payload":"x"}}"#))
                .unwrap()
                .unwrap()
        })
        .collect();
    assert_eq!(queue.push(tasks).await.unwrap(), jobs);
    queue.close();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    std::mem::forget(_stop_tx);
    let sink = Arc::new(Sink::to_writer(Box::new(std::io::sink())));
    let commit = Commit::new(queue.clone(), sink, kv, Default::default()).expect("commit");
    let workers = Arc::new(Workers {
        commit,
        router,
        fetcher: Fetcher::new(FetchConfig::default()).expect("fetcher"),
        politeness: Arc::new(Politeness::new(
            PolitenessConfig::default(),
            None,
            Duration::from_secs(5),
        )),
        config: WorkerConfig {
            concurrency: 1,
            ..WorkerConfig::default()
        },
        stats: WorkerStats::default(),
        stop,
        metrics: None,
    });
    (queue, workers, plugins)
}

/// Wait until `check` holds (it must, soon), then give the worker a moment
/// to do anything it should not.
async fn settle(what: &str, check: impl Fn() -> bool) {
    for _ in 0..500 {
        if check() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_worker_runs_its_next_job_while_its_acknowledgement_is_on_the_wire() {
    let (queue, workers, _plugins) = one_worker(3).await;
    let run = tokio::spawn(workers.clone().run());

    // Job 1 is done and its acknowledgement handed in; job 2 runs meanwhile
    // and hands in its own, then the worker waits for job 1's.
    settle("two acknowledgements", || queue.acks() == 2).await;
    assert_eq!(
        queue.pops.load(Ordering::SeqCst),
        2,
        "no third job before the first ack lands"
    );
    assert_eq!(queue.acks(), 2);
    // A job is still waiting in the queue: no instance is made ahead.
    let template = workers
        .router
        .registry()
        .load()
        .get("template")
        .unwrap()
        .clone();
    assert!(!template.has_ready_instance());

    queue.answer(0, Ok(0));
    settle("the third job's acknowledgement", || queue.acks() == 3).await;
    assert_eq!(queue.pops.load(Ordering::SeqCst), 3);
    // Now the queue is idle: the next instance is made ahead.
    settle("an instance made ahead", || template.has_ready_instance()).await;

    // The queue is drained, but the worker does not stop while its
    // acknowledgements are outstanding.
    queue.answer(1, Ok(0));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !run.is_finished(),
        "the worker stopped before its last acknowledgement landed"
    );
    queue.answer(2, Ok(0));
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the worker stops once every acknowledgement landed")
        .expect("no panic")
        .expect("no queue error");
    assert_eq!(queue.stats().done, 3);
}

#[tokio::test]
async fn a_failed_acknowledgement_stops_the_worker_with_its_error() {
    let (queue, workers, _plugins) = one_worker(5).await;
    let run = tokio::spawn(workers.clone().run());
    settle("two acknowledgements", || queue.acks() == 2).await;
    queue.answer(
        0,
        Err(QueueError::Backend("the ack script was refused".into())),
    );
    let result = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the worker stops")
        .expect("no panic");
    let error = result
        .expect_err("the failure reaches the caller")
        .to_string();
    assert!(error.contains("the ack script was refused"), "{error}");
    assert_eq!(
        queue.pops.load(Ordering::SeqCst),
        2,
        "no job taken after the failure"
    );
}
