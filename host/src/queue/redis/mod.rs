//! The Redis queue: many hosts, one Redis, at-least-once delivery.
//!
//! Tasks live on a Redis stream read through one consumer group; a delivered
//! entry stays pending (in flight) until a Lua script acknowledges it
//! together with its follow-ups and records, retries it through the delayed
//! set, or buries it in the dead letters. Each of those scripts first checks
//! that this host still owns the entry, so a host that lost its lease cannot
//! double-complete a job. Redis outages are waited out with backoff and
//! logged once each way. See docs/redis.md for the keys and guarantees.
//!
//! One file per background loop, each a method of [`RedisQueue`]:
//! - `reader.rs`: leases entries for this host's workers (`XREADGROUP`);
//! - `lease.rs`: the heartbeat and the reclaimer of lapsed leases;
//! - `intake.rs`: the promoter of due delayed tasks and the list intake;
//! - `acker.rs`: the acknowledger (group commit), with `fast_ack.rs`.
//!
//! This file holds the queue itself: its options, decoding entries, and the
//! [`Queue`] implementation. `admin.rs` holds what needs no running workers
//! (enqueue, counts, dead letters); `scripts.rs` the Lua scripts.

mod acker;
pub mod admin;
pub mod fast_ack;
mod intake;
mod lease;
mod reader;
pub mod scripts;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use self::acker::PendingAck;
use self::admin::backend;
pub use self::admin::{RedisAdmin, RedisStats};
use super::wire::WireTask;
use super::{
    AckReceipt, BeforeAck, Carries, Delivery, Effects, Failed, Queue, QueueError, QueueStats, Tally,
};
use crate::queue::wire::dead_json;
use crate::redis::keys::GROUP;
use crate::task::{now_millis, Round, Task};

/// Settings of one host's view of a Redis queue.
#[derive(Clone)]
pub struct RedisOptions {
    /// `redis://[USER:PASSWORD@]HOST:PORT/DB` (printed redacted).
    pub url: String,
    /// Queue name (keys `jobhost:{NAME}:…`).
    pub name: String,
    /// A job is handed to another host after this long without a heartbeat.
    pub lease: Duration,
    /// Deliveries after which a job that never finishes is dead (poison).
    pub max_deliveries: u32,
    /// Skip follow-ups whose URL was enqueued before.
    pub dedupe: bool,
    /// A plain list to drain into the queue (the seed's `RPUSH` list).
    pub seed_list: Option<String>,
    /// Stop once the queue is empty everywhere (batch runs and tests).
    pub until_empty: bool,
    /// Entries read ahead of the workers (two per worker from the CLI).
    pub prefetch: usize,
    /// Redis stream that receives the records, if the sink is Redis.
    pub sink_stream: Option<String>,
    /// Most jobs acknowledged by one script call.
    pub ack_batch: usize,
}

/// Never prints the password of the URL.
impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &crate::redis::redact(&self.url))
            .field("name", &self.name)
            .field("lease", &self.lease)
            .field("max_deliveries", &self.max_deliveries)
            .field("dedupe", &self.dedupe)
            .field("seed_list", &self.seed_list)
            .field("until_empty", &self.until_empty)
            .field("prefetch", &self.prefetch)
            .field("sink_stream", &self.sink_stream)
            .field("ack_batch", &self.ack_batch)
            .finish()
    }
}

/// This queue's token for a delivery: the stream entry id, pending for this
/// host's consumer until the delivery is consumed.
#[derive(Debug)]
pub struct EntryId(String);

/// Which stream field an entry came in: a wire task or a producer's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Task,
    Raw,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Task => "task",
            Field::Raw => "raw",
        }
    }
}

/// An entry this host holds, kept to hand it back unchanged on shutdown.
#[derive(Debug)]
struct Held {
    field: Field,
    body: String,
}

