"""Rule ``flask-quart``: the run's Flask code moves to Quart, or all of it stays on Flask.

::

    # before                                       # after
    from flask import Flask, jsonify, request      from quart import Quart, jsonify, request

    app = Flask(__name__)                          app = Quart(__name__)

    @app.post("/tasks")                            @app.post("/tasks")
    def create_task():                             async def create_task():
        fields = validated(request.get_json())         fields = validated(await request.get_json())
        row = insert(fields)                           row = await run_blocking(insert, fields)
        return jsonify(row), 201                       return jsonify(row), 201

:mod:`migrate.frameworks.flask` decides for the whole run (Flask's globals tie its modules
together) and says, per module, which functions become coroutines (views, hooks, error
handlers, teardown functions registered by a call, and every function that calls one of
them or awaits Quart) and which calls are awaited. Inside a coroutine, ``request.get_json()``,
``request.get_data()``, ``request.json``/``data``/``form``/``files``/``values``,
``render_template*``, ``make_response`` and ``flash`` are awaited, and every call that may
block runs in the blocking pool (:mod:`migrate.blocking`), with the request's context. A run
the plan refuses is left as it is: ``served-app`` serves its app through the adapter.
"""

from __future__ import annotations

import libcst as cst

from migrate import analysis
from migrate.blocking import ModuleFacts, as_coroutine
from migrate.cst_helpers import (
    ENVIRON_IMPORTS,
    EnvironFromScope,
    ReplaceNodes,
    add_imports,
    has_marker,
    paren_await,
    remove_unused_imports,
    single_statement,
    suite_statements,
    with_marker,
)
from migrate.frameworks.flask import (
    AWAITED_CALLS,
    AWAITED_REQUEST,
    TEMPLATE_HELPERS,
    ModulePlan,
    might_use_flask,
)
from migrate.frameworks.flask_files import SENDERS
from migrate.middleware_analysis import PROXY_FIX
from migrate.rules.base import FileContext, Rule, marker_comment
from migrate.rules.flask_quart.defaults import KeepFlaskDefaults, apps_made
from migrate.rules.flask_quart.files import quart_sender_call, under_root_path
from migrate.rules.flask_quart.proxies import AsgiProxyFix
from migrate.rules.flask_quart.tests import async_tests
from migrate.rules.flask_quart.uploads import is_upload_save

RENAMED = {"Flask": "Quart"}
TEMPLATE_HELPER_BLOCKS = (
    "this template helper may block: under Quart, Jinja calls it on the event loop while a "
    "template renders, and it is also used as a function, so it stays one; do its I/O in the "
    "view or a context processor (which run off the loop) and hand the template the result"
)


def _is_template_helper(func: cst.FunctionDef) -> bool:
    """``@app.template_filter()``, ``@bp.app_template_global("name")``..."""
    return any(
        isinstance(d.decorator, cst.Call)
        and isinstance(d.decorator.func, cst.Attribute)
        and d.decorator.func.attr.value in TEMPLATE_HELPERS
        for d in func.decorators
    )


