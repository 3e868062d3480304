"""Reads of what only the WSGI server put in the environ, in a module whose app is served
through the adapter now.

A WSGI server says who it is in ``SERVER_SOFTWARE`` (``gunicorn/23.0.0``, ``waitress``,
``WSGIServer/0.2``) and hands the app keys of its own (``gunicorn.socket``,
``uwsgi.version``, ``werkzeug.server.shutdown``). Served by an ASGI server through
``adapters.WsgiToAsgi``, the environ has none of them, so code deciding by them decides
otherwise. httpbin, for one, accepted chunked request bodies only where ``SERVER_SOFTWARE``
named gunicorn: under uvicorn it answered them 501. What to do instead depends on what the
code wanted to know: each read gets a ``manual`` marker saying so.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from migrate import analysis
from migrate.rules.served_app.attributes import Parent, statement_of

#: Keys of one server's own (PEP 3333 lets a server add keys named after it).
_PREFIXES = (
    "gunicorn.", "uwsgi.", "waitress.", "werkzeug.server.", "werkzeug.socket", "eventlet.",
    "gevent.", "mod_wsgi.", "apache.",
)  # fmt: skip
#: How a key is read: ``environ[key]``, ``environ.get(key)``, ``key in environ``.
_READING_METHODS = frozenset({"get", "pop", "setdefault", "__getitem__", "__contains__"})


def is_server_key(key: str) -> bool:
    """``key`` is one only the WSGI server sets: its name, or a key of its own."""
    return key == "SERVER_SOFTWARE" or key.startswith(_PREFIXES)


def server_key_reads(
    module: cst.Module, parent: Parent
) -> Iterator[tuple[cst.SimpleStatementLine | cst.BaseCompoundStatement, str]]:
    """``(statement, key)`` for each read of a server's key in ``module``, with the innermost
    statement holding it."""
    for node in analysis.walk(module):
        if type(node) is not cst.SimpleString:
            continue
        key = node.evaluated_value
        if not isinstance(key, str) or not is_server_key(key) or not _read(node, parent):
            continue
        statement = statement_of(node, parent)
        if isinstance(statement, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            yield statement, key


def _read(literal: cst.SimpleString, parent: Parent) -> bool:
    """``literal`` is a key being read: a subscript's index, the first argument of
    ``.get(...)`` and the like, the left side of ``in``."""
    above = parent(literal)
    if isinstance(above, cst.Index):
        return isinstance(parent(above), cst.SubscriptElement)
    if isinstance(above, cst.Arg):
        call = parent(above)
        return (
            isinstance(call, cst.Call)
            and bool(call.args)
            and call.args[0] is above
            and isinstance(call.func, cst.Attribute)
            and call.func.attr.value in _READING_METHODS
        )
    if isinstance(above, cst.Comparison):
        return above.left is literal and any(
            isinstance(t.operator, (cst.In, cst.NotIn)) for t in above.comparisons
        )
    return False


def message(key: str) -> str:
    if key == "SERVER_SOFTWARE":
        what = (
            "`SERVER_SOFTWARE` named the WSGI server (gunicorn sets `gunicorn/<version>`, "
            "waitress `waitress`)"
        )
    else:
        what = f"`{key}` is a key of one WSGI server's own"
    return (
        f"{what}; the app is served through adapters.WsgiToAsgi now, whose environ has no "
        f"`{key}`: check what this code decides by it"
    )
