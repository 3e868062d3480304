"""What each module-level name holds once the module has run: a WSGI app, an ASGI app, a
maker of either (a class, a factory, a middleware), or something this analysis cannot tell.

The top-level statements are read in order, the way the interpreter runs them: ``def`` and
``class`` bind what their shape says, ``name = expr`` binds what ``expr`` makes (``App()``,
``Mw(app)``, ``WsgiToAsgi(app)``, ``functools.partial(Mw, prefix="/x")``, another name), and a
``for`` over a literal tuple or list (``for mw in (A, B): app = mw(app)``) runs once per
element. Whatever else binds a name makes it unknown. The ``__main__`` block is left out: it
serves the module's apps, it does not make them.

It also tells which names are *served*: a name holding an app that nothing else of the
module hands on (to a router, to middleware, in a table, to another name, to a function
that runs later), so it is the module's entry point, what ``uvicorn module:name`` names.
The contract is about those: after a run they hold ASGI apps. A module-level call that
takes the app to configure it and keeps it (``db = SQLAlchemy(app)``, ``CORS(app)``,
``login.init_app(app)``) does not hand it on: it got the WSGI app, and keeps that one.

Recognising a WSGI callable here does not depend on how its response is written: a plain
``def`` (or ``__call__``) of two positional parameters named the WSGI way (``environ``/``env``,
``start_response``/``sr``/``respond``...), the second one called or handed on. How its
status and headers reach ``start_response`` (a helper, a ``Headers`` object, a method of a
response class) does not matter: an app is an app by how it is called and served.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import libcst as cst

from migrate import analysis, prefilter
from migrate.analysis import (
    global_references,
    is_plain_name,
    positional_params,
    returned_name,
    walk,
)

Protocol = Literal["wsgi", "asgi"]

#: What makes an ASGI app when called, by qualified name: the adapters, the ASGI middleware
#: the wsgi-middleware rule puts in place of WSGI middleware, ASGI frameworks.
ASGI_MAKERS = frozenset(
    {
        "adapters.WsgiToAsgi", "adapters.as_asgi", "adapters.Router",
        "adapters.wsgi.WsgiToAsgi", "adapters.mixed.as_asgi", "adapters.mixed.Router",
        "asgiref.wsgi.WsgiToAsgi", "a2wsgi.WSGIMiddleware", "uvicorn.middleware.wsgi.WSGIMiddleware",
        "uvicorn.middleware.proxy_headers.ProxyHeadersMiddleware",
        "adapters.ProxyFix", "adapters.proxy_fix.ProxyFix",
        "starlette.applications.Starlette", "starlette.middleware.wsgi.WSGIMiddleware",
        "fastapi.FastAPI", "fastapi.applications.FastAPI", "quart.Quart", "quart.app.Quart",
        "django.core.asgi.get_asgi_application", "falcon.asgi.App",
        "servestatic.ServeStaticASGI", "servestatic.asgi.ServeStaticASGI",
        "adapters.asgi_helpers.app_class",
    }
)  # fmt: skip
#: What makes ASGI middleware (``Mw = wsgi_middleware(_MwWsgi)``; ``Mw(app)`` is ASGI).
ASGI_MIDDLEWARE_MAKERS = frozenset({"adapters.wsgi_middleware", "adapters.mixed.wsgi_middleware"})
#: What makes a WSGI app from an ASGI one.
WSGI_MAKERS = frozenset({"adapters.AsgiToWsgi", "adapters.as_wsgi", "adapters.mixed.as_wsgi"})
_PARTIAL = frozenset({"functools.partial"})
#: What a statement runs later, not when the module runs it.
_DEFERRED = frozenset({cst.FunctionDef, cst.Lambda, cst.GeneratorExp})
#: The WSGI server calls the ``server`` rule rewrites (into ``uvicorn.run``, or kept with the
#: app handed to them through ``adapters.as_wsgi``), by qualified name.
MAKE_SERVER = frozenset({"wsgiref.simple_server.make_server"})
RUN_SIMPLE = frozenset({"werkzeug.serving.run_simple", "werkzeug.run_simple"})
WAITRESS_SERVE = frozenset({"waitress.serve"})
BOTTLE_RUN = frozenset({"bottle.run"})
WSGI_SERVER_CALLS = MAKE_SERVER | RUN_SIMPLE | WAITRESS_SERVE | BOTTLE_RUN
#: What takes an ASGI app as it is (a server), or either kind of app (the adapters).
ASGI_CONSUMERS = frozenset(
    {
        "uvicorn.run", "uvicorn.Config", "uvicorn.config.Config", "uvicorn.main.run",
        "hypercorn.asyncio.serve", "hypercorn.trio.serve",
        "adapters.as_asgi", "adapters.mixed.as_asgi", "adapters.as_wsgi", "adapters.mixed.as_wsgi",
    }
)  # fmt: skip
#: What makes a WSGI app of a framework no rule converts (yet), by qualified name -> the
#: framework. Django is not here: its project gets an ``asgi.py`` (the framework rules).
WSGI_FRAMEWORK_MAKERS = {
    "flask.Flask": "Flask", "flask.app.Flask": "Flask",
    "falcon.App": "Falcon", "falcon.API": "Falcon", "falcon.app.App": "Falcon",
    "bottle.Bottle": "Bottle", "bottle.default_app": "Bottle", "bottle.app": "Bottle",
    "cherrypy.Application": "CherryPy", "cherrypy.tree.mount": "CherryPy",
    "webob.dec.wsgify": "WebOb", "paste.urlmap.URLMap": "Paste",
    "werkzeug.middleware.dispatcher.DispatcherMiddleware": "Werkzeug",
    "werkzeug.middleware.proxy_fix.ProxyFix": "Werkzeug",
    "werkzeug.middleware.shared_data.SharedDataMiddleware": "Werkzeug",
    "werkzeug.Request.application": "Werkzeug", "werkzeug.wrappers.Request.application": "Werkzeug",
    "werkzeug.wrappers.request.Request.application": "Werkzeug",
}  # fmt: skip
#: Methods whose result is a framework's WSGI app: Pyramid's ``config.make_wsgi_app()``,
#: web.py's ``web.application(urls, globals()).wsgifunc()``.
WSGI_MAKING_METHODS = {"make_wsgi_app": "Pyramid", "wsgifunc": "web.py"}


@dataclass(frozen=True)
class Value:
    """What a name holds: an app speaking ``protocol``, or (``maker``) a callable whose
    result is one: a class, a factory, a middleware."""

    protocol: Protocol
    maker: bool
    #: For messages: how the module made the app ("the WSGI function `app`"), or for a
    #: maker, what calling it gives ("an instance of the WSGI app class `Api`").
    how: str
    #: A maker's own name (``Api``), for what it makes.
    name: str = ""
    #: An app's middleware, innermost first (their names).
    layers: tuple[str, ...] = ()
    #: Made by a class of another module of the run that its own module may turn ASGI: it is
    #: WSGI or ASGI after the run, which only importing it tells (``adapters.as_asgi``).
    either: bool = False
    #: What made an app: the maker's name (``create_app``), for the framework rules' reasons.
    made_by: str = ""
    #: The WSGI app an adapter gives for another app (``as_wsgi(app)``, ``AsgiToWsgi(...)``):
    #: kept WSGI on purpose, for what takes a WSGI app; never served.
    wsgi_face: bool = False

    @property
    def framework(self) -> str:
        """The framework whose app this is (``Flask``, ``web.py``), if a framework's."""
        return framework_of(self.how) if not self.maker and not self.layers else ""

    @property
    def makes_framework_apps(self) -> bool:
        """A maker of a framework's apps (``create_app``, ``class ShopFlask(Flask)``)."""
        return self.maker and bool(framework_of(self.how))

    def describe(self) -> str:
        if not self.layers:
            return self.how
        names = [f"`{layer}`" for layer in self.layers]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        return f"{self.how} wrapped in {listed}" + (" (innermost first)" if len(names) > 1 else "")


