"""Rule ``server``: WSGI server entry points become ``uvicorn.run(...)``.

Recognised (wherever they are, typically in an ``if __name__ == "__main__":`` block; names are
resolved through the imports, so aliases and ``module.attr`` spellings work):

* wsgiref: ``make_server(host, port, app).serve_forever()``, ``with make_server(...) as httpd:
  ... httpd.serve_forever()`` and ``httpd = make_server(...)`` ... ``httpd.serve_forever()``
  (``httpd.server_close()`` calls are dropped, uvicorn closes its own socket);
* werkzeug: ``run_simple(host, port, app, use_reloader=..., use_debugger=...)``;
* waitress: ``serve(app, host=..., port=...)`` and ``serve(app, listen="host:port")``;
* bottle: ``bottle.run(app, ...)``, ``run(...)`` of its default app, ``app.run(...)`` of a
  Bottle app (:mod:`.bottle` says what each argument becomes);
* cherrypy: ``quickstart(root, script_name, config)`` becomes the steps it took, uvicorn
  serving CherryPy's tree in cheroot's place (:mod:`.cherrypy`).

Each becomes ``uvicorn.run(app, host=..., port=...)`` on the same host and port (host ``""``
becomes ``"0.0.0.0"``; waitress' defaults ``0.0.0.0:8080`` are spelled out because uvicorn's
differ). With a reloader the app is passed as an import string built from the module name,
as uvicorn requires::

    # before                                   # after
    from werkzeug.serving import run_simple    import uvicorn
    if __name__ == "__main__":                 if __name__ == "__main__":
        run_simple("", 5000, app,                  uvicorn.run("notes.app:app", host="0.0.0.0",
                   use_reloader=True)                          port=5000, reload=True)

``import uvicorn`` is added; ``make_server`` / ``run_simple`` / ``waitress`` imports are removed
when nothing else uses them. A rewrite serving an app the module shows to be ASGI is reported
as ``converted``. Any other app (imported, made elsewhere, an expression, built in the
``__main__`` block, still WSGI, from a WSGI library) is served as ``as_asgi(app)``: the
adapter hands an ASGI app on as it is and adapts a WSGI one, so the entry point serves what it
served before (``adapted``).

Left alone with a ``# migrate[server]: ...`` marker (kind ``manual``) saying what a person must
do: custom ``server_class``/``handler_class``, ``ssl_context``, threads/processes options, other
server options uvicorn has no exact equivalent for, server objects used for anything but
``serve_forever()``, and a reloader serving an app the module cannot show to be ASGI (uvicorn
needs an import string there, which ``as_asgi`` cannot wrap). Where such a call serves an app
that may be ASGI after the run, it gets it through ``adapters.as_wsgi`` (``adapted``). A werkzeug
debugger (``use_debugger``) is converted but marked, since uvicorn has no interactive debugger.
Already-uvicorn code and marked statements are left as they are, so the rule is idempotent.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import (
    Assignment,
    BaseAssignment,
    GlobalScope,
    MetadataWrapper,
    ScopeProvider,
)

from migrate import analysis, prefilter
from migrate.analysis import (
    called_name,
    calls_in,
    dotted_name,
    import_statements,
    returned_name,
)
from migrate.app_values import (
    ASGI_MAKERS,
    ASGI_MIDDLEWARE_MAKERS,
    BOTTLE_RUN,
    MAKE_SERVER,
    RUN_SIMPLE,
    WAITRESS_SERVE,
)
from migrate.cst_helpers import add_imports, has_marker, with_marker
from migrate.frameworks.bottle import DEFAULT_PORT as BOTTLE_DEFAULT_PORT
from migrate.rules.base import Rule, marker_comment
from migrate.rules.server import bottle, cherrypy

#: Packages whose objects are WSGI apps that no rule rewrites (they are not in the user's tree).
WSGI_LIBRARIES = frozenset(
    {"wsgiref", "werkzeug", "flask", "django", "bottle", "pyramid", "falcon", "webob", "paste"}
)


_MAKE_SERVER_PARAMS = ("host", "port", "app", "server_class", "handler_class")
_RUN_SIMPLE_PARAMS = (
    "hostname", "port", "application", "use_reloader", "use_debugger", "use_evalex",
    "extra_files", "exclude_patterns", "reloader_interval", "reloader_type", "threaded",
    "processes", "request_handler", "static_files", "passthrough_errors", "ssl_context",
)  # fmt: skip


class _Manual(Exception):
    """Raised while planning a conversion that is not certain; the message goes in the marker."""


@dataclass
class _Plan:
    replace_calls: dict[cst.Call, cst.Call] = field(default_factory=dict)
    remove_stmts: set[cst.CSTNode] = field(default_factory=set)
    #: ``with`` / ``try`` statements replaced by their body
    flatten: set[cst.CSTNode] = field(default_factory=set)
    #: ``try`` statements whose ``finally:`` only closed the server
    drop_finally: set[cst.CSTNode] = field(default_factory=set)
    markers: dict[cst.CSTNode, list[str]] = field(default_factory=dict)
    #: statements to put before a statement (``set_blocking_threads(8)`` before the
    #: ``uvicorn.run`` that replaces ``waitress.serve(..., threads=8)``)
    insert_before: dict[cst.CSTNode, list[cst.BaseStatement]] = field(default_factory=dict)
    #: statements to run once a statement is done, even if it raises (``try: ... finally:``:
    #: CherryPy's engine stops when uvicorn does)
    finally_after: dict[cst.CSTNode, list[cst.BaseStatement]] = field(default_factory=dict)
    #: imports those statements need
    imports: set[tuple[str, str | None]] = field(default_factory=set)
    #: qualified names whose imports may go once unused
    converted_targets: set[str] = field(default_factory=set)
    #: WSGI server calls left as they are, with the app they serve (ASGI now) given through
    #: ``adapters.as_wsgi``
    wrapped_apps: dict[cst.Call, cst.Call] = field(default_factory=dict)
    #: uvicorn.run calls given an app this module cannot vouch for through ``adapters.as_asgi``
    asgi_wrapped: bool = False

    def touches(self, node: cst.CSTNode) -> bool:
        return (
            node in self.remove_stmts
            or node in self.flatten
            or node in self.markers
            or node in self.insert_before
            or node in self.finally_after
        )

    def is_empty(self) -> bool:
        return not (
            self.replace_calls
            or self.remove_stmts
            or self.flatten
            or self.drop_finally
            or self.markers
            or self.wrapped_apps
            or self.asgi_wrapped
        )


#: The last name of each server function (``make_server``, ``run_simple``, ``serve``).
_SERVER_FUNCTIONS = frozenset(
    name.rpartition(".")[2]
    for name in MAKE_SERVER | RUN_SIMPLE | WAITRESS_SERVE | BOTTLE_RUN | cherrypy.QUICKSTART
)


def _ast_called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _may_call_a_server(module: cst.Module, calls: Sequence[cst.Call]) -> list[cst.Call]:
    """The calls that may be of a server function, by the name called: a superset of what
    the qualified names find (an import can rename the function, nothing else can: a name
    assigned one is not resolved to it)."""
    spellings = set(_SERVER_FUNCTIONS)
    for node in import_statements(module):
        if isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
            spellings.update(
                alias.asname.name.value
                for alias in node.names
                if isinstance(alias.asname, cst.AsName)
                and isinstance(alias.asname.name, cst.Name)
                and called_name(alias.name) in _SERVER_FUNCTIONS
            )
    return [call for call in calls if called_name(call.func) in spellings]


class _NameCollector(cst.CSTVisitor):
    """Every name used outside import statements, and every string constant (for ``__all__``)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)  # ``uvicorn.run`` uses no name ``run``
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        value = node.evaluated_value
        if isinstance(value, str):
            self.names.add(value)


