"""Whether the run's Flask code moves to Quart, and what each module changes for it.

Quart keeps Flask's API; what changes is what became awaitable (``await
request.get_json()``, ``await request.form``, ``await render_template(...)``...). A view, hook
or error handler that needs one becomes a coroutine, and so does every function of the run
that calls one, up to the views; each such call is awaited. Flask's globals (``request``,
``g``, ``current_app``) tie every module using Flask together, so the run converts all of
them or none: a Flask extension (no drop-in Quart version), Flask's test client in the
project's tests (Quart's is async), class-based views, streamed responses, ``send_file``,
the raw WSGI environ or ``app.wsgi_app``, or a converted function used any other way than
called from a function that becomes a coroutine, keeps the whole run on Flask (served
through the adapter by ``served-app``).

Each module that may take part gives its :class:`FlaskFacts` during the scan (CPython's
AST); :func:`plan` joins them. The first blocker found is the reason every module gives.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from migrate.frameworks import Modules, import_bindings, offload_blocker

#: flask's names whose call must be awaited under Quart.
AWAITED_CALLS = frozenset({"render_template", "render_template_string", "make_response", "flash"})
#: ``request`` attributes that are awaitables under Quart: attribute -> how it is awaited.
AWAITED_REQUEST = {
    "get_json": "call", "get_data": "call", "json": "get_json", "data": "get_data",
    "form": "await", "files": "await", "values": "await",
}  # fmt: skip
#: flask's names Quart has under the same name (``Flask`` is ``Quart``).
SAME_NAMES = frozenset({
    "Blueprint", "Response", "Request", "abort", "current_app", "g", "jsonify", "redirect",
    "request", "session", "url_for", "render_template", "render_template_string",
    "make_response", "flash", "get_flashed_messages", "after_this_request", "escape", "Markup",
    "has_request_context", "has_app_context", "json", "Config",
})  # fmt: skip
#: What keeps the run on Flask, by flask name.
UNSUPPORTED = {
    "stream_with_context": "streams a response with stream_with_context",
    "send_file": "sends files (send_file's arguments differ under Quart)",
    "send_from_directory": "sends files (send_from_directory's arguments differ under Quart)",
    "views": "uses class-based views", "View": "uses class-based views",
    "MethodView": "uses class-based views",
}  # fmt: skip
ROUTE_DECORATORS = frozenset({"route", "get", "post", "put", "patch", "delete"})
HOOK_DECORATORS = frozenset({
    "before_request", "after_request", "teardown_request", "teardown_appcontext",
    "errorhandler", "before_app_request", "after_app_request", "app_errorhandler",
    "teardown_app_request",
})  # fmt: skip
#: ``app.method(function)`` / ``app.method(key, function)`` registrations.
REGISTRATIONS = {
    "before_request": 0, "after_request": 0, "teardown_request": 0, "teardown_appcontext": 0,
    "register_error_handler": 1,
}  # fmt: skip
#: Method calls that mean the project drives Flask in ways Quart does differently.
UNSUPPORTED_METHODS = {
    "test_client": "its tests use Flask's test client (Quart's is async: convert them by hand)",
    "test_request_context": "it uses test_request_context (async under Quart)",
    "app_context": "it uses app_context() (async with under Quart)",
    "test_cli_runner": "its tests use Flask's CLI runner",
    "add_url_rule": "it registers views with add_url_rule",
    "context_processor": "it has template context processors",
}  # fmt: skip


def might_use_flask(source: str) -> bool:
    return "flask" in source or "test_client" in source or "app_context" in source


@dataclass(frozen=True)
class FunctionFacts:
    name: str
    #: A view, hook or error handler (decorated, or registered by a call of the module).
    registered: bool
    #: Uses an awaitable of Quart itself.
    awaits: bool
    #: Module-level names it calls (functions of the module or imported names).
    calls: tuple[str, ...]
    #: Why it cannot become a coroutine whose blocking calls all leave the loop ("": it can).
    unsafe: str = ""


@dataclass(frozen=True)
class FlaskFacts:
    relpath: str
    #: The module imports flask.
    uses_flask: bool
    imports: tuple[tuple[str, str, str], ...] = ()
    functions: tuple[FunctionFacts, ...] = ()
    #: Functions of other modules registered here: (local name, registration).
    registered_elsewhere: tuple[str, ...] = ()
    #: Module-level names read other than as a direct call from a module-level function
    #: (stored, passed, called from a method or at module level).
    referenced: frozenset[str] = frozenset()
    blockers: tuple[str, ...] = ()


# --------------------------------------------------------------------------- facts


def facts_of(relpath: str, tree: ast.Module) -> FlaskFacts:
    imports = tuple(import_bindings(ast.walk(tree)))  # nested ones too
    flask_names = {
        local: original
        for local, module, original in imports
        if module == "flask" or module.startswith("flask.")
    }
    uses_flask = bool(flask_names) or any(m == "flask" for _, m, _ in imports)
    blockers = list(_module_blockers(tree, imports, flask_names))
    functions = {s.name: s for s in tree.body if isinstance(s, ast.FunctionDef)}
    registered = _registered(tree)
    facts: list[FunctionFacts] = []
    for name, func in functions.items():
        decorated = any(_is_view_decorator(d) for d in func.decorator_list)
        awaits = _uses_awaitables(func, flask_names)
        if awaits and _nested_awaitables(func, flask_names):
            blockers.append(f"`{name}` reads the request body in a nested function")
        calls = tuple(sorted(_called_names(func)))
        registered_here = decorated or name in registered
        facts.append(FunctionFacts(name, registered_here, awaits, calls, offload_blocker(func)))
        if any(
            isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n is not func
            and any(_is_view_decorator(d) for d in n.decorator_list)
            for n in ast.walk(func)
        ):
            blockers.append(f"`{name}` defines views inside it")
    for stmt in tree.body:
        if isinstance(stmt, ast.AsyncFunctionDef) and any(
            _is_view_decorator(d) for d in stmt.decorator_list
        ):
            blockers.append(f"`{stmt.name}` is an async view already")
        if isinstance(stmt, ast.ClassDef) and uses_flask:
            for node in ast.walk(stmt):
                if (
                    isinstance(node, ast.Name)
                    and node.id in flask_names
                    and flask_names[node.id]
                    in ("request", "render_template", "make_response", "flash")
                ):
                    blockers.append(f"class `{stmt.name}` uses `{node.id}`")
                    break
    elsewhere = tuple(sorted(n for n in registered if n not in functions))
    return FlaskFacts(
        relpath, uses_flask, imports, tuple(facts), elsewhere,
        _referenced(tree, set(functions)), tuple(blockers),
    )  # fmt: skip


def _module_blockers(
    tree: ast.Module, imports: Iterable[tuple[str, str, str]], flask_names: Mapping[str, str]
) -> Iterator[str]:
    for _, module, original in imports:
        top = module.split(".")[0]
        if top.startswith("flask_") or module.startswith("flask.ext"):
            yield f"it uses the Flask extension `{module}` (no drop-in Quart version)"
        elif module.startswith("flask.") and module not in ("flask.json",):
            yield f"it imports `{module}`"
        elif module == "flask" and original and original not in SAME_NAMES | {"Flask"}:
            yield UNSUPPORTED.get(original, f"it uses flask's `{original}`")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in UNSUPPORTED_METHODS:
                yield UNSUPPORTED_METHODS[node.attr]
            elif node.attr in ("wsgi_app", "cli"):
                yield f"it uses the app's `.{node.attr}`"
            elif (
                node.attr in ("environ", "stream")
                and isinstance(node.value, ast.Name)
                and flask_names.get(node.value.id) == "request"
            ):
                yield f"it reads `request.{node.attr}`"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "run"
            and any(k.arg not in ("host", "port", "debug") for k in node.keywords)
        ):
            yield "app.run(...) has options Quart's run lacks"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and flask_names.get(node.func.id) == "Response"
            and node.args
            and not isinstance(node.args[0], ast.Constant)
        ):
            yield "it builds a Response from a value that may be a generator"


def _is_view_decorator(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and (
        target.attr in ROUTE_DECORATORS or target.attr in HOOK_DECORATORS
    )


def _registered(tree: ast.Module) -> set[str]:
    """Names of functions registered by calls (``app.teardown_appcontext(close_db)``,
    ``app.errorhandler(404)(handler)``)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in REGISTRATIONS:
            registered = node.args[REGISTRATIONS[func.attr] :][:1]
            found.update(arg.id for arg in registered if isinstance(arg, ast.Name))
        first = node.args[0] if node.args else None
        if isinstance(func, ast.Call) and _is_view_decorator(func) and isinstance(first, ast.Name):
            found.add(first.id)
    return found


