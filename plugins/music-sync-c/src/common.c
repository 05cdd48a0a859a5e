/* Byte buffers and the per-job arena (see common.h). */
#include "common.h"

#include <stdlib.h>
#include <string.h>

_Noreturn void out_of_memory(void) {
    __builtin_trap();
}

static void buf_reserve(buf_t *buf, size_t extra) {
    if (buf->cap - buf->len >= extra) {
        return;
    }
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap - buf->len < extra) {
        cap *= 2;
    }
    uint8_t *grown = realloc(buf->ptr, cap);
    if (grown == NULL) {
        out_of_memory();
    }
    buf->ptr = grown;
    buf->cap = cap;
}

void buf_bytes(buf_t *buf, const void *bytes, size_t len) {
    if (len == 0) {
        return;
    }
    buf_reserve(buf, len);
    memcpy(buf->ptr + buf->len, bytes, len);
    buf->len += len;
}

void buf_byte(buf_t *buf, uint8_t byte) {
    buf_reserve(buf, 1);
    buf->ptr[buf->len++] = byte;
}

void buf_cstr(buf_t *buf, const char *text) {
    buf_bytes(buf, text, strlen(text));
}

void buf_str(buf_t *buf, str_t text) {
    buf_bytes(buf, text.ptr, text.len);
}

void buf_u64(buf_t *buf, uint64_t value) {
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (n > 0) {
        buf_byte(buf, (uint8_t)digits[--n]);
    }
}

void buf_i64(buf_t *buf, int64_t value) {
    if (value < 0) {
        buf_byte(buf, '-');
        buf_u64(buf, (uint64_t)0 - (uint64_t)value);
    } else {
        buf_u64(buf, (uint64_t)value);
    }
}

/* The arena: a list of chunks, each at least CHUNK bytes. */
typedef struct chunk {
    struct chunk *next;
    size_t used;
    size_t size;
    _Alignas(16) uint8_t data[];
} chunk_t;

enum { CHUNK = 64 * 1024 };
static chunk_t *arena;

/* The length of the Unicode White_Space character at `s`, or 0. */
size_t whitespace_length(const uint8_t *s, const uint8_t *end) {
    size_t left = (size_t)(end - s);
    if ((*s >= '\t' && *s <= '\r') || *s == ' ') return 1;
    if (left >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2; /* U+0085, U+00A0 */
    if (left < 3) return 0;
    if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3;                 /* U+1680 */
    if (s[0] == 0xe2 && s[1] == 0x80 && (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf)) {
        return 3; /* U+2000-U+200A, U+2028, U+2029, U+202F (s[2] >= 0x80 in valid UTF-8) */
    }
    if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3; /* U+205F */
    if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3; /* U+3000 */
    return 0;
}

str_t trim(str_t text) {
    const uint8_t *s = text.ptr, *end = text.ptr + text.len;
    const uint8_t *first = NULL, *last = s;
    while (s < end) {
        size_t space = whitespace_length(s, end);
        if (space == 0) {
            if (first == NULL) first = s;
            last = ++s;
        } else {
            s += space;
        }
    }
    return first == NULL ? (str_t){text.ptr, 0} : (str_t){first, (size_t)(last - first)};
}

void *arena_alloc(size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (arena == NULL || arena->size - arena->used < size) {
        size_t chunk_size = size > CHUNK ? size : CHUNK;
        chunk_t *chunk = malloc(sizeof(chunk_t) + chunk_size);
        if (chunk == NULL) {
            out_of_memory();
        }
        chunk->next = arena;
        chunk->used = 0;
        chunk->size = chunk_size;
        arena = chunk;
    }
    void *block = arena->data + arena->used;
    arena->used += size;
    return block;
}

void arena_free_all(void) {
    while (arena != NULL) {
        chunk_t *next = arena->next;
        free(arena);
        arena = next;
    }
}
