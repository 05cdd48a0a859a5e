//! The Redis queue: many hosts, one Redis, at-least-once delivery.
//!
//! Tasks live on a Redis stream read through one consumer group; a delivered
//! entry stays pending (in flight) until a Lua script acknowledges it
//! together with its follow-ups and records, retries it through the delayed
//! set, or buries it in the dead letters. Each of those scripts first checks
//! that this host still owns the entry, so a host that lost its lease cannot
//! double-complete a job.
//!
//! Leases: a host renews the entries it holds every `lease / 3` (a
//! heartbeat), and every host reclaims entries idle for longer than `lease`
//! (`XAUTOCLAIM`), so the jobs of a host that died come back within about one
//! lease, taken by any live host, while a long job on a live host is never
//! handed out twice. Redis outages are waited out with backoff and logged
//! once each way. See docs/redis.md for the keys and guarantees.

pub mod admin;
pub mod fast_ack;
pub mod keys;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Value;
use tokio::sync::{mpsc, oneshot};

use self::admin::{backend, dead_json, is_no_group, is_outage};
pub use self::admin::{RedisAdmin, RedisStats};
use self::keys::{push_kv_triples, GROUP};
use super::wire::WireTask;
use super::{AckReceipt, Completion, Queue, QueueError, QueueStats};
use crate::kv::redis::skipped_warning;
use crate::kv::KvWrite;
use crate::runtime::bindings::SinkRecord;
use crate::sink::Sink;
use crate::task::{now_millis, Task};

/// Settings of one host's view of a Redis queue.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://HOST:PORT/DB`.
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

/// `reclaim.lua`'s answer: next cursor, claimed entries (id, field, body,
/// deliveries), and how many were buried as poison.
type ReclaimReply = (String, Vec<(String, String, String, u64)>, u64);

/// An entry this host holds, kept to hand it back unchanged on shutdown.
#[derive(Debug)]
struct Held {
    field: Field,
    body: String,
}

/// A finished job waiting for the acknowledger, with its effects.
struct PendingAck {
    delivery: String,
    plugin: String,
    task_id: String,
    url: String,
    /// (URL, wire task JSON) of each follow-up.
    follow_ups: Vec<(String, String)>,
    records: Vec<SinkRecord>,
    /// Key-value writes, applied in the same script call.
    writes: Vec<KvWrite>,
    reply: oneshot::Sender<Result<usize, QueueError>>,
}

impl PendingAck {
    /// Bytes this job adds to a batch's script call (roughly).
    fn size(&self) -> usize {
        self.delivery.len()
            + self.plugin.len()
            + self.task_id.len()
            + self.url.len()
            + self
                .follow_ups
                .iter()
                .map(|(u, t)| u.len() + t.len())
                .sum::<usize>()
            + self
                .records
                .iter()
                .map(|r| r.content_type.len() + r.data.len())
                .sum::<usize>()
            + self.writes.iter().map(KvWrite::size).sum::<usize>()
    }
}

/// A batch stops growing once its arguments pass this many bytes.
const ACK_BATCH_BYTES: usize = 4 << 20;

/// Logs an outage once when it starts and once when it ends.
struct Outage {
    doing: &'static str,
    down: bool,
    delay: Duration,
}

impl Outage {
    fn new(doing: &'static str) -> Self {
        Outage {
            doing,
            down: false,
            delay: Duration::from_millis(50),
        }
    }

    async fn failed(&mut self, url: &str, error: &redis::RedisError) {
        if !self.down {
            tracing::warn!("Redis at {} is unavailable while {}: {error}; retrying with backoff, no job is lost", admin::redact(url), self.doing);
            self.down = true;
        }
        tokio::time::sleep(self.delay.mul_f64(0.5 + fastrand::f64() * 0.5)).await;
        self.delay = (self.delay * 2).min(Duration::from_secs(2));
    }

    fn ok(&mut self, url: &str) {
        if self.down {
            tracing::info!(
                "Redis at {} is reachable again ({})",
                admin::redact(url),
                self.doing
            );
            self.down = false;
        }
        self.delay = Duration::from_millis(50);
    }
}

