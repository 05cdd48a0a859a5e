//! The lean HTTP/1.1 client: one `GET` exchange on a plain `http://` URL,
//! over a keep-alive connection from a pool that belongs to the calling
//! thread.
//!
//! A host runs its workers in shards, one single-threaded runtime per
//! thread (see `shards.rs`), so a per-thread pool needs no lock and a
//! connection is only ever used by the thread that made it. It does one
//! exchange and nothing else: the fetcher follows redirects, applies the
//! whole-request timeout and the body limit, and hands `https://` URLs (and
//! every URL, when a proxy is configured) to reqwest.
//!
//! It speaks the protocol itself, in the worker's own task: one write of
//! the request, then the response read through [`framing`], the sans-IO
//! module that owns RFC 9112's rules for where a response ends (the head,
//! a `content-length`, `chunked`, or until the server closes). This file
//! only moves bytes between the socket and that module, and keeps the
//! connections. There is no connection task, no channel between the two
//! and no header map. What that saves against hyper's client is in
//! BENCHMARKS.md (Optimisations, the lean client).

pub mod framing;

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::{Position, Url};

use self::framing::{parse_head, BodyReader, Framing, FramingError, Head, Parsed};
use super::policy::{resolve, Unresolved, UrlPolicy};

/// Idle connections older than this are closed rather than reused
/// (reqwest's default too; servers usually close theirs after 60–75 s).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// How often, at most, the pool is swept of closed and expired connections
/// to hosts that are no longer asked for.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// A connection's read buffer: the usual response fits in one read.
const READ_BUFFER: usize = 8 * 1024;

/// A pooled connection whose buffer grew past this gets a new, small one.
const KEEP_BUFFER: usize = 64 * 1024;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum Http1Error {
    /// The URL cannot be sent as an HTTP/1.1 request.
    #[error("{0}")]
    BadUrl(String),
    /// The policy refused the name or its addresses, or the lookup failed.
    #[error(transparent)]
    Unresolved(#[from] Unresolved),
    /// No address accepted a connection.
    #[error("connecting to {addr}: {error}")]
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// Why it failed.
        error: io::Error,
    },
    /// Connecting took longer than the connect timeout.
    #[error("connecting to {0} timed out")]
    ConnectTimeout(SocketAddr),
    /// The connection failed, or closed, during the exchange.
    #[error("{what}: {error}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        error: io::Error,
    },
    /// The server's answer is not valid HTTP/1.1.
    #[error("invalid HTTP response: {0}")]
    Protocol(String),
    /// The server's answer breaks the message framing of RFC 9112.
    #[error("invalid HTTP response: {0}")]
    Framing(FramingError),
}

impl Http1Error {
    fn io(what: &'static str, error: io::Error) -> Self {
        Http1Error::Io { what, error }
    }

    fn closed(what: &'static str) -> Self {
        Http1Error::io(
            what,
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ),
        )
    }
}

/// Why reading a body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is longer than the limit it was read with.
    #[error("the body exceeds {0} bytes")]
    TooLarge(u64),
    /// The connection failed, or the body is malformed.
    #[error(transparent)]
    Failed(#[from] Http1Error),
}

impl From<FramingError> for BodyError {
    fn from(error: FramingError) -> Self {
        match error {
            FramingError::TooLarge(limit) => BodyError::TooLarge(limit),
            other => BodyError::Failed(Http1Error::Framing(other)),
        }
    }
}

/// The client: settings only; the connections live in a per-thread pool.
#[derive(Debug, Clone)]
pub struct Http1Client {
    policy: Arc<UrlPolicy>,
    user_agent: Box<str>,
    connect_timeout: Duration,
    max_idle_per_host: usize,
}

/// The user agent is not a valid header value.
#[derive(Debug, thiserror::Error)]
#[error("the user agent {0:?} is not a valid header value (control characters?)")]
pub struct InvalidUserAgent(String);

