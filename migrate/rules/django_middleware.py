"""Rule ``django-middleware``: a middleware class built on Django's ``MiddlewareMixin`` that
overrides ``__call__`` with sync code keeps working under ASGI.

``MiddlewareMixin`` says its classes are async-capable, so under ASGI Django hands such a
middleware an async ``get_response``. The mixin's own ``__call__`` then switches to its
``__acall__``; an override does not: ``self.get_response(request)`` (or
``super().__call__(request)``) returns a coroutine, and ``response["X-Elapsed"] = ...``
raises ``TypeError``; the override also runs on the event loop, where the ORM raises
``SynchronousOnlyOperation``: a 500 on every request. Under WSGI the same class worked::

    class TimingMiddleware(MiddlewareMixin):
        # migrate[django-middleware]: ...
        async_capable = False  # added: Django gives it a sync get_response, in a thread

        def __call__(self, request):
            started = time.monotonic()
            response = self.get_response(request)
            response["X-Elapsed"] = f"{time.monotonic() - started:.3f}"
            return response

``async_capable = False`` tells Django what the class is, sync only: Django runs it in a
thread with a sync ``get_response``, as it runs the project's sync views (``adapted``). An
override that switches itself (it reads ``async_mode`` or calls ``__acall__``) and a class
that says what it is capable of are left alone; so is a subclass of a fixed class (it inherits
the setting).

**Sync-only middleware in front of async views.** Under ASGI a sync-only middleware (a class
taking ``get_response`` with a sync ``__call__``, a function middleware Django's decorators do
not call async-capable, or one of the classes above) has Django run it, and every middleware
listed before it, in a thread, and reach the views through ``async_to_sync`` from there: each
request to an async view holds a thread, as under WSGI. When the run has async views
(:mod:`migrate.frameworks.django`), such a middleware gets a ``manual`` marker saying so.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import TypeVar

import libcst as cst

from migrate import analysis, prefilter
from migrate.cst_helpers import is_docstring, with_marker
from migrate.rules.base import FileContext, Rule, marker_comment

MIXIN = "django.utils.deprecation.MiddlewareMixin"
MESSAGE = (
    "its sync __call__ overrides MiddlewareMixin's: under ASGI Django would call it on the "
    "event loop with an async get_response (a coroutine, not a response; the ORM refuses to "
    "run there); async_capable = False has Django run it in a thread with a sync one, as "
    "under WSGI"
)
SYNC_ONLY = (
    "sync-only middleware in front of async views ({views}): under ASGI Django runs it, and "
    "every middleware listed before it, in a thread, and reaches the views through "
    "async_to_sync from there, so each request to one holds a thread as under WSGI; to serve "
    "them on the event loop, give it an async path (async_capable = True and an async "
    "__call__: Django's docs, middleware, 'Asynchronous support')"
)
#: What an override reads when it switches to async itself, as the mixin's ``__call__`` does.
SWITCHES = frozenset({"async_mode", "__acall__"})
_Definition = TypeVar("_Definition", cst.ClassDef, cst.FunctionDef)
#: Django's decorators saying a function middleware is async-capable.
ASYNC_DECORATORS = frozenset({"sync_and_async_middleware", "async_only_middleware"})


def _said_capabilities(statements: Sequence[cst.BaseStatement]) -> dict[str, str]:
    """What a class body says of itself: ``{"async_capable": "False"}``."""
    said = {}
    for stmt in statements:
        assigned = analysis._name_assignment(stmt)
        if assigned is not None and assigned[0] in ("async_capable", "sync_capable"):
            value = assigned[1]
            said[assigned[0]] = value.value if isinstance(value, cst.Name) else "?"
    return said


def _method(statements: Sequence[cst.BaseStatement], name: str) -> cst.FunctionDef | None:
    return next(
        (s for s in statements if isinstance(s, cst.FunctionDef) and s.name.value == name), None
    )


def _switches_itself(call: cst.FunctionDef) -> bool:
    return bool({n.value for n in analysis.walk(call) if isinstance(n, cst.Name)} & SWITCHES)


def _params(func: cst.FunctionDef) -> list[str]:
    return [p.name.value for p in [*func.params.posonly_params, *func.params.params]]


def _is_function_middleware(func: cst.FunctionDef) -> bool:
    """``def timing(get_response): def middleware(request): ...; return middleware`` with no
    decorator of Django's saying it is async-capable: sync only."""
    if _params(func) != ["get_response"] or func.asynchronous is not None:
        return False
    decorators = {analysis.dotted_name(d.decorator).rsplit(".", 1)[-1] for d in func.decorators}
    statements = func.body.body if isinstance(func.body, cst.IndentedBlock) else ()
    inner = {s.name.value for s in statements if isinstance(s, cst.FunctionDef)}
    returned = {
        small.value.value
        for stmt in statements
        if isinstance(stmt, cst.SimpleStatementLine)
        for small in stmt.body
        if isinstance(small, cst.Return) and isinstance(small.value, cst.Name)
    }
    return not decorators & ASYNC_DECORATORS and bool(inner & returned)


