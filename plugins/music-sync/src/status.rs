//! HTTP status policy for music-sync: which statuses proceed, which ask for
//! the track's row to be deleted, which are worth a retry and which fail the
//! job for good. Pure code, no bindings, so it is unit-tested natively.
//!
//! # The rules
//!
//! The ports (`plugins/music-sync-js`, `-py`, `-c`) follow them too, and the
//! host's tests compare their records with this plugin's byte for byte.
//!
//! - 2xx proceeds: the body is a track document (`track.rs`).
//! - 404 and 410 mean the provider no longer serves the track (its licence
//!   ended): the job succeeds and asks the sink to delete the track's row.
//!   The track's id is the task's URL's [`track_id`] (the task's, not the
//!   final URL after redirects: the task names the track the catalogue
//!   knows). The job's one record has the content type
//!   [`DELETE_CONTENT_TYPE`] and holds the row's key, `{"id":"<id>"}` as
//!   compact JSON; the handler also deletes the kv key `music:<id>`, the
//!   mirror of what a synced track sets, and leaves the `stats:tracks`
//!   counter alone. A URL that names no id fails the job for good:
//!   `track not found (HTTP 404) at <final URL>: the task's URL names no
//!   track id`.
//! - 429 and 503 are retried, honouring a `retry-after` header given in
//!   whole seconds (the HTTP-date form is ignored: the host's backoff
//!   applies instead). The host retries both itself before a plugin sees
//!   them; the rule is for a host that would not.
//! - Anything else fails naming the status: `unexpected HTTP status 403 at
//!   <final URL>`.

/// The content type of the record that asks for a track's row to be
/// deleted: JSON holding the row's key columns, `op=delete` for the sink.
pub const DELETE_CONTENT_TYPE: &str = "application/json; op=delete";

/// What to do with a response that can be processed.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// 2xx: normalise the body.
    Proceed,
    /// 404 or 410: the track with this id is gone; ask for its row to be
    /// deleted.
    Gone { status: u16, id: &'a str },
}

/// Why a response cannot be processed; maps one to one onto the WIT
/// `handle-error` variant.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Transient: try again, after `delay_ms` if the server said how long.
    Retry {
        message: String,
        delay_ms: Option<u64>,
    },
    /// Permanent: dead-letter the job with this message.
    Fail(String),
}

/// Decide what to do with a response's status, by the rules above.
/// `task_url` is the task's URL, `final_url` the one the response came from
/// (messages name it); `headers` have lower-case names, as the host promises.
pub fn check<'a>(
    status: u16,
    headers: &[(String, String)],
    task_url: &'a str,
    final_url: &str,
) -> Result<Verdict<'a>, Rejection> {
    match status {
        200..=299 => Ok(Verdict::Proceed),
        404 | 410 => match track_id(task_url) {
            Some(id) => Ok(Verdict::Gone { status, id }),
            None => Err(Rejection::Fail(format!(
                "track not found (HTTP {status}) at {final_url}: the task's URL names no track id"
            ))),
        },
        429 | 503 => {
            let reason = if status == 429 {
                "rate limited"
            } else {
                "service unavailable"
            };
            Err(Rejection::Retry {
                message: format!("{reason} (HTTP {status}) at {final_url}"),
                delay_ms: retry_after_ms(headers),
            })
        }
        _ => Err(Rejection::Fail(format!(
            "unexpected HTTP status {status} at {final_url}"
        ))),
    }
}

/// The track id a URL names: the last non-empty segment of its path, taken
/// verbatim (no percent-decoding), or `None` if the path has no non-empty
/// segment (`https://h/`, `https://h`).
///
/// The URL is read as text, in this order, so that every port reads it the
/// same way: cut it at its first `?` or `#` (the query and the fragment
/// go); the scheme ends at the first `:`; if `//` follows, the authority
/// runs to the next `/` (no `/`: the path is empty); the rest is the path,
/// whose segments are separated by `/` alone (a `\` is part of a segment).
pub fn track_id(url: &str) -> Option<&str> {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let rest = url.split_once(':').map_or(url, |(_scheme, rest)| rest);
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => authority_and_path
            .split_once('/')
            .map_or("", |(_authority, path)| path),
        None => rest,
    };
    path.split('/').rev().find(|segment| !segment.is_empty())
}

