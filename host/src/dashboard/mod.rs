//! `jobhost dashboard`: a web page over one Redis queue and every host on
//! it: counts, jobs per second over the last hour, live hosts, plugins,
//! schedules and their rounds, and the dead letters, which it can retry or
//! delete (one or all).
//!
//! Security: it listens on loopback unless told otherwise, and refuses to
//! listen anywhere else without `--token` (or `JOBHOST_DASHBOARD_TOKEN`).
//! With a token every request needs it, as HTTP basic auth (any user name,
//! the token as password) or `Authorization: Bearer TOKEN`. Every request
//! that changes state is a `POST` that must also carry the page's CSRF
//! value in `X-Jobhost-Csrf` (a cross-site form cannot set a header) and,
//! when the browser says where it comes from, come from this origin.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Json, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::queue::redis::RedisAdmin;

/// The page (HTML, CSS and JavaScript in one file).
const PAGE: &str = include_str!("index.html");

/// How often the rate history takes a sample, and how many it keeps (an
/// hour).
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const SAMPLES: usize = 720;

/// A consumer idle for longer than this is not shown as live (a working
/// host reads, or renews its leases, every few seconds).
const LIVE_IDLE_MS: u64 = 15_000;

/// Settings of `jobhost dashboard`.
#[derive(Clone)]
pub struct DashboardConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Required of every request when set.
    pub token: Option<String>,
}

impl std::fmt::Debug for DashboardConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardConfig")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

struct Shared {
    admin: RedisAdmin,
    token: Option<String>,
    csrf: String,
    /// (unix ms, done counter) every [`SAMPLE_EVERY`].
    history: Mutex<VecDeque<(u64, u64)>>,
}

/// Check the settings, listen, and serve until the process stops.
pub async fn serve(admin: RedisAdmin, config: DashboardConfig) -> anyhow::Result<()> {
    use anyhow::Context as _;
    if !config.addr.ip().is_loopback() && config.token.is_none() {
        anyhow::bail!(
            "--addr {}: the dashboard listens beyond this machine only with --token (or JOBHOST_DASHBOARD_TOKEN): anyone who reaches it could retry and delete jobs",
            config.addr
        );
    }
    if config.token.as_deref().is_some_and(|t| t.len() < 16) {
        anyhow::bail!("--token: use at least 16 characters");
    }
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("--addr: cannot listen on {}", config.addr))?;
    let bound = listener.local_addr().unwrap_or(config.addr);
    let shared = Arc::new(Shared {
        admin,
        token: config.token,
        csrf: crate::task::new_id(),
        history: Mutex::new(VecDeque::with_capacity(SAMPLES)),
    });
    tokio::spawn(sample(shared.clone()));
    let app = axum::Router::new()
        .route("/", axum::routing::get(page))
        .route("/api/state", axum::routing::get(state))
        .route("/api/dead/retry", axum::routing::post(retry))
        .route("/api/dead/delete", axum::routing::post(delete))
        .with_state(shared);
    eprintln!("jobhost: dashboard at http://{bound}/");
    axum::serve(listener, app)
        .await
        .context("the dashboard's server stopped")
}

/// Record the done counter every [`SAMPLE_EVERY`], an hour's worth.
async fn sample(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tick.tick().await;
        if let Ok(stats) = shared.admin.stats().await {
            let mut history = shared.history.lock().unwrap_or_else(|p| p.into_inner());
            if history.len() == SAMPLES {
                history.pop_front();
            }
            history.push_back((crate::task::now_millis(), stats.done));
        }
    }
}

/// `None` when the request may go on, else the answer that refuses it.
fn refuse(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = &shared.token else {
        return None;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|value| {
            if let Some(bearer) = value.strip_prefix("Bearer ") {
                return Some(bearer.to_owned());
            }
            let basic = value.strip_prefix("Basic ")?;
            use base64::Engine as _;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(basic.trim())
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            text.split_once(':')
                .map(|(_, password)| password.to_owned())
        });
    if given.is_some_and(|given| constant_eq(given.as_bytes(), token.as_bytes())) {
        return None;
    }
    Some(
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"jobhost\"")],
            "the dashboard needs its token (basic auth password, or Authorization: Bearer TOKEN)",
        )
            .into_response(),
    )
}

/// Compare without stopping at the first difference.
fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A state-changing request's own checks: the CSRF header, and a
/// same-origin request when the browser says where it comes from.
fn refuse_change(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    if let Some(refused) = refuse(shared, headers) {
        return Some(refused);
    }
    let csrf = headers.get("x-jobhost-csrf").and_then(|v| v.to_str().ok());
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site != "same-origin" && site != "none");
    let foreign_origin = match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, rest)| rest) != Some(host),
        _ => false,
    };
    if csrf != Some(shared.csrf.as_str()) || cross_site || foreign_origin {
        return Some(
            (
                StatusCode::FORBIDDEN,
                "refused: a change must come from the dashboard's own page (X-Jobhost-Csrf, same origin)",
            )
                .into_response(),
        );
    }
    None
}

async fn page(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse(&shared, &headers) {
        return refused;
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        PAGE.replace("{{CSRF}}", &shared.csrf)
            .replace("{{QUEUE}}", &html_escape(shared.admin.name())),
    )
        .into_response()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn state(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse(&shared, &headers) {
        return refused;
    }
    match gather(&shared).await {
        Ok(value) => ([(header::CACHE_CONTROL, "no-store")], Json(value)).into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error).into_response(),
    }
}

