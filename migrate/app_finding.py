"""The WSGI apps of a module and how the module uses them: apps (functions, classes, factories,
dispatchers) with their other uses (:func:`find_apps`), and the call groups of apps and response
helpers that hand ``start_response`` to each other (:func:`find_call_groups`).

Built on :mod:`migrate.analysis` (the tree helpers and the shape of a WSGI callable) and on
:mod:`migrate.middleware_analysis` (which names are ASGI middleware, what a stack is): an app
at the bottom of a stack of ASGI middleware is not "used otherwise"."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import libcst as cst

from migrate import analysis, middleware_analysis
from migrate.analysis import (
    SERVER_FUNCTIONS,
    AppKind,
    Responder,
    _assigned_names,
    _calls_param,
    _dotted,
    _is_main_guard,
    _name_assignment,
    _response_call_positions,
    called_name,
    calls_in,
    dotted_name,
    dunder_all,
    global_references,
    import_bindings,
    import_spellings,
    is_iterable_app_class,
    is_plain_name,
    leading_params,
    mentions,
    mentions_outside_server_calls,
    method_named,
    positional_params,
    reads_cgi_keys,
    returned_name,
    statement_texts,
    walk,
    wsgi_signature,
)
from migrate.instances import Classes, InstanceFlow, callee_key
from migrate.route_decorators import RouteDecorator


@dataclass
class WsgiApp:
    """A module-level definition that is (or makes) a WSGI application."""

    kind: AppKind
    name: str
    node: cst.FunctionDef | cst.ClassDef
    #: For a function / a class's ``__call__``: the parameter names.
    environ: str = ""
    start_response: str = ""
    #: Module-level names bound to instances (``app = App()``) of a callable class.
    instances: list[str] = field(default_factory=list)
    #: Lines (statements) outside the definition that use the name in ways not understood.
    other_uses: list[cst.CSTNode] = field(default_factory=list)
    #: Already wrapped in ``WsgiToAsgi(...)`` by an earlier run (or by hand).
    already_adapted: bool = False
    #: Statements ``x = Mw(B(name))`` using the name only as the app at the bottom of a stack
    #: of ASGI middleware (not in :attr:`other_uses`: fine once the app is ASGI).
    stack_uses: list[cst.CSTNode] = field(default_factory=list)
    #: For a factory (``def make_app(...)`` returning the WSGI app it defines): that app.
    made: cst.FunctionDef | None = None
    #: For a function taking more than the request that a route decorator of the module
    #: makes an app (``@with_route_args``, :mod:`migrate.route_decorators`): its name.
    decorated_by: str | None = None
    #: For a callable class: the classes of the module deriving from it that change nothing
    #: of it (:func:`_plain_subclasses`); their instances are its apps too.
    subclasses: list[str] = field(default_factory=list)
    #: For a callable class: the module's functions that only return new instances of it
    #: and that nothing in the module calls (``def create_app(service=None): return
    #: ExcuseAPI(service or default())``): what they make is served elsewhere.
    factories: list[cst.FunctionDef] = field(default_factory=list)

    @property
    def makers(self) -> tuple[str, ...]:
        """The names whose calls make its instances: its own, and its plain subclasses'."""
        return (self.name, *self.subclasses)

    @property
    def makes_instances(self) -> bool:
        """The name makes apps when called (a class, a factory): the module's apps are the
        names bound to what it returns (:attr:`instances`)."""
        return self.kind in ("callable-class", "factory")


# Plain isinstance tests rather than libcst.matchers here: importing the matchers costs a
# fifth of a second, paid by every run before the first file.


def _instance_binding(stmt: cst.CSTNode, class_name: str) -> str | None:
    """``name = ClassName(...)`` at module level: the bound name."""
    assignment = _name_assignment(stmt)
    if assignment is None:
        return None
    name, value = assignment
    return name if isinstance(value, cst.Call) and is_plain_name(value.func, class_name) else None


