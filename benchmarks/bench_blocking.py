#!/usr/bin/env python3
"""WSGI apps with blocking I/O: before (gunicorn gthread), adapted (WsgiToAsgi), after (migrated).

The apps of ``benchmarks/blocking_apps/`` are plain WSGI handlers that spend their time in
blocking calls: a sleep standing for a database round trip, a sqlite3 query through a module
helper, an HTTP call to a local upstream service with urllib, a file read; two Falcon apps
and two Flask apps (a JSON endpoint, a view on sqlite3), migrated to ``falcon.asgi`` and to
Quart; and a hand-rolled router with no I/O (compiled routes, a route decorator, a shared
JSON helper), where the request's own path is what is measured. Each is served

* **before**: as written, by gunicorn ``-k gthread`` (one worker, ``--threads`` threads, 40 by
  default: the size of the adapters' I/O pool, so both sides may block as often at once);
* **adapted**: as written, through ``adapters.WsgiToAsgi`` under uvicorn;
* **after**: as ``migrate --out`` rewrote it (the run must report it ``converted``), under
  uvicorn: ``time.sleep`` became ``await asyncio.sleep``, the other blocking calls
  ``await run_blocking(...)``;

and loaded by wrk at each concurrency (16 and 64 connections), the server pinned to one CPU and
wrk (and the upstream service) to the other. Each figure is the median of ``--runs`` runs;
the ratios compare medians. Goal (issue 12): after >= 1.0x before in throughput with p99
latency no worse, and after >= adapted, on every app.

    python3 benchmarks/bench_blocking.py            # ~8 min
    python3 benchmarks/bench_blocking.py --quick    # 1 run of 3 s each, ~1.5 min
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_adapters import (  # noqa: E402
    _free_port,
    _kill,
    _kill_all,
    _on_signal,
    _pin,
    _run_child,
    _spawn,
    fmt_num,
    fmt_ratio,
    parse_wrk,
    ratio,
    stats,
    table,
)

APPS_DIR = Path(__file__).resolve().parent / "blocking_apps"
APPS = (
    "sleep", "sqlite", "upstream", "files", "falcon_json", "falcon_sqlite", "flask_json",
    "flask_sqlite", "routes", "guarded",
)  # fmt: skip
WAYS = ("before", "adapted", "after")
JSON = dict[str, Any]

UPSTREAM_SERVER = """
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(0.01)  # the upstream's own work
        body = json.dumps({"USD": 1.08, "GBP": 0.85, "CHF": 0.95}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 1024
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the apps


def prepare(work: Path) -> tuple[Path, Path, dict[str, str]]:
    """The apps as written (``before/``, with the adapted wrappers) and as migrated
    (``after/``), their data, and the environment they read."""
    before = work / "before"
    shutil.copytree(APPS_DIR, before, ignore=shutil.ignore_patterns("__pycache__"))
    (before / "data.bin").write_bytes(os.urandom(64 * 1024))
    database = work / "bench.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, category TEXT, price REAL)"
        )
        conn.executemany(
            "INSERT INTO items (name, category, price) VALUES (?, ?, ?)",
            [
                (f"item {i}", ("tools", "garden", "paint")[i % 3], (i * 37) % 1000 / 10)
                for i in range(3000)
            ],
        )
        conn.execute("CREATE INDEX by_category ON items (category, price)")
    after = work / "after"
    report = work / "report.json"
    code, output = _run_child(
        [
            sys.executable,
            "-m",
            "migrate",
            str(before),
            "--out",
            str(after),
            "--report",
            str(report),
            "--enable",  # the native framework rules are opt-in: measured here
            "flask-quart,falcon-asgi",
        ],
        timeout=300,
    )
    if code != 0:
        raise RuntimeError(f"migrate failed ({code}): {output[-500:]}")
    kinds = {
        Path(f["path"]).stem: sorted({c["kind"] for c in f["changes"]})
        for f in json.loads(report.read_text())["files"]
    }
    for name in APPS:
        if kinds.get(f"{name}_app") != ["converted"]:
            raise RuntimeError(
                f"migrate did not convert {name}_app natively: {kinds.get(f'{name}_app')}"
            )
    shutil.copy(before / "data.bin", after / "data.bin")
    for name in APPS:
        (before / f"adapted_{name}.py").write_text(
            f"from adapters import WsgiToAsgi\nfrom {name}_app import app as _wsgi\n\napp = WsgiToAsgi(_wsgi)\n"
        )
    env = {"BENCH_DATABASE": str(database)}
    return before, after, env


def server_command(way: str, name: str, port: int, threads: int) -> list[str]:
    if way == "before":
        return [
            sys.executable, "-m", "gunicorn", "-k", "gthread", "--workers", "1",
            "--threads", str(threads), "--backlog", "2048", "--log-level", "warning",
            "-b", f"127.0.0.1:{port}", f"{name}_app:app",
        ]  # fmt: skip
    module = f"adapted_{name}" if way == "adapted" else f"{name}_app"
    return [
        sys.executable, "-m", "uvicorn", f"{module}:app", "--port", str(port),
        "--no-access-log", "--log-level", "warning", "--backlog", "2048",
    ]  # fmt: skip


