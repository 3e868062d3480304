"""Small helpers that code converted by ``migrate`` (rule ``wsgi-app``) imports.

They give the request data a WSGI app read from ``environ`` with the same values, read
from an ASGI scope instead (standard library only)::

    from adapters import asgi_helpers

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return await asgi_helpers.handle_non_http(scope, receive, send)
        name = asgi_helpers.request_headers(scope).get("x-name", "world")
        body = await asgi_helpers.read_body(receive)
        ...

Each helper documents the ``environ`` key(s) it stands for. ``PATH_INFO`` and
``SCRIPT_NAME`` keep PEP 3333's "bytes as latin-1" strings; :func:`request_path` is
the UTF-8 path apps get with ``environ["PATH_INFO"].encode("latin-1").decode("utf-8")``.
"""

from __future__ import annotations

import asyncio
import io
import threading
import wsgiref.util
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import quote_from_bytes

from adapters._lines import LineReading
from adapters._non_http import handle_non_http
from adapters._types import ExcInfo, Message, Receive, ResponseHeaders, Scope, Send
from adapters.asgi_to_wsgi import AsgiToWsgi
from adapters.blocking import run_blocking
from adapters.environ import DERIVED_KEYS, WSGI_ENVIRON_KEY, environ_from_scope, wsgi_paths
from adapters.mixed import is_asgi_app
from adapters.wsgi_to_asgi import FileWrapper, WsgiToAsgi

__all__ = [
    "CollectedResponse",
    "FileWrapper",
    "RequestStream",
    "StartResponse",
    "WsgiOrAsgi",
    "application_uri",
    "asgi_response_start",
    "buffered_response",
    "build_environ",
    "collected_response",
    "environ_extra",
    "handle_non_http",
    "path_info",
    "read_body",
    "remote_addr",
    "replay_body",
    "request_headers",
    "request_path",
    "request_uri",
    "script_name",
    "send_file",
    "server_name",
    "server_port",
    "shift_path_info",
    "with_environ_key",
    "with_environ_value",
    "with_request_header",
    "with_wsgi_path",
    "without_environ_key",
    "wsgi_or_asgi",
    "wsgi_response_start",
]

_PATH_SAFE = "/:@!$&'()*+,;=-._~"


class RequestStream(LineReading):
    """``environ["wsgi.input"]`` for converted code that hands the body stream to code that
    reads it synchronously (a hashing helper, ``cgi.FieldStorage``): the body as it arrives,
    never all of it in memory. A read waits for ``receive()``, so whatever reads it must run
    off the event loop (the migrated code calls it through ``run_blocking``); a read on the
    loop's thread raises rather than hang the loop."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._buffer = bytearray()
        self._more = True

    def _pull(self) -> bool:
        """One more message of the body into the buffer; False at its end."""
        if not self._more:
            return False
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError(
                "the request body stream was read on the event loop's thread: read it in "
                "adapters.blocking.run_blocking"
            )
        message: Message = asyncio.run_coroutine_threadsafe(self._next(), self._loop).result()
        if message["type"] != "http.request":
            self._more = False
            return False
        self._buffer += message.get("body", b"")
        self._more = message.get("more_body", False)
        return True

    async def _next(self) -> Message:
        return await self._receive()

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._pull():
                pass
            return self._take(len(self._buffer))
        while len(self._buffer) < size and self._pull():
            pass
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        while (
            b"\n" not in self._buffer and (limit < 0 or len(self._buffer) < limit) and self._pull()
        ):
            pass
        end = self._buffer.find(b"\n") + 1 or len(self._buffer)
        return self._take(end if limit < 0 else min(end, limit))


async def read_body(receive: Receive, limit: int | None = None) -> bytes:
    """The request body (``environ["wsgi.input"].read(limit)``): all of it, or its first
    ``limit`` bytes. Read it once per request."""
    chunks: list[bytes] = []
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more_body = message.get("more_body", False)
    body = b"".join(chunks)
    if limit is None or limit < 0:
        return body
    return body[:limit]


def request_headers(scope: Scope) -> dict[str, str]:
    """The request headers as CGI sees them (``CONTENT_TYPE``, ``CONTENT_LENGTH``,
    ``HTTP_*``): lower-case names with ``-`` (``environ["HTTP_X_FOO"]`` is
    ``request_headers(scope)["x-foo"]``), latin-1 values, repeated headers joined with
    ``,`` (cookies with ``; ``)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower().replace("_", "-")
        value = raw_value.decode("latin-1").strip()
        if name in headers:
            headers[name] += ("; " if name == "cookie" else ",") + value
        else:
            headers[name] = value
    return headers


