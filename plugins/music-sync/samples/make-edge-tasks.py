#!/usr/bin/env python3
"""Writes edge-tasks.jsonl: inline music-sync tasks for comparing ports of the
plugin with the Rust one (every validation error of track.rs, whitespace,
Unicode, escapes, rounding, number forms, malformed JSON, what serde_json
refuses and the other languages' parsers accept, and byte-level UTF-8
errors). Each task has an explicit id and names no plugin: run it with
`jobhost run --plugin NAME --input edge-tasks.jsonl`; the task URL is then
`inline:<id>`. A `payload` that is a JSON string is the body as is (used for
malformed JSON and exact number spellings); any other JSON value is
re-serialised by the host; `payload_base64` carries invalid UTF-8."""
import base64
import json
import os

BASE = {"id": 1, "title": "t", "artist": "a", "duration": 1}
cases = []


def doc(name, **fields):
    """A JSON object payload: BASE with `fields` replaced (None removes)."""
    payload = dict(BASE)
    for key, value in fields.items():
        key = key.rstrip("_")
        if value is REMOVE:
            payload.pop(key, None)
        else:
            payload[key] = value
    cases.append({"id": name, "payload": payload})


def raw(name, text):
    """A body given verbatim (the payload is a JSON string)."""
    cases.append({"id": name, "payload": text})


def raw_bytes(name, data):
    cases.append({"id": name, "payload_base64": base64.b64encode(data).decode()})


REMOVE = object()
B = '"id":1,"title":"t","artist":"a"'  # base fields for raw bodies (no duration)

# --- valid documents: whitespace, Unicode, escapes ---------------------------
doc("ws-ascii", title=" a \t\n\r\f\x0b b  ")
doc("ws-unicode", title="a\u0085b\u00a0c\u1680d\u2000e\u200af\u2028g\u2029h\u202fi\u205fj\u3000k")
doc("ws-not-rust", title="x\ufeffy\u200bz\u180ew\x1cv\x1dq\x1er\x1fs")
doc("ws-only-unicode", title="\u3000\u2028\u00a0")
doc("ws-only-bom", title="\ufeff")
doc("controls", title="a\x00b\x01c\x08d\x7fe\x1bf", artist="\\ \" / \u2028")
doc("quotes", title='Don\'t "say" \\ back/slash', album="\u00e9\u00e8 \U0001f3b5 \u4e2d\u6587 \u05e2\u05d1\u05e8\u05d9\u05ea")
doc("combining", title="e\u0301 n\u0303", genre="E\u0301LE\u0300VE")
doc("genre-sigma", genre="ΣΑΣ ΟΔΥΣΣΕΥΣ Σ ΑΣ' ΑΣ'Α Α\u0345Σ ΣΣ")
doc("genre-special", genre="İSTANBUL ẞ ǅ Ⅻ Ⓐ 𐐀 Ꭰ Ა 𐵐 Ꟛ Ｆｕｌｌ ＷＩＤＴＨ")
doc("genre-upper-lower", genre="  Hip\u00a0HOP   ", album="   ")
doc("genre-empty", genre="", album="")
doc("genre-ascii-only", genre="ÉLECTRO Pop ÀÉÎ aBc")
doc("nulls-are-absent", album=None, genre=None, release_year=None, year=None, release_date="1999")
doc("unknown-fields", extra={"deep": [[[[{"x": None}]]]]}, tags=["a", 1, 2.5, True])
doc("artist-object", artist={"id": 9, "name": "  Ó   N  "})
doc("id-big-u64", id=18446744073709551615)
doc("id-negative", id=-5)
doc("id-i64-min", id=-9223372036854775808)
doc("id-string-ws", id="  x \t 1 ")
# Numbers are doubles: a whole one is an integer id, up to 2^53 - 1.
doc("id-float-integral", id=1.0)
doc("id-max-safe", id=9007199254740991)
doc("id-min-safe", id=-9007199254740991)
doc("err-id-2-pow-53", id=9007199254740992)
raw("id-exponent", "{\"id\":1.5e3," + B[len('"id":1,'):] + ",\"duration\":1}")
# --- rounding and durations -------------------------------------------------
for i, value in enumerate([214.5, 214.49, 0.5, 2.5, 1.4999999999999998, 4294967295.4,
                           1e3, 999.5, 0.49999999999999994]):
    doc(f"duration-{i}", duration=value)
for i, value in enumerate([1500, 499, 500, 999.9, 215500, 215499, 1e9, 4294967295499]):
    doc(f"duration-ms-{i}", duration=REMOVE, duration_ms=value)
