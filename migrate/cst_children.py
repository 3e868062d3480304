"""The children of a libcst node, in source order, for a fraction of what libcst charges.

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
