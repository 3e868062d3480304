"""Apps and adapter factories shared by ``bench_adapters.py`` and the uvicorn it starts.

Everything an adapter wraps lives here so that the in-process workers and the served
benchmark run exactly the same code.  The module-level names ``served_<impl>`` (for
example ``benchmarks._bench_apps:served_a2wsgi``) are built lazily on first access
(PEP 562 ``__getattr__``), so one adapter that fails to construct never breaks the
import for the others.

Standard library only at import time; adapters are imported when first asked for.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any, cast

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

HELLO = b"Hello, world!"  # 13 bytes
CHUNK = 64 * 1024
MIB = 1024 * 1024
FILL = b"x"

_HELLO_HEADERS_WSGI = [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))]
_HELLO_HEADERS_ASGI = [(b"content-type", b"text/plain"), (b"content-length", b"13")]
_STREAM_HEADERS_WSGI = [("Content-Type", "application/octet-stream")]
_STREAM_HEADERS_ASGI = [(b"content-type", b"application/octet-stream")]


def fresh_chunk(size: int = CHUNK) -> bytes:
    """A newly allocated chunk whose pages are all touched (``bytes(n)`` may be lazily zeroed)."""
    return FILL * size


# --------------------------------------------------------------------------- WSGI apps


def wsgi_hello(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", _HELLO_HEADERS_WSGI)
    return [HELLO]


def wsgi_echo(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Reads the whole body from ``wsgi.input`` in 64 KiB pieces and streams each back."""
    start_response("200 OK", _STREAM_HEADERS_WSGI)
    stream = environ["wsgi.input"]

    def body() -> Iterator[bytes]:
        while True:
            piece = stream.read(CHUNK)
            if not piece:
                return
            yield piece

    return body()


class StreamCounter:
    """Bytes the WSGI app has yielded versus bytes the consumer has been handed.

    Written from the WSGI thread and from the event loop; plain int updates under the
    GIL are good enough for a high-water mark.
    """

    produced = 0
    delivered = 0
    max_gap = 0

    @classmethod
    def reset(cls) -> None:
        cls.produced = cls.delivered = cls.max_gap = 0

    @classmethod
    def note(cls) -> None:
        gap = cls.produced - cls.delivered
        if gap > cls.max_gap:
            cls.max_gap = gap


def chunks_wanted(query: str | bytes, default: int) -> int:
    """``n=<chunks>`` from a query string (so a warm-up can ask the same app for less)."""
    text = query.decode("latin-1") if isinstance(query, bytes) else query
    for part in text.split("&"):
        if part.startswith("n="):
            return int(part[2:])
    return default


def make_wsgi_stream(default_chunks: int, *, count: bool = False) -> WSGIApp:
    """A WSGI app that yields ``?n=`` (default ``default_chunks``) fresh 64 KiB chunks."""

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", _STREAM_HEADERS_WSGI)
        n_chunks = chunks_wanted(environ.get("QUERY_STRING", ""), default_chunks)

        def body() -> Iterator[bytes]:
            for _ in range(n_chunks):
                piece = fresh_chunk()
                if count:
                    StreamCounter.produced += len(piece)
                    StreamCounter.note()
                yield piece

        return body()

    return app


