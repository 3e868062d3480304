"""The environ keys a WSGI server sets, and the request headers they stand for.

Shared by the rules' analysis (on libcst trees) and the module summaries of
:mod:`migrate.project` (on CPython's AST, in workers that never load libcst), so both read
an environ key the same way.
"""

from __future__ import annotations

import re

__all__ = ["ALWAYS_PRESENT_KEYS", "header_of_key", "is_carried_key", "is_known_key"]

#: Keys every WSGI server sets (so ``.get(key, default)`` never uses the default).
ALWAYS_PRESENT_KEYS = frozenset(
    {
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "wsgi.url_scheme",
        "wsgi.errors",
    }
)


def header_of_key(key: str) -> str | None:
    """The ASGI header name a CGI key stands for: ``HTTP_X_FOO`` -> ``x-foo``,
    ``CONTENT_TYPE`` -> ``content-type``; None for other keys."""
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return key.lower().replace("_", "-")
    if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
        return None  # servers never set these (the header is CONTENT_TYPE/_LENGTH)
    if key.startswith("HTTP_") and len(key) > 5 and re.fullmatch(r"[A-Z0-9_]+", key[5:]):
        return key[5:].lower().replace("_", "-")
    return None


def is_known_key(key: str) -> bool:
    return key in ALWAYS_PRESENT_KEYS or key == "wsgi.input" or header_of_key(key) is not None


def is_carried_key(key: str) -> bool:
    """A key no server sets for every request but code in front of the app does (its own
    ``myapp.session``, ``beaker.session``, ``REMOTE_USER``): under ASGI, middleware hands
    such keys on in ``scope["wsgi.environ"]`` (``adapters.asgi_helpers.with_environ_key``,
    and the adapters keep a WSGI environ there), so an app reads them from it."""
    return not is_known_key(key) and not key.startswith("wsgi.")