/// A response whose body is still to be read: [`Exchange::read_body`],
/// then [`Exchange::finish`] to give the connection back to the pool.
pub struct Exchange<'u> {
    /// The status code.
    pub status: u16,
    /// The header fields in the order received, names in lower case.
    pub headers: Vec<(String, String)>,
    conn: Connection,
    framing: Framing,
    /// The connection may serve another request once the body is read.
    reusable: bool,
    host: &'u str,
    port: u16,
    max_idle: usize,
}

impl Exchange<'_> {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }

    /// Read the whole body, or fail with [`BodyError::TooLarge`] as soon as
    /// it is known to exceed `limit` bytes.
    pub async fn read_body(&mut self, limit: u64) -> Result<Vec<u8>, BodyError> {
        let mut reader = BodyReader::new(self.framing, limit)?;
        // A declared length is within the limit: one allocation for it.
        let mut body = Vec::with_capacity(reader.declared().unwrap_or(0) as usize);
        loop {
            let progress = reader.read(self.conn.buffered(), &mut body)?;
            self.conn.consume(progress.consumed);
            if progress.done {
                break;
            }
            let read = match reader.owed() {
                // The rest of a length-framed body straight from the socket
                // into the body, never past its end (nothing else is owed
                // on this connection).
                Some(owed) => {
                    let read = (&mut self.conn.stream)
                        .take(owed)
                        .read_buf(&mut body)
                        .await
                        .map_err(|error| Http1Error::io("reading the body", error))?;
                    reader.appended(read);
                    read
                }
                None => self.conn.fill().await?,
            };
            if read == 0 {
                reader.closed()?;
                break;
            }
        }
        self.framing = Framing::Done;
        Ok(body)
    }

    /// The body has been read to its end: keep the connection for the next
    /// request to the same host and port, if the server allows it.
    pub fn finish(self) {
        // Bytes after the response (nothing was asked for) mean the two
        // sides disagree on where it ended: never reuse such a connection.
        if self.framing == Framing::Done && self.reusable && self.conn.buffered().is_empty() {
            let mut conn = self.conn;
            if conn.buf.capacity() > KEEP_BUFFER {
                conn.buf = Vec::with_capacity(READ_BUFFER);
            }
            conn.buf.clear();
            conn.pos = 0;
            POOL.with(|pool| {
                pool.borrow_mut()
                    .put(self.host, self.port, conn, self.max_idle)
            });
        }
    }
}

