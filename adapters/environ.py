"""Build a PEP 3333 WSGI environ from an ASGI HTTP scope (ASGI spec, "WSGI Compatibility").

:func:`environ_from_scope` is public: the adapters use it and so can other code. Rules:

* ``SCRIPT_NAME`` is ``root_path``; ``PATH_INFO`` is ``path`` minus ``root_path``, stripped only at
  a segment boundary (root ``/mnt`` does not eat ``/mntx``); a ``path`` that does not start with
  ``root_path`` is taken as already relative to it. Both are "bytes as latin-1" native strings of
  the request path's bytes, as PEP 3333 wants: taken from ``raw_path`` when it has escapes and
  still names ``path``, so an escape that is not UTF-8 (``/caf%E9``) reaches the app as sent
  (see :func:`wsgi_paths`).
* ``REQUEST_URI`` / ``RAW_URI`` come from ``raw_path`` (undecoded, so ``%2F`` survives) when the
  server gives it.
* Request headers become ``HTTP_*`` (``CONTENT_TYPE`` / ``CONTENT_LENGTH`` without the prefix);
  repeated headers are joined with ``,`` (``Cookie`` with ``; ``). Header names containing ``_``
  are dropped unless ``keep_underscore_headers`` (as gunicorn and nginx do), so ``X_Forwarded_For``
  cannot pose as ``X-Forwarded-For``.
* ``SERVER_NAME`` / ``SERVER_PORT`` come from ``server``; with no ``server`` or a unix socket
  (``[path, None]``) from the ``Host`` header, else ``localhost`` and the scheme's default port.
  Ports are strings. ``REMOTE_ADDR`` / ``REMOTE_PORT`` are set only when ``client`` is known.
* ``wsgi.input_terminated`` is true: the input stream returns EOF at the end of the body, so a
  body without Content-Length (chunked, HTTP/2) can be read to EOF.
* ``environ["asgi.scope"]`` is the scope itself.
* A scope that came from a WSGI environ (:func:`adapters.scope.scope_from_environ` keeps it as
  ``scope["wsgi.environ"]``) gets that environ's own keys back: whatever is not recomputed from
  the scope (``REMOTE_USER``, ``AUTH_TYPE``, a middleware's ``myapp.user``). So a WSGI middleware
  that sets an environ key still reaches a WSGI app behind an ASGI layer, as in a WSGI-only stack.
"""

from __future__ import annotations

import io
import sys
from typing import IO, Any
from urllib.parse import unquote_to_bytes

from adapters._types import Environ, Scope

__all__ = ["base_environ", "environ_from_scope", "scope_environ", "wsgi_paths"]

#: The key under which a scope built from a WSGI environ keeps that environ.
WSGI_ENVIRON_KEY = "wsgi.environ"
# Keys computed from the scope: never carried over from an older environ, which could be stale.
DERIVED_KEYS = frozenset(
    {
        "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE",
        "CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR",
        "REMOTE_PORT", "REQUEST_URI", "RAW_URI",
    }
)  # fmt: skip

_SPECIAL = {b"content-type": "CONTENT_TYPE", b"content-length": "CONTENT_LENGTH"}
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
# header name -> environ key ("" = dropped); bounded so random header names cannot grow it forever
_KEYS: dict[bool, dict[bytes, str]] = {False: {}, True: {}}
_KEYS_MAX = 1024


def _header_key(name: bytes, keep_underscore: bool) -> str:
    special = _SPECIAL.get(name.lower())
    if special is not None:
        return special
    if b"_" in name and not keep_underscore:
        return ""
    return "HTTP_" + name.decode("latin-1").upper().replace("-", "_")


