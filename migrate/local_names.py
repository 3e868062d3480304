"""Freeing the names the ASGI code needs in a function it converts.

A converted app takes ``scope``, ``receive`` and ``send`` and calls ``asgi_helpers``. A WSGI
function may already use those names for its own variables (``scope = token["scope"]``,
``send = mailer.send``): such a local variable is renamed (``scope_``), every use of it in the
function with it, nested functions reading it included. Attribute names (``sock.send``) and
keyword names (``f(send=1)``) are not variables and need nothing. A name the function only
reads (a global, a builtin) or binds in a way a rename cannot follow (``global``/``nonlocal``,
a nested scope binding it too, an import of a dotted module) is :class:`NameTaken`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import libcst as cst

from migrate import analysis


class NameTaken(Exception):
    """The function uses the name in a way a rename cannot follow (the message is the name)."""


def variable_uses(node: cst.CSTNode) -> set[str]:
    """The names used as variables under ``node``: not attribute names (``x.send``), keyword
    argument names (``f(send=1)``), nor the names of imported modules' members."""
    skip: set[int] = set()
    found: set[str] = set()
    for sub in analysis.walk(node):
        if isinstance(sub, cst.Attribute):
            skip.add(id(sub.attr))
        elif isinstance(sub, cst.Arg) and sub.keyword is not None:
            skip.add(id(sub.keyword))
        elif isinstance(sub, (cst.Import, cst.ImportFrom)):
            skip |= {id(n) for n in analysis.walk(sub)}  # module paths: bindings are refused
        elif type(sub) is cst.Name and id(sub) not in skip:
            found.add(sub.value)
    return found


def free_names(func: cst.FunctionDef, wanted: Iterable[str]) -> cst.FunctionDef:
    """``func`` with its local variables named one of ``wanted`` renamed to a name it does not
    use (``scope`` -> ``scope_``); :class:`NameTaken` when one cannot be."""
    used = variable_uses(func.body)
    clashes = sorted(set(wanted) & used)
    if not clashes:
        return func
    own = analysis.bound_names(func.body)
    params = {p.name.value for p in analysis.leading_params(func)}
    declared = {
        name.name.value
        for node in analysis.walk(func.body)
        if isinstance(node, (cst.Global, cst.Nonlocal))
        for name in node.names
    }
    taken = used | analysis.names_in(func) | params
    renames: dict[str, str] = {}
    for name in clashes:
        if name not in own or name in params or name in declared:
            raise NameTaken(name)
        if any(
            isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef))
            and name in _bound_inside(node)
            for node in analysis.walk(func.body)
        ):
            raise NameTaken(name)
        if any(
            isinstance(node, (cst.Import, cst.ImportFrom)) and name in analysis.bound_names(node)
            for node in analysis.walk(func.body)
        ):
            raise NameTaken(name)  # imported under that name: the import would change
        new = name + "_"
        while new in taken:
            new += "_"
        taken.add(new)
        renames[name] = new
    return func.with_changes(body=renamed(func.body, renames))


def _bound_inside(scope: cst.FunctionDef | cst.Lambda | cst.ClassDef) -> set[str]:
    """What a nested scope binds for itself (its parameters, its own assignments)."""
    found: set[str] = set()
    if isinstance(scope, (cst.FunctionDef, cst.Lambda)):
        params = scope.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            found.add(param.name.value)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                found.add(star.name.value)
    if isinstance(scope, (cst.FunctionDef, cst.ClassDef)):
        found |= analysis.bound_names(scope.body)
    return found


_Node = TypeVar("_Node", bound=cst.CSTNode)


def renamed(node: _Node, renames: dict[str, str]) -> _Node:
    """``node`` with the variables ``renames`` names renamed (not attribute or keyword names)."""
    new = node.visit(_Rename(renames))
    assert isinstance(new, type(node))
    return new


class _Rename(cst.CSTTransformer):
    """Renames the variables ``renames`` names: every Name that is not an attribute's or a
    keyword argument's name."""

    def __init__(self, renames: dict[str, str]) -> None:
        super().__init__()
        self.renames = renames
        self.skip: set[int] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.skip.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.skip.add(id(node.keyword))

    def visit_Import(self, node: cst.Import) -> bool:
        return False  # module paths only (names bound by imports are not renamed)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        new = self.renames.get(original_node.value)
        if new is None or id(original_node) in self.skip:
            return updated_node
        return updated_node.with_changes(value=new)
