"""Which Falcon apps of the run move to ``falcon.asgi``, and what each module changes for it.

A Falcon app is more than its ``falcon.App(...)`` call: the resources it routes to, its
middleware, the hooks on their responders, its error handlers and sinks, in whatever modules
of the run they live. ``falcon.asgi`` wants every one of them a coroutine (a sync responder,
middleware method or error handler raises at start-up; a sync hook fails each request), so an
app converts with all of them or not at all.

Each module of the run that mentions falcon gives its :class:`FalconFacts` (from CPython's
AST, during the scan); :func:`plan` joins them: it follows every app's parts through the
imports to their definitions, checks each can be made a coroutine faithfully (see
:func:`_body_blockers`), groups apps sharing a part (they convert together), and says, per
module, what to change. Every module's rule reads the same plan, so the parts of one app
change together across modules.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from migrate.blocking.stash import stashed_names
from migrate.frameworks import (
    Modules,
    environ_reads,
    import_bindings,
    is_generator,
    offload_blocker,
    own_nodes,
    plain_name,
    stream_blockers,
)
from migrate.module_paths import join_module

#: What makes a WSGI Falcon app, by qualified name.
FALCON_APPS = frozenset({"falcon.App", "falcon.API", "falcon.app.App", "falcon.api.API"})
HOOKS = frozenset({"falcon.before", "falcon.after", "falcon.hooks.before", "falcon.hooks.after"})
RESPONDER = re.compile(r"^on_[a-z]+(_[a-z0-9_]+)?$")
MIDDLEWARE_METHODS = ("process_request", "process_resource", "process_response")
#: Position of ``req`` in each kind of callable (``self`` first for methods).
REQ_AT = {"responder": 1, "middleware": 1, "hook": 0, "handler": 0, "sink": 0}
#: Calls that may be handed ``req`` without reading its body.
_SAFE_WITH_REQ = frozenset({"str", "repr", "print", "len", "id", "type", "isinstance", "getattr"})


@dataclass(frozen=True)
class Part:
    """A callable of an app that must become a coroutine: a module-level function
    (``name``), a method (``cls`` and ``name``), or the function a hook factory returns
    (``factory`` and ``name``)."""

    relpath: str
    name: str
    kind: str
    cls: str = ""
    factory: str = ""


@dataclass(frozen=True)
class AppFacts:
    """A ``falcon.App(...)`` call: the k-th of its module in source order."""

    index: int
    line: int
    #: Local names of what it routes to, uses as middleware, hands errors and sinks to.
    resources: tuple[str, ...] = ()
    middleware: tuple[str, ...] = ()
    handlers: tuple[str, ...] = ()
    sinks: tuple[str, ...] = ()
    blockers: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallableFacts:
    blockers: tuple[str, ...] = ()
    #: For a hook factory: the nested function it returns.
    returns: str = ""


@dataclass(frozen=True)
class ClassFacts:
    responders: tuple[str, ...] = ()
    middleware: tuple[str, ...] = ()
    #: Hooks of its responders and of the class: (local name, made by a call of it).
    hooks: tuple[tuple[str, bool], ...] = ()
    blockers: tuple[str, ...] = ()
    #: The blockers of each method, by name (for the responders and middleware methods).
    method_blockers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Its base classes other than ``object``, as named (``Base``, ``base.Resource``).
    bases: tuple[str, ...] = ()


@dataclass(frozen=True)
class FalconFacts:
    """What one module tells about Falcon apps; small and picklable."""

    relpath: str
    #: local name -> (module as imported, ``.mod`` for a relative import; original name,
    #: or "" for ``import module``).
    imports: tuple[tuple[str, str, str], ...] = ()
    apps: tuple[AppFacts, ...] = ()
    classes: tuple[tuple[str, ClassFacts], ...] = ()
    functions: tuple[tuple[str, CallableFacts], ...] = ()
    #: Functions of the module used other than as a hook, handler or sink (called, stored).
    used_directly: frozenset[str] = frozenset()
    #: Responder and middleware method names read as attributes of something other than
    #: ``self`` (``resource.on_get(req, resp)`` in a test): such a method must stay sync.
    methods_read: frozenset[str] = frozenset()
    #: Names the module stashes on what a request hands around (``req.context.session =
    #: Session()``, :mod:`migrate.blocking.stash`).
    stashed: frozenset[str] = frozenset()
    #: False for a module the rule does not run on (:func:`might_use_falcon` says no), read
    #: only for what a Falcon module imports from it (a resource's base class).
    names_falcon: bool = True


# --------------------------------------------------------------------------- facts


#: A responder or middleware method of the usual spelling: a module of resources need not
#: name falcon (``class Items: def on_get(self, req, resp): resp.media = ...``).
_PART_DEFINITION = re.compile(
    r"def\s+(?:on_[a-z]\w*|process_(?:request|resource|response))\s*\(\s*self\s*,\s*req\b"
)


def might_use_falcon(source: str) -> bool:
    return "falcon" in source or (
        "def " in source and "req" in source and _PART_DEFINITION.search(source) is not None
    )


def facts_of(relpath: str, tree: ast.Module, *, names_falcon: bool = True) -> FalconFacts:
    imports = tuple(import_bindings(tree.body))
    qualified = _qualifier(imports)
    apps = tuple(_apps(tree, qualified))
    classes: list[tuple[str, ClassFacts]] = []
    functions: list[tuple[str, CallableFacts]] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef):
            classes.append((stmt.name, _class_facts(stmt, qualified)))
        elif isinstance(stmt, ast.FunctionDef):
            functions.append((stmt.name, _function_facts(stmt)))
    methods_read = frozenset(
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and (RESPONDER.match(node.attr) or node.attr in MIDDLEWARE_METHODS)
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    )
    return FalconFacts(
        relpath, imports, apps, tuple(classes), tuple(functions), _used_directly(tree),
        methods_read, stashed_names(tree), names_falcon,
    )  # fmt: skip


def _qualifier(imports: Iterable[tuple[str, str, str]]) -> Mapping[str, str]:
    """Local name -> its qualified name (``falcon``, ``falcon.App``...)."""
    return {local: f"{module}.{name}" if name else module for local, module, name in imports}


def _qualified(node: ast.expr, qualified: Mapping[str, str]) -> str:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    head = qualified.get(node.id, "")
    return ".".join([head, *reversed(parts)]) if head else ""


def _apps(tree: ast.Module, qualified: Mapping[str, str]) -> Iterator[AppFacts]:
    calls = sorted(
        (
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and _qualified(node.func, qualified) in FALCON_APPS
        ),
        key=lambda call: (call.lineno, call.col_offset),
    )
    scopes = [
        tree,
        *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))),
    ]
    for index, call in enumerate(calls):
        yield _app_facts(index, call, scopes)


def _app_facts(index: int, call: ast.Call, scopes: Sequence[ast.AST]) -> AppFacts:
    blockers: list[str] = []
    resources: list[str] = []
    middleware: list[str] = []
    handlers: list[str] = []
    sinks: list[str] = []
    scope = next(s for s in scopes if call in _own_nodes(s))
    instances = _instances(scope)
    for keyword in call.keywords:
        if keyword.arg == "middleware":
            _add_middleware(keyword.value, instances, middleware, blockers)
    names = _bound_names(scope, call)
    if not names:
        blockers.append("the app is not bound to a name its module builds it under")
    else:
        for node in _own_nodes(scope):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in names
            ):
                continue
            name = node.func.value.id
            method, args = node.func.attr, node.args
            if method == "add_route" and len(args) >= 2:
                target = _made_by(args[1]) or instances.get(_name(args[1]) or "")
                if target is None:
                    blockers.append(
                        f"route `{ast.unparse(args[0])}` goes to `{ast.unparse(args[1])}`, not an instance of a named class"
                    )
                else:
                    resources.append(target)
            elif method == "add_middleware" and args:
                _add_middleware(args[0], instances, middleware, blockers)
            elif method == "add_error_handler" and len(args) < 2:
                blockers.append("an error handler taken from the exception class (its `handle`)")
            elif method == "add_error_handler":
                handler = _name(args[1])
                if handler is None:
                    blockers.append(
                        f"error handler `{ast.unparse(args[1])}` is not a named function"
                    )
                else:
                    handlers.append(handler)
            elif method == "add_sink" and args:
                sink = _name(args[0])
                if sink is None:
                    blockers.append(f"sink `{ast.unparse(args[0])}` is not a named function")
                else:
                    sinks.append(sink)
            elif method.startswith("add_") and method not in ("add_static_route", "add_route"):
                # a part this rule does not know how to make a coroutine: the app stays WSGI
                blockers.append(f"`{name}.{method}(...)` is not known to this rule")
    return AppFacts(
        index,
        call.lineno,
        tuple(resources),
        tuple(middleware),
        tuple(handlers),
        tuple(sinks),
        tuple(blockers),
    )


def _add_middleware(
    given: ast.expr, instances: Mapping[str, str], middleware: list[str], blockers: list[str]
) -> None:
    """The classes of the middleware ``given`` (an instance, a name bound once to one in the
    app's scope, or a list of them)."""
    items = given.elts if isinstance(given, (ast.List, ast.Tuple)) else [given]
    for item in items:
        made = _made_by(item) or instances.get(_name(item) or "")
        if made is None:
            blockers.append(f"middleware `{ast.unparse(item)}` is not an instance of a named class")
        else:
            middleware.append(made)


def _own_nodes(scope: ast.AST) -> list[ast.AST]:
    """The nodes of ``scope`` outside the functions and classes it defines."""
    found: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        found.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))
    return found


