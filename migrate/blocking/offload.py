"""Move the calls that may block out of a function the rules made async.

Given the async version of a function (the rules' output, with its generated ``await send``
and scope reads), :func:`offload_blocking` rewrites, the way a careful person would:

- ``time.sleep(x)`` -> ``await asyncio.sleep(x)``;
- any other call that may block (:mod:`migrate.blocking.kinds`) -> ``await run_blocking(f,
  *args)`` (:func:`adapters.blocking.run_blocking`: the request's own thread of a pool sized
  for I/O, so a connection opened in one call is used in the next on the same thread);
- a comprehension that calls one, or iterates over what one returned, and a call handed a
  lambda or generator expression that does -> the whole expression in one thread hop
  (``await run_blocking(lambda: ...)``): the lazy parts run where they are consumed;
- a ``with`` over a blocking object (a file, a connection as a transaction) -> the whole
  statement in a nested function run in the thread, its assigned names handed back.

Where that cannot be done faithfully it raises :class:`CannotOffload` with the reason, and the
rule keeps the code WSGI behind the adapter: a loop over what a blocking call returned (a
cursor, a file: its items are read one by one on the loop), a lazy construct that blocks and
escapes (a lambda or generator stored or returned), a ``with`` over a blocking object whose
body is also response code or leaves early.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst

from migrate import analysis
from migrate.blocking.kinds import DATA, RESOURCE, FunctionFacts, ModuleFacts, _bindings
from migrate.blocking.segments import Segments, in_thread
from migrate.blocking.table import ASYNC_EQUIVALENTS
from migrate.cst_helpers import ReplaceNodes, paren_await

RUN_BLOCKING = "run_blocking"
RUN_BLOCKING_IMPORT = ("adapters.blocking", RUN_BLOCKING)


class CannotOffload(Exception):
    """A call that may block cannot be moved off the event loop faithfully (the message says
    where and why)."""


@dataclass
class Offloaded:
    node: cst.FunctionDef
    #: calls now run in the request's thread
    moved: int = 0
    #: blocking calls replaced by their async equivalent (``await asyncio.sleep``)
    awaited: int = 0

    @property
    def imports(self) -> list[tuple[str, str | None]]:
        """What the module must import for the rewritten function."""
        found: list[tuple[str, str | None]] = []
        if self.moved:
            found.append(RUN_BLOCKING_IMPORT)
        if self.awaited:
            found.append(("asyncio", None))
        return found

    def detail(self) -> str:
        """For the change's message ("" when nothing moved)."""
        parts = []
        if self.moved:
            parts.append(
                f"{self.moved} blocking call{'s' if self.moved != 1 else ''} moved to threads"
            )
        if self.awaited:
            parts.append(f"{self.awaited} time.sleep() awaited as asyncio.sleep()")
        return ", ".join(parts)


def offload_blocking(
    func: cst.FunctionDef,
    module: ModuleFacts,
    *,
    cls: cst.ClassDef | None = None,
    data_params: Sequence[str] = ("scope", "receive", "send"),
) -> Offloaded:
    """``func`` (async) with its blocking calls moved off the loop; see the module docstring."""
    facts = FunctionFacts(module, func, cls, data_params=frozenset(data_params))
    fresh = _FreshNames(module.module, func)
    # whole runs of statements first (one hop each), then what is left call by call
    segments = Segments(func, facts, fresh)
    func = segments.rewrite()
    offload = _Offload(facts, func, fresh)
    body = func.body.visit(offload)
    assert isinstance(body, cst.BaseSuite)
    moved = offload.moved + segments.moved
    if moved:
        _check_name_free(module, RUN_BLOCKING, "adapters.blocking")
    if offload.awaited:
        _check_name_free(module, "asyncio", None)
    return Offloaded(func.with_changes(body=body), moved, offload.awaited)


RUN_BLOCKING_LAST = "run_blocking_last"

#: What a request may await after its one blocking call without needing a thread again.
_NO_THREAD_AWAITS = frozenset({"send", "receive", "asyncio.sleep"})


