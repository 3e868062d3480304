"""The project's tests moved to Quart's async test client (:mod:`migrate.frameworks.flask_tests`
plans it; this module rewrites one test module by that plan)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import libcst as cst

from migrate import analysis
from migrate.blocking import ModuleFacts, as_coroutine
from migrate.cst_helpers import code_of, keyword_arg, paren_await, with_arg, with_marker
from migrate.frameworks.flask_tests import (
    APP_CONTEXTS,
    CLIENT_CONTEXTS,
    REQUEST_METHODS,
    RESPONSE_GETTERS,
    TestFunction,
    TestModulePlan,
)
from migrate.markers import marker_comment
from migrate.rules.base import ChangeKind

Imports = list[tuple[str, str | None]]
Report = Callable[[cst.CSTNode, ChangeKind, str], None]


def async_tests(
    module: cst.Module,
    plan: TestModulePlan,
    facts: ModuleFacts,
    report: Report,
    app_globals: frozenset[str],
) -> tuple[dict[int, cst.CSTNode], Imports]:
    """Replacements (by id of the original node) for the functions of ``module`` that become
    coroutines, and the imports they need. ``app_globals``: the module's names of flask's
    ``g`` (Quart's test client keeps no app context after a request: marked)."""
    replacements: dict[int, cst.CSTNode] = {}
    imports: Imports = []
    for stmt in module.body:
        found: list[tuple[cst.FunctionDef, str, cst.ClassDef | None]]
        if isinstance(stmt, cst.FunctionDef):
            found = [(stmt, stmt.name.value, None)]
        elif isinstance(stmt, cst.ClassDef):
            found = [
                (item, f"{stmt.name.value}.{item.name.value}", stmt)
                for item in stmt.body.body
                if isinstance(item, cst.FunctionDef)
            ]
        else:
            continue
        for func, qualname, cls in found:
            planned = plan.function(qualname)
            if planned is None:
                continue
            awaiting = _AwaitTestClient(planned)
            made = as_coroutine(func, awaiting, facts, cls=cls)
            if made.refused:
                report(func, "manual", made.manual_message(qualname))
            node = made.node
            imports.extend(made.imports)
            if cls is None and planned.fixture:
                node = _async_fixture(node)
                imports.append(("pytest_asyncio", None))
            elif cls is None and qualname.startswith("test"):
                node = node.with_changes(
                    decorators=[cst.Decorator(cst.parse_expression("pytest.mark.asyncio")),
                                *node.decorators]
                )  # fmt: skip
                imports.append(("pytest", None))
            replacements[id(func)] = node
            if awaiting.app_globals_after_request(app_globals):
                message = (
                    f"`{qualname}` reads `g` after a request in `async with client:`; Quart "
                    "keeps the request's context there (`session`, `request`) but not its app "
                    "context: assert on what the response or the session shows instead"
                )
                report(func, "manual", message)
                replacements[id(func)] = with_marker(node, marker_comment("flask-quart", message))
            what = "an async fixture" if planned.fixture else "a coroutine"
            count = awaiting.count
            report(
                func, "converted",
                f"`{qualname}` is {what} of Quart's async test client "
                f"({count} await{'s' if count != 1 else ''}; needs pytest-asyncio)",
            )  # fmt: skip
    return replacements, imports


def _async_fixture(func: cst.FunctionDef) -> cst.FunctionDef:
    """``@pytest.fixture`` → ``@pytest_asyncio.fixture`` (what pytest-asyncio's strict mode
    asks of an async fixture)."""
    decorators = []
    for decorator in func.decorators:
        target = decorator.decorator
        callee = target.func if isinstance(target, cst.Call) else target
        if code_of(callee) in ("pytest.fixture", "fixture"):
            new = cst.parse_expression("pytest_asyncio.fixture")
            target = target.with_changes(func=new) if isinstance(target, cst.Call) else new
        decorators.append(decorator.with_changes(decorator=target))
    return func.with_changes(decorators=decorators)


class _AwaitTestClient(cst.CSTTransformer):
    """Client calls, calls of the tests' coroutines, response getters awaited; the
    contexts Quart makes async entered with ``async with``."""

    def __init__(self, planned: TestFunction) -> None:
        super().__init__()
        self.planned = planned
        self.count = 0
        #: the bodies of ``with client:`` blocks
        self.client_blocks: list[cst.BaseSuite] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def _is_response(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.Name):
            return node.value in self.planned.responses
        inner = node.expression if isinstance(node, cst.Await) else node
        return isinstance(inner, cst.Call) and self._response_call(inner)

    def _response_call(self, call: cst.Call) -> bool:
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in REQUEST_METHODS:
            return code_of(func.value) in self.planned.clients
        return code_of(func) in self.planned.response_calls

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = updated_node.func
        callee = code_of(original_node.func)
        if callee in self.planned.awaited:
            self.count += 1
            if isinstance(func, cst.Attribute) and func.attr.value in REQUEST_METHODS:
                updated_node = updated_node.with_changes(args=_form_keyword(updated_node.args))
            return cst.Await(updated_node)
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in ("get_data", "get_json")
            and self._is_response(func.value)
        ):
            self.count += 1
            return paren_await(cst.Await(updated_node))
        return updated_node

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        updated_node = updated_node.with_changes(value=paren_await(updated_node.value))
        getter = RESPONSE_GETTERS.get(updated_node.attr.value)
        if getter is None or not self._is_response(updated_node.value):
            return updated_node
        self.count += 1
        call = cst.parse_expression(f"x.{getter}")
        assert isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
        call = call.with_changes(func=call.func.with_changes(value=updated_node.value))
        return paren_await(cst.Await(call))

    def leave_With(self, original_node: cst.With, updated_node: cst.With) -> cst.With:
        if any(code_of(item.item) in self.planned.clients for item in original_node.items):
            self.client_blocks.append(original_node.body)
        if any(self._async_context(item.item) for item in original_node.items):
            self.count += 1
            return updated_node.with_changes(asynchronous=cst.Asynchronous())
        return updated_node

    def app_globals_after_request(self, names: frozenset[str]) -> bool:
        """An ``async with client:`` block of the function reads one of ``names``."""
        return any(
            isinstance(n, cst.Name) and n.value in names
            for block in self.client_blocks
            for n in analysis.walk(block)
        )

    def _async_context(self, context: cst.BaseExpression) -> bool:
        if isinstance(context, cst.Call) and isinstance(context.func, cst.Attribute):
            method = context.func.attr.value
            owner = code_of(context.func.value)
            return method in APP_CONTEXTS or (
                method in CLIENT_CONTEXTS and owner in self.planned.clients
            ) or method == "test_client"  # fmt: skip
        return code_of(context) in self.planned.clients


def _form_keyword(args: Sequence[cst.Arg]) -> list[cst.Arg]:
    """``data={...}`` (form fields under Flask's client) → ``form={...}`` (Quart's ``data``
    takes bytes or text only); ``content_type=x`` → a ``Content-Type`` header (Quart's
    client has no such argument)."""
    made = [
        a.with_changes(keyword=cst.Name("form"))
        if a.keyword is not None and a.keyword.value == "data" and isinstance(a.value, cst.Dict)
        else a
        for a in args
    ]
    content_type = next((a for a in made if a.keyword and a.keyword.value == "content_type"), None)
    if content_type is None:
        return made
    entry = cst.DictElement(cst.SimpleString('"Content-Type"'), content_type.value)
    made = [a for a in made if a is not content_type]
    headers = next((a for a in made if a.keyword and a.keyword.value == "headers"), None)
    if headers is not None and isinstance(headers.value, cst.Dict):
        merged = headers.value.with_changes(elements=[*headers.value.elements, entry])
        return [a.with_changes(value=merged) if a is headers else a for a in made]
    return with_arg(made, keyword_arg("headers", cst.Dict([entry])))