def _alias_of(stmt: cst.CSTNode, name: str) -> bool:
    """``other = name`` at module level."""
    assignment = _name_assignment(stmt)
    return assignment is not None and is_plain_name(assignment[1], name)


def _wrapped_in_adapter(node: cst.CSTNode, name: str) -> bool:
    """``WsgiToAsgi(name)`` or ``WsgiToAsgi(name(...))`` somewhere under ``node``."""
    for n in walk(node):
        if isinstance(n, cst.Call) and called_name(n.func) == "WsgiToAsgi" and n.args:
            arg = n.args[0].value
            if isinstance(arg, cst.Call):
                arg = arg.func
            if is_plain_name(arg, name):
                return True
    return False


def find_apps(module: cst.Module, responder: Responder | None = None) -> list[WsgiApp]:
    """The WSGI applications defined at module level of ``module``, with how the module uses
    their names elsewhere. ``responder``: what is known of the functions of other modules
    (see :func:`wsgi_signature`)."""
    apps: list[WsgiApp] = []
    functions = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.asynchronous is None:
            sig = wsgi_signature(stmt, functions=functions, responder=responder)
            if sig:
                apps.append(WsgiApp("function", stmt.name.value, stmt, *sig))
            elif (factory := _factory_app(stmt, functions, responder)) is not None:
                apps.append(factory)
            elif (sig := _dispatcher_signature(stmt, functions)) is not None:
                apps.append(WsgiApp("function", stmt.name.value, stmt, *sig))
        elif isinstance(stmt, cst.ClassDef):
            call = method_named(stmt, "__call__")
            sig = (
                wsgi_signature(call, method=True, functions=functions, cls=stmt)
                or _dispatcher_signature(call, functions, method=True)
                if call and not call.asynchronous
                else None
            )
            if sig:
                apps.append(WsgiApp("callable-class", stmt.name.value, stmt, *sig))
            elif is_iterable_app_class(stmt):
                apps.append(WsgiApp("iterable-class", stmt.name.value, stmt))
    for app in apps:
        _find_uses(module, app)
    apps.extend(_serving_instances(module, apps, functions))
    return apps


def response_classes(apps: Sequence[WsgiApp]) -> set[str]:
    """The module's WSGI app classes that no module-level name holds an instance of: their
    instances are made per request (responses), followed by :func:`instance_flow`."""
    return {a.name for a in apps if a.kind == "callable-class" and not a.instances}


def instance_flow(module: cst.Module, apps: Sequence[WsgiApp]) -> InstanceFlow:
    """Where the instances of the module's :func:`response_classes` go
    (:class:`migrate.instances.InstanceFlow`)."""
    classes = response_classes(apps)
    cached = _FLOW_CACHE.get(id(module))
    if cached is not None and cached[0] is module and cached[1].classes == classes:
        return cached[1]
    flow = InstanceFlow(module, classes)
    _FLOW_CACHE.clear()
    _FLOW_CACHE[id(module)] = (module, flow)
    return flow


_FLOW_CACHE: dict[int, tuple[cst.Module, InstanceFlow]] = {}


def _serving_instances(
    module: cst.Module, apps: list[WsgiApp], functions: dict[str, cst.FunctionDef]
) -> list[WsgiApp]:
    """Functions of two parameters that return what an instance of a WSGI app class of the
    module answers: ``return Response(page)(environ, start_response)``, ``response =
    route(Request(environ)); return response(environ, start_response)``. They are apps."""
    known = {a.name for a in apps}
    if not response_classes(apps):
        return []
    flow: InstanceFlow | None = None  # made only for a function that may serve one
    found = []
    for name, func in functions.items():
        params = analysis.wsgi_call_params(func, method=False)
        if name in known or func.decorators or params is None:
            continue
        environ, start_response = params[0].name.value, params[1].name.value
        for node in walk(func.body, into_scopes=False):
            if not (
                isinstance(node, cst.Return)
                and isinstance(node.value, cst.Call)
                and _hands_both(node.value, environ, start_response)
                and not (
                    isinstance(node.value.func, cst.Name) and node.value.func.value in functions
                )
            ):
                continue
            flow = flow or instance_flow(module, apps)
            if flow.made(node.value.func, flow.locals_of(func)):
                app = WsgiApp("function", name, func, environ, start_response)
                _find_uses(module, app)
                found.append(app)
                break
    return found


