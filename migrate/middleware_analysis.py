"""Shared analysis of WSGI middleware: which definitions wrap a WSGI app, and where a module
stacks middleware around an app.

Everything here only looks at a libcst tree and never changes it. Recognition is by shape,
never by name. A WSGI middleware is

- a class with ``__init__(self, app, ...)`` that keeps ``app`` on ``self`` and a WSGI
  ``__call__(self, environ, start_response)`` that calls it with the environ::

      class Auth:
          def __init__(self, app, token):
              self.app = app
              self.token = token

          def __call__(self, environ, start_response):
              ...
              return self.app(environ, start_response)

- or a function ``mw(app, ...)`` that defines ``wrapped(environ, start_response)`` calling
  ``app(environ, ...)`` and returns it (a closure factory, also usable as ``@mw``).

The ``wsgi-app`` rule uses :func:`middleware_names` / :func:`is_middleware_stack_use` (through
:mod:`migrate.app_finding`) so that an app wrapped in (converted) middleware, ``app = Auth(inner)``
or ``@auth``, is still converted instead of being left as WSGI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import libcst as cst

from migrate import analysis, prefilter
from migrate.analysis import (
    is_plain_name,
    leading_params,
    positional_params,
    returned_name,
    walk,
)
from migrate.cst_helpers import single_statement

MiddlewareKind = Literal["class", "factory", "decorator"]

#: Does the ``wsgi-app`` rule convert a WSGI app used at the bottom of a middleware stack
#: (``app = Auth(inner)``) or decorated with middleware (``@auth``)? Yes: it does not count
#: :func:`is_middleware_stack_use` as another use and keeps decorators for which
#: :func:`only_middleware_decorators` holds; an app it leaves as WSGI is served through
#: ``adapters.WsgiToAsgi`` below the middleware. So the ``wsgi-middleware`` rule leaves the
#: bottom of a stack of this module's apps to it and converts middleware used as decorators.
WSGI_APP_CONVERTS_STACKED_APPS = True

#: Well-known third-party WSGI middleware: qualified name -> short name used in messages.
THIRD_PARTY = {
    "werkzeug.middleware.proxy_fix.ProxyFix": "ProxyFix",
    "werkzeug.contrib.fixers.ProxyFix": "ProxyFix",
    "werkzeug.middleware.dispatcher.DispatcherMiddleware": "DispatcherMiddleware",
    "werkzeug.wsgi.DispatcherMiddleware": "DispatcherMiddleware",
    "werkzeug.middleware.shared_data.SharedDataMiddleware": "SharedDataMiddleware",
    "werkzeug.wsgi.SharedDataMiddleware": "SharedDataMiddleware",
    "whitenoise.WhiteNoise": "WhiteNoise",
    "whitenoise.base.WhiteNoise": "WhiteNoise",
}

#: Paste's WSGI middleware: classes and filter factories taking the app first (the rule runs
#: them around the ASGI app through ``adapters.wsgi_middleware``). Paste's other callables
#: (test clients, apps, dispatchers, templates) are not middleware.
PASTE_MIDDLEWARE = frozenset(
    {
        "paste.auth.auth_tkt.AuthTKTMiddleware",
        "paste.auth.auth_tkt.make_auth_tkt_middleware",
        "paste.auth.basic.AuthBasicHandler",
        "paste.auth.basic.make_basic",
        "paste.auth.cas.AuthCASHandler",
        "paste.auth.cas.make_cas",
        "paste.auth.cookie.AuthCookieHandler",
        "paste.auth.cookie.make_auth_cookie",
        "paste.auth.digest.AuthDigestHandler",
        "paste.auth.digest.make_digest",
        "paste.auth.form.AuthFormHandler",
        "paste.auth.form.make_form",
        "paste.auth.grantip.GrantIPMiddleware",
        "paste.auth.grantip.make_grantip",
        "paste.auth.multi.MultiHandler",
        "paste.auth.open_id.AuthOpenIDHandler",
        "paste.auth.open_id.make_open_id_middleware",
        "paste.cgitb_catcher.CgitbMiddleware",
        "paste.cgitb_catcher.make_cgitb_middleware",
        "paste.config.ConfigMiddleware",
        "paste.config.make_config_filter",
        "paste.cowbell.MiddleBell",
        "paste.cowbell.make_bell",
        "paste.debug.prints.PrintDebugMiddleware",
        "paste.debug.profile.ProfileMiddleware",
        "paste.debug.profile.make_profile_middleware",
        "paste.debug.wdg_validate.WDGValidateMiddleware",
        "paste.errordocument.StatusBasedForward",
        "paste.errordocument.custom_forward",
        "paste.errordocument.forward",
        "paste.errordocument.make_errordocument",
        "paste.evalexception.EvalException",
        "paste.evalexception.middleware.EvalException",
        "paste.exceptions.errormiddleware.ErrorMiddleware",
        "paste.exceptions.errormiddleware.make_error_middleware",
        "paste.gzipper.middleware",
        "paste.gzipper.make_gzip_middleware",
        "paste.httpexceptions.HTTPExceptionHandler",
        "paste.httpexceptions.make_middleware",
        "paste.lint.middleware",
        "paste.lint.make_middleware",
        "paste.pony.PonyMiddleware",
        "paste.pony.make_pony",
        "paste.progress.UploadProgressMonitor",
        "paste.recursive.RecursiveMiddleware",
        "paste.registry.RegistryManager",
        "paste.session.SessionMiddleware",
        "paste.session.make_session_middleware",
        "paste.translogger.TransLogger",
        "paste.translogger.make_filter",
    }
)

#: werkzeug's ``ProxyFix`` and its settings after the app, in order: ``adapters.ProxyFix``
#: takes the same.
PROXY_FIX = "werkzeug.middleware.proxy_fix.ProxyFix"
PROXY_FIX_SETTINGS = ("x_for", "x_proto", "x_host", "x_port", "x_prefix")

#: The packages :data:`THIRD_PARTY` (and Paste's middleware) are imported from.
THIRD_PARTY_PACKAGES = frozenset({"werkzeug", "whitenoise", "paste"})


#: ASGI middleware (classes or factories taking the app first) by qualified name.
ASGI_MIDDLEWARE = frozenset(
    {
        "uvicorn.middleware.proxy_headers.ProxyHeadersMiddleware",
        "adapters.ProxyFix",
        "adapters.proxy_fix.ProxyFix",
        "servestatic.ServeStaticASGI",
        "adapters.wsgi_middleware",
        "adapters.mixed.wsgi_middleware",
    }
)


def may_hold_middleware(source: str) -> bool:
    """Cheap text test, a superset of what :func:`find_middleware` finds plus the
    third-party middleware the rule maps."""
    # third-party middleware is known by the imports naming its package (the shape stage)
    if prefilter.has_any(source, THIRD_PARTY_PACKAGES):
        return True
    if "def" not in source:
        return False
    return (
        prefilter.may_hold_wsgi_call_method(source)
        or analysis.may_hold_wsgi_app(source)
        or prefilter.may_hold_middleware_factory(source)
    )


@dataclass
class Middleware:
    """A module-level WSGI middleware definition."""

    kind: MiddlewareKind
    name: str
    node: cst.ClassDef | cst.FunctionDef
    #: The WSGI callable: the class's ``__call__`` or the factory's nested function.
    call: cst.FunctionDef
    environ: str
    start_response: str
    #: How the body spells the wrapped app: ``self.app`` or ``app``.
    inner: str
    #: The other attributes naming the app (``self.application = app`` too).
    inner_spellings: set[str] = field(default_factory=set)


def calls_inner(node: cst.CSTNode, spellings: set[str], environ: str) -> bool:
    """``node`` calls the wrapped app (one of ``spellings``) with the environ first, and
    uses what it returns: a middleware hands the app's response on (or reads it), where a
    wrapper of a signal handler or a callback, ``self.handler(signum, frame)``, drops it.
    The call is a WSGI call, two positional arguments and nothing else: a decorator that
    hands a view more (``func(environ, start_response, *args, **kwargs)``) wraps a view,
    which is no WSGI app, and is no middleware."""
    discarded = {
        id(small.value)
        for n in walk(node)
        if isinstance(n, cst.SimpleStatementLine)
        for small in n.body
        if isinstance(small, cst.Expr)
    }
    return any(
        isinstance(n, cst.Call)
        and id(n) not in discarded
        and analysis.dotted_name(n.func) in spellings
        and len(n.args) == 2
        and all(a.keyword is None and not a.star for a in n.args)
        and is_plain_name(n.args[0].value, environ)
        for n in walk(node)
    )


def _wsgi_params(func: cst.FunctionDef, *, method: bool) -> tuple[str, str] | None:
    """The request's parameters of a middleware's WSGI callable taking nothing else: what it
    would do with more (``**kwargs`` handed on to the app?) is not converted."""
    if analysis.has_extra_params(func, method=method):
        return None
    return analysis.two_params(func, method=method)


def _class_middleware(cls: cst.ClassDef) -> Middleware | None:
    init = analysis.method_named(cls, "__init__")
    call = analysis.method_named(cls, "__call__")
    if init is None or call is None:
        return None
    # the app comes first after self; what follows (options with defaults, keyword-only
    # ones, ``**kwargs``) stays as it is, as ``__init__`` does
    init_params = leading_params(init)
    if len(init_params) < 2:
        return None
    app_param = init_params[1].name.value
    self_name = init_params[0].name.value
    attrs: set[str] = set()
    for node in walk(init.body, into_scopes=False):
        if isinstance(node, cst.Assign) and is_plain_name(node.value, app_param):
            for target in node.targets:
                t = target.target
                if isinstance(t, cst.Attribute) and is_plain_name(t.value, self_name):
                    attrs.add(t.attr.value)
    if not attrs:
        return None
    sig = _wsgi_params(call, method=True)
    if sig is None:
        return None
    call_params = positional_params(call) or []
    call_self = call_params[0].name.value
    spellings = {f"{call_self}.{attr}" for attr in attrs}
    if not calls_inner(call.body, spellings, sig[0]):
        return None
    used = sorted(s for s in spellings if _mentions_dotted(call.body, s))
    return Middleware("class", cls.name.value, cls, call, sig[0], sig[1], used[0], set(spellings))


def _mentions_dotted(node: cst.CSTNode, dotted: str) -> bool:
    return any(
        isinstance(n, cst.Attribute) and analysis.dotted_name(n) == dotted for n in walk(node)
    )


def _factory_middleware(func: cst.FunctionDef) -> Middleware | None:
    if func.asynchronous is not None or not isinstance(func.body, cst.IndentedBlock):
        return None
    params = positional_params(func)
    if not params:
        return None
    app_param = params[0].name.value
    nested = {stmt.name.value: stmt for stmt in func.body.body if isinstance(stmt, cst.FunctionDef)}
    for stmt in func.body.body:
        inner = nested.get(returned_name(stmt) or "")
        if inner is None:
            continue
        sig = _wsgi_params(inner, method=False)
        if sig is not None and calls_inner(inner.body, {app_param}, sig[0]):
            return Middleware(
                "factory", func.name.value, func, inner, sig[0], sig[1], app_param, {app_param}
            )
    return None


def _decorator_factory(func: cst.FunctionDef) -> Middleware | None:
    """``def require(token): def decorator(app): def wrapped(environ, start_response): ...``:
    a function returning a closure factory (used as ``@require("x")``)."""
    if func.asynchronous is not None or not isinstance(func.body, cst.IndentedBlock):
        return None
    nested = {s.name.value: s for s in func.body.body if isinstance(s, cst.FunctionDef)}
    for stmt in func.body.body:
        name = returned_name(stmt)
        if name is not None and name in nested:
            inner = _factory_middleware(nested[name])
            if inner is not None:
                inner.kind = "decorator"
                inner.name = func.name.value
                inner.node = func
                return inner
    return None


def adapted_names(module: cst.Module, source: str = "") -> set[str]:
    """Names handed to ``wsgi_middleware(...)`` in the module (already adapted definitions).
    ``source``: the module's text, if known (a walk over the tree is spared when the word
    is not in it)."""
    found: set[str] = set()
    if source and "wsgi_middleware" not in source:
        return found
    for node in walk(module):
        if (
            isinstance(node, cst.Call)
            and analysis.dotted_name(node.func).rsplit(".", 1)[-1] == "wsgi_middleware"
            and node.args
        ):
            first = node.args[0].value
            if isinstance(first, cst.Call):  # wsgi_middleware(_require_wsgi(*args, **kwargs))
                first = first.func
            if isinstance(first, cst.Name):
                found.add(first.value)
    return found


def find_middleware(module: cst.Module, source: str = "") -> list[Middleware]:
    """The WSGI middleware defined at module level of ``module`` (not the ones an earlier run
    already adapted). ``source``: the module's text, if known (see :func:`adapted_names`)."""
    skip = adapted_names(module, source)
    found: list[Middleware] = []
    for stmt in module.body:
        mw: Middleware | None = None
        if isinstance(stmt, cst.ClassDef):
            mw = _class_middleware(stmt)
        elif isinstance(stmt, cst.FunctionDef):
            mw = _factory_middleware(stmt) or _decorator_factory(stmt)
        if mw is not None and mw.name not in skip:
            found.append(mw)
    # A wrapper handing both arguments it gets to what it wraps has the shape of middleware,
    # and so do a predicate or a view wrapper (``__call__(self, context, request)``): the
    # names of its parameters, or its own code, must say it is WSGI.
    return [
        mw
        for mw in found
        if _wsgi_parameter_names(mw) or _speaks_wsgi(module.code_for_node(mw.node))
    ]


