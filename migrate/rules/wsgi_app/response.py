"""The response -> ``send``: ``start_response`` / ``return [...]`` / ``yield`` / ``write()`` followed
through the blocks of one app."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import libcst as cst

from migrate import analysis
from migrate.analysis import (
    is_plain_name,
    mentions,
    string_value,
)
from migrate.app_finding import Delegate
from migrate.cst_helpers import code_of, suite_statements
from migrate.instances import callee_key
from migrate.local_names import renamed
from migrate.rules.wsgi_app.common import (
    HELPERS,
    Unconvertible,
    _expr,
    _is_safe,
    _is_text,
    _stmt,
    _with_last,
)


@dataclass(eq=False)
class Pending:
    """``start_response(status, headers)`` seen, response start not sent yet."""

    status: cst.BaseExpression
    headers: cst.BaseExpression
    names: set[str]
    leading_lines: Sequence[cst.EmptyLine]
    trailing: cst.TrailingWhitespace
    #: The ``start_response(status, headers)`` call itself.
    call: cst.Call | None = None


@dataclass(eq=False)
class MaybeStarted:
    """After an ``if`` one branch of which sent the response start (its first chunk) while
    the other left it pending: ``flag``, set by the branches that sent it, tells at run time
    (the start goes out before the next chunk only if it has not yet, as under WSGI)."""

    pending: Pending
    flag: str


NOT_STARTED = "not started"
STARTED = "started"
#: A helper that only starts the response (see ``Delegate.starts_only``) sent the start: the
#: body follows, and nothing that may fail can run before it (under WSGI a failure there was
#: still the server's 500, the start not being out yet).
HEADERS_SENT = "headers sent"
TERMINATED = "terminated"
State = Pending | MaybeStarted | str


@dataclass
class ResponseRewriter:
    """Turns ``start_response`` / ``return [...]`` / ``yield`` / ``write()`` in one app body
    into ``send`` calls, following the response state through the blocks."""

    start_response: str
    generator: bool
    used_names: set[str]
    write: str | None = None
    generated_returns: set[int] = field(default_factory=set)
    #: Members of the call group being converted: ``return f(environ, start_response, ...)``
    #: becomes ``return await f(scope, receive, send, ...)`` (``send`` for a response helper).
    delegates: Mapping[str, Delegate] = field(default_factory=dict)
    #: Depth of try/with blocks around the statement being rewritten.
    guarded: int = 0
    #: What a member handed the request gets as ``receive``: the body again
    #: (``asgi_helpers.replay_body(...)``) when it was read for a helper first.
    receive: str = "receive"
    #: Response helpers of other modules handed start_response (dotted callees, checked by
    #: :func:`_check_collector_call`): ``return json_response(start_response, ...)`` becomes
    #: ``return await response.send(send, json_response(response, ...))`` with ``response``
    #: an ``asgi_helpers.StartResponse``.
    collected: frozenset[str] = frozenset()
    #: Whether ``asgi_helpers.StartResponse`` may send what the rule cannot see into (an
    #: iterable returned after start_response): only with knowledge of the project.
    collects: bool = False
    #: How many returns went through a StartResponse (for the report).
    collector_uses: int = 0
    collector_name: str | None = None
    body_name: str | None = None
    #: Names bound to ``asgi_helpers.FileWrapper`` (``environ["wsgi.file_wrapper"]`` once):
    #: ``return wrapper(file, size)`` sends the file, read in the thread pool.
    file_wrappers: frozenset[str] = frozenset()
    #: The body being rewritten (the statements :meth:`block` is given live in it) and the
    #: parameters of the new function: what a ``try`` moved into a nested function
    #: (:meth:`recorded_try`) shares with it.
    root: cst.CSTNode | None = None
    params: frozenset[str] = frozenset()
    #: How many ``try`` statements had their response recorded (for the report), and the
    #: names of the nested coroutines some of them went into.
    recorded_tries: int = 0
    recorded_in: list[str] = field(default_factory=list)

    # -- code generation ------------------------------------------------------------------

    def fresh(self, base: str) -> str:
        name = base
        while name in self.used_names:
            name += "_"
        self.used_names.add(name)
        return name

    @staticmethod
    def status_code(status: cst.BaseExpression) -> str:
        value = string_value(status)
        if value is not None:
            code = value.split(None, 1)[0] if value.strip() else ""
            if len(code) != 3 or not code.isdigit():
                raise Unconvertible(f"status {value!r} is not a valid HTTP status")
            return str(int(code))
        code = code_of(status)
        if not isinstance(status, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)):
            code = f"({code})"  # ``"%d %s" % (code, reason)`` is split whole
        return f"int({code}.split(None, 1)[0])"

    @staticmethod
    def headers_code(headers: cst.BaseExpression) -> str:
        if isinstance(headers, (cst.List, cst.Tuple)) and all(
            isinstance(e, cst.Element)
            and isinstance(e.value, cst.Tuple)
            and len(e.value.elements) == 2
            and all(isinstance(x, cst.Element) for x in e.value.elements)
            for e in headers.elements
        ):
            items = []
            for element in headers.elements:
                assert isinstance(element.value, cst.Tuple)
                name_node, value_node = (x.value for x in element.value.elements)
                items.append(
                    f"({_header_bytes(name_node, True)}, {_header_bytes(value_node, False)})"
                )
            one_line = "[" + ", ".join(items) + "]"
            if len(one_line) <= 60:
                return one_line
            return "[\n" + "".join(f"            {item},\n" for item in items) + "        ]"
        return (
            '[(name.lower().encode("latin-1"), value.encode("latin-1")) '
            f"for name, value in {code_of(headers)}]"
        )

    def start_send(self, pending: Pending) -> cst.BaseStatement:
        status = self.status_code(pending.status)
        headers = self.headers_code(pending.headers)
        one_line = f'await send({{"type": "http.response.start", "status": {status}, "headers": {headers}}})'
        if len(one_line) <= 88:
            stmt = _stmt(one_line)
        else:
            stmt = _stmt(
                "await send(\n    {\n"
                '        "type": "http.response.start",\n'
                f'        "status": {status},\n'
                f'        "headers": {headers},\n'
                "    }\n)"
            )
        assert isinstance(stmt, cst.SimpleStatementLine)
        return stmt.with_changes(
            leading_lines=pending.leading_lines, trailing_whitespace=pending.trailing
        )

    @staticmethod
    def body_send(body: str, more: bool) -> cst.BaseStatement:
        more_text = ', "more_body": True' if more else ""
        return _stmt(f'await send({{"type": "http.response.body", "body": {body}{more_text}}})')

    def collector(self) -> str:
        """The local name of the ``asgi_helpers.StartResponse`` of this function (one name
        for every return that needs one: each assigns it just before its use)."""
        if self.collector_name is None:
            self.collector_name = self.fresh("response")
        return self.collector_name

    def collector_return(
        self,
        stmt: cst.SimpleStatementLine,
        node: cst.Return,
        start: cst.Call,
        body: cst.BaseExpression,
        leading_lines: Sequence[cst.EmptyLine],
        out: list[cst.BaseStatement],
        trailing: cst.TrailingWhitespace | None = None,
    ) -> State:
        """``return BODY`` -> three statements::

        response = asgi_helpers.StartResponse(...)    # ``start``, with its arguments
        body = BODY
        return await response.send(send, body)
        """
        response = self.collector()
        if self.body_name is None:
            self.body_name = self.fresh("body")
        assign = cst.SimpleStatementLine(
            body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(response))], value=start)],
            leading_lines=leading_lines,
        )
        if trailing is not None:
            assign = assign.with_changes(trailing_whitespace=trailing)
        out.append(assign)
        out.append(
            cst.SimpleStatementLine(
                body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(self.body_name))], value=body)]
            )
        )
        sent = _expr(f"await {response}.send(send, {self.body_name})")
        out.append(stmt.with_changes(body=[node.with_changes(value=sent)], leading_lines=()))
        self.collector_uses += 1
        return TERMINATED

    def bare_return(self) -> cst.BaseStatement:
        stmt = _stmt("return")
        self.generated_returns.add(id(stmt))
        return stmt

    # -- the walk -----------------------------------------------------------------------

    def has_ops(self, node: cst.CSTNode) -> bool:
        if analysis.contains_yield(node) or mentions(node, self.start_response, into_scopes=False):
            return True
        if self.write and mentions(node, self.write, into_scopes=False):
            return True
        return any(isinstance(n, cst.Return) for n in analysis.walk(node, into_scopes=False))

    def check_between(self, node: cst.CSTNode, state: State) -> None:
        if state is HEADERS_SENT and not _cannot_fail(node):
            raise Unconvertible(
                "code between the helper that starts the response and the body may fail"
            )
        pending = state.pending if isinstance(state, MaybeStarted) else state
        if isinstance(pending, Pending) and analysis.names_in(node) & pending.names:
            raise Unconvertible(
                "code between start_response and the body uses the names it was given"
            )

    def merge(self, states: Sequence[State]) -> State:
        live = [s for s in states if s is not TERMINATED]
        if not live:
            return TERMINATED
        if all(s is live[0] for s in live):
            return live[0]
        maybe = next((s for s in live if isinstance(s, MaybeStarted)), None)
        if maybe is not None and all(s is maybe or s is STARTED for s in live):
            return maybe  # the branches that sent the start set its flag
        raise Unconvertible("start_response and the body are on different paths")

    def flush(self, state: State, out: list[cst.BaseStatement]) -> None:
        if isinstance(state, Pending):
            out.append(self.start_send(state))
        elif isinstance(state, MaybeStarted):
            out.append(self.start_unless_sent(state))

    def start_flag(
        self,
        pending: Pending,
        out: list[cst.BaseStatement],
        leading: Sequence[cst.EmptyLine] = (),
    ) -> MaybeStarted:
        """``started = False`` added to ``out``: from here the first chunk sends the start."""
        flag = self.fresh("started")
        out.append(_stmt(f"{flag} = False").with_changes(leading_lines=leading))
        return MaybeStarted(pending, flag)

    def start_unless_sent(
        self, state: MaybeStarted, leading: Sequence[cst.EmptyLine] = ()
    ) -> cst.BaseStatement:
        """``if not started: await send(start); started = True``."""
        send = self.start_send(state.pending).with_changes(leading_lines=())
        return cst.If(
            test=_expr(f"not {state.flag}"),
            body=cst.IndentedBlock(body=[send, _stmt(f"{state.flag} = True")]),
            leading_lines=leading,
        )

    def block(
        self, stmts: Sequence[cst.BaseStatement], state: State
    ) -> tuple[list[cst.BaseStatement], State]:
        out: list[cst.BaseStatement] = []
        for stmt in stmts:
            if state is TERMINATED:
                out.append(stmt)  # unreachable code, kept as is
                continue
            if isinstance(stmt, cst.SimpleStatementLine):
                state = self.simple(stmt, state, out)
            else:
                state = self.compound(stmt, state, out)
        return out, state

    def suite(self, suite: cst.BaseSuite, state: State) -> tuple[cst.BaseSuite, State]:
        if isinstance(suite, cst.SimpleStatementSuite):
            if not self.has_ops(suite):
                self.check_between(suite, state)
                return suite, state
            suite = cst.IndentedBlock(
                body=[cst.SimpleStatementLine(body=[s]) for s in suite.body],
            )
        assert isinstance(suite, cst.IndentedBlock)
        body, state = self.block(suite.body, state)
        if not body:
            body = [_stmt("pass")]
        return suite.with_changes(body=body), state

    def simple(
        self, stmt: cst.SimpleStatementLine, state: State, out: list[cst.BaseStatement]
    ) -> State:
        if len(stmt.body) != 1:
            if self.has_ops(stmt):
                raise Unconvertible("start_response or the body share a line with other code")
            self.check_between(stmt, state)
            out.append(stmt)
            return state
        small = stmt.body[0]
        sr = self.start_response
        # start_response(status, headers) / write = start_response(status, headers)
        call: cst.BaseExpression | None = None
        write: str | None = None
        if isinstance(small, cst.Expr):
            call = small.value
        elif (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
        ):
            call = small.value
            write = small.targets[0].target.value
        if write is None and isinstance(call, cst.Call) and self.starter(call) is not None:
            return self.starter_call(stmt, call, state, out)
        if isinstance(call, cst.Call) and is_plain_name(call.func, sr):
            args = call.args
            if len(args) == 3 or any(a.keyword and a.keyword.value == "exc_info" for a in args):
                raise Unconvertible("start_response is called with exc_info")
            if len(args) != 2 or any(a.keyword is not None or a.star for a in args):
                raise Unconvertible("start_response is called with unusual arguments")
            if state is not NOT_STARTED:
                raise Unconvertible("start_response may be called twice")
            if write is not None:
                if self.write not in (None, write):
                    raise Unconvertible("several write() callables")
                self.write = write
            names = analysis.names_in(call)
            return Pending(
                args[0].value,
                args[1].value,
                names,
                stmt.leading_lines,
                stmt.trailing_whitespace,
                call,
            )
        # return
        if isinstance(small, cst.Return):
            return self.return_(stmt, small, state, out)
        # yield chunk / write(chunk)
        chunk: cst.BaseExpression | None = None
        if (
            isinstance(small, cst.Expr)
            and isinstance(small.value, cst.Yield)
            and isinstance(small.value.value, cst.From)
        ):
            # ``yield from chunks``: the loop a generator runs over them
            item = self.fresh("chunk")
            loop = cst.For(
                target=cst.Name(item),
                iter=small.value.value.item,
                body=cst.IndentedBlock(body=[_stmt(f"yield {item}")]),
                leading_lines=stmt.leading_lines,
            )
            return self.compound(loop, state, out)
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Yield):
            if not isinstance(small.value.value, cst.BaseExpression):
                raise Unconvertible("yields something other than a chunk")
            chunk = small.value.value
        elif (
            isinstance(small, cst.Expr)
            and isinstance(small.value, cst.Call)
            and self.write is not None
            and is_plain_name(small.value.func, self.write)
            and len(small.value.args) == 1
            and small.value.args[0].keyword is None
            and not small.value.args[0].star
        ):
            chunk = small.value.args[0].value
        if chunk is not None:
            if state is NOT_STARTED:
                raise Unconvertible("sends body before start_response")
            if _is_text(chunk):
                raise Unconvertible(
                    "sends text (str) as the body, which WSGI servers refuse (PEP 3333 wants bytes)"
                )
            lead: Sequence[cst.EmptyLine] = stmt.leading_lines
            if isinstance(state, (Pending, MaybeStarted)):
                if not _is_safe(chunk):
                    name = self.fresh("chunk")
                    out.append(_stmt(f"{name} = {code_of(chunk)}").with_changes(leading_lines=lead))
                    lead = ()
                    chunk = cst.Name(name)
                if isinstance(state, MaybeStarted):
                    out.append(self.start_unless_sent(state, lead))
                else:
                    out.append(
                        self.start_send(state).with_changes(
                            leading_lines=[*state.leading_lines, *lead]
                        )
                    )
                lead = ()
            out.append(self.body_send(code_of(chunk), True).with_changes(leading_lines=lead))
            return STARTED
        if isinstance(small, cst.Raise):
            out.append(stmt)
            return TERMINATED
        if self.has_ops(stmt):
            raise Unconvertible(
                "start_response, write() or a yield is used in a way the rule cannot follow"
            )
        self.check_between(stmt, state)
        out.append(stmt)
        return state

    def return_(
        self,
        stmt: cst.SimpleStatementLine,
        node: cst.Return,
        state: State,
        out: list[cst.BaseStatement],
    ) -> State:
        if isinstance(node.value, cst.Call) and callee_key(node.value.func) in self.delegates:
            return self.delegate_return(stmt, node, node.value, state, out)
        if (
            isinstance(node.value, cst.Call)
            and analysis.dotted_name(node.value.func) in self.collected
            and any(is_plain_name(a.value, self.start_response) for a in node.value.args)
        ):
            return self.collected_return(stmt, node, node.value, state, out)
        if state is NOT_STARTED:
            raise Unconvertible("returns without calling start_response first")
        if isinstance(state, MaybeStarted) and not self.generator:
            raise Unconvertible("start_response and the body are on different paths")
        if self.generator:
            if node.value is not None:
                raise Unconvertible("the generator returns a value")
            self.flush(state, out)
            out.append(self.body_send('b""', False).with_changes(leading_lines=stmt.leading_lines))
            out.append(self.bare_return())
            return TERMINATED
        value = node.value
        if isinstance(value, cst.GeneratorExp):
            return self.generator_return(stmt, value, state, out)
        if isinstance(value, cst.Call) and (
            analysis.dotted_name(value.func) in {*self.file_wrappers, f"{HELPERS}.FileWrapper"}
        ):
            return self.file_return(stmt, value, state, out)
        if not isinstance(value, (cst.List, cst.Tuple)) or not all(
            isinstance(e, cst.Element) for e in value.elements
        ):
            if (
                self.collects
                and isinstance(state, Pending)
                and state.call is not None
                and value is not None
                and not self.guarded
            ):
                # sent as a WSGI server would: start before the first non-empty chunk, close()
                start = state.call.with_changes(func=_expr(f"{HELPERS}.StartResponse"))
                return self.collector_return(
                    stmt,
                    node,
                    start,
                    value,
                    [*state.leading_lines, *stmt.leading_lines],
                    out,
                    state.trailing,
                )
            raise Unconvertible("returns an iterable the rule cannot see into")
        chunks = [e.value for e in value.elements]
        if any(_is_text(c) for c in chunks):
            raise Unconvertible(
                "returns text (str) as the body, which WSGI servers refuse (PEP 3333 wants bytes)"
            )
        lead = list(stmt.leading_lines)
        if isinstance(state, Pending) and not all(_is_safe(c) for c in chunks):
            name = self.fresh("body")
            codes = ", ".join(code_of(c) for c in chunks)
            joined = code_of(chunks[0]) if len(chunks) == 1 else f'b"".join([{codes}])'
            out.append(_stmt(f"{name} = {joined}").with_changes(leading_lines=lead))
            lead = []
            chunks = [cst.Name(name)]
        if isinstance(state, Pending):
            out.append(
                self.start_send(state).with_changes(leading_lines=[*state.leading_lines, *lead])
            )
            lead = []
        sends = [self.body_send(code_of(c), True) for c in chunks[:-1]]
        sends.append(self.body_send(code_of(chunks[-1]) if chunks else 'b""', False))
        sends[0] = sends[0].with_changes(leading_lines=lead)
        out.extend(sends)
        out.append(self.bare_return())
        return TERMINATED

    def file_return(
        self,
        stmt: cst.SimpleStatementLine,
        call: cst.Call,
        state: State,
        out: list[cst.BaseStatement],
    ) -> State:
        """``return wrapper(open(path, "rb"), size)`` after start_response -> the file made
        first (an error opening it is still an error before the response), the start, then
        its blocks read in the thread pool and sent (``asgi_helpers.send_file``)."""
        if not isinstance(state, Pending) or self.guarded:
            raise Unconvertible("returns wsgi.file_wrapper's result where the rule cannot follow")
        name = self.fresh("file")
        made = call.with_changes(func=_expr(f"{HELPERS}.FileWrapper"))
        out.append(
            _stmt(f"{name} = {code_of(made)}").with_changes(leading_lines=stmt.leading_lines)
        )
        out.append(self.start_send(state).with_changes(leading_lines=state.leading_lines))
        out.append(_stmt(f"await {HELPERS}.send_file(send, {name}, scope)"))
        out.append(self.bare_return())
        return TERMINATED

    def generator_return(
        self,
        stmt: cst.SimpleStatementLine,
        value: cst.GeneratorExp,
        state: State,
        out: list[cst.BaseStatement],
    ) -> State:
        """``return (chunk for x in items)`` -> the loop the server would have run over it:
        ``for x in items: await send(chunk)``, the start with the first chunk when it is
        still pending (a run-time flag), the end of the body after the loop."""
        comp = value.for_in
        if comp.inner_for_in is not None or comp.asynchronous is not None or len(comp.ifs) > 1:
            raise Unconvertible("returns a generator expression with several loops")
        if _is_text(value.elt):
            raise Unconvertible(
                "returns text (str) as the body, which WSGI servers refuse (PEP 3333 wants bytes)"
            )
        self.check_between(comp.iter, state)
        lead: Sequence[cst.EmptyLine] = stmt.leading_lines  # the return's comments
        if isinstance(state, Pending):
            state = self.start_flag(state, out, lead)
            lead = ()
        chunk = self.fresh("chunk")
        sends: list[cst.BaseStatement] = [_stmt(f"{chunk} = {code_of(value.elt)}")]
        if isinstance(state, MaybeStarted):
            sends.append(self.start_unless_sent(state))
        sends.append(self.body_send(chunk, True))
        body: cst.BaseSuite = cst.IndentedBlock(body=sends)
        if comp.ifs:
            body = cst.IndentedBlock(
                body=[cst.If(test=comp.ifs[0].test, body=cst.IndentedBlock(body=sends))]
            )
        loop = cst.For(target=comp.target, iter=comp.iter, body=body)
        out.append(loop.with_changes(leading_lines=lead))
        self.flush(state, out)
        out.append(self.body_send('b""', False))
        out.append(self.bare_return())
        return TERMINATED

    def starter(self, call: cst.Call) -> Delegate | None:
        """The delegate ``call`` hands start_response to, if it only starts the response."""
        delegate = self.delegates.get(callee_key(call.func) or "")
        if delegate is None or not delegate.starts_only:
            return None
        at = delegate.start_response
        args = call.args
        if len(args) <= at or not is_plain_name(args[at].value, self.start_response):
            return None
        return delegate

    def starter_call(
        self,
        stmt: cst.SimpleStatementLine,
        call: cst.Call,
        state: State,
        out: list[cst.BaseStatement],
    ) -> State:
        """``self.start(start_response)`` -> ``await self.start(send)``: the start goes out."""
        delegate = self.starter(call)
        assert delegate is not None
        if state is not NOT_STARTED:
            raise Unconvertible("start_response may be called twice")
        if self.guarded:
            raise Unconvertible("the response is started inside a try or with block")
        args = list(call.args)
        args[delegate.start_response] = args[delegate.start_response].with_changes(
            value=cst.Name("send")
        )
        awaited = cst.Expr(cst.Await(expression=call.with_changes(args=args)))
        out.append(stmt.with_changes(body=[awaited]))
        return HEADERS_SENT

    def check_handing_on(self, name: str, state: State) -> None:
        """``return name(..., start_response, ...)`` can become ASGI only where the callee
        then produces the whole response."""
        if self.generator:
            raise Unconvertible(f"the generator returns the response of `{name}()`")
        if state is not NOT_STARTED:
            raise Unconvertible(
                f"start_response may be called before it is handed to `{name}()` (twice)"
            )
        if self.guarded:
            raise Unconvertible(
                f"`{name}()` is handed start_response inside a try or with block (once ASGI, "
                "its whole response would be produced inside the block)"
            )

    def delegate_return(
        self,
        stmt: cst.SimpleStatementLine,
        node: cst.Return,
        call: cst.Call,
        state: State,
        out: list[cst.BaseStatement],
    ) -> State:
        """``return f(environ, start_response, *extra)`` -> ``return await f(scope, receive,
        send, *extra)``; ``return helper(start_response, ...)`` -> ``return await helper(send,
        ...)``. The callee produces the whole response."""
        name = callee_key(call.func)
        assert name is not None
        delegate = self.delegates[name]
        self.check_handing_on(name, state)
        args = list(call.args)
        sr_arg = args[delegate.start_response]
        args[delegate.start_response] = sr_arg.with_changes(value=cst.Name("send"))
        if delegate.environ is not None:
            env_arg = args[delegate.environ]
            receive = cst.Arg(_expr(self.receive), comma=env_arg.comma)
            args[delegate.environ] = env_arg.with_changes(
                value=cst.Name("scope"),
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
            )
            args.insert(delegate.environ + 1, receive)
        awaited = cst.Await(expression=call.with_changes(args=args))
        out.append(stmt.with_changes(body=[node.with_changes(value=awaited)]))
        return TERMINATED

    def collected_return(
        self,
        stmt: cst.SimpleStatementLine,
        node: cst.Return,
        call: cst.Call,
        state: State,
        out: list[cst.BaseStatement],
    ) -> State:
        """``return json_response(start_response, ...)`` (a response helper of another module)
        -> ``response = asgi_helpers.StartResponse()`` and ``return await response.send(send,
        json_response(response, ...))``: the helper, unchanged, calls the collector."""
        name = analysis.dotted_name(call.func)
        self.check_handing_on(name, state)
        response = self.collector()
        args = [
            arg.with_changes(value=cst.Name(response))
            if is_plain_name(arg.value, self.start_response)
            else arg
            for arg in call.args
        ]
        start = _expr(f"{HELPERS}.StartResponse()")
        assert isinstance(start, cst.Call)
        return self.collector_return(
            stmt, node, start, call.with_changes(args=args), stmt.leading_lines, out
        )

    def compound(
        self, stmt: cst.BaseStatement, state: State, out: list[cst.BaseStatement]
    ) -> State:
        if self.collects and isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            # its returns and yields are its own (convert_callable already refused a nested
            # function that uses the environ or start_response)
            self.check_between(stmt, state)
            out.append(stmt)
            return state
        if not self.has_ops(stmt):
            self.check_between(stmt, state)
            out.append(stmt)
            return state
        if isinstance(stmt, cst.If):
            new_if, merged = self.if_(stmt, state, top=True)
            if isinstance(merged, MaybeStarted) and merged is not state:
                # the flag the branches that send the start set, False before the if
                init = _stmt(f"{merged.flag} = False").with_changes(
                    leading_lines=new_if.leading_lines
                )
                out.append(init)
                new_if = new_if.with_changes(leading_lines=())
            out.append(new_if)
            return merged
        if isinstance(stmt, cst.With):
            for item in stmt.items:
                self.check_between(item, state)
            self.guarded += 1
            try:
                body, state = self.suite(stmt.body, state)
            finally:
                self.guarded -= 1
            out.append(stmt.with_changes(body=body))
            return state
        if isinstance(stmt, (cst.For, cst.While)):
            return self.loop(stmt, state, out)
        if isinstance(stmt, cst.Try):
            return self.try_(stmt, state, out)
        raise Unconvertible(f"the response is produced inside a `{type(stmt).__name__}` statement")

    def if_(self, node: cst.If, state: State, top: bool = False) -> tuple[cst.If, State]:
        if self.has_ops(node.test):
            raise Unconvertible("start_response or a yield inside a condition")
        self.check_between(node.test, state)
        body, s_body = self.suite(node.body, state)
        orelse: cst.If | cst.Else | None = node.orelse
        s_else: State = state
        if isinstance(node.orelse, cst.If):
            orelse, s_else = self.if_(node.orelse, state)
        elif isinstance(node.orelse, cst.Else):
            else_body, s_else = self.suite(node.orelse.body, state)
            orelse = node.orelse.with_changes(body=else_body)
        live = [s for s in (s_body, s_else) if s is not TERMINATED]
        if (
            top
            and isinstance(state, Pending)
            and STARTED in live
            and state in live
            and all(s is STARTED or s is state for s in live)
            and not isinstance(node.orelse, cst.If)
        ):
            # one way sent the start with its first chunk, the other did not yet
            flag = self.fresh("started")
            body = _with_last(body, _stmt(f"{flag} = True")) if s_body is STARTED else body
            if s_else is STARTED and isinstance(orelse, cst.Else):
                orelse = orelse.with_changes(body=_with_last(orelse.body, _stmt(f"{flag} = True")))
            return node.with_changes(body=body, orelse=orelse), MaybeStarted(state, flag)
        return node.with_changes(body=body, orelse=orelse), self.merge([s_body, s_else])

    def loop(self, node: cst.For | cst.While, state: State, out: list[cst.BaseStatement]) -> State:
        header: cst.CSTNode = node.iter if isinstance(node, cst.For) else node.test
        if self.has_ops(header) or (isinstance(node, cst.For) and self.has_ops(node.target)):
            raise Unconvertible("start_response or a yield inside a loop header")
        if isinstance(state, (Pending, MaybeStarted)):
            first = node.body.body[0] if isinstance(node.body, cst.IndentedBlock) else None
            first_chunk = self._chunk_of(first)
            self.check_between(header, state)
            if (
                isinstance(node, cst.For)
                and _is_safe(node.iter)
                and first_chunk is not None
                and _is_safe(first_chunk)
            ):
                self.flush(state, out)  # nothing before the first chunk can fail: send now
                state = STARTED
            elif isinstance(state, Pending):
                # the first step may fail before any chunk (a 500 under WSGI): the first chunk
                # sends the start, a flag says whether it went
                state = self.start_flag(state, out)
        body, s_body = self.suite(node.body, state)
        allowed = (
            (state, TERMINATED, STARTED) if isinstance(state, MaybeStarted) else (state, TERMINATED)
        )
        if s_body not in allowed:
            raise Unconvertible("start_response is called inside a loop")
        orelse = node.orelse
        s_out: State = state
        if orelse is not None:
            else_body, s_out = self.suite(orelse.body, state)
            orelse = orelse.with_changes(body=else_body)
        out.append(node.with_changes(body=body, orelse=orelse))
        return s_out

    def _chunk_of(self, stmt: cst.BaseStatement | None) -> cst.BaseExpression | None:
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            return None
        small = stmt.body[0]
        if not isinstance(small, cst.Expr):
            return None
        if isinstance(small.value, cst.Yield) and isinstance(small.value.value, cst.BaseExpression):
            return small.value.value
        if (
            isinstance(small.value, cst.Call)
            and self.write is not None
            and is_plain_name(small.value.func, self.write)
            and len(small.value.args) == 1
        ):
            return small.value.args[0].value
        return None

    def _only_handed_on(self, node: cst.Try) -> bool:
        """The try's body produces responses only as ``return helper(start_response, ...)``
        (the helper sends start and body at once, nothing of the body runs between them),
        and no handler can catch what ``send`` raises (an ``OSError``, a ``RuntimeError``,
        a cancellation): a handler then runs exactly when it ran under WSGI, before any
        response went out."""
        if analysis.contains_yield(node.body):
            return False
        for sub in analysis.walk(node.body, into_scopes=False):
            if isinstance(sub, cst.Call) and (
                is_plain_name(sub.func, self.start_response)
                or (self.write is not None and is_plain_name(sub.func, self.write))
            ):
                return False
        handing = {
            id(arg.value)
            for sub in analysis.walk(node.body, into_scopes=False)
            if isinstance(sub, cst.Return) and isinstance(sub.value, cst.Call)
            for arg in sub.value.args
        }
        for sub in analysis.walk(node.body, into_scopes=False):
            if (
                isinstance(sub, cst.Name)
                and sub.value == self.start_response
                and id(sub) not in handing
            ):
                return False  # start_response handed on otherwise than in a return
        return all(_narrow_handler(handler) for handler in node.handlers)

    def try_(self, node: cst.Try, state: State, out: list[cst.BaseStatement]) -> State:
        if node.finalbody is not None and self.has_ops(node.finalbody):
            raise Unconvertible("the response is produced in a finally block")
        # a ``finally`` (closing a connection) then runs once the response went out, where
        # under WSGI it ran once the body was made: nothing the client sees changes
        handed_on = self._only_handed_on(node)
        if node.handlers and self.has_ops(node.body) and not handed_on:
            if self.recorded_try(node, state, out):
                return TERMINATED
            raise Unconvertible("the response is produced inside a try block with except handlers")
        # the helpers a return hands start_response to send the whole response in the body
        self.guarded += 0 if handed_on else 1
        try:
            body, s_body = self.suite(node.body, state)
        finally:
            self.guarded -= 0 if handed_on else 1
        # handlers and else run inside the finally block, if there is one
        outer = 1 if node.finalbody is not None else 0
        self.guarded += outer
        try:
            states = [s_body]
            handlers = []
            for handler in node.handlers:
                h_body, s_h = self.suite(handler.body, state)
                handlers.append(handler.with_changes(body=h_body))
                states.append(s_h)
            orelse = node.orelse
            if orelse is not None:
                else_body, s_else = self.suite(orelse.body, s_body)
                orelse = orelse.with_changes(body=else_body)
                states[0] = s_else
        finally:
            self.guarded -= outer
        out.append(node.with_changes(body=body, handlers=handlers, orelse=orelse))
        return self.merge(states)

    def recorded_try(self, node: cst.Try, state: State, out: list[cst.BaseStatement]) -> bool:
        """A ``try`` whose every way out returns the response or raises, calling
        ``start_response`` itself (``except Exception: start_response("500 ...", headers,
        sys.exc_info())``): under WSGI nothing was sent inside it (the server sent the
        response once the app returned), so a handler never saw what sending raises. It is
        kept as it is, ``start_response`` an ``asgi_helpers.StartResponse`` that records the
        response, which is sent once the ``try`` is over. When every return ends the try
        (:func:`_returns_last`), in place, each return keeping what it returns::

            response = asgi_helpers.StartResponse()
            try: ...  # response(status, headers); response_body = [body]
            except Exception: ...  # response("500 ...", headers, sys.exc_info()); ...
            return await response.send(send, response_body)

        (the blocking pool's segments then take it, with a blocking call before it, in one
        hop), else in a nested coroutine, whose blocking calls would each make a hop (the
        caller then keeps the app WSGI)::

            async def respond():
                try: ...  # response(status, headers); return [body]
                except Exception: ...  # response("500 ...", headers, sys.exc_info())

            response = asgi_helpers.StartResponse()
            return await response.send(send, await respond())

        False (nothing added) when it is not such a ``try``."""
        if (
            state is not NOT_STARTED
            or self.guarded
            or self.generator
            or self.write is not None
            or self.root is None
            or analysis.contains_yield(node)
            or not _always_returns([node])
        ):
            return False
        calls = {
            id(small.value.func)
            for sub in analysis.walk(node, into_scopes=False)
            if isinstance(sub, cst.SimpleStatementLine) and len(sub.body) == 1
            for small in sub.body
            if isinstance(small, cst.Expr)
            and isinstance(small.value, cst.Call)
            and is_plain_name(small.value.func, self.start_response)
        }
        mentioned = [
            sub
            for sub in analysis.walk(node, into_scopes=False)
            if isinstance(sub, cst.Name) and sub.value == self.start_response
        ]
        if not calls or any(id(sub) not in calls for sub in mentioned):
            return False  # handed on, or read otherwise: not a response made here
        if any(
            isinstance(sub, cst.Return) and not isinstance(sub.value, (cst.List, cst.Tuple))
            for sub in analysis.walk(node, into_scopes=False)
        ):
            # a generator or a file would be iterated where the server iterated it, out of
            # the thread the WSGI app ran in: only lists the code made
            return False
        inside = analysis.bound_names(node)
        if inside & self.params:
            return False
        response = self.collector()
        recorded = renamed(node, {self.start_response: response})
        assert isinstance(recorded, cst.Try)
        self.recorded_tries += 1
        if _returns_last(recorded):
            # every return ends the try: it keeps what it returns instead, in place (the
            # blocking pool's segments may then take it whole, with what comes before it)
            body_name = self.fresh("response_body")
            kept = recorded.visit(_ReturnsKept(body_name))
            assert isinstance(kept, cst.Try)
            out.append(
                _stmt(f"{response} = {HELPERS}.StartResponse()").with_changes(
                    leading_lines=node.leading_lines
                )
            )
            out.append(kept.with_changes(leading_lines=()))
            out.append(_stmt(f"return await {response}.send(send, {body_name})"))
            return True
        # the names the try binds that the function binds elsewhere, or declares global or
        # nonlocal, stay what they were
        rest = self.root.deep_replace(node, cst.SimpleStatementLine([cst.Pass()]))
        global_names = inside & analysis.declared_names(self.root)
        nonlocal_names = (
            inside & (analysis.bound_names(rest) | analysis.declared_names(self.root, cst.Nonlocal))
        ) - global_names
        respond = self.fresh("respond")
        self.recorded_in.append(respond)
        body: list[cst.BaseStatement] = []
        if global_names:
            body.append(_stmt(f"global {', '.join(sorted(global_names))}"))
        if nonlocal_names:
            body.append(_stmt(f"nonlocal {', '.join(sorted(nonlocal_names))}"))
        body.append(recorded.with_changes(leading_lines=()))
        out.append(
            cst.FunctionDef(
                name=cst.Name(respond),
                params=cst.Parameters(),
                body=cst.IndentedBlock(body=body),
                asynchronous=cst.Asynchronous(),
                leading_lines=node.leading_lines,
            )
        )
        out.append(
            _stmt(f"{response} = {HELPERS}.StartResponse()").with_changes(
                leading_lines=[cst.EmptyLine(indent=False)]
            )
        )
        out.append(_stmt(f"return await {response}.send(send, await {respond}())"))
        return True


def _returns_last(node: cst.Try) -> bool:
    """Every ``return`` of the ``try`` (with a value) is the last statement of a block that
    ends it: of the try's own blocks, or of an ``if``/``else``, ``with`` or inner ``try``
    ending one of those (not in a loop, a ``finally``, nor a ``try`` body an ``else``
    follows), so that the try ends right after it."""

    def block_ok(block: Sequence[cst.BaseStatement], tail: bool) -> bool:
        return all(stmt_ok(s, tail and i == len(block) - 1) for i, s in enumerate(block))

    def stmt_ok(stmt: cst.BaseStatement, tail: bool) -> bool:
        if isinstance(stmt, cst.SimpleStatementLine):
            returns = [s for s in stmt.body if isinstance(s, cst.Return)]
            return not returns or (tail and len(stmt.body) == 1 and returns[0].value is not None)
        if isinstance(stmt, cst.If):
            orelse = stmt.orelse
            other: Sequence[cst.BaseStatement] = (
                [orelse]
                if isinstance(orelse, cst.If)
                else suite_statements(orelse.body)
                if orelse is not None
                else []
            )
            return block_ok(suite_statements(stmt.body), tail) and block_ok(other, tail)
        if isinstance(stmt, cst.With):
            return block_ok(suite_statements(stmt.body), tail)
        if isinstance(stmt, cst.Try):
            returns_in_body = any(
                isinstance(n, cst.Return) for n in analysis.walk(stmt.body, into_scopes=False)
            )
            if stmt.orelse is not None and returns_in_body:
                return False  # replaced, the return would let the else run
            blocks = [stmt.body, *(h.body for h in stmt.handlers)]
            if stmt.orelse is not None:
                blocks.append(stmt.orelse.body)
            finally_ok = stmt.finalbody is None or block_ok(
                suite_statements(stmt.finalbody.body), False
            )
            return finally_ok and all(block_ok(suite_statements(b), tail) for b in blocks)
        return not any(isinstance(n, cst.Return) for n in analysis.walk(stmt, into_scopes=False))

    return stmt_ok(node, True)


class _ReturnsKept(cst.CSTTransformer):
    """``return X`` -> ``name = X`` (:func:`_returns_last` checked they all end the try)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False  # a nested function's returns are its own

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def leave_Return(self, original: cst.Return, updated: cst.Return) -> cst.Return | cst.Assign:
        assert updated.value is not None
        return cst.Assign(targets=[cst.AssignTarget(cst.Name(self.name))], value=updated.value)


