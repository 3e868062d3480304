"""WsgiToAsgi served by real ASGI servers on 127.0.0.1 (uvicorn h11 / httptools, hypercorn)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters import WsgiToAsgi
from tests.servers import serve_asgi

pytestmark = pytest.mark.timeout(30)

SERVERS = ["uvicorn", "uvicorn-httptools", "hypercorn"]


class State:
    def __init__(self) -> None:
        self.closed = threading.Event()
        self.close_calls = 0
        self.chunks = 0


STATE = State()


class Endless:
    """An endless streamed response that records close()."""

    def __iter__(self) -> Iterator[bytes]:
        while True:
            STATE.chunks += 1
            time.sleep(0.001)
            yield b"x" * 4096

    def close(self) -> None:
        STATE.close_calls += 1
        STATE.closed.set()


def app(environ: dict[str, Any], start_response: Any) -> Any:
    path = environ["PATH_INFO"]
    if path == "/hello":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
        return [b"Hello, world!"]
    if path == "/echo":
        data = environ["wsgi.input"].read()
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("X-Content-Length", environ.get("CONTENT_LENGTH", "-")),
            ],
        )
        return [data]
    if path == "/environ":
        keys = [
            "SCRIPT_NAME",
            "PATH_INFO",
            "QUERY_STRING",
            "SERVER_PORT",
            "REMOTE_ADDR",
            "SERVER_PROTOCOL",
            "HTTP_COOKIE",
            "HTTP_X_FORWARDED_FOR",
            "REQUEST_URI",
        ]
        body = "\n".join(f"{k}={environ.get(k)}" for k in keys).encode("latin-1")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    if path == "/stream":

        def gen() -> Iterator[bytes]:
            for i in range(100):
                yield b"%d\n" % i

        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/endless":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Endless()
    if path == "/cookies":
        start_response("200 OK", [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Name", "café")])
        return [b"ok"]
    if path == "/error":
        raise RuntimeError("app failure (expected by the test)")
    if path == "/empty":
        start_response("204 No Content", [])
        return []
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


@pytest.fixture(scope="module", params=SERVERS)
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    with serve_asgi(WsgiToAsgi(app, max_body_size=8 * 1024 * 1024), request.param) as base:
        yield base


def test_hello(url: str) -> None:
    r = httpx.get(url + "/hello", timeout=5)
    assert r.status_code == 200 and r.text == "Hello, world!"
    assert r.headers["content-length"] == "13"


def test_echo_large_body(url: str) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    r = httpx.post(url + "/echo", content=data, timeout=10)
    assert r.status_code == 200 and r.content == data
    assert r.headers["x-content-length"] == str(len(data))


def test_chunked_body_without_content_length(url: str) -> None:
    def body() -> Iterator[bytes]:
        yield b"hello "
        yield b"chunked "
        yield b"world"

    r = httpx.post(url + "/echo", content=body(), timeout=5)
    assert r.status_code == 200 and r.content == b"hello chunked world"
    assert r.headers["x-content-length"] == "-"


def test_max_body_size_413(url: str) -> None:
    r = httpx.post(url + "/echo", content=b"x" * (9 * 1024 * 1024), timeout=10)
    assert r.status_code == 413


def test_environ_through_server(url: str) -> None:
    headers = [("Cookie", "a=1"), ("Cookie", "b=2"), ("X_Forwarded_For", "6.6.6.6")]
    r = httpx.get(url + "/environ?x=%2F", headers=headers, timeout=5)
    env = dict(line.split("=", 1) for line in r.text.splitlines())
    assert env["PATH_INFO"] == "/environ" and env["QUERY_STRING"] == "x=%2F"
    assert env["SERVER_PORT"] == url.rsplit(":", 1)[1]
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["HTTP_X_FORWARDED_FOR"] == "None"  # the underscore spoof was dropped
    assert env["HTTP_COOKIE"] in ("a=1; b=2", "a=1, b=2")  # httpx may merge them itself


def test_streamed_response(url: str) -> None:
    with httpx.stream("GET", url + "/stream", timeout=5) as r:
        body = b"".join(r.iter_bytes())
    assert body == b"".join(b"%d\n" % i for i in range(100))


def test_headers_cookies_and_latin1(url: str) -> None:
    r = httpx.get(url + "/cookies", timeout=5)
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert (b"x-name", b"caf\xe9") in [(k.lower(), v) for k, v in r.headers.raw]


def test_head(url: str) -> None:
    r = httpx.head(url + "/hello", timeout=5)
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "13"


def test_error_gives_500(url: str) -> None:
    r = httpx.get(url + "/error", timeout=5)
    assert r.status_code == 500


def test_empty_204(url: str) -> None:
    r = httpx.get(url + "/empty", timeout=5)
    assert r.status_code == 204 and r.content == b""


def test_keep_alive_many_requests(url: str) -> None:
    with httpx.Client(timeout=5) as client:
        for _ in range(50):
            assert client.get(url + "/hello").text == "Hello, world!"


def test_client_disconnect_stops_endless_stream(url: str) -> None:
    STATE.closed.clear()
    STATE.close_calls = 0
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536)
        time.sleep(0.05)
    assert STATE.closed.wait(5), "close() was not called after the client went away"
    chunks = STATE.chunks
    time.sleep(0.1)
    assert STATE.chunks == chunks and STATE.close_calls == 1


def test_uvicorn_lifespan_on() -> None:
    """uvicorn's strict lifespan mode (``--lifespan on``) accepts the handshake."""
    from uvicorn.config import Config
    from uvicorn.lifespan.on import LifespanOn

    config = Config(WsgiToAsgi(app), lifespan="on")
    config.load()
    lifespan = LifespanOn(config)

    async def main() -> None:
        await asyncio.wait_for(lifespan.startup(), 5)
        assert not lifespan.startup_failed and not lifespan.should_exit
        await asyncio.wait_for(lifespan.shutdown(), 5)
        assert not lifespan.shutdown_failed

    asyncio.run(main())


