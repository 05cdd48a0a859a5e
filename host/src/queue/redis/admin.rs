//! Operations on a Redis queue that need no running workers: connecting,
//! enqueueing (1,000 tasks per round trip), counts, and the dead letters. Used by
//! `jobhost enqueue`, `jobhost stats`, `jobhost dead`, and by the workers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::scripts::Scripts;
use crate::queue::wire::{present_dead, Revived, WireTask};
use crate::queue::QueueError;
use crate::redis::keys::{QueueKeys, GROUP};
use crate::redis::{is_outage, Redis};
use crate::task::Task;

/// Tasks per enqueue script call: one round trip per batch.
const ENQUEUE_BATCH: usize = 1000;

/// Queue counts for `jobhost stats`.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct RedisStats {
    /// Waiting to be delivered.
    pub ready: u64,
    /// Delivered, not yet finished (held under a lease).
    pub in_flight: u64,
    /// Waiting for their due time (retries, `--delay`).
    pub delayed: u64,
    /// In the dead letters now.
    pub dead: u64,
    /// Finished, ever.
    pub done: u64,
    /// Of those, finished on a 304 to a conditional request, ever.
    pub not_modified: u64,
    /// Retries scheduled, ever.
    pub retried: u64,
    /// Jobs taken over after their lease lapsed (their host died or hung),
    /// ever.
    pub reclaimed: u64,
    /// Accepted, ever.
    pub enqueued: u64,
    /// Done and dead per plugin.
    pub plugins: BTreeMap<String, PluginCounts>,
}

/// A consumer of the queue: `HOST-PID-SHARD` as the hosts name them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Consumer {
    /// Its name.
    pub name: String,
    /// Jobs delivered to it and not yet finished.
    pub pending: u64,
    /// Milliseconds since it last read or acknowledged.
    pub idle_ms: u64,
}

/// Counts of one plugin.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct PluginCounts {
    /// Finished.
    pub done: u64,
    /// Dead-lettered.
    pub dead: u64,
}

/// A connection to one queue, without background work.
#[derive(Clone)]
pub struct RedisAdmin {
    pub(super) redis: Redis,
    pub(super) name: String,
    pub(super) keys: QueueKeys,
    pub(super) scripts: std::sync::Arc<Scripts>,
}