def wsgi_upload(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Reads and discards the whole body, answers with the byte count."""
    stream = environ["wsgi.input"]
    total = 0
    while True:
        piece = stream.read(CHUNK)
        if not piece:
            break
        total += len(piece)
    body = str(total).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


# --------------------------------------------------------------------------- ASGI apps


async def _drain_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def asgi_hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _drain_lifespan(receive, send)
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HELLO_HEADERS_ASGI})
    await send({"type": "http.response.body", "body": HELLO})


async def asgi_echo(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": _STREAM_HEADERS_ASGI})
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return
        more = bool(message.get("more_body", False))
        body = message.get("body", b"")
        if body or not more:
            await send({"type": "http.response.body", "body": body, "more_body": more})


def make_asgi_stream(default_chunks: int, *, count: bool = False) -> ASGIApp:
    """The native ASGI twin of :func:`make_wsgi_stream`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": _STREAM_HEADERS_ASGI})
        n_chunks = chunks_wanted(scope.get("query_string", b""), default_chunks)
        for _ in range(n_chunks):
            piece = fresh_chunk()
            if count:
                StreamCounter.produced += len(piece)
                StreamCounter.note()
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


async def asgi_upload(scope: Scope, receive: Receive, send: Send) -> None:
    total = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return
        total += len(message.get("body", b""))
        more = bool(message.get("more_body", False))
    body = str(total).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- adapters

# WSGI app -> ASGI app.  "native" is not an adapter: the caller uses the native ASGI app.
# "router" and "wsgi-mw" measure the runtime for half-migrated apps: adapters.Router with the
# WSGI app mounted at "/", and adapters.wsgi_middleware running a pass-through WSGI middleware
# around the native ASGI app (two adapter hops: ASGI -> WSGI -> ASGI). "watchdog" is ours
# under adapters.watchdog.LoopWatchdog (switched on): what the watchdog costs.
W2A_IMPLS = ("native", "ours", "watchdog", "router", "wsgi-mw", "a2wsgi", "asgiref", "uvicorn")
W2A_PEERS = ("a2wsgi", "asgiref", "uvicorn")
# ASGI app -> WSGI app.
A2W_IMPLS = ("native", "ours", "a2wsgi")
A2W_PEERS = ("a2wsgi",)

LABELS = {
    "native": "native (ceiling)",
    "ours": "ours (adapters)",
    "watchdog": "ours under LoopWatchdog (on)",
    "router": "ours: Router({'/': wsgi_app})",
    "wsgi-mw": "ours: wsgi_middleware(mw)(asgi_app)",
    "a2wsgi": "a2wsgi",
    "asgiref": "asgiref",
    "uvicorn": "uvicorn own (_WSGIMiddleware)",
}


def _any(factory: object) -> Any:
    """Adapters type their apps each in their own way; the benchmark only calls them."""
    return factory


def wrap_wsgi(impl: str, app: WSGIApp) -> ASGIApp:
    """The ASGI app that serves WSGI ``app`` through adapter ``impl``."""
    if impl == "ours":
        from adapters import WsgiToAsgi as Ours

        return cast(ASGIApp, _any(Ours)(app))
    if impl == "a2wsgi":
        from a2wsgi import WSGIMiddleware

        return cast(ASGIApp, _any(WSGIMiddleware)(app))
    if impl == "asgiref":
        from asgiref.wsgi import WsgiToAsgi

        return cast(ASGIApp, _any(WsgiToAsgi)(app))
    if impl == "uvicorn":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from uvicorn.middleware.wsgi import _WSGIMiddleware

        return cast(ASGIApp, _any(_WSGIMiddleware)(app))
    raise ValueError(f"unknown WSGI->ASGI implementation {impl!r}")


def wrap_asgi(impl: str, app: ASGIApp) -> WSGIApp:
    """The WSGI app that serves ASGI ``app`` through adapter ``impl``."""
    if impl == "ours":
        from adapters import AsgiToWsgi as Ours

        return cast(WSGIApp, _any(Ours)(app))
    if impl == "a2wsgi":
        from a2wsgi import ASGIMiddleware

        return cast(WSGIApp, _any(ASGIMiddleware)(app))
    raise ValueError(f"unknown ASGI->WSGI implementation {impl!r}")


class PassThroughWsgiMiddleware:
    """The thinnest WSGI middleware: what wsgi_middleware costs by itself."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return self.app(environ, start_response)


def w2a_app(impl: str, wsgi_app: WSGIApp, native: ASGIApp) -> ASGIApp:
    if impl == "native":
        return native
    if impl == "watchdog":
        from adapters.watchdog import LoopWatchdog

        return cast(ASGIApp, LoopWatchdog(wrap_wsgi("ours", wsgi_app)))
    if impl == "router":
        from adapters import Router

        return cast(ASGIApp, Router({"/": wsgi_app}))
    if impl == "wsgi-mw":
        from adapters import wsgi_middleware

        return wsgi_middleware(PassThroughWsgiMiddleware)(native)
    return wrap_wsgi(impl, wsgi_app)


def a2w_app(impl: str, asgi_app: ASGIApp, native: WSGIApp) -> WSGIApp:
    return native if impl == "native" else wrap_asgi(impl, asgi_app)


# --------------------------------------------------------------------------- served by uvicorn

_served: dict[str, ASGIApp] = {}


def __getattr__(name: str) -> Any:
    """``served_<impl>``: the 13-byte hello app for uvicorn, built on first access."""
    if name.startswith("served_") and name[len("served_") :] in W2A_IMPLS:
        impl = name[len("served_") :]
        if impl not in _served:
            _served[impl] = w2a_app(impl, wsgi_hello, asgi_hello)
        return _served[impl]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
