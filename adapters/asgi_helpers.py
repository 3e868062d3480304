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

import io
import sys
import wsgiref.util
from typing import Any
from urllib.parse import quote_from_bytes, unquote_to_bytes

from adapters._types import Receive, Scope, Send

__all__ = [
    "application_uri",
    "build_environ",
    "handle_non_http",
    "path_info",
    "read_body",
    "remote_addr",
    "request_headers",
    "request_path",
    "request_uri",
    "script_name",
    "server_name",
    "server_port",
    "shift_path_info",
]

_PATH_SAFE = "/:@!$&'()*+,;=-._~"


async def handle_non_http(scope: Scope, receive: Receive, send: Send) -> None:
    """What an HTTP-only app does with other scopes: completes the lifespan handshake
    and refuses websockets (the server answers 403)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "websocket":
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 1000})


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
    root: str = scope.get("root_path", "")
    return root.encode("utf-8", "surrogateescape").decode("latin-1")


def path_info(scope: Scope) -> str:
    """``environ["PATH_INFO"]``: the percent-decoded path below the root path, as a
    PEP 3333 latin-1 string (bytes as code points, like WSGI servers give it)."""
    raw_path: bytes | None = scope.get("raw_path")
    if raw_path is not None:
        path = unquote_to_bytes(raw_path).decode("latin-1")
    else:
        path = scope["path"].encode("utf-8").decode("latin-1")
    root = script_name(scope)
    if root and path.startswith(root):
        path = path[len(root) :]
    return path


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
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name(scope),
        "PATH_INFO": path_info(scope),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": server_name(scope),
        "SERVER_PORT": server_port(scope),
        "SERVER_PROTOCOL": "HTTP/" + scope["http_version"],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])
    for name, value in request_headers(scope).items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    return environ


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
