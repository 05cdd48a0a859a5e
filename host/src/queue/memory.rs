//! The embedded default queue: one process, in memory.
//!
//! Ready tasks sit in a FIFO, delayed ones (retries with backoff) in a heap
//! ordered by due time. One mutex guards both plus the in-flight count, and is
//! never held across an await. Workers that find nothing ready wait on a
//! [`Notify`] until a push, a completion or the next due time; the queue
//! counts as drained when it is closed and nothing is ready, delayed or in
//! flight, which is how batch mode knows to stop.
//!
//! Input is let in only while fewer than [`INTAKE_HIGH`] tasks are ready
//! (follow-ups and retries always are): an input file of millions of lines
//! is read as the workers get through it instead of into memory at once
//! (BENCHMARKS.md, Optimisations, has what reading it all first cost).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{
    AckReceipt, Carries, DeadLetter, Delivery, Effects, Failed, Queue, QueueError, QueueStats,
};
use crate::task::{now_millis, Task};

/// The feeder waits while this many tasks are ready...
pub const INTAKE_HIGH: usize = 4096;
/// ...until the workers have taken them down to this many.
pub const INTAKE_LOW: usize = 1024;

/// Options fixed when the queue is made.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryQueueOptions {
    /// Drop tasks whose URL was already enqueued in this run.
    pub dedupe_urls: bool,
}

/// A delayed task; ordered by due time, then by insertion.
#[derive(Debug)]
struct Delayed {
    due: Instant,
    seq: u64,
    task: Task,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

#[derive(Debug, Default)]
struct State {
    ready: VecDeque<Task>,
    delayed: BinaryHeap<Reverse<Delayed>>,
    seq: u64,
    in_flight: usize,
    closed: bool,
    seen: Option<HashSet<String>>,
    dead: Vec<DeadLetter>,
    stats: QueueStats,
    /// Schedule rounds in this process (`schedule/local.rs`), by id.
    rounds: HashMap<String, LocalRound>,
    /// URLs of unique round tasks not yet ended.
    unique: HashSet<String>,
    /// Schedules feed the queue: closing the input does not drain it.
    kept_open: bool,
}

/// A schedule round's counts in the in-memory queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocalRound {
    /// Tasks enqueued into it, follow-ups included.
    pub total: u64,
    /// Ended done.
    pub done: u64,
    /// Ended dead.
    pub dead: u64,
    /// Not enqueued: their URL was still pending (unique).
    pub skipped: u64,
    /// Every task of the source pushed.
    pub produced: bool,
    /// No task pending any more (and produced).
    pub completed: bool,
    /// Enqueued once when it completes.
    on_complete: Option<Task>,
}

impl LocalRound {
    /// Tasks enqueued and not yet ended.
    pub fn pending(&self) -> u64 {
        self.total.saturating_sub(self.done + self.dead)
    }
}

impl State {
    /// A task of a round ended (`dead` or done) after `grew` follow-ups
    /// joined it: count it, release its unique URL, and complete the round
    /// if nothing of it is pending (its on-complete task is then ready).
    /// Returns whether a task became ready.
    fn round_ended(&mut self, task: &Task, grew: usize, dead: bool) -> bool {
        let Some(round) = &task.round else {
            return false;
        };
        if round.unique {
            self.unique.remove(&task.url);
        }
        if let Some(counts) = self.rounds.get_mut(&round.id) {
            counts.total += grew as u64;
            if dead {
                counts.dead += 1;
            } else {
                counts.done += 1;
            }
        }
        self.complete(&round.id.clone())
    }

    /// Mark round `id` complete if it is produced and nothing is pending;
    /// whether its on-complete task became ready.
    fn complete(&mut self, id: &str) -> bool {
        let Some(counts) = self.rounds.get_mut(id) else {
            return false;
        };
        if counts.produced && !counts.completed && counts.pending() == 0 {
            counts.completed = true;
            if let Some(task) = counts.on_complete.take() {
                self.ready.push_back(task);
                self.stats.enqueued += 1;
                return true;
            }
        }
        false
    }

    fn drained(&self) -> bool {
        self.closed
            && !self.kept_open
            && self.ready.is_empty()
            && self.delayed.is_empty()
            && self.in_flight == 0
    }

