"""WsgiToAsgi conformance, driven in-process with a scripted receive() / send()."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters import ClientDisconnected, ThreadPool, WsgiToAsgi, environ_from_scope, scope_environ
from adapters.wsgi_to_asgi import READ_AHEAD

pytestmark = pytest.mark.timeout(20)


# --------------------------------------------------------------------------- the driver


@dataclass
class Result:
    messages: list[dict[str, Any]] = field(default_factory=list)
    received: int = 0  # body messages handed out by receive()

    @property
    def start(self) -> dict[str, Any]:
        starts = [m for m in self.messages if m["type"] == "http.response.start"]
        assert len(starts) == 1, self.messages
        return starts[0]

    @property
    def status(self) -> int:
        return int(self.start["status"])

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(bytes(k), bytes(v)) for k, v in self.start["headers"]]

    def header(self, name: bytes) -> bytes | None:
        return dict(self.headers).get(name)

    @property
    def body(self) -> bytes:
        return b"".join(
            m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"
        )

    @property
    def complete(self) -> bool:
        last = self.messages[-1] if self.messages else {}
        return last.get("type") == "http.response.body" and not last.get("more_body", False)


def make_scope(
    method: str = "GET",
    path: str = "/",
    *,
    root_path: str = "",
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8"),
        "root_path": root_path,
        "query_string": query,
        "headers": headers if headers is not None else [(b"host", b"example.com:8080")],
        "server": ("127.0.0.1", 8080),
        "client": ("10.0.0.1", 12345),
    }
    scope.update(extra)
    return scope


async def drive(
    app: Any,
    scope: dict[str, Any] | None = None,
    body: list[bytes] | None = None,
    *,
    disconnect_after_body: bool = False,
    disconnect_after_chunks: int | None = None,
    send_raises_after: int | None = None,
    send_exc: BaseException | None = None,
    send_delay: float = 0.0,
    on_send: Any = None,
    timeout: float = 10.0,
) -> Result:
    """Run one ASGI request; the client disconnects when told to, else after the response."""
    result = Result()
    chunks = list(body if body is not None else [b""])
    done = asyncio.Event()
    sent_bodies = 0

    async def receive() -> dict[str, Any]:
        if chunks:
            chunk = chunks.pop(0)
            result.received += 1
            more = bool(chunks) or disconnect_after_body  # a disconnect cuts the body short
            return {"type": "http.request", "body": chunk, "more_body": more}
        if not disconnect_after_body:
            await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal sent_bodies
        if send_raises_after is not None and len(result.messages) >= send_raises_after:
            raise send_exc or OSError("client gone")
        if send_delay:
            await asyncio.sleep(send_delay)
        result.messages.append(message)
        if on_send is not None:
            on_send(message)
        if message["type"] == "http.response.body":
            sent_bodies += 1
            if not message.get("more_body", False):
                done.set()
            if disconnect_after_chunks is not None and sent_bodies >= disconnect_after_chunks:
                done.set()

    await asyncio.wait_for(app(scope or make_scope(), receive, send), timeout)
    return result


def run(app: Any, *args: Any, **kwargs: Any) -> Result:
    return asyncio.run(drive(app, *args, **kwargs))


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, world!"]


class Tracked:
    """A response iterable that counts next() and close() calls."""

    def __init__(self, chunks: Iterator[bytes] | list[bytes], fail_at: int | None = None) -> None:
        self.chunks = iter(chunks)
        self.nexts = 0
        self.closed = 0
        self.fail_at = fail_at
        self.closed_event = threading.Event()

    def __iter__(self) -> Tracked:
        return self

    def __next__(self) -> bytes:
        self.nexts += 1
        if self.fail_at is not None and self.nexts == self.fail_at:
            raise RuntimeError("boom in iteration")
        return next(self.chunks)

    def close(self) -> None:
        self.closed += 1
        self.closed_event.set()


def tracked_app(tracked: Tracked, headers: list[tuple[str, str]] | None = None) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Tracked:
        start_response("200 OK", headers or [("Content-Type", "text/plain")])
        return tracked

    return app


def endless() -> Iterator[bytes]:
    while True:
        yield b"x" * 1024


def capture_environ(**options: Any) -> tuple[Any, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(dict(environ))
        start_response("200 OK", [])
        return [b"ok"]

    return WsgiToAsgi(app, **options), seen


# --------------------------------------------------------------------------- environ


def environ_for(scope: dict[str, Any], **options: Any) -> dict[str, Any]:
    app, seen = capture_environ(**options)
    assert run(app, scope).status == 200
    return seen[0]


@pytest.mark.parametrize(
    ("root_path", "path", "script_name", "path_info"),
    [
        ("", "/a/b", "", "/a/b"),
        ("/mnt", "/mnt/a", "/mnt", "/a"),
        ("/mnt", "/mnt", "/mnt", ""),
        ("/mnt", "/mntx/y", "/mnt", "/mntx/y"),  # not a segment boundary: not stripped
        ("/mnt/", "/mnt/a", "/mnt", "/a"),
        ("/mnt", "/a", "/mnt", "/a"),  # old-style servers: path without root_path
    ],
)
def test_script_name_and_path_info(
    root_path: str, path: str, script_name: str, path_info: str
) -> None:
    env = environ_for(make_scope(path=path, root_path=root_path))
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == (script_name, path_info)


def test_non_ascii_path_is_latin1_of_utf8() -> None:
    env = environ_for(make_scope(path="/café/ü", root_path="/ß"))
    assert env["PATH_INFO"] == "/café/ü".encode().decode("latin-1")
    assert env["SCRIPT_NAME"] == "/ß".encode().decode("latin-1")
    assert env["PATH_INFO"].encode("latin-1").decode("utf-8") == "/café/ü"


def test_core_environ_keys() -> None:
    scope = make_scope(
        "POST",
        "/a%2Fb",
        query=b"x=1&y=%20",
        headers=[
            (b"host", b"example.com:8080"),
            (b"content-type", b"application/json"),
            (b"content-length", b"2"),
            (b"x-multi", b"a"),
            (b"x-multi", b"b"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"accept-encoding", b"caf\xe9"),
        ],
        http_version="2",
        scheme="https",
    )
    scope["path"] = "/a/b"  # the decoded path; raw_path keeps %2F
    app, seen = capture_environ()
    assert run(app, scope, [b"{}"]).status == 200
    env = seen[0]
    assert env["REQUEST_METHOD"] == "POST"
    assert env["PATH_INFO"] == "/a/b"
    assert env["REQUEST_URI"] == env["RAW_URI"] == "/a%2Fb?x=1&y=%20"
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["CONTENT_TYPE"] == "application/json"
    assert env["CONTENT_LENGTH"] == "2"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["HTTP_X_MULTI"] == "a,b"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_ACCEPT_ENCODING"] == "café"
    assert env["HTTP_HOST"] == "example.com:8080"
    assert env["SERVER_NAME"] == "127.0.0.1" and env["SERVER_PORT"] == "8080"
    assert env["REMOTE_ADDR"] == "10.0.0.1" and env["REMOTE_PORT"] == "12345"
    assert env["SERVER_PROTOCOL"] == "HTTP/2"
    assert env["wsgi.url_scheme"] == "https"
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.errors"] is sys.stderr
    assert env["wsgi.multithread"] is True and env["wsgi.run_once"] is False
    assert env["wsgi.multiprocess"] is True  # workers the app cannot see
    assert env["wsgi.input_terminated"] is True
    assert callable(env["wsgi.file_wrapper"])
    assert env["asgi.scope"] is scope
    assert all(isinstance(v, str) for k, v in env.items() if k.isupper())


def test_one_process_serving_says_so() -> None:
    # pyramid_debugtoolbar turns itself off on a multiprocess server
    assert environ_for(make_scope(), multiprocess=False)["wsgi.multiprocess"] is False


def test_server_none_unix_socket_and_client_none() -> None:
    env = environ_for(make_scope(server=None, client=None, headers=[(b"host", b"h.test:81")]))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("h.test", "81")
    assert "REMOTE_ADDR" not in env and "REMOTE_PORT" not in env
    env = environ_for(make_scope(server=("/tmp/s.sock", None), headers=[(b"host", b"h.test")]))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("h.test", "80")
    env = environ_for(make_scope(server=None, headers=[], scheme="https"))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("localhost", "443")
    env = environ_for(make_scope(server=None, headers=[(b"host", b"[::1]:9000")]))
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("[::1]", "9000")


def test_underscore_headers_dropped_unless_kept() -> None:
    headers = [(b"host", b"h"), (b"x-forwarded-for", b"1.1.1.1"), (b"x_forwarded_for", b"6.6.6.6")]
    env = environ_for(make_scope(headers=headers))
    assert env["HTTP_X_FORWARDED_FOR"] == "1.1.1.1"
    env = environ_for(make_scope(headers=headers), keep_underscore_headers=True)
    assert env["HTTP_X_FORWARDED_FOR"] == "1.1.1.1,6.6.6.6"


def test_environ_from_scope_is_public() -> None:
    env = environ_from_scope(make_scope(path="/p"), None)
    assert env["PATH_INFO"] == "/p" and env["wsgi.input"] is None
    assert env["SERVER_PORT"] == "8080"


# --------------------------------------------------------------------------- request body


def echo_app(reader: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        if reader == "read":
            data = stream.read()
        elif reader == "read-n":
            parts = []
            while part := stream.read(3):
                assert len(part) <= 3
                parts.append(part)
            data = b"".join(parts)
        elif reader == "readline":
            parts = []
            while part := stream.readline(4):
                assert len(part) <= 4
                parts.append(part)
            data = b"".join(parts)
        elif reader == "readlines":
            data = b"".join(stream.readlines())
        else:
            data = b"".join(stream)
        start_response("200 OK", [])
        return [data]

    return app


BODY = b"line one\nline two is longer\n\nlast line without newline"


@pytest.mark.parametrize("reader", ["read", "read-n", "readline", "readlines", "iter"])
@pytest.mark.parametrize("split", [1, 5, 100])
def test_body_readers(reader: str, split: int) -> None:
    chunks = [BODY[i : i + split] for i in range(0, len(BODY), split)]
    headers = [(b"content-length", str(len(BODY)).encode())]
    result = run(WsgiToAsgi(echo_app(reader)), make_scope("POST", headers=headers), chunks)
    assert result.body == BODY


def test_readline_returns_whole_lines_across_chunks() -> None:
    lines: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        lines.extend([stream.readline(), stream.readline(3), stream.readline(), stream.read(2)])
        start_response("200 OK", [])
        return []

    run(WsgiToAsgi(app), make_scope("POST"), [b"li", b"ne1\nli", b"ne2\n", b"xyz"])
    assert lines == [b"line1\n", b"lin", b"e2\n", b"xy"]


def test_body_without_content_length_reaches_the_app() -> None:
    result = run(WsgiToAsgi(echo_app("read")), make_scope("POST"), [b"hello ", b"chunked"])
    assert result.body == b"hello chunked"


def test_body_never_read_past_content_length() -> None:
    headers = [(b"content-length", b"4")]
    for chunks in ([b"abcdef"], [b"ab", b"cdef", b"gh"]):
        result = run(WsgiToAsgi(echo_app("read")), make_scope("POST", headers=headers), chunks)
        assert result.body == b"abcd"


def test_disconnect_mid_body_raises() -> None:
    seen: list[BaseException] = []
    finished = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        except ClientDisconnected as exc:
            seen.append(exc)
            raise
        finally:
            finished.set()
        start_response("200 OK", [])
        return [b"unreachable"]

    headers = [(b"content-length", b"30")]
    result = run(
        WsgiToAsgi(app),
        make_scope("POST", headers=headers),
        [b"x" * 10],
        disconnect_after_body=True,
    )
    assert finished.wait(5)
    assert len(seen) == 1 and isinstance(seen[0], OSError)
    assert not any(m["type"] == "http.response.start" for m in result.messages)


def test_max_body_size_by_content_length() -> None:
    called = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        called.append(1)
        start_response("200 OK", [])
        return [b""]

    headers = [(b"content-length", b"1000")]
    result = run(
        WsgiToAsgi(app, max_body_size=100), make_scope("POST", headers=headers), [b"x" * 1000]
    )
    assert result.status == 413 and not called
    result = run(
        WsgiToAsgi(app, max_body_size=1000), make_scope("POST", headers=headers), [b"x" * 1000]
    )
    assert result.status == 200 and called


def test_max_body_size_while_streaming() -> None:
    errors: list[BaseException] = []
    finished = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        except OSError as exc:
            errors.append(exc)
            raise
        finally:
            finished.set()
        start_response("200 OK", [])
        return [b"read it all"]

    result = run(WsgiToAsgi(app, max_body_size=100), make_scope("POST"), [b"x" * 60] * 3)
    assert result.status == 413
    assert finished.wait(5)
    assert len(errors) == 1
    result = run(WsgiToAsgi(app, max_body_size=1000), make_scope("POST"), [b"x" * 60] * 3)
    assert result.status == 200 and result.body == b"read it all"


def test_request_body_read_ahead_is_bounded() -> None:
    """A big upload read slowly: receive() is not drained ahead of the app."""
    chunk = b"x" * 65536
    n_chunks = 200  # 12.5 MiB
    received_when_first_read: list[int] = []
    result_holder: list[Result] = []
    total = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        first = stream.read(65536)
        time.sleep(0.2)  # the pump may run ahead meanwhile, but only so far
        received_when_first_read.append(result_holder[0].received)
        size = len(first)
        while part := stream.read(65536):
            size += len(part)
        total.append(size)
        start_response("200 OK", [])
        return [b"done"]

    async def main() -> Result:
        res = Result()
        result_holder.append(res)
        chunks = [chunk] * n_chunks

        async def receive() -> dict[str, Any]:
            if chunks:
                chunks.pop()
                res.received += 1
                return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
            await asyncio.sleep(5)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            res.messages.append(message)

        await asyncio.wait_for(WsgiToAsgi(app)(make_scope("POST"), receive, send), 10)
        return res

    res = asyncio.run(main())
    assert res.body == b"done" and total == [n_chunks * len(chunk)]
    assert received_when_first_read[0] <= READ_AHEAD // len(chunk) + 3


# --------------------------------------------------------------------------- response


def test_one_element_list_is_start_plus_final_body() -> None:
    result = run(WsgiToAsgi(hello))
    assert [m["type"] for m in result.messages] == ["http.response.start", "http.response.body"]
    assert result.status == 200 and result.body == b"Hello, world!"
    assert result.messages[1].get("more_body", False) is False
    assert result.header(b"content-type") == b"text/plain"


def test_empty_iterable_still_sends_start() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("204 No Content", [])
        return []

    result = run(WsgiToAsgi(app))
    assert result.status == 204 and result.body == b"" and result.complete


def test_headers_wait_for_first_non_empty_chunk() -> None:
    """An error after only empty chunks is still an error before the response started."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b""
        raise RuntimeError("late failure")

    result = Result()

    async def main() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            result.messages.append(message)

        await WsgiToAsgi(app)(make_scope(), receive, send)

    with pytest.raises(RuntimeError, match="late failure"):
        asyncio.run(main())
    assert result.messages == []