/// A connection and its read buffer (unread bytes are `buf[pos..]`).
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Connection {
    fn new(stream: TcpStream) -> Self {
        Connection {
            stream,
            buf: Vec::with_capacity(READ_BUFFER),
            pos: 0,
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Read what the socket has into the buffer; `Ok(0)` once it is closed.
    async fn fill(&mut self) -> Result<usize, Http1Error> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            self.buf.reserve(READ_BUFFER);
        }
        self.stream
            .read_buf(&mut self.buf)
            .await
            .map_err(|error| Http1Error::io("reading the response", error))
    }

    /// The server has closed (or sent something on) this idle connection,
    /// as far as the runtime has already seen; costs no system call while
    /// the socket has shown no sign of either.
    fn is_stale(&self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.stream.poll_read_ready(&mut cx) {
            Poll::Pending => false,
            Poll::Ready(Err(_)) => true,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                !matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }
}

/// How an exchange on a connection failed.
enum Failure {
    /// The server closed the connection before any byte of an answer
    /// came, or, on a connection from the pool, answered 408: it had timed
    /// the idle connection out. On a pooled connection the request goes
    /// again on a new one (a `GET` is safe to repeat).
    Retry(Http1Error),
    /// Anything later, or on a new connection.
    Final(Http1Error),
}

impl Http1Client {
    /// A client that resolves names through `policy`.
    pub fn new(
        policy: Arc<UrlPolicy>,
        user_agent: &str,
        connect_timeout: Duration,
        max_idle_per_host: usize,
    ) -> Result<Self, InvalidUserAgent> {
        if !valid_field(user_agent.as_bytes()) {
            return Err(InvalidUserAgent(user_agent.to_owned()));
        }
        Ok(Http1Client {
            policy,
            user_agent: user_agent.into(),
            connect_timeout,
            max_idle_per_host,
        })
    }

    /// Send `GET url` (an `http://` URL the policy has already allowed by
    /// name), with the `extra` header fields, and return once the status
    /// and headers have arrived.
    pub async fn get<'u>(
        &self,
        url: &'u Url,
        extra: &[(http::HeaderName, http::HeaderValue)],
    ) -> Result<Exchange<'u>, Http1Error> {
        let host = url
            .host_str()
            .ok_or_else(|| Http1Error::BadUrl("the URL has no host".into()))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let request = self.request(url, host, extra)?;
        // A pooled connection first. The server may have closed it, or
        // timed it out with a 408, since: a GET that fails that way on a
        // pooled connection is sent once more, on a new connection (as
        // browsers do; reqwest does it for the close). That 408 is about
        // the idle connection, not this request, so it never reaches the
        // caller.
        if let Some(conn) = POOL.with(|pool| pool.borrow_mut().take(host, port)) {
            match exchange(conn, &request, Pooled::Yes).await {
                Ok((conn, head)) => return Ok(self.exchange(conn, head, host, port)),
                Err(Failure::Retry(error)) => {
                    tracing::debug!(
                        "a pooled connection to {host}:{port} failed ({error}); using a new one"
                    );
                }
                Err(Failure::Final(error)) => return Err(error),
            }
        }
        let conn = self.connect(url, host, port).await?;
        match exchange(conn, &request, Pooled::No).await {
            Ok((conn, head)) => Ok(self.exchange(conn, head, host, port)),
            Err(Failure::Retry(error) | Failure::Final(error)) => Err(error),
        }
    }

    fn exchange<'u>(&self, conn: Connection, head: Head, host: &'u str, port: u16) -> Exchange<'u> {
        Exchange {
            status: head.status,
            headers: head.headers,
            conn,
            framing: head.framing,
            reusable: head.reusable,
            host,
            port,
            max_idle: self.max_idle_per_host,
        }
    }

    /// The request's bytes: origin form (the path and query, already
    /// percent-encoded by the URL parser; the fragment is never sent). The
    /// `extra` fields were checked when they were made (`HeaderValue`
    /// holds no CR or LF).
    fn request(
        &self,
        url: &Url,
        host: &str,
        extra: &[(http::HeaderName, http::HeaderValue)],
    ) -> Result<Vec<u8>, Http1Error> {
        let target = &url[Position::BeforePath..Position::AfterQuery];
        let target = if target.is_empty() { "/" } else { target };
        let authority = &url[Position::BeforeHost..Position::AfterPort];
        if !valid_token(target.as_bytes()) || !valid_token(authority.as_bytes()) {
            return Err(Http1Error::BadUrl(format!(
                "the URL for {host} holds characters that cannot go in a request line"
            )));
        }
        let mut request =
            Vec::with_capacity(64 + target.len() + authority.len() + self.user_agent.len());
        request.extend_from_slice(b"GET ");
        request.extend_from_slice(target.as_bytes());
        request.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        request.extend_from_slice(authority.as_bytes());
        request.extend_from_slice(b"\r\nuser-agent: ");
        request.extend_from_slice(self.user_agent.as_bytes());
        request.extend_from_slice(b"\r\naccept: */*\r\naccept-encoding: ");
        request.extend_from_slice(super::decode::ACCEPT_ENCODING.as_bytes());
        for (name, value) in extra {
            request.extend_from_slice(b"\r\n");
            request.extend_from_slice(name.as_str().as_bytes());
            request.extend_from_slice(b": ");
            request.extend_from_slice(value.as_bytes());
        }
        request.extend_from_slice(b"\r\n\r\n");
        Ok(request)
    }

    async fn connect(&self, url: &Url, host: &str, port: u16) -> Result<Connection, Http1Error> {
        let addrs = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
            _ => resolve(&self.policy, host, port).await?,
        };
        let mut failure = None;
        for addr in addrs {
            let stream =
                match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        failure = Some(Http1Error::Connect { addr, error });
                        continue;
                    }
                    Err(_) => {
                        failure = Some(Http1Error::ConnectTimeout(addr));
                        continue;
                    }
                };
            // Requests are single small writes: send each at once.
            stream
                .set_nodelay(true)
                .map_err(|error| Http1Error::Connect { addr, error })?;
            return Ok(Connection::new(stream));
        }
        Err(failure.unwrap_or_else(|| Http1Error::BadUrl(format!("{host} resolved to no address"))))
    }
}