def _speaks_wsgi(text: str) -> bool:
    """``text`` names an environ, a start_response, WSGI or a CGI/WSGI environ key."""
    return (
        "environ" in text
        or "start_response" in text
        or "wsgi" in text.lower()
        or prefilter.names_a_cgi_key(text)
    )


def _wsgi_parameter_names(mw: Middleware) -> bool:
    """The middleware's parameters are named the WSGI way (``env``, ``respond``, ``sr``...)."""
    second = mw.start_response.lower()
    return (
        mw.environ.lower().startswith("env")
        or "start" in second
        or "respon" in second
        or second in ("sr", "resp")
    )


# --------------------------------------------------------------------------- stacks


def is_asgi_middleware_class(cls: cst.ClassDef) -> bool:
    """A class with ``__init__(self, app, ...)`` and ``async def __call__(self, scope, receive,
    send)`` (what the ``wsgi-middleware`` rule produces)."""
    init = analysis.method_named(cls, "__init__")
    call = analysis.method_named(cls, "__call__")
    if init is None or call is None or call.asynchronous is None:
        return False
    call_params = positional_params(call)
    return len(leading_params(init)) >= 2 and bool(call_params and len(call_params) == 4)


def is_asgi_middleware_factory(func: cst.FunctionDef) -> bool:
    """``def mw(app, ...)`` returning a nested ``async def wrapped(scope, receive, send)``, or
    a function returning such a factory (``@require("x")``)."""
    if func.asynchronous is not None or not isinstance(func.body, cst.IndentedBlock):
        return False
    returned = {name for s in func.body.body if (name := returned_name(s)) is not None}
    if any(
        isinstance(s, cst.FunctionDef)
        and s.name.value in returned
        and s.asynchronous is None
        and is_asgi_middleware_factory(s)
        for s in func.body.body
    ):
        return True
    nested = {
        s.name.value: s
        for s in func.body.body
        if isinstance(s, cst.FunctionDef)
        and s.asynchronous is not None
        and len(positional_params(s) or []) == 3
    }
    return any(returned_name(s) in nested for s in func.body.body)