def test_generator_streams_and_closes_once() -> None:
    tracked = Tracked([b"a", b"", b"b", b"c"])
    result = run(WsgiToAsgi(tracked_app(tracked)))
    assert result.body == b"abc" and result.complete
    assert tracked.closed == 1


def test_content_length_clamps_and_stops_iterating() -> None:
    tracked = Tracked([b"abc", b"defgh", b"never", b"never"])
    result = run(WsgiToAsgi(tracked_app(tracked, [("Content-Length", "5")])))
    assert result.body == b"abcde" and result.complete
    assert tracked.nexts == 2 and tracked.closed == 1


def test_write_callable() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"one ")
        write(b"")
        write(b"two ")
        return [b"three"]

    result = run(WsgiToAsgi(app))
    assert result.body == b"one two three" and result.complete
    bodies = [m for m in result.messages if m["type"] == "http.response.body"]
    assert bodies[0]["body"] == b"one " and bodies[0]["more_body"] is True


def test_exc_info_before_headers_replaces_them() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("X-Old", "1")])
        try:
            raise ValueError("oops")
        except ValueError:
            start_response("500 Internal Server Error", [("X-New", "1")], sys.exc_info())
        return [b"error page"]

    result = run(WsgiToAsgi(app))
    assert result.status == 500 and result.body == b"error page"
    assert result.header(b"x-new") == b"1" and result.header(b"x-old") is None


