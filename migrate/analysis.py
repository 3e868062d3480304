"""Shared analysis of WSGI code: the shape of a WSGI callable, and how ``environ`` is used
(which names of a module are apps, and how the module uses them: :mod:`migrate.app_finding`).

Everything here only looks at a libcst tree and never changes it. Recognition is by shape,
never by name: a WSGI callable takes two positional parameters (after ``self`` for a
method) and calls the second one with a status and headers, whatever they are called::

    def app(env, respond):                      # environ="env", start_response="respond"
        respond("200 OK", [("Content-Type", "text/plain")])
        return [b"hi"]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import libcst as cst

from migrate import cst_children, prefilter
from migrate.wsgi_keys import is_known_key

# --------------------------------------------------------------------------- text prefilter


def may_hold_wsgi_app(source: str) -> bool:
    """Cheap text test: could ``source`` define a WSGI application? A superset of what
    :func:`find_apps` finds (see :func:`migrate.prefilter.may_hold_wsgi_callable`)."""
    return prefilter.may_hold_wsgi_callable(source)


# --------------------------------------------------------------------------- small tree helpers

_SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
# libcst's node classes are ABCs, and isinstance() on an ABC runs Python code: the walks
# below, run over every node many times, test the exact type (these classes have no
# subclasses).
_SCOPE_TYPES = frozenset(_SCOPES)


def forget_trees() -> None:
    """Drop what the analyses remember about the trees they walked (one file's worth)."""
    _STATEMENTS.clear()
    _TEXTS.clear()
    _READ_ONLY_HELPERS.clear()
    _BINDINGS.clear()
    prefilter.forget_tree()


def children_of(node: cst.CSTNode) -> Sequence[cst.CSTNode]:
    """``node.children`` (in source order), read from the node's fields: the analyses walk
    the same subtrees many times, and libcst builds a copy of the node each time it is asked
    (see :mod:`migrate.cst_children`)."""
    return cst_children.children(node)


def walk(node: cst.CSTNode, *, into_scopes: bool = True) -> Iterator[cst.CSTNode]:
    """``node`` and all its descendants (not entering nested defs/lambdas/classes unless
    ``into_scopes``)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        children = children_of(current)
        if into_scopes:
            stack.extend(reversed(children))  # reversed, so they come off the stack in order
        else:
            stack.extend(child for child in reversed(children) if type(child) not in _SCOPE_TYPES)


def names_in(node: cst.CSTNode) -> set[str]:
    """Every identifier used as a :class:`~libcst.Name` under ``node``."""
    return {n.value for n in walk(node) if type(n) is cst.Name}


def calls_in(node: cst.CSTNode) -> list[cst.Call]:
    """Every call under ``node``, in source order."""
    return [n for n in walk(node) if type(n) is cst.Call]


def dunder_all(module: cst.Module) -> set[str] | None:
    """The names listed in a module-level ``__all__ = [...]`` / ``(...)`` (or ``+=``); None
    when the module binds no ``__all__`` (one made at run time lists nothing here)."""
    names: set[str] | None = None
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            targets: list[cst.BaseExpression] = []
            if isinstance(small, cst.Assign):
                targets = [t.target for t in small.targets]
            elif isinstance(small, (cst.AugAssign, cst.AnnAssign)):
                targets = [small.target]
            if not any(is_plain_name(t, "__all__") for t in targets):
                continue
            names = set() if names is None else names
            value = getattr(small, "value", None)
            if isinstance(value, (cst.List, cst.Tuple, cst.Set)):
                names.update(
                    text for e in value.elements if (text := string_value(e.value)) is not None
                )
    return names


def mentions(node: cst.CSTNode, name: str, *, into_scopes: bool = True) -> bool:
    return any(type(n) is cst.Name and n.value == name for n in walk(node, into_scopes=into_scopes))


def variable_names(node: cst.CSTNode, name: str) -> list[cst.Name]:
    """The Name nodes of ``name`` under ``node`` that are not attribute names (``x.name``)
    nor keyword names (``f(name=...)``)."""
    skip: set[int] = set()
    found: list[cst.Name] = []
    for sub in walk(node):
        if isinstance(sub, cst.Attribute):
            skip.add(id(sub.attr))
        elif isinstance(sub, cst.Arg) and sub.keyword is not None:
            skip.add(id(sub.keyword))
        elif type(sub) is cst.Name and sub.value == name and id(sub) not in skip:
            found.append(sub)
    return found


def argument_for(
    call: cst.Call, index: int, param: str, default: cst.BaseExpression | None = None
) -> cst.BaseExpression | None:
    """What ``call`` hands the parameter ``param`` (positional ``index`` among the call's
    arguments, or by keyword; ``default`` when not given); None when a star argument hides
    it or nothing is given."""
    if any(a.star for a in call.args):
        return None
    positional = [a for a in call.args if a.keyword is None]
    if index < len(positional):
        return positional[index].value
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == param:
            return arg.value
    return default


def attribute_of(owner: str, attr: str) -> Callable[[cst.BaseExpression], bool]:
    """Whether an expression is ``owner.attr`` (``self.routes``)."""

    def is_it(node: cst.BaseExpression) -> bool:
        return (
            isinstance(node, cst.Attribute)
            and node.attr.value == attr
            and is_plain_name(node.value, owner)
        )

    return is_it


def appended_item(
    call: cst.CSTNode, is_list: Callable[[cst.BaseExpression], bool]
) -> cst.BaseExpression | None:
    """``x`` of ``call`` when it is ``lst.append(x)`` (one positional argument) on what
    ``is_list`` says is the list; else None."""
    if not (
        isinstance(call, cst.Call)
        and isinstance(call.func, cst.Attribute)
        and call.func.attr.value == "append"
        and is_list(call.func.value)
        and len(call.args) == 1
        and not call.args[0].star
        and call.args[0].keyword is None
    ):
        return None
    return call.args[0].value


def is_plain_name(node: cst.BaseExpression, name: str | None = None) -> bool:
    """``node`` is ``name`` (or any name), without parentheses around it."""
    return isinstance(node, cst.Name) and not node.lpar and (name is None or node.value == name)


def string_value(node: cst.BaseExpression) -> str | None:
    """The value of a plain (non-f, non-bytes) string literal, else None."""
    if isinstance(node, cst.SimpleString) and "b" not in node.prefix.lower():
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(node, cst.ConcatenatedString):
        joined = node.evaluated_value
        return joined if isinstance(joined, str) else None
    return None


def contains_yield(node: cst.CSTNode) -> bool:
    """True if ``node`` holds a ``yield`` of its own (not one of a nested function)."""
    return any(isinstance(n, cst.Yield) for n in walk(node, into_scopes=False))


def returns_nothing(func: cst.FunctionDef) -> bool:
    """``func`` is no generator and none of its own ``return`` statements gives a value: what
    it does, it does to its arguments (a response helper that only starts the response)."""
    return not any(
        isinstance(n, cst.Yield) or (isinstance(n, cst.Return) and n.value is not None)
        for n in walk(func.body, into_scopes=False)
    )


_STATUS_RE = re.compile(r"[1-9][0-9][0-9](?: |$)")


def _assigned_literals(body: cst.CSTNode, name: str) -> list[cst.BaseExpression]:
    """The values assigned to ``name`` (``name = value``) under ``body``."""
    return [
        node.value
        for node in walk(body)
        if isinstance(node, cst.Assign) and any(is_plain_name(t.target, name) for t in node.targets)
    ]


def literal_text(node: cst.CSTNode) -> str | None:
    """The text between the quotes of a plain string literal, as written (escapes not
    processed), e.g. ``PATH_INFO`` for ``r"PATH_INFO"``; None for anything else."""
    if not isinstance(node, cst.SimpleString) or "b" in node.prefix.lower():
        return None
    quote = node.quote
    return node.value[len(node.prefix) + len(quote) : len(node.value) - len(quote)]


def _is_status_literal(node: cst.BaseExpression) -> bool:
    text = literal_text(node)
    return text is not None and _STATUS_RE.match(text) is not None


def _is_headers_literal(node: cst.BaseExpression) -> bool:
    """A non-empty list/tuple of 2-tuples, one of them at least named like a header
    (``("Content-Type", ...)``): a list of pairs of names is no sign of HTTP, and the
    prefilters never let one through alone (see :func:`prefilter.is_header_name`). Also
    such a literal joined to more headers: ``[("Content-Type", "text/plain")] + extra``."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        return _is_headers_literal(node.left) or _is_headers_literal(node.right)
    if not (isinstance(node, (cst.List, cst.Tuple)) and node.elements):
        return False
    pairs = [
        e.value.elements
        for e in node.elements
        if isinstance(e, cst.Element)
        and isinstance(e.value, cst.Tuple)
        and e.value.lpar
        and len(e.value.elements) == 2
    ]
    return len(pairs) == len(node.elements) and any(
        (name := literal_text(first.value)) is not None and prefilter.is_header_name(name)
        for first, _ in pairs
    )


def looks_like_response_start(
    body: cst.CSTNode, status: cst.BaseExpression, headers: cst.BaseExpression
) -> bool:
    """``status`` is a status line (``"200 OK"``) or ``headers`` a header list literal, directly
    or through a name assigned one in ``body``."""

    def check(expr: cst.BaseExpression, test: Callable[[cst.BaseExpression], bool]) -> bool:
        if test(expr):
            return True
        return isinstance(expr, cst.Name) and any(
            test(value) for value in _assigned_literals(body, expr.value)
        )

    return check(status, _is_status_literal) or check(headers, _is_headers_literal)


def calls_with_status_and_headers(body: cst.CSTNode, callee: str) -> bool:
    """True if ``callee(status, headers, ...)`` is called somewhere under ``body``."""
    for node in walk(body):
        if isinstance(node, cst.Call) and is_plain_name(node.func, callee):
            positional = [a for a in node.args if a.keyword is None and not a.star]
            if len(positional) >= 2:
                return True
    return False


def reads_cgi_keys(body: cst.CSTNode, environ: str) -> bool:
    """``environ`` is read with a CGI/WSGI key (``environ["PATH_INFO"]``, ``.get("HTTP_X")``)."""
    for node in walk(body):
        key_node = _environ_key_node(node, environ)
        key = literal_text(key_node) if key_node is not None else None
        if key is not None and (is_known_key(key) or re.fullmatch(r"wsgi\.\w+", key)):
            return True
    return False


def _environ_key_node(node: cst.CSTNode, environ: str) -> cst.BaseExpression | None:
    """The key expression of ``environ[key]``, ``environ.get(key...)``, ``key in environ``."""
    if environ_read_key(node, environ) is not None or environ_membership_key(node, environ):
        if isinstance(node, cst.Subscript):
            index = node.slice[0].slice
            return index.value if isinstance(index, cst.Index) else None
        if isinstance(node, cst.Call):
            return node.args[0].value
        if isinstance(node, cst.Comparison):
            return node.left
    return None


def has_wsgi_evidence(body: cst.CSTNode, environ: str, start_response: str) -> bool:
    """Beyond the shape: the response start looks like one (a status line or a header list),
    or the environ is read with CGI keys. Keeps ``def f(a, callback): callback(x, y)`` out."""
    for node in walk(body):
        if isinstance(node, cst.Call) and is_plain_name(node.func, start_response):
            positional = [a.value for a in node.args if a.keyword is None and not a.star]
            if len(positional) >= 2 and looks_like_response_start(body, *positional[:2]):
                return True
    return reads_cgi_keys(body, environ)


# --------------------------------------------------------------------------- recognising apps


def positional_params(func: cst.FunctionDef) -> list[cst.Param] | None:
    """The positional parameters, or None when the signature has anything else
    (``*args``, keyword-only parameters, ``**kwargs``)."""
    p = func.params
    if p.kwonly_params or p.star_kwarg is not None or isinstance(p.star_arg, cst.Param):
        return None
    return [*p.posonly_params, *p.params]


def param_names(func: cst.FunctionDef) -> set[str]:
    """Every parameter name of ``func``: positional, starred and keyword-only."""
    p = func.params
    starred = [x for x in (p.star_arg, p.star_kwarg) if isinstance(x, cst.Param)]
    return {x.name.value for x in (*p.posonly_params, *p.params, *p.kwonly_params, *starred)}


def leading_params(func: cst.FunctionDef) -> list[cst.Param]:
    """The positional parameters before ``*args`` or keyword-only ones, whatever follows
    (``__init__(self, app, *, option=1, **kwargs)`` gives self and app)."""
    return [*func.params.posonly_params, *func.params.params]


def wsgi_call_params(func: cst.FunctionDef, *, method: bool) -> tuple[cst.Param, cst.Param] | None:
    """The two parameters a server's ``app(environ, start_response)`` binds, in a plain
    ``def`` (after ``self`` for a ``method``) it can call so: the first two positional
    parameters required, every other one with a default or starred (``exc_info=None``,
    ``*args``, ``**route_args``, a keyword-only ``observer=None``)."""
    if func.asynchronous is not None:
        return None
    p = func.params
    params = [*p.posonly_params, *p.params]
    if method:
        params = params[1:]
    if len(params) < 2 or any(x.default is not None for x in params[:2]):
        return None
    if any(x.default is None for x in (*params[2:], *p.kwonly_params)):
        return None
    return params[0], params[1]


def has_extra_params(func: cst.FunctionDef, *, method: bool) -> bool:
    """``func`` takes more than the request (``def app(environ, start_response, **kw)``)."""
    p = func.params
    positional = len(p.posonly_params) + len(p.params) - (1 if method else 0)
    return (
        positional > 2
        or bool(p.kwonly_params)
        or isinstance(p.star_arg, cst.Param)
        or p.star_kwarg is not None
    )


def two_params(func: cst.FunctionDef, *, method: bool) -> tuple[str, str] | None:
    """The names of the request's parameters of a WSGI-shaped ``def``
    (:func:`wsgi_call_params`)."""
    params = wsgi_call_params(func, method=method)
    return None if params is None else (params[0].name.value, params[1].name.value)


def target_names(target: cst.CSTNode) -> set[str]:
    """Names an assignment target binds: ``a``, ``a, b``, ``*rest``; not ``a.x`` nor
    ``a[k]`` (they change an object ``a`` holds)."""
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        return {n for e in target.elements for n in target_names(e.value)}
    if isinstance(target, cst.StarredElement):
        return target_names(target.value)
    return set()


def declared_names(
    node: cst.CSTNode, kind: type[cst.Global] | type[cst.Nonlocal] = cst.Global
) -> set[str]:
    """The names the ``global`` (or ``nonlocal``) statements under ``node`` declare, not
    looking into nested scopes."""
    return {
        n.name.value
        for sub in walk(node, into_scopes=False)
        if isinstance(sub, kind)
        for n in sub.names
    }


def bound_names(node: cst.CSTNode) -> set[str]:
    """Names the code under ``node`` binds in its own scope: assignments, ``for`` and
    ``with``/``except`` ``as`` targets, walrus, ``del``, imports, ``def``/``class`` names;
    not the variables of comprehensions nor anything inside nested scopes."""
    found: set[str] = set()
    for sub in walk(node, into_scopes=False):
        if isinstance(
            sub, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign, cst.For, cst.NamedExpr, cst.Del)
        ):
            found |= target_names(sub.target)
        elif isinstance(sub, cst.AsName):
            found |= target_names(sub.name)
        elif isinstance(sub, (cst.FunctionDef, cst.ClassDef)):
            found.add(sub.name.value)
        elif isinstance(sub, cst.ImportAlias):
            asname = sub.asname.name if sub.asname is not None else None
            if isinstance(asname, cst.Name):
                found.add(asname.value)
            elif asname is None:
                found.add(dotted_name(sub.name).split(".")[0])
    return found


