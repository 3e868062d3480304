"""AsgiToWsgi called directly (in-process): scope, body, response, errors, lifecycle."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import io
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.util import FileWrapper, setup_testing_defaults
from wsgiref.validate import validator

import pytest

from adapters import AsgiToWsgi, ClientDisconnected
from adapters._loop import get_loop
from adapters.scope import scope_from_environ

pytestmark = pytest.mark.timeout(20)
CT = [(b"content-type", b"text/plain")]


def make_environ(body: bytes = b"", **overrides: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.setdefault("QUERY_STRING", "")
    environ["wsgi.input"] = io.BytesIO(body)
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    environ.update(overrides)
    return environ


class Response:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, str]], Any]] = []

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        self.calls.append((status, headers, exc_info))
        return lambda data: None

    @property
    def status(self) -> str:
        return self.calls[-1][0]

    @property
    def headers(self) -> list[tuple[str, str]]:
        return self.calls[-1][1]

    @property
    def exc_info(self) -> Any:
        return self.calls[-1][2]


def call(
    app: Any, environ: dict[str, Any] | None = None, *, validate: bool = True, **options: Any
) -> tuple[Response, bytes]:
    """Run one request through AsgiToWsgi (inside wsgiref's validator) and drain it."""
    response = Response()
    wsgi = AsgiToWsgi(app, **options)
    wrapped = validator(wsgi) if validate else wsgi
    result = wrapped(environ if environ is not None else make_environ(), response.start_response)
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return response, body


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello"})


def scope_recorder() -> tuple[Any, list[dict[str, Any]]]:
    scopes: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        scopes.append(scope)
        await hello(scope, receive, send)

    return app, scopes


def flush_loop() -> None:
    """Return once callbacks already scheduled on the adapters' loop have run."""
    for _ in range(3):
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), get_loop()).result(5)


# ---- scope -----------------------------------------------------------------------------


def test_scope_fields() -> None:
    app, scopes = scope_recorder()
    environ = make_environ(
        b"abc",
        REQUEST_METHOD="POST",
        SCRIPT_NAME="/mount",
        PATH_INFO="/caf\xc3\xa9/x",
        QUERY_STRING="a=1&b=%20",
        SERVER_PROTOCOL="HTTP/1.0",
        CONTENT_TYPE="text/plain",
        HTTP_X_FORWARDED_FOR="1.2.3.4",
        HTTP_COOKIE="a=1; b=2",
        REMOTE_ADDR="10.0.0.1",
        REMOTE_PORT="5555",
        SERVER_NAME="example.org",
        SERVER_PORT="8080",
    )
    environ["wsgi.url_scheme"] = "https"
    response, body = call(app, environ)
    assert response.status == "200 OK" and body == b"hello"
    scope = scopes[0]
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert scope["http_version"] == "1.0"
    assert scope["method"] == "POST"
    assert scope["scheme"] == "https"
    assert scope["path"] == "/mount/café/x"
    assert scope["root_path"] == "/mount"
    assert scope["raw_path"] == b"/mount/caf%C3%A9/x"
    assert scope["query_string"] == b"a=1&b=%20"
    headers = dict(scope["headers"])
    assert headers[b"x-forwarded-for"] == b"1.2.3.4"
    assert headers[b"cookie"] == b"a=1; b=2"
    assert headers[b"content-type"] == b"text/plain"
    assert headers[b"content-length"] == b"3"
    assert all(
        type(n) is bytes and type(v) is bytes and n == n.lower() for n, v in scope["headers"]
    )
    assert scope["client"] == ("10.0.0.1", 5555)
    assert scope["server"] == ("example.org", 8080)
    assert scope["state"] == {}
    assert scope["extensions"] == {"http.response.pathsend": {}}


@pytest.mark.parametrize(
    ("protocol", "expected"), [("HTTP/1.1", "1.1"), ("HTTP/2", "2"), ("HTTP/2.0", "2")]
)
def test_http_version(protocol: str, expected: str) -> None:
    assert scope_from_environ(make_environ(SERVER_PROTOCOL=protocol))["http_version"] == expected