def middleware_names(module: cst.Module) -> set[str]:
    """Local names of ASGI middleware in ``module``: classes and factories of the shapes the
    ``wsgi-middleware`` rule produces, names bound to ``wsgi_middleware(...)``, and imported
    ASGI middleware (``ProxyHeadersMiddleware``, ``ServeStaticASGI``, ``Router``)."""
    names: set[str] = set(analysis.import_spellings(module, ASGI_MIDDLEWARE))
    names |= set(
        analysis.import_spellings(module, frozenset({"adapters.Router", "adapters.mixed.Router"}))
    )
    for stmt in module.body:
        if (isinstance(stmt, cst.ClassDef) and is_asgi_middleware_class(stmt)) or (
            isinstance(stmt, cst.FunctionDef) and is_asgi_middleware_factory(stmt)
        ):
            names.add(stmt.name.value)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if (
                    isinstance(small, cst.Assign)
                    and isinstance(small.value, cst.Call)
                    and analysis.dotted_name(small.value.func).rsplit(".", 1)[-1]
                    == "wsgi_middleware"
                ):
                    names.update(
                        t.target.value for t in small.targets if isinstance(t.target, cst.Name)
                    )
    return names


def _stack_arguments(expr: cst.BaseExpression, middleware: set[str]) -> set[int] | None:
    """ids of the app expressions a middleware stack ``A(B(app), ...)`` wraps, or None when
    ``expr`` is not such a stack. ``Router({"/x": app, ...})`` counts too."""
    if not isinstance(expr, cst.Call):
        return None
    callee = analysis.dotted_name(expr.func)
    if isinstance(expr.func, cst.Call) and analysis.dotted_name(expr.func.func).endswith(
        "wsgi_middleware"
    ):
        callee = "wsgi_middleware"  # wsgi_middleware(ProxyFix)(app, ...)
        middleware = middleware | {callee}
    if callee not in middleware or not expr.args:
        return None
    first = expr.args[0].value
    found: set[int] = set()
    if callee.rsplit(".", 1)[-1] == "Router" and isinstance(first, cst.Dict):
        for element in first.elements:
            if isinstance(element, cst.DictElement):
                inner = _stack_arguments(element.value, middleware)
                found |= inner if inner is not None else {id(element.value)}
        return found
    inner = _stack_arguments(first, middleware)
    return inner if inner is not None else {id(first)}


