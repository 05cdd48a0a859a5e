//! `http1`: three clients fetching plain `http://` URLs, driven alike, to
//! weigh the host's own HTTP/1.1 client against the libraries it replaces.
//!
//! - `lean`: `jobhost::fetch::http1::Http1Client`, the host's client (its
//!   connections in a per-thread pool, the exchange in the caller's task).
//! - `hyper-conn`: hyper 1's connection-level client, with no pool and no
//!   connection task: each worker owns one connection and polls its
//!   `Connection` future in its own task, alongside the request.
//! - `reqwest`: a `reqwest::Client` with the settings `Fetcher::new` gives
//!   it (its pool, one spawned task per connection).
//!
//! Each runs as the host runs one shard: W worker tasks on one
//! current-thread tokio runtime, each taking the next request number from a
//! shared counter until N are done, reading every body whole. Every client
//! gets its URLs parsed before the clock starts, in the type it takes.
//! It measures the client, not the host: no redirects, no decoding, no
//! whole-request timeout.

use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use jobhost::fetch::decode::ACCEPT_ENCODING;
use jobhost::fetch::http1::Http1Client;
use jobhost::fetch::policy::{PolicyResolver, UrlPolicy};

use crate::Args;

/// What all three send as `user-agent`.
const USER_AGENT: &str = "jobhost-bench";
/// The host's default connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// `MAX_IDLE_PER_HOST` in host/src/fetch/mod.rs.
const MAX_IDLE_PER_HOST: usize = 256;
/// Far above the fixture's bodies; only the lean client takes a limit.
const BODY_LIMIT: u64 = 16 << 20;

/// The URLs, in each client's own type.
struct Urls {
    /// For `lean` and `reqwest`.
    parsed: Vec<Url>,
    /// For `hyper-conn`: the origin form (path and query) of each URL.
    targets: Vec<Uri>,
    /// The `host` field for `hyper-conn`.
    authority: HeaderValue,
    /// Where `hyper-conn` connects (resolved once, before the clock).
    addr: SocketAddr,
}

impl Urls {
    fn new(base: &str, first: u64, count: u64) -> Result<Self> {
        if count == 0 {
            bail!("--count must be at least 1");
        }
        let parse = |text: &str| {
            Url::parse(text).with_context(|| format!("--base {base}: not a valid URL ({text})"))
        };
        let probe = parse(&format!("{base}{first}"))?;
        if probe.scheme() != "http" {
            bail!("--base {base}: only http:// URLs (the lean client's scope)");
        }
        let host = probe.host_str().context("--base has no host")?.to_owned();
        let port = probe.port_or_known_default().unwrap_or(80);
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .with_context(|| format!("resolving {host}:{port}"))?
            .next()
            .with_context(|| format!("{host}:{port} resolved to no address"))?;
        // The `host` field: the host as written (IPv6 in brackets), and the
        // port only if the URL names one.
        let authority = match probe.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let authority = HeaderValue::from_str(&authority)
            .context("--base: the host and port cannot go in a header")?;
        let mut parsed = Vec::with_capacity(count as usize);
        let mut targets = Vec::with_capacity(count as usize);
        for i in 0..count {
            let url = parse(&format!("{base}{}", first + i))?;
            let target = match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_owned(),
            };
            targets.push(
                target
                    .parse()
                    .with_context(|| format!("{url}: not a request target"))?,
            );
            parsed.push(url);
        }
        Ok(Urls {
            parsed,
            targets,
            authority,
            addr,
        })
    }
}

/// One worker's client: the lean and reqwest clients share their pools
/// between workers; a `hyper-conn` worker owns its connection.
enum Worker {
    Lean(Http1Client),
    HyperConn(HyperConn),
    Reqwest(reqwest::Client),
}

impl Worker {
    /// `GET` URL `index`, read the whole body and return its length; an
    /// error for anything but a 200 with a body.
    async fn get(&mut self, urls: &Urls, index: usize) -> Result<usize> {
        let (status, length) = match self {
            Worker::Lean(client) => {
                let url = &urls.parsed[index];
                let mut exchange = client.get(url, &[]).await?;
                let body = exchange.read_body(BODY_LIMIT).await?;
                let status = exchange.status;
                exchange.finish();
                (status, body.len())
            }
            Worker::HyperConn(conn) => conn.get(urls, index).await?,
            Worker::Reqwest(client) => {
                // reqwest takes its URL by value: the clone is part of its cost.
                let response = client.get(urls.parsed[index].clone()).send().await?;
                let status = response.status().as_u16();
                (status, response.bytes().await?.len())
            }
        };
        match (status, length) {
            (200, 0) => bail!("200 with an empty body"),
            (200, length) => Ok(length),
            (status, _) => bail!("status {status}"),
        }
    }
}