def test_exc_info_after_headers_reraises() -> None:
    tracked = Tracked([])

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            yield b"partial"
            raise ValueError("mid-stream")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())
            yield b"must not be reached"
        finally:
            tracked.close()

    messages: list[dict[str, Any]] = []

    async def main() -> None:
        async def receive() -> dict[str, Any]:
            await asyncio.sleep(5)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        async def first_receive() -> dict[str, Any]:
            nonlocal receive_fn
            receive_fn = receive
            return {"type": "http.request", "body": b""}

        receive_fn: Any = first_receive
        await WsgiToAsgi(app)(make_scope(), lambda: receive_fn(), send)

    with pytest.raises(ValueError, match="mid-stream"):
        asyncio.run(main())
    assert messages[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in messages[1:]) == b"partial"
    assert tracked.closed == 1


def test_second_start_response_without_exc_info_is_an_error() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        start_response("201 Created", [])
        return [b""]

    with pytest.raises(AssertionError):
        run(WsgiToAsgi(app))


def test_head_skips_body_work() -> None:
    tracked = Tracked([b"a" * 10, b"b" * 10])
    result = run(WsgiToAsgi(tracked_app(tracked, [("Content-Length", "20")])), make_scope("HEAD"))
    assert result.status == 200 and result.body == b"" and result.complete
    assert result.header(b"content-length") == b"20"
    assert tracked.nexts == 0 and tracked.closed == 1

    def lazy(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("X-Lazy", "yes")])
        yield b"body"
        raise AssertionError("iterated past the headers")

    result = run(WsgiToAsgi(lazy), make_scope("HEAD"))
    assert result.header(b"x-lazy") == b"yes" and result.body == b""


