//! Every Redis key jobhost uses, in one place, so that an operator can find
//! each with redis-cli (docs/redis.md describes what each holds).
//!
//! All keys of a queue share the hash tag `{NAME}`, so that in a Redis
//! Cluster they live in one hash slot and every script stays atomic. The
//! key-value store's keys are shared by every queue on one server; in a
//! Redis Cluster each queue has its own, in its slot ([`KvKeys`]).

/// The consumer group every host joins.
pub const GROUP: &str = "workers";

/// The keys of one queue.
#[derive(Debug, Clone)]
pub struct QueueKeys {
    /// STREAM of ready and in-flight tasks (field `task`: wire JSON, or
    /// `raw`: a producer's line). In flight = pending in [`GROUP`].
    pub stream: String,
    /// ZSET of delayed tasks (member: wire JSON, score: due time in ms).
    pub delayed: String,
    /// HASH of dead letters (field: task id, value: JSON).
    pub dead: String,
    /// ZSET of dead task ids by time of death (ms), for listing in order.
    pub dead_index: String,
    /// HASH of counters: enqueued, done, retried, dead, done:PLUGIN, dead:PLUGIN.
    pub stats: String,
    /// SET of URLs seen, for `--dedupe`.
    pub seen: String,
    /// The queue's name.
    name: String,
    /// STRING never written: what `ack.lua` declares as its record stream
    /// when records go elsewhere (a key of the queue's slot).
    pub unused: String,
    /// Where the key-value store keeps plugins' keys.
    pub kv: KvKeys,
    /// SET of the URLs of unique schedule tasks still queued or running
    /// (`schedule add --unique`); an entry is removed when its task ends
    /// done or dead.
    pub unique: String,
    /// HASH of schedules (field: name, value: the schedule's JSON).
    pub schedules: String,
    /// ZSET of schedule rounds (member: round id, score: fire time in ms),
    /// trimmed after a day.
    pub rounds: String,
    /// ZSET of the rounds still being produced (member: round id, score:
    /// fire time in ms): what hosts look through for rounds to adopt.
    pub producing: String,
    /// HASH of the plugins the hosts run (field: `HOST-PID:PLUGIN`, value:
    /// its `describe()` answer as JSON with `host` and `seen_at`), written
    /// by each host every 30 s, for the dashboard.
    pub plugins: String,
}

impl QueueKeys {
    /// Keys of the queue called `name` on one server (or behind Sentinel).
    pub fn new(name: &str) -> Self {
        Self::on(name, false)
    }

    /// Keys of the queue called `name`, in a Redis Cluster if `cluster`.
    pub fn on(name: &str, cluster: bool) -> Self {
        QueueKeys {
            unused: queue_key(name, "unused"),
            kv: if cluster {
                KvKeys::in_queue_slot(name)
            } else {
                KvKeys::shared()
            },
            stream: queue_key(name, "stream"),
            delayed: queue_key(name, "delayed"),
            dead: queue_key(name, "dead"),
            dead_index: queue_key(name, "dead:index"),
            stats: queue_key(name, "stats"),
            seen: queue_key(name, "seen"),
            unique: queue_key(name, "unique"),
            schedules: queue_key(name, "schedules"),
            rounds: queue_key(name, "rounds"),
            producing: queue_key(name, "producing"),
            plugins: queue_key(name, "plugins"),
            name: name.to_owned(),
        }
    }

    /// HASH of the state of schedule `schedule`: last_fire (ms of the last
    /// tick settled), current (its latest round), paused, and counters
    /// (fires, missed, overlapped).
    pub fn schedule_state(&self, schedule: &str) -> String {
        queue_key(&self.name, &format!("schedule:{schedule}"))
    }

    /// HASH of round `round` (`SCHEDULE@FIRE_MS`): its progress (total,
    /// done, dead, skipped, cursor, produced, completed), its producer's
    /// lease (owner, lease_until) and its on-complete task. The queue's
    /// scripts count tasks into it (common.lua derives this name from the
    /// stream's).
    pub fn round(&self, round: &str) -> String {
        queue_key(&self.name, &format!("round:{round}"))
    }
}

fn queue_key(name: &str, suffix: &str) -> String {
    format!("jobhost:{{{name}}}:{suffix}")
}

