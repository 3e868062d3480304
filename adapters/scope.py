"""WSGI environ -> ASGI HTTP scope (the direction :class:`adapters.AsgiToWsgi` needs)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote_from_bytes, unquote_to_bytes

from adapters._types import Environ, Scope
from adapters.environ import WSGI_ENVIRON_KEY

ASGI_VERSION = {"version": "3.0", "spec_version": "2.3"}
_HTTP_VERSIONS = {"1.0": "1.0", "1.1": "1.1", "2": "2", "2.0": "2", "3": "3", "3.0": "3"}
_SKIPPED = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})
_PATH_SAFE = "/!$&'()*+,;=:@-._~"
_SURROGATE = re.compile("[\udc80-\udcff]")


def decode_path(wsgi_path: str) -> str:
    """A PEP 3333 path (bytes as latin-1 str) as the UTF-8 text ASGI wants.

    Bytes that are not UTF-8 become ``%XX`` escapes instead of an error.
    """
    if wsgi_path.isascii():
        return wsgi_path
    raw = wsgi_path.encode("latin-1", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "surrogateescape")
        return _SURROGATE.sub(lambda m: f"%{ord(m.group()) - 0xDC00:02X}", text)


def _raw_path(environ: Environ, path_bytes: bytes) -> bytes:
    # The server's undecoded request target keeps e.g. %2F; trust it only while it still
    # names the same path (a dispatcher may have rewritten SCRIPT_NAME/PATH_INFO).
    uri: str | None = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if uri:
        target = uri.partition("?")[0]
        if not target.startswith("/") and "://" in target:
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        raw = target.encode("latin-1", "replace")
        if unquote_to_bytes(raw) == path_bytes:
            return raw
    return quote_from_bytes(path_bytes, _PATH_SAFE).encode("ascii")


def _client(environ: Environ) -> tuple[str, int] | None:
    host = environ.get("REMOTE_ADDR")
    if not host:
        return None
    port = environ.get("REMOTE_PORT")
    return (host, int(port) if port and str(port).isdigit() else 0)


def _server(environ: Environ) -> tuple[str, int | None] | None:
    name = environ.get("SERVER_NAME")
    if not name:
        return None
    port = environ.get("SERVER_PORT")
    return (name, int(port) if port and str(port).isdigit() else None)


def scope_from_environ(environ: Environ) -> Scope:
    """Build the ASGI HTTP connection scope for a WSGI request.

    ``path`` is SCRIPT_NAME + PATH_INFO decoded as UTF-8, ``root_path`` is SCRIPT_NAME,
    ``headers`` are the ``HTTP_*`` variables plus content-type/content-length (as
    latin-1 bytes, names lowercased with ``-``). No ``state`` or ``extensions``: the
    caller adds what it supports.

    The environ itself is kept as ``scope["wsgi.environ"]``, so that a WSGI app further in
    gets back the keys a WSGI middleware set (see :func:`adapters.environ_from_scope`). An
    environ that came from an ASGI scope (``environ["asgi.scope"]``) gives that scope's own
    keys back the same way (Starlette's ``state``, ``user``, ``session``...).
    """
    script_name: str = environ.get("SCRIPT_NAME", "")
    wsgi_path = script_name + environ.get("PATH_INFO", "")
    headers: list[tuple[bytes, bytes]] = []
    append = headers.append
    for key, value in environ.items():
        if key[:5] == "HTTP_" and key not in _SKIPPED:
            name = key[5:].lower().replace("_", "-").encode("latin-1")
            append((name, value.encode("latin-1", "replace")))
    content_type = environ.get("CONTENT_TYPE")
    if content_type:
        append((b"content-type", content_type.encode("latin-1", "replace")))
    content_length = environ.get("CONTENT_LENGTH")
    if content_length:
        append((b"content-length", content_length.encode("latin-1", "replace")))
    protocol: str = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": dict(ASGI_VERSION),
        "http_version": _HTTP_VERSIONS.get(protocol.partition("/")[2], "1.1"),
        "method": environ.get("REQUEST_METHOD", "GET").upper(),
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": decode_path(wsgi_path),
        "raw_path": _raw_path(environ, wsgi_path.encode("latin-1", "replace")),
        "root_path": decode_path(script_name),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1", "replace"),
        "headers": headers,
        "client": _client(environ),
        "server": _server(environ),
        WSGI_ENVIRON_KEY: environ,
    }
    outer_scope: Scope | None = environ.get("asgi.scope")
    if outer_scope:
        for key, value in outer_scope.items():
            if key not in scope:
                scope[key] = value
    return scope
