//! The first request to an origin goes alone.
//!
//! Whether an `https://` origin speaks HTTP/2 is only known once a TLS
//! handshake has negotiated it (ALPN). A host that starts with a hundred
//! jobs for one provider would otherwise open a hundred connections before
//! the first could tell that one is enough. So the first request to each
//! origin (scheme, host and port) through a client is sent alone, and the
//! others for that origin wait for its answer: if it came over HTTP/2, they
//! all share its connection; over HTTP/1.1 they open what they need, as
//! bounded by `--concurrency` and the per-host limits. Whatever the first
//! request's fate (an answer, an error, a timeout), the origin is then
//! open to all, so a dead server costs one wait, not a queue of them.
//! The open origins remembered are bounded: past [`REMEMBERED`], they are
//! forgotten (each then has one request go alone again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The most origins remembered before the open ones are forgotten.
const REMEMBERED: usize = 10_000;

/// The origins a client has spoken to, and those being tried.
#[derive(Default)]
pub struct Origins {
    known: Mutex<HashMap<String, Arc<tokio::sync::Mutex<bool>>>>,
}

impl std::fmt::Debug for Origins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known = self.known.lock().map_or(0, |known| known.len());
        f.debug_struct("Origins").field("known", &known).finish()
    }
}

/// Held by the one request that goes first; opens the origin when dropped.
pub struct FirstContact {
    guard: Option<tokio::sync::OwnedMutexGuard<bool>>,
}

impl Drop for FirstContact {
    fn drop(&mut self) {
        if let Some(guard) = &mut self.guard {
            **guard = true;
        }
    }
}

impl Origins {
    /// Wait until `origin` (`scheme://host:port`) is open, or until this
    /// caller is the one to go first (then hold the returned value until
    /// its answer is in).
    pub async fn enter(&self, origin: &str) -> FirstContact {
        let gate = {
            let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            match known.get(origin) {
                Some(gate) => gate.clone(),
                None => {
                    if known.len() >= REMEMBERED {
                        // Keep the origins still being tried (locked, or
                        // not yet open).
                        known.retain(|_, gate| gate.try_lock().map_or(true, |open| !*open));
                    }
                    let gate = Arc::new(tokio::sync::Mutex::new(false));
                    known.insert(origin.to_owned(), gate.clone());
                    gate
                }
            }
        };
        let guard = match gate.clone().try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => gate.lock_owned().await,
        };
        if *guard {
            FirstContact { guard: None }
        } else {
            FirstContact { guard: Some(guard) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn the_first_goes_alone_and_then_all_go_at_once() {
        let origins = Arc::new(Origins::default());
        let first = origins.enter("https://a:443").await;
        // Another origin is not held up.
        drop(origins.enter("https://b:443").await);
        let waiter = {
            let origins = origins.clone();
            tokio::spawn(async move {
                drop(origins.enter("https://a:443").await);
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "waits for the first answer");
        drop(first);
        waiter.await.expect("joined");
        // Open now: any number enter together.
        let a = origins.enter("https://a:443").await;
        let b =
            tokio::time::timeout(Duration::from_millis(100), origins.enter("https://a:443")).await;
        assert!(
            b.is_ok(),
            "an open origin lets a second in while the first is out"
        );
        drop(a);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn open_origins_are_forgotten_past_the_bound_but_tried_ones_kept() {
        let origins = Origins::default();
        let held = origins.enter("https://held:443").await;
        for n in 0..REMEMBERED + 10 {
            drop(origins.enter(&format!("https://h{n}:443")).await);
        }
        let known = origins.known.lock().unwrap();
        assert!(known.len() <= REMEMBERED, "{}", known.len());
        assert!(known.contains_key("https://held:443"));
        drop(known);
        drop(held);
    }
}
