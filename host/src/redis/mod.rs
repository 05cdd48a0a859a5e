//! The one Redis layer: connecting, keeping passwords out of every message,
//! telling an outage from a bug and waiting it out, the key layout, and the
//! Lua prelude every script starts with.
//!
//! The queue, the key-value store and politeness each use this layer and own
//! their scripts; this module knows nothing of tasks, plugins or URL hosts,
//! and imports nothing from them.

pub mod cluster;
mod conn;
mod hosts;
pub mod keys;
mod outage;
pub mod sentinel;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use cluster::ClusterUrl;
pub use conn::Conn;
pub use outage::Outage;
use sentinel::{Sentinel, SentinelUrl};

/// Lua shared by every script (prepended when a script is loaded): `now_ms`.
pub const LUA_PRELUDE: &str = include_str!("prelude.lua");

/// A Redis URL that could not be used; the message never holds the password.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL does not parse as a Redis URL.
    #[error(
        "invalid Redis URL `{url}`: {reason}; write it as redis://[USER:PASSWORD@]HOST:PORT/DB, or redis+sentinel://SENTINEL[,SENTINEL...]/MASTER[/DB] behind Sentinel, or redis+cluster://NODE[,NODE...]"
    )]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What the client library said.
        reason: String,
    },
    /// Nothing answered, or the server refused us.
    #[error("cannot connect to Redis at {url}: {reason} (is redis-server running there? set --queue or JOBHOST_QUEUE)")]
    Unreachable {
        /// The URL, password redacted.
        url: String,
        /// What the client library said.
        reason: String,
    },
}

/// A client for one Redis server (or the master a set of sentinels names)
/// and a connection to it that reconnects on its own. Clones share the
/// connection; [`Redis::another`] opens a second one (for a blocking reader
/// that must not hold up the others).
#[derive(Clone)]
pub struct Redis {
    target: Target,
    conn: Conn,
    /// The URL with its password replaced by `***`: the only form kept for
    /// messages.
    shown: String,
}

/// Where the connections go.
#[derive(Clone)]
enum Target {
    /// One server.
    Direct(Arc<redis::Client>),
    /// The master the sentinels of this URL name, followed across failovers.
    Sentinel(Arc<SentinelUrl>),
    /// A Redis Cluster.
    Cluster(Arc<ClusterUrl>),
}

impl Target {
    /// Where `url` points; the error is the client library's or ours, and
    /// may quote the URL (scrub it).
    fn parse(url: &str) -> Result<Self, String> {
        if sentinel::is_sentinel_url(url) {
            return Ok(Target::Sentinel(Arc::new(SentinelUrl::parse(url)?)));
        }
        if cluster::is_cluster_url(url) {
            return Ok(Target::Cluster(Arc::new(ClusterUrl::parse(url)?)));
        }
        let opened = match TRUSTED.get() {
            Some(pem) if url.starts_with("rediss://") => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            _ => redis::Client::open(url),
        };
        opened
            .map(|client| Target::Direct(Arc::new(client)))
            .map_err(|e| e.to_string())
    }

    /// A new connection; `url` (possibly empty) is only for scrubbing the
    /// password out of the client library's messages.
    async fn open(
        &self,
        shown: &str,
        url: &str,
        response_timeout: Duration,
    ) -> Result<Conn, ConnectError> {
        match self {
            Target::Direct(client) => Ok(Conn::direct(
                manager(client, shown, url, response_timeout).await?,
            )),
            Target::Sentinel(parsed) => follow(parsed, shown, url, response_timeout).await,
            Target::Cluster(parsed) => clustered(parsed, shown, url, response_timeout).await,
        }
    }
}

/// Never prints the password (the client's own `Debug` would).
impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("url", &self.shown).finish()
    }
}

/// The certificate authorities trusted for `rediss://` URLs instead of the
/// system's (`--redis-ca-cert`), set once at start-up.
static TRUSTED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

/// Trust only the CAs of the PEM file at `path` for every `rediss://`
/// connection of this process. Fails if it cannot be read or holds no
/// certificate.
pub fn trust_ca_file(path: &std::path::Path) -> Result<(), String> {
    let pem = std::fs::read(path).map_err(|e| {
        format!(
            "cannot read the CA certificate file {}: {e}",
            path.display()
        )
    })?;
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(format!(
            "{} holds no PEM certificate (expected `-----BEGIN CERTIFICATE-----` blocks)",
            path.display()
        ));
    }
    let _ = TRUSTED.set(pem);
    Ok(())
}

/// `--redis-wait-replicas` and its timeout, set once at start-up.
static WAIT: std::sync::OnceLock<(u32, Duration)> = std::sync::OnceLock::new();

