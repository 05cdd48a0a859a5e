//! Credentials the fetcher adds for a provider: request headers per URL host
//! (`Authorization: Bearer …`, `X-Api-Key: …`), read from a secret file or
//! the environment at start-up.
//!
//! The contract: a header configured for a host is sent to that host only
//! (a redirect to another host goes without it, and a redirect from
//! `https://` down to `http://` drops it too); its value never reaches the
//! plugin (the plugin sees the response, not the request), and it is never
//! printed: its `Debug` says `<redacted>`, parse errors name the line, not
//! its value, and reqwest is told the header is sensitive.
//!
//! The format, one rule per line (blank lines and `#` comments ignored):
//!
//! ```text
//! api.provider.example   Authorization: Bearer 5f2b…
//! *.cdn.example          X-Api-Key: 9c1d…
//! localhost:8443         X-Api-Key: …
//! ```
//!
//! A pattern is a host name (exact), `*.domain` (any subdomain of it, not
//! the domain itself), or either with `:port` for one port only. When
//! several patterns match a URL, the most specific wins: an exact host
//! before a wildcard, a longer wildcard before a shorter, a pattern with a
//! port before one without. Several lines with the same pattern add up.

use std::fmt;

/// A header value that must not be printed.
#[derive(Clone)]
pub struct Secret(reqwest::header::HeaderValue);

impl Secret {
    /// The value, for the wire only.
    pub fn expose(&self) -> &reqwest::header::HeaderValue {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Which URLs a rule is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hosts {
    /// This host name exactly.
    Exact(String),
    /// Any subdomain of this domain (stored with its leading dot).
    Below(String),
}

/// The headers for one pattern.
#[derive(Debug, Clone)]
struct Rule {
    hosts: Hosts,
    port: Option<u16>,
    headers: Vec<(reqwest::header::HeaderName, Secret)>,
}

impl Rule {
    fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match &self.hosts {
            Hosts::Exact(name) => name.eq_ignore_ascii_case(host),
            Hosts::Below(suffix) => {
                host.len() > suffix.len()
                    && host
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
            }
        }
    }

    /// Higher is more specific.
    fn specificity(&self) -> (u8, usize, u8) {
        let (exact, length) = match &self.hosts {
            Hosts::Exact(name) => (1, name.len()),
            Hosts::Below(suffix) => (0, suffix.len()),
        };
        (exact, length, u8::from(self.port.is_some()))
    }
}

/// A line of credentials that could not be used. Names the line, never its
/// value.
#[derive(Debug, thiserror::Error)]
#[error("{source_name} line {line}: {problem}")]
pub struct CredentialsError {
    source_name: String,
    line: usize,
    problem: String,
}

/// Every configured rule.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    rules: Vec<Rule>,
}

impl Credentials {
    /// Parse `text` (the format in the module docs); `source_name` names
    /// it in errors (`the file /run/secrets/providers`, `JOBHOST_CREDENTIALS`).
    pub fn parse(source_name: &str, text: &str) -> Result<Self, CredentialsError> {
        let mut credentials = Credentials::default();
        credentials.add(source_name, text)?;
        Ok(credentials)
    }

    /// Add the rules of `text` to these.
    pub fn add(&mut self, source_name: &str, text: &str) -> Result<(), CredentialsError> {
        for (index, line) in text.lines().enumerate() {
            let error = |problem: &str| CredentialsError {
                source_name: source_name.to_owned(),
                line: index + 1,
                problem: problem.to_owned(),
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((pattern, header)) = line.split_once(char::is_whitespace) else {
                return Err(error(
                    "expected `HOST HEADER: VALUE`, e.g. `api.example.com Authorization: Bearer TOKEN`",
                ));
            };
            let (hosts, port) = parse_pattern(pattern).map_err(|problem| error(&problem))?;
            let Some((name, value)) = header.trim().split_once(':') else {
                return Err(error(
                    "expected `HEADER: VALUE` after the host, e.g. `X-Api-Key: KEY`",
                ));
            };
            let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| error("the header name is not a valid HTTP header name"))?;
            let value = value.trim();
            if value.is_empty() {
                return Err(error("the header has no value"));
            }
            let mut value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                error("the header value holds characters HTTP does not allow (control characters or non-ASCII)")
            })?;
            value.set_sensitive(true);
            let secret = Secret(value);
            match self
                .rules
                .iter_mut()
                .find(|rule| rule.hosts == hosts && rule.port == port)
            {
                Some(rule) => rule.headers.push((name, secret)),
                None => self.rules.push(Rule {
                    hosts,
                    port,
                    headers: vec![(name, secret)],
                }),
            }
        }
        Ok(())
    }

    /// Whether no rule is configured.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How many patterns have headers (for the start-up log line).
    pub fn patterns(&self) -> usize {
        self.rules.len()
    }

    /// The headers to send to `url`, if any.
    pub fn for_url(&self, url: &url::Url) -> &[(reqwest::header::HeaderName, Secret)] {
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return &[];
        };
        self.rules
            .iter()
            .filter(|rule| rule.matches(host, port))
            .max_by_key(|rule| rule.specificity())
            .map_or(&[], |rule| &rule.headers)
    }
}

