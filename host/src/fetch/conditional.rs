//! Conditional requests (`--conditional`): a URL's validators (`ETag`,
//! `Last-Modified`) kept from its last fetch whose job was done, and sent
//! back as `If-None-Match` / `If-Modified-Since` on the next.
//!
//! The validators live in the key-value store, under the reserved
//! namespace `@conditional` (no plugin can be named so), with a time to
//! live, so every host on one Redis shares them and they do not grow
//! forever. They are written as one of the job's own key-value writes:
//! only a job that was done stores them, in the same step as its
//! acknowledgement (see `commit.rs`). A job that failed leaves the old ones,
//! so its URL is fetched whole again next time, never skipped on the word
//! of a document that was never processed.

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH};

use crate::kv::{namespaced, KvWrite};

use super::Fetched;

/// The namespace of the validators in the key-value store.
pub const NAMESPACE: &str = "@conditional";

/// What the last fetch of a URL said about its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
    /// The document's content type, to route a job that ends on a `304`
    /// (which usually has none) as its document was.
    content_type: Option<String>,
}

impl Validators {
    /// The validators of a fetched document, if it has any. Only a `200`
    /// qualifies: another status says nothing about the document.
    pub fn of(fetched: &Fetched) -> Option<Validators> {
        if fetched.status != 200 {
            return None;
        }
        let header = |wanted: &str| {
            fetched
                .headers
                .iter()
                .find(|(name, _)| name == wanted)
                .and_then(|(_, value)| HeaderValue::from_str(value.trim()).ok())
                .filter(|value| !value.is_empty())
        };
        let validators = Validators {
            etag: header("etag"),
            last_modified: header("last-modified"),
            content_type: fetched
                .content_type
                .clone()
                .filter(|value| !value.contains('\n')),
        };
        (validators.etag.is_some() || validators.last_modified.is_some()).then_some(validators)
    }

    /// The request header fields that make a fetch conditional.
    pub fn push_headers(&self, headers: &mut Vec<(HeaderName, HeaderValue)>) {
        if let Some(etag) = &self.etag {
            headers.push((IF_NONE_MATCH, etag.clone()));
        }
        // RFC 9110 13.1.3: ignored by the server when If-None-Match is
        // there; sent anyway for servers that only know dates.
        if let Some(date) = &self.last_modified {
            headers.push((IF_MODIFIED_SINCE, date.clone()));
        }
    }

    /// The content type the document had.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// Stored form: the three values on three lines (a header value holds
    /// no line break), any possibly empty.
    fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        if let Some(etag) = &self.etag {
            bytes.extend_from_slice(etag.as_bytes());
        }
        bytes.push(b'\n');
        if let Some(date) = &self.last_modified {
            bytes.extend_from_slice(date.as_bytes());
        }
        bytes.push(b'\n');
        if let Some(content_type) = &self.content_type {
            bytes.extend_from_slice(content_type.as_bytes());
        }
        bytes
    }

    /// Read the stored form; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Validators> {
        let mut lines = bytes.split(|&b| b == b'\n');
        let (etag, date, content_type) = (lines.next()?, lines.next()?, lines.next()?);
        if lines.next().is_some() {
            return None;
        }
        let value = |part: &[u8]| {
            (!part.is_empty())
                .then(|| HeaderValue::from_bytes(part).ok())
                .flatten()
        };
        let validators = Validators {
            etag: value(etag),
            last_modified: value(date),
            content_type: (!content_type.is_empty())
                .then(|| String::from_utf8(content_type.to_vec()).ok())
                .flatten(),
        };
        (validators.etag.is_some() || validators.last_modified.is_some()).then_some(validators)
    }

    /// The key-value write that stores these for `url`, for `ttl`.
    pub fn write(&self, url: &str, ttl: Duration) -> KvWrite {
        KvWrite::Expiring {
            key: key(url),
            value: self.encode(),
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1),
        }
    }
}

/// The key-value key of `url`'s validators.
pub fn key(url: &str) -> String {
    namespaced(NAMESPACE, url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(status: u16, headers: &[(&str, &str)]) -> Fetched {
        Fetched {
            status,
            final_url: "http://a/".into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            content_type: Some("application/json".into()),
            body: Vec::new(),
        }
    }

    #[test]
    fn validators_survive_the_store_and_become_conditions() {
        let date = "Wed, 21 Oct 2026 07:28:00 GMT";
        for (headers, sent) in [
            (
                vec![("etag", "\"v1\""), ("last-modified", date)],
                vec![("if-none-match", "\"v1\""), ("if-modified-since", date)],
            ),
            (
                vec![("etag", "W/\"v2\"")],
                vec![("if-none-match", "W/\"v2\"")],
            ),
            (
                vec![("last-modified", date)],
                vec![("if-modified-since", date)],
            ),
        ] {
            let validators = Validators::of(&fetched(200, &headers)).expect("has validators");
            let KvWrite::Expiring { key, value, ttl_ms } =
                validators.write("http://a/x", Duration::from_secs(60))
            else {
                panic!("an expiring write");
            };
            assert_eq!(key, "@conditional:http://a/x");
            assert_eq!(ttl_ms, 60_000);
            let back = Validators::decode(&value).expect("decodes");
            assert_eq!(back, validators);
            assert_eq!(back.content_type(), Some("application/json"));
            let mut headers = Vec::new();
            back.push_headers(&mut headers);
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
                .collect();
            assert_eq!(headers, sent);
        }
    }

    #[test]
    fn nothing_to_keep_without_a_validator_or_a_200() {
        assert_eq!(Validators::of(&fetched(200, &[("etag", "")])), None);
        assert_eq!(Validators::of(&fetched(200, &[("x", "y")])), None);
        assert_eq!(Validators::of(&fetched(404, &[("etag", "\"v\"")])), None);
        assert_eq!(Validators::decode(b"no newline"), None);
        assert_eq!(Validators::decode(b"\n\n"), None);
        assert_eq!(Validators::decode(b"\"v\"\n"), None);
    }
}
