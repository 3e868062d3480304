"""The project's tests of its Flask app, moved to Quart's async test client.

Quart's test client is async: ``client.get(...)`` is awaited, a response's body is read with
``await response.get_data()``, ``app.app_context()`` and ``test_request_context()`` are
``async with``. So a test that uses one becomes an async test (``@pytest.mark.asyncio``, from
pytest-asyncio), a fixture an async fixture (``@pytest_asyncio.fixture``), and so does every
function and method of the tests that calls one, its calls awaited::

    # before                                      # after
    def test_hello(client):                       @pytest.mark.asyncio
        response = client.get("/hello")           async def test_hello(client):
        assert response.data == b"Hello"              response = await client.get("/hello")
                                                      assert (await response.get_data()) == b"Hello"

What each name holds is followed the way pytest hands it over: a fixture returning
``app.test_client()`` gives a client to every parameter of its name; one returning an
instance of a class of the tests (``AuthActions(client)``) gives that class, whose
``__init__`` keeps the client (``self._client = client``); a function or method returning
what a client call gives returns a response. What the analysis cannot follow (a client in a
lambda or a nested function, a client kept in a structure) keeps the whole run on Flask.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from migrate.frameworks import callee_name

#: The test client's request methods (each gives a response).
REQUEST_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "trace", "open"}
)
#: Context managers that are ``async with`` under Quart: methods of an app, or of a client.
APP_CONTEXTS = frozenset({"app_context", "test_request_context"})
CLIENT_CONTEXTS = frozenset({"session_transaction"})
#: What uses Flask's testing API (a module using one is a test module of the run).
TESTING_API = frozenset({"test_client", *APP_CONTEXTS})
#: A response's attributes that are awaited getters under Quart: attribute -> the call.
RESPONSE_GETTERS = {"data": "get_data()", "json": "get_json()", "text": "get_data(as_text=True)"}


@dataclass(frozen=True)
class TestFunction:
    """What one function (``name`` or ``Class.method``) of a test module becomes."""

    qualname: str
    #: Source of the expressions holding a test client (``client``, ``self._client``).
    clients: frozenset[str] = frozenset()
    #: Local names holding a response.
    responses: frozenset[str] = frozenset()
    #: Callees (source) whose calls are awaited, and those of them that give a response.
    awaited: frozenset[str] = frozenset()
    response_calls: frozenset[str] = frozenset()
    fixture: bool = False


@dataclass(frozen=True)
class TestModulePlan:
    functions: tuple[TestFunction, ...] = ()

    def function(self, qualname: str) -> TestFunction | None:
        return next((f for f in self.functions if f.qualname == qualname), None)


def is_test_path(relpath: str) -> bool:
    """A file pytest collects (or its ``conftest.py``)."""
    name = relpath.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def is_test_module(relpath: str, nodes: Iterable[ast.AST]) -> bool:
    """A module of the project's tests (``nodes``: all of its tree): pytest collects it, it
    is in a tests folder, or it uses Flask's test client. (An app context entered anywhere
    else, in a script or a job, is no test: :func:`app_contexts_outside_tests`.)"""
    parts = relpath.split("/")[:-1]
    return (
        is_test_path(relpath)
        or any(part in ("tests", "test") for part in parts)
        or any(isinstance(node, ast.Attribute) and node.attr == "test_client" for node in nodes)
    )


def app_contexts_outside_tests(relpath: str, nodes: Iterable[ast.AST]) -> str:
    """The context a module that is no test module enters (``app_context``...), if any:
    Quart's are entered with ``async with``, in a coroutine."""
    if is_test_module(relpath, nodes := list(nodes)):
        return ""
    return next(
        (n.attr for n in nodes if isinstance(n, ast.Attribute) and n.attr in APP_CONTEXTS), ""
    )


@dataclass
class _Function:
    qualname: str
    node: ast.FunctionDef
    cls: str = ""
    fixture: bool = False
    clients: set[str] = field(default_factory=set)
    responses: set[str] = field(default_factory=set)
    #: local name -> class of the tests its value is an instance of
    instances: dict[str, str] = field(default_factory=dict)
    awaited: set[str] = field(default_factory=set)
    response_calls: set[str] = field(default_factory=set)
    is_async: bool = False
    returns_response: bool = False

    def known(self) -> tuple[int, int, int, int, int, bool, bool]:
        """How much is known (every part only grows)."""
        return (
            len(self.clients), len(self.responses), len(self.instances), len(self.awaited),
            len(self.response_calls), self.is_async, self.returns_response,
        )  # fmt: skip