/// The first `retry-after` header as milliseconds, if it holds whole seconds.
fn retry_after_ms(headers: &[(String, String)]) -> Option<u64> {
    let (_, value) = headers.iter().find(|(name, _)| name == "retry-after")?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(seconds.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://api.example-music.test/tracks/1";

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn success_statuses_proceed() {
        assert_eq!(check(200, &[], URL, URL), Ok(Verdict::Proceed));
        assert_eq!(check(204, &[], URL, URL), Ok(Verdict::Proceed));
    }

    #[test]
    fn missing_tracks_ask_for_their_row_to_be_deleted() {
        assert_eq!(
            check(404, &[], URL, URL),
            Ok(Verdict::Gone {
                status: 404,
                id: "1"
            })
        );
        assert_eq!(
            check(410, &[], URL, URL),
            Ok(Verdict::Gone {
                status: 410,
                id: "1"
            })
        );
        // The task's URL names the track, not the one redirected to.
        assert_eq!(
            check(404, &[], URL, "https://cdn.example-music.test/gone/9"),
            Ok(Verdict::Gone {
                status: 404,
                id: "1"
            })
        );
    }

    #[test]
    fn missing_tracks_without_an_id_fail_naming_the_url() {
        for (status, url) in [
            (404, "https://h/"),
            (410, "https://h"),
            (404, "https://h/?id=3"),
        ] {
            assert_eq!(
                check(status, &[], url, url),
                Err(Rejection::Fail(format!(
                    "track not found (HTTP {status}) at {url}: the task's URL names no track id"
                )))
            );
        }
    }

    #[test]
    fn the_track_id_is_the_last_non_empty_path_segment_verbatim() {
        let cases = [
            ("https://h/tracks/42", Some("42")),
            ("https://h/tracks/42/", Some("42")),
            ("https://h/tracks/42//", Some("42")),
            ("https://h/tracks/42?format=json", Some("42")),
            ("https://h/tracks/42/?a=/b/c", Some("42")),
            ("https://h/tracks/42#top", Some("42")),
            ("https://h/tracks/42#a?b/c", Some("42")),
            ("https://h/tracks/42?a#b/c", Some("42")),
            ("https://h/42", Some("42")),
            ("https://h:8080/tracks/a%20b", Some("a%20b")),
            ("https://u:p@h/tracks/é\"\\", Some("é\"\\")),
            ("https://h/tracks\\42", Some("tracks\\42")),
            ("file:///data/tracks/7.json", Some("7.json")),
            ("http:/tracks/5", Some("5")),
            ("inline:t-1", Some("t-1")),
            ("https://h/", None),
            ("https://h", None),
            ("https://h?x=/1", None),
            ("https://h#/1", None),
            ("https://h//", None),
            ("https://h/?/1", None),
            ("https:", None),
            ("", None),
        ];
        for (url, id) in cases {
            assert_eq!(track_id(url), id, "{url}");
        }
    }

    #[test]
    fn throttling_is_retried_with_retry_after() {
        assert_eq!(
            check(429, &headers(&[("retry-after", " 7 ")]), URL, URL),
            Err(Rejection::Retry {
                message: format!("rate limited (HTTP 429) at {URL}"),
                delay_ms: Some(7000),
            })
        );
        assert_eq!(
            check(
                503,
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
                URL,
                URL
            ),
            Err(Rejection::Retry {
                message: format!("service unavailable (HTTP 503) at {URL}"),
                delay_ms: None,
            })
        );
    }

    #[test]
    fn other_statuses_fail_naming_the_status() {
        assert_eq!(
            check(403, &[], URL, URL),
            Err(Rejection::Fail(format!(
                "unexpected HTTP status 403 at {URL}"
            )))
        );
        assert_eq!(
            check(301, &[], URL, URL),
            Err(Rejection::Fail(format!(
                "unexpected HTTP status 301 at {URL}"
            )))
        );
    }
}
