"""Methods a WSGI class hands the request or the response to (``return self._preflight(environ,
start_response, origin)``, ``return self._respond(start_response, 404, data)``): found once
here, converted with the class by the wsgi-app and wsgi-middleware rules."""

from __future__ import annotations

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
    or through one another. They are part of it and become ASGI with it. A method whose name
    is used anywhere else in the module (another call, a subclass, a reference) is not one: it
    may be called as WSGI from there."""
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
    todo: list[tuple[cst.FunctionDef, str, str]] = [(call, environ, start_response)]
    while todo:
        func, environ, start_response = todo.pop()
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
                len(node.args) >= 2
                and is_plain_name(first, environ)
                and is_plain_name(node.args[1].value, start_response)
                and not method.decorators
                and len(own) >= 2
                and all(p.default is None for p in own[:2])
            ):
                role: Literal["request", "response"] = "request"
                todo_entry = (method, own[0].name.value, own[1].name.value)
            elif (
                is_plain_name(first, start_response)
                and (static or not method.decorators)
                and own
                and own[0].default is None
            ):
                role = "response"
                todo_entry = None
            else:
                continue
            handing[name] = handing.get(name, 0) + 1
            if name in found:
                if found[name].role != role:
                    mixed.add(name)  # handed the request here, the response there: not one
                continue
            found[name] = HandOff(method, role)
            if todo_entry is not None:
                todo.append(todo_entry)
    looked_up = _looked_up(module, cls, call, methods)
    for hand_off, local in looked_up:
        name = hand_off.node.name.value
        if name not in found:
            found[name] = hand_off
            handing[name] = 0
        elif found[name].role != "request":
            mixed.add(name)
        found[name] = HandOff(found[name].node, "request", local)
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
    the module or anything sets an attribute of that prefix (the lookup could find that)."""
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
        if _set_or_subclassed(module, cls, prefix):
            return []
        found.extend((HandOff(m, "request", local), local) for m in named)
    return found


def _set_or_subclassed(module: cst.Module, cls: cst.ClassDef, prefix: str) -> bool:
    """A class of the module subclasses ``cls``, or an attribute named with ``prefix`` is
    set anywhere (``self.do_PATCH = handler``)."""
    name = cls.name.value
    for node in walk(module):
        if isinstance(node, cst.ClassDef) and any(is_plain_name(b.value, name) for b in node.bases):
            return True
        if (
            isinstance(node, cst.AssignTarget)
            and isinstance(node.target, cst.Attribute)
            and node.target.attr.value.startswith(prefix)
        ):
            return True
    return False