@dataclass
class StackLoop:
    """``for mw in (A, functools.partial(B, option=1), C): app = mw(app)``: a stack built
    in a loop, innermost first (what ``app = C(B(A(app), option=1))`` builds)."""

    #: the name the loop wraps and binds (``app``)
    target: str
    #: the middleware names of the layers, and the Name nodes that spell them in the loop
    layers: list[str]
    layer_nodes: set[int]


_PARTIALS = frozenset({"functools.partial", "partial"})


def stack_loop(stmt: cst.CSTNode) -> StackLoop | None:
    """``stmt`` as a :class:`StackLoop`, or None."""
    if not (
        isinstance(stmt, cst.For)
        and stmt.orelse is None
        and stmt.asynchronous is None
        and isinstance(stmt.target, cst.Name)
        and isinstance(stmt.iter, (cst.Tuple, cst.List))
        and stmt.iter.elements
        and isinstance(stmt.body, cst.IndentedBlock)
        and len(stmt.body.body) == 1
    ):
        return None
    small = single_statement(stmt.body.body[0])
    if not (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and isinstance(small.value, cst.Call)
        and is_plain_name(small.value.func, stmt.target.value)
        and len(small.value.args) == 1
        and small.value.args[0].keyword is None
        and not small.value.args[0].star
        and is_plain_name(small.value.args[0].value, small.targets[0].target.value)
    ):
        return None
    layers: list[str] = []
    nodes: set[int] = set()
    for element in stmt.iter.elements:
        value = element.value
        if isinstance(element, cst.StarredElement):
            return None
        if (
            isinstance(value, cst.Call)
            and analysis.dotted_name(value.func) in _PARTIALS
            and value.args
            and value.args[0].keyword is None
            and not value.args[0].star
        ):
            value = value.args[0].value
        if not isinstance(value, cst.Name):
            return None
        layers.append(value.value)
        nodes.add(id(value))
    return StackLoop(small.targets[0].target.value, layers, nodes)


