"""One WSGI callable -> its ASGI version (:func:`convert_callable`), its blocking calls off the loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import libcst as cst

from migrate import analysis
from migrate.analysis import (
    is_plain_name,
    mentions,
)
from migrate.app_finding import Delegate
from migrate.blocking import CannotOffload, ModuleFacts, offload_blocking
from migrate.blocking.offload import RUN_BLOCKING, RUN_BLOCKING_LAST
from migrate.cst_helpers import (
    is_docstring,
    suite_statements,
)
from migrate.hand_offs import HandOff
from migrate.instances import callee_key
from migrate.local_names import NameTaken, free_names
from migrate.project import Lookup
from migrate.rules.wsgi_app.common import HELPERS, Unconvertible, _stmt
from migrate.rules.wsgi_app.environ import EnvironRewriter, EnvironUse, ScopeChanges
from migrate.rules.wsgi_app.imported import ImportedHelpers
from migrate.rules.wsgi_app.response import NOT_STARTED, TERMINATED, Pending, ResponseRewriter


@dataclass
class Conversion:
    node: cst.FunctionDef
    details: list[str]
    use: EnvironUse
    #: what the module must import for blocking calls moved off the loop
    imports: list[tuple[str, str | None]] = field(default_factory=list)


def convert_callable(
    func: cst.FunctionDef,
    environ: str,
    start_response: str,
    *,
    method: bool,
    aliases: dict[str, str],
    helpers: dict[str, set[int]],
    delegates: Mapping[str, Delegate] | None = None,
    role: Literal["app", "helper", "request-method"] = "app",
    middleware: set[str] | frozenset[str] = frozenset(),
    imported: ImportedHelpers | None = None,
    blocking: ModuleFacts | None = None,
    cls: cst.ClassDef | None = None,
) -> Conversion:
    """The ASGI version of one WSGI callable, or :class:`Unconvertible`.

    With ``blocking`` (the module's facts for :mod:`migrate.blocking`), the calls of the
    new async function that may block are moved off the event loop (``cls``: the class
    whose method it is); where that cannot be done faithfully it is Unconvertible.

    With ``delegates`` (the members of its call group, converted with it), ``return
    f(environ, start_response, *extra)`` calls of them become ``return await f(scope, receive,
    send, *extra)``. ``role="helper"``: ``func`` is a response helper, which gets
    ``start_response`` (its parameter of that name becomes ``send``) but no environ (pass
    ``""``); an app (``role="app"``) may take extra parameters after the two WSGI ones;
    ``role="request-method"``: a method its class's ``__call__`` hands the request to (no
    check of the scope's type: the caller made it).
    Decorators are kept when they are all ASGI middleware (``middleware``, from
    :func:`app_finding.middleware_names`): they then get the ASGI app they expect.

    With ``imported`` (knowledge of the other modules of the run), the environ may be handed
    to environ readers of other modules (they get one built from the scope), start_response
    to their response helpers (they get an ``asgi_helpers.StartResponse``), and an iterable
    returned after start_response is sent through a StartResponse too."""
    delegates = delegates or {}
    if imported is not None:
        imported = imported.inside(func)
    static = role == "helper" and analysis.is_static(func)
    if (
        func.decorators
        and not static
        and len(_middleware_decorators(func, middleware)) != len(func.decorators)
    ):
        raise Unconvertible("it is decorated (the decorator expects a WSGI callable)")
    if not isinstance(func.body, cst.IndentedBlock):
        raise Unconvertible("it is written on one line")
    try:
        # its own variables called scope, receive, send get other names
        func = free_names(func, ("scope", "receive", "send", HELPERS))
    except NameTaken as name:
        raise Unconvertible(f"it already uses the name {name} for what it does not bind") from None
    for node in analysis.walk(func.body):
        if node is func.body:
            continue
        if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)) and (
            mentions(node, environ) or mentions(node, start_response)
        ):
            raise Unconvertible("a nested function uses the environ or start_response")
    returned = {
        id(n.value) for n in analysis.walk(func.body) if isinstance(n, cst.Return) and n.value
    }
    hands_request_on = False
    collected: set[str] = set()
    for node in analysis.walk(func.body):
        if isinstance(node, cst.Call) and any(
            is_plain_name(a.value, start_response) for a in node.args
        ):
            callee = callee_key(node.func) or "other code"
            delegate = delegates.get(callee)
            lookup = imported.lookup(callee) if imported is not None and delegate is None else None
            if lookup is not None:
                _check_collector_call(node, callee, lookup, start_response, id(node) in returned)
                collected.add(callee)
                continue
            if delegate is None:
                raise Unconvertible(f"it hands start_response to `{callee}()`")
            _check_delegate_call(node, delegate, environ, start_response, id(node) in returned)
            hands_request_on = hands_request_on or delegate.environ is not None
    taken = (analysis.param_names(func) - {environ, start_response}) & {"scope", "receive", "send"}
    if taken:
        raise Unconvertible(f"it already uses the name(s) {', '.join(sorted(taken))}")
    scope_changes = ScopeChanges(environ, aliases)
    prepared = func.body.visit(scope_changes)
    assert isinstance(prepared, cst.IndentedBlock)
    if environ in analysis.written_names(prepared):
        raise Unconvertible(f"it writes to `{environ}` (the environ)")
    if start_response in analysis.written_names(prepared):
        raise Unconvertible(f"it rebinds `{start_response}`")
    generator = analysis.contains_yield(prepared)

    rewriter = EnvironRewriter(environ, start_response, aliases, helpers, delegates, imported)
    rewriter.environ_at_call = scope_changes.changes_scope
    taken_names = analysis.names_in(func)
    while rewriter.stream_name in taken_names:
        rewriter.stream_name += "_"
    body = prepared.visit(rewriter)
    assert isinstance(body, cst.IndentedBlock)
    use = rewriter.use
    writes = scope_changes.writes
    if writes.count and not (hands_request_on or use.needs_environ):
        raise Unconvertible(
            f"it sets environ[{writes.keys[0]!r}] without handing the request on: only the "
            "code around it could read that, which an ASGI app cannot give it"
        )
    if use.needs_body and scope_changes.changes_scope:
        raise Unconvertible(
            "it changes the request (path or environ keys) and hands the environ to a helper "
            "that reads the request body"
        )
    if use.streams and (use.body_reads or use.needs_body):
        raise Unconvertible("reads the request body both as a stream and whole")
    if (
        (use.body_reads or use.streams)
        and hands_request_on
        and _may_follow(body.body, rewriter.body_read_results, _handing_on_calls(body, delegates))
    ):
        raise Unconvertible("it reads the request body and hands the request on")
    # the body read for a helper is given again to the member it hands the request to
    replayed = use.needs_body and hands_request_on and not rewriter.environ_at_call
    request_body = "request_body"
    while request_body in taken_names:
        request_body += "_"
    if use.needs_body and use.body_reads:
        raise Unconvertible(
            "it reads the request body and hands the environ to a helper that reads it too"
        )

    stmts = list(body.body)
    docstring: list[cst.BaseStatement] = []
    if stmts and is_docstring(stmts[0]):
        docstring = [stmts.pop(0)]
    responder = ResponseRewriter(
        start_response,
        generator,
        analysis.names_in(func),
        delegates=delegates,
        collected=frozenset(collected),
        collects=imported is not None,
        file_wrappers=bound_once(use.file_wrappers, body),
        receive=f"{HELPERS}.replay_body({request_body}, receive)" if replayed else "receive",
        root=body,
        params=frozenset(
            {"scope", "receive", "send"} | (analysis.param_names(func) - {environ, start_response})
        ),
    )
    new_stmts, state = responder.block(stmts, NOT_STARTED)
    if role == "helper" and isinstance(state, Pending) and analysis.returns_nothing(func):
        # a helper that only starts the response: the start goes out as it returns, and its
        # callers send the body (nothing that may fail runs between: they check)
        responder.flush(state, new_stmts)
        state = TERMINATED
    if generator:
        if state is NOT_STARTED:
            raise Unconvertible("the generator may finish without calling start_response")
        if state is not TERMINATED:
            responder.flush(state, new_stmts)
            new_stmts.append(responder.body_send('b""', False))
    elif state is not TERMINATED:
        raise Unconvertible("a path ends without returning a body")
    if new_stmts and id(new_stmts[-1]) in responder.generated_returns:
        new_stmts.pop()
    leftover = cst.IndentedBlock(body=new_stmts)
    if mentions(leftover, start_response) or (
        responder.write and mentions(leftover, responder.write)
    ):
        raise Unconvertible("start_response or write() is handed to other code")

    prologue: list[cst.BaseStatement] = []
    if role == "app":
        prologue.append(
            _stmt(
                'if scope["type"] != "http":\n'
                f"    return await {HELPERS}.handle_non_http(scope, receive, send)\n"
            )
        )
    if use.streams:
        prologue.append(_stmt(f"{rewriter.stream_name} = {HELPERS}.RequestStream(receive)"))
    if rewriter.environ_at_call:
        pass  # each helper gets an environ built at its call
    elif replayed:
        prologue.append(_stmt(f"{request_body} = await {HELPERS}.read_body(receive)"))
        prologue.append(_stmt(f"{environ} = {HELPERS}.build_environ(scope, {request_body})"))
    elif use.needs_environ and use.needs_body:
        prologue.append(
            _stmt(f"{environ} = {HELPERS}.build_environ(scope, await {HELPERS}.read_body(receive))")
        )
    elif use.needs_environ:
        prologue.append(_stmt(f"{environ} = {HELPERS}.build_environ(scope)"))
    first = new_stmts[0] if new_stmts else None
    if (
        prologue
        and isinstance(first, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
        and not docstring
    ):
        # keep the comments above the first statement above the guard
        prologue[0] = prologue[0].with_changes(leading_lines=first.leading_lines)
        new_stmts[0] = first.with_changes(leading_lines=())
    old_params = analysis.leading_params(func)
    params = [cst.Param(cst.Name(n)) for n in ("scope", "receive", "send")]
    if method:
        params = [cst.Param(old_params[0].name), *params, *old_params[3:]]
    elif role == "helper":
        params = [
            cst.Param(cst.Name("send")) if p.name.value == start_response else p for p in old_params
        ]
    else:
        params.extend(old_params[2:])
    new_func = func.with_changes(
        asynchronous=cst.Asynchronous(),
        # what follows the positional parameters (``*args``, ``**route_args``) is kept
        params=func.params.with_changes(
            posonly_params=(),
            posonly_ind=cst.MaybeSentinel.DEFAULT,
            params=_last_without_comma(params),
        ),
        returns=None,
        body=body.with_changes(body=[*docstring, *prologue, *new_stmts]),
    )
    details = []
    if use.reads:
        details.append(f"{use.reads} environ read{'s' if use.reads != 1 else ''}")
    if writes.count:
        details.append("environ writes become a changed copy of the scope")
    if use.wsgiref or use.shifts:
        details.append("wsgiref.util helpers")
    if use.body_reads:
        details.append("request body read from receive()")
    if use.streams:
        details.append("request body streamed to code that reads it off the loop")
    if generator or responder.write:
        details.append("streamed body")
    if use.needs_environ:
        details.append("helpers get an environ built from the scope")
    if responder.collector_uses:
        details.append("WSGI responses sent through asgi_helpers.StartResponse")
    if responder.recorded_tries:
        details.append(
            "the response made inside a try recorded by asgi_helpers.StartResponse, sent after it"
        )
    imports: list[tuple[str, str | None]] = []
    if blocking is not None:
        new_func, imports = off_the_loop(new_func, blocking, cls, details)
        if _hops_in(new_func, responder.recorded_in):
            # each blocking call of the nested coroutine would make its own hop to the pool,
            # where the WSGI app made none: slower than the adapter's one hop
            raise Unconvertible(
                "the response is made inside a try (returned from within it) whose calls may "
                "block: served through the adapter, the whole request runs in one thread as before"
            )
    return Conversion(new_func, details, use, imports)


def _hops_in(func: cst.FunctionDef, names: Sequence[str]) -> bool:
    """A nested function of ``func`` named one of ``names`` calls the blocking pool."""
    return any(
        isinstance(node, cst.FunctionDef)
        and node.name.value in names
        and any(
            isinstance(n, cst.Name) and n.value in (RUN_BLOCKING, RUN_BLOCKING_LAST)
            for n in analysis.walk(node.body)
        )
        for node in analysis.walk(func.body)
    )


def bound_once(names: set[str], body: cst.CSTNode) -> frozenset[str]:
    """Those of ``names`` that ``body`` writes to exactly once (a plain ``name = ...``)."""
    counts: dict[str, int] = {}
    for target in analysis.written_targets(body):
        for name in analysis.names_in(target) & names:
            counts[name] = counts.get(name, 0) + 1
    return frozenset(name for name in names if counts.get(name) == 1)


def _handing_on_calls(body: cst.CSTNode, delegates: Mapping[str, Delegate]) -> set[int]:
    """The calls under ``body`` (rewritten) that hand the request to a member of the group."""
    return {
        id(node)
        for node in analysis.walk(body)
        if isinstance(node, cst.Call)
        and (delegate := delegates.get(callee_key(node.func) or "")) is not None
        and delegate.environ is not None
    }


def _may_follow(stmts: Sequence[cst.BaseStatement], first: set[int], then: set[int]) -> bool:
    """Whether a node of ``then`` may run after a node of ``first`` (both sets of ids of
    nodes under ``stmts``), following branches: a branch that ends with ``return`` or
    ``raise`` does not go on. Loops and ``try`` are taken whole (conservative)."""

    def has(node: cst.CSTNode, ids: set[int]) -> bool:
        return any(id(n) in ids for n in analysis.walk(node))

    def flow(block: Sequence[cst.BaseStatement], after: bool) -> tuple[bool | None, bool]:
        """(whether a ``first`` node ran on a path that goes on -- None: no path goes on,
        whether a ``then`` node may follow one)"""
        state: bool | None = after
        for stmt in block:
            if state is None:
                return None, False  # unreachable
            if isinstance(stmt, cst.If):
                if has(stmt.test, first):
                    state = True
                if state and has(stmt.test, then):
                    return state, True
                taken, follows = flow(suite_statements(stmt.body), state)
                if follows:
                    return taken, True
                if stmt.orelse is None:
                    other: bool | None = state
                elif isinstance(stmt.orelse, cst.If):
                    other, follows = flow([stmt.orelse], state)
                else:
                    other, follows = flow(suite_statements(stmt.orelse.body), state)
                if follows:
                    return other, True
                state = None if taken is None and other is None else bool(taken or other)
                continue
            if isinstance(stmt, cst.BaseCompoundStatement):
                if has(stmt, first) and has(stmt, then):
                    return True, True
                if state and has(stmt, then):
                    return state, True
                state = state or has(stmt, first)
                continue
            if state and has(stmt, then):
                return state, True
            state = state or has(stmt, first)
            assert isinstance(stmt, cst.SimpleStatementLine)
            if any(isinstance(small, (cst.Return, cst.Raise)) for small in stmt.body):
                state = None
        return state, False

    return flow(stmts, False)[1]


def off_the_loop(
    func: cst.FunctionDef, blocking: ModuleFacts, cls: cst.ClassDef | None, details: list[str]
) -> tuple[cst.FunctionDef, list[tuple[str, str | None]]]:
    """``func`` (made async) with its blocking calls moved off the event loop
    (:mod:`migrate.blocking`), and the imports that needs; what moved is added to
    ``details``. Unconvertible where that cannot be done faithfully."""
    try:
        offloaded = offload_blocking(func, blocking, cls=cls)
    except CannotOffload as why:
        raise Unconvertible(str(why)) from None
    if offloaded.detail():
        details.append(offloaded.detail())
    return offloaded.node, offloaded.imports


def _middleware_decorators(
    func: cst.FunctionDef | cst.ClassDef, middleware: set[str] | frozenset[str]
) -> list[cst.Decorator]:
    """The outermost decorators of ``func`` that are ASGI middleware (``@auth``,
    ``@require("x")``): they wrap whatever the decorators below them make."""
    found: list[cst.Decorator] = []
    for decorator in func.decorators:
        expr = decorator.decorator
        callee = expr.func if isinstance(expr, cst.Call) else expr
        if not middleware or analysis.dotted_name(callee) not in middleware:
            break
        found.append(decorator)
    return found


def _last_without_comma(params: list[cst.Param]) -> list[cst.Param]:
    if params and params[-1].comma is not cst.MaybeSentinel.DEFAULT:
        params[-1] = params[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return params


def _check_delegate_call(
    call: cst.Call, delegate: Delegate, environ: str, start_response: str, returned: bool
) -> None:
    """``call`` hands the environ and start_response to a member of the group exactly where
    the member takes them, and is what the function returns."""
    name = callee_key(call.func)
    if not returned and not delegate.starts_only:
        raise Unconvertible(
            f"it calls `{name}()` with start_response other than as `return {name}(...)`"
        )
    expected = {delegate.start_response: start_response}
    if delegate.environ is not None:
        expected[delegate.environ] = environ
    last = max(expected)
    for index, arg in enumerate(call.args):
        if arg.star and index > last:
            # arguments after the request (``*args``, ``**match.groupdict()``) fill the
            # member's own parameters after it, which keep their names and order
            if mentions(arg.value, start_response) or (
                environ and is_plain_name(arg.value, environ)
            ):
                raise Unconvertible(f"it hands `{name}()` the environ or start_response twice")
            continue  # what it reads of the environ (``**environ["route.args"]``) is rewritten
        if arg.star:
            raise Unconvertible(f"it calls `{name}()` with *args or **kwargs")
        wanted = expected.get(index)
        if wanted is not None:
            if arg.keyword is not None or not is_plain_name(arg.value, wanted):
                raise Unconvertible(f"it hands `{name}()` the environ or start_response unusually")
        elif mentions(arg.value, start_response) or (environ and is_plain_name(arg.value, environ)):
            raise Unconvertible(f"it hands `{name}()` the environ or start_response twice")
    if len(call.args) <= max(expected):
        raise Unconvertible(f"it hands `{name}()` the environ or start_response unusually")


def _check_collector_call(
    call: cst.Call, callee: str, lookup: Lookup, start_response: str, returned: bool
) -> None:
    """``call`` hands start_response to a response helper of another module (``lookup``) the
    way it can be handed an ``asgi_helpers.StartResponse`` instead: as a positional argument
    the helper only calls or hands to another such helper, in ``return helper(...)``."""
    helper = lookup.helper
    if helper is None:
        raise Unconvertible(
            f"it hands start_response to `{callee}()` from {lookup.module}, which {lookup.problem}"
        )
    if not returned:
        raise Unconvertible(
            f"it calls `{callee}()` with start_response other than as `return {callee}(...)`"
        )
    at = [i for i, a in enumerate(call.args) if mentions(a.value, start_response)]
    if (
        len(at) != 1
        or any(a.star for a in call.args)
        or call.args[at[0]].keyword is not None
        or not is_plain_name(call.args[at[0]].value, start_response)
        or at[0] not in helper.start_response_params
    ):
        raise Unconvertible(
            f"it hands start_response to `{callee}()` from {lookup.module} where that function "
            "does not only call it"
        )


# --------------------------------------------------------------------------- hand-off methods


@dataclass
class ConvertedMethod:
    """A method of a class converted with it (see :func:`convert_hand_offs`)."""

    node: cst.FunctionDef
    details: list[str]
    imports: list[tuple[str, str | None]]
    #: imports the WSGI code needed that the ASGI code may not
    maybe_unused: set[tuple[str, str | None]] = field(default_factory=set)


#: Converts a method handed the whole request: ``(method, environ name, start_response name,
#: the delegates it may hand on to)``; the rule's own way (an app's or a middleware's).
RequestMethodConverter = Callable[[cst.FunctionDef, str, str, dict[str, Delegate]], ConvertedMethod]


def hand_off_delegates(methods: Sequence[HandOff], func: cst.FunctionDef) -> dict[str, Delegate]:
    """How ``func`` (a method of the class) calls its hand-off methods: ``self._m(environ,
    start_response, ...)`` for the request, ``self._m(start_response, ...)`` for the response."""
    self_name = analysis.leading_params(func)[0].name.value
    delegates = {
        f"{self_name}.{m.node.name.value}": (
            Delegate(environ=0, start_response=1)
            if m.role == "request"
            else Delegate(
                environ=None, start_response=0, starts_only=analysis.returns_nothing(m.node)
            )
        )
        for m in methods
    }
    # ``handler = getattr(self, "do_" + method, None)``: the methods looked up by name
    delegates.update({m.via: Delegate(0, 1) for m in methods if m.via is not None})
    return delegates


def convert_hand_offs(
    methods: Sequence[HandOff],
    cls: cst.ClassDef,
    convert_request: RequestMethodConverter,
    *,
    aliases: dict[str, str],
    helpers: dict[str, set[int]],
    blocking: ModuleFacts | None,
) -> dict[int, ConvertedMethod]:
    """The class's hand-off methods (:func:`migrate.hand_offs.hand_off_methods`) converted:
    ``id(old method) -> converted``. A method handed the response (``start_response`` first)
    becomes a response helper (``start_response`` -> ``send``); one handed the whole request
    goes through ``convert_request``. :class:`Unconvertible` names the method that cannot be."""
    done: dict[int, ConvertedMethod] = {}
    for method in methods:
        node = method.node
        params = analysis.leading_params(node)
        own = params if node.decorators else params[1:]  # a static method has no self
        try:
            if method.role == "request":
                converted = convert_request(
                    node, own[0].name.value, own[1].name.value, hand_off_delegates(methods, node)
                )
            else:
                conversion = convert_callable(
                    node,
                    "",
                    own[0].name.value,
                    method=False,
                    role="helper",
                    aliases=aliases,
                    helpers=helpers,
                    # the methods it hands the response on to, converted with it
                    delegates=None if node.decorators else hand_off_delegates(methods, node),
                    blocking=blocking,
                    cls=cls,
                )
                converted = ConvertedMethod(conversion.node, conversion.details, conversion.imports)
        except Unconvertible as why:
            raise Unconvertible(
                f"`{node.name.value}()`, which it hands the {method.role} to: {why}"
            ) from None
        done[id(node)] = converted
    return done


def merge_hand_offs(
    details: list[str],
    imports: list[tuple[str, str | None]],
    converted: dict[int, ConvertedMethod],
    methods: Sequence[HandOff],
) -> None:
    """What the class's converted hand-off methods add to the report of its ``__call__``
    (``details``, ``imports``): their own details once each (their environ read counts left
    out: the caller's count stands), and which methods they are."""
    for method in converted.values():
        imports.extend(method.imports)
        details.extend(
            d
            for d in method.details
            if d not in details and not d.endswith(("environ read", "environ reads"))
        )
    if methods:
        names = ", ".join(f"`{m.node.name.value}()`" for m in methods)
        details.append(f"with the method{'s' if len(methods) > 1 else ''} {names}")
