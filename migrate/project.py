"""What one module of the run tells the others: the helpers it defines that WSGI code of
another module may hand its ``environ`` or ``start_response`` to, and how far they can be
trusted.

The rule ``wsgi-app`` sees one module at a time. A handler in ``app.py`` doing::

    from http_utils import json_response, query_params

    def list_notes(environ, start_response):
        params = query_params(environ)
        return json_response(start_response, 200, {"notes": ...})

can only be converted when ``query_params`` is known to only *read* the environ it gets
(it is then handed a faithful environ built from the scope) and ``json_response`` to only
*call* the start_response it gets (it is then handed an ``asgi_helpers.StartResponse``
collector). :func:`summarize` proves that from CPython's AST of ``http_utils.py`` (one pass
over its module-level functions, cheap enough for every candidate file of a big tree), and
:class:`ProjectIndex` finds the summary an import in another module refers to.

The helper module itself is never changed for this: the importing module alone is, so its
rewrite stays right whatever happens to the helper's file (excluded, not parsed, not
selected). A helper its own module's WSGI code also hands start_response to is not trusted,
as the migration of that module may turn it into an ASGI helper.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from migrate import analysis, app_values, prefilter
from migrate.frameworks.falcon import FalconPlan, ModulePlan
from migrate.frameworks.flask import FlaskPlan
from migrate.frameworks.flask import ModulePlan as FlaskModulePlan
from migrate.module_paths import candidate_paths, join_module
from migrate.wsgi_keys import is_known_key

if TYPE_CHECKING:
    import libcst as cst

#: Reads of the request body the built environ serves the same (its ``wsgi.input`` holds it).
_BODY_READS = frozenset({"read", "readline", "readlines"})

# A sign of HTTP in the text (a status line, a CGI/WSGI key, a list of tuples), for the wording
# of markers only (see _may_use_params).
_EVIDENCE = re.compile(
    r"""["'][1-9][0-9][0-9][ "']"""
    r"""|["'](?:REQUEST_METHOD|SCRIPT_NAME|PATH_INFO|QUERY_STRING|CONTENT_TYPE|CONTENT_LENGTH"""
    r"""|SERVER_NAME|SERVER_PORT|SERVER_PROTOCOL|REMOTE_ADDR|HTTP_[A-Z0-9_]+|wsgi\.\w+)["']"""
    r"""|[\[(](?:\s|#[^\n]*(?:\n|$))*\("""
)


# --------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class HelperSummary:
    """A module-level function other modules may hand an environ or a start_response to."""

    name: str
    #: Positional parameters that only *read* the environ they get (known keys, or handing
    #: it on to another such helper of the module): a faithful environ built from the scope
    #: gives them the same values.
    environ_params: frozenset[int] = frozenset()
    #: Of :attr:`environ_params`, those through which ``environ["wsgi.input"]`` is read.
    body_params: frozenset[int] = frozenset()
    #: Positional parameters that are a ``start_response`` the helper only calls (statements
    #: ``start_response(status, headers[, exc_info])``) or hands to another such helper of the
    #: module: never stored, returned nor used otherwise.
    start_response_params: frozenset[int] = frozenset()
    #: Why a parameter that looks like an environ or a start_response is not trusted.
    distrust: str = ""


@dataclass(frozen=True)
class ModuleSummary:
    """What :func:`summarize` found in one module; small and picklable."""

    relpath: str
    module_name: str
    helpers: tuple[HelperSummary, ...] = ()
    #: Module-level names that are not plain functions the summary could check, with why
    #: (``("JsonResponse", "is a class")``).
    others: tuple[tuple[str, str], ...] = ()
    #: Module-level functions that return apps (``def create_app(): app = Flask(...); ...;
    #: return app``): (name, protocol, how, either), see :mod:`migrate.app_values`.
    app_factories: tuple[tuple[str, str, str, bool], ...] = ()
    #: Module-level names holding a WSGI app the module serves, in a module naming a
    #: framework (``app = bottle.Bottle()``): the ``served-app`` rule makes them ASGI, and
    #: the modules using one as a WSGI app get it through ``adapters.as_wsgi``.
    served_apps: tuple[str, ...] = ()
    #: Those of :attr:`served_apps` that hold a Flask app (Flask's command line looks for
    #: one in the module it loads: the modules importing it keep it under a second name).
    served_flask_apps: tuple[str, ...] = ()
    #: Names the module imports and so gives to the modules importing them from it:
    #: ``(name, module_ref, imported_name)`` for each module-level ``from module_ref import
    #: imported_name [as name]`` it binds nothing else to (``from .app import create_app`` in
    #: a package's ``__init__.py``). :meth:`ProjectIndex.origin` follows them.
    reexports: tuple[tuple[str, str, str], ...] = ()
    #: Module-level functions that return what calls of names imported from other modules
    #: make (``def make_app(): app = ShopFlask(__name__); ...; return app``, the class in
    #: ``shop/wrappers.py``): (name, ((module_ref, imported_name) of each return that does,
    #: in order), whether other returns give what the module cannot read). They make apps
    #: if those names do (:meth:`ProjectIndex.app_factory`), which this module alone cannot
    #: tell.
    pending_factories: tuple[tuple[str, tuple[tuple[str, str], ...], bool], ...] = ()

    def reexport(self, name: str) -> tuple[str, str] | None:
        """``(module_ref, imported_name)`` when ``name`` is one of :attr:`reexports`."""
        for local, module_ref, imported in self.reexports:
            if local == name:
                return module_ref, imported
        return None

    def tells_of(self, name: str) -> bool:
        """The summary says something of its module's ``name``."""
        return (
            self.helper(name) is not None
            or any(other == name for other, _ in self.others)
            or any(factory[0] == name for factory in self.app_factories)
            or any(factory[0] == name for factory in self.pending_factories)
            or name in self.served_apps
        )

    def helper(self, name: str) -> HelperSummary | None:
        for helper in self.helpers:
            if helper.name == name:
                return helper
        return None

    def why_not(self, name: str) -> str:
        """Why ``name`` of this module cannot be trusted as a helper."""
        helper = self.helper(name)
        if helper is not None and helper.distrust:
            return helper.distrust
        for other, why in self.others:
            if other == name:
                return why
        return "is not a module-level function of it that takes an environ or start_response"


def might_summarize(source: str) -> bool:
    """Cheap text test: could :func:`summarize` say something about ``source``? Any
    ``from ... import`` may give another module's helper or app on (:attr:`ModuleSummary.
    reexports`). (:func:`summarize` returns None whenever this is False, so whatever it
    misses stays unproven: the importing app stays adapted.)"""
    return "import" in source or _might_tell_of_its_own(source)


def _might_tell_of_its_own(source: str) -> bool:
    """Cheap text test: could ``source`` define something :func:`summarize` tells about? An
    environ reader names a CGI key; a response helper calls a parameter with a status and
    headers, which the WSGI text prefilter looks for."""
    # a framework's app needs no ``def`` (``app = Flask(__name__)`` in a package's
    # ``__init__.py``, its views in other modules)
    return (
        "def" in source
        and (prefilter.names_a_cgi_key(source) or prefilter.may_hold_wsgi_callable(source))
    ) or app_values.may_name_a_framework(source)