/// One host's connection to a Redis queue.
pub struct RedisQueue {
    admin: RedisAdmin,
    options: RedisOptions,
    consumer: String,
    rx: tokio::sync::Mutex<mpsc::Receiver<Delivery<EntryId>>>,
    tx: Mutex<Option<mpsc::Sender<Delivery<EntryId>>>>,
    held: Mutex<HashMap<String, Held>>,
    /// Acknowledgements on their way to the acknowledger (`ack_loop`).
    acks: mpsc::UnboundedSender<PendingAck>,
    /// Made durable before each batch of acknowledgements (the sink).
    before_ack: Option<Arc<dyn BeforeAck>>,
    closed: AtomicBool,
    stopping: AtomicBool,
    /// The run summary's counts.
    tally: Tally,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("consumer", &self.consumer)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
    /// Connect and start the background loops (reader, acknowledger,
    /// heartbeat, reclaimer, delayed promoter, list intake). `before_ack` is
    /// made durable before each batch of acknowledgements.
    pub async fn start(
        options: RedisOptions,
        before_ack: Option<Arc<dyn BeforeAck>>,
    ) -> Result<Arc<Self>, QueueError> {
        let admin = RedisAdmin::connect(&options.url, &options.name).await?;
        if admin.redis.is_cluster() {
            same_slot(&options)?;
        }
        // The reader blocks for up to half a second at a time (50 ms in batch
        // runs): its own connection, so that acks never wait behind it.
        let reader = admin
            .redis
            .another(Duration::from_secs(30))
            .await
            .map_err(|e| QueueError::Config(e.to_string()))?;
        let (tx, rx) = mpsc::channel(options.prefetch.max(1));
        let (acks, ack_rx) = mpsc::unbounded_channel();
        let consumer = format!(
            "{}-{}-{:04x}",
            hostname(),
            std::process::id(),
            fastrand::u16(..)
        );
        let queue = Arc::new(RedisQueue {
            admin,
            options,
            consumer,
            rx: tokio::sync::Mutex::new(rx),
            tx: Mutex::new(Some(tx.clone())),
            held: Mutex::new(HashMap::new()),
            acks,
            before_ack,
            closed: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            tally: Tally::default(),
        });
        tracing::info!(
            "joined queue {} at {} as consumer {} (lease {:?})",
            queue.options.name,
            queue.admin.redis.url(),
            queue.consumer,
            queue.options.lease
        );
        tokio::spawn(queue.clone().read_loop(reader, tx));
        tokio::spawn(queue.clone().ack_loop(ack_rx));
        tokio::spawn(queue.clone().reclaim_loop());
        tokio::spawn(queue.clone().heartbeat_loop());
        tokio::spawn(queue.clone().promote_loop());
        if let Some(list) = queue.options.seed_list.clone() {
            tokio::spawn(queue.clone().list_intake_loop(list));
        }
        Ok(queue)
    }

    /// The admin handle (stats, dead letters).
    pub fn admin(&self) -> &RedisAdmin {
        &self.admin
    }

    /// This host's consumer name in the group.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Decode an entry into a delivery, or bury it if it is not a task.
    async fn decode(&self, id: String, field: Field, body: String) -> Option<Delivery<EntryId>> {
        let parsed = match field {
            Field::Task => serde_json::from_str::<WireTask>(&body)
                .map_err(|e| format!("invalid task JSON in the queue: {e}"))
                .and_then(WireTask::into_task),
            Field::Raw => match Task::parse_line(&body) {
                Ok(Some(mut task)) => {
                    task.attempt = 1;
                    Ok(task)
                }
                Ok(None) => Err("empty task line in the queue".to_owned()),
                Err(e) => Err(format!("invalid task in the queue: {e}")),
            },
        };
        self.held().insert(id.clone(), Held { field, body });
        match parsed {
            Ok(task) => Some(Delivery::new(task, EntryId(id))),
            Err(error) => {
                let held = self.held().remove(&id);
                let (wire, raw) = match &held {
                    Some(Held {
                        field: Field::Task,
                        body,
                    }) => (None, Some(body.as_str())),
                    Some(Held { body, .. }) => (None, Some(body.as_str())),
                    None => (None, None),
                };
                tracing::error!(entry = %id, "dead-lettered a bad queue entry: {error}");
                let letter = dead_json(wire, raw, &error, now_millis());
                let task_id = format!("entry-{id}");
                if let Err(e) = self.bury_entry(&id, &task_id, &letter, "", None, "").await {
                    tracing::error!("could not dead-letter entry {id}: {e}");
                }
                None
            }
        }
    }