def _covers(qualified: str, targets: set[str]) -> bool:
    """``qualified`` (what an import binds) is one of ``targets`` or a package of one."""
    return any(t == qualified or t.startswith(qualified + ".") for t in targets)


class _ImportCleaner(cst.CSTTransformer):
    """Drops import aliases of converted targets whose local name is no longer used. The first
    module-level import statement that goes entirely becomes ``import uvicorn`` when
    ``place_uvicorn`` (so the diff shows one import replaced by the other)."""

    def __init__(self, targets: set[str], used: set[str], place_uvicorn: bool) -> None:
        super().__init__()
        self.targets = targets
        self.used = used
        self.place_uvicorn = place_uvicorn
        self.depth = 0

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.depth += 1

    def _keep_import(self, node: cst.Import) -> cst.Import | None:
        kept = []
        for alias in node.names:
            qualified = dotted_name(alias.name)
            local = (
                alias.asname.name.value  # type: ignore[union-attr]
                if alias.asname is not None
                else qualified.split(".")[0]
            )
            if _covers(qualified, self.targets) and local not in self.used:
                continue
            kept.append(alias)
        if len(kept) == len(node.names):
            return node
        return node.with_changes(names=_fix_commas(kept)) if kept else None

    def _keep_import_from(self, node: cst.ImportFrom) -> cst.ImportFrom | None:
        if isinstance(node.names, cst.ImportStar) or node.relative or node.module is None:
            return node
        module = dotted_name(node.module)
        kept = []
        for alias in node.names:
            name = dotted_name(alias.name)
            local = (
                alias.asname.name.value  # type: ignore[union-attr]
                if alias.asname is not None
                else name
            )
            if _covers(f"{module}.{name}", self.targets) and local not in self.used:
                continue
            kept.append(alias)
        if len(kept) == len(node.names):
            return node
        if not kept:
            return None
        changes: dict[str, object] = {"names": _fix_commas(kept)}
        if len(kept) == 1 and node.lpar is not None:
            changes.update(lpar=None, rpar=None)
        return node.with_changes(**changes)

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        body: list[cst.BaseSmallStatement] = []
        changed = False
        for small in updated_node.body:
            new: cst.BaseSmallStatement | None = small
            if isinstance(small, cst.Import):
                new = self._keep_import(small)
            elif isinstance(small, cst.ImportFrom):
                new = self._keep_import_from(small)
            changed = changed or new is not small
            if new is not None:
                body.append(new)
        if not changed:
            return updated_node
        if not body and self.place_uvicorn and self.depth == 0:
            self.place_uvicorn = False
            return updated_node.with_changes(
                body=[cst.Import([cst.ImportAlias(cst.Name("uvicorn"))])],
                trailing_whitespace=cst.TrailingWhitespace(),
            )
        if not body:
            return cst.RemoveFromParent()
        body[-1] = body[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
        return updated_node.with_changes(body=body)

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        self.depth -= 1
        if not updated_node.body:
            return updated_node.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
        return updated_node


def _import_in_block(module: cst.Module) -> cst.Module:
    """``import uvicorn`` as the first statement of the module's top-level ``if`` block
    (``__main__``'s, say) or function (after its docstring) that calls it, unless that block
    imports it already."""
    body = list(module.body)
    for index, stmt in enumerate(body):
        if not isinstance(stmt, (cst.If, cst.FunctionDef)):
            continue
        block = stmt.body
        if not isinstance(block, cst.IndentedBlock) or "uvicorn" not in analysis.names_in(block):
            continue
        if any(
            isinstance(small, cst.Import)
            and any(dotted_name(a.name) == "uvicorn" for a in small.names)
            for node in block.body
            if isinstance(node, cst.SimpleStatementLine)
            for small in node.body
        ):
            return module
        first = cst.SimpleStatementLine([cst.Import([cst.ImportAlias(cst.Name("uvicorn"))])])
        at = 1 if isinstance(stmt, cst.FunctionDef) and stmt.get_docstring() is not None else 0
        inner = [*block.body[:at], first, *block.body[at:]]
        body[index] = stmt.with_changes(body=block.with_changes(body=inner))
        return module.with_changes(body=body)
    return add_imports(module, [("uvicorn", None)])


def _fix_commas(aliases: Sequence[cst.ImportAlias]) -> list[cst.ImportAlias]:
    out = list(aliases)
    out[-1] = out[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return out


def _is_main_guard(node: cst.CSTNode) -> bool:
    if not isinstance(node, cst.If) or not isinstance(node.test, cst.Comparison):
        return False
    test = node.test
    if len(test.comparisons) != 1 or not isinstance(test.comparisons[0].operator, cst.Equal):
        return False
    sides = [test.left, test.comparisons[0].comparator]
    names = [s for s in sides if isinstance(s, cst.Name) and s.value == "__name__"]
    strings = [
        s for s in sides if isinstance(s, cst.SimpleString) and s.evaluated_value == "__main__"
    ]
    return len(names) == 1 and len(strings) == 1


def _is_literal(node: cst.BaseExpression | None, value: object) -> bool:
    if node is None:
        return True  # an absent argument has its default
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value] is value
    if isinstance(node, cst.Integer):
        return type(value) is int and int(node.value, 0) == value
    return False


def _is_wsgi_signature(node: cst.FunctionDef, skip_self: bool) -> bool:
    """A plain (not async) def a server can call with ``(environ, start_response)`` (after
    ``self``): the shape of a WSGI callable, never of an ASGI 3 one (async)."""
    return analysis.wsgi_call_params(node, method=skip_self) is not None


def _method(cls: cst.ClassDef, name: str) -> cst.FunctionDef | None:
    for stmt in cls.body.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            return stmt
    return None


def _makes_asgi_app(factory: cst.FunctionDef) -> bool:
    """``factory`` returns an ASGI app it defines: ``async def app(scope, receive, send)``
    then ``return app`` (what the wsgi-app rule makes of a WSGI app factory)."""
    if not isinstance(factory.body, cst.IndentedBlock):
        return False
    made = {
        stmt.name.value
        for stmt in factory.body.body
        if isinstance(stmt, cst.FunctionDef)
        and stmt.asynchronous is not None
        and len(stmt.params.params) == 3
    }
    return any(returned_name(stmt) in made for stmt in factory.body.body)


def _is_wsgi_class(cls: cst.ClassDef) -> bool:
    """Instances are WSGI apps (sync ``__call__(self, environ, start_response)``), or the class
    itself is one (PEP 3333 iterable: ``__init__(self, environ, start_response)``)."""
    call = _method(cls, "__call__")
    if call is not None:
        return _is_wsgi_signature(call, skip_self=True)
    init = _method(cls, "__init__")
    return (
        init is not None
        and _method(cls, "__iter__") is not None
        and (_is_wsgi_signature(init, skip_self=True))
    )


def _leading(stmt: cst.BaseStatement) -> Sequence[cst.EmptyLine]:
    lines: Sequence[cst.EmptyLine] = getattr(stmt, "leading_lines", ())
    return lines


#: The words every use of the servers the rule rewrites has in its imports or calls.
SERVER_WORDS = ("make_server", "run_simple", "waitress", "bottle", "quickstart", "web.application")
#: The packages their imports name.
SERVER_PACKAGES = frozenset({"wsgiref", "werkzeug", "waitress", "bottle", "cherrypy", "web"})
#: What makes a web.py application (``app.run()`` on one serves it on web.py's server).
WEBPY_APPLICATIONS = frozenset(
    {"web.application", "web.application.application", "web.auto_application"}
)


class ServerRule(Rule):
    """wsgiref/werkzeug/waitress server entry points → ``uvicorn.run``."""

    rule_id = "server"
    summary = (
        "WSGI server entry points (wsgiref make_server, werkzeug run_simple, waitress serve, "
        "bottle's run, cherrypy's quickstart) become uvicorn.run(...) on the same host and port."
    )

    # Parents and source order come from a TreeIndex: libcst's providers of them cost more
    # than the scopes.
    METADATA_DEPENDENCIES = (ScopeProvider,)  # type: ignore[assignment]  # the base declares none

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return any(word in source for word in SERVER_WORDS)

    @classmethod
    def might_apply_to_tree(cls, tree: ast.Module, source: str) -> bool:
        # The servers are known by the qualified names of what is called, which only imports
        # give: a word in a comment, a string or a method name (``self.make_server()`` in
        # a test) does not count; nor a module that imports wsgiref.util but calls no server.
        # The metadata this rule needs costs seconds on a big module.
        if not prefilter.imports_any(tree, source, SERVER_PACKAGES):
            return False
        spellings = set(_SERVER_FUNCTIONS)
        for node in prefilter.walk_ast(tree):
            if isinstance(node, ast.ImportFrom):
                spellings.update(
                    alias.asname
                    for alias in node.names
                    if alias.asname and alias.name.rpartition(".")[2] in _SERVER_FUNCTIONS
                )
        return any(
            isinstance(node, ast.Call) and _ast_called_name(node.func) in spellings
            for node in prefilter.walk_ast(tree)
        )

    @contextmanager
    def resolve(self, wrapper: MetadataWrapper) -> Iterator[None]:
        # The metadata is worked out in visit_Module, and only for a module that may call a
        # server: most modules importing wsgiref or werkzeug do not, and on them it would
        # be most of the rule's time.
        self.metadata = {}
        try:
            yield
        finally:
            self.metadata = {}

    # -- planning (on the original tree, where metadata lives) ------------------------------

    def visit_Module(self, node: cst.Module) -> bool:
        self._module = node
        self._plan = _Plan()
        self._main_guards: list[cst.CSTNode] = []
        calls = _may_call_a_server(node, calls_in(node))
        if not calls:
            return False
        # the module itself, not a copy: the plan is keyed by its nodes
        wrapper = MetadataWrapper(node, unsafe_skip_copy=True)
        self.metadata = wrapper.resolve_many(self.get_inherited_dependencies())
        self._main_guards = [stmt for stmt in node.body if _is_main_guard(stmt)]
        for call in calls:
            kind = self._kind_of(call)
            if kind is None:
                continue
            stmt = self._statement_of(call)
            if stmt is None or has_marker(stmt, self.rule_id):
                continue
            try:
                if kind == "make_server":
                    self._plan_make_server(call, stmt)
                elif kind == "run_simple":
                    self._plan_run_simple(call, stmt)
                elif kind == "bottle":
                    self._plan_bottle(call, stmt)
                elif kind == "cherrypy":
                    self._plan_cherrypy(call, stmt)
                elif kind == "web.py":
                    raise _Manual(
                        "web.py's run() serves the app with its own server (cheroot, or CGI, "
                        "FastCGI, SCGI as sys.argv and the environment say), adding "
                        "StaticMiddleware for /static/: for an ASGI server, serve "
                        "WsgiToAsgi(web.httpserver.StaticMiddleware(app.wsgifunc())) with "
                        "uvicorn.run on the address it listened on (sys.argv[1], $PORT, "
                        "0.0.0.0:8080)"
                    )
                else:
                    self._plan_waitress(call, stmt)
            except _Manual as problem:
                self._keep_serving(stmt, call, kind, str(problem))
        # the leave_ methods carry the plan out; with none, the module is left as it is,
        # without a walk that would rebuild every node of it
        return not self._plan.is_empty()

    def _kind_of(self, call: cst.Call) -> str | None:
        names = self._qualified_names(call.func)
        if names & MAKE_SERVER:
            return "make_server"
        if names & RUN_SIMPLE:
            return "run_simple"
        if names & WAITRESS_SERVE:
            return "waitress"
        if names & BOTTLE_RUN or self._bottle_app_of(call) is not None:
            return "bottle"
        if names & cherrypy.QUICKSTART:
            return "cherrypy"
        if self._app_of(call, WEBPY_APPLICATIONS) is not None:
            return "web.py"
        return None

    def _bottle_app_of(self, call: cst.Call) -> cst.Name | None:
        """``app`` of ``app.run(...)``, when ``app`` is bound to a Bottle app here."""
        return self._app_of(call, bottle.APP_MAKERS)

    def _app_of(self, call: cst.Call, makers: frozenset[str]) -> cst.Name | None:
        """``app`` of ``app.run(...)``, when ``app`` is bound here to what one of ``makers``
        (qualified names) makes."""
        func = call.func
        if not (
            isinstance(func, cst.Attribute)
            and func.attr.value == "run"
            and isinstance(func.value, cst.Name)
        ):
            return None
        for assignment in self._assignments(func.value):
            value = self._assigned_value(getattr(assignment, "node", None))
            if isinstance(value, cst.Call) and self._qualified_names(value.func) & makers:
                return func.value
        return None

    def _qualified_names(self, node: cst.CSTNode) -> set[str]:
        """What ``node`` names, through the imports (libcst's QualifiedNameProvider gives the
        same, for every node of the module: a sixth of the rule's time on a big one)."""
        scope = self.get_metadata(ScopeProvider, node, None)
        if scope is None:
            return set()
        return {q.name for q in scope.get_qualified_names_for(node)}

    def _parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.tree_index().parent(node)

    def _statement_of(self, node: cst.CSTNode) -> cst.CSTNode | None:
        current: cst.CSTNode | None = node
        while current is not None and not isinstance(
            current, (cst.SimpleStatementLine, cst.BaseCompoundStatement)
        ):
            current = self._parent(current)
        return current

    def _code(self, node: cst.CSTNode) -> str:
        return self._module.code_for_node(node)

    def _keep_serving(self, stmt: cst.CSTNode, call: cst.Call, kind: str, problem: str) -> None:
        """A WSGI server call the rule cannot turn into uvicorn.run stays; an app of this
        module it serves that is ASGI now is handed to it through ``adapters.as_wsgi``, so
        the entry point keeps working (``adapted``). Otherwise it is marked ``manual``."""
        params = {
            "make_server": ("app", _MAKE_SERVER_PARAMS),
            "run_simple": ("application", _RUN_SIMPLE_PARAMS),
            "bottle": ("app", bottle.RUN_PARAMS),
        }.get(kind, ("app", ("app",)))
        try:
            bound = self._bind(call, params[1], "the call")
        except _Manual:
            bound = {}
        app = bound.get(params[0])
        if app is None or not self._may_be_asgi_now(app):
            self._mark(stmt, call, problem)
            return
        wrapped = cst.Call(func=cst.Name("as_wsgi"), args=[cst.Arg(app)])
        self._plan.wrapped_apps[call] = call.with_changes(
            args=[arg.with_changes(value=wrapped) if arg.value is app else arg for arg in call.args]
        )
        if isinstance(app, cst.Name) and self._defined_here(app) and not self._app_problem(app):
            what = f"`{app.value}`, an ASGI app now,"
        else:
            # as_wsgi hands a WSGI app on as it is: the call serves whichever it gets
            what = f"`{self._code(app)}` (ASGI now, or still WSGI)"
        message = f"{problem}; meanwhile the server gets {what} through adapters.as_wsgi"
        self._plan.markers.setdefault(stmt, []).append(marker_comment(self.rule_id, message))
        self.report(call, "adapted", message)

    def _may_be_asgi_now(self, app: cst.BaseExpression) -> bool:
        """``app`` may be an ASGI app after this run: an app of this module that is ASGI
        now, one imported (a module of the run may have converted it), or what a call of
        such a maker gives (an imported factory, a factory or app class of this module that
        is ASGI now), directly or through the names bound to it. Not what is certainly
        still WSGI, nor what comes from a WSGI library; other expressions (``app.wsgi_app``)
        are left to the reader."""
        if isinstance(app, cst.Call):
            return self._may_make_asgi(app.func)
        if not isinstance(app, cst.Name):
            return False
        assignments = self._assignments(app)
        if self._rebound_to_asgi(app):
            return True
        if not assignments or any(self._wsgi_library_origin(a) for a in assignments):
            return False
        if self._defined_here(app) and not self._app_problem(app):
            return True  # certainly ASGI now
        return any(self._may_hold_asgi(a) for a in assignments)

    def _assignments(self, name: cst.Name) -> list[BaseAssignment]:
        scope = self.get_metadata(ScopeProvider, name, None)
        return list(scope[name.value]) if scope is not None else []

    def _assigned_value(self, node: cst.CSTNode | None) -> cst.BaseExpression | None:
        """``value`` of ``name = value`` for the bound ``name`` node (None: another binding)."""
        target = self._parent(node) if node is not None else None
        assign = self._parent(target) if isinstance(target, cst.AssignTarget) else None
        return assign.value if isinstance(assign, cst.Assign) else None

    def _may_hold_asgi(self, assignment: BaseAssignment) -> bool:
        if not isinstance(assignment, Assignment):
            return False
        node = assignment.node
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            return True
        value = self._assigned_value(node)
        return isinstance(value, cst.Call) and self._may_make_asgi(value.func)

    def _may_make_asgi(self, func: cst.BaseExpression) -> bool:
        """Calling ``func`` may give an ASGI app (see :meth:`_may_be_asgi_now`)."""
        root = func
        while isinstance(root, cst.Attribute):
            root = root.value
        if not isinstance(root, cst.Name) or any(
            name.split(".")[0] in WSGI_LIBRARIES for name in self._qualified_names(func)
        ):
            return False
        for assignment in self._assignments(root):
            node = getattr(assignment, "node", None)
            if isinstance(node, (cst.Import, cst.ImportFrom)):
                return True
            if root is func and isinstance(node, cst.FunctionDef) and _makes_asgi_app(node):
                return True
            if root is func and isinstance(node, cst.ClassDef):
                call = _method(node, "__call__")
                if call is not None and call.asynchronous is not None:
                    return True
        return False

    def _defined_here(self, name: cst.Name) -> bool:
        """``name`` is bound by code of this module only, not by an import."""
        scope = self.get_metadata(ScopeProvider, name, None)
        assignments = list(scope[name.value]) if scope is not None else []
        return bool(assignments) and not any(
            isinstance(getattr(a, "node", None), (cst.Import, cst.ImportFrom)) for a in assignments
        )

    def _mark(self, stmt: cst.CSTNode, at: cst.CSTNode, message: str) -> None:
        self._plan.markers.setdefault(stmt, []).append(marker_comment(self.rule_id, message))
        self.report(at, "manual", message)

    def _is_statement_call(self, call: cst.Call) -> bool:
        """``call`` is a whole expression statement (its result is not used)."""
        return isinstance(self._parent(call), cst.Expr)

    @staticmethod
    def _bind(call: cst.Call, params: Sequence[str], what: str) -> dict[str, cst.BaseExpression]:
        bound: dict[str, cst.BaseExpression] = {}
        for index, arg in enumerate(call.args):
            if arg.star:
                raise _Manual(
                    f"{what} is called with *args/**kwargs: check which host, port and options "
                    "it gets and replace it with uvicorn.run(app, host=..., port=...)"
                )
            if arg.keyword is None:
                if index >= len(params):
                    raise _Manual(f"{what} has more arguments than expected: check the call")
                bound[params[index]] = arg.value
            else:
                bound[arg.keyword.value] = arg.value
        return bound

    def _app_problem(self, app: cst.BaseExpression | None) -> str | None:
        """Why ``app`` may not be an ASGI app after migration, or None when it is certain."""
        if app is None:
            return "no application is passed"
        if not isinstance(app, cst.Name):
            return (
                f"the application `{self._code(app)}` is an expression, not a module-level name, "
                "so it may still be a WSGI app"
            )
        scope = self.get_metadata(ScopeProvider, app, None)
        assignments = list(scope[app.value]) if scope is not None else []
        if not assignments:
            return f"`{app.value}` is not defined in this module"
        for assignment in assignments:
            if not isinstance(assignment, Assignment):
                return f"`{app.value}` is not defined in this module"
            if not isinstance(assignment.scope, GlobalScope):
                return f"`{app.value}` is a local name here, so it may still be a WSGI app"
            if any(
                self.tree_index().contains(guard, assignment.node) for guard in self._main_guards
            ):
                return (
                    f"`{app.value}` is built in the `__main__` block, so it may still be a WSGI app"
                )
        if self._rebound_to_asgi(app):
            return None
        for assignment in assignments:
            origin = self._wsgi_library_origin(assignment)
            if origin is not None:
                return (
                    f"`{app.value}` comes from {origin}, a WSGI library this migration does not "
                    "rewrite, so it is still a WSGI app"
                )
        if all(self._still_wsgi(a) for a in assignments):
            return f"`{app.value}` is still a WSGI callable"
        return None

    def _still_wsgi(self, assignment: BaseAssignment) -> bool:
        """The name is still bound to WSGI code in this module: a WSGI-shaped def, a WSGI
        class, or an instance of a class here whose ``__call__`` is still WSGI-shaped."""
        if not isinstance(assignment, Assignment):
            return False
        node = assignment.node
        if isinstance(node, cst.FunctionDef):
            return _is_wsgi_signature(node, skip_self=False)
        if isinstance(node, cst.ClassDef):
            return _is_wsgi_class(node)
        value = self._assigned_value(node)
        if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Name)):
            return False
        func = value.func
        scope = self.get_metadata(ScopeProvider, func, None)
        bindings = list(scope[func.value]) if scope is not None else []
        return bool(bindings) and all(
            isinstance(b, Assignment)
            and isinstance(b.node, cst.ClassDef)
            and _method(b.node, "__call__") is not None
            and _is_wsgi_class(b.node)
            for b in bindings
        )

    def _wsgi_library_origin(self, assignment: BaseAssignment) -> str | None:
        """The WSGI library (e.g. ``django.core.wsgi.get_wsgi_application``) an assignment
        takes its value from -- an import of it, or a call of something imported from it."""
        if not isinstance(assignment, Assignment):
            return None
        node = assignment.node
        names: set[str]
        if isinstance(node, cst.ImportFrom):
            names = (
                {dotted_name(node.module)}
                if node.module is not None and not node.relative
                else set()
            )
        elif isinstance(node, cst.Import):
            names = {dotted_name(alias.name) for alias in node.names}
        else:
            value = self._assigned_value(node)
            if not isinstance(value, cst.Call):
                return None
            names = self._qualified_names(value.func)
        if names & ASGI_MAKERS:  # the ASGI side of a library with both (falcon.asgi.App)
            return None
        for name in sorted(names):
            if name.split(".")[0] in WSGI_LIBRARIES:
                return name
        return None

    def _uvicorn_call(
        self,
        app: cst.BaseExpression,
        host: str,
        port: str,
        *,
        reload: str | None = None,
        extra: Sequence[str] = (),
    ) -> tuple[cst.Call, str | None]:
        """``uvicorn.run(app, ...)``, and why it gets the app through ``adapters.as_asgi``
        (None: as it is). An app this module cannot show to be ASGI goes through as_asgi,
        which hands an ASGI app on as it is and adapts a WSGI one: one imported or made by a
        function of another module (Flask's ``create_app()``), one from a WSGI library, one
        still WSGI here, one built in the ``__main__`` block."""
        problem = self._app_problem(app)
        certain = problem is None and isinstance(app, cst.Name) and self._certainly_asgi(app)
        why_as_asgi: str | None = None
        if reload is not None:
            if not (certain and isinstance(app, cst.Name)):
                why = problem or (
                    f"nothing here shows that `{self._code(app)}` is an ASGI app (it may still "
                    "be WSGI)"
                )
                raise _Manual(
                    f"reload needs an import string, and {why}: make sure it is ASGI, then "
                    f'serve it with uvicorn.run("module:app", host=..., port=..., reload=True)'
                )
            if not self.context.module_name:
                raise _Manual("reload needs an import string but the module name is not known")
            target = f'"{self.context.module_name}:{app.value}"'
        elif certain and isinstance(app, cst.Name):
            target = app.value
        else:
            target = f"as_asgi({self._code(app)})"
            why_as_asgi = problem or (
                f"nothing here shows that `{self._code(app)}` is an ASGI app (it is made elsewhere)"
            )
        args = [target, f"host={host}", f"port={port}"]
        if reload is not None:
            args.append(f"reload={reload}")
        args.extend(extra)
        # none of the servers replaced reads X-Forwarded-* headers; uvicorn would, from
        # 127.0.0.1 (a proxy in front would change the scheme and client the app sees)
        args.append("proxy_headers=False")
        call = cst.parse_expression(f"uvicorn.run({', '.join(args)})")
        assert isinstance(call, cst.Call)
        return call, why_as_asgi

    def _host(self, host: cst.BaseExpression | None, default: str) -> str:
        if host is None:
            return default
        if isinstance(host, cst.SimpleString) and host.evaluated_value in ("", "*"):
            return '"0.0.0.0"'
        return self._code(host)

    def _require_app(self, app: cst.BaseExpression | None, hint: str) -> cst.BaseExpression:
        if app is None:
            raise _Manual(
                f"no application is passed: check the call, then serve the app with {hint}"
            )
        return app

    def _convert(
        self,
        call: cst.Call,
        new: cst.Call,
        why_as_asgi: str | None,
        target: str,
        what: str,
        note: str = "",
    ) -> None:
        """Plan replacing ``call`` by ``new`` (from :meth:`_uvicorn_call`, with its reason
        for as_asgi) and report it."""
        self._plan.replace_calls[call] = new
        self._plan.converted_targets.add(target)
        code = cst.Module([]).code_for_node(new)
        if why_as_asgi is not None:
            self._plan.asgi_wrapped = True  # the import it needs
            self.report(
                call,
                "adapted",
                f"{what} now runs on uvicorn: {code}{note}; {why_as_asgi}: uvicorn gets it "
                "through adapters.as_asgi, which hands an ASGI app on as it is and adapts a WSGI "
                "one",
            )
            return
        self.report(call, "converted", f"{what} now runs on uvicorn: {code}{note}")

    def _rebound_to_asgi(self, app: cst.Name) -> bool:
        """``app`` is a module-level name whose last binding makes an ASGI app
        (``app = WsgiToAsgi(app)`` after ``app = bottle.Bottle()``)."""
        assignments = self._assignments(app)
        if not assignments or not all(isinstance(a.scope, GlobalScope) for a in assignments):
            return False
        if isinstance(self.get_metadata(ScopeProvider, app, None), GlobalScope):
            # module-level code (a ``__main__`` block too) runs where it stands: it gets what
            # the name holds there, not what a later statement binds (``app.run()`` before
            # ``app = WsgiToAsgi(app)``); a function runs once the module has
            at = self.tree_index().order(app)
            assignments = [a for a in assignments if self._place_of_binding(a) < at]
            if not assignments:
                return False
        return self._binds_asgi(max(assignments, key=self._place_of_binding), app.value)

    def _certainly_asgi(self, app: cst.Name) -> bool:
        """Every binding of ``app`` here makes an ASGI app, whatever other modules become:
        an ``async def``, or what an ASGI class, an ASGI factory or middleware of this
        module, an adapter or an ASGI framework makes."""
        assignments = self._assignments(app)
        if not assignments:
            return False
        if all(isinstance(a.scope, GlobalScope) for a in assignments):
            # a module-level name holds what it was bound to last: ``app = WsgiToAsgi(app)``
            # after ``def app(environ, start_response)``
            return self._rebound_to_asgi(app)
        return all(self._binds_asgi(a, app.value) for a in assignments)

    def _place_of_binding(self, assignment: BaseAssignment) -> int:
        node = getattr(assignment, "node", None)
        return self.tree_index().order(node) if isinstance(node, cst.CSTNode) else -1

    def _binds_asgi(self, assignment: BaseAssignment, name: str) -> bool:
        if not isinstance(assignment, Assignment):
            return False
        node = assignment.node
        if isinstance(node, cst.FunctionDef):
            return node.asynchronous is not None
        value = self._assigned_value(node)
        if isinstance(value, cst.Name) and value.value != name:
            return self._certainly_asgi(value)  # app = application
        return isinstance(value, cst.Call) and self._makes_asgi(value.func)

    def _makes_asgi(self, func: cst.BaseExpression) -> bool:
        """Calling ``func`` gives an ASGI app: an adapter or an ASGI framework by its
        qualified name, a class of this module with an ``async def __call__``, a factory or
        middleware of this module returning an ``async def`` of three parameters, or what
        ``adapters.wsgi_middleware(...)`` made."""
        if self._qualified_names(func) & ASGI_MAKERS:
            return True
        if not isinstance(func, cst.Name):
            return False
        for binding in self._assignments(func):
            node = getattr(binding, "node", None)
            if isinstance(node, cst.ClassDef):
                call = _method(node, "__call__")
                if call is None or call.asynchronous is None:
                    return False
            elif isinstance(node, cst.FunctionDef):
                if not _makes_asgi_app(node):
                    return False
            else:
                value = self._assigned_value(node)
                if not (
                    isinstance(value, cst.Call)
                    and self._qualified_names(value.func) & ASGI_MIDDLEWARE_MAKERS
                ):
                    return False
        return bool(self._assignments(func))

    # wsgiref

    def _plan_make_server(self, call: cst.Call, stmt: cst.CSTNode) -> None:
        hint = "uvicorn.run(app, host=..., port=...)"
        args = self._bind(call, _MAKE_SERVER_PARAMS, "make_server()")
        unknown = sorted(set(args) - set(_MAKE_SERVER_PARAMS))
        if unknown:
            raise _Manual(f"make_server() has unexpected arguments {unknown}: check the call")
        if "server_class" in args or "handler_class" in args:
            raise _Manual(
                "make_server() uses a custom server_class/handler_class, which uvicorn has no "
                "equivalent for: move what they do (logging, headers, ...) into ASGI middleware, "
                f"then replace the server with {hint}"
            )
        if "host" not in args or "port" not in args:
            raise _Manual("make_server() without host and port: check the call")
        app = self._require_app(args.get("app"), hint)
        new, why_as_asgi = self._uvicorn_call(
            app, self._host(args["host"], '"0.0.0.0"'), self._code(args["port"])
        )

        parent = self._parent(call)
        # make_server(...).serve_forever()
        if isinstance(parent, cst.Attribute) and parent.attr.value == "serve_forever":
            outer = self._parent(parent)
            if (
                isinstance(outer, cst.Call)
                and outer.func is parent
                and self._is_statement_call(outer)
            ):
                self._convert(
                    outer,
                    new,
                    why_as_asgi,
                    "wsgiref.simple_server.make_server",
                    "make_server(...).serve_forever()",
                )
                return
        if not isinstance(app, cst.Name):
            # uvicorn.run takes the place of serve_forever(): an expression evaluated there
            # would run after the code between the two (a name is read there as well, but
            # evaluating it does nothing else)
            raise _Manual(
                f"the application `{self._code(app)}` is computed where the server is made, "
                "before the code up to serve_forever(): bind it to a name first, then serve it "
                f"with {hint}"
            )
        # with make_server(...) as httpd: ... httpd.serve_forever()
        if isinstance(parent, cst.WithItem) and isinstance(stmt, cst.With):
            if (
                len(stmt.items) != 1
                or parent.asname is None
                or not isinstance(parent.asname.name, cst.Name)
            ):
                raise self._used_otherwise("the server")
            self._plan_server_variable(parent.asname.name, stmt, new, why_as_asgi)
            self._plan.flatten.add(stmt)
            return
        # httpd = make_server(...); ...; httpd.serve_forever()
        if (
            isinstance(parent, cst.Assign)
            and len(parent.targets) == 1
            and isinstance(parent.targets[0].target, cst.Name)
            and isinstance(stmt, cst.SimpleStatementLine)
            and len(stmt.body) == 1
            and isinstance(self._parent(stmt), (cst.IndentedBlock, cst.Module))
        ):
            self._plan_server_variable(parent.targets[0].target, stmt, new, why_as_asgi)
            self._plan.remove_stmts.add(stmt)
            return
        raise self._used_otherwise("the server object")

    def _used_otherwise(self, what: str) -> _Manual:
        return _Manual(
            f"{what} made by make_server() is used for more than serve_forever() (threads, "
            "handle_request, shutdown, ...): uvicorn has no such object; serve the ASGI app with "
            "uvicorn.run(app, host=..., port=...) (or uvicorn.Server(uvicorn.Config(app, ...)) "
            "to control it) and port those uses"
        )

    def _plan_server_variable(
        self, name: cst.Name, owner: cst.CSTNode, new: cst.Call, why_as_asgi: str | None
    ) -> None:
        """``name`` holds the server; plan replacing its only ``serve_forever()``."""
        scope = self.get_metadata(ScopeProvider, name, None)
        if scope is None or len(scope.assignments[name.value]) != 1:
            raise self._used_otherwise(f"`{name.value}`")
        (assignment,) = scope.assignments[name.value]
        serve: cst.Call | None = None
        closes: list[cst.CSTNode] = []
        for access in assignment.references:
            ref = access.node
            attr = self._parent(ref)
            outer = self._parent(attr) if attr is not None else None
            if not (
                isinstance(attr, cst.Attribute)
                and attr.value is ref
                and isinstance(outer, cst.Call)
                and outer.func is attr
                and self._is_statement_call(outer)
                and self.get_metadata(ScopeProvider, ref, None) is scope
            ):
                raise self._used_otherwise(f"`{name.value}`")
            if attr.attr.value == "serve_forever" and serve is None:
                after = self.tree_index().after(outer, owner)
                inside = self.tree_index().contains(owner, outer)
                if (isinstance(owner, cst.With) and not inside) or (
                    not isinstance(owner, cst.With) and not after
                ):
                    raise self._used_otherwise(f"`{name.value}`")
                serve = outer
            elif attr.attr.value == "server_close":
                close_stmt = self._statement_of(outer)
                if not (
                    isinstance(close_stmt, cst.SimpleStatementLine)
                    and len(close_stmt.body) == 1
                    and isinstance(self._parent(close_stmt), (cst.IndentedBlock, cst.Module))
                ):
                    raise self._used_otherwise(f"`{name.value}`")
                closes.append(close_stmt)
            else:
                raise self._used_otherwise(f"`{name.value}`")
        if serve is None:
            raise self._used_otherwise(f"`{name.value}`")
        self._plan.remove_stmts.update(closes)
        for close in closes:
            block = self._parent(close)
            final = self._parent(block) if block is not None else None
            owner_try = self._parent(final) if isinstance(final, cst.Finally) else None
            if not isinstance(block, cst.IndentedBlock) or not isinstance(owner_try, cst.Try):
                continue
            if not all(stmt in self._plan.remove_stmts for stmt in block.body):
                continue
            if owner_try.handlers:
                self._plan.drop_finally.add(owner_try)
            elif owner_try.orelse is None:
                self._plan.flatten.add(owner_try)
        self._convert(
            serve,
            new,
            why_as_asgi,
            "wsgiref.simple_server.make_server",
            "make_server(...) + serve_forever()",
        )

    # werkzeug

    def _plan_run_simple(self, call: cst.Call, stmt: cst.CSTNode) -> None:
        hint = "uvicorn.run(app, host=..., port=...)"
        if not self._is_statement_call(call):
            raise _Manual(f"the result of run_simple() is used: replace the call with {hint}")
        args = self._bind(call, _RUN_SIMPLE_PARAMS, "run_simple()")
        unknown = sorted(set(args) - set(_RUN_SIMPLE_PARAMS))
        if unknown:
            raise _Manual(f"run_simple() has unexpected arguments {unknown}: check the call")
        if "hostname" not in args or "port" not in args:
            raise _Manual("run_simple() without hostname and port: check the call")
        blockers = {
            "ssl_context": "ssl_context: pass ssl_certfile=/ssl_keyfile= to uvicorn.run",
            "request_handler": "a custom request_handler: move what it does into ASGI middleware",
            "static_files": "static_files: serve them with an ASGI static-files app "
            "(e.g. starlette.staticfiles.StaticFiles)",
            "extra_files": "extra_files: pass reload_includes=[...] (glob patterns) to uvicorn.run",
            "exclude_patterns": "exclude_patterns: pass reload_excludes=[...] to uvicorn.run",
        }
        for key, advice in blockers.items():
            if key in args and not _is_literal(args[key], None):
                raise _Manual(f"run_simple() uses {advice}, then call {hint}")
        if not _is_literal(args.get("threaded"), False) or not _is_literal(
            args.get("processes"), 1
        ):
            raise _Manual(
                "run_simple() uses threaded=/processes=: an ASGI server runs the app on an event "
                "loop, blocking code must move to threads (asyncio.to_thread); use "
                'uvicorn.run("module:app", host=..., port=..., workers=N) for processes'
            )
        if not _is_literal(args.get("passthrough_errors"), False):
            raise _Manual(
                "run_simple() uses passthrough_errors: uvicorn always catches errors; "
                f"decide how to handle them, then call {hint}"
            )
        app = self._require_app(args.get("application"), hint)
        reload: str | None = None
        extra: list[str] = []
        reloader = args.get("use_reloader")
        if not _is_literal(reloader, False) and not _is_literal(reloader, None):
            assert reloader is not None
            reload = self._code(reloader)
            if "reloader_interval" in args:
                extra.append(f"reload_delay={self._code(args['reloader_interval'])}")
        new, why_as_asgi = self._uvicorn_call(
            app, self._host(args["hostname"], '"0.0.0.0"'), self._code(args["port"]),
            reload=reload, extra=extra,
        )  # fmt: skip
        self._convert(
            call, new, why_as_asgi, "werkzeug.serving.run_simple", "werkzeug run_simple()"
        )
        self._plan.converted_targets.add("werkzeug.run_simple")
        if not _is_literal(args.get("use_debugger"), False):
            self._mark(
                stmt,
                call,
                "uvicorn has no interactive debugger like werkzeug's use_debugger: tracebacks go "
                "to the log; add a debug error page middleware if you need one",
            )

    # waitress

    def _plan_waitress(self, call: cst.Call, stmt: cst.CSTNode) -> None:
        hint = "uvicorn.run(app, host=..., port=...)"
        if not self._is_statement_call(call):
            raise _Manual(f"the result of waitress.serve() is used: replace the call with {hint}")
        args = self._bind(call, ("app",), "waitress.serve()")
        options = sorted(set(args) - {"app", "host", "port", "listen", "threads"})
        if options:
            threads = (
                " (threads: an ASGI server runs the app on an event loop, blocking code "
                "must move to threads)"
                if "threads" in options
                else ""
            )
            raise _Manual(
                f"waitress.serve() uses options {', '.join(options)}{threads}: find the uvicorn "
                f"equivalent (or drop them), then call {hint}"
            )
        if "listen" in args:
            if "host" in args or "port" in args:
                raise _Manual("waitress.serve() has both listen= and host=/port=: check the call")
            listen = args["listen"]
            value = listen.evaluated_value if isinstance(listen, cst.SimpleString) else None
            if not isinstance(value, str) or len(value.split()) != 1 or ":" not in value:
                raise _Manual(
                    f"waitress.serve(listen={self._code(listen)}) is not one literal host:port: "
                    f"call {hint} once per address"
                )
            host_text, port_text = value.rsplit(":", 1)
            host_text = host_text.strip("[]")
            if host_text in ("", "*"):
                host_text = "0.0.0.0"
            if not port_text.isdigit():
                raise _Manual(f"waitress.serve(listen={value!r}) has no numeric port: call {hint}")
            host, port = f'"{host_text}"', str(int(port_text))
        else:
            host = self._host(args.get("host"), '"0.0.0.0"')
            port = self._waitress_port(args.get("port"))
        app = self._require_app(args.get("app"), hint)
        new, why_as_asgi = self._uvicorn_call(app, host, port)
        pool = args.get("threads")
        note = ""
        if pool is not None:
            # waitress' threads bounded how many requests blocked at once: the same bound for
            # the blocking calls the codemod moved to threads
            size = self._code(pool)
            self._plan.insert_before[stmt] = [
                cst.parse_statement(f"set_blocking_threads({size})\n")
            ]
            self._plan.imports.add(("adapters.blocking", "set_blocking_threads"))
            note = (
                f"; threads={size} sizes the thread pool of the blocking calls moved off the "
                f"loop (adapters.blocking.set_blocking_threads({size}))"
            )
        self._convert(call, new, why_as_asgi, "waitress.serve", "waitress.serve()", note)

    # bottle

    def _plan_bottle(self, call: cst.Call, stmt: cst.CSTNode) -> None:
        hint = "uvicorn.run(app, host=..., port=...)"
        if not self._is_statement_call(call):
            raise _Manual(f"the result of bottle's run() is used: replace the call with {hint}")
        receiver = self._bottle_app_of(call)
        args = self._bind(call, () if receiver else bottle.RUN_PARAMS, "bottle's run()")
        try:
            run = bottle.read_run(args, receiver, self._code, _is_literal)
        except bottle.BottleProblem as problem:
            raise _Manual(str(problem)) from None
        app = run.app
        if app is None:  # bottle serves its default app, which the module's routes fill
            app = cst.parse_expression("bottle.default_app()")
            self._plan.imports.add(("bottle", None))
        new, why_as_asgi = self._uvicorn_call(
            app,
            self._host(run.host, '"127.0.0.1"'),
            self._code(run.port) if run.port is not None else BOTTLE_DEFAULT_PORT,
            reload=run.reload,
            extra=run.extra,
        )
        note = ""
        if run.debug is not None:
            # bottle.run(debug=...) set bottle's debug mode (tracebacks on error pages)
            self._plan.insert_before[stmt] = [cst.parse_statement(run.debug)]
            self._plan.imports.add(("bottle", None))
            note = "; bottle.debug(...) keeps the debug mode run() set"
        self._convert(call, new, why_as_asgi, "bottle.run", "bottle's run()", note)

    # cherrypy

    def _plan_cherrypy(self, call: cst.Call, stmt: cst.CSTNode) -> None:
        if not self._is_statement_call(call) or not isinstance(stmt, cst.SimpleStatementLine):
            raise _Manual(
                "the result of cherrypy.quickstart() is used: mount the root on cherrypy.tree, "
                "start cherrypy.engine and serve WsgiToAsgi(cherrypy.tree) with uvicorn.run"
            )
        if len(stmt.body) != 1:
            raise _Manual("cherrypy.quickstart() shares its line with other statements")
        args = self._bind(call, cherrypy.PARAMS, "cherrypy.quickstart()")
        func = call.func
        module = "cherrypy"
        if isinstance(func, cst.Attribute) and self._qualified_names(func.value) & {"cherrypy"}:
            module = self._code(func.value)  # ``import cherrypy as cp``
        else:
            self._plan.imports.add(("cherrypy", None))
        try:
            before, run, after = cherrypy.statements(
                args, module, self._code, self._module.default_indent
            )
        except cherrypy.CherryPyProblem as problem:
            raise _Manual(f"{problem}; then serve WsgiToAsgi(cherrypy.tree) with uvicorn") from None
        new = cst.parse_expression(run)
        assert isinstance(new, cst.Call)
        self._plan.replace_calls[call] = new
        self._plan.insert_before[stmt] = [cst.parse_statement(line + "\n") for line in before]
        self._plan.finally_after[stmt] = [cst.parse_statement(after + "\n")]
        self._plan.imports.add(("adapters", "WsgiToAsgi"))
        self.report(
            call,
            "adapted",
            "cherrypy.quickstart() now serves on uvicorn: CherryPy's tree (the apps it mounts) "
            "through adapters.WsgiToAsgi, on the host, port, socket file and certificate "
            "CherryPy's settings give cheroot; its engine (plugins, autoreloader) starts "
            "before and stops after, as quickstart did",
        )

    def _waitress_port(self, port: cst.BaseExpression | None) -> str:
        if port is None:
            return "8080"  # waitress' default; uvicorn's is 8000
        if isinstance(port, cst.Integer):
            return self._code(port)
        if isinstance(port, cst.SimpleString):
            value = port.evaluated_value
            if isinstance(value, str) and value.strip().isdigit():
                return str(int(value))
        if (
            isinstance(port, cst.Call)
            and isinstance(port.func, cst.Name)
            and port.func.value == "int"
        ):
            return self._code(port)
        return f"int({self._code(port)})"  # waitress takes strings too, uvicorn wants an int

    # -- rewriting ---------------------------------------------------------------------------

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        new = self._plan.replace_calls.get(original_node) or self._plan.wrapped_apps.get(
            original_node
        )
        return updated_node if new is None else new

    def leave_Try(self, original_node: cst.Try, updated_node: cst.Try) -> cst.Try:
        if original_node in self._plan.drop_finally:
            return updated_node.with_changes(finalbody=None)
        return updated_node

    def _rewrite_body(
        self, original: Sequence[cst.BaseStatement], updated: Sequence[cst.BaseStatement]
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        """The block's statements after removals, flattenings and markers, plus comment lines
        of removed statements that have no statement left to stay with."""
        out: list[cst.BaseStatement] = []
        pending: list[cst.EmptyLine] = []
        for orig, upd in zip(original, updated, strict=True):
            if orig in self._plan.remove_stmts:
                pending.extend(line for line in _leading(upd) if line.comment is not None)
                continue
            produced: list[cst.BaseStatement] = [upd]
            if orig in self._plan.flatten and isinstance(upd, (cst.With, cst.Try)):
                pending = [*pending, *upd.leading_lines]
                inner = upd.body
                if isinstance(inner, cst.IndentedBlock):
                    produced = list(inner.body)
                elif isinstance(inner, cst.SimpleStatementSuite):
                    produced = [cst.SimpleStatementLine(body=list(inner.body))]
            after = self._plan.finally_after.get(orig)
            if after:
                first = produced[0]
                produced[0] = cst.Try(
                    body=cst.IndentedBlock([first.with_changes(leading_lines=())]),
                    finalbody=cst.Finally(body=cst.IndentedBlock(after)),
                    leading_lines=_leading(first),
                )
            for message in self._plan.markers.get(orig, []):
                produced[0] = with_marker(produced[0], message)
            inserted = self._plan.insert_before.get(orig, [])
            if inserted:
                first = produced[0]
                produced = [
                    inserted[0].with_changes(leading_lines=_leading(first)),
                    *inserted[1:],
                    first.with_changes(leading_lines=()),
                    *produced[1:],
                ]
            if pending and produced:
                first = produced[0]
                produced[0] = first.with_changes(leading_lines=[*pending, *_leading(first)])
                pending = []
            out.extend(produced)
        return out, pending

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        if not any(self._plan.touches(stmt) for stmt in original_node.body):
            return updated_node
        body, pending = self._rewrite_body(original_node.body, updated_node.body)
        if not body:
            body = [cst.SimpleStatementLine([cst.Pass()])]
        return updated_node.with_changes(body=body, footer=[*pending, *updated_node.footer])

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if any(self._plan.touches(stmt) for stmt in original_node.body):
            body, pending = self._rewrite_body(original_node.body, updated_node.body)
            updated_node = updated_node.with_changes(
                body=body, footer=[*pending, *updated_node.footer]
            )
        if self._plan.wrapped_apps:
            updated_node = add_imports(updated_node, [("adapters", "as_wsgi")])
        if self._plan.asgi_wrapped:
            updated_node = add_imports(updated_node, [("adapters", "as_asgi")])
        if self._plan.imports:
            updated_node = add_imports(updated_node, sorted(self._plan.imports, key=str))
        if not self._plan.replace_calls:
            return updated_node
        used = _NameCollector()
        updated_node.visit(used)
        has_uvicorn = any(
            isinstance(small, cst.Import)
            and any(dotted_name(a.name) == "uvicorn" and a.asname is None for a in small.names)
            for stmt in updated_node.body
            if isinstance(stmt, cst.SimpleStatementLine)
            for small in stmt.body
        )
        # uvicorn serves only in an `if` block (`if __name__ == "__main__":`, `if
        # config.standalone:`) or a function (`def serve(port):`): imported there, so that
        # importing the app (under another server, in a test) does not need uvicorn
        in_block = not has_uvicorn and any(
            all(self.tree_index().contains(block.body, call) for call in self._plan.replace_calls)
            for block in original_node.body
            if isinstance(block, (cst.If, cst.FunctionDef))
        )
        cleaner = _ImportCleaner(
            self._plan.converted_targets, used.names, not has_uvicorn and not in_block
        )
        cleaned = updated_node.visit(cleaner)
        assert isinstance(cleaned, cst.Module)
        if in_block:
            return _import_in_block(cleaned)
        return add_imports(cleaned, [("uvicorn", None)])
