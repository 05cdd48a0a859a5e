//! The fetcher: turns a task's URL into [`Fetched`] content.
//!
//! Plain `http://` URLs go through the lean HTTP/1.1 client of `http1.rs`
//! (connections pooled per thread); `https://` URLs, and every URL when a
//! proxy is configured, go through one pooled reqwest client (rustls). Both
//! get the same treatment here: a connect timeout, one deadline for the
//! whole fetch, redirects followed hop by hop up to a limit with the URL
//! policy checked at every hop, and a body-size limit enforced while
//! streaming, so that a huge or endless body costs at most `max_body`
//! bytes. `file://` URLs are served only from below a root the
//! user allowed. Each hop carries the credentials configured for its own
//! host (`credentials.rs`), and the first the validators of a conditional
//! request (`conditional.rs`). It decides nothing about routing or retries; it classifies
//! its errors as transient or permanent and the worker acts on that.

pub mod conditional;
pub mod credentials;
pub mod decode;
pub mod http1;
pub mod origins;
pub mod policy;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use self::conditional::Validators;
use self::credentials::Credentials;
use self::http1::{BodyError, Exchange, Http1Client, Http1Error};
use self::policy::{Denied, PolicyResolver, Unresolved, UrlPolicy};

/// Fetcher settings.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Time allowed for one whole request, body included.
    pub timeout: Duration,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Redirects followed before giving up.
    pub max_redirects: usize,
    /// Largest body accepted, in bytes.
    pub max_body: u64,
    /// Directory below which `file://` URLs may be read; `None` disables them.
    pub file_root: Option<PathBuf>,
    /// The `user-agent` header.
    pub user_agent: String,
    /// Which hosts and addresses may be fetched.
    pub policy: UrlPolicy,
    /// Fetch plain `http://` URLs with the lean HTTP/1.1 client (unless a
    /// proxy is configured) rather than reqwest.
    pub lean_http1: bool,
    /// Request headers per URL host (API keys, bearer tokens).
    pub credentials: Credentials,
    /// PEM files of certificate authorities trusted for `https://` beside
    /// the built-in roots.
    pub ca_certs: Vec<PathBuf>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_redirects: 10,
            max_body: 10 * 1024 * 1024,
            file_root: None,
            user_agent: concat!("jobhost/", env!("CARGO_PKG_VERSION")).to_owned(),
            policy: UrlPolicy::default(),
            lean_http1: true,
            credentials: Credentials::default(),
            ca_certs: Vec::new(),
        }
    }
}

/// Content fetched for a task.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// HTTP status (200 for files).
    pub status: u16,
    /// URL after redirects.
    pub final_url: String,
    /// Response headers, names lower case.
    pub headers: Vec<(String, String)>,
    /// The `content-type` header, or a guess from a file's extension.
    pub content_type: Option<String>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Why a fetch failed. [`FetchError::is_transient`] tells the worker whether