/// Whether a connection came from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pooled {
    Yes,
    No,
}

/// Send `request` on `conn` and read the answer's head (skipping interim
/// 1xx answers).
async fn exchange(
    mut conn: Connection,
    request: &[u8],
    pooled: Pooled,
) -> Result<(Connection, Head), Failure> {
    if let Err(error) = conn.stream.write_all(request).await {
        return Err(Failure::Retry(Http1Error::io("sending the request", error)));
    }
    let mut answered = false;
    loop {
        if !conn.buffered().is_empty() {
            answered = true;
            match parse_head(conn.buffered()) {
                Ok(Parsed::Interim(length)) => {
                    conn.consume(length);
                    continue;
                }
                Ok(Parsed::Final(head, length)) => {
                    // RFC 9110 section 15.5.9: a server may send 408 on an
                    // idle connection before closing it; the client may
                    // then repeat the request on a new connection.
                    if head.status == 408 && pooled == Pooled::Yes {
                        return Err(Failure::Retry(Http1Error::Protocol(
                            "the server timed out the idle connection (408)".into(),
                        )));
                    }
                    conn.consume(length);
                    return Ok((conn, head));
                }
                Ok(Parsed::Partial) => {}
                Err(error) => return Err(Failure::Final(Http1Error::Framing(error))),
            }
        }
        match conn.fill().await {
            Ok(0) if answered => {
                return Err(Failure::Final(Http1Error::closed(
                    "reading the response head",
                )))
            }
            Ok(0) => {
                return Err(Failure::Retry(Http1Error::closed(
                    "waiting for the response",
                )))
            }
            Ok(_) => {}
            Err(error) if answered => return Err(Failure::Final(error)),
            Err(error) => return Err(Failure::Retry(error)),
        }
    }
}

/// No control characters, spaces or DEL: safe in a request line.
fn valid_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| b > b' ' && b != 0x7f)
}

/// No control characters but tab, and no DEL: safe as a field value.
fn valid_field(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| (b >= b' ' || b == b'\t') && b != 0x7f)
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// Idle connections by host, then port (usually one port per host).
#[derive(Default)]
struct Pool {
    hosts: HashMap<Box<str>, Vec<(u16, Vec<Idle>)>>,
    last_sweep: Option<Instant>,
}

struct Idle {
    conn: Connection,
    since: Instant,
}

impl Idle {
    fn usable(&self, now: Instant) -> bool {
        now.duration_since(self.since) < IDLE_TIMEOUT && !self.conn.is_stale()
    }
}

impl Pool {
    fn take(&mut self, host: &str, port: u16) -> Option<Connection> {
        let ports = self.hosts.get_mut(host)?;
        let (_, idle) = ports.iter_mut().find(|(p, _)| *p == port)?;
        // Most recently used first: its connection is the likeliest to be
        // alive and warm.
        let now = Instant::now();
        while let Some(entry) = idle.pop() {
            if entry.usable(now) {
                return Some(entry.conn);
            }
        }
        None
    }

    fn put(&mut self, host: &str, port: u16, conn: Connection, max_idle: usize) {
        let now = Instant::now();
        if self
            .last_sweep
            .is_none_or(|last| now.duration_since(last) > SWEEP_EVERY)
        {
            self.sweep(now);
        }
        if !self.hosts.contains_key(host) {
            self.hosts.insert(host.into(), Vec::new());
        }
        let Some(ports) = self.hosts.get_mut(host) else {
            return;
        };
        let index = match ports.iter().position(|(p, _)| *p == port) {
            Some(index) => index,
            None => {
                ports.push((port, Vec::new()));
                ports.len() - 1
            }
        };
        let idle = &mut ports[index].1;
        if idle.len() < max_idle {
            idle.push(Idle { conn, since: now });
        }
    }

