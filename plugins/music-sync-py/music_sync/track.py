"""Parsing, validation and normalisation of one music-info document, ported
from plugins/music-sync/src/track.rs, whose header states the rules. Every
message and every output byte must equal the Rust plugin's."""
import math
import re

from . import serde_json
from .serde_json import Number, quote
from .text import clean, to_lowercase, trim

YEAR_MIN = 1900
YEAR_MAX = 2100
U32_MAX = 4294967295
U64_MAX = 18446744073709551615
_DIGITS = re.compile(r"[0-9]+\Z", re.ASCII)


class Invalid(Exception):
    """A message for the dead letters; ``normalise`` raises nothing else."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Track:
    """The normalised record; ``encode`` writes its fields in this order."""

    __slots__ = ("id", "title", "artist", "album", "genre", "duration_seconds", "release_year",
                 "source_url")

    def encode(self):
        """The record as serde_json writes the Rust ``Track``: compact, UTF-8 (bytes)."""
        def optional(text):
            return "null" if text is None else quote(text)

        return (
            '{"id":' + quote(self.id)
            + ',"title":' + quote(self.title)
            + ',"artist":' + quote(self.artist)
            + ',"album":' + optional(self.album)
            + ',"genre":' + optional(self.genre)
            + ',"duration_seconds":' + str(self.duration_seconds)
            + ',"release_year":' + ("null" if self.release_year is None else str(self.release_year))
            + ',"source_url":' + quote(self.source_url)
            + "}"
        ).encode("utf-8")


def normalise(body, source_url):
    """Parse ``body`` (bytes) and normalise it; ``source_url`` is recorded as is."""
    try:
        document = serde_json.parse(body)
    except serde_json.JsonSyntaxError as error:
        raise Invalid(
            f"malformed JSON at line {error.line} column {error.column}: {error.what}"
        ) from None
    if not isinstance(document, dict):
        raise Invalid(f"expected a JSON object at the top level, got {describe(document)}")
    track = Track()
    # In Rust's field order, so that the first invalid field reported is the same.
    track.id = _id(document)
    track.title = _required_string(document, "title")
    track.artist = _artist(document)
    track.album = _optional_string(document, "album")
    genre = _optional_string(document, "genre")
    track.genre = None if genre is None else to_lowercase(genre)
    track.duration_seconds = _duration(document)
    track.release_year = _release_year(document)
    track.source_url = source_url
    return track


def _field(fields, name):
    """A field's value, treating null as absent (None)."""
    return fields.get(name)


def _first_field(fields, names):
    for name in names:
        value = fields.get(name)
        if value is not None:
            return name, value
    return None


def describe(value):
    """A short description of a JSON value for messages: scalars as JSON, long strings cut."""
    max_chars = 40
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return quote(value[:max_chars]) + "..." if len(value) > max_chars else quote(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)  # Number


def _missing(name):
    return Invalid(f"missing field `{name}`")


def _string_value(value, what):
    if isinstance(value, str):
        return clean(value)
    raise Invalid(f"field `{what}` must be a string, got {describe(value)}")


def _non_empty(text, what):
    if not text:
        raise Invalid(f"field `{what}` must not be empty")
    return text


def _required_string(fields, name):
    value = fields.get(name)
    if value is None:
        raise _missing(name)
    return _non_empty(_string_value(value, name), name)


def _optional_string(fields, name):
    value = fields.get(name)
    if value is None:
        return None
    return _string_value(value, name) or None


def _id(fields):
    value = fields.get("id")
    if value is None:
        raise _missing("id")
    if isinstance(value, str):
        return _non_empty(clean(value), "id")
    if isinstance(value, Number) and value.is_integer():
        return str(value)
    raise Invalid(f"field `id` must be a string or an integer, got {describe(value)}")


def _artist(fields):
    value = fields.get("artist")
    if value is None:
        raise _missing("artist")
    if isinstance(value, str):
        return _non_empty(clean(value), "artist")
    if isinstance(value, dict):
        name = value.get("name")
        if name is None:
            raise _missing("artist.name")
        return _non_empty(_string_value(name, "artist.name"), "artist.name")
    raise Invalid(
        f"field `artist` must be a string or an object with a `name`, got {describe(value)}"
    )


def _round_half_away_from_zero(x):
    """``f64::round`` (Python's round() rounds half to even)."""
    truncated = float(math.trunc(x))
    if abs(x - truncated) >= 0.5:
        return truncated + math.copysign(1.0, x)
    return truncated


def _duration(fields):
    found = _first_field(fields, ("duration", "duration_ms"))
    if found is None:
        raise Invalid("missing field `duration` (or `duration_ms`)")
    name, value = found
    if name == "duration" and isinstance(value, Number):
        seconds, unit = value.as_f64(), "seconds"
    elif name == "duration" and isinstance(value, str):
        total = _minutes_seconds(trim(value))
        if total is None:
            raise Invalid(
                "field `duration` must be a number of seconds or an \"m:ss\" string, "
                f"got {describe(value)}"
            )
        seconds, unit = float(total), "seconds"  # u64 as f64
    elif name == "duration_ms" and isinstance(value, Number):
        seconds, unit = value.as_f64() / 1000.0, "milliseconds"
    else:
        expected = (
            "a number of seconds or an \"m:ss\" string" if name == "duration"
            else "a number of milliseconds"
        )
        raise Invalid(f"field `{name}` must be {expected}, got {describe(value)}")
    rounded = _round_half_away_from_zero(seconds)
    if 1.0 <= rounded <= U32_MAX:
        return int(rounded)
    raise Invalid(f"field `{name}` must be a positive number of {unit}, got {describe(value)}")


def _minutes_seconds(text):
    """Seconds in an "m:ss" string, or None."""
    minutes, colon, seconds = text.partition(":")
    if not colon or not _DIGITS.match(minutes) or len(seconds) != 2 or not _DIGITS.match(seconds):
        return None
    minutes = int(minutes)
    seconds = int(seconds)
    if minutes > U64_MAX or seconds >= 60:  # u64 parse, then the range
        return None
    total = minutes * 60 + seconds
    return None if total > U64_MAX else total  # checked_mul, checked_add


def _release_year(fields):
    found = _first_field(fields, ("release_year", "year", "release_date"))
    if found is None:
        return None
    name, value = found
    year = None
    if name in ("release_year", "year") and isinstance(value, Number) and value.is_integer():
        year = value.as_i64()  # None above i64::MAX
    elif name == "year" and isinstance(value, str):
        year = _year_of(trim(value), False)
    elif name == "release_date" and isinstance(value, str):
        year = _year_of(trim(value), True)
    if year is None:
        expected = {
            "release_year": "an integer",
            "year": "an integer or a \"YYYY\" string",
        }.get(name, "a \"YYYY-MM-DD\" or \"YYYY\" string")
        raise Invalid(f"field `{name}` must be {expected}, got {describe(value)}")
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise Invalid(
            f"field `{name}` must be a year between {YEAR_MIN} and {YEAR_MAX}, got {describe(value)}"
        )
    return year


def _year_of(text, full_date):
    """The year of "YYYY" or, if ``full_date``, "YYYY-MM-DD" (month 01-12, day 01-31)."""
    def digits(part, length):
        return len(part) == length and _DIGITS.match(part) is not None

    parts = text.split("-")
    if not digits(parts[0], 4):
        return None
    if len(parts) == 1:
        return int(parts[0])
    if len(parts) == 3 and full_date and digits(parts[1], 2) and digits(parts[2], 2):
        month, day = int(parts[1]), int(parts[2])
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None
        return int(parts[0])
    return None
