/*
 * HTTP status policy, as plugins/music-sync/src/status.rs: 2xx proceeds; 404
 * and 410 fail; 429 and 503 are retried (honouring a `retry-after` header in
 * whole seconds); anything else fails naming the status.
 */
#ifndef MUSIC_SYNC_STATUS_H
#define MUSIC_SYNC_STATUS_H

#include "common.h"

typedef enum { STATUS_PROCEED, STATUS_RETRY, STATUS_FAIL } status_verdict_t;

typedef struct {
    str_t name;
    str_t value;
} header_t;

/* The verdict; for RETRY and FAIL, the message is appended to `message`, and
 * for RETRY *has_delay / *delay_ms tell the retry-after delay. */
status_verdict_t status_check(uint16_t status, const header_t *headers, size_t header_count, str_t url,
                              buf_t *message, bool *has_delay, uint64_t *delay_ms);

#endif