#: How a framework's app is described (``a Flask app (`Flask(...)`)``, made by a factory too).
_FRAMEWORK_APP = re.compile(r"a (\S+) app \(`")


def _only_runs(stmt: cst.BaseStatement, name: str, references: Sequence[cst.Name]) -> bool:
    """Every one of ``references`` to the framework app ``name`` in ``stmt`` calls its
    ``run`` method (Bottle's, Flask's, web.py's server), at module level: the statement
    serves the app rather than builds it."""
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        return False
    runs = {
        id(node.func.value)
        for node in walk(stmt)
        if isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "run"
        and is_plain_name(node.func.value, name)
    }
    return {id(r) for r in references} <= runs


def framework_of(how: str) -> str:
    """The framework whose app ``how`` describes (``Flask``), if a framework's."""
    found = _FRAMEWORK_APP.match(how)
    return found.group(1) if found else ""


def factory_of(returned: Sequence[Value | None], name: str) -> Value | None:
    """The maker a function ``name`` is whose returns hand back ``returned`` (None: what the
    reader cannot tell), if it makes apps: every known return an app of one protocol."""
    known = [v for v in returned if v is not None]
    if not known or any(v.maker or v.protocol != known[0].protocol for v in known):
        return None
    first = known[0]
    # a return this module cannot read (Indico's ``make_app`` hands back the app of the
    # app context it is called in): of a framework's app maker, the app it makes may be
    # either kind, which only running it tells
    unknown = len(known) < len(returned)
    if unknown and not first.framework:
        return None
    how = returned_by(first.describe(), name)
    return Value(first.protocol, True, how, name, either=first.either or unknown)


