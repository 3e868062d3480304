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

The call groups of its apps and dispatchers join the unit (:func:`joined_groups`): the
response helpers the handlers and a dispatching class share (``json_response(start_response,
...)`` for a 200 in a view and for the dispatcher's 404), and the sub-apps they call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import libcst as cst

from migrate import analysis
from migrate.analysis import global_references, is_plain_name
from migrate.app_finding import CallGroup, Delegate, GroupMember, WsgiApp, _instance_binding
from migrate.registered_routes import registered_rows


@dataclass
class RouteTable:
    name: str
    #: The statement holding the table (None: rows registered by many).
    stmt: cst.SimpleStatementLine | None
    #: the apps the table maps to
    apps: list[WsgiApp]
    #: dispatcher -> the local names it binds to lookups in the table
    dispatchers: dict[str, set[str]] = field(default_factory=dict)
    #: For a list of tuples (``[(pattern, handler), ...]``): where the handler stands in each
    #: tuple, and how many items each has; None for a dict.
    handler_at: int | None = None
    width: int = 0
    #: Decorators that register the apps (``@app.route("/")``), which they keep.
    kept_decorators: set[str] = field(default_factory=set)

    def delegates(self, dispatcher: str) -> dict[str, Delegate]:
        """The local handler names of ``dispatcher``, called ``(environ, start_response)``."""
        return {local: Delegate(0, 1) for local in self.dispatchers[dispatcher]}


def _lookup(value: cst.BaseExpression, is_table: Callable[[cst.BaseExpression], bool]) -> bool:
    """``table.get(...)`` or ``table[...]``, ``is_table`` saying what the table is."""
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute):
        return is_table(value.func.value) and value.func.attr.value == "get"
    return isinstance(value, cst.Subscript) and is_table(value.value)


def _pairs_table(
    stmt: cst.SimpleStatementLine,
    name: str,
    table: cst.List | cst.Tuple,
    functions: dict[str, WsgiApp],
) -> RouteTable | None:
    """``ROUTES = [(re.compile("^/$"), index), (re.compile("^/items$"), items)]``: tuples of
    one width, each holding an app of the module at the same place and no app elsewhere."""
    rows = [e.value for e in table.elements]
    if not rows or any(
        not isinstance(e, cst.Element) or not isinstance(r, cst.Tuple)
        for e, r in zip(table.elements, rows, strict=True)
    ):
        return None
    widths = {len(r.elements) for r in rows if isinstance(r, cst.Tuple)}
    if len(widths) != 1 or (width := widths.pop()) < 2:
        return None
    places = None
    for row in rows:
        assert isinstance(row, cst.Tuple)
        items = [e.value for e in row.elements]
        if any(not isinstance(e, cst.Element) for e in row.elements):
            return None
        at = {i for i, v in enumerate(items) if isinstance(v, cst.Name) and v.value in functions}
        if len(at) != 1 or (places is not None and at != places):
            return None
        places = at
        if any(
            analysis.mentions(v, f) for i, v in enumerate(items) if i not in at for f in functions
        ):
            return None
    assert places is not None
    (handler_at,) = places
    apps = []
    for row in rows:
        assert isinstance(row, cst.Tuple)
        handler = row.elements[handler_at].value
        assert isinstance(handler, cst.Name)
        if functions[handler.value] not in apps:
            apps.append(functions[handler.value])
    return RouteTable(name, stmt, apps, handler_at=handler_at, width=width)


def find_route_tables(module: cst.Module, apps: list[WsgiApp]) -> list[RouteTable]:
    functions = {a.name: a for a in apps if a.kind == "function"}
    # the app classes by the names making their instances (a plain subclass's too)
    classes = {maker: a for a in apps if a.kind == "callable-class" for maker in a.makers}
    found: list[RouteTable] = [
        class_table
        for app in apps
        if app.kind == "callable-class" and app.instances
        if (
            class_table := _class_table(module, app, functions)
            or _registered_table(module, app, functions, classes)
        )
        is not None
    ]
    for stmt in module.body:
        assigned = analysis._name_assignment(stmt)
        if (
            assigned is not None
            and isinstance(assigned[1], (cst.List, cst.Tuple))
            and isinstance(stmt, cst.SimpleStatementLine)
        ):
            pairs = _pairs_table(stmt, assigned[0], assigned[1], functions)
            if pairs is not None and _dispatchers(module, pairs, functions):
                found.append(pairs)
            continue
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


