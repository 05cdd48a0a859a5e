/* music-sync's normalisation rules (see track.h and track.rs). */
#include "track.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define MAX_SAFE_INTEGER 9007199254740991.0 /* 2^53 - 1 */
#define SECONDS_MAX 4294967295.0
enum { YEAR_MIN = 1900, YEAR_MAX = 2100, MAX_DESCRIBED = 40 };

/* "<field>: <reason>", then ": " and the rest of the message if the caller adds one. */
static bool invalid(buf_t *error, const char *field, const char *reason) {
    buf_cstr(error, field);
    buf_cstr(error, ": ");
    buf_cstr(error, reason);
    return false;
}

/* A JSON value in a message: containers by kind, scalars as written (cut). */
static void describe(buf_t *out, const json_value_t *value) {
    if (value->kind == JSON_ARRAY || value->kind == JSON_OBJECT) {
        buf_cstr(out, value->kind == JSON_ARRAY ? "an array" : "an object");
        return;
    }
    str_t text = value->source;
    if (text.len <= MAX_DESCRIBED) {
        buf_str(out, text);
        return;
    }
    size_t cut = MAX_DESCRIBED;
    while (cut > 0 && (text.ptr[cut] & 0xc0) == 0x80) cut--; /* not inside a character */
    buf_bytes(out, text.ptr, cut);
    buf_cstr(out, "...");
}

static bool wrong_type(buf_t *error, const char *field, const char *expected, const json_value_t *value) {
    invalid(error, field, "wrong type: expected ");
    buf_cstr(error, expected);
    buf_cstr(error, ", got ");
    describe(error, value);
    return false;
}

/* "<field>: <reason>: <expected>, got <value>" */
static bool with_value(buf_t *error, const char *field, const char *reason, const char *expected,
                       const json_value_t *value) {
    invalid(error, field, reason);
    buf_cstr(error, ": ");
    buf_cstr(error, expected);
    buf_cstr(error, "got ");
    describe(error, value);
    return false;
}

/* A field's value, treating null as absent (NULL). */
static const json_value_t *field(const json_value_t *fields, const char *name) {
    const json_value_t *value = json_get(fields, name);
    return value != NULL && value->kind != JSON_NULL ? value : NULL;
}

/* Trimmed, each inner run of whitespace one space. */
static str_t clean(str_t text) {
    uint8_t *out = arena_alloc(text.len + 1);
    size_t length = 0;
    bool gap = false;
    const uint8_t *s = text.ptr, *end = text.ptr + text.len;
    while (s < end) {
        size_t space = whitespace_length(s, end);
        if (space > 0) {
            gap = length > 0;
            s += space;
            continue;
        }
        if (gap) out[length++] = ' ';
        gap = false;
        out[length++] = *s++;
    }
    return (str_t){out, length};
}

static bool non_empty(const char *name, const json_value_t *value, str_t *out, buf_t *error) {
    *out = clean(value->string);
    return out->len > 0 || invalid(error, name, "empty");
}

static bool whole(const char *name, const json_value_t *value, buf_t *error) {
    return trunc(value->number) == value->number || with_value(error, name, "not an integer", "", value);
}

static bool required_string(const json_value_t *fields, const char *name, str_t *out, buf_t *error) {
    const json_value_t *value = field(fields, name);
    if (value == NULL) return invalid(error, name, "missing");
    if (value->kind != JSON_STRING) return wrong_type(error, name, "a string", value);
    return non_empty(name, value, out, error);
}

static bool optional_string(const json_value_t *fields, const char *name, str_t *out, buf_t *error) {
    const json_value_t *value = field(fields, name);
    *out = (str_t){0};
    if (value == NULL) return true;
    if (value->kind != JSON_STRING) return wrong_type(error, name, "a string", value);
    *out = clean(value->string);
    return true;
}

static bool id(const json_value_t *fields, str_t *out, buf_t *error) {
    const json_value_t *value = field(fields, "id");
    if (value == NULL) return invalid(error, "id", "missing");
    if (value->kind == JSON_STRING) return non_empty("id", value, out, error);
    if (value->kind != JSON_NUMBER) return wrong_type(error, "id", "a string or a number", value);
    if (!whole("id", value, error)) return false;
    if (fabs(value->number) > MAX_SAFE_INTEGER) {
        return with_value(error, "id", "out of range", "expected at most 2^53 - 1 in magnitude, ", value);
    }
    buf_t digits = {0};
    buf_i64(&digits, (int64_t)value->number); /* -0.0 gives "0" */
    uint8_t *text = arena_alloc(digits.len);
    memcpy(text, digits.ptr, digits.len);
    *out = (str_t){text, digits.len};
    free(digits.ptr);
    return true;
}

static bool artist(const json_value_t *fields, str_t *out, buf_t *error) {
    const json_value_t *value = field(fields, "artist");
    if (value == NULL) return invalid(error, "artist", "missing");
    if (value->kind == JSON_STRING) return non_empty("artist", value, out, error);
    if (value->kind != JSON_OBJECT) return wrong_type(error, "artist", "a string or an object", value);
    const json_value_t *name = field(value, "name");
    if (name == NULL) return invalid(error, "artist.name", "missing");
    if (name->kind != JSON_STRING) return wrong_type(error, "artist.name", "a string", name);
    return non_empty("artist.name", name, out, error);
}

static bool is_digit(uint8_t c) {
    return c >= '0' && c <= '9';
}

/* Seconds in an "m:ss" string (ASCII digits, seconds below 60), or -1. */
static double minutes_seconds(str_t text) {
    size_t colon = 0;
    double minutes = 0;
    while (colon < text.len && is_digit(text.ptr[colon])) minutes = minutes * 10 + (text.ptr[colon++] - '0');
    if (colon == 0 || text.len != colon + 3 || text.ptr[colon] != ':') return -1;
    const uint8_t *s = text.ptr + colon + 1;
    if (!is_digit(s[0]) || !is_digit(s[1]) || s[0] > '5') return -1;
    return minutes * 60 + (s[0] - '0') * 10 + (s[1] - '0');
}