/// Everything the page shows, read from Redis now.
async fn gather(shared: &Shared) -> Result<serde_json::Value, String> {
    let admin = &shared.admin;
    let stats = admin.stats().await.map_err(|e| e.to_string())?;
    let consumers = admin.consumers().await.unwrap_or_default();
    let dead = admin.dead_list().await.map_err(|e| e.to_string())?;
    let store = crate::schedule::store::Store::new(admin.clone());
    let schedules = store.all().await.unwrap_or_default();
    // Each schedule's latest round, with its progress.
    let mut rounds = Vec::new();
    for (_, state) in &schedules {
        if let Some(id) = &state.current {
            if let Ok(Some(round)) = store.round(id).await {
                rounds.push(round);
            }
        }
    }
    let latency = admin.oldest_ready_age().await.ok().flatten();
    let loaded = admin
        .plugins(Duration::from_secs(120))
        .await
        .unwrap_or_default();
    let politeness = admin.politeness(100).await.unwrap_or_default();
    // One line per plugin: its describe() answer, and the hosts and
    // versions it runs as.
    let mut plugins: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    for entry in loaded {
        let name = entry["name"].as_str().unwrap_or_default().to_owned();
        let line = plugins.entry(name).or_insert_with(|| {
            let mut line = entry.clone();
            line["hosts"] = 0.into();
            line["versions"] = serde_json::json!([]);
            line
        });
        line["hosts"] = (line["hosts"].as_u64().unwrap_or(0) + 1).into();
        if let (Some(versions), Some(version)) =
            (line["versions"].as_array_mut(), entry["version"].as_str())
        {
            if !versions.iter().any(|v| v == version) {
                versions.push(version.into());
            }
        }
    }
    // Hosts: consumers named HOST-PID-RANDOM, one per thread.
    let mut hosts: std::collections::BTreeMap<String, (u64, u64, u64)> = Default::default();
    for consumer in consumers.iter().filter(|c| c.idle_ms < LIVE_IDLE_MS) {
        let host = consumer
            .name
            .rsplit_once('-')
            .map_or(consumer.name.as_str(), |(host, _)| host)
            .to_owned();
        let entry = hosts.entry(host).or_insert((0, 0, u64::MAX));
        entry.0 += 1;
        entry.1 += consumer.pending;
        entry.2 = entry.2.min(consumer.idle_ms);
    }
    let history = shared
        .history
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .copied()
        .collect::<Vec<_>>();
    let rates: Vec<serde_json::Value> = history
        .windows(2)
        .map(|pair| {
            let ((t0, d0), (t1, d1)) = (pair[0], pair[1]);
            let seconds = (t1.saturating_sub(t0)) as f64 / 1000.0;
            serde_json::json!({
                "at": t1,
                "jobs_per_s": if seconds > 0.0 { d1.saturating_sub(d0) as f64 / seconds } else { 0.0 },
            })
        })
        .collect();
    let newest_dead: Vec<&serde_json::Value> = dead.iter().rev().take(100).collect();
    Ok(serde_json::json!({
        "queue": admin.name(),
        "counts": stats,
        "latency_s": latency.map(|d| d.as_secs_f64()),
        "rates": rates,
        "hosts": hosts.into_iter().map(|(name, (threads, in_flight, seen))| serde_json::json!({
            "name": name, "threads": threads, "in_flight": in_flight, "seen_ms_ago": seen,
        })).collect::<Vec<_>>(),
        "schedules": schedules.iter().map(|(schedule, state)| serde_json::json!({
            "name": schedule.name,
            "state": state,
            "round": rounds.iter().find(|round| Some(&round.id) == state.current.as_ref()),
        })).collect::<Vec<_>>(),
        "plugins": plugins.into_values().collect::<Vec<_>>(),
        "politeness": politeness,
        "dead_total": dead.len(),
        "dead": newest_dead,
    }))
}

/// Which dead letters a change is for: `{"ids": [...]}`, or `{"all": true}`.
#[derive(Debug, serde::Deserialize)]
struct Which {
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    all: bool,
}

impl Which {
    /// `Ok(None)` for all of them, `Ok(Some(ids))` for some, or why a
    /// request that named none is refused.
    fn targets(self) -> Result<Option<Vec<String>>, &'static str> {
        match (self.all, self.ids.is_empty()) {
            (true, _) => Ok(None),
            (false, false) => Ok(Some(self.ids)),
            (false, true) => Err("name the ids, or all"),
        }
    }
}

/// The answer to a change: `{field: how many}`, or why Redis could not.
fn changed(field: &str, result: Result<u64, crate::queue::QueueError>) -> Response {
    match result {
        Ok(n) => Json(serde_json::json!({ field: n })).into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

async fn retry(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(which): Json<Which>,
) -> Response {
    if let Some(refused) = refuse_change(&shared, &headers) {
        return refused;
    }
    let ids = match which.targets() {
        Ok(targets) => targets.unwrap_or_default(),
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    // No ids: every dead letter.
    let retried = shared.admin.dead_retry(&ids).await.map(|n| n as u64);
    changed("retried", retried)
}

async fn delete(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(which): Json<Which>,
) -> Response {
    if let Some(refused) = refuse_change(&shared, &headers) {
        return refused;
    }
    let deleted = match which.targets() {
        Ok(None) => shared.admin.dead_purge().await,
        Ok(Some(ids)) => shared.admin.dead_delete(&ids).await,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    changed("deleted", deleted)
}
