/* music-sync's normalisation rules (see track.h and track.rs). */
#include "track.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "text.h"

enum { YEAR_MIN = 1900, YEAR_MAX = 2100, MAX_CHARS = 40 };

/* A short description of a JSON value for messages: scalars as JSON, long strings cut. */
static void describe(buf_t *out, const json_value_t *value) {
    switch (value->kind) {
    case JSON_ARRAY: buf_cstr(out, "an array"); break;
    case JSON_OBJECT: buf_cstr(out, "an object"); break;
    case JSON_NULL: buf_cstr(out, "null"); break;
    case JSON_BOOL: buf_cstr(out, value->boolean ? "true" : "false"); break;
    case JSON_NUMBER: json_write_number(out, value); break;
    case JSON_STRING:
        if (text_char_count(value->string) > MAX_CHARS) {
            json_write_string(out, text_take_chars(value->string, MAX_CHARS));
            buf_cstr(out, "...");
        } else {
            json_write_string(out, value->string);
        }
        break;
    }
}

/* A field's value, treating null as absent (NULL). */
static const json_value_t *field(const json_value_t *fields, const char *name) {
    const json_value_t *value = json_get(fields, name);
    return value != NULL && value->kind != JSON_NULL ? value : NULL;
}

static bool missing(buf_t *error, const char *name) {
    buf_cstr(error, "missing field `");
    buf_cstr(error, name);
    buf_cstr(error, "`");
    return false;
}

/* "field `NAME` must be EXPECTED, got DESCRIPTION" */
static bool must_be(buf_t *error, const char *name, const char *expected, const json_value_t *value) {
    buf_cstr(error, "field `");
    buf_cstr(error, name);
    buf_cstr(error, "` must be ");
    buf_cstr(error, expected);
    buf_cstr(error, ", got ");
    describe(error, value);
    return false;
}

static bool string_value(const json_value_t *value, const char *what, str_t *out, buf_t *error) {
    if (value->kind != JSON_STRING) return must_be(error, what, "a string", value);
    *out = text_clean(value->string);
    return true;
}

static bool non_empty(str_t text, const char *what, buf_t *error) {
    if (text.len != 0) return true;
    buf_cstr(error, "field `");
    buf_cstr(error, what);
    buf_cstr(error, "` must not be empty");
    return false;
}

static bool required_string(const json_value_t *fields, const char *name, str_t *out, buf_t *error) {
    const json_value_t *value = field(fields, name);
    if (value == NULL) return missing(error, name);
    return string_value(value, name, out, error) && non_empty(*out, name, error);
}

static bool optional_string(const json_value_t *fields, const char *name, bool *present, str_t *out, buf_t *error) {
    const json_value_t *value = field(fields, name);
    *present = false;
    if (value == NULL) return true;
    if (!string_value(value, name, out, error)) return false;
    *present = out->len != 0;
    return true;
}

static bool id(const json_value_t *fields, str_t *out, buf_t *error) {
    const json_value_t *value = field(fields, "id");
    if (value == NULL) return missing(error, "id");
    if (value->kind == JSON_STRING) {
        *out = text_clean(value->string);
        return non_empty(*out, "id", error);
    }
    if (value->kind == JSON_NUMBER && json_is_integer(value)) {
        buf_t digits = {0};
        json_write_number(&digits, value);
        uint8_t *copy = arena_alloc(digits.len);
        memcpy(copy, digits.ptr, digits.len);
        *out = (str_t){copy, digits.len};
        free(digits.ptr);
        return true;
    }
    return must_be(error, "id", "a string or an integer", value);
}

static bool artist(const json_value_t *fields, str_t *out, buf_t *error) {
    const json_value_t *value = field(fields, "artist");
    if (value == NULL) return missing(error, "artist");
    if (value->kind == JSON_STRING) {
        *out = text_clean(value->string);
        return non_empty(*out, "artist", error);
    }
    if (value->kind == JSON_OBJECT) {
        const json_value_t *name = field(value, "name");
        if (name == NULL) return missing(error, "artist.name");
        return string_value(name, "artist.name", out, error) && non_empty(*out, "artist.name", error);
    }
    return must_be(error, "artist", "a string or an object with a `name`", value);
}