def _hands_both(call: cst.Call, environ: str, start_response: str) -> bool:
    """``call`` is ``x(environ, start_response)``: the request handed on whole."""
    args = call.args
    return (
        len(args) == 2
        and all(a.keyword is None and not a.star for a in args)
        and is_plain_name(args[0].value, environ)
        and is_plain_name(args[1].value, start_response)
    )


def _factory_app(
    factory: cst.FunctionDef,
    functions: dict[str, cst.FunctionDef],
    responder: Responder | None,
) -> WsgiApp | None:
    """``factory`` makes a WSGI app: it defines one at its top level and its only ``return``
    hands it back by name, its only other use (``def make_app(greeting): def app(environ,
    start_response): ...; return app``). Not a decorated function (a test fixture is
    handed to its users by name, out of sight), nor closure middleware, whose app calls a
    parameter of the factory with the environ (the wsgi-middleware rule's)."""
    if factory.decorators or not isinstance(factory.body, cst.IndentedBlock):
        return None
    returns = [n for n in walk(factory.body, into_scopes=False) if isinstance(n, cst.Return)]
    if len(returns) != 1 or not isinstance(returns[0].value, cst.Name):
        return None
    name = returns[0].value.value
    made = [
        s
        for s in factory.body.body
        if isinstance(s, cst.FunctionDef) and s.name.value == name and s.asynchronous is None
    ]
    if len(made) != 1 or made[0].decorators:
        return None
    app = made[0]
    sig = wsgi_signature(app, functions=functions, responder=responder)
    if sig is None:
        return None
    params = {p.name.value for p in leading_params(factory)}
    if any(
        isinstance(n, cst.Call)
        and isinstance(n.func, cst.Name)
        and n.func.value in params
        and n.args
        and is_plain_name(n.args[0].value, sig[0])
        for n in walk(app.body)
    ):
        return None
    if any(
        global_references(s, name)
        for s in factory.body.body
        if s is not app and returned_name(s) != name
    ):
        return None
    return WsgiApp("factory", factory.name.value, factory, *sig, made=app)


def _dispatcher_signature(
    func: cst.FunctionDef, functions: dict[str, cst.FunctionDef], *, method: bool = False
) -> tuple[str, str] | None:
    """``(environ, start_response)`` of a WSGI app that hands each request on to another,
    chosen at run time: two required positional parameters, the environ read with CGI keys
    (to choose), and ``return handler(environ, start_response)`` (``handler =
    ROUTES.get(environ["PATH_INFO"], not_found)``). The rule cannot see what it hands the
    request to, so it keeps it WSGI behind adapters.WsgiToAsgi: silent before. A function
    of the module it hands the request to by name makes a call group instead
    (:func:`find_call_groups`), which knows more."""
    params = analysis.wsgi_call_params(func, method=method)
    if params is None:
        return None
    environ, start_response = params[0].name.value, params[1].name.value
    if not reads_cgi_keys(func.body, environ):
        return None
    returned = [
        node.value
        for node in walk(func.body, into_scopes=False)
        if isinstance(node, cst.Return) and node.value is not None
    ]
    # what it returns holds the handler's answer: ``return handler(environ, start_response)``,
    # ``return map(encode, handler(environ, start_response))``
    for call in (found for value in returned for found in calls_in(value)):
        handed = [a.value for a in call.args if a.keyword is None and not a.star]
        if (
            len(handed) >= 2
            and is_plain_name(handed[0], environ)
            and is_plain_name(handed[1], start_response)
            and not (isinstance(call.func, cst.Name) and call.func.value in functions)
        ):
            return environ, start_response
    return None


