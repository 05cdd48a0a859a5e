//! chaos, the plugin the host's integration tests drive: each task picks a
//! behaviour with its metadata key `action` (default `ok`), from well-behaved
//! records to panics, traps, endless loops and key-value round trips. It owns
//! nothing else and is not shipped; it claims `*/chaos/*` URLs.
//!
//! Actions and the metadata they read:
//!
//! | action        | does                                                           |
//! |---------------|----------------------------------------------------------------|
//! | `ok`          | one record `{"url","attempt","status","body","version"}` (body as lossy UTF-8) |
//! | `panic`       | `panic!("chaos panic: <message|boom>")`                        |
//! | `trap`        | executes `unreachable`                                         |
//! | `fail`        | `fail(<message|"chaos fail">)`                                 |
//! | `retry`       | `retry(<message|"chaos retry">, delay_ms)`                     |
//! | `retry-until` | retry while `attempt < succeed_at` (with `delay_ms`), then `ok`|
//! | `loop`        | spins forever (until the host's deadline)                      |
//! | `busy`        | spins for `ms` milliseconds (default 100), then like `ok`      |
//! | `grow`        | allocates and touches `mb` MiB (default 1024): a memory bomb   |
//! | `recurse`     | recurses without end: a stack overflow                          |
//! | `big-record`  | one record of about `kb` KiB (default 1024)                     |
//! | `many-follow-ups` | `count` follow-ups (default 10000)                          |
//! | `read-file`   | tries to read `path` (default /etc/passwd); record `{"ok","error"}` |
//! | `env`         | record `{"vars": [names], "args": [...]}` of its environment   |
//! | `socket`      | tries a TCP connect to `addr`; record `{"ok","error"}`          |
//! | `http`        | GET `url` through wasi:http; record `{"ok","status","body","error"}` |
//! | `static`      | record `{"calls": n}`: calls seen by this instance (1 when fresh) |
//! | `print`       | prints about `kb` KiB (default 1024) to stdout, then like `ok` |
//! | `kv`          | set/get/delete round trip on `probe:<task id>`, then increments `key` (default `counter`); record `{"value": n}` |
//! | `kv-add`      | (first busy for `ms` milliseconds, if given) sets `attempt:<task id>` to the attempt and adds 1 to `key` (default `adds`), reads both back (its own pending writes; not with `read=no`; with `increment=N`, instead increments `key` by N at once and records `{"attempt", "incremented"}`), then retries (`delay_ms` 0) while `attempt < succeed_at` (default 1); record `{"attempt": n, "seen": <key as this job sees it, or null>}` |
//! | `stamp`       | record `{"started_ns": n}`: the wall clock (ns since the Unix epoch) when the call began (the benchmark's enqueue-to-start latency) |
//! | `follow`      | one follow-up per URL in `urls` (comma separated), metadata `action=ok`; no records |
//! | `log`         | one log line per level; record `{"logged": 5}`                 |
//! | `records`     | `count` (default 3) records `{"n": 0}`, `{"n": 1}`, ...        |
//!
//! Any other action fails with "unknown chaos action `X`"; a malformed number
//! in `delay_ms`, `succeed_at` or `count` fails naming the key.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit" });

use jobhost::plugin::kv;
use jobhost::plugin::log::{self, Level};
use jobhost::plugin::types::{FollowUp, Limits, RetryError, SinkRecord};
use serde::Serialize;
use serde_json::json;
use std::str::FromStr;

struct Chaos;

/// The record of the `ok` action; field order is the JSON key order.
#[derive(Serialize)]
struct Echo<'a> {
    url: &'a str,
    attempt: u32,
    status: u16,
    body: &'a str,
    version: &'a str,
}

/// Limits asked for in `describe()`: `CHAOS_TIMEOUT_MS` and
/// `CHAOS_MEMORY_MB` at build time (the second test build sets them).
fn requested_limits() -> Option<Limits> {
    let timeout_ms = option_env!("CHAOS_TIMEOUT_MS").and_then(|v| v.parse().ok());
    let memory_bytes = option_env!("CHAOS_MEMORY_MB")
        .and_then(|v| v.parse::<u64>().ok())
        .map(|mb| mb << 20);
    (timeout_ms.is_some() || memory_bytes.is_some()).then_some(Limits {
        timeout_ms,
        memory_bytes,
    })
}

/// The plugin's version: `CHAOS_VERSION` at build time (the hot-reload test
/// builds a second version this way), else the crate's.
const VERSION: &str = match option_env!("CHAOS_VERSION") {
    Some(version) => version,
    None => env!("CARGO_PKG_VERSION"),
};

