/* A small JSON reader (see json.h). */
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 127 };

typedef struct {
    const uint8_t *start, *at, *end;
    int depth;
    const char *error;
} parser_t;

static bool parse_value(parser_t *p, json_value_t *out);

static bool fail(parser_t *p, const char *what) {
    p->error = what;
    return false;
}

static void skip_whitespace(parser_t *p) {
    while (p->at < p->end && (*p->at == ' ' || *p->at == '\t' || *p->at == '\n' || *p->at == '\r')) p->at++;
}

/* Whether the next byte (after whitespace) is `c`; consumes it if so. */
static bool eat(parser_t *p, uint8_t c) {
    skip_whitespace(p);
    if (p->at < p->end && *p->at == c) {
        p->at++;
        return true;
    }
    return false;
}

/* The length of the valid UTF-8 sequence at `s`, or 0 (overlong forms,
 * surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_length(const uint8_t *s, const uint8_t *end) {
    size_t left = (size_t)(end - s);
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) return left >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xe0 && s[0] <= 0xef) {
        if (left < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) return 0;
        if (s[0] == 0xe0 && s[1] < 0xa0) return 0; /* overlong */
        if (s[0] == 0xed && s[1] >= 0xa0) return 0; /* surrogate */
        return 3;
    }
    if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        if (left < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80) return 0;
        if (s[0] == 0xf0 && s[1] < 0x90) return 0; /* overlong */
        if (s[0] == 0xf4 && s[1] >= 0x90) return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