for i, value in enumerate(["3:35", " 12:04 ", "0:01", "00:59", "100000:00", "3:05\u00a0",
                           "0000000000000000000000000001:00"]):
    doc(f"duration-mss-{i}", duration=value)
doc("duration-wins", duration=10, duration_ms=99000)
doc("duration-null-ms", duration=None, duration_ms=1000)
# --- release years ------------------------------------------------------------
for i, (key, value) in enumerate([("release_year", 1900), ("release_year", 2100), ("year", 1962),
                                  ("year", "1962"), ("year", " 1962 "), ("release_date", "2021-03-12"),
                                  ("release_date", " 2008 "), ("release_date", "2021-02-31")]):
    doc(f"year-ok-{i}", **{key: value})
doc("year-precedence", release_year=2015, year=1990, release_date="1999-01-01")
# --- every validation error of track.rs ------------------------------------
doc("err-missing-id", id=REMOVE)
doc("err-null-id", id=None)
doc("err-id-float", id=1.5)
doc("err-id-bool", id=True)
doc("err-id-array", id=[])
doc("err-id-object", id={})
doc("err-id-empty", id="  ")
doc("err-missing-title", title=REMOVE)
doc("err-null-title", title=None)
doc("err-title-number", title=42)
doc("err-title-empty", title=" \t ")
doc("err-title-long", title="x" * 100)
doc("err-title-long-unicode", title=("é\U0001f3b5\"\\\x01" * 20))
doc("err-title-41", title="y" * 41)
doc("err-title-40", title=["z" * 40])
doc("err-missing-artist", artist=REMOVE)
doc("err-artist-empty", artist="")
doc("err-artist-array", artist=["a"])
doc("err-artist-bool", artist=False)
doc("err-artist-no-name", artist={"id": 3})
doc("err-artist-null-name", artist={"name": None})
doc("err-artist-name-number", artist={"name": 5})
doc("err-artist-name-empty", artist={"name": "\u3000"})
doc("err-album-number", album=3)
doc("err-genre-array", genre=["x"])
doc("err-genre-object", genre={"a": 1})
doc("err-missing-duration", duration=REMOVE)
doc("err-null-durations", duration=None, duration_ms=None)
for i, value in enumerate([-3, 0.4, 0, -0.5, 4294967295.5, 1e300, 1e-7, 0.001, 123456789012345680000,
                           1.7976931348623157e308, -1e-320]):
    doc(f"err-duration-{i}", duration=value)
for i, value in enumerate(["3:5", "1:60", "3:060", "abc", "", ":30", "3:", "+3:05", "-3:05", "٣:٠٥",
                           "0:00", "71582789:00", "307445734561825860:15", "99999999999999999999:00",
                           "1:2:3", "3 : 05"]):
    doc(f"err-duration-mss-{i}", duration=value)
for i, value in enumerate([True, {}, [1], "x" * 45]):
    doc(f"err-duration-type-{i}", duration=value)
for i, value in enumerate([0, -1, 1e300, 499.9, "215000", None and 0, [], False]):
    if value is None:
        continue
    doc(f"err-duration-ms-{i}", duration=REMOVE, duration_ms=value)
# err-year-4 (1999.0) is valid since numbers are doubles: a whole number.
for i, (key, value) in enumerate([
        ("release_year", 1850), ("release_year", 2101), ("release_year", -2000),
        ("release_year", "1999"), ("release_year", 1999.0), ("release_year", 18446744073709551615),
        ("release_year", 9223372036854775807), ("release_year", -9223372036854775808),
        ("year", 1999.5), ("year", "62"), ("year", "1962-01-01"), ("year", True), ("year", "１９６２"),
        ("year", 1899), ("release_date", "2101-01-01"), ("release_date", "1999-13-01"),
        ("release_date", "May 1999"), ("release_date", "2021-3-12"), ("release_date", "2021-00-10"),
        ("release_date", "2021-12-32"), ("release_date", "2021-03"), ("release_date", "2021-03-12-01"),
        ("release_date", ""), ("release_date", 2021), ("release_date", "1899-12-31"),
        ("release_date", "2021-03-1x"), ("release_date", ["2021"])]):
    doc(f"err-year-{i}", **{key: value})
# --- top level ----------------------------------------------------------------
for i, value in enumerate([[1, 2], 42, -1.5, True]):  # a null payload is no payload
    cases.append({"id": f"err-top-{i}", "payload": value})
for i, text in enumerate(['"just a string"', '"' + "s" * 50 + '"', "null", "  false  ", "-0", "1e400",
                          "[]"]):
    raw(f"err-top-raw-{i}", text)
