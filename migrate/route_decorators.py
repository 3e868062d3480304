"""Route decorators: a decorator of the module that turns a view taking more than the request
into a WSGI app, by handing it the request and what the route matched.

    def with_route_args(func):
        def wsgi_handler(environ, start_response):
            args, kwargs = environ.get("wsgiorg.routing_args", ((), {}))
            return func(environ, start_response, *args, **kwargs)
        wsgi_handler.__name__ = func.__name__
        return wsgi_handler

    @with_route_args
    def item_detail(environ, start_response, sku):
        ...

The name ``item_detail`` holds a WSGI app, made by the decorator; the function it decorates
is a WSGI app with extra arguments. They convert together: the app the decorator makes
(``return await func(scope, receive, send, *args, **kwargs)``) and every function it
decorates, with the decorator kept. The rule converts them only with the route table that
holds the decorated names (:mod:`migrate.route_tables`), where what calls them is known.

A decorator qualifies when it takes one parameter, defines one WSGI app (two parameters, no
decorator) that uses the parameter only in ``return param(environ, start_response, ...)``,
may set attributes on it (``wsgi_handler.__name__ = func.__name__``) and returns it; and the
module uses it only as the sole decorator of module-level functions (at least one), whose
first two parameters are the request's.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from migrate import analysis
from migrate.analysis import is_plain_name, positional_params


@dataclass(eq=False)
class RouteDecorator:
    name: str
    node: cst.FunctionDef
    #: The parameter the decorated function arrives in.
    param: str
    #: The WSGI app it makes, and that app's parameter names.
    made: cst.FunctionDef
    environ: str
    start_response: str
    #: The module-level functions it decorates, in module order.
    decorated: list[cst.FunctionDef]


def find_route_decorators(module: cst.Module) -> list[RouteDecorator]:
    found = []
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and (made := _made_app(stmt)) is not None:
            decorated = _decorated(module, stmt.name.value)
            if decorated:
                found.append(RouteDecorator(stmt.name.value, stmt, *made, decorated))
    return found


def _made_app(func: cst.FunctionDef) -> tuple[str, cst.FunctionDef, str, str] | None:
    """``(param, app, environ, start_response)`` when ``func`` is a route decorator's
    definition (see the module's docstring)."""
    params = _plain_params(func, 1)
    if params is None or not isinstance(func.body, cst.IndentedBlock):
        return None
    param = params[0].name.value
    body = list(func.body.body)
    if body and _is_docstring(body[0]):
        body = body[1:]
    apps = [s for s in body if isinstance(s, cst.FunctionDef)]
    if len(apps) != 1 or not body or analysis.returned_name(body[-1]) != apps[0].name.value:
        return None
    app = apps[0]
    name = app.name.value
    app_params = _plain_params(app, 2)
    if app_params is None:
        return None
    if not all(s is app or s is body[-1] or _sets_attribute_of(s, name) for s in body):
        return None
    environ, start_response = app_params[0].name.value, app_params[1].name.value
    if param in analysis.bound_names(app.body) or not _hands_request_only(
        app, param, environ, start_response
    ):
        return None
    return param, app, environ, start_response


def _plain_params(func: cst.FunctionDef, count: int) -> list[cst.Param] | None:
    """The ``count`` positional parameters of a sync, undecorated ``func`` that has just
    those, none with a default; else None."""
    params = positional_params(func)
    if (
        func.asynchronous is not None
        or func.decorators
        or params is None
        or len(params) != count
        or any(p.default is not None for p in params)
    ):
        return None
    return params


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _sets_attribute_of(stmt: cst.BaseStatement, name: str) -> bool:
    """``name.attr = value``, the value not mentioning ``name``."""
    assigned = analysis.attribute_assignment(stmt)
    return (
        assigned is not None
        and is_plain_name(assigned[0].value, name)
        and not analysis.mentions(assigned[1], name)
    )


def _hands_request_only(
    app: cst.FunctionDef, param: str, environ: str, start_response: str
) -> bool:
    """Every use of ``param`` in ``app`` is ``return param(environ, start_response, ...)``."""
    handed: set[int] = set()
    for node in analysis.walk(app.body):
        if not (isinstance(node, cst.Return) and isinstance(node.value, cst.Call)):
            continue
        call = node.value
        args = call.args
        if (
            is_plain_name(call.func, param)
            and len(args) >= 2
            and all(a.keyword is None and not a.star for a in args[:2])
            and is_plain_name(args[0].value, environ)
            and is_plain_name(args[1].value, start_response)
            and not any(analysis.mentions(a.value, param) for a in args[2:])
        ):
            handed.add(id(call.func))
    return bool(handed) and all(id(n) in handed for n in analysis.variable_names(app.body, param))


def _decorated(module: cst.Module, name: str) -> list[cst.FunctionDef]:
    """The module-level functions ``@name`` alone decorates, when that is every use of the
    name in the module (besides its definition); else none."""
    decorated = []
    for stmt in module.body:
        if not isinstance(stmt, cst.FunctionDef) or not any(
            is_plain_name(d.decorator, name) for d in stmt.decorators
        ):
            continue
        params = positional_params(stmt)
        if (
            len(stmt.decorators) != 1
            or stmt.asynchronous is not None
            or params is None
            or len(params) < 2
            or any(p.default is not None for p in params[:2])
        ):
            return []
        decorated.append(stmt)
    mentions = sum(1 for n in analysis.walk(module) if isinstance(n, cst.Name) and n.value == name)
    # each decorator, and the definition's own name
    return decorated if mentions == len(decorated) + 1 else []
