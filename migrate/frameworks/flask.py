"""Whether the run's Flask code moves to Quart, and what each module changes for it.

Quart keeps Flask's API; what changes is what became awaitable (``await
request.get_json()``, ``await request.form``, ``await render_template(...)``...). A view, hook
or error handler that needs one becomes a coroutine, and so does every function of the run
that calls one, up to the views; each such call is awaited. Flask's globals (``request``,
``g``, ``current_app``) tie every module using Flask together, so the run converts all of
them or none: a Flask extension (no drop-in Quart version), Flask's test client in the
project's tests (Quart's is async), class-based views, streamed responses, ``send_file``,
the raw WSGI environ or ``app.wsgi_app``, or a converted function used any other way than
called from a function that becomes a coroutine, keeps the whole run on Flask (served
through the adapter by ``served-app``).

Each module that may take part gives its :class:`FlaskFacts` during the scan (CPython's
AST); :func:`plan` joins them. The first blocker found is the reason every module gives.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from migrate.frameworks import (
    FLASK_SIGNALS,
    ImportBinding,
    Modules,
    environ_reads,
    flask_files,
    flask_streams,
    flask_tests,
    flask_uploads,
    import_bindings,
    offload_blocker,
    own_nodes,
    plain_name,
)
from migrate.middleware_analysis import PROXY_FIX, PROXY_FIX_SETTINGS

#: flask's names whose call must be awaited under Quart.
AWAITED_CALLS = frozenset({
    "render_template", "render_template_string", "make_response", "flash", *flask_files.SENDERS,
})  # fmt: skip
#: ``request`` attributes that are awaitables under Quart: attribute -> how it is awaited.
AWAITED_REQUEST = {
    "get_json": "call", "get_data": "call", "json": "get_json", "data": "get_data",
    "form": "await", "files": "await", "values": "await",
}  # fmt: skip
#: flask's names Quart has under the same name (``Flask`` is ``Quart``).
SAME_NAMES = frozenset({
    "Blueprint", "Response", "Request", "abort", "current_app", "g", "jsonify", "redirect",
    "request", "session", "url_for", "render_template", "render_template_string",
    "make_response", "flash", "get_flashed_messages", "after_this_request", "escape", "Markup",
    "has_request_context", "has_app_context", "json", "Config", *flask_files.SENDERS,
    "stream_with_context", *FLASK_SIGNALS,
})  # fmt: skip
#: flask's names that are the same under Quart and never awaited (``flask.jsonify`` may stay).
PLAIN_NAMES = (SAME_NAMES | {"Flask"}) - AWAITED_CALLS - {"request"}
#: What to do about a Flask extension to move to Quart, by its package.
EXTENSION_ADVICE = {
    "flask_login": "quart-auth does its job with another API (move to it by hand)",
    "flask_cors": "quart-cors does its job (`app = cors(app, allow_origin=...)`)",
    "flask_wtf": "Quart-WTF is its port",
    "flask_session": "Quart-Session is its port",
    "flask_limiter": "quart-rate-limiter does its job",
    "flask_babel": "Quart-Babel is its port",
    "flask_sqlalchemy": (
        "quart-flask-patch runs it on Quart (its queries then block the event loop: move "
        "them to SQLAlchemy's asyncio API)"
    ),
    "": "quart-flask-patch runs many Flask extensions on Quart, blocking calls and all",
}
#: Flask extensions whose websockets go through the WSGI server's own socket (gunicorn's,
#: werkzeug's, eventlet's or gevent's): no ASGI server hands an app one, so the adapter cannot
#: serve them; by package.
SERVER_WEBSOCKETS = {
    "flask_sock": "Flask-Sock",
    "flask_socketio": "Flask-SocketIO",
    "flask_sockets": "Flask-Sockets",
    "flask_uwsgi_websocket": "Flask-uWSGI-WebSocket",
}
#: What keeps the run on Flask, by flask name.
UNSUPPORTED = {
    "views": "uses class-based views", "View": "uses class-based views",
    "MethodView": "uses class-based views",
}  # fmt: skip
ROUTE_DECORATORS = frozenset({"route", "get", "post", "put", "patch", "delete"})
HOOK_DECORATORS = frozenset({
    "before_request", "after_request", "teardown_request", "teardown_appcontext",
    "errorhandler", "before_app_request", "after_app_request", "app_errorhandler",
    "teardown_app_request", "context_processor", "app_context_processor",
})  # fmt: skip
#: ``app.method(function)`` / ``app.method(key, function)`` registrations.
REGISTRATIONS = {
    "before_request": 0, "after_request": 0, "teardown_request": 0, "teardown_appcontext": 0,
    "register_error_handler": 1, "add_url_rule": 2, "context_processor": 0,
}  # fmt: skip
#: The keyword a registration may name its function with instead.
REGISTRATION_KEYWORDS = {"add_url_rule": "view_func"}
#: Methods of Flask's app, response and request objects that are coroutines under Quart
#: (``open_resource`` is rewritten; the request's ``get_json``/``get_data`` are awaited, and a
#: test's response getters: :mod:`flask_tests`): called on anything else, they keep the run
#: on Flask (unawaited, they would do nothing).
QUART_COROUTINE_METHODS = frozenset({
    "make_response", "send_static_file", "open_instance_resource", "full_dispatch_request",
    "handle_exception", "handle_http_exception", "handle_user_exception",
    "make_default_options_response", "preprocess_request", "process_response",
    "update_template_context", "do_teardown_appcontext", "do_teardown_request",
    "finalize_request", "add_etag", "make_conditional", "freeze", "get_data", "get_json",
})  # fmt: skip
#: flask's functions whose Quart counterparts take fewer keywords: the keywords they take.
QUART_KEYWORDS = {"redirect": frozenset({"location", "code"})}
#: Flask's request attributes Quart's request lacks (the WSGI environ, its stream, the WSGI
#: server's flags; ``remote_user``: REMOTE_USER, set by an auth proxy or WSGI middleware).
WSGI_REQUEST_ATTRIBUTES = frozenset({
    "environ", "stream", "input_stream", "remote_user", "is_multithread", "is_multiprocess",
    "is_run_once", "application", "want_form_data_parsed",
})  # fmt: skip
#: Attributes of Flask's responses and app (names no other common object has) that Quart's
#: lack: ``response.call_on_close(f)`` would raise AttributeError.
WSGI_ONLY_ATTRIBUTES = frozenset({
    "call_on_close", "get_wsgi_response", "get_wsgi_headers", "get_app_iter", "iter_encoded",
    "autocorrect_location_header", "calculate_content_length", "is_streamed", "force_type",
    "ensure_sync", "async_to_sync",
})  # fmt: skip
#: The decorators registering a template filter, global or test (Jinja calls them while a
#: template renders: under Quart, on the event loop, and it awaits one that is a coroutine).
TEMPLATE_HELPERS = frozenset({
    "template_filter", "template_global", "template_test", "app_template_filter",
    "app_template_global", "app_template_test",
})  # fmt: skip
#: Method calls that mean the project drives Flask in ways Quart does differently.
UNSUPPORTED_METHODS: dict[str, str] = {}


def might_use_flask(source: str, relpath: str | None = None) -> bool:
    """A text test for the modules that may take part: Flask's, and the project's tests of
    it (a test module may only name a ``client`` fixture; ``relpath`` None: any file may be
    one)."""
    if any(word in source for word in ("flask", "test_client", "app_context")):
        return True
    return "client" in source and (relpath is None or flask_tests.is_test_path(relpath))


@dataclass(frozen=True)
class FunctionFacts:
    name: str
    #: A view, hook or error handler (decorated, or registered by a call of the module).
    registered: bool
    #: Uses an awaitable of Quart itself.
    awaits: bool
    #: Module-level names it calls (functions of the module or imported names).
    calls: tuple[str, ...]
    #: Why it cannot become a coroutine whose blocking calls all leave the loop ("": it can).
    unsafe: str = ""
    #: Local names of the plain decorators over it (``@login_required``), innermost last.
    decorated_by: tuple[str, ...] = ()
    #: A view decorator of the classic shape (``def deco(view): @wraps(view) def
    #: wrapper(...): ... return view(...); return wrapper``): the wrapper's name.
    wrapper: str = ""
    #: A click command of the app's CLI by its decorators (``@app.cli.command()``,
    #: ``@group.command()`` of an app's group; ``app.cli.add_command`` is the plan's business).
    cli_command: bool = False
    #: ``@click.command``/``@click.group`` ("command", "group"), and the module's click
    #: group it is a command of (``@translate.command()``).
    click: str = ""
    click_group: str = ""
    #: The generators defined in its body that it streams as response bodies (async
    #: generators under Quart: :mod:`migrate.frameworks.flask_streams`).
    streams: tuple[str, ...] = ()
    #: A module-level generator the module's views stream as a response body (an async
    #: generator under Quart, called as before, never awaited).
    async_generator: bool = False
    #: A template filter, global or test (``@app.template_filter()``...).
    template_helper: bool = False
    #: The names it binds to one upload (:func:`flask_uploads.upload_names`).
    uploads: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlaskFacts:
    relpath: str
    #: The module imports flask.
    uses_flask: bool
    imports: tuple[tuple[str, str, str], ...] = ()
    functions: tuple[FunctionFacts, ...] = ()
    #: Functions of other modules registered here: (local name, registration).
    registered_elsewhere: tuple[str, ...] = ()
    #: Module-level names read other than as a direct call from a module-level function
    #: (stored, passed, called from a method or at module level).
    referenced: frozenset[str] = frozenset()
    blockers: tuple[str, ...] = ()
    #: Local names the module adds to an app's CLI (``app.cli.add_command(init_db_command)``).
    cli_added: tuple[str, ...] = ()
    #: The module's tree when it uses Flask's testing API (the tests are planned together).
    test_tree: ast.Module | None = None


# --------------------------------------------------------------------------- facts


def facts_of(relpath: str, tree: ast.Module) -> FlaskFacts:
    nodes = list(ast.walk(tree))  # walked once: every question below reads this list
    imports = tuple(import_bindings(nodes))  # nested ones too
    flask_names = {
        local: original
        for local, module, original in imports
        if module == "flask" or module.startswith("flask.")
    }
    uses_flask = bool(flask_names) or any(m == "flask" for _, m, _ in imports)
    test_module = flask_tests.is_test_module(relpath, nodes)
    blockers = list(_module_blockers(nodes, imports, flask_names, test_module))
    if entered := flask_tests.app_contexts_outside_tests(relpath, nodes):
        blockers.append(
            f"it enters `.{entered}()` outside the tests (Quart's: `async with`, in a coroutine)"
        )
    functions = {s.name: s for s in tree.body if isinstance(s, ast.FunctionDef)}
    registered = _registered(nodes)
    cli = _Cli(nodes, functions)
    blockers.extend(cli.blockers)
    blockers.extend(
        flask_files.blockers(nodes, flask_names, lambda f: _is_view(f) or f.name in registered)
    )
    blockers.extend(_app_creation_blockers(nodes, flask_names))
    qualified = {
        **functions,
        **{f"{n}.{view.name}": view for n, f in functions.items() for view in _nested_views(f)},
    }
    streamed = flask_streams.streams(qualified, nodes, flask_names)
    blockers.extend(streamed.blockers)
    views = {id(func) for func in qualified.values()}
    for func in qualified.values():
        blockers.extend(flask_uploads.upload_blockers(func, flask_names, views))
    if not test_module:  # (a test's responses: the tests' rule awaits their getters)
        hooks = _response_hooks(nodes)
        blockers.extend(
            reason
            for name, func in qualified.items()
            for reason in _response_data_reads(name, func, flask_names, hooks)
        )
    facts: list[FunctionFacts] = []
    for name, func in functions.items():
        registered_here = _is_view(func) or name in registered
        facts.append(_function_facts(name, func, registered_here, flask_names, cli, streamed))
        facts.extend(
            _function_facts(f"{name}.{view.name}", view, True, flask_names, cli, streamed)
            for view in _nested_views(func)
        )
    for fn in facts:
        if fn.awaits and _nested_awaitables(_named(functions, fn.name), flask_names):
            blockers.append(f"`{fn.name}` reads the request body in a nested function")
    for stmt in tree.body:
        if isinstance(stmt, ast.AsyncFunctionDef) and _is_view(stmt):
            blockers.append(f"`{stmt.name}` is an async view already")
        if isinstance(stmt, ast.ClassDef) and any(
            _is_flask_class(base, flask_names) for base in stmt.bases
        ):
            # its overrides are Flask's methods, which Quart's differ from (coroutines)
            blockers.append(f"class `{stmt.name}` subclasses Flask")
        if isinstance(stmt, ast.ClassDef) and uses_flask:
            for node in ast.walk(stmt):
                if (
                    isinstance(node, ast.Name)
                    and node.id in flask_names
                    and flask_names[node.id]
                    in ("request", "render_template", "make_response", "flash")
                ):
                    blockers.append(f"class `{stmt.name}` uses `{node.id}`")
                    break
    elsewhere = tuple(sorted(n for n in registered if n not in functions))
    return FlaskFacts(
        relpath, uses_flask, imports, tuple(facts), elsewhere,
        _referenced(tree, nodes), tuple(blockers), tuple(cli.added),
        tree if test_module else None,
    )  # fmt: skip


def _function_facts(
    name: str,
    func: ast.FunctionDef,
    registered: bool,
    flask_names: Mapping[str, str],
    cli: _Cli,
    streamed: flask_streams.Streams,
) -> FunctionFacts:
    plain = tuple(
        d.id if isinstance(d, ast.Name) else f"?{ast.unparse(d)}"
        for d in func.decorator_list
        if not _is_view_decorator(d) and not cli.is_decorator(d)
    )
    return FunctionFacts(
        name,
        registered,
        _uses_awaitables(func, flask_names),
        tuple(sorted(_called_names(func))),
        offload_blocker(func),
        plain,
        _wrapper_of(func),
        name in cli.commands,
        cli.click.get(name, ""),
        next((g for g, names in cli.subcommands.items() if name in names), ""),
        tuple(streamed.generators.get(name, ())),
        name in streamed.module_generators,
        any(
            isinstance(d, ast.Call)
            and isinstance(d.func, ast.Attribute)
            and d.func.attr in TEMPLATE_HELPERS
            for d in func.decorator_list
        ),
        tuple(sorted(flask_uploads.upload_names(func, flask_names))),
    )


def _named(functions: Mapping[str, ast.FunctionDef], qualified: str) -> ast.FunctionDef:
    """The function ``qualified`` names: a module-level one, or ``outer.view`` nested in it."""
    outer, _, inner = qualified.partition(".")
    func = functions[outer]
    return next(v for v in _nested_views(func) if v.name == inner) if inner else func


def _own_nodes(func: ast.FunctionDef) -> Iterator[ast.AST]:
    """The nodes of ``func``, without the views defined inside it (views of their own)."""
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef) and _is_view(node):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _nested_views(func: ast.FunctionDef) -> Iterator[ast.FunctionDef]:
    """The views an app factory defines (``@app.route("/hello") def hello(): ...`` inside
    ``create_app``)."""
    for node in ast.walk(func):
        if node is not func and isinstance(node, ast.FunctionDef) and _is_view(node):
            yield node


def _wrapper_of(func: ast.FunctionDef) -> str:
    """The wrapper's name when ``func`` is a view decorator of the classic shape::

        def login_required(view):
            @functools.wraps(view)
            def wrapped_view(**kwargs):
                ...
                return view(**kwargs)

            return wrapped_view

    where the wrapped view is only ever called; "" otherwise."""
    args = func.args
    if len(args.args) != 1 or args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
        return ""
    param = args.args[0].arg
    body = [s for s in func.body if not _is_docstring(s)]
    if len(body) != 2:
        return ""
    wrapper, ret = body
    if not (
        isinstance(wrapper, ast.FunctionDef)
        and isinstance(ret, ast.Return)
        and isinstance(ret.value, ast.Name)
        and ret.value.id == wrapper.name
        and all(_is_wraps(d, param) for d in wrapper.decorator_list)
    ):
        return ""
    called = {id(n.func) for n in ast.walk(wrapper) if isinstance(n, ast.Call)}
    uses = [n for n in ast.walk(wrapper) if isinstance(n, ast.Name) and n.id == param]
    wraps_args = {id(a) for d in wrapper.decorator_list if isinstance(d, ast.Call) for a in d.args}
    if any(id(n) not in called and id(n) not in wraps_args for n in uses):
        return ""
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    if any(isinstance(n, nested) and n is not wrapper for n in ast.walk(wrapper)):
        return ""
    return wrapper.name


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


def _is_wraps(decorator: ast.expr, param: str) -> bool:
    """``@functools.wraps(param)`` or ``@wraps(param)``."""
    if not (isinstance(decorator, ast.Call) and len(decorator.args) == 1):
        return False
    target, arg = decorator.func, decorator.args[0]
    named = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    return named == "wraps" and isinstance(arg, ast.Name) and arg.id == param


class _Cli:
    """The module's click commands of an app's CLI: ``@app.cli.command()``, ``@bp.cli.group()``
    and the commands of such a group; the names ``app.cli.add_command(name)`` adds (the plan
    resolves them: the command or group may be a function of another module)."""

    def __init__(self, nodes: list[ast.AST], functions: Mapping[str, ast.FunctionDef]) -> None:
        self.commands: set[str] = set()
        self.groups: set[str] = set()
        self.added: list[str] = []
        self.blockers: list[str] = []
        #: module functions decorated ``@click.command``/``@click.group``, and the commands
        #: of each module group (``@translate.command()``)
        self.click: dict[str, str] = {}
        self.subcommands: dict[str, set[str]] = {}
        allowed: set[int] = set()  # the ``X.cli`` nodes of the forms above
        for name, func in functions.items():
            for decorator in func.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if not isinstance(target, ast.Attribute) or target.attr not in ("command", "group"):
                    continue
                owner = target.value
                if _is_cli(owner):
                    allowed.add(id(owner))
                    if isinstance(decorator, ast.Call) and any(
                        k.arg == "with_appcontext" for k in decorator.keywords
                    ):
                        self.blockers.append(f"CLI command `{name}` chooses its app context")
                    (self.commands if target.attr == "command" else self.groups).add(name)
                elif isinstance(owner, ast.Name) and owner.id == "click":
                    self.click[name] = target.attr
                elif isinstance(owner, ast.Name) and owner.id in functions:
                    self.subcommands.setdefault(owner.id, set()).add(name)
        for group in self.groups:
            self.commands |= self.subcommands.get(group, set())
        for node in nodes:
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add_command"
                and _is_cli(node.func.value)
                and len(node.args) == 1
                and isinstance(node.args[0], ast.Name)
            ):
                allowed.add(id(node.func.value))
                self.added.append(node.args[0].id)
        for node in nodes:
            if _is_cli(node) and id(node) not in allowed:
                self.blockers.append("it uses the app's `.cli` other than to add commands")
                break

    def is_decorator(self, decorator: ast.expr) -> bool:
        """A click decorator (``@app.cli.command()``, ``@click.option(...)``...)."""
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        while isinstance(target, ast.Attribute):
            if _is_cli(target) or (isinstance(target.value, ast.Name) and (
                target.value.id == "click" or target.value.id in self.subcommands
            )):  # fmt: skip
                return True
            target = target.value
        return False


def _is_cli(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "cli"


def extensions_of(imports: Iterable[ImportBinding]) -> tuple[tuple[str, str], ...]:
    """(module, what to do) of the Flask extensions among ``imports``."""
    found: dict[str, str] = {}
    for _, module, _ in imports:
        if _is_extension(module):
            found.setdefault(module, _extension_advice(module))
    return tuple(found.items())


def _server_websockets(facts: Iterable[FlaskFacts]) -> str:
    """The first extension of :data:`SERVER_WEBSOCKETS` a module of the run imports."""
    for module in facts:
        for _, imported, _ in module.imports:
            found = SERVER_WEBSOCKETS.get(imported.split(".")[0])
            if found:
                return found
    return ""


def _is_extension(module: str) -> bool:
    return module.split(".")[0].startswith("flask_") or module.startswith("flask.ext")


def _extension_advice(module: str) -> str:
    return EXTENSION_ADVICE.get(module.split(".")[0], EXTENSION_ADVICE[""])


def _module_blockers(
    nodes: list[ast.AST],
    imports: Iterable[tuple[str, str, str]],
    flask_names: Mapping[str, str],
    test_module: bool,
) -> Iterator[str]:
    for _, module, original in imports:
        if _is_extension(module):
            advice = _extension_advice(module)
            yield f"it uses the Flask extension `{module}`, with no drop-in Quart version: {advice}"
        elif module.startswith("flask.") and module not in ("flask.json",):
            yield f"it imports `{module}`"
        elif module == "flask" and original and original not in SAME_NAMES | {"Flask"}:
            yield UNSUPPORTED.get(original, f"it uses flask's `{original}`")
    modules = {local for local, module, original in imports if module == "flask" and not original}
    proxied = _proxied_wsgi_apps(nodes, imports)
    called = {id(node.func) for node in nodes if isinstance(node, ast.Call)}
    for node in nodes:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and (allowed := QUART_KEYWORDS.get(flask_names.get(node.func.id, ""))) is not None
            and any(k.arg not in allowed for k in node.keywords)
        ):
            yield f"it passes `{node.func.id}` an argument Quart's lacks"
            break
    for node in nodes:
        if (
            isinstance(node, ast.Attribute)
            and AWAITED_REQUEST.get(node.attr) == "call"
            and isinstance(node.value, ast.Name)
            and flask_names.get(node.value.id) == "request"
            and id(node) not in called
        ):
            yield f"it hands `request.{node.attr}` on uncalled (a coroutine function under Quart)"
            break
    #: the names the module binds to apps (``app = Flask(__name__)``), whose run() matters
    apps = {
        target.id
        for node in nodes
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and _is_flask_class(node.value.func, flask_names)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    environ_read = environ_reads(nodes, lambda node: _is_request_environ(node, flask_names))
    # the body read whole once by a function: `await request.get_data()` under Quart (read
    # twice, Flask's stream gives nothing the second time, and Quart's data all of it)
    stream_read: set[int] = set()  # the `request.stream` nodes of those reads
    for func in (n for n in nodes if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
        reads = [n for n in _own_nodes(func) if is_stream_read_all(n, flask_names)]  # type: ignore[arg-type]
        if len(reads) == 1:
            read = reads[0]
            assert isinstance(read, ast.Call) and isinstance(read.func, ast.Attribute)
            stream_read.add(id(read.func.value))
    for node in nodes:
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr not in PLAIN_NAMES
        ):
            yield f"it reaches `{node.value.id}.{node.attr}` through the module: the rule cannot await it"
        elif isinstance(node, ast.Call) and _calls_quart_coroutine(node, flask_names, test_module):
            assert isinstance(node.func, ast.Attribute)
            yield f"it calls `.{node.func.attr}()`, a coroutine under Quart, on `{ast.unparse(node.func.value)}`"
        elif isinstance(node, ast.Attribute):
            if node.attr in UNSUPPORTED_METHODS:
                yield UNSUPPORTED_METHODS[node.attr]
            elif node.attr == "wsgi_app" and id(node) not in proxied:
                yield f"it uses the app's `.{node.attr}`"
            elif (
                node.attr in WSGI_REQUEST_ATTRIBUTES
                and isinstance(node.value, ast.Name)
                and flask_names.get(node.value.id) == "request"
                and id(node) not in environ_read | stream_read
            ):
                yield f"it reads `request.{node.attr}`, which Quart's request lacks"
            elif node.attr in WSGI_ONLY_ATTRIBUTES:
                yield f"it uses `.{node.attr}`, which Quart's responses and app lack"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "run"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in apps
            and any(k.arg not in ("host", "port", "debug") for k in node.keywords)
        ):
            yield "app.run(...) has options Quart's run lacks"


#: flask's names whose call makes a response, and the hooks handed one.
RESPONSE_MAKERS = frozenset({
    "make_response", "jsonify", "Response", "redirect", "send_file", "send_from_directory",
})  # fmt: skip
RESPONSE_HOOKS = frozenset({"after_request", "after_app_request"})


def _response_data_reads(
    name: str, func: ast.FunctionDef, flask_names: Mapping[str, str], hooks: set[str]
) -> Iterator[str]:
    """``response.data`` / ``.json`` read in ``func`` (coroutines under Quart: ``len(
    response.data)`` would fail) of a response it makes or, as an ``after_request`` hook,
    is handed."""
    responses: set[str] = set()
    params = [a.arg for a in [*func.args.posonlyargs, *func.args.args]]
    if (name in hooks or any(_hook_decorator(d) for d in func.decorator_list)) and params:
        responses.add(params[0])
    for node in own_nodes(func):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and flask_names.get(plain_name(node.value.func)) in RESPONSE_MAKERS
        ):
            responses.update(t.id for t in node.targets if isinstance(t, ast.Name))
    for node in own_nodes(func):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("data", "json")
            and isinstance(node.ctx, ast.Load)
            and isinstance(node.value, ast.Name)
            and node.value.id in responses
        ):
            yield f"`{name}` reads `{node.value.id}.{node.attr}`, a coroutine under Quart"
            return


def _hook_decorator(decorator: ast.expr) -> bool:
    """``@app.after_request`` (``@bp.after_app_request``): the hook is handed the response."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and target.attr in RESPONSE_HOOKS