class TestAnalysis:
    """The test modules of a run, analysed together (conftest fixtures serve every module)."""

    def __init__(self, trees: Mapping[str, ast.Module]) -> None:
        self.blockers: list[str] = []
        self.functions: dict[str, dict[str, _Function]] = {r: {} for r in trees}
        #: fixture name -> "client" or the class of the tests it gives an instance of
        self.fixtures: dict[str, str] = {}
        #: class -> parameter position of __init__ -> attribute kept (``self._client``)
        self.kept: dict[str, dict[int, str]] = {}
        for relpath, tree in trees.items():
            self._collect(relpath, tree)
        self._fixture_kinds()
        while self._spread():  # what a function holds only grows: a fixed point comes
            pass

    # ------------------------------------------------------------------ collecting

    def _collect(self, relpath: str, tree: ast.Module) -> None:
        for stmt in tree.body:
            if isinstance(stmt, ast.FunctionDef):
                self.functions[relpath][stmt.name] = _Function(
                    stmt.name, stmt, fixture=_is_fixture(stmt)
                )
            elif isinstance(stmt, ast.ClassDef):
                for item in stmt.body:
                    if isinstance(item, ast.FunctionDef):
                        qualname = f"{stmt.name}.{item.name}"
                        self.functions[relpath][qualname] = _Function(qualname, item, stmt.name)
                        if item.name == "__init__":
                            self.kept[stmt.name] = _kept_parameters(item)
        for node in ast.walk(tree):
            nested = (ast.Lambda, ast.GeneratorExp)
            if isinstance(node, nested) and any(_uses_client_api(n) for n in ast.walk(node)):
                self.blockers.append(f"{relpath} uses the test client in a lambda")

    def _fixture_kinds(self) -> None:
        for functions in self.functions.values():
            for fn in functions.values():
                if not fn.fixture:
                    continue
                for value in _returned(fn.node):
                    if _is_method_call(value, "test_client"):
                        self.fixtures[fn.qualname] = "client"
                    elif (
                        isinstance(value, ast.Call)
                        and isinstance(value.func, ast.Name)
                        and value.func.id in self.kept
                    ):
                        self.fixtures[fn.qualname] = value.func.id

    # ------------------------------------------------------------------ spreading

    def _spread(self) -> bool:
        changed = False
        for relpath, functions in self.functions.items():
            for fn in functions.values():
                changed |= self._type(relpath, fn)
        return changed

    def _type(self, relpath: str, fn: _Function) -> bool:
        """Type what ``fn`` holds with what is known so far; whether that grew."""
        before = fn.known()
        args = fn.node.args
        for param in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            kind = self.fixtures.get(param.arg)
            if kind == "client":
                fn.clients.add(param.arg)
            elif kind:
                fn.instances[param.arg] = kind
        if fn.cls:
            for attribute in self.kept.get(fn.cls, {}).values():
                if self._keeps_client(relpath, fn.cls, attribute):
                    fn.clients.add(f"self.{attribute}")
        for node in ast.walk(fn.node):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    if _is_method_call(node.value, "test_client"):
                        fn.clients.add(target.id)
                    elif self._is_response(relpath, fn, node.value):
                        fn.responses.add(target.id)
            elif isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
                if _is_method_call(node.context_expr, "test_client"):
                    fn.clients.add(node.optional_vars.id)
            elif isinstance(node, ast.Call):
                callee = ast.unparse(node.func)
                if self._is_request(fn, node) or self._calls_async(relpath, fn, node):
                    fn.awaited.add(callee)
                    fn.is_async = True
                    if self._is_response(relpath, fn, node):
                        fn.response_calls.add(callee)
        for node in ast.walk(fn.node):
            if isinstance(node, (ast.With, ast.AsyncWith)) and any(
                self._async_context(fn, item.context_expr) for item in node.items
            ):
                fn.is_async = True
        returned = list(_returned(fn.node))
        fn.returns_response = bool(returned) and all(
            self._is_response(relpath, fn, value) for value in returned
        )
        return fn.known() != before

    def _keeps_client(self, relpath: str, cls: str, attribute: str) -> bool:
        """Every construction of ``cls`` in the tests hands a client where ``__init__``
        keeps ``attribute``."""
        position = next(p for p, a in self.kept[cls].items() if a == attribute)
        seen = False
        for functions in self.functions.values():
            for fn in functions.values():
                for node in ast.walk(fn.node):
                    if (
                        isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Name)
                        and node.func.id == cls
                    ):
                        if len(node.args) <= position:
                            return False
                        arg = ast.unparse(node.args[position])
                        if arg not in fn.clients:
                            return False
                        seen = True
        return seen

    def _is_request(self, fn: _Function, call: ast.Call) -> bool:
        func = call.func
        return (
            isinstance(func, ast.Attribute)
            and func.attr in REQUEST_METHODS
            and ast.unparse(func.value) in fn.clients
        )

    def _calls_async(self, relpath: str, fn: _Function, call: ast.Call) -> bool:
        target = self._callee(relpath, fn, call)
        return target is not None and target.is_async

    def _callee(self, relpath: str, fn: _Function, call: ast.Call) -> _Function | None:
        """The function of the tests ``call`` calls: one of the module, or a method of an
        instance a fixture or a local hands over (``auth.login()``)."""
        func = call.func
        functions = self.functions[relpath]
        if isinstance(func, ast.Name):
            return functions.get(func.id)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            cls = fn.instances.get(func.value.id)
            if func.value.id == "self" and fn.cls:
                cls = fn.cls
            if cls:
                for module in self.functions.values():
                    if f"{cls}.{func.attr}" in module:
                        return module[f"{cls}.{func.attr}"]
        return None

    def _is_response(self, relpath: str, fn: _Function, value: ast.expr) -> bool:
        if isinstance(value, ast.Name):
            return value.id in fn.responses
        if not isinstance(value, ast.Call):
            return False
        if self._is_request(fn, value):
            return True
        target = self._callee(relpath, fn, value)
        return target is not None and target.returns_response

    def _async_context(self, fn: _Function, context: ast.expr) -> bool:
        """``app.app_context()``, ``client.session_transaction()``, ``client``."""
        if isinstance(context, ast.Call) and isinstance(context.func, ast.Attribute):
            method = context.func.attr
            owner = ast.unparse(context.func.value)
            return method in APP_CONTEXTS or (method in CLIENT_CONTEXTS and owner in fn.clients)
        return ast.unparse(context) in fn.clients or _is_method_call(context, "test_client")

    # ------------------------------------------------------------------ the plan

    def plans(self) -> dict[str, TestModulePlan]:
        for functions in self.functions.values():
            for fn in functions.values():
                self._check(fn)
        return {
            relpath: TestModulePlan(
                tuple(
                    TestFunction(
                        fn.qualname,
                        frozenset(fn.clients),
                        frozenset(fn.responses),
                        frozenset(fn.awaited),
                        frozenset(fn.response_calls),
                        fn.fixture,
                    )
                    for fn in functions.values()
                    if fn.is_async
                )
            )
            for relpath, functions in self.functions.items()
        }

    def _check(self, fn: _Function) -> None:
        """What keeps ``fn`` from moving: a client used where the analysis lost it."""
        for node in ast.walk(fn.node):
            nested = (ast.FunctionDef, ast.AsyncFunctionDef)
            if (
                node is not fn.node
                and isinstance(node, nested)
                and any(_uses_client_api(n) for n in ast.walk(node))
            ):
                self.blockers.append(f"`{fn.qualname}` uses the test client in a function")
            if isinstance(node, ast.Attribute) and node.attr in TESTING_API:
                continue
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in REQUEST_METHODS
                and _looks_like_client(node.func.value)
                and ast.unparse(node.func.value) not in fn.clients
            ):
                self.blockers.append(
                    f"`{fn.qualname}` calls `{ast.unparse(node.func)}`, "
                    "on a test client the analysis cannot follow"
                )
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in REQUEST_METHODS
                and ast.unparse(node.func.value) in fn.clients
                and (why := _client_arguments_blocker(node))
            ):
                self.blockers.append(f"`{fn.qualname}` {why}")
        if fn.is_async and fn.cls and fn.node.name.startswith("__"):
            self.blockers.append(f"`{fn.qualname}` would have to be a coroutine")