def _bound_names(scope: ast.AST, call: ast.Call) -> set[str]:
    """The names ``call`` is bound to (``api = application = falcon.App()``: both)."""
    for node in _own_nodes(scope):
        if isinstance(node, ast.Assign) and node.value is call:
            names = {_name(target) for target in node.targets}
            return set() if None in names else {n for n in names if n is not None}
    return set()


def _instances(scope: ast.AST) -> dict[str, str]:
    """Names bound once in ``scope`` to an instance of a named class: name -> class name."""
    found: dict[str, str] = {}
    rebound: set[str] = set()
    for node in _own_nodes(scope):
        if not isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        made = _made_by(node.value) if node.value is not None and len(targets) == 1 else None
        for target in targets:
            for name_node in ast.walk(target):
                if isinstance(name_node, ast.Name):
                    if name_node.id in found or made is None or name_node is not target:
                        rebound.add(name_node.id)
                    else:
                        found[name_node.id] = made
    return {name: made for name, made in found.items() if name not in rebound}


def _name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else None


def _made_by(node: ast.expr) -> str | None:
    """``Cls`` of ``Cls(...)`` (or ``module.Cls(...)``, spelled dotted)."""
    return _class_name(node.func) if isinstance(node, ast.Call) else None


def _class_name(node: ast.expr) -> str | None:
    """``Cls`` or ``module.Cls`` as spelled."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


def _class_facts(cls: ast.ClassDef, qualified: Mapping[str, str]) -> ClassFacts:
    responders: list[str] = []
    middleware: list[str] = []
    hooks: list[tuple[str, bool]] = []
    blockers: list[str] = []
    per_method: list[tuple[str, tuple[str, ...]]] = []
    hooks.extend(_hooks(cls.decorator_list, qualified, blockers))
    bases: list[str] = []
    for base in cls.bases:
        named = _class_name(base)
        if named is None:
            blockers.append(f"`{cls.name}` inherits from `{ast.unparse(base)}`")
        elif named != "object":
            bases.append(named)  # the plan reads it: it must bring no part of its own
    if cls.keywords:
        blockers.append(f"`{cls.name}` has a metaclass")
    methods = {
        s.name: s for s in cls.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    for name, method in methods.items():
        kind = (
            "responder"
            if RESPONDER.match(name)
            else "middleware"
            if name in MIDDLEWARE_METHODS
            else ""
        )
        if not kind or f"{name}_async" in methods:  # falcon.asgi calls the _async one
            continue
        if isinstance(method, ast.AsyncFunctionDef):
            blockers.append(f"`{cls.name}.{name}` is async already")
            continue
        (responders if kind == "responder" else middleware).append(name)
        hooks.extend(_hooks(method.decorator_list, qualified, blockers))
        per_method.append((name, tuple(_body_blockers(method, kind, methods))))
    for stmt in cls.body:
        if (
            isinstance(stmt, ast.Assign)
            and any(isinstance(t, ast.Name) and RESPONDER.match(t.id) for t in stmt.targets)
            and not (isinstance(stmt.value, ast.Name) and stmt.value.id in methods)
        ):
            blockers.append(f"a responder of `{cls.name}` is not a method of it")
    return ClassFacts(
        tuple(responders),
        tuple(middleware),
        tuple(hooks),
        tuple(blockers),
        tuple(per_method),
        tuple(bases),
    )


def _hooks(
    decorators: list[ast.expr], qualified: Mapping[str, str], blockers: list[str]
) -> Iterator[tuple[str, bool]]:
    for decorator in decorators:
        if not (isinstance(decorator, ast.Call) and _qualified(decorator.func, qualified) in HOOKS):
            if _qualified(
                decorator.func if isinstance(decorator, ast.Call) else decorator, qualified
            ).startswith("falcon"):
                blockers.append(f"decorator `{ast.unparse(decorator)}` is not known to this rule")
            continue
        if not decorator.args:
            continue
        action = decorator.args[0]
        if isinstance(action, ast.Name):
            yield action.id, False
        elif isinstance(action, ast.Call) and isinstance(action.func, ast.Name):
            yield action.func.id, True
        else:
            blockers.append(f"hook `{ast.unparse(action)}` is not a named function")


def _function_facts(func: ast.FunctionDef) -> CallableFacts:
    returns = ""
    nested = {s.name: s for s in func.body if isinstance(s, ast.FunctionDef)}
    last = func.body[-1] if func.body else None
    if (
        isinstance(last, ast.Return)
        and isinstance(last.value, ast.Name)
        and last.value.id in nested
    ):
        returns = last.value.id
        return CallableFacts(tuple(_body_blockers(nested[returns], "hook", {})), returns)
    return CallableFacts(tuple(_body_blockers(func, "hook", {})))


def _body_blockers(
    func: ast.FunctionDef | ast.AsyncFunctionDef, kind: str, methods: Mapping[str, ast.AST]
) -> Iterator[str]:
    """What in ``func`` cannot be made a coroutine faithfully (its ``req`` is the parameter
    at the kind's position)."""
    params = [a.arg for a in [*func.args.posonlyargs, *func.args.args]]
    at = REQ_AT[kind]
    if len(params) <= at:
        yield f"`{func.name}` takes no request"
        return
    req = params[at]
    resp = params[at + 1] if len(params) > at + 1 else ""
    yield from _media_iterated(func, req)
    if unsafe := offload_blocker(func):
        yield unsafe
    reads = _stream_reads(func, req) | environ_reads(own_nodes(func), _is_env_of(req))
    if is_generator(func):
        yield f"`{func.name}` is a generator"
    for node in ast.walk(func):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (
                node.value.id == req
                and node.attr in ("env", "stream", "bounded_stream")
                and id(node) not in reads
            ):
                how = "other than with .read()" if node.attr != "env" else ""
                yield f"`{func.name}` reads `{req}.{node.attr}`" + (f" {how}" if how else "")
            if node.value.id == resp and node.attr == "stream" and isinstance(node.ctx, ast.Store):
                yield from _stream_blockers(func, node)
        elif isinstance(node, ast.Call):
            called = node.func
            if (
                isinstance(called, ast.Attribute)
                and called.attr == "render_body"
                and not (isinstance(called.value, ast.Name) and called.value.id == resp and resp)
            ):
                yield f"`{func.name}` renders a body other than its `{resp or 'resp'}`'s"
            if (
                isinstance(called, ast.Attribute)
                and isinstance(called.value, ast.Name)
                and called.value.id == "self"
                and (RESPONDER.match(called.attr) or called.attr in MIDDLEWARE_METHODS)
            ):
                yield f"`{func.name}` calls the responder `{called.attr}` (a coroutine now)"
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if (
                    isinstance(arg, ast.Name)
                    and arg.id == req
                    and not _safe_with_req(node, methods)
                ):
                    yield f"`{func.name}` hands `{req}` to `{ast.unparse(node.func)}`"
    for nested in ast.walk(func):
        if nested is not func and isinstance(
            nested, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
        ):
            for inner in ast.walk(nested):
                if (
                    isinstance(inner, ast.Attribute)
                    and isinstance(inner.value, ast.Name)
                    and (inner.value.id == req and inner.attr in ("media", "get_media"))
                ):
                    yield f"`{func.name}` reads the body in a nested function"
                if isinstance(inner, ast.Attribute) and inner.attr == "render_body":
                    yield f"`{func.name}` renders the body in a nested function"


def _stream_reads(func: ast.FunctionDef | ast.AsyncFunctionDef, req: str) -> set[int]:
    """The ``req.stream``/``req.bounded_stream`` nodes of ``req.stream.read(...)`` calls in
    ``func`` itself (not in a nested function): awaited under falcon.asgi, where the stream
    reads the same bytes (``size`` of them, fewer only at the end; all of them without)."""
    return {
        id(node.func.value)
        for node in own_nodes(func)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "read"
        and len(node.args) + len(node.keywords) <= 1
        and _is_req_stream(node.func.value, req)
    }


def _is_env_of(req: str) -> Callable[[ast.expr], bool]:
    """``req.env`` (falcon.asgi's request has no ``env``: an environ built from its scope
    gives the keys of :data:`migrate.frameworks.SCOPE_ENVIRON_KEYS` the same values)."""
    return lambda node: (
        isinstance(node, ast.Attribute)
        and node.attr == "env"
        and isinstance(node.value, ast.Name)
        and node.value.id == req
    )


def _is_req_stream(node: ast.expr, req: str) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr in ("stream", "bounded_stream")
        and isinstance(node.value, ast.Name)
        and node.value.id == req
    )


