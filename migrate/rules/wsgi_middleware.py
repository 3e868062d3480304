"""Rule ``wsgi-middleware``: WSGI middleware becomes ASGI middleware under the same name.

Recognises, by shape (:mod:`migrate.middleware_analysis`):

- classes with ``__init__(self, app, ...)`` keeping ``app`` on ``self`` and a WSGI
  ``__call__(self, environ, start_response)`` that calls it;
- closure factories ``def mw(app, ...)`` returning a nested ``wrapped(environ,
  start_response)`` that calls ``app`` (also when used as a decorator, ``@mw``);
- well-known third-party middleware in module-level stacks: werkzeug's ``ProxyFix``,
  ``DispatcherMiddleware`` and ``SharedDataMiddleware``, WhiteNoise, Paste.

The class (or factory) keeps its name and signature; its WSGI callable becomes
``async def __call__(self, scope, receive, send)`` that hands non-HTTP scopes straight to the
wrapped app. Before::

    class Auth:
        def __init__(self, app, token):
            self.app = app
            self.token = token

        def __call__(self, environ, start_response):
            if environ.get("HTTP_AUTHORIZATION") != self.token:
                start_response("401 Unauthorized", [("Content-Type", "text/plain")])
                return [b"no"]
            return self.app(environ, start_response)

After (kind ``converted``)::

    class Auth:
        def __init__(self, app, token):
            self.app = app
            self.token = token

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.app(scope, receive, send)
            if asgi_helpers.request_headers(scope).get("authorization") != self.token:
                await send({"type": "http.response.start", "status": 401, "headers": [...]})
                await send({"type": "http.response.body", "body": b"no"})
                return
            await self.app(scope, receive, send)

Converted natively: environ reads (as the ``wsgi-app`` rule maps them) and writes (a changed
copy of the scope: ``asgi_helpers.with_wsgi_path`` for SCRIPT_NAME/PATH_INFO shifts,
``with_request_header``, ``{**scope, "method": ...}``), short-circuit responses,
``start_response`` wrappers (a ``send`` wrapper editing ``http.response.start`` through
``asgi_helpers.wsgi_response_start`` / ``asgi_response_start``), generator wrappers over the
response (a ``send`` wrapper over ``http.response.body`` honouring ``more_body``; ``finally``
code runs when the response has ended), ``b"".join(app(environ, capture))`` buffering,
``try: return app(...) except: start_response(..., exc_info)`` error pages (sent only while the
response has not started, re-raised otherwise), and ``wsgi.input`` readers (``receive`` is
replaced by ``asgi_helpers.replay_body``).

Anything else is kept as WSGI under a private name and run around the ASGI app through
``adapters.wsgi_middleware`` (kind ``adapted``, with a ``# migrate[wsgi-middleware]:`` marker)::

    class _AuthWsgi: ...
    # migrate[wsgi-middleware]: `Auth` kept as WSGI (as `_AuthWsgi`) and run ...: why
    Auth = wsgi_middleware(_AuthWsgi)

A middleware that the module also uses in ways the rule cannot follow (inside functions,
``flask_app.wsgi_app = Mw(...)``) stays WSGI with a ``manual`` marker; so does one whose
stack's app other code uses as a WSGI app (``CGIHandler().run(app)``, ``TestApp(app)``, in
this module or another of the run: :func:`middleware_analysis.stack_result_uses`), and a
third-party stack in that case is left as it is, with a marker.

Module-level stacks ``app = Mw(inner)`` (and ``@Mw`` decorators): ``inner`` must be ASGI once
``Mw`` is. A WSGI app of the module is left to the ``wsgi-app`` rule, which runs next and
converts it, or serves it as ``Mw(WsgiToAsgi(inner))`` when it stays WSGI
(``middleware_analysis.WSGI_APP_CONVERTS_STACKED_APPS``); anything else becomes
``Mw(as_asgi(x))``. A stack of
middleware imported from other modules (converted there, or not) around a WSGI app becomes
``as_asgi(Mw(asgi_helpers.wsgi_or_asgi(inner)))``, which works either way (``adapted``).

Third-party middleware: ``ProxyFix(app, x_for=1, x_proto=1, ...)`` becomes
``adapters.ProxyFix`` with the same arguments (the same trust, for an ASGI app), ``DispatcherMiddleware(app, mounts)`` becomes
``adapters.Router({**mounts, "/": app})``, ``SharedDataMiddleware`` becomes Starlette's
``StaticFiles`` under ``Router`` when the module already imports starlette (else adapted),
``WhiteNoise(app, ...)`` becomes ``servestatic.ServeStaticASGI(app, ...)``, and Paste
middleware is adapted. Second runs change nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import libcst as cst

from migrate import analysis, app_finding, prefilter, scope_writes
from migrate import middleware_analysis as mwa
from migrate.analysis import is_plain_name, mentions, string_value
from migrate.app_finding import Delegate
from migrate.app_values import ModuleValues
from migrate.blocking import ModuleFacts
from migrate.cst_helpers import (
    OwnScopeTransformer,
    add_imports,
    code_of,
    has_marker,
    is_docstring,
    remove_unused_imports,
    single_statement,
    suite_statements,
    with_marker,
)
from migrate.hand_offs import HandOff, hand_off_methods
from migrate.local_names import variable_uses
from migrate.middleware_analysis import Middleware
from migrate.rules.base import MARKER_RE, FileContext, Rule, marker_comment
from migrate.rules.wsgi_app import (
    HELPERS,
    NOT_STARTED,
    TERMINATED,
    EnvironRewriter,
    ResponseRewriter,
    Unconvertible,
    bound_once,
    off_the_loop,
)
from migrate.rules.wsgi_app.convert import (
    ConvertedMethod,
    convert_hand_offs,
    hand_off_delegates,
    merge_hand_offs,
)

_INNER = "__w2a_inner__"
_BUFFER = "__w2a_buffer__"
_COLLECT = "__w2a_collect__"
_GUARDED = "__w2a_guarded__"
_DEF = "__w2a_def_"
_BLANK = cst.EmptyLine(indent=False)


def _stmt(text: str) -> cst.BaseStatement:
    return cst.parse_statement(text)


def _bytesio_arg(node: cst.BaseExpression) -> cst.BaseExpression | None:
    if (
        isinstance(node, cst.Call)
        and analysis.dotted_name(node.func) in ("io.BytesIO", "BytesIO")
        and len(node.args) == 1
        and node.args[0].keyword is None
        and not node.args[0].star
    ):
        return node.args[0].value
    return None


class Prepare(OwnScopeTransformer):
    """Turns environ writes into scope statements and the calls of the wrapped app into
    placeholders the response rewriter can walk past (it sees them as ``raise``)."""

    def __init__(self, mw: Middleware) -> None:
        super().__init__()
        self.mw = mw
        self.writes = scope_writes.Writes()
        #: names handed to the wrapped app as start_response: by a `return` / by buffering
        self.returned: set[str] = set()
        self.buffered: set[str] = set()
        #: ``R = inner(environ, Y)`` lines whose response R is consumed whole (see
        #: :func:`_consumed_responses`), worked out on the outermost block
        self.consumed: set[int] | None = None

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        if self.consumed is None:
            self.consumed = _consumed_responses(node, self)

    def inner_call(self, node: cst.BaseExpression | None) -> str | None:
        """``X`` for a call ``inner(environ, X)`` of the wrapped app."""
        if (
            isinstance(node, cst.Call)
            and analysis.dotted_name(node.func) in self.mw.inner_spellings
            and len(node.args) == 2
            and all(a.keyword is None and not a.star for a in node.args)
            and is_plain_name(node.args[0].value, self.mw.environ)
            and isinstance(node.args[1].value, cst.Name)
        ):
            return node.args[1].value.value
        return None

    def _joined_inner(self, node: cst.BaseExpression) -> str | None:
        """``X`` for ``b"".join(inner(environ, X))``."""
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "join"
            and isinstance(node.func.value, cst.SimpleString)
            and node.func.value.evaluated_value == b""
            and len(node.args) == 1
        ):
            return self.inner_call(node.args[0].value)
        return None

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement:
        small = single_statement(original_node)
        new: str | None = None
        env = self.mw.environ
        if isinstance(small, cst.Return):
            target = self.inner_call(small.value)
            if target is not None:
                self.returned.add(target)
                new = f"raise {_INNER}({target})"
        elif isinstance(small, cst.Assign) and len(small.targets) == 1:
            target_node = small.targets[0].target
            key = analysis.environ_subscript_key(target_node, env)
            joined = self._joined_inner(small.value)
            if joined is not None and isinstance(target_node, cst.Name):
                self.buffered.add(joined)
                new = f"{target_node.value} = {_BUFFER}({joined})"
            elif id(original_node) in (self.consumed or ()):
                target = self.inner_call(small.value)
                assert target is not None and isinstance(target_node, cst.Name)
                self.buffered.add(target)
                new = f"{target_node.value} = {_COLLECT}({target})"
            elif key == "wsgi.input":
                body = _bytesio_arg(small.value)
                if body is None:
                    raise Unconvertible(
                        "it replaces environ['wsgi.input'] with something "
                        "other than io.BytesIO(body)"
                    )
                self.writes.replaced_input = True
                new = f"receive = {HELPERS}.replay_body({code_of(body)}, receive)"
        if new is None and small is not None:
            try:
                new = scope_writes.write_statement(small, env, self.writes)
            except scope_writes.CannotWrite as why:
                raise Unconvertible(str(why)) from None
        if new is None:
            return updated_node
        stmt = _stmt(new)
        assert isinstance(stmt, cst.SimpleStatementLine)
        return stmt.with_changes(
            leading_lines=original_node.leading_lines,
            trailing_whitespace=original_node.trailing_whitespace,
        )


def _consumed_responses(block: cst.IndentedBlock, prepare: Prepare) -> set[int]:
    """ids of the lines ``R = inner(environ, Y)`` (module-level names aside) whose response
    ``R`` the middleware consumes whole before it answers: ``R`` is bound once, and only
    iterated by ``for`` loops that run to the end (no break, return or yield in them, nothing
    sent through start_response there), and closed (``hasattr(R, "close")``, ``R.close()``).
    Such a response can be the ASGI app's body collected first: the WSGI middleware had
    nothing out before the loop ended either."""
    mw = prepare.mw
    found: set[int] = set()
    for stmt in block.body:
        small = single_statement(stmt)
        if not (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
            and prepare.inner_call(small.value) is not None
        ):
            continue
        name = small.targets[0].target.value
        allowed: set[int] = {id(small.targets[0].target)}
        ok = True
        for node in analysis.walk(block):
            if isinstance(node, cst.For) and is_plain_name(node.iter, name):
                if any(
                    isinstance(n, (cst.Break, cst.Return, cst.Yield))
                    for n in analysis.walk(node.body)
                ) or mentions(node, mw.start_response):
                    ok = False
                allowed.add(id(node.iter))
            elif isinstance(node, cst.Call) and (
                analysis.dotted_name(node.func) == "hasattr"
                and len(node.args) == 2
                and is_plain_name(node.args[0].value, name)
                and string_value(node.args[1].value) == "close"
            ):
                allowed.add(id(node.args[0].value))
            elif (
                isinstance(node, cst.Call)
                and isinstance(node.func, cst.Attribute)
                and node.func.attr.value == "close"
                and is_plain_name(node.func.value, name)
                and not node.args
            ):
                allowed.add(id(node.func.value))
            elif isinstance(node, cst.Name) and node.value == name and id(node) not in allowed:
                ok = False
        if ok and any(
            isinstance(n, cst.For) and is_plain_name(n.iter, name) for n in analysis.walk(block)
        ):
            found.add(id(stmt))
    return found


def _guard_try(stmt: cst.BaseStatement, mw: Middleware) -> cst.Try | None:
    """``try: return inner(environ, start_response)`` ``except ...: ...`` (an error page)."""
    if not (
        isinstance(stmt, cst.Try)
        and stmt.handlers
        and stmt.orelse is None
        and stmt.finalbody is None
        and isinstance(stmt.body, cst.IndentedBlock)
        and len(stmt.body.body) == 1
    ):
        return None
    small = single_statement(stmt.body.body[0])
    if (
        not isinstance(small, cst.Return)
        or Prepare(mw).inner_call(small.value) != mw.start_response
    ):
        return None
    return stmt


class StripExcInfo(cst.CSTTransformer):
    """``start_response(status, headers, exc_info)`` -> ``start_response(status, headers)``."""

    def __init__(self, start_response: str) -> None:
        super().__init__()
        self.start_response = start_response

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        if not is_plain_name(updated_node.func, self.start_response):
            return updated_node
        args = [
            a
            for i, a in enumerate(updated_node.args)
            if i < 2 and (a.keyword is None or a.keyword.value != "exc_info")
        ]
        if len(args) != len(updated_node.args):
            args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated_node.with_changes(args=args)


# --------------------------------------------------------------------------- send wrappers


@dataclass
class StartWrapper:
    """A ``start_response`` wrapper: ``def start(status, headers, exc_info=None): ...;
    return start_response(new_status, new_headers, exc_info)``."""

    status: str
    headers: str
    body: list[cst.BaseStatement]
    new_status: str
    new_headers: str


def start_wrapper(func: cst.FunctionDef, start_response: str) -> StartWrapper:
    params = analysis.positional_params(func)
    if params is None or len(params) not in (2, 3) or func.decorators or func.asynchronous:
        raise Unconvertible(f"its start_response wrapper `{func.name.value}` has an unusual shape")
    if any(p.default is not None for p in params[:2]):
        raise Unconvertible(f"`{func.name.value}` has defaults for status or headers")
    exc_info = params[2].name.value if len(params) == 3 else None
    if not isinstance(func.body, cst.IndentedBlock) or not func.body.body:
        raise Unconvertible(f"`{func.name.value}` is written on one line")
    stmts = list(func.body.body)
    if is_docstring(stmts[0]):
        stmts.pop(0)
    last = single_statement(stmts[-1]) if stmts else None
    call = last.value if isinstance(last, (cst.Return, cst.Expr)) else None
    if not (isinstance(call, cst.Call) and is_plain_name(call.func, start_response)):
        raise Unconvertible(
            f"`{func.name.value}` does not end with `return {start_response}(status, headers, ...)`"
        )
    args = list(call.args)
    if (
        len(args) not in (2, 3)
        or any(a.star or (a.keyword is not None and a.keyword.value != "exc_info") for a in args)
        or any(a.keyword is not None for a in args[:2])
        or (len(args) == 3 and not (exc_info and is_plain_name(args[2].value, exc_info)))
    ):
        raise Unconvertible(f"`{func.name.value}` calls {start_response} with unusual arguments")
    rest = cst.IndentedBlock(body=stmts[:-1])
    for node in analysis.walk(rest):
        if isinstance(node, (cst.Return, cst.Yield)):
            raise Unconvertible(f"`{func.name.value}` returns or yields before its end")
    if mentions(rest, start_response) or (exc_info and mentions(rest, exc_info)):
        raise Unconvertible(f"`{func.name.value}` uses start_response or exc_info itself")
    return StartWrapper(
        params[0].name.value,
        params[1].name.value,
        stmts[:-1],
        code_of(args[0].value),
        code_of(args[1].value),
    )


@dataclass
class BodyTransform:
    """``for chunk in result: yield EXPR`` followed by ``yield TAIL`` statements."""

    chunk: str
    expr: str | None
    tails: list[str]
    #: statements of the loop before the ``yield`` (code observing the chunk)
    observe: list[cst.BaseStatement] = field(default_factory=list)
    #: names those statements rebind that belong to the enclosing function
    nonlocals: list[str] = field(default_factory=list)


def send_wrapper(
    name: str,
    message: str,
    start: StartWrapper | None,
    transform: BodyTransform | None,
    target: str = "send",
) -> cst.FunctionDef:
    """``async def name(message): ...; await send(message)`` (``target``: what it sends to)."""
    m = message
    lines = [f"async def {name}({m}):"]
    if transform is not None and transform.nonlocals:
        lines.append(f"    nonlocal {', '.join(transform.nonlocals)}")
    keyword = "if"
    if start is not None:
        lines += [
            f'    if {m}["type"] == "http.response.start":',
            f"        {start.status}, {start.headers} = {HELPERS}.wsgi_response_start({m})",
            "        __w2a_user__",
            f"        {m} = {HELPERS}.asgi_response_start({m}, {start.new_status}, "
            f"{start.new_headers})",
        ]
        keyword = "elif"
    if transform is not None:
        c = transform.chunk
        lines += [
            f'    {keyword} {m}["type"] == "http.response.body":',
            f'        {c} = {m}.get("body", b"")',
        ]
        changes = transform.expr is not None and transform.expr != c
        if changes or transform.observe:
            lines.append(f"        if {c}:")
            if transform.observe:
                lines.append("            __w2a_observe__")
            if changes:
                lines.append(f"            {c} = {transform.expr}")
        if transform.tails:
            lines += [f'        if not {m}.get("more_body", False):']
            lines += [f"            {c} += {tail}" for tail in transform.tails]
        if changes or transform.tails:
            lines += [f'        {m} = {{**{m}, "body": {c}}}']
    lines.append(f"    await {target}({m})")
    func = cst.parse_statement("\n".join(lines) + "\n")
    assert isinstance(func, cst.FunctionDef)
    spliced_in = {
        "__w2a_user__": start.body if start is not None else [],
        "__w2a_observe__": transform.observe if transform is not None else [],
    }

    class Splice(cst.CSTTransformer):
        def leave_IndentedBlock(
            self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
        ) -> cst.IndentedBlock:
            body: list[cst.BaseStatement] = []
            for stmt in updated_node.body:
                small = single_statement(stmt)
                if (
                    isinstance(small, cst.Expr)
                    and isinstance(small.value, cst.Name)
                    and (small.value.value in spliced_in)
                ):
                    body.extend(spliced_in[small.value.value])
                else:
                    body.append(stmt)
            return updated_node.with_changes(body=body)

    spliced = func.visit(Splice())
    assert isinstance(spliced, cst.FunctionDef)
    return spliced


# --------------------------------------------------------------------------- conversion


@dataclass
class Converted:
    node: cst.FunctionDef
    details: list[str]
    #: imports the WSGI code needed that the ASGI code may not (``io`` for ``BytesIO``)
    maybe_unused: set[tuple[str, str | None]] = field(default_factory=set)
    #: what blocking calls moved off the loop need (:mod:`migrate.blocking`)
    imports: list[tuple[str, str | None]] = field(default_factory=list)
    #: the class's hand-off methods (:func:`migrate.hand_offs.hand_off_methods`), converted: id(old) -> new
    methods: dict[int, cst.FunctionDef] = field(default_factory=dict)
    #: ids of the class's methods folded into the converted callable (dropped)
    removed: set[int] = field(default_factory=set)


def convert_middleware(
    module: cst.Module,
    mw: Middleware,
    aliases: dict[str, str],
    helpers: dict[str, set[int]],
    blocking: ModuleFacts | None = None,
) -> Converted:
    """The ASGI version of ``mw``'s WSGI callable and of the methods of its class it hands the
    whole request to (they become ``async def m(self, scope, receive, send, *extra)``) or the
    response to (``start_response`` becomes ``send``), or :class:`Unconvertible` naming the
    one that could not be converted."""
    if not isinstance(mw.node, cst.ClassDef):
        return Converter(mw, aliases, helpers, blocking).convert()
    folded = _fold_catching_iterator(module, mw)
    observe = None
    if folded is not None:
        module, mw, observe = folded.module, folded.mw, folded.observe
    cls = mw.node
    assert isinstance(cls, cst.ClassDef)
    methods = hand_off_methods(module, cls, mw.call, mw.environ, mw.start_response)
    originals = _strip_handler_exc_info(module, mw, methods)

    def convert_request(
        node: cst.FunctionDef, environ: str, start_response: str, delegates: dict[str, Delegate]
    ) -> ConvertedMethod:
        part = replace(mw, call=node, environ=environ, start_response=start_response)
        done = Converter(
            part, aliases, helpers, blocking, delegates=delegates, request_method=True
        ).convert()
        return ConvertedMethod(done.node, done.details, done.imports, done.maybe_unused)

    converted = Converter(
        mw,
        aliases,
        helpers,
        blocking,
        delegates=hand_off_delegates(methods, mw.call),
        observe=observe,
    ).convert()
    if folded is not None:
        converted.removed.add(id(folded.method))
        converted.details.append(
            f"`{folded.method.name.value}()`, which iterated the response, folded in"
        )
    done = convert_hand_offs(
        methods, cls, convert_request, aliases=aliases, helpers=helpers, blocking=blocking
    )
    for old, new in done.items():
        converted.methods[originals.get(old, old)] = new.node
        converted.maybe_unused |= new.maybe_unused
    merge_hand_offs(converted.details, converted.imports, done, methods)
    return converted


@dataclass
class _Folded:
    """A catching iterator folded into an error page (see :func:`_fold_catching_iterator`)."""

    module: cst.Module
    mw: Middleware
    #: the generator method it folded in (dropped from the class)
    method: cst.FunctionDef
    observe: BodyTransform


def _fold_catching_iterator(module: cst.Module, mw: Middleware) -> _Folded | None:
    """Error middleware that guards both phases of a WSGI response, the call and the
    iteration, with the same page::

        def __call__(self, environ, start_response):
            try:
                app_iter = self.app(environ, start_response)
            except Exception:
                return self._error(environ, start_response, sys.exc_info())
            return self._guard(environ, start_response, app_iter)

        def _guard(self, environ, start_response, app_iter):
            sent = False
            try:
                try:
                    for chunk in app_iter:
                        sent = sent or bool(chunk)
                        yield chunk
                except Exception:
                    if sent:
                        raise
                    yield from self._error(environ, start_response, sys.exc_info())
            finally:
                if hasattr(app_iter, "close"):
                    app_iter.close()

    An ASGI app has one phase (``await app(...)``), so this converts only where the two
    handlers are the same while no chunk has gone out (the second one's leading ``if sent:
    ...; raise`` aside): then it is the error page around one call, the loop's own code
    (``sent = ...``) observing the body in the send wrapper. Returns the class with
    ``__call__`` rewritten to that form (``try: return self.app(environ, start_response)``)
    and the generator method dropped, or None."""
    if not isinstance(mw.node, cst.ClassDef) or not isinstance(mw.node.body, cst.IndentedBlock):
        return None
    stmts = suite_statements(mw.call.body)
    if len(stmts) < 2:
        return None
    guard, last = stmts[-2], single_statement(stmts[-1])
    if not (
        isinstance(guard, cst.Try)
        and guard.handlers
        and guard.orelse is None
        and guard.finalbody is None
        and len(suite_statements(guard.body)) == 1
        and isinstance(assign := single_statement(suite_statements(guard.body)[0]), cst.Assign)
        and len(assign.targets) == 1
        and isinstance(result := assign.targets[0].target, cst.Name)
        and Prepare(mw).inner_call(assign.value) == mw.start_response
        and isinstance(last, cst.Return)
        and isinstance(call := last.value, cst.Call)
        and isinstance(call.func, cst.Attribute)
        and isinstance(call.func.value, cst.Name)
    ):
        return None
    self_name = (analysis.positional_params(mw.call) or [cst.Param(cst.Name("self"))])[0].name
    method = analysis.method_named(mw.node, call.func.attr.value)
    params = analysis.positional_params(method) if method is not None else None
    handed = [mw.environ, mw.start_response, result.value]
    if (
        method is None
        or params is None
        or call.func.value.value != self_name.value
        or method.decorators
        or method.asynchronous is not None
        or [p.name.value for p in params[1:]] != handed
        or [a.value.value if isinstance(a.value, cst.Name) else None for a in call.args] != handed
        or any(a.keyword is not None or a.star for a in call.args)
        or sum(
            1
            for n in analysis.walk(module)
            if isinstance(n, cst.Name) and n.value == method.name.value
        )
        != 2
    ):
        return None
    body = suite_statements(method.body)
    if is_docstring(body[0]):
        body = body[1:]
    if not body or not isinstance(body[-1], cst.Try):
        return None
    *init, outer = body
    assert isinstance(outer, cst.Try)
    inner = outer
    if outer.finalbody is not None and not outer.handlers and outer.orelse is None:
        finals = suite_statements(outer.finalbody.body)
        inner_stmts = suite_statements(outer.body)
        if not all(_is_close(s, result.value) for s in finals) or len(inner_stmts) != 1:
            return None
        if not isinstance(inner_stmts[0], cst.Try):
            return None
        inner = inner_stmts[0]
    loop = suite_statements(inner.body)
    if (
        inner.finalbody is not None
        or inner.orelse is not None
        or len(inner.handlers) != len(guard.handlers)
        or len(loop) != 1
        or not isinstance(loop[0], cst.For)
        or loop[0].orelse is not None
        or not isinstance(loop[0].target, cst.Name)
        or not is_plain_name(loop[0].iter, result.value)
    ):
        return None
    chunk = loop[0].target.value
    loop_body = suite_statements(loop[0].body)
    if not loop_body or not is_plain_name(_yielded(loop_body[-1]) or cst.Name("_"), chunk):
        return None
    observe = list(loop_body[:-1])
    init_block = cst.IndentedBlock(body=list(init))
    if analysis.contains_yield(init_block) or any(
        mentions(init_block, n) for n in (*handed, self_name.value)
    ):
        return None
    handlers = []
    for first, second in zip(guard.handlers, inner.handlers, strict=True):
        if (
            (code_of(first.type) if first.type else None)
            != (code_of(second.type) if second.type else None)
            or first.name
            or second.name
        ):
            return None
        h2 = suite_statements(second.body)
        lead = [h2[0]] if h2 and _reraises(h2[0]) else []
        if not _same_response(suite_statements(first.body), h2[len(lead) :]):
            return None
        handlers.append(
            first.with_changes(
                body=first.body.with_changes(body=[*lead, *suite_statements(first.body)])
            )
        )
    names = {n.value for s in observe for n in _rebound_names(s)} - {chunk}
    bound = {n.value for s in init for n in _rebound_names(s)}
    if names - bound or any(mentions(cst.IndentedBlock(body=observe), n) for n in handed):
        return None
    new_guard = guard.with_changes(
        body=guard.body.with_changes(body=[_stmt(f"return {code_of(assign.value)}")]),
        handlers=handlers,
    )
    new_call = mw.call.with_changes(
        body=mw.call.body.with_changes(body=[*stmts[:-2], *init, new_guard])
    )
    new_class = mw.node.with_changes(
        body=mw.node.body.with_changes(
            body=[new_call if s is mw.call else s for s in mw.node.body.body if s is not method]
        )
    )
    new_module = module.with_changes(body=[new_class if s is mw.node else s for s in module.body])
    transform = BodyTransform(chunk, None, [], observe, sorted(names))
    return _Folded(new_module, replace(mw, node=new_class, call=new_call), method, transform)


def _same_response(first: Sequence[cst.BaseStatement], second: Sequence[cst.BaseStatement]) -> bool:
    """``return X`` and ``for c in X: yield c`` (or ``yield from X``): the same response."""
    if len(first) != 1 or len(second) != 1:
        return False
    returned = single_statement(first[0])
    if not isinstance(returned, cst.Return) or returned.value is None:
        return False
    expected = code_of(returned.value)
    yielded = single_statement(second[0])
    if (
        isinstance(yielded, cst.Expr)
        and isinstance(yielded.value, cst.Yield)
        and isinstance(yielded.value.value, cst.From)
    ):
        return code_of(yielded.value.value.item) == expected
    loop = second[0]
    if not isinstance(loop, cst.For) or loop.orelse is not None:
        return False
    inner = suite_statements(loop.body)
    return (
        isinstance(loop.target, cst.Name)
        and code_of(loop.iter) == expected
        and len(inner) == 1
        and is_plain_name(_yielded(inner[0]) or cst.Name("_"), loop.target.value)
    )


def _reraises(stmt: cst.BaseStatement) -> bool:
    """``if flag: ...; raise``: an ``if`` (no else) whose block ends with a bare ``raise``."""
    if not isinstance(stmt, cst.If) or stmt.orelse is not None:
        return False
    last = suite_statements(stmt.body)[-1:]
    small = single_statement(last[0]) if last else None
    return isinstance(small, cst.Raise) and small.exc is None


def _strip_handler_exc_info(
    module: cst.Module, mw: Middleware, methods: list[HandOff]
) -> dict[int, int]:
    """The hand-off methods only the error-page handlers call (``except Exception: return
    self._error(environ, start_response, sys.exc_info())``) lose the ``exc_info`` of their
    ``start_response`` calls, as the handlers' own calls do: the page is sent only while the
    response has not started, where PEP 3333 ``start_response`` with ``exc_info`` just
    replaces the status and headers. ``methods`` are changed in place; returns ``id(new
    node) -> id(original node)``."""
    handled: dict[str, int] = {}
    for stmt in suite_statements(mw.call.body):
        guard = _guard_try(stmt, mw)
        for handler in guard.handlers if guard is not None else ():
            for node in analysis.walk(handler):
                if isinstance(node, cst.Name):
                    handled[node.value] = handled.get(node.value, 0) + 1
    if not handled:
        return {}
    uses: dict[str, int] = {}
    for node in analysis.walk(module):
        if isinstance(node, cst.Name) and node.value in handled:
            uses[node.value] = uses.get(node.value, 0) + 1
    originals: dict[int, int] = {}
    for method in methods:
        name = method.node.name.value
        if name not in handled or uses.get(name) != handled[name] + 1:  # + its ``def``
            continue
        params = analysis.positional_params(method.node) or []
        own = params if analysis.is_static(method.node) else params[1:]
        at = 1 if method.role == "request" else 0
        if len(own) <= at:
            continue
        stripped = method.node.visit(StripExcInfo(own[at].name.value))
        assert isinstance(stripped, cst.FunctionDef)
        originals[id(stripped)] = id(method.node)
        method.node = stripped
    return originals


class Converter:
    """The ASGI version of one middleware's WSGI callable, or :class:`Unconvertible`."""

    def __init__(
        self,
        mw: Middleware,
        aliases: dict[str, str],
        helpers: dict[str, set[int]],
        blocking: ModuleFacts | None = None,
        *,
        delegates: Mapping[str, Delegate] | None = None,
        request_method: bool = False,
        observe: BodyTransform | None = None,
    ):
        self.mw = mw
        self.blocking = blocking
        #: methods of the class handed the whole request (``return self._m(environ,
        #: start_response)``): converted with it, called as ``await self._m(scope, receive, send)``
        self.delegates: Mapping[str, Delegate] = delegates or {}
        #: ``mw.call`` is one of those methods: no scope-type guard, and it may answer alone
        self.request_method = request_method
        self.aliases = aliases
        self.helpers = helpers
        self.used = analysis.names_in(mw.node)
        self.details: list[str] = []
        self.maybe_unused: set[tuple[str, str | None]] = set()
        self.file_wrappers: set[str] = set()
        #: code observing the body that runs in the guard's send wrapper (a catching
        #: iterator folded into an error page: :func:`_fold_catching_iterator`)
        self.observe: BodyTransform | None = observe

    def fresh(self, base: str) -> str:
        name = base
        while name in self.used:
            name += "_"
        self.used.add(name)
        return name

    def inner_await(self, target: str) -> str:
        return f"await {self.mw.inner}(scope, receive, {target})"

    # -- checks -------------------------------------------------------------------------

    def check(self) -> list[cst.BaseStatement]:
        mw, func = self.mw, self.mw.call
        if mw.kind == "class" and func.decorators:
            raise Unconvertible("its __call__ is decorated")
        for decorator in func.decorators:
            if analysis.dotted_name(
                getattr(decorator.decorator, "func", decorator.decorator)
            ) not in ("functools.wraps", "wraps"):
                raise Unconvertible("its wrapped function has decorators other than wraps()")
        # attribute and keyword names (``sock.send``, ``f(scope=x)``) are not in the way
        taken = variable_uses(func.body) & {"scope", "receive", "send", HELPERS}
        if taken:
            raise Unconvertible(f"it already uses the name(s) {', '.join(sorted(taken))}")
        stmts = suite_statements(func.body)
        if mw.environ in {n.value for s in stmts for n in _rebound_names(s)}:
            raise Unconvertible("it rebinds the environ")
        if mw.start_response in {n.value for s in stmts for n in _rebound_names(s)}:
            raise Unconvertible("it rebinds start_response")
        return stmts

    # -- the shapes ---------------------------------------------------------------------

    def convert(self) -> Converted:
        stmts = _return_the_response(self.check(), self.mw)
        docstring = [stmts.pop(0)] if stmts and is_docstring(stmts[0]) else []
        nested = self.nested_defs(stmts)
        if analysis.contains_yield(cst.IndentedBlock(body=stmts)):
            body = self.generator_form(stmts, nested)
        else:
            body = self.plain_form(stmts, nested)
        body = _space_defs(body)
        guard = [_stmt(f'if scope["type"] != "http":\n    return {self.inner_await("send")}\n')]
        func = self.mw.call
        params = [cst.Param(cst.Name(n)) for n in ("scope", "receive", "send")]
        if self.mw.kind == "class":
            old_params = analysis.positional_params(func) or []
            params.insert(0, cst.Param(old_params[0].name))
            if self.request_method:
                guard = []  # the __call__ that hands it the request has checked
                params.extend(old_params[3:])
        if not (docstring or guard):
            body = _no_blank_first(body)  # the top of the block
        block = (
            func.body if isinstance(func.body, cst.IndentedBlock) else cst.IndentedBlock(body=[])
        )
        new = func.with_changes(
            asynchronous=cst.Asynchronous(),
            params=cst.Parameters(params=params),
            returns=None,
            body=block.with_changes(body=[*docstring, *guard, *body]),
        )
        left = cst.IndentedBlock(body=body)
        if mentions(left, self.mw.environ) or mentions(left, self.mw.start_response):
            raise Unconvertible(
                "the environ or start_response is used in a way the rule cannot follow"
            )
        imports: list[tuple[str, str | None]] = []
        if self.blocking is not None:
            cls = self.mw.node if isinstance(self.mw.node, cst.ClassDef) else None
            new, imports = off_the_loop(new, self.blocking, cls, self.details)
        return Converted(new, self.details, self.maybe_unused, imports)

    def nested_defs(self, stmts: Sequence[cst.BaseStatement]) -> dict[str, cst.FunctionDef]:
        """The functions defined in the body (start_response wrappers, capture functions);
        other nested scopes must not touch the environ or start_response."""
        env, sr = self.mw.environ, self.mw.start_response
        nested: dict[str, cst.FunctionDef] = {}
        for stmt in stmts:
            if isinstance(stmt, cst.FunctionDef):
                if mentions(stmt, env):
                    raise Unconvertible(f"the nested function `{stmt.name.value}` uses the environ")
                nested[stmt.name.value] = stmt
                continue
            for node in analysis.walk(stmt):
                if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)) and (
                    mentions(node, env) or mentions(node, sr)
                ):
                    raise Unconvertible("a nested function uses the environ or start_response")
        return nested

    def swap_defs(
        self, stmts: Sequence[cst.BaseStatement], nested: dict[str, cst.FunctionDef]
    ) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for stmt in stmts:
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value in nested:
                out.append(
                    _stmt(f"{_DEF}{stmt.name.value}").with_changes(leading_lines=stmt.leading_lines)
                )
            else:
                out.append(stmt)
        return out

    def rewrite_environ(
        self, stmts: list[cst.BaseStatement]
    ) -> tuple[list[cst.BaseStatement], Prepare]:
        prepare = Prepare(self.mw)
        prepared = cst.IndentedBlock(body=stmts).visit(prepare)
        assert isinstance(prepared, cst.IndentedBlock)
        rewriter = EnvironRewriter(
            self.mw.environ, self.mw.start_response, self.aliases, self.helpers, self.delegates
        )
        # a helper that only reads the environ gets one built from the scope as it is at the
        # call (after the writes before it)
        rewriter.environ_at_call = True
        block = prepared.visit(rewriter)
        assert isinstance(block, cst.IndentedBlock)
        use = rewriter.use
        self.file_wrappers = use.file_wrappers
        if use.needs_body:
            raise Unconvertible("it hands the environ to a helper that reads the request body")
        if (use.body_reads or use.streams) and not prepare.writes.replaced_input:
            raise Unconvertible(
                "it reads the request body without handing it on "
                "(environ['wsgi.input'] = io.BytesIO(body))"
            )
        if use.uses_sys:
            raise Unconvertible("it uses environ['wsgi.errors']")
        if use.reads:
            self.details.append(f"{use.reads} environ read{'s' if use.reads != 1 else ''}")
        if use.needs_environ:
            self.details.append("helpers get an environ built from the scope")
        if prepare.writes.count:
            self.details.append("environ writes become a changed copy of the scope")
        for key in prepare.writes.carried:
            self.details.append(
                f"environ[{key!r}] reaches WSGI apps behind it through scope['wsgi.environ']"
            )
        if use.body_reads:
            self.details.append("request body read and replayed to the app")
        if prepare.writes.replaced_input:
            self.maybe_unused |= {("io", None), ("io", "BytesIO")}
        return list(block.body), prepare

    def wrapper_for(
        self, name: str, nested: dict[str, cst.FunctionDef], transform: BodyTransform | None
    ) -> tuple[str, cst.FunctionDef | None]:
        """The send callable for start_response target ``name`` (and its definition)."""
        if name == self.mw.start_response:
            if transform is None:
                return "send", None
            wrapper = self.fresh("send_wrapper")
            self.details.append("response body transformed in a send wrapper")
            return wrapper, send_wrapper(wrapper, self.fresh("message"), None, transform)
        func = nested.get(name)
        if func is None:
            raise Unconvertible(f"it hands `{name}` to the wrapped app as start_response")
        start = start_wrapper(func, self.mw.start_response)
        wrapper = self.fresh("send_wrapper")
        self.details.append("start_response wrapper became a send wrapper")
        if transform is not None:
            self.details.append("response body transformed in the send wrapper")
        return wrapper, send_wrapper(wrapper, self.fresh("message"), start, transform).with_changes(
            leading_lines=func.leading_lines
        )

    def plain_form(
        self, stmts: list[cst.BaseStatement], nested: dict[str, cst.FunctionDef]
    ) -> list[cst.BaseStatement]:
        sr = self.mw.start_response
        guarded: cst.Try | None = None
        work: list[cst.BaseStatement] = []
        for stmt in self.swap_defs(stmts, nested):
            found = _guard_try(stmt, self.mw)
            if found is not None:
                if guarded is not None:
                    raise Unconvertible("it has several try blocks around the wrapped app")
                guarded = found
                handlers = [h.visit(StripExcInfo(sr)) for h in found.handlers]
                self.maybe_unused |= {("sys", None), ("sys", "exc_info")}
                stmt = found.with_changes(
                    body=found.body.with_changes(body=[_stmt(f"raise {_GUARDED}()")]),
                    handlers=handlers,
                )
            work.append(stmt)
        work, prepare = self.rewrite_environ(work)
        responder = ResponseRewriter(
            sr,
            False,
            set(self.used),
            delegates=self.delegates,
            file_wrappers=bound_once(self.file_wrappers, cst.IndentedBlock(body=work)),
        )
        out, state = responder.block(work, NOT_STARTED)
        if state is not TERMINATED:
            raise Unconvertible("a path ends without calling the wrapped app or answering")
        if out and id(out[-1]) in responder.generated_returns:
            out.pop()
        if responder.used_names - self.used:
            self.used |= responder.used_names
        if any(
            isinstance(n, cst.Call) and is_plain_name(n.func, sr)
            for s in out
            for n in analysis.walk(s)
        ):
            raise Unconvertible("start_response is used in a way the rule cannot follow")
        wrappers: dict[str, tuple[str, cst.FunctionDef | None]] = {}
        for target in sorted(prepare.returned):
            if target in prepare.buffered:
                raise Unconvertible(f"`{target}` is used both to stream and to buffer")
            wrappers[target] = self.wrapper_for(target, nested, None)
        if prepare.buffered:
            for target in prepare.buffered:
                if target not in nested or mentions(nested[target], sr):
                    raise Unconvertible("it buffers the body with start_response itself")
            self.details.append("the wrapped app's response is buffered")
        if not (prepare.returned or prepare.buffered or guarded or self.request_method):
            raise Unconvertible("it never calls the wrapped app in a way the rule can follow")
        if any(
            n not in prepare.returned
            and n not in prepare.buffered
            and _DEF + n in analysis.names_in(cst.IndentedBlock(body=out))
            and mentions(nested[n], sr)
            for n in nested
        ):
            raise Unconvertible("a nested function calls start_response")
        finish = Finish(self, nested, wrappers)
        result = cst.IndentedBlock(body=out).visit(finish)
        assert isinstance(result, cst.IndentedBlock)
        body = list(result.body)
        if guarded is not None:
            self.details.append("error page sent only before the response has started")
            body = finish.expand_guard(body)
        return _last_await(body)

    def generator_form(
        self, stmts: list[cst.BaseStatement], nested: dict[str, cst.FunctionDef]
    ) -> list[cst.BaseStatement]:
        prepare = Prepare(self.mw)
        stmts = _name_the_response(stmts, prepare)
        index = None
        for i, stmt in enumerate(stmts):
            small = single_statement(stmt)
            if (
                isinstance(small, cst.Assign)
                and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)
                and prepare.inner_call(small.value) is not None
            ):
                index = i
                break
        if index is None:
            raise Unconvertible(
                "it is a generator that does not iterate the wrapped app's response"
            )
        small = single_statement(stmts[index])
        assert isinstance(small, cst.Assign) and isinstance(small.targets[0].target, cst.Name)
        result = small.targets[0].target.value
        target = prepare.inner_call(small.value)
        assert target is not None
        pre = self.swap_defs(stmts[:index], nested)
        pre_block = cst.IndentedBlock(body=pre)
        if (
            analysis.contains_yield(pre_block)
            or mentions(pre_block, self.mw.start_response)
            or any(isinstance(n, cst.Return) for n in analysis.walk(pre_block, into_scopes=False))
        ):
            raise Unconvertible("the generator answers before iterating the wrapped app")
        tail = stmts[index + 1 :]
        final: list[cst.BaseStatement] = []
        if len(tail) == 1 and isinstance(tail[0], cst.Try):
            try_ = tail[0]
            if try_.handlers or try_.orelse or try_.finalbody is None:
                raise Unconvertible("the response loop has except/else blocks")
            assert isinstance(try_.body, cst.IndentedBlock)
            tail = list(try_.body.body)
            final = [s for s in suite_statements(try_.finalbody.body) if not _is_close(s, result)]
        transform = self.transform(tail, result, stmts[:index])
        sensitive = (result, self.mw.environ, self.mw.start_response)
        for stmt in final:
            if any(mentions(stmt, n) for n in sensitive) or (
                transform and mentions(stmt, transform.chunk)
            ):
                raise Unconvertible("the finally block uses the response or the environ")
        pre_out, _ = self.rewrite_environ(pre)
        send_name, wrapper = self.wrapper_for(target, nested, transform)
        finish = Finish(self, nested, {target: (send_name, wrapper)})
        block = cst.IndentedBlock(body=pre_out).visit(finish)
        assert isinstance(block, cst.IndentedBlock)
        out = list(block.body)
        if wrapper is not None and target == self.mw.start_response:
            out.append(wrapper)
        call = _stmt(self.inner_await(send_name))
        if final:
            self.details.append("finally code runs when the response has ended")
            try_stmt = _stmt(f"try:\n    {self.inner_await(send_name)}\nfinally:\n    pass\n")
            assert isinstance(try_stmt, cst.Try) and try_stmt.finalbody is not None
            out.append(
                try_stmt.with_changes(
                    finalbody=try_stmt.finalbody.with_changes(
                        body=try_stmt.finalbody.body.with_changes(body=final)
                    )
                )
            )
        else:
            out.append(call)
        return out

    def transform(
        self, tail: list[cst.BaseStatement], result: str, pre: list[cst.BaseStatement]
    ) -> BodyTransform | None:
        if not tail:
            raise Unconvertible("the generator does not yield the response")
        first = tail[0]
        small = single_statement(first)
        if (
            len(tail) == 1
            and isinstance(small, cst.Expr)
            and isinstance(small.value, cst.Yield)
            and isinstance(small.value.value, cst.From)
            and is_plain_name(small.value.value.item, result)
        ):
            return None
        if not (
            isinstance(first, cst.For)
            and first.orelse is None
            and first.asynchronous is None
            and isinstance(first.target, cst.Name)
            and is_plain_name(first.iter, result)
            and isinstance(first.body, cst.IndentedBlock)
        ):
            raise Unconvertible("it iterates the response in a way the rule cannot follow")
        chunk = first.target.value
        expr = _yielded(first.body.body[-1])
        if expr is None:
            raise Unconvertible("the response loop does not end by yielding a chunk")
        observe = list(first.body.body[:-1])
        nonlocals = self.observer_names(observe, chunk, result, pre)
        tails = []
        for stmt in tail[1:]:
            value = _yielded(stmt)
            if value is None or mentions(value, chunk):
                raise Unconvertible("after the response loop it does more than yield")
            tails.append(code_of(value))
        for node in [expr, *(_yielded(s) for s in tail[1:])]:
            assert node is not None
            if any(mentions(node, n) for n in (result, self.mw.environ, self.mw.start_response)):
                raise Unconvertible("the yielded chunks use the environ or the response object")
        if is_plain_name(expr, chunk) and not tails and not observe:
            return None
        if observe:
            self.details.append("code observing the body runs in the send wrapper")
        return BodyTransform(chunk, code_of(expr), tails, observe, nonlocals)

    def observer_names(
        self,
        observe: list[cst.BaseStatement],
        chunk: str,
        result: str,
        pre: list[cst.BaseStatement],
    ) -> list[str]:
        """The names of the enclosing function the loop statements rebind (``nonlocal`` in the
        send wrapper); Unconvertible when they do what a send wrapper cannot."""
        block = cst.IndentedBlock(body=observe)
        for node in analysis.walk(block, into_scopes=False):
            if isinstance(node, (cst.Return, cst.Yield, cst.Break, cst.Continue)):
                raise Unconvertible("the response loop returns, yields or jumps more than once")
        if any(mentions(block, n) for n in (result, self.mw.environ, self.mw.start_response)):
            raise Unconvertible("the response loop uses the environ or the response object")
        outer = {n.value for s in pre for n in _rebound_names(s)}
        rebound = sorted({n.value for s in observe for n in _rebound_names(s)} - {chunk})
        if set(rebound) - outer:
            raise Unconvertible("the response loop binds names of its own")
        return rebound