def _calls_param(
    func: cst.FunctionDef, index: int, call: cst.Call | None = None, skip: int = 0
) -> bool:
    """``func``'s positional parameter ``index`` is called with a status and headers. The
    status may be another parameter of ``func`` (``def respond(start_response, status,
    headers, text)``): then ``call``, a call of ``func``, must pass a status line there (its
    arguments fill the parameters after the first ``skip``: 1 for ``self.respond(...)``)."""
    params = leading_params(func)
    if index >= len(params):
        return False
    names = [p.name.value for p in params]
    for node in walk(func.body):
        if isinstance(node, cst.Call) and is_plain_name(node.func, names[index]):
            positional = [a.value for a in node.args if a.keyword is None and not a.star]
            if len(positional) < 2:
                continue
            if looks_like_response_start(func.body, *positional[:2]):
                return True
            status = positional[0]
            if call is not None and isinstance(status, cst.Name) and status.value in names:
                at = names.index(status.value) - skip
                args = call.args
                if (
                    0 <= at < len(args)
                    and not any(a.keyword is not None or a.star for a in args[: at + 1])
                    and _is_status_literal(args[at].value)
                ):
                    return True
    return False


def delegates_start_response(
    body: cst.CSTNode, start_response: str, functions: dict[str, cst.FunctionDef]
) -> bool:
    """``start_response`` is handed to a module-level function that calls it with a status
    and headers (``return json_response(start_response, "200 OK", data)``)."""
    for node in walk(body):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
            func = functions.get(node.func.value)
            if func is None:
                continue
            for index, arg in enumerate(node.args):
                if (
                    is_plain_name(arg.value, start_response)
                    and arg.keyword is None
                    and not arg.star
                    and _calls_param(func, index, node)
                ):
                    return True
    return False