def decorated_apps(module: cst.Module, decorators: Sequence[RouteDecorator]) -> list[WsgiApp]:
    """The functions route decorators of the module make apps (:mod:`migrate.route_decorators`),
    as apps with the uses of their names."""
    found = []
    for decorator in decorators:
        for func in decorator.decorated:
            params = positional_params(func)
            assert params is not None
            app = WsgiApp(
                "function",
                func.name.value,
                func,
                params[0].name.value,
                params[1].name.value,
                decorated_by=decorator.name,
            )
            _find_uses(module, app)
            found.append(app)
    return found


def _plain_subclasses(module: cst.Module, app: WsgiApp) -> list[cst.ClassDef]:
    """The classes of the module deriving from the app class ``app`` (or from one of these)
    that define no ``__call__``, ``__iter__`` nor any method of the app class, and have no
    keywords (a metaclass): the request takes the app class's path through their instances
    (``class TodoItem(Resource)`` adding ``get`` and ``put``, which ``Resource.__call__``
    looks up)."""
    assert isinstance(app.node, cst.ClassDef)
    own = {s.name.value for s in _class_statements(app.node) if isinstance(s, cst.FunctionDef)}
    kept = own | {"__call__", "__iter__"}
    family = {app.name}
    found: list[cst.ClassDef] = []
    grown = True
    while grown:
        grown = False
        for stmt in module.body:
            if (
                isinstance(stmt, cst.ClassDef)
                and stmt.name.value not in family
                and any(
                    isinstance(b.value, cst.Name) and b.value.value in family for b in stmt.bases
                )
                and not stmt.keywords
                and not any(
                    isinstance(s, cst.FunctionDef) and s.name.value in kept
                    for s in _class_statements(stmt)
                )
            ):
                family.add(stmt.name.value)
                found.append(stmt)
                grown = True
    return found


def _class_statements(cls: cst.ClassDef) -> Sequence[cst.BaseStatement | cst.BaseSmallStatement]:
    return cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()


def _find_uses(module: cst.Module, app: WsgiApp) -> None:
    names = {app.name}
    # every test below looks for one of the names in a statement's tree: a statement whose
    # text holds none of them (most) is not walked
    texts = statement_texts(module)
    subclasses = _plain_subclasses(module, app) if app.kind == "callable-class" else []
    app.subclasses = [c.name.value for c in subclasses]
    makers = app.makers
    skipped = [app.node, *subclasses]
    for stmt in module.body:
        if any(stmt is s for s in skipped):
            continue
        for maker in makers if app.makes_instances else ():
            if maker not in texts[id(stmt)]:
                continue
            bound = _instance_binding(stmt, maker)
            if bound is not None:
                app.instances.append(bound)
                names.add(bound)
                break
    servers = set(import_spellings(module, SERVER_FUNCTIONS))
    middleware = _middleware_names(module)
    names.update(makers)  # any other use of a subclass is one of the app class
    for stmt in module.body:
        if any(stmt is s for s in skipped) or _is_main_guard(stmt):
            continue
        text = texts[id(stmt)]
        if not any(name in text for name in names):
            continue
        if app.makes_instances and any(_instance_binding(stmt, m) is not None for m in makers):
            continue
        for name in sorted(names):
            if name not in text:
                continue
            if "WsgiToAsgi" in text and _wrapped_in_adapter(stmt, name):
                app.already_adapted = True
            elif _alias_of(stmt, name):
                # ``app = admin``: what the module does with the alias, it does with the app
                alias = _name_assignment(stmt)
                assert alias is not None
                names.add(alias[0])
                continue
            elif _is_stack_use(stmt, name, middleware):
                if not any(use is stmt for use in app.stack_uses):
                    app.stack_uses.append(stmt)
            elif app.makes_instances and _exported_factory(module, stmt, makers, texts):
                assert isinstance(stmt, cst.FunctionDef)
                if not any(f is stmt for f in app.factories):
                    app.factories.append(stmt)
            elif mentions_outside_server_calls(stmt, name, servers):
                app.other_uses.append(stmt)
    if app.instances:
        # its instances here are served here, those of its factories elsewhere: the class
        # cannot be both kinds of app
        app.other_uses.extend(app.factories)