def test_non_utf8_path_is_percent_escaped_not_500() -> None:
    app, scopes = scope_recorder()
    response, _ = call(app, make_environ(PATH_INFO="/a\xff\xfeb"))
    assert response.status == "200 OK"
    assert scopes[0]["path"] == "/a%FF%FEb"
    assert scopes[0]["raw_path"] == b"/a%FF%FEb"


def test_raw_path_keeps_encoded_slash_from_request_uri() -> None:
    scope = scope_from_environ(make_environ(PATH_INFO="/a/b", REQUEST_URI="/a%2Fb?q=1"))
    assert scope["path"] == "/a/b" and scope["raw_path"] == b"/a%2Fb"
    # a REQUEST_URI that no longer matches the path (rewritten by a dispatcher) is ignored
    scope = scope_from_environ(make_environ(PATH_INFO="/other", REQUEST_URI="/a%2Fb"))
    assert scope["raw_path"] == b"/other"


# ---- request body ----------------------------------------------------------------------


class RecordingInput:
    """A wsgi.input that records read sizes and the reading thread."""

    def __init__(self, data: bytes, *, fail: bool = False) -> None:
        self.data = io.BytesIO(data)
        self.sizes: list[int] = []
        self.threads: set[int] = set()
        self.fail = fail

    def read(self, size: int = -1) -> bytes:
        if self.fail:
            raise AssertionError("wsgi.input must not be read")
        self.sizes.append(size)
        self.threads.add(threading.get_ident())
        return self.data.read(size)

    def readline(self, size: int = -1) -> bytes:
        return self.data.readline(size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return self.data.readlines(hint)

    def __iter__(self) -> Any:
        return iter(self.data)


def body_recorder() -> tuple[Any, list[dict[str, Any]]]:
    messages: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        total = sum(len(m.get("body", b"")) for m in messages)
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": str(total).encode()})

    return app, messages


def test_body_streamed_in_64k_pieces_bounded_by_content_length() -> None:
    app, messages = body_recorder()
    payload = os.urandom(300_000)
    source = RecordingInput(payload + b"EXTRA-NOT-PART-OF-BODY")
    environ = make_environ(CONTENT_LENGTH=str(len(payload)))
    environ["wsgi.input"] = source
    _, body = call(app, environ, validate=False)
    assert body == b"300000"
    assert b"".join(m["body"] for m in messages) == payload
    assert all(len(m["body"]) <= 65536 for m in messages)
    assert len(messages) >= 5 and messages[-1]["more_body"] is False
    assert max(source.sizes) <= 65536 and sum(source.sizes) == len(payload)
    # blocking reads ran on the WSGI thread (this one), never on the event loop thread
    assert source.threads == {threading.get_ident()}


def test_body_without_content_length_read_to_eof_when_input_terminated() -> None:
    app, messages = body_recorder()
    payload = b"chunked-upload" * 10_000
    environ = make_environ()
    environ["wsgi.input"] = io.BytesIO(payload)
    environ["wsgi.input_terminated"] = True
    _, body = call(app, environ)
    assert body == str(len(payload)).encode()
    assert b"".join(m["body"] for m in messages) == payload


def test_no_body_without_content_length_input_never_read() -> None:
    app, messages = body_recorder()
    environ = make_environ()
    environ["wsgi.input"] = RecordingInput(b"junk", fail=True)
    _, body = call(app, environ, validate=False)
    assert body == b"0"
    assert messages == [{"type": "http.request", "body": b"", "more_body": False}]


def test_truncated_body_gives_http_disconnect() -> None:
    app, messages = body_recorder()
    environ = make_environ(CONTENT_LENGTH="200000")
    environ["wsgi.input"] = io.BytesIO(b"x" * 70_000)  # client went away mid-upload
    call(app, environ, validate=False)
    assert messages[-1] == {"type": "http.disconnect"}
    assert sum(len(m.get("body", b"")) for m in messages) == 70_000


def test_receive_after_body_waits_then_disconnect_after_response() -> None:
    seen: list[str] = []
    done = threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        assert (await receive())["type"] == "http.request"
        waiter = asyncio.ensure_future(receive())
        await asyncio.sleep(0.05)
        seen.append("pending" if not waiter.done() else "done")
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"ok"})
        seen.append((await waiter)["type"])
        seen.append((await receive())["type"])
        done.set()

    _, body = call(app)
    assert body == b"ok"
    assert done.wait(5)
    assert seen == ["pending", "http.disconnect", "http.disconnect"]


