#!/usr/bin/env python3
"""Compare wsgi2asgi's runtime adapters with their peers, in one run.

WSGI app -> ASGI: ``adapters.WsgiToAsgi`` vs ``a2wsgi.WSGIMiddleware``, ``asgiref.wsgi.WsgiToAsgi``,
uvicorn's own fallback ``uvicorn.middleware.wsgi._WSGIMiddleware``; ceiling: a native ASGI app.
ASGI app -> WSGI: ``adapters.AsgiToWsgi`` vs ``a2wsgi.ASGIMiddleware``; ceiling: a native WSGI app.

    python3 benchmarks/bench_adapters.py            # full run (~10 min)
    python3 benchmarks/bench_adapters.py --quick    # smoke test (~1-2 min)

Every measurement runs in a fresh worker subprocess (``--_worker``), so a hanging or crashing
adapter costs one bounded timeout, and ``ru_maxrss`` starts clean for each memory figure.
An adapter that fails to construct (or to answer a hello-world GET) is skipped, with the reason
printed.  See benchmarks/README.md for how to read the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import functools
import gc
import io
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _bench_apps as apps  # noqa: E402

MIB = apps.MIB
CHUNK = apps.CHUNK
ECHO_BYTES = 10 * MIB
BIG_BYTES = 100 * MIB  # 1,600 x 64 KiB
SLOW_BYTES = 16 * MIB
SLOW_DELAY = 0.0005
GET_CONCURRENCY = (1, 64)
GET_THREADS = (1, 16)
SERVER_CONFIGS = (("h11", "asyncio"), ("httptools", "uvloop"))
MEM_CASES_W2A = ("echo", "stream", "upload", "slow")
MEM_CASES_A2W = ("echo", "stream", "upload")
RESULT_TAG = "BENCH-RESULT "

JSON = dict[str, Any]

# --------------------------------------------------------------------------- child processes

_children: list[subprocess.Popen[bytes]] = []


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
    if proc in _children:
        _children.remove(proc)


def _kill_all() -> None:
    for proc in list(_children):
        _kill(proc)


def _on_signal(signum: int, _frame: object) -> None:
    _kill_all()
    raise SystemExit(128 + signum)


def _spawn(cmd: Sequence[str], out: IO[bytes] | int, **kw: Any) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, **kw)
    _children.append(proc)
    return proc


def _run_child(cmd: Sequence[str], timeout: float) -> tuple[int | None, str]:
    """Run ``cmd`` to completion (killed after ``timeout`` s); returns (returncode, output)."""
    with tempfile.TemporaryFile() as out:
        proc = _spawn(cmd, out, cwd=ROOT)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _kill(proc)
        out.seek(0)
        return code, out.read().decode("utf-8", "replace")


def _pin(cpu: str | None) -> list[str]:
    if cpu is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", cpu]


def run_worker(spec: JSON, *, timeout: float, cpus: str | None) -> JSON:
    """Run one measurement in a fresh interpreter; returns its result or ``{"error": ...}``."""
    cmd = [
        *_pin(cpus),
        sys.executable,
        str(Path(__file__).resolve()),
        "--_worker",
        json.dumps(spec),
    ]
    code, output = _run_child(cmd, timeout)
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT_TAG):
            result: JSON = json.loads(line[len(RESULT_TAG) :])
            return result
    if code is None:
        return {"error": f"timed out after {timeout:.0f} s"}
    tail = [ln for ln in output.strip().splitlines() if ln.strip()][-1:] or ["(no output)"]
    return {"error": f"worker exited {code}: {tail[0][:200]}"}


# --------------------------------------------------------------------------- worker: ASGI side


BASE_SCOPE: JSON = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"localhost")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}


class Exchange:
    """In-memory receive/send for one request, like a server would provide.

    ``n_chunks`` fresh 64 KiB request-body chunks are handed out by ``receive()``; after the
    body, ``receive()`` blocks until the response is complete and then says ``http.disconnect``.
    """

    __slots__ = (
        "_done",
        "body_done",
        "chunks_left",
        "complete",
        "count",
        "delay",
        "nbytes",
        "status",
    )

    def __init__(self, n_chunks: int = 0, delay: float = 0.0, count: bool = False) -> None:
        self.chunks_left = n_chunks
        self.body_done = False
        self.complete = False
        self.status = 0
        self.nbytes = 0
        self.delay = delay
        self.count = count
        self._done: asyncio.Event | None = None

    async def receive(self) -> JSON:
        if not self.body_done:
            if self.chunks_left > 0:
                self.chunks_left -= 1
                more = self.chunks_left > 0
                self.body_done = not more
                return {"type": "http.request", "body": apps.fresh_chunk(), "more_body": more}
            self.body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if not self.complete:
            if self._done is None:
                self._done = asyncio.Event()
            await self._done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: apps.Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            size = len(message.get("body", b""))
            self.nbytes += size
            if self.count:
                apps.StreamCounter.delivered += size
            if self.delay:
                await asyncio.sleep(self.delay)
            if not message.get("more_body", False):
                self.complete = True
                if self._done is not None:
                    self._done.set()
        elif kind == "http.response.start":
            self.status = message["status"]


def _scope(method: str = "GET", length: int | None = None, query: bytes = b"") -> JSON:
    scope = dict(BASE_SCOPE)
    scope["method"] = method
    scope["query_string"] = query
    if length is not None:
        scope["headers"] = [
            (b"host", b"localhost"),
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(length).encode()),
        ]
    return scope


async def _asgi_get_loop(app: apps.ASGIApp, deadline: float, tasks: bool) -> tuple[int, int]:
    """One client slot: GET after GET until ``deadline``.

    With ``tasks`` each request runs in its own task, as a server runs it; without (c=1) the
    app is awaited directly, so the native ceiling measures the app alone.
    """
    done = bad = 0
    clock = time.perf_counter
    base = BASE_SCOPE
    create_task = asyncio.get_running_loop().create_task
    while clock() < deadline:
        ex = Exchange()
        if tasks:
            await create_task(app(dict(base), ex.receive, ex.send))  # type: ignore[arg-type]
        else:
            await app(dict(base), ex.receive, ex.send)
        done += 1
        if ex.status != 200 or ex.nbytes != 13:
            bad += 1
    return done, bad


async def _asgi_get(app: apps.ASGIApp, concurrency: int, duration: float) -> JSON:
    start = time.perf_counter()
    deadline = start + duration
    tasks = concurrency > 1
    counts = await asyncio.gather(
        *(_asgi_get_loop(app, deadline, tasks) for _ in range(concurrency))
    )
    elapsed = time.perf_counter() - start
    done = sum(c[0] for c in counts)
    return {"rps": done / elapsed, "requests": done, "bad": sum(c[1] for c in counts)}


async def _asgi_check_hello(app: apps.ASGIApp) -> None:
    ex = Exchange()
    await asyncio.wait_for(app(dict(BASE_SCOPE), ex.receive, ex.send), 10)
    if ex.status != 200 or ex.nbytes != 13:
        raise RuntimeError(f"hello GET gave status {ex.status}, {ex.nbytes} body bytes")


def _rss_reset() -> int:
    """Collect garbage, reset the peak-RSS mark where Linux allows it; returns ru_maxrss (KiB)."""
    gc.collect()
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _rss_growth_mib(base_kib: int) -> float:
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_kib) / 1024


async def _w2a_memory(impl: str, case: str) -> JSON:
    if case == "echo":
        app = apps.w2a_app(impl, apps.wsgi_echo, apps.asgi_echo)
        nbytes, method = ECHO_BYTES, "POST"
    elif case == "upload":
        app = apps.w2a_app(impl, apps.wsgi_upload, apps.asgi_upload)
        nbytes, method = BIG_BYTES, "POST"
    elif case == "stream":
        n = BIG_BYTES // CHUNK
        app = apps.w2a_app(impl, apps.make_wsgi_stream(n), apps.make_asgi_stream(n))
        nbytes, method = BIG_BYTES, "GET"
    elif case == "slow":
        n = SLOW_BYTES // CHUNK
        app = apps.w2a_app(
            impl, apps.make_wsgi_stream(n, count=True), apps.make_asgi_stream(n, count=True)
        )
        nbytes, method = SLOW_BYTES, "GET"
    else:
        raise ValueError(case)
    chunks = nbytes // CHUNK
    post = method == "POST"

    async def one(n_chunks: int, delay: float = 0.0, count: bool = False) -> Exchange:
        length = n_chunks * CHUNK if post else None
        query = b"" if post else b"n=%d" % n_chunks
        ex = Exchange(n_chunks if post else 0, delay, count)
        await app(_scope(method, length, query), ex.receive, ex.send)
        return ex

    for _ in range(2):  # warm-up: imports, thread pools, first-use allocations
        await one(2)
    apps.StreamCounter.reset()
    base = _rss_reset()
    start = time.perf_counter()
    if case == "slow":
        ex = await one(chunks, SLOW_DELAY, True)
    else:
        ex = await one(chunks)
    elapsed = time.perf_counter() - start
    growth = _rss_growth_mib(base)
    expect = len(str(nbytes)) if case == "upload" else nbytes
    if ex.status != 200 or ex.nbytes != expect:
        raise RuntimeError(f"{case}: status {ex.status}, {ex.nbytes} of {expect} body bytes")
    result: JSON = {
        "mibps": nbytes / MIB / elapsed,
        "seconds": elapsed,
        "us_per_chunk": elapsed * 1e6 / chunks,
        "rss_mib": growth,
    }
    if case == "slow":
        result["max_buffered"] = apps.StreamCounter.max_gap
    return result


# --------------------------------------------------------------------------- worker: WSGI side


class ChunkReader:
    """``wsgi.input`` that hands out freshly allocated bytes, ``total`` in all."""

    def __init__(self, total: int) -> None:
        self.left = total

    def read(self, size: int | None = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if size is None or size < 0 else min(size, self.left)
        self.left -= n
        return apps.fresh_chunk(n)

    def readline(self, size: int | None = -1) -> bytes:
        return self.read(CHUNK if size is None or size < 0 else size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterable[bytes]:
        return iter(self.readline, b"")


BASE_ENVIRON: JSON = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/",
    "QUERY_STRING": "",
    "SERVER_NAME": "localhost",
    "SERVER_PORT": "8000",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "HTTP_HOST": "localhost",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http",
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": True,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
}


def _wsgi_call(app: apps.WSGIApp, environ: JSON) -> tuple[str, int]:
    status: list[str] = []

    def start_response(s: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        status.append(s)
        return None

    body = app(environ, start_response)
    n = 0
    try:
        for piece in body:
            n += len(piece)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return (status[-1] if status else ""), n


def _wsgi_get(app: apps.WSGIApp, threads: int, duration: float) -> JSON:
    counts: list[tuple[int, int]] = []
    errors: list[str] = []
    barrier = threading.Barrier(threads + 1)
    box: list[float] = []

    def loop() -> None:
        done = bad = 0
        base = BASE_ENVIRON
        clock = time.perf_counter
        try:
            barrier.wait()
            deadline = box[0]
            while clock() < deadline:
                env = dict(base)
                env["wsgi.input"] = io.BytesIO()
                status, n = _wsgi_call(app, env)
                done += 1
                if n != 13 or not status.startswith("200"):
                    bad += 1
        except Exception as exc:
            errors.append(repr(exc))
        counts.append((done, bad))

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    start = time.perf_counter()
    box.append(start + duration)
    barrier.wait()
    for w in workers:
        w.join(duration + 30)
    elapsed = time.perf_counter() - start
    if errors or any(w.is_alive() for w in workers):
        raise RuntimeError(errors[0] if errors else "caller thread hung")
    done = sum(c[0] for c in counts)
    return {"rps": done / elapsed, "requests": done, "bad": sum(c[1] for c in counts)}


def _a2w_memory(impl: str, case: str) -> JSON:
    if case == "echo":
        app = apps.a2w_app(impl, apps.asgi_echo, apps.wsgi_echo)
        nbytes, method = ECHO_BYTES, "POST"
    elif case == "upload":
        app = apps.a2w_app(impl, apps.asgi_upload, apps.wsgi_upload)
        nbytes, method = BIG_BYTES, "POST"
    elif case == "stream":
        n = BIG_BYTES // CHUNK
        app = apps.a2w_app(impl, apps.make_asgi_stream(n), apps.make_wsgi_stream(n))
        nbytes, method = BIG_BYTES, "GET"
    else:
        raise ValueError(case)
    chunks = nbytes // CHUNK

    def one(n_chunks: int) -> tuple[str, int]:
        env = dict(BASE_ENVIRON)
        env["REQUEST_METHOD"] = method
        if method == "POST":
            env["CONTENT_LENGTH"] = str(n_chunks * CHUNK)
            env["CONTENT_TYPE"] = "application/octet-stream"
            env["wsgi.input"] = ChunkReader(n_chunks * CHUNK)
        else:
            env["QUERY_STRING"] = f"n={n_chunks}"
            env["wsgi.input"] = io.BytesIO()
        return _wsgi_call(app, env)

    for _ in range(2):
        one(2)
    base = _rss_reset()
    start = time.perf_counter()
    status, got = one(chunks)
    elapsed = time.perf_counter() - start
    growth = _rss_growth_mib(base)
    expect = len(str(nbytes)) if case == "upload" else nbytes
    if not status.startswith("200") or got != expect:
        raise RuntimeError(f"{case}: status {status!r}, {got} of {expect} body bytes")
    return {
        "mibps": nbytes / MIB / elapsed,
        "seconds": elapsed,
        "us_per_chunk": elapsed * 1e6 / chunks,
        "rss_mib": growth,
    }


# --------------------------------------------------------------------------- worker: load generator


async def _loadgen(port: int, connections: int, duration: float) -> JSON:
    """Fallback when wrk is missing: keep-alive HTTP/1.1 GETs on raw asyncio streams."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    latencies: list[float] = []
    stats = {"ok": 0, "non2xx": 0, "errors": 0}
    deadline = time.perf_counter() + duration

    async def conn() -> None:
        while time.perf_counter() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                stats["errors"] += 1
                await asyncio.sleep(0.01)
                continue
            try:
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    writer.write(request)
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                    await reader.readexactly(int(m.group(1)) if m else 0)
                    latencies.append(time.perf_counter() - t0)
                    if head[9:10] == b"2":
                        stats["ok"] += 1
                    else:
                        stats["non2xx"] += 1
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
                stats["errors"] += 1
            finally:
                writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float | None:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e3 if latencies else None
        )

    done = stats["ok"] + stats["non2xx"]
    return {
        "rps": done / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "requests": done,
        "non2xx": stats["non2xx"],
        "socket_errors": stats["errors"],
    }