def _always_returns(block: Sequence[cst.BaseStatement]) -> bool:
    """Every way through ``block`` ends in ``return value`` or ``raise``."""
    if not block:
        return False
    last = block[-1]
    if isinstance(last, cst.SimpleStatementLine):
        small = last.body[-1]
        return isinstance(small, cst.Raise) or (
            isinstance(small, cst.Return) and small.value is not None
        )
    if isinstance(last, cst.If):
        if last.orelse is None:
            return False
        other = (
            [last.orelse] if isinstance(last.orelse, cst.If) else suite_statements(last.orelse.body)
        )
        return _always_returns(suite_statements(last.body)) and _always_returns(other)
    if isinstance(last, cst.With):
        return _always_returns(suite_statements(last.body))
    if isinstance(last, cst.Try):
        if last.finalbody is not None and _always_returns(suite_statements(last.finalbody.body)):
            return True
        main = suite_statements(last.body)
        if last.orelse is not None and not _always_returns(main):
            main = suite_statements(last.orelse.body)
        return _always_returns(main) and all(
            _always_returns(suite_statements(h.body)) for h in last.handlers
        )
    return False


def _cannot_fail(node: cst.CSTNode) -> bool:
    """``node`` (a statement or an ``if`` test) cannot raise: ``pass``, or an expression
    :func:`_is_safe` trusts, compared or combined (``scope["method"] == "HEAD" or
    self.status == 304``)."""
    if isinstance(node, cst.SimpleStatementLine):
        return all(isinstance(small, cst.Pass) for small in node.body)
    if isinstance(node, cst.BooleanOperation):
        return _cannot_fail(node.left) and _cannot_fail(node.right)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
        return _cannot_fail(node.expression)
    if isinstance(node, cst.Comparison):
        return _cannot_fail(node.left) and all(
            isinstance(c.operator, (cst.Equal, cst.NotEqual, cst.Is, cst.IsNot))
            and _cannot_fail(c.comparator)
            for c in node.comparisons
        )
    if isinstance(node, cst.Subscript):
        # a key every HTTP scope has
        index = node.slice[0].slice if len(node.slice) == 1 else None
        key = string_value(index.value) if isinstance(index, cst.Index) else None
        return is_plain_name(node.value, "scope") and key in _SCOPE_KEYS
    return isinstance(node, cst.BaseExpression) and _is_safe(node)


