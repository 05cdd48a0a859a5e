//! Redis behind Sentinel: the `redis+sentinel://` URL and asking the
//! sentinels which server is the master now.
//!
//! URL form: `redis+sentinel://[USER:PASSWORD@]HOST[:PORT][,HOST[:PORT]…]/MASTER[/DB]`
//! (`rediss+sentinel://` for TLS to the sentinels and the servers). The
//! hosts are the sentinels (port 26379 unless given); MASTER is the name
//! they monitor the master under; USER and PASSWORD are for the master and
//! its replicas (the sentinels are asked without a password).

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionAddr, IntoConnectionInfo};

use super::hosts::{self, MultiHost};

/// The default port of a sentinel.
const SENTINEL_PORT: u16 = 26379;

/// A parsed `redis+sentinel://` URL.
#[derive(Clone)]
pub struct SentinelUrl {
    tls: bool,
    sentinels: Vec<(String, u16)>,
    master: String,
    db: i64,
    username: Option<String>,
    password: Option<String>,
}

/// Never prints the password.
impl std::fmt::Debug for SentinelUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelUrl")
            .field("tls", &self.tls)
            .field("sentinels", &self.sentinels)
            .field("master", &self.master)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Whether `url` names Redis through Sentinel.
pub fn is_sentinel_url(url: &str) -> bool {
    url.starts_with("redis+sentinel://") || url.starts_with("rediss+sentinel://")
}

const FORM: &str =
    "write it as redis+sentinel://[USER:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]";

impl SentinelUrl {
    /// Parse a `redis+sentinel://` or `rediss+sentinel://` URL; the error
    /// says what is wrong and never holds the password.
    pub fn parse(url: &str) -> Result<Self, String> {
        let MultiHost {
            tls,
            userinfo,
            hosts: sentinels,
            path,
        } = hosts::split(url, "sentinel", Some(SENTINEL_PORT), FORM)?;
        let (username, password) = match userinfo {
            Some(userinfo) => {
                // The client library decodes user info as it does for plain
                // URLs (percent-escapes, a lone password).
                let info = format!("redis://{userinfo}@localhost/")
                    .into_connection_info()
                    .map_err(|_| format!("the user or password does not parse; {FORM}"))?;
                let settings = info.redis_settings();
                (
                    settings.username().map(str::to_owned),
                    settings.password().map(str::to_owned),
                )
            }
            None => (None, None),
        };
        let mut segments = path.split('/');
        let master = segments.next().unwrap_or_default();
        if master.is_empty() {
            return Err(format!(
                "the Sentinel URL names no master (the name the sentinels monitor it under); {FORM}"
            ));
        }
        let db = match segments.next() {
            None | Some("") => 0,
            Some(db) => db
                .parse()
                .map_err(|_| format!("`{db}` is not a database number; {FORM}"))?,
        };
        if segments.any(|segment| !segment.is_empty()) {
            return Err(format!("the Sentinel URL has too many path parts; {FORM}"));
        }
        Ok(SentinelUrl {
            tls,
            sentinels,
            master: master.to_owned(),
            db,
            username,
            password,
        })
    }
}

/// A client of the sentinels of one URL.
pub struct Sentinel {
    client: SentinelClient,
    master: String,
    response_timeout: Duration,
}

impl Sentinel {
    /// A client for the sentinels of `url`; commands on the connections it
    /// makes time out after `response_timeout`.
    pub fn new(url: &SentinelUrl, response_timeout: Duration) -> Result<Self, String> {
        let addresses = url.sentinels.iter().map(|(host, port)| {
            if url.tls {
                ConnectionAddr::TcpTls {
                    host: host.clone(),
                    port: *port,
                    insecure: false,
                    tls_params: None,
                }
            } else {
                ConnectionAddr::Tcp(host.clone(), *port)
            }
        });
        let mut builder =
            SentinelClientBuilder::new(addresses, &url.master, SentinelServerType::Master)
                .map_err(|e| e.to_string())?
                .set_client_to_redis_db(url.db);
        if let Some(username) = &url.username {
            builder = builder.set_client_to_redis_username(username);
        }
        if let Some(password) = &url.password {
            builder = builder.set_client_to_redis_password(password);
        }
        if url.tls {
            builder = builder
                .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
                .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure);
            if let Some(pem) = super::TRUSTED.get() {
                let trusted = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                };
                builder = builder
                    .set_client_to_redis_certificates(trusted.clone())
                    .set_client_to_sentinel_certificates(trusted);
            }
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(Sentinel {
            client,
            master: url.master.clone(),
            response_timeout,
        })
    }

    /// The name the sentinels know the master by.
    pub fn master_name(&self) -> &str {
        &self.master
    }

    /// Ask the sentinels for the master (checked to answer as a master):
    /// its `HOST:PORT` and a client for it.
    pub async fn master(&mut self) -> Result<(String, redis::Client), String> {
        let client = self
            .client
            .async_get_client()
            .await
            .map_err(|e| e.to_string())?;
        let address = match client.get_connection_info().addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                format!("{host}:{port}")
            }
            other => format!("{other:?}"),
        };
        Ok((address, client))
    }

    /// A reconnecting connection to the server of `client`.
    pub async fn connect(&self, client: redis::Client) -> Result<ConnectionManager, String> {
        super::open_manager(&client, self.response_timeout)
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sentinels_master_db_and_credentials() {
        let url = SentinelUrl::parse(
            "redis+sentinel://app:p%40ss@10.0.0.1:26380,sentinel-b,[::1]:5/jobs/3",
        )
        .expect("a valid URL");
        assert!(!url.tls);
        assert_eq!(
            url.sentinels,
            [
                ("10.0.0.1".to_owned(), 26380),
                ("sentinel-b".to_owned(), 26379),
                ("::1".to_owned(), 5)
            ]
        );
        assert_eq!(url.master, "jobs");
        assert_eq!(url.db, 3);
        assert_eq!(url.username.as_deref(), Some("app"));
        assert_eq!(url.password.as_deref(), Some("p@ss"));
        let shown = format!("{url:?}");
        assert!(!shown.contains("p@ss"), "{shown}");

        let url = SentinelUrl::parse("rediss+sentinel://h/m").expect("a valid URL");
        assert!(url.tls);
        assert_eq!(url.db, 0);
        assert_eq!(url.password, None);
    }

    #[test]
    fn bad_urls_say_what_is_wrong_without_the_password() {
        for (url, says) in [
            ("redis+sentinel://u:s3cret@h:26379", "names no master"),
            ("redis+sentinel://u:s3cret@h:26379/", "names no master"),
            ("redis+sentinel://u:s3cret@h:port/m", "no valid port"),
            ("redis+sentinel://u:s3cret@h,,g/m", "an address is empty"),
            ("redis+sentinel://u:s3cret@h/m/x", "not a database number"),
            ("redis+sentinel://u:s3cret@h/m/0/x", "too many path parts"),
            ("redis+sentinel://u:s3cret@h/m?x=1", "no query"),
            ("redis+sentinel://u:s3cret@[::1/m", "closing"),
        ] {
            let error = SentinelUrl::parse(url).expect_err(url);
            assert!(error.contains(says), "{url}: {error}");
            assert!(!error.contains("s3cret"), "{url}: {error}");
        }
    }
}