def is_middleware_stack_use(stmt: cst.CSTNode, name: str, middleware: set[str]) -> bool:
    """``stmt`` is ``x = A(B(name, ...), ...)``: ``name`` is only the app at the bottom of a
    stack of ASGI middleware (``middleware`` from :func:`middleware_names`), or the app a
    :class:`StackLoop` of them wraps. Such a use is fine for a WSGI app that is converted to
    ASGI: the stack expects an ASGI app."""
    loop = stack_loop(stmt)
    if loop is not None:
        return loop.target == name and all(layer in middleware for layer in loop.layers)
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return False
    small = stmt.body[0]
    if not isinstance(small, cst.Assign):
        return False
    wrapped = _stack_arguments(small.value, middleware)
    if not wrapped:
        return False
    uses = [n for n in walk(small.value) if isinstance(n, cst.Name) and n.value == name]
    return bool(uses) and all(id(n) in wrapped for n in uses)


#: Servers an app may be handed whether it is WSGI or ASGI: the WSGI ones, which the server
#: rule rewrites to uvicorn, and the ASGI servers, which also serve WSGI apps.
_SERVERS_OF_EITHER = analysis.SERVER_FUNCTIONS | frozenset(
    {"uvicorn.run", "hypercorn.asyncio.serve", "hypercorn.trio.serve"}
)