def returned_by(how: str, factory: str) -> str:
    """How an app ``how`` the function ``factory`` hands back is described."""
    if " made by `" in how:  # another factory made it
        return f"{how}, returned by `{factory}()`"
    return f"{how} made by `{factory}()`"


def asgi_factory_name(factory: str) -> str:
    """The name of the ASGI factory the ``served-app`` rule puts beside a WSGI app factory
    (``create_app`` → ``create_asgi_app``; the deployment rule serves it in its place)."""
    return f"{factory[:-4]}_asgi_app" if factory.endswith("_app") else f"{factory}_asgi"


@dataclass(frozen=True)
class Served:
    """A module-level name that holds a WSGI app nothing else in the module uses."""

    name: str
    value: Value
    #: The last top-level statement that binds the name or uses it (``app.add(...)``):
    #: after it, the name holds its final app.
    final_at: cst.BaseStatement
    #: The top-level statement that binds the name last.
    bound_at: cst.BaseStatement


def may_make_wsgi_apps(source: str) -> bool:
    """Cheap text test: could ``source`` bind a name to a WSGI app this module reads (a
    WSGI callable, a framework's app maker named, or an entry point calling an app factory
    of another module: ``app = create_app()``, under a name apps go by)?"""
    return (
        prefilter.may_hold_wsgi_callable(source)
        or may_name_a_framework(source)
        or _ENTRY_POINT.search(source) is not None
    )


#: ``app = create_app()``, ``application = make_app(settings)``, ``wsgi_app = pkg.main()``.
_ENTRY_POINT = re.compile(r"^(?:\w*app\w*|api|wsgi)\s*=\s*[\w.]+\(", re.MULTILINE)


def may_name_a_framework(source: str) -> bool:
    """Cheap text test: ``source`` may call a framework's WSGI app maker."""
    return any(word in source for word in _FRAMEWORK_WORDS)


_FRAMEWORK_WORDS = frozenset(
    {q.split(".")[0] for q in WSGI_FRAMEWORK_MAKERS} | set(WSGI_MAKING_METHODS)
)


# --------------------------------------------------------------------------- shapes


def _named_the_wsgi_way(environ: str, start_response: str) -> bool:
    second = start_response.lower()
    return (
        environ.lower().startswith("env")
        or "start" in second
        or "respon" in second
        or second in ("sr", "resp")
    )


def _starts_a_response(body: cst.CSTNode, environ: str, start_response: str) -> bool:
    """``start_response(status, headers...)``: called with two or more positional arguments,
    the first of them not the environ (that is a call of an app)."""
    for node in walk(body):
        if isinstance(node, cst.Call) and is_plain_name(node.func, start_response):
            positional = [a.value for a in node.args if a.keyword is None and not a.star]
            if len(positional) >= 2 and not is_plain_name(positional[0], environ):
                return True
    return False