    /// Move every due delayed task to the ready FIFO; return the next due
    /// time of what is left.
    fn promote_due(&mut self, now: Instant) -> Option<Instant> {
        while let Some(Reverse(next)) = self.delayed.peek() {
            if next.due > now {
                return Some(next.due);
            }
            if let Some(Reverse(due)) = self.delayed.pop() {
                self.ready.push_back(due.task);
            }
        }
        None
    }

    fn accept(&mut self, tasks: Vec<Task>) -> usize {
        let mut accepted = 0;
        for task in tasks {
            if let Some(seen) = &mut self.seen {
                // Inline tasks have unique `inline:<id>` URLs, so they are
                // only dropped when the same id is pushed twice.
                if !seen.insert(task.url.clone()) {
                    self.stats.duplicates += 1;
                    continue;
                }
            }
            self.ready.push_back(task);
            accepted += 1;
        }
        self.stats.enqueued += accepted as u64;
        accepted
    }
}

/// The in-memory [`Queue`].
#[derive(Debug, Default)]
pub struct MemoryQueue {
    state: Mutex<State>,
    changed: Notify,
    /// Wakes the feeder once the ready tasks are down to [`INTAKE_LOW`].
    room: Notify,
}

impl MemoryQueue {
    /// An empty, open queue.
    pub fn new(options: MemoryQueueOptions) -> Self {
        let state = State {
            seen: options.dedupe_urls.then(HashSet::new),
            ..State::default()
        };
        MemoryQueue {
            state: Mutex::new(state),
            changed: Notify::new(),
            room: Notify::new(),
        }
    }

    /// Start round `id` (`schedule/local.rs`), with the task to enqueue
    /// when it completes.
    pub fn open_round(&self, id: &str, on_complete: Option<Task>) {
        self.lock().rounds.insert(
            id.to_owned(),
            LocalRound {
                on_complete,
                ..LocalRound::default()
            },
        );
    }

    /// Push a chunk of round `id`'s tasks, each due at its time (ms since
    /// the epoch; 0 = now). A unique task whose URL is still pending is
    /// skipped. Returns how many were enqueued.
    pub fn push_round(&self, id: &str, tasks: Vec<(u64, Task)>) -> usize {
        let accepted = {
            let mut state = self.lock();
            if state.closed && !state.kept_open {
                // Stopping: nothing new is taken.
                return 0;
            }
            let (now, now_ms) = (Instant::now(), now_millis());
            let (mut accepted, mut skipped) = (0, 0);
            for (due, task) in tasks {
                let unique = task.round.as_ref().is_some_and(|r| r.unique);
                if unique && !state.unique.insert(task.url.clone()) {
                    skipped += 1;
                    continue;
                }
                if due > now_ms {
                    state.seq += 1;
                    let seq = state.seq;
                    state.delayed.push(Reverse(Delayed {
                        due: now + Duration::from_millis(due - now_ms),
                        seq,
                        task,
                    }));
                } else {
                    state.ready.push_back(task);
                }
                accepted += 1;
            }
            state.stats.enqueued += accepted;
            if let Some(counts) = state.rounds.get_mut(id) {
                counts.total += accepted;
                counts.skipped += skipped;
            }
            accepted
        };
        if accepted > 0 {
            self.changed.notify_waiters();
        }
        accepted as usize
    }

    /// Every task of round `id` has been pushed: it completes once none is
    /// pending (at once if none was enqueued).
    pub fn round_produced(&self, id: &str) {
        let mut state = self.lock();
        if let Some(counts) = state.rounds.get_mut(id) {
            counts.produced = true;
        }
        state.complete(id);
        drop(state);
        self.changed.notify_waiters();
    }

    /// Round `id`'s counts.
    pub fn round(&self, id: &str) -> Option<LocalRound> {
        self.lock().rounds.get(id).cloned()
    }

    /// Keep the queue open when input ends: schedules feed it until the
    /// process is stopped.
    pub fn keep_open(&self) {
        self.lock().kept_open = true;
    }