#: What a multipart form's part gives as it is, and what falcon.asgi makes awaitable (a
#: property read becomes an awaited getter; ``part.stream.read(...)`` is awaited).
PART_PLAIN = frozenset({"name", "filename", "content_type", "secure_filename"})
PART_AWAITED = frozenset({"text", "data", "media", "get_text", "get_data", "get_media"})


def _media_iterated(func: ast.FunctionDef | ast.AsyncFunctionDef, req: str) -> Iterator[str]:
    """A body iterated over other than as the rule converts it. Under falcon.asgi a multipart
    form (which Falcon parses by default) is iterated with ``async for``, its parts read with
    awaits: the rule converts ``for part in req.media:`` (or ``req.get_media()``, and a
    nested ``for sub in part.media:``) whose part is only read for its name, filename, content
    type, text, data, media or stream (at least once: a body iterated so is a form)."""

    def is_media(node: ast.expr) -> bool:
        if isinstance(node, ast.Call):
            node = node.func
            if not (isinstance(node, ast.Attribute) and node.attr == "get_media"):
                return False
        return (
            isinstance(node, ast.Attribute)
            and node.attr in ("media", "get_media")
            and isinstance(node.value, ast.Name)
            and node.value.id == req
        )

    media_names = {
        target.id
        for node in ast.walk(func)
        if isinstance(node, ast.Assign) and is_media(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    loops = form_loops(func, req)
    part_names = set(loops.values())
    for node in ast.walk(func):
        iters = [node.iter] if isinstance(node, ast.For) else []
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            iters = [generator.iter for generator in node.generators]
        for it in iters:
            if id(node) in loops:
                continue
            if is_media(it) or (isinstance(it, ast.Name) and it.id in media_names):
                yield f"`{func.name}` iterates over the body's media other than as a form's parts"
            if (
                isinstance(it, ast.Attribute)
                and it.attr == "media"
                and isinstance(it.value, ast.Name)
                and it.value.id in part_names
            ):
                yield f"`{func.name}` iterates over a part's media other than as its parts"


def form_loops(func: ast.FunctionDef | ast.AsyncFunctionDef, req: str) -> dict[int, str]:
    """The ``for`` loops of ``func`` over a multipart form's parts that the rule makes
    ``async for`` (see :func:`_media_iterated`), nested ones included: loop id -> the name
    of its part."""
    own = list(own_nodes(func))
    parents = {id(child): node for node in own for child in ast.iter_child_nodes(node)}

    def over_parts(loop: ast.For) -> bool:
        if not isinstance(loop.target, ast.Name):
            return False
        part = loop.target.id
        uses = [n for n in ast.walk(loop) if isinstance(n, ast.Name) and n.id == part]
        part_reads = 0
        for use in uses:
            if use is loop.target:
                continue
            attribute = parents.get(id(use))
            if not isinstance(attribute, ast.Attribute) or not isinstance(use.ctx, ast.Load):
                return False
            holder = parents.get(id(attribute))
            if attribute.attr in PART_PLAIN:
                part_reads += 1
            elif attribute.attr in ("get_text", "get_data", "get_media"):
                if not (isinstance(holder, ast.Call) and holder.func is attribute):
                    return False
                part_reads += 1
            elif attribute.attr in ("text", "data", "media"):
                part_reads += 1
            elif attribute.attr == "stream":
                read = parents.get(id(holder)) if isinstance(holder, ast.Attribute) else None
                if not (
                    isinstance(holder, ast.Attribute)
                    and holder.attr == "read"
                    and isinstance(read, ast.Call)
                    and read.func is holder
                ):
                    return False
                part_reads += 1
            else:
                return False
        return part_reads > 0 and not loop.orelse

    loops = [n for n in own if isinstance(n, ast.For)]
    parts: dict[int, str] = {}  # loop id -> its part's name
    for loop in loops:  # a loop comes before the loops inside it (own_nodes)
        it = loop.iter
        if isinstance(it, ast.Call) and not it.args and isinstance(it.func, ast.Attribute):
            media = it.func if it.func.attr == "get_media" else None
        else:
            media = it if isinstance(it, ast.Attribute) and it.attr == "media" else None
        if media is None or not isinstance(media.value, ast.Name):
            continue
        owner = media.value.id
        if (owner == req or owner in parts.values()) and over_parts(loop):
            assert isinstance(loop.target, ast.Name)
            parts[id(loop)] = loop.target.id
    return parts


def _stream_blockers(
    func: ast.FunctionDef | ast.AsyncFunctionDef, target: ast.Attribute
) -> Iterator[str]:
    """The assignments of the stream the rule rewrites: ``resp.stream = open(...)`` (an async
    file) and ``resp.stream = generate(...)`` of a generator defined in the responder's body
    and only called (an async generator); any other (a generator of elsewhere, a value
    unpacked from a tuple) stays sync."""
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and target in node.targets:
            value = node.value
            called = plain_name(value.func) if isinstance(value, ast.Call) else ""
            if len(node.targets) == 1 and called == "open":
                return
            generator = streamed_generators(func).get(called) if len(node.targets) == 1 else None
            if generator is not None:
                yield from (
                    f"`{func.name}` streams `{called}`, which {why}"
                    for why in stream_blockers(generator, func)
                )
                return
    yield "a response stream that is not a file opened with open() or a generator of the responder"


def streamed_generators(func: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, ast.FunctionDef]:
    """The generator functions defined in ``func``'s body (statements of it)."""
    return {
        stmt.name: stmt
        for stmt in func.body
        if isinstance(stmt, ast.FunctionDef) and is_generator(stmt)
    }


def _safe_with_req(call: ast.Call, methods: Mapping[str, ast.AST]) -> bool:
    func = call.func
    if isinstance(func, ast.Name) and func.id in _SAFE_WITH_REQ:
        return True
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "self"
        and func.attr in methods
    ):
        helper = methods[func.attr]
        return not any(
            isinstance(n, ast.Attribute)
            and n.attr in ("media", "get_media", "stream", "bounded_stream", "env")
            for n in ast.walk(helper)
        )
    return False


def _used_directly(tree: ast.Module) -> frozenset[str]:
    """Names of module-level functions read anywhere but as a hook, handler or sink
    argument or their own definition."""
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            if name in ("before", "after", "add_error_handler", "add_sink"):
                for arg in node.args:
                    target = arg.func if isinstance(arg, ast.Call) else arg
                    allowed.add(id(target))
    return frozenset(
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and id(node) not in allowed
    )


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class ModulePlan:
    """What one module changes."""

    #: The k-th ``falcon.App(...)`` calls of the module that become ``falcon.asgi.App``.
    apps: frozenset[int] = frozenset()
    #: The callables that become coroutines.
    parts: frozenset[Part] = frozenset()
    #: Apps that stay WSGI, with why (by index), for the marker.
    refused: tuple[tuple[int, str], ...] = ()
    #: Responders of apps with nothing else of the run in a request (no middleware, hook,
    #: error handler or sink): what they run is the request's last code of the run.
    last: frozenset[Part] = frozenset()
    #: What the modules of its apps' units stash on a request (the middleware of another
    #: module keeping a session on ``req.context``).
    stashed: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.apps or self.parts or self.refused)