/// Make every [`Redis::invoke_replicated`] of this process wait until
/// `replicas` replicas have its writes, for at most `timeout`.
pub fn wait_for_replicas(replicas: u32, timeout: Duration) {
    let _ = WAIT.set((replicas, timeout));
}

impl Redis {
    /// Connect to `url`; `response_timeout` bounds every command on this
    /// connection (a blocking read needs more than its block time).
    /// `rediss://` is TLS, verified against the system's CAs or those of
    /// [`trust_ca_file`]; `redis+sentinel://` asks the sentinels for the
    /// master ([`sentinel`]); `redis+cluster://` is a Redis Cluster
    /// ([`cluster`]).
    pub async fn connect(url: &str, response_timeout: Duration) -> Result<Self, ConnectError> {
        let shown = redact(url);
        let target = Target::parse(url).map_err(|reason| ConnectError::InvalidUrl {
            url: shown.clone(),
            reason: scrub(&reason, url),
        })?;
        let conn = target.open(&shown, url, response_timeout).await?;
        Ok(Redis {
            target,
            conn,
            shown,
        })
    }

    /// A second connection to the same server (behind Sentinel: to the
    /// master, followed on its own).
    pub async fn another(&self, response_timeout: Duration) -> Result<Self, ConnectError> {
        let conn = self.target.open(&self.shown, "", response_timeout).await?;
        Ok(Redis {
            target: self.target.clone(),
            conn,
            shown: self.shown.clone(),
        })
    }

    /// Whether this is a Redis Cluster (where every key one script touches
    /// must share a hash slot).
    pub fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(_))
    }

    /// The connection (cheap to clone; clones share it).
    pub fn conn(&self) -> Conn {
        self.conn.clone()
    }

    /// The URL for messages, password redacted.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// Run a write script whose success is reported outside Redis (a
    /// producer told its tasks are accepted). With [`wait_for_replicas`],
    /// a `WAIT` follows the script in one pipeline on one connection, so it
    /// covers the script's writes; if fewer replicas confirm in time, a
    /// warning says so (the writes stay: the master has them).
    pub async fn invoke_replicated<T: redis::FromRedisValue>(
        &self,
        conn: &mut Conn,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, redis::RedisError> {
        let Some(&(replicas, timeout)) = WAIT.get() else {
            return invocation.invoke_async(conn).await;
        };
        let mut pipe = redis::pipe();
        pipe.invoke_script(invocation)
            .cmd("WAIT")
            .arg(replicas)
            .arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        let (value, confirmed): (T, u32) = match pipe.query_async(conn).await {
            Err(e) if e.code() == Some("NOSCRIPT") => {
                invocation.load_async(conn).await?;
                pipe.query_async(conn).await?
            }
            other => other?,
        };
        if confirmed < replicas {
            tracing::warn!(
                "Redis at {}: only {confirmed} of {replicas} replicas confirmed a write within {timeout:?} \
                 (--redis-wait-replicas); it is on the master, but a failover now could lose it",
                self.shown
            );
        }
        Ok(value)
    }

    /// Run a script until Redis answers, waiting out outages (logged once
    /// when one starts and once when it ends, as `doing`); an error that is
    /// not an outage is returned.
    pub async fn eval<T: redis::FromRedisValue>(
        &self,
        doing: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, redis::RedisError> {
        let mut conn = self.conn();
        let mut outage = Outage::new(doing);
        loop {
            match invocation.invoke_async::<T>(&mut conn).await {
                Ok(value) => {
                    outage.ok(&self.shown);
                    return Ok(value);
                }
                Err(e) if is_outage(&e) => outage.failed(&self.shown, &e).await,
                Err(e) => return Err(e),
            }
        }
    }
}

/// A reconnecting connection to the server of `client`.
async fn open_manager(
    client: &redis::Client,
    response_timeout: Duration,
) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(response_timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(2));
    ConnectionManager::new_with_config(client.clone(), config).await
}

async fn manager(
    client: &redis::Client,
    shown: &str,
    url: &str,
    response_timeout: Duration,
) -> Result<ConnectionManager, ConnectError> {
    open_manager(client, response_timeout)
        .await
        .map_err(|e| ConnectError::Unreachable {
            url: shown.to_owned(),
            reason: scrub(&e.to_string(), url),
        })
}

/// A connection to the Redis Cluster of `parsed`.
async fn clustered(
    parsed: &ClusterUrl,
    shown: &str,
    url: &str,
    response_timeout: Duration,
) -> Result<Conn, ConnectError> {
    let connection =
        parsed
            .connect(response_timeout)
            .await
            .map_err(|reason| ConnectError::Unreachable {
                url: shown.to_owned(),
                reason: scrub(&reason, url),
            })?;
    Ok(Conn::cluster(connection))
}

