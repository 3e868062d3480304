"""A PEP 3333 iterable class -> a class that is an ASGI 3 app.

PEP 3333's own example of an application class::

    class AppClass:
        def __init__(self, environ, start_response):
            self.environ = environ
            self.start = start_response

        def __iter__(self):
            self.start("200 OK", [("Content-type", "text/plain")])
            yield b"Hello world!\\n"

        def close(self): ...

The server calls the class, iterates what it made, then calls its ``close()``. The ASGI
form stays a class, made an ASGI 3 app by its metaclass (``asgi_helpers.AppClass``: calling
the class with ``scope, receive, send`` makes an instance with them and awaits its
``respond``)::

    class AppClass(metaclass=asgi_helpers.AppClass):
        def __init__(self, scope, receive, send):
            pass

        async def respond(self, scope, receive, send):
            ...  # __iter__, converted as a generator app, then close() in a finally

Converted when ``__init__`` only stores the environ and start_response (and does what does
not touch them) and only ``__iter__`` uses what it stored; anything else stays WSGI.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from migrate import analysis
from migrate.analysis import is_plain_name, method_named, positional_params, stored_parameters
from migrate.cst_helpers import keyword_arg, single_statement, suite_statements
from migrate.rules.wsgi_app.common import HELPERS, Unconvertible, _stmt
from migrate.rules.wsgi_app.convert import Conversion

#: Converts the generator method made from ``__iter__``: ``(method, environ name,
#: start_response name) -> Conversion`` (the rule's own way, with what the module knows).
Convert = Callable[[cst.FunctionDef, str, str], Conversion]

_ENVIRON, _START = "environ", "start_response"


class _Stored(cst.CSTTransformer):
    """``self.<attr>`` -> a plain name, for the attributes holding the environ and
    start_response."""

    def __init__(self, self_name: str, names: dict[str, str]) -> None:
        super().__init__()
        self.self_name = self_name
        self.names = names

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        if is_plain_name(updated_node.value, self.self_name) and (
            updated_node.attr.value in self.names
        ):
            return cst.Name(self.names[updated_node.attr.value])
        return updated_node


def convert_iterable_class(cls: cst.ClassDef, convert: Convert) -> tuple[cst.ClassDef, Conversion]:
    """The ASGI form of the iterable class ``cls``, or :class:`Unconvertible`."""
    if cls.bases and not all(is_plain_name(b.value, "object") for b in cls.bases):
        raise Unconvertible("it inherits from another class")
    init, iterate = method_named(cls, "__init__"), method_named(cls, "__iter__")
    assert init is not None and iterate is not None
    params = positional_params(init) or []
    self_name = params[0].name.value
    environ, start_response = params[1].name.value, params[2].name.value
    kept_params = stored_parameters(init)
    stored: dict[str, str] = {  # attribute -> _ENVIRON / _START
        attr: _ENVIRON if param == environ else _START
        for param, (attr, _) in kept_params.items()
        if param in (environ, start_response)
    }
    storing = {
        id(stmt) for param, (_, stmt) in kept_params.items() if param in (environ, start_response)
    }
    kept: list[cst.BaseStatement] = []
    for stmt in suite_statements(init.body):
        if id(stmt) in storing:
            continue
        if analysis.mentions(stmt, environ) or analysis.mentions(stmt, start_response):
            raise Unconvertible("its __init__ uses the environ or start_response")
        kept.append(stmt)
    if _START not in stored.values():
        raise Unconvertible("its __init__ does not keep start_response for __iter__")
    if len(stored) != len(set(stored.values())):
        raise Unconvertible("its __init__ keeps the environ or start_response twice")
    iter_params = positional_params(iterate) or []
    if len(iter_params) != 1 or iterate.decorators or not analysis.contains_yield(iterate.body):
        raise Unconvertible("its __iter__ is not a generator method")
    if not isinstance(cls.body, cst.IndentedBlock):
        raise Unconvertible("it is written on one line")
    methods = [s for s in cls.body.body if isinstance(s, cst.FunctionDef)]
    for method in methods:
        if method is init or method is iterate:
            continue
        if any(
            isinstance(n, cst.Attribute) and n.attr.value in stored for n in analysis.walk(method)
        ):
            raise Unconvertible(f"`{method.name.value}()` uses the environ or start_response")
    taken = {n.value for n in analysis.walk(cls) if isinstance(n, cst.Name)}
    respond = "respond"  # the name asgi_helpers.AppClass calls
    if respond in taken:
        raise Unconvertible(f"it already uses the name `{respond}`")
    if cls.keywords:
        raise Unconvertible("it has a metaclass or class keywords")
    iter_self = iter_params[0].name.value
    if any(
        isinstance(target, cst.Attribute) and target.attr.value in stored
        for target in analysis.written_targets(iterate.body)
    ):
        raise Unconvertible("its __iter__ sets what __init__ kept")
    body = iterate.body.visit(_Stored(iter_self, stored))
    assert isinstance(body, cst.IndentedBlock)
    close = method_named(cls, "close")
    if close is not None:
        # as a WSGI server does once the iteration ends, however it ends
        wrapped = _stmt(f"try:\n    pass\nfinally:\n    {iter_self}.close()\n")
        assert isinstance(wrapped, cst.Try)
        body = body.with_changes(body=[wrapped.with_changes(body=body)])
    generator = iterate.with_changes(
        name=cst.Name(respond),
        params=cst.Parameters(
            params=[
                cst.Param(cst.Name(iter_self)),
                *(cst.Param(cst.Name(n)) for n in (_ENVIRON, _START)),
            ]
        ),
        body=body,
    )
    if _ENVIRON not in stored.values() and analysis.mentions(body, _ENVIRON):
        raise Unconvertible("its __iter__ uses a name `environ` of its own")
    conversion = convert(generator, _ENVIRON, _START)
    if close is not None:
        conversion.node = _end_inside(conversion.node)
    new_init = init.with_changes(
        params=cst.Parameters(
            params=[
                cst.Param(cst.Name(self_name)),
                *(cst.Param(cst.Name(n)) for n in ("scope", "receive", "send")),
            ]
        ),
        body=init.body.with_changes(body=kept or [_stmt("pass")]),
    )
    new_body: list[cst.BaseStatement] = []
    for stmt in cls.body.body:
        if stmt is init:
            new_body.append(new_init)
        elif stmt is iterate:
            new_body.append(conversion.node.with_changes(leading_lines=iterate.leading_lines))
        else:
            new_body.append(stmt)
    conversion.details.insert(0, "an ASGI app that is still a class (asgi_helpers.AppClass)")
    if close is not None:
        conversion.details.append("close() called once the response went out")
    metaclass = keyword_arg("metaclass", cst.Attribute(cst.Name(HELPERS), cst.Name("AppClass")))
    bases = [
        b.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        for b in cls.bases
    ]
    new_class = cls.with_changes(
        body=cls.body.with_changes(body=new_body),
        bases=bases,
        keywords=[metaclass],
        lpar=cst.LeftParen(),
        rpar=cst.RightParen(),
    )
    return new_class, conversion


def _end_inside(func: cst.FunctionDef) -> cst.FunctionDef:
    """The end of the body sent before ``close()``, as a WSGI server finishes the response
    before it closes the iterable: ``try: ... finally: self.close()`` followed by the last
    ``await send(...)`` gets that send at the end of its ``try``."""
    body = func.body
    assert isinstance(body, cst.IndentedBlock)
    stmts = list(body.body)
    if (
        len(stmts) >= 2
        and isinstance(stmts[-2], cst.Try)
        and isinstance(stmts[-2].body, cst.IndentedBlock)
        and _sends_body(stmts[-1])
    ):
        try_ = stmts[-2]
        assert isinstance(try_.body, cst.IndentedBlock)
        moved = try_.with_changes(body=try_.body.with_changes(body=[*try_.body.body, stmts[-1]]))
        stmts[-2:] = [moved]
    return func.with_changes(body=body.with_changes(body=stmts))


def _sends_body(stmt: cst.BaseStatement) -> bool:
    """``await send({"type": "http.response.body", ...})``."""
    small = single_statement(stmt)
    if not (
        isinstance(small, cst.Expr)
        and isinstance(small.value, cst.Await)
        and isinstance(call := small.value.expression, cst.Call)
        and is_plain_name(call.func, "send")
        and call.args
        and isinstance(message := call.args[0].value, cst.Dict)
    ):
        return False
    return any(
        isinstance(e, cst.DictElement)
        and analysis.string_value(e.key) == "type"
        and analysis.string_value(e.value) == "http.response.body"
        for e in message.elements
    )