static bool all_digits(str_t text) {
    if (text.len == 0) return false;
    for (size_t i = 0; i < text.len; i++) {
        if (text.ptr[i] < '0' || text.ptr[i] > '9') return false;
    }
    return true;
}

/* Rust's u64::from_str on ASCII digits (leading zeros allowed). */
static bool parse_u64(str_t digits, uint64_t *out) {
    uint64_t value = 0;
    for (size_t i = 0; i < digits.len; i++) {
        uint64_t digit = (uint64_t)(digits.ptr[i] - '0');
        if (value > (UINT64_MAX - digit) / 10) return false;
        value = value * 10 + digit;
    }
    *out = value;
    return true;
}

/* Seconds in an "m:ss" string. */
static bool minutes_seconds(str_t text, uint64_t *out) {
    const uint8_t *colon = memchr(text.ptr, ':', text.len);
    if (colon == NULL) return false;
    str_t minutes = {text.ptr, (size_t)(colon - text.ptr)};
    str_t seconds = {colon + 1, text.len - minutes.len - 1};
    if (!all_digits(minutes) || seconds.len != 2 || !all_digits(seconds)) return false;
    uint64_t m, s;
    if (!parse_u64(minutes, &m) || !parse_u64(seconds, &s) || s >= 60) return false;
    if (m > (UINT64_MAX - s) / 60) return false; /* checked_mul, checked_add */
    *out = m * 60 + s;
    return true;
}

static bool duration(const json_value_t *fields, uint64_t *out, buf_t *error) {
    const char *name = "duration";
    const json_value_t *value = field(fields, "duration");
    if (value == NULL) {
        name = "duration_ms";
        value = field(fields, "duration_ms");
    }
    if (value == NULL) {
        buf_cstr(error, "missing field `duration` (or `duration_ms`)");
        return false;
    }
    bool in_seconds = name[8] == '\0';
    double seconds;
    if (in_seconds && value->kind == JSON_NUMBER) {
        seconds = json_as_f64(value);
    } else if (in_seconds && value->kind == JSON_STRING) {
        uint64_t total;
        if (!minutes_seconds(text_trim(value->string), &total)) {
            return must_be(error, name, "a number of seconds or an \"m:ss\" string", value);
        }
        seconds = (double)total;
    } else if (!in_seconds && value->kind == JSON_NUMBER) {
        seconds = json_as_f64(value) / 1000.0;
    } else {
        return must_be(error, name,
                       in_seconds ? "a number of seconds or an \"m:ss\" string" : "a number of milliseconds",
                       value);
    }
    double rounded = round(seconds); /* half away from zero, as f64::round */
    if (rounded >= 1.0 && rounded <= 4294967295.0) {
        *out = (uint64_t)rounded;
        return true;
    }
    return must_be(error, name,
                   in_seconds ? "a positive number of seconds" : "a positive number of milliseconds", value);
}

/* The year of "YYYY" or, if `full_date`, "YYYY-MM-DD" (month 01-12, day 01-31). */
static bool year_of(str_t text, bool full_date, int64_t *out) {
    if (text.len < 4 || !all_digits((str_t){text.ptr, 4})) return false;
    int64_t year = (text.ptr[0] - '0') * 1000 + (text.ptr[1] - '0') * 100 + (text.ptr[2] - '0') * 10 +
                   (text.ptr[3] - '0');
    if (text.len == 4) {
        *out = year;
        return true;
    }
    /* Exactly "YYYY-MM-DD": the split on '-' must give three parts of 4, 2, 2 digits. */
    if (!full_date || text.len != 10 || text.ptr[4] != '-' || text.ptr[7] != '-') return false;
    str_t month = {text.ptr + 5, 2}, day = {text.ptr + 8, 2};
    if (!all_digits(month) || !all_digits(day)) return false;
    int m = (month.ptr[0] - '0') * 10 + (month.ptr[1] - '0');
    int d = (day.ptr[0] - '0') * 10 + (day.ptr[1] - '0');
    if (m < 1 || m > 12 || d < 1 || d > 31) return false;
    *out = year;
    return true;
}