#: ``responder(callee, index)``: the function the dotted ``callee`` names (imported from
#: another module) is known to take a ``start_response`` as its argument ``index``.
Responder = Callable[[str, int], bool]


def wsgi_signature(
    func: cst.FunctionDef,
    *,
    method: bool = False,
    functions: dict[str, cst.FunctionDef] | None = None,
    responder: Responder | None = None,
    cls: cst.ClassDef | None = None,
) -> tuple[str, str] | None:
    """``(environ_name, start_response_name)`` if ``func`` has the shape of a WSGI callable:
    exactly two required positional parameters (after ``self`` for a method), the second
    one called with a status and headers -- directly, or by one of the module-level
    ``functions`` it is handed to, or by a function of another module it is handed to that
    ``responder`` vouches for."""
    params = wsgi_call_params(func, method=method)
    if params is None:
        return None
    environ, start_response = params[0].name.value, params[1].name.value
    if calls_with_status_and_headers(func.body, start_response) and (
        has_wsgi_evidence(func.body, environ, start_response)
        or (cls is not None and _hands_environ_to_own_reader(func, environ, cls))
    ):
        return environ, start_response
    if functions and delegates_start_response(func.body, start_response, functions):
        return environ, start_response
    if responder is not None and _hands_to_responder(func.body, start_response, responder):
        return environ, start_response
    if cls is not None and _hands_to_own_method(
        func, start_response, cls, shape_only=reads_cgi_keys(func.body, environ)
    ):
        return environ, start_response
    return None


def _hands_environ_to_own_reader(func: cst.FunctionDef, environ: str, cls: cst.ClassDef) -> bool:
    """``environ`` is handed to a method of ``cls`` that reads it with CGI keys (``status,
    body = self.dispatch(environ, args)``, ``dispatch`` reading ``REQUEST_METHOD``): the
    evidence of a ``__call__`` whose status and headers come back from that method."""
    for _, method, index, value in _own_method_arguments(func, cls):
        params = leading_params(method)
        if (
            is_plain_name(value, environ)
            and index < len(params)
            and reads_cgi_keys(method.body, params[index].name.value)
        ):
            return True
    return False


def _hands_to_own_method(
    func: cst.FunctionDef,
    start_response: str,
    cls: cst.ClassDef,
    *,
    shape_only: bool = False,
    seen: frozenset[str] = frozenset(),
) -> bool:
    """``start_response`` is handed to a method of ``cls`` (static or not) that calls it with a
    status and headers: ``return self._respond(start_response, 404, data)``, or hands it on so
    to another one (``_not_found(start_response)`` returning ``self._json(start_response,
    "404 Not Found", ...)``). With ``shape_only`` (``func`` shows it is WSGI otherwise: it
    reads the environ with CGI keys), two positional arguments are enough
    (``start_response(self.status, self._headers())``)."""
    seen = seen | {func.name.value}
    for node, method, index, value in _own_method_arguments(func, cls):
        if not is_plain_name(value, start_response):
            continue
        static = is_static(method)
        if _calls_param(method, index, node, 0 if static else 1) or (
            shape_only and _calls_param_with_two(method, index)
        ):
            return True
        params = leading_params(method)
        if (
            not static
            and method.name.value not in seen
            and _hands_to_own_method(
                method, params[index].name.value, cls, shape_only=shape_only, seen=seen
            )
        ):
            return True
    return False


def _own_method_arguments(
    func: cst.FunctionDef, cls: cst.ClassDef
) -> Iterator[tuple[cst.Call, cst.FunctionDef, int, cst.BaseExpression]]:
    """``(call, method, parameter index, argument)`` for each positional argument of the calls
    ``self.method(...)`` of ``func`` to methods of ``cls``, up to the first keyword or starred
    one (the index counts ``self``: a static method has none)."""
    if not isinstance(cls.body, cst.IndentedBlock):
        return
    methods = {s.name.value: s for s in cls.body.body if isinstance(s, cst.FunctionDef)}
    for node, method in own_method_calls(func, methods):
        skip = 0 if is_static(method) else 1
        for at, arg in enumerate(node.args):
            if arg.keyword is not None or arg.star:
                break
            yield node, method, at + skip, arg.value


def _calls_param_with_two(func: cst.FunctionDef, index: int) -> bool:
    """``func``'s positional parameter ``index`` is called with two positional arguments."""
    params = leading_params(func)
    return index < len(params) and calls_with_status_and_headers(
        func.body, params[index].name.value
    )


def own_method_calls(
    func: cst.FunctionDef, methods: dict[str, cst.FunctionDef]
) -> Iterator[tuple[cst.Call, cst.FunctionDef]]:
    """The calls ``self.name(...)`` in the body of the method ``func`` (``self`` being its first
    parameter) of one of ``methods`` of its class (name -> definition), with that method."""
    params = leading_params(func)
    if not params:
        return
    self_name = params[0].name.value
    for node in walk(func.body):
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and is_plain_name(node.func.value, self_name)
            and node.func.attr.value in methods
        ):
            yield node, methods[node.func.attr.value]


def is_static(method: cst.FunctionDef) -> bool:
    """Decorated ``@staticmethod`` (and with nothing else): no ``self`` among its parameters."""
    return [dotted_name(d.decorator) for d in method.decorators] == ["staticmethod"]