impl Guest for Chaos {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "chaos".to_string(),
            version: VERSION.to_string(),
            description: "Misbehaves on request, for the host's integration tests".to_string(),
            url_patterns: vec!["*/chaos/*".to_string()],
            content_types: Vec::new(),
            limits: requested_limits(),
        }
    }

    fn handle(task: Task, content: Content) -> Result<Outcome, HandleError> {
        // First, so that `stamp` says when the call began.
        let entered = std::time::SystemTime::now();
        let action = metadata(&task, "action").unwrap_or("ok");
        let message = metadata(&task, "message");
        match action {
            "ok" => ok(&task, &content),
            "panic" => panic!("chaos panic: {}", message.unwrap_or("boom")),
            "trap" => trap(),
            "fail" => Err(HandleError::Fail(
                message.unwrap_or("chaos fail").to_string(),
            )),
            "retry" => Err(HandleError::Retry(RetryError {
                message: message.unwrap_or("chaos retry").to_string(),
                delay_ms: number(&task, "delay_ms")?,
            })),
            "retry-until" => {
                let succeed_at: u32 = number(&task, "succeed_at")?.ok_or_else(|| {
                    HandleError::Fail("missing metadata `succeed_at`".to_string())
                })?;
                if task.attempt < succeed_at {
                    Err(HandleError::Retry(RetryError {
                        message: format!(
                            "chaos retry-until: attempt {} of {succeed_at}",
                            task.attempt
                        ),
                        delay_ms: number(&task, "delay_ms")?,
                    }))
                } else {
                    ok(&task, &content)
                }
            }
            "loop" => spin(),
            "busy" => {
                // Busy for `ms` milliseconds of wall time (the monotonic
                // clock is the one capability a plugin has), then "ok".
                busy(number(&task, "ms")?.unwrap_or(100));
                ok(&task, &content)
            }
            "stamp" => {
                let started_ns = entered
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |since| since.as_nanos() as u64);
                Ok(records([json!({ "started_ns": started_ns })
                    .to_string()
                    .into_bytes()]))
            }
            "kv" => kv_action(&task),
            "kv-add" => kv_add_action(&task),
            "follow" => follow(&task),
            "log" => {
                let levels = [
                    (Level::Trace, "trace"),
                    (Level::Debug, "debug"),
                    (Level::Info, "info"),
                    (Level::Warn, "warn"),
                    (Level::Error, "error"),
                ];
                for (level, name) in levels {
                    log::log(level, &format!("chaos log at {name}"));
                }
                Ok(records([json!({ "logged": levels.len() })
                    .to_string()
                    .into_bytes()]))
            }
            // The records the payload lists, as given: `{"records":
            // [{"content_type": "...", "data": <JSON value>}, ...]}` (the
            // database sink's tests choose tables, operations and fields).
            "emit" => emit(&content),
            "records" => {
                let count: u32 = number(&task, "count")?.unwrap_or(3);
                Ok(records(
                    (0..count).map(|n| json!({ "n": n }).to_string().into_bytes()),
                ))
            }
            "grow" => {
                // A memory bomb: allocate and touch `mb` MiB.
                let mb: usize = number(&task, "mb")?.unwrap_or(1024);
                let mut blocks = Vec::new();
                for _ in 0..mb {
                    blocks.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
                Ok(records([json!({ "grew_mb": blocks.len() })
                    .to_string()
                    .into_bytes()]))
            }
            "recurse" => Ok(records([json!({ "depth": recurse(0) })
                .to_string()
                .into_bytes()])),
            "big-record" => {
                let kb: usize = number(&task, "kb")?.unwrap_or(1024);
                Ok(records([json!({ "blob": "x".repeat(kb * 1024) })
                    .to_string()
                    .into_bytes()]))
            }
            "many-follow-ups" => {
                let n: u32 = number(&task, "count")?.unwrap_or(10_000);
                Ok(Outcome {
                    records: Vec::new(),
                    follow_ups: (0..n)
                        .map(|i| FollowUp {
                            url: format!("https://example.invalid/{i}"),
                            plugin: None,
                            metadata: Vec::new(),
                        })
                        .collect(),
                })
            }
            // Reach for what a plugin must not have; report what happened.
            "read-file" => {
                let path = metadata(&task, "path").unwrap_or("/etc/passwd");
                let result = std::fs::read(path);
                Ok(records([json!({
                    "ok": result.is_ok(),
                    "error": result.err().map(|e| e.to_string()),
                })
                .to_string()
                .into_bytes()]))
            }
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let args: Vec<String> = std::env::args().collect();
                Ok(records([json!({ "vars": vars, "args": args })
                    .to_string()
                    .into_bytes()]))
            }
            "socket" => {
                let addr = metadata(&task, "addr").unwrap_or("127.0.0.1:6379");
                let result = std::net::TcpStream::connect(addr);
                Ok(records([json!({
                    "ok": result.is_ok(),
                    "error": result.err().map(|e| e.to_string()),
                })
                .to_string()
                .into_bytes()]))
            }
            "static" => {
                // Counts calls in the instance's own memory: 1 every time on
                // fresh instances; rising when the host reuses an instance.
                static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let calls = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                Ok(records([json!({ "calls": calls })
                    .to_string()
                    .into_bytes()]))
            }
            "print" => {
                // A chatty plugin: print `kb` KiB to stdout, then "ok".
                let kb: usize = number(&task, "kb")?.unwrap_or(1024);
                for i in 0..kb * 16 {
                    println!("chatter line {i:>50}");
                }
                ok(&task, &content)
            }
            "random" => {
                // `bytes` bytes from wasi:random's get-random-bytes.
                let len: u64 = number(&task, "bytes")?.unwrap_or(32);
                let bytes = wasi::random::random::get_random_bytes(len);
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                Ok(records([json!({ "len": bytes.len(), "hex": hex })
                    .to_string()
                    .into_bytes()]))
            }
            "http" => {
                let url = metadata(&task, "url").unwrap_or("http://127.0.0.1:9/");
                let result = outbound_get(url);
                Ok(records([json!({
                    "ok": result.is_ok(),
                    "status": result.as_ref().ok().map(|(status, _)| *status),
                    "body": result.as_ref().ok().map(|(_, body)| body.clone()),
                    "error": result.err(),
                })
                .to_string()
                .into_bytes()]))
            }
            other => Err(HandleError::Fail(format!("unknown chaos action `{other}`"))),
        }
    }
}