def test_websocket_rejected_with_403() -> None:
    with serve_asgi(WsgiToAsgi(app), "uvicorn") as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(
                b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 403"), reply


def test_uvicorn_default_config_under_concurrency() -> None:
    """asgiref's adapter breaks here ("CurrentThreadExecutor already quit or is broken")."""
    with serve_asgi(WsgiToAsgi(app), "uvicorn-httptools") as base:
        errors: list[BaseException] = []
        statuses: list[int] = []

        def client() -> None:
            try:
                with httpx.Client(timeout=10) as c:
                    for _ in range(25):
                        statuses.append(c.get(base + "/hello").status_code)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert not errors and statuses == [200] * 200


def _echo_path_info(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [
        environ["SCRIPT_NAME"].encode("latin-1") + b"|" + environ["PATH_INFO"].encode("latin-1")
    ]


@pytest.mark.parametrize("server", ["uvicorn", "uvicorn-httptools", "hypercorn"])
def test_path_info_keeps_escapes_that_are_not_utf8_as_a_wsgi_server_does(server: str) -> None:
    """PEP 3333: PATH_INFO holds the request path's bytes as latin-1. `%E9` is not UTF-8, so the
    server's decoded `path` has lost it; the adapter takes it from `raw_path`, like wsgiref."""
    from tests.servers import serve_wsgi

    with serve_wsgi(_echo_path_info) as url:
        expected = httpx.get(url + "/caf%E9/x%2Fy/%C3%A9", timeout=10).content
    with serve_asgi(WsgiToAsgi(_echo_path_info), server) as url:
        got = httpx.get(url + "/caf%E9/x%2Fy/%C3%A9", timeout=10).content
    assert expected == b"|/caf\xe9/x/y/\xc3\xa9"
    assert got == expected


def test_a_rewritten_path_wins_over_a_stale_raw_path() -> None:
    """A middleware that rewrites `path` but leaves `raw_path` behind: the rewrite counts."""
    from adapters import environ_from_scope

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/new/%zz",
        "raw_path": b"/old/caf%E9",
        "root_path": "/new",
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
    }
    environ = environ_from_scope(scope, None)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/new", "/%zz")
    scope["root_path"] = "/ne"  # not a segment boundary: nothing is stripped
    assert environ_from_scope(scope, None)["PATH_INFO"] == "/new/%zz"
