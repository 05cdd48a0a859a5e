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

bool status_track_id(str_t url, str_t *id) {
    const uint8_t *end = url.ptr + url.len;
    for (const uint8_t *p = url.ptr; p < end; p++) {
        if (*p == '?' || *p == '#') {
            end = p;
            break;
        }
    }
    const uint8_t *path = url.ptr;
    const uint8_t *colon = end > url.ptr ? memchr(url.ptr, ':', (size_t)(end - url.ptr)) : NULL;
    if (colon != NULL) path = colon + 1;
    if (end - path >= 2 && path[0] == '/' && path[1] == '/') {
        const uint8_t *slash = memchr(path + 2, '/', (size_t)(end - (path + 2)));
        path = slash == NULL ? end : slash + 1;
    }
    /* The last non-empty segment, scanning back from the end. */
    while (end > path && end[-1] == '/') end--;
    if (end == path) return false;
    const uint8_t *start = end;
    while (start > path && start[-1] != '/') start--;
    *id = (str_t){start, (size_t)(end - start)};
    return true;
}

status_verdict_t status_check(uint16_t status, const header_t *headers, size_t header_count, str_t task_url,
                              str_t final_url, str_t *track_id, buf_t *message, bool *has_delay,
                              uint64_t *delay_ms) {
    if (status >= 200 && status <= 299) return STATUS_PROCEED;
    if (status == 404 || status == 410) {
        if (status_track_id(task_url, track_id)) return STATUS_GONE;
        buf_cstr(message, "track not found (HTTP ");
        buf_u64(message, status);
        buf_cstr(message, ") at ");
        buf_str(message, final_url);
        buf_cstr(message, ": the task's URL names no track id");
        return STATUS_FAIL;
    }
    if (status == 429 || status == 503) {
        buf_cstr(message, status == 429 ? "rate limited (HTTP " : "service unavailable (HTTP ");
        buf_u64(message, status);
        buf_cstr(message, ") at ");
        buf_str(message, final_url);
        *has_delay = retry_after_ms(headers, header_count, delay_ms);
        return STATUS_RETRY;
    }
    buf_cstr(message, "unexpected HTTP status ");
    buf_u64(message, status);
    buf_cstr(message, " at ");
    buf_str(message, final_url);
    return STATUS_FAIL;
}