def _asgi_check_hello_sync(app: apps.ASGIApp) -> None:
    asyncio.run(_asgi_check_hello(app))


def _wsgi_check_hello(app: apps.WSGIApp) -> None:
    status, n = _wsgi_call(app, dict(BASE_ENVIRON, **{"wsgi.input": io.BytesIO()}))
    if not status.startswith("200") or n != 13:
        raise RuntimeError(f"hello GET gave {status!r}, {n} body bytes")


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    return text[:300]


def _probe(build: Callable[[], Any], check: Callable[[Any], None]) -> str | None:
    """None if the adapter builds and answers a hello GET, else why not."""
    try:
        app = build()
    except BaseException as exc:
        return f"construction raised {_describe(exc)}"
    try:
        check(app)
    except BaseException as exc:
        return f"hello GET failed: {_describe(exc)}"
    return None


def worker_main(spec: JSON) -> JSON:
    kind = spec["kind"]
    impl = spec.get("impl", "")
    if kind == "probe":
        out: JSON = {}
        for name in apps.W2A_IMPLS:
            out["w2a:" + name] = _probe(
                functools.partial(apps.w2a_app, name, apps.wsgi_hello, apps.asgi_hello),
                _asgi_check_hello_sync,
            )
        for name in apps.A2W_IMPLS:
            out["a2w:" + name] = _probe(
                functools.partial(apps.a2w_app, name, apps.asgi_hello, apps.wsgi_hello),
                _wsgi_check_hello,
            )
        return out
    if kind == "w2a-get":
        asgi_app = apps.w2a_app(impl, apps.wsgi_hello, apps.asgi_hello)

        async def main() -> JSON:
            res: JSON = {}
            for c in spec["concurrency"]:
                await _asgi_get(asgi_app, c, spec["warmup"])
                res[f"c{c}"] = await _asgi_get(asgi_app, c, spec["duration"])
            return res

        return asyncio.run(main())
    if kind == "a2w-get":
        wsgi_app = apps.a2w_app(impl, apps.asgi_hello, apps.wsgi_hello)
        res: JSON = {}
        for t in spec["threads"]:
            _wsgi_get(wsgi_app, t, spec["warmup"])
            res[f"t{t}"] = _wsgi_get(wsgi_app, t, spec["duration"])
        return res
    if kind == "w2a-mem":
        return asyncio.run(_w2a_memory(impl, spec["case"]))
    if kind == "a2w-mem":
        return _a2w_memory(impl, spec["case"])
    if kind == "loadgen":
        return asyncio.run(_loadgen(spec["port"], spec["connections"], spec["duration"]))
    raise ValueError(f"unknown worker kind {kind!r}")