@dataclass(frozen=True)
class FalconPlan:
    modules: tuple[tuple[str, ModulePlan], ...] = ()

    def for_module(self, relpath: str) -> ModulePlan:
        return dict(self.modules).get(relpath, ModulePlan())


@dataclass
class _Group:
    apps: list[tuple[str, int]] = field(default_factory=list)
    parts: set[Part] = field(default_factory=set)
    blockers: list[str] = field(default_factory=list)
    #: A part runs in a request besides the responder (middleware, a hook, a handler, a sink).
    not_only_responders: bool = False


def plan(
    all_facts: Iterable[FalconFacts],
    files: Iterable[str],
    read: Callable[[str], ast.Module | None] | None = None,
) -> FalconPlan:
    """The conversion of every Falcon app of the run (``files``: every file of the run, as
    imports look modules up in them; see the module docstring). ``read`` gives the tree of
    a module of the run: the modules the Falcon modules import from that never name falcon
    (a resource's base class, ``class SessionedResource`` in ``resources/base.py``) are read
    with it, and the plan made again, until it asks for none it has not read."""
    facts = {f.relpath: f for f in all_facts}
    names = frozenset(files)
    while True:
        made, unread = _plan(facts, names)
        unread -= facts.keys()
        if read is None or not unread:
            return made
        for relpath in sorted(unread):
            tree = read(relpath)
            facts[relpath] = (
                facts_of(relpath, tree, names_falcon=False)
                if tree is not None
                else FalconFacts(relpath, names_falcon=False)
            )