fn parse_pattern(pattern: &str) -> Result<(Hosts, Option<u16>), String> {
    let (host, port) = match pattern.rsplit_once(':') {
        // An IPv6 literal's colons are inside brackets.
        Some((host, port)) if !port.contains(']') => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("`{pattern}`: the port is not a number from 0 to 65535"))?;
            (host, Some(port))
        }
        _ => (pattern, None),
    };
    let host = host.to_ascii_lowercase();
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.is_empty() || domain.contains('*') {
            return Err(format!("`{pattern}`: expected `*.domain`"));
        }
        return Ok((Hosts::Below(format!(".{domain}")), port));
    }
    if host.is_empty() || host.contains(['*', '/']) {
        return Err(format!(
            "`{pattern}` is not a host name, `*.domain` or either with `:port`"
        ));
    }
    Ok((Hosts::Exact(host), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(credentials: &Credentials, url: &str) -> Vec<String> {
        credentials
            .for_url(&url::Url::parse(url).unwrap())
            .iter()
            .map(|(name, value)| format!("{name}={}", value.expose().to_str().unwrap()))
            .collect()
    }

    #[test]
    fn the_most_specific_pattern_wins_and_lines_add_up() {
        let credentials = Credentials::parse(
            "test",
            "# providers\n\
             api.example.com Authorization: Bearer exact\n\
             api.example.com X-Extra: two\n\
             *.example.com   X-Api-Key: wild\n\
             *.eu.example.com X-Api-Key: eu\n\
             api.example.com:8443 Authorization: Bearer port\n\
             \n",
        )
        .unwrap();
        assert_eq!(credentials.patterns(), 4);
        assert_eq!(
            names(&credentials, "https://api.example.com/x"),
            ["authorization=Bearer exact", "x-extra=two"]
        );
        assert_eq!(
            names(&credentials, "https://API.Example.com:8443/x"),
            ["authorization=Bearer port"]
        );
        assert_eq!(
            names(&credentials, "https://cdn.example.com/x"),
            ["x-api-key=wild"]
        );
        assert_eq!(
            names(&credentials, "https://a.eu.example.com/x"),
            ["x-api-key=eu"]
        );
        // Not the bare domain, not a look-alike, not another host.
        for url in [
            "https://example.com/x",
            "https://evilexample.com/x",
            "https://other.org/x",
        ] {
            assert!(names(&credentials, url).is_empty(), "{url}");
        }
    }

    #[test]
    fn errors_name_the_line_but_never_the_value() {
        for (text, says) in [
            ("api.example.com", "expected `HOST HEADER: VALUE`"),
            (
                "api.example.com Bearer sekrit-1",
                "expected `HEADER: VALUE`",
            ),
            (
                "api.example.com Bad Name: sekrit-1",
                "not a valid HTTP header name",
            ),
            (
                "api.example.com X-Key: sekrit-1\u{7}",
                "characters HTTP does not allow",
            ),
            (
                "api.example.com:x X-Key: sekrit-1",
                "the port is not a number",
            ),
            ("*. X-Key: sekrit-1", "expected `*.domain`"),
            ("api.example.com X-Key:   ", "has no value"),
        ] {
            let error = Credentials::parse("the file f", &format!("# c\n{text}"))
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("the file f line 2: "), "{error}");
            assert!(error.contains(says), "{error}");
            assert!(!error.contains("sekrit"), "{error}");
        }
    }

    #[test]
    fn debug_output_redacts_every_value() {
        let credentials =
            Credentials::parse("test", "api.example.com Authorization: Bearer sekrit-2").unwrap();
        let printed = format!("{credentials:?}");
        assert!(printed.contains("<redacted>"), "{printed}");
        assert!(!printed.contains("sekrit"), "{printed}");
    }
}
