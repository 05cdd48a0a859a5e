//! The fetcher: turns a task's URL into [`Fetched`] content.
//!
//! One pooled reqwest client (rustls) shared by every worker, with a connect
//! timeout, a whole-request timeout, a redirect limit and a body-size limit
//! enforced while streaming, so that a huge or endless body costs at most
//! `max_body` bytes. `file://` URLs are served only from below a root the
//! user allowed. It decides nothing about routing or retries; it classifies
//! its errors as transient or permanent and the worker acts on that.

pub mod policy;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use self::policy::{Denied, PolicyResolver, UrlPolicy};

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};

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

/// The shared fetcher. Cheap to share by reference; the client pools
/// connections per host.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: FetchConfig,
}

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
        let max_redirects = config.max_redirects;
        let hop_policy = policy.clone();
        // Every hop of a redirect chain meets the same policy as the first
        // URL (names are checked again when they resolve).
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                return attempt.error(TooManyRedirects);
            }
            match hop_policy.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(denied) => attempt.error(denied),
            }
        });
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(redirects)
            .dns_resolver(Arc::new(PolicyResolver::new(policy)))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()
            .context("building the HTTP client")?;
        Ok(Fetcher { client, config })
    }

    /// The settings in force.
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// Fetch `url`.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        if url.starts_with("file:") {
            return self.fetch_file(url).await;
        }
        self.fetch_http(url).await
    }

    async fn fetch_http(&self, url: &str) -> Result<Fetched, FetchError> {
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
        let mut response = self
            .client
            .get(parsed)
            .send()
            .await
            .map_err(|e| self.classify(url, e))?;
        let status = response.status().as_u16();
        // 429 joins the 5xx: "come back later" is the host's business, not
        // the plugin's.
        if status >= 500 || status == 429 {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(FetchError::ServerError {
                url: url.to_owned(),
                status,
                retry_after,
            });
        }
        let limit = self.config.max_body;
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        let final_url = response.url().as_str().to_owned();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        // Read chunk by chunk so that a body without (or lying about) its
        // length is cut off at the limit instead of filling memory.
        let mut body = Vec::with_capacity(declared.unwrap_or(8 * 1024).min(limit) as usize);
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(url, e))? {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(FetchError::TooLarge {
                    url: url.to_owned(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status,
            final_url,
            headers,
            content_type,
            body,
        })
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
            if cause.downcast_ref::<TooManyRedirects>().is_some() {
                return FetchError::TooManyRedirects {
                    url: url.to_owned(),
                    limit: self.config.max_redirects,
                };
            }
            source = cause.source();
        }
        if error.is_timeout() {
            return FetchError::Timeout {
                url: url.to_owned(),
                timeout: self.config.timeout,
            };
        }
        if error.is_redirect() {
            return FetchError::TooManyRedirects {
                url: url.to_owned(),
                limit: self.config.max_redirects,
            };
        }
        if error.is_builder() {
            return FetchError::BadUrl {
                url: url.to_owned(),
                message: error_chain(&error),
            };
        }
        FetchError::Network {
            url: url.to_owned(),
            message: error_chain(&error),
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

/// The redirect limit, as an error our classifier recognises.
#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct TooManyRedirects;

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