def _hands_to_responder(body: cst.CSTNode, start_response: str, responder: Responder) -> bool:
    """``start_response`` is handed, with a status, to a function of another module that
    ``responder`` vouches for."""
    for node in walk(body):
        if isinstance(node, cst.Call):
            for at in _response_call_positions(node, {start_response}):
                callee = dotted_name(node.func)
                if callee and responder(callee, at):
                    return True
    return False


def _response_call_positions(call: cst.Call, names: set[str]) -> Iterator[int]:
    """Where one of ``names`` is handed to ``call`` as a plain positional argument, in a call
    that shows it is a response: a status line among its arguments, or a status number right
    after the name (``json_response(start_response, 404, data)``). The evidence asked of
    every app, as the prefilters look for it (a helper handed start_response with nothing
    but variables does not make an app)."""
    args = call.args
    shows_status = any(a.keyword is None and _is_status_literal(a.value) for a in args)
    for at, arg in enumerate(args):
        if (
            isinstance(arg.value, cst.Name)
            and arg.value.value in names
            and not arg.value.lpar
            and arg.keyword is None
            and not arg.star
            and (shows_status or (at + 1 < len(args) and _is_status_number(args[at + 1])))
        ):
            yield at


def _is_status_number(arg: cst.Arg) -> bool:
    value = arg.value
    return (
        arg.keyword is None
        and isinstance(value, cst.Integer)
        and value.value.isdigit()
        and 100 <= int(value.value) <= 599
    ) or (arg.keyword is None and _is_status_literal(value))


def method_named(cls: cst.ClassDef, name: str) -> cst.FunctionDef | None:
    if not isinstance(cls.body, cst.IndentedBlock):
        return None
    for stmt in cls.body.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            return stmt
    return None


def is_iterable_app_class(cls: cst.ClassDef) -> bool:
    """PEP 3333's iterable application class: ``__init__(self, environ, start_response)``
    and ``__iter__``."""
    init = method_named(cls, "__init__")
    if init is None or method_named(cls, "__iter__") is None:
        return False
    params = positional_params(init)
    if params is None or len(params) != 3 or any(p.default is not None for p in params):
        return False
    environ, start_response = params[1].name.value, params[2].name.value
    if calls_with_status_and_headers(init.body, start_response):
        return has_wsgi_evidence(init.body, environ, start_response)
    # self.start = start_response ... self.start("200 OK", headers)
    for node in walk(init.body):
        if (
            isinstance(node, cst.Assign)
            and is_plain_name(node.value, start_response)
            and len(node.targets) == 1
            and isinstance(node.targets[0].target, cst.Attribute)
        ):
            attr = node.targets[0].target.attr.value
            for call in walk(cls.body):
                if (
                    isinstance(call, cst.Call)
                    and isinstance(call.func, cst.Attribute)
                    and call.func.attr.value == attr
                    and len(call.args) >= 2
                    and looks_like_response_start(cls.body, call.args[0].value, call.args[1].value)
                ):
                    return True
    return False


AppKind = Literal["function", "callable-class", "iterable-class", "factory"]


def _is_main_guard(stmt: cst.CSTNode) -> bool:
    """``if __name__ == "__main__":`` (any string on the right)."""
    if not isinstance(stmt, cst.If) or not isinstance(stmt.test, cst.Comparison):
        return False
    test = stmt.test
    return (
        isinstance(test.left, cst.Name)
        and test.left.value == "__name__"
        and len(test.comparisons) == 1
        and isinstance(test.comparisons[0].operator, cst.Equal)
        and isinstance(test.comparisons[0].comparator, cst.SimpleString)
    )


def _single_assignment(
    stmt: cst.CSTNode,
) -> tuple[cst.BaseAssignTargetExpression, cst.BaseExpression] | None:
    """``target = value`` alone on its line, one target: (target, value)."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        return small.targets[0].target, small.value
    return None


def _name_assignment(stmt: cst.CSTNode) -> tuple[str, cst.BaseExpression] | None:
    """``name = value`` alone on its line: (name, value)."""
    assigned = _single_assignment(stmt)
    if assigned is not None and isinstance(assigned[0], cst.Name):
        return assigned[0].value, assigned[1]
    return None


def called_name(func: cst.BaseExpression) -> str | None:
    """``f`` for ``f`` and ``x.f``."""
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return None


def returned_name(stmt: cst.CSTNode) -> str | None:
    """``name`` for ``return name`` alone on its line (how a factory hands back what it
    defines), else None."""
    if (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Return)
        and isinstance(stmt.body[0].value, cst.Name)
    ):
        return stmt.body[0].value.value
    return None


def mentions_outside_server_calls(node: cst.CSTNode, name: str, servers: set[str]) -> bool:
    """``name`` (the module-level name) is used under ``node`` other than as an argument of a
    WSGI server call."""
    references = global_references(node, name)
    if not references or not servers:
        return bool(references)
    served: set[int] = set()
    for call in calls_in(node):
        if _dotted(call.func) in servers:
            served.update(id(a.value) for a in call.args if is_plain_name(a.value, name))
    return any(id(n) not in served for n in references)


def global_references(node: cst.CSTNode, name: str) -> list[cst.Name]:
    """The :class:`~libcst.Name` nodes under ``node`` that may refer to the module-level
    ``name``, in source order: not attribute names (``os.environ``), keyword names
    (``f(app=...)``), module paths of imports (``from app import routes``), nor names inside
    a function or lambda with a parameter of that name (``def Mw(app): ...``) or a local
    variable of it, which shadows it."""
    found: list[cst.Name] = []
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        # exact types: isinstance() on libcst's ABCs runs Python code
        if type(current) is cst.Name:
            if current.value == name:
                found.append(current)
        elif type(current) is cst.Attribute or type(current) is cst.Arg:
            stack.append(current.value)
        elif type(current) is cst.FunctionDef or type(current) is cst.Lambda:
            found.extend(_references_in_function(current, name))
        elif type(current) is cst.Import or type(current) is cst.ImportFrom:
            continue  # module paths (``from app import routes``): no variable is read
        else:
            stack.extend(reversed(children_of(current)))
    return found


def deferred_reads(stmt: cst.CSTNode, name: str) -> list[cst.Name] | None:
    """The :func:`global_references` to ``name`` under ``stmt`` that are read in the body of
    one of its functions or lambdas (code that runs when it is called, not with ``stmt``:
    not its decorators or defaults); None when one of them binds the module-level name
    (``global app``, then ``app = ...``; ``del app``), which changes what it holds, or calls
    it (``app(environ, start_response)``: it is used as the function it is)."""
    references = {id(ref) for ref in global_references(stmt, name)}
    found: list[cst.Name] = []
    stack: list[tuple[cst.CSTNode, cst.CSTNode | None, bool]] = [(stmt, None, False)]
    while stack:
        node, parent, deferred = stack.pop()
        if id(node) in references:
            if parent is not None and (
                _binds_name(node, parent) or (type(parent) is cst.Call and parent.func is node)
            ):
                return None
            if deferred:
                found.append(node)  # type: ignore[arg-type]
            continue
        body = node.body if type(node) is cst.FunctionDef or type(node) is cst.Lambda else None
        for child in reversed(children_of(node)):
            stack.append((child, node, deferred or child is body))
    return found


def _binds_name(name: cst.CSTNode, parent: cst.CSTNode) -> bool:
    """``name`` is bound (or declared global) where it stands, not read."""
    targets = (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor, cst.NamedExpr)
    if isinstance(parent, targets):
        return parent.target is name
    if isinstance(parent, cst.AsName):
        return parent.name is name
    return isinstance(parent, (cst.NameItem, cst.Del))


def _references_in_function(func: cst.FunctionDef | cst.Lambda, name: str) -> list[cst.Name]:
    """:func:`global_references` under a function or lambda: only in what is evaluated
    outside it (decorators and defaults) when it shadows ``name``."""
    params = func.params
    all_params = [
        *params.posonly_params,
        *params.params,
        *params.kwonly_params,
        *(p for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param)),
    ]
    if not any(p.name.value == name for p in all_params):
        inside = [ref for child in children_of(func) for ref in global_references(child, name)]
        # walking the body for its bindings costs as much as the search: only where it counts
        if not inside or not (isinstance(func, cst.FunctionDef) and _binds_locally(func, name)):
            return inside
    outside: list[cst.CSTNode] = [p.default for p in all_params if p.default is not None]
    if isinstance(func, cst.FunctionDef):
        outside = [d.decorator for d in func.decorators] + outside
    return [ref for part in outside for ref in global_references(part, name)]


def _binds_locally(func: cst.FunctionDef, name: str) -> bool:
    """``name`` is a local variable of ``func``: bound in its body (``app = ...``, ``def
    app``, ``for app in ...``, an import, ``with ... as app``, ``except ... as app``) and not
    declared ``global``, so Python makes every use of it there local. Binding forms the test
    does not know leave it False: the uses then count as uses of the module-level name."""
    local = False
    stack: list[cst.CSTNode] = list(reversed(children_of(func.body)))
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Global) and any(n.name.value == name for n in node.names):
            return False
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            local = local or node.name.value == name
            continue  # a scope of its own
        if isinstance(node, cst.Lambda):
            continue
        targets: list[cst.BaseExpression] = []
        if isinstance(node, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign, cst.For)):
            targets = [node.target]
        elif isinstance(node, cst.AsName) and isinstance(node.name, cst.Name):
            targets = [node.name]
        elif isinstance(node, cst.ImportAlias) and node.asname is None:
            local = local or dotted_name(node.name).split(".")[0] == name
        local = local or any(_target_binds(target, name) for target in targets)
        stack.extend(reversed(children_of(node)))
    return local


def _target_binds(target: cst.BaseExpression, name: str) -> bool:
    if isinstance(target, cst.Name):
        return target.value == name
    if isinstance(target, (cst.Tuple, cst.List)):
        return any(_target_binds(element.value, name) for element in target.elements)
    return False


# --------------------------------------------------------------------------- environ keys

# --------------------------------------------------------------------------- wsgiref.util

WSGIREF_READERS = frozenset({"request_uri", "application_uri"})
WSGIREF_FUNCTIONS = WSGIREF_READERS | {"shift_path_info"}


#: The statement-level nodes of a module (one entry, the last module asked about).
_STATEMENTS: list[tuple[cst.Module, list[cst.CSTNode]]] = []

# Where statements stand: the searches for imports and comment lines never need to enter an
# expression (most of a tree).
_STATEMENT_HOLDERS = (
    cst.BaseCompoundStatement,
    cst.BaseSuite,
    cst.Else,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Finally,
    cst.MatchCase,
)


def statement_nodes(module: cst.Module) -> list[cst.CSTNode]:
    """Every statement of ``module`` at any depth, and the blocks and clauses holding them
    (suites, ``else:``, ``except:``...), in source order; never an expression."""
    if _STATEMENTS and _STATEMENTS[0][0] is module:
        return _STATEMENTS[0][1]
    found: list[cst.CSTNode] = []
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if node is not module:
            found.append(node)
        if isinstance(node, cst.SimpleStatementLine):
            continue
        stack.extend(
            child
            for child in reversed(children_of(node))
            if isinstance(child, (cst.SimpleStatementLine, *_STATEMENT_HOLDERS))
        )
    _STATEMENTS[:] = [(module, found)]
    return found


_TEXTS: list[tuple[cst.Module, dict[int, str]]] = []


def statement_texts(module: cst.Module) -> dict[int, str]:
    """The code of each module-level statement of ``module``, by ``id`` (with the comment
    and blank lines above it). One code generation of the module, remembered: a name not in
    a statement's text is not in its tree, which spares walks over most statements."""
    if _TEXTS and _TEXTS[0][0] is module:
        return _TEXTS[0][1]
    texts = {id(stmt): module.code_for_node(stmt) for stmt in module.body}
    _TEXTS[:] = [(module, texts)]
    return texts


