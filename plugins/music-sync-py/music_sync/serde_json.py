"""A JSON reader and writer that behave exactly like serde_json 1.0 as the Rust
music-sync plugin uses it (``from_slice::<Value>`` without the
``float_roundtrip`` and ``arbitrary_precision`` features, ``to_string``), so
that this port fails on the same documents with the same messages and writes
the same bytes. Python's ``json`` module cannot serve: it reports other errors,
accepts lone surrogates, NaN and any integer size, and parses floats exactly.

Values: None, True, False, str, Number, list and dict (the last of duplicate
keys wins, as in serde_json).
"""

import re

U64_MAX = 18446744073709551615
I64_MAX = 9223372036854775807
I32_MAX = 2147483647
POW10 = tuple(float("1e%d" % i) for i in range(309))
RECURSION_LIMIT = 128
RAW_VALUE_TOKEN = "$serde_json::private::RawValue"

EOF_LIST = "EOF while parsing a list"
EOF_OBJECT = "EOF while parsing an object"
EOF_STRING = "EOF while parsing a string"
EOF_VALUE = "EOF while parsing a value"
EXPECTED_COLON = "expected `:`"
EXPECTED_LIST_COMMA_OR_END = "expected `,` or `]`"
EXPECTED_OBJECT_COMMA_OR_END = "expected `,` or `}`"
EXPECTED_IDENT = "expected ident"
EXPECTED_VALUE = "expected value"
INVALID_ESCAPE = "invalid escape"
INVALID_NUMBER = "invalid number"
NUMBER_OUT_OF_RANGE = "number out of range"
INVALID_UNICODE = "invalid unicode code point"
CONTROL_CHARACTER = "control character (\\u0000-\\u001F) found while parsing a string"
KEY_MUST_BE_A_STRING = "key must be a string"
LONE_LEADING_SURROGATE = "lone leading surrogate in hex escape"
TRAILING_COMMA = "trailing comma"
TRAILING_CHARACTERS = "trailing characters"
UNEXPECTED_END_OF_HEX_ESCAPE = "unexpected end of hex escape"
RECURSION_LIMIT_EXCEEDED = "recursion limit exceeded"

DIGITS = frozenset(b"0123456789")
_CONTROL = re.compile(rb"[\x00-\x1f]")
HEX = {b: int(chr(b), 16) for b in b"0123456789abcdefABCDEF"}
ESCAPES = {0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 0x08, 0x66: 0x0C, 0x6E: 0x0A, 0x72: 0x0D, 0x74: 0x09}


class Number:
    """A JSON number as serde_json keeps it: kind "u64", "i64" (int) or "f64" (float)."""

    __slots__ = ("kind", "value")

    def __init__(self, kind, value):
        self.kind = kind
        self.value = value

    def is_integer(self):
        """serde_json's ``is_i64() || is_u64()``."""
        return self.kind != "f64"

    def as_f64(self):
        return self.value if self.kind == "f64" else float(self.value)

    def as_i64(self):
        """serde_json's ``as_i64()``: None above i64::MAX or for a float."""
        if self.kind == "f64" or self.value > I64_MAX:
            return None
        return self.value

    def __str__(self):
        return format_float(self.value) if self.kind == "f64" else str(self.value)


class JsonSyntaxError(Exception):
    """A syntax error with serde_json's message and 1-based line, byte column."""

    def __init__(self, what, line, column):
        super().__init__(f"{what} at line {line} column {column}")
        self.what = what
        self.line = line
        self.column = column


def parse(data):
    """Parse ``data`` (bytes) into a value, or raise JsonSyntaxError."""
    parser = _Parser(data)
    value = parser.parse_value()
    if parser.parse_whitespace() != -1:
        raise parser.peek_error(TRAILING_CHARACTERS)
    return value