/// a retry can help.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Connection refused, reset, DNS failure and the like.
    #[error("network error fetching {url}: {message}")]
    Network {
        /// The URL.
        url: String,
        /// The error chain.
        message: String,
    },
    /// The request took longer than the timeout.
    #[error("timed out after {timeout:?} fetching {url} (raise --fetch-timeout if the server is just slow)")]
    Timeout {
        /// The URL.
        url: String,
        /// The limit.
        timeout: Duration,
    },
    /// A 5xx or 429 answer: the server is failing or asks us to slow down.
    #[error("HTTP {status} from {url}")]
    ServerError {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// From a `retry-after` header in seconds, if any.
        retry_after: Option<Duration>,
    },
    /// The body is larger than allowed.
    #[error("body of {url} exceeds the limit of {limit} bytes (raise --max-body)")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// More redirects than allowed.
    #[error("too many redirects fetching {url} (limit {limit})")]
    TooManyRedirects {
        /// The URL.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// A `file://` URL while files are not allowed, or outside the root.
    #[error("{0}")]
    FileDenied(String),
    /// The URL policy refused the host or its address.
    #[error("not fetched: {url}: {reason}")]
    Denied {
        /// The URL.
        url: String,
        /// Which rule.
        reason: String,
    },
    /// A `file://` URL that does not exist or cannot be read.
    #[error("cannot read {path}: {message}")]
    File {
        /// The path.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// A URL this fetcher cannot handle.
    #[error("cannot fetch {url}: {message}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// The server's TLS certificate was refused (unknown issuer, expired,
    /// for another name): retrying would meet the same certificate.
    #[error("the TLS certificate of {url} was not accepted: {message} (if the server's certificate comes from a private CA, trust that CA with --ca-cert FILE)")]
    Certificate {
        /// The URL.
        url: String,
        /// What the TLS library said.
        message: String,
    },
    /// A compressed body that does not decode, or expands past the limit.
    #[error("fetching {url}: {error}")]
    Decode {
        /// The URL.
        url: String,
        /// What is wrong with it.
        error: decode::DecodeError,
    },
}

impl FetchError {
    /// Whether retrying later can help (network trouble, timeouts, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            FetchError::Network { .. }
                | FetchError::Timeout { .. }
                | FetchError::ServerError { .. }
        )
    }

    /// A `429` or `503` that came with `Retry-After`: how long the whole URL
    /// host should be left alone.
    pub fn hold_back(&self) -> Option<Duration> {
        match self {
            FetchError::ServerError {
                status: 429 | 503,
                retry_after,
                ..
            } => *retry_after,
            _ => None,
        }
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::ServerError { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The shared fetcher. Cheap to share by reference; connections are pooled
/// per host.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// `https://` URLs, and every URL when a proxy is configured; one hop
    /// at a time (redirects are followed here, for both clients).
    client: reqwest::Client,
    /// Plain `http://` URLs, unless a proxy is configured.
    http1: Option<Http1Client>,
    /// The first request to each origin through `client` goes alone.
    origins: Arc<origins::Origins>,
    config: FetchConfig,
}

/// Environment variables through which reqwest picks up a proxy for
/// `http://` URLs; with one set, every fetch goes through reqwest.
const PROXY_VARIABLES: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];