class DjangoMiddlewareRule(Rule):
    rule_id = "django-middleware"
    summary = (
        "A MiddlewareMixin class overriding __call__ with sync code gets async_capable = False "
        "(under ASGI Django would hand it an async get_response); sync-only middleware is "
        "marked when the run has async views."
    )

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return "get_response" in source or ("MiddlewareMixin" in source and "__call__" in source)

    @classmethod
    def might_apply_to_tree(cls, tree: ast.Module, source: str) -> bool:
        # only a class with a sync __call__ that may be built on the mixin or takes
        # get_response, or a function taking get_response alone
        mixin = "MiddlewareMixin" in source
        for node in prefilter.walk_ast(tree):
            if isinstance(node, ast.ClassDef):
                methods = {
                    item.name: item for item in node.body if isinstance(item, ast.FunctionDef)
                }
                init = methods.get("__init__")
                takes = init is not None and "get_response" in [a.arg for a in init.args.args]
                if "__call__" in methods and ((mixin and node.bases) or takes):
                    return True
            elif isinstance(node, ast.FunctionDef) and [a.arg for a in node.args.args] == [
                "get_response"
            ]:
                return True
        return False

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        #: How the module spells the mixin, and its classes built on it.
        self.mixins: set[str] = set()

    def visit_Module(self, node: cst.Module) -> bool:
        self.mixins = set(analysis.import_spellings(node, frozenset({MIXIN})))
        return bool(self.mixins) or "get_response" in self.context.source or not self.context.source

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        statements = (
            original_node.body.body if isinstance(original_node.body, cst.IndentedBlock) else ()
        )
        said = _said_capabilities(statements)
        call = _method(statements, "__call__")
        bases = {analysis.dotted_name(arg.value) for arg in original_node.bases}
        if bases & self.mixins:
            self.mixins.add(original_node.name.value)  # its subclasses below inherit the mixin
            fix = not said and call is not None and call.asynchronous is None
            if fix and call is not None and not _switches_itself(call):
                updated_node = self._run_sync(original_node, updated_node)
                said = {"async_capable": "False"}
            sync_only = said.get("async_capable") == "False"
        else:
            init = _method(statements, "__init__")
            sync_only = (
                init is not None
                and _params(init)[1:2] == ["get_response"]
                and call is not None
                and call.asynchronous is None
                and said.get("async_capable") != "True"
            )
        return self._mark_sync_only(original_node, updated_node) if sync_only else updated_node

    # Middleware is defined by statements at module or class level: the visit goes no deeper
    # than a function's or a statement's line (what the rule reads of a function, its
    # parameters and top-level statements, it reads from the node).
    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        return False

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        if _is_function_middleware(original_node):
            return self._mark_sync_only(original_node, updated_node)
        return updated_node

    def _run_sync(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
        """``async_capable = False`` first in the class (after its docstring)."""
        body = updated_node.body
        assert isinstance(body, cst.IndentedBlock)  # a one-line body holds no def
        setting = with_marker(
            cst.parse_statement("async_capable = False\n"), marker_comment(self.rule_id, MESSAGE)
        )
        statements = list(body.body)
        at = 1 if statements and is_docstring(statements[0]) else 0
        following = statements[at]  # the class holds a def
        if isinstance(following, cst.BaseCompoundStatement) and not following.leading_lines:
            statements[at] = following.with_changes(leading_lines=[cst.EmptyLine(indent=False)])
        statements.insert(at, setting)
        self.report(original_node, "adapted", MESSAGE)
        return updated_node.with_changes(body=body.with_changes(body=statements))

    def _mark_sync_only(self, original_node: _Definition, updated_node: _Definition) -> _Definition:
        """A ``manual`` marker on a sync-only middleware, when the run has async views."""
        project = self.context.project
        views = project.async_django_views() if project is not None else ()
        if not views:
            return updated_node
        shown = ", ".join(views[:3]) + (f" and {len(views) - 3} more" if len(views) > 3 else "")
        return self.report_all(
            original_node, updated_node, [("manual", SYNC_ONLY.format(views=shown))]
        )