def _response_hooks(nodes: list[ast.AST]) -> set[str]:
    """The functions registered by ``app.after_request(f)``."""
    return {
        node.args[0].id
        for node in nodes
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in RESPONSE_HOOKS
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Name)
    }


def _calls_quart_coroutine(
    call: ast.Call, flask_names: Mapping[str, str], test_module: bool
) -> bool:
    """``x.make_response(...)``, ``response.add_etag()``...: a method that is a coroutine
    under Quart, on anything but the request (whose getters are awaited) or, in the
    project's tests, a response (whose getters the tests' rule awaits)."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr in QUART_COROUTINE_METHODS):
        return False
    owner = func.value
    if isinstance(owner, ast.Name) and flask_names.get(owner.id) == "request":
        return func.attr not in AWAITED_REQUEST
    return not (test_module and func.attr in ("get_data", "get_json"))


def _proxied_wsgi_apps(nodes: list[ast.AST], imports: Iterable[ImportBinding]) -> set[int]:
    """The ``.wsgi_app`` nodes of ``X.wsgi_app = ProxyFix(X.wsgi_app, ...)`` statements with
    werkzeug's ``ProxyFix`` and its settings only: the rule makes them ``X.asgi_app =
    adapters.ProxyFix(X.asgi_app, ...)``, the same trust in front of Quart's ASGI app."""
    spellings = {local for local, module, name in imports if f"{module}.{name}" == PROXY_FIX}
    found: set[int] = set()
    for node in nodes:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target, call = node.targets[0], node.value
        if (
            _is_wsgi_app_of(target, "")
            and isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id in spellings
            and call.args
            and _is_wsgi_app_of(call.args[0], ast.unparse(target.value))  # type: ignore[attr-defined]
            and len(call.args) <= 1 + len(PROXY_FIX_SETTINGS)
            and not any(isinstance(a, ast.Starred) for a in call.args)
            and all(k.arg in PROXY_FIX_SETTINGS for k in call.keywords)
        ):
            found.update((id(target), id(call.args[0])))
    return found


