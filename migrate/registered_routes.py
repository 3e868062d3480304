"""Routes registered at import: a dispatching class whose instance the module hands each view
by calling a method of it, the way home-grown frameworks do.

    class App:
        def __init__(self):
            self.routes = []

        def add(self, pattern, view):
            self.routes.append((re.compile(pattern), view))

        def route(self, pattern):
            def register(view):
                self.routes.append((re.compile(pattern), view))
                return view
            return register

        def __call__(self, environ, start_response):
            for regex, view in self.routes:
                if regex.match(environ["PATH_INFO"]):
                    return view(environ, start_response)
            ...

    app = App()
    app.add("^/about$", about)

    @app.route("^/$")
    def index(environ, start_response): ...

The rows are known when ``__init__`` starts the attribute empty, each registering method
only appends one row holding the view it is given (or, for a dict, only sets
``self.routes[path] = view``, which ``__call__`` looks up) (a decorator: the function it
decorates, handed back as it is), and every registration is a statement of the module's top
level naming one of its function apps (``app.add(...)``, ``@app.route(...)`` as the only
decorator) or handing it a new instance of one of its app classes (``app.add("/todos",
TodoCollection(store))``, the class used for nothing else); nothing else registers, and
``__call__`` only loops over the rows and calls the view the WSGI way in a ``return``
(:func:`migrate.route_tables.find_route_tables` checks that part, as for routes given to the
constructor). The table then converts like any other (its views keep their registering
decorator).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import libcst as cst

from migrate import analysis
from migrate.analysis import is_plain_name, positional_params
from migrate.app_finding import WsgiApp


@dataclass(frozen=True)
class _Registrar:
    """A method of the class that registers a view: ``app.add(pattern, view)`` (``param``
    the view's parameter, ``index`` its place among the call's arguments) or, as a
    decorator, ``@app.route(pattern)`` (``param`` None)."""

    name: str
    param: str | None
    index: int
    #: where the view stands in the row it appends, and how many items the row has (None
    #: and 0 for ``self.routes[path] = view``)
    handler_at: int | None
    width: int


@dataclass
class RegisteredRows:
    #: the attribute holding the rows
    attr: str
    #: the apps registered, in module order
    apps: list[WsgiApp]
    #: as :class:`migrate.route_tables.RouteTable`'s (None: a dict of views)
    handler_at: int | None
    width: int
    #: the Attribute nodes of the class that read or fill the rows where allowed
    #: (``self.routes = []``, the appends)
    fills: set[int]
    #: ``app.route``: decorators the views keep
    decorators: set[str]


def registered_rows(
    module: cst.Module,
    app: WsgiApp,
    functions: Mapping[str, WsgiApp],
    classes: Mapping[str, WsgiApp] | None = None,
) -> RegisteredRows | None:
    """The rows the module registers with the one instance of the class ``app``, or None.
    ``classes``: the app classes of the module by the names that make their instances (a
    plain subclass's too): a registration may hand one a new instance of one,
    ``api.add("/todos", TodoCollection(store))``, when that is all the module does with the
    class."""
    cls = app.node
    if not isinstance(cls, cst.ClassDef) or len(app.instances) != 1:
        return None
    init = analysis.method_named(cls, "__init__")
    if init is None:
        return None
    instance = app.instances[0]
    empty = [
        (attr, stmt, isinstance(value, cst.Dict))
        for attr, value, stmt in analysis.self_assignments(init)
        if isinstance(value, (cst.List, cst.Dict)) and not value.elements
    ]
    for attr, stmt, mapping in empty:
        registrars = _registrars(cls, attr)
        if not registrars:
            continue
        shapes = {(r.handler_at, r.width) for r in registrars.values()}
        if len(shapes) != 1 or mapping != (next(iter(shapes))[0] is None):
            return None  # rows of two shapes, or appended to a dict / set in a list
        ((handler_at, width),) = shapes
        registered = _registered_apps(module, instance, registrars, functions, classes or {})
        if registered is None or not _only_registrations(app, module, instance, registrars):
            return None
        apps, sites = registered
        if not apps or not _instances_only_registered(apps, sites):
            return None
        fills = {id(n) for n in analysis.walk(stmt) if isinstance(n, cst.Attribute)}
        for method in registrars.values():
            fills.update(_appends(cls, attr, method.name))
        decorators = {f"{instance}.{r.name}" for r in registrars.values() if r.param is None}
        return RegisteredRows(attr, apps, handler_at, width, fills, decorators)
    return None


def _appends(cls: cst.ClassDef, attr: str, method_name: str) -> set[int]:
    method = analysis.method_named(cls, method_name)
    assert method is not None
    return {
        id(n)
        for n in analysis.walk(method.body)
        if isinstance(n, cst.Attribute) and n.attr.value == attr
    }


def _registrars(cls: cst.ClassDef, attr: str) -> dict[str, _Registrar]:
    """The methods of ``cls`` that append a row to ``self.attr`` (each exactly as the
    module's docstring says; one that touches it otherwise makes none count)."""
    found: dict[str, _Registrar] = {}
    assert isinstance(cls.body, cst.IndentedBlock)
    for method in cls.body.body:
        if not isinstance(method, cst.FunctionDef) or method.name.value in ("__init__", "__call__"):
            continue
        if not any(
            isinstance(n, cst.Attribute) and n.attr.value == attr for n in analysis.walk(method)
        ):
            continue
        registrar = _registrar(method, attr)
        if registrar is None:
            return {}
        found[registrar.name] = registrar
    return found


def _registrar(method: cst.FunctionDef, attr: str) -> _Registrar | None:
    params = positional_params(method)
    if method.decorators or not params or not isinstance(method.body, cst.IndentedBlock):
        return None
    own = params[0].name.value
    body = list(method.body.body)
    # a decorator: ``def register(view): self.attr.append(row); return view`` and ``return
    # register``
    nested = [s for s in body if isinstance(s, cst.FunctionDef)]
    if nested:
        deco = nested[0]
        deco_params = positional_params(deco)
        if (
            len(nested) != 1
            or len(body) != 2
            or analysis.returned_name(body[-1]) != deco.name.value
            or deco.decorators
            or deco_params is None
            or len(deco_params) != 1
            or not isinstance(deco.body, cst.IndentedBlock)
            or len(deco.body.body) != 2
        ):
            return None
        view = deco_params[0].name.value
        if analysis.returned_name(deco.body.body[1]) != view:
            return None
        shape = _registered(deco.body.body[0], own, attr, view)
        return _Registrar(method.name.value, None, 0, *shape) if shape is not None else None
    if len(body) != 1:
        return None
    for index, param in enumerate(params[1:]):
        shape = _registered(body[0], own, attr, param.name.value)
        if shape is not None:
            return _Registrar(method.name.value, param.name.value, index, *shape)
    return None


def _registered(
    stmt: cst.BaseStatement, own: str, attr: str, view: str
) -> tuple[int | None, int] | None:
    """``(handler_at, width)`` when ``stmt`` registers ``view``: ``self.attr.append(row)``
    with the view alone at one place of the row, or ``self.attr[key] = view`` (``(None, 0)``)."""
    row = _appended_row(stmt, own, attr)
    if row is not None:
        at = _view_at(row, view)
        return (at, len(row.elements)) if at is not None else None
    assigned = analysis._single_assignment(stmt)
    if assigned is None:
        return None
    target, value = assigned
    if (
        isinstance(target, cst.Subscript)
        and analysis.attribute_of(own, attr)(target.value)
        and is_plain_name(value, view)
        and not analysis.mentions(target, view)
    ):
        return None, 0
    return None


def _appended_row(stmt: cst.BaseStatement, own: str, attr: str) -> cst.Tuple | None:
    """The tuple of ``self.attr.append((...))`` when that is all ``stmt`` is."""
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return None
    expr = stmt.body[0]
    if not isinstance(expr, cst.Expr):
        return None
    row = analysis.appended_item(expr.value, analysis.attribute_of(own, attr))
    if not isinstance(row, cst.Tuple) or not all(isinstance(e, cst.Element) for e in row.elements):
        return None
    return row


def _view_at(row: cst.Tuple | None, view: str) -> int | None:
    """Where ``view`` stands in ``row``, when it stands alone at one place only."""
    if row is None:
        return None
    at = [i for i, e in enumerate(row.elements) if is_plain_name(e.value, view)]
    if len(at) != 1 or any(
        analysis.mentions(e.value, view) for i, e in enumerate(row.elements) if i != at[0]
    ):
        return None
    return at[0]


def _registered_apps(
    module: cst.Module,
    instance: str,
    registrars: Mapping[str, _Registrar],
    functions: Mapping[str, WsgiApp],
    classes: Mapping[str, WsgiApp],
) -> tuple[list[WsgiApp], set[int]] | None:
    """The apps the module's top level registers, in order, and the statements making an
    instance of an app class to register; None when a registration is anywhere else, or
    hands what is neither a function app of the module nor a new instance of an app class."""
    registrations: set[int] = set()  # the ``instance.method`` nodes accounted for
    apps: list[WsgiApp] = []
    sites: set[int] = set()
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef):
            for decorator in stmt.decorators:
                call = decorator.decorator
                registrar = _called_registrar(call, instance, registrars)
                if registrar is None:
                    continue
                app = functions.get(stmt.name.value)
                if registrar.param is not None or len(stmt.decorators) != 1 or app is None:
                    return None
                assert isinstance(call, cst.Call)
                registrations.add(id(call.func))
                apps.append(app)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if not isinstance(small, cst.Expr):
                    continue
                registrar = _called_registrar(small.value, instance, registrars)
                if registrar is None or registrar.param is None:
                    continue
                assert isinstance(small.value, cst.Call)
                view = _handed(small.value, registrar)
                made = view.func if isinstance(view, cst.Call) else None
                if isinstance(view, cst.Name) and view.value in functions:
                    apps.append(functions[view.value])
                elif isinstance(made, cst.Name) and made.value in classes:
                    apps.append(classes[made.value])  # ``TodoItem(store)``: an instance
                    sites.add(id(stmt))
                else:
                    return None
                registrations.add(id(small.value.func))
    # every other ``instance.method`` of a registering method: a registration out of sight
    for node in analysis.walk(module):
        if (
            isinstance(node, cst.Attribute)
            and node.attr.value in registrars
            and is_plain_name(node.value, instance)
            and id(node) not in registrations
        ):
            return None
    return [a for i, a in enumerate(apps) if all(a is not b for b in apps[:i])], sites


def _instances_only_registered(apps: list[WsgiApp], sites: set[int]) -> bool:
    """The app classes registered through new instances are used by the module for that
    only: no module-level name holds one, every other statement naming them registers one."""
    return all(
        not app.instances and not app.stack_uses and all(id(use) in sites for use in app.other_uses)
        for app in apps
        if app.kind == "callable-class"
    )


def _called_registrar(
    expr: cst.BaseExpression, instance: str, registrars: Mapping[str, _Registrar]
) -> _Registrar | None:
    if not (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)):
        return None
    func = expr.func
    if not is_plain_name(func.value, instance):
        return None
    return registrars.get(func.attr.value)


def _handed(call: cst.Call, registrar: _Registrar) -> cst.Name | cst.Call | None:
    """The view ``call`` registers: the argument for the registrar's parameter, a name or a
    call (an instance made there)."""
    assert registrar.param is not None
    value = analysis.argument_for(call, registrar.index, registrar.param)
    return value if isinstance(value, (cst.Name, cst.Call)) else None


def _only_registrations(
    app: WsgiApp, module: cst.Module, instance: str, registrars: Mapping[str, _Registrar]
) -> bool:
    """Every statement using the instance otherwise than to serve it registers a view."""
    for stmt in app.other_uses:
        if isinstance(stmt, cst.FunctionDef) and any(
            _called_registrar(d.decorator, instance, registrars) for d in stmt.decorators
        ):
            continue
        if isinstance(stmt, cst.SimpleStatementLine) and all(
            isinstance(s, cst.Expr) and _called_registrar(s.value, instance, registrars)
            for s in stmt.body
        ):
            continue
        return False
    return True