def give_thread_back_early(
    func: cst.FunctionDef, imports: Sequence[tuple[str, str | None]]
) -> tuple[cst.FunctionDef, list[tuple[str, str | None]]] | None:
    """``func`` with its one ``await run_blocking(...)`` made ``await run_blocking_last(...)``
    (the thread freed as soon as the call returns), and ``imports`` (what it needed) with
    ``run_blocking_last`` for ``run_blocking``, when that is its only blocking call, it runs
    at most once (no loop around it) and nothing else ``func`` awaits can block (only
    ``send``, ``receive``, ``asyncio.sleep`` and the adapters' helpers); else None.
    Only for what nothing of the request runs after (an app nothing else calls, a Falcon
    responder with no middleware, hook or error handler): that could block again, and a
    thread-bound object the call made (a sqlite3 connection) would then be on another thread."""
    hops: list[cst.Call] = []
    for node in analysis.walk(func.body, into_scopes=False):
        if not isinstance(node, cst.Await):
            continue
        call = node.expression
        callee = analysis.dotted_name(call.func) if isinstance(call, cst.Call) else None
        if callee == RUN_BLOCKING:
            assert isinstance(call, cst.Call)
            hops.append(call)
        elif callee is None or not (
            callee in _NO_THREAD_AWAITS
            or callee.startswith("asgi_helpers.")
            or _sends_recorded(call)
        ):
            return None
    if len(hops) != 1:
        return None
    hop = hops[0]
    for node in analysis.walk(func.body, into_scopes=False):
        if isinstance(node, (cst.For, cst.While)) and any(n is hop for n in analysis.walk(node)):
            return None
    if any(
        isinstance(n, cst.Name) and n.value in ("RequestStream", RUN_BLOCKING_LAST)
        for n in analysis.walk(func)
    ):
        return None  # a stream read in the thread after the hop; a name already taken
    last = hop.with_changes(func=cst.Name(RUN_BLOCKING_LAST))
    new = func.visit(ReplaceNodes({id(hop): last}))
    assert isinstance(new, cst.FunctionDef)
    last_import = ("adapters.blocking", RUN_BLOCKING_LAST)
    return new, [last_import if i == RUN_BLOCKING_IMPORT else i for i in imports]


def _sends_recorded(call: cst.BaseExpression) -> bool:
    """``response.send(send, body)``: an ``asgi_helpers.StartResponse`` sending the response
    it recorded (a list the code made) through ``send``."""
    return (
        isinstance(call, cst.Call)
        and isinstance(call.func, cst.Attribute)
        and isinstance(call.func.value, cst.Name)
        and call.func.attr.value == "send"
        and len(call.args) == 2
        and analysis.is_plain_name(call.args[0].value, "send")
    )


@dataclass
class Coroutine:
    """A function a framework rule made a coroutine (:func:`as_coroutine`)."""

    node: cst.FunctionDef
    imports: list[tuple[str, str | None]]
    #: What moved off the loop, for the change's message ("" when nothing did).
    detail: str
    #: Why its blocking calls could not all leave the loop ("": they did).
    refused: str = ""

    def manual_message(self, name: str) -> str:
        return (
            f"`{name}` is a coroutine now, but {self.refused}: move that call off the event "
            "loop by hand"
        )


def as_coroutine(
    func: cst.FunctionDef,
    awaiting: cst.CSTTransformer,
    module: ModuleFacts,
    *,
    cls: cst.ClassDef | None = None,
    data_params: Sequence[str] = (),
) -> Coroutine:
    """``func`` as a coroutine: its body through ``awaiting`` (which awaits what the framework
    made awaitable), ``async def``, its blocking calls moved off the loop
    (:func:`offload_blocking`; when that cannot be done, ``refused`` says why and the calls
    stay where they are)."""
    body = func.body.visit(awaiting)
    assert isinstance(body, cst.BaseSuite)
    made = func.with_changes(asynchronous=cst.Asynchronous(), body=body)
    try:
        offloaded = offload_blocking(made, module, cls=cls, data_params=data_params)
    except CannotOffload as why:
        return Coroutine(made, [], "", str(why))
    return Coroutine(offloaded.node, offloaded.imports, offloaded.detail())