    /// The dead letters so far, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.lock().dead.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before anything
        // that could panic, so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn finish_one(&self, state: &mut State) {
        state.in_flight = state.in_flight.saturating_sub(1);
    }

    /// Move an in-flight task to the delayed heap; `counted` for a retry.
    fn delay(&self, task: Task, delay: Duration, counted: bool) {
        {
            let mut state = self.lock();
            state.seq += 1;
            let seq = state.seq;
            state.delayed.push(Reverse(Delayed {
                due: Instant::now() + delay,
                seq,
                task,
            }));
            self.finish_one(&mut state);
            if counted {
                state.stats.retried += 1;
            }
        }
        self.changed.notify_waiters();
    }
}

/// What [`MemoryQueue::look`] found.
enum Look {
    /// A task to run, or `None`: drained.
    Done(Option<Task>),
    /// Nothing ready; the next delayed task is due then.
    Wait(Option<Instant>),
}

impl MemoryQueue {
    /// Take the next ready task (promoting due retries first), or say why
    /// there is none.
    fn look(&self) -> Look {
        let mut state = self.lock();
        let next_due = if state.delayed.is_empty() {
            None
        } else {
            state.promote_due(Instant::now())
        };
        if let Some(mut task) = state.ready.pop_front() {
            state.in_flight += 1;
            task.attempt += 1;
            if state.ready.len() == INTAKE_LOW {
                // A stored permit if the feeder is not waiting yet.
                self.room.notify_one();
            }
            return Look::Done(Some(task));
        }
        if state.drained() {
            return Look::Done(None);
        }
        Look::Wait(next_due)
    }

