"""gunicorn config files (``gunicorn.conf.py``, which gunicorn reads from its working folder
by default, or the file a command names with ``-c``): uvicorn workers for an ASGI app.

The file is Python: its top-level ``worker_class = "..."`` gets
``"uvicorn_worker.UvicornWorker"`` (one is added when it sets none), where the app it serves
is ASGI after the run: named by its ``wsgi_app = "module:attr"`` (a Django ``wsgi`` module
moves to its ``asgi`` sibling), or by the gunicorn commands of the run that use it (all of
them converted). ``threads``/``worker_connections`` stay, unread by uvicorn workers (the
message says what replaces them). Anything uncertain is marked and left as it is.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence

import libcst as cst

from migrate.analysis import _name_assignment
from migrate.rules.base import Change
from migrate.rules.deployment import RULE
from migrate.rules.deployment.apps import Resolution
from migrate.rules.deployment.commands import AppSpec
from migrate.rules.deployment.targets import ASGI_WORKERS, UVICORN_WORKER

#: Settings whose meaning changes under uvicorn workers, and how.
_CHANGED = {
    "threads": "is not read by uvicorn workers (blocking work runs on wsgi2asgi's thread pool)",
    "worker_connections": "is not read by uvicorn workers",
    "timeout": "now restarts a worker whose event loop stalls that long, with its requests",
    "access_log_format": "is ignored by uvicorn workers (uvicorn logs its own format)",
}
_NAMES = re.compile(r"^gunicorn([._-]?(conf|config|cfg|settings))?([._-][\w-]+)?\.py$")


def is_config_name(name: str) -> bool:
    return bool(_NAMES.match(name))


def _top_strings(module: cst.Module) -> dict[str, tuple[cst.SimpleStatementLine, cst.SimpleString]]:
    found = {}
    for stmt in module.body:
        assigned = _name_assignment(stmt)
        if assigned is not None and isinstance(assigned[1], cst.SimpleString):
            assert isinstance(stmt, cst.SimpleStatementLine)
            found[assigned[0]] = (stmt, assigned[1])
    return found


def _assigned(module: cst.Module, name: str) -> bool:
    """Whether a top-level statement assigns ``name``."""
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Assign):
                targets = [target.target for target in small.targets]
            elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                targets = [small.target]
            else:
                continue
            if any(isinstance(t, cst.Name) and t.value == name for t in targets):
                return True
    return False


def migrate_config(
    text: str, users: Sequence[bool], resolve: Callable[[AppSpec], Resolution]
) -> tuple[str, Change | None]:
    """The config's new text and what was done; ``users``: for each gunicorn command of the
    run using this file, whether it was converted."""
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        raise ValueError(f"cannot parse: {exc.message}") from None
    strings = _top_strings(module)
    worker = strings.get("worker_class")
    if worker is not None and worker[1].evaluated_value in ASGI_WORKERS:
        return text, None  # ASGI already
    app = strings.get("wsgi_app")
    new_app: str | None = None
    if app is not None:
        named = app[1].evaluated_value
        spec = AppSpec.parse(named) if isinstance(named, str) else None
        resolution = resolve(spec) if spec is not None else None
        if resolution is None or resolution.verdict != "asgi":
            return text, Change(RULE, _line(text, "wsgi_app"), "manual", (
                f"serves `{app[1].value}`, which the run did not make ASGI: the "
                "config keeps its WSGI worker"))  # fmt: skip
        if resolution.spec != spec:
            new_app = resolution.spec.text()
    elif not users:
        return text, None  # no command of the run uses it: nothing says what it serves
    elif not all(users):
        return text, Change(RULE, 1, "manual", (
            "a gunicorn command using this config keeps its WSGI server, so it keeps its "
            "WSGI worker"))  # fmt: skip
    if worker is None and _assigned(module, "worker_class"):
        return text, Change(RULE, 1, "manual", (
            "`worker_class` is computed: set it to uvicorn_worker.UvicornWorker by hand"))  # fmt: skip
    quote = worker[1].quote if worker is not None else _usual_quote(strings)
    new_worker = cst.SimpleString(f"{quote}{UVICORN_WORKER}{quote}")
    replacements: dict[cst.CSTNode, cst.CSTNode] = {}
    if worker is not None:
        replacements[worker[1]] = new_worker
    if new_app is not None and app is not None:
        replacements[app[1]] = cst.SimpleString(f"{app[1].quote}{new_app}{app[1].quote}")
    new_module = module.visit(_Replace(replacements)) if replacements else module
    assert isinstance(new_module, cst.Module)
    code = new_module.code
    if worker is None:
        newline = module.default_newline
        if code and not code.endswith(("\n", "\r")):
            code += newline
        code += f"worker_class = {new_worker.value}{newline}"
    notes = [f"`{name}` {note}" for name, note in _CHANGED.items() if _assigned(module, name)]
    notes += [
        f"the `{stmt.name.value}` hook is not called by uvicorn workers"
        for stmt in module.body
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value in ("pre_request", "post_request")
    ]
    message = f'gunicorn runs uvicorn workers (`worker_class = "{UVICORN_WORKER}"`)'
    if new_app is not None:
        message += f" serving `{new_app}`"
    message += "".join(f"; {note}" for note in notes)
    line = _line(text, "worker_class") if worker is not None else code.count("\n")
    return code, Change(RULE, line, "converted", message)


def _usual_quote(strings: dict[str, tuple[cst.SimpleStatementLine, cst.SimpleString]]) -> str:
    """The quote the file's settings are written with (double where it has none)."""
    quotes = [string.quote for _, string in strings.values()]
    return max(set(quotes), key=quotes.count) if quotes else '"'


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: dict[cst.CSTNode, cst.CSTNode]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode) -> cst.CSTNode:  # type: ignore[override]
        return self.replacements.get(original, updated)


def _line(text: str, setting: str) -> int:
    """The line of the top-level assignment of ``setting`` (1 when there is none)."""
    for stmt in ast.parse(text).body:
        if isinstance(stmt, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == setting for target in stmt.targets
        ):
            return stmt.lineno
    return 1
