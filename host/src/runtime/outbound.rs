//! Outbound HTTP from plugins (`wasi:http`), allowed only to the hosts an
//! operator listed for that plugin (`--allow-outbound PLUGIN=HOST,...`),
//! denied by default, like Spin's allowed outbound hosts.
//!
//! A denied request fails inside the plugin with `HttpRequestDenied` and is
//! logged on the host with the fix. Allowed requests go out through
//! wasmtime-wasi-http's default client.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Which hosts each plugin may call: plugin name → host patterns
/// (`api.example.com`, `*.example.com`, `127.0.0.1:8080`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboundPolicy {
    /// Per plugin.
    pub allowed: HashMap<String, Vec<String>>,
}

impl OutboundPolicy {
    /// Parse `PLUGIN=HOST[,HOST...]`.
    pub fn parse_entry(text: &str) -> Result<(String, Vec<String>), String> {
        let bad = || {
            format!("`{text}` is not PLUGIN=HOST[,HOST...] (e.g. music-sync=api.example.com,*.cdn.example.com)")
        };
        let (plugin, hosts) = text.split_once('=').ok_or_else(bad)?;
        let hosts: Vec<String> = hosts
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if plugin.is_empty() || hosts.is_empty() {
            return Err(bad());
        }
        Ok((plugin.to_owned(), hosts))
    }

    /// The hosts `plugin` may call.
    pub fn for_plugin(&self, plugin: &str) -> Arc<[String]> {
        self.allowed.get(plugin).cloned().unwrap_or_default().into()
    }
}

/// Whether `authority` (`host` or `host:port`) matches a pattern: the
/// pattern without a port matches any port.
pub fn authority_allowed(patterns: &[String], authority: &str) -> bool {
    let authority = authority.to_ascii_lowercase();
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(authority.as_str(), |(host, _)| host);
    patterns.iter().any(|pattern| {
        let target = if pattern.contains(':') {
            authority.as_str()
        } else {
            host
        };
        match pattern.strip_prefix("*.") {
            Some(suffix) => target.len() > suffix.len() && target.ends_with(&format!(".{suffix}")),
            None => pattern == target,
        }
    })
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

/// The `wasi:http` hooks of one job: its plugin and that plugin's list.
pub struct Outbound {
    pub(crate) plugin: Arc<str>,
    pub(crate) allowed: Arc<[String]>,
}

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        _ = fut;
        let authority = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        if !authority_allowed(&self.allowed, &authority) {
            tracing::warn!(
                plugin = %self.plugin,
                "outbound request to {authority} denied: allow it with --allow-outbound {}={authority}",
                self.plugin
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let allowed = vec![
            "api.example.com".to_owned(),
            "*.cdn.test".to_owned(),
            "127.0.0.1:8080".to_owned(),
        ];
        assert!(authority_allowed(&allowed, "api.example.com"));
        assert!(authority_allowed(&allowed, "API.example.com:443"));
        assert!(authority_allowed(&allowed, "a.cdn.test"));
        assert!(!authority_allowed(&allowed, "cdn.test"));
        assert!(authority_allowed(&allowed, "127.0.0.1:8080"));
        assert!(!authority_allowed(&allowed, "127.0.0.1:8081"));
        assert!(!authority_allowed(&allowed, "evil.com"));
        assert!(!authority_allowed(&[], "api.example.com"));
        let (plugin, hosts) = OutboundPolicy::parse_entry("links=a.com, b.com").unwrap();
        assert_eq!((plugin.as_str(), hosts.len()), ("links", 2));
        assert!(OutboundPolicy::parse_entry("links=").is_err());
    }
}
