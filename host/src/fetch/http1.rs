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
//! the request, `httparse` for the response head, and the message framing
//! of RFC 9112 section 6 for the body (a `content-length`, `chunked`, or
//! until the server closes). There is no connection task, no channel
//! between the two and no header map. What that saves against hyper's
//! client is in BENCHMARKS.md (Optimisations, the lean client).

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

/// The largest response head (status line and headers) accepted.
const MAX_HEAD: usize = 64 * 1024;

/// The most header fields in a response head.
const MAX_HEADERS: usize = 128;

/// The longest chunk-size line or trailer line of a chunked body, and the
/// most bytes of trailers.
const MAX_LINE: usize = 8 * 1024;
const MAX_TRAILERS: usize = 64 * 1024;

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

/// How the body's end is known (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (1xx, 204, 304), or a body already read.
    Done,
    /// This many bytes.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
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
        let body = match self.framing {
            Framing::Done => Vec::new(),
            Framing::Length(length) => {
                if length > limit {
                    return Err(BodyError::TooLarge(limit));
                }
                self.read_length(length as usize).await?
            }
            Framing::Chunked => self.read_chunked(limit).await?,
            Framing::UntilClose => self.read_until_close(limit).await?,
        };
        self.framing = Framing::Done;
        Ok(body)
    }

    async fn read_length(&mut self, length: usize) -> Result<Vec<u8>, BodyError> {
        let mut body = Vec::with_capacity(length);
        let buffered = self.conn.buffered();
        let take = buffered.len().min(length);
        body.extend_from_slice(&buffered[..take]);
        self.conn.consume(take);
        // The rest straight from the socket into the body, never past its
        // end (nothing else is owed on this connection).
        while body.len() < length {
            let want = (length - body.len()) as u64;
            let read = (&mut self.conn.stream)
                .take(want)
                .read_buf(&mut body)
                .await
                .map_err(|error| Http1Error::io("reading the body", error))?;
            if read == 0 {
                return Err(Http1Error::Protocol(format!(
                    "the connection closed after {} of the {length} bytes of the body",
                    body.len()
                ))
                .into());
            }
        }
        Ok(body)
    }

    async fn read_chunked(&mut self, limit: u64) -> Result<Vec<u8>, BodyError> {
        let mut body = Vec::new();
        loop {
            let line = self.conn.line("a chunk size").await?;
            let size = chunk_size(&line)?;
            if size == 0 {
                break;
            }
            if body.len() as u64 + size > limit {
                return Err(BodyError::TooLarge(limit));
            }
            let mut left = size as usize;
            body.reserve(left);
            while left > 0 {
                if self.conn.buffered().is_empty() && self.conn.fill().await? == 0 {
                    return Err(Http1Error::closed("reading a chunk").into());
                }
                let buffered = self.conn.buffered();
                let take = buffered.len().min(left);
                body.extend_from_slice(&buffered[..take]);
                self.conn.consume(take);
                left -= take;
            }
            if !self.conn.line("the end of a chunk").await?.is_empty() {
                return Err(Http1Error::Protocol("a chunk is longer than its size".into()).into());
            }
        }
        // Trailers, up to the empty line; they carry no body.
        let mut trailers = 0;
        loop {
            let line = self.conn.line("the trailers").await?;
            if line.is_empty() {
                return Ok(body);
            }
            trailers += line.len();
            if trailers > MAX_TRAILERS {
                return Err(Http1Error::Protocol("trailers larger than 64 KiB".into()).into());
            }
        }
    }

    async fn read_until_close(&mut self, limit: u64) -> Result<Vec<u8>, BodyError> {
        let mut body = Vec::new();
        loop {
            let buffered = self.conn.buffered();
            if body.len() as u64 + buffered.len() as u64 > limit {
                return Err(BodyError::TooLarge(limit));
            }
            body.extend_from_slice(buffered);
            let all = buffered.len();
            self.conn.consume(all);
            if self.conn.fill().await? == 0 {
                return Ok(body);
            }
        }
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

    /// The next line (CRLF or LF ended, without its ending), consumed.
    async fn line(&mut self, what: &'static str) -> Result<Vec<u8>, Http1Error> {
        let mut searched = 0;
        loop {
            let buffered = self.buffered();
            if let Some(end) = buffered[searched..].iter().position(|&b| b == b'\n') {
                let end = searched + end;
                let mut line = buffered[..end].to_vec();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.consume(end + 1);
                return Ok(line);
            }
            searched = buffered.len();
            if searched > MAX_LINE {
                return Err(Http1Error::Protocol(format!("{what}: a line over 8 KiB")));
            }
            if self.fill().await? == 0 {
                return Err(Http1Error::closed(what));
            }
        }
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

/// The size on a chunk-size line (hex digits, then optional extensions).
fn chunk_size(line: &[u8]) -> Result<u64, Http1Error> {
    let digits = line
        .iter()
        .position(|&b| b == b';' || b == b' ' || b == b'\t')
        .map_or(line, |end| &line[..end]);
    let invalid = || {
        Http1Error::Protocol(format!(
            "invalid chunk size {:?}",
            String::from_utf8_lossy(&line[..line.len().min(40)])
        ))
    };
    if digits.is_empty() || digits.len() > 15 {
        return Err(invalid());
    }
    let text = std::str::from_utf8(digits).map_err(|_| invalid())?;
    u64::from_str_radix(text, 16).map_err(|_| invalid())
}

/// A parsed response head.
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    framing: Framing,
    reusable: bool,
}

/// Sort a complete head's fields into the framing and reuse of the message.
fn head(response: &httparse::Response<'_, '_>) -> Result<Head, Http1Error> {
    let status = response.code.unwrap_or(0);
    let http10 = response.version == Some(0);
    let mut headers = Vec::with_capacity(response.headers.len());
    let mut length: Option<u64> = None;
    let mut transfer_encoding: Option<String> = None;
    let mut close = false;
    let mut keep_alive = false;
    for field in response.headers.iter() {
        let name = field.name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(field.value).into_owned();
        match name.as_str() {
            "content-length" => {
                // A list of equal values is one value (RFC 9110 section 8.6).
                for item in value.split(',') {
                    let item = item.trim();
                    let parsed = (!item.is_empty() && item.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| item.parse::<u64>().ok())
                        .flatten()
                        .ok_or_else(|| {
                            Http1Error::Protocol(format!("invalid content-length {value:?}"))
                        })?;
                    if length.is_some_and(|seen| seen != parsed) {
                        return Err(Http1Error::Protocol(
                            "content-length fields that disagree".into(),
                        ));
                    }
                    length = Some(parsed);
                }
            }
            "transfer-encoding" => {
                let all = transfer_encoding.get_or_insert_with(String::new);
                if !all.is_empty() {
                    all.push(',');
                }
                all.push_str(&value);
            }
            "connection" => {
                for token in value.split(',') {
                    let token = token.trim();
                    close |= token.eq_ignore_ascii_case("close");
                    keep_alive |= token.eq_ignore_ascii_case("keep-alive");
                }
            }
            _ => {}
        }
        headers.push((name, value));
    }
    let mut reusable = !close && (!http10 || keep_alive);
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Done
    } else if let Some(codings) = transfer_encoding {
        // A length beside a transfer coding is ignored, and such a
        // message never leaves its connection reusable (section 6.3).
        reusable &= length.is_none();
        let last = codings.rsplit(',').next().unwrap_or("").trim();
        if last.eq_ignore_ascii_case("chunked") {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else if let Some(length) = length {
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    if framing == Framing::UntilClose {
        reusable = false;
    }
    Ok(Head {
        status,
        headers,
        framing,
        reusable,
    })
}

/// How an exchange on a connection failed.
enum Failure {
    /// Before any byte of an answer came: on a reused connection that the
    /// server may have closed meanwhile, the request can go again on a new
    /// one (a `GET` is safe to repeat).
    BeforeAnswer(Http1Error),
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
        // A pooled connection first. The server may have closed it since:
        // a GET that fails on a reused connection before any answer is sent
        // again on a new one, as browsers and reqwest do.
        while let Some(conn) = POOL.with(|pool| pool.borrow_mut().take(host, port)) {
            match exchange(conn, &request).await {
                Ok((conn, head)) => return Ok(self.exchange(conn, head, host, port)),
                Err(Failure::BeforeAnswer(error)) => {
                    tracing::debug!(
                        "a pooled connection to {host}:{port} failed ({error}); using a new one"
                    );
                }
                Err(Failure::Final(error)) => return Err(error),
            }
        }
        let conn = self.connect(url, host, port).await?;
        match exchange(conn, &request).await {
            Ok((conn, head)) => Ok(self.exchange(conn, head, host, port)),
            Err(Failure::BeforeAnswer(error) | Failure::Final(error)) => Err(error),
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

/// Send `request` on `conn` and read the answer's head (skipping interim
/// 1xx answers).
async fn exchange(mut conn: Connection, request: &[u8]) -> Result<(Connection, Head), Failure> {
    if let Err(error) = conn.stream.write_all(request).await {
        return Err(Failure::BeforeAnswer(Http1Error::io(
            "sending the request",
            error,
        )));
    }
    let mut answered = false;
    loop {
        if !conn.buffered().is_empty() {
            answered = true;
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut fields);
            match response.parse(conn.buffered()) {
                Ok(httparse::Status::Complete(length)) => {
                    let head = head(&response).map_err(Failure::Final)?;
                    conn.consume(length);
                    match head.status {
                        101 => {
                            return Err(Failure::Final(Http1Error::Protocol(
                                "the server switched protocols, which was not asked for".into(),
                            )))
                        }
                        // 100 Continue, 103 Early Hints: the answer follows.
                        100..=199 => continue,
                        _ => return Ok((conn, head)),
                    }
                }
                Ok(httparse::Status::Partial) => {
                    if conn.buffered().len() > MAX_HEAD {
                        return Err(Failure::Final(Http1Error::Protocol(
                            "a response head larger than 64 KiB".into(),
                        )));
                    }
                }
                Err(error) => {
                    return Err(Failure::Final(Http1Error::Protocol(format!(
                        "{error} in the response head"
                    ))))
                }
            }
        }
        match conn.fill().await {
            Ok(0) if answered => {
                return Err(Failure::Final(Http1Error::closed(
                    "reading the response head",
                )))
            }
            Ok(0) => {
                return Err(Failure::BeforeAnswer(Http1Error::closed(
                    "waiting for the response",
                )))
            }
            Ok(_) => {}
            Err(error) if answered => return Err(Failure::Final(error)),
            Err(error) => return Err(Failure::BeforeAnswer(error)),
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

    fn parse(text: &str) -> Result<Head, Http1Error> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut fields);
        match response.parse(text.as_bytes()) {
            Ok(httparse::Status::Complete(_)) => head(&response),
            other => panic!("not a complete head: {other:?}"),
        }
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let h = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!((h.framing, h.reusable), (Framing::Length(5), true));
        // Equal repeated lengths are one; different ones are refused.
        let h = parse("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.unwrap().framing, Framing::Length(5));
        assert!(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").is_err()
        );
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n").is_err());
        // Chunked wins over a length, and then the connection is not reused.
        let h = parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
        )
        .unwrap();
        assert_eq!((h.framing, h.reusable), (Framing::Chunked, false));
        // A coding that is not chunked last: until close.
        let h = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").unwrap();
        assert_eq!((h.framing, h.reusable), (Framing::UntilClose, false));
        // No length at all: until close.
        let h = parse("HTTP/1.1 200 OK\r\n\r\n").unwrap();
        assert_eq!((h.framing, h.reusable), (Framing::UntilClose, false));
        // No body whatever the fields say.
        for status in ["204 No Content", "304 Not Modified"] {
            let h = parse(&format!("HTTP/1.1 {status}\r\nContent-Length: 9\r\n\r\n")).unwrap();
            assert_eq!((h.framing, h.reusable), (Framing::Done, true));
        }
        // Connection handling, HTTP/1.0 included.
        let h = parse("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.unwrap().reusable);
        let h = parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.unwrap().reusable);
        let h = parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
        assert!(h.unwrap().reusable);
        // Names in lower case, in the order received, values kept.
        let h = parse("HTTP/1.1 200 OK\r\nX-B: 2\r\nContent-Type: text/plain\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        let names: Vec<&str> = h.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-b", "content-type", "x-a", "content-length"]);
        assert_eq!(h.headers[1].1, "text/plain");
    }

    #[test]
    fn chunk_sizes_are_hex_with_optional_extensions() {
        assert_eq!(chunk_size(b"1a").unwrap(), 26);
        assert_eq!(chunk_size(b"A;name=value").unwrap(), 10);
        assert_eq!(chunk_size(b"0").unwrap(), 0);
        for bad in [&b""[..], b"x", b"-1", b";ext", b"1234567890abcdef0"] {
            assert!(chunk_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn requests_refuse_what_cannot_go_on_the_wire() {
        assert!(valid_token(b"/a?b=c"));
        assert!(!valid_token(b"/a b"));
        assert!(!valid_token(b"/a\r\nx: y"));
        assert!(valid_field(b"jobhost/0.1 (tab\tok)"));
        assert!(!valid_field(b"evil\r\nx: y"));
    }
}