def summarize(
    relpath: str, module_name: str, tree: ast.Module, source: str
) -> ModuleSummary | None:
    """The helpers of one module (``tree`` is CPython's AST of ``source``), or None when it
    has none to tell about (no function taking an environ or start_response, no class nor
    async or decorated function another module could mistake for one)."""
    if not might_summarize(source):
        return None
    bindings = _module_bindings(tree, source)
    reexports = _reexports(tree, bindings)
    if not _might_tell_of_its_own(source):
        return ModuleSummary(relpath, module_name, reexports=reexports) if reexports else None
    lines = source.splitlines()
    # every plain function is walked (also those with nothing to tell: what they call tells
    # how far the module's own WSGI code reaches); the rest only for the markers' wording
    functions: dict[str, ast.FunctionDef] = {}
    others: list[tuple[str, str]] = []
    for stmt in tree.body:
        # what could be mistaken for a helper is named, so that markers can say why it is not
        if isinstance(stmt, ast.ClassDef):
            if any(
                isinstance(method, ast.FunctionDef)
                and method.name in ("__init__", "__call__")
                and _may_use_params(method, lines)
                and _looks_wsgi(method)
                for method in stmt.body
            ) or any(
                # a subclass of one (``class DebugApplication(Application)`` whose __call__
                # returns ``super().__call__(environ, start_response)``)
                isinstance(base, ast.Name) and (base.id, "is a class") in others
                for base in stmt.bases
            ):
                others.append((stmt.name, "is a class"))
        elif isinstance(stmt, ast.AsyncFunctionDef):
            if _may_use_params(stmt, lines) and _looks_wsgi(stmt):
                others.append((stmt.name, "is an async function"))
        elif isinstance(stmt, ast.FunctionDef):
            if stmt.decorator_list:
                if _may_use_params(stmt, lines) and _looks_wsgi(stmt):
                    others.append((stmt.name, "is decorated"))
            elif bindings.get(stmt.name, 0) > 1:
                if _may_use_params(stmt, lines) and _looks_wsgi(stmt):
                    others.append((stmt.name, "is bound more than once in its module"))
            elif _positional(stmt):
                functions[stmt.name] = stmt
    uses = {name: _ParamUses.of(func) for name, func in functions.items()}
    environ_ok, body = _environ_readers(functions, uses)
    start_ok, evidence = _start_response_takers(functions, uses)
    start_ok &= evidence
    own_groups = _reachable_from_apps(functions, uses)
    if "*" in bindings:  # `from x import *` may rebind any of them
        own_groups = set(functions)
    # handed on to a helper its module's migration may change: not safe either
    for safe in (start_ok, environ_ok):
        changed = True
        while changed:
            changed = False
            for key in list(safe):
                param = uses[key[0]].by_name[uses[key[0]].params[key[1]]]
                if any(t not in safe or t[0] in own_groups for t in param.handed_to):
                    safe.discard(key)
                    changed = True
    helpers: list[HelperSummary] = []
    for name, func in functions.items():
        params = _positional(func)
        env_params = frozenset(i for i in range(len(params)) if (name, i) in environ_ok)
        sr_params = frozenset(i for i in range(len(params)) if (name, i) in start_ok)
        distrust = ""
        if "*" in bindings and (env_params or sr_params):
            distrust = "may be rebound by a `from ... import *` of its module"
            env_params = sr_params = frozenset()
        elif name in own_groups and (env_params or sr_params):
            distrust = (
                "is part of WSGI code of its own module that hands start_response around "
                "(the migration of that module may change it)"
            )
            env_params = sr_params = frozenset()
        elif not env_params and not sr_params:
            distrust = uses[name].why_not
        if not (env_params or sr_params or distrust):
            continue
        helpers.append(
            HelperSummary(
                name,
                env_params,
                frozenset(i for i in env_params if (name, i) in body),
                sr_params,
                distrust,
            )
        )
    factories, served, flask, pending = _app_facts(source)
    if not (helpers or others or reexports or factories or served or pending):
        return None
    return ModuleSummary(
        relpath,
        module_name,
        tuple(helpers),
        tuple(others),
        app_factories=factories,
        served_apps=served,
        served_flask_apps=flask,
        reexports=reexports,
        pending_factories=pending,
    )


def _reexports(tree: ast.Module, bindings: Mapping[str, int]) -> tuple[tuple[str, str, str], ...]:
    """The module's :attr:`ModuleSummary.reexports`: its module-level ``from ... import``
    statements (not those in blocks: ``try``/``except ImportError`` picks one of two) of
    names it binds once (a later ``create_app = wrap(create_app)`` gives another thing)."""
    if "*" in bindings:  # a star import may rebind any of them
        return ()
    return tuple(
        (alias.asname or alias.name, "." * stmt.level + (stmt.module or ""), alias.name)
        for stmt in tree.body
        if isinstance(stmt, ast.ImportFrom) and stmt.module != "__future__"
        for alias in stmt.names
        if bindings.get(alias.asname or alias.name, 0) == 1
    )


#: An app factory's facts: (name, protocol, how, either), see :attr:`ModuleSummary.app_factories`.
Factory = tuple[str, str, str, bool]
#: (name, targets, unknown), see :attr:`ModuleSummary.pending_factories`.
PendingFactory = tuple[str, tuple[tuple[str, str], ...], bool]


def _app_facts(
    source: str,
) -> tuple[tuple[Factory, ...], tuple[str, ...], tuple[str, ...], tuple[PendingFactory, ...]]:
    """The functions of the module that return an app, the names holding the framework's
    WSGI apps it serves, those holding Flask apps, and the functions that return what a name
    imported from another module makes (:attr:`ModuleSummary.pending_factories`; read with
    libcst, for the modules naming a framework or defining a WSGI callable only: most do
    neither)."""
    framework = app_values.may_name_a_framework(source)
    # a factory of raw WSGI apps (``def make_app(): def app(environ, start_response): ...;
    # return app``, ``return ExcuseAPI(service)``): the modules serving what it makes need
    # to know it is an app
    if not framework and ("return" not in source or not prefilter.may_hold_wsgi_callable(source)):
        return (), (), (), ()
    makes_factories = "return" in source or "class " in source  # functions, app subclasses
    import libcst as cst  # only here: the rest of the summary reads CPython's AST

    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return (), (), (), ()
    values = app_values.ModuleValues(module)
    found = values.factories() if makes_factories else {}
    factories = tuple(
        # the raw WSGI apps a factory returns are the wsgi-app rule's to convert or keep, as
        # it decides in their module: WSGI or ASGI after the run (served through as_asgi)
        (name, value.protocol, value.how, value.either or not value.makes_framework_apps)
        for name, value in sorted(found.items())
    )
    if not framework:
        return factories, (), (), ()
    served = sorted(values.served_wsgi_apps(), key=lambda s: s.name)
    return (
        factories,
        tuple(s.name for s in served),
        tuple(s.name for s in served if s.value.framework == "Flask"),
        _pending_factories(module, found) if makes_factories and "import" in source else (),
    )


def _pending_factories(
    module: cst.Module, factories: Mapping[str, app_values.Value]
) -> tuple[PendingFactory, ...]:
    """The module's functions whose every return hands back, as it is, what a call of an
    imported name makes, or something the module cannot read: the module is read again as
    if every imported name made apps, each standing for itself."""
    target_of = imported_target(module)

    def stand_in(callee: str) -> app_values.Value | None:
        target = target_of(callee)
        if target is None:
            return None
        return app_values.Value("wsgi", True, _STAND_IN.format(*target), target[1])

    pending: list[PendingFactory] = []
    guessed = app_values.ModuleValues(module, stand_in)
    for name, values in sorted(guessed.returns.items()):
        # what an imported name makes, as it is: not wrapped in middleware
        made = [
            _STAND_IN_TARGET.fullmatch(value.how)
            if value is not None and not value.maker and not value.layers
            else None
            for value in values
        ]
        targets = tuple((m.group(1), m.group(2)) for m in made if m is not None)
        unknown = values.count(None)
        if name not in factories and targets and len(targets) + unknown == len(values):
            pending.append((name, targets, unknown > 0))
    return tuple(pending)


#: How :func:`_pending_factories` describes what an imported name makes (its module_ref
#: and name, between characters no source holds), and reads it back.
_STAND_IN = "\x00{0}\x00{1}\x00"
_STAND_IN_TARGET = re.compile(r"\x00([^\x00]*)\x00([^\x00]*)\x00")


def imported_target(module: cst.Module) -> Callable[[str], tuple[str, str] | None]:
    """``(module_ref, name)`` a dotted callee of ``module`` refers to (:func:`imported_function`),
    when its first part is imported at module level and bound nothing else there."""
    bindings = analysis.import_bindings(module)
    bound = analysis.module_level_bindings(module)

    def target(callee: str) -> tuple[str, str] | None:
        first, *rest = callee.split(".") if callee else [""]
        binding = bindings.get(first)
        if binding is None or bound.get(first, 0) != 1 or "*" in bound:
            return None
        return imported_function((binding.module, binding.name), rest)

    return target