# ---- response --------------------------------------------------------------------------


def test_status_line_and_headers() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        status = int(scope["path"][1:])
        headers = [
            *CT,
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
            (b"x-name", "café".encode("latin-1")),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    response, _ = call(app, make_environ(PATH_INFO="/404"))
    assert response.status == "404 Not Found"
    assert response.headers == [
        ("content-type", "text/plain"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("x-name", "café"),
    ]
    response, _ = call(app, make_environ(PATH_INFO="/299"))
    assert response.status == "299 Unknown"
    response, _ = call(app, make_environ(PATH_INFO="/418"))
    assert response.status == "418 I'm a Teapot"


def test_one_shot_response_is_a_list() -> None:
    response = Response()
    result = AsgiToWsgi(hello)(make_environ(), response.start_response)
    assert result == [b"hello"]
    assert response.status == "200 OK"
    assert response.headers == [("content-type", "text/plain")]


def test_response_streams_while_app_still_running() -> None:
    got_first = threading.Event()
    app_finished = threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        # the WSGI side must see the first chunk before the app goes on
        while not got_first.is_set():
            await asyncio.sleep(0.005)
        await send({"type": "http.response.body", "body": b"second", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        app_finished.set()

    response = Response()
    result = validator(AsgiToWsgi(app))(make_environ(), response.start_response)
    iterator = iter(result)
    assert next(iterator) == b"first"
    assert not app_finished.is_set()
    got_first.set()
    assert list(iterator) == [b"second"]
    result.close()  # type: ignore[attr-defined]
    assert app_finished.wait(5)


def test_backpressure_bounds_buffered_bytes() -> None:
    chunk = b"x" * 65536
    sent = [0]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        for _ in range(64):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent[0] += 1
        await send({"type": "http.response.body", "body": b""})

    response = Response()
    result = AsgiToWsgi(app, buffer_size=256 * 1024)(make_environ(), response.start_response)
    iterator = iter(result)
    next(iterator)
    time.sleep(0.3)  # the app runs freely now; only the buffer bound can stop it
    stalled_at = sent[0]
    assert stalled_at <= 256 * 1024 // 65536 + 2
    rest = list(iterator)
    assert len(rest) == 63 and sent[0] == 64
    result.close()  # type: ignore[attr-defined]


def test_trailers_are_tolerated() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": CT, "trailers": True})
        await send({"type": "http.response.body", "body": b"data", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        await send(
            {
                "type": "http.response.trailers",
                "headers": [(b"x-checksum", b"1")],
                "more_trailers": False,
            }
        )

    response, body = call(app)
    assert (response.status, body) == ("200 OK", b"data")


@pytest.mark.parametrize("file_wrapper", [True, False])
def test_pathsend_streams_the_file(tmp_path: Any, file_wrapper: bool) -> None:
    path = tmp_path / "big.bin"
    payload = os.urandom(200_000)
    path.write_bytes(payload)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        assert "http.response.pathsend" in scope["extensions"]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"200000")],
            }
        )
        await send({"type": "http.response.pathsend", "path": str(path)})

    environ = make_environ()
    if file_wrapper:
        environ["wsgi.file_wrapper"] = FileWrapper
    else:
        environ.pop("wsgi.file_wrapper", None)
    response = Response()
    result = AsgiToWsgi(app)(environ, response.start_response)
    if file_wrapper:
        assert isinstance(result, FileWrapper)
    assert b"".join(result) == payload
    result.close()  # type: ignore[attr-defined]
    assert response.status == "200 OK"


# ---- errors ----------------------------------------------------------------------------


def test_error_before_start_is_500_with_exc_info(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR, logger="adapters.asgi_to_wsgi"):
        response, body = call(app)
    assert response.status == "500 Internal Server Error"
    assert body == b"Internal Server Error"
    assert isinstance(response.exc_info[1], ValueError)
    assert any(r.exc_info and isinstance(r.exc_info[1], ValueError) for r in caplog.records)


def test_error_after_start_before_body_is_500() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        raise ValueError("boom")

    response, body = call(app)
    assert response.status == "500 Internal Server Error" and body == b"Internal Server Error"


def test_error_after_body_started_raises_from_the_iterable() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        raise ValueError("late")

    response = Response()
    result = AsgiToWsgi(app)(make_environ(), response.start_response)
    iterator = iter(result)
    assert next(iterator) == b"x"
    with pytest.raises(ValueError, match="late"):  # headers are out: PEP 3333 says raise
        next(iterator)
    result.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("stop_after", ["nothing", "start"])
def test_app_returning_without_response_is_500(stop_after: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if stop_after == "start":
            await send({"type": "http.response.start", "status": 200, "headers": CT})

    response, _ = call(app)
    assert response.status == "500 Internal Server Error"
    assert isinstance(response.exc_info[1], RuntimeError)


def test_not_an_asgi_app_is_500() -> None:
    def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    response, _ = call(app, lifespan=False)
    assert response.status == "500 Internal Server Error"


# ---- disconnects and background work ---------------------------------------------------


def test_early_close_makes_app_see_disconnect_and_send_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []
    finished = threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": CT})
            listener = asyncio.ensure_future(receive())
            try:
                while True:
                    await send({"type": "http.response.body", "body": b"tick", "more_body": True})
                    await asyncio.sleep(0.01)
            except ClientDisconnected as exc:
                assert isinstance(exc, OSError)
                events.append("send raised")
            events.append((await listener)["type"])
        finally:
            events.append("finally")
            finished.set()

    response = Response()
    result = AsgiToWsgi(app)(make_environ(), response.start_response)
    iterator = iter(result)
    assert next(iterator) == b"tick"
    result.close()  # type: ignore[attr-defined]
    assert finished.wait(5)
    assert events == ["send raised", "http.disconnect", "finally"]
    flush_loop()  # the task's done-callback has run
    # an app that stops cleanly after the client left is not an error
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("grace", [0.0, 0.05])
def test_a_watcher_in_receive_hears_the_early_close_before_any_cancel(grace: float) -> None:
    """Even with no grace at all, an app waiting in ``receive()`` (a second task watching
    for the disconnect while the first streams) is told before it is cancelled."""
    events: list[str] = []
    finished = threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()

        async def watch() -> None:
            events.append((await receive())["type"])

        watcher = asyncio.ensure_future(watch())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": CT})
            while True:
                await send({"type": "http.response.body", "body": b"tick", "more_body": True})
                await asyncio.sleep(0.001)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        except ClientDisconnected:
            events.append("send raised")
        finally:
            await asyncio.shield(watcher)
            finished.set()

    result = AsgiToWsgi(app, disconnect_grace=grace)(make_environ(), Response().start_response)
    assert next(iter(result)) == b"tick"
    result.close()  # type: ignore[attr-defined]
    assert finished.wait(5)
    assert events[0] == "http.disconnect"


def test_app_ignoring_disconnect_is_cancelled_after_grace() -> None:
    finished = threading.Event()
    cancelled = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            await send({"type": "http.response.start", "status": 200, "headers": CT})
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        finally:
            finished.set()

    result = AsgiToWsgi(app, disconnect_grace=0.1)(make_environ(), Response().start_response)
    assert next(iter(result)) == b"x"
    result.close()  # type: ignore[attr-defined]
    assert finished.wait(5) and cancelled == [True]


def test_background_work_not_cut_off_and_not_blocking() -> None:
    release = threading.Event()
    finished = threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"done"})
        while not release.is_set():
            await asyncio.sleep(0.01)
        finished.set()

    _, body = call(app)  # returns although the app is still running
    assert body == b"done" and not finished.is_set()
    release.set()
    assert finished.wait(5)


def test_wait_for_app_holds_the_worker_until_background_work_ends() -> None:
    finished = threading.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        await send({"type": "http.response.body", "body": b"done"})
        await asyncio.sleep(0.1)
        finished.set()

    _, body = call(app, wait_for_app=True)
    assert body == b"done" and finished.is_set()


def test_contextvars_flow_from_the_wsgi_thread() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append(var.get())
        await hello(scope, receive, send)

    var.set("from-wsgi-thread")
    call(app)
    assert seen == ["from-wsgi-thread"]


def test_concurrent_requests_from_many_threads() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await asyncio.sleep(0.001)
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        for i in range(0, len(body), 1000):
            await send(
                {"type": "http.response.body", "body": body[i : i + 1000], "more_body": True}
            )
        await send({"type": "http.response.body", "body": b""})

    wsgi = AsgiToWsgi(app)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(20):
                payload = f"{n}-{i}-".encode() * 500
                result = wsgi(make_environ(payload), Response().start_response)
                assert b"".join(result) == payload
                result.close()  # type: ignore[attr-defined]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert not errors


# ---- lifespan --------------------------------------------------------------------------


def lifespan_app(events: list[str], *, fail: bool = False) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            assert (await receive())["type"] == "lifespan.startup"
            if fail:
                await send({"type": "lifespan.startup.failed", "message": "no db"})
                return
            scope["state"]["db"] = "connected"
            events.append("startup")
            await send({"type": "lifespan.startup.complete"})
            assert (await receive())["type"] == "lifespan.shutdown"
            events.append("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return
        events.append(f"request state={scope['state']}")
        scope["state"]["mutated"] = True  # a per-request copy: must not leak
        await hello(scope, receive, send)

    return app


def test_lifespan_startup_state_and_shutdown() -> None:
    events: list[str] = []
    wsgi = AsgiToWsgi(lifespan_app(events))
    assert events == []  # lazy: nothing before the first request
    for _ in range(2):
        result = wsgi(make_environ(), Response().start_response)
        assert b"".join(result) == b"hello"
    assert events == [
        "startup",
        "request state={'db': 'connected'}",
        "request state={'db': 'connected'}",
    ]
    wsgi.close()
    assert events[-1] == "shutdown"


def test_lifespan_disabled() -> None:
    events: list[str] = []
    wsgi = AsgiToWsgi(lifespan_app(events), lifespan=False)
    assert b"".join(wsgi(make_environ(), Response().start_response)) == b"hello"
    assert events == ["request state={}"]


def test_app_without_lifespan_support_is_tolerated(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"unsupported scope {scope['type']}")
        await hello(scope, receive, send)

    with caplog.at_level(logging.WARNING, logger="adapters.asgi_to_wsgi"):
        _, body = call(app)
    assert body == b"hello"
    assert not caplog.records


def test_an_app_answering_the_lifespan_scope_with_http_spends_nothing_on_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bare Starlette ``StreamingResponse`` used as the app answers every scope the same
    way: its body iterator must not be spent on the lifespan scope, or the first request
    gets an empty body. Lifespan ends for that app at its first HTTP message (said once)."""
    from starlette.responses import StreamingResponse

    def rows() -> Iterator[bytes]:
        yield b"row 1\n"
        yield b"row 2\n"

    wsgi = AsgiToWsgi(StreamingResponse(rows(), media_type="text/plain"))
    with caplog.at_level(logging.INFO, logger="adapters.asgi_to_wsgi"):
        response = Response()
        body = b"".join(wsgi(make_environ(), response.start_response))
    assert body == b"row 1\nrow 2\n"
    said = [r for r in caplog.records if "does not support lifespan" in r.getMessage()]
    assert len(said) == 1
    assert "'http.response.start' on the lifespan scope" in said[0].getMessage()


def test_an_app_without_lifespan_that_counts_scopes_counts_only_requests() -> None:
    calls: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": CT})
        calls.append(scope["type"])  # what it did after its first message is not kept
        await send({"type": "http.response.body", "body": str(len(calls)).encode()})

    wsgi = AsgiToWsgi(app)
    assert b"".join(wsgi(make_environ(), Response().start_response)) == b"1"
    assert b"".join(wsgi(make_environ(), Response().start_response)) == b"2"
    assert calls == ["http", "http"]


def test_lifespan_startup_failure_fails_requests() -> None:
    wsgi = AsgiToWsgi(lifespan_app([], fail=True))
    with pytest.raises(RuntimeError, match="lifespan startup failed"):
        wsgi(make_environ(), Response().start_response)


def test_lifespan_shutdown_runs_at_exit() -> None:
    code = textwrap.dedent(
        """
        import io, sys
        from wsgiref.util import setup_testing_defaults
        from adapters import AsgiToWsgi

        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                await receive(); await send({"type": "lifespan.startup.complete"})
                await receive(); print("shutdown ran", flush=True)
                await send({"type": "lifespan.shutdown.complete"})
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        environ = {}
        setup_testing_defaults(environ)
        print(b"".join(AsgiToWsgi(app)(environ, lambda s, h, e=None: None)).decode(), flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=15, cwd=os.getcwd()
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok", "shutdown", "ran"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_safe_loop_per_process() -> None:
    events: list[str] = []
    wsgi = AsgiToWsgi(lifespan_app(events))
    assert b"".join(wsgi(make_environ(), Response().start_response)) == b"hello"
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: the parent's loop thread does not exist here
        try:
            body = b"".join(wsgi(make_environ(), Response().start_response))
            os.write(write_end, body + b" " + ",".join(e.split()[0] for e in events).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.02)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("child hung")
    with os.fdopen(read_end, "rb") as reader:
        out = reader.read()
    # the child ran its own lifespan startup (a second "startup") and served the request
    assert out == b"hello startup,request,startup,request"


def test_validator_clean_for_streamed_response() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        for part in (b"a", b"b", b"c"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    response, body = call(app)
    assert (response.status, body) == ("201 Created", b"abc")


def streaming_until_gone(finished: threading.Event) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            await send({"type": "http.response.start", "status": 200, "headers": CT})
            while True:
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
                await asyncio.sleep(0.005)
        finally:
            finished.set()

    return app


def test_start_response_raising_does_not_leak_the_app() -> None:
    finished = threading.Event()

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        raise OSError("server refused the headers")

    with pytest.raises(OSError, match="refused"):
        AsgiToWsgi(streaming_until_gone(finished))(make_environ(), start_response)
    assert finished.wait(5)


def test_iterable_dropped_without_close_does_not_leak_the_app() -> None:
    finished = threading.Event()
    result = AsgiToWsgi(streaming_until_gone(finished))(make_environ(), Response().start_response)
    assert next(iter(result)) == b"x"
    del result
    gc.collect()
    assert finished.wait(5)


def test_called_from_its_own_loop_fails_instead_of_deadlocking() -> None:
    inner = AsgiToWsgi(hello, lifespan=False)

    async def outer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        inner(make_environ(), Response().start_response)  # blocking call on the loop: refused

    response, _ = call(outer, lifespan=False)
    assert response.status == "500 Internal Server Error"
    assert "deadlock" in str(response.exc_info[1])


def test_header_injection_refused_and_bytes_like_bodies_accepted() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        value = b"ok" if scope["path"] == "/good" else b"x\r\nSet-Cookie: evil=1"
        await send(
            {"type": "http.response.start", "status": 200, "headers": [*CT, (b"x-v", value)]}
        )
        await send({"type": "http.response.body", "body": bytearray(b"ab"), "more_body": True})
        await send({"type": "http.response.body", "body": memoryview(b"cd")})

    response, body = call(app, make_environ(PATH_INFO="/good"))
    assert (response.status, body) == ("200 OK", b"abcd")
    response, body = call(app, make_environ(PATH_INFO="/bad"))
    assert response.status == "500 Internal Server Error"
    assert all("evil" not in value for _, value in response.headers)
