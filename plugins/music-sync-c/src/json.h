/*
 * A small JSON reader for music-sync, since C has no standard one. It reads
 * a whole document into the job's arena and refuses what serde_json (the
 * Rust port's parser) refuses: invalid UTF-8, bad syntax, numbers beyond a
 * double, escaped lone surrogates, nesting deeper than 127. Arrays keep no
 * items (the rules never look inside one).
 */
#ifndef MUSIC_SYNC_JSON_H
#define MUSIC_SYNC_JSON_H

#include "common.h"

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_kind_t;

typedef struct json_member json_member_t;

typedef struct {
    json_kind_t kind;
    str_t source;           /* the value as written in the document, for messages */
    double number;          /* JSON_NUMBER: the nearest double */
    str_t string;           /* JSON_STRING: unescaped, UTF-8 */
    json_member_t *members; /* JSON_OBJECT: the last one first */
} json_value_t;

struct json_member {
    str_t key;
    json_value_t value;
    json_member_t *next;
};

/* Parse `text`; on failure append "what at line L column C" to `error`. */
bool json_parse(str_t text, json_value_t *out, buf_t *error);

/* The value of `key` in an object (the last one if repeated), or NULL. */
const json_value_t *json_get(const json_value_t *object, const char *key);

/* `text` as a JSON string: quotes, backslashes and control characters escaped. */
void json_write_string(buf_t *out, str_t text);

#endif