/// GET `url` (plain `http://host[:port]/path`) through wasi:http.
fn outbound_get(url: &str) -> Result<(u16, String), String> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, OutgoingRequest, Scheme};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| "bad scheme".to_string())?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "bad authority".to_string())?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "bad path".to_string())?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken twice".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|()| "no body".to_string())?;
    let stream = body.stream().map_err(|()| "no body stream".to_string())?;
    let mut bytes = Vec::new();
    while let Ok(chunk) = stream.blocking_read(64 * 1024) {
        bytes.extend_from_slice(&chunk);
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

/// Unbounded recursion that the optimiser cannot turn into a loop.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 16]);
    recurse(depth + 1) + frame[0]
}

/// The first value of metadata `key`.
fn metadata<'a>(task: &'a Task, key: &str) -> Option<&'a str> {
    task.metadata
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

/// Metadata `key` parsed as a number, if present.
fn number<T: FromStr>(task: &Task, key: &str) -> Result<Option<T>, HandleError> {
    metadata(task, key)
        .map(|text| {
            text.trim().parse().map_err(|_| {
                HandleError::Fail(format!(
                    "metadata `{key}` must be a non-negative integer, got `{text}`"
                ))
            })
        })
        .transpose()
}

/// The records `{"records": [{"content_type", "data"}]}` in the body lists.
fn emit(content: &Content) -> Result<Outcome, HandleError> {
    let listed: serde_json::Value = serde_json::from_slice(&content.body)
        .map_err(|error| HandleError::Fail(format!("emit: the body is not JSON: {error}")))?;
    let records = listed["records"]
        .as_array()
        .ok_or_else(|| HandleError::Fail("emit: the body has no `records` array".to_string()))?
        .iter()
        .map(|record| SinkRecord {
            content_type: record["content_type"]
                .as_str()
                .unwrap_or("application/json")
                .to_string(),
            data: record["data"].to_string().into_bytes(),
        })
        .collect();
    Ok(Outcome {
        records,
        follow_ups: Vec::new(),
    })
}

/// An outcome with one JSON record per encoded value and no follow-ups.
fn records(encoded: impl IntoIterator<Item = Vec<u8>>) -> Outcome {
    Outcome {
        records: encoded
            .into_iter()
            .map(|data| SinkRecord {
                content_type: "application/json".to_string(),
                data,
            })
            .collect(),
        follow_ups: Vec::new(),
    }
}

