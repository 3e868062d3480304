"""Methods a WSGI class hands the request or the response to (``return self._preflight(environ,
start_response, origin)``, ``return self._respond(start_response, 404, data)``): found once
here, converted with the class by the wsgi-app and wsgi-middleware rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import libcst as cst

from migrate import analysis
from migrate.analysis import is_plain_name, walk


@dataclass
class HandOff:
    """A method of a middleware class its ``__call__`` hands the request (or only the
    response) to, converted with it (see :func:`hand_off_methods`)."""

    node: cst.FunctionDef
    #: ``"request"``: gets the environ and start_response (``self._preflight(environ,
    #: start_response, origin)``), answers or calls the wrapped app itself; ``"response"``:
    #: gets only start_response, first (``self._plain(start_response, "403 Forbidden", text)``,
    #: a static method or not), and answers.
    role: Literal["request", "response"]
    #: The local name a method handing the request on binds it to when it looks it up by a
    #: name made at run time (``handler = getattr(self, "do_" + method, None)``), else None.
    via: str | None = None


def hand_off_methods(
    module: cst.Module,
    cls: cst.ClassDef,
    call: cst.FunctionDef,
    environ: str,
    start_response: str,
) -> list[HandOff]:
    """The methods of a class (a WSGI app or middleware) its ``call`` (``__call__``, taking
    ``environ`` and ``start_response``) hands the whole request or the response to, directly
    or through one another (a method handed the response may hand it on to another). They
    are part of it and become ASGI with it. A method whose name is used anywhere else in the
    module (another call, a subclass, a reference) is not one: it may be called as WSGI from
    there."""
    if not isinstance(cls.body, cst.IndentedBlock):
        return []
    methods = {
        s.name.value: s
        for s in cls.body.body
        if isinstance(s, cst.FunctionDef) and s.name.value not in ("__call__", "__init__")
    }
    found: dict[str, HandOff] = {}
    handing: dict[str, int] = {}  # method name -> calls handing it the request
    mixed: set[str] = set()
    # (method, its environ or None when handed only the response, its start_response)
    todo: list[tuple[cst.FunctionDef, str | None, str]] = [(call, environ, start_response)]
    # (``request``, ``responder``: the names of the environ and start_response in ``func``)
    while todo:
        func, request, responder = todo.pop()
        if analysis.is_static(func):
            continue  # no `self` to call other methods through
        for node, method in analysis.own_method_calls(func, methods):
            if not node.args or any(a.keyword is not None or a.star for a in node.args[:2]):
                continue
            name = method.name.value
            if method.asynchronous is not None:
                continue
            taken = analysis.leading_params(method)
            static = analysis.is_static(method)
            own = taken if static else taken[1:]  # the parameters the call's arguments fill
            first = node.args[0].value
            if (
                request is not None
                and len(node.args) >= 2
                and is_plain_name(first, request)
                and is_plain_name(node.args[1].value, responder)
                and not method.decorators
                and len(own) >= 2
                and all(p.default is None for p in own[:2])
            ):
                role: Literal["request", "response"] = "request"
                todo_entry: tuple[cst.FunctionDef, str | None, str] = (
                    method,
                    own[0].name.value,
                    own[1].name.value,
                )
            elif (
                is_plain_name(first, responder)
                and (static or not method.decorators)
                and own
                and own[0].default is None
            ):
                # it may hand the response on in turn: ``_not_found(start_response)`` returning
                # ``self._json(start_response, "404 Not Found", ...)``
                role = "response"
                todo_entry = (method, None, own[0].name.value)
            else:
                continue
            handing[name] = handing.get(name, 0) + 1
            if name in found:
                if found[name].role != role:
                    mixed.add(name)  # handed the request here, the response there: not one
                continue
            found[name] = HandOff(method, role)
            todo.append(todo_entry)
    looked_up = _looked_up(module, cls, call, methods)
    in_tables, references = _table_lookups(module, cls, call, methods)
    for hand_off, local in [*looked_up, *in_tables]:
        name = hand_off.node.name.value
        if name not in found:
            found[name] = hand_off
            handing[name] = 0
        elif found[name].role != "request":
            mixed.add(name)
        found[name] = HandOff(found[name].node, "request", local)
    for name, count in references.items():
        handing[name] = handing.get(name, 0) + count
    uses: dict[str, int] = {}
    for seen in walk(module):  # attribute names are Name nodes too
        if isinstance(seen, cst.Name) and seen.value in found:
            uses[seen.value] = uses.get(seen.value, 0) + 1
    # every use is a hand-off call (the method's own name in its `def` counts once)
    return [
        m
        for name, m in found.items()
        if name not in mixed and uses.get(name, 0) == handing[name] + 1
    ]


def _looked_up(
    module: cst.Module,
    cls: cst.ClassDef,
    call: cst.FunctionDef,
    methods: dict[str, cst.FunctionDef],
) -> list[tuple[HandOff, str]]:
    """The methods ``call`` looks up by a name made at run time and hands the request to::

        handler = getattr(self, "do_" + environ["REQUEST_METHOD"], None)
        if handler is None: ...
        return handler(environ, start_response)

    Every method of the class whose name has the prefix is one (each a WSGI callable after
    ``self``), with the local name the lookup binds. None when the class is subclassed in
    the module or anything sets an attribute of that prefix (the lookup could find that), or
    the handler is used other than called or tested (:func:`_only_called_or_tested`)."""
    params = analysis.leading_params(call)
    if not params:
        return []
    self_name = params[0].name.value
    found: list[tuple[HandOff, str]] = []
    for node in walk(call.body, into_scopes=False):
        if not (
            isinstance(node, cst.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0].target, cst.Name)
            and isinstance(lookup := node.value, cst.Call)
            and is_plain_name(lookup.func, "getattr")
            and len(lookup.args) in (2, 3)
            and is_plain_name(lookup.args[0].value, self_name)
            and isinstance(made := lookup.args[1].value, cst.BinaryOperation)
            and isinstance(made.operator, cst.Add)
            and (prefix := analysis.string_value(made.left))
            and (len(lookup.args) == 2 or is_plain_name(lookup.args[2].value, "None"))
        ):
            continue
        local = node.targets[0].target.value
        named = [m for name, m in methods.items() if name.startswith(prefix)]
        if not named or any(
            m.asynchronous is not None
            or m.decorators
            or analysis.wsgi_call_params(m, method=True) is None
            for m in named
        ):
            return []
        if _set_or_subclassed(module, cls, prefix) or not _only_called_or_tested(call, local):
            return []
        found.extend((HandOff(m, "request", local), local) for m in named)
    return found


def _only_called_or_tested(call: cst.FunctionDef, local: str) -> bool:
    """Every use of ``local`` in ``call`` calls it or tests it (``handler is None``, ``if not
    handler``): what it holds does not leave the method (stored or handed on, a handler could
    be called from there as the WSGI app it was)."""
    allowed: set[int] = set()
    for node in walk(call.body, into_scopes=False):
        if isinstance(node, cst.Call):
            allowed.add(id(node.func))
        elif isinstance(node, cst.Comparison):
            allowed.add(id(node.left))
            allowed.update(id(c.comparator) for c in node.comparisons)
        elif isinstance(node, (cst.If, cst.While)):
            allowed.add(id(node.test))
        elif isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
            allowed.add(id(node.expression))
        elif isinstance(node, cst.BooleanOperation):
            allowed.update((id(node.left), id(node.right)))
    targets = {
        id(n) for t in analysis.written_targets(call) for n in walk(t) if isinstance(n, cst.Name)
    }
    return all(
        id(node) in allowed or id(node) in targets
        for node in walk(call.body, into_scopes=False)
        if isinstance(node, cst.Name) and node.value == local
    )


def _table_lookups(
    module: cst.Module,
    cls: cst.ClassDef,
    call: cst.FunctionDef,
    methods: dict[str, cst.FunctionDef],
) -> tuple[list[tuple[HandOff, str]], dict[str, int]]:
    """The methods ``call`` finds in a table of its class's own bound methods and hands the
    request to: the table made once by ``__init__``, a dict of them or a list of rows holding
    one at the same place in each::

        self.routes = {"/": self.index, "/about": self.about}
        handler = self.routes.get(environ["PATH_INFO"], self.not_found)  # or self.routes[key]
        return handler(environ, start_response)

        self.routes = [("/", self.home), ("/hoge", self.hoge)]
        for path, method in self.routes: ... return method(environ, start_response)

    Each with the local the lookup binds (bound nowhere else in ``call``), and how many
    references to each method the tables and the lookups' defaults hold. Nothing for a table
    the module uses any other way (changed, handed on, read by another method), nor when the
    class is subclassed in the module or an attribute of a method's name is set (either
    could put another callable in the table)."""
    init = analysis.method_named(cls, "__init__")
    params = analysis.leading_params(call)
    if init is None or not params:
        return [], {}
    self_name = params[0].name.value
    assigned = analysis.self_assignments(init)
    attributes = [attr for attr, _, _ in assigned]
    found: list[tuple[HandOff, str]] = []
    references: dict[str, int] = {}
    for attr, value, stmt in assigned:
        table = _bound_method_table(value, init, methods)
        if table is None or attributes.count(attr) != 1:
            continue
        held, row_place = table
        lookups = _lookups_of(call, self_name, attr, row_place, methods)
        if lookups is None:
            continue
        allowed = {id(n) for n in walk(stmt) if isinstance(n, cst.Attribute)} | lookups.reads
        if any(
            isinstance(n, cst.Attribute) and n.attr.value == attr and id(n) not in allowed
            for n in walk(module)
        ):
            continue  # the table is changed or read elsewhere
        named = {*held, *lookups.defaults}
        candidates = [methods[name] for name in named]
        if any(
            m.asynchronous is not None
            or m.decorators
            or analysis.wsgi_call_params(m, method=True) is None
            for m in candidates
        ) or _set_or_subclassed(module, cls, names=named):
            continue
        for local in lookups.locals:
            found.extend((HandOff(m, "request", local), local) for m in candidates)
        for name in [*held, *lookups.defaults]:
            references[name] = references.get(name, 0) + 1
    return found, references


def _bound_method_table(
    value: cst.BaseExpression, init: cst.FunctionDef, methods: dict[str, cst.FunctionDef]
) -> tuple[list[str], tuple[int, int] | None] | None:
    """The methods a table literal holds, each time it holds one (``self.index``), and for a
    list of rows the place in the row and the row's width (``None`` for a dict); None when
    it holds anything else there."""
    self_name = analysis.leading_params(init)[0].name.value
    if isinstance(value, cst.Dict):
        held = [
            _bound_method(e.value, self_name, methods) if isinstance(e, cst.DictElement) else None
            for e in value.elements
        ]
        return ([m for m in held if m], None) if held and all(held) else None
    if not isinstance(value, (cst.List, cst.Tuple)) or not value.elements:
        return None
    rows: list[Sequence[cst.BaseElement]] = []
    for element in value.elements:
        if not isinstance(element, cst.Element) or not isinstance(
            element.value, (cst.Tuple, cst.List)
        ):
            return None
        rows.append(element.value.elements)
    if len({len(row) for row in rows}) != 1:
        return None
    for place in range(len(rows[0])):
        held = [_bound_method(row[place].value, self_name, methods) for row in rows]
        names = [name for name in held if name is not None]
        if len(names) == len(rows):
            # one place only: a second would leave open which one is called
            others = range(place + 1, len(rows[0]))
            if any(
                all(_bound_method(row[i].value, self_name, methods) for row in rows) for i in others
            ):
                return None
            return names, (place, len(rows[0]))
    return None


def _bound_method(
    node: cst.BaseExpression, self_name: str, methods: dict[str, cst.FunctionDef]
) -> str | None:
    """The name of the method of ``methods`` that ``node`` (``self.index``) is, bound."""
    if (
        isinstance(node, cst.Attribute)
        and is_plain_name(node.value, self_name)
        and node.attr.value in methods
    ):
        return node.attr.value
    return None


@dataclass
class _Lookups:
    """How ``__call__`` looks handlers up in a table (see :func:`_table_lookups`)."""

    #: the locals bound to what it finds
    locals: list[str]
    #: the methods it falls back to (``self.routes.get(path, self.not_found)``)
    defaults: list[str]
    #: the ``self.<table>`` nodes it reads the table with
    reads: set[int]


def _lookups_of(
    call: cst.FunctionDef,
    self_name: str,
    attr: str,
    row_place: tuple[int, int] | None,
    methods: dict[str, cst.FunctionDef],
) -> _Lookups | None:
    """The lookups of the table ``self.<attr>`` in ``call``: ``local = self.t.get(key)``,
    ``.get(key, None)``, ``.get(key, self.method)``, ``local = self.t[key]`` for a dict;
    ``for ..., local in self.t:`` for rows. None when a local is bound twice (or is a
    parameter): what it holds at the call would not be known; or used other than called or
    tested (:func:`_only_called_or_tested`)."""

    def table(node: cst.BaseExpression) -> bool:
        return (
            isinstance(node, cst.Attribute)
            and node.attr.value == attr
            and is_plain_name(node.value, self_name)
        )

    found = _Lookups([], [], set())
    for node in walk(call.body, into_scopes=False):
        local: str | None = None
        if (
            row_place is None
            and isinstance(node, cst.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0].target, cst.Name)
        ):
            value = node.value
            if isinstance(value, cst.Subscript) and table(value.value) and len(value.slice) == 1:
                local, read = node.targets[0].target.value, value.value
            elif (
                isinstance(value, cst.Call)
                and isinstance(value.func, cst.Attribute)
                and value.func.attr.value == "get"
                and table(value.func.value)
                and len(value.args) in (1, 2)
                and not any(a.keyword or a.star for a in value.args)
            ):
                if len(value.args) == 2:
                    default = value.args[1].value
                    if (method := _bound_method(default, self_name, methods)) is not None:
                        found.defaults.append(method)
                    elif not is_plain_name(default, "None"):
                        continue
                local, read = node.targets[0].target.value, value.func.value
        elif (
            row_place is not None
            and isinstance(node, cst.For)
            and table(node.iter)
            and isinstance(node.target, (cst.Tuple, cst.List))
            and len(node.target.elements) == row_place[1]
            and all(isinstance(e, cst.Element) for e in node.target.elements)
            and isinstance(target := node.target.elements[row_place[0]].value, cst.Name)
        ):
            local, read = target.value, node.iter
        if local is None:
            continue
        found.locals.append(local)
        found.reads.add(id(read))
    params = analysis.param_names(call)
    bound = [n for t in analysis.written_targets(call) for n in analysis.target_names(t)]
    if not found.locals or any(
        local in params or bound.count(local) != 1 or not _only_called_or_tested(call, local)
        for local in found.locals
    ):
        return None
    return found


def _set_or_subclassed(
    module: cst.Module,
    cls: cst.ClassDef,
    prefix: str = "",
    *,
    names: frozenset[str] | set[str] = frozenset(),
) -> bool:
    """A class of the module subclasses ``cls``, or an attribute named with ``prefix`` (or
    one of ``names``) is set anywhere (``self.do_PATCH = handler``)."""
    name = cls.name.value
    for node in walk(module):
        if isinstance(node, cst.ClassDef) and any(is_plain_name(b.value, name) for b in node.bases):
            return True
        if (
            isinstance(node, cst.AssignTarget)
            and isinstance(node.target, cst.Attribute)
            and (
                (prefix and node.target.attr.value.startswith(prefix))
                or node.target.attr.value in names
            )
        ):
            return True
    return False