class _Replace(cst.CSTTransformer):
    """Replaces one function definition (by identity) anywhere in a tree."""

    def __init__(self, target: cst.FunctionDef, new: cst.FunctionDef) -> None:
        super().__init__()
        self.target = target
        self.new = new

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        return self.new if original_node is self.target else updated_node


def _callees(stmt: cst.CSTNode) -> set[str]:
    """The dotted names called in a module-level statement."""
    return {
        analysis.dotted_name(node.func)
        for node in analysis.walk(stmt)
        if isinstance(node, cst.Call)
    }


def _stack_use(stmt: cst.CSTNode, name: str) -> bool:
    """``x = ...Mw(app, ...)...`` at module level, ``name`` only ever called there; or a
    layer of a stack built in a loop (:class:`mwa.StackLoop`), only spelled as one there."""
    loop = mwa.stack_loop(stmt)
    if loop is not None:
        return name in loop.layers and all(
            id(node) in loop.layer_nodes
            for node in analysis.walk(stmt)
            if isinstance(node, cst.Name) and node.value == name
        )
    small = single_statement(stmt)
    if not isinstance(small, cst.Assign) or not all(
        isinstance(t.target, cst.Name) for t in small.targets
    ):
        return False  # `flask_app.wsgi_app = Mw(...)` must stay WSGI
    if any(mentions(t, name) for t in small.targets):
        return False
    called: set[int] = set()
    for node in analysis.walk(small.value):
        if isinstance(node, cst.Call) and is_plain_name(node.func, name):
            if not node.args or node.args[0].keyword or node.args[0].star:
                return False
            called.add(id(node.func))
    return all(
        id(node) in called
        for node in analysis.walk(small.value)
        if isinstance(node, cst.Name) and node.value == name
    )


