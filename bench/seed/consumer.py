#!/usr/bin/env python3
"""The seed's design, rebuilt as the baseline of the benchmark suite.

One Python process, asyncio, N consumer coroutines. Each coroutine loops:
BLPOP a URL from a Redis list, GET it with aiohttp, parse the JSON and
normalise it like plugins/music-sync (see `normalise` below), then
SET music:<id> <record> in Redis. Nothing else: no leases, no acks, no
retries, no dead letters, no sandbox (the seed had none of those either).

The consumer stops when BLPOP has waited `--idle` seconds for nothing (the
benchmark's way to end a run). At exit it prints one JSON line on stdout:
{"done", "failed", "first_done", "last_done", "started", "ended", "cpu_s"}, times
from time.time(), so that the driver can compute the steady-state rate
between the first and the last completed job.

`--self-test` checks `normalise` against plugins/music-sync/samples and
exits.

Usage: consumer.py --redis redis://127.0.0.1:6379/0 --list music_task_queue
                   [--concurrency 64] [--idle 1.0] [--ca-cert CA.pem]
"""

import argparse
import asyncio
import json
import math
import os
import resource
import sys
import time


# ---------------------------------------------------------------------------
# Normalisation: plugins/music-sync/src/track.rs, ported closely but not
# byte-for-byte (documented in BENCHMARKS.md):
# - whitespace: Python's str.split() splits on Unicode whitespace like Rust's
#   char::is_whitespace, except for a few characters the two disagree on
#   (e.g. U+001C..U+001F are whitespace for Python only);
# - lower-casing: str.lower() vs Rust's to_lowercase() (same for the
#   catalogue's data; they differ for a handful of special cases);
# - numbers: Python's json keeps integers exact like serde_json; floats
#   are f64 in both;
# - error messages are shorter than the plugin's (errors only skip the job).

YEARS = (1900, 2100)


class Invalid(Exception):
    pass


def clean(text):
    return " ".join(text.split())


def field(doc, name):
    value = doc.get(name)
    return None if value is None else value


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def required_string(doc, name):
    value = field(doc, name)
    if value is None:
        raise Invalid(f"missing field `{name}`")
    if not isinstance(value, str):
        raise Invalid(f"field `{name}` must be a string")
    text = clean(value)
    if not text:
        raise Invalid(f"field `{name}` must not be empty")
    return text


def optional_string(doc, name):
    value = field(doc, name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"field `{name}` must be a string")
    return clean(value) or None


def track_id(doc):
    value = field(doc, "id")
    if value is None:
        raise Invalid("missing field `id`")
    if isinstance(value, str):
        text = clean(value)
        if not text:
            raise Invalid("field `id` must not be empty")
        return text
    if is_int(value):
        return str(value)
    raise Invalid("field `id` must be a string or an integer")


def artist(doc):
    value = field(doc, "artist")
    if value is None:
        raise Invalid("missing field `artist`")
    if isinstance(value, str):
        text = clean(value)
        if not text:
            raise Invalid("field `artist` must not be empty")
        return text
    if isinstance(value, dict):
        return required_string(value, "name")
    raise Invalid("field `artist` must be a string or an object with a `name`")


def minutes_seconds(text):
    minutes, sep, seconds = text.partition(":")
    if not sep or not minutes.isascii() or not minutes.isdigit():
        return None
    if len(seconds) != 2 or not seconds.isascii() or not seconds.isdigit():
        return None
    if int(seconds) >= 60:
        return None
    return int(minutes) * 60 + int(seconds)


def round_half_away(x):
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def duration(doc):
    for name in ("duration", "duration_ms"):
        value = field(doc, name)
        if value is None:
            continue
        if name == "duration" and is_number(value):
            seconds = float(value)
        elif name == "duration" and isinstance(value, str):
            seconds = minutes_seconds(value.strip())
            if seconds is None:
                raise Invalid("field `duration` must be a number of seconds or an \"m:ss\" string")
        elif name == "duration_ms" and is_number(value):
            seconds = value / 1000.0
        else:
            raise Invalid(f"field `{name}` has the wrong type")
        rounded = round_half_away(seconds)
        if not 1 <= rounded <= 0xFFFFFFFF:
            raise Invalid(f"field `{name}` must be positive")
        return int(rounded)
    raise Invalid("missing field `duration` (or `duration_ms`)")


def year_of(text, full_date):
    parts = text.split("-")
    digits = lambda part, n: len(part) == n and part.isascii() and part.isdigit()
    if not digits(parts[0], 4):
        return None
    if len(parts) == 1:
        return int(parts[0])
    if full_date and len(parts) == 3 and digits(parts[1], 2) and digits(parts[2], 2):
        if 1 <= int(parts[1]) <= 12 and 1 <= int(parts[2]) <= 31:
            return int(parts[0])
    return None