class FlaskQuartRule(Rule):
    rule_id = "flask-quart"
    opt_in = True  # slower than the adapter, as measured: see the README
    summary = (
        "Flask code moves to Quart: imports, async views, hooks and the helpers calling them, "
        "awaited request data and templates (the whole run, or none of it)."
    )

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return might_use_flask(source)  # the project's tests too

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self.plan = ModulePlan()

    def visit_Module(self, node: cst.Module) -> bool:
        project = self.context.project
        if project is not None:
            self.plan = project.flask_plan(self.context.relpath)
        return False

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if self.plan.extensions:
            return self._mark_extensions(original_node, updated_node)
        if not self.plan.convert:
            return updated_node
        module = original_node
        flask_names = _flask_names(module)
        replacements: dict[int, cst.CSTNode] = {}
        needed: list[tuple[str, str | None]] = []
        facts = ModuleFacts(module, self.context.blocking)
        for stmt in module.body:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value in self.plan.async_generators:
                facts.made_async(stmt)
        for stmt in module.body:
            if not isinstance(stmt, cst.FunctionDef):
                continue
            name = stmt.name.value
            converted: list[tuple[cst.FunctionDef, frozenset[str], str]] = []
            if name in self.plan.coroutines:
                converted.append((stmt, frozenset(), name))
            converted.extend(
                (view, frozenset(), f"{name}.{view.name.value}")
                for view in _nested_views(stmt)
                if f"{name}.{view.name.value}" in self.plan.coroutines
            )
            if name in self.plan.async_wrappers:
                converted.append((*_wrapper(stmt), ""))
            if name in self.plan.async_generators:
                what = "an async generator streamed as a response's body"
                replacements[id(stmt)], imports = self._coroutine(
                    stmt, flask_names, facts, frozenset(), what=what
                )
                needed.extend(imports)
            for func, also_awaited, qualified in converted:
                streamed = {g for f, g in self.plan.streams if f == qualified}
                streaming = func
                if streamed:
                    streaming, imports = self._async_generators(func, streamed, flask_names, facts)
                    needed.extend(imports)
                coroutine, imports = self._coroutine(
                    streaming, flask_names, facts, also_awaited, report_at=func, qualified=qualified
                )
                if streamed or self.plan.async_generators:
                    wrappers = {k for k, v in flask_names.items() if v == "stream_with_context"}
                    generators = streamed | set(self.plan.async_generators)
                    fixed = coroutine.visit(_QuartStreamWithContext(wrappers, generators))
                    assert isinstance(fixed, cst.FunctionDef)
                    coroutine = fixed
                replacements[id(func)] = coroutine
                needed.extend(imports)
            helper_blocks = _is_template_helper(stmt) and facts.function_blocks(stmt, None)
            if helper_blocks and name in self.plan.template_helpers:
                what = "a template helper Jinja awaits under Quart"
                replacements[id(stmt)], imports = self._coroutine(
                    stmt, flask_names, facts, frozenset(), what=what
                )
                needed.extend(imports)
            elif helper_blocks:
                made = replacements.get(id(stmt), stmt)  # a coroutine already, it may be
                assert isinstance(made, cst.FunctionDef)
                replacements[id(stmt)] = self.report_all(
                    stmt, made, [("manual", TEMPLATE_HELPER_BLOCKS)]
                )
            if name in self.plan.cli_commands:
                replacements[id(stmt)] = _in_app_context(stmt)
                needed.extend(CLI_IMPORTS)
                message = (
                    f"`{name}` runs in an app context, on a thread of the blocking pool "
                    "(Flask pushed one for every command of the app; Quart does not)"
                )
                self.report(stmt, "converted", message)
        if _opens_resources(module):
            needed.append(("os", None))
        if _sends_files(module, flask_names):
            needed.append(("os", None))
            if "current_app" not in flask_names.values():
                needed.append(("quart", "current_app"))
        if self.plan.tests is not None:
            app_globals = frozenset(k for k, v in flask_names.items() if v == "g")
            tests, imports = async_tests(module, self.plan.tests, facts, self.report, app_globals)
            replacements.update(tests)
            needed.extend(imports)
        flask_imports = self._imports(module)
        if flask_imports:
            message = "imports of flask now import quart (Flask → Quart)"
            self.report(flask_imports[0], "converted", message)
        rename_flask = flask_names.get("Flask") == "Flask"
        app_classes = frozenset(k for k, v in flask_names.items() if v == "Flask") | {"flask.Flask"}
        for app_line in apps_made(module, app_classes):
            message = (
                "the app keeps Flask's defaults where Quart's differ: files revalidated on "
                "every use, no request size limit, no time limit on a request body or a response"
            )
            self.report(app_line, "converted", message)
        proxies = AsgiProxyFix(module)
        renamed = module.visit(ReplaceNodes(replacements)).visit(
            KeepFlaskDefaults(app_classes, module.default_indent)
        )
        requests = frozenset(k for k, v in flask_names.items() if v == "request")
        environ = EnvironFromScope(requests, "environ")  # after the blocking analysis
        renamed = renamed.visit(proxies).visit(_ToQuart(rename_flask))
        if "environ" in (self.context.source or "environ"):  # a walk the module may spare
            renamed = renamed.visit(environ)
        assert isinstance(renamed, cst.Module)
        if environ.reads:
            needed.extend(ENVIRON_IMPORTS)
            message = (
                f"`request.environ` read{'s' if environ.reads > 1 else ''} ({environ.reads}) "
                "read the environ a WSGI server would give, built from Quart's scope "
                "(adapters.scope_environ)"
            )
            first = next(
                node
                for node in analysis.walk(module)
                if isinstance(node, cst.Attribute)
                and node.attr.value == "environ"
                and isinstance(node.value, cst.Name)
                and node.value.value in requests
            )
            self.report(first, "converted", message)
        for assign in proxies.found:
            message = (
                "werkzeug's ProxyFix is adapters.ProxyFix around the ASGI app, trusting the "
                "same proxies; serve it with uvicorn's --no-proxy-headers, so that it alone "
                "decides (uvicorn applies X-Forwarded-For/Proto from 127.0.0.1 itself)"
            )
            self.report(assign, "converted", message)
        if proxies.found:
            needed.append(("adapters", None))
            werkzeug = [(PROXY_FIX.rsplit(".", 1)[0], "ProxyFix")]
            for spelling in proxies.spellings:
                as_name = None if spelling == "ProxyFix" else spelling
                renamed = remove_unused_imports(renamed, werkzeug, as_name)
        return add_imports(renamed, needed) if needed else renamed

    def _mark_extensions(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        """A ``manual`` marker on each import of a Flask extension, saying what to use under
        Quart: what keeps the run on Flask, to change by hand."""
        advice = dict(self.plan.extensions)
        body: list[cst.BaseStatement] = []
        for stmt, changed in zip(original.body, updated.body, strict=True):
            new: cst.BaseStatement = changed
            imported = [m for m in _imported_modules(stmt) if m in advice]
            if imported and not has_marker(stmt, self.rule_id, module=original):
                module = imported[0]
                message = (
                    f"`{module}` is a Flask extension with no drop-in Quart version, which keeps "
                    f"the run on Flask (served through the adapter): {advice[module]}"
                )
                new = with_marker(new, marker_comment(self.rule_id, message))
                self.report(stmt, "manual", message)
            body.append(new)
        return updated.with_changes(body=body)

    def _imports(self, module: cst.Module) -> list[cst.CSTNode]:
        return [
            node
            for node in analysis.import_statements(module)
            if (isinstance(node, cst.ImportFrom) and node.module is not None
                and analysis.dotted_name(node.module).split(".")[0] == "flask")
            or (isinstance(node, cst.Import)
                and any(analysis.dotted_name(a.name).split(".")[0] == "flask" for a in node.names))
        ]  # fmt: skip

    def _coroutine(
        self,
        func: cst.FunctionDef,
        flask_names: dict[str, str],
        facts: ModuleFacts,
        also_awaited: frozenset[str],
        *,
        report_at: cst.FunctionDef | None = None,
        what: str = "a Quart coroutine",
        qualified: str = "",
    ) -> tuple[cst.FunctionDef, list[tuple[str, str | None]]]:
        """``func`` as a coroutine, and the imports that needs (reported at ``report_at``,
        the function as the module has it, when ``func`` is already a changed copy;
        ``qualified``: its name in the plan, ``outer.view`` for a view a function defines)."""
        original = report_at if report_at is not None else func
        uploads = frozenset(name for f, name in self.plan.uploads if f == qualified)
        awaiting = _AwaitQuart(flask_names, self.plan.awaited | also_awaited, uploads)
        made = as_coroutine(func, awaiting, facts)
        if made.refused:
            self.report(original, "manual", made.manual_message(func.name.value))
            return made.node, []
        details = [made.detail] if made.detail else []
        if awaiting.count:
            details.insert(0, f"{awaiting.count} call{'s' if awaiting.count > 1 else ''} awaited")
        message = f"`{func.name.value}` is {what}"
        self.report(
            original, "converted", message + (f" ({', '.join(details)})" if details else "")
        )
        return made.node, made.imports

    def _async_generators(
        self,
        func: cst.FunctionDef,
        generators: set[str],
        flask_names: dict[str, str],
        facts: ModuleFacts,
    ) -> tuple[cst.FunctionDef, list[tuple[str, str | None]]]:
        """``func`` with the generators it streams (defined in its body) made async
        generators (``stream_with_context(gen(...))`` is put in Quart's form once ``func`` is a
        coroutine: the blocking analysis knows the one form, not the other)."""
        imports: list[tuple[str, str | None]] = []
        body: list[cst.BaseStatement] = []
        for stmt in suite_statements(func.body):
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value in generators:
                what = f"an async generator `{func.name.value}` streams"
                stmt, more = self._coroutine(stmt, flask_names, facts, frozenset(), what=what)
                imports.extend(more)
            body.append(stmt)
        assert isinstance(func.body, cst.IndentedBlock)
        return func.with_changes(body=func.body.with_changes(body=body)), imports


def _flask_names(module: cst.Module) -> dict[str, str]:
    """Local name -> flask's name, for what the module imports from flask."""
    names: dict[str, str] = {}
    for node in analysis.import_statements(module):
        if (
            isinstance(node, cst.ImportFrom)
            and node.module is not None
            and analysis.dotted_name(node.module) == "flask"
            and not isinstance(node.names, cst.ImportStar)
        ):
            for alias in node.names:
                original = analysis.dotted_name(alias.name)
                local = alias.asname.name if alias.asname is not None else alias.name
                if isinstance(local, cst.Name):
                    names[local.value] = original
    return names


CLI_IMPORTS = [("quart.cli", "with_appcontext"), ("adapters.blocking", "blocking_command")]


def _nested_views(func: cst.FunctionDef) -> list[cst.FunctionDef]:
    """The views an app factory defines inside it (the plan names them ``outer.view``)."""
    found: list[cst.FunctionDef] = []

    class _Find(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            if node is not func and node.decorators:
                found.append(node)

    func.visit(_Find())
    return found


def _wrapper(decorator: cst.FunctionDef) -> tuple[cst.FunctionDef, frozenset[str]]:
    """The wrapper a view decorator returns, and the name of the view it calls (awaited)."""
    param = decorator.params.params[0].name.value
    wrapper = next(s for s in suite_statements(decorator.body) if isinstance(s, cst.FunctionDef))
    return wrapper, frozenset({param})


def _in_app_context(command: cst.FunctionDef) -> cst.FunctionDef:
    """``@with_appcontext`` and ``@blocking_command`` under the command's decorators."""
    added = [cst.Decorator(cst.Name(name)) for _, name in CLI_IMPORTS]
    return command.with_changes(decorators=[*command.decorators, *added])


def _opens_resources(module: cst.Module) -> bool:
    return any(_is_open_resource(node) for node in analysis.calls_in(module))


def _sends_files(module: cst.Module, flask_names: dict[str, str]) -> bool:
    senders = {local for local, name in flask_names.items() if name in SENDERS}
    return any(
        isinstance(node.func, cst.Name) and node.func.value in senders
        for node in analysis.calls_in(module)
    )


def _is_open_resource(node: cst.Call) -> bool:
    func = node.func
    return (
        isinstance(func, cst.Attribute) and func.attr.value == "open_resource" and bool(node.args)
    )


def _sync_open_resource(call: cst.Call) -> cst.Call:
    """``x.open_resource(path, ...)``, a coroutine under Quart, as what Flask's does:
    ``open(os.path.join(x.root_path, path), mode)``, ``mode`` "rb" unless given."""
    assert isinstance(call.func, cst.Attribute)
    first, *rest = call.args
    joined = under_root_path(call.func.value, first.value)
    if not any(a.keyword is None or a.keyword.value == "mode" for a in rest):
        rest.insert(0, cst.Arg(cst.SimpleString('"rb"')))
    return call.with_changes(func=cst.Name("open"), args=[cst.Arg(joined), *rest])


class _AwaitQuart(cst.CSTTransformer):
    """Quart's awaitables and the run's coroutines awaited (nested functions untouched: the
    plan refused awaitables there)."""

    def __init__(
        self, flask_names: dict[str, str], awaited: frozenset[str], uploads: frozenset[str]
    ) -> None:
        super().__init__()
        self.request = {local for local, name in flask_names.items() if name == "request"}
        #: the names bound to uploads in the function (their save() is awaited)
        self.uploads = uploads
        self.awaited_calls = {
            local for local, name in flask_names.items() if name in AWAITED_CALLS
        } | set(awaited)
        self.senders = {local: name for local, name in flask_names.items() if name in SENDERS}
        #: the module's name of Quart's ``current_app`` (the rule imports it if need be)
        self.current_app = next(
            (local for local, name in flask_names.items() if name == "current_app"), "current_app"
        )
        self.count = 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = updated_node.func
        if _is_open_resource(updated_node):
            return _sync_open_resource(updated_node)
        if is_upload_save(original_node, self.uploads, self.request):
            self.count += 1
            return cst.Await(updated_node)
        if isinstance(func, cst.Name) and func.value in self.awaited_calls:
            self.count += 1
            if func.value in self.senders:
                call = quart_sender_call(updated_node, self.senders[func.value], self.current_app)
                return cst.Await(call)
            return cst.Await(updated_node)
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value in self.request
            and AWAITED_REQUEST.get(func.attr.value) == "call"
        ):
            self.count += 1
            return cst.Await(updated_node)
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "read"
            and not updated_node.args
            and isinstance(func.value, cst.Attribute)
            and func.value.attr.value == "stream"
            and isinstance(func.value.value, cst.Name)
            and func.value.value.value in self.request
        ):  # the body read whole (the plan let through one such read a function)
            self.count += 1
            return cst.Await(cst.parse_expression(f"{func.value.value.value}.get_data()"))
        return updated_node

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        value = updated_node.value
        how = AWAITED_REQUEST.get(updated_node.attr.value)
        if not (isinstance(value, cst.Name) and value.value in self.request) or how in (
            None,
            "call",
        ):
            return updated_node
        self.count += 1
        if how == "await":
            return paren_await(cst.Await(updated_node))
        return paren_await(cst.Await(cst.parse_expression(f"{value.value}.{how}()")))


