#!/usr/bin/env python3
"""The jobhost benchmark suite: starts its fixtures on loopback, runs every
item, writes bench/results/latest.json, then regenerates BENCHMARKS.md and
the concurrency plot.

Run it through bench/run.sh (which installs what is missing and builds the
binaries); this script expects target/release/jobhost and
target/release/jobhost-bench to exist already.

    bench/.venv/bin/python bench/bench.py [--quick] [--only 1,2,7]

Items (what each measures exactly is in BENCHMARKS.md, written by report.py):
  1 dispatch   per-job cost of Plugin::handle, fresh instance, p50/p99
  2 memory     no-op jobs/s through the in-memory queue (jobhost run)
  3 music      music-sync jobs/s through Redis, 1 and 2 host processes
  4 seed       the seed's asyncio + aiohttp + redis-py design, same work
  5 wrk        the fetch ceiling: wrk against the same URL set
  6 rss        peak RSS with 1,000 jobs in flight; start-up time, warm cache
  7 bare       bare wasmtime loop, fresh instance per job, 1 and 2 threads
  8 redis-noop no-op jobs/s through Redis, one host
  9 latency    enqueue to plugin start through Redis at a steady 1,000 jobs/s
  10 db        music-sync via Redis into PostgreSQL (typed upsert), twice, against
               JSON Lines, the seed's design with an asyncpg upsert, and a bare
               executemany loop (needs PostgreSQL: PG_URL below)
  11 schedule  a schedule's round of 1,000,000 URLs enqueued by one producer
  12 https     music-sync via Redis over HTTPS (HTTP/2), and --conditional
  13 languages JavaScript and Python plugins: dispatch, music-sync via Redis
  14 amqp      no-op and music-sync jobs/s through RabbitMQ beside Redis, one
               host at default settings, interleaved (needs a RabbitMQ broker
               and rabbitmqctl: AMQP_URL below)
  sweep        jobs/s against concurrency, jobhost and the seed (the plot)
"""

import argparse
import base64
import json
import os
import platform
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import traceback

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
JOBHOST = os.path.join(TARGET, "release", "jobhost")
BENCHBIN = os.path.join(TARGET, "release", "jobhost-bench")
# music-sync as the benchmarks run it through the queues: the same rules as
# plugins/music-sync, built without WASI and with a bump allocator
# (bench/plugins/build-lean.sh), so that items 3, 6 and the sweep measure the
# host rather than the example's build; item 1 gives both builds' cost.
LEAN = os.path.join(BENCH, "plugins", "music-sync-lean.wasm")
WORK = os.path.join(BENCH, ".work")
RESULTS = os.path.join(BENCH, "results")
PY = sys.executable

QUEUE = "jobs"
STATS_KEY = "jobhost:{%s}:stats" % QUEUE
DEAD_KEY = "jobhost:{%s}:dead" % QUEUE
STREAM_KEY = "jobhost:{%s}:stream" % QUEUE
SEED_LIST = "music_task_queue"
DOCS = 10_000  # distinct music-info documents served by the HTTP fixture
DOC_BASE = 100_000  # first document id
# Item 10's PostgreSQL: a server this suite does not start (the machine's,
# trust authentication), as a URL without a database name; the item
# creates the database PG_DB (dropping it first if it exists), and drops it
# at its end.
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://root@127.0.0.1:5432").rstrip("/")
PG_DB = "jobhost_bench"
# Item 14's RabbitMQ: a broker this suite does not start (the machine's), as
# a URL without a vhost; the item creates the vhost AMQP_VHOST with
# rabbitmqctl (deleting it first if it exists) and deletes it at its end.
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672").rstrip("/")
AMQP_VHOST = "jobhost-bench"
# The table music-sync's records go into; its columns are the record's
# fields (bench/seed/consumer_pg.py's COLUMNS).
TRACKS_DDL = """CREATE TABLE tracks (id text PRIMARY KEY, title text NOT NULL, artist text NOT NULL,
  album text, genre text, duration_seconds bigint NOT NULL, release_year smallint,
  source_url text NOT NULL)"""


def scale(quick):
    """Work per item: the full suite, or --quick (about 10x smaller)."""
    full = dict(
        dispatch_iters=20_000, dispatch_iters_slow=3_000, dispatch_warmup=1_000, dispatch_pairs=3,
        bare_iters=100_000, memory_jobs=200_000, memory_runs=5,
        music_jobs=100_000, music_concurrency=[64, 128, 256], seed_jobs=30_000, music_default_pairs=3,
        sweep_jobs=10_000, sweep=[1, 4, 16, 64, 256], wrk_seconds=10, rss_jobs=3_000,
        startup_runs=7, redis_noop_jobs=100_000, latency_seconds=20,
        db_tracks=20_000, db_seed_concurrency=[16, 64], db_rounds=3, schedule_urls=1_000_000,
        https_jobs=100_000, https_seed_jobs=20_000, https_handshake_jobs=20_000,
        conditional_jobs=20_000, lang_jobs=20_000, lang_reuse=100,
        amqp_jobs=20_000, amqp_pairs=3,
    )
    if not quick:
        return full
    return dict(
        dispatch_iters=2_000, dispatch_iters_slow=300, dispatch_warmup=200, dispatch_pairs=1,
        bare_iters=10_000, memory_jobs=20_000, memory_runs=1,
        music_jobs=3_000, music_concurrency=[64, 256], seed_jobs=3_000, music_default_pairs=1,
        sweep_jobs=1_000, sweep=[1, 4, 16, 64, 256], wrk_seconds=3, rss_jobs=1_000,
        startup_runs=3, redis_noop_jobs=10_000, latency_seconds=3,
        db_tracks=2_000, db_seed_concurrency=[16, 64], db_rounds=1, schedule_urls=100_000,
        https_jobs=3_000, https_seed_jobs=2_000, https_handshake_jobs=2_000,
        conditional_jobs=2_000, lang_jobs=2_000, lang_reuse=100,
        amqp_jobs=2_000, amqp_pairs=1,
    )


# ---------------------------------------------------------------------------
# Small helpers


