#!/usr/bin/env python3
"""The seed's design with the database update it describes: item 10's
reference (a), and the database's own ceiling (c).

Consumer (a): one Python process, asyncio, N consumer coroutines, as
consumer.py. Each coroutine loops: BLPOP a URL from a Redis list, GET it
with aiohttp, parse the JSON and normalise it like plugins/music-sync (the
functions of consumer.py), then upsert the record into PostgreSQL with one
statement per message through an asyncpg pool of N connections:

    INSERT INTO tracks (...) VALUES ($1, ..., $8)
    ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, ...

(autocommit: each upsert is its own transaction, as a straightforward
asyncpg consumer does it). Nothing else: no Redis SET, no leases, no acks,
no retries. It stops when BLPOP has waited `--idle` seconds for nothing and
prints one JSON line on stdout like consumer.py's: {"done", "failed",
"first_done", "last_done", "started", "ended", "cpu_s", "concurrency"}.

Bulk (c), `--bulk FILE`: FILE holds one JSON array per line,
[url, document path]; the documents are read and normalised first
(untimed), then the rows go in with asyncpg's `executemany` of the same
upsert, `--batch` rows per transaction, on one connection. Prints
{"rows", "batch", "seconds", "rows_per_s", "cpu_s"}.

`--self-test` checks the rows against plugins/music-sync/samples and exits.

Usage: consumer_pg.py --redis redis://127.0.0.1:6379/0 --list music_task_queue
                      --dsn postgres://root@127.0.0.1:5432/jobhost_bench
                      [--table tracks] [--concurrency 64] [--idle 1.0]
       consumer_pg.py --dsn ... --bulk rows.jsonl [--batch 1000]
"""

import argparse
import asyncio
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from consumer import (Invalid, artist, duration, optional_string,  # noqa: E402
                      release_year, required_string, track_id)

COLUMNS = ("id", "title", "artist", "album", "genre", "duration_seconds", "release_year",
           "source_url")


def row(body, source_url):
    """bytes -> the tuple of COLUMNS: music-sync's record (consumer.py's
    `normalise`, without the JSON it builds), or raise Invalid/ValueError."""
    doc = json.loads(body)
    if not isinstance(doc, dict):
        raise Invalid("expected a JSON object at the top level")
    genre = optional_string(doc, "genre")
    return (track_id(doc), required_string(doc, "title"), artist(doc),
            optional_string(doc, "album"), genre.lower() if genre is not None else None,
            duration(doc), release_year(doc), source_url)


def upsert_sql(table):
    cols = ", ".join(COLUMNS)
    params = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[1:])
    return f"INSERT INTO {table} ({cols}) VALUES ({params}) ON CONFLICT (id) DO UPDATE SET {sets}"


async def consume(args):
    import aiohttp
    import asyncpg
    import redis.asyncio as aioredis

    sql = upsert_sql(args.table)
    pool = await asyncpg.create_pool(args.dsn, min_size=args.concurrency,
                                     max_size=args.concurrency)
    r = aioredis.from_url(args.redis, max_connections=args.concurrency + 8)
    connector = aiohttp.TCPConnector(limit=args.concurrency, ttl_dns_cache=300)
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
                await pool.execute(sql, *row(body, str(response.url)))
            except Exception as e:  # the seed logged and moved on
                stats["failed"] += 1
                if stats["failed"] <= 5:
                    print(f"consumer_pg: {url}: {e!r}", file=sys.stderr)
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
    await pool.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    stats.update(started=started, ended=time.time(), concurrency=args.concurrency,
                 cpu_s=usage.ru_utime + usage.ru_stime)
    print(json.dumps(stats), flush=True)


async def bulk(args):
    import asyncpg

    rows = []
    with open(args.bulk) as f:
        for line in f:
            if line.strip():
                url, path = json.loads(line)
                with open(path, "rb") as doc:
                    rows.append(row(doc.read(), url))
    conn = await asyncpg.connect(args.dsn)
    sql = upsert_sql(args.table)
    await conn.execute("SELECT 1")
    u0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for start in range(0, len(rows), args.batch):
        async with conn.transaction():
            await conn.executemany(sql, rows[start:start + args.batch])
    seconds = time.perf_counter() - t0
    u1 = resource.getrusage(resource.RUSAGE_SELF)
    await conn.close()
    print(json.dumps(dict(rows=len(rows), batch=args.batch, seconds=seconds,
                          rows_per_s=len(rows) / seconds,
                          cpu_s=(u1.ru_utime - u0.ru_utime) + (u1.ru_stime - u0.ru_stime))),
          flush=True)


def self_test():
    """row() against plugins/music-sync/samples/expected.jsonl."""
    here = os.path.dirname(os.path.abspath(__file__))
    samples = os.path.join(here, "..", "..", "plugins", "music-sync", "samples")
    tasks = [json.loads(l) for l in open(os.path.join(samples, "tasks.jsonl")) if l.strip()]
    expected = [json.loads(l) for l in open(os.path.join(samples, "expected.jsonl")) if l.strip()]
    got = []
    for task in tasks:
        try:
            got.append(dict(zip(COLUMNS, row(json.dumps(task["payload"]).encode(), task["url"]))))
        except Invalid:
            pass
    ok = got == expected
    print(json.dumps({"self_test": "ok" if ok else "MISMATCH", "records": len(got)}))
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--list", default="music_task_queue")
    p.add_argument("--dsn", default="postgres://root@127.0.0.1:5432/jobhost_bench")
    p.add_argument("--table", default="tracks")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--idle", type=float, default=1.0,
                   help="stop after BLPOP waited this long for nothing (seconds)")
    p.add_argument("--bulk", metavar="FILE",
                   help="no queue: upsert the documents FILE lists with executemany")
    p.add_argument("--batch", type=int, default=1000, help="--bulk: rows per transaction")
    p.add_argument("--self-test", action="store_true")
    args = p.parse_args()
    if args.self_test:
        sys.exit(self_test())
    asyncio.run(bulk(args) if args.bulk else consume(args))


if __name__ == "__main__":
    main()
