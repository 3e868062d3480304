"""Methods a WSGI class hands the request or the response to (``return self._preflight(environ,
start_response, origin)``, ``return self._respond(start_response, 404, data)``): found once
here, converted with the class by the wsgi-app and wsgi-middleware rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import libcst as cst

from migrate import analysis
from migrate.analysis import is_plain_name, positional_params, walk


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
            taken = positional_params(method)
            if method.asynchronous is not None or taken is None:
                continue
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
