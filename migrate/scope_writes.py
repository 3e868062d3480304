"""What a write to the WSGI environ becomes in ASGI code: a changed copy of the scope.

WSGI code hands values to the code behind it by writing to the environ (``environ["PATH_INFO"]
= ...``, ``environ["myapp.user"] = user``, ``environ.pop("REMOTE_USER", None)``). ASGI code
hands on a scope, so each write becomes ``scope = <a copy with the change>``; keys that are
not part of the request (a middleware's own ``myapp.user``) travel in ``scope["wsgi.environ"]``
(:func:`adapters.asgi_helpers.with_environ_key`), where converted apps and the adapters find
them. Shared by the wsgi-app and wsgi-middleware rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from migrate import analysis, wsgi_keys
from migrate.analysis import is_plain_name
from migrate.cst_helpers import HELPERS

#: Environ keys a WSGI server computes from the request (the adapters never carry them over).
_DERIVED_KEYS = frozenset(
    {"REMOTE_PORT", "REQUEST_URI", "RAW_URI", "CONTENT_TYPE", "CONTENT_LENGTH"}
)


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


class CannotWrite(Exception):
    """The write has no faithful scope equivalent (the message says why)."""


@dataclass
class Writes:
    count: int = 0
    replaced_input: bool = False
    keys: list[str] = field(default_factory=list)
    #: custom keys handed on to WSGI apps behind in scope["wsgi.environ"]
    carried: list[str] = field(default_factory=list)


def _is_carried(key: str) -> bool:
    return not (
        wsgi_keys.is_known_key(key)
        or key in _DERIVED_KEYS
        or key.startswith(("HTTP_", "wsgi.", "asgi."))
    )


def environ_write(key: str, value: str, writes: Writes) -> str:
    """The statement (text) giving the scope what ``environ[key] = value`` gives the environ."""
    writes.count += 1
    writes.keys.append(key)
    header = wsgi_keys.header_of_key(key)
    if header is not None:
        return f'scope = {HELPERS}.with_request_header(scope, "{header}", {value})'
    if key == "PATH_INFO":
        return f"scope = {HELPERS}.with_wsgi_path(scope, path_info={value})"
    if key == "SCRIPT_NAME":
        return f"scope = {HELPERS}.with_wsgi_path(scope, script_name={value})"
    if key == "REQUEST_METHOD":
        return f'scope = {{**scope, "method": {value}}}'
    if key == "QUERY_STRING":
        return f'scope = {{**scope, "query_string": ({value}).encode("latin-1")}}'
    if key == "wsgi.url_scheme":
        return f'scope = {{**scope, "scheme": {value}}}'
    if _is_carried(key):
        writes.carried.append(key)
        return f'scope = {HELPERS}.with_environ_key(scope, "{key}", {value})'
    raise CannotWrite(
        f"it sets environ[{key!r}] for the code behind it, which an ASGI app cannot read "
        "from the scope"
    )


def environ_removal(key: str, writes: Writes, *, may_be_missing: bool) -> str | None:
    """The statement (text) for ``del environ[key]`` / ``environ.pop(key, default)`` whose
    result is unused, or None when the key has no place in the scope to be removed from.
    A custom key is removed only where a missing one is no error (``pop`` with a default):
    ``del`` raises KeyError for it in WSGI, and the scope could not say so."""
    header = wsgi_keys.header_of_key(key)
    if header is not None:
        writes.count += 1
        return f'scope = {HELPERS}.with_request_header(scope, "{header}", None)'
    if _is_carried(key) and may_be_missing:
        writes.count += 1
        return f'scope = {HELPERS}.without_environ_key(scope, "{key}")'
    return None


def write_statement(small: cst.BaseSmallStatement, environ: str, writes: Writes) -> str | None:
    """The scope statement (text) for one small statement that writes to ``environ``:
    ``environ[KEY] = value``, ``environ[KEY] += value``, ``del environ[KEY]``, or an
    ``environ.pop(KEY[, default])`` whose result is unused; None for any other statement.
    (``environ["wsgi.input"]`` is the caller's: it is the request body.)"""
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        target = small.targets[0].target
        key = analysis.environ_subscript_key(target, environ)
        if key is not None and key != "wsgi.input":
            return environ_write(key, _code(small.value), writes)
        computed = _computed_key(target, environ)
        if computed is not None:
            # which part of the scope it is becomes known when the code runs
            writes.count += 1
            writes.keys.append(_code(computed))
            return (
                f"scope = {HELPERS}.with_environ_value(scope, {_code(computed)}, "
                f"{_code(small.value)})"
            )
    elif isinstance(small, cst.AugAssign) and isinstance(small.operator, cst.AddAssign):
        key = analysis.environ_subscript_key(small.target, environ)
        if key is not None:
            value = f'{environ}["{key}"] + {_code(small.value)}'
            return environ_write(key, value, writes)
    elif isinstance(small, cst.Del):
        key = analysis.environ_subscript_key(small.target, environ)
        if key is not None:
            return environ_removal(key, writes, may_be_missing=False)
    elif isinstance(small, cst.Expr):
        key = popped_key(small.value, environ)
        if key is not None:
            return environ_removal(key, writes, may_be_missing=True)
    return None


def _computed_key(node: cst.BaseExpression, environ: str) -> cst.BaseExpression | None:
    """``expr`` of ``environ[expr]`` when it is not a literal (``environ[self.key]``)."""
    if (
        isinstance(node, cst.Subscript)
        and is_plain_name(node.value, environ)
        and len(node.slice) == 1
        and isinstance(node.slice[0].slice, cst.Index)
        and analysis.string_value(node.slice[0].slice.value) is None
        and not isinstance(node.slice[0].slice.value, (cst.SimpleString, cst.ConcatenatedString))
    ):
        return node.slice[0].slice.value
    return None


def popped_key(node: cst.BaseExpression, environ: str) -> str | None:
    """``KEY`` of ``environ.pop(KEY, default)`` with a literal key (without a default, a
    missing key raises: no scope statement says that)."""
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "pop"
        and is_plain_name(node.func.value, environ)
        and len(node.args) == 2
        and all(a.keyword is None and not a.star for a in node.args)
    ):
        return analysis.string_value(node.args[0].value)
    return None