class _Parser:
    def __init__(self, data):
        self.data = data
        self.index = 0
        self.remaining_depth = RECURSION_LIMIT

    # -1 stands for "end of input" (serde_json's None).
    def peek(self):
        return self.data[self.index] if self.index < len(self.data) else -1

    def peek_or_null(self):
        return self.data[self.index] if self.index < len(self.data) else 0

    def next(self):
        if self.index < len(self.data):
            self.index += 1
            return self.data[self.index - 1]
        return -1

    def position_of(self, index):
        start_of_line = self.data.rfind(b"\n", 0, index) + 1
        return 1 + self.data.count(b"\n", 0, start_of_line), index - start_of_line

    def error(self, what):
        """An error caused by the byte last consumed."""
        return JsonSyntaxError(what, *self.position_of(self.index))

    def peek_error(self, what):
        """An error caused by the byte that would be consumed next."""
        return JsonSyntaxError(what, *self.position_of(min(len(self.data), self.index + 1)))

    def parse_whitespace(self):
        data = self.data
        index = self.index
        while index < len(data) and data[index] in b" \n\t\r":
            index += 1
        self.index = index
        return data[index] if index < len(data) else -1

    def parse_value(self):
        peek = self.parse_whitespace()
        if peek == -1:
            raise self.peek_error(EOF_VALUE)
        if peek == 0x6E:  # n
            self.index += 1
            self.parse_ident(b"ull")
            return None
        if peek == 0x74:  # t
            self.index += 1
            self.parse_ident(b"rue")
            return True
        if peek == 0x66:  # f
            self.index += 1
            self.parse_ident(b"alse")
            return False
        if peek == 0x2D:  # -
            self.index += 1
            return self.parse_integer(False)
        if peek in DIGITS:
            return self.parse_integer(True)
        if peek == 0x22:
            self.index += 1
            return self.parse_string()
        if peek == 0x5B:
            return self.parse_array()
        if peek == 0x7B:
            return self.parse_object()
        raise self.peek_error(EXPECTED_VALUE)

    def enter(self):
        self.remaining_depth -= 1
        if self.remaining_depth == 0:
            raise self.peek_error(RECURSION_LIMIT_EXCEEDED)
        self.index += 1

    def parse_array(self):
        self.enter()
        values = []
        first = True
        while True:
            peek = self.parse_whitespace()
            if peek == -1:
                raise self.peek_error(EOF_LIST)
            if peek == 0x5D:
                break
            if not first:
                if peek != 0x2C:
                    raise self.peek_error(EXPECTED_LIST_COMMA_OR_END)
                self.index += 1
                after = self.parse_whitespace()
                if after == 0x5D:
                    raise self.peek_error(TRAILING_COMMA)
                if after == -1:
                    raise self.peek_error(EOF_VALUE)
            first = False
            values.append(self.parse_value())
        self.remaining_depth += 1
        self.index += 1  # the `]` seen above
        return values

    def parse_object(self):
        self.enter()
        fields = {}
        first = True
        while True:
            peek = self.parse_whitespace()
            if peek == -1:
                raise self.peek_error(EOF_OBJECT)
            if peek == 0x7D:
                break
            if first:
                if peek != 0x22:
                    raise self.peek_error(KEY_MUST_BE_A_STRING)
            else:
                if peek != 0x2C:
                    raise self.peek_error(EXPECTED_OBJECT_COMMA_OR_END)
                self.index += 1
                after = self.parse_whitespace()
                if after == 0x7D:
                    raise self.peek_error(TRAILING_COMMA)
                if after == -1:
                    raise self.peek_error(EOF_VALUE)
                if after != 0x22:
                    raise self.peek_error(KEY_MUST_BE_A_STRING)
            self.index += 1  # the opening quote
            key = self.parse_string()
            colon = self.parse_whitespace()
            if colon == -1:
                raise self.peek_error(EOF_OBJECT)
            if colon != 0x3A:
                raise self.peek_error(EXPECTED_COLON)
            self.index += 1
            if first and key == RAW_VALUE_TOKEN:
                return self.parse_raw_value()
            fields[key] = self.parse_value()
            first = False
        self.remaining_depth += 1
        self.index += 1  # the `}` seen above
        return fields

    def parse_raw_value(self):
        """serde_json's ``raw_value`` feature (on in the Rust plugin's build) makes
        an object whose first key is RAW_VALUE_TOKEN stand for the JSON document
        in that key's string value; the rest of the object must be just ``}``."""
        peek = self.parse_whitespace()
        if peek == -1:
            raise self.peek_error(EOF_VALUE)
        if peek != 0x22:
            raise self.invalid_raw_value()
        self.index += 1
        text = self.parse_string()
        # A separate document (fresh depth, positions within `text`).
        value = parse(text.encode("utf-8"))
        self.remaining_depth += 1
        end = self.parse_whitespace()
        if end == 0x7D:
            self.index += 1
            return value
        if end == 0x2C:
            raise self.peek_error(TRAILING_COMMA)
        if end == -1:
            raise self.peek_error(EOF_OBJECT)
        raise self.peek_error(TRAILING_CHARACTERS)

    def invalid_raw_value(self):
        """serde_json's "invalid type" error for a raw value that is not a string."""
        c = self.peek_or_null()
        if c == 0x6E:
            self.index += 1
            self.parse_ident(b"ull")
            unexpected = "null"
        elif c in (0x74, 0x66):
            self.index += 1
            self.parse_ident(b"rue" if c == 0x74 else b"alse")
            unexpected = "boolean `true`" if c == 0x74 else "boolean `false`"
        elif c == 0x2D or c in DIGITS:
            if c == 0x2D:
                self.index += 1
            number = self.parse_integer(c != 0x2D)
            if number.kind == "f64":
                unexpected = f"floating point `{format_float(number.value)}`"
            else:
                unexpected = f"integer `{number.value}`"
        elif c == 0x5B:
            unexpected = "sequence"
        elif c == 0x7B:
            unexpected = "map"
        else:
            return self.peek_error(EXPECTED_VALUE)
        return self.error(f"invalid type: {unexpected}, expected raw value")

    def parse_ident(self, rest):
        for expected in rest:
            b = self.next()
            if b == -1:
                raise self.error(EOF_VALUE)
            if b != expected:
                raise self.error(EXPECTED_IDENT)

    # ---- strings -----------------------------------------------------------

    def parse_string(self):
        """The string after its opening quote, up to and including the closing one."""
        # Fast path, with native scans (CPython inside a component is slow at
        # byte loops): no escape, no control character and valid UTF-8 up to
        # the next quote. Anything else takes the exact byte-by-byte path.
        quote = self.data.find(b'"', self.index)
        if quote >= 0:
            content = self.data[self.index:quote]
            if b"\\" not in content and not _CONTROL.search(content):
                try:
                    text = content.decode("utf-8")
                except UnicodeDecodeError:
                    pass
                else:
                    self.index = quote + 1
                    return text
        return self.parse_string_slowly()

    def parse_string_slowly(self):
        data = self.data
        length = len(data)
        scratch = None  # decoded bytes so far, once an escape was seen
        start = self.index
        while True:
            i = self.index
            while i < length:
                b = data[i]
                if b == 0x22 or b == 0x5C or b < 0x20:
                    break
                i += 1
            self.index = i
            if i == length:
                raise self.error(EOF_STRING)
            b = data[i]
            if b == 0x22:
                if scratch is None:
                    content = data[start:i]
                else:
                    scratch += data[start:i]
                    content = bytes(scratch)
                self.index = i + 1
                try:
                    return content.decode("utf-8")
                except UnicodeDecodeError as error:
                    valid_up_to = error.start
                    line, column = self.position_of(self.index)
                    raise JsonSyntaxError(
                        INVALID_UNICODE, line, max(0, column - (len(content) - valid_up_to))
                    ) from None
            if b == 0x5C:
                if scratch is None:
                    scratch = bytearray()
                scratch += data[start:i]
                self.index = i + 1
                self.parse_escape(scratch)
                start = self.index
            else:
                self.index = i + 1
                raise self.error(CONTROL_CHARACTER)

    def parse_escape(self, scratch):
        ch = self.next()
        if ch == -1:
            raise self.error(EOF_STRING)
        if ch == 0x75:  # u
            self.parse_unicode_escape(scratch)
            return
        escaped = ESCAPES.get(ch)
        if escaped is None:
            raise self.error(INVALID_ESCAPE)
        scratch.append(escaped)

    def decode_hex_escape(self):
        data = self.data
        if len(data) - self.index < 4:
            self.index = len(data)
            raise self.error(EOF_STRING)
        digits = [HEX.get(b) for b in data[self.index:self.index + 4]]
        self.index += 4
        if None in digits:
            raise self.error(INVALID_ESCAPE)
        return (digits[0] << 12) | (digits[1] << 8) | (digits[2] << 4) | digits[3]

    def parse_unicode_escape(self, scratch):
        n = self.decode_hex_escape()
        if 0xDC00 <= n <= 0xDFFF:
            raise self.error(LONE_LEADING_SURROGATE)
        if n < 0xD800 or n > 0xDBFF:
            scratch += chr(n).encode("utf-8")
            return
        for expected in (0x5C, 0x75):
            peek = self.peek()
            if peek == -1:
                raise self.error(EOF_STRING)
            self.index += 1
            if peek != expected:
                raise self.error(UNEXPECTED_END_OF_HEX_ESCAPE)
        n2 = self.decode_hex_escape()
        if n2 < 0xDC00 or n2 > 0xDFFF:
            raise self.error(LONE_LEADING_SURROGATE)
        scratch += chr((((n - 0xD800) << 10) | (n2 - 0xDC00)) + 0x10000).encode("utf-8")

    # ---- numbers -----------------------------------------------------------

    def parse_integer(self, positive):
        first = self.next()
        if first == -1:
            raise self.error(EOF_VALUE)
        if first == 0x30:
            if self.peek_or_null() in DIGITS:
                raise self.peek_error(INVALID_NUMBER)
            return self.parse_number(positive, 0)
        if first not in DIGITS:
            raise self.error(INVALID_NUMBER)
        significand = first - 0x30
        while True:
            c = self.peek_or_null()
            if c not in DIGITS:
                return self.parse_number(positive, significand)
            following = significand * 10 + (c - 0x30)
            if following > U64_MAX:
                return Number("f64", self.parse_long_integer(positive, significand))
            self.index += 1
            significand = following

    def parse_number(self, positive, significand):
        c = self.peek_or_null()
        if c == 0x2E:
            return Number("f64", self.parse_decimal(positive, significand, 0))
        if c == 0x65 or c == 0x45:
            return Number("f64", self.parse_exponent(positive, significand, 0))
        if positive:
            return Number("u64", significand)
        # -0 and anything below i64::MIN become floats, as in serde_json.
        if significand == 0 or significand > I64_MAX + 1:
            return Number("f64", -float(significand))
        return Number("i64", -significand)

    def parse_decimal(self, positive, significand, exponent_before_decimal_point):
        self.index += 1  # '.'
        exponent_after_decimal_point = 0
        while True:
            c = self.peek_or_null()
            if c not in DIGITS:
                break
            following = significand * 10 + (c - 0x30)
            if following > U64_MAX:
                return self.parse_decimal_overflow(
                    positive, significand, exponent_before_decimal_point + exponent_after_decimal_point
                )
            self.index += 1
            significand = following
            exponent_after_decimal_point -= 1
        if exponent_after_decimal_point == 0:
            raise self.peek_error(EOF_VALUE if self.peek() == -1 else INVALID_NUMBER)
        exponent = exponent_before_decimal_point + exponent_after_decimal_point
        c = self.peek_or_null()
        if c == 0x65 or c == 0x45:
            return self.parse_exponent(positive, significand, exponent)
        return self.f64_from_parts(positive, significand, exponent)

    def parse_exponent(self, positive, significand, starting_exponent):
        self.index += 1  # 'e' or 'E'
        positive_exponent = True
        sign = self.peek_or_null()
        if sign == 0x2B:
            self.index += 1
        elif sign == 0x2D:
            self.index += 1
            positive_exponent = False
        first = self.next()
        if first == -1:
            raise self.error(EOF_VALUE)
        if first not in DIGITS:
            raise self.error(INVALID_NUMBER)
        exponent = first - 0x30
        while True:
            c = self.peek_or_null()
            if c not in DIGITS:
                break
            self.index += 1
            following = exponent * 10 + (c - 0x30)
            if following > I32_MAX:
                return self.parse_exponent_overflow(positive, significand == 0, positive_exponent)
            exponent = following
        # i32 saturating arithmetic, as in serde_json.
        if positive_exponent:
            final_exponent = min(I32_MAX, starting_exponent + exponent)
        else:
            final_exponent = max(-I32_MAX - 1, starting_exponent - exponent)
        return self.f64_from_parts(positive, significand, final_exponent)

    def parse_exponent_overflow(self, positive, zero_significand, positive_exponent):
        if not zero_significand and positive_exponent:
            raise self.error(NUMBER_OUT_OF_RANGE)
        while self.peek_or_null() in DIGITS:
            self.index += 1
        return 0.0 if positive else -0.0

    def parse_long_integer(self, positive, significand):
        exponent = 0
        while True:
            c = self.peek_or_null()
            if c in DIGITS:
                self.index += 1
                exponent += 1
            elif c == 0x2E:
                return self.parse_decimal(positive, significand, exponent)
            elif c == 0x65 or c == 0x45:
                return self.parse_exponent(positive, significand, exponent)
            else:
                return self.f64_from_parts(positive, significand, exponent)

    def parse_decimal_overflow(self, positive, significand, exponent):
        # Further digits are ignored, as in serde_json.
        while self.peek_or_null() in DIGITS:
            self.index += 1
        c = self.peek_or_null()
        if c == 0x65 or c == 0x45:
            return self.parse_exponent(positive, significand, exponent)
        return self.f64_from_parts(positive, significand, exponent)

    def f64_from_parts(self, positive, significand, exponent):
        """serde_json's fast (not always correctly rounded) float assembly."""
        f = float(significand)
        while True:
            magnitude = abs(exponent)
            if magnitude < len(POW10):
                if exponent >= 0:
                    f *= POW10[magnitude]
                    if f == float("inf"):
                        raise self.error(NUMBER_OUT_OF_RANGE)
                else:
                    f /= POW10[magnitude]
                break
            if f == 0.0:
                break
            if exponent >= 0:
                raise self.error(NUMBER_OUT_OF_RANGE)
            f /= 1e308
            exponent += 308
        return f if positive else -f


