"""Real servers on 127.0.0.1 for tests: each runs in a background thread and yields its base URL.

    with serve_asgi(app, "uvicorn") as url:
        httpx.get(url + "/hello")

ASGI: ``uvicorn`` (h11 + asyncio, uvicorn's default settings otherwise), ``uvicorn-httptools``,
``hypercorn``. WSGI: ``wsgiref`` (threaded) and ``waitress``. Every server binds port 0 (or
a socket we bound) so tests never race for ports, and is shut down when the block ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx

ASGI_SERVERS = ("uvicorn", "hypercorn")
WSGI_SERVERS = ("wsgiref", "waitress")


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _wait_until(predicate: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout} s")
        time.sleep(0.01)


@contextlib.contextmanager
def _serve_uvicorn(app: Any, http: str, **config: Any) -> Iterator[str]:
    import uvicorn

    sock = _bound_socket()
    port = sock.getsockname()[1]
    cfg = uvicorn.Config(app, http=http, log_level="warning", lifespan="auto", **config)
    server = uvicorn.Server(cfg)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_until(lambda: server.started or not thread.is_alive(), "uvicorn")
        if not server.started:
            raise RuntimeError("uvicorn failed to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextlib.contextmanager
def _serve_hypercorn(app: Any, **config: Any) -> Iterator[str]:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock = _bound_socket()
    port = sock.getsockname()[1]
    cfg = Config()
    # hypercorn takes ownership of (and closes) the descriptor it is given: hand it a duplicate.
    cfg.bind = [f"fd://{os.dup(sock.fileno())}"]
    cfg.loglevel = "WARNING"
    cfg.graceful_timeout = 1.0
    for key, value in config.items():
        setattr(cfg, key, value)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    started = threading.Event()

    async def main() -> None:
        started.set()
        await serve(app, cfg, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        started.wait(10)
        _wait_until(lambda: _accepts(port) or not thread.is_alive(), "hypercorn")
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        sock.close()


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


@contextlib.contextmanager
def serve_asgi(app: Any, server: str = "uvicorn", **config: Any) -> Iterator[str]:
    """Serve an ASGI app; ``config`` goes to the server's own config object."""
    if server == "uvicorn":
        with _serve_uvicorn(app, "h11", **config) as url:
            yield url
    elif server == "uvicorn-httptools":
        with _serve_uvicorn(app, "httptools", **config) as url:
            yield url
    elif server == "hypercorn":
        with _serve_hypercorn(app, **config) as url:
            yield url
    else:
        raise ValueError(f"unknown ASGI server {server!r}")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


def get_together(app: Any, path: str) -> list[httpx.Response]:
    """``path`` of the ASGI ``app`` (served by uvicorn) requested twice at once, from two
    threads: the barrier tests, where both requests must be in the app together (one left
    on the event loop would hold it, and the barrier would break)."""
    with serve_asgi(app, "uvicorn") as url, concurrent.futures.ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda _: httpx.get(url + path, timeout=10), range(2)))


@contextlib.contextmanager
def _serve_wsgiref(app: Any) -> Iterator[str]:
    httpd = make_server(
        "127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    port = httpd.server_address[1]
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


@contextlib.contextmanager
def _serve_waitress(app: Any, **config: Any) -> Iterator[str]:
    from waitress.server import create_server

    config.setdefault("threads", 8)
    server = create_server(app, host="127.0.0.1", port=0, **config)
    port = server.effective_port  # type: ignore[union-attr]
    stop = threading.Event()

    def run() -> None:
        # waitress's own run() loops forever; loop in short steps so the socket is closed only
        # after the loop stopped using it (closing it under a running select() gives EBADF).
        while not stop.is_set():
            server.asyncore.loop(timeout=0.05, map=server._map, count=1)  # type: ignore[union-attr]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(10)
        server.close()
        server.task_dispatcher.shutdown()  # type: ignore[union-attr]


@contextlib.contextmanager
def serve_wsgi(app: Any, server: str = "wsgiref", **config: Any) -> Iterator[str]:
    """Serve a WSGI app with a real WSGI server."""
    if server == "wsgiref":
        with _serve_wsgiref(app) as url:
            yield url
    elif server == "waitress":
        with _serve_waitress(app, **config) as url:
            yield url
    else:
        raise ValueError(f"unknown WSGI server {server!r}")
