"""Runs of synchronous statements that block go to the request's thread in one hop.

A WSGI handler runs wholly in a thread; its async version runs on the loop, and each call that
may block goes back to a thread. Between two awaits (``send``, ``receive``), the statements of
a block that hold a blocking call, together with the plain statements around them, can run in
the thread as one piece, as they did under the WSGI server::

    rows = query(sql, (sku,))                       def _blocking_block():
    items = [dict(r) for r in rows]                     rows = query(sql, (sku,))
    body = json.dumps(items).encode()       ->          items = [dict(r) for r in rows]
    await send({... "body": body})                      body = json.dumps(items).encode()
                                                        return body
                                                    body = await run_blocking(_blocking_block)
                                                    await send({... "body": body})

One hop instead of one per call, the work between the calls off the loop too (it is what made
the WSGI original fast: a loop busy hashing or encoding answers nobody), and loops over cursors
and files, which cannot run on the loop, run where they ran before.

A run starts at a statement that blocks and takes the statements after it (work on the results:
decoding, encoding, hashing) up to the next await. A statement joins a run when it cannot tell
the difference: no ``await``, ``yield``, ``return``,
no ``break``/``continue`` out of it, no ``global``/``nonlocal``, no ``def``/``class``, nothing
of the ASGI channel (``receive``, ``send`` and what is made from them, which belong to the
loop), and no call with an async equivalent (``time.sleep`` is awaited as ``asyncio.sleep``,
which holds no thread). Names a run assigns are
declared ``nonlocal`` when the function binds them elsewhere, else handed back when used after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import libcst as cst

from migrate import analysis
from migrate.blocking.kinds import DATA, RESOURCE, FunctionFacts
from migrate.blocking.table import ASYNC_EQUIVALENTS, STREAM_MAKERS

#: Names of the ASGI channel: what touches them stays on the loop.
CHANNEL = frozenset({"receive", "send"})
RUN_BLOCKING = "run_blocking"


def _leaves(stmt: cst.CSTNode) -> bool:
    """``stmt`` holds a ``break``/``continue`` of a loop around it."""

    def leaves(node: cst.CSTNode, in_loop: bool) -> bool:
        if isinstance(node, (cst.Break, cst.Continue)):
            return not in_loop
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            return False
        if isinstance(node, (cst.For, cst.While)):
            # the loop's own body may break; its else clause belongs to the outside
            return leaves(node.body, True) or (
                node.orelse is not None and leaves(node.orelse, in_loop)
            )
        return any(leaves(child, in_loop) for child in analysis.children_of(node))

    return leaves(stmt, False)


class Segments:
    """Finds and rewrites the runs of one function (see the module docstring)."""

    def __init__(
        self, func: cst.FunctionDef, facts: FunctionFacts, fresh: Callable[[str], str]
    ) -> None:
        self.func = func
        self.facts = facts
        self.fresh = fresh
        self.moved = 0
        self.channel = self._channel_names()
        self.globals = analysis.declared_names(func.body)
        self.runs: list[list[cst.BaseStatement]] = []
        self._find(func.body)
        in_runs = {id(stmt) for run in self.runs for stmt in run}
        params = {p.name.value for p in analysis.walk(func.params) if isinstance(p, cst.Param)}
        outside = params | self._bound_outside(func.body, in_runs)
        # A name a run binds that the code outside uses: declared nonlocal when the function
        # binds it too (or an earlier run hands it back), else handed back (the first run
        # binding it does: then the function binds it)
        self.handed_back: list[list[str]] = []
        self.shared: list[list[str]] = []
        bound = outside | self.globals
        for run in self.runs:
            assigned = set().union(*(analysis.bound_names(s) for s in run))
            used_after = self._used_after(run)
            self.shared.append(sorted((assigned & bound) - self.globals))
            # ``except ... as e``: unbound again when its handler ends, never handed back
            caught = _caught_names(run)
            first_bound = sorted(n for n in assigned - bound - caught if n in used_after)
            self.handed_back.append(first_bound)
            bound |= set(first_bound)

    # -- finding -----------------------------------------------------------------------

    def _channel_names(self) -> set[str]:
        """``receive``, ``send`` and the names bound to what is made from them (a
        ``StartResponse(send)``, a wrapper; not what awaiting them gives), to a fixed point."""
        channel = set(CHANNEL)
        bindings = [
            (name, sub.value)
            for sub in analysis.walk(self.func.body)
            # what an await hands back is data (the body read from ``receive``)
            if isinstance(sub, cst.Assign) and not isinstance(sub.value, cst.Await)
            for target in sub.targets
            for name in analysis.bound_names(target)
        ]
        # the arguments of a request stream (``asgi_helpers.RequestStream(receive)``) do not
        # count: it is made to be read in a thread
        streams = {
            id(sub)
            for sub in analysis.walk(self.func.body)
            if isinstance(sub, cst.Call) and analysis.dotted_name(sub.func) in STREAM_MAKERS
        }
        changed = True
        while changed:
            changed = False
            for name, value in bindings:
                if name not in channel and self._mentioned_outside(value, streams) & channel:
                    channel.add(name)
                    changed = True
        return channel

    def _movable(self, stmt: cst.BaseStatement) -> bool:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            return False
        for sub in analysis.walk(stmt, into_scopes=False):
            if isinstance(
                sub, (cst.Await, cst.Yield, cst.Return, cst.Global, cst.Nonlocal, cst.ClassDef)
            ):
                return False
            if isinstance(sub, cst.FunctionDef):
                return False
            if isinstance(sub, (cst.For, cst.With)) and sub.asynchronous is not None:
                return False
            if (
                isinstance(sub, cst.Call)
                and self.facts.module.qualified(sub.func) in ASYNC_EQUIVALENTS
            ):
                return False
        return not (analysis.names_in(stmt) & self.channel) and not _leaves(stmt)

    def _blocks(self, stmt: cst.BaseStatement) -> int:
        """How many calls of ``stmt`` may block (a loop over a cursor, a ``with`` over a
        file count as one)."""
        facts = self.facts
        count = 0
        for sub in analysis.walk(stmt):
            if (isinstance(sub, cst.Call) and facts.blocks(sub)) or (
                isinstance(sub, (cst.For, cst.CompFor)) and facts.kind(sub.iter) == RESOURCE
            ):
                count += 1
        return count

    def _moves_whole(self, stmt: cst.BaseStatement) -> bool:
        """``stmt`` loops over a cursor or a file (only a thread can read it item by item), or
        is a ``with`` over a blocking object (a file, a transaction): it moves as a whole."""
        facts = self.facts
        return any(
            (isinstance(sub, cst.For) and facts.kind(sub.iter) == RESOURCE)
            or (
                isinstance(sub, cst.With)
                and sub is stmt
                and any(facts.kind(item.item) != DATA for item in sub.items)
            )
            for sub in analysis.walk(stmt, into_scopes=False)
        )

    def _find(self, node: cst.CSTNode) -> None:
        """Collect the runs of every block under ``node`` (outer blocks first: a statement
        that moves whole takes its inner blocks with it)."""
        blocks = [node] if isinstance(node, cst.IndentedBlock) else _blocks_of(node)
        for block in blocks:
            assert isinstance(block, cst.IndentedBlock)
            run: list[cst.BaseStatement] = []
            for stmt in [*block.body, None]:
                if stmt is not None and self._movable(stmt):
                    run.append(stmt)
                    continue
                # from its first blocking statement on: what comes before stays on the loop
                # as it was (a smaller diff), what follows comes along (work on the results)
                first = next((i for i, s in enumerate(run) if self._blocks(s)), len(run))
                for s in run[:first]:
                    self._find(s)
                alone = run[first] if len(run) - first == 1 else None
                if len(run) - first > 1 or (
                    alone is not None and (self._moves_whole(alone) or self._blocks(alone) > 1)
                ):  # several statements, or one with several blocking calls: one hop
                    self.runs.append(run[first:])
                elif run[first:]:  # one statement, one call: it moves as it reads
                    self._find(run[first])
                run = []
                if stmt is not None:
                    self._find(stmt)

    def _bound_outside(self, node: cst.CSTNode, skip: set[int]) -> set[str]:
        """What the statements under ``node`` bind, leaving out those in ``skip`` (and all
        they hold)."""
        found: set[str] = set()
        blocks = [node] if isinstance(node, cst.IndentedBlock) else _blocks_of(node)
        for block in blocks:
            assert isinstance(block, cst.IndentedBlock)
            for stmt in block.body:
                if id(stmt) not in skip:
                    found |= _own_bindings(stmt) | self._bound_outside(stmt, skip)
        return found

    def _used_after(self, run: list[cst.BaseStatement]) -> set[str]:
        """The names code that may run after ``run`` mentions: when its own block returns
        after it (``return await response.send(send, body)``), no ``try`` around it can run a
        handler or a ``finally`` after that and no loop around it can run it again, what the
        block says up to that return (what another branch binds and reads is not handed back
        then: the run may not have bound it); else anything of the function outside the run."""
        body = self.func.body
        found = _block_of(body, run[0], ()) if isinstance(body, cst.IndentedBlock) else None
        if found is not None:
            block, enclosing = found
            if not any(
                (isinstance(s, cst.Try) and (s.handlers or s.finalbody is not None))
                or isinstance(s, (cst.For, cst.While))  # a `continue` would run it again
                for s in enclosing
            ):
                after = list(block.body)[list(block.body).index(run[-1]) + 1 :]
                for at, stmt in enumerate(after):
                    if isinstance(stmt, cst.SimpleStatementLine) and any(
                        isinstance(small, cst.Return) for small in stmt.body
                    ):
                        return set().union(
                            *(self._mentioned_outside(s, set()) for s in after[: at + 1])
                        )
        return self._mentioned_outside(self.func.body, {id(s) for s in run})

    def _mentioned_outside(self, body: cst.CSTNode, skip: set[int]) -> set[str]:
        found: set[str] = set()
        stack: list[cst.CSTNode] = [body]
        while stack:
            node = stack.pop()
            if id(node) in skip:
                continue
            if isinstance(node, cst.Name):
                found.add(node.value)
            stack.extend(analysis.children_of(node))
        return found

    # -- rewriting ---------------------------------------------------------------------

    def rewrite(self) -> cst.FunctionDef:
        if not self.runs:
            return self.func
        replacements = {
            id(run[0]): self._in_thread(run, self.shared[index], self.handed_back[index])
            for index, run in enumerate(self.runs)
        }
        dropped = {id(stmt) for run in self.runs for stmt in run[1:]}
        return self.func.with_changes(body=self.func.body.visit(_Replace(replacements, dropped)))

    def _in_thread(
        self, run: Sequence[cst.BaseStatement], shared: list[str], handed_back: list[str]
    ) -> list[cst.BaseStatement]:
        self.moved += sum(self._blocks(s) for s in run)
        assigned = set().union(*(analysis.bound_names(s) for s in run))
        declared: list[cst.BaseStatement] = []
        if shared:
            declared.append(cst.parse_statement(f"nonlocal {', '.join(shared)}\n"))
        if assigned & self.globals:
            names = ", ".join(sorted(assigned & self.globals))
            declared.append(cst.parse_statement(f"global {names}\n"))
        helper = self.fresh("_blocking_block")
        first = run[0]
        leading = (
            first.leading_lines
            if isinstance(first, cst.SimpleStatementLine | cst.BaseCompoundStatement)
            else ()
        )
        body = [*declared, first.with_changes(leading_lines=()), *run[1:]]
        return in_thread(helper, body, handed_back, leading)


def in_thread(
    helper: str,
    body: Sequence[cst.BaseStatement],
    handed_back: Sequence[str],
    leading: Sequence[cst.EmptyLine],
) -> list[cst.BaseStatement]:
    """``def helper(): body; return handed_back`` and ``handed_back = await
    run_blocking(helper)``: statements run in the request's thread in one hop."""
    statements = list(body)
    if handed_back:
        statements.append(cst.parse_statement(f"return {', '.join(handed_back)}\n"))
    nested = cst.FunctionDef(
        name=cst.Name(helper),
        params=cst.Parameters(),
        body=cst.IndentedBlock(body=statements),
        leading_lines=leading,
    )
    call = f"await {RUN_BLOCKING}({helper})"
    line = f"{', '.join(handed_back)} = {call}\n" if handed_back else f"{call}\n"
    return [nested, cst.parse_statement(line)]