def import_statements(module: cst.Module) -> list[cst.Import | cst.ImportFrom]:
    """Every ``import``/``from ... import`` of ``module``, at any depth, in source order."""
    return [
        small
        for node in statement_nodes(module)
        if isinstance(node, cst.SimpleStatementLine)
        for small in node.body
        if isinstance(small, (cst.Import, cst.ImportFrom))
    ]


def comment_lines(module: cst.Module) -> list[str]:
    """The comments on lines of their own wherever a statement can stand: above statements,
    decorators and clauses, at the end of blocks, in the module's header and footer (where
    markers are put; comments inside expressions are not looked at)."""
    lines: list[cst.EmptyLine] = [*module.header]
    for node in statement_nodes(module):
        lines.extend(getattr(node, "leading_lines", ()))
        lines.extend(getattr(node, "footer", ()))
        for decorator in getattr(node, "decorators", ()):
            lines.extend(decorator.leading_lines)
    lines.extend(module.footer)
    return [line.comment.value for line in lines if line.comment is not None]


def import_spellings(module: cst.Module, targets: frozenset[str]) -> dict[str, str]:
    """How the module (at any depth) spells the imported objects named in ``targets``:
    local dotted spelling -> qualified name. For ``targets={"wsgiref.util.request_uri"}``,
    ``from wsgiref.util import request_uri as ru`` gives ``{"ru": ...}``, ``from wsgiref
    import util`` gives ``{"util.request_uri": ...}``, ``import wsgiref.util`` gives
    ``{"wsgiref.util.request_uri": ...}``."""
    spellings: dict[str, str] = {}
    for node in import_statements(module):
        if isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
            if node.relative or node.module is None:
                continue
            source = _dotted(node.module)
            for alias in node.names:
                imported = f"{source}.{_dotted(alias.name)}"
                local = _asname(alias) or _dotted(alias.name)
                for target in targets:
                    if target == imported:
                        spellings[local] = target
                    elif target.startswith(imported + "."):
                        spellings[local + target[len(imported) :]] = target
        elif isinstance(node, cst.Import):
            for alias in node.names:
                imported = _dotted(alias.name)
                local = _asname(alias) or imported
                for target in targets:
                    if target.startswith(imported + "."):
                        spellings[local + target[len(imported) :]] = target
    return spellings


def wsgiref_util_aliases(module: cst.Module) -> dict[str, str]:
    """How the module refers to ``wsgiref.util`` functions: local spelling -> function,
    e.g. ``{"request_uri": "request_uri", "util.shift_path_info": "shift_path_info"}``."""
    targets = frozenset(f"wsgiref.util.{fn}" for fn in WSGIREF_FUNCTIONS)
    return {
        local: qualified.rsplit(".", 1)[1]
        for local, qualified in import_spellings(module, targets).items()
    }


#: WSGI servers: the ``server`` rule rewrites their calls, so handing them an app is fine.
SERVER_FUNCTIONS = frozenset(
    {
        "wsgiref.simple_server.make_server",
        "werkzeug.serving.run_simple",
        "werkzeug.run_simple",
        "waitress.serve",
    }
)


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _asname(alias: cst.ImportAlias) -> str | None:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return None


def dotted_name(node: cst.BaseExpression) -> str:
    """``a.b.c`` for a Name/Attribute chain, else ``""``."""
    return _dotted(node)


# --------------------------------------------------------------------------- environ readers


