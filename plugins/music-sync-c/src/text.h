/*
 * Rust's string rules, which music-sync's normalisation is written in:
 * char::is_whitespace, str::trim, str::split_whitespace + join(" ") and
 * str::to_lowercase (with its final-sigma rule), on valid UTF-8. The Unicode
 * data comes from the Rust standard library (unicode_tables.h, generated).
 * Results live in the arena.
 */
#ifndef MUSIC_SYNC_TEXT_H
#define MUSIC_SYNC_TEXT_H

#include "common.h"

str_t text_trim(str_t text);
str_t text_clean(str_t text);
str_t text_to_lowercase(str_t text);
/* Rust's chars().count(), and the prefix of the first `n` chars. */
size_t text_char_count(str_t text);
str_t text_take_chars(str_t text, size_t n);

#endif
