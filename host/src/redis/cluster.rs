//! Redis Cluster: the `redis+cluster://` URL and the connection to it.
//!
//! URL form: `redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]`
//! (`rediss+cluster://` for TLS). The addresses are seed nodes: the client
//! learns the others, and which node owns which hash slot, from them, and
//! follows slot moves and failovers inside the cluster on its own.
//!
//! Every key of one queue carries the hash tag `{NAME}` (keys.rs), so each
//! of the queue's scripts touches one slot and stays atomic; different
//! queues may live on different nodes.

use std::time::Duration;

use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;

use super::hosts::{self, MultiHost};

const FORM: &str = "write it as redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]";

/// Whether `url` names a Redis Cluster.
pub fn is_cluster_url(url: &str) -> bool {
    url.starts_with("redis+cluster://") || url.starts_with("rediss+cluster://")
}

/// A parsed `redis+cluster://` URL: one plain Redis URL per seed node, each
/// with the user info.
#[derive(Clone)]
pub struct ClusterUrl {
    tls: bool,
    nodes: Vec<String>,
}

/// Never prints the password.
impl std::fmt::Debug for ClusterUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nodes: Vec<String> = self.nodes.iter().map(|n| super::redact(n)).collect();
        f.debug_struct("ClusterUrl")
            .field("tls", &self.tls)
            .field("nodes", &nodes)
            .finish()
    }
}

impl ClusterUrl {
    /// Parse a `redis+cluster://` or `rediss+cluster://` URL; the error says
    /// what is wrong and never holds the password.
    pub fn parse(url: &str) -> Result<Self, String> {
        let MultiHost {
            tls,
            userinfo,
            hosts,
            path,
        } = hosts::split(url, "cluster", None, FORM)?;
        if !path.is_empty() && path != "0" {
            return Err(format!(
                "a Redis Cluster has only database 0, and the URL names `/{path}`; {FORM}"
            ));
        }
        let scheme = if tls { "rediss" } else { "redis" };
        let mut nodes = Vec::new();
        for (name, port) in hosts {
            let name = if name.contains(':') {
                format!("[{name}]")
            } else {
                name
            };
            nodes.push(match userinfo {
                Some(userinfo) => format!("{scheme}://{userinfo}@{name}:{port}"),
                None => format!("{scheme}://{name}:{port}"),
            });
        }
        Ok(ClusterUrl { tls, nodes })
    }

    /// Connect: learn the cluster's layout from the seed nodes. Commands
    /// time out after `response_timeout`.
    pub async fn connect(&self, response_timeout: Duration) -> Result<ClusterConnection, String> {
        let mut builder = ClusterClientBuilder::new(self.nodes.iter().map(String::as_str))
            .connection_timeout(Duration::from_secs(5))
            .response_timeout(response_timeout);
        if self.tls {
            builder = builder.tls(redis::TlsMode::Secure);
            if let Some(pem) = super::TRUSTED.get() {
                builder = builder.certs(redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                });
            }
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        client
            .get_async_connection()
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seed_nodes_with_their_user_info() {
        let url = ClusterUrl::parse("redis+cluster://app:s3cret@10.0.0.1:7000,[::1]:7001")
            .expect("a valid URL");
        assert_eq!(
            url.nodes,
            [
                "redis://app:s3cret@10.0.0.1:7000",
                "redis://app:s3cret@[::1]:7001"
            ]
        );
        let shown = format!("{url:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        let url = ClusterUrl::parse("rediss+cluster://h:1/").expect("a valid URL");
        assert_eq!(url.nodes, ["rediss://h:1"]);
    }

    #[test]
    fn bad_urls_say_what_is_wrong_without_the_password() {
        for (url, says) in [
            ("redis+cluster://u:s3cret@h", "has no port"),
            ("redis+cluster://u:s3cret@h:1/3", "only database 0"),
            ("redis+cluster://u:s3cret@h:1,,h:2", "an address is empty"),
            ("redis+cluster://u:s3cret@h:x", "no valid port"),
        ] {
            let error = ClusterUrl::parse(url).expect_err(url);
            assert!(error.contains(says), "{url}: {error}");
            assert!(!error.contains("s3cret"), "{url}: {error}");
        }
    }
}
