/* JSON as serde_json reads and writes it (see json.h). */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char EOF_LIST[] = "EOF while parsing a list";
static const char EOF_OBJECT[] = "EOF while parsing an object";
static const char EOF_STRING[] = "EOF while parsing a string";
static const char EOF_VALUE[] = "EOF while parsing a value";
static const char EXPECTED_COLON[] = "expected `:`";
static const char EXPECTED_LIST_COMMA_OR_END[] = "expected `,` or `]`";
static const char EXPECTED_OBJECT_COMMA_OR_END[] = "expected `,` or `}`";
static const char EXPECTED_IDENT[] = "expected ident";
static const char EXPECTED_VALUE[] = "expected value";
static const char INVALID_ESCAPE[] = "invalid escape";
static const char INVALID_NUMBER[] = "invalid number";
static const char NUMBER_OUT_OF_RANGE[] = "number out of range";
static const char INVALID_UNICODE[] = "invalid unicode code point";
static const char CONTROL_CHARACTER[] = "control character (\\u0000-\\u001F) found while parsing a string";
static const char KEY_MUST_BE_A_STRING[] = "key must be a string";
static const char LONE_LEADING_SURROGATE[] = "lone leading surrogate in hex escape";
static const char TRAILING_COMMA[] = "trailing comma";
static const char TRAILING_CHARACTERS[] = "trailing characters";
static const char UNEXPECTED_END_OF_HEX_ESCAPE[] = "unexpected end of hex escape";
static const char RECURSION_LIMIT_EXCEEDED[] = "recursion limit exceeded";

enum { RECURSION_LIMIT = 128, END = -1 };

static const char RAW_VALUE_TOKEN[] = "$serde_json::private::RawValue";

/* serde_json's POW10 table: the doubles nearest to 1e0 .. 1e308. */
static const double POW10[309] = {
    1e0,1e1,1e2,1e3,1e4,1e5,1e6,1e7,1e8,1e9,1e10,1e11,
    1e12,1e13,1e14,1e15,1e16,1e17,1e18,1e19,1e20,1e21,1e22,1e23,
    1e24,1e25,1e26,1e27,1e28,1e29,1e30,1e31,1e32,1e33,1e34,1e35,
    1e36,1e37,1e38,1e39,1e40,1e41,1e42,1e43,1e44,1e45,1e46,1e47,
    1e48,1e49,1e50,1e51,1e52,1e53,1e54,1e55,1e56,1e57,1e58,1e59,
    1e60,1e61,1e62,1e63,1e64,1e65,1e66,1e67,1e68,1e69,1e70,1e71,
    1e72,1e73,1e74,1e75,1e76,1e77,1e78,1e79,1e80,1e81,1e82,1e83,
    1e84,1e85,1e86,1e87,1e88,1e89,1e90,1e91,1e92,1e93,1e94,1e95,
    1e96,1e97,1e98,1e99,1e100,1e101,1e102,1e103,1e104,1e105,1e106,1e107,
    1e108,1e109,1e110,1e111,1e112,1e113,1e114,1e115,1e116,1e117,1e118,1e119,
    1e120,1e121,1e122,1e123,1e124,1e125,1e126,1e127,1e128,1e129,1e130,1e131,
    1e132,1e133,1e134,1e135,1e136,1e137,1e138,1e139,1e140,1e141,1e142,1e143,
    1e144,1e145,1e146,1e147,1e148,1e149,1e150,1e151,1e152,1e153,1e154,1e155,
    1e156,1e157,1e158,1e159,1e160,1e161,1e162,1e163,1e164,1e165,1e166,1e167,
    1e168,1e169,1e170,1e171,1e172,1e173,1e174,1e175,1e176,1e177,1e178,1e179,
    1e180,1e181,1e182,1e183,1e184,1e185,1e186,1e187,1e188,1e189,1e190,1e191,
    1e192,1e193,1e194,1e195,1e196,1e197,1e198,1e199,1e200,1e201,1e202,1e203,
    1e204,1e205,1e206,1e207,1e208,1e209,1e210,1e211,1e212,1e213,1e214,1e215,
    1e216,1e217,1e218,1e219,1e220,1e221,1e222,1e223,1e224,1e225,1e226,1e227,
    1e228,1e229,1e230,1e231,1e232,1e233,1e234,1e235,1e236,1e237,1e238,1e239,
    1e240,1e241,1e242,1e243,1e244,1e245,1e246,1e247,1e248,1e249,1e250,1e251,
    1e252,1e253,1e254,1e255,1e256,1e257,1e258,1e259,1e260,1e261,1e262,1e263,
    1e264,1e265,1e266,1e267,1e268,1e269,1e270,1e271,1e272,1e273,1e274,1e275,
    1e276,1e277,1e278,1e279,1e280,1e281,1e282,1e283,1e284,1e285,1e286,1e287,
    1e288,1e289,1e290,1e291,1e292,1e293,1e294,1e295,1e296,1e297,1e298,1e299,
    1e300,1e301,1e302,1e303,1e304,1e305,1e306,1e307,1e308,
};