def _is_request_environ(node: ast.expr, flask_names: Mapping[str, str]) -> bool:
    """``request.environ`` (Quart's request has none: an environ built from its scope gives
    the keys of :data:`migrate.frameworks.SCOPE_ENVIRON_KEYS` the same values)."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and flask_names.get(node.value.id) == "request"
    )


def _is_wsgi_app_of(node: ast.expr, owner: str) -> bool:
    """``node`` is ``X.wsgi_app`` for a name ``X`` (``owner``, if given)."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "wsgi_app"
        and isinstance(node.value, ast.Name)
        and (not owner or node.value.id == owner)
    )


def _app_creation_blockers(nodes: list[ast.AST], flask_names: Mapping[str, str]) -> Iterator[str]:
    """An app must be made by ``name = Flask(...)``: the rule sets Flask's file caching
    default on ``name`` right after (Quart's caches files for 12 hours)."""
    assigned = {
        id(node.value)
        for node in nodes
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
    }
    for node in nodes:
        if (
            isinstance(node, ast.Call)
            and id(node) not in assigned
            and _is_flask_class(node.func, flask_names)
        ):
            yield "it makes an app other than as `name = Flask(...)`"
            return


def _is_flask_class(node: ast.expr, flask_names: Mapping[str, str]) -> bool:
    if isinstance(node, ast.Name):
        return flask_names.get(node.id) == "Flask"
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "Flask"
        and isinstance(node.value, ast.Name)
        and node.value.id == "flask"
    )


