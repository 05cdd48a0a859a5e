/* Rust's whitespace and lower-case rules (see text.h). */
#include "text.h"

#include <stdlib.h>
#include <string.h>

#include "unicode_tables.h"

#define COUNT(table) (sizeof(table) / sizeof((table)[0]))

/* Decode the code point at text[*i] (valid UTF-8) and advance *i. */
static uint32_t decode(str_t text, size_t *i) {
    const uint8_t *s = text.ptr + *i;
    uint32_t c = s[0];
    if (c < 0x80) {
        *i += 1;
        return c;
    }
    if (c < 0xe0) {
        *i += 2;
        return ((c & 0x1f) << 6) | (s[1] & 0x3f);
    }
    if (c < 0xf0) {
        *i += 3;
        return ((c & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
    }
    *i += 4;
    return ((c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) | ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
}

static void encode(buf_t *out, uint32_t n) {
    uint8_t b[4];
    size_t len;
    if (n < 0x80) {
        b[0] = (uint8_t)n;
        len = 1;
    } else if (n < 0x800) {
        b[0] = (uint8_t)(0xc0 | (n >> 6));
        b[1] = (uint8_t)(0x80 | (n & 0x3f));
        len = 2;
    } else if (n < 0x10000) {
        b[0] = (uint8_t)(0xe0 | (n >> 12));
        b[1] = (uint8_t)(0x80 | ((n >> 6) & 0x3f));
        b[2] = (uint8_t)(0x80 | (n & 0x3f));
        len = 3;
    } else {
        b[0] = (uint8_t)(0xf0 | (n >> 18));
        b[1] = (uint8_t)(0x80 | ((n >> 12) & 0x3f));
        b[2] = (uint8_t)(0x80 | ((n >> 6) & 0x3f));
        b[3] = (uint8_t)(0x80 | (n & 0x3f));
        len = 4;
    }
    buf_bytes(out, b, len);
}

/* Move a heap buffer's bytes into the arena. */
static str_t to_arena(buf_t *buf) {
    uint8_t *copy = arena_alloc(buf->len + 1);
    if (buf->len) memcpy(copy, buf->ptr, buf->len);
    str_t result = {copy, buf->len};
    free(buf->ptr);
    *buf = (buf_t){0};
    return result;
}

static bool is_whitespace(uint32_t c) {
    if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0d);
    if (c < 0x85) return false;
    for (size_t i = 0; i < COUNT(WHITESPACE); i++) {
        if (WHITESPACE[i] == c) return true;
    }
    return false;
}

static bool in_ranges(const uint32_t (*table)[2], size_t count, uint32_t c) {
    size_t low = 0, high = count;
    while (low < high) {
        size_t middle = (low + high) / 2;
        if (c < table[middle][0]) {
            high = middle;
        } else if (c > table[middle][1]) {
            low = middle + 1;
        } else {
            return true;
        }
    }
    return false;
}

str_t text_trim(str_t text) {
    size_t start = 0, end = 0, i = 0;
    bool seen = false;
    while (i < text.len) {
        size_t at = i;
        uint32_t c = decode(text, &i);
        if (!is_whitespace(c)) {
            if (!seen) {
                start = at;
                seen = true;
            }
            end = i;
        }
    }
    return seen ? (str_t){text.ptr + start, end - start} : (str_t){text.ptr, 0};
}

str_t text_clean(str_t text) {
    buf_t out = {0};
    bool pending_space = false;
    size_t i = 0;
    while (i < text.len) {
        size_t at = i;
        uint32_t c = decode(text, &i);
        if (is_whitespace(c)) {
            pending_space = out.len > 0;
        } else {
            if (pending_space) buf_byte(&out, ' ');
            pending_space = false;
            buf_bytes(&out, text.ptr + at, i - at);
        }
    }
    return to_arena(&out);
}

/* The lower case of one code point other than U+03A3. */
static void lower_code_point(buf_t *out, uint32_t c) {
    if (c < 0x80) {
        buf_byte(out, (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c));
        return;
    }
    for (size_t i = 0; i < COUNT(LOWER_MULTI); i++) {
        if (LOWER_MULTI[i][0] == c) {
            for (int k = 1; k <= 3 && LOWER_MULTI[i][k]; k++) encode(out, LOWER_MULTI[i][k]);
            return;
        }
    }
    size_t low = 0, high = COUNT(LOWER);
    while (low < high) {
        size_t middle = (low + high) / 2;
        if (c < (uint32_t)LOWER[middle][0]) {
            high = middle;
        } else if (c > (uint32_t)LOWER[middle][1]) {
            low = middle + 1;
        } else {
            if ((c - (uint32_t)LOWER[middle][0]) % (uint32_t)LOWER[middle][2] == 0) {
                c = (uint32_t)((int32_t)c + LOWER[middle][3]);
            }
            break;
        }
    }
    encode(out, c);
}

/* Skipping case-ignorable code points from index `from` by `step`, is the next one cased? */
static bool case_ignorable_then_cased(const uint32_t *cps, size_t count, size_t from, int step) {
    for (size_t i = from; i < count; i += (size_t)step) { /* wraps past 0 when going back */
        if (!in_ranges(CASE_IGNORABLE, COUNT(CASE_IGNORABLE), cps[i])) {
            return in_ranges(CASED, COUNT(CASED), cps[i]);
        }
    }
    return false;
}

str_t text_to_lowercase(str_t text) {
    uint32_t *cps = arena_alloc((text.len + 1) * sizeof(uint32_t));
    size_t count = 0;
    for (size_t i = 0; i < text.len;) cps[count++] = decode(text, &i);
    buf_t out = {0};
    for (size_t i = 0; i < count; i++) {
        if (cps[i] == 0x3a3) {
            /* Σ is ς at the end of a word, σ elsewhere (Unicode Final_Sigma). */
            bool final = case_ignorable_then_cased(cps, count, i - 1, -1) &&
                         !case_ignorable_then_cased(cps, count, i + 1, 1);
            encode(&out, final ? 0x3c2 : 0x3c3);
        } else {
            lower_code_point(&out, cps[i]);
        }
    }
    return to_arena(&out);
}

size_t text_char_count(str_t text) {
    size_t count = 0;
    for (size_t i = 0; i < text.len; i++) count += (text.ptr[i] & 0xc0) != 0x80;
    return count;
}

str_t text_take_chars(str_t text, size_t n) {
    size_t i = 0;
    for (size_t taken = 0; taken < n && i < text.len; taken++) decode(text, &i);
    return (str_t){text.ptr, i};
}