def _imported_modules(stmt: cst.CSTNode) -> list[str]:
    """The modules an import statement (alone on its line) imports from."""
    small = single_statement(stmt)
    if isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative:
        return [analysis.dotted_name(small.module)]
    if isinstance(small, cst.Import):
        return [analysis.dotted_name(alias.name) for alias in small.names]
    return []


class _QuartStreamWithContext(cst.CSTTransformer):
    """``stream_with_context(gen(...))`` → ``stream_with_context(gen)(...)``: Quart's wraps
    the async generator function (Flask's, the generator)."""

    def __init__(self, wrappers: set[str], generators: set[str]) -> None:
        super().__init__()
        self.wrappers, self.generators = wrappers, generators

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        if not (
            isinstance(updated_node.func, cst.Name)
            and updated_node.func.value in self.wrappers
            and len(updated_node.args) == 1
        ):
            return updated_node
        inner = updated_node.args[0].value
        if not (
            isinstance(inner, cst.Call)
            and isinstance(inner.func, cst.Name)
            and inner.func.value in self.generators
        ):
            return updated_node
        wrapped = updated_node.with_changes(args=[cst.Arg(inner.func)])
        return inner.with_changes(func=wrapped)


class _ToQuart(cst.CSTTransformer):
    """``flask`` imports and names made ``quart`` ones (``Flask`` is ``Quart``)."""

    def __init__(self, rename_flask: bool) -> None:
        super().__init__()
        #: the module's name ``Flask`` is flask's (imported without an alias)
        self.rename_flask = rename_flask

    def leave_ImportFrom(
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.ImportFrom:
        if updated_node.module is None or analysis.dotted_name(updated_node.module) != "flask":
            return updated_node
        names = updated_node.names
        if not isinstance(names, cst.ImportStar):
            names = [
                a.with_changes(
                    name=cst.Name(
                        RENAMED.get(analysis.dotted_name(a.name), analysis.dotted_name(a.name))
                    )
                )
                for a in names
            ]
        return updated_node.with_changes(module=cst.Name("quart"), names=names)

    def leave_Import(self, original_node: cst.Import, updated_node: cst.Import) -> cst.Import:
        return updated_node.with_changes(
            names=[
                a.with_changes(name=cst.Name("quart"))
                if analysis.dotted_name(a.name) == "flask"
                else a
                for a in updated_node.names
            ]
        )

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.Attribute:
        if isinstance(updated_node.value, cst.Name) and updated_node.value.value == "flask":
            attr = RENAMED.get(updated_node.attr.value, updated_node.attr.value)
            return updated_node.with_changes(value=cst.Name("quart"), attr=cst.Name(attr))
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        return (
            _sync_open_resource(updated_node) if _is_open_resource(updated_node) else updated_node
        )

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        if self.rename_flask and updated_node.value == "Flask":
            return updated_node.with_changes(value="Quart")
        return updated_node