typedef struct {
    const uint8_t *data;
    size_t len;
    size_t index;
    int remaining_depth;
    json_error_t *error;
} parser_t;

static int peek(const parser_t *p) {
    return p->index < p->len ? p->data[p->index] : END;
}

static int peek_or_null(const parser_t *p) {
    return p->index < p->len ? p->data[p->index] : 0;
}

static int next(parser_t *p) {
    return p->index < p->len ? p->data[p->index++] : END;
}

static bool is_digit(int c) {
    return c >= '0' && c <= '9';
}

static void fail_at(parser_t *p, const char *what, size_t index, size_t column_back) {
    size_t start_of_line = index;
    while (start_of_line > 0 && p->data[start_of_line - 1] != '\n') {
        start_of_line--;
    }
    size_t line = 1;
    for (size_t i = 0; i < start_of_line; i++) {
        line += p->data[i] == '\n';
    }
    size_t column = index - start_of_line;
    p->error->what = what;
    p->error->line = line;
    p->error->column = column > column_back ? column - column_back : 0;
}

/* An error caused by the byte last consumed. */
static bool error(parser_t *p, const char *what) {
    fail_at(p, what, p->index, 0);
    return false;
}

/* An error caused by the byte that would be consumed next. */
static bool peek_error(parser_t *p, const char *what) {
    fail_at(p, what, p->index + 1 < p->len ? p->index + 1 : p->len, 0);
    return false;
}

static int parse_whitespace(parser_t *p) {
    for (;;) {
        int c = peek(p);
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            p->index++;
        } else {
            return c;
        }
    }
}

static bool parse_value(parser_t *p, json_value_t *out);

static bool parse_ident(parser_t *p, const char *rest) {
    for (; *rest; rest++) {
        int c = next(p);
        if (c == END) {
            return error(p, EOF_VALUE);
        }
        if (c != (uint8_t)*rest) {
            return error(p, EXPECTED_IDENT);
        }
    }
    return true;
}

/* ---- strings ----------------------------------------------------------- */

/* Length of the longest valid UTF-8 prefix (Rust's Utf8Error::valid_up_to). */
static size_t utf8_valid_up_to(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t low = 0x80, high = 0xbf;
        if (b >= 0xc2 && b <= 0xdf) {
            need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
            need = 2;
            if (b == 0xe0) {
                low = 0xa0;
            } else if (b == 0xed) {
                high = 0x9f;
            }
        } else if (b >= 0xf0 && b <= 0xf4) {
            need = 3;
            if (b == 0xf0) {
                low = 0x90;
            } else if (b == 0xf4) {
                high = 0x8f;
            }
        } else {
            return i;
        }
        if (i + need >= len || s[i + 1] < low || s[i + 1] > high) {
            return i;
        }
        for (size_t k = 2; k <= need; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xbf) {
                return i;
            }
        }
        i += need + 1;
    }
    return len;
}

