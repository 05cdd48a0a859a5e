//! Waiting out a Redis outage: logged once when it starts and once when it
//! ends, with a jittered backoff in between, so that a background loop
//! neither floods the log nor hammers a server that is coming back.

use std::time::Duration;

/// The outage state of one loop (one per loop: each logs its own).
#[derive(Debug)]
pub struct Outage {
    doing: &'static str,
    down: bool,
    delay: Duration,
}

impl Outage {
    /// For a loop that is `doing` something ("reading the queue").
    pub fn new(doing: &'static str) -> Self {
        Outage {
            doing,
            down: false,
            delay: Duration::from_millis(50),
        }
    }

    /// A call failed: log it if this starts an outage, then wait (50 ms
    /// doubling to 2 s, each with jitter). `url` is the redacted URL.
    pub async fn failed(&mut self, url: &str, error: &redis::RedisError) {
        self.down(url, error);
        tokio::time::sleep(self.delay.mul_f64(0.5 + fastrand::f64() * 0.5)).await;
        self.delay = (self.delay * 2).min(Duration::from_secs(2));
    }

    /// A call failed: log it if this starts an outage, without waiting
    /// (for a loop that keeps its own pace).
    pub fn down(&mut self, url: &str, error: &dyn std::fmt::Display) {
        if !self.down {
            tracing::warn!(
                "Redis at {url} is unavailable while {}: {error}; retrying with backoff, no job is lost",
                self.doing
            );
            self.down = true;
        }
    }

    /// A call succeeded: log the end of an outage, reset the backoff.
    pub fn ok(&mut self, url: &str) {
        if self.down {
            tracing::info!("Redis at {url} is reachable again ({})", self.doing);
            self.down = false;
        }
        self.delay = Duration::from_millis(50);
    }
}
