"""HTTP status policy, as plugins/music-sync/src/status.rs (the rules are
stated there): 2xx proceeds; 404 and 410 ask for the track's row to be deleted
(its id from the task's URL) or, if that URL names no id, fail; 429 and 503
are retried (honouring a ``retry-after`` header in whole seconds); anything
else fails naming the status."""
import re

# The content type of the record that asks for a track's row to be deleted.
DELETE_CONTENT_TYPE = "application/json; op=delete"

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


def check(status, headers, task_url, final_url):
    """Return None to proceed or the id of a track that is gone (404, 410);
    raise Retry or Fail otherwise."""
    if 200 <= status <= 299:
        return None
    if status in (404, 410):
        track = track_id(task_url)
        if track is None:
            raise Fail(f"track not found (HTTP {status}) at {final_url}: the task's URL names no track id")
        return track
    if status in (429, 503):
        reason = "rate limited" if status == 429 else "service unavailable"
        raise Retry(f"{reason} (HTTP {status}) at {final_url}", _retry_after_ms(headers))
    raise Fail(f"unexpected HTTP status {status} at {final_url}")


def track_id(url):
    """The track id a URL names (status.rs, ``track_id``): the last non-empty
    segment of its path, verbatim, or None. Cut at the first ``?`` or ``#``;
    the scheme ends at the first ``:``; after ``//`` the authority runs to the
    next ``/``; segments are separated by ``/`` alone."""
    url = re.split("[?#]", url, maxsplit=1)[0]
    path = url.partition(":")[2] if ":" in url else url
    if path.startswith("//"):
        path = path[2:].partition("/")[2]
    return next((segment for segment in reversed(path.split("/")) if segment), None)


def _retry_after_ms(headers):
    """The first ``retry-after`` header as milliseconds, if it holds whole seconds."""
    value = next((value for name, value in headers if name == "retry-after"), None)
    match = None if value is None else _SECONDS.fullmatch(value)
    if match is None or int(match[1]) > U64_MAX:
        return None
    return min(int(match[1]) * 1000, U64_MAX)
