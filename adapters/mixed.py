"""Running WSGI and ASGI pieces side by side while an app is half migrated.

- :func:`is_asgi_app` / :func:`as_asgi` / :func:`as_wsgi`: tell the two kinds apart and
  convert either way, unwrapping instead of stacking adapters where possible.
- :class:`Router`: mounts apps by path prefix, WSGI and ASGI alike (strangler-style
  migrations: new ASGI endpoints in front of an old WSGI app).
- :func:`wsgi_middleware` / :func:`asgi_middleware_around_wsgi`: a WSGI middleware around an
  ASGI app, and an ASGI middleware around a WSGI app, in one call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from adapters._types import ASGIApp, Message, Receive, Scope, Send, WSGIApp
from adapters.asgi_to_wsgi import AsgiToWsgi
from adapters.wsgi_to_asgi import WsgiToAsgi


def _positional_arity(func: Callable[..., Any]) -> int | None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = [p for p in signature.parameters.values() if p.kind in kinds]
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in signature.parameters.values()):
        return None
    return len(params)


def is_asgi_app(app: Any) -> bool:
    """True for an ASGI 3 app, False for a WSGI app; TypeError when it cannot tell.

    An ASGI 3 app is a coroutine function (or an object whose ``__call__`` is one) of
    (scope, receive, send); a WSGI app is a plain callable of (environ, start_response).
    """
    if isinstance(app, WsgiToAsgi):
        return True
    if isinstance(app, AsgiToWsgi):
        return False
    call = app if inspect.isroutine(app) else getattr(app, "__call__", None)  # noqa: B004
    if call is None:
        raise TypeError(f"{app!r} is not callable, so it is neither a WSGI nor an ASGI app")
    target = call.func if isinstance(call, functools.partial) else call
    if inspect.iscoroutinefunction(target):
        return True
    arity = _positional_arity(call)
    if arity == 2:
        return False
    raise TypeError(
        f"cannot tell whether {app!r} is a WSGI or an ASGI app (ASGI apps are "
        "`async def app(scope, receive, send)`, WSGI apps `def app(environ, start_response)`); "
        "wrap it explicitly with adapters.WsgiToAsgi(...) or adapters.AsgiToWsgi(...)"
    )


def as_asgi(app: Any, **options: Any) -> ASGIApp:
    """``app`` as an ASGI 3 app: unchanged if it already is one, else wrapped in WsgiToAsgi.

    ``AsgiToWsgi(x)`` is unwrapped back to ``x`` instead of stacking two adapters.
    """
    if isinstance(app, AsgiToWsgi):
        inner: ASGIApp = app.app
        return inner
    if is_asgi_app(app):
        asgi_app: ASGIApp = app
        return asgi_app
    return WsgiToAsgi(app, **options)


def as_wsgi(app: Any, **options: Any) -> WSGIApp:
    """``app`` as a WSGI app: unchanged if it already is one, else wrapped in AsgiToWsgi.

    ``WsgiToAsgi(x)`` is unwrapped back to ``x`` instead of stacking two adapters.
    """
    if isinstance(app, WsgiToAsgi):
        inner: WSGIApp = app.wsgi_app
        return inner
    if is_asgi_app(app):
        return AsgiToWsgi(app, **options)
    wsgi_app: WSGIApp = app
    return wsgi_app


def _normalise_prefix(prefix: str) -> str:
    if prefix in ("", "/"):
        return ""
    if not prefix.startswith("/"):
        raise ValueError(f"mount prefix {prefix!r} must start with '/'")
    return prefix.rstrip("/")


class Router:
    """An ASGI app that mounts WSGI and ASGI apps by path prefix.

        app = Router({"/api/v2": new_asgi_api, "/": legacy_wsgi_app})

    Prefixes match on segment boundaries (``/api`` serves ``/api`` and ``/api/x`` but not
    ``/apix``), the longest first. A mounted app sees ``root_path`` extended by its prefix and
    ``path`` unchanged (the ASGI spec: path includes root_path), so a WSGI app gets
    SCRIPT_NAME=prefix and PATH_INFO=the rest, as under any WSGI mount. Unmatched paths get a
    plain 404. WSGI apps are wrapped with :class:`WsgiToAsgi` (``options`` go to it; pass
    ``thread_pool=`` to share one pool). Lifespan events reach every distinct ASGI app once,
    even when it is mounted at several prefixes; the router reports startup complete only
    when all of them did.
    """

    def __init__(self, mounts: Mapping[str, Any], **options: Any) -> None:
        routes: dict[str, ASGIApp] = {}
        for prefix, app in mounts.items():
            key = _normalise_prefix(prefix)
            if key in routes:
                raise ValueError(f"two apps mounted at {prefix!r}")
            routes[key] = as_asgi(app, **options)
        # Longest prefix first, so /api/v2 wins over /api and "" (the root) comes last.
        self.routes: list[tuple[str, ASGIApp]] = sorted(
            routes.items(), key=lambda item: len(item[0]), reverse=True
        )

    def match(self, path: str) -> tuple[str, ASGIApp] | None:
        """The (prefix, app) serving ``path`` (the part of the path after root_path)."""
        for prefix, app in self.routes:
            if path == prefix or path.startswith(prefix + "/") or prefix == "":
                return prefix, app
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        root_path: str = scope.get("root_path", "")
        path: str = scope["path"]
        # The part of the path this router routes on: path minus our own root_path.
        local = path[len(root_path) :] if _under(path, root_path) else path
        found = self.match(local)
        if found is None:
            await _not_found(scope, receive, send)
            return
        prefix, app = found
        child = dict(scope)
        child["root_path"] = root_path + prefix
        await app(child, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        apps = list({id(app): app for _, app in self.routes}.values())
        children = [_LifespanChild(app, scope) for app in apps]
        for child in children:
            child.start()
        try:
            while True:
                message = await receive()
                phase = message["type"].split(".")[-1]  # "startup" or "shutdown"
                errors = [
                    err
                    for err in await asyncio.gather(*(c.forward(message) for c in children))
                    if err
                ]
                if errors:
                    await send({"type": f"lifespan.{phase}.failed", "message": "; ".join(errors)})
                else:
                    await send({"type": f"lifespan.{phase}.complete"})
                if phase == "shutdown":
                    return
        finally:
            for child in children:
                child.stop()


def _under(path: str, root_path: str) -> bool:
    return bool(root_path) and (path == root_path or path.startswith(root_path + "/"))


class _LifespanChild:
    """One mounted app's lifespan, run as its own task with its own message queues."""

    def __init__(self, app: ASGIApp, scope: Scope) -> None:
        self.app = app
        self.scope = scope
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        #: The app does not speak lifespan (it raised or returned): it is skipped from then on.
        self.unsupported = False

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        # An app without lifespan support raises here (or returns): from then on it is skipped.
        with contextlib.suppress(Exception):
            await self.app(dict(self.scope), self.inbox.get, self._send)
        self.unsupported = True
        await self.outbox.put({"type": "lifespan.unsupported"})

    async def _send(self, message: Message) -> None:
        await self.outbox.put(message)

    async def forward(self, message: Message) -> str | None:
        """Hand ``message`` to the app and wait for its answer; the error text if it failed."""
        if self.unsupported:
            return None
        await self.inbox.put(message)
        answer = await self.outbox.get()
        if answer["type"].endswith(".failed"):
            return str(answer.get("message", "") or f"{self.app!r} failed {message['type']}")
        return None

    def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1000})
        return
    body = b"Not Found"
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"9")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def wsgi_middleware(
    middleware: Callable[..., WSGIApp], **adapter_options: Any
) -> Callable[..., ASGIApp]:
    """Turn a WSGI middleware factory into one that wraps ASGI apps.

        Auth = wsgi_middleware(LegacyWsgiAuth)   # Auth(asgi_app, *args) -> ASGI app
        app = Auth(asgi_app, realm="x")

    The inner ASGI app is served to the middleware through :class:`AsgiToWsgi` (or unwrapped,
    if it is a :class:`WsgiToAsgi`), and the result served back through :class:`WsgiToAsgi`.
    Non-HTTP scopes (lifespan, websocket) bypass the WSGI middleware and reach the inner app.

    A class stays a class: ``wsgi_middleware(LegacyWsgiAuth)`` is then a subclass of it, with
    the same constructor signature and class attributes, whose instances are ASGI apps
    (``isinstance``, subclassing and ``Auth.option`` keep working). Its name drops the
    ``_...Wsgi`` that ``migrate`` gives the WSGI class it keeps (``_AuthWsgi`` -> ``Auth``).
    """
    if isinstance(middleware, type):
        return _asgi_subclass(middleware, adapter_options)

    @functools.wraps(middleware, updated=())
    def wrap(app: Any, *args: Any, **kwargs: Any) -> ASGIApp:
        inner_asgi = as_asgi(app, **adapter_options)
        wrapped = WsgiToAsgi(middleware(_inner_wsgi(app), *args, **kwargs), **adapter_options)
        return _HttpOnly(wrapped, inner_asgi)

    return wrap