def script_name(scope: Scope) -> str:
    """``environ["SCRIPT_NAME"]``: the root path, as a PEP 3333 latin-1 string."""
    return wsgi_paths(scope)[0]


def path_info(scope: Scope) -> str:
    """``environ["PATH_INFO"]``: the percent-decoded path below the root path, as a
    PEP 3333 latin-1 string (bytes as code points, like WSGI servers give it)."""
    return wsgi_paths(scope)[1]


def request_path(scope: Scope) -> str:
    """``environ["PATH_INFO"].encode("latin-1").decode("utf-8")``: the decoded path below
    the root path (invalid UTF-8 raises, as it does in the WSGI app)."""
    return path_info(scope).encode("latin-1").decode("utf-8")


def server_name(scope: Scope) -> str:
    """``environ["SERVER_NAME"]``."""
    server = scope.get("server")
    return str(server[0]) if server else "localhost"


def server_port(scope: Scope) -> str:
    """``environ["SERVER_PORT"]`` (a string, like in WSGI)."""
    server = scope.get("server")
    if server and server[1] is not None:
        return str(server[1])
    return "443" if scope.get("scheme") == "https" else "80"


def remote_addr(scope: Scope) -> str:
    """``environ["REMOTE_ADDR"]``."""
    client = scope.get("client")
    return str(client[0]) if client else ""


def build_environ(scope: Scope, body: bytes = b"") -> dict[str, Any]:
    """A PEP 3333 environ with the values a WSGI server would give for this request, for
    code that still reads an environ (``wsgi.input`` holds ``body``)."""
    return environ_from_scope(scope, io.BytesIO(body))


def request_uri(scope: Scope, include_query: bool = True) -> str:
    """``wsgiref.util.request_uri(environ, include_query)``."""
    return wsgiref.util.request_uri(build_environ(scope), include_query)


def application_uri(scope: Scope) -> str:
    """``wsgiref.util.application_uri(environ)``."""
    return wsgiref.util.application_uri(build_environ(scope))


def shift_path_info(scope: Scope) -> tuple[str | None, Scope]:
    """``wsgiref.util.shift_path_info(environ)``: the next path segment and a new scope
    whose root path has taken it (the scope passed in is not changed)::

        segment, scope = asgi_helpers.shift_path_info(scope)
    """
    environ = {"SCRIPT_NAME": script_name(scope), "PATH_INFO": path_info(scope)}
    name = wsgiref.util.shift_path_info(environ)
    root = environ["SCRIPT_NAME"].encode("latin-1")
    full = root + environ["PATH_INFO"].encode("latin-1")
    shifted = dict(scope)
    shifted["root_path"] = root.decode("utf-8", "surrogateescape")
    shifted["path"] = full.decode("utf-8", "replace")
    shifted["raw_path"] = quote_from_bytes(full, safe=_PATH_SAFE).encode("ascii")
    return name, shifted


# --------------------------------------------------------------------------- middleware
# Helpers for WSGI middleware converted by ``migrate`` (rule ``wsgi-middleware``).


def wsgi_response_start(message: Message) -> tuple[str, list[tuple[str, str]]]:
    """The ``(status, headers)`` a WSGI middleware's ``start_response`` wrapper saw, from an
    ``http.response.start`` message: ``"404 Not Found"`` and ``[("Content-Type", "text/plain")]``
    (ASGI header names are lower case; they are given back in the usual ``Title-Case``)."""
    code = int(message["status"])
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "Unknown"
    headers = [
        (
            "-".join(part.capitalize() for part in name.decode("latin-1").split("-")),
            value.decode("latin-1"),
        )
        for name, value in message.get("headers", ())
    ]
    return f"{code} {phrase}", headers


def asgi_response_start(
    message: Message, status: str, headers: Iterable[tuple[str, str]]
) -> Message:
    """``message`` (an ``http.response.start``) with the WSGI ``status`` and ``headers`` a
    ``start_response`` wrapper decided on."""
    return {
        **message,
        "status": int(status.split(None, 1)[0]),
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
        ],
    }


# with_wsgi_path's keyword arguments shadow these two
_script_name = script_name
_path_info = path_info


