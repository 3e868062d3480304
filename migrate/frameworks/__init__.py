"""Analyses of web frameworks shared by the rules and the project index."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from migrate.module_paths import candidate_paths

F = TypeVar("F")

#: Flask's blinker signals, the same in Quart (which runs a sync receiver in a thread).
FLASK_SIGNALS = (
    "template_rendered", "before_render_template", "request_started", "request_finished",
    "request_tearing_down", "got_request_exception", "appcontext_tearing_down",
    "appcontext_pushed", "appcontext_popped", "message_flashed",
)  # fmt: skip

#: An import binding: (local name, module as imported with ``.`` for a relative import,
#: original name or "" for ``import module``).
ImportBinding = tuple[str, str, str]


def import_bindings(nodes: Iterable[ast.AST]) -> Iterator[ImportBinding]:
    """The bindings of the import statements among ``nodes`` (a module's body, or every
    node of it)."""
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                head = alias.name.split(".")[0]
                yield (alias.asname or head), (alias.name if alias.asname else head), ""
        elif isinstance(node, ast.ImportFrom):
            source = "." * node.level + (node.module or "")
            for alias in node.names:
                yield alias.asname or alias.name, source, alias.name


@dataclass(frozen=True)
class Modules(Generic[F]):
    """A framework's facts of the run's modules, found the way an import finds them."""

    facts: Mapping[str, F]
    #: Every file of the run: an import names the first candidate that exists.
    files: frozenset[str]
    #: The modules of the run :meth:`imported` was asked for that have no facts (their text
    #: never names the framework): a plan may read them and try again.
    unread: set[str] = field(default_factory=set, compare=False)

    def imported(self, importer: str, module_ref: str) -> F | None:
        """The facts of the module ``module_ref`` imported from the file ``importer``
        (None: not a module of the run, or one without facts)."""
        for relpath in candidate_paths(importer, module_ref):
            if relpath in self.files:
                found = self.facts.get(relpath)
                if found is None:
                    self.unread.add(relpath)
                return found
        return None


def offload_blocker(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """What keeps the blocking calls of ``func``, made a coroutine, from all leaving the loop:
    a ``return`` inside a ``with`` (the statement must move to a thread whole, response and
    all), which :mod:`migrate.blocking` refuses."""
    for node in ast.walk(func):
        if isinstance(node, (ast.With, ast.AsyncWith)) and any(
            isinstance(inner, ast.Return) for inner in ast.walk(node)
        ):
            return f"`{func.name}` returns from inside a `with` block"
    return ""


def own_nodes(func: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``func`` without those of the functions and lambdas defined inside it
    (nor those definitions themselves)."""
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def is_generator(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(isinstance(node, (ast.Yield, ast.YieldFrom)) for node in own_nodes(func))


def stream_blockers(
    generator: ast.FunctionDef,
    enclosing: ast.FunctionDef | ast.AsyncFunctionDef,
    decorators: Iterable[str] = (),
) -> Iterator[str]:
    """Why ``generator``, defined in ``enclosing`` and streamed as a response body, cannot
    become an async generator as it is (the framework's async side takes only those);
    ``decorators``: the names it may be decorated with (Flask's ``stream_with_context``)."""
    own = list(own_nodes(generator))
    if any(isinstance(node, ast.YieldFrom) for node in own):
        yield "uses `yield from` (no async generator can)"
    if any(isinstance(node, ast.Return) and node.value is not None for node in own):
        yield "returns a value"
    allowed = set(decorators)
    if any(not (isinstance(d, ast.Name) and d.id in allowed) for d in generator.decorator_list):
        yield "is decorated"
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    if any(isinstance(n, nested) for n in ast.walk(generator) if n is not generator):
        yield "defines functions of its own"
    calls = {id(node.func) for node in own_nodes(enclosing) if isinstance(node, ast.Call)}
    if any(
        isinstance(node, ast.Name) and node.id == generator.name and id(node) not in calls
        for node in own_nodes(enclosing)
    ):
        yield "is used other than called"


def plain_name(node: ast.expr) -> str:
    """``f`` for the name ``f``, else "" (a called name: ``plain_name(call.func)``)."""
    return node.id if isinstance(node, ast.Name) else ""


def callee_name(call: ast.Call) -> str:
    """The last part of what ``call`` calls: ``join`` of ``os.path.join(...)``, ``str`` of
    ``str(...)`` ("" for anything else)."""
    callee = call.func
    return callee.attr if isinstance(callee, ast.Attribute) else plain_name(callee)


def assigned_values(name: str, own: Iterable[ast.AST]) -> Iterator[ast.expr | None]:
    """What the local ``name`` is given among ``own`` (a function's own nodes): each value of
    ``name = value``, None for a binding of any other kind (unpacking, ``+=``, a loop, ``with
    ... as``, a walrus, a chained assignment)."""
    for node in own:
        if isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                yield node.value if len(node.targets) == 1 else None
            elif any(_binds(target, name) for target in node.targets):
                yield None
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and _binds(node.target, name):
            yield node.value if isinstance(node, ast.AnnAssign) else None
        elif isinstance(node, (ast.For, ast.With, ast.NamedExpr, ast.comprehension)):
            targets = (
                [node.target]
                if not isinstance(node, ast.With)
                else [i.optional_vars for i in node.items if i.optional_vars is not None]
            )
            if any(_binds(t, name) for t in targets):
                yield None


def _binds(target: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(target))


#: The environ keys an environ built from the ASGI scope holds as a WSGI server sets them
#: (:func:`adapters.environ_from_scope`), besides the ``HTTP_*`` headers.
SCOPE_ENVIRON_KEYS = frozenset({
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_PROTOCOL",
    "wsgi.url_scheme", "REQUEST_URI", "RAW_URI", "REMOTE_ADDR", "REMOTE_PORT", "SERVER_NAME",
    "SERVER_PORT", "CONTENT_TYPE", "CONTENT_LENGTH",
})  # fmt: skip


def environ_reads(nodes: Iterable[ast.AST], is_environ: Callable[[ast.expr], bool]) -> set[int]:
    """The environ nodes (``is_environ``: ``req.env``, ``request.environ``) among ``nodes``
    that read a key of :data:`SCOPE_ENVIRON_KEYS` or a header (``env["PATH_INFO"]``,
    ``env.get("RAW_URI")``, ``"HTTP_X" in env``): an environ built from the ASGI scope gives
    those the same values, where the framework's ASGI request has no environ."""

    def known(key: ast.expr) -> bool:
        return (
            isinstance(key, ast.Constant)
            and isinstance(key.value, str)
            and (key.value in SCOPE_ENVIRON_KEYS or key.value.startswith("HTTP_"))
        )

    found = set()
    for node in nodes:
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            environ, key = node.value, node.slice
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
        ):
            environ, key = node.func.value, node.args[0]
        elif (
            isinstance(node, ast.Compare)
            and len(node.ops) == 1
            and isinstance(node.ops[0], (ast.In, ast.NotIn))
        ):
            environ, key = node.comparators[0], node.left
        else:
            continue
        if is_environ(environ) and known(key):
            found.add(id(environ))
    return found