@dataclass
class StackUses:
    """What :func:`stack_result_uses` found."""

    #: The statements using the app the stack builds as a WSGI app.
    statements: list[cst.CSTNode]
    #: The names bound to it (by the stack, and by stacks built on it): other modules may
    #: use them too.
    names: set[str]


def stack_result_uses(module: cst.Module, stack: cst.CSTNode, middleware: set[str]) -> StackUses:
    """The module-level statements that use what the module-level stack ``stack`` (``x =
    Mw(app, ...)``) binds, other than as the app at the bottom of another stack of
    ``middleware`` (whose names are followed in turn) or as the app handed to a server
    (:data:`_SERVERS_OF_EITHER`): code that expects a WSGI app
    there (``CGIHandler().run(x)``, ``TestApp(x)``), which the stack turning ASGI would break.
    A definition before the stack counts for its body only (it runs later)."""
    servers = set(analysis.import_spellings(module, _SERVERS_OF_EITHER))
    texts = analysis.statement_texts(module)
    position = {id(stmt): index for index, stmt in enumerate(module.body)}
    found: list[cst.CSTNode] = []
    followed: set[str] = set()
    pending = [(stack, name) for name in bound_names(stack)]
    while pending:
        origin, name = pending.pop()
        if name in followed:
            continue
        followed.add(name)
        for stmt in module.body:
            if stmt is origin or name not in texts[id(stmt)]:
                continue
            looked_at: cst.CSTNode = stmt
            if position[id(stmt)] < position[id(origin)]:
                if not isinstance(stmt, (cst.FunctionDef, cst.ClassDef)) or stmt.name.value == name:
                    continue  # ran before the stack was built, or is what it wraps
                # its body runs later; its decorators ran before (its parameters still hide
                # the name in the body, which is why the definition is kept)
                looked_at = stmt.with_changes(decorators=())
            if is_middleware_stack_use(stmt, name, middleware):
                pending.extend((stmt, bound) for bound in bound_names(stmt))
            elif analysis.mentions_outside_server_calls(looked_at, name, servers) and not any(
                stmt is seen for seen in found
            ):
                found.append(stmt)
    return StackUses(found, followed)


def bound_names(stmt: cst.CSTNode) -> list[str]:
    """The plain names a module-level ``x = y = ...`` (or a :class:`StackLoop`) assigns."""
    loop = stack_loop(stmt)
    if loop is not None:
        return [loop.target]
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
        return []
    small = stmt.body[0]
    if not isinstance(small, cst.Assign):
        return []
    return [t.target.value for t in small.targets if isinstance(t.target, cst.Name)]


def only_middleware_decorators(func: cst.FunctionDef, middleware: set[str]) -> bool:
    """``func`` is decorated, and only with ASGI middleware factories (``@auth``): once ``func``
    is ASGI the decorated name is an ASGI app."""
    return bool(func.decorators) and all(
        analysis.dotted_name(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator)
        in middleware
        for d in func.decorators
    )
