"""HTTP status policy, as plugins/music-sync/src/status.rs: 2xx proceeds; 404
and 410 fail; 429 and 503 are retried (honouring a ``retry-after`` header in
whole seconds); anything else fails naming the status."""
import re

U64_MAX = 2**64 - 1
# Rust's u64::from_str (an optional ``+``, then ASCII digits) inside Rust's
# str::trim (Unicode White_Space at either end).
_WHITESPACE = "[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*"
_SECONDS = re.compile(f"{_WHITESPACE}\\+?([0-9]+){_WHITESPACE}")


class Retry(Exception):
    def __init__(self, message, delay_ms):
        super().__init__(message)
        self.message = message
        self.delay_ms = delay_ms


class Fail(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def check(status, headers, url):
    """Return to proceed, raise Retry or Fail otherwise."""
    if 200 <= status <= 299:
        return
    if status in (404, 410):
        raise Fail(f"track not found (HTTP {status}) at {url}")
    if status in (429, 503):
        reason = "rate limited" if status == 429 else "service unavailable"
        raise Retry(f"{reason} (HTTP {status}) at {url}", _retry_after_ms(headers))
    raise Fail(f"unexpected HTTP status {status} at {url}")


def _retry_after_ms(headers):
    """The first ``retry-after`` header as milliseconds, if it holds whole seconds."""
    value = next((value for name, value in headers if name == "retry-after"), None)
    match = None if value is None else _SECONDS.fullmatch(value)
    if match is None or int(match[1]) > U64_MAX:
        return None
    return min(int(match[1]) * 1000, U64_MAX)