class _FreshNames:
    """Names for generated helpers that nothing of the module or the function uses."""

    def __init__(self, module: cst.Module, func: cst.FunctionDef) -> None:
        self.module = module
        self.func = func
        self.taken: set[str] | None = None

    def __call__(self, base: str) -> str:
        if self.taken is None:  # walked only once a name is needed
            self.taken = analysis.names_in(self.module) | analysis.names_in(self.func)
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name


def _check_name_free(module: ModuleFacts, name: str, source: str | None) -> None:
    binding = module.imports.get(name)
    if binding is not None:
        if (binding.module, binding.name) == ((source, name) if source else (name, None)):
            return
        raise CannotOffload(f"the module binds `{name}` to something else")
    if name in module.functions or name in module.classes or name in module.global_values:
        raise CannotOffload(f"the module binds `{name}` to something else")


def _await(call: cst.BaseExpression) -> cst.Await:
    return cst.Await(expression=call)


def _run_blocking(args: Sequence[cst.Arg]) -> cst.Await:
    return _await(cst.Call(func=cst.Name(RUN_BLOCKING), args=list(args)))


def _in_thread(expr: cst.BaseExpression) -> cst.Await:
    """``await run_blocking(lambda: expr)``."""
    bare = expr.with_changes(lpar=(), rpar=()) if hasattr(expr, "lpar") else expr
    lam = cst.Lambda(params=cst.Parameters(), body=bare)
    return _run_blocking([cst.Arg(lam)])