def wsgi_params(func: cst.FunctionDef, *, method: bool) -> tuple[str, str] | None:
    """``(environ, start_response)`` of a WSGI callable: a plain ``def`` a server can call
    with two positional arguments (after ``self``: :func:`analysis.wsgi_call_params`), named
    the WSGI way, the second one called or handed to a call (so a wrapper of ``def
    on_event(event, callback)`` is not one unless its names say WSGI)."""
    params = analysis.two_params(func, method=method)
    if params is None:
        return None
    environ, start_response = params
    if not _named_the_wsgi_way(environ, start_response):
        return None
    if analysis.has_extra_params(func, method=method) and not _starts_a_response(
        func.body, environ, start_response
    ):
        # more parameters make a helper likelier (werkzeug's ``wrap_file(environ, file,
        # buffer_size=8192)``, Paste's ``intercept_output(environ, application, ...)``
        # calling ``application(environ, ...)``): such an app starts its response itself
        return None
    for node in walk(func.body):
        if isinstance(node, cst.Call) and (
            is_plain_name(node.func, start_response)
            or any(is_plain_name(arg.value, start_response) for arg in node.args)
        ):
            return environ, start_response
    return None


def is_asgi_callable(func: cst.FunctionDef, *, method: bool) -> bool:
    """``async def app(scope, receive, send)`` (after ``self``)."""
    params = positional_params(func)
    return (
        func.asynchronous is not None and params is not None and len(params) == (4 if method else 3)
    )


def _nested_app(func: cst.FunctionDef) -> Protocol | None:
    """The protocol of the app a factory or closure middleware defines and returns."""
    if not isinstance(func.body, cst.IndentedBlock):
        return None
    returned = {name for s in func.body.body if (name := returned_name(s)) is not None}
    for stmt in func.body.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value in returned:
            if is_asgi_callable(stmt, method=False):
                return "asgi"
            if wsgi_params(stmt, method=False) is not None:
                return "wsgi"
            made = _nested_app(stmt)  # def require(token): def decorator(app): ...
            if made is not None:
                return made
    return None


def definition_value(stmt: cst.FunctionDef | cst.ClassDef) -> Value | None:
    """What a ``def`` or ``class`` statement binds its name to, when it is an app or a maker
    of apps (decorators aside)."""
    name = stmt.name.value
    if isinstance(stmt, cst.ClassDef):
        if any(
            a.keyword is not None
            and a.keyword.value == "metaclass"
            and analysis.dotted_name(a.value) in ("asgi_helpers.AppClass", "AppClass")
            for a in stmt.keywords
        ):
            # a converted PEP 3333 iterable class: the class itself is the app
            return Value("asgi", False, f"the ASGI app class `{name}` (asgi_helpers.AppClass)")
        call = analysis.method_named(stmt, "__call__")
        if call is not None and is_asgi_callable(call, method=True):
            return Value("asgi", True, f"an instance of the ASGI app class `{name}`", name)
        if call is not None and wsgi_params(call, method=True) is not None:
            return Value("wsgi", True, f"an instance of the WSGI app class `{name}`", name)
        if analysis.is_iterable_app_class(stmt):
            return Value("wsgi", False, f"the PEP 3333 iterable class `{name}`")
        return None
    if is_asgi_callable(stmt, method=False):
        return Value("asgi", False, f"the ASGI function `{name}`")
    if wsgi_params(stmt, method=False) is not None:
        return Value("wsgi", False, f"the WSGI function `{name}`")
    made = _nested_app(stmt)
    if made is not None:
        return Value(made, True, f"the {made.upper()} app the factory `{name}` makes", name)
    return None


# --------------------------------------------------------------------------- the module