# ---- writing ---------------------------------------------------------------

_ESCAPED = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}
_ESCAPE_TABLE = {c: _ESCAPED.get(c, "\\u%04x" % c) for c in range(0x20)}
_ESCAPE_TABLE[0x22] = '\\"'
_ESCAPE_TABLE[0x5C] = "\\\\"


def quote(text):
    """A string as serde_json writes it: quotes, backslash and C0 controls escaped."""
    return '"' + text.translate(_ESCAPE_TABLE) + '"'


def format_float(f):
    """A finite float as serde_json 1.0.154 writes it (the zmij crate): the
    shortest digits that round-trip (the same digits Python's repr picks), as
    ``12.5``, ``1.0``, ``0.00001``, ``1e-6``, ``1e+16``, ``1.5e+300``: plain
    while the decimal exponent is within -5..=15, scientific otherwise."""
    if f == 0.0:
        return "-0.0" if str(f).startswith("-") else "0.0"
    sign = "-" if f < 0 else ""
    text = repr(abs(f))
    mantissa, _, exponent_text = text.partition("e")
    k = int(exponent_text) if exponent_text else 0
    whole, _, fraction = mantissa.partition(".")
    k -= len(fraction)
    digits = (whole + fraction).lstrip("0")
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits = stripped
    length = len(digits)
    kk = length + k  # 10^(kk-1) <= value < 10^kk
    if k >= 0 and kk <= 16:
        return f"{sign}{digits}{'0' * k}.0"
    if 0 < kk <= 16:
        return f"{sign}{digits[:kk]}.{digits[kk:]}"
    if -5 < kk <= 0:
        return f"{sign}0.{'0' * -kk}{digits}"
    exponent = f"e{kk - 1}" if kk - 1 < 0 else f"e+{kk - 1}"
    if length == 1:
        return f"{sign}{digits}{exponent}"
    return f"{sign}{digits[0]}.{digits[1:]}{exponent}"