type ConnFuture = Pin<Box<Connection<TokioIo<TcpStream>, Empty<Bytes>>>>;

/// A `hyper-conn` worker: one keep-alive connection, made again when it
/// closes. Its `Connection` future is polled only by the worker's own
/// task, while that task waits for an answer.
struct HyperConn {
    live: Option<(SendRequest<Empty<Bytes>>, ConnFuture)>,
    connects: u64,
}

impl HyperConn {
    async fn get(&mut self, urls: &Urls, index: usize) -> Result<(u16, usize)> {
        let reused = self.live.is_some();
        match self.exchange(urls, index).await {
            Ok(answer) => Ok(answer),
            // The server may have closed an idle connection: a GET that
            // failed before any answer goes again on a new one, as the lean
            // client and reqwest do.
            Err((false, _)) if reused => self.exchange(urls, index).await.map_err(|(_, e)| e),
            Err((_, error)) => Err(error),
        }
    }

    /// One exchange; on failure, whether a response head had arrived.
    async fn exchange(
        &mut self,
        urls: &Urls,
        index: usize,
    ) -> Result<(u16, usize), (bool, anyhow::Error)> {
        if self.live.is_none() {
            let tcp = TcpStream::connect(urls.addr)
                .await
                .and_then(|tcp| tcp.set_nodelay(true).map(|()| tcp))
                .map_err(|e| (false, anyhow!("connecting to {}: {e}", urls.addr)))?;
            self.connects += 1;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|e| (false, anyhow!("handshake: {e}")))?;
            self.live = Some((sender, Box::pin(conn)));
        }
        let (sender, conn) = self.live.as_mut().expect("connected above");
        let request = Request::get(urls.targets[index].clone())
            .header(header::HOST, urls.authority.clone())
            .header(header::USER_AGENT, HeaderValue::from_static(USER_AGENT))
            .header(header::ACCEPT, HeaderValue::from_static("*/*"))
            .header(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static(ACCEPT_ENCODING),
            )
            .body(Empty::new())
            .map_err(|e| (false, e.into()))?;
        let mut answered = false;
        let mut closed = false;
        let outcome = {
            let answered = &mut answered;
            let exchange = async move {
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                *answered = true;
                let status = response.status().as_u16();
                let body = response.into_body().collect().await?.to_bytes();
                Ok::<_, hyper::Error>((status, body.len()))
            };
            tokio::pin!(exchange);
            loop {
                tokio::select! {
                    biased;
                    outcome = &mut exchange => break outcome,
                    // The connection ended (closed, or failed): the exchange
                    // ends too, with the body if it was all in.
                    _ = conn.as_mut(), if !closed => closed = true,
                }
            }
        };
        if closed || outcome.is_err() {
            self.live = None;
        }
        outcome.map_err(|e| (answered, e.into()))
    }
}

/// What the workers of one phase did.
#[derive(Default)]
struct Tally {
    ok: u64,
    bytes: u64,
    failures: u64,
    first_error: Option<String>,
}

/// Run `requests` requests, numbered from `start`, on the workers; give
/// them back (with their connections) for the next phase.
async fn drive(
    workers: Vec<Worker>,
    urls: &Arc<Urls>,
    start: u64,
    requests: u64,
) -> Result<(Vec<Worker>, Tally)> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for mut worker in workers {
        let (next, urls) = (next.clone(), urls.clone());
        tasks.spawn(async move {
            let mut tally = Tally::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= requests {
                    break;
                }
                let index = ((start + n) % urls.parsed.len() as u64) as usize;
                match worker.get(&urls, index).await {
                    Ok(length) => {
                        tally.ok += 1;
                        tally.bytes += length as u64;
                    }
                    Err(error) => {
                        tally.failures += 1;
                        tally
                            .first_error
                            .get_or_insert_with(|| format!("{}: {error:#}", urls.parsed[index]));
                    }
                }
            }
            (worker, tally)
        });
    }
    let mut workers = Vec::new();
    let mut total = Tally::default();
    while let Some(done) = tasks.join_next().await {
        let (worker, tally) = done.context("a worker panicked")?;
        workers.push(worker);
        total.ok += tally.ok;
        total.bytes += tally.bytes;
        total.failures += tally.failures;
        total.first_error = total.first_error.or(tally.first_error);
    }
    Ok((workers, total))
}