impl Fetcher {
    /// Build the client. Fails only if the TLS backend cannot initialise, or
    /// the file root does not exist.
    pub fn new(mut config: FetchConfig) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        if let Some(root) = &config.file_root {
            let canonical = root.canonicalize().with_context(|| {
                format!(
                    "file root {} does not exist or is unreadable",
                    root.display()
                )
            })?;
            config.file_root = Some(canonical);
        }
        let policy = Arc::new(config.policy.clone());
        let mut builder = reqwest::Client::builder();
        for path in &config.ca_certs {
            let pem = std::fs::read(path).with_context(|| {
                format!("cannot read the CA certificate file {}", path.display())
            })?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
                format!(
                    "{} holds no PEM certificate (expected `-----BEGIN CERTIFICATE-----` blocks)",
                    path.display()
                )
            })?;
            if certificates.is_empty() {
                anyhow::bail!(
                    "{} holds no PEM certificate (expected `-----BEGIN CERTIFICATE-----` blocks)",
                    path.display()
                );
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let client = builder
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            // Redirects are followed by `follow`, for both clients alike.
            .redirect(reqwest::redirect::Policy::none())
            // Bodies are decoded here (decode.rs), for both clients alike.
            .default_headers(reqwest::header::HeaderMap::from_iter([(
                reqwest::header::ACCEPT_ENCODING,
                reqwest::header::HeaderValue::from_static(decode::ACCEPT_ENCODING),
            )]))
            .dns_resolver(Arc::new(PolicyResolver::new(policy.clone())))
            .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
            .tcp_nodelay(true)
            .build()
            .context("building the HTTP client")?;
        let proxied = PROXY_VARIABLES
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
        let http1 = if config.lean_http1 && !proxied {
            Some(
                Http1Client::new(
                    policy,
                    &config.user_agent,
                    config.connect_timeout,
                    MAX_IDLE_PER_HOST,
                )
                .context("the user agent is not a valid header value")?,
            )
        } else {
            None
        };
        Ok(Fetcher {
            client,
            http1,
            origins: Arc::default(),
            config,
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// Fetch `url`.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        self.fetch_if(url, None).await
    }

    /// Fetch `url`, unless it has not changed since `validators` were
    /// taken from it: then the answer is a `304` with no body.
    pub async fn fetch_if(
        &self,
        url: &str,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        if url.starts_with("file:") {
            return self.fetch_file(url).await;
        }
        self.fetch_http(url, validators).await
    }

    async fn fetch_http(
        &self,
        url: &str,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        // Parsed once: the policy check and the request share it. IP
        // literals never reach the resolver: check them (and names, for a
        // clearer error than the resolver's) before connecting.
        let parsed = url::Url::parse(url).map_err(|e| FetchError::BadUrl {
            url: url.to_owned(),
            message: e.to_string(),
        })?;
        if let Err(denied) = self.config.policy.check_url(&parsed) {
            return Err(FetchError::Denied {
                url: url.to_owned(),
                reason: denied.0,
            });
        }
        // One deadline for the whole fetch: every hop, and the body.
        match tokio::time::timeout(self.config.timeout, self.follow(url, parsed, validators)).await
        {
            Ok(fetched) => fetched,
            Err(_) => Err(FetchError::Timeout {
                url: url.to_owned(),
                timeout: self.config.timeout,
            }),
        }
    }

    /// Send the request, and again to each redirect's target (every hop
    /// checked by the same policy), then read the final answer. The
    /// validators go with the first hop only (they belong to `url`); each
    /// hop gets the credentials of its own host, and none once a redirect
    /// left `https://` for `http://`.
    async fn follow(
        &self,
        url: &str,
        mut current: url::Url,
        validators: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        let mut redirects = 0;
        let secure = current.scheme() == "https";
        let mut extra = Vec::new();
        loop {
            extra.clear();
            if redirects == 0 {
                if let Some(validators) = validators {
                    validators.push_headers(&mut extra);
                }
            }
            if !(secure && current.scheme() == "http") {
                for (name, value) in self.config.credentials.for_url(&current) {
                    extra.push((name.clone(), value.expose().clone()));
                }
            }
            let response = self.exchange(url, &current, &extra).await?;
            let next = match response.status() {
                301 | 302 | 303 | 307 | 308 => response
                    .header("location")
                    .and_then(|location| current.join(&location).ok()),
                _ => None,
            };
            let Some(next) = next else {
                let mut fetched = self.read(url, response).await?;
                fetched.final_url = current.into();
                return Ok(fetched);
            };
            redirects += 1;
            if redirects > self.config.max_redirects {
                return Err(FetchError::TooManyRedirects {
                    url: url.to_owned(),
                    limit: self.config.max_redirects,
                });
            }
            if !matches!(next.scheme(), "http" | "https") {
                return Err(FetchError::BadUrl {
                    url: url.to_owned(),
                    message: format!("redirected to {next}, which is not an http(s) URL"),
                });
            }
            if let Err(denied) = self.config.policy.check_url(&next) {
                return Err(FetchError::Denied {
                    url: url.to_owned(),
                    reason: denied.0,
                });
            }
            // A redirect's body is small: read it so that the connection
            // can serve the next hop; a large one just closes it.
            response.drain(REDIRECT_BODY_LIMIT).await;
            current = next;
        }
    }

    /// One request, without following redirects.
    async fn exchange<'u>(
        &self,
        url: &str,
        current: &'u url::Url,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<Response<'u>, FetchError> {
        match &self.http1 {
            // Credentials in the URL are reqwest's to send (basic auth).
            Some(http1)
                if current.scheme() == "http"
                    && current.username().is_empty()
                    && current.password().is_none() =>
            {
                http1
                    .get(current, extra)
                    .await
                    .map(Response::Http1)
                    .map_err(|error| self.classify_http1(url, error))
            }
            _ => {
                let origin = format!(
                    "{}://{}:{}",
                    current.scheme(),
                    current.host_str().unwrap_or(""),
                    current.port_or_known_default().unwrap_or(0)
                );
                let _first = self.origins.enter(&origin).await;
                self.client
                    .get(current.clone())
                    .headers(extra.iter().cloned().collect())
                    .send()
                    .await
                    .map(Response::Reqwest)
                    .map_err(|error| self.classify(url, error))
            }
        }
    }

    /// The final answer: a server error, or the status, headers and body
    /// (read up to the limit). The caller fills in the final URL.
    async fn read(&self, url: &str, mut response: Response<'_>) -> Result<Fetched, FetchError> {
        let status = response.status();
        // 429 joins the 5xx: "come back later" is the host's business, not
        // the plugin's.
        if status >= 500 || status == 429 {
            let retry_after = response
                .header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            // Its body (an error page, usually small) is read so that the
            // connection can be kept.
            response.drain(REDIRECT_BODY_LIMIT).await;
            return Err(FetchError::ServerError {
                url: url.to_owned(),
                status,
                retry_after,
            });
        }
        let limit = self.config.max_body;
        let declared = response
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        let content_type = response.header("content-type").map(Cow::into_owned);
        let coding = response.header("content-encoding").map(Cow::into_owned);
        let mut headers = response.take_headers();
        let body = response.body(limit).await.map_err(|error| match error {
            BodyFailure::TooLarge => FetchError::TooLarge {
                url: url.to_owned(),
                limit,
            },
            BodyFailure::Read(message) => FetchError::Network {
                url: url.to_owned(),
                message: format!("reading the body: {message}"),
            },
        })?;
        response.finish();
        // The plugin gets the document itself: decoded, and without the
        // headers that described the encoded form.
        let body = match coding {
            Some(coding) => {
                let body =
                    decode::decode(&coding, body, limit).map_err(|error| FetchError::Decode {
                        url: url.to_owned(),
                        error,
                    })?;
                headers.retain(|(name, _)| name != "content-encoding" && name != "content-length");
                body
            }
            None => body,
        };
        Ok(Fetched {
            status,
            final_url: String::new(),
            headers,
            content_type,
            body,
        })
    }

    fn classify_http1(&self, url: &str, error: Http1Error) -> FetchError {
        match error {
            Http1Error::Unresolved(Unresolved::Denied(denied)) => FetchError::Denied {
                url: url.to_owned(),
                reason: denied.0,
            },
            Http1Error::BadUrl(message) => FetchError::BadUrl {
                url: url.to_owned(),
                message,
            },
            Http1Error::ConnectTimeout(_) => FetchError::Timeout {
                url: url.to_owned(),
                timeout: self.config.connect_timeout,
            },
            other => FetchError::Network {
                url: url.to_owned(),
                message: error_chain(&other),
            },
        }
    }

    fn classify(&self, url: &str, error: reqwest::Error) -> FetchError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(cause) = source {
            if let Some(denied) = cause.downcast_ref::<Denied>() {
                return FetchError::Denied {
                    url: url.to_owned(),
                    reason: denied.0.clone(),
                };
            }
            source = cause.source();
        }
        if error.is_timeout() {
            return FetchError::Timeout {
                url: url.to_owned(),
                timeout: self.config.connect_timeout,
            };
        }
        if error.is_builder() {
            return FetchError::BadUrl {
                url: url.to_owned(),
                message: error_chain(&error),
            };
        }
        let message = error_chain(&error);
        if message.contains("invalid peer certificate") {
            return FetchError::Certificate {
                url: url.to_owned(),
                message,
            };
        }
        FetchError::Network {
            url: url.to_owned(),
            message,
        }
    }

    async fn fetch_file(&self, url: &str) -> Result<Fetched, FetchError> {
        let Some(root) = &self.config.file_root else {
            return Err(FetchError::FileDenied(format!(
                "file URLs are disabled: {url} was not read; allow a directory with --allow-files DIR"
            )));
        };
        let path = url::Url::parse(url)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .ok_or_else(|| FetchError::BadUrl {
                url: url.to_owned(),
                message: "not a local file URL".into(),
            })?;
        let file_error = |path: &Path, e: std::io::Error| FetchError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        // Canonicalise first so that `..` and symlinks cannot lead outside
        // the root.
        let canonical = tokio::fs::canonicalize(&path)
            .await
            .map_err(|e| file_error(&path, e))?;
        if !canonical.starts_with(root) {
            return Err(FetchError::FileDenied(format!(
                "{} is outside the allowed file root {}",
                path.display(),
                root.display()
            )));
        }
        let meta = tokio::fs::metadata(&canonical)
            .await
            .map_err(|e| file_error(&path, e))?;
        if !meta.is_file() {
            return Err(FetchError::File {
                path: path.display().to_string(),
                message: "not a regular file".into(),
            });
        }
        if meta.len() > self.config.max_body {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                limit: self.config.max_body,
            });
        }
        let body = tokio::fs::read(&canonical)
            .await
            .map_err(|e| file_error(&path, e))?;
        Ok(Fetched {
            status: 200,
            final_url: url.to_owned(),
            headers: Vec::new(),
            content_type: guess_content_type(&canonical).map(str::to_owned),
            body,
        })
    }
}