def _inner_wsgi(app: Any) -> WSGIApp:
    """The app a WSGI middleware wraps, as WSGI: an ASGI app's errors before its response
    reach the middleware as exceptions, as a WSGI app's would (error middleware sees them)."""
    return as_wsgi(app, raise_errors=True)


def _asgi_subclass(cls: type, adapter_options: dict[str, Any]) -> type:
    wsgi_init = getattr(cls, "__init__")  # noqa: B009 (mypy refuses cls.__init__)
    wsgi_call = cls.__call__

    @functools.wraps(wsgi_init)
    def __init__(self: Any, app: Any, *args: Any, **kwargs: Any) -> None:
        wsgi_init(self, _inner_wsgi(app), *args, **kwargs)
        wsgi_app = functools.partial(wsgi_call, self)
        self.__dict__["_asgi_app"] = _HttpOnly(
            WsgiToAsgi(wsgi_app, **adapter_options), as_asgi(app, **adapter_options)
        )

    async def __call__(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi_app(scope, receive, send)

    name = cls.__name__
    if name.startswith("_") and name.endswith("Wsgi") and len(name) > 5:
        name = name[1:-4]
    namespace = {
        "__init__": __init__,
        "__call__": __call__,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__.rsplit(".", 1)[0] + "." + name
        if "." in cls.__qualname__
        else name,
        "__doc__": cls.__doc__,
        "__wsgi_middleware__": cls,
    }
    return type(cls)(name, (cls,), namespace)


class _HttpOnly:
    """HTTP requests go to ``http_app``; lifespan and websocket go straight to ``inner``."""

    def __init__(self, http_app: ASGIApp, inner: ASGIApp) -> None:
        self.http_app = http_app
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http_app(scope, receive, send)
        else:
            await self.inner(scope, receive, send)


def asgi_middleware_around_wsgi(
    middleware: Callable[..., ASGIApp], wsgi_app: WSGIApp, *args: Any, **kwargs: Any
) -> ASGIApp:
    """An ASGI middleware around a WSGI app, as one ASGI app: ``middleware(WsgiToAsgi(app))``."""
    return middleware(as_asgi(wsgi_app), *args, **kwargs)