static void push_code_point(buf_t *scratch, uint32_t n) {
    if (n < 0x80) {
        buf_byte(scratch, (uint8_t)n);
    } else if (n < 0x800) {
        uint8_t b[2] = {(uint8_t)(0xc0 | (n >> 6)), (uint8_t)(0x80 | (n & 0x3f))};
        buf_bytes(scratch, b, 2);
    } else if (n < 0x10000) {
        uint8_t b[3] = {(uint8_t)(0xe0 | (n >> 12)), (uint8_t)(0x80 | ((n >> 6) & 0x3f)),
                        (uint8_t)(0x80 | (n & 0x3f))};
        buf_bytes(scratch, b, 3);
    } else {
        uint8_t b[4] = {(uint8_t)(0xf0 | (n >> 18)), (uint8_t)(0x80 | ((n >> 12) & 0x3f)),
                        (uint8_t)(0x80 | ((n >> 6) & 0x3f)), (uint8_t)(0x80 | (n & 0x3f))};
        buf_bytes(scratch, b, 4);
    }
}

static int hex_value(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool decode_hex_escape(parser_t *p, uint32_t *out) {
    if (p->len - p->index < 4) {
        p->index = p->len;
        return error(p, EOF_STRING);
    }
    int value = 0;
    bool valid = true;
    for (int k = 0; k < 4; k++) {
        int digit = hex_value(p->data[p->index + k]);
        valid = valid && digit >= 0;
        value = value * 16 + (digit < 0 ? 0 : digit);
    }
    p->index += 4;
    if (!valid) {
        return error(p, INVALID_ESCAPE);
    }
    *out = (uint32_t)value;
    return true;
}

static bool parse_unicode_escape(parser_t *p, buf_t *scratch) {
    uint32_t n;
    if (!decode_hex_escape(p, &n)) {
        return false;
    }
    if (n >= 0xdc00 && n <= 0xdfff) {
        return error(p, LONE_LEADING_SURROGATE);
    }
    if (n < 0xd800 || n > 0xdbff) {
        push_code_point(scratch, n);
        return true;
    }
    static const char expected[2] = {'\\', 'u'};
    for (int k = 0; k < 2; k++) {
        int c = peek(p);
        if (c == END) {
            return error(p, EOF_STRING);
        }
        p->index++;
        if (c != expected[k]) {
            return error(p, UNEXPECTED_END_OF_HEX_ESCAPE);
        }
    }
    uint32_t n2;
    if (!decode_hex_escape(p, &n2)) {
        return false;
    }
    if (n2 < 0xdc00 || n2 > 0xdfff) {
        return error(p, LONE_LEADING_SURROGATE);
    }
    push_code_point(scratch, (((n - 0xd800) << 10) | (n2 - 0xdc00)) + 0x10000);
    return true;
}

static bool parse_escape(parser_t *p, buf_t *scratch) {
    int c = next(p);
    switch (c) {
    case END: return error(p, EOF_STRING);
    case '"': buf_byte(scratch, '"'); return true;
    case '\\': buf_byte(scratch, '\\'); return true;
    case '/': buf_byte(scratch, '/'); return true;
    case 'b': buf_byte(scratch, 0x08); return true;
    case 'f': buf_byte(scratch, 0x0c); return true;
    case 'n': buf_byte(scratch, '\n'); return true;
    case 'r': buf_byte(scratch, '\r'); return true;
    case 't': buf_byte(scratch, '\t'); return true;
    case 'u': return parse_unicode_escape(p, scratch);
    default: return error(p, INVALID_ESCAPE);
    }
}

/* The string after its opening quote, up to and including the closing one. */
static bool parse_string(parser_t *p, str_t *out) {
    buf_t scratch = {0};
    bool escaped = false;
    size_t start = p->index;
    bool ok = false;
    for (;;) {
        size_t i = p->index;
        while (i < p->len && p->data[i] != '"' && p->data[i] != '\\' && p->data[i] >= 0x20) {
            i++;
        }
        p->index = i;
        if (i == p->len) {
            error(p, EOF_STRING);
            break;
        }
        uint8_t b = p->data[i];
        if (b == '"') {
            const uint8_t *content = p->data + start;
            size_t content_len = i - start;
            if (escaped) {
                buf_bytes(&scratch, p->data + start, i - start);
                content = scratch.ptr;
                content_len = scratch.len;
            }
            p->index = i + 1;
            size_t valid = utf8_valid_up_to(content, content_len);
            if (valid != content_len) {
                fail_at(p, INVALID_UNICODE, p->index, content_len - valid);
                break;
            }
            if (escaped) {
                uint8_t *copy = arena_alloc(content_len + 1);
                memcpy(copy, content, content_len);
                *out = (str_t){copy, content_len};
            } else {
                *out = (str_t){content, content_len};
            }
            ok = true;
            break;
        }
        if (b == '\\') {
            escaped = true;
            buf_bytes(&scratch, p->data + start, i - start);
            p->index = i + 1;
            if (!parse_escape(p, &scratch)) {
                break;
            }
            start = p->index;
        } else {
            p->index = i + 1;
            error(p, CONTROL_CHARACTER);
            break;
        }
    }
    free(scratch.ptr);
    return ok;
}

/* ---- numbers ----------------------------------------------------------- */

static bool u64_overflows(uint64_t significand, int digit) {
    return significand > (UINT64_MAX - (uint64_t)digit) / 10;
}

static void set_f64(json_value_t *out, double value) {
    out->kind = JSON_NUMBER;
    out->number_kind = NUMBER_F64;
    out->f64 = value;
}

/* serde_json's fast (not always correctly rounded) float assembly. */
static bool f64_from_parts(parser_t *p, bool positive, uint64_t significand, int32_t exponent, double *out) {
    double f = (double)significand;
    for (;;) {
        int64_t magnitude = exponent < 0 ? -(int64_t)exponent : exponent;
        if (magnitude <= 308) {
            if (exponent >= 0) {
                f *= POW10[magnitude];
                if (__builtin_isinf(f)) {
                    return error(p, NUMBER_OUT_OF_RANGE);
                }
            } else {
                f /= POW10[magnitude];
            }
            break;
        }
        if (f == 0.0) {
            break;
        }
        if (exponent >= 0) {
            return error(p, NUMBER_OUT_OF_RANGE);
        }
        f /= 1e308;
        exponent += 308;
    }
    *out = positive ? f : -f;
    return true;
}

static bool parse_exponent_overflow(parser_t *p, bool positive, bool zero_significand, bool positive_exponent, double *out) {
    if (!zero_significand && positive_exponent) {
        return error(p, NUMBER_OUT_OF_RANGE);
    }
    while (is_digit(peek_or_null(p))) {
        p->index++;
    }
    *out = positive ? 0.0 : -0.0;
    return true;
}

static bool parse_exponent(parser_t *p, bool positive, uint64_t significand, int32_t starting_exponent, double *out) {
    p->index++; /* 'e' or 'E' */
    bool positive_exponent = true;
    int sign = peek_or_null(p);
    if (sign == '+') {
        p->index++;
    } else if (sign == '-') {
        p->index++;
        positive_exponent = false;
    }
    int first = next(p);
    if (first == END) {
        return error(p, EOF_VALUE);
    }
    if (!is_digit(first)) {
        return error(p, INVALID_NUMBER);
    }
    int32_t exponent = first - '0';
    for (;;) {
        int c = peek_or_null(p);
        if (!is_digit(c)) {
            break;
        }
        p->index++;
        int digit = c - '0';
        if (exponent > (INT32_MAX - digit) / 10) {
            return parse_exponent_overflow(p, positive, significand == 0, positive_exponent, out);
        }
        exponent = exponent * 10 + digit;
    }
    /* i32 saturating arithmetic, as in serde_json. */
    int64_t final_exponent = positive_exponent ? (int64_t)starting_exponent + exponent
                                               : (int64_t)starting_exponent - exponent;
    if (final_exponent > INT32_MAX) final_exponent = INT32_MAX;
    if (final_exponent < INT32_MIN) final_exponent = INT32_MIN;
    return f64_from_parts(p, positive, significand, (int32_t)final_exponent, out);
}

static bool parse_decimal_overflow(parser_t *p, bool positive, uint64_t significand, int32_t exponent, double *out) {
    /* Further digits are ignored, as in serde_json. */
    while (is_digit(peek_or_null(p))) {
        p->index++;
    }
    int c = peek_or_null(p);
    if (c == 'e' || c == 'E') {
        return parse_exponent(p, positive, significand, exponent, out);
    }
    return f64_from_parts(p, positive, significand, exponent, out);
}

static bool parse_decimal(parser_t *p, bool positive, uint64_t significand, int32_t exponent_before, double *out) {
    p->index++; /* '.' */
    int32_t exponent_after = 0;
    for (;;) {
        int c = peek_or_null(p);
        if (!is_digit(c)) {
            break;
        }
        int digit = c - '0';
        if (u64_overflows(significand, digit)) {
            return parse_decimal_overflow(p, positive, significand, exponent_before + exponent_after, out);
        }
        p->index++;
        significand = significand * 10 + (uint64_t)digit;
        exponent_after--;
    }
    if (exponent_after == 0) {
        return peek_error(p, peek(p) == END ? EOF_VALUE : INVALID_NUMBER);
    }
    int32_t exponent = exponent_before + exponent_after;
    int c = peek_or_null(p);
    if (c == 'e' || c == 'E') {
        return parse_exponent(p, positive, significand, exponent, out);
    }
    return f64_from_parts(p, positive, significand, exponent, out);
}

static bool parse_long_integer(parser_t *p, bool positive, uint64_t significand, double *out) {
    int32_t exponent = 0;
    for (;;) {
        int c = peek_or_null(p);
        if (is_digit(c)) {
            p->index++;
            exponent++;
        } else if (c == '.') {
            return parse_decimal(p, positive, significand, exponent, out);
        } else if (c == 'e' || c == 'E') {
            return parse_exponent(p, positive, significand, exponent, out);
        } else {
            return f64_from_parts(p, positive, significand, exponent, out);
        }
    }
}

static bool parse_number(parser_t *p, bool positive, uint64_t significand, json_value_t *out) {
    int c = peek_or_null(p);
    double f;
    if (c == '.') {
        if (!parse_decimal(p, positive, significand, 0, &f)) return false;
        set_f64(out, f);
        return true;
    }
    if (c == 'e' || c == 'E') {
        if (!parse_exponent(p, positive, significand, 0, &f)) return false;
        set_f64(out, f);
        return true;
    }
    out->kind = JSON_NUMBER;
    if (positive) {
        out->number_kind = NUMBER_U64;
        out->u64 = significand;
    } else if (significand == 0 || significand > (uint64_t)INT64_MAX + 1) {
        /* -0 and anything below i64::MIN become floats, as in serde_json. */
        set_f64(out, -(double)significand);
    } else {
        out->number_kind = NUMBER_I64;
        out->i64 = (int64_t)((uint64_t)0 - significand);
    }
    return true;
}

static bool parse_integer(parser_t *p, bool positive, json_value_t *out) {
    int first = next(p);
    if (first == END) {
        return error(p, EOF_VALUE);
    }
    if (first == '0') {
        if (is_digit(peek_or_null(p))) {
            return peek_error(p, INVALID_NUMBER);
        }
        return parse_number(p, positive, 0, out);
    }
    if (!is_digit(first)) {
        return error(p, INVALID_NUMBER);
    }
    uint64_t significand = (uint64_t)(first - '0');
    for (;;) {
        int c = peek_or_null(p);
        if (!is_digit(c)) {
            return parse_number(p, positive, significand, out);
        }
        if (u64_overflows(significand, c - '0')) {
            double f;
            if (!parse_long_integer(p, positive, significand, &f)) return false;
            set_f64(out, f);
            return true;
        }
        p->index++;
        significand = significand * 10 + (uint64_t)(c - '0');
    }
}

/* ---- containers -------------------------------------------------------- */

static bool enter(parser_t *p) {
    if (--p->remaining_depth == 0) {
        return peek_error(p, RECURSION_LIMIT_EXCEEDED);
    }
    p->index++;
    return true;
}

static bool parse_array(parser_t *p, json_value_t *out) {
    if (!enter(p)) return false;
    json_value_t item;
    for (bool first = true;; first = false) {
        int c = parse_whitespace(p);
        if (c == END) return peek_error(p, EOF_LIST);
        if (c == ']') break;
        if (!first) {
            if (c != ',') return peek_error(p, EXPECTED_LIST_COMMA_OR_END);
            p->index++;
            int after = parse_whitespace(p);
            if (after == ']') return peek_error(p, TRAILING_COMMA);
            if (after == END) return peek_error(p, EOF_VALUE);
        }
        if (!parse_value(p, &item)) return false;
    }
    p->remaining_depth++;
    p->index++; /* the `]` seen above */
    out->kind = JSON_ARRAY;
    return true;
}

/* serde_json's "invalid type" error for a raw value that is not a string. */
static bool invalid_raw_value(parser_t *p) {
    buf_t unexpected = {0};
    int c = peek_or_null(p);
    if (c == 'n') {
        p->index++;
        if (!parse_ident(p, "ull")) return false;
        buf_cstr(&unexpected, "null");
    } else if (c == 't' || c == 'f') {
        p->index++;
        if (!parse_ident(p, c == 't' ? "rue" : "alse")) return false;
        buf_cstr(&unexpected, c == 't' ? "boolean `true`" : "boolean `false`");
    } else if (c == '-' || is_digit(c)) {
        if (c == '-') p->index++;
        json_value_t number;
        if (!parse_integer(p, c != '-', &number)) return false;
        buf_cstr(&unexpected, number.number_kind == NUMBER_F64 ? "floating point `" : "integer `");
        json_write_number(&unexpected, &number);
        buf_byte(&unexpected, '`');
    } else if (c == '[') {
        buf_cstr(&unexpected, "sequence");
    } else if (c == '{') {
        buf_cstr(&unexpected, "map");
    } else {
        return peek_error(p, EXPECTED_VALUE);
    }
    static const char prefix[] = "invalid type: ", suffix[] = ", expected raw value";
    char *what = arena_alloc(sizeof prefix + unexpected.len + sizeof suffix);
    memcpy(what, prefix, sizeof prefix - 1);
    memcpy(what + sizeof prefix - 1, unexpected.ptr, unexpected.len);
    memcpy(what + sizeof prefix - 1 + unexpected.len, suffix, sizeof suffix);
    free(unexpected.ptr);
    return error(p, what);
}

/*
 * serde_json's raw_value feature (on in the Rust plugin's build) makes an
 * object whose first key is RAW_VALUE_TOKEN stand for the JSON document in
 * that key's string value; the rest of the object must be just `}`.
 */
static bool parse_raw_value(parser_t *p, json_value_t *out) {
    int c = parse_whitespace(p);
    if (c == END) return peek_error(p, EOF_VALUE);
    if (c != '"') return invalid_raw_value(p);
    p->index++;
    str_t text;
    if (!parse_string(p, &text)) return false;
    /* A separate document (fresh depth, positions within `text`). */
    if (!json_parse(text.ptr, text.len, out, p->error)) return false;
    p->remaining_depth++;
    int end = parse_whitespace(p);
    if (end == '}') {
        p->index++;
        return true;
    }
    if (end == ',') return peek_error(p, TRAILING_COMMA);
    if (end == END) return peek_error(p, EOF_OBJECT);
    return peek_error(p, TRAILING_CHARACTERS);
}

static bool parse_object(parser_t *p, json_value_t *out) {
    if (!enter(p)) return false;
    size_t capacity = 0;
    out->kind = JSON_OBJECT;
    out->members = NULL;
    out->count = 0;
    for (bool first = true;; first = false) {
        int c = parse_whitespace(p);
        if (c == END) return peek_error(p, EOF_OBJECT);
        if (c == '}') break;
        if (first) {
            if (c != '"') return peek_error(p, KEY_MUST_BE_A_STRING);
        } else {
            if (c != ',') return peek_error(p, EXPECTED_OBJECT_COMMA_OR_END);
            p->index++;
            int after = parse_whitespace(p);
            if (after == '}') return peek_error(p, TRAILING_COMMA);
            if (after == END) return peek_error(p, EOF_VALUE);
            if (after != '"') return peek_error(p, KEY_MUST_BE_A_STRING);
        }
        p->index++; /* the opening quote */
        if (out->count == capacity) {
            capacity = capacity ? capacity * 2 : 8;
            json_member_t *grown = arena_alloc(capacity * sizeof(json_member_t));
            if (out->count) memcpy(grown, out->members, out->count * sizeof(json_member_t));
            out->members = grown;
        }
        json_member_t *member = &out->members[out->count];
        if (!parse_string(p, &member->key)) return false;
        int colon = parse_whitespace(p);
        if (colon == END) return peek_error(p, EOF_OBJECT);
        if (colon != ':') return peek_error(p, EXPECTED_COLON);
        p->index++;
        if (first && member->key.len == sizeof RAW_VALUE_TOKEN - 1 &&
            memcmp(member->key.ptr, RAW_VALUE_TOKEN, sizeof RAW_VALUE_TOKEN - 1) == 0) {
            return parse_raw_value(p, out);
        }
        if (!parse_value(p, &member->value)) return false;
        out->count++;
    }
    p->remaining_depth++;
    p->index++; /* the `}` seen above */
    return true;
}

static bool parse_value(parser_t *p, json_value_t *out) {
    memset(out, 0, sizeof *out);
    int c = parse_whitespace(p);
    switch (c) {
    case END: return peek_error(p, EOF_VALUE);
    case 'n':
        p->index++;
        out->kind = JSON_NULL;
        return parse_ident(p, "ull");
    case 't':
        p->index++;
        out->kind = JSON_BOOL;
        out->boolean = true;
        return parse_ident(p, "rue");
    case 'f':
        p->index++;
        out->kind = JSON_BOOL;
        out->boolean = false;
        return parse_ident(p, "alse");
    case '-':
        p->index++;
        return parse_integer(p, false, out);
    case '"':
        p->index++;
        out->kind = JSON_STRING;
        return parse_string(p, &out->string);
    case '[': return parse_array(p, out);
    case '{': return parse_object(p, out);
    default:
        if (is_digit(c)) return parse_integer(p, true, out);
        return peek_error(p, EXPECTED_VALUE);
    }
}

bool json_parse(const uint8_t *data, size_t len, json_value_t *out, json_error_t *err) {
    parser_t p = {data, len, 0, RECURSION_LIMIT, err};
    if (!parse_value(&p, out)) return false;
    if (parse_whitespace(&p) != END) return peek_error(&p, TRAILING_CHARACTERS);
    return true;
}

const json_value_t *json_get(const json_value_t *object, const char *key) {
    size_t key_len = strlen(key);
    for (size_t i = object->count; i-- > 0;) {
        const json_member_t *member = &object->members[i];
        if (member->key.len == key_len && memcmp(member->key.ptr, key, key_len) == 0) {
            return &member->value;
        }
    }
    return NULL;
}

bool json_is_integer(const json_value_t *number) {
    return number->number_kind != NUMBER_F64;
}

double json_as_f64(const json_value_t *number) {
    switch (number->number_kind) {
    case NUMBER_U64: return (double)number->u64;
    case NUMBER_I64: return (double)number->i64;
    default: return number->f64;
    }
}

bool json_as_i64(const json_value_t *number, int64_t *out) {
    switch (number->number_kind) {
    case NUMBER_U64:
        if (number->u64 > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)number->u64;
        return true;
    case NUMBER_I64:
        *out = number->i64;
        return true;
    default:
        return false;
    }
}

/* ---- writing ----------------------------------------------------------- */

void json_write_string(buf_t *out, str_t text) {
    static const char hex[] = "0123456789abcdef";
    buf_byte(out, '"');
    size_t start = 0;
    for (size_t i = 0; i < text.len; i++) {
        uint8_t c = text.ptr[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        buf_bytes(out, text.ptr + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': buf_cstr(out, "\\\""); break;
        case '\\': buf_cstr(out, "\\\\"); break;
        case 0x08: buf_cstr(out, "\\b"); break;
        case '\t': buf_cstr(out, "\\t"); break;
        case '\n': buf_cstr(out, "\\n"); break;
        case 0x0c: buf_cstr(out, "\\f"); break;
        case '\r': buf_cstr(out, "\\r"); break;
        default: {
            char escape[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_bytes(out, escape, 6);
        }
        }
    }
    buf_bytes(out, text.ptr + start, text.len - start);
    buf_byte(out, '"');
}

void json_write_number(buf_t *out, const json_value_t *number) {
    switch (number->number_kind) {
    case NUMBER_U64: buf_u64(out, number->u64); break;
    case NUMBER_I64: buf_i64(out, number->i64); break;
    default: json_write_f64(out, number->f64); break;
    }
}

/*
 * The shortest decimal digits that read back as `value` (positive, finite,
 * non-zero), the nearest such if several: `digits` (no leading or trailing
 * zeros) times 10^exponent. Correctly rounded printf and strtod (wasi-libc's,
 * from musl) find them: the nearest n-digit decimal for growing n, and its
 * neighbours, since at a power of two the round-trip interval is lopsided.
 */
static size_t shortest_digits(double value, char digits[20], int *exponent) {
    char text[40];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(text, sizeof text, "%.*e", precision - 1, value);
        /* text: d[.ddd]e±xx */
        char mantissa[20];
        size_t n = 0;
        const char *c = text;
        for (; *c != 'e'; c++) {
            if (*c != '.') mantissa[n++] = *c;
        }
        int exp10 = atoi(c + 1) - (precision - 1);
        /* Candidates: the nearest, then one unit in the last place either side. */
        for (int delta = 0; delta <= 2; delta++) {
            char candidate[21];
            memcpy(candidate, mantissa, n);
            int candidate_exp = exp10;
            size_t len = n;
            if (delta != 0) {
                /* add (delta == 1) or subtract (delta == 2) one unit */
                int i = (int)n - 1;
                if (delta == 1) {
                    while (i >= 0 && candidate[i] == '9') candidate[i--] = '0';
                    if (i < 0) {
                        memmove(candidate + 1, candidate, n);
                        candidate[0] = '1';
                        len = n + 1;
                    } else {
                        candidate[i]++;
                    }
                } else {
                    while (i >= 0 && candidate[i] == '0') candidate[i--] = '9';
                    if (i < 0) continue;
                    candidate[i]--;
                    if (candidate[0] == '0') continue; /* fewer digits: tried before */
                }
            }
            char check[48];
            snprintf(check, sizeof check, "%.*se%d", (int)len, candidate, candidate_exp);
            if (strtod(check, NULL) != value) continue;
            /* Strip trailing zeros into the exponent. */
            while (len > 1 && candidate[len - 1] == '0') {
                len--;
                candidate_exp++;
            }
            memcpy(digits, candidate, len);
            *exponent = candidate_exp;
            return len;
        }
    }
    /* Unreachable: 17 significant digits always round-trip. */
    __builtin_trap();
}

void json_write_f64(buf_t *out, double value) {
    if (value == 0.0) {
        buf_cstr(out, __builtin_signbit(value) ? "-0.0" : "0.0");
        return;
    }
    if (value < 0) {
        buf_byte(out, '-');
        value = -value;
    }
    char digits[20];
    int k;
    int length = (int)shortest_digits(value, digits, &k);
    int kk = length + k; /* 10^(kk-1) <= value < 10^kk */
    if (k >= 0 && kk <= 16) {
        /* 1234e7 -> 12340000000.0 */
        buf_bytes(out, digits, (size_t)length);
        for (int i = 0; i < k; i++) buf_byte(out, '0');
        buf_cstr(out, ".0");
    } else if (kk > 0 && kk <= 16) {
        /* 1234e-2 -> 12.34 */
        buf_bytes(out, digits, (size_t)kk);
        buf_byte(out, '.');
        buf_bytes(out, digits + kk, (size_t)(length - kk));
    } else if (kk > -5 && kk <= 0) {
        /* 1234e-6 -> 0.001234 */
        buf_cstr(out, "0.");
        for (int i = 0; i < -kk; i++) buf_byte(out, '0');
        buf_bytes(out, digits, (size_t)length);
    } else {
        /* 1234e30 -> 1.234e+33 */
        buf_byte(out, (uint8_t)digits[0]);
        if (length > 1) {
            buf_byte(out, '.');
            buf_bytes(out, digits + 1, (size_t)(length - 1));
        }
        buf_cstr(out, kk - 1 < 0 ? "e-" : "e+");
        buf_u64(out, (uint64_t)(kk - 1 < 0 ? 1 - kk : kk - 1));
    }
}
