"""``cst_children.children`` gives what libcst's ``node.children`` gives, node for node.

It reads the fields libcst visits instead of letting libcst rebuild the node, so every test
compares the two on every node of a tree: any syntax whose fields it gets wrong shows here.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from migrate import cst_children

EVERY_KIND_OF_SYNTAX = textwrap.dedent(
    '''\
    """Module docstring."""
    from __future__ import annotations
    import os.path as osp, sys
    from . import sibling
    from ..pkg import (a as b, c)
    from star import *

    x: int = 1
    y = z = (1, 2, *rest)
    a, *b = [1, 2, 3]
    x += 1; y -= 2  # two on a line
    del x
    global_name = {"k": [i for i in range(3) if i], **extra}
    s = {j async for j in aiter() if await j}
    g = (k for k in ())
    d = {k: v for k, v in pairs}
    f = lambda p, /, q=1, *args, r, s=2, **kw: p
    t = f"{value!r:>{width}.{precision}} and {other=} {nested:{inner}}"
    u = f"plain {x}" r"raw" "joined"
    v = x if y else z
    w = not a and b or c
    n = -x ** 2 @ m // 3 % 4 << 1 >> 2 & 3 | 4 ^ 5
    c = a < b <= c != d is not e not in f
    sl = seq[1:2, ::3, ...]
    walrus = (m := 10)
    ellipsis = ...


    @decorator
    @other.decorator(arg)
    class Thing(Base, metaclass=Meta):
        attr: ClassVar[int] = 0

        def method(self, a: int, b: str = "x") -> None:
            nonlocal_free = 1

            def inner():
                nonlocal nonlocal_free
                global global_name
                nonlocal_free += 1

            return inner

        async def coroutine(self):
            async with lock as held, other():
                async for item in stream:
                    await item
            yield from things
            x = yield


    def control(value):
        if value:
            pass
        elif not value:
            ...
        else:
            raise ValueError("no") from None
        for i in range(3):
            continue
        else:
            pass
        while True:
            break
        try:
            pass
        except (KeyError, ValueError) as exc:
            pass
        except Exception:
            raise
        else:
            pass
        finally:
            pass
        try:
            pass
        except* OSError as group:
            pass
        with open("f") as fh, open("g"):
            pass
        assert value, "message"
        match value:
            case {"k": 1, **others}:
                pass
            case [1, 2, *tail] if tail:
                pass
            case Point(x=0, y=yy) | None:
                pass
            case str() as text:
                pass
            case _:
                pass
        return value
    '''
)


def assert_same_children(tree: cst.CSTNode) -> int:
    """Compare the two on every node under ``tree``; the number of nodes compared."""
    compared = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        expected = list(node.children)
        got = list(cst_children.children(node))
        assert len(got) == len(expected), type(node).__name__
        assert all(a is b for a, b in zip(got, expected, strict=True)), type(node).__name__
        compared += 1
        stack.extend(reversed(expected))  # in source order
    return compared


def test_every_kind_of_syntax() -> None:
    assert assert_same_children(cst.parse_module(EVERY_KIND_OF_SYNTAX)) > 1000


def test_nodes_built_by_code_with_lists() -> None:
    # the rules build nodes with lists where the parser gives tuples
    call = cst.Call(
        func=cst.Name("f"), args=[cst.Arg(cst.Name("a")), cst.Arg(cst.Name("b"), star="*")]
    )
    module = cst.Module(body=[cst.SimpleStatementLine(body=[cst.Expr(call)])])
    assert assert_same_children(module) > 10


@pytest.mark.parametrize(
    "source",
    ['f"{a}"\nf"{b:>{width}}"\n', 'f"{b:>{width}}"\nf"{a}"\n'],
    ids=["spec on the second node", "spec on the first node"],
)
def test_a_field_libcst_visits_only_when_it_is_set(source: str) -> None:
    # FormattedStringExpression visits its format_spec only when it has one: learning the
    # fields from a node without one must not lose the spec of the next
    cst_children._FIELDS.pop(cst.FormattedStringExpression, None)
    assert assert_same_children(cst.parse_module(source)) > 10


def test_this_projects_own_code() -> None:
    root = Path(__file__).resolve().parents[2]
    for path in sorted((root / "migrate").rglob("*.py")):
        assert_same_children(cst.parse_module(path.read_bytes()))


def test_tree_index_agrees_with_libcsts_parents_and_positions() -> None:
    module = cst.parse_module(EVERY_KIND_OF_SYNTAX)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    parents = wrapper.resolve(ParentNodeProvider)
    positions = wrapper.resolve(PositionProvider)
    index = cst_children.TreeIndex(module)
    statements = [n for n in positions if isinstance(n, cst.BaseStatement)]
    assert len(statements) > 50
    for node, parent in parents.items():
        assert index.parent(node) is parent
    assert index.parent(module) is None
    for outer in statements:
        for inner in statements:
            start, end = positions[outer].start, positions[outer].end
            where = positions[inner].start
            # statements do not share a start: source order, containment and "after" by
            # position are what the index says
            assert (index.order(outer) < index.order(inner)) == (
                (start.line, start.column) < (where.line, where.column)
            )
            inside = (start.line, start.column) <= (where.line, where.column) and (
                positions[inner].end.line,
                positions[inner].end.column,
            ) <= (end.line, end.column)
            assert index.contains(outer, inner) == inside
            assert index.after(inner, outer) == (
                (where.line, where.column) > (end.line, end.column)
            )
    stranger = cst.Name("elsewhere")
    assert index.parent(stranger) is None and index.order(stranger) == -1
    assert not index.contains(module, stranger) and not index.after(stranger, module)