/// One host's connection to a Redis queue.
pub struct RedisQueue {
    admin: RedisAdmin,
    options: RedisOptions,
    consumer: String,
    rx: tokio::sync::Mutex<mpsc::Receiver<Task>>,
    tx: Mutex<Option<mpsc::Sender<Task>>>,
    held: Mutex<HashMap<String, Held>>,
    /// Acknowledgements on their way to the acknowledger (`ack_loop`).
    acks: mpsc::UnboundedSender<PendingAck>,
    /// Records written as JSON Lines, flushed before each batch of acks.
    sink: OnceLock<Arc<Sink>>,
    closed: AtomicBool,
    stopping: AtomicBool,
    done: AtomicU64,
    retried: AtomicU64,
    dead: AtomicU64,
    enqueued: AtomicU64,
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
    /// Connect and start the background loops (reader, heartbeat, reclaimer,
    /// delayed promoter, seed-list mover).
    pub async fn start(options: RedisOptions) -> Result<Arc<Self>, QueueError> {
        let admin = RedisAdmin::connect(&options.url, &options.name).await?;
        // The reader blocks for up to half a second at a time (50 ms in batch
        // runs): its own connection, so that acks never wait behind it.
        let reader_conn = admin::connect(&options.url, Duration::from_secs(30)).await?;
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
            sink: OnceLock::new(),
            closed: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            done: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dead: AtomicU64::new(0),
            enqueued: AtomicU64::new(0),
        });
        tracing::info!(
            "joined queue {} at {} as consumer {} (lease {:?})",
            queue.options.name,
            admin::redact(&queue.options.url),
            queue.consumer,
            queue.options.lease
        );
        tokio::spawn(queue.clone().read_loop(reader_conn, tx));
        tokio::spawn(queue.clone().ack_loop(ack_rx));
        tokio::spawn(queue.clone().reclaim_loop());
        tokio::spawn(queue.clone().heartbeat_loop());
        tokio::spawn(queue.clone().promote_loop());
        if queue.options.seed_list.is_some() {
            tokio::spawn(queue.clone().seed_loop());
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

    /// Decode an entry into a task, or bury it if it is not one.
    async fn decode(&self, id: String, field: Field, body: String) -> Option<Task> {
        let parsed = match field {
            Field::Task => serde_json::from_str::<WireTask>(&body)
                .map_err(|e| format!("invalid task JSON in the queue: {e}"))
                .and_then(|wire| wire.into_task(id.clone())),
            Field::Raw => match Task::parse_line(&body) {
                Ok(Some(mut task)) => {
                    task.delivery = id.clone();
                    task.attempt = 1;
                    Ok(task)
                }
                Ok(None) => Err("empty task line in the queue".to_owned()),
                Err(e) => Err(format!("invalid task in the queue: {e}")),
            },
        };
        self.held().insert(id.clone(), Held { field, body });
        match parsed {
            Ok(task) => Some(task),
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
                if let Err(e) = self.bury_entry(&id, &task_id, &letter, "").await {
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
        let mut conn = self.admin.conn.clone();
        let mut outage = Outage::new(doing);
        loop {
            match invocation.invoke_async::<T>(&mut conn).await {
                Ok(value) => {
                    outage.ok(&self.options.url);
                    return Ok(value);
                }
                Err(e) if is_outage(&e) => outage.failed(&self.options.url, &e).await,
                Err(e) if is_no_group(&e) => {
                    self.admin.ensure_group().await?;
                }
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
    ) -> Result<i64, QueueError> {
        let mut invocation = self.dead_letter_invocation(&self.admin.scripts.bury);
        invocation.arg(id).arg(task_id).arg(letter).arg(plugin);
        let result: i64 = self.eval("dead-lettering a job", &invocation).await?;
        self.held().remove(id);
        if result > 0 {
            self.dead.fetch_add(1, Ordering::Relaxed);
        }
        Ok(result)
    }

    async fn read_loop(self: Arc<Self>, mut conn: ConnectionManager, tx: mpsc::Sender<Task>) {
        // `self.tx` keeps a second sender for the reclaimer; both go when
        // this loop ends.
        let mut outage = Outage::new("reading the queue");
        loop {
            if self.stopped() {
                break;
            }
            // Read only as many as there are free places, so that entries
            // are not leased while they sit in a local buffer.
            if tx.capacity() == 0 {
                match tx.reserve().await {
                    Ok(permit) => drop(permit),
                    Err(_) => break,
                }
            }
            let count = tx.capacity().clamp(1, 256);
            // A batch run (--until-empty) checks for the end after each
            // empty read: a short block lets it stop within ~50 ms of the
            // last job instead of half a second.
            let block_ms = if self.options.until_empty { 50 } else { 500 };
            let read: Result<Value, redis::RedisError> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(GROUP)
                .arg(&self.consumer)
                .arg("COUNT")
                .arg(count)
                .arg("BLOCK")
                .arg(block_ms)
                .arg("STREAMS")
                .arg(&self.admin.keys.stream)
                .arg(">")
                .query_async(&mut conn)
                .await;
            let entries = match read {
                Ok(value) => {
                    outage.ok(&self.options.url);
                    parse_read(value)
                }
                Err(e) if is_no_group(&e) => {
                    if let Err(e) = self.admin.ensure_group().await {
                        tracing::warn!("{e}");
                    }
                    continue;
                }
                Err(e) => {
                    outage.failed(&self.options.url, &e).await;
                    continue;
                }
            };
            if entries.is_empty() {
                if self.closed.load(Ordering::Relaxed)
                    && self.options.until_empty
                    && self.drained().await
                {
                    tracing::info!("queue {} is empty: stopping", self.options.name);
                    break;
                }
                continue;
            }
            for (id, field, body) in entries {
                if let Some(task) = self.decode(id, field, body).await {
                    if tx.send(task).await.is_err() {
                        return;
                    }
                }
            }
        }
        // Dropping the last sender ends `pop` once the buffer is empty.
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(tx);
    }

    /// Nothing ready, in flight or delayed anywhere, and nothing held here.
    async fn drained(&self) -> bool {
        if !self.held().is_empty() {
            return false;
        }
        let mut conn = self.admin.conn.clone();
        let k = &self.admin.keys;
        let mut pipe = redis::pipe();
        pipe.cmd("XLEN").arg(&k.stream).cmd("ZCARD").arg(&k.delayed);
        if let Some(list) = &self.options.seed_list {
            pipe.cmd("LLEN").arg(list);
        } else {
            pipe.cmd("ECHO").arg(0);
        }
        match pipe.query_async::<(u64, u64, u64)>(&mut conn).await {
            Ok((stream, delayed, seed)) => stream == 0 && delayed == 0 && seed == 0,
            Err(_) => false,
        }
    }

    /// Lapsed jobs claimed per reclaim period even when the read-ahead
    /// buffer is full.
    const RECLAIM_WHEN_FULL: usize = 16;

    /// Holds a sender only while it delivers, so that the reader's exit
    /// (queue empty) closes the channel.
    async fn reclaim_loop(self: Arc<Self>) {
        let period =
            (self.options.lease / 2).clamp(Duration::from_millis(50), Duration::from_secs(5));
        let mut cursor = String::from("0-0");
        let mut outage = Outage::new("reclaiming lapsed jobs");
        loop {
            tokio::time::sleep(period).await;
            let sender = self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let Some(tx) = sender else { break };
            if self.stopped() {
                break;
            }
            // A full read-ahead buffer does not put recovery off: the reader
            // refills it as soon as a worker takes a task, so on a busy queue
            // "wait for room" meant waiting until the queue drained (seen:
            // 4 s instead of one lease). A few lapsed jobs are claimed anyway
            // and wait below for room, held (so leased by the heartbeat, and
            // handed back on shutdown) like any task read ahead.
            let room = tx.capacity().max(Self::RECLAIM_WHEN_FULL);
            let mut invocation = self.dead_letter_invocation(&self.admin.scripts.reclaim);
            invocation
                .arg(self.options.lease.as_millis() as u64)
                .arg(&cursor)
                .arg(room.min(256))
                .arg(self.options.max_deliveries);
            let mut conn = self.admin.conn.clone();
            let reply: Result<ReclaimReply, _> = invocation.invoke_async(&mut conn).await;
            let (next, claimed, buried) = match reply {
                Ok(reply) => {
                    outage.ok(&self.options.url);
                    reply
                }
                Err(e) if is_no_group(&e) => {
                    let _ = self.admin.ensure_group().await;
                    continue;
                }
                Err(e) => {
                    outage.failed(&self.options.url, &e).await;
                    continue;
                }
            };
            cursor = next;
            if buried > 0 {
                tracing::error!(
                    "dead-lettered {buried} poison jobs (delivered more than {} times)",
                    self.options.max_deliveries
                );
            }
            for (id, field, body, deliveries) in claimed {
                tracing::warn!(entry = %id, "recovered a job whose lease lapsed (delivery {deliveries}); its host died or hung");
                let field = if field == "raw" {
                    Field::Raw
                } else {
                    Field::Task
                };
                if let Some(task) = self.decode(id, field, body).await {
                    if tx.send(task).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    async fn heartbeat_loop(self: Arc<Self>) {
        let period = (self.options.lease / 3).max(Duration::from_millis(20));
        let mut outage = Outage::new("renewing leases");
        loop {
            tokio::time::sleep(period).await;
            let ids: Vec<String> = self.held().keys().cloned().collect();
            if ids.is_empty() {
                if self.stopped() && self.tx.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
                    break;
                }
                continue;
            }
            for chunk in ids.chunks(500) {
                let mut invocation = self.admin.scripts.renew.prepare_invoke();
                invocation
                    .key(&self.admin.keys.stream)
                    .arg(GROUP)
                    .arg(&self.consumer);
                for id in chunk {
                    invocation.arg(id);
                }
                let mut conn = self.admin.conn.clone();
                match invocation.invoke_async::<Vec<String>>(&mut conn).await {
                    Ok(lost) => {
                        outage.ok(&self.options.url);
                        for id in lost {
                            // Not ours any more: stop renewing it and never
                            // hand it back; the job's ack will be refused.
                            if self.held().remove(&id).is_some() {
                                tracing::warn!(entry = %id, "lease lost: another host took this job over");
                            }
                        }
                    }
                    Err(e) => outage.failed(&self.options.url, &e).await,
                }
            }
        }
    }

    async fn promote_loop(self: Arc<Self>) {
        let mut outage = Outage::new("moving due delayed jobs");
        loop {
            if self.stopped() {
                break;
            }
            let mut invocation = self.admin.scripts.promote.prepare_invoke();
            invocation
                .key(&self.admin.keys.stream)
                .key(&self.admin.keys.delayed)
                .arg(500);
            let mut conn = self.admin.conn.clone();
            let wait = match invocation.invoke_async::<(u64, i64)>(&mut conn).await {
                Ok((moved, next_due)) => {
                    outage.ok(&self.options.url);
                    if moved == 500 {
                        Duration::ZERO
                    } else if next_due < 0 {
                        Duration::from_millis(100)
                    } else {
                        let until = (next_due as u64).saturating_sub(now_millis());
                        Duration::from_millis(until.clamp(1, 100))
                    }
                }
                Err(e) => {
                    outage.failed(&self.options.url, &e).await;
                    continue;
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    async fn seed_loop(self: Arc<Self>) {
        let Some(list) = self.options.seed_list.clone() else {
            return;
        };
        let mut outage = Outage::new("draining the seed list");
        loop {
            if self.stopped() {
                break;
            }
            let mut invocation = self.admin.scripts.seed.prepare_invoke();
            invocation
                .key(&list)
                .key(&self.admin.keys.stream)
                .key(&self.admin.keys.stats)
                .arg(500);
            let mut conn = self.admin.conn.clone();
            match invocation.invoke_async::<u64>(&mut conn).await {
                Ok(moved) => {
                    outage.ok(&self.options.url);
                    if moved < 500 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                Err(e) => outage.failed(&self.options.url, &e).await,
            }
        }
    }

    /// The acknowledger: takes every acknowledgement waiting and commits
    /// them with one script call (a group commit). Under load a batch grows
    /// while the previous one is on the wire; when idle it is one job, so
    /// nothing waits for a batch to fill.
    async fn ack_loop(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<PendingAck>) {
        let most = self.options.ack_batch.max(1);
        let mut batch = Vec::with_capacity(most);
        while let Some(first) = rx.recv().await {
            let mut bytes = first.size();
            batch.push(first);
            while batch.len() < most && bytes < ACK_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(next) => {
                        bytes += next.size();
                        batch.push(next);
                    }
                    Err(_) => break,
                }
            }
            self.ack_batch(&mut batch).await;
        }
    }

    /// Commit `batch` (drained) and answer each job.
    async fn ack_batch(&self, batch: &mut Vec<PendingAck>) {
        if let Some(sink) = self.sink.get() {
            if let Err(error) = sink.flush() {
                // The records are still buffered; without them written the
                // jobs must not be done. They stay pending: the error stops
                // this host's workers, and the jobs go to another host (or
                // the next run) once their lease lapses.
                fail_all(
                    batch,
                    &format!(
                        "writing the output failed: {error}; the jobs stay in the queue for another run"
                    ),
                );
                return;
            }
        }
        if self.ack_fast(batch).await {
            return;
        }
        let k = &self.admin.keys;
        let sink = self
            .options
            .sink_stream
            .as_deref()
            .unwrap_or("jobhost:unused");
        let result: Result<Vec<i64>, QueueError> = {
            let mut invocation = self.admin.scripts.ack.prepare_invoke();
            invocation
                .key(&k.stream)
                .key(&k.stats)
                .key(&k.seen)
                .key(sink)
                .arg(GROUP)
                .arg(&self.consumer)
                .arg(if self.options.dedupe { "1" } else { "0" })
                .arg(batch.len());
            let (first, last) = id_range(batch.iter().map(|pending| pending.delivery.as_str()));
            invocation.arg(first).arg(last);
            for pending in batch.iter() {
                invocation
                    .arg(&pending.delivery)
                    .arg(&pending.plugin)
                    .arg(pending.follow_ups.len())
                    .arg(pending.records.len())
                    .arg(pending.writes.len());
                for (url, json) in &pending.follow_ups {
                    invocation.arg(url).arg(json);
                }
                // The task's id and URL go with its records only.
                if !pending.records.is_empty() {
                    invocation.arg(&pending.task_id).arg(&pending.url);
                    for record in &pending.records {
                        invocation.arg(&record.content_type).arg(&record.data[..]);
                    }
                }
                push_kv_triples(&mut invocation, &pending.writes);
            }
            self.eval("acknowledging jobs", &invocation).await
        };
        match result {
            Ok(answers) if answers.len() == 2 * batch.len() => {
                self.forget_held(batch);
                for (pending, answer) in batch.drain(..).zip(answers.chunks_exact(2)) {
                    let (accepted, skipped) = (answer[0], answer[1]);
                    if let Some(warning) = skipped_warning(skipped.max(0) as u64) {
                        tracing::warn!(task = %pending.task_id, plugin = %pending.plugin, "kv: {warning}");
                    }
                    if accepted < 0 {
                        self.warn_lost(&pending.task_id, &pending.delivery, "its acknowledgement");
                        let _ = pending.reply.send(Ok(0));
                    } else {
                        self.done.fetch_add(1, Ordering::Relaxed);
                        let _ = pending.reply.send(Ok(accepted as usize));
                    }
                }
            }
            Ok(answers) => {
                let message = format!(
                    "acknowledging jobs: Redis answered {} numbers for {} jobs (expected two per job)",
                    answers.len(),
                    batch.len()
                );
                fail_all(batch, &message);
            }
            // The inner text: the error is wrapped again for each job.
            Err(QueueError::Backend(message) | QueueError::Config(message)) => {
                fail_all(batch, &message);
            }
        }
    }

    /// The entries of an answered batch are no longer this host's to hand
    /// back on shutdown.
    fn forget_held(&self, batch: &[PendingAck]) {
        let mut held = self.held();
        for pending in batch {
            held.remove(&pending.delivery);
        }
    }

    /// Acknowledge `batch` with `ack_fast.lua` if its effects merge (see
    /// `fast_ack.rs`), answering each job; false, with the batch untouched,
    /// when it needs `ack.lua`.
    async fn ack_fast(&self, batch: &mut Vec<PendingAck>) -> bool {
        if batch
            .iter()
            .any(|pending| !pending.follow_ups.is_empty() || !pending.records.is_empty())
        {
            return false;
        }
        let Some(writes) = fast_ack::merge_writes(batch.iter().map(|pending| &pending.writes[..]))
        else {
            return false;
        };
        let ids: Vec<&str> = batch
            .iter()
            .map(|pending| pending.delivery.as_str())
            .collect();
        let plugins = fast_ack::per_plugin(batch.iter().map(|pending| pending.plugin.as_str()));
        let k = &self.admin.keys;
        let invocation = fast_ack::invocation(
            &self.admin.scripts.ack_fast,
            &k.stream,
            &k.stats,
            &self.consumer,
            &ids,
            id_range(ids.iter().copied()),
            &plugins,
            &writes,
        );
        let result: Result<usize, QueueError> = self.eval("acknowledging jobs", &invocation).await;
        match result {
            Ok(done) if done == batch.len() => {
                self.forget_held(batch);
                self.done.fetch_add(done as u64, Ordering::Relaxed);
                for pending in batch.drain(..) {
                    let _ = pending.reply.send(Ok(0));
                }
                true
            }
            // A lost lease or a refused add: nothing was applied.
            Ok(_) => false,
            Err(QueueError::Backend(message) | QueueError::Config(message)) => {
                fail_all(batch, &message);
                true
            }
        }
    }

    /// Move an owned entry to the delayed set (`retry.lua`); `counted`: a
    /// retry (counted in the stats) rather than a deferral. Returns whether
    /// this host still owned the entry.
    async fn reschedule(
        &self,
        task: &Task,
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
            .arg(&task.delivery)
            .arg(delay.as_millis() as u64)
            .arg(wire.to_json())
            .arg(if counted { "1" } else { "0" });
        let doing = if counted {
            "scheduling a retry"
        } else {
            "putting a job back"
        };
        let result: i64 = self.eval(doing, &invocation).await?;
        self.held().remove(&task.delivery);
        if result < 0 {
            self.warn_lost(&task.id, &task.delivery, doing);
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
    async fn push(&self, tasks: Vec<Task>) -> Result<usize, QueueError> {
        let accepted = self
            .admin
            .enqueue(&tasks, None, self.options.dedupe, true)
            .await?;
        self.enqueued.fetch_add(accepted as u64, Ordering::Relaxed);
        Ok(accepted)
    }

    async fn pop(&self) -> Result<Option<Task>, QueueError> {
        // Fast path: a task already read ahead is taken at once, without
        // queueing for the receiver behind (and being woken by) workers of
        // other threads.
        if let Ok(mut rx) = self.rx.try_lock() {
            return Ok(match rx.try_recv() {
                Ok(task) => Some(task),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) => rx.recv().await,
            });
        }
        Ok(self.rx.lock().await.recv().await)
    }

    async fn ack(&self, task: Task, completion: Completion<'_>) -> Result<AckReceipt, QueueError> {
        let (reply, answer) = oneshot::channel();
        let follow_ups = completion
            .follow_ups
            .into_iter()
            .map(|follow_up| {
                let json = WireTask::from_task(&follow_up, 0, None).to_json();
                (follow_up.url, json)
            })
            .collect();
        let pending = PendingAck {
            delivery: task.delivery,
            plugin: completion.plugin.to_owned(),
            task_id: task.id,
            url: task.url,
            follow_ups,
            records: completion.records,
            writes: completion.writes,
            reply,
        };
        // In the next batch; the worker goes on while it is on the wire.
        self.acks
            .send(pending)
            .map_err(|_| QueueError::Backend("the acknowledger stopped".into()))?;
        Ok(AckReceipt::pending(answer))
    }

    fn is_idle(&self) -> bool {
        // The local buffer of entries read ahead; a worker waiting on it
        // holds the lock, and then nothing is buffered either.
        self.rx.try_lock().map_or(true, |rx| rx.is_empty())
    }

    async fn retry(&self, task: Task, delay: Duration, error: String) -> Result<(), QueueError> {
        let wire = WireTask::from_task(&task, task.attempt, Some(error));
        if self.reschedule(&task, delay, &wire, true).await? {
            self.retried.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn defer(&self, task: Task, delay: Duration) -> Result<(), QueueError> {
        // The attempt did not happen: keep the failures it had.
        let wire = WireTask::from_task(&task, task.attempt.saturating_sub(1), None);
        self.reschedule(&task, delay, &wire, false).await?;
        Ok(())
    }

    async fn bury(&self, task: Task, error: String) -> Result<(), QueueError> {
        let wire = WireTask::from_task(&task, task.attempt, Some(error.clone()));
        let letter = dead_json(Some(&wire), None, &error, now_millis());
        let plugin = task.plugin.as_deref().unwrap_or("");
        let result = self
            .bury_entry(&task.delivery, &task.id, &letter, plugin)
            .await?;
        if result < 0 {
            self.warn_lost(&task.id, &task.delivery, "dead-lettering it");
        }
        Ok(())
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    fn stop_intake(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn flush_before_acks(&self, sink: &Arc<Sink>) -> bool {
        let _ = self.sink.set(sink.clone());
        true
    }

    fn applies_kv_writes(&self) -> bool {
        true
    }

    fn stats(&self) -> QueueStats {
        QueueStats {
            enqueued: self.enqueued.load(Ordering::Relaxed),
            done: self.done.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead: self.dead.load(Ordering::Relaxed),
            duplicates: 0,
        }
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
                invocation.arg(id).arg(body).arg(field.name());
            }
            let n: usize = self.eval("handing jobs back", &invocation).await?;
            total += n;
        }
        Ok(total)
    }
}

/// The smallest and the largest of some stream entry ids (`ms-seq`), for an
/// XPENDING range that covers them all; the whole stream (`-`, `+`) if one
/// of them is not in that form (they always are: Redis made them).
fn id_range<'a>(ids: impl Iterator<Item = &'a str>) -> (&'a str, &'a str) {
    fn key(id: &str) -> Option<(u64, u64)> {
        let (ms, seq) = id.split_once('-')?;
        Some((ms.parse().ok()?, seq.parse().ok()?))
    }
    let mut lowest: Option<((u64, u64), &str)> = None;
    let mut highest: Option<((u64, u64), &str)> = None;
    for id in ids {
        let Some(k) = key(id) else {
            return ("-", "+");
        };
        if lowest.is_none_or(|(low, _)| k < low) {
            lowest = Some((k, id));
        }
        if highest.is_none_or(|(high, _)| k > high) {
            highest = Some((k, id));
        }
    }
    match (lowest, highest) {
        (Some((_, first)), Some((_, last))) => (first, last),
        _ => ("-", "+"),
    }
}

/// Answer every job of a batch that could not be acknowledged with the same
/// queue error (drains the batch).
fn fail_all(batch: &mut Vec<PendingAck>, message: &str) {
    for pending in batch.drain(..) {
        let _ = pending
            .reply
            .send(Err(QueueError::Backend(message.to_owned())));
    }
}

/// `XREADGROUP` reply → (entry id, field, body).
fn parse_read(value: Value) -> Vec<(String, Field, String)> {
    let mut out = Vec::new();
    let Value::Array(streams) = value else {
        return out;
    };
    for stream in streams {
        let Value::Array(mut parts) = stream else {
            continue;
        };
        if parts.len() != 2 {
            continue;
        }
        let Value::Array(entries) = parts.remove(1) else {
            continue;
        };
        for entry in entries {
            let Value::Array(mut pair) = entry else {
                continue;
            };
            if pair.len() != 2 {
                continue;
            }
            let fields = pair.remove(1);
            let id = bulk(pair.remove(0));
            let Value::Array(fields) = fields else {
                continue;
            };
            let mut iter = fields.into_iter();
            // An entry has one field: `task` or `raw`.
            if let (Some(name), Some(body)) = (iter.next(), iter.next()) {
                let field = match bulk(name).as_str() {
                    "task" => Field::Task,
                    _ => Field::Raw,
                };
                out.push((id.clone(), field, bulk(body)));
            }
        }
    }
    out
}

fn bulk(value: Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        Value::SimpleString(s) => s,
        Value::Int(n) => n.to_string(),
        _ => String::new(),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::id_range;

    #[test]
    fn id_range_compares_ids_as_numbers_not_text() {
        let ids = [
            "1700000000123-9",
            "1700000000123-10",
            "999999999999-0",
            "1700000000124-0",
        ];
        assert_eq!(
            id_range(ids.into_iter()),
            ("999999999999-0", "1700000000124-0")
        );
        assert_eq!(id_range(["5-5"].into_iter()), ("5-5", "5-5"));
        assert_eq!(id_range(std::iter::empty()), ("-", "+"));
        assert_eq!(id_range(["5-5", "junk"].into_iter()), ("-", "+"));
    }
}