def release_year(doc):
    for name in ("release_year", "year", "release_date"):
        value = field(doc, name)
        if value is None:
            continue
        year = None
        if name in ("release_year", "year") and is_int(value):
            year = value
        elif name == "year" and isinstance(value, str):
            year = year_of(value.strip(), False)
        elif name == "release_date" and isinstance(value, str):
            year = year_of(value.strip(), True)
        if year is None:
            raise Invalid(f"field `{name}` has the wrong form")
        if not YEARS[0] <= year <= YEARS[1]:
            raise Invalid(f"field `{name}` must be a year between 1900 and 2100")
        return year
    return None


def normalise(body, source_url):
    """bytes -> (id, compact JSON bytes) or raise Invalid/ValueError."""
    doc = json.loads(body)
    if not isinstance(doc, dict):
        raise Invalid("expected a JSON object at the top level")
    genre = optional_string(doc, "genre")
    record = {
        "id": track_id(doc),
        "title": required_string(doc, "title"),
        "artist": artist(doc),
        "album": optional_string(doc, "album"),
        "genre": genre.lower() if genre is not None else None,
        "duration_seconds": duration(doc),
        "release_year": release_year(doc),
        "source_url": source_url,
    }
    data = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
    return record["id"], data


def self_test():
    here = os.path.dirname(os.path.abspath(__file__))
    samples = os.path.join(here, "..", "..", "plugins", "music-sync", "samples")
    tasks = [json.loads(l) for l in open(os.path.join(samples, "tasks.jsonl")) if l.strip()]
    expected = [l.rstrip("\n") for l in open(os.path.join(samples, "expected.jsonl")) if l.strip()]
    got, failed = [], []
    for task in tasks:
        body = json.dumps(task["payload"]).encode()
        try:
            got.append(normalise(body, task["url"])[1].decode())
        except Invalid as e:
            failed.append((task["url"].rsplit("/", 1)[1], str(e)))
    ok = got == expected and failed == [("1999", "missing field `title`")]
    print(json.dumps({"self_test": "ok" if ok else "MISMATCH", "records": len(got),
                      "failed": failed}))
    if not ok:
        for a, b in zip(got, expected):
            if a != b:
                print("got     ", a, "\nexpected", b, file=sys.stderr)
    return 0 if ok else 1


# ---------------------------------------------------------------------------
# The consumer.

async def consume(args):
    import aiohttp
    import redis.asyncio as aioredis

    r = aioredis.from_url(args.redis, max_connections=args.concurrency + 8)
    ssl_context = None
    if args.ca_cert:
        import ssl
        ssl_context = ssl.create_default_context(cafile=args.ca_cert)
    connector = aiohttp.TCPConnector(limit=args.concurrency, ttl_dns_cache=300,
                                     ssl=ssl_context if ssl_context else True)
    timeout = aiohttp.ClientTimeout(total=30)
    stats = {"done": 0, "failed": 0, "first_done": None, "last_done": None}

    async def worker(session):
        while True:
            item = await r.blpop([args.list], timeout=args.idle)
            if item is None:
                return
            url = item[1].decode()
            try:
                async with session.get(url) as response:
                    body = await response.read()
                    if response.status != 200:
                        raise Invalid(f"HTTP {response.status}")
                track, data = normalise(body, str(response.url))
                await r.set(f"music:{track}", data)
            except Exception as e:  # the seed logged and moved on
                stats["failed"] += 1
                if stats["failed"] <= 5:
                    print(f"consumer: {url}: {e!r}", file=sys.stderr)
                continue
            now = time.time()
            if stats["first_done"] is None:
                stats["first_done"] = now
            stats["last_done"] = now
            stats["done"] += 1

    started = time.time()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(args.concurrency)))
    await r.aclose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    stats.update(started=started, ended=time.time(), concurrency=args.concurrency,
                 cpu_s=usage.ru_utime + usage.ru_stime)
    print(json.dumps(stats), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--list", default="music_task_queue")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--idle", type=float, default=1.0,
                   help="stop after BLPOP waited this long for nothing (seconds)")
    p.add_argument("--ca-cert", help="trust the CAs of this PEM file for https:// URLs")
    p.add_argument("--self-test", action="store_true")
    args = p.parse_args()
    if args.self_test:
        sys.exit(self_test())
    asyncio.run(consume(args))


if __name__ == "__main__":
    main()