fn ok(task: &Task, content: &Content) -> Result<Outcome, HandleError> {
    let body = String::from_utf8_lossy(&content.body);
    let echo = Echo {
        url: &task.url,
        attempt: task.attempt,
        status: content.status,
        body: &body,
        version: VERSION,
    };
    // A struct, not `json!`, so that the keys keep this order.
    let data = serde_json::to_vec(&echo)
        .map_err(|error| HandleError::Fail(format!("cannot encode the record: {error}")))?;
    Ok(records([data]))
}

/// Trap without going through the panic machinery.
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

/// Spin until the host interrupts us; `black_box` keeps the optimiser from
/// proving the loop useless.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// Key-value errors are reported as retries, as a real plugin would.
fn kv_error(operation: &str, key: &str, error: String) -> HandleError {
    HandleError::Retry(RetryError {
        message: format!("kv {operation} `{key}` failed: {error}"),
        delay_ms: None,
    })
}

fn kv_action(task: &Task) -> Result<Outcome, HandleError> {
    // The probe key is per task so that concurrent jobs do not disturb each
    // other's round trip.
    let probe = format!("probe:{}", task.id);
    let value = format!("chaos probe {} attempt {}", task.id, task.attempt).into_bytes();
    let broken = |what: String| HandleError::Fail(format!("kv round trip on `{probe}`: {what}"));

    kv::set(&probe, &value).map_err(|e| kv_error("set", &probe, e))?;
    let read = kv::get(&probe).map_err(|e| kv_error("get", &probe, e))?;
    if read.as_deref() != Some(value.as_slice()) {
        return Err(broken(format!("get returned {read:?} after set")));
    }
    if !kv::delete(&probe).map_err(|e| kv_error("delete", &probe, e))? {
        return Err(broken("delete said the key did not exist".to_string()));
    }
    let gone = kv::get(&probe).map_err(|e| kv_error("get", &probe, e))?;
    if gone.is_some() {
        return Err(broken(format!("get returned {gone:?} after delete")));
    }

    let key = metadata(task, "key").unwrap_or("counter");
    let value = kv::increment(key, 1).map_err(|e| kv_error("increment", key, e))?;
    Ok(records([json!({ "value": value })
        .to_string()
        .into_bytes()]))
}

/// Spin for `ms` milliseconds of wall time (the monotonic clock is the one
/// capability a plugin has).
fn busy(ms: u64) {
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn kv_add_action(task: &Task) -> Result<Outcome, HandleError> {
    if let Some(ms) = number::<u64>(task, "ms")? {
        busy(ms);
    }
    let mark = format!("attempt:{}", task.id);
    let attempt = task.attempt.to_string();
    kv::set(&mark, attempt.as_bytes()).map_err(|e| kv_error("set", &mark, e))?;
    let key = metadata(task, "key").unwrap_or("adds");
    kv::add(key, 1).map_err(|e| kv_error("add", key, e))?;
    if let Some(delta) = number::<i64>(task, "increment")? {
        // Immediate: the pending add goes to the store first.
        let value = kv::increment(key, delta).map_err(|e| kv_error("increment", key, e))?;
        return Ok(records([
            json!({ "attempt": task.attempt, "incremented": value })
                .to_string()
                .into_bytes(),
        ]));
    }
    if metadata(task, "read") == Some("no") {
        return Ok(records([json!({ "attempt": task.attempt, "seen": null })
            .to_string()
            .into_bytes()]));
    }

    // The job reads its own pending writes.
    let read = kv::get(&mark).map_err(|e| kv_error("get", &mark, e))?;
    if read.as_deref() != Some(attempt.as_bytes()) {
        return Err(HandleError::Fail(format!(
            "get `{mark}` returned {read:?} after set"
        )));
    }
    let seen = kv::get(key)
        .map_err(|e| kv_error("get", key, e))?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| HandleError::Fail(format!("`{key}` is not a number after add")))?;

    let succeed_at: u32 = number(task, "succeed_at")?.unwrap_or(1);
    if task.attempt < succeed_at {
        return Err(HandleError::Retry(RetryError {
            message: format!("chaos kv-add: attempt {} of {succeed_at}", task.attempt),
            delay_ms: Some(0),
        }));
    }
    Ok(records([json!({ "attempt": task.attempt, "seen": seen })
        .to_string()
        .into_bytes()]))
}

fn follow(task: &Task) -> Result<Outcome, HandleError> {
    let urls = metadata(task, "urls").unwrap_or("");
    let follow_ups = urls
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| FollowUp {
            url: url.to_string(),
            plugin: None,
            metadata: vec![("action".to_string(), "ok".to_string())],
        })
        .collect();
    Ok(Outcome {
        records: Vec::new(),
        follow_ups,
    })
}

export!(Chaos);