def _blocks_of(node: cst.CSTNode) -> Iterator[cst.IndentedBlock]:
    """The indented blocks right under ``node`` (a compound statement's body, its ``else``,
    its handlers), not entering nested functions and classes."""
    for child in analysis.children_of(node):
        if isinstance(child, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(child, cst.IndentedBlock):
            yield child
        else:
            yield from _blocks_of(child)


def _block_of(
    block: cst.IndentedBlock, stmt: cst.BaseStatement, enclosing: tuple[cst.CSTNode, ...]
) -> tuple[cst.IndentedBlock, tuple[cst.CSTNode, ...]] | None:
    """The block holding ``stmt`` under ``block`` (not in nested functions), with the
    compound statements around it."""
    for child in block.body:
        if child is stmt:
            return block, enclosing
        for inner in _blocks_of(child):
            found = _block_of(inner, stmt, (*enclosing, child))
            if found is not None:
                return found
    return None


def _caught_names(run: Sequence[cst.BaseStatement]) -> set[str]:
    """The names ``except ... as name`` clauses of ``run`` bind (Python unbinds them as the
    clause ends)."""
    return {
        n.value
        for stmt in run
        for sub in analysis.walk(stmt, into_scopes=False)
        if isinstance(sub, cst.ExceptHandler) and sub.name is not None
        for n in analysis.walk(sub.name.name)
        if isinstance(n, cst.Name)
    }


def _own_bindings(stmt: cst.BaseStatement) -> set[str]:
    """What a statement binds itself, its inner blocks left to their own statements."""
    if isinstance(stmt, (cst.SimpleStatementLine, cst.FunctionDef, cst.ClassDef)):
        return analysis.bound_names(stmt)
    found: set[str] = set()
    if isinstance(stmt, cst.For):
        found |= {n.value for n in analysis.walk(stmt.target) if isinstance(n, cst.Name)}
    inner = {id(n) for b in _blocks_of(stmt) for n in analysis.walk(b)}
    for sub in analysis.walk(stmt, into_scopes=False):
        if id(sub) in inner:
            continue  # the statements of its blocks bind what they bind themselves
        if isinstance(sub, cst.AsName):  # with ... as x, except ... as x
            found |= {n.value for n in analysis.walk(sub.name) if isinstance(n, cst.Name)}
        elif isinstance(sub, cst.NamedExpr):
            found |= {n.value for n in analysis.walk(sub.target) if isinstance(n, cst.Name)}
    return found


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: dict[int, list[cst.BaseStatement]], dropped: set[int]) -> None:
        self.replacements = replacements
        self.dropped = dropped

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> cst.CSTNode:  # type: ignore[override]
        if id(original_node) in self.dropped:
            return cst.RemovalSentinel.REMOVE  # type: ignore[return-value]
        if id(original_node) in self.replacements:
            return cst.FlattenSentinel(self.replacements[id(original_node)])  # type: ignore[return-value]
        return updated_node
