"""Rust's string rules, which music-sync's normalisation is written in:
``char::is_whitespace``, ``str::trim``, ``str::split_whitespace`` and
``str::to_lowercase`` (with its final-sigma rule). Python's own ``split``,
``strip`` and ``lower`` differ (U+001C..U+001F count as whitespace there, and
the Unicode version is another), so the tables come from the Rust standard
library (unicode_tables.py, generated)."""
import re
from bisect import bisect_right

from .unicode_tables import CASE_IGNORABLE, CASED, LOWER, LOWER_MULTI, WHITESPACE

_WHITESPACE_TEXT = "".join(chr(c) for c in WHITESPACE)
# Native scanning (str.translate, re): CPython inside a component is slow at
# Python-level loops over characters, and a list of words would cost memory.
_WHITESPACE_RUNS = re.compile("[" + "".join("\\u%04x" % c for c in WHITESPACE) + "]+")
_LOWER_FIRSTS = LOWER[0::4]
_IGNORABLE_FIRSTS = CASE_IGNORABLE[0::2]
_CASED_FIRSTS = CASED[0::2]
_translate_table = None


def trim(text):
    """``str::trim``."""
    return text.strip(_WHITESPACE_TEXT)


def clean(text):
    """``text.split_whitespace().collect::<Vec<_>>().join(" ")``."""
    # Each run becomes one space; a run at either end leaves one to drop.
    cleaned = _WHITESPACE_RUNS.sub(" ", text)
    if cleaned.startswith(" "):
        cleaned = cleaned[1:]
    if cleaned.endswith(" "):
        cleaned = cleaned[:-1]
    return cleaned


def _in_ranges(table, firsts, code_point):
    i = bisect_right(firsts, code_point) - 1
    return i >= 0 and code_point <= table[2 * i + 1]


def _lower_table():
    """A str.translate table of every lower-case mapping but Σ's, built once."""
    global _translate_table
    if _translate_table is None:
        table = {}
        for i in range(0, len(LOWER), 4):
            first, last, stride, delta = LOWER[i:i + 4]
            for c in range(first, last + 1, stride):
                table[c] = c + delta
        table.update(LOWER_MULTI)
        _translate_table = table
    return _translate_table


def _case_ignorable_then_cased(text, indices):
    for i in indices:
        c = ord(text[i])
        if not _in_ranges(CASE_IGNORABLE, _IGNORABLE_FIRSTS, c):
            return _in_ranges(CASED, _CASED_FIRSTS, c)
    return False


def _final_sigma(text, i):
    """Unicode Final_Sigma for the Σ at ``text[i]``: it ends a word."""
    return _case_ignorable_then_cased(text, range(i - 1, -1, -1)) and not (
        _case_ignorable_then_cased(text, range(i + 1, len(text)))
    )


def to_lowercase(text):
    """``str::to_lowercase``."""
    if text.isascii():
        return text.lower()  # exact for ASCII
    table = _lower_table()
    pieces = []
    start = 0
    sigma = text.find("\u03a3")
    while sigma >= 0:
        pieces.append(text[start:sigma].translate(table))
        pieces.append("\u03c2" if _final_sigma(text, sigma) else "\u03c3")
        start = sigma + 1
        sigma = text.find("\u03a3", start)
    pieces.append(text[start:].translate(table))
    return "".join(pieces)