impl std::fmt::Debug for RedisAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdmin")
            .field("redis", &self.redis)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl RedisAdmin {
    /// Connect to the queue `name` at `url` and make sure its consumer group
    /// exists.
    pub async fn connect(url: &str, name: &str) -> Result<Self, QueueError> {
        if name.is_empty() || name.contains(['{', '}']) {
            return Err(QueueError::Config(format!(
                "invalid queue name `{name}`: it must be non-empty and without braces"
            )));
        }
        let redis = Redis::connect(url, Duration::from_secs(30))
            .await
            .map_err(|e| QueueError::Config(e.to_string()))?;
        let keys = QueueKeys::on(name, redis.is_cluster());
        let admin = RedisAdmin {
            redis,
            name: name.to_owned(),
            keys,
            scripts: std::sync::Arc::new(Scripts::new()),
        };
        admin.ensure_group().await?;
        Ok(admin)
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The keys of this queue.
    pub fn keys(&self) -> &QueueKeys {
        &self.keys
    }

    /// The connection to the queue's Redis (shared by its clones).
    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    /// Create the stream and group if missing (idempotent). The group starts
    /// at the beginning, so tasks enqueued before any host ran are delivered.
    pub async fn ensure_group(&self) -> Result<(), QueueError> {
        let mut conn = self.redis.conn();
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.keys.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(backend("creating the consumer group", e)),
        }
    }

    /// Enqueue tasks, now or at `due_ms` (ms since the epoch), 1,000 per
    /// round trip. Returns how many were accepted (de-duplication may drop
    /// some).
    ///
    /// With `wait_out_outages`, a batch that fails for connection trouble is
    /// sent again after a backoff until Redis answers (a running host must
    /// not drop input it has read); without, the error is returned.
    pub async fn enqueue(
        &self,
        tasks: &[Task],
        due_ms: Option<u64>,
        dedupe: bool,
        wait_out_outages: bool,
    ) -> Result<usize, QueueError> {
        let mut conn = self.redis.conn();
        let mut accepted = 0;
        for batch in tasks.chunks(ENQUEUE_BATCH) {
            let mut invocation = self.scripts.enqueue.prepare_invoke();
            invocation
                .key(&self.keys.stream)
                .key(&self.keys.delayed)
                .key(&self.keys.seen)
                .key(&self.keys.stats)
                .arg(if dedupe { "1" } else { "0" });
            for task in batch {
                invocation
                    .arg(due_ms.unwrap_or(0))
                    .arg(WireTask::from_task(task, 0, None).to_json())
                    .arg(&task.url);
            }
            let mut delay = Duration::from_millis(50);
            let n: usize = loop {
                match self.redis.invoke_replicated(&mut conn, &invocation).await {
                    Ok(n) => break n,
                    Err(e) if wait_out_outages && is_outage(&e) => {
                        tracing::warn!(
                            "Redis at {} is unavailable while enqueueing: {e}; retrying",
                            self.redis.url()
                        );
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(2));
                    }
                    Err(e) => return Err(backend("enqueueing", e)),
                }
            };
            accepted += n;
        }
        Ok(accepted)
    }

    /// How long the oldest ready task has been ready (the first entry the
    /// consumer group has not delivered yet; its stream id holds the time
    /// it was added); `None` when nothing is ready.
    pub async fn oldest_ready_age(&self) -> Result<Option<Duration>, QueueError> {
        let mut conn = self.redis.conn();
        let k = &self.keys;
        let groups: redis::streams::StreamInfoGroupsReply = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&k.stream)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("reading the consumer group", e))?;
        let last = groups
            .groups
            .iter()
            .find(|group| group.name == GROUP)
            .map_or_else(|| "0-0".to_owned(), |group| group.last_delivered_id.clone());
        let next: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&k.stream)
            .arg(format!("({last}"))
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("reading the oldest ready task", e))?;
        Ok(next.ids.first().and_then(|entry| {
            let millis: u64 = entry.id.split_once('-')?.0.parse().ok()?;
            let now = crate::task::now_millis();
            Some(Duration::from_millis(now.saturating_sub(millis)))
        }))
    }

    /// Counts, read from Redis.
    pub async fn stats(&self) -> Result<RedisStats, QueueError> {
        let mut conn = self.redis.conn();
        let k = &self.keys;
        let (length, pending, delayed, dead, counters): (
            u64,
            redis::Value,
            u64,
            u64,
            BTreeMap<String, i64>,
        ) = redis::pipe()
            .cmd("XLEN")
            .arg(&k.stream)
            .cmd("XPENDING")
            .arg(&k.stream)
            .arg(GROUP)
            .cmd("ZCARD")
            .arg(&k.delayed)
            .cmd("HLEN")
            .arg(&k.dead)
            .cmd("HGETALL")
            .arg(&k.stats)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("reading stats", e))?;
        let in_flight = match pending {
            redis::Value::Array(items) => match items.first() {
                Some(redis::Value::Int(n)) => *n as u64,
                _ => 0,
            },
            _ => 0,
        };
        let counter = |name: &str| counters.get(name).copied().unwrap_or(0).max(0) as u64;
        let mut plugins: BTreeMap<String, PluginCounts> = BTreeMap::new();
        for (name, value) in &counters {
            let value = (*value).max(0) as u64;
            if let Some(plugin) = name.strip_prefix("done:") {
                plugins.entry(plugin.to_owned()).or_default().done = value;
            } else if let Some(plugin) = name.strip_prefix("dead:") {
                plugins.entry(plugin.to_owned()).or_default().dead = value;
            }
        }
        Ok(RedisStats {
            ready: length.saturating_sub(in_flight),
            in_flight,
            delayed,
            dead,
            done: counter("done"),
            not_modified: counter("not_modified"),
            retried: counter("retried"),
            reclaimed: counter("reclaimed"),
            enqueued: counter("enqueued"),
            plugins,
        })
    }

    /// The dead letters, oldest first, as JSON objects: the task's fields
    /// (re-runnable with `--input`) plus `error`, `attempts`, `died_at`.
    pub async fn dead_list(&self) -> Result<Vec<serde_json::Value>, QueueError> {
        let mut conn = self.redis.conn();
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(&self.keys.dead_index)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("listing dead letters", e))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let letters: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&self.keys.dead)
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("listing dead letters", e))?;
        Ok(ids
            .into_iter()
            .zip(letters)
            .filter_map(|(id, letter)| letter.map(|l| present_dead(&id, &l)))
            .collect())
    }

    /// Put dead letters back on the queue with attempts reset: the given
    /// ids, or all when `ids` is empty. Returns how many.
    pub async fn dead_retry(&self, ids: &[String]) -> Result<usize, QueueError> {
        let mut conn = self.redis.conn();
        let ids: Vec<String> = if ids.is_empty() {
            redis::cmd("ZRANGE")
                .arg(&self.keys.dead_index)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .map_err(|e| backend("listing dead letters", e))?
        } else {
            ids.to_vec()
        };
        let mut total = 0;
        for chunk in ids.chunks(500) {
            let letters: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(&self.keys.dead)
                .arg(chunk)
                .query_async(&mut conn)
                .await
                .map_err(|e| backend("reading dead letters", e))?;
            let mut invocation = self.scripts.dead_retry.prepare_invoke();
            invocation
                .key(&self.keys.stream)
                .key(&self.keys.dead)
                .key(&self.keys.dead_index)
                .key(&self.keys.stats);
            let mut any = false;
            for (id, letter) in chunk.iter().zip(letters) {
                let Some(letter) = letter else { continue };
                let (field, body) = revive(&letter);
                invocation.arg(id).arg(field).arg(body);
                any = true;
            }
            if any {
                let n: usize = invocation
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| backend("re-enqueueing dead letters", e))?;
                total += n;
            }
        }
        Ok(total)
    }

    /// Delete the given dead letters. Returns how many there were.
    pub async fn dead_delete(&self, ids: &[String]) -> Result<u64, QueueError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.redis.conn();
        let (count, _): (u64, ()) = redis::pipe()
            .atomic()
            .cmd("HDEL")
            .arg(&self.keys.dead)
            .arg(ids)
            .cmd("ZREM")
            .arg(&self.keys.dead_index)
            .arg(ids)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("deleting dead letters", e))?;
        Ok(count)
    }

    /// The consumers of the queue (one per thread of each host), with the
    /// jobs each holds and how long since it was last seen.
    pub async fn consumers(&self) -> Result<Vec<Consumer>, QueueError> {
        let mut conn = self.redis.conn();
        let reply: redis::streams::StreamInfoConsumersReply = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(&self.keys.stream)
            .arg(GROUP)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("listing the queue's consumers", e))?;
        Ok(reply
            .consumers
            .into_iter()
            .map(|consumer| Consumer {
                name: consumer.name,
                pending: consumer.pending as u64,
                idle_ms: consumer.idle as u64,
            })
            .collect())
    }

    /// Say which plugins this host runs (`host`: `HOST-PID`), for the
    /// dashboard: one field per host and plugin, stamped now.
    pub async fn publish_plugins(
        &self,
        host: &str,
        plugins: &[serde_json::Value],
    ) -> Result<(), QueueError> {
        let mut conn = self.redis.conn();
        let now = crate::task::now_millis();
        let mut pipe = redis::pipe();
        for plugin in plugins {
            let name = plugin["name"].as_str().unwrap_or_default();
            let mut entry = plugin.clone();
            entry["host"] = host.into();
            entry["seen_at"] = now.into();
            pipe.cmd("HSET")
                .arg(&self.keys.plugins)
                .arg(format!("{host}:{name}"))
                .arg(entry.to_string())
                .ignore();
        }
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| backend("publishing the plugins", e))
    }

    /// The plugins hosts said they run within `fresh`, each as its
    /// `describe()` answer with `host` and `seen_at`; older entries (hosts
    /// gone) are deleted.
    pub async fn plugins(&self, fresh: Duration) -> Result<Vec<serde_json::Value>, QueueError> {
        let mut conn = self.redis.conn();
        let all: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(&self.keys.plugins)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("listing the plugins", e))?;
        let oldest = crate::task::now_millis().saturating_sub(fresh.as_millis() as u64);
        let mut live = Vec::new();
        let mut gone = Vec::new();
        for (field, text) in all {
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(entry) if entry["seen_at"].as_u64().unwrap_or(0) >= oldest => live.push(entry),
                _ => gone.push(field),
            }
        }
        if !gone.is_empty() {
            let _: Result<(), _> = redis::cmd("HDEL")
                .arg(&self.keys.plugins)
                .arg(&gone)
                .query_async(&mut conn)
                .await;
        }
        Ok(live)
    }

    /// The URL hosts under politeness limits right now: held back (for how
    /// many ms more) or with fetch slots taken. At most `most` hosts.
    pub async fn politeness(&self, most: usize) -> Result<Vec<serde_json::Value>, QueueError> {
        let mut conn = self.redis.conn();
        let pattern = crate::redis::keys::url_hosts_pattern(self.name());
        let mut hosts: BTreeMap<String, (i64, u64)> = BTreeMap::new();
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            // In a Redis Cluster, on the node of the queue's slot.
            let (next, keys): (u64, Vec<String>) = conn
                .query_beside(&self.keys.stream, &scan)
                .await
                .map_err(|e| backend("reading politeness state", e))?;
            for key in keys {
                let Some(rest) = key.strip_prefix(&pattern[..pattern.len() - 1]) else {
                    continue;
                };
                let Some((host, kind)) = rest.rsplit_once(':') else {
                    continue;
                };
                if hosts.len() >= most && !hosts.contains_key(host) {
                    continue;
                }
                let entry = hosts.entry(host.to_owned()).or_insert((0, 0));
                match kind {
                    "hold" => {
                        entry.0 = redis::cmd("PTTL")
                            .arg(&key)
                            .query_async(&mut conn)
                            .await
                            .unwrap_or(0);
                    }
                    "slots" => {
                        entry.1 = redis::cmd("ZCOUNT")
                            .arg(&key)
                            .arg(crate::task::now_millis())
                            .arg("+inf")
                            .query_async(&mut conn)
                            .await
                            .unwrap_or(0);
                    }
                    _ => {}
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        Ok(hosts
            .into_iter()
            .map(|(host, (held_ms, slots))| {
                serde_json::json!({"host": host, "held_for_ms": held_ms.max(0), "slots_taken": slots})
            })
            .collect())
    }

    /// Delete every dead letter. Returns how many there were.
    pub async fn dead_purge(&self) -> Result<u64, QueueError> {
        let mut conn = self.redis.conn();
        let (count, _, _): (u64, (), ()) = redis::pipe()
            .atomic()
            .cmd("HLEN")
            .arg(&self.keys.dead)
            .cmd("DEL")
            .arg(&self.keys.dead)
            .cmd("DEL")
            .arg(&self.keys.dead_index)
            .query_async(&mut conn)
            .await
            .map_err(|e| backend("purging dead letters", e))?;
        Ok(count)
    }
}

/// The stream field and body that re-enqueue a stored letter, attempts reset.
fn revive(stored: &str) -> (&'static str, String) {
    match Revived::of(stored) {
        Revived::Task(task) => ("task", task.to_json()),
        Revived::Raw(raw) => ("raw", raw),
        Revived::Unreadable => ("raw", stored.to_owned()),
    }
}

/// A backend error with what was being done.
pub fn backend(doing: &str, error: redis::RedisError) -> QueueError {
    QueueError::Backend(format!("Redis failed while {doing}: {error}"))
}