def environ_subscript_key(node: cst.CSTNode, environ: str) -> str | None:
    """``KEY`` of ``environ[KEY]`` (a read or an assignment target), else None."""
    if (
        isinstance(node, cst.Subscript)
        and is_plain_name(node.value, environ)
        and len(node.slice) == 1
        and isinstance(node.slice[0].slice, cst.Index)
    ):
        return string_value(node.slice[0].slice.value)
    return None


def environ_read_key(node: cst.CSTNode, environ: str) -> str | None:
    """The key of a read ``environ[KEY]`` / ``environ.get(KEY[, default])``, else None."""
    if isinstance(node, cst.Subscript):
        return environ_subscript_key(node, environ)
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "get"
        and is_plain_name(node.func.value, environ)
        and 1 <= len(node.args) <= 2
        and all(a.keyword is None and not a.star for a in node.args)
    ):
        return string_value(node.args[0].value)
    return None


def environ_membership_key(node: cst.CSTNode, environ: str) -> str | None:
    """The key of ``KEY in environ`` / ``KEY not in environ``, else None."""
    if (
        isinstance(node, cst.Comparison)
        and len(node.comparisons) == 1
        and isinstance(node.comparisons[0].operator, (cst.In, cst.NotIn))
        and is_plain_name(node.comparisons[0].comparator, environ)
    ):
        return string_value(node.left)
    return None