def _exported_factory(
    module: cst.Module, stmt: cst.CSTNode, makers: Sequence[str], texts: dict[int, str]
) -> bool:
    """``stmt`` is a function that uses the class (named by ``makers``) only to return new
    instances (``return ExcuseAPI(service or get_excuse_service())``), and that nothing else
    of the module names: it makes apps for other code."""
    if not isinstance(stmt, cst.FunctionDef) or stmt.asynchronous is not None:
        return False
    returned: set[int] = set()
    for node in walk(stmt.body):
        if (
            isinstance(node, cst.Return)
            and isinstance(node.value, cst.Call)
            and isinstance(node.value.func, cst.Name)
        ):
            returned.add(id(node.value.func))
    if not returned or any(
        id(ref) not in returned for name in makers for ref in global_references(stmt, name)
    ):
        return False
    name = stmt.name.value
    return not any(
        other is not stmt and name in texts[id(other)] and global_references(other, name)
        for other in module.body
    )


_MIDDLEWARE_CACHE: dict[int, tuple[cst.Module, set[str]]] = {}


def _middleware_names(module: cst.Module) -> set[str]:
    """:func:`migrate.middleware_analysis.middleware_names`, once per module."""
    cached = _MIDDLEWARE_CACHE.get(id(module))
    if cached is not None and cached[0] is module:
        return cached[1]
    names = middleware_analysis.middleware_names(module)
    _MIDDLEWARE_CACHE.clear()
    _MIDDLEWARE_CACHE[id(module)] = (module, names)
    return names


def _is_stack_use(stmt: cst.CSTNode, name: str, middleware: set[str]) -> bool:
    return middleware_analysis.is_middleware_stack_use(stmt, name, middleware)


def middleware_names(module: cst.Module) -> set[str]:
    """Local names of ASGI middleware in ``module`` (see
    :func:`migrate.middleware_analysis.middleware_names`)."""
    return _middleware_names(module)


@dataclass(frozen=True)
class Delegate:
    """How a member of a call group is called by the other members: the position of the
    environ (None for a response helper, which gets no environ) and of start_response."""

    environ: int | None
    start_response: int
    #: A response helper that only starts the response (calls start_response, returns
    #: nothing): ``self.start(start_response)`` before the app returns the body.
    starts_only: bool = False


@dataclass(eq=False)
class GroupMember:
    """A module-level function of a call group: a WSGI app (``environ, start_response,
    *extra``) or a response helper (takes ``start_response`` among other parameters)."""

    name: str
    node: cst.FunctionDef
    delegate: Delegate
    #: Its parameter names for the environ (``""`` for a helper) and start_response.
    environ: str
    start_response: str
    #: The app :func:`find_apps` found under this name, if any.
    app: WsgiApp | None = None
    callers: list[str] = field(default_factory=list)
    callees: list[str] = field(default_factory=list)
    #: Callees that are instances of WSGI app classes of the module it hands the request to
    #: (``response(environ, start_response)``; ``Response()`` for ``Response(page)(...)``):
    #: how the call names them (:func:`migrate.instances.callee_key`) -> their classes.
    instance_calls: dict[str, Classes] = field(default_factory=dict)

    @property
    def is_helper(self) -> bool:
        return self.delegate.environ is None