def _class_table(
    module: cst.Module, app: WsgiApp, functions: dict[str, WsgiApp]
) -> RouteTable | None:
    """A dispatching class whose routes are given to its constructor, as a list of tuples
    holding apps of the module (``app = SubDomainApp([("localhost", hello), (".*", bye)])``),
    kept as they are (``self.mapping = mapping``) and looped over by ``__call__`` (``for
    pattern, app in self.mapping: ... return app(environ, start_response)``). Every instance
    of the module is made with such a list, and nothing else reads or sets the attribute."""
    cls = app.node
    assert isinstance(cls, cst.ClassDef)
    init, call = analysis.method_named(cls, "__init__"), analysis.method_named(cls, "__call__")
    params = analysis.positional_params(init) if init is not None else None
    if init is None or call is None or not params or len(params) < 2 or app.other_uses:
        return None
    param = params[1].name.value
    kept = _kept_routes(init, param)
    if kept is None:
        return None
    attr, store, repacked = kept
    table: RouteTable | None = None
    for stmt in module.body:
        if _instance_binding(stmt, app.name) is None:
            continue
        assert isinstance(stmt, cst.SimpleStatementLine)
        made = analysis._name_assignment(stmt)
        assert made is not None and isinstance(made[1], cst.Call)
        args = made[1].args
        literal = args[0].value if args and args[0].keyword is None and not args[0].star else None
        if not isinstance(literal, (cst.List, cst.Tuple)) or any(
            analysis.mentions(a, name) for a in args[1:] for name in functions
        ):
            return None
        rows = _pairs_table(stmt, f"{app.name}.{attr}", literal, functions)
        if rows is None or (
            table is not None and (rows.handler_at, rows.width) != (table.handler_at, table.width)
        ):
            return None
        if table is None:
            table = rows
        else:
            table.apps.extend(a for a in rows.apps if a not in table.apps)
    if table is None:
        return None
    if repacked is not None:
        # ``[(re.compile(p), view) for p, view in routes]``: where the view went
        targets, items = repacked
        if len(targets) != table.width:
            return None
        view = targets[table.handler_at or 0]
        at = [i for i, item in enumerate(items) if is_plain_name(item, view)]
        if len(at) != 1 or any(
            analysis.mentions(item, view) for i, item in enumerate(items) if i != at[0]
        ):
            return None
        table.handler_at, table.width = at[0], len(items)
    filled = {id(n) for n in analysis.walk(store) if isinstance(n, cst.Attribute)}
    return table if _looped_over_by_call(module, app, call, attr, filled, table) else None


def _registered_table(
    module: cst.Module, app: WsgiApp, functions: dict[str, WsgiApp], classes: dict[str, WsgiApp]
) -> RouteTable | None:
    """A dispatching class the module registers its views with at import
    (:mod:`migrate.registered_routes`), whose ``__call__`` loops over the rows."""
    call = (
        analysis.method_named(app.node, "__call__") if isinstance(app.node, cst.ClassDef) else None
    )
    rows = registered_rows(module, app, functions, classes) if call is not None else None
    if rows is None or call is None:
        return None
    table = RouteTable(
        f"{app.name}.{rows.attr}",
        None,  # registered by many statements: none holds the table
        rows.apps,
        handler_at=rows.handler_at,
        width=rows.width,
        kept_decorators=rows.decorators,
    )
    if rows.handler_at is None:
        found = _looked_up_by_call(module, app, call, rows.attr, rows.fills, table)
    else:
        found = _looped_over_by_call(module, app, call, rows.attr, rows.fills, table)
    return table if found else None


def _own_attribute(call: cst.FunctionDef, attr: str) -> Callable[[cst.BaseExpression], bool]:
    """Whether an expression is ``self.attr`` in the method ``call``."""
    params = analysis.positional_params(call)
    return analysis.attribute_of(params[0].name.value if params else "self", attr)


def _used_only_at(module: cst.Module, attr: str, allowed: set[int]) -> bool:
    """Every ``x.attr`` of the module is one of ``allowed`` (ids of Attribute nodes)."""
    return all(
        id(n) in allowed
        for n in analysis.walk(module)
        if isinstance(n, cst.Attribute) and n.attr.value == attr
    )