def _return_the_response(stmts: list[cst.BaseStatement], mw: Middleware) -> list[cst.BaseStatement]:
    """``result = app(environ, start)`` then ``return result``, the name used nowhere else ->
    ``return app(environ, start)`` (what the shapes below know)."""
    out: list[cst.BaseStatement] = []
    for stmt in stmts:
        small = single_statement(stmt)
        previous = single_statement(out[-1]) if out else None
        if (
            isinstance(small, cst.Return)
            and isinstance(small.value, cst.Name)
            and isinstance(previous, cst.Assign)
            and len(previous.targets) == 1
            and is_plain_name(previous.targets[0].target, small.value.value)
            and isinstance(previous.value, cst.Call)
            and analysis.dotted_name(previous.value.func) in mw.inner_spellings
            and sum(mentions(s, small.value.value) for s in stmts) == 2
        ):
            returned = _stmt(f"return {code_of(previous.value)}")
            assignment = out[-1]
            assert isinstance(returned, cst.SimpleStatementLine)
            assert isinstance(assignment, cst.SimpleStatementLine)
            out[-1] = returned.with_changes(leading_lines=assignment.leading_lines)
            continue
        out.append(stmt)
    return out


def _name_the_response(stmts: list[cst.BaseStatement], prepare: Prepare) -> list[cst.BaseStatement]:
    """``for chunk in app(environ, sr):`` / ``yield from app(environ, sr)`` at the top level
    -> ``__w2a_result__ = app(environ, sr)`` and the same statement over that name."""
    out: list[cst.BaseStatement] = []
    result = cst.Name("__w2a_result__")
    for stmt in stmts:
        small = single_statement(stmt)
        call: cst.BaseExpression | None = None
        if isinstance(stmt, cst.For) and prepare.inner_call(stmt.iter) is not None:
            call, stmt = stmt.iter, stmt.with_changes(iter=result)
        elif (
            isinstance(small, cst.Expr)
            and isinstance(small.value, cst.Yield)
            and isinstance(small.value.value, cst.From)
            and prepare.inner_call(small.value.value.item) is not None
        ):
            call = small.value.value.item
            stmt = _stmt(f"yield from {result.value}")
        if call is not None:
            out.append(_stmt(f"{result.value} = {code_of(call)}"))
        out.append(stmt)
    return out