def base_environ(
    *,
    errors: IO[str] | None = None,
    multithread: bool = True,
    multiprocess: bool = True,
    file_wrapper: Any = None,
) -> Environ:
    """The request-independent part of every environ (copied per request)."""
    environ: Environ = {
        "wsgi.version": (1, 0),
        "wsgi.errors": sys.stderr if errors is None else errors,
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    if file_wrapper is not None:
        environ["wsgi.file_wrapper"] = file_wrapper
    return environ


def _to_native(text: str) -> str:
    """A decoded URL path as PEP 3333 wants it: the UTF-8 bytes, as latin-1 characters."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _host_and_port(host: str | None, scheme: str) -> tuple[str, str]:
    default = _DEFAULT_PORTS.get(scheme, "80")
    if not host:
        return "localhost", default
    if host.startswith("["):  # [v6]:port
        end = host.find("]")
        rest = host[end + 1 :]
        return host[: end + 1], rest[1:] if rest.startswith(":") and rest[1:] else default
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, port
    return host, default


def wsgi_paths(scope: Scope) -> tuple[str, str]:
    """``(SCRIPT_NAME, PATH_INFO)`` for ``scope``, as PEP 3333 latin-1 native strings.

    The path comes from ``raw_path`` when it has escapes and still names ``path`` (a
    middleware may have rewritten ``path`` and left ``raw_path`` behind): only the raw bytes
    keep an escape that is not UTF-8 (``/caf%E9``), which the server's decoded ``path`` has
    replaced. The root path is stripped only at a segment boundary (``/mnt`` does not eat
    ``/mntx``); a path equal to the root path gives ``(root, "")``, as
    ``wsgiref.util.shift_path_info`` leaves it. A ``path`` that does not start with the root
    path is taken as already relative to it.
    """
    path: str = scope["path"]
    native = _to_native(path)
    raw_path: bytes | None = scope.get("raw_path")
    if raw_path and b"%" in raw_path:
        raw = unquote_to_bytes(raw_path)
        if raw.decode("utf-8", "replace") == path:
            native = raw.decode("latin-1")
    root = _to_native(scope.get("root_path", ""))
    if native == root:  # e.g. after wsgiref's shift_path_info of a trailing "/": ("/m/", "")
        return root, ""
    root = root.rstrip("/")
    if native.startswith(root) and native[len(root) : len(root) + 1] in ("", "/"):
        native = native[len(root) :]
    return root, native


def environ_from_scope(
    scope: Scope,
    body_stream: Any,
    *,
    base: Environ | None = None,
    keep_underscore_headers: bool = False,
    errors: IO[str] | None = None,
) -> Environ:
    """A WSGI environ for the ASGI HTTP ``scope``; ``body_stream`` becomes ``wsgi.input``.

    ``base`` (from :func:`base_environ`) is copied, not modified; without it a default one is
    built (``errors`` goes to ``wsgi.errors``, default ``sys.stderr``).
    """
    environ = (base_environ(errors=errors) if base is None else base).copy()
    scheme: str = scope.get("scheme") or "http"
    query = scope.get("query_string", b"")
    environ["REQUEST_METHOD"] = scope.get("method", "GET")
    environ["SCRIPT_NAME"], environ["PATH_INFO"] = wsgi_paths(scope)
    environ["QUERY_STRING"] = query.decode("latin-1")
    environ["SERVER_PROTOCOL"] = "HTTP/" + scope.get("http_version", "1.1")
    environ["wsgi.url_scheme"] = scheme
    environ["wsgi.input"] = body_stream
    environ["asgi.scope"] = scope
    raw_path = scope.get("raw_path")
    if raw_path:
        uri = raw_path.decode("latin-1")
        if query:
            uri += "?" + environ["QUERY_STRING"]
        environ["REQUEST_URI"] = environ["RAW_URI"] = uri
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
        if client[1] is not None:
            environ["REMOTE_PORT"] = str(client[1])

    keys = _KEYS[keep_underscore_headers]
    for name, value in scope.get("headers", ()):
        key = keys.get(name)
        if key is None:
            key = _header_key(name, keep_underscore_headers)
            if len(keys) < _KEYS_MAX:
                keys[name] = key
        if not key:
            continue
        text = value.decode("latin-1").strip()  # as WSGI servers give them (wsgiref, gunicorn)
        old = environ.get(key)
        if old is not None:
            text = old + ("; " if key == "HTTP_COOKIE" else ",") + text
        environ[key] = text

    server = scope.get("server")
    if server and server[1] is not None:
        environ["SERVER_NAME"] = str(server[0])
        environ["SERVER_PORT"] = str(server[1])
    else:  # no server, or a unix socket [path, None]: the Host header is the best we know
        environ["SERVER_NAME"], environ["SERVER_PORT"] = _host_and_port(
            environ.get("HTTP_HOST"), scheme
        )
    carried: Environ | None = scope.get(WSGI_ENVIRON_KEY)
    if carried:
        _carry_environ_keys(carried, environ)
    return environ


#: Where :func:`scope_environ` keeps the environ it built, in the scope.
SCOPE_ENVIRON_KEY = "wsgi2asgi.environ"


def scope_environ(scope: Scope) -> Environ:
    """The environ a WSGI server would give for ``scope`` (:func:`environ_from_scope`, with
    an empty body), built once and kept in the scope: for code reading the request's keys
    (``migrate`` writes ``scope_environ(req.scope).get("HTTP_X_FORWARDED_FOR")`` where a
    Falcon or Flask app read ``req.env``/``request.environ``)."""
    environ: Environ | None = scope.get(SCOPE_ENVIRON_KEY)
    if environ is None:
        environ = scope[SCOPE_ENVIRON_KEY] = environ_from_scope(scope, io.BytesIO())
    return environ


def _carry_environ_keys(old: Environ, new: Environ) -> None:
    for key, value in old.items():
        if key in new or key in DERIVED_KEYS or key.startswith(("HTTP_", "wsgi.", "asgi.")):
            continue
        new[key] = value