static bool release_year(const json_value_t *fields, bool *present, int64_t *out, buf_t *error) {
    static const char *const names[] = {"release_year", "year", "release_date"};
    const json_value_t *value = NULL;
    int which = 0;
    for (; which < 3 && value == NULL; which++) value = field(fields, names[which]);
    *present = false;
    if (value == NULL) return true;
    which--;
    const char *name = names[which];
    bool found = false;
    int64_t year = 0;
    if (which <= 1 && value->kind == JSON_NUMBER && json_is_integer(value)) {
        found = json_as_i64(value, &year); /* false above i64::MAX */
    } else if (which >= 1 && value->kind == JSON_STRING) {
        found = year_of(text_trim(value->string), which == 2, &year);
    }
    if (!found) {
        static const char *const expected[] = {"an integer", "an integer or a \"YYYY\" string",
                                               "a \"YYYY-MM-DD\" or \"YYYY\" string"};
        return must_be(error, name, expected[which], value);
    }
    if (year < YEAR_MIN || year > YEAR_MAX) {
        return must_be(error, name, "a year between 1900 and 2100", value);
    }
    *present = true;
    *out = year;
    return true;
}

bool track_normalise(str_t body, str_t source_url, track_t *track, buf_t *error) {
    json_value_t document;
    json_error_t syntax;
    if (!json_parse(body.ptr, body.len, &document, &syntax)) {
        buf_cstr(error, "malformed JSON at line ");
        buf_u64(error, syntax.line);
        buf_cstr(error, " column ");
        buf_u64(error, syntax.column);
        buf_cstr(error, ": ");
        buf_cstr(error, syntax.what);
        return false;
    }
    if (document.kind != JSON_OBJECT) {
        buf_cstr(error, "expected a JSON object at the top level, got ");
        describe(error, &document);
        return false;
    }
    /* In Rust's field order, so that the first invalid field reported is the same. */
    if (!id(&document, &track->id, error)) return false;
    if (!required_string(&document, "title", &track->title, error)) return false;
    if (!artist(&document, &track->artist, error)) return false;
    if (!optional_string(&document, "album", &track->has_album, &track->album, error)) return false;
    if (!optional_string(&document, "genre", &track->has_genre, &track->genre, error)) return false;
    if (track->has_genre) track->genre = text_to_lowercase(track->genre);
    if (!duration(&document, &track->duration_seconds, error)) return false;
    if (!release_year(&document, &track->has_release_year, &track->release_year, error)) return false;
    track->source_url = source_url;
    return true;
}

void track_encode(const track_t *track, buf_t *out) {
    buf_cstr(out, "{\"id\":");
    json_write_string(out, track->id);
    buf_cstr(out, ",\"title\":");
    json_write_string(out, track->title);
    buf_cstr(out, ",\"artist\":");
    json_write_string(out, track->artist);
    buf_cstr(out, ",\"album\":");
    if (track->has_album) json_write_string(out, track->album); else buf_cstr(out, "null");
    buf_cstr(out, ",\"genre\":");
    if (track->has_genre) json_write_string(out, track->genre); else buf_cstr(out, "null");
    buf_cstr(out, ",\"duration_seconds\":");
    buf_u64(out, track->duration_seconds);
    buf_cstr(out, ",\"release_year\":");
    if (track->has_release_year) buf_i64(out, track->release_year); else buf_cstr(out, "null");
    buf_cstr(out, ",\"source_url\":");
    json_write_string(out, track->source_url);
    buf_byte(out, '}');
}
