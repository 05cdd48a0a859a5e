//! Politeness toward the sites fetched: per URL host rate and concurrency
//! limits, and hold-backs after a `429` or `503` with `Retry-After`.
//!
//! Limits are kept in this process (memory queue) or in Redis (Redis queue,
//! so that every host shares them). A worker asks for a permit before it
//! fetches; a short wait is waited out, a long one makes the worker put the
//! job back for later (without counting an attempt) instead of idling.
//! Hold-backs are always on; rate and concurrency limits only where set.
//! This module decides nothing about retries: the worker does. It owns its
//! two Lua scripts (`host_acquire.lua`, `host_hold.lua`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::redis::keys::UrlHostKeys;
use crate::redis::Redis;

/// Limits for one URL host.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostLimit {
    /// Requests per second; 0 = unlimited.
    pub rate: f64,
    /// Requests at once; 0 = unlimited.
    pub concurrency: u32,
}

impl HostLimit {
    fn is_set(&self) -> bool {
        self.rate > 0.0 || self.concurrency > 0
    }

    fn interval(&self) -> Duration {
        if self.rate > 0.0 {
            Duration::from_secs_f64(1.0 / self.rate)
        } else {
            Duration::ZERO
        }
    }
}

/// The limits: a default for every URL host, and overrides by host name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolitenessConfig {
    /// Applies to every host without an override.
    pub default: HostLimit,
    /// By URL host (`api.example.com`, or `host:port` for other ports).
    pub overrides: HashMap<String, HostLimit>,
}

impl PolitenessConfig {
    /// The limit for `host`.
    pub fn limit_for(&self, host: &str) -> HostLimit {
        self.overrides.get(host).copied().unwrap_or(self.default)
    }

    /// Parse `HOST=RATE/CONCURRENCY` (either part may be empty or 0).
    pub fn parse_override(text: &str) -> Result<(String, HostLimit), String> {
        let bad = || {
            format!("`{text}` is not HOST=RATE/CONCURRENCY (e.g. api.example.com=5/2, or api.example.com=5)")
        };
        let (host, limits) = text.split_once('=').ok_or_else(bad)?;
        let (rate, concurrency) = limits.split_once('/').unwrap_or((limits, ""));
        let rate = if rate.is_empty() {
            0.0
        } else {
            rate.parse::<f64>().map_err(|_| bad())?
        };
        let concurrency = if concurrency.is_empty() {
            0
        } else {
            concurrency.parse::<u32>().map_err(|_| bad())?
        };
        if host.is_empty() || !rate.is_finite() || rate < 0.0 {
            return Err(bad());
        }
        Ok((host.to_ascii_lowercase(), HostLimit { rate, concurrency }))
    }
}

/// Permission to fetch from one host; give it back with
/// [`Politeness::release`].
#[derive(Debug)]
pub struct Permit {
    host: Option<String>,
    token: Option<String>,
}

#[derive(Debug)]
struct LocalHost {
    next: Instant,
    in_flight: u32,
    held_until: Option<Instant>,
}

/// Limits shared through Redis by every host of one queue.
pub struct SharedLimits {
    redis: Redis,
    queue: String,
    acquire: redis::Script,
    hold: redis::Script,
}

impl SharedLimits {
    /// Share through `redis`, under the keys of queue `queue`.
    pub fn new(redis: Redis, queue: &str) -> Self {
        SharedLimits {
            redis,
            queue: queue.to_owned(),
            acquire: crate::redis::script(&[include_str!("host_acquire.lua")]),
            hold: crate::redis::script(&[include_str!("host_hold.lua")]),
        }
    }

    fn keys(&self, url_host: &str) -> UrlHostKeys {
        UrlHostKeys::new(&self.queue, url_host)
    }
}

/// The politeness state of this process.
pub struct Politeness {
    config: PolitenessConfig,
    any_limit: bool,
    any_hold: AtomicBool,
    local: Mutex<HashMap<String, LocalHost>>,
    redis: Option<SharedLimits>,
    /// Slot expiry in Redis: a host that dies frees its slots after this.
    slot_ttl: Duration,
}