/// Idle connections kept per host (each client).
const MAX_IDLE_PER_HOST: usize = 256;

/// The most of a redirect's or a server error's body read (and dropped) to
/// keep its connection.
const REDIRECT_BODY_LIMIT: usize = 64 * 1024;

/// The longest a redirect's or a server error's body is waited for.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Why a body could not be read whole.
enum BodyFailure {
    /// It is longer than the limit it was read with.
    TooLarge,
    /// The connection failed, or the body is malformed: why.
    Read(String),
}

/// A response from either client, its body still to be read.
enum Response<'u> {
    Http1(Exchange<'u>),
    Reqwest(reqwest::Response),
}

impl Response<'_> {
    fn status(&self) -> u16 {
        match self {
            Response::Http1(exchange) => exchange.status,
            Response::Reqwest(response) => response.status().as_u16(),
        }
    }

    /// The first value of header `name` (lower case).
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        match self {
            Response::Http1(exchange) => exchange.header(name).map(Cow::Borrowed),
            Response::Reqwest(response) => response
                .headers()
                .get(name)
                .map(|value| String::from_utf8_lossy(value.as_bytes())),
        }
    }

    /// Every header field, names in lower case (the HTTP/1.1 client's in
    /// the order received), leaving none behind.
    fn take_headers(&mut self) -> Vec<(String, String)> {
        match self {
            Response::Http1(exchange) => std::mem::take(&mut exchange.headers),
            Response::Reqwest(response) => response
                .headers()
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        }
    }

    /// The whole body, cut off with [`BodyFailure::TooLarge`] at `limit`
    /// bytes, whether or not (or truly) its length was declared.
    async fn body(&mut self, limit: u64) -> Result<Vec<u8>, BodyFailure> {
        match self {
            Response::Http1(exchange) => {
                exchange
                    .read_body(limit)
                    .await
                    .map_err(|error| match error {
                        BodyError::TooLarge(_) => BodyFailure::TooLarge,
                        BodyError::Failed(error) => BodyFailure::Read(error_chain(&error)),
                    })
            }
            Response::Reqwest(response) => {
                let declared = response.content_length().unwrap_or(8 * 1024);
                let mut body = Vec::with_capacity(declared.min(limit) as usize);
                // Chunk by chunk, so that a long body stops at the limit
                // instead of filling memory.
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|error| BodyFailure::Read(error_chain(&error)))?
                {
                    if body.len() as u64 + chunk.len() as u64 > limit {
                        return Err(BodyFailure::TooLarge);
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(body)
            }
        }
    }

    /// Read and drop up to `limit` bytes of the body, then, if it ended,
    /// keep the connection for the next request.
    /// Gives up after [`DRAIN_TIME`]: a body that trickles in is not worth
    /// the fetch's deadline.
    async fn drain(mut self, limit: usize) {
        let drained = tokio::time::timeout(DRAIN_TIME, self.body(limit as u64)).await;
        if matches!(drained, Ok(Ok(_))) {
            self.finish();
        }
    }

    /// The body was read to its end.
    fn finish(self) {
        if let Response::Http1(exchange) = self {
            exchange.finish();
        }
    }
}