# --- malformed JSON: one per serde_json error path ----------------------------
malformed = [
    "", " ", "\n\n", "{", "{\"id\": 1,\n  \"title\": }", "[1,]", "[1 2]", "[1,", "{\"a\":1,}", "{\"a\" 1}",
    "{\"a\"", "{\"a\":", "{1:2}", "{\"a\":1,2:3}", "{\"a\":1 \"b\":2}", "nul", "nulx", "tru", "fals",
    "{\"a\":01}", "{\"a\":1.}", "{\"a\":1.x}", "{\"a\":1.", "{\"a\":1e}", "{\"a\":1e+}", "{\"a\":1ex}",
    "{\"a\":-}", "{\"a\":-x}", "{\"a\":-", "{\"a\":1e999}", "{\"a\":1e99999999999}", "{\"a\":\"\\x\"}",
    "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"\\ud800x\"}",
    "{\"a\":\"\\ud800\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12", "{\"a\":\"\\uZZZZ\"}", "{\"a\":\"abc",
    "{\"a\":\"a\tb\"}", "{\"a\":\"a\nb\"}", "{} x", "{}\n\n  ]", "{}}", "\ufeff{}", "{\"a\":[1 2]}",
    "{\"a\":{\"b\":1]}", "{\"a\":tru}", "{\r\n\"a\":\r\n}", "{\"a\":\"\\", "{\"a\":\"\\u", "{\"a\":\"\\ud800\\",
    "{\"a\":\"\\ud800\\u", "{\"a\":+1}", "{\"a\":.5}", "{\"a\":NaN}", "{\"a\":Infinity}", "{'a':1}",
    "[" * 127 + "]" * 127, "[" * 128 + "]" * 128, "{\"x\":" + "[" * 126 + "]" * 126 + "}",
    "{\"x\":" + "[" * 127 + "]" * 127 + "}", "{\"x\":" + "{\"y\":" * 130,
]
for i, text in enumerate(malformed):
    raw(f"malformed-{i}", text)
# --- what JSON.parse and json.loads accept and serde_json refuses -------------
for i, text in enumerate([
        "{" + B + ",\"duration\":1,\"x\":[-1e400]}", "{" + B + ",\"duration\":1,\"\\ud800\":1}",
        "{" + B + ",\"duration\":1,\"x\":[\"a\\udc00\"]}", "{\"a\":-Infinity}",
        "{" + B + ",\"duration\":1,\"x\":{\"y\":" + "[" * 125 + "]" * 125 + "}}",
        "{" + B + ",\"duration\":1,\"x\":{\"y\":" + "[" * 126 + "]" * 126 + "}}"]):
    raw(f"beyond-serde-{i}", text)
# An inherited property name is an ordinary key (JSON.parse makes it an own property).
raw("proto-key", "{\"__proto__\":{\"id\":9},\"title\":\"t\",\"artist\":{\"name\":\"a\",\"__proto__\":null},\"duration\":1}")
# --- exact number spellings (serde_json's parsing, not the host's) ------------
numbers = [
    "214.49999999999999999", "214.5000000000000000001", "12345678901234567890123", "1.00000000000000000000001e2",
    "0e99999999999", "1e-99999999999", "-0.0", "1E2", "2.5e-3", "9007199254740993", "9007199254740993e-1",
    "1e23", "123456789012345678901234567890", "0.000001", "1e-6", "100000000000000000", "1.5e300",
    "4.9e-324", "2.2250738585072014e-308", "1e22", "1e16", "12345678901234567", "0.1e1", "10e-1",
    "18446744073709551615", "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
    "-18446744073709551616", "3.0", "7e0", "1.7976931348623157e308", "1.7976931348623159e308",
    "0.30000000000000004", "123.456e-2", "5e-324", "1e-400", "-1e-400", "99999999999999999999e-10",
    "1.23456789012345678901234567890e10",
]
for i, text in enumerate(numbers):
    raw(f"number-duration-{i}", "{" + B + ",\"duration\":" + text + "}")
    raw(f"number-id-{i}", "{\"id\":" + text + ",\"title\":\"t\",\"artist\":\"a\",\"duration\":1}")
    raw(f"number-year-{i}", "{" + B + ",\"duration\":1,\"release_year\":" + text + "}")
raw("dup-keys", "{\"id\":1,\"id\":2," + "\"title\":\"t\",\"artist\":\"a\",\"duration\":1,\"title\":\"last\"}")
raw("escapes", "{\"id\":\"\\u0041\\u00e9\\ud83c\\udfb5\\/\\b\\f\\n\\r\\t\\\"\\\\\",\"title\":\"\\u0000x\","
    "\"artist\":\"a\\u2028b\",\"duration\":1}")
