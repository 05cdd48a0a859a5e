// HTTP status policy, as plugins/music-sync/src/status.rs: 2xx proceeds;
// 404 and 410 fail; 429 and 503 are retried (honouring a `retry-after`
// header in whole seconds); anything else fails naming the status.

const U64_MAX = 18446744073709551615n;
// Rust's u64::from_str (an optional `+`, then ASCII digits) inside Rust's
// str::trim (Unicode White_Space at either end).
const WHITESPACE = '[\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*';
const SECONDS = new RegExp(`^${WHITESPACE}\\+?([0-9]+)${WHITESPACE}$`);

/** null to proceed, else { retry: {message, delayMs} } or { fail: message }. */
export function check(status, headers, url) {
    if (status >= 200 && status <= 299) return null;
    if (status === 404 || status === 410) {
        return { fail: `track not found (HTTP ${status}) at ${url}` };
    }
    if (status === 429 || status === 503) {
        const reason = status === 429 ? 'rate limited' : 'service unavailable';
        return {
            retry: { message: `${reason} (HTTP ${status}) at ${url}`, delayMs: retryAfterMs(headers) },
        };
    }
    return { fail: `unexpected HTTP status ${status} at ${url}` };
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