    /// The next task (see [`Queue::pop`]).
    async fn next(&self) -> Option<Task> {
        // A busy queue has a task ready: take it without registering for
        // wake-ups (a Notify registration per job showed in the profile).
        if let Look::Done(answer) = self.look() {
            return answer;
        }
        loop {
            // Register interest before looking again, so that a push
            // between the look and the wait still wakes us.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let next_due = match self.look() {
                Look::Done(answer) => return answer,
                Look::Wait(next_due) => next_due,
            };
            match next_due {
                Some(due) => {
                    tokio::select! {
                        _ = changed => {}
                        _ = tokio::time::sleep_until(due) => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    fn bury(&self, task: Task, error: String) {
        let drained = {
            let mut state = self.lock();
            let completed = state.round_ended(&task, 0, true);
            state.dead.push(DeadLetter {
                task,
                error,
                died_at: now_millis(),
            });
            self.finish_one(&mut state);
            state.stats.dead += 1;
            state.drained() || completed
        };
        if drained {
            self.changed.notify_waiters();
        }
    }
}

impl Queue for MemoryQueue {
    /// Nothing to name: the task itself is the whole delivery.
    type Token = ();

    /// Nothing: records and key-value writes in this process are committed
    /// by the pipeline just before the acknowledgement.
    const CARRIES: Carries = Carries {
        kv_writes: false,
        records: false,
    };

    async fn push(&self, tasks: Vec<Task>) -> Result<usize, QueueError> {
        let accepted = self.lock().accept(tasks);
        if accepted > 0 {
            self.changed.notify_waiters();
        }
        Ok(accepted)
    }

    async fn pop(&self) -> Result<Option<Delivery<()>>, QueueError> {
        Ok(self.next().await.map(|task| Delivery::new(task, ())))
    }

    async fn ack(
        &self,
        delivery: Delivery<()>,
        effects: Effects<'_>,
    ) -> Result<AckReceipt, QueueError> {
        let (accepted, drained) = {
            let mut state = self.lock();
            let accepted = state.accept(effects.follow_ups);
            let completed = delivery.task().round.is_some()
                && state.round_ended(delivery.task(), accepted, false);
            self.finish_one(&mut state);
            state.stats.done += 1;
            state.stats.not_modified += u64::from(effects.not_modified);
            (accepted, state.drained() || completed)
        };
        // Waiters only care about new work or the end of the run: waking all
        // of them on every ack costs more than the job itself under load.
        if accepted > 0 || drained {
            self.changed.notify_waiters();
        }
        Ok(AckReceipt::done(accepted))
    }

    async fn fail(&self, delivery: Delivery<()>, failed: Failed) -> Result<(), QueueError> {
        let (mut task, ()) = delivery.into_parts();
        match failed {
            Failed::Retry { delay, .. } => self.delay(task, delay, true),
            Failed::Defer { delay } => {
                // `pop` counts the attempt again when the task comes back.
                task.attempt = task.attempt.saturating_sub(1);
                self.delay(task, delay, false);
            }
            Failed::Bury { error, .. } => self.bury(task, error),
        }
        Ok(())
    }

    fn is_idle(&self) -> bool {
        self.lock().ready.is_empty()
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_waiters();
    }

    async fn wait_for_room(&self) {
        // The ready tasks can only fall to INTAKE_LOW through `pop`, which
        // then leaves a permit: a wake between the check and the wait is
        // not lost, and a stale permit only costs another check.
        while self.lock().ready.len() >= INTAKE_HIGH {
            self.room.notified().await;
        }
    }

    fn stop_intake(&self) {}

    fn stats(&self) -> QueueStats {
        self.lock().stats
    }

    /// Nothing to hand back to: an in-memory queue dies with its process.
    /// Closing it makes the workers stop once the running jobs end.
    async fn hand_back(&self) -> Result<usize, QueueError> {
        let mut state = self.lock();
        state.closed = true;
        state.kept_open = false;
        let dropped = state.ready.len() + state.delayed.len();
        state.ready.clear();
        state.delayed.clear();
        drop(state);
        self.changed.notify_waiters();
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(url: &str) -> Task {
        Task::new(url)
    }

    fn done(follow_ups: Vec<Task>) -> Effects<'static> {
        Effects {
            plugin: "p",
            follow_ups,
            ..Effects::default()
        }
    }

    #[tokio::test]
    async fn a_round_counts_its_tasks_and_follow_ups_and_completes_once() {
        let queue = MemoryQueue::new(MemoryQueueOptions::default());
        queue.open_round("r@1", Some(task("https://e.com/finished")));
        let in_round = |url: &str| {
            let mut t = task(url);
            t.round = Some(crate::task::Round {
                id: "r@1".into(),
                unique: true,
            });
            t
        };
        // The same URL twice: the unique set lets one in.
        let pushed = queue.push_round(
            "r@1",
            vec![
                (0, in_round("https://e.com/a")),
                (0, in_round("https://e.com/a")),
            ],
        );
        assert_eq!(pushed, 1);
        queue.round_produced("r@1");
        let first = queue.pop().await.expect("pop").expect("a task");
        // A follow-up joins the round.
        let mut follow_up = in_round("https://e.com/b");
        if let Some(round) = follow_up.round.as_mut() {
            round.unique = false;
        }
        let receipt = queue.ack(first, done(vec![follow_up])).await.expect("ack");
        assert_eq!(receipt.wait().await.expect("acknowledged"), 1);
        let round = queue.round("r@1").expect("the round");
        assert_eq!((round.total, round.done, round.skipped), (2, 1, 1));
        assert!(!round.completed);
        // The URL is free again once its task ended.
        assert!(!queue.lock().unique.contains("https://e.com/a"));
        let second = queue.pop().await.expect("pop").expect("a task");
        queue
            .fail(
                second,
                Failed::Bury {
                    error: "x".into(),
                    plugin: None,
                },
            )
            .await
            .expect("bury");
        let round = queue.round("r@1").expect("the round");
        assert_eq!((round.done, round.dead, round.pending()), (1, 1, 0));
        assert!(round.completed);
        // Its on-complete task is ready, once.
        let finished = queue
            .pop()
            .await
            .expect("pop")
            .expect("the on-complete task");
        assert_eq!(finished.task().url, "https://e.com/finished");
        assert!(queue.lock().unique.is_empty());
    }

    #[tokio::test]
    async fn input_waits_for_room_until_the_workers_catch_up() {
        let q = MemoryQueue::new(MemoryQueueOptions::default());
        let short = Duration::from_millis(20);
        q.push(
            (0..INTAKE_HIGH)
                .map(|i| task(&format!("https://e/{i}")))
                .collect(),
        )
        .await
        .unwrap();
        assert!(tokio::time::timeout(short, q.wait_for_room())
            .await
            .is_err());
        for _ in 0..INTAKE_HIGH - INTAKE_LOW - 1 {
            let _held = q.pop().await.unwrap().unwrap();
        }
        // Below the high mark but not yet down to the low one: the feeder
        // is still held (the permit comes at INTAKE_LOW).
        let held = tokio::time::timeout(short, q.room.notified()).await;
        assert!(held.is_err());
        let _held = q.pop().await.unwrap().unwrap();
        tokio::time::timeout(short, q.wait_for_room())
            .await
            .expect("room once the ready tasks are down to the low mark");
        // Follow-ups are never held back.
        let follow_ups = (0..INTAKE_HIGH)
            .map(|i| task(&format!("https://f/{i}")))
            .collect();
        let accepted = tokio::time::timeout(
            short,
            q.ack(q.pop().await.unwrap().unwrap(), done(follow_ups)),
        )
        .await
        .expect("ack does not wait for room")
        .unwrap()
        .wait()
        .await
        .unwrap();
        assert_eq!(accepted, INTAKE_HIGH);
    }

    #[tokio::test]
    async fn fifo_then_drained_once_closed() {
        let q = MemoryQueue::new(MemoryQueueOptions::default());
        q.push(vec![task("https://a/1"), task("https://a/2")])
            .await
            .unwrap();
        q.close();
        let first = q.pop().await.unwrap().unwrap();
        let popped = first.task();
        assert_eq!((popped.url.as_str(), popped.attempt), ("https://a/1", 1));
        let second = q.pop().await.unwrap().unwrap();
        let accepted = q.ack(first, done(vec![task("https://a/3")])).await.unwrap();
        assert_eq!(accepted.wait().await.unwrap(), 1);
        let _ = q.ack(second, done(vec![])).await.unwrap();
        let third = q.pop().await.unwrap().unwrap();
        assert_eq!(third.task().url, "https://a/3");
        let _ = q.ack(third, done(vec![])).await.unwrap();
        assert!(q.pop().await.unwrap().is_none());
        assert_eq!(q.stats().done, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_retries_are_not_run_early() {
        let q = MemoryQueue::new(MemoryQueueOptions::default());
        q.push(vec![task("https://a/1")]).await.unwrap();
        q.close();
        let t = q.pop().await.unwrap().unwrap();
        let start = Instant::now();
        let retry = Failed::Retry {
            delay: Duration::from_secs(30),
            error: "later".into(),
        };
        q.fail(t, retry).await.unwrap();
        let again = q.pop().await.unwrap().unwrap();
        assert!(start.elapsed() >= Duration::from_secs(30));
        assert_eq!(again.task().attempt, 2);
        let bury = Failed::Bury {
            error: "gave up".into(),
            plugin: None,
        };
        q.fail(again, bury).await.unwrap();
        assert!(q.pop().await.unwrap().is_none());
        let dead = q.dead_letters();
        assert_eq!((dead.len(), dead[0].error.as_str()), (1, "gave up"));
        assert_eq!(dead[0].task.attempt, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deferred_task_comes_back_without_counting_an_attempt() {
        let q = MemoryQueue::new(MemoryQueueOptions::default());
        q.push(vec![task("https://a/1")]).await.unwrap();
        q.close();
        let first = q.pop().await.unwrap().unwrap();
        assert_eq!(first.task().attempt, 1);
        let start = Instant::now();
        let defer = Failed::Defer {
            delay: Duration::from_secs(5),
        };
        q.fail(first, defer).await.unwrap();
        let again = q.pop().await.unwrap().unwrap();
        assert!(start.elapsed() >= Duration::from_secs(5));
        assert_eq!(again.task().attempt, 1, "a deferral is not an attempt");
        assert_eq!(q.stats().retried, 0);
        let _ = q.ack(again, done(vec![])).await.unwrap();
        assert!(q.pop().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn dedupe_drops_repeated_urls() {
        let q = MemoryQueue::new(MemoryQueueOptions { dedupe_urls: true });
        let n = q
            .push(vec![
                task("https://a/1"),
                task("https://a/1"),
                task("https://a/2"),
            ])
            .await
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(q.stats().duplicates, 1);
    }

    #[tokio::test]
    async fn a_waiting_worker_wakes_on_push() {
        let q = std::sync::Arc::new(MemoryQueue::new(MemoryQueueOptions::default()));
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await.unwrap().map(|d| d.task().url.clone()) }
        });
        tokio::task::yield_now().await;
        q.push(vec![task("https://a/late")]).await.unwrap();
        assert_eq!(waiter.await.unwrap().as_deref(), Some("https://a/late"));
    }
}