#: The keywords of Flask's test client requests that Quart's takes (``data`` as a dict is
#: its ``form``; ``content_type`` goes into its ``headers``).
CLIENT_KEYWORDS = frozenset(
    {"data", "json", "headers", "query_string", "follow_redirects", "auth", "content_type"}
)
#: Calls whose result is certainly text (a body for Quart's ``data``).
_TEXT_CALLS = frozenset({"dumps", "encode", "urlencode", "format", "join"})


def _client_arguments_blocker(call: ast.Call) -> str:
    """Why a request of Flask's test client cannot be said to Quart's ("": it can)."""
    keywords = {k.arg: k.value for k in call.keywords}
    if None in keywords:
        return "unpacks arguments into a test client request"
    other = sorted(str(k) for k in keywords if k not in CLIENT_KEYWORDS)
    if other:
        return f"passes a test client request `{other[0]}`, which Quart's client lacks"
    data = keywords.get("data")
    if isinstance(data, ast.Dict):
        if any(isinstance(v, ast.Tuple) for v in data.values):
            return "uploads files through the test client's data (Quart's takes files=)"
    elif data is not None and not _is_text(data):
        return "passes the test client data the analysis cannot read (Quart's takes text)"
    query = keywords.get("query_string")
    if query is not None and not isinstance(query, ast.Dict):
        return "passes a query string that is no dict literal (Quart's takes a dict)"
    headers = keywords.get("headers")
    if "content_type" in keywords and headers is not None and not isinstance(headers, ast.Dict):
        return "passes content_type besides headers the analysis cannot read"
    return ""