def _plan(facts: dict[str, FalconFacts], files: frozenset[str]) -> tuple[FalconPlan, set[str]]:
    """The plan from the facts at hand, and the modules of the run it found no facts for."""
    by_module = Modules(facts, files)
    read_directly = {
        name: module.relpath for module in facts.values() for name in module.methods_read
    }
    groups: list[_Group] = []
    for module in facts.values():
        for app in module.apps:
            group = _Group([(module.relpath, app.index)], blockers=list(app.blockers))
            _collect(module, app, by_module, group)
            group.blockers.extend(
                f"`{part.cls}.{part.name}` is called directly in {read_directly[part.name]}"
                for part in sorted(group.parts, key=lambda p: (p.relpath, p.cls, p.name))
                if part.cls and part.name in read_directly
            )
            groups.append(group)
    groups = _merged(groups)
    per_module: dict[str, _ModuleEntry] = {}
    for group in groups:
        for relpath, index in group.apps:
            entry = per_module.setdefault(relpath, _ModuleEntry())
            if group.blockers:
                entry.refused.append((index, group.blockers[0]))
            else:
                entry.apps.add(index)
        if group.blockers:
            continue
        relpaths = {relpath for relpath, _ in group.apps} | {p.relpath for p in group.parts}
        stashed = frozenset().union(*(facts[r].stashed for r in relpaths if r in facts))
        for part in group.parts:
            entry = per_module.setdefault(part.relpath, _ModuleEntry())
            entry.parts.add(part)
            if not group.not_only_responders:
                entry.last.add(part)
        for relpath in relpaths:
            per_module.setdefault(relpath, _ModuleEntry()).stashed.update(stashed)
    made = FalconPlan(
        tuple((relpath, entry.plan()) for relpath, entry in sorted(per_module.items()))
    )
    return made, by_module.unread