def _unrolled(loop: cst.For) -> list[cst.BaseExpression] | None:
    """The elements of ``for x in (A, B, C):`` over a literal tuple or list, whose body
    only assigns (what the loop means once per element), else None."""
    if loop.orelse is not None or not isinstance(loop.target, cst.Name):
        return None
    if not isinstance(loop.iter, (cst.Tuple, cst.List)):
        return None
    if any(isinstance(e, cst.StarredElement) for e in loop.iter.elements):
        return None
    body = loop.body
    if not isinstance(body, cst.IndentedBlock) or not all(
        isinstance(s, cst.SimpleStatementLine) and all(isinstance(x, cst.Assign) for x in s.body)
        for s in body.body
    ):
        return None
    return [e.value for e in loop.iter.elements]


class ModuleValues:
    """Reads a module's top-level statements once (see the module docstring)."""

    def __init__(
        self,
        module: cst.Module,
        imported: Callable[[str], Value | None] | None = None,
        *,
        until: cst.CSTNode | None = None,
    ) -> None:
        """``until``: stop before that top-level statement (what the names hold there)."""
        self.module = module
        #: What a dotted name imported from another module of the run makes when called
        #: (an app factory there), if known.
        self.imported = imported
        self.env: dict[str, Value | None] = {}
        #: What each return of each module-level function gives, in order (None: unknown).
        self.returns: dict[str, list[Value | None]] = {}
        #: name -> the top-level statement that bound it last.
        self.bound_at: dict[str, cst.BaseStatement] = {}
        qualified = (
            ASGI_MAKERS
            | ASGI_MIDDLEWARE_MAKERS
            | WSGI_MAKERS
            | _PARTIAL
            | set(WSGI_FRAMEWORK_MAKERS)
        )
        self._spellings = analysis.import_spellings(module, qualified)
        self._consumers: dict[str, str] | None = None
        for stmt in module.body:
            if stmt is until:
                break
            if not analysis._is_main_guard(stmt):
                self._run(stmt, self.env)

    # -- reading -----------------------------------------------------------------------

    def _run(self, stmt: cst.BaseStatement, env: dict[str, Value | None]) -> None:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            value = definition_value(stmt)
            if value is None and isinstance(stmt, cst.FunctionDef):
                value = self._factory_value(stmt, env)
            if value is None and isinstance(stmt, cst.ClassDef):
                value = self._inherited(stmt, env)
            for decorator in reversed(stmt.decorators):
                made = self._decorated_app(decorator.decorator)
                if made is not None:
                    value = made
                    continue
                value = self._apply(self.eval(decorator.decorator, env), value, decorator.decorator)
            self._bind(env, stmt.name.value, value, stmt)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self._run_small(small, env, stmt)
        elif isinstance(stmt, cst.For) and (elements := _unrolled(stmt)) is not None:
            assert isinstance(stmt.target, cst.Name) and isinstance(stmt.body, cst.IndentedBlock)
            for element in elements:
                self._bind(env, stmt.target.value, self.eval(element, env), stmt)
                for line in stmt.body.body:
                    assert isinstance(line, cst.SimpleStatementLine)
                    for small in line.body:
                        self._run_small(small, env, stmt)
        elif isinstance(stmt, cst.With) and isinstance(stmt.body, cst.IndentedBlock):
            # ``with Configurator() as config: ...; app = config.make_wsgi_app()`` (Pyramid):
            # its names are the module's, bound once the block has run
            for item in stmt.items:
                if item.asname is not None:
                    self._bind_target(env, item.asname.name, None, stmt)
            for line in stmt.body.body:
                if isinstance(line, cst.SimpleStatementLine):
                    for small in line.body:
                        self._run_small(small, env, stmt)
                else:
                    for name in analysis.bound_names(line):
                        self._bind(env, name, None, stmt)
        elif isinstance(stmt, cst.If) and isinstance(stmt.body, cst.IndentedBlock):
            # ``if DEBUG: app = Mw(app)``: what both ways give, where they agree
            taken, other = dict(env), dict(env)
            for line in stmt.body.body:
                self._run(line, taken)
            orelse = stmt.orelse
            if isinstance(orelse, cst.If):
                self._run(orelse, other)
            elif isinstance(orelse, cst.Else) and isinstance(orelse.body, cst.IndentedBlock):
                for line in orelse.body.body:
                    self._run(line, other)
            for name in {*taken, *other}:
                a, b = taken.get(name), other.get(name)
                if a is not env.get(name) or b is not env.get(name):
                    same = (
                        a is not None
                        and b is not None
                        and (a.protocol, a.maker) == (b.protocol, b.maker)
                    )
                    self._bind(env, name, a if same else None, stmt)
        else:
            for name in analysis.bound_names(stmt):
                self._bind(env, name, None, stmt)

    def _decorated_app(self, decorator: cst.BaseExpression) -> Value | None:
        """What a framework's decorator makes of a view: a WSGI app (``@wsgify``,
        ``@wsgify(RequestClass=...)``, werkzeug's ``@Request.application``)."""
        spelled = decorator.func if isinstance(decorator, cst.Call) else decorator
        framework = WSGI_FRAMEWORK_MAKERS.get(self._qualified(spelled) or "")
        if framework is None:
            return None
        return Value("wsgi", False, f"a {framework} app (`@{analysis.dotted_name(spelled)}`)")

    def _inherited(self, cls: cst.ClassDef, env: dict[str, Value | None]) -> Value | None:
        """A class without a ``__call__`` of its own whose one base is an app class (a
        framework's, one of the module, or one another module of the run may still leave
        WSGI): its instances are what the base's are."""
        if not cls.bases or analysis.method_named(cls, "__call__") is not None:
            return None
        name = cls.name.value
        frameworks = [
            (arg.value, framework)
            for arg in cls.bases
            if (framework := WSGI_FRAMEWORK_MAKERS.get(self._qualified(arg.value) or ""))
        ]
        if len(frameworks) == 1:
            # ``class ShopFlask(Flask)``, ``class IndicoFlask(PluginFlaskMixin, Flask)``: its
            # instances are Flask apps
            base, framework = frameworks[0]
            spelled = analysis.dotted_name(base)
            return Value("wsgi", True, f"a {framework} app (`{name}(...)`, a `{spelled}`)", name)
        if len(cls.bases) != 1:
            return None
        base = cls.bases[0].value
        found = self.eval(base, env)
        if found is None and self.imported is not None:
            found = self.imported(analysis.dotted_name(base) or "")
        if found is None or not found.maker:
            return None
        return Value(
            found.protocol, True, f"an instance of `{name}`, {found.how}", name, either=found.either
        )

    def _factory_value(self, func: cst.FunctionDef, env: dict[str, Value | None]) -> Value | None:
        """A function whose every ``return`` hands back an app of one protocol (``def
        create_app(): app = Flask(__name__); ...; return app``) is a maker of such apps."""
        if func.asynchronous is not None or not isinstance(func.body, cst.IndentedBlock):
            return None
        returned = [
            node.value
            for node in walk(func.body, into_scopes=False)
            if isinstance(node, cst.Return)
        ]
        if not returned or any(value is None for value in returned):
            return None
        local = dict(env)
        params = func.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            local[param.name.value] = None
        for stmt in func.body.body:
            self._run(stmt, local)
        values = [self.eval(value, local) for value in returned if value is not None]
        self.returns[func.name.value] = values
        return factory_of(values, func.name.value)

    def factories(self) -> dict[str, Value]:
        """The module-level functions that make apps, and the subclasses of a framework's
        app class (``class IndicoFlask(Flask)``): what other modules may import."""
        return {
            name: value
            for name, value in self.env.items()
            if value is not None
            and value.maker
            and (
                isinstance(self.bound_at.get(name), cst.FunctionDef)
                or (
                    isinstance(self.bound_at.get(name), cst.ClassDef) and value.makes_framework_apps
                )
            )
        }

    def _run_small(
        self, small: cst.BaseSmallStatement, env: dict[str, Value | None], stmt: cst.BaseStatement
    ) -> None:
        if isinstance(small, cst.Assign):
            value = self.eval(small.value, env)
            for target in small.targets:
                self._bind_target(env, target.target, value, stmt)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self._bind_target(env, small.target, self.eval(small.value, env), stmt)
        else:
            for name in analysis.bound_names(small):
                self._bind(env, name, None, stmt)

    def _bind_target(
        self,
        env: dict[str, Value | None],
        target: cst.BaseExpression,
        value: Value | None,
        stmt: cst.BaseStatement,
    ) -> None:
        if isinstance(target, cst.Name):
            self._bind(env, target.value, value, stmt)
        elif isinstance(target, (cst.Tuple, cst.List)):  # a, b = ...
            for name in {n.value for n in walk(target) if isinstance(n, cst.Name)}:
                self._bind(env, name, None, stmt)
        # x.attr = ..., x[key] = ...: x is the same object

    def _bind(
        self, env: dict[str, Value | None], name: str, value: Value | None, stmt: cst.BaseStatement
    ) -> None:
        env[name] = value
        if env is self.env:
            self.bound_at[name] = stmt

    # -- values ------------------------------------------------------------------------

    def _qualified(self, node: cst.BaseExpression) -> str | None:
        return self._spellings.get(analysis.dotted_name(node))

    def eval(
        self, expr: cst.BaseExpression, env: dict[str, Value | None] | None = None
    ) -> Value | None:
        """What ``expr`` makes, at this point of the module."""
        env = self.env if env is None else env
        if isinstance(expr, cst.Name):
            return env.get(expr.value)
        if not isinstance(expr, cst.Call):
            return None
        qualified = self._qualified(expr.func)
        if qualified in ASGI_MAKERS:
            return Value("asgi", False, f"`{analysis.dotted_name(expr.func)}(...)`")
        if qualified in WSGI_MAKERS:
            return Value("wsgi", False, f"`{analysis.dotted_name(expr.func)}(...)`", wsgi_face=True)
        if qualified in ASGI_MIDDLEWARE_MAKERS:
            return Value("asgi", True, "ASGI middleware made by adapters.wsgi_middleware")
        if qualified in WSGI_FRAMEWORK_MAKERS:
            framework = WSGI_FRAMEWORK_MAKERS[qualified]
            return Value(
                "wsgi", False, f"a {framework} app (`{analysis.dotted_name(expr.func)}(...)`)"
            )
        if isinstance(expr.func, cst.Attribute) and expr.func.attr.value in WSGI_MAKING_METHODS:
            method = expr.func.attr.value
            # ``config.make_wsgi_app()``; ``web.application(...).wsgifunc()`` has no dotted name
            dotted = analysis.dotted_name(expr.func)
            spelled = dotted if dotted and not dotted.startswith(".") else method
            return Value("wsgi", False, f"a {WSGI_MAKING_METHODS[method]} app (`{spelled}()`)")
        if qualified in _PARTIAL:
            inner = self.eval(expr.args[0].value, env) if expr.args else None
            return inner if inner is not None and inner.maker else None
        argument = self.eval(expr.args[0].value, env) if expr.args else None
        maker = self.eval(expr.func, env)
        if maker is None and self.imported is not None:
            maker = self.imported(analysis.dotted_name(expr.func))
        return self._apply(maker, argument, expr.func)

    def _apply(
        self, maker: Value | None, argument: Value | None, spelled: cst.BaseExpression
    ) -> Value | None:
        """What calling ``maker`` gives (an instance of a class, what a factory or a
        middleware returns)."""
        if maker is None or not maker.maker:
            return None
        name = maker.name or analysis.dotted_name(spelled) or "it"
        if argument is not None and not argument.maker:  # middleware around an app
            return Value(
                maker.protocol,
                False,
                argument.how,
                layers=(*argument.layers, name),
                either=maker.either or argument.either,
            )
        return Value(maker.protocol, False, maker.how, either=maker.either, made_by=maker.name)

    # -- answers -----------------------------------------------------------------------

    def served_wsgi_apps(self) -> list[Served]:
        """The names holding a WSGI app once the module has run that no code of the module
        hands on: the module's WSGI entry points, each with the statement after which it
        holds its final app."""
        body = [s for s in self.module.body if not analysis._is_main_guard(s)]
        place = {id(s): i for i, s in enumerate(body)}
        found: list[Served] = []
        for name, value in self.env.items():
            if value is None or value.maker or value.protocol != "wsgi" or value.wsgi_face:
                continue
            final = place[id(self.bound_at[name])]
            used = self._final_uses(name, body, final)
            if used is not None:
                found.append(Served(name, value, body[max(final, used)], body[final]))
        return found

    def _final_uses(self, name: str, body: Sequence[cst.BaseStatement], final: int) -> int | None:
        """Where the last statement touching ``name``'s final app through an attribute only
        (``app.add(...)``) stands, ``final`` if none; None when some code hands the app on
        or reads it otherwise (a function at request time, a later statement)."""
        last = final
        # extensions register on a framework's app; a raw WSGI app handed to a call is
        # wrapped by it (``wsgi_app = middleware(simple_app)``)
        value = self.env.get(name)
        registrable = value is not None and bool(value.framework)
        for index, stmt in enumerate(body):
            references = global_references(stmt, name)
            if not references or stmt is body[final]:
                continue
            bases = {
                id(node.value)
                for node in walk(stmt)
                if isinstance(node, cst.Attribute) and is_plain_name(node.value, name)
            }
            plain = [r for r in references if id(r) not in bases]
            if registrable and not plain and _only_runs(stmt, name, references):
                continue  # ``app.run(...)``: serves the app built so far, after the wrap
            defined = stmt if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)) else None
            definition = defined is not None
            if plain and defined is not None and defined.name.value == name:
                continue  # its own definition
            if plain and definition:
                # read when a function runs, after the wrap: served-app hands each the app
                # it got before (``helper(as_wsgi(app))``)
                later = analysis.deferred_reads(stmt, name)
                if later is not None and {id(r) for r in plain} <= {id(r) for r in later}:
                    plain = []
            if plain:
                if index < final and not definition:
                    continue  # it saw an earlier app under the name
                if (
                    index > final
                    and not definition
                    and registrable
                    and self._registers(stmt, plain)
                ):
                    last = index  # ``db = SQLAlchemy(app)``: it configures the app
                    continue
                return None  # handed on; a function sees the final app when it runs
            # ``app.add(...)``, ``@app.route(...)``, ``app.config[...]`` in a view: the
            # adapter hands attributes on to the app it serves, so they keep working; at
            # module level they build the app, which must be complete before it is served
            decorators = defined.decorators if defined is not None else ()
            builds = not definition or any(global_references(d, name) for d in decorators)
            if index > final and builds:
                last = index
        return last

    def _registers(self, stmt: cst.BaseStatement, references: Sequence[cst.Name]) -> bool:
        """Every one of ``references`` is an argument of a call ``stmt`` makes when it runs
        that keeps the app it is given rather than making an app of it: an extension
        registering itself (``db = SQLAlchemy(app)``, ``Migrate(app, db)``, ``CORS(app)``,
        ``login.init_app(app)``); or the value of an alias (``app = application``). It got
        the WSGI app, and keeps it, whatever the name holds later; calls in a function or
        lambda run later and see the final binding. Not a call making an app of it
        (middleware, a router: the app it makes is the entry point), nor a server or an
        adapter taking it as it is."""
        wanted = {id(r) for r in references}
        found: set[int] = set()
        stack: list[cst.CSTNode] = [stmt]
        while stack:
            node = stack.pop()
            if type(node) in _DEFERRED:
                continue
            if (
                type(node) is cst.Assign
                and id(node.value) in wanted
                and all(type(t.target) is cst.Name for t in node.targets)
            ):
                found.add(id(node.value))  # an alias: served with the name, if it is served
            elif type(node) is cst.Call:
                given = {id(a.value) for a in node.args} & wanted
                if given:
                    if self.takes_app_as_is(node) or self.eval(node) is not None:
                        return False
                    found |= given
            stack.extend(analysis.children_of(node))
        return found == wanted

    def takes_app_as_is(self, call: cst.Call) -> bool:
        """``call`` takes an app as it is: an ASGI server, an adapter, or a server call the
        ``server`` rule rewrites (it gets the app as the module names it)."""
        if self._consumers is None:
            self._consumers = analysis.import_spellings(
                self.module, WSGI_SERVER_CALLS | ASGI_CONSUMERS
            )
        return analysis.dotted_name(call.func) in self._consumers
