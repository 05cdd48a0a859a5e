/*
 * Parsing, validation and normalisation of one music-info document, ported
 * from plugins/music-sync/src/track.rs, whose header states the rules. Every
 * message and every output byte must equal the Rust plugin's.
 */
#ifndef MUSIC_SYNC_TRACK_H
#define MUSIC_SYNC_TRACK_H

#include "common.h"

typedef struct {
    str_t id;
    str_t title;
    str_t artist;
    bool has_album;
    str_t album;
    bool has_genre;
    str_t genre;
    uint64_t duration_seconds;
    bool has_release_year;
    int64_t release_year;
    str_t source_url;
} track_t;

/* Normalise `body`; on failure append the message for the dead letters to
 * `error` and return false. */
bool track_normalise(str_t body, str_t source_url, track_t *track, buf_t *error);

/* The record as serde_json writes the Rust Track: compact JSON, UTF-8. */
void track_encode(const track_t *track, buf_t *out);

#endif