def written_targets(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The targets code under ``node`` writes to: assignments (plain, augmented, annotated,
    walrus), ``for`` and comprehension targets, ``with``/``except`` ``as`` names, ``del``."""
    for n in walk(node):
        if isinstance(n, cst.Assign):
            yield from (t.target for t in n.targets)
        elif isinstance(n, (cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor, cst.Del)):
            yield n.target
        elif isinstance(n, cst.AsName):
            yield n.name
        elif isinstance(n, cst.NamedExpr):
            yield n.target


def _assigned_names(node: cst.CSTNode) -> set[str]:
    """Names written to under ``node`` (assignment, augmented, for/with targets, del)."""
    written: set[str] = set()
    for target in written_targets(node):
        written |= _written_in(target)
    return written


def _written_in(target: cst.CSTNode) -> set[str]:
    """The names a target writes to, or containers named so: ``a``, ``a, b``, ``a.x`` (``a``
    and ``x``), ``a[k]`` (``a``: a key only read, ``CACHE[environ["PATH_INFO"]] = page``
    writes to ``CACHE``, not to the environ)."""
    if isinstance(target, cst.Subscript):
        return _written_in(target.value)
    if isinstance(target, (cst.Tuple, cst.List)):
        return {n for e in target.elements for n in _written_in(e.value)}
    if isinstance(target, cst.StarredElement):
        return _written_in(target.value)
    return names_in(target)


def written_names(node: cst.CSTNode) -> set[str]:
    """Names (or containers named so) that code under ``node`` writes to."""
    return _assigned_names(node)


class EnvironHelpers(dict[str, set[int]]):
    """:func:`read_only_environ_helpers`: name -> indexes of environ parameters, and which of
    the helpers read the request body from it (``environ["wsgi.input"].read(size)``). The
    classes of the module that keep an environ and only read it (:func:`_environ_keeper`)
    are worked out when asked for (:meth:`indexes`): checking one takes a pass over the
    whole module."""

    body_readers: frozenset[str] = frozenset()

    def __init__(
        self,
        found: dict[str, set[int]],
        module: cst.Module | None = None,
        aliases: dict[str, str] | None = None,
    ) -> None:
        super().__init__(found)
        self._module = module
        self._aliases = aliases or {}
        self._keepers: dict[str, tuple[int, bool] | None] = {}

    def indexes(self, name: str | None) -> set[int]:
        """The positions ``name`` (a callee) takes an environ it only reads at."""
        if name is None:
            return set()
        if name in self:
            return self[name]
        kept = self._keeper(name)
        return {kept[0]} if kept is not None else set()

    def reads_body(self, name: str | None) -> bool:
        if name is None:
            return False
        kept = self._keeper(name) if name not in self else None
        return name in self.body_readers or (kept is not None and kept[1])

    def _keeper(self, name: str) -> tuple[int, bool] | None:
        if name not in self._keepers:
            self._keepers[name] = None
            module = self._module
            for cls in module.body if module is not None else ():
                if isinstance(cls, cst.ClassDef) and cls.name.value == name:
                    attributes = _environ_attributes(cls)
                    if attributes and module is not None:
                        self._keepers[name] = _environ_keeper(
                            module, cls, self, self._aliases, attributes
                        )
        return self._keepers[name]


#: Helpers of other modules the module hands an environ to, as it calls them (``user_of``,
#: ``auth.user_of``): the indexes of the parameters that only read it, and whether they read
#: the request body through one.
ImportedReaders = Mapping[str, tuple[frozenset[int], bool]]

_READ_ONLY_HELPERS: list[tuple[cst.Module, ImportedReaders, EnvironHelpers]] = []


def read_only_environ_helpers(
    module: cst.Module, imported: ImportedReaders | None = None
) -> EnvironHelpers:
    """Module-level functions that only *read* an environ they are handed: function name ->
    indexes of such positional parameters. Reads are ``p[KEY]``, ``p.get(KEY...)``,
    ``KEY in p`` of known keys and of keys middleware adds (``myapp.user``), one
    ``p["wsgi.input"].read(...)`` (a helper reading the body: :attr:`EnvironHelpers.body_readers`),
    ``wsgiref.util.request_uri(p)`` / ``application_uri(p)``, and handing ``p`` on to another
    such helper, of the module or of another module (``imported``, which the project index
    vouches for). Worked out once per module (both WSGI rules ask); the caller must not
    change what it gets."""
    imported = imported or {}
    if (
        _READ_ONLY_HELPERS
        and _READ_ONLY_HELPERS[0][0] is module
        and _READ_ONLY_HELPERS[0][1] == imported
    ):
        return _READ_ONLY_HELPERS[0][2]
    result = _read_only_environ_helpers(module, imported)
    _READ_ONLY_HELPERS[:] = [(module, imported, result)]
    return result


def _read_only_environ_helpers(module: cst.Module, imported: ImportedReaders) -> EnvironHelpers:
    from migrate import method_lookups  # it reads the module with the helpers of this one

    aliases = wsgiref_util_aliases(module)
    functions: dict[str, list[cst.FunctionDef]] = {
        stmt.name.value: [stmt]
        for stmt in module.body
        if isinstance(stmt, cst.FunctionDef) and stmt.asynchronous is None
    }
    # methods, as their class's code calls them: ``self._key_from`` (``self`` being the
    # method's own first parameter); their argument ``i`` is parameter ``i + 1``. Methods of
    # one name in two classes are one key: a call may mean either, so both must only read.
    methods: set[str] = set()
    for cls in module.body:
        if not isinstance(cls, cst.ClassDef) or not isinstance(cls.body, cst.IndentedBlock):
            continue
        for stmt in cls.body.body:
            if isinstance(stmt, cst.FunctionDef) and stmt.asynchronous is None:
                params = leading_params(stmt)
                if params and not stmt.name.value.startswith("__"):
                    key = f"{params[0].name.value}.{stmt.name.value}"
                    functions.setdefault(key, []).append(stmt)
                    methods.add(key)
    result: dict[str, set[int]] = {}
    # Optimistic fixed point: assume every candidate is read-only, drop the ones that are not.
    candidates: dict[str, set[int]] = {}
    for name, funcs in functions.items():
        skip = 1 if name in methods else 0
        # the positional parameters before any ``*args`` or keyword-only ones
        # (``def get(self, environ, **route_args)``)
        if not any(f.decorators for f in funcs):
            candidates[name] = set(range(min(len(leading_params(f)) - skip for f in funcs)))
    # ``handler = getattr(self, verb, None) if verb in VERBS else None`` in a method: a call
    # of ``handler`` is one of ``self.get``, ``self.post``... (:mod:`migrate.method_lookups`)
    lookups: dict[int, dict[str, set[str]]] = {}
    looking = [
        (name, func)
        for name in methods
        for func in functions[name]
        if any(
            isinstance(n, cst.Call) and is_plain_name(n.func, "getattr") for n in walk(func.body)
        )
    ]
    if looking:
        constants = method_lookups.constant_names(module)
        attributes = method_lookups.set_attribute_names(module)
        for name, func in looking:
            self_name = name.split(".")[0]
            looked = method_lookups.looked_up_methods(func, constants, attributes)
            lookups[id(func)] = {
                local: {f"{self_name}.{m}" for m in names if f"{self_name}.{m}" in functions}
                for local, names in looked.items()
            }
    # a method looked up so may leave the environ it is handed unused (``def get(self,
    # environ)`` answering without it)
    targets = {key for found in lookups.values() for keys in found.values() for key in keys}
    written: dict[int, set[str]] = {}  # by function, worked out for the few that only read

    def written_in(func: cst.FunctionDef) -> set[str]:
        if id(func) not in written:
            written[id(func)] = written_names(func.body)
        return written[id(func)]

    def writes(func: cst.FunctionDef, param: str) -> bool:
        return param in written_in(func)

    # the imported readers each function sees (none of its own names hides them): fixed
    visible: dict[int, dict[str, set[int]]] = {}

    def known_to(func: cst.FunctionDef) -> dict[str, set[int]]:
        known = candidates
        if imported:
            if id(func) not in visible:
                own = param_names(func) | written_in(func)
                visible[id(func)] = _visible_imports(imported, own)
            if visible[id(func)]:
                known = {**visible[id(func)], **candidates}  # the module's own come first
        looked_up = lookups.get(id(func))
        if not looked_up:
            return known
        local_calls = {
            local: set.intersection(*(candidates.get(k, set()) for k in keys))
            for local, keys in looked_up.items()
            if keys
        }
        return {**known, **local_calls}

    changed = True
    reads_body: set[str] = set()
    while changed:
        changed = False
        reads_body.clear()
        for name, indexes in candidates.items():
            skip = 1 if name in methods else 0
            for func in functions[name]:
                params = leading_params(func)
                known = known_to(func)
                for index in sorted(indexes):
                    param = params[index + skip].name.value
                    # most parameters are used otherwise than read early in the body: that test
                    # first
                    how = _only_reads(func.body, param, known, aliases, unused=name in targets)
                    if how is None or writes(func, param):
                        indexes.discard(index)
                        changed = True
                    elif how == "body":
                        reads_body.add(name)
    for name, indexes in candidates.items():
        if indexes:
            result[name] = indexes
    # a helper handing the environ on to one that reads the body reads it too
    body_readers = (set(reads_body) & set(result)) | {
        name for name, (_, body) in imported.items() if body
    }

    def calls_a_body_reader(func: cst.FunctionDef) -> bool:
        looked_up = lookups.get(id(func), {})
        for node in walk(func.body):
            if isinstance(node, cst.Call):
                callee = dotted_name(node.func)
                if callee in body_readers or looked_up.get(callee or "", set()) & body_readers:
                    return True
        return False

    grown = True
    while grown:
        grown = False
        for name in set(result) - body_readers:
            if any(calls_a_body_reader(func) for func in functions.get(name, ())):
                body_readers.add(name)
                grown = True
    found = EnvironHelpers(result, module, aliases)
    found.body_readers = frozenset(body_readers)
    return found


def _visible_imports(imported: ImportedReaders, own: set[str]) -> dict[str, set[int]]:
    """The imported readers a function may hand an environ to: those none of its ``own``
    names (parameters, locals) hides."""
    return {
        name: set(indexes)
        for name, (indexes, _) in imported.items()
        if name.split(".")[0] not in own
    }


_KEPT = "__kept_environ__"


class _KeptEnviron(cst.CSTTransformer):
    """Every ``x.attr`` -> the name :data:`_KEPT`; ``self.attr = param`` (storing the environ)
    and the class's own definition -> ``pass``/dropped: what is left reads the kept environ
    or does not."""

    def __init__(self, attr: str, store: set[int]) -> None:
        super().__init__()
        self.attr = attr
        self.store = store

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        if self.attr and original_node.attr.value == self.attr:
            return cst.Name(_KEPT)
        return updated_node

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        if id(original_node) in self.store:
            return updated_node.with_changes(body=[cst.Pass()])
        return updated_node


def self_assignments(
    init: cst.FunctionDef,
) -> list[tuple[str, cst.BaseExpression, cst.SimpleStatementLine]]:
    """``self.attr = value`` in ``__init__``'s top-level block, each alone on its line:
    ``(attr, value, statement)``."""
    params = positional_params(init) or leading_params(init)
    if not params or not isinstance(init.body, cst.IndentedBlock):
        return []
    self_name = params[0].name.value
    found = []
    for stmt in init.body.body:
        assigned = attribute_assignment(stmt)
        if (
            isinstance(stmt, cst.SimpleStatementLine)
            and assigned is not None
            and is_plain_name(assigned[0].value, self_name)
        ):
            found.append((assigned[0].attr.value, assigned[1], stmt))
    return found


def attribute_assignment(
    stmt: cst.CSTNode,
) -> tuple[cst.Attribute, cst.BaseExpression] | None:
    """``(target, value)`` for a statement that is only ``owner.attr = value``."""
    assigned = _single_assignment(stmt)
    if assigned is not None and isinstance(assigned[0], cst.Attribute):
        return assigned[0], assigned[1]
    return None


def stored_parameters(init: cst.FunctionDef) -> dict[str, tuple[str, cst.SimpleStatementLine]]:
    """The parameters ``__init__`` keeps as they are: ``self.environ = environ`` ->
    ``{"environ": ("environ", statement)}``."""
    return {
        value.value: (attr, stmt)
        for attr, value, stmt in self_assignments(init)
        if isinstance(value, cst.Name)
    }


def _environ_attributes(cls: cst.ClassDef) -> set[str]:
    """Attribute names the methods of ``cls`` read like an environ (``self.environ[
    "PATH_INFO"]``, ``self.env.get("HTTP_COOKIE")``): where it may keep one."""
    found: set[str] = set()
    for node in walk(cls.body):
        owner: cst.BaseExpression | None = None
        key: cst.BaseExpression | None = None
        if isinstance(node, cst.Subscript) and len(node.slice) == 1:
            index = node.slice[0].slice
            owner, key = node.value, index.value if isinstance(index, cst.Index) else None
        elif (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "get"
            and node.args
        ):
            owner, key = node.func.value, node.args[0].value
        if isinstance(owner, cst.Attribute) and key is not None:
            text = string_value(key)
            if text is not None and (is_known_key(text) or text.startswith("wsgi.")):
                found.add(owner.attr.value)
    return found


def _environ_keeper(
    module: cst.Module,
    cls: cst.ClassDef,
    helpers: dict[str, set[int]],
    aliases: dict[str, str],
    environ_attributes: set[str],
) -> tuple[int, bool] | None:
    """A class of the module that keeps an environ it is handed and only reads it (``class
    Request: def __init__(self, environ): self.environ = environ``, then ``self.environ.get(
    "QUERY_STRING")`` in its methods, ``req.environ["HTTP_COOKIE"]`` anywhere in the module):
    ``Request(environ)`` is then a read-only helper. ``(index of the environ argument,
    whether the body is read)``, or None. Every ``x.attr`` of the module counts as a use of
    the kept environ (attributes have no types here): each must be a read."""
    if cls.bases and not all(is_plain_name(b.value, "object") for b in cls.bases):
        return None
    init = method_named(cls, "__init__")
    params = positional_params(init) if init is not None else None
    if init is None or not params or init.decorators:
        return None
    stored = stored_parameters(init)
    for index, param in enumerate(params[1:]):
        if param.name.value not in stored:
            continue
        attr, stmt = stored[param.name.value]
        statement = id(stmt)
        if attr not in environ_attributes:
            continue
        if param.default is not None:
            continue
        kept = module.visit(_KeptEnviron(attr, {statement}))
        if _KEPT in written_names(kept):
            return None
        if any(a == attr and p != param.name.value for p, (a, _) in stored.items()):
            return None  # another parameter stored under the same name
        how = _only_reads(kept, _KEPT, helpers, aliases, unused=True)
        # the parameter itself, also read in __init__ before it is stored
        own_body = init.body.visit(_KeptEnviron("", {statement}))
        assert isinstance(own_body, cst.CSTNode)
        own = _only_reads(own_body, param.name.value, helpers, aliases, unused=True)
        if how is None or own is None or param.name.value in written_names(own_body):
            return None
        return index, how == "body" or own == "body"
    return None


def _only_reads(
    body: cst.CSTNode,
    param: str,
    helpers: dict[str, set[int]],
    aliases: dict[str, str],
    *,
    unused: bool = False,
) -> str | None:
    """How ``param`` (not written to in ``body``) is only read there (see
    :func:`read_only_environ_helpers`): ``"body"`` when the request body is read from it
    once, ``""`` for other reads (or none, with ``unused``); None when it is used otherwise."""
    allowed: set[int] = set()  # ids of Name nodes that are part of a read
    uses = 0
    # ``param["wsgi.input"].read(...)``: the one body read a helper may do
    body_reads = [
        n.func.value
        for n in walk(body)
        if isinstance(n, cst.Call)
        and isinstance(n.func, cst.Attribute)
        and n.func.attr.value == "read"
        and environ_read_key(n.func.value, param) == "wsgi.input"
    ]
    if len(body_reads) > 1:
        return None
    for node in walk(body):
        key = environ_read_key(node, param) or environ_membership_key(node, param)
        if key is not None:
            if key == "wsgi.input" and not any(node is read for read in body_reads):
                return None
            if key != "wsgi.input" and not is_known_key(key) and key.startswith("wsgi."):
                return None
            allowed.add(id(_environ_name_in(node, param)))
            continue
        if isinstance(node, cst.Call):
            callee = dotted_name(node.func)
            for index, arg in enumerate(node.args):
                if not is_plain_name(arg.value, param):
                    continue
                if (
                    arg.keyword is None
                    and not arg.star
                    and (
                        index in helpers.get(callee, set())
                        or (aliases.get(callee) in WSGIREF_READERS and index == 0)
                    )
                ):
                    allowed.add(id(arg.value))
        if isinstance(node, cst.Name) and node.value == param:
            uses += 1
            if id(node) not in allowed:
                return None
    if not uses and not unused:
        return None
    return "body" if body_reads else ""


def _environ_name_in(node: cst.CSTNode, environ: str) -> cst.CSTNode | None:
    if isinstance(node, cst.Subscript):
        return node.value
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        return node.func.value
    if isinstance(node, cst.Comparison):
        return node.comparisons[0].comparator
    return None


# --------------------------------------------------------------------------- call groups


# --------------------------------------------------------------------------- imports of the module


@dataclass(frozen=True)
class ImportBinding:
    """What a module-level import binds a local name to: ``module`` (as written, ``".x"``
    for a relative import) and the ``name`` imported from it, or None when the local name
    is the module itself (``import pkg.mod as m``; ``import pkg.mod`` binds ``pkg``)."""

    module: str
    name: str | None

    def qualified(self, attributes: Sequence[str] = ()) -> str:
        """The qualified name of the local name, then ``attributes`` (``os.path.exists`` for
        ``path.exists`` after ``from os import path``)."""
        base = self.module if self.name is None else f"{self.module}.{self.name}"
        return ".".join([base, *attributes])


def import_bindings(module: cst.Module, *, anywhere: bool = False) -> dict[str, ImportBinding]:
    """Local name -> :class:`ImportBinding`, for the imports directly at module level, or
    (``anywhere``) at any depth: in an ``if``/``try`` block too (a name imported twice maps to
    the last one; :func:`module_level_bindings` tells how often a name is bound)."""
    found: dict[str, ImportBinding] = {}
    if anywhere:
        smalls: list[cst.BaseSmallStatement] = list(import_statements(module))
    else:
        smalls = [
            small
            for stmt in module.body
            if isinstance(stmt, cst.SimpleStatementLine)
            for small in stmt.body
        ]
    for small in smalls:
        if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            source = "." * len(small.relative) + (
                _dotted(small.module) if small.module is not None else ""
            )
            for alias in small.names:
                imported = _dotted(alias.name)
                found[_asname(alias) or imported] = ImportBinding(source, imported)
        elif isinstance(small, cst.Import):
            for alias in small.names:
                dotted = _dotted(alias.name)
                local = _asname(alias)
                if local is not None:
                    found[local] = ImportBinding(dotted, None)
                else:
                    top = dotted.split(".")[0]
                    found[top] = ImportBinding(top, None)
    return found


_BINDINGS: list[tuple[cst.Module, dict[str, int]]] = []


def module_level_bindings(module: cst.Module) -> dict[str, int]:
    """How many times each module-level name is bound: defs, classes, imports (a star import
    counts for every name: ``"*"``), assignments and loop/with targets at module level (also
    inside module-level if/try/for/with blocks), and ``global`` statements in functions.
    Worked out once per module; the caller must not change what it gets."""
    if _BINDINGS and _BINDINGS[0][0] is module:
        return _BINDINGS[0][1]
    counts = _module_level_bindings(module)
    _BINDINGS[:] = [(module, counts)]
    return counts


def _module_level_bindings(module: cst.Module) -> dict[str, int]:
    counts: dict[str, int] = {}

    def bind(name: str) -> None:
        counts[name] = counts.get(name, 0) + 1

    texts = statement_texts(module)
    for stmt in module.body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)) and "import" not in texts[id(stmt)]:
            bind(stmt.name.value)  # the walk below would find nothing else (no nested defs)
        else:
            _bind_definitions_and_imports(stmt, bind)
        if not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            for name in _assigned_names(stmt) - _import_names(stmt):
                bind(name)
        if "global" in texts[id(stmt)]:
            for node in walk(stmt):
                if isinstance(node, cst.Global):
                    for item in node.names:
                        bind(item.name.value)
    return counts


def _bind_definitions_and_imports(stmt: cst.CSTNode, bind: Callable[[str], None]) -> None:
    """The defs, classes and imports under ``stmt`` (not in nested scopes) bind names."""
    for node in walk(stmt, into_scopes=False):
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            bind(node.name.value)
        elif isinstance(node, cst.ImportFrom):
            if isinstance(node.names, cst.ImportStar):
                bind("*")
            else:
                for alias in node.names:
                    bind(_asname(alias) or _dotted(alias.name))
        elif isinstance(node, cst.Import):
            for alias in node.names:
                bind(_asname(alias) or _dotted(alias.name).split(".")[0])


def _import_names(stmt: cst.CSTNode) -> set[str]:
    """The ``as`` names of the imports under ``stmt`` (:func:`_assigned_names` counts them)."""
    return {
        name
        for node in walk(stmt, into_scopes=False)
        if isinstance(node, (cst.Import, cst.ImportFrom))
        and not isinstance(node.names, cst.ImportStar)
        for alias in node.names
        if (name := _asname(alias)) is not None
    }