def test_header_encoding_and_validation() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("X-Name", "café"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        return [b"ok"]

    result = run(WsgiToAsgi(app))
    assert result.header(b"x-name") == b"caf\xe9"
    assert [v for k, v in result.headers if k == b"set-cookie"] == [b"a=1", b"b=2"]

    for bad in [("X-Bad", "a\r\nX-Injected: 1"), ("X-Bad", "a\nb"), ("X-Bad\r\n", "v")]:

        def bad_app(environ: dict[str, Any], start_response: Any, bad: Any = bad) -> list[bytes]:
            start_response("200 OK", [bad])
            return [b"ok"]

        with pytest.raises(ValueError):
            run(WsgiToAsgi(bad_app))


def test_non_bytes_chunk_is_an_error() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[Any]:
        start_response("200 OK", [])
        return ["text"]

    with pytest.raises(TypeError):
        run(WsgiToAsgi(app))


# --------------------------------------------------------------------------- errors and close()


def test_exception_before_start_is_reraised_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise KeyError("no such thing")

    with caplog.at_level(logging.ERROR, logger="adapters"), pytest.raises(KeyError):
        run(WsgiToAsgi(app))
    assert any("Exception in WSGI application" in r.getMessage() for r in caplog.records)


def test_exception_during_iteration_closes_once() -> None:
    tracked = Tracked([b"a", b"b", b"c"], fail_at=3)
    messages: list[dict[str, Any]] = []

    async def main() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        await WsgiToAsgi(tracked_app(tracked))(make_scope(), receive, send)

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(main())
    assert messages[0]["type"] == "http.response.start"
    assert tracked.closed == 1


def test_client_disconnect_stops_endless_response() -> None:
    tracked = Tracked(endless())
    started = time.monotonic()
    result = run(WsgiToAsgi(tracked_app(tracked)), disconnect_after_chunks=5, timeout=5)
    assert not result.complete
    assert tracked.closed_event.wait(5)
    assert tracked.closed == 1 and time.monotonic() - started < 5
    produced = tracked.nexts
    time.sleep(0.05)
    assert tracked.nexts == produced  # nothing iterated after close


@pytest.mark.parametrize(
    "exc", [OSError("gone"), ClientDisconnected("gone"), RuntimeError("send broke")]
)
def test_send_raising_does_not_hang(exc: BaseException) -> None:
    tracked = Tracked(endless())
    started = time.monotonic()
    if isinstance(exc, OSError):
        run(WsgiToAsgi(tracked_app(tracked)), send_raises_after=3, send_exc=exc, timeout=5)
    else:
        with pytest.raises(RuntimeError, match="send broke"):
            run(WsgiToAsgi(tracked_app(tracked)), send_raises_after=3, send_exc=exc, timeout=5)
    assert tracked.closed_event.wait(5)
    assert tracked.closed == 1 and time.monotonic() - started < 5


def test_send_raising_on_single_message_response() -> None:
    tracked = Tracked([b"only"])
    run(WsgiToAsgi(tracked_app(tracked)), send_raises_after=0, timeout=5)
    assert tracked.closed == 1


def test_cancelled_request_releases_the_worker() -> None:
    tracked = Tracked(endless())

    async def main() -> None:
        async def receive() -> dict[str, Any]:
            await asyncio.sleep(10)
            return {"type": "http.disconnect"}

        first = True

        async def receive_first() -> dict[str, Any]:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": b""}
            return await receive()

        async def send(message: dict[str, Any]) -> None:
            await asyncio.sleep(0.001)

        task = asyncio.ensure_future(
            WsgiToAsgi(tracked_app(tracked))(make_scope(), receive_first, send)
        )
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert tracked.closed_event.wait(5) and tracked.closed == 1


def test_app_blocked_in_read_is_released_on_disconnect() -> None:
    """The worker waits for body data that never comes; the client leaves: no leak."""
    pool = ThreadPool(2)
    finished = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        finally:
            finished.set()
        start_response("200 OK", [])
        return [b""]

    async def main() -> None:
        sent_first = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_first
            if not sent_first:
                sent_first = True
                return {"type": "http.request", "body": b"x", "more_body": True}
            await asyncio.sleep(0.2)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            pass

        await asyncio.wait_for(
            WsgiToAsgi(app, thread_pool=pool)(make_scope("POST"), receive, send), 5
        )

    asyncio.run(main())
    assert finished.wait(5)


# --------------------------------------------------------------------------- backpressure and memory


def test_slow_client_bounded_buffering() -> None:
    chunk = 65536
    total_chunks = 64  # 4 MiB
    state = {"produced": 0, "sent": 0, "max": 0}

    def gen() -> Iterator[bytes]:
        for _ in range(total_chunks):
            state["produced"] += chunk
            state["max"] = max(state["max"], state["produced"] - state["sent"])
            yield b"x" * chunk

    def on_send(message: dict[str, Any]) -> None:
        state["sent"] += len(message.get("body", b""))

    tracked = Tracked(gen())
    result = run(WsgiToAsgi(tracked_app(tracked)), send_delay=0.0005, on_send=on_send, timeout=15)
    assert len(result.body) == chunk * total_chunks and result.complete
    assert state["max"] <= 1024 * 1024, state
    assert tracked.closed == 1


def test_streamed_100mib_response_has_bounded_rss() -> None:
    code = """
import asyncio, resource
from adapters import WsgiToAsgi
CHUNK = 65536
def app(environ, start_response):
    start_response("200 OK", [])
    for _ in range(1600):
        yield bytes(CHUNK)
async def main():
    got = 0
    async def receive():
        await asyncio.sleep(0)
        return {"type": "http.request", "body": b""}
    async def send(m):
        nonlocal got
        got += len(m.get("body", b""))
        await asyncio.sleep(0)
    asgi = WsgiToAsgi(app)
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    await asgi(dict(scope), receive, send)  # warm up threads and imports
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    got = 0
    await asgi(dict(scope), receive, send)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(got, (after - before) / 1024)
asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    got, growth = out.stdout.split()
    assert int(got) == 1600 * 65536
    assert float(growth) <= 5.0, out.stdout


# --------------------------------------------------------------------------- file_wrapper


def file_app(path: str, *, seek: int = 0, length: str | None = None) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        headers = [("Content-Type", "application/octet-stream")]
        if length is not None:
            headers.append(("Content-Length", length))
        start_response("200 OK", headers)
        f = open(path, "rb")  # noqa: SIM115 - closed by the adapter through the wrapper
        f.seek(seek)
        return environ["wsgi.file_wrapper"](f, 4096)

    return app


def test_file_wrapper_uses_pathsend_when_advertised(tmp_path: Any) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(10000))
    scope = make_scope(extensions={"http.response.pathsend": {}})
    result = run(WsgiToAsgi(file_app(str(path))), scope)
    assert result.messages[-1] == {"type": "http.response.pathsend", "path": str(path.resolve())}
    assert result.status == 200
    # with a matching Content-Length too
    result = run(WsgiToAsgi(file_app(str(path), length="10000")), scope)
    assert result.messages[-1]["type"] == "http.response.pathsend"


def test_file_wrapper_streams_otherwise(tmp_path: Any) -> None:
    data = os.urandom(10000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    assert run(WsgiToAsgi(file_app(str(path)))).body == data  # no extension
    scope = make_scope(extensions={"http.response.pathsend": {}})
    result = run(WsgiToAsgi(file_app(str(path), seek=100)), scope)  # not at position 0
    assert result.body == data[100:]
    result = run(WsgiToAsgi(file_app(str(path), length="50")), scope)  # clamped
    assert result.body == data[:50]
    result = run(
        WsgiToAsgi(file_app(str(path))), make_scope("HEAD", extensions=scope["extensions"])
    )
    assert result.body == b"" and not any(
        m["type"] == "http.response.pathsend" for m in result.messages
    )


# --------------------------------------------------------------------------- threads and context


def test_thread_pool_is_bounded_and_shared() -> None:
    pool = ThreadPool(max_workers=2)
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def slow(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        start_response("200 OK", [])
        return [b"ok"]

    app1, app2 = WsgiToAsgi(slow, thread_pool=pool), WsgiToAsgi(slow, thread_pool=pool)

    async def main() -> list[Result]:
        return await asyncio.gather(*[drive(a) for a in [app1, app2] * 3])

    results = asyncio.run(main())
    assert all(r.body == b"ok" for r in results)
    assert state["max"] == 2 and pool.size == 2


def test_thread_pool_runs_requests_in_parallel() -> None:
    barrier = threading.Barrier(8, timeout=5)  # breaks unless 8 requests run at once

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        barrier.wait()
        start_response("200 OK", [])
        return [b"ok"]

    async def main() -> list[Result]:
        asgi = WsgiToAsgi(app, max_workers=8)
        return await asyncio.gather(*[drive(asgi) for _ in range(8)])

    assert [r.body for r in asyncio.run(main())] == [b"ok"] * 8


def test_default_pool_is_shared_and_bounded() -> None:
    from adapters._threadpool import default_pool

    pool = default_pool()
    assert pool is default_pool() and pool.max_workers == 40
    assert WsgiToAsgi(hello)._pool is None  # resolved to the shared pool at call time
    assert run(WsgiToAsgi(hello)).body == b"Hello, world!"
    assert 1 <= pool.size <= 40


def test_contextvars_visible_in_wsgi_app() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(var.get())
        start_response("200 OK", [])
        return [b""]

    async def main() -> None:
        var.set("from the request task")
        await drive(WsgiToAsgi(app))

    asyncio.run(main())
    assert seen == ["from the request task"]


def test_thread_pool_run_helper() -> None:
    pool = ThreadPool(1)

    async def main() -> tuple[int, str]:
        value = await pool.run(lambda a, b: a + b, 2, 3)
        with pytest.raises(ZeroDivisionError):
            await pool.run(lambda: 1 / 0)
        return value, await pool.run(lambda: threading.current_thread().name)

    value, name = asyncio.run(main())
    assert value == 5 and name.startswith("wsgi2asgi")


# --------------------------------------------------------------------------- lifespan / websocket


def test_lifespan_handshake() -> None:
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def main() -> None:
        async def receive() -> dict[str, Any]:
            return incoming.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await asyncio.wait_for(WsgiToAsgi(hello)({"type": "lifespan"}, receive, send), 5)

    asyncio.run(main())
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_websocket_is_closed_before_accept() -> None:
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "websocket.connect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "websocket", "path": "/", "headers": [], "query_string": b""}
        await asyncio.wait_for(WsgiToAsgi(hello)(scope, receive, send), 5)

    asyncio.run(main())
    assert [m["type"] for m in sent] == ["websocket.close"]


def test_drop_in_for_asgiref_signature() -> None:
    app = WsgiToAsgi(hello)
    assert app.wsgi_app is hello
    result = run(app)
    assert result.body == b"Hello, world!"


# --------------------------------------------------------------------------- no leaks


def _pool_settles(pool: ThreadPool, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pool._idle == pool.size:  # every started worker is back waiting for a job
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("case", ["disconnect", "send-oserror", "send-error", "app-error", "ok"])
def test_no_thread_or_task_leak(case: str) -> None:
    pool = ThreadPool(4)
    tracked = Tracked(
        endless() if case != "ok" else iter([b"a", b"b"]),
        fail_at=3 if case == "app-error" else None,
    )
    app = WsgiToAsgi(tracked_app(tracked), thread_pool=pool)
    kwargs: dict[str, Any] = {}
    if case == "disconnect":
        kwargs["disconnect_after_chunks"] = 3
    elif case == "send-oserror":
        kwargs.update(send_raises_after=3)
    elif case == "send-error":
        kwargs.update(send_raises_after=3, send_exc=ValueError("x"))
    leftover: list[set[Any]] = []

    async def main() -> None:
        with contextlib.suppress(ValueError, RuntimeError):
            await drive(app, **kwargs)
        await asyncio.sleep(0.01)
        leftover.append(asyncio.all_tasks() - {asyncio.current_task()})

    asyncio.run(main())
    assert leftover == [set()]
    assert tracked.closed_event.wait(5) and tracked.closed == 1
    assert _pool_settles(pool)


def test_empty_body_messages_are_not_eof() -> None:
    result = run(WsgiToAsgi(echo_app("read")), make_scope("POST"), [b"", b"ab", b"", b"cd", b""])
    assert result.body == b"abcd"


def test_close_raising_is_called_once_and_reported() -> None:
    calls = []

    class Closing:
        def __iter__(self) -> Iterator[bytes]:
            yield b"data"

        def close(self) -> None:
            calls.append(1)
            raise OSError("close failed")

    def app(environ: dict[str, Any], start_response: Any) -> Closing:
        start_response("200 OK", [])
        return Closing()

    with pytest.raises(OSError, match="close failed"):
        run(WsgiToAsgi(app))
    assert calls == [1]


def test_buffer_chunked_body_sets_content_length() -> None:
    app, seen = capture_environ(buffer_chunked_body=True)
    assert run(app, make_scope("POST"), [b"ab", b"cd", b"e"]).status == 200
    assert seen[0]["CONTENT_LENGTH"] == "5" and seen[0]["wsgi.input"].read() == b"abcde"
    assert run(app, make_scope("POST"), [b"whole"]).status == 200  # in one message
    assert seen[1]["CONTENT_LENGTH"] == "5" and seen[1]["wsgi.input"].read() == b"whole"
    big = run(
        WsgiToAsgi(hello, buffer_chunked_body=True, max_body_size=3),
        make_scope("POST"),
        [b"ab", b"cd"],
    )
    assert big.status == 413
    gone = run(app, make_scope("POST"), [b"ab"], disconnect_after_body=True)
    assert gone.messages == [] and len(seen) == 2
    streamed = run(WsgiToAsgi(echo_app("read")), make_scope("POST"), [b"ab", b"cd"])
    assert streamed.body == b"abcd"  # default: streamed, no CONTENT_LENGTH needed


def test_tiny_get_is_one_hop_each_way_and_no_extra_task() -> None:
    """GET + one-element list: one submit into the pool, at most one wake-up back, no tasks."""
    pool = ThreadPool(1)
    submits: list[int] = []
    real_submit = pool.submit

    def counting_submit(*args: Any) -> None:
        submits.append(1)
        real_submit(*args)

    pool.submit = counting_submit  # type: ignore[method-assign]
    wakeups: list[Any] = []
    tasks_seen: list[list[str]] = []

    def coros() -> list[str]:
        return sorted(t.get_coro().__qualname__.split(".")[-1] for t in asyncio.all_tasks())  # type: ignore[union-attr]

    async def main() -> Result:
        loop = asyncio.get_running_loop()
        real = loop.call_soon_threadsafe

        def counting(*args: Any, **kwargs: Any) -> Any:
            wakeups.append(args[0])
            return real(*args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        return await drive(
            WsgiToAsgi(hello, thread_pool=pool),
            on_send=lambda m: tasks_seen.append(coros()),
        )

    result = asyncio.run(main())
    assert result.body == b"Hello, world!"
    assert submits == [1] and len(wakeups) <= 1
    # only the driver's tasks: no body pump, no disconnect watcher
    assert tasks_seen == [["__call__", "main"]] * 2


def test_the_adapter_hands_attributes_it_lacks_on_to_the_wrapped_app() -> None:
    """``app = WsgiToAsgi(app)`` at the end of a module: views that read ``app.config`` at
    request time keep working; the adapter's own names and dunders stay its own."""

    class Framework:
        def __init__(self) -> None:
            self.config = {"GREETING": "hi"}
            self.wsgi_app = "the framework's own wsgi_app"

        def route(self, path: str) -> str:
            return "route " + path

        def __call__(self, environ: dict[str, object], start_response: object) -> list[bytes]:
            return []

    wrapped = Framework()
    adapter = WsgiToAsgi(wrapped)
    assert adapter.config == {"GREETING": "hi"}
    assert adapter.route("/x") == "route /x"
    assert adapter.wsgi_app is wrapped  # the adapter's attribute, not the framework's
    with pytest.raises(AttributeError):
        adapter.no_such_attribute  # noqa: B018
    assert not hasattr(adapter, "__wrapped__")
    copy.copy(adapter)  # copy probes dunders: they are not looked up on the app


def test_scope_environ_is_built_once_per_scope_with_the_request_keys() -> None:
    scope = make_scope("GET", "/notes", query=b"page=2", headers=[(b"x-trace-id", b"t-1")])
    environ = scope_environ(scope)
    assert environ["QUERY_STRING"] == "page=2" and environ["HTTP_X_TRACE_ID"] == "t-1"
    assert environ["REQUEST_METHOD"] == "GET" and environ["wsgi.input"].read() == b""
    assert scope_environ(scope) is environ  # kept in the scope: one build per request
    assert scope_environ(make_scope("GET", "/other")) is not environ
