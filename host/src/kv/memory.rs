//! In-memory key-value backend: a hash map behind a mutex, for one process.
//!
//! The lock is held only for the map operation itself, never across an await,
//! so jobs on different threads contend for nanoseconds at most.

use std::collections::HashMap;
use std::sync::Mutex;

use super::writes::add_to;
use super::{KvError, KvStore, KvWrite};

/// An in-process [`KvStore`]; its contents live as long as the process.
#[derive(Debug, Default)]
pub struct MemoryKv {
    map: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every entry, sorted by key (for `--kv-dump` and tests).
    pub fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let map = self.lock();
        let mut entries: Vec<_> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
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
        Ok(self.lock().remove(key).is_some())
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let mut map = self.lock();
        let next = add_to(map.get(key).map(Vec::as_slice), delta, key)?;
        map.insert(key.to_owned(), next.to_string().into_bytes());
        Ok(next)
    }

    async fn apply(&self, writes: Vec<KvWrite>) -> Result<Vec<String>, KvError> {
        let mut warnings = Vec::new();
        let mut map = self.lock();
        for write in writes {
            match write {
                KvWrite::Set { key, value } => {
                    map.insert(key, value);
                }
                KvWrite::Delete { key } => {
                    map.remove(&key);
                }
                KvWrite::Add { key, delta } => {
                    match add_to(map.get(&key).map(Vec::as_slice), delta, &key) {
                        Ok(next) => {
                            map.insert(key, next.to_string().into_bytes());
                        }
                        Err(error) => warnings.push(format!("add {delta} skipped: {error}")),
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
    async fn delete_reports_whether_the_key_existed() {
        let kv = MemoryKv::new();
        kv.set("p:k", b"v".to_vec()).await.unwrap();
        assert!(kv.delete("p:k").await.unwrap());
        assert!(!kv.delete("p:k").await.unwrap());
        assert_eq!(kv.get("p:k").await.unwrap(), None);
    }
}
