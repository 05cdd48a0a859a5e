//! HTTP status policy for music-sync: which statuses proceed, which are worth
//! a retry and which fail the job for good. Pure code, no bindings, so it is
//! unit-tested natively.

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

/// Decide what to do with a response's status.
///
/// 2xx proceeds; 404 and 410 mean the track does not exist; 429 and 503 are
/// retried, honouring a `retry-after` header given in seconds (the HTTP-date
/// form is ignored: the host's backoff applies instead); anything else fails
/// naming the status. `headers` have lower-case names, as the host promises.
pub fn check(status: u16, headers: &[(String, String)], url: &str) -> Result<(), Rejection> {
    match status {
        200..=299 => Ok(()),
        404 | 410 => Err(Rejection::Fail(format!(
            "track not found (HTTP {status}) at {url}"
        ))),
        429 | 503 => {
            let reason = if status == 429 {
                "rate limited"
            } else {
                "service unavailable"
            };
            Err(Rejection::Retry {
                message: format!("{reason} (HTTP {status}) at {url}"),
                delay_ms: retry_after_ms(headers),
            })
        }
        _ => Err(Rejection::Fail(format!(
            "unexpected HTTP status {status} at {url}"
        ))),
    }
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
        assert_eq!(check(200, &[], URL), Ok(()));
        assert_eq!(check(204, &[], URL), Ok(()));
    }

    #[test]
    fn missing_tracks_fail_naming_the_url() {
        assert_eq!(
            check(404, &[], URL),
            Err(Rejection::Fail(format!(
                "track not found (HTTP 404) at {URL}"
            )))
        );
        assert_eq!(
            check(410, &[], URL),
            Err(Rejection::Fail(format!(
                "track not found (HTTP 410) at {URL}"
            )))
        );
    }

    #[test]
    fn throttling_is_retried_with_retry_after() {
        assert_eq!(
            check(429, &headers(&[("retry-after", " 7 ")]), URL),
            Err(Rejection::Retry {
                message: format!("rate limited (HTTP 429) at {URL}"),
                delay_ms: Some(7000),
            })
        );
        assert_eq!(
            check(
                503,
                &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
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
            check(403, &[], URL),
            Err(Rejection::Fail(format!(
                "unexpected HTTP status 403 at {URL}"
            )))
        );
        assert_eq!(
            check(301, &[], URL),
            Err(Rejection::Fail(format!(
                "unexpected HTTP status 301 at {URL}"
            )))
        );
    }
}
