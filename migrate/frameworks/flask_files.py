"""``send_file`` and ``send_from_directory`` under Quart: which calls move, and how.

Quart's are coroutines with other keyword names (``download_name`` → ``attachment_filename``,
``max_age`` → ``cache_timeout``, ``etag`` → ``add_etags``, ``path`` → ``file_name``), and
``send_file`` answers conditional (Range, If-None-Match) requests only when asked, where
Flask's always does. Quart's ``send_file`` takes a path or a ``BytesIO`` and nothing else,
and marks every file response ``public``: a ``BytesIO`` (a per-user export, say) would become
cacheable by shared caches. So a call moves only when its file is certainly a path (a string,
an ``os.path.join(...)``, a ``Path``, a view's URL parameter or a local name only ever given one
of those), and every argument has a Quart counterpart; any other keeps the run on Flask.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping

from migrate.frameworks import assigned_values, callee_name, own_nodes

#: flask's file senders and the number of positional arguments Quart's takes in the same order.
SENDERS = {"send_file": 4, "send_from_directory": 2}
#: Flask's keyword -> Quart's (None: the same name).
KEYWORDS: dict[str, dict[str, str | None]] = {
    "send_file": {
        "path_or_file": "filename_or_io", "mimetype": None, "as_attachment": None,
        "download_name": "attachment_filename", "conditional": None, "etag": "add_etags",
        "last_modified": None, "max_age": "cache_timeout",
    },
    "send_from_directory": {
        "directory": None, "path": "file_name", "mimetype": None, "as_attachment": None,
        "download_name": "attachment_filename", "conditional": None, "etag": "add_etags",
        "last_modified": None, "max_age": "cache_timeout",
    },
}  # fmt: skip
#: Calls whose result is certainly a path (``os.path.join``, ``Path``, ``str``...).
PATH_MAKERS = frozenset({
    "join", "safe_join", "Path", "PurePath", "str", "abspath", "realpath", "normpath",
    "joinpath", "resolve", "fspath", "expanduser",
})  # fmt: skip


def blockers(
    nodes: list[ast.AST],
    flask_names: Mapping[str, str],
    is_view: Callable[[ast.FunctionDef], bool],
) -> Iterator[str]:
    """Why the module's file-sending calls cannot move to Quart (nothing: they all can)."""
    senders = {local: name for local, name in flask_names.items() if name in SENDERS}
    if not senders:
        return
    placed: set[int] = set()
    for func in nodes:
        if not isinstance(func, ast.FunctionDef):
            continue
        own = list(own_nodes(func))
        for call in own:
            if isinstance(call, ast.Call) and _sender(call, senders):
                placed.add(id(call))
                reason = _call_blocker(call, senders[_sender(call, senders)], func, own, is_view)
                if reason:
                    yield f"`{func.name}` {reason}"
    for call in nodes:
        if isinstance(call, ast.Call) and _sender(call, senders) and id(call) not in placed:
            yield "it sends a file outside a function"


def _sender(call: ast.Call, senders: Mapping[str, str]) -> str:
    return call.func.id if isinstance(call.func, ast.Name) and call.func.id in senders else ""


def _call_blocker(
    call: ast.Call,
    name: str,
    func: ast.FunctionDef,
    own: list[ast.AST],
    is_view: Callable[[ast.FunctionDef], bool],
) -> str:
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        return f"passes `{name}` arguments by unpacking"
    if len(call.args) > SENDERS[name]:
        return f"passes `{name}` more positional arguments than Quart's takes in that order"
    for keyword in call.keywords:
        if keyword.arg not in KEYWORDS[name]:
            return f"passes `{name}` the argument `{keyword.arg}`, which Quart's lacks"
        if keyword.arg == "etag" and not (
            isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, bool)
        ):
            return f"passes `{name}` an etag of its own (Quart's makes its own or none)"
        if keyword.arg == "max_age" and not _is_number(keyword.value):
            return f"passes `{name}` a max_age that may be a function (Quart's takes seconds)"
    if name == "send_file":
        first = call.args[0] if call.args else _keyword(call, "path_or_file")
        if first is None or not _is_path(first, func, own, is_view(func)):
            return "sends a file that may be a file object (Quart's send_file takes paths only)"
    return ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_number(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return node.value is None or isinstance(node.value, int)
    if isinstance(node, ast.BinOp):
        return _is_number(node.left) and _is_number(node.right)
    return False


def _is_path(node: ast.expr, func: ast.FunctionDef, own: list[ast.AST], view: bool) -> bool:
    """``node`` is certainly a path (a ``str`` or a ``Path``), never a file object."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Call):
        return callee_name(node) in PATH_MAKERS
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Div, ast.Mod)):
        return _is_path(node.left, func, own, view)
    if isinstance(node, ast.Name):
        if any(a.arg == node.id for a in func.args.args + func.args.kwonlyargs):
            return view  # a view's parameters are its URL's values: strings (or numbers)
        values = list(assigned_values(node.id, own))
        return bool(values) and all(
            value is not None and _is_path(value, func, own, view) for value in values
        )
    return False
