//! Every Redis key jobhost uses, in one place, so that an operator can find
//! each with redis-cli (docs/redis.md describes what each holds).
//!
//! All keys of a queue share the hash tag `{NAME}`. The key-value store's
//! keys are shared by every queue on the server. Redis Cluster is not
//! supported yet (the client is single-node, and the seed list and record
//! stream named by the user carry no hash tag).

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
    /// Keys of the queue called `name`.
    pub fn new(name: &str) -> Self {
        QueueKeys {
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

/// The key under which the key-value store keeps `namespaced`
/// (`PLUGIN:KEY`).
pub fn kv_key(namespaced: &str) -> String {
    format!("jobhost:kv:{namespaced}")
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
            kv_key("music-sync:music:1"),
            "jobhost:kv:music-sync:music:1"
        );
    }
}
