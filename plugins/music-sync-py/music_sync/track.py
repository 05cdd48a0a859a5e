"""Parsing, validation and normalisation of one music-info document: the
rules stated at the top of plugins/music-sync/src/track.rs, with
``json.loads``. Errors read ``<field>: <reason>`` or
``<field>: <reason>: <detail>`` with the reasons listed there."""
import json
import math
import re

# Unicode White_Space, which Rust's ``char::is_whitespace`` uses (``str.split``
# also splits at U+001C..U+001F).
WHITESPACE = re.compile("[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
SURROGATE = re.compile("[\ud800-\udfff]")
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
MINUTES_SECONDS = re.compile("([0-9]+):([0-5][0-9])")
YEAR = re.compile("([0-9]{4})")
DATE = re.compile("([0-9]{4})(?:-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))?")
MAX_DEPTH = 127  # serde_json refuses arrays and objects nested deeper
MAX_SAFE_INTEGER = 2**53 - 1
YEAR_MIN, YEAR_MAX = 1900, 2100
SECONDS_MAX = 4294967295


class Invalid(Exception):
    """A refused document; its message is the job's error."""

    def __init__(self, field, reason, detail=None):
        self.message = f"{field}: {reason}" if detail is None else f"{field}: {reason}: {detail}"
        super().__init__(self.message)


def normalise(body, source_url):
    """Parse ``body`` (bytes) and normalise it into the record (a dict in
    output order); ``source_url`` is recorded as is."""
    document = parse(body)
    if not isinstance(document, dict):
        raise Invalid("body", "not an object", f"got {describe(document)}")
    # In the record's order, so that the first fault reported is the same in every port.
    return {
        "id": _id(document),
        "title": required_string(document, "title"),
        "artist": _artist(document),
        "album": optional_string(document, "album"),
        "genre": _genre(document),
        "duration_seconds": _duration(document),
        "release_year": _release_year(document),
        "source_url": source_url,
    }


def encode(record):
    """The record as compact JSON, UTF-8."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def _number(text):
    """Every number as a double, as in the other ports; beyond a double is not JSON."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _constant(name):
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_float=_number, parse_int=_number, parse_constant=_constant)


def parse(body):
    try:
        text = body.decode()
        document = _DECODER.decode(text)
        if _may_go_beyond_serde(text):
            _check(document, 1)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError too
        raise Invalid("body", "not JSON", str(error)) from None
    return document


def _may_go_beyond_serde(text):
    """Whether ``text`` can hold anything _check refuses: a lone surrogate
    needs a ``\\u`` escape (the text is strict UTF-8), and nesting deeper
    than MAX_DEPTH as many brackets. Most documents have neither, and these
    tests run in C where the walk runs in the interpreter; a false alarm only
    costs the walk."""
    return "\\u" in text or text.count("[") + text.count("{") > MAX_DEPTH


def _check(value, depth):
    """Raise ValueError for what json.loads accepts and serde_json does not:
    escaped lone surrogates and nesting deeper than MAX_DEPTH."""
    if isinstance(value, str):
        if SURROGATE.search(value):
            raise ValueError("lone surrogate in a string")
    elif isinstance(value, (list, dict)):
        if depth > MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} deep")
        for key in value if isinstance(value, dict) else ():
            _check(key, depth)
        for item in value.values() if isinstance(value, dict) else value:
            _check(item, depth + 1)


def clean(text):
    """Trimmed, each inner run of whitespace one space."""
    return WHITESPACE.sub(" ", text).strip(" ")


