//! Parsers for flag values: durations, sizes, times, `PLUGIN=N`.

use std::time::Duration;

/// `250ms`, `30s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 250ms, 30s, 5m or 1h"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use ms, s, m, h or d"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// `PLUGIN=N` for `--reuse-instances`.
pub fn parse_reuse(text: &str) -> Result<(String, u32), String> {
    let bad = || format!("`{text}` is not PLUGIN=N (e.g. music-sync-js=100)");
    let (plugin, n) = text.split_once('=').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    if plugin.is_empty() || n < 2 {
        return Err(format!(
            "{}: N must be at least 2 (1 is a fresh instance per job)",
            bad()
        ));
    }
    Ok((plugin.to_owned(), n))
}

/// Unix seconds, or an RFC 3339 time (`2030-01-31T12:00:00Z`, or with an
/// offset such as `+08:00`); returns ms since the epoch. Impossible dates
/// (2030-02-31) and times too far out to count in milliseconds are errors.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .ok()
            .and_then(|seconds| seconds.checked_mul(1000))
            .ok_or_else(|| {
                format!("`{text}` is too far in the future to be a time in Unix seconds")
            });
    }
    let timestamp: jiff::Timestamp = text.parse().map_err(|error| {
        format!("`{text}` is not a time ({error}); write Unix seconds or 2030-01-31T12:00:00Z")
    })?;
    u64::try_from(timestamp.as_millisecond())
        .map_err(|_| format!("`{text}` is before 1970: write a time after the Unix epoch"))
}

/// `10MiB`, `512KiB`, `1GiB`, `64M`, `1000` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. 10MiB, 512KiB or 1000"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use KiB, MiB or GiB"
            ))
        }
    };
    value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_duration("5 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("fast")
            .unwrap_err()
            .contains("not a duration"));
        assert_eq!(parse_size("10MiB").unwrap(), 10 << 20);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("3 bananas").is_err());
        assert_eq!(
            parse_time("2001-09-09T01:46:40Z").unwrap(),
            1_000_000_000_000
        );
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert!(parse_time("tomorrow").is_err());
        assert_eq!(
            parse_time("2030-01-31T20:00:00+08:00").unwrap(),
            parse_time("2030-01-31T12:00:00Z").unwrap()
        );
        assert_eq!(
            parse_time("2028-02-29T00:00:00Z").unwrap(),
            1_835_395_200_000
        );
    }

    #[test]
    fn impossible_dates_and_huge_times_are_errors_not_overflows() {
        for text in [
            "2030-02-31T00:00:00Z",
            "2029-02-29T00:00:00Z",
            "2030-04-31T12:00:00Z",
            "2030-13-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(parse_time(text).is_err(), "{text}");
        }
        let largest = u64::MAX / 1000;
        assert_eq!(parse_time(&largest.to_string()).unwrap(), largest * 1000);
        for text in [
            (largest + 1).to_string(),
            u64::MAX.to_string(),
            "1".repeat(30),
        ] {
            let error = parse_time(&text).unwrap_err();
            assert!(error.contains("too far in the future"), "{error}");
        }
    }
}