def _is_view(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A view, hook or error handler by its decorators."""
    return any(_is_view_decorator(d) for d in func.decorator_list)


def _is_view_decorator(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and (
        target.attr in ROUTE_DECORATORS or target.attr in HOOK_DECORATORS
    )


def _registered(nodes: list[ast.AST]) -> set[str]:
    """Names of functions registered by calls (``app.teardown_appcontext(close_db)``,
    ``app.add_url_rule("/", view_func=index)``, ``app.errorhandler(404)(handler)``)."""
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Call):
            found.update(a.id for a in _registration_args(node) if isinstance(a, ast.Name))
    return found


def _registration_args(call: ast.Call) -> list[ast.expr]:
    """The function arguments ``call`` registers, if it is a registration."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in REGISTRATIONS:
        keyword = REGISTRATION_KEYWORDS.get(func.attr)
        return call.args[REGISTRATIONS[func.attr] :][:1] + [
            k.value for k in call.keywords if keyword and k.arg == keyword
        ]
    if isinstance(func, ast.Call) and _is_view_decorator(func):
        return call.args[:1]
    return []


def _is_awaitable(node: ast.AST, flask_names: Mapping[str, str]) -> bool:
    """``node`` is an awaitable of Quart: ``request.form``, ``render_template(...)``,
    ``request.stream.read()`` (the rule reads ``await request.get_data()``)..."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return flask_names.get(node.value.id) == "request" and node.attr in AWAITED_REQUEST
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return flask_names.get(node.func.id) in AWAITED_CALLS
    return is_stream_read_all(node, flask_names)


def is_stream_read_all(node: ast.AST, flask_names: Mapping[str, str]) -> bool:
    """``request.stream.read()``: the whole body, which Quart's ``await request.get_data()``
    gives (Quart's request has no stream)."""
    return (
        isinstance(node, ast.Call)
        and not node.args
        and not node.keywords
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "read"
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "stream"
        and isinstance(node.func.value.value, ast.Name)
        and flask_names.get(node.func.value.value.id) == "request"
    )


def _uses_awaitables(func: ast.FunctionDef, flask_names: Mapping[str, str]) -> bool:
    return any(_is_awaitable(node, flask_names) for node in _own_nodes(func))


def _nested_awaitables(func: ast.FunctionDef, flask_names: Mapping[str, str]) -> bool:
    """An awaitable used in a nested function, lambda or generator expression of ``func``
    (no ``await`` can go there)."""
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.GeneratorExp)
    return any(
        _is_awaitable(inner, flask_names)
        for node in _own_nodes(func)
        if isinstance(node, nested)
        for inner in ast.walk(node)
    )


def _called_names(func: ast.FunctionDef) -> set[str]:
    return {
        node.func.id
        for node in _own_nodes(func)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


def _referenced(tree: ast.Module, nodes: list[ast.AST]) -> frozenset[str]:
    """Names read other than as the callee of a call inside a module-level function or a view
    it defines, a decorator or a registration (those are what the rule rewrites)."""
    allowed: set[int] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef):
            for func in (stmt, *_nested_views(stmt)):
                allowed.update(
                    id(node.func)
                    for node in ast.walk(func)
                    if isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and not _inside_nested(func, node)
                )
    for node in nodes:
        if isinstance(node, ast.Call):
            allowed.update(id(a) for a in _registration_args(node))
    return frozenset(
        node.id
        for node in nodes
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and id(node) not in allowed
    )


def _inside_nested(func: ast.FunctionDef, target: ast.AST) -> bool:
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    return any(
        node is not func and isinstance(node, nested) and any(n is target for n in ast.walk(node))
        for node in ast.walk(func)
    )


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class ModulePlan:
    """What one module changes: its imports of flask go to quart; ``coroutines`` become
    ``async def``; calls of ``awaited`` (local names) are awaited."""

    convert: bool = False
    coroutines: frozenset[str] = frozenset()
    awaited: frozenset[str] = frozenset()
    refused: str = ""
    #: View decorators whose wrapper becomes a coroutine awaiting the view.
    async_wrappers: frozenset[str] = frozenset()
    #: Click commands of an app's CLI: run in an app context (Flask pushed one for each).
    cli_commands: frozenset[str] = frozenset()
    #: A test module: what its tests become (Quart's test client is async).
    tests: flask_tests.TestModulePlan | None = None
    #: (function, generator defined in it) pairs: the generator becomes an async generator.
    streams: frozenset[tuple[str, str]] = frozenset()
    #: Module-level generators its views stream: async generators, called as before.
    async_generators: frozenset[str] = frozenset()
    #: Template helpers of the module no code of the run calls or uses otherwise (only
    #: Jinja calls them, and under Quart awaits one that is a coroutine): the rule makes
    #: those that may block coroutines, their blocking calls off the loop.
    template_helpers: frozenset[str] = frozenset()
    #: (function, name) pairs: the names each function binds to one upload, whose
    #: ``save()`` the rule awaits (``outer.view`` for a view a function defines).
    uploads: frozenset[tuple[str, str]] = frozenset()
    #: In a refused run, the Flask extensions the module imports, with what to do instead
    #: (the rule marks their imports: the first things to change by hand).
    extensions: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return self.convert or bool(self.refused)


@dataclass(frozen=True)
class FlaskPlan:
    modules: tuple[tuple[str, ModulePlan], ...] = ()
    #: The run's Flask apps answer websockets through the WSGI server's socket (an extension
    #: of :data:`SERVER_WEBSOCKETS`, named here): served through the adapter they would
    #: refuse every websocket, so they stay on their WSGI server.
    server_websockets: str = ""

    def for_module(self, relpath: str) -> ModulePlan:
        return dict(self.modules).get(relpath, ModulePlan())


def plan(all_facts: Iterable[FlaskFacts], files: Iterable[str]) -> FlaskPlan:
    facts = {f.relpath: f for f in all_facts}
    files = frozenset(files)
    flask_modules = {r: f for r, f in facts.items() if f.uses_flask}
    if not flask_modules:
        return FlaskPlan()
    blockers = [b for f in facts.values() for b in f.blockers]

    lookup = Modules(facts, files)

    def resolve(module: FlaskFacts, local: str) -> tuple[str, str] | None:
        """(relpath, name) of the module-level function ``local`` names in ``module``."""
        if any(fn.name == local for fn in module.functions):
            return module.relpath, local
        for name, source, original in module.imports:
            if name == local and original:
                target = lookup.imported(module.relpath, source)
                if target is not None and any(fn.name == original for fn in target.functions):
                    return target.relpath, original
                return None
        return None

    by_key = {(f.relpath, fn.name): fn for f in facts.values() for fn in f.functions}
    generators = {key for key, fn in by_key.items() if fn.async_generator}
    coroutines = {
        key for key, fn in by_key.items() if (fn.registered or fn.awaits) and key not in generators
    }
    for module in facts.values():
        for local in module.registered_elsewhere:
            target = resolve(module, local)
            if target is None:
                blockers.append(
                    f"`{local}`, registered in {module.relpath}, is not a function of the run"
                )
            else:
                coroutines.add(target)
    changed = True
    while changed:  # callers of coroutines are coroutines
        changed = False
        for (relpath, name), fn in by_key.items():
            if (relpath, name) in coroutines or fn.wrapper or (relpath, name) in generators:
                continue
            if any(resolve(facts[relpath], callee) in coroutines for callee in fn.calls):
                coroutines.add((relpath, name))
                changed = True
    blockers.extend(
        by_key[key].unsafe for key in sorted(coroutines | generators) if by_key[key].unsafe
    )
    blockers.extend(
        f"`{name}` of {relpath}, a streamed generator, is used by {module.relpath}"
        for module in facts.values()
        for fn in module.functions
        for local in (*fn.calls, *module.referenced)
        if (target := resolve(module, local)) in generators
        and (relpath := target[0]) != module.relpath
        and (name := target[1])
    )
    blockers.extend(
        f"`{fn.name}` of {relpath} streams a response but stays a sync function"
        for (relpath, name), fn in sorted(by_key.items())
        if fn.streams and (relpath, name) not in coroutines
    )
    blockers.extend(
        f"`{name}` of {relpath} becomes a coroutine and defines views"
        for relpath, name in coroutines
        if any(other.startswith(f"{name}.") for r, other in coroutines if r == relpath)
    )
    wrappers = _async_wrappers(facts, by_key, coroutines, resolve, blockers)
    commands = _cli_commands(facts, by_key, resolve, blockers)
    blockers.extend(
        f"CLI command `{name}` of {relpath} calls a coroutine of the run"
        for relpath, name in sorted(commands & coroutines)
    )
    for relpath, name in sorted(coroutines):
        for module in facts.values():
            for local in module.referenced:
                if resolve(module, local) == (relpath, name):
                    blockers.append(
                        f"`{name}` of {relpath} is used in {module.relpath} other than called"
                    )
    tests = {r: f.test_tree for r, f in facts.items() if f.test_tree is not None}
    test_plans, test_blockers = flask_tests.analyse(tests)
    blockers.extend(test_blockers)
    blockers.extend(
        f"the test `{name}` of {relpath} calls a coroutine of the run"
        for relpath, name in sorted(coroutines)
        if relpath in tests
    )
    used = {
        target
        for module in facts.values()
        for local in (*(c for fn in module.functions for c in fn.calls), *module.referenced)
        if (target := resolve(module, local)) is not None
    }
    helpers = {
        key
        for key, fn in by_key.items()
        if fn.template_helper and key not in coroutines | generators | used
    }
    involved = {relpath for relpath, _ in coroutines | wrappers | commands} | set(flask_modules)
    involved |= set(tests)
    if blockers:
        reason = blockers[0]
        return FlaskPlan(
            tuple(
                (r, ModulePlan(refused=reason, extensions=extensions_of(facts[r].imports)))
                for r in sorted(flask_modules)
            ),
            _server_websockets(facts.values()),
        )
    modules = []
    for relpath in sorted(involved):
        module = facts[relpath]
        own = frozenset(name for r, name in coroutines if r == relpath)
        awaited = frozenset(
            callee
            for fn in module.functions
            for callee in fn.calls
            if resolve(module, callee) in coroutines
        )
        modules.append((relpath, ModulePlan(
            True, own, awaited,
            async_wrappers=frozenset(n for r, n in wrappers if r == relpath),
            cli_commands=frozenset(n for r, n in commands if r == relpath),
            tests=test_plans.get(relpath),
            streams=frozenset((fn.name, g) for fn in module.functions for g in fn.streams),
            async_generators=frozenset(n for r, n in generators if r == relpath),
            template_helpers=frozenset(n for r, n in helpers if r == relpath),
            uploads=frozenset((fn.name, name) for fn in module.functions for name in fn.uploads),
        )))  # fmt: skip
    return FlaskPlan(tuple(modules))


Key = tuple[str, str]
Resolve = Callable[[FlaskFacts, str], "Key | None"]


def _async_wrappers(
    facts: Mapping[str, FlaskFacts],
    by_key: Mapping[Key, FunctionFacts],
    coroutines: set[Key],
    resolve: Resolve,
    blockers: list[str],
) -> set[Key]:
    """The view decorators over coroutines, whose wrappers must become coroutines too
    (blockers added for decorators that cannot)."""
    wrappers: set[Key] = set()
    uses: dict[Key, list[Key]] = {}
    for key, fn in by_key.items():
        for local in fn.decorated_by:
            target = None if local.startswith("?") else resolve(facts[key[0]], local)
            if target is None or not by_key[target].wrapper:
                if key in coroutines:
                    blockers.append(
                        f"`{fn.name}` is decorated by `{local.lstrip('?')}`, "
                        "which the rule cannot make wrap a coroutine"
                    )
                continue
            uses.setdefault(target, []).append(key)
    for target, decorated in uses.items():
        made_async = [key for key in decorated if key in coroutines]
        if made_async and len(made_async) < len(decorated):
            other = next(key for key in decorated if key not in coroutines)
            blockers.append(f"`{target[1]}` decorates coroutines and `{other[1]}`, which is not")
        elif made_async:
            wrappers.add(target)
    for key, fn in by_key.items():
        calls_coroutine = any(resolve(facts[key[0]], c) in coroutines for c in fn.calls)
        if fn.wrapper and key not in wrappers and calls_coroutine:
            blockers.append(f"the wrapper of `{fn.name}` calls a coroutine of the run")
    return wrappers


def _cli_commands(
    facts: Mapping[str, FlaskFacts],
    by_key: Mapping[Key, FunctionFacts],
    resolve: Resolve,
    blockers: list[str],
) -> set[Key]:
    """The click commands of the apps' CLIs, wherever they are defined: those the
    decorators say, and those ``app.cli.add_command(name)`` adds (a command, or a group's)."""
    commands = {key for key, fn in by_key.items() if fn.cli_command}
    for module in facts.values():
        for local in module.cli_added:
            target = resolve(module, local)
            kind = by_key[target].click if target is not None else ""
            if kind == "command" and target is not None:
                commands.add(target)
            elif kind == "group" and target is not None:
                commands.update(
                    key for key, fn in by_key.items()
                    if key[0] == target[0] and fn.click_group == target[1]
                )  # fmt: skip
            else:
                blockers.append(f"{module.relpath} adds `{local}` to the CLI: not a click command")
    return commands