/// A media type from a file extension, for `file://` content.
pub fn guess_content_type(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "json" => "application/json",
        "jsonl" | "ndjson" => "application/x-ndjson",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "txt" => "text/plain",
        "csv" => "text/csv",
        _ => return None,
    })
}

/// `error: cause: cause` in one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A raw HTTP/1.1 server: `answer(path)` gives the whole response for
    /// each request; after writing it, the connection is closed if the
    /// answer says `Connection: close` or when `close_after` responses have
    /// been sent on it. Counts the connections it accepted.
    struct RawServer {
        base: String,
        connections: Arc<AtomicUsize>,
    }

    impl RawServer {
        async fn start(answer: fn(&str, &str) -> String, close_after: usize) -> RawServer {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let connections = Arc::new(AtomicUsize::new(0));
            let counter = connections.clone();
            tokio::spawn(async move {
                loop {
                    let (mut socket, _) = listener.accept().await.unwrap();
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        let mut buffer = Vec::new();
                        let mut served = 0;
                        loop {
                            let mut chunk = [0u8; 4096];
                            let n = socket.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buffer.extend_from_slice(&chunk[..n]);
                            while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                                buffer.drain(..end + 4);
                                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                                let response = answer(&path, &head);
                                // A NUL splits the answer into writes 20 ms
                                // apart, so the client reads it in pieces.
                                for (i, part) in response.split('\0').enumerate() {
                                    if i > 0 {
                                        tokio::time::sleep(Duration::from_millis(20)).await;
                                    }
                                    if socket.write_all(part.as_bytes()).await.is_err() {
                                        return;
                                    }
                                }
                                served += 1;
                                if served >= close_after || response.contains("Connection: close") {
                                    return;
                                }
                            }
                        }
                    });
                }
            });
            RawServer { base, connections }
        }

        /// The server's URL for `path` (which starts with `/`).
        fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base)
        }

        fn connections(&self) -> usize {
            self.connections.load(Ordering::SeqCst)
        }
    }

    fn ok(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn answers(path: &str, head: &str) -> String {
        match path {
            "/auth" => {
                let auth = head
                    .lines()
                    .find_map(|line| line.strip_prefix("authorization: "))
                    .unwrap_or("none");
                ok(auth)
            }
            "/accept" => {
                let accept = head
                    .lines()
                    .find_map(|line| line.strip_prefix("accept-encoding: "))
                    .unwrap_or("none");
                ok(accept)
            }
            "/not-gzip" => "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 8\r\n\r\nnot gzip".into(),
            "/compress" => "HTTP/1.1 200 OK\r\nContent-Encoding: compress\r\nContent-Length: 2\r\n\r\nab".into(),
            "/start" => "HTTP/1.1 302 Found\r\nLocation: /final?x=1\r\nContent-Length: 5\r\n\r\nmoved".into(),
            "/busy" => "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy".into(),
            "/close" => "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".into(),
            "/chunked" => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".into(),
            // The same chunked body in pieces, with an extension and a
            // trailer, after an interim 100 Continue.
            "/pieces" => "HTTP/1.1 100 Continue\r\n\r\n\0HTTP/1.1 200 OK\r\nTrans\0fer-Encoding: chunked\r\nX-Kind: pieces\r\n\r\n3;ext=1\r\nab\0c\r\n2\r\n\0de\r\n0\r\nX-Trailer: t\r\n\0\r\n".into(),
            // A length, the body split across writes.
            "/split" => "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234\x0056789".into(),
            // No length: the body lasts until the server closes.
            "/until-close" => "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of \0this".into(),
            "/no-content" => "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n".into(),
            // Promises 10 bytes, sends 3, closes.
            "/short" => "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc".into(),
            "/garbage" => "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n".into(),
            "/lengths" => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc".into(),
            other => ok(&format!("{{\"path\":\"{other}\"}}")),
        }
    }

    fn lean(lean_http1: bool) -> Fetcher {
        Fetcher::new(FetchConfig {
            lean_http1,
            max_redirects: 3,
            ..FetchConfig::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn plain_http_reuses_one_connection_per_worker_and_replaces_closed_ones() {
        let server = RawServer::start(answers, 3).await;
        let fetcher = lean(true);
        for n in 0..3 {
            let got = fetcher
                .fetch(&server.url(&format!("/a/{n}")))
                .await
                .unwrap();
            assert_eq!(got.status, 200);
            assert_eq!(got.body, format!("{{\"path\":\"/a/{n}\"}}").as_bytes());
            assert_eq!(got.content_type.as_deref(), Some("application/json"));
            assert!(got
                .headers
                .contains(&("content-length".into(), got.body.len().to_string())));
            if n == 0 {
                assert_eq!(http1::idle_connections(), 1, "kept for the next fetch");
            }
        }
        assert_eq!(
            server.connections(),
            1,
            "three fetches in a row share a connection"
        );
        // The server closed that connection after its third answer: the
        // next fetch notices and connects again, and nothing fails.
        for n in 3..6 {
            let got = fetcher
                .fetch(&server.url(&format!("/b/{n}")))
                .await
                .unwrap();
            assert_eq!(got.body, format!("{{\"path\":\"/b/{n}\"}}").as_bytes());
        }
        assert_eq!(server.connections(), 2);
        // An answer that closes its connection leaves nothing in the pool.
        let got = fetcher.fetch(&server.url("/close")).await.unwrap();
        assert_eq!(got.body, b"ok");
        let got = fetcher.fetch(&server.url("/chunked")).await.unwrap();
        assert_eq!(got.body, b"abcde");
        assert_eq!(server.connections(), 4);
    }

    #[tokio::test]
    async fn both_clients_follow_redirects_to_the_same_final_url() {
        for lean_http1 in [true, false] {
            let server = RawServer::start(answers, usize::MAX).await;
            let fetcher = lean(lean_http1);
            let got = fetcher.fetch(&server.url("/start#frag")).await.unwrap();
            assert_eq!(got.final_url, server.url("/final?x=1"), "lean {lean_http1}");
            assert_eq!(got.body, br#"{"path":"/final?x=1"}"#, "lean {lean_http1}");
            if lean_http1 {
                // The redirect's body was read, so its connection served
                // the second hop too.
                assert_eq!(server.connections(), 1);
            }
        }
    }

    #[tokio::test]
    async fn both_clients_ask_for_compression_and_decode_what_comes() {
        for lean_http1 in [true, false] {
            let server = RawServer::start(answers, usize::MAX).await;
            let fetcher = lean(lean_http1);
            let got = fetcher.fetch(&server.url("/accept")).await.unwrap();
            assert_eq!(
                got.body,
                decode::ACCEPT_ENCODING.as_bytes(),
                "lean {lean_http1}"
            );
            // The body goes through decode.rs whichever client read it.
            for (path, says) in [("/not-gzip", "not valid gzip"), ("/compress", "`compress`")] {
                let error = fetcher.fetch(&server.url(path)).await.unwrap_err();
                assert!(
                    matches!(error, FetchError::Decode { .. }) && error.to_string().contains(says),
                    "lean {lean_http1}: {error}"
                );
                assert!(!error.is_transient());
            }
        }
    }

    #[tokio::test]
    async fn a_server_error_keeps_its_retry_after_and_its_connection() {
        let server = RawServer::start(answers, usize::MAX).await;
        let fetcher = lean(true);
        let error = fetcher.fetch(&server.url("/busy")).await.unwrap_err();
        assert!(error.is_transient(), "{error}");
        assert_eq!(error.hold_back(), Some(Duration::from_secs(7)));
        fetcher.fetch(&server.url("/a")).await.unwrap();
        assert_eq!(
            server.connections(),
            1,
            "the error page was read, the connection kept"
        );
    }

    #[tokio::test]
    async fn the_lean_client_reads_every_framing_in_pieces() {
        let server = RawServer::start(answers, usize::MAX).await;
        let fetcher = lean(true);
        let got = fetcher.fetch(&server.url("/pieces")).await.unwrap();
        assert_eq!(got.status, 200, "the 100 Continue is skipped");
        assert_eq!(got.body, b"abcde");
        assert!(got.headers.contains(&("x-kind".into(), "pieces".into())));
        let got = fetcher.fetch(&server.url("/split")).await.unwrap();
        assert_eq!(got.body, b"0123456789");
        let got = fetcher.fetch(&server.url("/no-content")).await.unwrap();
        assert_eq!((got.status, got.body.len()), (204, 0));
        assert_eq!(
            server.connections(),
            1,
            "each of those left the connection ready for the next"
        );
        // A body without a length ends when the server closes: that
        // connection is not kept.
        let server = RawServer::start(answers, 1).await;
        let got = fetcher.fetch(&server.url("/until-close")).await.unwrap();
        assert_eq!(got.body, b"all of this");
        fetcher.fetch(&server.url("/split")).await.unwrap();
        assert_eq!(server.connections(), 2);
    }

    #[tokio::test]
    async fn broken_answers_are_transient_network_errors_that_say_why() {
        let server = RawServer::start(answers, usize::MAX).await;
        let fetcher = lean(true);
        for (path, says) in [
            ("/short", "closed after 3 of the 10 bytes"),
            ("/garbage", "invalid HTTP response"),
            ("/lengths", "content-length fields that disagree"),
        ] {
            let error = fetcher.fetch(&server.url(path)).await.unwrap_err();
            assert!(
                matches!(error, FetchError::Network { .. }),
                "{path}: {error}"
            );
            assert!(error.is_transient());
            assert!(error.to_string().contains(says), "{path}: {error}");
        }
        // None of those connections went back to the pool.
        fetcher.fetch(&server.url("/a")).await.unwrap();
        assert_eq!(server.connections(), 4);
    }

    #[tokio::test]
    async fn credentials_in_a_url_are_sent_as_basic_auth() {
        let server = RawServer::start(answers, usize::MAX).await;
        let url = server.base.replace("http://", "http://user:pw@") + "/auth";
        let got = lean(true).fetch(&url).await.unwrap();
        assert_eq!(got.body, b"Basic dXNlcjpwdw==");
    }

    #[tokio::test]
    async fn chunked_bodies_over_the_limit_are_cut_off() {
        let server = RawServer::start(answers, usize::MAX).await;
        let fetcher = Fetcher::new(FetchConfig {
            max_body: 4,
            ..FetchConfig::default()
        })
        .unwrap();
        let error = fetcher.fetch(&server.url("/chunked")).await.unwrap_err();
        assert!(
            matches!(error, FetchError::TooLarge { limit: 4, .. }),
            "{error}"
        );
    }

    #[tokio::test]
    async fn files_only_below_the_allowed_root() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("a.json");
        std::fs::write(&inside, b"{}").unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();

        let closed = Fetcher::new(FetchConfig::default()).unwrap();
        let url = url::Url::from_file_path(&inside).unwrap().to_string();
        let err = closed.fetch(&url).await.unwrap_err().to_string();
        assert!(err.contains("--allow-files"), "{err}");

        let open = Fetcher::new(FetchConfig {
            file_root: Some(dir.path().to_owned()),
            ..FetchConfig::default()
        })
        .unwrap();
        let got = open.fetch(&url).await.unwrap();
        assert_eq!(got.body, b"{}");
        assert_eq!(got.content_type.as_deref(), Some("application/json"));

        let sneaky = format!("{url}/../../{}", outside.path().display());
        let url_out = url::Url::from_file_path(outside.path())
            .unwrap()
            .to_string();
        for bad in [url_out, sneaky] {
            let err = open.fetch(&bad).await.unwrap_err();
            assert!(!err.is_transient());
        }
        let url_out = url::Url::from_file_path(outside.path())
            .unwrap()
            .to_string();
        let err = open.fetch(&url_out).await.unwrap_err().to_string();
        assert!(err.contains("outside the allowed file root"), "{err}");
    }
}