@dataclass
class _ModuleEntry:
    """A :class:`ModulePlan` in the making."""

    apps: set[int] = field(default_factory=set)
    parts: set[Part] = field(default_factory=set)
    refused: list[tuple[int, str]] = field(default_factory=list)
    last: set[Part] = field(default_factory=set)
    stashed: set[str] = field(default_factory=set)

    def plan(self) -> ModulePlan:
        return ModulePlan(
            frozenset(self.apps),
            frozenset(self.parts),
            tuple(self.refused),
            frozenset(self.last),
            frozenset(self.stashed),
        )


def _merged(groups: list[_Group]) -> list[_Group]:
    """Groups sharing a part joined (a resource of two apps converts with both)."""
    merged: list[_Group] = []
    for group in groups:
        for other in [g for g in merged if g.parts & group.parts]:
            merged.remove(other)
            group = _Group(
                other.apps + group.apps,
                other.parts | group.parts,
                other.blockers + group.blockers,
                other.not_only_responders or group.not_only_responders,
            )
        merged.append(group)
    return merged


def _resolve(
    module: FalconFacts, local: str, by_module: Modules[FalconFacts]
) -> tuple[FalconFacts, str] | None:
    """The module and module-level name ``local`` (``name`` or ``mod.name``) refers to."""
    head, _, rest = local.partition(".")
    for name, source, original in module.imports:
        if name != head:
            continue
        if rest:  # ``mod.Cls`` after ``import mod`` or ``from package import mod``
            target = by_module.imported(module.relpath, join_module(source, original))
            return (target, rest) if target is not None else None
        if not rest and original:
            target = by_module.imported(module.relpath, source)
            return (target, original) if target is not None else None
        return None
    if not rest and (head in dict(module.classes) or head in dict(module.functions)):
        return module, head
    return None