def _is_awaitable(node: ast.AST, flask_names: Mapping[str, str]) -> bool:
    """``node`` is an awaitable of Quart: ``request.form``, ``render_template(...)``..."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return flask_names.get(node.value.id) == "request" and node.attr in AWAITED_REQUEST
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return flask_names.get(node.func.id) in AWAITED_CALLS
    return False


def _uses_awaitables(func: ast.FunctionDef, flask_names: Mapping[str, str]) -> bool:
    return any(_is_awaitable(node, flask_names) for node in ast.walk(func))


def _nested_awaitables(func: ast.FunctionDef, flask_names: Mapping[str, str]) -> bool:
    """An awaitable used in a nested function, lambda or generator expression of ``func``
    (no ``await`` can go there)."""
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.GeneratorExp)
    return any(
        _is_awaitable(inner, flask_names)
        for node in ast.walk(func)
        if node is not func and isinstance(node, nested)
        for inner in ast.walk(node)
    )


def _called_names(func: ast.FunctionDef) -> set[str]:
    return {
        node.func.id
        for node in ast.walk(func)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


def _referenced(tree: ast.Module, functions: set[str]) -> frozenset[str]:
    """Names read other than as the callee of a call inside a module-level function, a
    decorator or a registration (those are what the rule rewrites)."""
    allowed: set[int] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef):
            allowed.update(
                id(node.func)
                for node in ast.walk(stmt)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and not _inside_nested(stmt, node)
            )
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        registration = isinstance(func, ast.Attribute) and func.attr in REGISTRATIONS
        if registration or (isinstance(func, ast.Call) and _is_view_decorator(func)):
            allowed.update(id(a) for a in node.args)
    return frozenset(
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and id(node) not in allowed
    )


def _inside_nested(func: ast.FunctionDef, target: ast.AST) -> bool:
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    return any(
        node is not func and isinstance(node, nested) and any(n is target for n in ast.walk(node))
        for node in ast.walk(func)
    )


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class ModulePlan:
    """What one module changes: its imports of flask go to quart; ``coroutines`` become
    ``async def``; calls of ``awaited`` (local names) are awaited."""

    convert: bool = False
    coroutines: frozenset[str] = frozenset()
    awaited: frozenset[str] = frozenset()
    refused: str = ""

    def __bool__(self) -> bool:
        return self.convert or bool(self.refused)


@dataclass(frozen=True)
class FlaskPlan:
    modules: tuple[tuple[str, ModulePlan], ...] = ()

    def for_module(self, relpath: str) -> ModulePlan:
        return dict(self.modules).get(relpath, ModulePlan())


def plan(all_facts: Iterable[FlaskFacts], files: Iterable[str]) -> FlaskPlan:
    facts = {f.relpath: f for f in all_facts}
    files = frozenset(files)
    flask_modules = {r: f for r, f in facts.items() if f.uses_flask}
    if not flask_modules:
        return FlaskPlan()
    blockers = [b for f in facts.values() for b in f.blockers]

    lookup = Modules(facts, files)

    def resolve(module: FlaskFacts, local: str) -> tuple[str, str] | None:
        """(relpath, name) of the module-level function ``local`` names in ``module``."""
        if any(fn.name == local for fn in module.functions):
            return module.relpath, local
        for name, source, original in module.imports:
            if name == local and original:
                target = lookup.imported(module.relpath, source)
                if target is not None and any(fn.name == original for fn in target.functions):
                    return target.relpath, original
                return None
        return None

    by_key = {(f.relpath, fn.name): fn for f in facts.values() for fn in f.functions}
    coroutines = {key for key, fn in by_key.items() if fn.registered or fn.awaits}
    for module in facts.values():
        for local in module.registered_elsewhere:
            target = resolve(module, local)
            if target is None:
                blockers.append(
                    f"`{local}`, registered in {module.relpath}, is not a function of the run"
                )
            else:
                coroutines.add(target)
    changed = True
    while changed:  # callers of coroutines are coroutines
        changed = False
        for (relpath, name), fn in by_key.items():
            if (relpath, name) in coroutines:
                continue
            if any(resolve(facts[relpath], callee) in coroutines for callee in fn.calls):
                coroutines.add((relpath, name))
                changed = True
    blockers.extend(by_key[key].unsafe for key in sorted(coroutines) if by_key[key].unsafe)
    for relpath, name in sorted(coroutines):
        for module in facts.values():
            for local in module.referenced:
                if resolve(module, local) == (relpath, name):
                    blockers.append(
                        f"`{name}` of {relpath} is used in {module.relpath} other than called"
                    )
    involved = {relpath for relpath, _ in coroutines} | set(flask_modules)
    if blockers:
        reason = blockers[0]
        return FlaskPlan(tuple((r, ModulePlan(refused=reason)) for r in sorted(flask_modules)))
    modules = []
    for relpath in sorted(involved):
        module = facts[relpath]
        own = frozenset(name for r, name in coroutines if r == relpath)
        awaited = frozenset(
            callee
            for fn in module.functions
            for callee in fn.calls
            if resolve(module, callee) in coroutines
        )
        modules.append((relpath, ModulePlan(True, own, awaited)))
    return FlaskPlan(tuple(modules))