/// The keys of the politeness state of one URL host, shared by the hosts
/// of queue `queue`.
#[derive(Debug, Clone)]
pub struct UrlHostKeys {
    /// STRING with a TTL: the URL host is held back while it exists.
    pub hold: String,
    /// STRING: the next allowed request time (ms since the epoch).
    pub rate: String,
    /// ZSET of fetch slots by expiry (ms).
    pub slots: String,
}

impl UrlHostKeys {
    /// The keys of `url_host` (`api.example.com`, `host:port`) for `queue`.
    pub fn new(queue: &str, url_host: &str) -> Self {
        let key = |suffix: &str| queue_key(queue, &format!("host:{url_host}:{suffix}"));
        UrlHostKeys {
            hold: key("hold"),
            rate: key("rate"),
            slots: key("slots"),
        }
    }
}

/// A `SCAN` pattern for every URL host key of `queue` ([`UrlHostKeys`]).
pub fn url_hosts_pattern(queue: &str) -> String {
    queue_key(queue, "host:*")
}

/// Where the key-value store keeps plugins' keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvKeys {
    prefix: String,
}

impl KvKeys {
    /// `jobhost:kv:PLUGIN:KEY`, shared by every queue on one server.
    pub fn shared() -> Self {
        KvKeys {
            prefix: "jobhost:kv:".into(),
        }
    }

    /// `jobhost:{QUEUE}:kv:PLUGIN:KEY`, in the hash slot of queue `queue`:
    /// in a Redis Cluster an acknowledgement can apply a job's writes
    /// atomically only to keys of its queue's slot, so each queue has its
    /// own store there.
    pub fn in_queue_slot(queue: &str) -> Self {
        KvKeys {
            prefix: queue_key(queue, "kv:"),
        }
    }

    /// The key under which the store keeps `namespaced` (`PLUGIN:KEY`).
    pub fn key(&self, namespaced: &str) -> String {
        format!("{}{namespaced}", self.prefix)
    }
}

/// The hash tag of `key` (the text between its first `{` and the next `}`,
/// if not empty), which decides its slot in a Redis Cluster.
pub fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let close = open + 1 + key[open + 1..].find('}')?;
    (close > open + 1).then(|| &key[open + 1..close])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout docs/redis.md promises operators.
    #[test]
    fn keys_have_the_documented_names() {
        let keys = QueueKeys::new("jobs");
        assert_eq!(keys.stream, "jobhost:{jobs}:stream");
        assert_eq!(keys.dead_index, "jobhost:{jobs}:dead:index");
        assert_eq!(keys.round("nightly@1"), "jobhost:{jobs}:round:nightly@1");
        // common.lua's queue_key() derives the other keys from the stream's.
        assert_eq!(
            keys.stream
                .strip_suffix("stream")
                .map(|p| format!("{p}unique")),
            Some(keys.unique.clone())
        );
        let host = UrlHostKeys::new("jobs", "api.example.com:8080");
        assert_eq!(host.hold, "jobhost:{jobs}:host:api.example.com:8080:hold");
        assert_eq!(host.slots, "jobhost:{jobs}:host:api.example.com:8080:slots");
        assert_eq!(
            KvKeys::shared().key("music-sync:music:1"),
            "jobhost:kv:music-sync:music:1"
        );
        let clustered = QueueKeys::on("jobs", true);
        assert_eq!(
            clustered.kv.key("music-sync:music:1"),
            "jobhost:{jobs}:kv:music-sync:music:1"
        );
        assert_eq!(clustered.stream, keys.stream);
        assert_eq!(keys.unused, "jobhost:{jobs}:unused");
    }

    #[test]
    fn hash_tags_are_found_as_redis_cluster_finds_them() {
        assert_eq!(hash_tag("jobhost:{jobs}:stream"), Some("jobs"));
        assert_eq!(hash_tag("{jobs}:records"), Some("jobs"));
        assert_eq!(hash_tag("a{}{jobs}"), None);
        assert_eq!(hash_tag("records"), None);
        assert_eq!(hash_tag("x{open"), None);
        assert_eq!(hash_tag("{a}{b}"), Some("a"));
    }
}