@dataclass(eq=False)
class CallGroup:
    """WSGI apps and response helpers of one module that hand ``start_response`` (and the
    environ) to each other, and must be converted together or not at all."""

    #: In module order.
    members: list[GroupMember]
    #: Why the group cannot be converted (beyond what converting each member finds).
    problems: list[str] = field(default_factory=list)
    #: ``(member name, statement)``: uses of a member the group cannot follow.
    stray_uses: list[tuple[str, cst.CSTNode]] = field(default_factory=list)
    #: ``(member name, callee, module)``: start_response handed to an imported function.
    imported_uses: list[tuple[str, str, str]] = field(default_factory=list)
    #: WSGI app classes of the module whose instances members hand the request to: they
    #: become ASGI with the group.
    classes: list[str] = field(default_factory=list)
    #: ``(member name, callee, the problem said)``: start_response handed to a name that is
    #: no function of the module (a handler looked up in a route table, which may vouch
    #: for it: :func:`migrate.route_tables.joined_groups`).
    unknown_callees: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]


def imported_names(module: cst.Module) -> dict[str, str]:
    """Names bound by module-level imports: local name -> the module it comes from
    (``from .http_utils import json_response`` -> ``{"json_response": ".http_utils"}``)."""
    return {local: binding.module for local, binding in import_bindings(module).items()}