def with_wsgi_path(
    scope: Scope, *, script_name: str | None = None, path_info: str | None = None
) -> Scope:
    """A copy of ``scope`` where ``environ["SCRIPT_NAME"]`` / ``environ["PATH_INFO"]`` (PEP 3333
    latin-1 strings) have the values given: what a middleware that moves a prefix between
    the two (mounting) writes to the environ."""
    root = _script_name(scope) if script_name is None else script_name
    rest = _path_info(scope) if path_info is None else path_info
    root_bytes = root.encode("latin-1")
    full = root_bytes + rest.encode("latin-1")
    changed = dict(scope)
    changed["root_path"] = root_bytes.decode("utf-8", "surrogateescape")
    changed["path"] = full.decode("utf-8", "replace")
    changed["raw_path"] = quote_from_bytes(full, safe=_PATH_SAFE).encode("ascii")
    return changed


def with_request_header(scope: Scope, name: str, value: str | None) -> Scope:
    """A copy of ``scope`` with request header ``name`` (lower case, ``x-foo`` for
    ``environ["HTTP_X_FOO"]``) set to ``value``, or removed when ``value`` is None."""
    raw_name = name.encode("latin-1")
    headers = [(n, v) for n, v in scope["headers"] if n.lower() != raw_name]
    if value is not None:
        headers.append((raw_name, value.encode("latin-1")))
    return {**scope, "headers": headers}


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` (already read from the original ``receive``) as the
    request body, then hands on to the original (for ``http.disconnect``): the ASGI form of
    ``environ["wsgi.input"] = io.BytesIO(body)``."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def buffered_response(
    app: Any, scope: Scope, receive: Receive, start_response: Callable[..., Any]
) -> bytes:
    """Runs the ASGI ``app`` and gives its whole body; its status and headers go to the WSGI
    ``start_response``-like callable first: the ASGI form of
    ``body = b"".join(app(environ, start_response))``."""
    return b"".join(await collected_response(app, scope, receive, start_response))


async def send_file(send: Send, response: FileWrapper, scope: Scope | None = None) -> None:
    """Sends the body of ``response`` (the response start has gone out): its blocks read in
    the thread pool for blocking calls, the file closed there at the end, as a WSGI server
    closes what it iterated. Where the server offers ``http.response.pathsend`` (``scope``'s
    extensions) and the body is the whole file, unread, it sends the file's path instead."""
    if scope is not None and "http.response.pathsend" in (scope.get("extensions") or ()):
        path = await run_blocking(response.sendable_path, None)
        if path is not None:
            close = getattr(response, "close", None)
            if close is not None:
                await run_blocking(close)
            await send({"type": "http.response.pathsend", "path": path})
            return
    try:
        while block := await run_blocking(response.filelike.read, response.blksize):
            await send({"type": "http.response.body", "body": block, "more_body": True})
    finally:
        close = getattr(response, "close", None)
        if close is not None:
            await run_blocking(close)
    await send({"type": "http.response.body", "body": b""})


class CollectedResponse:
    """The body of an ASGI app, collected, as the iterable its WSGI form would have returned:
    the chunks, then the error the app raised after its response started, if it did."""

    def __init__(self, chunks: list[bytes], error: BaseException | None) -> None:
        self.chunks = chunks
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.error is not None:
            raise self.error


async def collected_response(
    app: Any, scope: Scope, receive: Receive, start_response: Callable[..., Any]
) -> CollectedResponse:
    """Runs the ASGI ``app`` to the end; its status and headers go to the WSGI
    ``start_response``-like callable, its body is what the result iterates over: the ASGI
    form of ``app_iter = app(environ, start_response)`` in a middleware that then consumes
    ``app_iter`` whole. An error before the response started is raised here (as a WSGI app
    raises when called), a later one while iterating, after the chunks sent before it."""
    chunks: list[bytes] = []
    started = False

    async def collect(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
            start_response(*wsgi_response_start(message))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await app(scope, receive, collect)
    except Exception as error:
        if not started:
            raise
        return CollectedResponse(chunks, error)
    return CollectedResponse(chunks, None)


class WsgiOrAsgi(WsgiToAsgi):
    """One app that is both: called with ``(environ, start_response)`` it is a WSGI app, with
    ``(scope, receive, send)`` an ASGI app. See :func:`wsgi_or_asgi`."""

    def __init__(self, app: Any) -> None:
        try:
            native_asgi = is_asgi_app(app)
        except TypeError:
            native_asgi = False
        super().__init__(AsgiToWsgi(app) if native_asgi else app)
        self.asgi_app: Any = app if native_asgi else None

    def __call__(self, *args: Any) -> Any:
        if len(args) == 2:
            return self.wsgi_app(*args)
        if self.asgi_app is not None:
            return self.asgi_app(*args)
        return super().__call__(*args)


def wsgi_or_asgi(app: Any) -> WsgiOrAsgi:
    """``app`` (WSGI or ASGI) as an app that middleware of either kind can wrap: for a stack
    whose middleware come from other modules, which may or may not be ASGI yet::

        application = as_asgi(RequestCounter(security_headers(asgi_helpers.wsgi_or_asgi(app))))
    """
    return WsgiOrAsgi(app)


def environ_extra(scope: Scope) -> Mapping[str, Any]:
    """The environ keys the code in front of this app set for it (a middleware's own
    ``myapp.user``, ``REMOTE_USER``): ``scope["wsgi.environ"]``, or none. What a WSGI app
    read as ``environ["myapp.user"]`` an ASGI app reads as ``environ_extra(scope)["myapp.user"]``."""
    carried: Mapping[str, Any] | None = scope.get(WSGI_ENVIRON_KEY)
    return carried if carried is not None else {}


def with_environ_key(scope: Scope, key: str, value: Any) -> Scope:
    """A copy of ``scope`` that gives WSGI apps further in ``environ[key] = value``: what a
    middleware that adds its own environ key (``myapp.user``, ``REMOTE_USER``) does. The
    adapters hand the keys of ``scope["wsgi.environ"]`` on to the environ of a WSGI app
    served behind ASGI code (see :func:`adapters.environ_from_scope`)."""
    carried = dict(scope.get(WSGI_ENVIRON_KEY) or {})
    carried[key] = value
    return {**scope, WSGI_ENVIRON_KEY: carried}


def with_environ_value(scope: Scope, key: str, value: Any) -> Scope:
    """A copy of ``scope`` giving the code behind what ``environ[key] = value`` gives it, for a
    key only known when the code runs (``environ[self.environ_key] = user``): a request header
    for ``HTTP_*``/``CONTENT_*``, the path, method, query or scheme for theirs, else a key of
    the code's own (:func:`with_environ_key`). Keys a WSGI server computes raise ValueError."""
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH") or key.startswith("HTTP_"):
        return with_request_header(
            scope, key.removeprefix("HTTP_").lower().replace("_", "-"), value
        )
    if key in ("PATH_INFO", "SCRIPT_NAME"):
        return with_wsgi_path(scope, **{key.lower(): value})
    fields = {"REQUEST_METHOD": "method", "wsgi.url_scheme": "scheme"}
    if key in fields:
        return {**scope, fields[key]: value}
    if key == "QUERY_STRING":
        return {**scope, "query_string": value.encode("latin-1")}
    if key.startswith(("wsgi.", "asgi.")) or key in DERIVED_KEYS:  # the server's own
        raise ValueError(f"environ[{key!r}] cannot be set for an ASGI app")
    return with_environ_key(scope, key, value)


def without_environ_key(scope: Scope, key: str) -> Scope:
    """A copy of ``scope`` without the environ key ``key`` that code in front of this app set
    (see :func:`with_environ_key`): what ``environ.pop(key, None)`` does to a WSGI environ."""
    carried = scope.get(WSGI_ENVIRON_KEY)
    if not carried or key not in carried:
        return scope
    return {**scope, WSGI_ENVIRON_KEY: {k: v for k, v in carried.items() if k != key}}


class AppClass(type):
    """The metaclass of a class that is itself an ASGI 3 app (a PEP 3333 iterable class,
    converted): calling the class with ``scope, receive, send`` makes an instance with them
    and awaits its ``respond(scope, receive, send)``. The name still holds a class, and every
    server takes it for an ASGI 3 app (a coroutine ``__call__``; uvicorn also asks a class
    for ``__await__``)."""

    async def __call__(cls, scope: Scope, receive: Receive, send: Send) -> None:
        instance = super().__call__(scope, receive, send)
        await instance.respond(scope, receive, send)

    def __await__(cls) -> Any:  # what uvicorn looks for on a class; a class is not awaited
        raise TypeError(f"{cls.__name__} is an ASGI app: call it with scope, receive, send")


def app_class(app: Callable[[Scope, Receive, Send], Awaitable[None]], name: str) -> type:
    """``app`` as an ASGI 3 app that is a class (:class:`AppClass`): for a name that held a
    class (a PEP 3333 iterable class kept as WSGI behind the adapter) and must still hold one."""

    async def respond(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)

    def __init__(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        pass

    return AppClass(name, (), {"__init__": __init__, "respond": respond, "__wrapped__": app})


class HeldStart:
    """The ``send`` an error-page middleware hands the app it guards: the response start is
    held until the first body chunk with bytes (or the end of the body), as a WSGI server
    holds the headers, so until then the middleware's page may still replace the response::

        response = asgi_helpers.HeldStart(send)
        try:
            await app(scope, receive, response)
        except Exception:
            if response.started:
                raise
            ...  # send the error page with ``send``
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self._start: Message | None = None
        #: Whether the start went out: the response can no longer be replaced.
        self.started = False

    async def __call__(self, message: Message) -> None:
        if not self.started:
            if message["type"] == "http.response.start":
                self._start = message
                return
            if self._start is not None:
                if (
                    message["type"] == "http.response.body"
                    and not message.get("body")
                    and message.get("more_body", False)
                ):
                    return  # nothing to send yet
                self.started = True
                await self._send(self._start)
        await self._send(message)


class StartResponse:
    """A PEP 3333 ``start_response`` for WSGI code that an ASGI app still calls (a response
    helper from another module): it keeps the status and headers, and :meth:`send` sends
    them with the body the WSGI code returned::

        response = asgi_helpers.StartResponse()
        return await response.send(send, json_response(response, 404, {"error": "not found"}))

    ``StartResponse(status, headers)`` is one that ``start_response(status, headers)`` was
    already called on. As a WSGI server does, :meth:`send` sends the response start just
    before the first non-empty chunk (or at the end, for an empty body), so code that calls
    ``start_response`` lazily (a generator) or again with ``exc_info`` before the body
    starts works, and calls the iterable's ``close()`` on every path. ``write()`` chunks are
    kept and sent in order before what the iteration gives next.
    """

    def __init__(self, status: str | None = None, headers: ResponseHeaders | None = None) -> None:
        #: The WSGI status line and headers given last (None: start_response not called yet).
        self.status: str | None = None
        self.headers: ResponseHeaders = []
        #: Whether the ``http.response.start`` message went out.
        self.started = False
        self._written: list[bytes] = []
        if status is not None:
            self(status, headers if headers is not None else [])

    def __call__(
        self, status: str, headers: ResponseHeaders, exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.started:  # too late to change the response: PEP 3333 re-raises
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.status is not None:
            raise AssertionError("start_response() called twice without exc_info")
        if not isinstance(status, str) or status[3:4] not in ("", " ") or not status[:3].isdigit():
            raise ValueError(f"invalid WSGI status {status!r}")
        self.status = status
        self.headers = list(headers)
        return self._write

    def _write(self, data: bytes) -> None:
        if self.status is None:
            raise AssertionError("write() called before start_response()")
        self._written.append(bytes(data))

    def _start_message(self) -> Message:
        if self.status is None:
            raise AssertionError("the response body started before start_response() was called")
        return {
            "type": "http.response.start",
            "status": int(self.status[:3]),
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in self.headers
            ],
        }

    async def _send_chunk(self, send: Send, chunk: bytes, more_body: bool) -> None:
        if not self.started:
            message = self._start_message()
            self.started = True
            await send(message)
        await send({"type": "http.response.body", "body": chunk, "more_body": more_body})

    async def send(self, send: Send, body: Iterable[bytes]) -> None:
        """Send the response: the status and headers given to this ``start_response`` and
        ``body``, the iterable the WSGI code returned (``close()`` is called on it)."""
        try:
            if type(body) in (list, tuple):
                # nothing runs while a list is iterated: the last chunk can end the body
                chunks = [chunk for chunk in [*self._written, *body] if chunk]
                self._written.clear()
                for chunk in chunks[:-1]:
                    await self._send_chunk(send, bytes(chunk), True)
                await self._send_chunk(send, bytes(chunks[-1]) if chunks else b"", False)
                return
            for chunk in body:
                # write() calls made while this chunk was produced go out before it
                for data in [*self._written, chunk]:
                    if data:
                        await self._send_chunk(send, bytes(data), True)
                self._written.clear()
            for data in self._written:
                if data:
                    await self._send_chunk(send, data, True)
            self._written.clear()
            await self._send_chunk(send, b"", False)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