static bool duration(const json_value_t *fields, uint64_t *out, buf_t *error) {
    const char *name = "duration";
    const json_value_t *value = field(fields, name);
    double seconds;
    if (value == NULL) {
        name = "duration_ms";
        value = field(fields, name);
        if (value == NULL) {
            invalid(error, "duration", "missing");
            buf_cstr(error, ": give `duration` (seconds or \"m:ss\") or `duration_ms`");
            return false;
        }
        if (value->kind != JSON_NUMBER) return wrong_type(error, name, "a number of milliseconds", value);
        seconds = value->number / 1000;
    } else if (value->kind == JSON_NUMBER) {
        seconds = value->number;
    } else if (value->kind == JSON_STRING) {
        seconds = minutes_seconds(clean(value->string));
        if (seconds < 0) return with_value(error, name, "bad format", "expected \"m:ss\", ", value);
    } else {
        return wrong_type(error, name, "a number of seconds or an \"m:ss\" string", value);
    }
    double rounded = round(seconds); /* halves away from zero */
    if (!(rounded >= 1 && rounded <= SECONDS_MAX)) {
        return with_value(error, name, "out of range", "expected 1 to 4294967295 seconds, ", value);
    }
    *out = (uint64_t)rounded;
    return true;
}

/* The year of "YYYY" or, if `full_date`, also "YYYY-MM-DD" (month 01-12,
 * day 01-31), or -1. */
static int year_of(str_t text, bool full_date) {
    const uint8_t *s = text.ptr;
    if (text.len != 4 && !(full_date && text.len == 10)) return -1;
    for (size_t i = 0; i < text.len; i++) {
        if (i == 4 || i == 7 ? s[i] != '-' : !is_digit(s[i])) return -1;
    }
    if (text.len == 10) {
        int month = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
        if (month < 1 || month > 12 || day < 1 || day > 31) return -1;
    }
    return (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
}

static bool release_year(const json_value_t *fields, uint64_t *out, buf_t *error) {
    static const char *const names[] = {"release_year", "year", "release_date"};
    const char *name = NULL;
    const json_value_t *value = NULL;
    for (int i = 0; i < 3 && value == NULL; i++) value = field(fields, name = names[i]);
    *out = 0;
    if (value == NULL) return true;
    bool is_date = strcmp(name, "release_date") == 0, is_year = strcmp(name, "year") == 0;
    double year;
    if (value->kind == JSON_NUMBER && !is_date) {
        if (!whole(name, value, error)) return false;
        year = value->number;
    } else if (value->kind == JSON_STRING && (is_date || is_year)) {
        year = year_of(clean(value->string), is_date);
        if (year < 0) {
            const char *expected = is_date ? "expected \"YYYY-MM-DD\" or \"YYYY\", " : "expected \"YYYY\", ";
            return with_value(error, name, "bad format", expected, value);
        }
    } else {
        const char *expected = is_date ? "a \"YYYY-MM-DD\" or \"YYYY\" string"
                             : is_year ? "a number or a \"YYYY\" string" : "a number";
        return wrong_type(error, name, expected, value);
    }
    if (year < YEAR_MIN || year > YEAR_MAX) return with_value(error, name, "out of range", "expected 1900 to 2100, ", value);
    *out = (uint64_t)year;
    return true;
}

bool track_normalise(str_t body, str_t source_url, track_t *track, buf_t *error) {
    json_value_t document;
    buf_t why = {0};
    if (!json_parse(body, &document, &why)) {
        invalid(error, "body", "not JSON: ");
        buf_str(error, (str_t){why.ptr, why.len});
        free(why.ptr);
        return false;
    }
    if (document.kind != JSON_OBJECT) return with_value(error, "body", "not an object", "", &document);
    track->source_url = source_url;
    if (!id(&document, &track->id, error) || !required_string(&document, "title", &track->title, error)
        || !artist(&document, &track->artist, error) || !optional_string(&document, "album", &track->album, error)
        || !optional_string(&document, "genre", &track->genre, error)
        || !duration(&document, &track->duration_seconds, error) || !release_year(&document, &track->release_year, error)) {
        return false;
    }
    for (size_t i = 0; i < track->genre.len; i++) { /* ASCII letters only */
        uint8_t *c = (uint8_t *)&track->genre.ptr[i];
        if (*c >= 'A' && *c <= 'Z') *c += 'a' - 'A';
    }
    return true;
}

static void optional(buf_t *out, str_t text) {
    if (text.len == 0) {
        buf_cstr(out, "null");
    } else {
        json_write_string(out, text);
    }
}

void track_encode(const track_t *track, buf_t *out) {
    buf_cstr(out, "{\"id\":");
    json_write_string(out, track->id);
    buf_cstr(out, ",\"title\":");
    json_write_string(out, track->title);
    buf_cstr(out, ",\"artist\":");
    json_write_string(out, track->artist);
    buf_cstr(out, ",\"album\":");
    optional(out, track->album);
    buf_cstr(out, ",\"genre\":");
    optional(out, track->genre);
    buf_cstr(out, ",\"duration_seconds\":");
    buf_u64(out, track->duration_seconds);
    buf_cstr(out, ",\"release_year\":");
    if (track->release_year == 0) {
        buf_cstr(out, "null");
    } else {
        buf_u64(out, track->release_year);
    }
    buf_cstr(out, ",\"source_url\":");
    json_write_string(out, track->source_url);
    buf_byte(out, '}');
}