def find_call_groups(
    module: cst.Module, apps: Sequence[WsgiApp], responder: Responder | None = None
) -> list[CallGroup]:
    """The call groups of ``module``, grown from its function apps (``apps`` from
    :func:`find_apps`): a member that hands its ``start_response`` to a module-level function
    makes that function a member (with the environ at 0 and start_response at 1 it is an app,
    with extra arguments after them; without the environ a response helper). Groups of one
    app that hands nothing on are returned too (with no problems): they are plain apps."""
    defs: dict[str, list[cst.FunctionDef]] = {}
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef):
            defs.setdefault(stmt.name.value, []).append(stmt)
    imported = imported_names(module)
    by_name = {app.name: app for app in apps if app.kind == "function"}
    members: dict[str, GroupMember] = {}
    parent: dict[str, str] = {}
    problems: dict[str, list[str]] = {}
    foreign: dict[str, list[tuple[str, str, str]]] = {}
    local: dict[str, list[tuple[str, str, str]]] = {}
    sites: set[int] = set()  # ids of the callee Names of the calls between members

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def add(member: GroupMember) -> None:
        members[member.name] = member
        parent[member.name] = member.name
        queue.append(member)

    queue: list[GroupMember] = []
    flows: list[InstanceFlow] = []  # made when a member hands start_response to a value

    def flow_() -> InstanceFlow:
        if not flows:
            flows.append(instance_flow(module, apps))
        return flows[0]

    instance_sites: set[int] = set()
    has_responses = bool(response_classes(apps))
    seeds = [*by_name.values(), *_chained_apps(module, defs, {a.name for a in apps}, responder)]
    for app in seeds:
        assert isinstance(app.node, cst.FunctionDef)
        if defs.get(app.name) == [app.node]:
            add(
                GroupMember(
                    app.name, app.node, Delegate(0, 1), app.environ, app.start_response, app
                )
            )
    while queue:
        member = queue.pop(0)
        found = problems.setdefault(member.name, [])
        written = _assigned_names(member.node.body) | analysis.param_names(member.node)
        for call in walk(member.node.body):
            if not isinstance(call, cst.Call):
                continue
            sr_at = [
                i for i, a in enumerate(call.args) if is_plain_name(a.value, member.start_response)
            ]
            if not sr_at:
                continue
            callee = _dotted(call.func)
            classes = (
                flow_().made(call.func, flow_().locals_of(member.node))
                if has_responses and not (isinstance(call.func, cst.Name) and callee in defs)
                else frozenset()
            )
            if classes:
                key = callee_key(call.func)
                if key is None or not _hands_both(call, member.environ, member.start_response):
                    found.append(
                        f"`{member.name}` hands start_response to an instance of "
                        f"{_listed(classes)} in a way the rule cannot follow"
                    )
                    continue
                member.instance_calls[key] = classes
                instance_sites.add(id(call))
                for name in classes:
                    parent.setdefault(name, name)
                    parent[find(name)] = find(member.name)
                continue
            if not (isinstance(call.func, cst.Name) and callee in defs):
                source = imported.get(callee.split(".")[0]) if callee else None
                if source is not None:
                    foreign.setdefault(member.name, []).append((member.name, callee, source))
                else:
                    said = f"`{member.name}` hands start_response to `{callee or 'other code'}()`"
                    found.append(said)
                    if isinstance(call.func, cst.Name):
                        local.setdefault(member.name, []).append((member.name, callee, said))
                continue
            env_at = (
                [i for i, a in enumerate(call.args) if is_plain_name(a.value, member.environ)]
                if member.environ
                else []
            )
            func = defs[callee][0]
            params = analysis.leading_params(func)
            delegate: Delegate | None = None
            if env_at == [0] and sr_at == [1]:
                delegate = Delegate(0, 1)
            elif not env_at and len(sr_at) == 1:
                delegate = Delegate(None, sr_at[0], analysis.returns_nothing(defs[callee][0]))
            if (
                delegate is None
                or len(defs[callee]) != 1
                or func.asynchronous is not None
                or callee in written
                or len(params) <= delegate.start_response
                or any(
                    call.args[i].keyword is not None or call.args[i].star for i in sr_at + env_at
                )
            ):
                found.append(
                    f"`{member.name}` hands start_response to `{callee}()` in a way "
                    "the rule cannot follow"
                )
                continue
            other = members.get(callee)
            if other is None:
                other = GroupMember(
                    callee,
                    func,
                    delegate,
                    params[0].name.value if delegate.environ is not None else "",
                    params[delegate.start_response].name.value,
                )
                add(other)
            elif other.delegate != delegate:
                found.append(f"`{callee}()` is handed start_response in two different ways")
            parent[find(callee)] = find(member.name)
            if callee not in member.callees:
                member.callees.append(callee)
            if member.name not in other.callers:
                other.callers.append(member.name)
            sites.add(id(call.func))

    groups: dict[str, CallGroup] = {}
    order = {id(stmt): index for index, stmt in enumerate(module.body)}
    for member in sorted(members.values(), key=lambda m: order[id(m.node)]):
        group = groups.setdefault(find(member.name), CallGroup([]))
        group.members.append(member)
        group.problems.extend(problems.get(member.name, []))
        group.imported_uses.extend(foreign.get(member.name, []))
        group.unknown_callees.extend(local.get(member.name, []))
    for name in sorted(flows[0].classes if flows else ()):
        if name in parent and (holder := groups.get(find(name))) is not None:
            holder.classes.append(name)
    escapes = list(flows[0].escapes(instance_sites)) if flows and instance_sites else []
    for group in groups.values():
        group.stray_uses.extend((c, n) for c, n in escapes if c in group.classes)
    member_defs = {id(m.node) for m in members.values()}
    exported = dunder_all(module) or set()
    for group in groups.values():
        group.problems.extend(
            f"`{m.name}` is exported in __all__ (other modules may hand it start_response)"
            for m in group.members
            if m.is_helper and m.name in exported
        )
        for member in group.members:
            group.stray_uses.extend(
                (member.name, stmt) for stmt in _stray_uses(module, member, member_defs, sites)
            )
    return list(groups.values())


def _listed(classes: Classes) -> str:
    return ", ".join(f"`{c}`" for c in sorted(classes))