fn workers(client: &str, count: usize) -> Result<Vec<Worker>> {
    let policy = Arc::new(UrlPolicy::default());
    Ok(match client {
        "lean" => {
            let lean = Http1Client::new(policy, USER_AGENT, CONNECT_TIMEOUT, MAX_IDLE_PER_HOST)?;
            (0..count).map(|_| Worker::Lean(lean.clone())).collect()
        }
        "hyper-conn" => (0..count)
            .map(|_| {
                Worker::HyperConn(HyperConn {
                    live: None,
                    connects: 0,
                })
            })
            .collect(),
        "reqwest" => {
            // As host/src/fetch/mod.rs `Fetcher::new` builds it.
            let shared = reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .connect_timeout(CONNECT_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(reqwest::header::HeaderMap::from_iter([(
                    reqwest::header::ACCEPT_ENCODING,
                    HeaderValue::from_static(ACCEPT_ENCODING),
                )]))
                .dns_resolver(Arc::new(PolicyResolver::new(policy)))
                .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
                .tcp_nodelay(true)
                .build()
                .context("building the reqwest client")?;
            (0..count)
                .map(|_| Worker::Reqwest(shared.clone()))
                .collect()
        }
        other => bail!("--client must be lean, hyper-conn or reqwest, got `{other}`"),
    })
}

/// The process's user + system CPU time so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// This process's established TCP connections to `server`, from
/// /proc/self/fd and /proc/net/tcp{,6} (Linux; `None` elsewhere).
fn open_connections(server: SocketAddr) -> Option<u64> {
    let mut ours = std::collections::HashSet::new();
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
            {
                ours.insert(inode.to_owned());
            }
        }
    }
    // Lines: `sl local_address rem_address st ... inode ...`; addresses in
    // hex, state 01 is ESTABLISHED. Matching the remote port is enough on a
    // benchmark's loopback.
    let port = format!(":{:04X}", server.port());
    let mut count = 0;
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 9
                && fields[2].ends_with(&port)
                && fields[3] == "01"
                && ours.contains(fields[9])
            {
                count += 1;
            }
        }
    }
    Some(count)
}

/// The subcommand: build the client, warm it up (its connections stay
/// open), then time `--requests` requests and report one JSON object.
pub fn http1(args: &Args) -> Result<Value> {
    let client = args
        .get("client")
        .context("--client lean|hyper-conn|reqwest is required")?
        .to_owned();
    let base = args
        .get("base")
        .context("--base http://HOST:PORT/PATH/ is required")?;
    let urls = Arc::new(Urls::new(
        base,
        args.num("first", 100_000)?,
        args.num("count", 10_000)?,
    )?);
    let requests = args.num("requests", 100_000)?;
    let warmup = args.num("warmup", 500)?;
    let worker_count = args.num("workers", 64)?.max(1);
    let workers = workers(&client, worker_count as usize)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (workers, warm) = drive(workers, &urls, 0, warmup).await?;
        let cpu = cpu_time();
        let started = Instant::now();
        let (workers, timed) = drive(workers, &urls, warmup, requests).await?;
        let seconds = started.elapsed().as_secs_f64();
        let cpu_us = (cpu_time() - cpu).as_secs_f64() * 1e6;
        if timed.ok == 0 {
            bail!(
                "every request failed: {}",
                timed.first_error.unwrap_or_default()
            );
        }
        // Made over the whole run, warm-up included (64 workers: 64).
        let connections = workers
            .iter()
            .map(|w| match w {
                Worker::HyperConn(conn) => Some(conn.connects),
                _ => None,
            })
            .sum::<Option<u64>>();
        Ok(json!({
            "what": "http1",
            "client": client,
            "requests": requests,
            "workers": worker_count,
            "seconds": seconds,
            "requests_per_s": requests as f64 / seconds,
            "cpu_us_per_request": cpu_us / requests as f64,
            "connections": connections,
            // The connections still open at the end: for the pooled
            // clients, those in their pools, which is every connection they
            // opened unless one was closed (then `failures` or a server's
            // keep-alive limit shows it).
            "open_connections": open_connections(urls.addr),
            "ok": timed.ok,
            "failures": timed.failures,
            "first_error": timed.first_error,
            "body_bytes": timed.bytes,
            "warmup": warmup,
            "warmup_failures": warm.failures,
        }))
    })
}
