//! The fetcher's URL policy: which hosts and addresses the host's own
//! fetches may reach.
//!
//! Cloud metadata endpoints (169.254.0.0/16 link-local, fd00:ec2::254,
//! 100.100.100.200) are always denied unless explicitly allowed; private
//! and loopback ranges can be denied with `--deny-private`; hosts can be
//! allow-listed or deny-listed by name (`*.example.com` matches subdomains).
//! Addresses are checked after DNS resolution (in [`PolicyResolver`]) and
//! for IP literals before connecting, at every redirect hop, so neither a
//! DNS name pointing inward nor a redirect can get around the policy.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UrlPolicy {
    /// If not empty, only these hosts may be fetched.
    pub allow_hosts: Vec<String>,
    /// These hosts may never be fetched.
    pub deny_hosts: Vec<String>,
    /// Deny loopback, private (RFC 1918, unique local), CGNAT and
    /// unspecified addresses.
    pub deny_private: bool,
    /// Allow cloud metadata and link-local addresses (denied by default).
    pub allow_metadata: bool,
}

/// A fetch the policy refused; carried through reqwest's error chain.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.len() > suffix.len() && host.ends_with(&format!(".{suffix}")),
        None => pattern == host,
    }
}

impl UrlPolicy {
    /// Whether anything beyond the defaults is configured.
    pub fn is_default(&self) -> bool {
        *self == UrlPolicy::default()
    }

    /// Check a host name (lower case, no port).
    pub fn check_host(&self, host: &str) -> Result<(), Denied> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if self.deny_hosts.iter().any(|p| host_matches(p, &host)) {
            return Err(Denied(format!(
                "host {host} is on the deny list (--deny-host)"
            )));
        }
        if !self.allow_hosts.is_empty() && !self.allow_hosts.iter().any(|p| host_matches(p, &host))
        {
            return Err(Denied(format!(
                "host {host} is not on the allow list (--allow-host)"
            )));
        }
        if !self.allow_metadata && host == "metadata.google.internal" {
            return Err(Denied(format!(
                "host {host} is a cloud metadata service, denied by default"
            )));
        }
        Ok(())
    }

    /// Check one address.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Denied> {
        let ip = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        if !self.allow_metadata && is_metadata(ip) {
            return Err(Denied(format!(
                "address {ip} is a cloud metadata or link-local address, denied by default"
            )));
        }
        if self.deny_private && is_private(ip) {
            return Err(Denied(format!(
                "address {ip} is private or loopback, denied by --deny-private"
            )));
        }
        Ok(())
    }

    /// Check a URL's host part (name or IP literal).
    pub fn check_url(&self, url: &url::Url) -> Result<(), Denied> {
        match url.host() {
            Some(url::Host::Domain(name)) => self.check_host(name),
            Some(url::Host::Ipv4(ip)) => {
                self.check_host(&ip.to_string())?;
                self.check_ip(IpAddr::V4(ip))
            }
            Some(url::Host::Ipv6(ip)) => {
                self.check_host(&ip.to_string())?;
                self.check_ip(IpAddr::V6(ip))
            }
            None => Ok(()),
        }
    }
}

fn is_metadata(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.octets() == [100, 100, 100, 200],
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6 == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
        }
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00
        }
    }
}

/// A DNS resolver that drops (and, if nothing is left, refuses) addresses
/// the policy denies.
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    policy: Arc<UrlPolicy>,
}

impl PolicyResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<UrlPolicy>) -> Self {
        PolicyResolver { policy }
    }
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match resolve(&policy, &host, 0).await {
                Ok(allowed) => Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs),
                Err(Unresolved::Denied(denied)) => Err(Box::new(denied) as _),
                Err(Unresolved::Lookup(error)) => Err(Box::new(error) as _),
            }
        })
    }
}

/// Why a name gave no address to connect to.
#[derive(Debug, thiserror::Error)]
pub enum Unresolved {
    /// The policy refused the name or every address it resolves to.
    #[error("{0}")]
    Denied(Denied),
    /// The lookup itself failed.
    #[error("{0}")]
    Lookup(std::io::Error),
}

/// Resolve `host` and keep the addresses `policy` allows, with `port`.
/// Shared by reqwest's resolver and the lean HTTP/1.1 client, so that both
/// refuse the same names and addresses with the same words.
pub async fn resolve(
    policy: &UrlPolicy,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, Unresolved> {
    policy.check_host(host).map_err(Unresolved::Denied)?;
    let resolved = tokio::net::lookup_host((host, port))
        .await
        .map_err(Unresolved::Lookup)?;
    let mut denied = None;
    let allowed: Vec<SocketAddr> = resolved
        .filter(|addr| match policy.check_ip(addr.ip()) {
            Ok(()) => true,
            Err(e) => {
                denied = Some(e);
                false
            }
        })
        .collect();
    if allowed.is_empty() {
        let reason = denied.map_or_else(|| "no address".to_owned(), |d| d.0);
        return Err(Unresolved::Denied(Denied(format!(
            "{host} resolves to a denied address: {reason}"
        ))));
    }
    Ok(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_denied_by_default_and_private_on_request() {
        let default = UrlPolicy::default();
        assert!(default
            .check_ip("169.254.169.254".parse().unwrap())
            .is_err());
        assert!(default
            .check_ip("100.100.100.200".parse().unwrap())
            .is_err());
        assert!(default.check_ip("fd00:ec2::254".parse().unwrap()).is_err());
        assert!(default
            .check_ip("::ffff:169.254.169.254".parse().unwrap())
            .is_err());
        assert!(default.check_ip("127.0.0.1".parse().unwrap()).is_ok());
        assert!(default.check_host("metadata.google.internal").is_err());
        let strict = UrlPolicy {
            deny_private: true,
            ..UrlPolicy::default()
        };
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "::1",
            "fd12::1",
            "0.0.0.0",
        ] {
            assert!(strict.check_ip(ip.parse().unwrap()).is_err(), "{ip}");
        }
        assert!(strict.check_ip("93.184.216.34".parse().unwrap()).is_ok());
    }

    #[test]
    fn host_lists() {
        let policy = UrlPolicy {
            allow_hosts: vec!["*.example.com".into(), "api.test".into()],
            deny_hosts: vec!["bad.example.com".into()],
            ..UrlPolicy::default()
        };
        assert!(policy.check_host("a.example.com").is_ok());
        assert!(policy.check_host("API.test").is_ok());
        assert!(policy.check_host("example.com").is_err());
        assert!(policy
            .check_host("bad.example.com")
            .unwrap_err()
            .0
            .contains("deny list"));
        assert!(policy
            .check_host("other.org")
            .unwrap_err()
            .0
            .contains("allow list"));
    }
}