def _looked_up_by_call(
    module: cst.Module,
    app: WsgiApp,
    call: cst.FunctionDef,
    attr: str,
    filled: set[int],
    table: RouteTable,
) -> bool:
    """``self.attr`` (a dict of views) is filled where ``filled`` says only and read by
    ``__call__`` only, in lookups bound to a local name (``view = self.routes.get(path)``)
    that it only compares and calls the WSGI way in a ``return``; then
    ``table.dispatchers`` says so."""
    is_table = _own_attribute(call, attr)
    handlers: set[str] = set()
    lookups: set[int] = set()
    for node in analysis.walk(call.body):
        if not isinstance(node, cst.Assign) or not _lookup(node.value, is_table):
            continue
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return False
        if (
            isinstance(node.value, cst.Call)
            and len(node.value.args) > 1
            and not is_plain_name(node.value.args[1].value, "None")
        ):
            return False  # a default view: not registered, so not known
        handlers.add(node.targets[0].target.value)
        lookups.update(id(n) for n in analysis.walk(node.value))
    if not handlers or not _used_only_at(module, attr, lookups | filled):
        return False
    if not _only_called_in_returns(call, handlers, app):
        return False
    table.dispatchers[app.name] = handlers
    return True


def _looped_over_by_call(
    module: cst.Module,
    app: WsgiApp,
    call: cst.FunctionDef,
    attr: str,
    filled: set[int],
    table: RouteTable,
) -> bool:
    """``self.attr`` is filled where ``filled`` says only and read by loops of ``__call__``
    only, each unpacking the rows (``for pattern, app in self.mapping``) and handing the
    request on the WSGI way in a ``return``; then ``table.dispatchers`` says so."""
    is_table = _own_attribute(call, attr)
    loops = [n for n in analysis.walk(call.body) if isinstance(n, cst.For) and is_table(n.iter)]
    if not loops or not _used_only_at(module, attr, {id(loop.iter) for loop in loops} | filled):
        return False
    handlers: set[str] = set()
    for loop in loops:
        target = loop.target
        if not (
            isinstance(target, cst.Tuple)
            and len(target.elements) == table.width
            and all(isinstance(e.value, cst.Name) for e in target.elements)
        ):
            return False
        handler = target.elements[table.handler_at or 0].value
        assert isinstance(handler, cst.Name)
        handlers.add(handler.value)
    if not _only_called_in_returns(call, handlers, app, loop_over=is_table):
        return False
    table.dispatchers[app.name] = handlers
    return True


def _kept_routes(
    init: cst.FunctionDef, param: str
) -> tuple[str, cst.SimpleStatementLine, tuple[list[str], list[cst.BaseExpression]] | None] | None:
    """How ``__init__`` keeps the routes it is given (its parameter ``param``): ``(attribute,
    the statement, None)`` for ``self.routes = routes``; for ``self.routes =
    [(re.compile(pattern), view) for pattern, view in routes]``, also the names the loop
    unpacks and the items of each new tuple."""
    stored = analysis.stored_parameters(init)
    if param in stored:
        attr, kept = stored[param]
        return attr, kept, None
    for attr, comp, stmt in analysis.self_assignments(init):
        if not (
            isinstance(comp, cst.ListComp)
            and isinstance(comp.elt, cst.Tuple)
            and comp.for_in.inner_for_in is None
            and not comp.for_in.ifs
            and comp.for_in.asynchronous is None
            and is_plain_name(comp.for_in.iter, param)
            and isinstance(comp.for_in.target, cst.Tuple)
            and all(isinstance(e.value, cst.Name) for e in comp.for_in.target.elements)
        ):
            continue
        names = [
            e.value.value for e in comp.for_in.target.elements if isinstance(e.value, cst.Name)
        ]
        if len(set(names)) != len(names):
            return None
        items = [e.value for e in comp.elt.elements]
        attribute_names = {
            id(n.attr) for n in analysis.walk(init.body) if isinstance(n, cst.Attribute)
        }
        uses = sum(
            1
            for n in analysis.walk(init.body)
            if isinstance(n, cst.Name) and n.value == param and id(n) not in attribute_names
        )
        if uses != 1:  # the routes are read by the comprehension only
            return None
        return attr, stmt, (names, items)
    return None


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
            if route.handler_at is not None:
                # ``for pattern, handler in ROUTES:``: the handler bound where it stands
                if isinstance(node, cst.For) and is_plain_name(node.iter, route.name):
                    target = node.target
                    if not (
                        isinstance(target, cst.Tuple)
                        and len(target.elements) == route.width
                        and all(
                            isinstance(e, cst.Element) and isinstance(e.value, cst.Name)
                            for e in target.elements
                        )
                    ):
                        return False
                    handler = target.elements[route.handler_at].value
                    assert isinstance(handler, cst.Name)
                    locals_.add(handler.value)
                    lookups.add(id(node.iter))
                continue
            if isinstance(node, cst.Assign) and _lookup(node.value, _names_the(route.name)):
                if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
                    return False
                if not _default_joins(node.value, route, functions):
                    return False
                locals_.add(node.targets[0].target.value)
                lookups.update(id(n) for n in analysis.walk(node.value))
        if not locals_ or any(id(r) not in lookups for r in references):
            return False
        loop_over = _names_the(route.name) if route.handler_at is not None else None
        if not _only_called_in_returns(stmt, locals_, dispatcher, loop_over=loop_over):
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


