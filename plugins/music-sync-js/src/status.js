// HTTP status policy, as plugins/music-sync/src/status.rs (the rules are
// stated there): 2xx proceeds; 404 and 410 ask for the track's row to be
// deleted (its id from the task's URL) or, if that URL names no id, fail;
// 429 and 503 are retried (honouring a `retry-after` header in whole
// seconds); anything else fails naming the status.

/** The content type of the record that asks for a track's row to be deleted. */
export const DELETE_CONTENT_TYPE = 'application/json; op=delete';

const U64_MAX = 18446744073709551615n;
// Rust's u64::from_str (an optional `+`, then ASCII digits) inside Rust's
// str::trim (Unicode White_Space at either end).
const WHITESPACE = '[\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*';
const SECONDS = new RegExp(`^${WHITESPACE}\\+?([0-9]+)${WHITESPACE}$`);

/**
 * null to proceed, { gone: { status, id } } for a track to delete, else
 * { retry: {message, delayMs} } or { fail: message }.
 */
export function check(status, headers, taskUrl, finalUrl) {
    if (status >= 200 && status <= 299) return null;
    if (status === 404 || status === 410) {
        const id = trackId(taskUrl);
        if (id !== null) return { gone: { status, id } };
        return { fail: `track not found (HTTP ${status}) at ${finalUrl}: the task's URL names no track id` };
    }
    if (status === 429 || status === 503) {
        const reason = status === 429 ? 'rate limited' : 'service unavailable';
        return {
            retry: { message: `${reason} (HTTP ${status}) at ${finalUrl}`, delayMs: retryAfterMs(headers) },
        };
    }
    return { fail: `unexpected HTTP status ${status} at ${finalUrl}` };
}

/**
 * The track id a URL names (status.rs, `track_id`): the last non-empty
 * segment of its path, verbatim, or null. Cut at the first `?` or `#`; the
 * scheme ends at the first `:`; after `//` the authority runs to the next
 * `/`; segments are separated by `/` alone.
 */
export function trackId(url) {
    const cut = url.search(/[?#]/);
    if (cut !== -1) url = url.slice(0, cut);
    const colon = url.indexOf(':');
    let path = colon === -1 ? url : url.slice(colon + 1);
    if (path.startsWith('//')) {
        const slash = path.indexOf('/', 2);
        path = slash === -1 ? '' : path.slice(slash + 1);
    }
    const segments = path.split('/');
    for (let i = segments.length - 1; i >= 0; i--) {
        if (segments[i] !== '') return segments[i];
    }
    return null;
}

/** The first `retry-after` header as milliseconds (a BigInt, for the WIT u64), if whole seconds. */
function retryAfterMs(headers) {
    const header = headers.find(([name]) => name === 'retry-after');
    if (header === undefined) return undefined;
    const match = SECONDS.exec(header[1]);
    if (match === null) return undefined;
    const seconds = BigInt(match[1]);
    if (seconds > U64_MAX) return undefined;
    const ms = seconds * 1000n;
    return ms > U64_MAX ? U64_MAX : ms;
}
