/* The HTTP status policy (see status.h). */
#include "status.h"

#include <string.h>


/* The first `retry-after` header as milliseconds, if it holds whole seconds
 * (Rust's u64::from_str: an optional '+', then ASCII digits). */
static bool retry_after_ms(const header_t *headers, size_t count, uint64_t *out) {
    for (size_t i = 0; i < count; i++) {
        if (headers[i].name.len != 11 || memcmp(headers[i].name.ptr, "retry-after", 11) != 0) continue;
        str_t value = trim(headers[i].value);
        if (value.len > 0 && value.ptr[0] == '+') {
            value.ptr++;
            value.len--;
        }
        if (value.len == 0) return false;
        uint64_t seconds = 0;
        for (size_t k = 0; k < value.len; k++) {
            uint8_t c = value.ptr[k];
            if (c < '0' || c > '9') return false;
            if (seconds > (UINT64_MAX - (uint64_t)(c - '0')) / 10) return false;
            seconds = seconds * 10 + (uint64_t)(c - '0');
        }
        *out = seconds > UINT64_MAX / 1000 ? UINT64_MAX : seconds * 1000; /* saturating_mul */
        return true;
    }
    return false;
}

status_verdict_t status_check(uint16_t status, const header_t *headers, size_t header_count, str_t url,
                              buf_t *message, bool *has_delay, uint64_t *delay_ms) {
    if (status >= 200 && status <= 299) return STATUS_PROCEED;
    if (status == 404 || status == 410) {
        buf_cstr(message, "track not found (HTTP ");
        buf_u64(message, status);
        buf_cstr(message, ") at ");
        buf_str(message, url);
        return STATUS_FAIL;
    }
    if (status == 429 || status == 503) {
        buf_cstr(message, status == 429 ? "rate limited (HTTP " : "service unavailable (HTTP ");
        buf_u64(message, status);
        buf_cstr(message, ") at ");
        buf_str(message, url);
        *has_delay = retry_after_ms(headers, header_count, delay_ms);
        return STATUS_RETRY;
    }
    buf_cstr(message, "unexpected HTTP status ");
    buf_u64(message, status);
    buf_cstr(message, " at ");
    buf_str(message, url);
    return STATUS_FAIL;
}
