"""The children of a libcst node, in source order, for a fraction of what libcst charges; and
:class:`TreeIndex`, the parents and the source order of a tree's nodes, built on them.

``CSTNode.children`` runs a visitor over the node and builds a copy of it (a dataclass
construction and validation) on every call; the analyses ask for children millions of times
on a big module, and that was a sixth of the time the rules take. The children are the
values of the fields that libcst's ``_visit_and_replace_children`` visits, in the order it
visits them: that order is fixed per node class, so it is learned from libcst once per class
(on the first node of it) and then read straight from the fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import libcst as cst

#: Field values that are never a node (what a field libcst does not visit may hold).
_PLAIN = frozenset({str, bool, int, float, type(None), cst.MaybeSentinel})


class _FieldRecorder(cst.CSTVisitor):
    """What visiting one node's children does: which of its fields, in which order, and
    the children met there (without going deeper)."""

    def __init__(self, node: cst.CSTNode) -> None:
        self.node = node
        self.fields: list[str] = []
        self.children: list[cst.CSTNode] = []

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        if node is self.node:
            self.fields.append(attribute)

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.children.append(node)
        return False


#: Per node class: the fields libcst visits, in order, and its other fields.
_FIELDS: dict[type[cst.CSTNode], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def children(node: cst.CSTNode) -> Sequence[cst.CSTNode]:
    """What ``node.children`` gives: its direct children, in source order."""
    fields = _FIELDS.get(type(node))
    if fields is None:
        return _learn(node)
    visited, others = fields
    for name in others:
        # a field libcst skipped on the node it learned from (``format_spec=None``) may
        # hold nodes on this one: learn again, from this one
        value = getattr(node, name)
        if type(value) not in _PLAIN and not (type(value) in (tuple, list) and not value):
            return _learn(node)
    found: list[cst.CSTNode] = []
    for name in visited:
        value = getattr(node, name)
        if type(value) is tuple or type(value) is list:
            found.extend(value)
        elif value is not None and type(value) is not cst.MaybeSentinel:
            found.append(value)
    return found


def _learn(node: cst.CSTNode) -> Sequence[cst.CSTNode]:
    recorder = _FieldRecorder(node)
    node._visit_and_replace_children(recorder)
    kind = type(node)
    known = _FIELDS.get(kind)
    # a node that visits more fields than the one learned from before replaces it (the
    # order of the fields both visit is the same: it is written in libcst's code)
    if known is None or len(recorder.fields) > len(known[0]):
        visited = tuple(dict.fromkeys(recorder.fields))
        others = tuple(name for name in _field_names(kind) if name not in visited)
        _FIELDS[kind] = (visited, others)
    return recorder.children


def _field_names(kind: type[cst.CSTNode]) -> list[str]:
    return (
        [field.name for field in dataclasses.fields(kind)] if dataclasses.is_dataclass(kind) else []
    )


class TreeIndex:
    """The parent and the place in source order of every node of a tree, from one walk.

    What the rules need of libcst's ParentNodeProvider and PositionProvider when they only
    ask which node holds which and which comes first: those providers visit the whole tree
    with libcst's visitor (a third of a second on a module of 800 lines, most of what the
    ``server`` rule took on it), this walk a tenth of that.
    """

    def __init__(self, root: cst.CSTNode) -> None:
        self.root = root
        self._parents: dict[int, cst.CSTNode] = {}
        #: id -> (number in pre-order, number of its last descendant)
        self._spans: dict[int, tuple[int, int]] = {}
        starts: dict[int, int] = {}
        number = 0
        stack: list[tuple[cst.CSTNode, bool]] = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                self._spans[id(node)] = (starts[id(node)], number - 1)
                continue
            starts[id(node)] = number
            number += 1
            stack.append((node, True))
            for child in reversed(children(node)):
                self._parents[id(child)] = node
                stack.append((child, False))

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The node holding ``node`` (None for the root, or a node not in the tree)."""
        return self._parents.get(id(node))

    def order(self, node: cst.CSTNode) -> int:
        """A number growing in source order (an ancestor's is below its descendants'); -1
        for a node not in the tree."""
        return self._spans.get(id(node), (-1, -1))[0]

    def contains(self, outer: cst.CSTNode, inner: cst.CSTNode) -> bool:
        """``inner`` is ``outer`` or under it."""
        span, within = self._spans.get(id(outer)), self._spans.get(id(inner))
        return span is not None and within is not None and span[0] <= within[0] <= span[1]

    def after(self, node: cst.CSTNode, other: cst.CSTNode) -> bool:
        """``node`` starts after the end of ``other``."""
        span, before = self._spans.get(id(node)), self._spans.get(id(other))
        return span is not None and before is not None and span[0] > before[1]