def _collect(
    module: FalconFacts, app: AppFacts, by_module: Modules[FalconFacts], group: _Group
) -> None:
    if app.middleware or app.handlers or app.sinks:
        group.not_only_responders = True
    for local in app.resources:
        _collect_class(module, local, "resource", by_module, group)
    for local in app.middleware:
        _collect_class(module, local, "middleware", by_module, group)
    for local, kind in [*((h, "handler") for h in app.handlers), *((s, "sink") for s in app.sinks)]:
        _collect_function(module, local, kind, False, by_module, group)


def _called_elsewhere(owner: FalconFacts, name: str, by_module: Modules[FalconFacts]) -> str:
    """A module of the run that imports ``name`` from ``owner`` (``from hooks import
    check_token``) and calls it, or reads it, other than as a hook, handler or sink: it would
    get a coroutine function. Its path, or ""."""
    for module in by_module.facts.values():
        if module is owner:
            continue
        for local, source, original in module.imports:
            if (
                original == name
                and local in module.used_directly
                and by_module.imported(module.relpath, source) is owner
            ):
                return module.relpath
    return ""


def _defined(
    module: FalconFacts, local: str, what: str, by_module: Modules[FalconFacts], group: _Group
) -> tuple[FalconFacts, str, ClassFacts | CallableFacts] | None:
    """The module, name and facts of the class or function (``what``) ``local`` names, or
    None with the reason among the group's blockers."""
    found = _resolve(module, local, by_module)
    if found is None:
        group.blockers.append(f"`{local}` is not a {what} of this run this rule can read")
        return None
    owner, name = found
    table = dict(owner.classes) if what == "class" else dict(owner.functions)
    facts = table.get(name)
    if facts is None:
        group.blockers.append(f"`{local}` is not a {what}")
        return None
    return owner, name, facts