class _Offload(cst.CSTTransformer):
    def __init__(self, facts: FunctionFacts, func: cst.FunctionDef, fresh: _FreshNames) -> None:
        self.facts = facts
        self.func = func
        self.fresh = fresh
        # what is awaited, and the async context managers an `async with` enters: async code
        self.awaited_calls: set[int] = {
            id(n.expression) for n in analysis.walk(func.body) if isinstance(n, cst.Await)
        } | {
            id(item.item)
            for n in analysis.walk(func.body)
            if isinstance(n, cst.With) and n.asynchronous is not None
            for item in n.items
        }
        #: calls, comprehensions and lambdas/generators visit_ found must move whole
        self.move_whole: set[int] = set()
        self.moved = 0
        self.awaited = 0

    # ------------------------------------------------------------ what to skip

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        # a nested async def (a rule's send wrapper) is async code too; a sync one is judged
        # as a whole where it is called
        return node.asynchronous is not None

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        if self._needs_thread(node):
            raise CannotOffload(
                "a lambda calls something that may block where no thread can run it "
                "(it is stored or returned, not handed to a call)"
            )
        return False

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        if self._needs_thread(node):
            raise CannotOffload(
                "a generator expression calls something that may block, or reads a blocking "
                "object, lazily (it is stored or returned, not handed to a call)"
            )
        return False

    # ------------------------------------------------------------ analysis

    def _needs_thread(self, node: cst.CSTNode) -> bool:
        """``node`` holds a call that blocks, or iterates over a resource."""
        facts = self.facts
        for sub in analysis.walk(node):
            if (
                isinstance(sub, cst.Call)
                and id(sub) not in self.awaited_calls
                and facts.blocks(sub)
            ):
                return True
            if isinstance(sub, cst.CompFor) and facts.kind(sub.iter) == RESOURCE:
                return True
        return False

    def _lazy_args(self, call: cst.Call) -> bool:
        return any(
            isinstance(arg.value, (cst.Lambda, cst.GeneratorExp)) and self._needs_thread(arg.value)
            for arg in call.args
        )

    # ------------------------------------------------------------ calls

    def visit_Call(self, node: cst.Call) -> bool:
        if id(node) not in self.awaited_calls and self._lazy_args(node):
            if any(isinstance(n, cst.Await) for n in analysis.walk(node)):
                raise CannotOffload("a call handed a lazy blocking argument also awaits")
            self.move_whole.add(id(node))
            return False  # the whole call moves; see leave_Call
        return True

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if id(original_node) in self.awaited_calls:
            return updated_node
        if id(original_node) in self.move_whole:
            self.moved += 1
            return _in_thread(original_node)
        if not self.facts.blocks(original_node):
            return updated_node
        qualified = self.facts.module.qualified(original_node.func)
        if qualified in ASYNC_EQUIVALENTS:
            self.awaited += 1
            return _await(
                updated_node.with_changes(func=cst.parse_expression(ASYNC_EQUIVALENTS[qualified]))
            )
        self.moved += 1
        func = updated_node.func
        return _run_blocking([cst.Arg(func), *_last_without_comma(updated_node.args)])

    # comprehensions: evaluated at once, so the whole of one moves in one hop
    def visit_ListComp(self, node: cst.ListComp) -> bool:
        return self._visit_comp(node)

    def visit_SetComp(self, node: cst.SetComp) -> bool:
        return self._visit_comp(node)

    def visit_DictComp(self, node: cst.DictComp) -> bool:
        return self._visit_comp(node)

    def _visit_comp(self, node: cst.BaseExpression) -> bool:
        if not self._needs_thread(node):
            return True
        if any(isinstance(n, cst.Await) for n in analysis.walk(node)):
            raise CannotOffload("a comprehension both awaits and calls something that may block")
        self.move_whole.add(id(node))
        return False

    def leave_ListComp(
        self, original_node: cst.ListComp, updated_node: cst.ListComp
    ) -> cst.BaseExpression:
        return self._leave_comp(original_node, updated_node)

    def leave_SetComp(
        self, original_node: cst.SetComp, updated_node: cst.SetComp
    ) -> cst.BaseExpression:
        return self._leave_comp(original_node, updated_node)

    def leave_DictComp(
        self, original_node: cst.DictComp, updated_node: cst.DictComp
    ) -> cst.BaseExpression:
        return self._leave_comp(original_node, updated_node)

    def _leave_comp(
        self, original_node: cst.BaseExpression, updated_node: cst.BaseExpression
    ) -> cst.BaseExpression:
        if id(original_node) in self.move_whole:
            self.moved += 1
            return _in_thread(original_node)
        return updated_node

    # an awaited call used as a value: ``(await f(x)).y``
    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.Attribute:
        return updated_node.with_changes(value=paren_await(updated_node.value))

    def leave_Subscript(
        self, original_node: cst.Subscript, updated_node: cst.Subscript
    ) -> cst.Subscript:
        return updated_node.with_changes(value=paren_await(updated_node.value))

    # ------------------------------------------------------------ statements

    def visit_For(self, node: cst.For) -> None:
        if node.asynchronous is None and self.facts.kind(node.iter) == RESOURCE:
            raise CannotOffload(
                "it loops over what a blocking call returned (a cursor, a file, rows): each "
                "item would be read on the event loop"
            )

    def visit_With(self, node: cst.With) -> bool:
        if node.asynchronous is not None or all(
            self.facts.kind(item.item) == DATA for item in node.items
        ):
            return True
        self.move_whole.add(id(node))
        return False  # over a blocking object the whole statement moves: see leave_With

    def leave_With(
        self, original_node: cst.With, updated_node: cst.With
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        if id(original_node) in self.move_whole:
            return self._with_in_thread(original_node)
        return updated_node

    def _with_in_thread(self, node: cst.With) -> cst.FlattenSentinel[cst.BaseStatement]:
        for sub in analysis.walk(node, into_scopes=False):
            if isinstance(sub, (cst.Await, cst.Yield, cst.Return, cst.Break, cst.Continue)):
                raise CannotOffload(
                    "a `with` over a blocking object (a file, a connection) also holds "
                    "response code or leaves the function early; it cannot run in a thread as a "
                    "whole"
                )
            if isinstance(sub, (cst.Global, cst.Nonlocal)):
                raise CannotOffload("a `with` over a blocking object declares global names")
        assigned = {name for name, _ in _bindings(node)} | {
            name
            for sub in analysis.walk(node, into_scopes=False)
            if isinstance(sub, (cst.For, cst.CompFor))
            for name in _names_of(sub.target)
        }
        outside = _names_outside(self.func, node)
        read_inside = analysis.names_in(node)
        for name in assigned:
            if name in outside.bound and name in read_inside and not _only_stored(node, name):
                raise CannotOffload(
                    f"a `with` over a blocking object reads and rebinds `{name}`; it cannot run "
                    "in a thread as a whole"
                )
        handed_back = sorted(name for name in assigned if name in outside.read)
        helper = self.fresh("_blocking_block")
        statements = in_thread(
            helper, [node.with_changes(leading_lines=())], handed_back, node.leading_lines
        )
        self.moved += 1
        return cst.FlattenSentinel(statements)


def _last_without_comma(args: Sequence[cst.Arg]) -> list[cst.Arg]:
    args = list(args)
    if args and args[-1].comma is not cst.MaybeSentinel.DEFAULT:
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return args


def _names_of(target: cst.BaseExpression) -> list[str]:
    return [n.value for n in analysis.walk(target) if isinstance(n, cst.Name)]


@dataclass
class _Outside:
    bound: set[str]
    read: set[str]


def _names_outside(func: cst.FunctionDef, node: cst.CSTNode) -> _Outside:
    """The names ``func`` binds (parameters, assignments) and mentions, outside ``node``."""
    bound = {p.name.value for p in analysis.walk(func.params) if isinstance(p, cst.Param)}
    read: set[str] = set()
    stack: list[cst.CSTNode] = [func.body]
    while stack:
        current = stack.pop()
        if current is node:
            continue
        if isinstance(current, cst.Name):
            read.add(current.value)
        stack.extend(analysis.children_of(current))
    for name, _ in _bindings(_Without(node).strip(func.body)):
        bound.add(name)
    return _Outside(bound, read)


class _Without(cst.CSTTransformer):
    """``func.body`` with one statement taken out (to find what the rest binds)."""

    def __init__(self, node: cst.CSTNode) -> None:
        self.node = node

    def strip(self, body: cst.BaseSuite) -> cst.CSTNode:
        stripped = body.visit(self)
        assert isinstance(stripped, cst.CSTNode)
        return stripped

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> cst.CSTNode:  # type: ignore[override]
        if original_node is self.node:
            return cst.RemovalSentinel.REMOVE  # type: ignore[return-value]
        return updated_node


def _only_stored(node: cst.CSTNode, name: str) -> bool:
    """Every mention of ``name`` under ``node`` is the target of a plain assignment or a
    ``with ... as`` / ``for`` target, and the first mention is one (so the block does not read
    the value it had before)."""
    first_store: int | None = None
    first_load: int | None = None
    stores: set[int] = set()
    for sub in analysis.walk(node):
        if isinstance(sub, cst.Assign):
            if analysis.mentions(sub.value, name) and any(
                analysis.mentions(target.target, name) for target in sub.targets
            ):
                return False  # x = f(x): the value is read first
            for target in sub.targets:
                stores.update(
                    id(n) for n in analysis.walk(target.target) if isinstance(n, cst.Name)
                )
        elif isinstance(sub, cst.AsName):
            stores.update(id(n) for n in analysis.walk(sub.name) if isinstance(n, cst.Name))
    for position, sub in enumerate(analysis.walk(node)):
        if isinstance(sub, cst.Name) and sub.value == name:
            if id(sub) in stores:
                first_store = position if first_store is None else first_store
            else:
                first_load = position if first_load is None else first_load
    return first_load is None or (first_store is not None and first_store < first_load)