def _yielded(stmt: cst.BaseStatement) -> cst.BaseExpression | None:
    small = single_statement(stmt)
    if (
        isinstance(small, cst.Expr)
        and isinstance(small.value, cst.Yield)
        and isinstance(small.value.value, cst.BaseExpression)
    ):
        return small.value.value
    return None


def _is_close(stmt: cst.BaseStatement, result: str) -> bool:
    """``result.close()`` or ``if hasattr(result, "close"): result.close()``."""
    small = single_statement(stmt)
    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
        return analysis.dotted_name(small.value.func) == f"{result}.close"
    if isinstance(stmt, cst.If) and stmt.orelse is None:
        test = stmt.test
        body = suite_statements(stmt.body)
        return (
            isinstance(test, cst.Call)
            and analysis.dotted_name(test.func) == "hasattr"
            and len(test.args) == 2
            and is_plain_name(test.args[0].value, result)
            and string_value(test.args[1].value) == "close"
            and len(body) == 1
            and _is_close(body[0], result)
        )
    return False


def _rebound_names(stmt: cst.CSTNode) -> list[cst.Name]:
    """Plain names assigned (``x = ...``) under ``stmt``, not inside nested scopes."""
    found: list[cst.Name] = []
    for node in analysis.walk(stmt, into_scopes=False):
        if isinstance(node, cst.Assign):
            found += [t.target for t in node.targets if isinstance(t.target, cst.Name)]
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign)) and isinstance(node.target, cst.Name):
            found.append(node.target)
    return found