def _worker_entry(raw: str) -> int:
    spec: JSON = json.loads(raw)
    try:
        result = worker_main(spec)
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    print(RESULT_TAG + json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0)  # do not wait for adapters' non-daemon pool threads


# --------------------------------------------------------------------------- served by uvicorn


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"uvicorn not listening after {timeout:.0f} s")


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(text: str) -> JSON:
    out: JSON = {
        "rps": 0.0,
        "p50_ms": None,
        "p99_ms": None,
        "requests": 0,
        "non2xx": 0,
        "socket_errors": 0,
    }
    if m := re.search(r"Requests/sec:\s*([\d.]+)", text):
        out["rps"] = float(m.group(1))
    for pct, val, unit in re.findall(
        r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M
    ):
        out[f"p{pct}_ms"] = float(val) * _UNIT_MS[unit]
    if m := re.search(r"(\d+) requests in", text):
        out["requests"] = int(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text):
        out["non2xx"] = int(m.group(1))
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    ):
        out["socket_errors"] = sum(int(g) for g in m.groups())
    return out


def serve_once(impl: str, http: str, loop: str, opts: argparse.Namespace) -> JSON:
    port = _free_port()
    cmd = [
        *_pin(opts.server_cpu),
        sys.executable,
        "-m",
        "uvicorn",
        f"benchmarks._bench_apps:served_{impl}",
        "--http",
        http,
        "--loop",
        loop,
        "--no-access-log",
        "--log-level",
        "warning",
        "--port",
        str(port),
        *(["--reset-contextvars"] if opts.reset_contextvars else []),
    ]
    with tempfile.TemporaryFile() as log:
        server = _spawn(cmd, log, cwd=ROOT)
        try:
            _wait_ready(server, port, 30)
            if opts.wrk:
                load = [
                    *_pin(opts.client_cpu),
                    opts.wrk,
                    f"-t{opts.wrk_threads}",
                    f"-c{opts.connections}",
                    f"-d{opts.served_seconds}s",
                    "--latency",
                    f"http://127.0.0.1:{port}/",
                ]
                code, text = _run_child(load, opts.served_seconds + 30)
                if code is None:
                    raise RuntimeError("wrk timed out")
                result = parse_wrk(text)
                if code != 0 and not result["requests"]:
                    raise RuntimeError(f"wrk exited {code}: {text.strip()[-200:]}")
            else:
                spec = {
                    "kind": "loadgen",
                    "port": port,
                    "connections": opts.connections,
                    "duration": opts.served_seconds,
                }
                result = run_worker(spec, timeout=opts.served_seconds + 30, cpus=opts.client_cpu)
                if "error" in result:
                    raise RuntimeError(f"load generator: {result['error']}")
            alive = server.poll() is None
        finally:
            _kill(server)
        log.seek(0)
        server_log = log.read().decode("utf-8", "replace")
    result["server_tracebacks"] = server_log.count("Traceback (most recent call last)")
    if not alive:
        result["server_died"] = True
    errs = re.findall(r"^\w*(?:Error|Exception)\b.*$", server_log, re.M)
    if errs:
        result["server_error_sample"] = errs[-1][:160]
    return result


