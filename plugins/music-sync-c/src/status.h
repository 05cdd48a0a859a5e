/*
 * HTTP status policy, as plugins/music-sync/src/status.rs (the rules are
 * stated there): 2xx proceeds; 404 and 410 ask for the track's row to be
 * deleted (its id from the task's URL) or, if that URL names no id, fail;
 * 429 and 503 are retried (honouring a `retry-after` header in whole
 * seconds); anything else fails naming the status.
 */
#ifndef MUSIC_SYNC_STATUS_H
#define MUSIC_SYNC_STATUS_H

#include "common.h"

typedef enum { STATUS_PROCEED, STATUS_GONE, STATUS_RETRY, STATUS_FAIL } status_verdict_t;

/* The content type of the record that asks for a track's row to be deleted. */
#define STATUS_DELETE_CONTENT_TYPE "application/json; op=delete"

typedef struct {
    str_t name;
    str_t value;
} header_t;

/* The verdict for a response from `final_url` to the task for `task_url`; for
 * GONE, *track_id is the id `task_url` names (a slice of it); for RETRY and
 * FAIL, the message is appended to `message`, and for RETRY *has_delay /
 * *delay_ms tell the retry-after delay. */
status_verdict_t status_check(uint16_t status, const header_t *headers, size_t header_count, str_t task_url,
                              str_t final_url, str_t *track_id, buf_t *message, bool *has_delay,
                              uint64_t *delay_ms);

/* The track id `url` names (status.rs, `track_id`): the last non-empty
 * segment of its path, verbatim, in *id (a slice of `url`); false if none.
 * Cut at the first '?' or '#'; the scheme ends at the first ':'; after "//"
 * the authority runs to the next '/'; segments are separated by '/' alone. */
bool status_track_id(str_t url, str_t *id);

#endif
