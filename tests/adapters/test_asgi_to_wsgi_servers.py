"""AsgiToWsgi behind real WSGI servers (waitress, wsgiref), werkzeug's test client, Starlette."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit
from wsgiref.validate import validator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from werkzeug.test import Client

from adapters import AsgiToWsgi
from tests.servers import WSGI_SERVERS, serve_wsgi

pytestmark = pytest.mark.timeout(30)
TIMEOUT = httpx.Timeout(10.0)


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Streams the request body back as it arrives; reports the path and method."""
    if scope["type"] != "http":
        return
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"x-path", scope["path"].encode()),
        (b"x-method", scope["method"].encode()),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    while True:
        message = await receive()
        body = message.get("body", b"")
        more = message.get("more_body", False)
        await send({"type": "http.response.body", "body": body, "more_body": more})
        if not more:
            break


@pytest.mark.parametrize("server", WSGI_SERVERS)
def test_real_server_get_post_and_validator(server: str) -> None:
    payload = os.urandom(1_500_000)
    with (
        serve_wsgi(validator(AsgiToWsgi(echo)), server) as url,
        httpx.Client(timeout=TIMEOUT) as client,
    ):
        response = client.get(url + "/caf%C3%A9")
        assert response.status_code == 200
        raw = {name.lower(): value for name, value in response.headers.raw}
        assert raw[b"x-path"] == "/café".encode()
        assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
        response = client.post(url + "/up", content=payload)
        assert response.status_code == 200 and response.content == payload
        response = client.head(url + "/h")
        assert response.status_code == 200 and response.headers["x-method"] == "HEAD"


def test_waitress_chunked_upload_without_content_length() -> None:
    parts = [os.urandom(100_000) for _ in range(5)]
    with serve_wsgi(AsgiToWsgi(echo), "waitress") as url, httpx.Client(timeout=TIMEOUT) as client:
        response = client.post(url + "/chunked", content=iter(parts))
        assert response.status_code == 200
        assert response.content == b"".join(parts)


@pytest.mark.parametrize("server", WSGI_SERVERS)
def test_app_error_is_500_through_server(server: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raise RuntimeError("kaboom")

    with serve_wsgi(AsgiToWsgi(app), server) as url:
        response = httpx.get(url + "/", timeout=TIMEOUT)
    assert response.status_code == 500
    assert response.text == "Internal Server Error"


@pytest.mark.parametrize("server", WSGI_SERVERS)
def test_client_disconnect_mid_stream_reaches_the_app(server: str) -> None:
    finished = threading.Event()
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            listener = asyncio.ensure_future(receive())
            with contextlib.suppress(OSError):
                while not listener.done():
                    await send(
                        {"type": "http.response.body", "body": b"x" * 16384, "more_body": True}
                    )
                    await asyncio.sleep(0.005)
            seen.append((await listener)["type"])
        finally:
            finished.set()

    with serve_wsgi(AsgiToWsgi(app, disconnect_grace=2.0), server) as url:
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.")
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        assert finished.wait(10), "the app never finished after the client went away"
    assert seen == ["http.disconnect"]


# ---- werkzeug's test client ------------------------------------------------------------


def test_werkzeug_test_client() -> None:
    client = Client(AsgiToWsgi(echo))
    response = client.post("/x", data=b"hello werkzeug")
    assert response.status_code == 200
    assert response.get_data() == b"hello werkzeug"
    assert response.headers.getlist("Set-Cookie") == ["a=1", "b=2"]


def test_werkzeug_test_client_streaming_and_error() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/fail":
            raise LookupError("from the app")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(3):
            await send({"type": "http.response.body", "body": b"%d" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    client = Client(AsgiToWsgi(app))
    assert client.get("/").get_data() == b"012"
    # werkzeug re-raises the exc_info given to start_response: the app's error surfaces in tests
    with pytest.raises(LookupError, match="from the app"):
        client.get("/fail")


# ---- Starlette -------------------------------------------------------------------------


def starlette_app(events: list[str]) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"greeting": "hello from lifespan"}
        events.append("shutdown")

    async def home(request: Request) -> Response:
        return PlainTextResponse(request.state.greeting)

    async def stream(request: Request) -> Response:
        async def numbers() -> AsyncIterator[bytes]:
            for i in range(5):
                yield b"%d\n" % i
                await asyncio.sleep(0)

        return StreamingResponse(numbers(), media_type="text/plain")

    async def upload(request: Request) -> Response:
        body = await request.body()
        return JSONResponse({"size": len(body), "sha": hashlib.sha256(body).hexdigest()})

    class Tag(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: Any) -> Response:
            response: Response = await call_next(request)
            response.headers["x-tag"] = "middleware"
            return response

    return Starlette(
        routes=[
            Route("/", home),
            Route("/stream", stream),
            Route("/upload", upload, methods=["POST"]),
        ],
        middleware=[Middleware(Tag)],
        lifespan=lifespan,
    )


def check_starlette(get: Any, post: Any) -> None:
    status, headers, body = get("/")
    assert (status, body) == (200, b"hello from lifespan")
    assert headers["x-tag"] == "middleware"
    status, headers, body = get("/stream")
    assert (status, body) == (200, b"0\n1\n2\n3\n4\n")
    assert headers["x-tag"] == "middleware"
    payload = os.urandom(300_000)
    status, headers, body = post("/upload", payload)
    assert status == 200
    assert body == (
        b'{"size":300000,"sha":"' + hashlib.sha256(payload).hexdigest().encode() + b'"}'
    )


@pytest.mark.parametrize("server", WSGI_SERVERS)
def test_starlette_through_real_server(server: str) -> None:
    events: list[str] = []
    wsgi = AsgiToWsgi(starlette_app(events))
    with serve_wsgi(wsgi, server) as url, httpx.Client(base_url=url, timeout=TIMEOUT) as client:

        def get(path: str) -> tuple[int, Any, bytes]:
            r = client.get(path)
            return r.status_code, r.headers, r.content

        def post(path: str, data: bytes) -> tuple[int, Any, bytes]:
            r = client.post(path, content=data)
            return r.status_code, r.headers, r.content

        check_starlette(get, post)
        check_starlette(get, post)
    wsgi.close()
    assert events == ["startup", "shutdown"]


def test_starlette_through_werkzeug_client() -> None:
    events: list[str] = []
    wsgi = AsgiToWsgi(starlette_app(events))
    client = Client(wsgi)

    def get(path: str) -> tuple[int, Any, bytes]:
        r = client.get(path)
        return r.status_code, r.headers, r.get_data()

    def post(path: str, data: bytes) -> tuple[int, Any, bytes]:
        r = client.post(path, data=data, content_type="application/octet-stream")
        return r.status_code, r.headers, r.get_data()

    check_starlette(get, post)
    wsgi.close()
    assert events == ["startup", "shutdown"]


def test_starlette_streaming_disconnect_through_waitress() -> None:
    finished = threading.Event()

    async def endless(request: Request) -> Response:
        async def ticks() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"tick\n" * 1000
                    await asyncio.sleep(0.005)
            finally:
                finished.set()

        return StreamingResponse(ticks(), media_type="text/plain")

    app = Starlette(routes=[Route("/", endless)])
    with serve_wsgi(AsgiToWsgi(app, disconnect_grace=2.0), "waitress") as url:
        with httpx.Client(timeout=TIMEOUT) as client, client.stream("GET", url + "/") as response:
            chunks: Iterator[bytes] = response.iter_bytes()
            assert next(chunks).startswith(b"tick")
        assert finished.wait(10), "StreamingResponse kept running after the client left"