# --------------------------------------------------------------------------- statistics / rendering


def stats(values: Sequence[float]) -> JSON | None:
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def fmt_num(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_stat(s: JSON | None, spread: bool = True) -> str:
    if s is None:
        return "-"
    if not spread or s["n"] == 1:
        return fmt_num(s["median"])
    return f"{fmt_num(s['median'])} [{fmt_num(s['min'])}..{fmt_num(s['max'])}]"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def of(n: int) -> str:
    return "1 run, no spread" if n == 1 else f"median of {n} [min..max]"


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "-"
    return f"{r:.3f}x" if r < 0.1 else f"{r:.2f}x"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


class Results:
    """Raw per-run numbers: ``data[section][impl][metric] -> list``, plus skips and errors."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, dict[str, list[float]]]] = {}
        self.errors: dict[str, dict[str, list[str]]] = {}
        self.extra: dict[str, dict[str, list[JSON]]] = {}

    def add(self, section: str, impl: str, metric: str, value: float | None) -> None:
        if value is not None:
            self.data.setdefault(section, {}).setdefault(impl, {}).setdefault(metric, []).append(
                value
            )

    def error(self, section: str, impl: str, message: str) -> None:
        self.errors.setdefault(section, {}).setdefault(impl, []).append(message)

    def raw(self, section: str, impl: str, payload: JSON) -> None:
        self.extra.setdefault(section, {}).setdefault(impl, []).append(payload)

    def get(self, section: str, impl: str, metric: str) -> JSON | None:
        return stats(self.data.get(section, {}).get(impl, {}).get(metric, []))

    def med(self, section: str, impl: str, metric: str) -> float | None:
        s = self.get(section, impl, metric)
        return None if s is None else float(s["median"])

    def worst(self, section: str, impl: str, metric: str) -> float | None:
        s = self.get(section, impl, metric)
        return None if s is None else float(s["max"])


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the run


def _measure_get(
    opts: argparse.Namespace,
    res: Results,
    run: int,
    direction: str,
    impl: str,
    param: str,
    prefix: str,
    levels: Sequence[int],
) -> None:
    """One in-process tiny-GET run of ``impl`` at every level of ``param`` (the concurrency
    of a WSGI->ASGI adapter, the caller threads of an ASGI->WSGI one)."""
    section = f"{direction}-get"
    spec = {
        "kind": section,
        "impl": impl,
        param: list(levels),
        "duration": opts.get_seconds,
        "warmup": opts.warmup_seconds,
    }
    out = run_worker(spec, timeout=opts.get_seconds * 4 + 60, cpus=opts.cpus)
    where = f"  [in-process GET {direction} {run}/{opts.runs}] {impl}:"
    if "error" in out:
        res.error(section, impl, out["error"])
        log(f"{where} ERROR {out['error']}")
        return
    for level in levels:
        figures = out[f"{prefix}{level}"]
        res.add(section, impl, f"{prefix}{level}", figures["rps"])
        if figures["bad"]:
            res.error(section, impl, f"{prefix}={level}: {figures['bad']} bad responses")
    log(
        where
        + " "
        + ", ".join(
            f"{prefix}={level} {out[f'{prefix}{level}']['rps']:,.0f} req/s" for level in levels
        )
    )


def measure_inprocess(
    opts: argparse.Namespace, res: Results, w2a: list[str], a2w: list[str]
) -> None:
    for run in range(1, opts.runs + 1):
        # interleaved across impls so host noise hits all of them alike
        for impl in w2a:
            _measure_get(opts, res, run, "w2a", impl, "concurrency", "c", GET_CONCURRENCY)
        for impl in a2w:
            _measure_get(opts, res, run, "a2w", impl, "threads", "t", GET_THREADS)


def measure_memory(opts: argparse.Namespace, res: Results, w2a: list[str], a2w: list[str]) -> None:
    jobs = [("w2a", impl, case) for case in MEM_CASES_W2A for impl in w2a]
    jobs += [("a2w", impl, case) for case in MEM_CASES_A2W for impl in a2w]
    for run in range(1, opts.runs + 1):
        for direction, impl, case in jobs:
            spec = {"kind": f"{direction}-mem", "impl": impl, "case": case}
            out = run_worker(spec, timeout=opts.mem_timeout, cpus=opts.cpus)
            section = f"{direction}-{case}"
            if "error" in out:
                res.error(section, impl, out["error"])
                log(f"  [memory {run}/{opts.runs}] {direction} {case} {impl}: ERROR {out['error']}")
                continue
            for metric in ("mibps", "us_per_chunk", "rss_mib", "max_buffered"):
                res.add(section, impl, metric, out.get(metric))
            extra = (
                f", max buffered {out['max_buffered'] / MIB:.2f} MiB"
                if "max_buffered" in out
                else ""
            )
            log(
                f"  [memory {run}/{opts.runs}] {direction} {case} {impl}: {out['mibps']:,.0f} MiB/s, "
                f"dRSS {out['rss_mib']:.1f} MiB{extra}"
            )


def measure_served(opts: argparse.Namespace, res: Results, w2a: list[str]) -> None:
    for run in range(1, opts.served_runs + 1):
        for http, loop in SERVER_CONFIGS:
            section = f"served-{http}"
            for impl in w2a:
                try:
                    out = serve_once(impl, http, loop, opts)
                except Exception as exc:
                    res.error(section, impl, f"{type(exc).__name__}: {exc}")
                    log(f"  [served {http}+{loop} {run}/{opts.served_runs}] {impl}: ERROR {exc}")
                    continue
                res.raw(section, impl, out)
                for metric in (
                    "rps",
                    "p50_ms",
                    "p99_ms",
                    "requests",
                    "non2xx",
                    "socket_errors",
                    "server_tracebacks",
                ):
                    res.add(section, impl, metric, out.get(metric))
                fails = out["non2xx"] + out["socket_errors"]
                log(
                    f"  [served {http}+{loop} {run}/{opts.served_runs}] {impl}: {out['rps']:,.0f} req/s, "
                    f"p50 {fmt_num(out['p50_ms'])} ms, p99 {fmt_num(out['p99_ms'])} ms, "
                    f"{out['requests']} responses, {out['non2xx']} non-2xx, {out['socket_errors']} "
                    f"socket errors, {out['server_tracebacks']} server tracebacks"
                )
                if fails or out["server_tracebacks"]:
                    res.error(
                        section,
                        impl,
                        f"run {run}: {out['non2xx']} non-2xx, "
                        f"{out['socket_errors']} socket errors, {out['server_tracebacks']} "
                        f"server tracebacks ({out.get('server_error_sample', '')})",
                    )


# --------------------------------------------------------------------------- report


class Report:
    def __init__(self, res: Results, opts: argparse.Namespace, skipped: dict[str, str]) -> None:
        self.res = res
        self.opts = opts
        self.skipped = skipped
        self.targets: list[JSON] = []

    def label(self, impl: str) -> str:
        return apps.LABELS[impl]

    def target(
        self, name: str, value: float | None, op: str, bound: float, unit: str, why: str = ""
    ) -> None:
        if value is None:
            met = "n/a" + (f" ({why})" if why else "")
        else:
            ok = value >= bound if op == ">=" else value <= bound
            met = "yes" if ok else "**NO**"
        shown = "-" if value is None else (f"{value:.2f}{unit}")
        self.targets.append(
            {"target": name, "measured": value, "bound": bound, "op": op, "met": met}
        )
        self._target_rows.append([name, shown, met])

    _target_rows: list[list[str]]

    def ours_missing(self, direction: str) -> str:
        reason = self.skipped.get(f"{direction}:ours")
        return f"ours skipped: {reason}" if reason else "ours has no figure"

    def get_rows(self, section: str, impls: Sequence[str], keys: Sequence[str]) -> list[list[str]]:
        """Rows of a tiny-GET table: per key (a concurrency), req/s, µs/req and xC, then our
        median over each row's."""
        r = self.res
        rows = []
        for impl in impls:
            row = [self.label(impl)]
            for key in keys:
                s = r.get(section, impl, key)
                med = None if s is None else s["median"]
                row += [
                    fmt_stat(s),
                    fmt_num(None if not med else 1e6 / med),
                    fmt_ratio(ratio(med, r.med(section, "native", key))),
                ]
            ours_vs_it = " / ".join(
                fmt_ratio(ratio(r.med(section, "ours", key), r.med(section, impl, key)))
                for key in keys
            )
            row.append(ours_vs_it if impl != "ours" else "")
            rows.append(row)
        return rows

    def section_errors(self, sections: Sequence[str], impls: Sequence[str]) -> list[str]:
        out = []
        for section in sections:
            for impl in impls:
                msgs = self.res.errors.get(section, {}).get(impl, [])
                if msgs:
                    uniq = list(dict.fromkeys(msgs))
                    more = f" (+{len(uniq) - 3} more)" if len(uniq) > 3 else ""
                    out.append(f"- {section} / {self.label(impl)}: " + "; ".join(uniq[:3]) + more)
        return out

    def render(self, w2a: list[str], a2w: list[str], parts: set[str]) -> str:
        self._target_rows = []
        r = self.res
        n = self.opts.runs
        out: list[str] = []
        if self.skipped:
            out.append("Skipped (failed to construct or to answer a hello GET):")
            out += [f"- {k}: {v}" for k, v in self.skipped.items()]
            out.append("")

        if "inprocess" in parts:
            out.append(f"### 1a. In-process tiny GET, WSGI app -> ASGI (req/s, {of(n)})\n")
            out.append(
                "xC = throughput / native ASGI app driven by the same loop; "
                "'ours / it' = our median over this row's median.\n"
            )
            hdr = ["adapter"]
            for c in GET_CONCURRENCY:
                hdr += [f"c={c} req/s", "µs/req", "xC"]
            hdr.append("ours / it (c=1 / c=64)")
            keys = [f"c{c}" for c in GET_CONCURRENCY]
            out += [table(hdr, self.get_rows("w2a-get", w2a, keys)), ""]

            out.append(f"### 1b. In-process tiny GET, ASGI app -> WSGI caller (req/s, {of(n)})\n")
            hdr = ["adapter"]
            for t in GET_THREADS:
                hdr += [f"{t} thread{'s' if t > 1 else ''} req/s", "µs/req", "xC"]
            hdr.append("ours / it (1 / 16 thr)")
            keys = [f"t{t}" for t in GET_THREADS]
            out += [table(hdr, self.get_rows("a2w-get", a2w, keys)), ""]
            out += self.section_errors(["w2a-get", "a2w-get"], apps.W2A_IMPLS)
            out.append("")

        if "memory" in parts:
            out.append(
                f"### 2-4. Bodies and memory, WSGI app -> ASGI ({of(n)}; "
                "dRSS = ru_maxrss growth during the request, fresh process, MiB)\n"
            )
            rows = []
            for impl in w2a:
                slow = r.get("w2a-slow", impl, "max_buffered")
                rows.append(
                    [
                        self.label(impl),
                        fmt_stat(r.get("w2a-echo", impl, "mibps")),
                        fmt_stat(r.get("w2a-echo", impl, "rss_mib")),
                        fmt_stat(r.get("w2a-stream", impl, "mibps")),
                        fmt_num(r.med("w2a-stream", impl, "us_per_chunk")),
                        fmt_stat(r.get("w2a-stream", impl, "rss_mib")),
                        fmt_stat(r.get("w2a-upload", impl, "mibps")),
                        fmt_stat(r.get("w2a-upload", impl, "rss_mib")),
                        "-"
                        if slow is None
                        else f"{slow['median'] / MIB:.2f} (max {slow['max'] / MIB:.2f})",
                    ]
                )
            out += [
                table(
                    [
                        "adapter",
                        "echo 10 MiB MiB/s",
                        "echo dRSS",
                        "stream 100 MiB MiB/s",
                        "µs/chunk",
                        "stream dRSS",
                        "upload 100 MiB MiB/s",
                        "upload dRSS",
                        "slow client: max buffered MiB (of 16)",
                    ],
                    rows,
                ),
                "",
            ]
            out.append("Throughput ratio, ours / it (medians):\n")
            rows = [
                [self.label(impl)]
                + [
                    fmt_ratio(
                        ratio(r.med(f"w2a-{c}", "ours", "mibps"), r.med(f"w2a-{c}", impl, "mibps"))
                    )
                    for c in ("echo", "stream", "upload")
                ]
                for impl in w2a
                if impl != "ours"
            ]
            out += [table(["vs", "echo", "stream", "upload"], rows), ""]

            out.append(f"### 2-3. Bodies and memory, ASGI app -> WSGI caller ({of(n)})\n")
            rows = []
            for impl in a2w:
                rows.append(
                    [
                        self.label(impl),
                        fmt_stat(r.get("a2w-echo", impl, "mibps")),
                        fmt_stat(r.get("a2w-echo", impl, "rss_mib")),
                        fmt_stat(r.get("a2w-stream", impl, "mibps")),
                        fmt_num(r.med("a2w-stream", impl, "us_per_chunk")),
                        fmt_stat(r.get("a2w-stream", impl, "rss_mib")),
                        fmt_stat(r.get("a2w-upload", impl, "mibps")),
                        fmt_stat(r.get("a2w-upload", impl, "rss_mib")),
                        fmt_ratio(
                            ratio(
                                r.med("a2w-stream", "ours", "mibps"),
                                r.med("a2w-stream", impl, "mibps"),
                            )
                        )
                        if impl != "ours"
                        else "",
                    ]
                )
            out += [
                table(
                    [
                        "adapter",
                        "echo 10 MiB MiB/s",
                        "echo dRSS",
                        "stream 100 MiB MiB/s",
                        "µs/chunk",
                        "stream dRSS",
                        "upload 100 MiB MiB/s",
                        "upload dRSS",
                        "ours / it (stream)",
                    ],
                    rows,
                ),
                "",
            ]
            secs = [f"w2a-{c}" for c in MEM_CASES_W2A] + [f"a2w-{c}" for c in MEM_CASES_A2W]
            out += self.section_errors(secs, apps.W2A_IMPLS)
            out.append("")

        if "served" in parts:
            ns = self.opts.served_runs
            tool = (
                f"wrk -t{self.opts.wrk_threads} -c{self.opts.connections} -d{self.opts.served_seconds}s --latency"
                if self.opts.wrk
                else f"built-in asyncio load generator, {self.opts.connections} connections, "
                f"{self.opts.served_seconds} s (no wrk: figures NOT comparable with wrk's)"
            )
            uv_settings = (
                "default settings + --reset-contextvars"
                if self.opts.reset_contextvars
                else "default settings, no --reset-contextvars"
            )
            pin = (
                f"uvicorn on CPU {self.opts.server_cpu}, load on CPU {self.opts.client_cpu}"
                if self.opts.server_cpu is not None
                else "unpinned"
            )
            out.append(
                f"### 5. Served by uvicorn ({uv_settings}), 13-byte GET: {tool}; {pin}; {of(ns)}\n"
            )
            rows = []
            for impl in w2a:
                row = [self.label(impl)]
                for http, _loop in SERVER_CONFIGS:
                    sec = f"served-{http}"
                    s = r.get(sec, impl, "rps")
                    fails = sum(r.data.get(sec, {}).get(impl, {}).get("non2xx", []))
                    fails += sum(r.data.get(sec, {}).get(impl, {}).get("socket_errors", []))
                    tbs = sum(r.data.get(sec, {}).get(impl, {}).get("server_tracebacks", []))
                    total = sum(r.data.get(sec, {}).get(impl, {}).get("requests", []))
                    nerr = len(r.errors.get(sec, {}).get(impl, []))
                    row += [
                        fmt_stat(s),
                        f"{fmt_num(r.med(sec, impl, 'p50_ms'))}/{fmt_num(r.med(sec, impl, 'p99_ms'))}",
                        fmt_ratio(ratio(r.med(sec, impl, "rps"), r.med(sec, "native", "rps"))),
                        (
                            f"{int(fails)} / {int(tbs)} / {int(total)}"
                            if s is not None
                            else f"did not run ({nerr} errors)"
                        ),
                    ]
                rows.append(row)
            hdr = ["adapter"]
            for http, loop in SERVER_CONFIGS:
                hdr += [
                    f"{http}+{loop} req/s",
                    "p50/p99 ms",
                    "xC",
                    "failed / server tracebacks / responses",
                ]
            out += [table(hdr, rows), ""]
            out.append(
                "failed = non-2xx + socket errors (connect/read/write/timeout) summed over runs; "
                "xC = vs the native ASGI app under the same server config.\n"
            )
            out += self.section_errors([f"served-{h}" for h, _ in SERVER_CONFIGS], apps.W2A_IMPLS)
            out.append("")

        # ---- targets
        def ours_over(section: str, metric: str, peer: str) -> float | None:
            return ratio(r.med(section, "ours", metric), r.med(section, peer, metric))

        why_w = self.ours_missing("w2a")
        why_a = self.ours_missing("a2w")
        if "inprocess" in parts:
            for c in GET_CONCURRENCY:
                self.target(
                    f"WsgiToAsgi GET c={c}: >= 3x a2wsgi",
                    ours_over("w2a-get", f"c{c}", "a2wsgi"),
                    ">=",
                    3.0,
                    "x",
                    why_w,
                )
                self.target(
                    f"WsgiToAsgi GET c={c}: >= 1.3x uvicorn own",
                    ours_over("w2a-get", f"c{c}", "uvicorn"),
                    ">=",
                    1.3,
                    "x",
                    why_w,
                )
            for t in GET_THREADS:
                self.target(
                    f"AsgiToWsgi GET {t} thread(s): >= 2x a2wsgi",
                    ours_over("a2w-get", f"t{t}", "a2wsgi"),
                    ">=",
                    2.0,
                    "x",
                    why_a,
                )
        if "served" in parts:
            for http, bound in (("httptools", 0.4), ("h11", 0.75)):
                self.target(
                    f"WsgiToAsgi served, {http}: >= {bound}x native",
                    ours_over(f"served-{http}", "rps", "native"),
                    ">=",
                    bound,
                    "x",
                    why_w,
                )
        if "memory" in parts:
            for case, label in (("stream", "100 MiB stream"), ("upload", "100 MiB upload")):
                self.target(
                    f"WsgiToAsgi {label}: peak dRSS <= 5 MiB (worst run)",
                    r.worst(f"w2a-{case}", "ours", "rss_mib"),
                    "<=",
                    5.0,
                    " MiB",
                    why_w,
                )
                peers = [p for p in apps.W2A_PEERS if r.med(f"w2a-{case}", p, "mibps") is not None]
                best = max(
                    peers, key=lambda p: r.med(f"w2a-{case}", p, "mibps") or 0.0, default=None
                )
                self.target(
                    f"WsgiToAsgi {label}: MiB/s >= best peer ({best or '-'})",
                    None if best is None else ours_over(f"w2a-{case}", "mibps", best),
                    ">=",
                    1.0,
                    "x",
                    why_w,
                )
            buffered = r.worst("w2a-slow", "ours", "max_buffered")
            self.target(
                "WsgiToAsgi slow client: <= 1 MiB buffered (worst run)",
                None if buffered is None else buffered / MIB,
                "<=",
                1.0,
                " MiB",
                why_w,
            )
            for case, label in (("stream", "100 MiB stream"), ("upload", "100 MiB upload")):
                self.target(
                    f"AsgiToWsgi {label}: peak dRSS <= 5 MiB (worst run)",
                    r.worst(f"a2w-{case}", "ours", "rss_mib"),
                    "<=",
                    5.0,
                    " MiB",
                    why_a,
                )
        out.append("### Targets\n")
        out.append(table(["target", "measured", "met"], self._target_rows))
        return "\n".join(out)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "--quick", action="store_true", help="1 run, short durations (smoke test, ~1-2 min)"
    )
    p.add_argument(
        "--only",
        default="inprocess,served,memory",
        help="comma-separated subset of: inprocess, served, memory",
    )
    p.add_argument(
        "--runs", type=int, default=None, help="repetitions of in-process/memory runs (5)"
    )
    p.add_argument("--served-runs", type=int, default=None, help="wrk runs per app and config (3)")
    p.add_argument("--json", metavar="FILE", help="also write the raw numbers to FILE")
    p.add_argument(
        "--cpus",
        default=None,
        help="taskset CPU list for in-process/memory workers (default: unpinned)",
    )
    p.add_argument("--server-cpu", default="0", help="CPU for uvicorn (default 0)")
    p.add_argument("--client-cpu", default="1", help="CPU for the load generator (default 1)")
    p.add_argument(
        "--reset-contextvars",
        action="store_true",
        help="pass --reset-contextvars to uvicorn (default: uvicorn's defaults, without it)",
    )
    p.add_argument(
        "--builtin-loadgen",
        action="store_true",
        help="use the built-in asyncio load generator even if wrk is installed",
    )
    p.add_argument(
        "--no-pin", action="store_true", help="do not pin uvicorn and the load generator"
    )
    p.add_argument(
        "--impls",
        default=None,
        help="comma-separated subset of implementations (native is always kept)",
    )
    p.add_argument("--_worker", help=argparse.SUPPRESS)
    opts = p.parse_args(argv)
    parts = {x.strip() for x in opts.only.split(",") if x.strip()}
    bad = parts - {"inprocess", "served", "memory"}
    if bad or not parts:
        p.error(f"--only takes inprocess, served, memory (got {opts.only!r})")
    opts.parts = parts
    opts.runs = opts.runs or (1 if opts.quick else 5)
    opts.served_runs = opts.served_runs or (1 if opts.quick else 3)
    if opts.runs < 1 or opts.served_runs < 1:
        p.error("--runs and --served-runs must be >= 1")
    opts.get_seconds = 0.4 if opts.quick else 1.0
    opts.warmup_seconds = 0.1 if opts.quick else 0.2
    opts.served_seconds = 3 if opts.quick else 10
    opts.connections = 64
    opts.wrk_threads = 2
    opts.mem_timeout = 60.0 if opts.quick else 120.0
    opts.wrk = None if opts.builtin_loadgen else shutil.which("wrk")
    if opts.no_pin or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        opts.server_cpu = opts.client_cpu = None
    return opts


