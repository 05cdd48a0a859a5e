/*
 * Shared plumbing of the C port of music-sync: byte strings, Unicode
 * whitespace, a growable byte buffer and a per-job arena.
 *
 * Memory: everything a job parses or builds comes from the arena and is
 * released at once by arena_free_all() when the job ends; only the buffers
 * handed to the host (records, messages) are plain malloc() blocks, which the
 * generated bindings free after the call.
 */
#ifndef MUSIC_SYNC_COMMON_H
#define MUSIC_SYNC_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A UTF-8 byte string, not NUL-terminated. */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} str_t;

#define STR_LIT(s) ((str_t){(const uint8_t *)(s), sizeof(s) - 1})

/* A growable byte buffer on the heap (malloc/realloc). */
typedef struct {
    uint8_t *ptr;
    size_t len;
    size_t cap;
} buf_t;

void buf_bytes(buf_t *buf, const void *bytes, size_t len);
void buf_byte(buf_t *buf, uint8_t byte);
void buf_cstr(buf_t *buf, const char *text);
void buf_str(buf_t *buf, str_t text);
void buf_u64(buf_t *buf, uint64_t value);
void buf_i64(buf_t *buf, int64_t value);

/* The length of the Unicode White_Space character at `s` (Rust's
 * char::is_whitespace), or 0. */
size_t whitespace_length(const uint8_t *s, const uint8_t *end);
/* `text` without White_Space at either end (Rust's str::trim). */
str_t trim(str_t text);

/* Arena allocation for one job; never returns NULL (aborts when out of memory). */
void *arena_alloc(size_t size);
void arena_free_all(void);

/* Abort the job with a trap: the host reports it as a permanent failure. */
_Noreturn void out_of_memory(void);

#endif