def describe(value):
    """A JSON value in a message: scalars as JSON (long strings cut), containers by kind."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str) and len(value) > 40:
        return json.dumps(value[:40], ensure_ascii=False) + "..."
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))  # as written, most likely
    return json.dumps(value, ensure_ascii=False)


def _wrong_type(name, expected, value):
    return Invalid(name, "wrong type", f"expected {expected}, got {describe(value)}")


def _non_empty(name, text):
    text = clean(text)
    if not text:
        raise Invalid(name, "empty")
    return text


def _whole(name, number):
    if not number.is_integer():
        raise Invalid(name, "not an integer", f"got {describe(number)}")
    return number


def required_string(fields, name):
    value = fields.get(name)  # None: absent or null
    if value is None:
        raise Invalid(name, "missing")
    if not isinstance(value, str):
        raise _wrong_type(name, "a string", value)
    return _non_empty(name, value)


def optional_string(fields, name):
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type(name, "a string", value)
    return clean(value) or None


def _genre(fields):
    genre = optional_string(fields, "genre")
    return genre and genre.translate(ASCII_LOWER)  # ASCII letters only


def _id(fields):
    value = fields.get("id")
    if value is None:
        raise Invalid("id", "missing")
    if isinstance(value, str):
        return _non_empty("id", value)
    if not isinstance(value, float):  # every number is a float (see parse); bool is not
        raise _wrong_type("id", "a string or a number", value)
    if abs(_whole("id", value)) > MAX_SAFE_INTEGER:
        raise Invalid("id", "out of range", f"expected at most 2^53 - 1 in magnitude, got {describe(value)}")
    return str(int(value))


def _artist(fields):
    value = fields.get("artist")
    if value is None:
        raise Invalid("artist", "missing")
    if isinstance(value, str):
        return _non_empty("artist", value)
    if not isinstance(value, dict):
        raise _wrong_type("artist", "a string or an object", value)
    name = value.get("name")
    if name is None:
        raise Invalid("artist.name", "missing")
    if not isinstance(name, str):
        raise _wrong_type("artist.name", "a string", name)
    return _non_empty("artist.name", name)


def _duration(fields):
    name, value = "duration", fields.get("duration")
    if value is None:
        name, value = "duration_ms", fields.get("duration_ms")
        if value is None:
            raise Invalid("duration", "missing", 'give `duration` (seconds or "m:ss") or `duration_ms`')
        if not isinstance(value, float):
            raise _wrong_type(name, "a number of milliseconds", value)
        seconds = value / 1000
    elif isinstance(value, float):
        seconds = value
    elif isinstance(value, str):
        match = MINUTES_SECONDS.fullmatch(clean(value))
        if match is None:
            raise Invalid(name, "bad format", f'expected "m:ss", got {describe(value)}')
        seconds = float(match[1]) * 60 + float(match[2])
    else:
        raise _wrong_type(name, 'a number of seconds or an "m:ss" string', value)
    # Halves up, as Rust's f64::round does for the positive values accepted
    # (Python's round() rounds halves to even; x - floor(x) is exact).
    rounded = math.floor(seconds) + (1 if seconds - math.floor(seconds) >= 0.5 else 0)
    if not 1 <= rounded <= SECONDS_MAX:
        raise Invalid(name, "out of range", f"expected 1 to {SECONDS_MAX} seconds, got {describe(value)}")
    return rounded


def _release_year(fields):
    for name in ("release_year", "year", "release_date"):
        value = fields.get(name)
        if value is not None:
            break
    else:
        return None
    if isinstance(value, float) and name != "release_date":
        year = int(_whole(name, value))
    elif isinstance(value, str) and name != "release_year":
        match = (YEAR if name == "year" else DATE).fullmatch(clean(value))
        if match is None:
            expected = '"YYYY"' if name == "year" else '"YYYY-MM-DD" or "YYYY"'
            raise Invalid(name, "bad format", f"expected {expected}, got {describe(value)}")
        year = int(match[1])
    else:
        expected = {
            "release_year": "a number",
            "year": 'a number or a "YYYY" string',
            "release_date": 'a "YYYY-MM-DD" or "YYYY" string',
        }[name]
        raise _wrong_type(name, expected, value)
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise Invalid(name, "out of range", f"expected {YEAR_MIN} to {YEAR_MAX}, got {describe(value)}")
    return year