def wait_answering(proc: subprocess.Popen[bytes], port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


def serve_once(
    way: str, name: str, cwd: Path, env: dict[str, str], connections: int, opts: argparse.Namespace
) -> JSON:
    port = _free_port()
    cmd = [*_pin(opts.server_cpu), *server_command(way, name, port, opts.threads)]
    with tempfile.TemporaryFile() as server_log:
        server = _spawn(cmd, server_log, cwd=cwd, env={**os.environ, **env})
        try:
            wait_answering(server, port)
            load = [
                *_pin(opts.client_cpu), "wrk", "-t1", f"-c{connections}",
                f"-d{opts.seconds}s", "--timeout", "10s", "--latency", f"http://127.0.0.1:{port}/",
            ]  # fmt: skip
            code, text = _run_child(load, opts.seconds + 60)
            result = parse_wrk(text)
            if code != 0 or not result["requests"]:
                raise RuntimeError(f"wrk exited {code}: {text.strip()[-300:]}")
        finally:
            _kill(server)
        server_log.seek(0)
        tracebacks = server_log.read().decode("utf-8", "replace").count("Traceback")
    result["server_tracebacks"] = tracebacks
    return result


# --------------------------------------------------------------------------- report


def median_of(runs: list[JSON], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    s = stats(values)
    return s["median"] if s else None


def render(results: dict[tuple[str, str, int], list[JSON]], opts: argparse.Namespace) -> str:
    lines = [
        "# Blocking I/O: before (gunicorn gthread) vs adapted (WsgiToAsgi) vs after (migrated)",
        "",
        f"wrk -t1 -d{opts.seconds}s, {opts.runs} run(s) each, median; server on CPU "
        f"{opts.server_cpu}, wrk and the upstream service on CPU {opts.client_cpu}; gunicorn "
        f"-k gthread --workers 1 --threads {opts.threads}; uvicorn 1 worker (uvloop, httptools).",
        "",
    ]
    rows = []
    verdicts = []
    for name in opts.apps:
        for connections in opts.connections:
            runs = {way: results.get((way, name, connections), []) for way in WAYS}
            rps = {way: median_of(runs[way], "rps") for way in WAYS}
            p99 = {way: median_of(runs[way], "p99_ms") for way in WAYS}
            p50 = {way: median_of(runs[way], "p50_ms") for way in WAYS}
            errors = sum(r["non2xx"] + r["socket_errors"] for way in WAYS for r in runs[way])
            vs_before = ratio(rps["after"], rps["before"])
            vs_adapted = ratio(rps["after"], rps["adapted"])
            met = (
                vs_before is not None
                and vs_adapted is not None
                and vs_before >= 1.0
                and vs_adapted >= 1.0
                and p99["after"] is not None
                and p99["before"] is not None
                and p99["after"] <= p99["before"]
            )
            verdicts.append(met)
            rows.append(
                [
                    name,
                    str(connections),
                    *(fmt_num(rps[w]) for w in WAYS),
                    *(f"{fmt_num(p50[w])} / {fmt_num(p99[w])}" for w in WAYS),
                    fmt_ratio(vs_before),
                    fmt_ratio(vs_adapted),
                    "yes" if met else "NO",
                    str(errors),
                ]
            )
    header = [
        "app", "c", "before req/s", "adapted req/s", "after req/s",
        "before p50/p99 ms", "adapted p50/p99 ms", "after p50/p99 ms",
        "after/before", "after/adapted", "goal met", "errors",
    ]  # fmt: skip
    lines.append(table(header, rows))
    lines.append("")
    lines.append(f"goal met on {sum(verdicts)}/{len(verdicts)} rows")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 run of 3 s each")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument(
        "--connections", type=lambda s: [int(x) for x in s.split(",")], default=[16, 64]
    )
    parser.add_argument("--threads", type=int, default=40, help="gunicorn gthread threads")
    parser.add_argument("--apps", type=lambda s: s.split(","), default=list(APPS))
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--client-cpu", default="1")
    parser.add_argument("--json", type=Path, help="also write every run's numbers here")
    opts = parser.parse_args()
    if opts.quick:
        opts.runs, opts.seconds = 1, 3
    if shutil.which("wrk") is None:
        log("wrk is needed: apt-get install -y wrk")
        return 2
    signal.signal(signal.SIGTERM, _on_signal)
    results: dict[tuple[str, str, int], list[JSON]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-blocking-") as tmp:
        before, after, env = prepare(Path(tmp))
        upstream_port = _free_port()
        env["BENCH_UPSTREAM"] = f"http://127.0.0.1:{upstream_port}"
        upstream = _spawn(
            [*_pin(opts.client_cpu), sys.executable, "-c", UPSTREAM_SERVER, str(upstream_port)],
            subprocess.DEVNULL,
        )
        try:
            wait_answering(upstream, upstream_port)
            for run in range(opts.runs):
                for name in opts.apps:
                    for connections in opts.connections:
                        for way in WAYS:
                            cwd = after if way == "after" else before
                            result = serve_once(way, name, cwd, env, connections, opts)
                            results.setdefault((way, name, connections), []).append(result)
                            log(
                                f"run {run + 1}/{opts.runs} {name:8} c={connections:<3} {way:8} "
                                f"{result['rps']:8.0f} req/s  p99 {fmt_num(result['p99_ms'])} ms"
                                + (
                                    f"  ({result['server_tracebacks']} tracebacks)"
                                    if result["server_tracebacks"]
                                    else ""
                                )
                            )
        finally:
            _kill(upstream)
            _kill_all()
    print(render(results, opts))
    if opts.json:
        opts.json.write_text(
            json.dumps({f"{w}/{n}/c{c}": r for (w, n, c), r in results.items()}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