def _responders(
    defs: dict[str, list[cst.FunctionDef]], responder: Responder | None = None
) -> set[tuple[str, int]]:
    """``(function, index)``: module-level functions whose positional parameter ``index``
    is a start_response -- called with a status and headers, directly or through a chain of
    such functions (``json_response(start_response, ...)`` -> ``respond(start_response,
    ...)``), or handed to a function of another module ``responder`` vouches for."""
    funcs = {
        name: found[0]
        for name, found in defs.items()
        if len(found) == 1 and found[0].asynchronous is None
    }
    result = {
        (name, index)
        for name, func in funcs.items()
        for index in range(len(analysis.leading_params(func)))
        if _calls_param(func, index)
    }
    # parameters that get their status from the caller: the calls show it is one
    for func in funcs.values():
        for node in walk(func.body):
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
                callee = funcs.get(node.func.value)
                if callee is None:
                    continue
                for index, arg in enumerate(node.args):
                    if (
                        isinstance(arg.value, cst.Name)
                        and arg.keyword is None
                        and not arg.star
                        and _calls_param(callee, index, node)
                    ):
                        result.add((node.func.value, index))
    if responder is not None:
        result |= _handing_to_responders(funcs, responder)
    changed = True
    while changed:
        changed = False
        for name, func in funcs.items():
            for index, param in enumerate(analysis.leading_params(func)):
                if (name, index) in result:
                    continue
                for node in walk(func.body):
                    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Name)):
                        continue
                    if any(
                        is_plain_name(arg.value, param.name.value)
                        and arg.keyword is None
                        and not arg.star
                        and (node.func.value, at) in result
                        for at, arg in enumerate(node.args)
                    ):
                        result.add((name, index))
                        changed = True
                        break
    return result


def _handing_to_responders(
    funcs: dict[str, cst.FunctionDef], responder: Responder
) -> set[tuple[str, int]]:
    """``(function, index)`` of the parameters handed, with a status, to a function of
    another module that ``responder`` vouches for (one walk per function)."""
    found: set[tuple[str, int]] = set()
    for name, func in funcs.items():
        params = {p.name.value: i for i, p in enumerate(analysis.leading_params(func))}
        for node in walk(func.body):
            if not isinstance(node, cst.Call):
                continue
            for at in _response_call_positions(node, set(params)):
                arg = node.args[at].value
                assert isinstance(arg, cst.Name)
                callee = dotted_name(node.func)
                if callee and responder(callee, at):
                    found.add((name, params[arg.value]))
    return found


def _chained_apps(
    module: cst.Module,
    defs: dict[str, list[cst.FunctionDef]],
    known: set[str],
    responder: Responder | None = None,
) -> list[WsgiApp]:
    """WSGI apps :func:`find_apps` does not see because their start_response reaches the
    status and headers only through two or more helpers (``app`` -> ``index`` ->
    ``html_response`` -> ``respond``), with their uses found the same way."""
    responders = _responders(defs, responder)
    found = []
    for name, funcs in defs.items():
        func = funcs[0]
        params = analysis.wsgi_call_params(func, method=False)
        if name in known or len(funcs) != 1 or params is None or (name, 1) not in responders:
            continue
        app = WsgiApp("function", name, func, params[0].name.value, params[1].name.value)
        _find_uses(module, app)
        found.append(app)
    return found


def _stray_uses(
    module: cst.Module, member: GroupMember, member_defs: set[int], sites: set[int]
) -> Iterator[cst.CSTNode]:
    """Module-level statements that use ``member``'s name other than as a call between
    members (or, for an app :func:`find_apps` found, in a way it already accepts)."""
    name = member.name
    texts = statement_texts(module)
    for stmt in module.body:
        if name not in texts[id(stmt)]:
            continue  # no use of the name in its tree either
        if id(stmt) in member_defs:
            own = stmt.name if stmt is member.node else None
            if any(
                n is not own and id(n) not in sites for n in analysis.variable_names(stmt, name)
            ):
                yield stmt
        elif mentions(stmt, name) and (
            member.app is None or any(stmt is use for use in member.app.other_uses)
        ):
            yield stmt