def _space_defs(body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """A blank line around nested function definitions, as a person would leave."""
    out: list[cst.BaseStatement] = []
    after_def = False
    for stmt in body:
        is_def = isinstance(stmt, cst.FunctionDef)
        if (
            (is_def or after_def)
            and isinstance(stmt, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
            and not any(line.comment is None for line in stmt.leading_lines)
        ):
            stmt = stmt.with_changes(leading_lines=[_BLANK, *stmt.leading_lines])
        after_def = is_def
        out.append(stmt)
    return out


def _no_blank_first(body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """``body`` without blank lines above its first statement (the top of a block)."""
    if not body or not isinstance(body[0], (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        return body
    kept = [line for line in body[0].leading_lines if line.comment is not None]
    return [body[0].with_changes(leading_lines=kept), *body[1:]]


def _strip_final_return(stmt: cst.BaseStatement) -> cst.BaseStatement:
    """The generated bare ``return`` at the end of the except handlers of a last ``try``."""
    if not isinstance(stmt, cst.Try):
        return stmt
    handlers = []
    for handler in stmt.handlers:
        body = handler.body
        if isinstance(body, cst.IndentedBlock) and len(body.body) > 1:
            small = single_statement(body.body[-1])
            if isinstance(small, cst.Return) and small.value is None:
                body = body.with_changes(body=body.body[:-1])
        handlers.append(handler.with_changes(body=body))
    return stmt.with_changes(handlers=handlers)


def _last_await(body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """``return await inner(...)`` as the last statement -> ``await inner(...)``."""
    if not body:
        return body
    body[-1] = _strip_final_return(body[-1])
    small = single_statement(body[-1])
    if isinstance(small, cst.Return) and isinstance(small.value, cst.Await):
        last = body[-1]
        assert isinstance(last, cst.SimpleStatementLine)
        body[-1] = last.with_changes(body=[cst.Expr(small.value)])
    return body


class Finish(cst.CSTTransformer):
    """Replaces the placeholders left by :class:`Prepare` and :meth:`Converter.swap_defs`."""

    def __init__(
        self,
        converter: Converter,
        nested: dict[str, cst.FunctionDef],
        wrappers: dict[str, tuple[str, cst.FunctionDef | None]],
    ) -> None:
        super().__init__()
        self.converter = converter
        self.nested = nested
        self.wrappers = wrappers
        self.started = ""
        self.tracker = ""

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        small = single_statement(updated_node)
        conv = self.converter
        new: cst.BaseStatement | None = None
        if isinstance(small, cst.Raise) and isinstance(small.exc, cst.Call):
            callee = analysis.dotted_name(small.exc.func)
            if callee == _INNER:
                arg = small.exc.args[0].value
                assert isinstance(arg, cst.Name)
                send_name = self.wrappers[arg.value][0]
                new = _stmt(f"return {conv.inner_await(send_name)}")
            elif callee == _GUARDED:
                new = _stmt(conv.inner_await(self.tracker_name()))
        elif (
            isinstance(small, cst.Assign)
            and isinstance(small.value, cst.Call)
            and (analysis.dotted_name(small.value.func) in (_BUFFER, _COLLECT))
        ):
            arg = small.value.args[0].value
            assert isinstance(arg, cst.Name)
            target = code_of(small.targets[0].target)
            helper = (
                "buffered_response"
                if analysis.dotted_name(small.value.func) == _BUFFER
                else "collected_response"
            )
            new = _stmt(
                f"{target} = await {HELPERS}.{helper}({conv.mw.inner}, scope, receive, {arg.value})"
            )
        elif (
            isinstance(small, cst.Expr)
            and isinstance(small.value, cst.Name)
            and (small.value.value.startswith(_DEF))
        ):
            name = small.value.value[len(_DEF) :]
            wrapper = self.wrappers.get(name)
            if wrapper is not None and wrapper[1] is not None:
                return wrapper[1]
            return self.nested[name]
        if new is None:
            return updated_node
        assert isinstance(new, cst.SimpleStatementLine)
        return new.with_changes(
            leading_lines=updated_node.leading_lines,
            trailing_whitespace=updated_node.trailing_whitespace,
        )

    def tracker_name(self) -> str:
        """What the guarded app is handed as ``send``: the :class:`asgi_helpers.HeldStart`
        itself, or a wrapper observing the body in front of it."""
        if not self.tracker:
            self.started = self.converter.fresh("response")
            observe = self.converter.observe
            self.tracker = self.converter.fresh("send_wrapper") if observe else self.started
        return self.tracker

    def leave_Try(self, original_node: cst.Try, updated_node: cst.Try) -> cst.Try:
        body = updated_node.body
        if not (
            self.tracker
            and isinstance(body, cst.IndentedBlock)
            and len(body.body) == 1
            and mentions(body, self.tracker)
        ):
            return updated_node
        reraise = _stmt(f"if {self.started}.started:\n    raise\n")
        handlers = []
        for handler in updated_node.handlers:
            h_body = handler.body
            assert isinstance(h_body, cst.IndentedBlock)
            # the handler's own ``if sent_any: ...; raise`` (a folded catching iterator) first
            at = 1 if h_body.body and _reraises(h_body.body[0]) else 0
            stmts = [*h_body.body[:at], reraise, *h_body.body[at:]]
            handlers.append(handler.with_changes(body=h_body.with_changes(body=stmts)))
        return updated_node.with_changes(handlers=handlers)

    def expand_guard(self, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        """Put the response tracker in front of the guarded try."""
        setup = [_stmt(f"{self.started} = {HELPERS}.HeldStart(send)")]
        observe = self.converter.observe
        if observe is not None:
            wrapper = send_wrapper(
                self.tracker, self.converter.fresh("message"), None, observe, self.started
            )
            setup.append(wrapper.with_changes(leading_lines=[_BLANK]))
        out: list[cst.BaseStatement] = []
        for stmt in body:
            if isinstance(stmt, cst.Try) and mentions(stmt.body, self.tracker):
                out.append(setup[0].with_changes(leading_lines=stmt.leading_lines))
                out.extend(setup[1:])
                out.append(stmt.with_changes(leading_lines=[_BLANK] if len(setup) > 1 else ()))
            else:
                out.append(stmt)
        return out


# --------------------------------------------------------------------------- the rule


class WsgiMiddlewareRule(Rule):
    rule_id = "wsgi-middleware"
    summary = "WSGI middleware becomes ASGI middleware (or runs through adapters.wsgi_middleware)."
    # The apps inside a converted middleware must become ASGI too: wsgi-app converts or wraps them.
    requires = ("wsgi-app",)

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return mwa.may_hold_middleware(source)

    @classmethod
    def might_apply_to_tree(cls, tree: ast.Module, source: str) -> bool:
        # third-party middleware is known by what the module imports (a method named
        # ``paste`` in an editor is not Paste)
        return prefilter.has_wsgi_shape(tree) or prefilter.imports_any(
            tree, source, mwa.THIRD_PARTY_PACKAGES
        )

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self.replacements: dict[
            int, cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]
        ] = {}
        self.calls: dict[int, str] = {}  # id(Call) -> third-party short name
        self.statement_of_call: dict[int, cst.SimpleStatementLine] = {}
        self.markers: dict[int, list[str]] = {}  # id(statement) -> marker comments
        self.imports: set[tuple[str, str | None]] = set()
        #: imports that may have become unused: (module, name or None for ``import module``)
        self.unused: set[tuple[str, str | None]] = set()
        self.has_starlette = False
        self.adapted_now: set[str] = set()
        self.known_middleware: set[str] = set()
        #: Names bound to instances of app classes of the module -> the class.
        self.instances: dict[str, str] = {}
        self.stack_middleware: set[str] = set()
        #: id(Call) of a stack layer -> adapter its first argument (the app) is wrapped in
        self.bottoms: dict[int, str] = {}
        #: stacks of middleware from other modules: lowest layers and tops (see plan_foreign_stack)
        self.foreign_bottoms: set[int] = set()
        self.foreign_tops: set[int] = set()
        #: id() of the module-level statements holding a planned change: every plan is made
        #: on module-level statements, so only these are walked to apply it
        self.touched: set[int] = set()

    # -- planning -----------------------------------------------------------------------

    def visit_Module(self, node: cst.Module) -> bool:
        asgi_now: set[str] = set()  # middleware names that take an ASGI app after this run
        found = mwa.find_middleware(node, self.context.source)
        third_party = analysis.import_spellings(node, frozenset(mwa.THIRD_PARTY))
        paste = _paste_names(node)
        asgi_middleware = mwa.middleware_names(node)
        # what stacks are made of, once this rule is done (their results must stay apps)
        self.stack_middleware = (
            {mw.name for mw in found} | third_party.keys() | paste | asgi_middleware
        )
        if found:  # what the conversions need, worked out only for a module that has some
            aliases = analysis.wsgiref_util_aliases(node)
            helpers = analysis.read_only_environ_helpers(node)
            marked = _marker_messages(node, self.rule_id)
            facts = ModuleFacts(node, self.context.blocking, known_helpers=frozenset({HELPERS}))
        for mw in found:
            if has_marker(mw.node, self.rule_id, module=node) or any(
                text.startswith(f"`{mw.name}` ") for text in marked
            ):
                continue
            kept_by = self.uses_keeping_it_wsgi(node, mw)
            if kept_by:
                self.manual(mw, kept_by)
                continue
            try:
                converted = convert_middleware(node, mw, aliases, helpers, facts)
            except Unconvertible as why:
                self.adapt(mw, str(why))
                self.adapted_now.add(mw.name)
            else:
                self.converted(mw, converted)
                asgi_now.add(mw.name)
        self.plan_third_party(node, third_party, paste)
        self.plan_stacks(node, asgi_now, asgi_middleware)
        self.touched |= self.replacements.keys() | self.markers.keys()
        # The leave_ methods apply what was planned, and leave_Module walks only the
        # statements holding a plan: no walk over the whole tree (seconds on a big module).
        return False

    def uses_keeping_it_wsgi(self, module: cst.Module, mw: Middleware) -> str:
        """Why ``mw`` must stay WSGI for the code of this module that uses it ("" if it can be
        converted): every use must be a module-level stack ``x = Mw(app, ...)``, or a
        decorator once the wsgi-app rule converts decorated apps."""
        odd: list[cst.CSTNode] = []
        decorated: list[cst.CSTNode] = []
        wsgi_users: list[tuple[cst.CSTNode, cst.CSTNode]] = []  # (stack, user of its app)
        wsgi_user_files: dict[cst.CSTNode, list[str]] = {}  # stack -> modules using its app
        texts = analysis.statement_texts(module)
        for stmt in module.body:
            if stmt is mw.node or mw.name not in texts[id(stmt)] or not mentions(stmt, mw.name):
                continue
            if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)) and any(
                mentions(d, mw.name) for d in stmt.decorators
            ):
                only_decorator = not any(
                    mentions(part, mw.name)
                    for part in (
                        stmt.body,
                        *(() if isinstance(stmt, cst.ClassDef) else (stmt.params,)),
                    )
                )
                if isinstance(stmt, cst.FunctionDef) and only_decorator:
                    decorated.append(stmt)
                    continue
            elif mw.kind != "decorator" and _stack_use(stmt, mw.name):
                uses = mwa.stack_result_uses(module, stmt, self.stack_middleware)
                wsgi_users.extend((stmt, user) for user in uses.statements)
                elsewhere = self.wsgi_users_elsewhere(uses.names)
                if elsewhere:
                    wsgi_user_files[stmt] = elsewhere
                continue
            odd.append(stmt)
        if odd:
            lines = ", ".join(str(self.line_of(n)) for n in odd[:3])
            return (
                f"`{mw.name}` is also used here in ways the rule cannot follow (line {lines}); "
                "left as WSGI middleware: convert it together with that code"
            )
        if wsgi_users:
            stack = wsgi_users[0][0]
            lines = ", ".join(str(self.line_of(user)) for _, user in wsgi_users[:3])
            return (
                f"the app `{mw.name}` builds at line {self.line_of(stack)} is also used here as "
                f"a WSGI app (line {lines}); left as WSGI middleware: convert it together with "
                "that code"
            )
        if wsgi_user_files:
            stack, files = next(iter(wsgi_user_files.items()))
            return (
                f"the app `{mw.name}` builds at line {self.line_of(stack)} is used as a WSGI "
                f"app by {', '.join(files[:3])}; left as WSGI middleware: convert them together"
            )
        elsewhere = self.wsgi_users_elsewhere({mw.name})
        if elsewhere:
            return (
                f"`{mw.name}` builds an app that {', '.join(elsewhere[:3])} "
                f"{'use' if len(elsewhere) > 1 else 'uses'} as a WSGI app; left as WSGI "
                "middleware: convert them together"
            )
        if decorated and not mwa.WSGI_APP_CONVERTS_STACKED_APPS:
            lines = ", ".join(str(self.line_of(n)) for n in decorated[:3])
            return (
                f"`{mw.name}` decorates WSGI apps here (line {lines}), which the wsgi-app "
                "rule does not convert yet; left as WSGI middleware"
            )
        return ""

    def manual(self, mw: Middleware, message: str) -> None:
        self.replacements[id(mw.node)] = with_marker(mw.node, marker_comment(self.rule_id, message))
        self.report(mw.node, "manual", message)

    def plan_stacks(
        self, module: cst.Module, asgi_now: set[str], asgi_middleware: set[str]
    ) -> None:
        """Module-level stacks ``app = Mw(inner)`` of middleware that now takes an ASGI app:
        the app at the bottom must be ASGI too. A WSGI app of this module is left to the
        wsgi-app rule once it converts stacked apps; until then (and for apps from elsewhere)
        it is served through the adapters."""
        apps = {a.name: a for a in app_finding.find_apps(module)}
        self.known_middleware = asgi_middleware | self.adapted_now
        for app in list(apps.values()):
            for instance in app.instances:
                apps[instance] = app
                self.instances[instance] = app.name
        asgi_defs = {
            s.name.value
            for s in module.body
            if isinstance(s, cst.FunctionDef) and s.asynchronous is not None
        }
        imported = _imported_names(module)
        for stmt in module.body:
            small = single_statement(stmt)
            if not isinstance(small, cst.Assign) or not isinstance(small.value, cst.Call):
                continue
            assert isinstance(stmt, cst.SimpleStatementLine)
            if self.plan_foreign_stack(module, stmt, small.value, apps, imported):
                continue
            call: cst.Call = small.value
            needs_asgi = False
            while True:
                callee = analysis.dotted_name(call.func)
                kind = self.calls.get(id(call))
                if (
                    callee in asgi_now
                    or (kind == "ProxyFix" and not proxy_fix_problems(call))
                    or kind == "WhiteNoise"
                ):
                    needs_asgi = True
                elif not (kind is None and callee in self.known_middleware):
                    break  # adapters (Router, wsgi_middleware) take WSGI apps as they are
                if not call.args or call.args[0].star or call.args[0].keyword:
                    break
                bottom = call.args[0].value
                if isinstance(bottom, cst.Call) and (
                    analysis.dotted_name(bottom.func) in asgi_now or id(bottom) in self.calls
                ):
                    call = bottom
                    continue
                if needs_asgi:
                    self.plan_bottom(module, stmt, call, bottom, apps, asgi_defs, asgi_now)
                break

    def plan_foreign_stack(
        self,
        module: cst.Module,
        stmt: cst.SimpleStatementLine,
        top: cst.Call,
        apps: dict[str, app_finding.WsgiApp],
        imported: set[str],
    ) -> bool:
        """``app = Imported(Other(inner))``: middleware from other modules (converted there to
        ASGI, or adapted, or still WSGI) around a WSGI app of this module. The app at the bottom
        is given as one that works either way, and the stack is made ASGI at the top."""
        chain = [top]
        while chain[-1].args and isinstance(chain[-1].args[0].value, cst.Call):
            chain.append(chain[-1].args[0].value)
        last = chain[-1]
        callees = [analysis.dotted_name(c.func) for c in chain]
        if not last.args or last.args[0].keyword or last.args[0].star:
            return False
        bottom = last.args[0].value
        if not (isinstance(bottom, cst.Name) and bottom.value in apps):
            return False
        if any(id(c) in self.calls for c in chain) or any(
            c.rsplit(".", 1)[-1] in ("as_asgi", "wsgi_or_asgi", "WsgiToAsgi") for c in callees
        ):
            return False
        if not any(c.split(".")[0] in imported for c in callees):
            return False
        uses = mwa.stack_result_uses(module, stmt, self.stack_middleware | set(callees))
        if uses.statements or self.wsgi_users_elsewhere(uses.names):
            return False  # what it builds is used as a WSGI app: left as it is
        self.foreign_bottoms.add(id(last))
        self.foreign_tops.add(id(top))
        self.touched.add(id(stmt))
        self.imports.add(("adapters", "as_asgi"))
        self.imports.add(("adapters", HELPERS))
        foreign = [f"`{c}`" for c in callees if c.split(".")[0] in imported]
        origin = "comes from another module" if len(foreign) == 1 else "come from other modules"
        why = (
            f"{', '.join(foreign)} {origin} and may or may not be ASGI middleware yet: "
            f"`{bottom.value}` is given to the stack through asgi_helpers.wsgi_or_asgi (a WSGI "
            "and ASGI app at once) and the stack is made ASGI with as_asgi; drop both once "
            "the whole stack is ASGI"
        )
        self.markers.setdefault(id(stmt), []).append(marker_comment(self.rule_id, why))
        self.report(stmt, "adapted", why)
        return True

    def plan_bottom(
        self,
        module: cst.Module,
        stmt: cst.SimpleStatementLine,
        call: cst.Call,
        bottom: cst.BaseExpression,
        apps: dict[str, app_finding.WsgiApp],
        asgi_defs: set[str],
        asgi_now: set[str],
    ) -> None:
        name = bottom.value if isinstance(bottom, cst.Name) else None
        if (
            name is not None
            and name in mwa.bound_names(stmt)
            and self.instances.get(name) in _callees(stmt)
        ):
            # ``application = Mw(application)`` is what made ``application`` an "instance" of
            # ``Mw``: the argument is the app bound before it, whatever that is
            # (``get_wsgi_application()``), not an instance of a class of this module
            name = None
        if name in asgi_defs:
            return
        if name is not None:
            held = ModuleValues(module, until=stmt).env.get(name)
            if held is not None and held.protocol == "asgi" and not held.maker:
                return  # ``application = get_asgi_application()`` above: ASGI already
        if isinstance(bottom, cst.Call) and (
            analysis.dotted_name(bottom.func) in self.known_middleware
        ):
            return  # an adapted middleware (or a Router): already an ASGI app
        if name in apps:
            if mwa.WSGI_APP_CONVERTS_STACKED_APPS or apps[name].already_adapted:
                return  # the wsgi-app rule makes it ASGI
            wrapper, why = (
                "WsgiToAsgi",
                (
                    f"`{name}` stays a WSGI app inside the ASGI middleware stack, served through "
                    "adapters.WsgiToAsgi (the wsgi-app rule does not convert apps used in stacks yet)"
                ),
            )
        else:
            text = code_of(bottom)
            wrapper, why = (
                "as_asgi",
                (
                    f"`{text}` is made ASGI with adapters.as_asgi (it may still be a WSGI app: it is "
                    "defined elsewhere)"
                ),
            )
        self.bottoms[id(call)] = wrapper
        self.touched.add(id(stmt))
        self.imports.add(("adapters", wrapper))
        self.markers.setdefault(id(stmt), []).append(marker_comment(self.rule_id, why))
        self.report(stmt, "adapted", why)

    def converted(self, mw: Middleware, conv: Converted) -> None:
        if mw.kind == "class":
            assert isinstance(mw.node, cst.ClassDef) and isinstance(mw.node.body, cst.IndentedBlock)
            body = [
                conv.node if s is mw.call else conv.methods.get(id(s), s)
                for s in mw.node.body.body
                if id(s) not in conv.removed
            ]
            new: cst.BaseStatement = mw.node.with_changes(body=mw.node.body.with_changes(body=body))
            what = "WSGI middleware class"
        else:
            replaced = mw.node.visit(_Replace(mw.call, conv.node))
            assert isinstance(replaced, cst.FunctionDef)
            new = replaced
            what = (
                "WSGI middleware factory" if mw.kind == "factory" else "WSGI middleware decorator"
            )
        self.replacements[id(mw.node)] = new
        self.unused |= conv.maybe_unused
        self.imports.update(conv.imports)
        if analysis.names_in(new) & {HELPERS}:
            self.imports.add(("adapters", HELPERS))
        details = f" ({', '.join(conv.details)})" if conv.details else ""
        self.report(mw.node, "converted", f"{what} `{mw.name}` converted to ASGI{details}")

    def adapt(self, mw: Middleware, reason: str) -> None:
        private = f"_{mw.name}Wsgi" if mw.kind == "class" else f"_{mw.name}_wsgi"
        message = (
            f"`{mw.name}` kept as WSGI (as `{private}`) and run around the ASGI app through "
            f"adapters.wsgi_middleware: {reason}"
        )
        renamed = mw.node.with_changes(name=cst.Name(private))
        if mw.kind == "decorator":
            code = (
                f"def {mw.name}(*args, **kwargs):\n"
                f"    return wsgi_middleware({private}(*args, **kwargs))\n"
            )
        else:
            code = f"{mw.name} = wsgi_middleware({private})"
        binding = with_marker(_stmt(code), marker_comment(self.rule_id, message))
        assert isinstance(binding, (cst.SimpleStatementLine, cst.FunctionDef))
        binding = binding.with_changes(
            leading_lines=[cst.EmptyLine(), cst.EmptyLine(), *binding.leading_lines]
        )
        self.replacements[id(mw.node)] = cst.FlattenSentinel([renamed, binding])
        self.imports.add(("adapters", "wsgi_middleware"))
        self.report(mw.node, "adapted", message)

    def plan_third_party(
        self, module: cst.Module, spellings: dict[str, str], paste: set[str]
    ) -> None:
        """``spellings``: the module's spellings of :data:`middleware_analysis.THIRD_PARTY`;
        ``paste``: of Paste's middleware."""
        self.has_starlette = any(
            "starlette" in code_of(n) for n in analysis.import_statements(module)
        )
        for stmt in module.body:
            small = single_statement(stmt)
            if not isinstance(small, cst.Assign):
                continue
            assert isinstance(stmt, cst.SimpleStatementLine)
            if self.third_party_blocked(module, stmt, small, spellings.keys() | paste):
                continue
            for node in analysis.walk(small.value):
                if not isinstance(node, cst.Call) or not node.args:
                    continue
                callee = analysis.dotted_name(node.func)
                if callee in spellings:
                    self.calls[id(node)] = mwa.THIRD_PARTY[spellings[callee]]
                elif callee in paste:
                    self.calls[id(node)] = "paste"
                else:
                    continue
                self.statement_of_call[id(node)] = stmt
                self.touched.add(id(stmt))
                if callee in spellings:
                    qualified = spellings[callee]
                    if "." not in callee:
                        self.unused.add((qualified.rsplit(".", 1)[0], callee))

    def wsgi_users_elsewhere(self, names: set[str]) -> list[str]:
        """The other modules of the run that use one of ``names`` of this module as a WSGI
        app (none without a project)."""
        project = self.context.project
        if project is None:
            return []
        relpath = self.context.relpath
        return sorted({file for name in names for file in project.callers_of(relpath, name)})

    def third_party_blocked(
        self,
        module: cst.Module,
        stmt: cst.SimpleStatementLine,
        small: cst.Assign,
        spellings: set[str],
    ) -> bool:
        """A stack of third-party middleware whose result other code of the module uses as a
        WSGI app stays as it is (with a marker): made ASGI, it would break that code."""
        callees = [
            callee
            for node in analysis.walk(small.value)
            if isinstance(node, cst.Call)
            and node.args
            and (callee := analysis.dotted_name(node.func)) in spellings
        ]
        if not callees:
            return False
        if not all(isinstance(t.target, cst.Name) for t in small.targets):
            # ``app.wsgi_app = ProxyFix(app.wsgi_app)``: Flask calls it as a WSGI app, so it
            # stays one (and stays right: ProxyFix works as WSGI middleware)
            return True
        uses = mwa.stack_result_uses(module, stmt, self.stack_middleware)
        elsewhere = self.wsgi_users_elsewhere(uses.names)
        if not uses.statements and not elsewhere:
            return False
        users = [
            *(f"line {self.line_of(n)}" for n in uses.statements[:3]),
            *elsewhere[:3],
        ]
        message = (
            f"`{callees[0]}` left as WSGI middleware: the app built here is also used as a "
            f"WSGI app ({', '.join(users)}); convert that code, then run migrate again"
        )
        if not has_marker(stmt, self.rule_id, module=module):
            self.markers.setdefault(id(stmt), []).append(marker_comment(self.rule_id, message))
            self.report(stmt, "manual", message)
        return True

    # -- third-party calls --------------------------------------------------------------

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        result = self.third_party_or_bottom(original_node, updated_node)
        if id(original_node) in self.foreign_bottoms and isinstance(result, cst.Call):
            first = result.args[0]
            dual = cst.parse_expression(f"{HELPERS}.wsgi_or_asgi({code_of(first.value)})")
            result = result.with_changes(args=[first.with_changes(value=dual), *result.args[1:]])
        if id(original_node) in self.foreign_tops:
            result = cst.Call(func=cst.Name("as_asgi"), args=[cst.Arg(result)])
        return result

    def third_party_or_bottom(
        self, original_node: cst.Call, updated_node: cst.Call
    ) -> cst.BaseExpression:
        wrapper = self.bottoms.get(id(original_node))
        if wrapper is not None:
            first = updated_node.args[0]
            wrapped = cst.Call(func=cst.Name(wrapper), args=[cst.Arg(first.value)])
            updated_node = updated_node.with_changes(
                args=[first.with_changes(value=wrapped), *updated_node.args[1:]]
            )
        kind = self.calls.get(id(original_node))
        if kind is None:
            return updated_node
        stmt = self.statement_of_call[id(original_node)]
        callee = code_of(updated_node.func)
        if kind == "ProxyFix":
            return self.proxy_fix(original_node, updated_node, stmt, callee)
        if kind == "DispatcherMiddleware":
            return self.dispatcher(original_node, updated_node, stmt, callee)
        if kind == "SharedDataMiddleware":
            return self.shared_data(original_node, updated_node, stmt, callee)
        if kind == "WhiteNoise":
            self.imports.add(("servestatic", "ServeStaticASGI"))
            self.report(
                original_node,
                "converted",
                f"WhiteNoise `{callee}(...)` became servestatic.ServeStaticASGI "
                "(same arguments; add servestatic to the dependencies)",
            )
            return updated_node.with_changes(func=cst.Name("ServeStaticASGI"))
        return self.adapted_call(
            original_node,
            updated_node,
            stmt,
            callee,
            "Paste middleware has no ASGI counterpart; replace it when you can",
        )

    def adapted_call(
        self,
        original: cst.Call,
        updated: cst.Call,
        stmt: cst.SimpleStatementLine,
        callee: str,
        why: str,
    ) -> cst.BaseExpression:
        message = (
            f"`{callee}` stays WSGI and runs around the ASGI app through "
            f"adapters.wsgi_middleware: {why}"
        )
        self.imports.add(("adapters", "wsgi_middleware"))
        self.markers.setdefault(id(stmt), []).append(marker_comment(self.rule_id, message))
        self.unused.discard(next(((m, n) for m, n in self.unused if n == callee), ("", "")))
        self.report(original, "adapted", message)
        return updated.with_changes(func=cst.parse_expression(f"wsgi_middleware({callee})"))

    def proxy_fix(
        self, original: cst.Call, updated: cst.Call, stmt: cst.SimpleStatementLine, callee: str
    ) -> cst.BaseExpression:
        problems = proxy_fix_problems(updated)
        if problems:
            return self.adapted_call(original, updated, stmt, callee, "; ".join(problems))
        self.imports.add(("adapters", None))
        self.report(
            original,
            "converted",
            f"`{callee}` became adapters.ProxyFix: the same headers trusted from the same "
            "number of proxies, for an ASGI app (serve it with uvicorn's --no-proxy-headers, "
            "so that it alone decides: uvicorn applies X-Forwarded-For/Proto from 127.0.0.1)",
        )
        return updated.with_changes(func=cst.parse_expression("adapters.ProxyFix"))

    def dispatcher(
        self, original: cst.Call, updated: cst.Call, stmt: cst.SimpleStatementLine, callee: str
    ) -> cst.BaseExpression:
        args = updated.args
        if len(args) != 2 or any(a.star or a.keyword for a in args):
            return self.adapted_call(
                original, updated, stmt, callee, "called with arguments the rule cannot map"
            )
        app, mounts = code_of(args[0].value), args[1].value
        if isinstance(mounts, cst.Dict) and all(
            isinstance(e, cst.DictElement) and string_value(e.key) not in ("", "/")
            for e in mounts.elements
        ):
            items = [
                f"{code_of(e.key)}: {code_of(e.value)}"
                for e in mounts.elements
                if isinstance(e, cst.DictElement)
            ]
            routes = "{" + ", ".join([*items, f'"/": {app}']) + "}"
        else:
            routes = f'{{**{code_of(mounts)}, "/": {app}}}'
        self.imports.add(("adapters", "Router"))
        self.report(
            original,
            "converted",
            f"`{callee}` became adapters.Router (mounts WSGI and ASGI apps alike)",
        )
        return cst.parse_expression(f"Router({routes})")

    def shared_data(
        self, original: cst.Call, updated: cst.Call, stmt: cst.SimpleStatementLine, callee: str
    ) -> cst.BaseExpression:
        args = updated.args
        exports = args[1].value if len(args) == 2 and not any(a.keyword for a in args) else None
        if (
            self.has_starlette
            and isinstance(exports, cst.Dict)
            and all(
                isinstance(e, cst.DictElement) and string_value(e.key) for e in exports.elements
            )
        ):
            items = [
                f"{code_of(e.key)}: StaticFiles(directory={code_of(e.value)})"
                for e in exports.elements
                if isinstance(e, cst.DictElement)
            ]
            routes = "{" + ", ".join([*items, f'"/": {code_of(args[0].value)}']) + "}"
            self.imports.add(("adapters", "Router"))
            self.imports.add(("starlette.staticfiles", "StaticFiles"))
            self.report(
                original,
                "converted",
                f"`{callee}` became Starlette's StaticFiles mounted with adapters.Router "
                "(caching headers differ)",
            )
            return cst.parse_expression(f"Router({routes})")
        return self.adapted_call(
            original,
            updated,
            stmt,
            callee,
            "Starlette's StaticFiles (mounted with adapters.Router) is the ASGI counterpart "
            "once starlette is a dependency",
        )

    # -- applying -----------------------------------------------------------------------

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        return self.replacements.get(id(original_node), updated_node)

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        return self.replacements.get(id(original_node), updated_node)

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement:
        result: cst.BaseStatement = updated_node
        for comment in self.markers.get(id(original_node), []):
            result = with_marker(result, comment)
        return result

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        module = updated_node
        if self.touched:
            body: list[cst.BaseStatement] = []
            for stmt in original_node.body:
                new = stmt.visit(self) if id(stmt) in self.touched else stmt
                if isinstance(new, cst.FlattenSentinel):
                    body.extend(new)
                elif isinstance(new, cst.BaseStatement):
                    body.append(new)
            module = module.with_changes(body=body)
        if self.unused:
            module = remove_unused_imports(module, self.unused)
        if self.imports:
            module = add_imports(module, sorted(self.imports, key=lambda i: (i[0], i[1] or "")))
        return module


def proxy_fix_problems(call: cst.Call) -> list[str]:
    """Why ``ProxyFix(app, ...)`` cannot become ``adapters.ProxyFix`` (empty: it can)."""
    names = mwa.PROXY_FIX_SETTINGS
    return [
        f"argument `{code_of(arg)}` is not one of ProxyFix's hop counts"
        for index, arg in enumerate(call.args[1:])
        if arg.star or (arg.keyword.value not in names if arg.keyword else index >= len(names))
    ]


def _marker_messages(module: cst.Module, rule_id: str) -> list[str]:
    """The messages of this rule's markers anywhere in ``module`` (a marker above the first
    statement may have moved above imports added later)."""
    found = []
    for text in analysis.comment_lines(module):
        match = MARKER_RE.match(text)
        if match and match.group("rule") == rule_id:
            found.append(match.group("message"))
    return found


#: Imports that are not middleware of unknown kind (handled by name, or adapters).
_KNOWN_SOURCES = (
    "adapters",
    "werkzeug",
    "whitenoise",
    "servestatic",
    "paste",
    "uvicorn",
    "starlette",
    "__future__",
)


def _imported_names(module: cst.Module) -> set[str]:
    """Local names bound by imports at module level (the first part of ``import a.b``), except
    from the packages the rule knows (:data:`_KNOWN_SOURCES`)."""
    names: set[str] = set()
    for stmt in module.body:
        small = single_statement(stmt)
        if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            source = analysis.dotted_name(small.module) if small.module else ""
            if source.split(".")[0] in _KNOWN_SOURCES:
                continue
            for alias in small.names:
                local = alias.asname.name if alias.asname else alias.name
                if isinstance(local, cst.Name):
                    names.add(local.value)
        elif isinstance(small, cst.Import):
            for alias in small.names:
                source = analysis.dotted_name(alias.name)
                if source.split(".")[0] in _KNOWN_SOURCES:
                    continue
                local = alias.asname.name if alias.asname else alias.name
                names.add(
                    analysis.dotted_name(local).split(".")[0]
                    if isinstance(local, (cst.Name, cst.Attribute))
                    else ""
                )
    names.discard("")
    return names


def _paste_names(module: cst.Module) -> set[str]:
    """How the module spells Paste's middleware (``TransLogger``, ``translogger.TransLogger``):
    only those, not whatever else it imports from Paste (``paste.fixture.TestApp`` is a test
    client, which must not be run as middleware)."""
    return set(analysis.import_spellings(module, mwa.PASTE_MIDDLEWARE))