def _collect_class(
    module: FalconFacts, local: str, role: str, by_module: Modules[FalconFacts], group: _Group
) -> None:
    found = _defined(module, local, "class", by_module, group)
    if found is None:
        return
    owner, name, cls = found
    assert isinstance(cls, ClassFacts)
    if not _converted_there(owner, name, group):
        return
    group.blockers.extend(cls.blockers)
    _check_bases(owner, name, cls, by_module, group, set())
    methods = cls.responders if role == "resource" else cls.middleware
    if not methods:
        group.blockers.append(
            f"`{name}` has no {'responders' if role == 'resource' else 'middleware methods'}"
        )
    blockers = dict(cls.method_blockers)
    for method in methods:
        group.blockers.extend(blockers.get(method, ()))
        group.parts.add(Part(owner.relpath, method, "method", cls=name))
    for hook, made in cls.hooks:
        group.not_only_responders = True
        _collect_function(owner, hook, "hook", made, by_module, group)


def _converted_there(owner: FalconFacts, name: str, group: _Group) -> bool:
    """A part must be in a module the rule runs on (:func:`might_use_falcon`); else a
    blocker."""
    if owner.names_falcon:
        return True
    group.blockers.append(
        f"`{name}` is defined in {owner.relpath}, which never names falcon nor defines a "
        "responder as `on_get(self, req, resp)` (the rule runs only on modules that do)"
    )
    return False


def _check_bases(
    owner: FalconFacts,
    name: str,
    cls: ClassFacts,
    by_module: Modules[FalconFacts],
    group: _Group,
    seen: set[tuple[str, str]],
) -> None:
    """The base classes of ``cls`` (``name`` of ``owner``) must be classes of the run the
    rule reads that bring no responder, middleware method or hook (those would stay sync:
    falcon.asgi refuses them) and whose own bases do the same; else a blocker says why."""
    for local in cls.bases:
        found = _resolve(owner, local, by_module)
        base = dict(found[0].classes).get(found[1]) if found is not None else None
        if found is None or base is None:
            group.blockers.append(
                f"`{name}` inherits from `{local}`, not a class of this run this rule can read"
            )
            continue
        if (found[0].relpath, found[1]) in seen:
            continue
        seen.add((found[0].relpath, found[1]))
        if base.responders or base.middleware or base.hooks:
            group.blockers.append(
                f"`{name}` inherits responders, middleware methods or hooks from `{local}`"
            )
        group.blockers.extend(base.blockers)
        _check_bases(found[0], found[1], base, by_module, group, seen)


def _collect_function(
    module: FalconFacts,
    local: str,
    kind: str,
    made: bool,
    by_module: Modules[FalconFacts],
    group: _Group,
) -> None:
    found = _defined(module, local, "function", by_module, group)
    if found is None:
        return
    owner, name, func = found
    assert isinstance(func, CallableFacts)
    if not _converted_there(owner, name, group):
        return
    if made and not func.returns:
        group.blockers.append(f"`{name}` does not return a nested function")
        return
    if not made and name in owner.used_directly:
        group.blockers.append(f"`{name}` is also called directly")
        return
    if not made and (caller := _called_elsewhere(owner, name, by_module)):
        group.blockers.append(f"`{name}` is also called directly in {caller}")
        return
    group.blockers.extend(func.blockers)
    if made:
        group.parts.add(Part(owner.relpath, func.returns, kind, factory=name))
    else:
        group.parts.add(Part(owner.relpath, name, kind))