_SCOPE_KEYS = frozenset({"type", "method", "path", "query_string", "headers", "scheme"})


#: Exception types a handler may name that catch what an ASGI ``send`` can raise.
_SEND_ERRORS = frozenset(
    {
        "BaseException", "Exception", "OSError", "IOError", "EnvironmentError", "error",
        "RuntimeError", "CancelledError", "ConnectionError", "ConnectionResetError",
        "ConnectionAbortedError", "BrokenPipeError", "ClientDisconnected",
    }
)  # fmt: skip


def _narrow_handler(handler: cst.ExceptHandler) -> bool:
    """``except SomeError:`` naming only types that cannot catch a failed ``send``."""
    if handler.type is None:
        return False
    types = (
        [e.value for e in handler.type.elements]
        if isinstance(handler.type, cst.Tuple)
        else [handler.type]
    )
    return all(
        isinstance(t, (cst.Name, cst.Attribute))
        and analysis.dotted_name(t).rsplit(".", 1)[-1] not in _SEND_ERRORS
        for t in types
    )


def _bytes_literal(data: bytes) -> str:
    """``b"..."`` with double quotes, escaping what needs it."""
    text = "".join(
        chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in data
    )
    return f'b"{text}"'


def _header_bytes(node: cst.BaseExpression, is_name: bool) -> str:
    value = string_value(node)
    if value is not None:
        if is_name:
            value = value.lower()
        try:
            return _bytes_literal(value.encode("latin-1"))
        except UnicodeEncodeError:
            raise Unconvertible("a response header is not latin-1") from None
    code = code_of(node)
    if not isinstance(
        node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.FormattedString)
    ):
        code = f"({code})"
    return f'{code}.lower().encode("latin-1")' if is_name else f'{code}.encode("latin-1")'
