/*
 * A JSON reader and writer that behave exactly like serde_json 1.0 as the Rust
 * music-sync plugin uses it (from_slice::<Value> without the float_roundtrip
 * and arbitrary_precision features, to_string): the same documents fail with
 * the same messages and positions, numbers keep serde_json's u64/i64/f64
 * distinction and its float rounding, and output bytes are the same.
 */
#ifndef MUSIC_SYNC_JSON_H
#define MUSIC_SYNC_JSON_H

#include "common.h"

typedef enum { JSON_NULL, JSON_BOOL, JSON_STRING, JSON_NUMBER, JSON_ARRAY, JSON_OBJECT } json_kind_t;
typedef enum { NUMBER_U64, NUMBER_I64, NUMBER_F64 } number_kind_t;

typedef struct json_member json_member_t;

typedef struct json_value {
    json_kind_t kind;
    bool boolean;
    str_t string; /* valid UTF-8 */
    number_kind_t number_kind;
    uint64_t u64;
    int64_t i64;
    double f64;
    json_member_t *members; /* objects only; arrays keep no items */
    size_t count;
} json_value_t;

struct json_member {
    str_t key;
    json_value_t value;
};

/* serde_json's error: a message such as "expected value" and its position
 * (1-based line, 0-based byte column as serde_json counts it). */
typedef struct {
    const char *what;
    size_t line;
    size_t column;
} json_error_t;

/* Parse a whole document; values live in the arena. */
bool json_parse(const uint8_t *data, size_t len, json_value_t *out, json_error_t *error);

/* The value of `key` in an object (the last one if repeated), or NULL. */
const json_value_t *json_get(const json_value_t *object, const char *key);

/* serde_json's is_i64() || is_u64(), as_f64(), as_i64(). */
bool json_is_integer(const json_value_t *number);
double json_as_f64(const json_value_t *number);
bool json_as_i64(const json_value_t *number, int64_t *out);

/* A string as serde_json writes it: quotes, backslash and C0 controls escaped. */
void json_write_string(buf_t *out, str_t text);
/* A number as serde_json's Display writes it. */
void json_write_number(buf_t *out, const json_value_t *number);
/* A finite float as serde_json 1.0.154 (the zmij crate) writes it. */
void json_write_f64(buf_t *out, double value);

#endif