def log(*parts):
    print("bench:", *parts, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env():
    """The environment of every child: no JOBHOST_* from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBHOST_")}
    env.pop("RUST_LOG", None)
    return env


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def wait_for_port(port, timeout=10.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


DURATION = re.compile(r"([\d.]+)\s*(ns|µs|us|ms|s|m|h)$")


def parse_rust_duration(text):
    """`1.23s`, `850.12ms`, `12.00µs` (Rust's {:.2?} of a Duration) -> seconds."""
    m = DURATION.match(text.strip())
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    value, unit = float(m.group(1)), m.group(2)
    return value * {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0,
                    "m": 60.0, "h": 3600.0}[unit]


SUMMARY = re.compile(r"jobhost: done (\d+), retried (\d+), dead (\d+), .* in (\S+)\s*$", re.M)


def parse_summary(stderr):
    m = SUMMARY.search(stderr)
    if not m:
        raise RuntimeError("no `jobhost: done ...` summary on stderr:\n" + stderr[-2000:])
    return dict(done=int(m.group(1)), retried=int(m.group(2)), dead=int(m.group(3)),
                elapsed_s=parse_rust_duration(m.group(4)), line=m.group(0).strip())


def percentile(values, q):
    """Nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_pids(pid):
    """`pid` and its descendants (nginx's master and workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def cpu_seconds(pid):
    """User + system CPU seconds of `pid` and its descendants so far."""
    total = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def wait_cpu(p, timeout):
    """Wait for a child like Popen.wait and return its user + system CPU
    seconds (from wait4's rusage); terminates it after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            # The kernel's share, for the items that report it (item 13).
            p.system_s = usage.ru_stime
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            p.terminate()
            deadline = time.monotonic() + 15
        time.sleep(0.01)


def one_core():
    """`preexec_fn` that pins a child to one core: the single-threaded
    dispatch and bare-loop timings (items 1 and 13). Unpinned, the scheduler
    moving a run between the cores made `music-sync-js`'s p50 take one of
    two values from run to run (BENCHMARKS.md, the sixth session of
    2026-12-07)."""
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})


def run(cmd, timeout=600, check=True, **kw):
    started = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=child_env(), **kw)
    wall = time.perf_counter() - started
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited with {p.returncode}:\n"
                           f"{p.stderr[-3000:]}")
    return p, wall


# ---------------------------------------------------------------------------
# Fixtures: an nginx serving music-info documents, a Redis


def sample_documents():
    """The sample shapes of plugins/music-sync/samples/tracks (valid ones)."""
    folder = os.path.join(ROOT, "plugins", "music-sync", "samples", "tracks")
    shapes = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            doc = json.load(open(os.path.join(folder, name)))
            if doc.get("title") is not None:  # 1999.json lacks one on purpose
                shapes.append(doc)
    if not shapes:
        raise RuntimeError(f"no sample documents in {folder}")
    return shapes


def make_document(shapes, n):
    """Document `n`: a sample shape with a fresh id and title, padded to
    about 1 KiB with fields the plugin ignores (like a real provider's API)."""
    doc = json.loads(json.dumps(shapes[n % len(shapes)]))
    track = DOC_BASE + n
    doc["id"] = track if isinstance(doc.get("id"), int) else str(track)
    doc["title"] = f"{doc['title']} #{track}"
    doc["isrc"] = f"GB-XYZ-{track % 100:02d}-{track:05d}"
    doc["label"] = "Loopback Records"
    doc["popularity"] = n % 100
    doc["credits"] = [{"role": r, "name": f"Person {track % 97} {r}"}
                      for r in ("producer", "engineer", "composer", "mixing")]
    doc["description"] = "A track served by the benchmark fixture. " * 12
    body = json.dumps(doc, ensure_ascii=False)
    pad = 1024 - len(body.encode())
    if pad > 0:
        doc["description"] += "." * pad
    return json.dumps(doc, ensure_ascii=False).encode()


class Fixtures:
    def __init__(self):
        self.procs = []
        self.nginx_port = None
        self.redis_port = None

    def start(self):
        if os.path.isdir(WORK):
            shutil.rmtree(WORK)
        os.makedirs(WORK)
        self._documents()
        self._certificates()
        self._nginx()
        self._redis()
        return self

    def _documents(self):
        www = os.path.join(WORK, "www", "tracks")
        os.makedirs(www)
        self.documents = DOCS
        shapes = sample_documents()
        sizes = []
        for n in range(DOCS):
            body = make_document(shapes, n)
            sizes.append(len(body))
            with open(self.doc_path(n), "wb") as f:
                f.write(body)
        self.doc_bytes = statistics.mean(sizes)
        for d in (WORK, os.path.join(WORK, "www"), www):
            os.chmod(d, 0o755)

    def doc_path(self, n):
        return os.path.join(WORK, "www", "tracks", str(DOC_BASE + n))

    def ensure_documents(self, count):
        """Serve documents 0..count-1 (item 10 needs more distinct tracks
        than the DOCS the other items cycle through; those items never ask
        for the extra ones, so their fixture stays as it was)."""
        shapes = sample_documents()
        for n in range(self.documents, count):
            with open(self.doc_path(n), "wb") as f:
                f.write(make_document(shapes, n))
        self.documents = max(self.documents, count)

    def _certificates(self):
        """A CA and a certificate for 127.0.0.1 that it signed (ECDSA
        P-256), made with the openssl CLI for item 12's TLS endpoint."""
        tls = os.path.join(WORK, "tls")
        os.makedirs(tls)
        self.ca_file = os.path.join(tls, "ca.pem")
        self.cert_file = os.path.join(tls, "server.pem")
        self.key_file = os.path.join(tls, "server.key")
        ext = os.path.join(tls, "server.ext")
        open(ext, "w").write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                             "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        run(["openssl", "req", "-x509", *ec, "-keyout", os.path.join(tls, "ca.key"),
             "-out", self.ca_file, "-days", "3", "-subj", "/CN=jobhost bench CA"])
        run(["openssl", "req", *ec, "-keyout", self.key_file,
             "-out", os.path.join(tls, "server.csr"), "-subj", "/CN=127.0.0.1"])
        run(["openssl", "x509", "-req", "-in", os.path.join(tls, "server.csr"),
             "-CA", self.ca_file, "-CAkey", os.path.join(tls, "ca.key"), "-CAcreateserial",
             "-out", self.cert_file, "-days", "3", "-extfile", ext])

    def _nginx(self):
        self.nginx_port = free_port()
        # Item 12: the same documents over TLS (HTTP/2 offered by ALPN),
        # and again on a port that logs each request's connection, whether
        # its TLS session was resumed, and its status (handshakes, 304s).
        self.tls_port = free_port()
        self.tls_h1_port = free_port()
        self.tls_log_port = free_port()
        conf_dir = os.path.join(WORK, "nginx")
        os.makedirs(os.path.join(conf_dir, "tmp"))
        workers = os.environ.get("BENCH_NGINX_WORKERS", "1")
        user = "user root;" if os.geteuid() == 0 else ""
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        # `http2 on;` from nginx 1.25.1; before, a flag of `listen`.
        v = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr
        m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", v)
        new = m is not None and tuple(map(int, m.groups())) >= (1, 25, 1)
        h2_listen, h2_directive = ("", "http2 on;") if new else (" http2", "")
        self.tls_log = os.path.join(conf_dir, "tls.log")
        conf = f"""
{user}
daemon off;
worker_processes {workers};
worker_rlimit_nofile 65536;
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/error.log warn;
events {{ worker_connections 16384; multi_accept on; }}
http {{
    access_log off;
    log_format handshakes '$connection $connection_requests $ssl_session_reused '
                          '$ssl_protocol $server_protocol $status';
    ssl_certificate {self.cert_file};
    ssl_certificate_key {self.key_file};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 1h;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {conf_dir}/tmp/body;
    proxy_temp_path {conf_dir}/tmp/proxy;
    default_type application/json;
    types {{ }}
    server {{
        listen 127.0.0.1:{self.nginx_port} backlog=4096;
        root {WORK}/www;
        location /tracks/ {{ }}
        # The same documents, trickled at 256 bytes/s: a fetch lasts ~4 s,
        # so that --concurrency 1000 really has 1,000 jobs in flight.
        location /slow/ {{ alias {WORK}/www/; limit_rate 256; }}
    }}
    server {{
        listen 127.0.0.1:{self.tls_port} ssl{h2_listen} backlog=4096;
        {h2_directive}
        root {WORK}/www;
        location /tracks/ {{ }}
    }}
    server {{
        listen 127.0.0.1:{self.tls_h1_port} ssl backlog=4096;
        root {WORK}/www;
        location /tracks/ {{ }}
    }}
    server {{
        listen 127.0.0.1:{self.tls_log_port} ssl{h2_listen};
        {h2_directive}
        # A connection ends after 1,000 requests, so that the clients must
        # connect again: their later handshakes show session resumption.
        keepalive_requests 1000;
        access_log {conf_dir}/tls.log handshakes;
        root {WORK}/www;
        location /tracks/ {{ }}
    }}
}}
"""
        path = os.path.join(conf_dir, "nginx.conf")
        open(path, "w").write(conf)
        log(f"nginx on 127.0.0.1:{self.nginx_port} ({workers} worker), {DOCS} documents")
        p = subprocess.Popen([nginx, "-c", path, "-p", conf_dir, "-e", f"{conf_dir}/error.log"],
                             stdout=subprocess.DEVNULL, stderr=open(f"{conf_dir}/stderr.log", "w"),
                             preexec_fn=raise_nofile)
        self.procs.append(p)
        self.nginx_pid = p.pid
        wait_for_port(self.nginx_port, proc=p)

    def _redis(self):
        self.redis_port = free_port()
        rdir = os.path.join(WORK, "redis")
        os.makedirs(rdir)
        log(f"redis on 127.0.0.1:{self.redis_port}")
        p = subprocess.Popen(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", rdir,
                              "--logfile", os.path.join(rdir, "redis.log"),
                              "--protected-mode", "no", "--maxclients", "20000"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                             preexec_fn=raise_nofile)
        self.procs.append(p)
        self.redis_pid = p.pid
        wait_for_port(self.redis_port, proc=p)

    @property
    def redis_url(self):
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def url(self, n, slow=False):
        return f"http://127.0.0.1:{self.nginx_port}{'/slow' if slow else ''}/tracks/{DOC_BASE + n % DOCS}"

    def tls_url(self, n, logged=False, h1=False, wrap=True):
        port = self.tls_log_port if logged else self.tls_h1_port if h1 else self.tls_port
        return f"https://127.0.0.1:{port}/tracks/{DOC_BASE + (n % DOCS if wrap else n)}"

    def track_url(self, n):
        """Document n, without wrapping at DOCS (see ensure_documents)."""
        return f"http://127.0.0.1:{self.nginx_port}/tracks/{DOC_BASE + n}"

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


class Pg:
    """A synchronous face on one asyncpg connection, for the driver's own
    queries (setup, statistics, checks); the measured clients are their own
    processes."""

    def __init__(self, loop, conn):
        self.loop, self.conn = loop, conn

    @classmethod
    def connect(cls, url):
        import asyncio
        import asyncpg
        loop = asyncio.new_event_loop()
        try:
            conn = loop.run_until_complete(asyncpg.connect(url, timeout=10))
        except Exception as e:
            loop.close()
            raise RuntimeError(f"cannot connect to PostgreSQL at {url} ({type(e).__name__}: {e}): "
                               "item 10 needs a server there that lets this user in without a "
                               "password and create databases (or set BENCH_PG_URL)") from None
        return cls(loop, conn)

    def _run(self, coro):
        return self.loop.run_until_complete(coro)

    def execute(self, sql, *args):
        return self._run(self.conn.execute(sql, *args))

    def fetch(self, sql, *args):
        return self._run(self.conn.fetch(sql, *args))

    def fetchrow(self, sql, *args):
        return self._run(self.conn.fetchrow(sql, *args))

    def fetchval(self, sql, *args):
        return self._run(self.conn.fetchval(sql, *args))

    def postmaster_pid(self):
        """The server's pid if it runs on this machine and its data
        directory is readable (for its CPU per job), else None."""
        try:
            datadir = self.fetchval("SHOW data_directory")
            with open(os.path.join(datadir, "postmaster.pid")) as f:
                pid = int(f.readline())
            os.kill(pid, 0)
            return pid
        except Exception:
            return None

    def close(self):
        try:
            self._run(self.conn.close())
        finally:
            self.loop.close()


# ---------------------------------------------------------------------------
# The suite


class Suite:
    def __init__(self, fx, quick):
        import redis
        self.fx = fx
        self.quick = quick
        self.s = scale(quick)
        self.r = redis.Redis(port=fx.redis_port)
        self.results = {}
        self.cache = os.path.join(WORK, "cache")
        self.plugin_dirs = {}
        for name, src in (("template", os.path.join(ROOT, "plugins", "template.wasm")),
                          ("music-sync", LEAN)):
            if not os.path.isfile(src):
                raise RuntimeError(f"{src} is missing: build the plugins (plugins/build.sh, "
                                   "bench/plugins/build-lean.sh)")
            d = os.path.join(WORK, f"plugins-{name}")
            os.makedirs(d)
            shutil.copy(src, os.path.join(d, f"{name}.wasm"))
            self.plugin_dirs[name] = d
        # chaos (the integration tests' plugin, built with the Rust
        # examples): its `stamp` action records when its call began (item 9).
        src = os.path.join(ROOT, "tests", "plugins", "chaos.wasm")
        if not os.path.isfile(src):
            raise RuntimeError(f"{src} is missing: build the plugins (plugins/build.sh rust)")
        d = os.path.join(WORK, "plugins-chaos")
        os.makedirs(d)
        shutil.copy(src, d)
        self.plugin_dirs["chaos"] = d
        # A copy of the whole plugins folder as it is now (start-up item).
        self.all_plugins = os.path.join(WORK, "plugins-all")
        os.makedirs(self.all_plugins)
        for name in sorted(os.listdir(os.path.join(ROOT, "plugins"))):
            if name.endswith(".wasm"):
                shutil.copy(os.path.join(ROOT, "plugins", name), self.all_plugins)

    # -- helpers ----------------------------------------------------------

    def jobhost_args(self, plugins, *extra):
        return [JOBHOST, "run", "-q", "--plugins", self.plugin_dirs.get(plugins, plugins),
                "--cache-dir", self.cache, *extra]

    def write_lines(self, name, lines):
        path = os.path.join(WORK, name)
        with open(path, "w") as f:
            for line in lines:
                f.write(line)
                f.write("\n")
        return path

    def flush(self):
        self.r.flushall()

    def redis_done(self):
        return int(self.r.hget(STATS_KEY, "done") or 0)

    def enqueue(self, path, *extra):
        p, wall = run([JOBHOST, "enqueue", "--queue", self.fx.redis_url, "--input", path, *extra])
        return wall

    def drive_redis_hosts(self, hosts, jobs, plugins, concurrency, extra=(), output="/dev/null",
                          stall_timeout=None):
        """Start `hosts` jobhost processes on the Redis queue holding `jobs`
        tasks, poll the shared done counter, and return rates. `output` is
        each host's `-o` (a file, or item 10's `postgres://` URL); `extra`,
        more flags. With `stall_timeout`, no job done for that many seconds
        is a failure (a sink that keeps failing would otherwise retry until
        the 600 s deadline); on any failure the hosts are stopped.

        The counter is read every 5 ms until the first job is done and again
        near the end, and at most every 100 ms in between (half the time
        the current rate says is left): the first and the last job are
        timed to 5 ms, and this process takes almost no CPU from the hosts
        it measures, as it takes none from the seed's consumer, which times
        itself while this process waits for it to exit. Reading every 5 ms
        throughout, this process had 1.9% of the machine's CPU samples
        during item 3 (`perf record -a`, 2 hosts); 4 interleaved rounds of
        the item-3 shape moved within the noise (45.3k jobs/s median with
        5 ms reads throughout, 45.5k with these)."""
        procs = []
        cpu0 = self.fixture_cpu()
        t0 = time.perf_counter()
        for h in range(hosts):
            err = open(os.path.join(WORK, f"host-{h}.stderr"), "w+")
            procs.append((subprocess.Popen(
                self.jobhost_args(plugins, "--queue", self.fx.redis_url, "--until-empty",
                                  *(("--concurrency", str(concurrency)) if concurrency else ()),
                                  "-o", output, *extra),
                stdout=subprocess.DEVNULL, stderr=err, env=child_env(),
                preexec_fn=raise_nofile), err))
        first = None
        deadline = t0 + 600
        progress = (t0, 0)
        try:
            while True:
                now = time.perf_counter()
                done = self.redis_done()
                if done > 0 and first is None:
                    first = (now, done)
                if done >= jobs:
                    last = (now, done)
                    break
                if done > progress[1]:
                    progress = (now, done)
                stalled = stall_timeout is not None and now - progress[0] > stall_timeout
                if now > deadline or stalled or all(p.poll() is not None for p, _ in procs):
                    why = ("stalled" if stalled else "timed out" if now > deadline
                           else "stopped")
                    raise RuntimeError(f"hosts {why} at {done}/{jobs} done; stderr: "
                                       + self._stderr(procs))
                pause = 0.005
                if first is not None and now > first[0] and done > first[1]:
                    left = (jobs - done) * (now - first[0]) / (done - first[1])
                    pause = min(0.1, max(0.005, left / 2))
                time.sleep(pause)
        except BaseException:
            for p, _ in procs:
                if p.poll() is None:
                    p.terminate()
            for p, _ in procs:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            raise
        cpu1 = self.fixture_cpu()
        host_cpu = host_sys = 0.0
        for p, _ in procs:
            host_cpu += wait_cpu(p, timeout=30)
            host_sys += p.system_s
        t_exit = time.perf_counter()
        codes = [p.returncode for p, _ in procs]
        dead = self.r.hlen(DEAD_KEY)
        if dead or any(codes):
            raise RuntimeError(f"exit codes {codes}, {dead} dead letters: " + self._stderr(procs))
        steady = (last[1] - first[1]) / (last[0] - first[0]) if last[0] > first[0] else None
        return dict(
            jobs=jobs, hosts=hosts, concurrency=concurrency,
            jobs_per_s=steady,
            jobs_per_s_incl_startup=jobs / (last[0] - t0),
            first_done_after_s=first[0] - t0,
            last_done_after_s=last[0] - t0,
            exit_after_s=t_exit - t0,
            # CPU per job (µs) of each process over the whole run: where
            # the machine's two cores went.
            cpu_us_per_job=dict(
                jobhost=host_cpu / jobs * 1e6,
                jobhost_system=host_sys / jobs * 1e6,
                nginx=(cpu1["nginx"] - cpu0["nginx"]) / jobs * 1e6,
                redis=(cpu1["redis"] - cpu0["redis"]) / jobs * 1e6,
            ),
        )

    def fixture_cpu(self):
        return dict(nginx=cpu_seconds(self.fx.nginx_pid), redis=cpu_seconds(self.fx.redis_pid))

    @staticmethod
    def _stderr(procs):
        out = []
        for p, err in procs:
            err.seek(0)
            out.append(err.read()[-1500:])
        return " | ".join(out)

    # -- items --------------------------------------------------------------

    def item1_dispatch(self):
        s = self.s
        body = os.path.join(WORK, "www", "tracks", str(DOC_BASE + 1))
        url = self.fx.url(1)
        out = {}
        runs = [("template", os.path.join(ROOT, "plugins", "template.wasm"),
                 ["--body-text", "x", "--content-type", "text/plain"], s["dispatch_iters"])]
        for name, note in (("music-sync", "rust"), ("music-sync-lean", "rust"),
                           ("music-sync-c", "c"), ("music-sync-js", "js"),
                           ("music-sync-py", "python")):
            path = (LEAN if name == "music-sync-lean"
                    else os.path.join(ROOT, "plugins", f"{name}.wasm"))
            iters = s["dispatch_iters"] if note in ("rust", "c") else s["dispatch_iters_slow"]
            runs.append((name, path, ["--body", body, "--content-type", "application/json",
                                      "--url", url], iters))
        # `template` against the bare loop (1 thread, as many iterations),
        # in three alternating pairs: the target's ratio is the median of
        # the pairs' ratios, so that a moment of a slower machine moves both
        # sides of one ratio instead of one side of the only one.
        name, path, extra, iters = runs.pop(0)
        pairs = []
        for _ in range(s["dispatch_pairs"]):
            p, _ = run([BENCHBIN, "bare", "--plugin", path, "--threads", "1",
                        "--iters", str(iters)], preexec_fn=one_core)
            bare = json.loads(p.stdout)["latency"]["p50_us"]
            p, _ = run([BENCHBIN, "dispatch", "--plugin", path, "--iters", str(iters),
                        "--warmup", str(s["dispatch_warmup"]), "--cache-dir", self.cache, *extra],
                       preexec_fn=one_core)
            got = json.loads(p.stdout)
            pairs.append((got["latency"]["p50_us"] / bare, bare, got))
            log(f"  {name}: p50 {got['latency']['p50_us']:.1f} µs, bare loop just before "
                f"{bare:.1f} µs, ratio {pairs[-1][0]:.2f}")
        pairs.sort(key=lambda x: x[0])
        ratio, bare, got = pairs[len(pairs) // 2]
        out[name] = dict(got, pairs=[dict(ratio=r, bare_p50_us=b, p50_us=g["latency"]["p50_us"])
                                     for r, b, g in pairs],
                         ratio_median=ratio, bare_p50_us=bare)
        for name, path, extra, iters in runs:
            if not os.path.isfile(path):
                out[name] = {"skipped": f"{os.path.relpath(path, ROOT)} does not exist (not "
                                        "built); `bench/run.sh` builds it unless given --no-ports or --no-build"}
                log(f"  {name}: skipped, {os.path.relpath(path, ROOT)} is absent")
                continue
            p, _ = run([BENCHBIN, "dispatch", "--plugin", path, "--iters", str(iters),
                        "--warmup", str(s["dispatch_warmup"]), "--cache-dir", self.cache, *extra],
                       preexec_fn=one_core)
            out[name] = json.loads(p.stdout)
            lat = out[name]["latency"]
            log(f"  {name}: p50 {lat['p50_us']:.1f} µs, p99 {lat['p99_us']:.1f} µs")
        return out

    def item7_bare(self):
        path = os.path.join(ROOT, "plugins", "template.wasm")
        out = {}
        for threads in (1, 2):
            p, _ = run([BENCHBIN, "bare", "--plugin", path, "--threads", str(threads),
                        "--iters", str(self.s["bare_iters"])])
            out[f"threads_{threads}"] = json.loads(p.stdout)
        # jobhost's engine settings (epoch interruption, pagemap_scan Auto)
        # in the same loop, to split engine settings from jobhost's own code.
        p, _ = run([BENCHBIN, "bare", "--plugin", path, "--threads", "1",
                    "--iters", str(self.s["bare_iters"]), "--engine", "jobhost"])
        out["threads_1_jobhost_engine"] = json.loads(p.stdout)
        for k, v in out.items():
            log(f"  {k}: {v['jobs_per_s']:.0f} jobs/s, p50 {v['latency']['p50_us']:.1f} µs")
        return out

    def item2_memory(self):
        """jobhost against the bare loop (item 7's 2-thread run), run in
        alternation: the ratio of each adjacent pair, so that a machine whose
        speed drifts (shared hosts) moves both sides of a ratio together."""
        n = self.s["memory_jobs"]
        path = self.write_lines("noop-inline.jsonl", ('{"payload":"x"}' for _ in range(n)))
        template = os.path.join(ROOT, "plugins", "template.wasm")
        runs = []
        for _ in range(self.s["memory_runs"]):
            b, _ = run([BENCHBIN, "bare", "--plugin", template, "--threads", "2",
                        "--iters", str(n // 2)])
            bare = json.loads(b.stdout)["jobs_per_s"]
            p, wall = run(self.jobhost_args("template", "--input", path, "-o", "/dev/null",
                                            "--plugin", "template"), check=False)
            summary = parse_summary(p.stderr)
            if summary["done"] != n or p.returncode != 0:
                raise RuntimeError(f"expected {n} done, got {summary['line']} (exit {p.returncode})")
            rate = n / summary["elapsed_s"]
            runs.append(dict(jobs_per_s=rate, elapsed_s=summary["elapsed_s"],
                             process_wall_s=wall, summary=summary["line"],
                             bare_2_threads_jobs_per_s=bare, ratio=rate / bare))
            log(f"  {rate:.0f} jobs/s, bare loop just before: {bare:.0f}/s, ratio {rate / bare:.2f}")
        return dict(jobs=n, concurrency=64, runs=runs,
                    jobs_per_s=statistics.median(r["jobs_per_s"] for r in runs),
                    bare_2_threads_jobs_per_s=statistics.median(
                        r["bare_2_threads_jobs_per_s"] for r in runs),
                    ratio_median=statistics.median(r["ratio"] for r in runs))

    def item3_music(self):
        n = self.s["music_jobs"]
        path = self.write_lines("music-urls.txt", (self.fx.url(i) for i in range(n)))
        out = {}
        # What a user gets who runs one host with no tuning flag at all
        # (concurrency, threads, read-ahead and ack batch at their defaults):
        # the figure the targets are judged at, beside the best tuned one.
        # In pairs with the seed design (64 coroutines), each pair run back
        # to back, and the median pair's ratio kept: on a machine whose
        # speed drifts by tens of percent between minutes, a pair sees one
        # speed for both sides.
        pairs = []
        for _ in range(self.s["music_default_pairs"]):
            self.flush()
            self.enqueue(path)
            res = self.drive_redis_hosts(1, n, "music-sync", None)
            tracks = int(self.r.get("jobhost:kv:music-sync:stats:tracks") or 0)
            if tracks < n:
                raise RuntimeError(f"music-sync counted {tracks} tracks in kv, expected {n}")
            seed = self.seed_run(self.s["seed_jobs"], 64)
            pairs.append(dict(res, seed_jobs_per_s=seed["jobs_per_s"],
                              seed_cpu_us_per_job=seed["cpu_us_per_job"],
                              ratio=res["jobs_per_s"] / seed["jobs_per_s"]))
            log(f"  1 host at default settings: {res['jobs_per_s']:.0f} jobs/s steady; "
                f"the seed just after: {seed['jobs_per_s']:.0f} jobs/s; "
                f"ratio {pairs[-1]['ratio']:.1f}")
        out["defaults"] = dict(sorted(pairs, key=lambda p: p["ratio"])[len(pairs) // 2])
        out["defaults_pairs"] = [dict(jobs_per_s=p["jobs_per_s"], seed_jobs_per_s=p["seed_jobs_per_s"],
                                      ratio=p["ratio"], cpu_us_per_job=p["cpu_us_per_job"])
                                 for p in pairs]
        for hosts in (1, 2):
            # Each host count at a few worker counts per host, and its best
            # kept: the seed's reference is its best concurrency too (item
            # 4 and the sweep). A larger read-ahead and ack batch make each
            # Redis round trip carry more jobs.
            # Two hosts on two cores run one thread each (one host per core,
            # `--threads 1`), as docs/redis.md advises for hosts sharing a
            # machine; one host runs a shard on every core.
            extra = ("--threads", "1") if hosts == 2 else ()
            runs = []
            for concurrency in self.s["music_concurrency"]:
                self.flush()
                enqueue_s = self.enqueue(path)
                res = self.drive_redis_hosts(hosts, n, "music-sync", concurrency, extra)
                res["threads_per_host"] = 1 if hosts == 2 else "one per core"
                tracks = int(self.r.get("jobhost:kv:music-sync:stats:tracks") or 0)
                if tracks < n:
                    raise RuntimeError(f"music-sync counted {tracks} tracks in kv, expected {n}")
                res.update(enqueue_s=enqueue_s, kv_tracks=tracks)
                runs.append(res)
                log(f"  {hosts} host(s) x {concurrency} workers: {res['jobs_per_s']:.0f} jobs/s "
                    f"steady, {res['jobs_per_s_incl_startup']:.0f} incl. start-up")
            best = dict(max(runs, key=lambda res: res["jobs_per_s"]))
            best["by_concurrency"] = [
                dict(concurrency=res["concurrency"], jobs_per_s=res["jobs_per_s"],
                     cpu_us_per_job=res["cpu_us_per_job"]) for res in runs]
            out[f"hosts_{hosts}"] = best
        out["best_jobs_per_s"] = max(out["hosts_1"]["jobs_per_s"], out["hosts_2"]["jobs_per_s"])
        return out

    def seed_run(self, n, concurrency, processes=1, url=None, ca=None):
        url = url or self.fx.url
        self.flush()
        pipe = self.r.pipeline(transaction=False)
        for start in range(0, n, 1000):
            pipe.rpush(SEED_LIST, *(url(i) for i in range(start, min(n, start + 1000))))
        pipe.execute()
        cpu0 = self.fixture_cpu()
        t0 = time.perf_counter()
        cmd = [PY, os.path.join(BENCH, "seed", "consumer.py"), "--redis", self.fx.redis_url,
               "--list", SEED_LIST, "--concurrency", str(concurrency), "--idle", "0.5",
               *(("--ca-cert", ca) if ca else ())]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=child_env())
                 for _ in range(processes)]
        outs = [p.communicate(timeout=600) for p in procs]
        wall = time.perf_counter() - t0
        cpu1 = self.fixture_cpu()
        each = []
        for p, (out, err) in zip(procs, outs):
            if p.returncode != 0 or not out.strip():
                raise RuntimeError(f"seed consumer exited {p.returncode}: {err[-1500:]}")
            each.append(json.loads(out.strip().splitlines()[-1]))
        stats = dict(done=sum(s["done"] for s in each), failed=sum(s["failed"] for s in each),
                     first_done=min(s["first_done"] for s in each if s["done"]),
                     last_done=max(s["last_done"] for s in each if s["done"]),
                     started=min(s["started"] for s in each), cpu_s=sum(s["cpu_s"] for s in each))
        if stats["done"] != n:
            raise RuntimeError(f"seed consumer(s): {each} (expected {n} done)")
        keys = self.r.dbsize()
        span = stats["last_done"] - stats["first_done"]
        return dict(jobs=n, concurrency=concurrency, processes=processes,
                    jobs_per_s=(n - 1) / span if span > 0 else None,
                    jobs_per_s_incl_startup=n / (stats["last_done"] - stats["started"]),
                    failed=stats["failed"], distinct_keys=keys, process_wall_s=wall,
                    cpu_us_per_job=dict(
                        seed=stats["cpu_s"] / n * 1e6,
                        nginx=(cpu1["nginx"] - cpu0["nginx"]) / n * 1e6,
                        redis=(cpu1["redis"] - cpu0["redis"]) / n * 1e6,
                    ))

    def item4_seed(self):
        res = self.seed_run(self.s["seed_jobs"], 64)
        log(f"  seed, 64 coroutines: {res['jobs_per_s']:.0f} jobs/s")
        # The seed design is one process; two of them on two cores (each
        # with 16 coroutines, its best concurrency here) is what its users
        # could do too, so the report shows it beside the target's ratio.
        res["two_processes"] = self.seed_run(self.s["seed_jobs"], 16, processes=2)
        log(f"  seed, 2 processes x 16 coroutines: {res['two_processes']['jobs_per_s']:.0f} jobs/s")
        return res

    def sweep(self):
        n = self.s["sweep_jobs"]
        path = self.write_lines("sweep-urls.txt", (self.fx.url(i) for i in range(n)))
        out = {"jobs": n, "jobhost": [], "seed": []}
        for c in self.s["sweep"]:
            self.flush()
            self.enqueue(path)
            res = self.drive_redis_hosts(1, n, "music-sync", c)
            out["jobhost"].append(dict(concurrency=c, jobs_per_s=res["jobs_per_s"],
                                       jobs_per_s_incl_startup=res["jobs_per_s_incl_startup"]))
            seed = self.seed_run(n, c)
            out["seed"].append(dict(concurrency=c, jobs_per_s=seed["jobs_per_s"],
                                    jobs_per_s_incl_startup=seed["jobs_per_s_incl_startup"]))
            log(f"  concurrency {c}: jobhost {res['jobs_per_s']:.0f}, seed {seed['jobs_per_s']:.0f} jobs/s")
        best_seed = max(out["seed"], key=lambda x: x["jobs_per_s"] or 0)
        out["seed_best"] = best_seed
        return out

    def item5_wrk(self):
        return self.wrk(f"http://127.0.0.1:{self.fx.nginx_port}/")

    def wrk(self, base):
        script = os.path.join(WORK, "urls.lua")
        open(script, "w").write(f"""
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/tracks/" .. ({DOC_BASE} + counter % {DOCS}))
end
""")
        out = {}
        for conns in (64,):
            p, _ = run(["wrk", "-t2", f"-c{conns}", f"-d{self.s['wrk_seconds']}s", "--latency",
                        "-s", script, base],
                       timeout=self.s["wrk_seconds"] + 60)
            text = p.stdout
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
            non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
            lat = {}
            for q in ("50", "99"):
                m = re.search(rf"^\s+{q}%\s+(\S+)", text, re.M)
                if m:
                    lat[f"p{q}"] = m.group(1)
            out = dict(requests_per_s=rps, threads=2, connections=conns,
                       seconds=self.s["wrk_seconds"], latency=lat,
                       non_2xx=int(non2xx.group(1)) if non2xx else 0)
            log(f"  wrk -t2 -c{conns}: {rps:.0f} requests/s")
        return out

    def item6_rss(self):
        out = {}
        inflight = 1000
        n = self.s["rss_jobs"]
        path = self.write_lines("slow-urls.txt", (self.fx.url(i, slow=True) for i in range(n)))
        cmd = self.jobhost_args("music-sync", "--input", path, "-o", "/dev/null",
                                "--concurrency", str(inflight), "--fetch-timeout", "120s")
        err = open(os.path.join(WORK, "rss.stderr"), "w+")
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=child_env(),
                             preexec_fn=raise_nofile)
        peak = {"fds": 0, "rss_kib": 0, "threads": 0}
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    fds = len(os.listdir(f"/proc/{p.pid}/fd"))
                    status = open(f"/proc/{p.pid}/status").read()
                    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
                    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
                    peak["fds"] = max(peak["fds"], fds)
                    peak["rss_kib"] = max(peak["rss_kib"], rss)
                    peak["threads"] = max(peak["threads"], threads)
                except (OSError, AttributeError):
                    pass
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        sampler.join()
        wall = time.perf_counter() - t0
        err.seek(0)
        summary = parse_summary(err.read())
        if summary["done"] != n or p.returncode != 0:
            raise RuntimeError(f"slow run: {summary['line']} (exit {p.returncode})")
        out["in_flight"] = dict(
            concurrency=inflight, jobs=n, peak_rss_mib=usage.ru_maxrss / 1024,
            max_open_fds_sampled=peak["fds"], max_threads=peak["threads"], wall_s=wall,
            summary=summary["line"],
        )
        log(f"  {inflight} in flight: peak RSS {usage.ru_maxrss / 1024:.1f} MiB, "
            f"up to {peak['fds']} open fds, {wall:.1f}s")

        # Start-up with the compiled cache warm.
        cache = os.path.join(WORK, "cache-startup")
        plugins = sorted(os.listdir(self.all_plugins))
        listing = [JOBHOST, "plugins", "--plugins", self.all_plugins, "--cache-dir", cache]
        tiny = [JOBHOST, "run", "-q", "--plugins", self.all_plugins, "--cache-dir", cache,
                "--plugin", "template", "-o", "/dev/null", '{"payload":"x"}']
        _, cold = run(listing)
        times = {"plugins": [], "run": []}
        for _ in range(self.s["startup_runs"]):
            times["plugins"].append(run(listing)[1])
            times["run"].append(run(tiny)[1])
        out["startup"] = dict(
            plugins_in_folder=plugins,
            cold_compile_s=cold,
            warm_plugins_listing_ms=statistics.median(times["plugins"]) * 1000,
            warm_tiny_run_ms=statistics.median(times["run"]) * 1000,
            samples_ms={k: [round(t * 1000, 2) for t in v] for k, v in times.items()},
        )
        # The same with the template plugin alone.
        one = [JOBHOST, "run", "-q", "--plugins", self.plugin_dirs["template"], "--cache-dir",
               cache, "--plugin", "template", "-o", "/dev/null", '{"payload":"x"}']
        run(one)
        out["startup"]["warm_tiny_run_template_only_ms"] = statistics.median(
            run(one)[1] for _ in range(self.s["startup_runs"])) * 1000
        log(f"  start-up, warm cache: tiny run {out['startup']['warm_tiny_run_ms']:.1f} ms "
            f"({len(plugins)} plugins), `jobhost plugins` "
            f"{out['startup']['warm_plugins_listing_ms']:.1f} ms, cold {cold:.2f}s")
        return out

    def item8_redis_noop(self):
        n = self.s["redis_noop_jobs"]
        path = self.write_lines("noop-redis.jsonl", ('{"payload":"x"}' for _ in range(n)))
        self.flush()
        enqueue_s = self.enqueue(path, "--plugin", "template")
        res = self.drive_redis_hosts(1, n, "template", 64)
        res["enqueue_s"] = enqueue_s
        log(f"  {res['jobs_per_s']:.0f} jobs/s steady, {res['jobs_per_s_incl_startup']:.0f} incl. start-up")
        return res

    def item9_latency(self):
        """Enqueue -> plugin at a steady 1,000 jobs/s (see BENCHMARKS.md)."""
        self.flush()
        rate = 1000
        seconds = self.s["latency_seconds"]
        script_src = ""
        for name in ("common.lua", "enqueue.lua"):
            f = os.path.join(ROOT, "host", "src", "queue", "redis", name)
            if os.path.isfile(f):
                script_src += open(f).read()
        enqueue = self.r.register_script(script_src) if "XADD" in script_src else None
        keys = [STREAM_KEY, "jobhost:{%s}:delayed" % QUEUE, "jobhost:{%s}:seen" % QUEUE, STATS_KEY]
        payload = base64.b64encode(b"x").decode()

        def build(task_id):
            return json.dumps({"id": task_id, "url": f"inline:{task_id}", "plugin": "chaos",
                               "payload": payload, "content_type": "text/plain",
                               "metadata": [["action", "stamp"]],
                               "enqueued_at": int(time.time() * 1000)}, separators=(",", ":"))

        def send(task_id, wire):
            if enqueue is not None:
                enqueue(keys=keys, args=["0", 0, wire, f"inline:{task_id}"])
            else:
                self.r.xadd(STREAM_KEY, {"task": wire})

        err = open(os.path.join(WORK, "latency.stderr"), "w+")
        host = subprocess.Popen(self.jobhost_args("chaos", "--queue", self.fx.redis_url,
                                                  "--plugin", "chaos"),
                                stdout=subprocess.PIPE, stderr=err, env=child_env(),
                                preexec_fn=raise_nofile)
        fd = host.stdout.fileno()
        os.set_blocking(fd, False)
        buf = b""
        arrived = {}
        started = {}

        def read_lines(now_ns):
            nonlocal buf
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                raise RuntimeError("the host closed its output")
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if line:
                    out = json.loads(line)
                    arrived[out["task_id"]] = now_ns
                    started[out["task_id"]] = out["record"]["started_ns"]

        sent = {}
        sent_wall = {}
        built_wall = {}
        try:
            # Wait for the host: a first task comes back once it is up.
            send("ready-0", build("ready-0"))
            deadline = time.time() + 60
            while "ready-0" not in arrived:
                if host.poll() is not None or time.time() > deadline:
                    err.seek(0)
                    raise RuntimeError("the host did not start: " + err.read()[-1500:])
                if select.select([fd], [], [], 0.05)[0]:
                    read_lines(time.perf_counter_ns())
            for phase, count in (("warmup", rate // 2), ("measure", rate * seconds)):
                interval = 1_000_000_000 // rate
                start = time.perf_counter_ns() + 1_000_000
                for k in range(count):
                    due = start + k * interval
                    while True:
                        now = time.perf_counter_ns()
                        if now >= due:
                            break
                        ready = select.select([fd], [], [], (due - now) / 1e9)[0]
                        if ready:
                            read_lines(time.perf_counter_ns())
                    task_id = f"{phase}-{k}"
                    # The clock is read once the task is built, just before
                    # the enqueue call: building the JSON in Python (about
                    # 20 µs) is the producer's work, not the queue's; it is
                    # kept apart as a detail.
                    built_wall[task_id] = time.time_ns()
                    wire = build(task_id)
                    sent_wall[task_id] = time.time_ns()
                    sent[task_id] = time.perf_counter_ns()
                    send(task_id, wire)
                send_span = (time.perf_counter_ns() - start) / 1e9
            # Stragglers.
            end = time.time() + 3
            while time.time() < end and len([t for t in sent if t in arrived]) < len(sent):
                if select.select([fd], [], [], 0.05)[0]:
                    read_lines(time.perf_counter_ns())
        finally:
            host.send_signal(signal.SIGTERM)
            try:
                host.wait(timeout=20)
            except subprocess.TimeoutExpired:
                host.kill()
        measured_ids = [t for t in sent if t.startswith("measure-") and t in arrived]
        # To the plugin's start: the plugin's wall clock at the top of its
        # call minus the driver's just before the enqueue call (one machine,
        # one CLOCK_REALTIME).
        lat = [(started[t] - sent_wall[t]) / 1000 for t in measured_ids]
        # The same from before the driver built the task (how runs up to
        # session 8 measured it).
        lat_built = [(started[t] - built_wall[t]) / 1000 for t in measured_ids]
        # To the record line read back from jobhost's stdout (an upper bound
        # that adds the call, the sink, the pipe and the driver's wake-up).
        out_lat = [(arrived[t] - sent[t]) / 1000 for t in measured_ids]
        measured = sum(1 for t in sent if t.startswith("measure-"))
        res = dict(rate_per_s=rate, seconds=seconds, sent=measured, received=len(lat),
                   achieved_send_rate=measured / send_span,
                   p50_us=percentile(lat, 0.50), p90_us=percentile(lat, 0.90),
                   p99_us=percentile(lat, 0.99), p999_us=percentile(lat, 0.999),
                   max_us=max(lat) if lat else None,
                   from_build=dict(p50_us=percentile(lat_built, 0.50),
                                   p99_us=percentile(lat_built, 0.99)),
                   to_output=dict(p50_us=percentile(out_lat, 0.50),
                                  p99_us=percentile(out_lat, 0.99),
                                  p999_us=percentile(out_lat, 0.999)),
                   method="enqueue.lua" if enqueue is not None else "XADD")
        log(f"  to the plugin's start: p50 {res['p50_us']:.0f} µs, p99 {res['p99_us']:.0f} µs; "
            f"to the output line: p50 {res['to_output']['p50_us']:.0f} µs, "
            f"p99 {res['to_output']['p99_us']:.0f} µs "
            f"({len(lat)}/{measured} received, sending at {res['achieved_send_rate']:.0f}/s)")
        return res

    # -- item 10: into PostgreSQL --------------------------------------------

    def item10_db(self):
        """music-sync via Redis into PostgreSQL (see BENCHMARKS.md, item 10).

        Parts, in this order, each on the same 20,000 distinct tracks
        (2,000 with --quick): rounds (3; 1 with --quick) of jobhost into
        PostgreSQL, pass 1 on an empty table then pass 2 on the same
        unchanged documents (the tuples each pass wrote, from
        pg_stat_user_tables and from the rows' xmin), and (b) the same host
        writing JSON Lines to a file; then (a) the seed's
        design with an asyncpg upsert per message, at a few concurrencies;
        (c) asyncpg's executemany of the same rows, 1,000 per transaction.
        A part that fails is reported as failed and the others still run
        (until the host has its PostgreSQL sink, the first part fails)."""
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            raise RuntimeError("asyncpg is not installed in this Python: run bench/run.sh, which "
                               "installs it into bench/.venv")
        sys.path.insert(0, os.path.join(BENCH, "seed"))
        from consumer_pg import COLUMNS, row

        n = self.s["db_tracks"]
        admin = Pg.connect(f"{PG_URL}/postgres")
        db = None
        try:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {PG_DB}")
            db = Pg.connect(f"{PG_URL}/{PG_DB}")
            db.execute(TRACKS_DDL)
            self.pg_pid = db.postmaster_pid()
            out = dict(tracks=n, database=f"{PG_URL}/{PG_DB}",
                       server=db.fetchval("SELECT version()"),
                       settings={k: db.fetchval(f"SHOW {k}") for k in (
                           "synchronous_commit", "fsync", "shared_buffers", "max_connections")})
            self.fx.ensure_documents(n)
            urls = [self.fx.track_url(i) for i in range(n)]
            path = self.write_lines("db-urls.txt", urls)
            # The rows music-sync's records make (consumer_pg.py's port of
            # its rules): every part's table or file is checked against them.
            expected = {}
            for i, url in enumerate(urls):
                with open(self.fx.doc_path(i), "rb") as f:
                    r = row(f.read(), url)
                expected[r[0]] = r
            if len(expected) != n:
                raise RuntimeError(f"{n} documents make only {len(expected)} distinct ids")
            ctx = dict(db=db, n=n, path=path, urls=urls, expected=expected, columns=COLUMNS)
            # The compiled cache filled first, so that the first host's CPU
            # per job is not its compilation's.
            run([JOBHOST, "plugins", "--plugins", self.plugin_dirs["music-sync"],
                 "--cache-dir", self.cache])
            out.update(self._db_jobhost_rounds(ctx))
            for key, part in (("seed_pg", self._db_seed_pg), ("bulk", self._db_bulk)):
                try:
                    out[key] = part(ctx)
                except Exception as e:
                    out[key] = self._db_failed(key, e)
            return out
        finally:
            if db is not None:
                db.close()
            try:
                admin.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            finally:
                admin.close()

    def pg_cpu(self):
        """CPU seconds of the PostgreSQL server so far: the postmaster's own
        and its reaped children's (backends that have exited), plus the live
        children's."""
        pid = getattr(self, "pg_pid", None)
        if pid is None:
            return None
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            own = sum(int(x) for x in fields[11:15]) / CLK_TCK
        except (OSError, ValueError):
            return None
        return own + sum(cpu_seconds(c) for c in tree_pids(pid)[1:])

    def pg_tuples(self, db):
        """The table's n_tup_ins, n_tup_upd, n_tup_del once they stop
        changing: PostgreSQL 15's cumulative statistics reach the view
        asynchronously (a backend reports at most once a second, and when
        it exits), so the counters are read until 2 s go by unchanged."""
        sql = ("SELECT n_tup_ins, n_tup_upd, n_tup_del, n_tup_hot_upd FROM pg_stat_user_tables "
               "WHERE relname = 'tracks'")
        last, since = None, None
        deadline = time.time() + 30
        while True:
            db.execute("SELECT pg_stat_clear_snapshot()")
            now = tuple(db.fetchrow(sql))
            if now != last:
                last, since = now, time.time()
            elif time.time() - since >= 2.0 or time.time() > deadline:
                return dict(zip(("ins", "upd", "del", "hot_upd"), last),
                            settled=time.time() - since >= 2.0)
            time.sleep(0.25)

    @staticmethod
    def tuples_written(before, after):
        return sum(after[k] - before[k] for k in ("ins", "upd", "del"))

    def db_check(self, ctx, rows=None):
        """Compare the table (or the given rows) with the expected rows."""
        if rows is None:
            rows = [tuple(r) for r in ctx["db"].fetch(
                f"SELECT {', '.join(ctx['columns'])} FROM tracks")]
        got = {r[0]: r for r in rows}
        wrong = [k for k, v in ctx["expected"].items() if got.get(k) != v]
        res = dict(rows=len(rows), distinct_ids=len(got), differing_from_expected=len(wrong))
        if wrong:
            res["example"] = dict(expected=list(ctx["expected"][wrong[0]]),
                                  got=list(got[wrong[0]]) if wrong[0] in got else None)
        return res

    def db_host_run(self, ctx, output, extra=()):
        """One pass: every URL enqueued, one jobhost at default settings."""
        self.flush()
        self.enqueue(ctx["path"])
        pg0 = self.pg_cpu()
        res = self.drive_redis_hosts(1, ctx["n"], "music-sync", None, extra, output=output,
                                     stall_timeout=60)
        pg1 = self.pg_cpu()
        if pg0 is not None and pg1 is not None:
            res["cpu_us_per_job"]["postgres"] = (pg1 - pg0) / ctx["n"] * 1e6
        return res

    @staticmethod
    def _db_failed(key, e):
        traceback.print_exc()
        log(f"  {key}: FAILED: {str(e).splitlines()[0][:300]}")
        return {"error": f"{type(e).__name__}: {e}"[:4000]}

    def _db_jobhost_rounds(self, ctx):
        """Rounds of: jobhost into PostgreSQL (pass 1 on the emptied table,
        pass 2), then (b) the same host into a JSON Lines file. A run of
        20,000 jobs lasts under a second of steady state here, and this
        machine drifts, so each round pairs the two sinks, and the round of
        the median ratio is the one reported (as items 1 and 2 pair jobhost
        with the bare loop); pass 2 must write nothing in every round."""
        pg_runs, jsonl_runs = [], []
        pg_error = jsonl_error = None
        help_text = run([JOBHOST, "run", "--help"], check=False)[0].stdout
        if "--sink-table" not in help_text:
            pg_error = {"error": (
                f"RuntimeError: {os.path.relpath(JOBHOST, ROOT)} has no --sink-table (not in "
                "`jobhost run --help`): this binary has no PostgreSQL sink yet, so jobhost into "
                "PostgreSQL was not measured")}
            log("  jobhost_pg: " + pg_error["error"])
        for _ in range(self.s["db_rounds"]):
            if pg_error is None:
                try:
                    pg_runs.append(self._db_jobhost_pg(ctx))
                except Exception as e:
                    pg_error = self._db_failed("jobhost_pg", e)
            if jsonl_error is None:
                try:
                    jsonl_runs.append(self._db_jobhost_jsonl(ctx))
                except Exception as e:
                    jsonl_error = self._db_failed("jobhost_jsonl", e)
        out = {"jobhost_pg": pg_error, "jobhost_jsonl": jsonl_error}
        if jsonl_error is None:
            # Without the PostgreSQL side, the median JSON Lines run.
            order = sorted(range(len(jsonl_runs)), key=lambda i: jsonl_runs[i]["jobs_per_s"] or 0)
            median = order[len(order) // 2]
        if pg_error is None:
            ratios = [(pg_runs[i]["pass_1"]["jobs_per_s"] or 0) / jsonl_runs[i]["jobs_per_s"]
                      if jsonl_error is None and jsonl_runs[i]["jobs_per_s"] else None
                      for i in range(len(pg_runs))]
            key = (lambda i: ratios[i]) if jsonl_error is None else (
                lambda i: pg_runs[i]["pass_1"]["jobs_per_s"] or 0)
            order = sorted(range(len(pg_runs)), key=key)
            median = order[len(order) // 2]
            pg = dict(pg_runs[median])
            pg["round"] = median + 1
            pg["rounds"] = [dict(
                pass_1_jobs_per_s=r["pass_1"]["jobs_per_s"],
                pass_2_jobs_per_s=r["pass_2"]["jobs_per_s"],
                jsonl_jobs_per_s=jsonl_runs[i]["jobs_per_s"] if jsonl_error is None else None,
                ratio_to_jsonl=ratios[i],
                pass_1_tuples_written=r["pass_1"]["tuples"]["written"],
                pass_2_tuples_written=r["pass_2"]["tuples"]["written"],
                pass_2_rows_with_new_version=r["pass_2"]["rows_with_new_version"],
                cpu_us_per_job=dict(pass_1=r["pass_1"]["cpu_us_per_job"]["jobhost"],
                                    pass_2=r["pass_2"]["cpu_us_per_job"]["jobhost"],
                                    jsonl=jsonl_runs[i]["cpu_us_per_job"]["jobhost"]
                                    if jsonl_error is None else None),
            ) for i, r in enumerate(pg_runs)]
            pg["ratio_to_jsonl_median"] = ratios[median]
            pg["pass_2_tuples_written_max"] = max(r["pass_2_tuples_written"] for r in pg["rounds"])
            pg["pass_2_rows_with_new_version_max"] = max(
                r["pass_2_rows_with_new_version"] for r in pg["rounds"])
            out["jobhost_pg"] = pg
            if ratios[median] is not None:
                log(f"  median of {len(pg_runs)} rounds: round {median + 1}, PostgreSQL / JSON "
                    f"Lines {ratios[median]:.2f}")
        if jsonl_error is None:
            out["jobhost_jsonl"] = dict(jsonl_runs[median], round=median + 1)
        return out

    def _db_jobhost_pg(self, ctx):
        db = ctx["db"]
        output = f"{PG_URL}/{PG_DB}"
        extra = ("--sink-table", "music-sync=tracks")
        out = dict(output=output, flags=list(extra))
        db.execute("TRUNCATE tracks")
        for p in (1, 2):
            before = self.pg_tuples(db)
            xmins = {r[0]: (r[1], r[2]) for r in db.fetch(
                "SELECT id, xmin::text, ctid::text FROM tracks")}
            try:
                res = self.db_host_run(ctx, output, extra)
            except RuntimeError as e:
                raise RuntimeError(f"jobhost into PostgreSQL, pass {p}: {e}") from None
            after = self.pg_tuples(db)
            now = {r[0]: (r[1], r[2]) for r in db.fetch(
                "SELECT id, xmin::text, ctid::text FROM tracks")}
            res["tuples"] = dict(before=before, after=after,
                                 written=self.tuples_written(before, after))
            # A row version that changed has a new xmin (and ctid): the
            # proof that does not wait on the statistics.
            res["rows_with_new_version"] = sum(1 for k, v in now.items() if xmins.get(k) != v)
            res["check"] = self.db_check(ctx)
            out[f"pass_{p}"] = res
            log(f"  jobhost -> PostgreSQL, pass {p}: {res['jobs_per_s']:.0f} jobs/s steady, "
                f"{res['tuples']['written']} tuples written, "
                f"{res['rows_with_new_version']} rows with a new version, "
                f"{res['check']['differing_from_expected']} of {ctx['n']} rows differing")
        return out

    def _db_jobhost_jsonl(self, ctx):
        output = os.path.join(WORK, "db-records.jsonl")
        res = self.db_host_run(ctx, output)
        cols = ctx["columns"]
        rows = []
        with open(output) as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)["record"]
                    rows.append(tuple(rec.get(c) for c in cols))
        res["check"] = self.db_check(ctx, rows)
        res["output_bytes"] = os.path.getsize(output)
        os.remove(output)
        log(f"  jobhost -> JSON Lines file: {res['jobs_per_s']:.0f} jobs/s steady, "
            f"{res['check']['rows']} lines, {res['check']['differing_from_expected']} differing")
        return res

    def _db_seed_pg(self, ctx):
        db, n = ctx["db"], ctx["n"]
        runs = []
        for c in self.s["db_seed_concurrency"]:
            db.execute("TRUNCATE tracks")
            self.flush()
            pipe = self.r.pipeline(transaction=False)
            for start in range(0, n, 1000):
                pipe.rpush(SEED_LIST, *ctx["urls"][start:start + 1000])
            pipe.execute()
            cpu0, pg0 = self.fixture_cpu(), self.pg_cpu()
            cmd = [PY, os.path.join(BENCH, "seed", "consumer_pg.py"), "--redis",
                   self.fx.redis_url, "--list", SEED_LIST, "--dsn", f"{PG_URL}/{PG_DB}",
                   "--concurrency", str(c), "--idle", "0.5"]
            p, wall = run(cmd, check=False)
            cpu1, pg1 = self.fixture_cpu(), self.pg_cpu()
            if p.returncode != 0 or not p.stdout.strip():
                raise RuntimeError(f"consumer_pg.py exited {p.returncode}: {p.stderr[-1500:]}")
            st = json.loads(p.stdout.strip().splitlines()[-1])
            if st["done"] != n:
                raise RuntimeError(f"consumer_pg.py: {st} (expected {n} done): {p.stderr[-1500:]}")
            span = st["last_done"] - st["first_done"]
            res = dict(concurrency=c, jobs=n, jobs_per_s=(n - 1) / span if span > 0 else None,
                       jobs_per_s_incl_startup=n / (st["last_done"] - st["started"]),
                       failed=st["failed"], process_wall_s=wall,
                       cpu_us_per_job=dict(seed=st["cpu_s"] / n * 1e6,
                                           nginx=(cpu1["nginx"] - cpu0["nginx"]) / n * 1e6,
                                           redis=(cpu1["redis"] - cpu0["redis"]) / n * 1e6))
            if pg0 is not None and pg1 is not None:
                res["cpu_us_per_job"]["postgres"] = (pg1 - pg0) / n * 1e6
            res["check"] = self.db_check(ctx)
            runs.append(res)
            log(f"  seed design + asyncpg upsert, {c} coroutines: {res['jobs_per_s']:.0f} jobs/s "
                f"steady, {res['check']['differing_from_expected']} of {n} rows differing")
        best = dict(max(runs, key=lambda r: r["jobs_per_s"] or 0))
        best["by_concurrency"] = runs
        return best

    def _db_bulk(self, ctx):
        db, n = ctx["db"], ctx["n"]
        db.execute("TRUNCATE tracks")
        listing = self.write_lines("db-bulk.jsonl", (json.dumps([u, self.fx.doc_path(i)])
                                                     for i, u in enumerate(ctx["urls"])))
        pg0 = self.pg_cpu()
        p, _ = run([PY, os.path.join(BENCH, "seed", "consumer_pg.py"), "--dsn",
                    f"{PG_URL}/{PG_DB}", "--bulk", listing, "--batch", "1000"])
        pg1 = self.pg_cpu()
        res = json.loads(p.stdout.strip().splitlines()[-1])
        if pg0 is not None and pg1 is not None:
            res["postgres_cpu_us_per_row"] = (pg1 - pg0) / n * 1e6
        res["check"] = self.db_check(ctx)
        log(f"  asyncpg executemany, 1,000 rows per transaction: {res['rows_per_s']:.0f} rows/s")
        return res

    # -- item 11: a schedule's round -------------------------------------

    def item11_schedule(self):
        """A round of 1,000,000 URLs from a range template, with --unique,
        enqueued onto Redis by one producing process (`jobhost schedule
        trigger`, the same code a host's ticker runs), against `jobhost enqueue`
        of the same million bare URLs from a file in the same run (BENCHMARKS.md,
        item 11). Wall time and peak RSS from wait4."""
        n = self.s["schedule_urls"]
        base = f"http://127.0.0.1:{self.fx.nginx_port}/tracks/"
        res = {}
        # The reference: a file of bare URLs through `jobhost enqueue`.
        self.flush()
        path = self.write_lines("schedule-urls.txt", (f"{base}{i}" for i in range(1, n + 1)))
        t = time.perf_counter()
        p = subprocess.Popen([JOBHOST, "enqueue", "-q", "--queue", self.fx.redis_url, "--input", path],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env())
        _, status, usage = os.wait4(p.pid, 0)
        res["enqueue_file_s"] = time.perf_counter() - t
        res["enqueue_file_peak_rss_mib"] = usage.ru_maxrss / 1024
        if status != 0 or int(self.r.xlen("jobhost:{%s}:stream" % QUEUE)) != n:
            raise RuntimeError(f"jobhost enqueue failed: {p.stderr.read().decode()[-2000:]}")
        # The round.
        self.flush()
        run([JOBHOST, "schedule", "add", "bench", "--every", "24h", "--unique", "--plugin",
             "music-sync", "--urls", f"{base}{{1..{n}}}", "--queue", self.fx.redis_url])
        t = time.perf_counter()
        p = subprocess.Popen([JOBHOST, "schedule", "trigger", "bench", "--queue", self.fx.redis_url],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env())
        _, status, usage = os.wait4(p.pid, 0)
        res["round_s"] = time.perf_counter() - t
        res["round_peak_rss_mib"] = usage.ru_maxrss / 1024
        err = p.stderr.read().decode()
        queued = int(self.r.xlen("jobhost:{%s}:stream" % QUEUE))
        unique = int(self.r.scard("jobhost:{%s}:unique" % QUEUE))
        if status != 0 or queued != n or unique != n:
            raise RuntimeError(f"the round enqueued {queued} tasks, {unique} unique entries: {err[-2000:]}")
        res["urls"] = n
        res["round_urls_per_s"] = n / res["round_s"]
        res["redis_used_memory_mib"] = int(self.r.info("memory")["used_memory"]) / 2**20
        log(f"  round of {n} URLs (unique): {res['round_s']:.2f} s, peak RSS "
            f"{res['round_peak_rss_mib']:.1f} MiB; jobhost enqueue of a file: "
            f"{res['enqueue_file_s']:.2f} s, {res['enqueue_file_peak_rss_mib']:.1f} MiB; "
            f"Redis {res['redis_used_memory_mib']:.0f} MiB after the round")
        self.flush()
        return res


    # -- item 12: provider APIs over TLS ------------------------------------

    def tls_log_lines(self):
        try:
            return open(self.fx.tls_log).read().splitlines()
        except OSError:
            return []

    def item12_https(self):
        """music-sync via Redis against the fixture over TLS (a CA the
        bench made, trusted with --ca-cert): one host at default settings,
        the seed's design (aiohttp with the same CA) and wrk on the same
        endpoint; then 20,000 jobs on the logged port, for the TLS
        handshakes they make; then two rounds with --conditional, the
        second answered 304 by nginx (its own ETag and Last-Modified)."""
        fx = self.fx
        ca = fx.ca_file
        n = self.s["https_jobs"]
        out = {}
        path = self.write_lines("https-urls.txt", (fx.tls_url(i) for i in range(n)))
        self.flush()
        self.enqueue(path)
        res = self.drive_redis_hosts(1, n, "music-sync", None, ("--ca-cert", ca))
        tracks = int(self.r.get("jobhost:kv:music-sync:stats:tracks") or 0)
        if tracks < n:
            raise RuntimeError(f"music-sync counted {tracks} tracks in kv, expected {n}")
        out["defaults"] = res
        log(f"  jobhost, 1 host at default settings over TLS: {res['jobs_per_s']:.0f} jobs/s")
        # The same on a port that offers HTTP/1.1 only (as wrk and the seed
        # speak): a connection per request in flight instead of one per
        # thread.
        path = self.write_lines("https-h1-urls.txt", (fx.tls_url(i, h1=True) for i in range(n)))
        self.flush()
        self.enqueue(path)
        res = self.drive_redis_hosts(1, n, "music-sync", None, ("--ca-cert", ca))
        out["defaults_http1"] = res
        log(f"  jobhost, the same over HTTP/1.1 only: {res['jobs_per_s']:.0f} jobs/s")
        seed = self.seed_run(self.s["https_seed_jobs"], 64, url=fx.tls_url, ca=ca)
        out["seed"] = seed
        log(f"  seed, 64 coroutines over TLS: {seed['jobs_per_s']:.0f} jobs/s")
        out["wrk"] = self.wrk(f"https://127.0.0.1:{fx.tls_port}/")

        # Handshakes: the logged port's lines for one run of 20,000 jobs.
        h = self.s["https_handshake_jobs"]
        path = self.write_lines("https-logged.txt",
                                (fx.tls_url(i, logged=True) for i in range(h)))
        before = len(self.tls_log_lines())
        self.flush()
        self.enqueue(path)
        res = self.drive_redis_hosts(1, h, "music-sync", None, ("--ca-cert", ca))
        time.sleep(0.5)
        lines = [line.split() for line in self.tls_log_lines()[before:]]
        firsts = [f for f in lines if len(f) >= 6 and f[1] == "1"]
        out["handshakes"] = dict(
            jobs=h, requests=len(lines), jobs_per_s=res["jobs_per_s"],
            connections=len(firsts),
            resumed=sum(1 for f in firsts if f[2] == "r"),
            protocols=sorted({f"{f[3]} {f[4]}" for f in firsts}),
        )
        log(f"  {h} jobs: {len(firsts)} TLS connections "
            f"({out['handshakes']['resumed']} resumed), {out['handshakes']['protocols']}")

        # Conditional requests: round 1 keeps the validators, round 2 gets
        # 304s and writes nothing.
        # Distinct URLs: a URL seen twice in one round would be answered
        # 304 the second time already.
        c = self.s["conditional_jobs"]
        fx.ensure_documents(c)
        path = self.write_lines("conditional-urls.txt",
                                (fx.tls_url(i, logged=True, wrap=False) for i in range(c)))
        self.flush()
        rounds = []
        for r in (1, 2):
            self.r.delete(STATS_KEY)
            self.enqueue(path)
            before = len(self.tls_log_lines())
            output = os.path.join(WORK, f"conditional-{r}.jsonl")
            res = self.drive_redis_hosts(1, c, "music-sync", None,
                                         ("--ca-cert", ca, "--conditional"), output=output)
            time.sleep(0.5)
            statuses = [line.split()[-1] for line in self.tls_log_lines()[before:]]
            res.update(round=r, status_200=statuses.count("200"),
                       status_304=statuses.count("304"),
                       records=sum(1 for _ in open(output)),
                       not_modified=int(self.r.hget(STATS_KEY, "not_modified") or 0))
            rounds.append(res)
            log(f"  conditional round {r}: {res['jobs_per_s']:.0f} jobs/s, "
                f"{res['status_304']} answered 304, {res['records']} records")
        if rounds[1]["status_304"] != c or rounds[1]["records"] != 0:
            raise RuntimeError(f"round 2 was not all 304s with no records: {rounds[1]}")
        out["conditional"] = rounds
        return out

    def item13_languages(self):
        """JavaScript and Python plugins (issue 25): dispatch of a trivial
        plugin in each on a fresh instance, and music-sync in each through
        Redis, one host at default settings, fresh and with bounded reuse,
        against the seed design in the same run; peak RSS and kernel time
        per job with 64 JavaScript jobs in flight."""
        s = self.s
        out = {}
        for name in ("trivial-js", "trivial-py"):
            path = os.path.join(BENCH, "plugins", f"{name}.wasm")
            if not os.path.isfile(path):
                raise RuntimeError(f"{path} is missing: run bench/plugins/build-trivial.sh")
            p, _ = run([BENCHBIN, "dispatch", "--plugin", path, "--iters",
                        str(s["dispatch_iters_slow"]), "--warmup", str(s["dispatch_warmup"]),
                        "--cache-dir", self.cache, "--body-text", "x"], preexec_fn=one_core)
            out[name] = json.loads(p.stdout)
            lat = out[name]["latency"]
            log(f"  {name} dispatch, fresh instance: p50 {lat['p50_us']:.1f} µs, "
                f"p99 {lat['p99_us']:.1f} µs")
        n = s["lang_jobs"]
        out["seed"] = self.seed_run(n, 64)
        log(f"  seed, 64 coroutines: {out['seed']['jobs_per_s']:.0f} jobs/s")
        path = self.write_lines("lang-urls.txt", (self.fx.url(i) for i in range(n)))
        for name in ("music-sync-js", "music-sync-py"):
            src = os.path.join(ROOT, "plugins", f"{name}.wasm")
            if not os.path.isfile(src):
                raise RuntimeError(f"{src} is missing: build the plugins (plugins/build.sh)")
            d = os.path.join(WORK, f"plugins-{name}")
            os.makedirs(d, exist_ok=True)
            shutil.copy(src, d)
            # Compile it into the cache first: the CPU per job below is the
            # whole process's, and compiling takes seconds.
            run([JOBHOST, "plugins", "--plugins", d, "--cache-dir", self.cache])
            out[name] = {}
            for mode, extra in (("fresh", ()),
                                ("reuse", ("--reuse-instances", f"{name}={s['lang_reuse']}"))):
                self.flush()
                self.enqueue(path)
                res = self.drive_redis_hosts(1, n, d, None, ("--plugin", name, *extra))
                tracks = int(self.r.get(f"jobhost:kv:{name}:stats:tracks") or 0)
                if tracks < n:
                    raise RuntimeError(f"{name} counted {tracks} tracks in kv, expected {n}")
                res["flags"] = list(extra)
                out[name][mode] = res
                log(f"  {name}, 1 host at defaults, {mode}: {res['jobs_per_s']:.0f} jobs/s, "
                    f"host CPU {res['cpu_us_per_job']['jobhost']:.0f} µs/job "
                    f"({res['cpu_us_per_job']['jobhost_system']:.0f} in the kernel)")
        # 64 JavaScript jobs in flight: one host with 64 workers (with
        # reuse, each may keep an idle instance), its peak RSS from wait4.
        d = os.path.join(WORK, "plugins-music-sync-js")
        rss = {}
        for mode, extra in (("fresh", ()),
                            ("reuse", ("--reuse-instances", f"music-sync-js={s['lang_reuse']}"))):
            self.flush()
            self.enqueue(path)
            cmd = self.jobhost_args(d, "--queue", self.fx.redis_url, "--until-empty",
                                    "--plugin", "music-sync-js", "--concurrency", "64",
                                    "-o", "/dev/null", *extra)
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 env=child_env(), preexec_fn=raise_nofile)
            t0 = time.perf_counter()
            _, status, usage = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
            err = p.stderr.read().decode(errors="replace")
            if os.waitstatus_to_exitcode(status) != 0 or self.redis_done() < n:
                raise RuntimeError(f"64 in flight ({mode}): exit {status}, "
                                   f"{self.redis_done()} done: {err[-1500:]}")
            rss[mode] = dict(concurrency=64, jobs=n, peak_rss_mib=usage.ru_maxrss / 1024,
                             user_us_per_job=usage.ru_utime / n * 1e6,
                             system_us_per_job=usage.ru_stime / n * 1e6,
                             wall_s=wall, flags=list(extra))
            log(f"  music-sync-js, 64 in flight, {mode}: peak RSS {usage.ru_maxrss / 1024:.1f} MiB, "
                f"{usage.ru_stime / n * 1e6:.0f} µs/job in the kernel")
        out["in_flight_64_js"] = rss
        return out

    # -- item 14: RabbitMQ beside Redis ---------------------------------------

    def drive_metrics_host(self, queue_args, jobs, plugins, extra=(), broker_pid=None):
        """One jobhost at default settings on the queue `queue_args` names
        (`--queue URL` and maybe `--queue-name`), holding `jobs` tasks;
        progress read from the host's own Prometheus endpoint, so that
        every backend is timed the same way (first to last job done, read
        as drive_redis_hosts reads its counter). CPU per job of the host
        (wait4), nginx, and `broker_pid` (a RabbitMQ not started by this
        suite; Redis otherwise)."""
        import urllib.request
        port = free_port()
        err = open(os.path.join(WORK, "metrics-host.stderr"), "w+")
        broker = broker_pid or self.fx.redis_pid
        cpu0 = dict(nginx=cpu_seconds(self.fx.nginx_pid), broker=cpu_seconds(broker))
        t0 = time.perf_counter()
        p = subprocess.Popen(
            self.jobhost_args(plugins, *queue_args, "--until-empty", "-o", "/dev/null",
                              "--metrics-addr", f"127.0.0.1:{port}", *extra),
            stdout=subprocess.DEVNULL, stderr=err, env=child_env(), preexec_fn=raise_nofile)

        def counts():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                return None
            done = dead = 0.0
            for line in text.splitlines():
                if line.startswith("jobhost_jobs_done_total"):
                    done += float(line.rsplit(" ", 1)[1])
                elif line.startswith("jobhost_jobs_dead_total"):
                    dead += float(line.rsplit(" ", 1)[1])
            return int(done), int(dead)

        first = last = None
        deadline = t0 + 600
        try:
            while True:
                now = time.perf_counter()
                got = counts()
                if got is not None:
                    done, dead = got
                    if dead:
                        raise RuntimeError(f"{dead} jobs dead")
                    if done > 0 and first is None:
                        first = (now, done)
                    if done >= jobs:
                        last = (now, done)
                        break
                if p.poll() is not None or now > deadline:
                    raise RuntimeError(f"host {'stopped' if p.poll() is not None else 'timed out'} "
                                       f"before {jobs} jobs were done")
                pause = 0.005
                if first is not None and got is not None and now > first[0] and done > first[1]:
                    left = (jobs - done) * (now - first[0]) / (done - first[1])
                    pause = min(0.1, max(0.005, left / 2))
                time.sleep(pause)
        except BaseException as e:
            if p.poll() is None:
                p.terminate()
            p.wait(timeout=30)
            err.seek(0)
            raise RuntimeError(f"{e}; stderr: {err.read()[-1500:]}") from None
        cpu1 = dict(nginx=cpu_seconds(self.fx.nginx_pid), broker=cpu_seconds(broker))
        host_cpu = wait_cpu(p, timeout=30)
        if p.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"host exited {p.returncode}: {err.read()[-1500:]}")
        return dict(
            jobs=jobs,
            jobs_per_s=(last[1] - first[1]) / (last[0] - first[0]) if last[0] > first[0] else None,
            jobs_per_s_incl_startup=jobs / (last[0] - t0),
            cpu_us_per_job=dict(
                jobhost=host_cpu / jobs * 1e6,
                jobhost_system=p.system_s / jobs * 1e6,
                nginx=(cpu1["nginx"] - cpu0["nginx"]) / jobs * 1e6,
                broker=(cpu1["broker"] - cpu0["broker"]) / jobs * 1e6,
            ),
        )

    def item14_amqp(self):
        """RabbitMQ beside Redis (issue 26): no-op jobs and music-sync jobs
        per second, one host at default settings, the two backends
        interleaved in pairs (Redis first), each run on a queue of its own,
        timed by the same reader (the host's metrics endpoint). RabbitMQ is
        the machine's broker (AMQP_URL), in a vhost of the item's own."""
        s = self.s
        ctl = shutil.which("rabbitmqctl")
        if ctl is None:
            raise RuntimeError("rabbitmqctl not found: item 14 needs a RabbitMQ broker on this "
                               "machine (apt-get install rabbitmq-server) or BENCH_AMQP_URL")
        status = subprocess.run([ctl, "status"], capture_output=True, text=True, timeout=60)
        m = re.search(r"OS PID: (\d+)", status.stdout)
        if status.returncode != 0 or not m:
            raise RuntimeError(f"rabbitmqctl status failed ({status.returncode}): is the broker "
                               f"running? {status.stderr[-500:]}")
        broker_pid = int(m.group(1))
        version = re.search(r"RabbitMQ version: (\S+)", status.stdout)
        subprocess.run([ctl, "delete_vhost", AMQP_VHOST], capture_output=True, timeout=60)
        user = re.match(r"amqps?://([^:@/]+)", AMQP_URL)
        for cmd in (["add_vhost", AMQP_VHOST],
                    ["set_permissions", "-p", AMQP_VHOST, user.group(1) if user else "guest",
                     ".*", ".*", ".*"]):
            run([ctl, *cmd], timeout=60)
        amqp = f"{AMQP_URL}/{AMQP_VHOST}"
        n = s["amqp_jobs"]
        kinds = dict(
            noop=(self.write_lines("noop-amqp.jsonl", ('{"payload":"x"}' for _ in range(n))),
                  "template", ("--plugin", "template")),
            music_sync=(self.write_lines("music-amqp.txt", (self.fx.url(i) for i in range(n))),
                        "music-sync", ()),
        )
        out = dict(rabbitmq_version=version.group(1) if version else None, jobs=n)
        try:
            for kind, (path, plugins, enq) in kinds.items():
                pairs = []
                for i in range(s["amqp_pairs"]):
                    self.flush()
                    self.enqueue(path, *enq)
                    redis = self.drive_metrics_host(("--queue", self.fx.redis_url), n, plugins)
                    name = f"{kind}-{i}"
                    run([JOBHOST, "enqueue", "--queue", amqp, "--queue-name", name,
                         "--input", path, *enq])
                    rabbit = self.drive_metrics_host(("--queue", amqp, "--queue-name", name), n,
                                                     plugins, broker_pid=broker_pid)
                    pairs.append(dict(redis=redis, rabbitmq=rabbit,
                                      ratio=rabbit["jobs_per_s"] / redis["jobs_per_s"]))
                    log(f"  {kind}: Redis {redis['jobs_per_s']:.0f} jobs/s, RabbitMQ "
                        f"{rabbit['jobs_per_s']:.0f} jobs/s (host CPU "
                        f"{redis['cpu_us_per_job']['jobhost']:.0f} / "
                        f"{rabbit['cpu_us_per_job']['jobhost']:.0f} µs/job, broker "
                        f"{redis['cpu_us_per_job']['broker']:.0f} / "
                        f"{rabbit['cpu_us_per_job']['broker']:.0f} µs/job)")
                out[kind] = dict(sorted(pairs, key=lambda p: p["ratio"])[len(pairs) // 2])
                out[f"{kind}_pairs"] = pairs
        finally:
            subprocess.run([ctl, "delete_vhost", AMQP_VHOST], capture_output=True, timeout=60)
        return out


ITEMS = [
    ("1", "dispatch", Suite.item1_dispatch),
    ("7", "bare", Suite.item7_bare),
    ("2", "memory", Suite.item2_memory),
    ("3", "music", Suite.item3_music),
    ("4", "seed", Suite.item4_seed),
    ("sweep", "sweep", Suite.sweep),
    ("5", "wrk", Suite.item5_wrk),
    ("6", "rss", Suite.item6_rss),
    ("8", "redis_noop", Suite.item8_redis_noop),
    ("9", "latency", Suite.item9_latency),
    ("10", "db", Suite.item10_db),
    ("11", "schedule", Suite.item11_schedule),
    ("12", "https", Suite.item12_https),
    ("13", "languages", Suite.item13_languages),
    ("14", "amqp", Suite.item14_amqp),
]


def machine():
    def first(path, key, sep=":"):
        try:
            for line in open(path):
                if line.startswith(key) and sep in line:
                    return line.split(sep, 1)[1].strip().strip('"')
        except OSError:
            pass
        return None

    def version(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None

    mem_kib = first("/proc/meminfo", "MemTotal")
    git = version(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "host", "plugins",
                            "Cargo.lock", "Cargo.toml"],
                           capture_output=True, text=True).stdout.strip()
    return dict(
        nproc=len(os.sched_getaffinity(0)),
        cpu_model=first("/proc/cpuinfo", "model name"),
        memory=f"{int(mem_kib.split()[0]) / 1024 / 1024:.1f} GiB" if mem_kib else None,
        kernel=platform.release(),
        os=first("/etc/os-release", "PRETTY_NAME", "="),
        loadavg_at_start=os.getloadavg(),
        rustc=version(["rustc", "--version"]),
        nginx=version(["nginx", "-v"]),
        redis=version(["redis-server", "--version"]),
        wrk=version(["wrk", "-v"]),
        python=platform.python_version(),
        git_commit=git,
        git_dirty=bool(dirty),
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="about 10x smaller counts (smoke run)")
    p.add_argument("--only", help="comma-separated items to run (1..14, sweep); default all")
    p.add_argument("--output", default=os.path.join(RESULTS, "latest.json"))
    args = p.parse_args()

    only = set(args.only.split(",")) if args.only else None
    # jobhost-bench serves items 1, 2 and 7 only.
    needs_benchbin = only is None or bool(only & {"1", "2", "7", "dispatch", "memory", "bare"})
    for binary in (JOBHOST, BENCHBIN) if needs_benchbin else (JOBHOST,):
        if not os.access(binary, os.X_OK):
            sys.exit(f"bench: {binary} is missing: run bench/run.sh, which builds it")
    raise_nofile()
    started = time.time()
    meta = dict(
        mode="quick" if args.quick else "full",
        command="bench/run.sh" + (" --quick" if args.quick else "")
        + (f" --only {args.only}" if args.only else ""),
        started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        machine=machine(),
        scale=scale(args.quick),
    )
    fx = Fixtures().start()
    results = {}
    try:
        meta["fixture"] = dict(documents=DOCS, mean_document_bytes=round(fx.doc_bytes),
                               nginx_workers=os.environ.get("BENCH_NGINX_WORKERS", "1"))
        suite = Suite(fx, args.quick)
        for key, name, method in ITEMS:
            if only and key not in only and name not in only:
                continue
            log(f"item {key} ({name}), load average {os.getloadavg()[0]:.2f}")
            t = time.perf_counter()
            try:
                results[name] = method(suite)
            except Exception as e:  # keep going: one broken item must not hide the rest
                traceback.print_exc()
                results[name] = {"error": f"{type(e).__name__}: {e}"[:4000]}
            if isinstance(results[name], dict):
                results[name]["item_seconds"] = round(time.perf_counter() - t, 2)
                results[name]["ran_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    finally:
        fx.stop()
    meta["seconds"] = round(time.time() - started, 1)
    if only:
        # A partial run updates the items it ran and keeps the others.
        try:
            previous = json.load(open(args.output))
            merged = previous.get("items", {})
            merged.update(results)
            results = merged
            meta["partial"] = sorted(only)
        except (OSError, ValueError):
            pass
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    doc = dict(meta=meta, items=results)
    with open(args.output, "w") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    log(f"wrote {os.path.relpath(args.output, ROOT)}")
    subprocess.run([PY, os.path.join(BENCH, "plot.py"), args.output], check=False)
    subprocess.run([PY, os.path.join(BENCH, "report.py"), args.output], check=False)


if __name__ == "__main__":
    main()
