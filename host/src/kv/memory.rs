//! In-memory key-value backend: a hash map behind a mutex, for one process.
//!
//! The lock is held only for the map operation itself, never across an await,
//! so jobs on different threads contend for nanoseconds at most. Entries
//! written with an expiry ([`KvWrite::Expiring`]) read as absent once it has
//! passed, and are swept out now and then, as Redis does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::writes::add_to;
use super::{KvError, KvStore, KvWrite};

/// How often, at most, expired entries are swept out.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The map and the expiry of the entries that have one.
#[derive(Debug)]
struct Entries {
    values: HashMap<String, Vec<u8>>,
    expires: HashMap<String, Instant>,
    swept: Instant,
}

impl Default for Entries {
    fn default() -> Self {
        Entries {
            values: HashMap::new(),
            expires: HashMap::new(),
            swept: Instant::now(),
        }
    }
}

impl Entries {
    fn get(&mut self, key: &str) -> Option<&Vec<u8>> {
        if self
            .expires
            .get(key)
            .is_some_and(|&at| at <= Instant::now())
        {
            self.expires.remove(key);
            self.values.remove(key);
        }
        self.values.get(key)
    }

    /// Store without an expiry (a plain set clears one, as in Redis).
    fn insert(&mut self, key: String, value: Vec<u8>) {
        if !self.expires.is_empty() {
            self.expires.remove(&key);
        }
        self.values.insert(key, value);
    }

    fn insert_expiring(&mut self, key: String, value: Vec<u8>, ttl_ms: u64) {
        let now = Instant::now();
        if now.duration_since(self.swept) >= SWEEP_EVERY {
            self.swept = now;
            let values = &mut self.values;
            self.expires.retain(|key, at| {
                let live = *at > now;
                if !live {
                    values.remove(key);
                }
                live
            });
        }
        let at = now
            .checked_add(Duration::from_millis(ttl_ms))
            .unwrap_or(now + Duration::from_secs(100 * 365 * 24 * 3600));
        self.expires.insert(key.clone(), at);
        self.values.insert(key, value);
    }

    fn remove(&mut self, key: &str) -> bool {
        let expired = self
            .expires
            .remove(key)
            .is_some_and(|at| at <= Instant::now());
        self.values.remove(key).is_some() && !expired
    }

    fn add(&mut self, key: &str, delta: i64) -> Result<i64, KvError> {
        let next = add_to(self.get(key).map(Vec::as_slice), delta, key)?;
        // INCRBY keeps the key's expiry: so does this.
        self.values
            .insert(key.to_owned(), next.to_string().into_bytes());
        Ok(next)
    }
}

/// An in-process [`KvStore`]; its contents live as long as the process.
#[derive(Debug, Default)]
pub struct MemoryKv {
    map: Mutex<Entries>,
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every live entry, sorted by key (for `--kv-dump` and
    /// tests).
    pub fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let map = self.lock();
        let now = Instant::now();
        let mut entries: Vec<_> = map
            .values
            .iter()
            .filter(|(key, _)| map.expires.get(*key).is_none_or(|&at| at > now))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding this lock cannot leave the map half-updated
        // (every operation is a single map call), so a poisoned lock is safe
        // to keep using.
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl KvStore for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.lock().get(key).cloned())
    }

    async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        self.lock().insert(key.to_owned(), value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool, KvError> {
        Ok(self.lock().remove(key))
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        self.lock().add(key, delta)
    }

    async fn apply(&self, writes: Vec<KvWrite>) -> Result<Vec<String>, KvError> {
        let mut warnings = Vec::new();
        let mut map = self.lock();
        for write in writes {
            match write {
                KvWrite::Set { key, value } => map.insert(key, value),
                KvWrite::Expiring { key, value, ttl_ms } => map.insert_expiring(key, value, ttl_ms),
                KvWrite::Delete { key } => {
                    map.remove(&key);
                }
                KvWrite::Add { key, delta } => {
                    if let Err(error) = map.add(&key, delta) {
                        warnings.push(format!("add {delta} skipped: {error}"));
                    }
                }
            }
        }
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn increment_counts_from_zero_and_rejects_non_integers() {
        let kv = MemoryKv::new();
        assert_eq!(kv.increment("p:n", 2).await.unwrap(), 2);
        assert_eq!(kv.increment("p:n", -5).await.unwrap(), -3);
        assert_eq!(kv.get("p:n").await.unwrap().unwrap(), b"-3");
        kv.set("p:s", b"abc".to_vec()).await.unwrap();
        let err = kv.increment("p:s", 1).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "value under `s` is not a decimal integer, so it cannot be incremented"
        );
        kv.set("p:m", i64::MAX.to_string().into_bytes())
            .await
            .unwrap();
        assert!(matches!(
            kv.increment("p:m", 1).await,
            Err(KvError::Overflow { .. })
        ));
    }

    #[tokio::test]
    async fn apply_runs_writes_in_order_and_leaves_out_adds_to_text() {
        let kv = MemoryKv::new();
        let warnings = kv
            .apply(vec![
                KvWrite::Set {
                    key: "p:text".into(),
                    value: b"abc".to_vec(),
                },
                KvWrite::Add {
                    key: "p:text".into(),
                    delta: 1,
                },
                KvWrite::Add {
                    key: "p:n".into(),
                    delta: 2,
                },
                KvWrite::Add {
                    key: "p:n".into(),
                    delta: 3,
                },
                KvWrite::Set {
                    key: "p:gone".into(),
                    value: b"x".to_vec(),
                },
                KvWrite::Delete {
                    key: "p:gone".into(),
                },
            ])
            .await
            .unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("`text`"), "{warnings:?}");
        assert_eq!(kv.get("p:text").await.unwrap(), Some(b"abc".to_vec()));
        assert_eq!(kv.get("p:n").await.unwrap(), Some(b"5".to_vec()));
        assert_eq!(kv.get("p:gone").await.unwrap(), None);
    }

    #[tokio::test]
    async fn expiring_entries_read_as_absent_once_their_time_is_up() {
        let kv = MemoryKv::new();
        let expiring = |key: &str, ttl_ms| KvWrite::Expiring {
            key: key.into(),
            value: b"v".to_vec(),
            ttl_ms,
        };
        kv.apply(vec![expiring("p:short", 30), expiring("p:long", 60_000)])
            .await
            .unwrap();
        assert_eq!(kv.get("p:short").await.unwrap(), Some(b"v".to_vec()));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(kv.get("p:short").await.unwrap(), None);
        assert!(!kv.delete("p:short").await.unwrap());
        assert_eq!(kv.get("p:long").await.unwrap(), Some(b"v".to_vec()));
        // A plain set clears the expiry.
        kv.apply(vec![expiring("p:k", 30)]).await.unwrap();
        kv.set("p:k", b"kept".to_vec()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(kv.get("p:k").await.unwrap(), Some(b"kept".to_vec()));
        assert_eq!(kv.snapshot().len(), 2);
    }

    #[tokio::test]
    async fn delete_reports_whether_the_key_existed() {
        let kv = MemoryKv::new();
        kv.set("p:k", b"v".to_vec()).await.unwrap();
        assert!(kv.delete("p:k").await.unwrap());
        assert!(!kv.delete("p:k").await.unwrap());
        assert_eq!(kv.get("p:k").await.unwrap(), None);
    }
}