impl std::fmt::Debug for Politeness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Politeness")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Waits up to this long are waited out; longer ones put the job back.
pub const MAX_BLOCK: Duration = Duration::from_secs(1);

impl Politeness {
    /// Politeness kept in this process, or shared through `redis`.
    pub fn new(config: PolitenessConfig, redis: Option<SharedLimits>, slot_ttl: Duration) -> Self {
        let any_limit = config.default.is_set() || config.overrides.values().any(HostLimit::is_set);
        Politeness {
            config,
            any_limit,
            any_hold: AtomicBool::new(false),
            local: Mutex::new(HashMap::new()),
            redis,
            slot_ttl,
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<String, LocalHost>> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether anything can make a fetch wait (skip the URL parse if not).
    pub fn active(&self) -> bool {
        self.any_limit || self.any_hold.load(Ordering::Relaxed)
    }

    /// A permit for `host`, waiting up to [`MAX_BLOCK`]; `Err(wait)` when
    /// the wait would be longer.
    pub async fn acquire(&self, host: &str) -> Result<Permit, Duration> {
        let limit = self.config.limit_for(host);
        let mut waited = Duration::ZERO;
        loop {
            let wait = match &self.redis {
                Some(redis) if limit.is_set() => match self.try_redis(redis, host, limit).await {
                    Ok(None) => Duration::ZERO,
                    Ok(Some(token)) => {
                        return Ok(Permit {
                            host: None,
                            token: Some(token),
                        })
                    }
                    Err(wait) => wait,
                },
                _ => match self.try_local(host, limit) {
                    Ok(permit) => return Ok(permit),
                    Err(wait) => wait,
                },
            };
            if wait.is_zero() {
                return Ok(Permit {
                    host: None,
                    token: None,
                });
            }
            if waited + wait > MAX_BLOCK {
                return Err(wait);
            }
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    fn try_local(&self, host: &str, limit: HostLimit) -> Result<Permit, Duration> {
        let now = Instant::now();
        let mut hosts = self.local();
        let state = hosts.entry(host.to_owned()).or_insert(LocalHost {
            next: now,
            in_flight: 0,
            held_until: None,
        });
        if let Some(until) = state.held_until {
            if until > now {
                return Err(until - now);
            }
            state.held_until = None;
        }
        if limit.concurrency > 0 && state.in_flight >= limit.concurrency {
            return Err(Duration::from_millis(10));
        }
        if limit.rate > 0.0 {
            if state.next > now {
                return Err(state.next - now);
            }
            state.next = state.next.max(now) + limit.interval();
        }
        if limit.concurrency > 0 {
            state.in_flight += 1;
            return Ok(Permit {
                host: Some(host.to_owned()),
                token: None,
            });
        }
        Ok(Permit {
            host: None,
            token: None,
        })
    }

    /// `Ok(Some(token))`: a slot taken; `Ok(None)`: acquired without a slot;
    /// `Err(wait)`: try again later. A Redis failure lets the fetch go ahead
    /// (politeness is best effort; the queue itself waits out outages).
    async fn try_redis(
        &self,
        redis: &SharedLimits,
        host: &str,
        limit: HostLimit,
    ) -> Result<Option<String>, Duration> {
        let keys = redis.keys(host);
        let token = format!("{:016x}", fastrand::u64(..));
        let mut invocation = redis.acquire.prepare_invoke();
        invocation
            .key(&keys.hold)
            .key(&keys.rate)
            .key(&keys.slots)
            .arg(limit.interval().as_millis() as u64)
            .arg(limit.concurrency)
            .arg(&token)
            .arg(self.slot_ttl.as_millis() as u64);
        let mut conn = redis.redis.conn();
        match invocation.invoke_async::<i64>(&mut conn).await {
            Ok(0) => Ok((limit.concurrency > 0).then_some(token)),
            Ok(wait) => Err(Duration::from_millis(wait.max(1) as u64)),
            Err(e) => {
                tracing::warn!(
                    "politeness limits unavailable in Redis ({e}); fetching {host} without them"
                );
                Ok(None)
            }
        }
    }

    /// Give a permit back.
    pub async fn release(&self, host: &str, permit: Permit) {
        if let Some(local_host) = permit.host {
            if let Some(state) = self.local().get_mut(&local_host) {
                state.in_flight = state.in_flight.saturating_sub(1);
            }
        }
        if let (Some(token), Some(redis)) = (permit.token, &self.redis) {
            let mut conn = redis.redis.conn();
            let removed: Result<i64, _> = redis::cmd("ZREM")
                .arg(redis.keys(host).slots)
                .arg(token)
                .query_async(&mut conn)
                .await;
            if let Err(e) = removed {
                tracing::debug!(
                    "releasing a politeness slot of {host}: {e} (it expires by itself)"
                );
            }
        }
    }

    /// Hold `host` back for `duration` (the server asked with Retry-After).
    pub async fn hold(&self, host: &str, duration: Duration) {
        tracing::warn!("holding back {host} for {duration:?}, as its server asked");
        self.any_hold.store(true, Ordering::Relaxed);
        {
            let until = Instant::now() + duration;
            let mut hosts = self.local();
            let state = hosts.entry(host.to_owned()).or_insert(LocalHost {
                next: Instant::now(),
                in_flight: 0,
                held_until: None,
            });
            state.held_until = Some(state.held_until.map_or(until, |u| u.max(until)));
        }
        if let Some(redis) = &self.redis {
            let mut invocation = redis.hold.prepare_invoke();
            invocation
                .key(redis.keys(host).hold)
                .arg(duration.as_millis() as u64);
            let mut conn = redis.redis.conn();
            if let Err(e) = invocation.invoke_async::<i64>(&mut conn).await {
                tracing::warn!("could not share the hold-back of {host} through Redis: {e}");
            }
        }
    }
}

/// The politeness key of a URL: its host, with the port if not the default.
pub fn url_host(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?.to_ascii_lowercase();
    Some(match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse() {
        let (host, limit) = PolitenessConfig::parse_override("API.example.com=5/2").unwrap();
        assert_eq!(
            (host.as_str(), limit),
            (
                "api.example.com",
                HostLimit {
                    rate: 5.0,
                    concurrency: 2
                }
            )
        );
        let (_, limit) = PolitenessConfig::parse_override("a=0.5").unwrap();
        assert_eq!(
            limit,
            HostLimit {
                rate: 0.5,
                concurrency: 0
            }
        );
        assert!(PolitenessConfig::parse_override("nohost").is_err());
        assert!(PolitenessConfig::parse_override("a=fast").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn local_rate_and_concurrency_limits() {
        let config = PolitenessConfig {
            default: HostLimit {
                rate: 10.0,
                concurrency: 1,
            },
            overrides: HashMap::new(),
        };
        let p = Politeness::new(config, None, Duration::from_secs(60));
        let start = Instant::now();
        let first = p.acquire("h").await.unwrap();
        p.release("h", first).await;
        let second = p.acquire("h").await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(100),
            "rate 10/s spaces requests 100 ms apart"
        );
        // Concurrency 1: a second permit waits until the first is back.
        let waiter = p.acquire("h");
        tokio::pin!(waiter);
        assert!(
            tokio::time::timeout(Duration::from_millis(150), &mut waiter)
                .await
                .is_err()
        );
        p.release("h", second).await;
        let third = waiter.await.unwrap();
        p.release("h", third).await;
    }

    #[tokio::test(start_paused = true)]
    async fn holds_make_long_waits_come_back_as_errors() {
        let p = Politeness::new(PolitenessConfig::default(), None, Duration::from_secs(60));
        assert!(!p.active());
        p.hold("h", Duration::from_secs(30)).await;
        assert!(p.active());
        let wait = p.acquire("h").await.unwrap_err();
        assert!(wait > Duration::from_secs(29));
        assert!(p.acquire("other").await.is_ok());
    }
}
