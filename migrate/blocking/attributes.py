"""What a class keeps on ``self``: the values its methods assign to an attribute, when they
are all it can hold.

A dispatcher compiles its routes once (``self.routes = [(re.compile(p), view) for p, view in
routes]``) and matches them on every request (``for regex, view in self.routes: m =
regex.match(path)``). Without knowing what ``self.routes`` holds, the blocking analysis would
take ``regex.match`` for a method of something it cannot see, and move it to a thread.

An attribute's values are known when the class's own methods are the only code that sets it
(its base classes, if any, are classes of the module, whose code the module's walk sees),
each by a plain ``self.attr = value`` or adds to it by ``self.attr.append(value)`` (routes
registered by a method: ``self.routes.append((re.compile(pattern), view))``), and everything
else only reads it in ways that cannot change it or hand it on: iterated (``for x in
self.attr``), indexed (``self.attr[k]``), compared (``k in self.attr``), measured
(``len(self.attr)``), or asked a method that changes nothing (``self.attr.get(k)``). Any
other use anywhere in the module (an item set, ``x = self.attr`` handing it to code that may
change it, an append outside the class's methods, the name set on another object) and the
attribute's values are not known.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from migrate import analysis

#: Methods of the builtin containers that change nothing and hand nothing on to be changed.
_READING_METHODS = frozenset(["get", "keys", "values", "items", "count", "index", "copy"])


@dataclass(frozen=True)
class KeptValue:
    """What a method of the class puts in the attribute: the container itself
    (``self.attr = value``), or one item of it (``self.attr.append(value)``)."""

    method: cst.FunctionDef
    value: cst.BaseExpression
    item: bool


class KeptAttributes:
    """The attributes the classes of one module keep, found on demand (one walk of the
    module for its reads, shared by every question)."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self._reads: set[int] | None = None
        self._class_names: set[str] | None = None
        self._classes: set[str] | None = None

    def values(self, cls: cst.ClassDef, attr: str) -> list[KeptValue] | None:
        """What the methods of ``cls`` put in ``self.attr``: each ``self.attr = value`` (the
        container) and each ``self.attr.append(value)`` (one item of it), when those are all
        ``attr`` can hold (see the module's docstring); None otherwise."""
        if not self._bases_in_sight(cls):
            return None  # a base class of elsewhere may set it too
        kept: list[KeptValue] = []
        accepted: set[int] = set()  # the Attribute nodes of those assignments and appends
        inside: set[int] = set()
        for method in _methods(cls):
            inside.update(id(n) for n in analysis.walk(method.body))
            params = analysis.leading_params(method)
            if not params or method.decorators:
                continue  # no self (a static or class method, a decorated one: not followed)
            is_own = analysis.attribute_of(params[0].name.value, attr)
            for node in analysis.walk(method.body):
                if isinstance(node, cst.Assign) and len(node.targets) == 1:
                    if is_own(target := node.targets[0].target):
                        kept.append(KeptValue(method, node.value, item=False))
                        accepted.add(id(target))
                elif (item := analysis.appended_item(node, is_own)) is not None:
                    assert isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
                    kept.append(KeptValue(method, item, item=True))
                    accepted.add(id(node.func.value))
        if not any(not k.item for k in kept) or attr in self._class_level_names():
            return None  # never set (appended to what?), or a class attribute first
        if self._reads is None:
            self._reads = _harmless_reads(self.module)
        for node in analysis.walk(self.module):
            if (
                isinstance(node, cst.Attribute)
                and node.attr.value == attr
                and id(node) not in accepted
                and (id(node) not in inside or id(node) not in self._reads)
            ):
                return None
        return kept

    def _bases_in_sight(self, cls: cst.ClassDef) -> bool:
        """Every base class of ``cls`` is ``object`` or a class of the module (whose methods
        the walk for other writes sees)."""
        if self._classes is None:  # one walk of the module, shared by every question
            self._classes = {
                n.name.value for n in analysis.walk(self.module) if isinstance(n, cst.ClassDef)
            }
        names = self._classes
        return (
            all(
                isinstance(base.value, cst.Name)
                and (base.value.value in names or base.value.value == "object")
                for base in cls.bases
            )
            and not cls.keywords
        )

    def _class_level_names(self) -> set[str]:
        """Names some class of the module binds in its body (a class attribute, a method, a
        property): what ``self.name`` reads before, or instead of, an instance's value."""
        if self._class_names is None:
            self._class_names = set()
            for node in analysis.walk(self.module):
                if isinstance(node, cst.ClassDef) and isinstance(node.body, cst.IndentedBlock):
                    for stmt in node.body.body:
                        self._class_names |= analysis.bound_names(stmt)
        return self._class_names


def _methods(cls: cst.ClassDef) -> list[cst.FunctionDef]:
    if not isinstance(cls.body, cst.IndentedBlock):
        return []
    return [s for s in cls.body.body if isinstance(s, cst.FunctionDef)]


def _harmless_reads(module: cst.Module) -> set[int]:
    """Ids of the expressions of ``module`` read in a way that neither changes them nor hands
    them on: a loop's iterable, an indexed value read (not set), a comparison's operand, the
    argument of ``len()``, the owner of a reading method's call."""
    found: set[int] = set()
    written: set[int] = set()
    for node in analysis.walk(module):
        if isinstance(node, (cst.For, cst.CompFor)):
            found.add(id(node.iter))
        elif isinstance(node, cst.Subscript):
            found.add(id(node.value))
        elif isinstance(node, cst.Comparison):
            found.add(id(node.left))
            found.update(id(c.comparator) for c in node.comparisons)
        elif isinstance(node, cst.Call):
            func = node.func
            if analysis.is_plain_name(func, "len") and len(node.args) == 1:
                found.add(id(node.args[0].value))
            elif isinstance(func, cst.Attribute) and func.attr.value in _READING_METHODS:
                found.add(id(func.value))
        elif isinstance(node, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.Del)):
            # ``self.attr[k] = v``, ``self.attr[k] += 1``, ``del self.attr[k]``: changed
            target = node.target
            for part in analysis.walk(target):
                if isinstance(part, cst.Subscript):
                    written.add(id(part.value))
    return found - written