static void put_utf8(uint8_t **out, uint32_t c) {
    uint8_t *o = *out;
    if (c < 0x80) {
        *o++ = (uint8_t)c;
    } else if (c < 0x800) {
        *o++ = (uint8_t)(0xc0 | c >> 6);
        *o++ = (uint8_t)(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        *o++ = (uint8_t)(0xe0 | c >> 12);
        *o++ = (uint8_t)(0x80 | (c >> 6 & 0x3f));
        *o++ = (uint8_t)(0x80 | (c & 0x3f));
    } else {
        *o++ = (uint8_t)(0xf0 | c >> 18);
        *o++ = (uint8_t)(0x80 | (c >> 12 & 0x3f));
        *o++ = (uint8_t)(0x80 | (c >> 6 & 0x3f));
        *o++ = (uint8_t)(0x80 | (c & 0x3f));
    }
    *out = o;
}

/* Four hex digits after `\u`, or -1. */
static long hex4(parser_t *p) {
    if (p->end - p->at < 4) return -1;
    long value = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = *p->at++;
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    return value;
}

/* A string, after its opening quote. Escapes never lengthen the text, so
 * the output fits in as many bytes as the string takes in the input. */
static bool parse_string(parser_t *p, str_t *out) {
    const uint8_t *scan = p->at;
    while (scan < p->end && *scan != '"') scan += *scan == '\\' && scan + 1 < p->end ? 2 : 1;
    uint8_t *text = arena_alloc((size_t)(scan - p->at) + 1);
    uint8_t *o = text;
    for (;;) {
        if (p->at == p->end) return fail(p, "unterminated string");
        uint8_t c = *p->at;
        if (c == '"') break;
        if (c < 0x20) return fail(p, "control character in a string");
        if (c != '\\') {
            size_t length = utf8_length(p->at, p->end);
            if (length == 0) return fail(p, "invalid UTF-8");
            memcpy(o, p->at, length);
            o += length;
            p->at += length;
            continue;
        }
        p->at++;
        if (p->at == p->end) return fail(p, "unterminated string");
        uint8_t escape = *p->at++;
        const char *simple = strchr("\"\\/bfnrt", escape);
        if (escape != 0 && simple != NULL) {
            *o++ = (uint8_t)"\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            continue;
        }
        if (escape != 'u') return fail(p, "invalid escape");
        long unit = hex4(p);
        if (unit < 0) return fail(p, "invalid \\u escape");
        if (unit >= 0xdc00 && unit <= 0xdfff) return fail(p, "lone surrogate in a string");
        if (unit >= 0xd800 && unit <= 0xdbff) {
            if (p->end - p->at < 2 || p->at[0] != '\\' || p->at[1] != 'u') return fail(p, "lone surrogate in a string");
            p->at += 2;
            long low = hex4(p);
            if (low < 0) return fail(p, "invalid \\u escape");
            if (low < 0xdc00 || low > 0xdfff) return fail(p, "lone surrogate in a string");
            unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
        }
        put_utf8(&o, (uint32_t)unit);
    }
    p->at++; /* the closing quote */
    *out = (str_t){text, (size_t)(o - text)};
    return true;
}

static bool digits(parser_t *p) {
    const uint8_t *first = p->at;
    while (p->at < p->end && *p->at >= '0' && *p->at <= '9') p->at++;
    return p->at > first;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, read as the nearest double. */
static bool parse_number(parser_t *p, json_value_t *out) {
    const uint8_t *first = p->at;
    if (p->at < p->end && *p->at == '-') p->at++;
    if (p->at < p->end && *p->at == '0') {
        p->at++;
    } else if (!digits(p)) {
        return fail(p, "invalid number");
    }
    if (p->at < p->end && *p->at == '.') {
        p->at++;
        if (!digits(p)) return fail(p, "invalid number");
    }
    if (p->at < p->end && (*p->at == 'e' || *p->at == 'E')) {
        p->at++;
        if (p->at < p->end && (*p->at == '+' || *p->at == '-')) p->at++;
        if (!digits(p)) return fail(p, "invalid number");
    }
    size_t length = (size_t)(p->at - first);
    char *copy = arena_alloc(length + 1); /* strtod wants a terminated string */
    memcpy(copy, first, length);
    copy[length] = '\0';
    out->number = strtod(copy, NULL);
    if (isinf(out->number)) return fail(p, "number out of range");
    return true;
}

static bool parse_container(parser_t *p, json_value_t *out, uint8_t close) {
    if (++p->depth > MAX_DEPTH) return fail(p, "nested more than 127 deep");
    if (!eat(p, close)) {
        do {
            json_value_t item;
            if (close == '}') {
                json_member_t *member = arena_alloc(sizeof *member);
                if (!eat(p, '"')) return fail(p, "expected a string key");
                if (!parse_string(p, &member->key)) return false;
                if (!eat(p, ':')) return fail(p, "expected `:`");
                if (!parse_value(p, &member->value)) return false;
                member->next = out->members;
                out->members = member;
            } else if (!parse_value(p, &item)) {
                return false;
            }
        } while (eat(p, ','));
        if (!eat(p, close)) return fail(p, close == '}' ? "expected `,` or `}`" : "expected `,` or `]`");
    }
    p->depth--;
    return true;
}

static bool literal(parser_t *p, const char *word) {
    size_t length = strlen(word);
    if ((size_t)(p->end - p->at) < length || memcmp(p->at, word, length) != 0) return fail(p, "expected value");
    p->at += length;
    return true;
}

static bool parse_value(parser_t *p, json_value_t *out) {
    *out = (json_value_t){0};
    skip_whitespace(p);
    const uint8_t *first = p->at;
    bool ok;
    if (p->at == p->end) return fail(p, "expected value");
    switch (*p->at) {
    case '{': p->at++; out->kind = JSON_OBJECT; ok = parse_container(p, out, '}'); break;
    case '[': p->at++; out->kind = JSON_ARRAY; ok = parse_container(p, out, ']'); break;
    case '"': p->at++; out->kind = JSON_STRING; ok = parse_string(p, &out->string); break;
    case 't': out->kind = JSON_BOOL; ok = literal(p, "true"); break;
    case 'f': out->kind = JSON_BOOL; ok = literal(p, "false"); break;
    case 'n': out->kind = JSON_NULL; ok = literal(p, "null"); break;
    default:
        if (*p->at != '-' && (*p->at < '0' || *p->at > '9')) return fail(p, "expected value");
        out->kind = JSON_NUMBER;
        ok = parse_number(p, out);
        break;
    }
    out->source = (str_t){first, (size_t)(p->at - first)};
    return ok;
}

bool json_parse(str_t text, json_value_t *out, buf_t *error) {
    parser_t p = {text.ptr, text.ptr, text.ptr + text.len, 0, NULL};
    if (parse_value(&p, out)) {
        skip_whitespace(&p);
        if (p.at == p.end) return true;
        fail(&p, "trailing characters");
    }
    size_t line = 1;
    const uint8_t *line_start = p.start;
    for (const uint8_t *c = p.start; c < p.at; c++) {
        if (*c == '\n') {
            line++;
            line_start = c + 1;
        }
    }
    buf_cstr(error, p.error);
    buf_cstr(error, " at line ");
    buf_u64(error, line);
    buf_cstr(error, " column ");
    buf_u64(error, (uint64_t)(p.at - line_start) + 1);
    return false;
}

const json_value_t *json_get(const json_value_t *object, const char *key) {
    size_t length = strlen(key);
    for (const json_member_t *member = object->members; member != NULL; member = member->next) {
        if (member->key.len == length && memcmp(member->key.ptr, key, length) == 0) return &member->value;
    }
    return NULL;
}

void json_write_string(buf_t *out, str_t text) {
    buf_byte(out, '"');
    for (size_t i = 0; i < text.len; i++) {
        uint8_t c = text.ptr[i];
        const char *escape = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
                           : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
        if (escape != NULL) {
            buf_cstr(out, escape);
        } else if (c < 0x20) {
            buf_cstr(out, "\\u00");
            buf_byte(out, "0123456789abcdef"[c >> 4]);
            buf_byte(out, "0123456789abcdef"[c & 15]);
        } else {
            buf_byte(out, c);
        }
    }
    buf_byte(out, '"');
}