def _busy_warning() -> str | None:
    """A warning when the host is busy: then every figure here is unreliable."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    if load < 0.8:
        return None
    return (
        f"WARNING: host load average {load:.1f} (1 min) on {os.cpu_count()} CPUs: other processes "
        "compete for the CPUs, figures swing 2x and are not quotable. Under contention the "
        "kernel shares a CPU per thread, so threaded adapters can even beat the native ceiling "
        "(xC > 1); re-run on a quiet machine."
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts._worker is not None:
        return _worker_entry(opts._worker)

    atexit.register(_kill_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    t0 = time.monotonic()

    versions = {}
    for mod in ("a2wsgi", "asgiref", "uvicorn", "h11", "httptools", "uvloop"):
        try:
            from importlib.metadata import version

            versions[mod] = version(mod)
        except Exception:
            versions[mod] = "missing"
    log(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
    )
    if "served" in opts.parts:
        if opts.wrk:
            log(f"load generator: {opts.wrk}")
        else:
            log(
                "no wrk (apt-get install -y wrk): using the built-in asyncio load generator, "
                "whose own cost caps the figures; do not compare them with wrk runs"
            )
        if opts.server_cpu is None:
            log(
                "WARNING: uvicorn and the load generator are NOT pinned (taskset missing, <2 CPUs "
                "or --no-pin): expect 2x swings"
            )

    busy = _busy_warning()
    if busy:
        log(busy)
    probe = run_worker({"kind": "probe"}, timeout=90, cpus=opts.cpus)
    if "error" in probe:
        log(f"probe worker failed: {probe['error']}")
        return 1
    skipped = {k: v for k, v in probe.items() if v is not None}
    for key, why in skipped.items():
        log(f"SKIP {key}: {why}")
    wanted = None if opts.impls is None else {x.strip() for x in opts.impls.split(",")} | {"native"}
    w2a = [
        i for i in apps.W2A_IMPLS if f"w2a:{i}" not in skipped and (wanted is None or i in wanted)
    ]
    a2w = [
        i for i in apps.A2W_IMPLS if f"a2w:{i}" not in skipped and (wanted is None or i in wanted)
    ]

    res = Results()
    try:
        if "inprocess" in opts.parts:
            log("== in-process tiny GET")
            measure_inprocess(opts, res, w2a, a2w)
        if "memory" in opts.parts:
            log("== bodies and memory (fresh process per figure)")
            measure_memory(opts, res, w2a, a2w)
        if "served" in opts.parts:
            log("== served by uvicorn")
            measure_served(opts, res, w2a)
    finally:
        _kill_all()

    report = Report(res, opts, skipped)
    busy = busy or _busy_warning()
    if busy:
        print(busy + "\n")
    print(report.render(w2a, a2w, opts.parts))
    elapsed = time.monotonic() - t0
    print(
        f"\n(total {elapsed:.0f} s; python {platform.python_version()}; "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + ")"
    )
    if opts.json:
        payload = {
            "meta": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "versions": versions,
                "runs": opts.runs,
                "served_runs": opts.served_runs,
                "quick": opts.quick,
                "load_generator": opts.wrk or "builtin",
                "server_cpu": opts.server_cpu,
                "client_cpu": opts.client_cpu,
                "inprocess_cpus": opts.cpus,
                "seconds": elapsed,
            },
            "skipped": skipped,
            "runs": res.data,
            "served_raw": res.extra,
            "errors": res.errors,
            "targets": report.targets,
        }
        Path(opts.json).write_text(json.dumps(payload, indent=2, default=str))
        log(f"raw numbers written to {opts.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