/// A connection to the master the sentinels of `parsed` name now, that
/// follows it across failovers.
async fn follow(
    parsed: &SentinelUrl,
    shown: &str,
    url: &str,
    response_timeout: Duration,
) -> Result<Conn, ConnectError> {
    let unreachable = |reason: String| ConnectError::Unreachable {
        url: shown.to_owned(),
        reason: scrub(&reason, url),
    };
    let mut sentinel = Sentinel::new(parsed, response_timeout).map_err(unreachable)?;
    let (address, client) = sentinel.master().await.map_err(|reason| {
        unreachable(format!(
            "no sentinel named a reachable master `{}`: {reason}",
            sentinel.master_name()
        ))
    })?;
    let manager = sentinel
        .connect(client)
        .await
        .map_err(|reason| unreachable(format!("the master at {address}: {reason}")))?;
    Ok(Conn::following(sentinel, manager, address))
}

/// `text` with the password of `url` (if it has one) replaced by `***`:
/// for the client library's own messages, which may quote the URL.
fn scrub(text: &str, url: &str) -> String {
    match password(url) {
        Some(secret) if !secret.is_empty() => text.replace(secret, "***"),
        _ => text.to_owned(),
    }
}

/// The password part of a URL's user info, found without parsing the URL
/// (an invalid URL still carries its secret).
fn password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    match userinfo.split_once(':') {
        Some((_, password)) => Some(password),
        // `redis://SECRET@host` is how a password alone is written.
        None => Some(userinfo),
    }
}

/// The URL with its password (or a lone user info, which Redis URLs use for
/// a password) replaced by `***`, for every message and log line. Works on
/// URLs that do not parse, too.
pub fn redact(url: &str) -> String {
    let Some(secret) = password(url) else {
        return url.to_owned();
    };
    if secret.is_empty() {
        return url.to_owned();
    }
    // The user info ends at the last `@` of the authority; replace the
    // password there only (the same text may appear in the host or path).
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let authority_end = start + rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = url[..authority_end].rfind('@').unwrap_or(start);
    let secret_start = at - secret.len();
    format!("{}***{}", &url[..secret_start], &url[at..])
}

/// Whether `url` names a Redis server: `redis://`, `rediss://` (TLS), the
/// same behind Sentinel (`redis+sentinel://`, `rediss+sentinel://`), or a
/// Redis Cluster (`redis+cluster://`, `rediss+cluster://`).
pub fn is_redis_url(url: &str) -> bool {
    url.starts_with("redis://")
        || url.starts_with("rediss://")
        || sentinel::is_sentinel_url(url)
        || cluster::is_cluster_url(url)
}

/// Whether a Redis error is an outage to wait out (connection trouble, a
/// server still loading its data, a failover under way) rather than a bug.
pub fn is_outage(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_timeout()
        || error.is_unrecoverable_error()
        || matches!(
            error.code(),
            Some("LOADING" | "TRYAGAIN" | "MASTERDOWN" | "READONLY")
        )
}

/// A script: the prelude, then `parts` in order (an owner's shared
/// functions, then the script itself).
pub fn script(parts: &[&str]) -> redis::Script {
    let mut code = String::from(LUA_PRELUDE);
    for part in parts {
        code.push_str(part);
    }
    redis::Script::new(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password_of_valid_and_invalid_urls() {
        let cases = [
            (
                "redis://user:s3cret@host:6379/0",
                "redis://user:***@host:6379/0",
            ),
            ("redis://:s3cret@host/0", "redis://:***@host/0"),
            ("redis://s3cret@host", "redis://***@host"),
            (
                "rediss://u:s3cret@host:notaport/0",
                "rediss://u:***@host:notaport/0",
            ),
            ("redis://u:p@ss@host/0", "redis://u:***@host/0"),
            ("redis://host:6379/0", "redis://host:6379/0"),
            ("not a url", "not a url"),
        ];
        for (url, want) in cases {
            assert_eq!(redact(url), want, "{url}");
        }
    }

    #[test]
    fn the_invalid_url_error_does_not_carry_the_password() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        for url in [
            "redis://user:s3cret@host:notaport/0",
            "redis://user:s3cret@/0",
            "nosuch://user:s3cret@host/0",
        ] {
            let error = runtime
                .block_on(Redis::connect(url, Duration::from_millis(200)))
                .expect_err(url);
            let text = format!("{error} {error:?}");
            assert!(!text.contains("s3cret"), "{text}");
            assert!(text.contains("***"), "{text}");
        }
    }
}
