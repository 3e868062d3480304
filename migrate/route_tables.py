"""Route tables: a dict of the module's WSGI apps that one dispatcher looks handlers up in.

    ROUTES = {"/reindex": reindex, "/stats": stats}

    def application(environ, start_response):
        handler = ROUTES.get(environ["PATH_INFO"])
        if handler is None:
            start_response("404 Not Found", [...])
            return [b"unknown"]
        return handler(environ, start_response)

The table and its dispatchers are one unit: converted together (every app of the table and
every dispatcher, ``return await handler(scope, receive, send)``), or not at all. A table
qualifies when its values are all apps of the module, and every use of its name is a lookup
(``ROUTES.get(...)``, ``ROUTES[...]``) bound to a local name in a dispatcher that only calls
that name the WSGI way, in a ``return``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from migrate import analysis
from migrate.analysis import global_references, is_plain_name
from migrate.app_finding import Delegate, WsgiApp


@dataclass
class RouteTable:
    name: str
    stmt: cst.SimpleStatementLine
    #: the apps the table maps to
    apps: list[WsgiApp]
    #: dispatcher -> the local names it binds to lookups in the table
    dispatchers: dict[str, set[str]] = field(default_factory=dict)

    def delegates(self, dispatcher: str) -> dict[str, Delegate]:
        """The local handler names of ``dispatcher``, called ``(environ, start_response)``."""
        return {local: Delegate(0, 1) for local in self.dispatchers[dispatcher]}


def _lookup(value: cst.BaseExpression, table: str) -> bool:
    """``table.get(...)`` or ``table[...]``."""
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute):
        return is_plain_name(value.func.value, table) and value.func.attr.value == "get"
    return isinstance(value, cst.Subscript) and is_plain_name(value.value, table)


def find_route_tables(module: cst.Module, apps: list[WsgiApp]) -> list[RouteTable]:
    functions = {a.name: a for a in apps if a.kind == "function"}
    found: list[RouteTable] = []
    for stmt in module.body:
        assigned = analysis._name_assignment(stmt)
        if assigned is None or not isinstance(assigned[1], cst.Dict) or not assigned[1].elements:
            continue
        name, table = assigned
        assert isinstance(table, cst.Dict)
        values = [e.value for e in table.elements if isinstance(e, cst.DictElement)]
        if len(values) != len(table.elements) or not all(
            isinstance(v, cst.Name) and v.value in functions for v in values
        ):
            continue
        assert isinstance(stmt, cst.SimpleStatementLine)
        route = RouteTable(
            name, stmt, [functions[v.value] for v in values if isinstance(v, cst.Name)]
        )
        if _dispatchers(module, route, functions):
            found.append(route)
    return found


def _dispatchers(module: cst.Module, route: RouteTable, functions: dict[str, WsgiApp]) -> bool:
    """Fill ``route.dispatchers``; False when the table is used in any other way."""
    for stmt in module.body:
        references = global_references(stmt, route.name)
        if stmt is route.stmt or not references:
            continue
        dispatcher = functions.get(stmt.name.value) if isinstance(stmt, cst.FunctionDef) else None
        if dispatcher is None or dispatcher in route.apps:
            return False
        assert isinstance(stmt, cst.FunctionDef)
        locals_: set[str] = set()
        lookups: set[int] = set()
        for node in analysis.walk(stmt.body):
            if isinstance(node, cst.Assign) and _lookup(node.value, route.name):
                if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
                    return False
                if not _default_joins(node.value, route, functions):
                    return False
                locals_.add(node.targets[0].target.value)
                lookups.update(id(n) for n in analysis.walk(node.value))
        if not locals_ or any(id(r) not in lookups for r in references):
            return False
        if not _only_called_in_returns(stmt, locals_, dispatcher):
            return False
        route.dispatchers[dispatcher.name] = locals_
    return bool(route.dispatchers)


def _default_joins(
    lookup: cst.BaseExpression, route: RouteTable, functions: dict[str, WsgiApp]
) -> bool:
    """``table.get(key, default)``: a default of None, or an app of the module, which then
    is one of the apps the dispatcher hands requests to (converted with the table)."""
    if not isinstance(lookup, cst.Call) or len(lookup.args) < 2:
        return True
    default = lookup.args[1].value
    if is_plain_name(default, "None"):
        return True
    if isinstance(default, cst.Name) and default.value in functions:
        app = functions[default.value]
        if app not in route.apps:
            route.apps.append(app)
        return True
    return False


def _only_called_in_returns(func: cst.FunctionDef, names: set[str], app: WsgiApp) -> bool:
    """Each name is only compared (``is None``), reassigned from the table, or called as
    ``return name(environ, start_response)``."""
    allowed: set[int] = set()
    for node in analysis.walk(func.body):
        if isinstance(node, cst.Return) and isinstance(node.value, cst.Call):
            call = node.value
            if (
                isinstance(call.func, cst.Name)
                and call.func.value in names
                and len(call.args) == 2
                and is_plain_name(call.args[0].value, app.environ)
                and is_plain_name(call.args[1].value, app.start_response)
            ):
                allowed.add(id(call.func))
        elif isinstance(node, cst.Comparison) and isinstance(node.left, cst.Name):
            allowed.add(id(node.left))
        elif isinstance(node, cst.AssignTarget) and isinstance(node.target, cst.Name):
            allowed.add(id(node.target))
    return all(
        id(node) in allowed
        for node in analysis.walk(func.body)
        if isinstance(node, cst.Name) and node.value in names
    )