def _names_the(table: str) -> Callable[[cst.BaseExpression], bool]:
    """Whether an expression is the module-level table ``table`` itself."""
    return lambda expr: is_plain_name(expr, table)


def _only_called_in_returns(
    func: cst.FunctionDef,
    names: set[str],
    app: WsgiApp,
    *,
    loop_over: Callable[[cst.BaseExpression], bool] | None = None,
) -> bool:
    """Each name is only compared (``is None``), bound from the table (a lookup, or, for a
    list, the target of a ``for`` over what ``loop_over`` says is the table, never bound
    otherwise), or called as ``return name(environ, start_response)`` (what follows the
    request in the call, ``**match.groupdict()``, is handed on as it is)."""
    allowed: set[int] = set()
    for node in analysis.walk(func.body):
        if loop_over is not None:
            if isinstance(node, cst.For) and loop_over(node.iter):
                allowed.update(id(n) for n in analysis.walk(node.target))
            elif isinstance(
                node, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.NamedExpr, cst.For)
            ):
                if analysis.names_in(node.target) & names:
                    return False  # bound otherwise than by the loop over the table
            elif isinstance(node, (cst.Global, cst.Nonlocal, cst.AsName)) and (
                analysis.names_in(node) & names
            ):
                return False
        if isinstance(node, cst.Return) and isinstance(node.value, cst.Call):
            call = node.value
            if (
                isinstance(call.func, cst.Name)
                and call.func.value in names
                and len(call.args) >= 2
                and all(a.keyword is None and not a.star for a in call.args[:2])
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


def joined_groups(
    table: RouteTable, groups: Sequence[CallGroup], dispatchers: Sequence[WsgiApp]
) -> list[CallGroup] | None:
    """The call groups converting with ``table``: those with a member the table holds or
    that dispatches it, and those with a response helper a dispatching class hands its
    start_response to (``return json_response(start_response, "404 Not Found", ...)`` in
    ``__call__``). None when one of them cannot convert with it: problems of its own,
    start_response handed to another module, the instances of a class, or a member used
    otherwise than by the table, the dispatchers and the other members."""
    held = {a.name for a in table.apps}
    unit = held | set(table.dispatchers)
    by_node = {id(d.node): d for d in dispatchers}
    joined = []
    for group in groups:
        if not (set(group.names) & unit or any(id(s) in by_node for _, s in group.stray_uses)):
            continue
        # a dispatcher handing start_response to the handlers it looks up: the table's
        vouched = {
            said
            for member, callee, said in group.unknown_callees
            if callee in table.dispatchers.get(member, ())
        }
        if set(group.problems) - vouched or group.imported_uses or group.classes:
            return None
        members = {m.name: m for m in group.members}
        for name, stmt in group.stray_uses:
            if name in held:
                continue  # as any app of a table: its other uses are other rules' to follow
            dispatcher = by_node.get(id(stmt))
            if dispatcher is None or not _hands_request_only(dispatcher, members[name]):
                return None
        joined.append(group)
    return joined


def _hands_request_only(dispatcher: WsgiApp, member: GroupMember) -> bool:
    """Every use of ``member`` in the dispatching class is a call in its ``__call__`` handing
    it that method's start_response (and environ) where the group's other members do."""
    cls = dispatcher.node
    call = analysis.method_named(cls, "__call__") if isinstance(cls, cst.ClassDef) else None
    if call is None:
        return False
    handed: set[int] = set()
    for node in analysis.walk(call.body):
        if not (isinstance(node, cst.Call) and is_plain_name(node.func, member.name)):
            continue
        wanted = {member.delegate.start_response: dispatcher.start_response}
        if member.delegate.environ is not None:
            wanted[member.delegate.environ] = dispatcher.environ
        if all(
            at < len(node.args)
            and node.args[at].keyword is None
            and not node.args[at].star
            and is_plain_name(node.args[at].value, name)
            for at, name in wanted.items()
        ):
            handed.add(id(node.func))
    return bool(handed) and all(id(n) in handed for n in analysis.variable_names(cls, member.name))