raw("crlf", "{\r\n  \"id\": 1,\r\n  \"title\": \"t\",\r\n  \"artist\": \"a\",\r\n  \"duration\": 1\r\n}\r\n")
# With its raw_value feature (which the Rust port does not enable), serde_json
# reads an object whose first key is this token as the document in its string
# value: here it is an ordinary key, as in every other parser.
RV = "\"$serde_json::private::RawValue\":"
for i, text in enumerate([
        "{" + RV + "\"{}\"}",
        "{" + RV + json.dumps(json.dumps(BASE)) + "}",
        "{" + RV + json.dumps(json.dumps(BASE)) + " , \"x\":1}",
        "{" + RV + json.dumps(json.dumps(BASE)) + " x}",
        "{" + RV + json.dumps(json.dumps(BASE)),
        "{" + RV + json.dumps(json.dumps(BASE)) + "]",
        "{\"id\":1,\"title\":\"t\",\"artist\":{" + RV + "\"\\\" Bob \\\"\"},\"duration\":1}",
        "{" + RV + "\"{\\\"id\\\": }\"}",
        "{" + RV + "\"[1,\\n2,]\"}",
        "{" + RV + "\"{\\\"a\\\":{" + RV.replace("\"", "\\\"") + "5}}\"}",
        "{\"a\":1," + RV + "\"{}\",\"id\":1,\"title\":\"t\",\"artist\":\"a\",\"duration\":1}",
        "{\"\\u0024serde_json::private::RawValue\":\"[]\"}",
        "{\"x\":{" + RV + "5}}", "{\"x\":{" + RV + "-5}}", "{\"x\":{" + RV + "18446744073709551616}}",
        "{\"x\":{" + RV + "1e300}}", "{\"x\":{" + RV + "-0.0}}", "{\"x\":{" + RV + "1.5e-7}}",
        "{\"x\":{" + RV + "0.1}}", "{\"x\":{" + RV + "100.0}}", "{\"x\":{" + RV + "true}}",
        "{\"x\":{" + RV + "false}}", "{\"x\":{" + RV + "null}}", "{\"x\":{" + RV + "[1]}}",
        "{\"x\":{" + RV + "{}}}", "{\"x\":{" + RV + "nul}}", "{\"x\":{" + RV + "-}}",
        "{\"x\":{" + RV + "}}", "{\"x\":{" + RV, "{\"x\":{" + RV + "@}}", "{\"x\":{" + RV + " \"1\" }}",
        "{\"x\":{" + RV + "\"\"}}", "{\"x\":{" + RV + "\"\\ud800\"}}",
        "{" + RV + "\"\\\"top level string\\\"\"}",
        "{" + RV + "\"" + "[" * 127 + "]" * 127 + "\"}",
        "[" * 120 + "{" + RV + "\"" + "[" * 127 + "]" * 127 + "\"}" + "]" * 120,
]):
    raw(f"raw-value-{i}", text)
# --- bytes that are not UTF-8 --------------------------------------------------
for i, data in enumerate([
        b'{"id":"\xff","title":"t","artist":"a","duration":1}',
        b'{"id":1,"title":"ab\xc3","artist":"a","duration":1}',
        b'{"id":1,"title":"\\n\\nab\xc3\xa9\xe2\x82","artist":"a","duration":1}',
        b'{"id":1,"title":"\xed\xa0\x80","artist":"a","duration":1}',
        b'{"id":1,"title":"\xc0\xaf","artist":"a","duration":1}',
        b'{"id":1,"title":"\xf4\x90\x80\x80","artist":"a","duration":1}',
        b'{"id":1,"title":"ok\xf0\x9f\x8e\xb5","artist":"a","duration":1}',
        b'{"id":1,"ti\xfftle":"t","artist":"a","duration":1}',
        b'\xff{}',
        b'{"id":1,"title":"t","artist":"a","duration":1}\xff',
        b'{"id":1,\n"title":"x\\u00e9\xe9\xff","artist":"a","duration":1}',
        b'{"id":1,"title":"t","artist":"a","duration":1,"x":"\x80"}',
]):
    raw_bytes(f"bytes-{i}", data)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "edge-tasks.jsonl")
with open(out, "w", encoding="utf-8") as file:
    for case in cases:
        file.write(json.dumps(case, ensure_ascii=False) + "\n")
print(f"wrote {len(cases)} tasks to {out}")
