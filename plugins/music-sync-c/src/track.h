/*
 * Parsing, validation and normalisation of one music-info document: the
 * rules stated at the top of plugins/music-sync/src/track.rs. Errors read
 * `<field>: <reason>` or `<field>: <reason>: <detail>` with the reasons
 * listed there.
 */
#ifndef MUSIC_SYNC_TRACK_H
#define MUSIC_SYNC_TRACK_H

#include "common.h"

typedef struct {
    str_t id;
    str_t title;
    str_t artist;
    str_t album; /* empty: null */
    str_t genre; /* empty: null */
    uint64_t duration_seconds;
    uint64_t release_year; /* 0: null */
    str_t source_url;
} track_t;

/* Normalise `body` (strings live in the job's arena); on failure append the
 * job's error message to `error` and return false. */
bool track_normalise(str_t body, str_t source_url, track_t *track, buf_t *error);

/* The record as compact JSON, keys in the order above, UTF-8. */
void track_encode(const track_t *track, buf_t *out);

#endif