def _is_text(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, bytes))
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Call):
        return callee_name(node) in _TEXT_CALLS
    return False


def _is_fixture(func: ast.FunctionDef) -> bool:
    for decorator in func.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if ast.unparse(target) in ("pytest.fixture", "fixture"):
            return True
    return False


def _returned(func: ast.FunctionDef) -> Iterator[ast.expr]:
    """What ``func`` returns or yields (a fixture may do either), followed through a local
    bound once to it."""
    bound: dict[str, ast.expr] = {}
    for node in ast.walk(func):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            bound[node.targets[0].id] = node.value
    for node in ast.walk(func):
        if isinstance(node, (ast.Return, ast.Yield)) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Name) and value.id in bound:
                value = bound[value.id]
            yield value


def _kept_parameters(init: ast.FunctionDef) -> dict[int, str]:
    """Position (after ``self``) -> attribute, for ``self.attr = param`` in ``__init__``."""
    params = [a.arg for a in init.args.args[1:]]
    kept: dict[int, str] = {}
    for stmt in init.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Attribute)
            and isinstance(stmt.targets[0].value, ast.Name)
            and stmt.targets[0].value.id == "self"
            and isinstance(stmt.value, ast.Name)
            and stmt.value.id in params
        ):
            kept[params.index(stmt.value.id)] = stmt.targets[0].attr
    return kept


def _is_method_call(node: ast.AST, method: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == method
    )


def _looks_like_client(node: ast.expr) -> bool:
    """The object is named a client (``client``, ``self.client``, ``clients[0]``,
    ``app.test_client()``); not an attribute of one (a Docker client's ``client.containers``)."""
    while isinstance(node, (ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return "client" in name.lower()


def _uses_client_api(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and (node.func.attr in TESTING_API or (
            node.func.attr in REQUEST_METHODS and _looks_like_client(node.func.value)
        ))
    )  # fmt: skip


def analyse(trees: Mapping[str, ast.Module]) -> tuple[dict[str, TestModulePlan], list[str]]:
    """The plans of the test modules ``trees`` (``relpath -> tree``), and what keeps the run
    on Flask."""
    analysis = TestAnalysis(trees)
    plans = analysis.plans()
    return plans, analysis.blockers