def _may_use_params(func: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> bool:
    """Cheap text test on the function's lines: they hold a sign of HTTP (a status line, a
    CGI key, a list of tuples) or hand one of its parameters to a call. Only decides whether
    a class or an async or decorated function is named in :attr:`ModuleSummary.others`
    (the wording of markers), never what is trusted."""
    params = [p for p in _positional(func) if p not in ("self", "cls")]
    if not params:
        return False
    text = "\n".join(lines[func.lineno - 1 : func.end_lineno])
    if _EVIDENCE.search(text):
        return True
    return any(f"({p}," in text or f"({p})" in text or f", {p}" in text for p in params)


def _looks_wsgi(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A parameter is used like an environ or a start_response."""
    if not _positional(func):
        return False
    uses = _ParamUses.of(func)
    return any(param.looks_wsgi for param in uses.by_name.values())


def _positional(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [a.arg for a in (*func.args.posonlyargs, *func.args.args)]


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


_GLOBAL = re.compile(r"^[ \t]*global[ \t]+([\w \t,]+)", re.MULTILINE)


def _module_bindings(tree: ast.Module, source: str) -> dict[str, int]:
    """How many times each module-level name is bound (defs, assignments, imports, loop
    targets... also inside module-level if/try blocks, and ``global`` statements, found in
    the text: a ``global`` in a comment or string only makes the answer more cautious)."""
    counts: dict[str, int] = {}
    walrus = ":=" in source  # else only assignment targets can bind names

    def bind(name: str) -> None:
        counts[name] = counts.get(name, 0) + 1

    def bind_stores(nodes: Iterable[ast.AST | None]) -> None:
        for node in nodes:
            for sub in prefilter.walk_ast(node) if node is not None else ():
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                    bind(sub.id)

    def targets(stmt: ast.AST) -> list[ast.AST | None]:
        if walrus:
            return [n for n in ast.iter_child_nodes(stmt) if not isinstance(n, ast.stmt)]
        if isinstance(stmt, (ast.Assign, ast.Delete)):
            return list(stmt.targets)
        if isinstance(stmt, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
            return [stmt.target]
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            return [item.optional_vars for item in stmt.items]
        if isinstance(stmt, ast.match_case):
            return [stmt.pattern]
        return []

    def visit(stmts: Iterable[ast.AST]) -> None:
        for stmt in stmts:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bind(stmt.name)
                continue
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                for alias in stmt.names:
                    bind(alias.asname or alias.name.split(".")[0])  # "*" for a star import
                continue
            if isinstance(stmt, ast.ExceptHandler) and stmt.name:
                bind(stmt.name)
            if isinstance(stmt, ast.match_case):
                for sub in prefilter.walk_ast(stmt.pattern):
                    name = getattr(sub, "name", None)
                    if isinstance(name, str):
                        bind(name)  # `case Point(x=a) as name` / `case [*rest]`
            bind_stores(targets(stmt))
            for block in _BLOCKS:  # if/for/while/try/with/match: then their blocks
                visit(getattr(stmt, block, None) or ())

    visit(tree.body)
    for match in _GLOBAL.finditer(source):
        for name in match.group(1).replace(",", " ").split():
            bind(name)
    return counts


# --------------------------------------------------------------------------- one function


@dataclass
class _Param:
    """How one positional parameter is used in its function's body."""

    environ_reads: int = 0
    body_reads: int = 0
    calls: int = 0  # statements `param(...)`
    status_calls: int = 0  # of those, with two or more positional arguments
    #: (function, index): handed on as that positional argument of a module-level function.
    handed_to: list[tuple[str, int]] = field(default_factory=list)
    #: Why it is neither a read-only environ nor a start_response only called ("" if it may be).
    problem: str = ""
    #: Called, or handed to a call, in any way.
    called_or_passed: bool = False
    #: Used like an environ or a start_response somewhere (for the reason it is not trusted).
    looks_wsgi: bool = False


_Ancestors = tuple[ast.AST | None, ast.AST | None, ast.AST | None]
_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


@dataclass
class _ParamUses:
    params: list[str]
    by_name: dict[str, _Param]
    #: The names this function calls (for the reach of its module's own WSGI code).
    called: set[str]
    #: Parameter 1 of a two-parameter function is called or handed on: it may be a WSGI app
    #: (a superset of what the rule recognises as one, or as a member of a call group).
    app_like: bool

    @property
    def why_not(self) -> str:
        for name in self.params:
            param = self.by_name[name]
            if param.looks_wsgi and param.problem:
                return param.problem
        return ""

    @classmethod
    def of(cls, func: ast.FunctionDef | ast.AsyncFunctionDef) -> _ParamUses:
        params = _positional(func)
        by_name = {name: _Param() for name in params}
        called: set[str] = set()
        # (node, its nearest three ancestors, inside a nested scope): one walk with parents
        stack: list[tuple[ast.AST, _Ancestors, bool]] = [
            (stmt, (None, None, None), False) for stmt in func.body
        ]
        while stack:
            node, ancestors, nested = stack.pop()
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                called.add(node.func.id)
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                for name in node.names:
                    if name in by_name:
                        by_name[name].problem = "declares its parameter global"
            if isinstance(node, ast.Name) and node.id in by_name:
                _classify(by_name[node.id], node, ancestors, nested)
            inner = nested or isinstance(node, _NESTED_SCOPES)
            below = (node, ancestors[0], ancestors[1])
            for child in ast.iter_child_nodes(node):
                stack.append((child, below, inner))
        app_like = len(params) == 2 and by_name[params[1]].called_or_passed
        return cls(params, by_name, called, app_like)


def _classify(param: _Param, name: ast.Name, ancestors: _Ancestors, nested: bool) -> None:
    """Record one use of a parameter (``name``), or the problem with it."""
    parent, grand, great = ancestors
    if isinstance(parent, ast.keyword) or (
        isinstance(parent, ast.Call) and (parent.func is name or name in parent.args)
    ):
        param.called_or_passed = True  # what makes a parameter a start_response to the rule
    if _looks_wsgi_use(name, parent, grand):
        param.looks_wsgi = True
    if param.problem:
        return
    what = f"`{name.id}`"
    if not isinstance(name.ctx, ast.Load):
        param.problem = f"rebinds {what}"
        return
    if nested:
        param.problem = f"uses {what} in a nested function or class (it may keep it)"
        return
    # environ[KEY]
    if isinstance(parent, ast.Subscript) and parent.value is name:
        key = _constant_str(parent.slice)
        if not isinstance(parent.ctx, ast.Load):
            param.problem = f"writes to {what}"
        elif key is None or not is_known_key(key):
            param.problem = f"reads {what}[...] with a key that has no exact ASGI value"
        elif key == "wsgi.input":
            if _is_body_read(parent, grand, great):
                param.body_reads += 1
            else:
                param.problem = f"uses {what}['wsgi.input'] other than to read it"
        else:
            param.environ_reads += 1
        return
    # environ.get(KEY[, default])
    if isinstance(parent, ast.Attribute) and parent.value is name:
        call = grand
        key = (
            _constant_str(call.args[0])
            if isinstance(call, ast.Call) and call.func is parent and call.args
            else None
        )
        if (
            parent.attr == "get"
            and isinstance(call, ast.Call)
            and 1 <= len(call.args) <= 2
            and not call.keywords
            and not any(isinstance(a, ast.Starred) for a in call.args)
            and key is not None
            and is_known_key(key)
            and key != "wsgi.input"
        ):
            param.environ_reads += 1
        else:
            param.problem = f"uses {what}.{parent.attr}"
        return
    # KEY in environ
    if (
        isinstance(parent, ast.Compare)
        and len(parent.ops) == 1
        and isinstance(parent.ops[0], (ast.In, ast.NotIn))
        and parent.comparators[0] is name
    ):
        key = _constant_str(parent.left)
        if key is not None and is_known_key(key) and key != "wsgi.input":
            param.environ_reads += 1
        else:
            param.problem = f"tests a key in {what} that has no exact ASGI value"
        return
    if isinstance(parent, ast.Call):
        # start_response(status, headers[, exc_info]), as a statement
        if parent.func is name:
            if isinstance(grand, ast.Expr) and not any(
                isinstance(a, ast.Starred) for a in parent.args
            ):
                param.calls += 1
                if len(parent.args) >= 2:
                    param.status_calls += 1
            else:
                param.problem = f"uses what {what}(...) returns (the write() callable)"
            return
        # handed on to a module-level function, as a positional argument
        index = next((i for i, a in enumerate(parent.args) if a is name), None)
        if (
            index is not None
            and isinstance(parent.func, ast.Name)
            and not any(isinstance(a, ast.Starred) for a in parent.args[:index])
        ):
            param.handed_to.append((parent.func.id, index))
        else:
            callee = ast.unparse(parent.func) if index is not None else "a call"
            param.problem = f"hands {what} to `{callee}` (other code)"
        return
    param.problem = f"stores, returns or passes on {what}"


def _looks_wsgi_use(name: ast.Name, parent: ast.AST | None, grand: ast.AST | None) -> bool:
    """``name[KEY]``, ``name.get(KEY...)``, ``KEY in name`` with a CGI/WSGI key, or
    ``name(status, headers...)``: what makes a parameter look like an environ or a
    start_response (for the reason it is not trusted)."""
    key: str | None = None
    if isinstance(parent, ast.Subscript) and parent.value is name:
        key = _constant_str(parent.slice)
    elif (
        isinstance(parent, ast.Attribute)
        and parent.attr == "get"
        and isinstance(grand, ast.Call)
        and grand.func is parent
        and grand.args
    ):
        key = _constant_str(grand.args[0])
    elif isinstance(parent, ast.Compare) and parent.comparators[-1] is name:
        key = _constant_str(parent.left)
    elif isinstance(parent, ast.Call) and parent.func is name:
        return len(parent.args) >= 2
    return key is not None and is_known_key(key)


def _is_body_read(
    subscript: ast.Subscript, attribute: ast.AST | None, call: ast.AST | None
) -> bool:
    """``environ["wsgi.input"].read(...)`` (or ``readline``/``readlines``)."""
    return (
        isinstance(attribute, ast.Attribute)
        and attribute.value is subscript
        and attribute.attr in _BODY_READS
        and isinstance(call, ast.Call)
        and call.func is attribute
    )


def _constant_str(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


# --------------------------------------------------------------------------- the module


def _environ_readers(
    functions: dict[str, ast.FunctionDef], uses: dict[str, _ParamUses]
) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """``(function, index)`` of the parameters that only read an environ, and of those that
    read the request body: an optimistic fixed point over the helpers handing it on."""
    candidates = _params_where(
        uses,
        lambda param: (
            not param.calls and bool(param.environ_reads or param.body_reads or param.handed_to)
        ),
    )
    _keep_closed(candidates)
    # a parameter that hands the environ only on still reads something somewhere
    body = _spread({key for key, param in candidates.items() if param.body_reads}, candidates)
    return set(candidates), body


def _params_where(
    uses: dict[str, _ParamUses], keep: Callable[[_Param], bool]
) -> dict[tuple[str, int], _Param]:
    """``(function, index)`` -> parameter, of the parameters with no problem that ``keep``
    accepts."""
    found: dict[tuple[str, int], _Param] = {}
    for name, use in uses.items():
        for index, param_name in enumerate(use.params):
            param = use.by_name[param_name]
            if not param.problem and keep(param):
                found[(name, index)] = param
    return found


def _keep_closed(candidates: dict[tuple[str, int], _Param]) -> None:
    """Drop, until none is left, the candidates that hand their value to a non-candidate."""
    changed = True
    while changed:
        changed = False
        for key, param in list(candidates.items()):
            if any(target not in candidates for target in param.handed_to):
                del candidates[key]
                changed = True


def _spread(
    marked: set[tuple[str, int]], candidates: dict[tuple[str, int], _Param]
) -> set[tuple[str, int]]:
    """``marked`` plus every candidate that hands its value on to a marked one, transitively."""
    changed = True
    while changed:
        changed = False
        for key, param in candidates.items():
            if key not in marked and any(target in marked for target in param.handed_to):
                marked.add(key)
                changed = True
    return marked


def _start_response_takers(
    functions: dict[str, ast.FunctionDef], uses: dict[str, _ParamUses]
) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """``(function, index)`` of the parameters that are a start_response only called or
    handed to another such parameter, and of those called with a status and headers
    (directly or down the chain)."""
    candidates = _params_where(
        uses,
        lambda param: (
            not (param.environ_reads or param.body_reads) and bool(param.calls or param.handed_to)
        ),
    )
    _keep_closed(candidates)
    evidence = _spread({key for key, param in candidates.items() if param.status_calls}, candidates)
    return set(candidates), evidence


def _reachable_from_apps(
    functions: dict[str, ast.FunctionDef], uses: dict[str, _ParamUses]
) -> set[str]:
    """The functions the module's own WSGI code may convert together (a superset of what the
    rule's call groups take in): two-parameter functions whose second parameter is called or
    handed on, and every module-level function they call, transitively."""
    reached = {name for name, use in uses.items() if use.app_like}
    queue = list(reached)
    while queue:
        for callee in uses[queue.pop()].called:
            if callee in uses and callee not in reached:
                reached.add(callee)
                queue.append(callee)
    return reached


# --------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class Lookup:
    """What an imported name refers to: the helper (None when it cannot be trusted) and a
    short description of the module (for messages), or why it is not known."""

    helper: HelperSummary | None
    module: str
    problem: str = ""


#: A WSGI use of another module's app: ``(module_ref, name)`` of the app; or ``(module_ref,
#: name, via)``: the app wrapped in middleware imported from the module ``via``, a WSGI use
#: unless ``via`` is a module of the run (see :meth:`ProjectIndex.callers_of`); or
#: ``(module_ref, name, TABLE)``: ``name`` is a table of routes a dispatcher of the importer
#: looks handlers up in (see :func:`table_delegations`).
Delegation = tuple[str, ...]


@dataclass
class ProjectIndex:
    """The summaries of the modules of one run, to resolve imports seen in any of them."""

    by_relpath: dict[str, ModuleSummary] = field(default_factory=dict)
    #: Every file of the run (an import names the first of them Python would load).
    files: frozenset[str] = frozenset()
    #: importer relpath -> what of other modules it uses as WSGI apps (see
    #: :func:`wsgi_delegations` and :data:`Delegation`).
    wsgi_callers: dict[str, frozenset[Delegation]] = field(default_factory=dict)
    #: What was looked up: ``("module", importer_relpath, module_ref)``, ``("callers",
    #: relpath, name)`` and the other kinds :meth:`answers` knows. A migration is the same
    #: with any index that answers those the same way (the runner uses that to finish most
    #: files in its first pass, with an empty index).
    queries: set[tuple[str, str, str]] = field(default_factory=set, compare=False)
    #: Which Falcon apps of the run move to falcon.asgi, and what each module changes.
    falcon: FalconPlan = field(default_factory=FalconPlan)
    #: Whether the run's Flask code moves to Quart, and what each module changes.
    flask: FlaskPlan = field(default_factory=FlaskPlan)
    #: The run's async Django views, ``relpath:name`` (:mod:`migrate.frameworks.django`).
    django_views: tuple[str, ...] = ()

    @classmethod
    def from_summaries(
        cls,
        summaries: Iterable[ModuleSummary],
        files: Iterable[str] = (),
        wsgi_callers: Mapping[str, frozenset[Delegation]] | None = None,
    ) -> ProjectIndex:
        return cls(
            {summary.relpath: summary for summary in summaries},
            frozenset(files),
            {k: v for k, v in (wsgi_callers or {}).items() if v},
        )

    def answers(self, query: tuple[str, str, str]) -> bool:
        """Whether this index has something to say to ``query`` (one of :attr:`queries`)."""
        kind, first, second = query
        if kind == "module":
            return self.module(first, second) is not None
        if kind == "falcon":
            return bool(self.falcon_plan(first))
        if kind == "flask":
            return bool(self.flask_plan(first))
        if kind == "django":
            return bool(self.async_django_views())
        if kind == "websockets":
            return bool(self.flask_server_websockets())
        if kind == "served":
            return self.served_elsewhere(first, second)
        if kind == "serves":
            return self.serves(first, second)
        if kind == "served apps":
            return bool(self.served_apps(first, second))
        if kind == "factory":
            return self.exports_factory(first, second)
        if kind == "origin":
            return self.origin(first, *second.split(" ")) is not None
        return bool(self.callers_of(first, second))

    def flask_plan(self, relpath: str) -> FlaskModulePlan:
        """What the module ``relpath`` changes for the move of the run's Flask code to Quart."""
        self.queries.add(("flask", relpath, ""))
        return self.flask.for_module(relpath)

    def flask_server_websockets(self) -> str:
        """The Flask extension through which the run's Flask apps answer websockets on
        their WSGI server's socket, if any (:attr:`FlaskPlan.server_websockets`)."""
        self.queries.add(("websockets", "", ""))
        return self.flask.server_websockets

    def async_django_views(self) -> tuple[str, ...]:
        """The run's async Django views, ``relpath:name``."""
        self.queries.add(("django", "", ""))
        return self.django_views

    def falcon_plan(self, relpath: str) -> ModulePlan:
        """What the module ``relpath`` changes for the run's Falcon apps."""
        self.queries.add(("falcon", relpath, ""))
        return self.falcon.for_module(relpath)

    def callers_of(self, relpath: str, name: str) -> list[str]:
        """The files of the run that use ``name`` of ``relpath`` as a WSGI app (call it
        ``views.index(environ, start_response)``, or hand it to a WSGI test client or adapter:
        :func:`wsgi_delegations`): once ASGI it would break them."""
        self.queries.add(("callers", relpath, name))
        return sorted(
            importer
            for importer, delegations in self.wsgi_callers.items()
            if importer != relpath
            and any(self._gives(importer, delegation, relpath, name) for delegation in delegations)
        )

    def _gives(self, importer: str, delegation: Delegation, relpath: str, name: str) -> bool:
        """``delegation`` of ``importer`` is a WSGI use of ``name`` of ``relpath``."""
        module_ref, called, *via = delegation
        if via in ([TABLE], [SERVED]):
            return False  # names a table, or a factory served from there: no WSGI use
        if not self._may_give(importer, module_ref, called, relpath, name):
            return False
        # middleware of a module of the run is migrated with the app: no WSGI use
        return not via or self._file_of(importer, via[0]) is None

    def _may_give(
        self, importer: str, module_ref: str, imported_name: str, relpath: str, name: str
    ) -> bool:
        """``from module_ref import imported_name`` in ``importer`` may give ``name`` of the
        file ``relpath``: it is that file's name, or one its module gives on from there
        (:attr:`ModuleSummary.reexports`); or, where the summaries cannot tell, the module
        is the ``__init__.py`` of a package holding the file, which may give it on."""
        imported = self._file_of(importer, module_ref)
        if imported is None:
            return False
        if imported == relpath:
            return imported_name == name
        summary = self.by_relpath.get(imported)
        if summary is not None and summary.reexport(imported_name) is not None:
            origin = self._follow(summary, imported_name, self._summary)
            if origin is not None:
                return (origin[0].relpath, origin[1]) == (relpath, name)
        package = imported.removesuffix("__init__.py")
        return (
            imported_name == name and package not in (imported, "") and relpath.startswith(package)
        )

    def served_elsewhere(self, relpath: str, name: str) -> bool:
        """Another module of the run binds a module-level name to what the function ``name``
        of ``relpath`` returns (``app = create_app()``): that name is what is served."""
        self.queries.add(("served", relpath, name))
        return any(
            via == [SERVED] and self._may_give(importer, ref, called, relpath, name)
            for importer, delegations in self.wsgi_callers.items()
            if importer != relpath
            for ref, called, *via in delegations
        )

    def tables_wanted(self) -> dict[str, set[str]]:
        """relpath of a module of the run -> its names that a dispatcher of another module
        looks handlers up in (:data:`TABLE` delegations)."""
        wanted: dict[str, set[str]] = {}
        for importer, delegations in self.wsgi_callers.items():
            for module_ref, name, *via in delegations:
                if via == [TABLE] and (relpath := self._file_of(importer, module_ref)):
                    wanted.setdefault(relpath, set()).add(name)
        return wanted

    def _file_of(self, importer_relpath: str, module_ref: str) -> str | None:
        for relpath in candidate_paths(importer_relpath, module_ref):
            if relpath in self.files:
                return relpath
        return None

    def module(self, importer_relpath: str, module_ref: str) -> ModuleSummary | None:
        """The summary of the module ``module_ref`` (``"http_utils"``, ``".http_utils"``,
        ``"pkg.mod"``) names when imported from the file ``importer_relpath``: a relative
        import from the importer's package folder; an absolute one from the importer's own
        folder (a script's siblings: ``from http_utils import ...`` next to it) or, failing
        that, from a folder above it, nearest first (the run's root holds ``pkg.mod``)."""
        self.queries.add(("module", importer_relpath, module_ref))
        return self._summary(importer_relpath, module_ref)

    def _summary(self, importer_relpath: str, module_ref: str) -> ModuleSummary | None:
        for relpath in candidate_paths(importer_relpath, module_ref):
            summary = self.by_relpath.get(relpath)
            if summary is not None:
                return summary
        return None

    def origin(
        self, importer_relpath: str, module_ref: str, name: str
    ) -> tuple[ModuleSummary, str] | None:
        """The summary of the module ``name`` of ``module_ref`` comes from, and its name
        there: the module itself, or the one its :attr:`ModuleSummary.reexports` lead to
        (``from flaskbb import create_app``, which ``flaskbb/__init__.py`` imports from
        ``flaskbb.app``). None unless that summary tells of the name (a module on the way
        has no summary, they go round, or the name is nothing the summaries tell of)."""
        # one query for the name: most modules have a summary (their re-exports), which
        # tells of few of their names
        self.queries.add(("origin", importer_relpath, f"{module_ref} {name}"))
        found = self._follow(self._summary(importer_relpath, module_ref), name, self._summary)
        return found if found is not None and found[0].tells_of(found[1]) else None

    @staticmethod
    def _follow(
        summary: ModuleSummary | None,
        name: str,
        find: Callable[[str, str], ModuleSummary | None],
    ) -> tuple[ModuleSummary, str] | None:
        """``name`` of the module ``summary`` followed through re-exports, each module on the
        way found by ``find(importer_relpath, module_ref)``."""
        seen: set[tuple[str, str]] = set()
        while summary is not None and (summary.relpath, name) not in seen:
            seen.add((summary.relpath, name))
            reexport = summary.reexport(name)
            if reexport is None:
                return summary, name
            module_ref, name = reexport
            summary = find(summary.relpath, module_ref)
        return None

    def app_factory(
        self, importer_relpath: str, module_ref: str, name: str
    ) -> tuple[str, str, bool, str] | None:
        """``(protocol, how, either, relpath)`` when ``name`` of the module ``module_ref``
        returns an app (``either``: some of its returns may be another kind of app;
        ``relpath``: the module defining it)."""
        origin = self.origin(importer_relpath, module_ref, name)
        made = self._factory_in(*origin, set()) if origin is not None else None
        return (*made, origin[0].relpath) if made is not None and origin is not None else None

    def _factory_in(
        self, summary: ModuleSummary, name: str, seen: set[tuple[str, str]]
    ) -> tuple[str, str, bool] | None:
        """``(protocol, how, either)`` when the function ``name`` of the module ``summary``
        makes apps: by the summary, or by what makes the app it hands back
        (:attr:`ModuleSummary.pending_factories`, followed once each)."""
        for factory, protocol, how, either in summary.app_factories:
            if factory == name:
                return protocol, how, either
        for factory, targets, unknown in summary.pending_factories:
            if factory != name or (summary.relpath, name) in seen:
                continue
            seen.add((summary.relpath, name))
            returned: list[app_values.Value | None] = []
            for target in targets:
                origin = self.origin(summary.relpath, *target)
                made = self._factory_in(*origin, seen) if origin is not None else None
                if made is None or made[0] not in ("wsgi", "asgi"):
                    returned.append(None)
                    continue
                kind: app_values.Protocol = "wsgi" if made[0] == "wsgi" else "asgi"
                returned.append(app_values.Value(kind, False, made[1], either=made[2]))
            # and the returns the module could not read, as its own rule reads them
            maker = app_values.factory_of([*returned, *([None] if unknown else [])], name)
            return (maker.protocol, maker.how, maker.either) if maker is not None else None
        return None

    def served_apps(
        self, importer_relpath: str, module_ref: str
    ) -> dict[str, tuple[ModuleSummary, str]]:
        """The names the module ``module_ref`` gives that hold WSGI apps a module of the run
        serves (its :attr:`ModuleSummary.served_apps`, which the ``served-app`` rule makes
        ASGI there), each with the summary of that module and the app's name there: the
        module itself, or the one its re-exports lead to (``from .web import app`` in a
        package's ``__init__.py``)."""
        # its own query: one about the module would be answered by any summary of it
        self.queries.add(("served apps", importer_relpath, module_ref))
        summary = self._summary(importer_relpath, module_ref)
        if summary is None:
            return {}
        found = {name: (summary, name) for name in summary.served_apps}
        for name, _, _ in summary.reexports:
            # answered by the query above: the modules on the way add none
            origin = self._follow(summary, name, self._summary)
            if origin is not None and origin[1] in origin[0].served_apps:
                found[name] = origin
        return found

    def serves(self, relpath: str, name: str) -> bool:
        """The module ``relpath`` serves ``name`` by what its summary says, which the
        modules using it read too (:meth:`served_app`)."""
        self.queries.add(("serves", relpath, name))
        summary = self.by_relpath.get(relpath)
        return summary is not None and name in summary.served_apps

    def exports_factory(self, relpath: str, name: str) -> bool:
        """The summaries say the function ``name`` of the module ``relpath`` makes apps, as
        the modules calling it read them (:meth:`app_factory`)."""
        self.queries.add(("factory", relpath, name))
        summary = self.by_relpath.get(relpath)
        return summary is not None and self._factory_in(summary, name, set()) is not None

    def app_class(self, importer_relpath: str, module_ref: str, name: str) -> bool:
        """``name`` of the module ``module_ref`` is a class whose ``__call__`` (or
        ``__init__``) takes an environ and start_response: its instances (or itself) may be
        WSGI apps, whatever its module makes of it."""
        origin = self.origin(importer_relpath, module_ref, name)  # the query the cache keys on
        return origin is not None and (origin[1], "is a class") in origin[0].others

    def lookup(self, importer_relpath: str, module_ref: str, name: str) -> Lookup:
        """The helper ``name`` of the module ``module_ref`` (as imported from
        ``importer_relpath``), followed through re-exports."""
        origin = self.origin(importer_relpath, module_ref, name)
        if origin is None:
            return Lookup(
                None, module_ref, "is not defined in a module of this run the rule could check"
            )
        summary, name = origin
        helper = summary.helper(name)
        if helper is None or helper.distrust:
            return Lookup(None, summary.relpath, summary.why_not(name))
        return Lookup(helper, summary.relpath)


#: What takes a WSGI app and would break on an ASGI one: test clients, WSGI-to-ASGI adapters,
#: a validator. (WSGI servers are rewritten by the server rule; ASGI servers take both.)
WSGI_CONSUMERS = frozenset(
    {
        "webtest.TestApp",
        "webtest.app.TestApp",
        "werkzeug.test.Client",
        "werkzeug.Client",
        "paste.fixture.TestApp",
        "wsgiref.validate.validator",
        "adapters.WsgiToAsgi",
        "adapters.wsgi_to_asgi.WsgiToAsgi",
        "a2wsgi.WSGIMiddleware",
        "asgiref.wsgi.WsgiToAsgi",
        "starlette.middleware.wsgi.WSGIMiddleware",
        "uvicorn.middleware.wsgi.WSGIMiddleware",
    }
)
#: wsgiref's handlers, whose ``run(app)`` serves a WSGI app (``CGIHandler().run(app)``).
WSGIREF_HANDLERS = frozenset(
    f"wsgiref.handlers.{name}"
    for name in ("BaseHandler", "SimpleHandler", "BaseCGIHandler", "CGIHandler", "IISCGIHandler")
)

#: Text some module using an app of another module the WSGI way must hold (see
#: :func:`may_use_wsgi_apps`): each of :data:`WSGI_CONSUMERS` and wsgiref's handlers is
#: spelled with one of these, in its import or where it is called. The first ones are found
#: only in a text holding one of :data:`_WSGI_MIDDLEWARE_WORDS`, which is looked for first.
_WSGI_WORDS = ("wsgiref", "WsgiToAsgi", "WSGIMiddleware", "wsgi_app")  # Flask's app.wsgi_app
_OTHER_WSGI_USE_WORDS = (
    "werkzeug",
    "TestApp",
    "start_response",
    "super().__call__",  # a subclass of an app class, calling it the WSGI way
)


#: Words in the name or the module of most WSGI middleware (``SentryWsgiMiddleware`` from
#: ``sentry_sdk.integrations.wsgi``, newrelic's ``WSGIApplicationWrapper``), and in those of
#: :data:`_WSGI_WORDS`.
_WSGI_MIDDLEWARE_WORDS = ("wsgi", "Wsgi", "WSGI")
#: ``application = Mw(app`` at module level: a call given a name first, bound to a name.
_MODULE_LEVEL_WRAP = re.compile(
    r"(?m)^[A-Za-z_]\w*\s*=\s*[A-Za-z_][\w.]*\(\s*(?!__)[A-Za-z_]\w*\s*[,)]"
)


def may_use_wsgi_apps(source: str) -> bool:
    """Cheap text test run on the modules the rules do not look at (most): could it hand an
    app it imports to what takes a WSGI app (:func:`wsgi_delegations`, which names it), or
    call one the WSGI way with its own ``start_response``, or wrap one in WSGI middleware
    at module level? A module whose second parameter has another name passes only if the
    rules look at it (a sign of HTTP)."""
    if "import" not in source:
        return False
    wsgi = prefilter.has_any(source, _WSGI_MIDDLEWARE_WORDS)
    return (
        (wsgi and prefilter.has_any(source, _WSGI_WORDS))
        or prefilter.has_any(source, _OTHER_WSGI_USE_WORDS)
        or (
            (wsgi or prefilter.has_any(source, ("WhiteNoise",)))
            and _MODULE_LEVEL_WRAP.search(source) is not None
        )
    )


def wsgi_delegations(tree: ast.Module) -> frozenset[Delegation]:
    """``(module_ref, name)`` of the imported functions the module uses as WSGI apps, which
    would break once the module defining one converts it to ASGI:

    - calls with two positional arguments, as a WSGI app is called (an ASGI app takes
      three): ``return index(environ, start_response)`` after ``from views import index``,
      ``views.index(env, lambda *a: None)`` in a test after ``import views``;
    - a function handing its start_response (its second parameter) to a response helper:
      ``json_response(start_response, 200, data)`` (converted to take ``send``, the helper
      would break this call); where a function hands its first two parameters to something
      it looked up (``ROUTES[path](environ, start_response)``), every imported function in a
      table of the module (a dict, list, tuple or set) counts;
    - an app handed to what takes a WSGI app (:data:`WSGI_CONSUMERS`, ``run()`` of
      wsgiref's handlers): ``TestApp(app)``, ``CGIHandler().run(app)``, ``WsgiToAsgi(app)``;
    - an app class subclassed with a WSGI ``__call__`` of its own, or one calling
      ``super().__call__(environ, start_response)``;
    - middleware decorating a function of two parameters or more (``@Mw``);
    - middleware around Flask's WSGI app: ``app.wsgi_app = Mw(app.wsgi_app)``;
    - an app wrapped at module level in middleware imported from elsewhere
      (``application = SentryWsgiMiddleware(app)``): a three-part :data:`Delegation`.
    """
    imported = _import_bindings(tree)
    if not imported:
        return frozenset()
    return frozenset(
        {
            *_handed_on(tree, imported),
            *_called_with_two_arguments(tree, imported),
            *_subclassed_or_wrapped(tree, imported),
            *_handed_to_consumers(tree, imported),
            *_wrapped_in_imported_middleware(tree, imported),
            *_served_results(tree, imported),
        }
    )


Imported = Mapping[str, tuple[str, str | None]]  # local name -> (module_ref, name | None)


def _import_bindings(tree: ast.Module) -> dict[str, tuple[str, str | None]]:
    imported: dict[str, tuple[str, str | None]] = {}
    for node in prefilter.walk_ast(tree):
        if isinstance(node, ast.ImportFrom):
            module_ref = "." * node.level + (node.module or "")
            for alias in node.names:
                imported[alias.asname or alias.name] = (module_ref, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imported[alias.asname] = (alias.name, None)
                else:
                    top = alias.name.split(".")[0]
                    imported[top] = (top, None)
    return imported


def _handed_on(tree: ast.Module, imported: Imported) -> Iterator[Delegation]:
    """In functions of two parameters or more: their decorators of other modules (``@Mw``
    wraps a WSGI function), the imported callees they hand both parameters or their
    start_response to, and, where they hand both to something looked up (``ROUTES[path](
    environ, start_response)``), the imported functions in the module's tables, and the
    tables it imports (``for pattern, view in urlpatterns`` after ``from urls import
    urlpatterns``: a :data:`TABLE` delegation, see :func:`table_delegations`)."""
    dispatchers: list[ast.AST] = []
    for func in prefilter.walk_ast(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        params = [p for p in _positional(func) if p not in ("self", "cls")][:2]
        if len(params) < 2:
            continue
        for decorator in func.decorator_list:
            wrapper = decorator.func if isinstance(decorator, ast.Call) else decorator
            if (target := _imported_target(wrapper, imported)) is not None:
                yield target
        made: dict[str, tuple[str, str]] | None = None
        for call in prefilter.walk_ast(func):
            if not isinstance(call, ast.Call):
                continue
            handed = [getattr(a, "id", None) for a in call.args]
            if handed[:2] != params and params[1] not in handed:
                continue
            if (target := _imported_target(call.func, imported)) is not None:
                yield target
            elif isinstance(call.func, ast.Call) and (
                target := _imported_target(call.func.func, imported)
            ):
                yield target  # Response(page)(environ, start_response): what it makes
            elif handed[:2] == params:
                if made is None:
                    made = _made_by_imported(func, imported)
                if isinstance(call.func, ast.Name) and call.func.id in made:
                    yield made[call.func.id]  # app = make_app(); return app(environ, ...)
                elif not dispatchers or dispatchers[-1] is not func:
                    dispatchers.append(func)
    if dispatchers:
        # tables of other modules it may read its handlers from (``for p, view in
        # urlpatterns`` in it; ``App(urls.ROUTES)`` for a dispatching class of the module),
        # and its own: a dict of routes, a list of pairs
        dispatching_classes = {
            stmt.name
            for stmt in tree.body
            if isinstance(stmt, ast.ClassDef) and any(m in dispatchers for m in stmt.body)
        }
        module_calls = [
            argument
            for stmt in tree.body
            if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            for call in prefilter.walk_ast(stmt)
            if isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id in dispatching_classes
            for argument in (*call.args, *(k.value for k in call.keywords))
        ]
        yield from _imported_tables([*dispatchers, *module_calls], imported)
        yield from _imported_in_tables([tree], imported)


#: The third part of a :data:`Delegation` saying that the importer binds a module-level
#: name to what its function returns (``app = create_app()``): no WSGI use, but what is served.
SERVED = "#served"


def _served_results(tree: ast.Module, imported: Imported) -> Iterator[tuple[str, str, str]]:
    """The imported functions whose result a module-level name holds (``app = make_app()``)."""
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.value, ast.Call)
            and (target := _imported_target(stmt.value.func, imported)) is not None
        ):
            yield (*target, SERVED)


#: The third part of a :data:`Delegation` saying that its name is a table of routes a WSGI
#: dispatcher of the importer looks handlers up in.
TABLE = "#table"


def _imported_tables(
    roots: Sequence[ast.AST], imported: Imported
) -> Iterator[tuple[str, str, str]]:
    """The imported names read but not called under ``roots`` (the dispatching functions and
    the arguments of the module-level calls): ``urlpatterns``, ``urls.ROUTES``, the tables a
    dispatcher may look handlers up in."""
    for root in roots:
        called = {id(node.func) for node in prefilter.walk_ast(root) if isinstance(node, ast.Call)}
        for node in prefilter.walk_ast(root):
            if (
                isinstance(node, (ast.Name, ast.Attribute))
                and isinstance(getattr(node, "ctx", None), ast.Load)
                and id(node) not in called
                and (target := _imported_target(node, imported)) is not None
            ):
                yield (*target, TABLE)


def table_delegations(tree: ast.Module, names: Iterable[str]) -> frozenset[Delegation]:
    """The functions of other modules in the module-level tables ``names`` of ``tree`` (a
    module whose tables a dispatcher of another module looks its handlers up in): WSGI
    uses of them, made from this module (``urlpatterns = [(re.compile("^/$"), views.home)]``)."""
    wanted = set(names)
    tables = [
        stmt.value
        for stmt in tree.body
        if isinstance(stmt, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id in wanted for t in stmt.targets)
    ]
    return frozenset(_imported_in_tables(tables, _import_bindings(tree)))


def _imported_in_tables(roots: Iterable[ast.AST], imported: Imported) -> Iterator[tuple[str, str]]:
    """The imported functions in the dicts, lists, tuples and sets under ``roots``."""
    for root in roots:
        for node in prefilter.walk_ast(root):
            if isinstance(node, ast.Dict):
                items: list[ast.expr] = [v for v in node.values if v is not None]
            elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
                items = node.elts
            else:
                continue
            yield from (target for item in items if (target := _imported_target(item, imported)))


def _made_by_imported(
    func: ast.FunctionDef | ast.AsyncFunctionDef, imported: Imported
) -> dict[str, tuple[str, str]]:
    """The local names of ``func`` bound to what an imported callable returns (``app =
    make_app()``): that callable, which makes what the name holds."""
    made: dict[str, tuple[str, str]] = {}
    for stmt in prefilter.walk_ast(func):
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Call)
            and (target := _imported_target(stmt.value.func, imported)) is not None
        ):
            made[stmt.targets[0].id] = target
    return made


def _called_with_two_arguments(tree: ast.Module, imported: Imported) -> Iterator[tuple[str, str]]:
    """Imported callees called with two positional arguments, the second of which may be a
    start_response (a test: ``index(environ, start_response)``); ``Auth(app, "realm")``,
    which makes middleware with an option, is no such call."""
    defined: set[str] = set()
    calls: list[ast.Call] = []
    for node in prefilter.walk_ast(tree):
        if isinstance(node, ast.FunctionDef):
            defined.add(node.name)
        elif isinstance(node, ast.Call) and len(node.args) == 2 and not node.keywords:
            calls.append(node)
    for call in calls:
        if (
            _may_be_start_response(call.args[1], defined)
            and (target := _imported_target(call.func, imported)) is not None
        ):
            yield target


def _subclassed_or_wrapped(tree: ast.Module, imported: Imported) -> Iterator[tuple[str, str]]:
    """Imported app classes subclassed the WSGI way, and what Flask's WSGI app is wrapped in
    (``app.wsgi_app = Mw(app.wsgi_app)``)."""
    for stmt in prefilter.statements(tree):  # classes and assignments: no walk of expressions
        if isinstance(stmt, ast.ClassDef) and stmt.bases and _calls_wsgi_way(stmt):
            yield from (
                target for base in stmt.bases if (target := _imported_target(base, imported))
            )
        elif (
            isinstance(stmt, ast.Assign)
            and any(isinstance(t, ast.Attribute) and t.attr == "wsgi_app" for t in stmt.targets)
            and isinstance(stmt.value, ast.Call)
        ):
            yield from _app_parts(stmt.value, imported, {}, set())


def _handed_to_consumers(tree: ast.Module, imported: Imported) -> Iterator[tuple[str, str]]:
    """What the apps handed to a WSGI consumer are made of (``TestApp(Mw(app))``, through
    module-level names: ``application = Mw(app)`` then ``TestApp(application)``)."""
    if not any(_may_import_a_consumer(binding) for binding in imported.values()):
        return  # most modules: no walk over the whole tree
    bound: dict[str, ast.expr] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            for name in stmt.targets:
                if isinstance(name, ast.Name):
                    bound[name.id] = stmt.value
    for call in prefilter.walk_ast(tree):
        if (
            isinstance(call, ast.Call)
            and call.args
            and not isinstance(call.args[0], ast.Starred)
            and _takes_a_wsgi_app(call.func, imported)
        ):
            yield from _app_parts(call.args[0], imported, bound, set())


#: Middleware that takes an ASGI app, or either kind: wrapping an app in it is no WSGI use.
_NOT_WSGI_MIDDLEWARE = frozenset(
    {
        "adapters.as_asgi",
        "adapters.as_wsgi",
        "adapters.Router",
        "uvicorn.middleware.proxy_headers.ProxyHeadersMiddleware",
        "adapters.ProxyFix",
        "adapters.proxy_fix.ProxyFix",
    }
)


def _wrapped_in_imported_middleware(
    tree: ast.Module, imported: Imported
) -> Iterator[tuple[str, str, str]]:
    """``(module_ref, name, via)`` of the apps of other modules wrapped at module level in
    middleware imported from ``via``: ``application = SentryWsgiMiddleware(app)`` after ``from
    web import app``, through stacks (``Outer(Inner(app))``), names bound before
    (``application = Mw(application)``) and factories (``Mw(make_app())``)."""
    bound: dict[str, ast.expr] = {}
    for stmt in tree.body:
        if not isinstance(stmt, ast.Assign):
            continue
        value: ast.expr = stmt.value
        layers: list[str] = []
        seen: set[str] = set()
        while True:
            if isinstance(value, ast.Call) and value.args:
                first = value.args[0]
                middleware = _imported_target(value.func, imported)
                if (
                    middleware is not None
                    and _qualified(value.func, imported) not in _NOT_WSGI_MIDDLEWARE
                    and not _takes_a_wsgi_app(value.func, imported)  # said without a "via"
                ):
                    layers.append(middleware[0])
                    # apps it mounts: DispatcherMiddleware(main, {"/api": api.app})
                    arguments = [*value.args[1:], *(k.value for k in value.keywords)]
                    yield from (
                        (*mounted, middleware[0])
                        for mounted in _imported_in_tables(arguments, imported)
                    )
                if isinstance(first, ast.Starred):
                    break
                value = first
            elif isinstance(value, ast.Name) and value.id in bound and value.id not in seen:
                seen.add(value.id)
                value = bound[value.id]
            else:
                break
        app = _imported_target(value.func if isinstance(value, ast.Call) else value, imported)
        if app is not None and value is not stmt.value:
            yield from ((*app, via) for via in layers)
        for target in stmt.targets:
            if isinstance(target, ast.Name):
                bound[target.id] = stmt.value


def _app_parts(
    app: ast.expr,
    imported: Imported,
    bound: Mapping[str, ast.expr],
    seen: set[str],
) -> Iterator[tuple[str, str]]:
    """What of other modules the app expression ``app`` is made of: an imported app, the
    imported middleware of a stack ``Mw(Other(app))`` and what it wraps, through the
    module-level names bound to them (``application = Mw(app)``)."""
    target = _imported_target(app, imported)
    if target is not None:
        yield target
    elif isinstance(app, ast.Call):
        middleware = _imported_target(app.func, imported)
        if middleware is not None:
            yield middleware
        if app.args and not isinstance(app.args[0], ast.Starred):
            yield from _app_parts(app.args[0], imported, bound, seen)
    elif isinstance(app, ast.Name) and app.id in bound and app.id not in seen:
        seen.add(app.id)
        yield from _app_parts(bound[app.id], imported, bound, seen)


def _may_be_start_response(arg: ast.expr, defined: set[str]) -> bool:
    """``arg`` may be a start_response: a lambda, a function the module defines, or a name
    that says so (``start_response``, ``respond``, ``self.start``)."""
    if isinstance(arg, ast.Lambda):
        return True
    name = (
        arg.id if isinstance(arg, ast.Name) else arg.attr if isinstance(arg, ast.Attribute) else ""
    )
    return name in defined or "start" in name or "respon" in name


def _calls_wsgi_way(cls: ast.ClassDef) -> bool:
    """A subclass whose own ``__call__`` is WSGI-shaped (two parameters or more after
    ``self``) or calls ``super().__call__(environ, start_response)``, or that has a method
    calling its second parameter with a status and headers (``def do_PUT(self, environ,
    start_response)``, a ``_reply(self, start_response, ...)`` override): its base class must
    stay a WSGI app (it hands requests to its methods, which the subclass's may replace)."""
    for method in cls.body:
        if isinstance(method, ast.FunctionDef) and method.name != "__call__":
            params = [p for p in _positional(method) if p not in ("self", "cls")]
            if any(
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id in params[:2]
                and len(call.args) >= 2
                for call in prefilter.walk_ast(method)
            ):
                return True
        if not (isinstance(method, ast.FunctionDef) and method.name == "__call__"):
            continue
        if len([p for p in _positional(method) if p not in ("self", "cls")]) >= 2:
            return True
        if any(
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "__call__"
            and isinstance(call.func.value, ast.Call)
            and isinstance(call.func.value.func, ast.Name)
            and call.func.value.func.id == "super"
            and len(call.args) >= 2
            for call in prefilter.walk_ast(method)
        ):
            return True
    return False


def _may_import_a_consumer(binding: tuple[str, str | None]) -> bool:
    """An import binding (``(module_ref, name)``) that may give one of the WSGI consumers or
    wsgiref's handlers, itself or a module holding it."""
    module_ref, name = binding
    prefix = module_ref if name is None else f"{module_ref}.{name}"
    return any(
        qualified == prefix or qualified.startswith(prefix + ".")
        for qualified in WSGI_CONSUMERS | WSGIREF_HANDLERS
    )


def _takes_a_wsgi_app(func: ast.expr, imported: Imported) -> bool:
    """``func`` is one of :data:`WSGI_CONSUMERS`, or ``run`` of a wsgiref handler made on the
    spot (``CGIHandler().run``), as the module's imports spell them."""
    if isinstance(func, ast.Attribute) and func.attr == "run" and isinstance(func.value, ast.Call):
        return _qualified(func.value.func, imported) in WSGIREF_HANDLERS
    return _qualified(func, imported) in WSGI_CONSUMERS


def _through_imports(
    func: ast.expr, imported: Imported
) -> tuple[tuple[str, str | None], list[str]] | None:
    """For ``name`` / ``module.name`` / ``pkg.mod.name``: the import binding of its first
    name and the attributes after it (None if the first name is not imported)."""
    parts: list[str] = []
    while isinstance(func, ast.Attribute):
        parts.insert(0, func.attr)
        func = func.value
    if not isinstance(func, ast.Name) or func.id not in imported:
        return None
    return imported[func.id], parts


def _qualified(func: ast.expr, imported: Imported) -> str | None:
    """The qualified name of ``name`` / ``module.name``, through the module's imports."""
    found = _through_imports(func, imported)
    if found is None or found[0][0].startswith("."):
        return None
    (module_ref, name), parts = found
    return ".".join([module_ref, *([name] if name else []), *parts])


def _imported_target(func: ast.expr, imported: Imported) -> tuple[str, str] | None:
    """``(module_ref, name)`` a called ``name`` / ``module.name`` / ``pkg.mod.name`` is."""
    found = _through_imports(func, imported)
    return None if found is None else imported_function(*found)


def imported_function(
    binding: tuple[str, str | None], attributes: Sequence[str]
) -> tuple[str, str] | None:
    """``(module_ref, function)`` a call of an imported name refers to. ``binding`` is what
    the import bound the called name to: ``(module_ref, name)``, with None for a module
    (``import pkg.mod as m``); ``attributes`` the rest of the dotted callee. ``f(...)`` after
    ``from x import f``; ``mod.f(...)`` after ``from pkg import mod`` (a submodule);
    ``pkg.mod.f(...)`` after ``import pkg``. None for a called module."""
    module_ref, name = binding
    if name is not None:
        if not attributes:
            return module_ref, name
        module_ref = join_module(module_ref, name)
    if not attributes:
        return None
    *submodules, function = attributes
    return join_module(module_ref, ".".join(submodules)), function