    /// Run a script until Redis answers, waiting out outages. Returns the
    /// script's answer, or an error that is not an outage.
    async fn eval<T: redis::FromRedisValue>(
        &self,
        doing: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, QueueError> {
        loop {
            match self.admin.redis.eval(doing, invocation).await {
                Ok(value) => return Ok(value),
                Err(e) if is_no_group(&e) => self.admin.ensure_group().await?,
                Err(e) => return Err(backend(doing, e)),
            }
        }
    }

    async fn bury_entry(
        &self,
        id: &str,
        task_id: &str,
        letter: &str,
        plugin: &str,
        round: Option<&Round>,
        url: &str,
    ) -> Result<i64, QueueError> {
        let mut invocation = self.dead_letter_invocation(&self.admin.scripts.bury);
        invocation.arg(id).arg(task_id).arg(letter).arg(plugin);
        match round {
            Some(round) => invocation
                .arg(&round.id)
                .arg(if round.unique { url } else { "" }),
            None => invocation.arg("").arg(""),
        };
        let result: i64 = self.eval("dead-lettering a job", &invocation).await?;
        self.held().remove(id);
        if result > 0 {
            self.tally.dead.fetch_add(1, Ordering::Relaxed);
        }
        Ok(result)
    }

    /// Move an owned entry to the delayed set (`retry.lua`); `counted`: a
    /// retry (counted in the stats) rather than a deferral. Returns whether
    /// this host still owned the entry.
    async fn reschedule(
        &self,
        task: &Task,
        entry: &str,
        delay: Duration,
        wire: &WireTask,
        counted: bool,
    ) -> Result<bool, QueueError> {
        let k = &self.admin.keys;
        let mut invocation = self.admin.scripts.retry.prepare_invoke();
        invocation
            .key(&k.stream)
            .key(&k.delayed)
            .key(&k.stats)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(entry)
            .arg(delay.as_millis() as u64)
            .arg(wire.to_json())
            .arg(if counted { "1" } else { "0" });
        let doing = if counted {
            "scheduling a retry"
        } else {
            "putting a job back"
        };
        let result: i64 = self.eval(doing, &invocation).await?;
        self.held().remove(entry);
        if result < 0 {
            self.warn_lost(&task.id, entry, doing);
        }
        Ok(result >= 0)
    }

    /// A call of a script that completes owned entries and may dead-letter
    /// them (`bury.lua`, `reclaim.lua`): KEYS stream, dead, dead index,
    /// stats; ARGV group, consumer, then the script's own arguments.
    fn dead_letter_invocation<'a>(
        &'a self,
        script: &'a redis::Script,
    ) -> redis::ScriptInvocation<'a> {
        let k = &self.admin.keys;
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&k.stream)
            .key(&k.dead)
            .key(&k.dead_index)
            .key(&k.stats)
            .arg(GROUP)
            .arg(&self.consumer);
        invocation
    }

    fn warn_lost(&self, task_id: &str, delivery: &str, doing: &str) {
        tracing::warn!(task = %task_id, entry = %delivery,
            "lease lost before {doing}: another host took this job over after {:?} without a heartbeat; it may run again there",
            self.options.lease);
    }
}

impl Queue for RedisQueue {
    type Token = EntryId;

    /// Key-value writes and records (to the `redis-stream:` sink) are
    /// committed by the acknowledgement scripts, atomically with it.
    const CARRIES: Carries = Carries {
        kv_writes: true,
        records: true,
    };

    async fn push(&self, tasks: Vec<Task>) -> Result<usize, QueueError> {
        let accepted = self
            .admin
            .enqueue(&tasks, None, self.options.dedupe, true)
            .await?;
        self.tally
            .enqueued
            .fetch_add(accepted as u64, Ordering::Relaxed);
        Ok(accepted)
    }