    /// Drop closed and expired connections, and hosts left with none.
    fn sweep(&mut self, now: Instant) {
        self.last_sweep = Some(now);
        self.hosts.retain(|_, ports| {
            ports.retain_mut(|(_, idle)| {
                idle.retain(|entry| entry.usable(now));
                !idle.is_empty()
            });
            !ports.is_empty()
        });
    }

    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.hosts
            .values()
            .flat_map(|ports| ports.iter().map(|(_, idle)| idle.len()))
            .sum()
    }
}

/// Idle connections this thread holds (tests).
#[cfg(test)]
pub(crate) fn idle_connections() -> usize {
    POOL.with(|pool| pool.borrow().idle_count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::net::TcpListener;

    #[test]
    fn requests_refuse_what_cannot_go_on_the_wire() {
        assert!(valid_token(b"/a?b=c"));
        assert!(!valid_token(b"/a b"));
        assert!(!valid_token(b"/a\r\nx: y"));
        assert!(valid_field(b"jobhost/0.1 (tab\tok)"));
        assert!(!valid_field(b"evil\r\nx: y"));
    }

    /// The fuzz target's invariants (`fuzz/`), over responses built from
    /// the pieces that matter to framing and then damaged at random, so
    /// that `cargo test` checks them too.
    #[test]
    fn generated_responses_keep_the_framing_invariants() {
        const STARTS: &[&str] = &[
            "HTTP/1.1 200 OK\r\n",
            "HTTP/1.0 200 OK\r\n",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n",
            "HTTP/1.1 204 No Content\r\n",
            "HTTP/1.1 304 Not Modified\r\n",
            "HTTP/1.1 408 Request Timeout\r\n",
        ];
        const FIELDS: &[&str] = &[
            "Content-Length: 5\r\n",
            "Content-Length: 5, 5\r\n",
            "Content-Length: 7\r\n",
            "Transfer-Encoding: chunked\r\n",
            "Transfer-Encoding: gzip, chunked\r\n",
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: gzip\r\n",
            "Connection: close\r\n",
            "Connection: keep-alive\r\n",
            "X-Other: value\r\n",
        ];
        const DAMAGE: &[u8] = b"+- \t;=\"\\\r\n0xaF:";
        let mut rng = fastrand::Rng::with_seed(9112);
        for _ in 0..20_000 {
            let mode = rng.u8(..);
            let limit = if rng.bool() {
                rng.u16(..)
            } else {
                rng.u16(..40)
            };
            let mut data = vec![mode];
            data.extend_from_slice(&limit.to_le_bytes());
            data.push(rng.u8(..));
            if mode % 3 == 0 {
                data.extend_from_slice(STARTS[rng.usize(..STARTS.len())].as_bytes());
                for _ in 0..rng.usize(..4) {
                    data.extend_from_slice(FIELDS[rng.usize(..FIELDS.len())].as_bytes());
                }
                data.extend_from_slice(b"\r\n");
            }
            if mode % 3 != 2 {
                // A chunked body, or plain bytes for the other framings.
                let chunks = rng.usize(..4);
                for _ in 0..chunks {
                    let size = rng.usize(..12);
                    data.extend_from_slice(format!("{size:x}\r\n").as_bytes());
                    data.extend(std::iter::repeat_n(b'b', size));
                    data.extend_from_slice(b"\r\n");
                }
                data.extend_from_slice(b"0\r\n\r\n");
            }
            let junk = rng.usize(..8);
            data.extend(std::iter::repeat_with(|| rng.u8(..)).take(junk));
            for _ in 0..rng.usize(..3) {
                let at = rng.usize(4..=data.len());
                let byte = DAMAGE[rng.usize(..DAMAGE.len())];
                match rng.u8(..3) {
                    0 if at < data.len() => data[at] = byte,
                    1 if at < data.len() => {
                        data.remove(at);
                    }
                    _ => data.insert(at, byte),
                }
            }
            framing::check_invariants(&data);
        }
    }

    /// A raw server: connection `n` answers the requests it gets with
    /// `script[n]` in order, `Some(answer)` written whole and `None` by
    /// closing without a byte; after its script, it closes. Returns its
    /// URL and the count of connections it accepted.
    async fn serve(script: &'static [&'static [Option<&'static str>]]) -> (Url, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/x", listener.local_addr().unwrap())).unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            for answers in script {
                let (mut socket, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    for answer in answers.iter() {
                        while !request.ends_with(b"\r\n\r\n") {
                            let mut byte = [0u8; 1];
                            if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                                return;
                            }
                            request.push(byte[0]);
                        }
                        request.clear();
                        match answer {
                            Some(answer) => socket.write_all(answer.as_bytes()).await.unwrap(),
                            None => return,
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    fn client() -> Http1Client {
        let policy = Arc::new(UrlPolicy::default());
        Http1Client::new(policy, "jobhost-test", Duration::from_secs(5), 4).unwrap()
    }

    async fn fetch(client: &Http1Client, url: &Url) -> (u16, Vec<u8>) {
        let mut exchange = client.get(url, &[]).await.unwrap();
        let body = exchange.read_body(1024).await.unwrap();
        let status = exchange.status;
        exchange.finish();
        (status, body)
    }

    const ONE: &str = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none";
    const TWO: &str = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo";
    const TIMED_OUT: &str =
        "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 7\r\n\r\ntimeout";

    #[tokio::test]
    async fn a_pooled_connections_408_sends_the_request_again_on_a_new_one() {
        // RFC 9110 section 15.5.9: the server timed the idle connection
        // out; the 408 answers no request of ours.
        let (url, accepted) = serve(&[&[Some(ONE), Some(TIMED_OUT)], &[Some(TWO)]]).await;
        let client = client();
        assert_eq!(fetch(&client, &url).await, (200, b"one".to_vec()));
        assert_eq!(idle_connections(), 1);
        assert_eq!(fetch(&client, &url).await, (200, b"two".to_vec()));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_new_connections_408_is_the_answer() {
        let (url, accepted) = serve(&[&[Some(TIMED_OUT)], &[Some(TWO)]]).await;
        assert_eq!(fetch(&client(), &url).await, (408, b"timeout".to_vec()));
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_pooled_connection_closed_before_answering_is_replaced_once() {
        let (url, accepted) = serve(&[&[Some(ONE), None], &[Some(TWO)]]).await;
        let client = client();
        assert_eq!(fetch(&client, &url).await, (200, b"one".to_vec()));
        assert_eq!(fetch(&client, &url).await, (200, b"two".to_vec()));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        // A new connection that closes unanswered is an error: no retry.
        let (url, accepted) = serve(&[&[None], &[Some(TWO)]]).await;
        let error = client.get(&url, &[]).await.err().expect("no answer");
        assert!(error.to_string().contains("closed"), "{error}");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_framed_by_transfer_encoding_despite_a_length_spends_its_connection() {
        // RFC 9112 section 6.3 item 3: the chunks frame the body, and the
        // connection is not reused, even though the body ended cleanly.
        const BOTH: &str = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let (url, accepted) = serve(&[&[Some(BOTH), Some(ONE)], &[Some(TWO)]]).await;
        let client = client();
        assert_eq!(fetch(&client, &url).await, (200, b"hello".to_vec()));
        assert_eq!(idle_connections(), 0);
        assert_eq!(fetch(&client, &url).await, (200, b"two".to_vec()));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn malformed_bodies_fail_with_what_is_wrong() {
        const PLUS: &str =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n";
        const TWICE: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n";
        let (url, _) = serve(&[&[Some(PLUS)], &[Some(TWICE)]]).await;
        let client = client();
        let mut exchange = client.get(&url, &[]).await.unwrap();
        let error = exchange.read_body(1024).await.unwrap_err();
        assert!(
            error.to_string().contains("must start with a hex digit"),
            "{error}"
        );
        let error = client.get(&url, &[]).await.err().expect("refused");
        assert!(
            error.to_string().contains("chunked more than once"),
            "{error}"
        );
    }
}