    async fn pop(&self) -> Result<Option<Delivery<EntryId>>, QueueError> {
        // Fast path: a task already read ahead is taken at once, without
        // queueing for the receiver behind (and being woken by) workers of
        // other threads.
        if let Ok(mut rx) = self.rx.try_lock() {
            return Ok(match rx.try_recv() {
                Ok(delivery) => Some(delivery),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) => rx.recv().await,
            });
        }
        Ok(self.rx.lock().await.recv().await)
    }

    async fn ack(
        &self,
        delivery: Delivery<EntryId>,
        effects: Effects<'_>,
    ) -> Result<AckReceipt, QueueError> {
        let (task, EntryId(entry)) = delivery.into_parts();
        let (reply, answer) = oneshot::channel();
        let follow_ups = effects
            .follow_ups
            .into_iter()
            .map(|follow_up| {
                let json = WireTask::from_task(&follow_up, 0, None).to_json();
                (follow_up.url, json)
            })
            .collect();
        let pending = PendingAck {
            delivery: entry,
            plugin: effects.plugin.to_owned(),
            task_id: task.id,
            url: task.url,
            round: task.round,
            follow_ups,
            records: effects.records,
            writes: effects.writes,
            not_modified: effects.not_modified,
            reply,
        };
        // In the next batch; the worker goes on while it is on the wire.
        self.acks
            .send(pending)
            .map_err(|_| QueueError::Backend("the acknowledger stopped".into()))?;
        Ok(AckReceipt::pending(answer))
    }

    async fn fail(&self, delivery: Delivery<EntryId>, failed: Failed) -> Result<(), QueueError> {
        let (task, EntryId(entry)) = delivery.into_parts();
        match failed {
            Failed::Retry { delay, error } => {
                let wire = WireTask::from_task(&task, task.attempt, Some(error));
                if self.reschedule(&task, &entry, delay, &wire, true).await? {
                    self.tally.retried.fetch_add(1, Ordering::Relaxed);
                }
            }
            Failed::Defer { delay } => {
                // The attempt did not happen: keep the failures it had.
                let wire = WireTask::from_task(&task, task.attempt.saturating_sub(1), None);
                self.reschedule(&task, &entry, delay, &wire, false).await?;
            }
            Failed::Bury { error, plugin } => {
                let wire = WireTask::from_task(&task, task.attempt, Some(error.clone()));
                let letter = dead_json(Some(&wire), None, &error, now_millis());
                let plugin = plugin.as_deref().unwrap_or("");
                let result = self
                    .bury_entry(
                        &entry,
                        &task.id,
                        &letter,
                        plugin,
                        task.round.as_ref(),
                        &task.url,
                    )
                    .await?;
                if result < 0 {
                    self.warn_lost(&task.id, &entry, "dead-lettering it");
                }
            }
        }
        Ok(())
    }

    fn is_idle(&self) -> bool {
        // The local buffer of entries read ahead; a worker waiting on it
        // holds the lock, and then nothing is buffered either.
        self.rx.try_lock().map_or(true, |rx| rx.is_empty())
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    fn stop_intake(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn stats(&self) -> QueueStats {
        self.tally.stats()
    }

    async fn hand_back(&self) -> Result<usize, QueueError> {
        self.stopping.store(true, Ordering::Relaxed);
        let held: Vec<(String, Field, String)> = {
            let mut held = self.held();
            held.drain().map(|(id, h)| (id, h.field, h.body)).collect()
        };
        let mut total = 0;
        for chunk in held.chunks(300) {
            let mut invocation = self.admin.scripts.release.prepare_invoke();
            invocation
                .key(&self.admin.keys.stream)
                .arg(GROUP)
                .arg(&self.consumer);
            for (id, field, body) in chunk {
                invocation.arg(id).arg(field.name()).arg(body);
            }
            let n: usize = self.eval("handing jobs back", &invocation).await?;
            total += n;
        }
        Ok(total)
    }
}

/// Whether the consumer group is missing (a Redis that lost its data).
pub(super) fn is_no_group(error: &redis::RedisError) -> bool {
    error.code() == Some("NOGROUP")
}

/// In a Redis Cluster, the keys the user names (the seed list, the record
/// stream) must share the queue's hash slot: the scripts that move tasks
/// and records touch them together with the queue's keys, atomically.
fn same_slot(options: &RedisOptions) -> Result<(), QueueError> {
    let name = &options.name;
    for (flag, key) in [
        ("--redis-list", options.seed_list.as_deref()),
        ("--output redis-stream:", options.sink_stream.as_deref()),
    ] {
        let Some(key) = key else { continue };
        if crate::redis::keys::hash_tag(key) != Some(name.as_str()) {
            return Err(QueueError::Config(format!(
                "{flag} `{key}`: in a Redis Cluster it must be in the hash slot of queue `{name}`; \
                 give it the queue's hash tag, e.g. `{{{name}}}:{key}`"
            )));
        }
    }
    Ok(())
}

/// This machine's name, as consumer names and the plugins hash use it.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "host".to_owned())
}
