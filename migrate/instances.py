"""Where the instances of a module's own classes go.

A WSGI app class whose instances are responses (``Response(body, status)`` with a WSGI
``__call__``) is served by the apps that call them: ``return Response(page)(environ,
start_response)``, or ``response = route(Request(environ)); return response(environ,
start_response)`` where ``route`` and the functions it calls return ``Response(...)``,
``Response.json(...)`` (a class method returning ``cls(...)``) or a local bound to one.
Such a class can become ASGI together with those apps, if every instance made anywhere in
the module ends up where the rule can follow it: called by an app with its environ and
start_response, returned by a function (whose own calls are then followed), held by a local
name, or used for its attributes (``response.set_cookie(...)``). :class:`InstanceFlow`
answers which expressions make instances (:meth:`InstanceFlow.made`) and where one goes
otherwise (:meth:`InstanceFlow.escapes`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import libcst as cst

from migrate.analysis import (
    dotted_name,
    leading_params,
    positional_params,
    walk,
    written_targets,
)

Classes = frozenset[str]
_NONE: Classes = frozenset()


def callee_key(func: cst.BaseExpression) -> str | None:
    """How a call group names what a call calls: ``index``, ``self.start``, and for a call
    of what another call returns, ``Response()`` (``Response(page)(environ,
    start_response)``) or ``route()``."""
    if isinstance(func, cst.Call):
        inner = dotted_name(func.func)
        return f"{inner}()" if inner else None
    return dotted_name(func)


def _always_returns(stmts: list[cst.BaseStatement] | tuple[cst.BaseStatement, ...]) -> bool:
    """The block cannot end without ``return`` or ``raise`` (its last statement, or an
    ``if``/``else`` chain all of whose branches cannot)."""
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, cst.SimpleStatementLine):
        return any(isinstance(s, (cst.Return, cst.Raise)) for s in last.body)
    if isinstance(last, cst.If):
        branches: list[cst.BaseSuite] = [last.body]
        orelse: cst.If | cst.Else | None = last.orelse
        while isinstance(orelse, cst.If):
            branches.append(orelse.body)
            orelse = orelse.orelse
        if orelse is None:
            return False
        branches.append(orelse.body)
        return all(
            isinstance(b, cst.IndentedBlock) and _always_returns(list(b.body)) for b in branches
        )
    return False


def _returns(func: cst.FunctionDef) -> list[cst.Return]:
    return [n for n in walk(func.body, into_scopes=False) if isinstance(n, cst.Return)]


@dataclass
class _Scope:
    """A function, or the module's own statements (``func`` None)."""

    func: cst.FunctionDef | None
    #: For a method: its class.
    cls: cst.ClassDef | None = None


class InstanceFlow:
    """The instances of ``classes`` (names of classes defined at module level) in ``module``."""

    def __init__(self, module: cst.Module, classes: set[str]) -> None:
        self.module = module
        self.class_defs = {
            s.name.value: s
            for s in module.body
            if isinstance(s, cst.ClassDef) and s.name.value in classes
        }
        self.classes = frozenset(self.class_defs)
        #: dotted callee -> what its calls return: the classes, their makers (class and
        #: static methods, ``Response.json``) and the module's functions that return only
        #: instances (``route``), grown to a fixed point.
        self.makers: dict[str, Classes] = {name: frozenset({name}) for name in self.classes}
        self._locals: dict[int, dict[str, Classes]] = {}
        functions = {
            s.name.value: s
            for s in module.body
            if isinstance(s, cst.FunctionDef) and s.asynchronous is None and not s.decorators
        }
        methods = {
            f"{name}.{m.name.value}": (m, cls)
            for name, cls in self.class_defs.items()
            if isinstance(cls.body, cst.IndentedBlock)
            for m in cls.body.body
            if isinstance(m, cst.FunctionDef) and _decorator(m) in ("classmethod", "staticmethod")
        }
        changed = True
        while changed:
            changed = False
            for name, func in functions.items():
                if name not in self.makers and (made := self._returned(func, None)):
                    self.makers[name] = made
                    changed = True
            for name, (method, cls) in methods.items():
                if name not in self.makers and (made := self._returned(method, cls)):
                    self.makers[name] = made
                    changed = True

    # -- what makes an instance -----------------------------------------------------------

    def _returned(self, func: cst.FunctionDef, cls: cst.ClassDef | None) -> Classes:
        """The classes ``func`` returns instances of, if it returns nothing else."""
        if not isinstance(func.body, cst.IndentedBlock) or not _always_returns(
            list(func.body.body)
        ):
            return _NONE
        if any(isinstance(n, cst.Yield) for n in walk(func.body, into_scopes=False)):
            return _NONE
        local = self.locals_of(func, fresh=True)
        made: set[str] = set()
        for node in _returns(func):
            classes = (
                self.made(node.value, local, self._cls_param(func, cls), cls)
                if node.value is not None
                else _NONE
            )
            if not classes:
                return _NONE
            made |= classes
        return frozenset(made)

    @staticmethod
    def _cls_param(func: cst.FunctionDef, cls: cst.ClassDef | None) -> str | None:
        if cls is None or _decorator(func) != "classmethod":
            return None
        params = leading_params(func)
        return params[0].name.value if params else None

    def made(
        self,
        expr: cst.BaseExpression | None,
        local: Mapping[str, Classes] | None = None,
        cls_param: str | None = None,
        cls: cst.ClassDef | None = None,
    ) -> Classes:
        """The classes an instance of which ``expr`` always is (empty: not known to be one)."""
        if isinstance(expr, cst.Call):
            if cls_param is not None and cls is not None and _is_name(expr.func, cls_param):
                return frozenset({cls.name.value})  # ``cls(...)`` in a class method
            callee = dotted_name(expr.func)
            return self.makers.get(callee, _NONE) if callee else _NONE
        if isinstance(expr, cst.Name) and local is not None:
            return local.get(expr.value, _NONE)
        if isinstance(expr, cst.IfExp):
            body, orelse = self.made(expr.body, local), self.made(expr.orelse, local)
            return body | orelse if body and orelse else _NONE
        return _NONE

    def locals_of(self, func: cst.FunctionDef, *, fresh: bool = False) -> dict[str, Classes]:
        """The local names of ``func`` bound only to instances (``resp = Response(...)``,
        ``response = route(req)``), each with their classes."""
        cached = self._locals.get(id(func))
        if cached is not None and not fresh:
            return cached
        params = {p.name.value for p in positional_params(func) or []}
        plain: dict[str, list[cst.BaseExpression]] = {}
        other: set[str] = set(params)
        plain_targets: set[int] = set()
        for node in walk(func.body, into_scopes=False):
            if isinstance(node, cst.Assign) and len(node.targets) == 1:
                assigned = node.targets[0].target
                if isinstance(assigned, cst.Name):
                    plain.setdefault(assigned.value, []).append(node.value)
                    plain_targets.add(id(assigned))
            elif isinstance(node, (cst.Global, cst.Nonlocal)):
                other.update(n.name.value for n in node.names)
        for target in written_targets(func.body):
            if id(target) in plain_targets:
                continue
            other.update(n.value for n in walk(target) if isinstance(n, cst.Name))
        found: dict[str, Classes] = {}
        changed = True
        while changed:
            changed = False
            for name, values in plain.items():
                if name in other or name in found:
                    continue
                classes = [self.made(v, found) for v in values]
                if all(classes):
                    found[name] = frozenset().union(*classes)
                    changed = True
        self._locals[id(func)] = found
        return found

    # -- where instances go -----------------------------------------------------------------

    def escapes(self, calls: set[int]) -> Iterator[tuple[str, cst.CSTNode]]:
        """``(class, node)``: where an instance of one of the classes, the class itself or a
        function making instances is used in a way the rule cannot follow. ``calls``: ids
        of the calls that serve an instance (``response(environ, start_response)`` in an app
        converted with it)."""
        for scope in self._scopes():
            yield from self._escapes_in(scope, calls)

    def _scopes(self) -> Iterator[_Scope]:
        yield _Scope(None)
        for stmt in self.module.body:
            if isinstance(stmt, cst.FunctionDef):
                yield _Scope(stmt)
            elif isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock):
                for member in stmt.body.body:
                    if isinstance(member, cst.FunctionDef):
                        yield _Scope(member, stmt)

    def _followed(self, name: str) -> Classes:
        """What a mention of ``name`` refers to: a class, or a function making instances."""
        if name in self.classes:
            return frozenset({name})
        return self.makers.get(name, _NONE)

    def _escapes_in(self, scope: _Scope, calls: set[int]) -> Iterator[tuple[str, cst.CSTNode]]:
        func = scope.func
        if func is None:
            # the module's statements; of its definitions only what runs at import
            # (decorators, defaults, bases): their bodies are scopes of their own
            roots: list[cst.CSTNode] = []
            for stmt in self.module.body:
                if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                    roots.extend(
                        c for c in stmt.children if c is not stmt.body and c is not stmt.name
                    )
                else:
                    roots.append(stmt)
            yield from self._hidden(roots)
            owned = [n for root in roots for n in walk(root, into_scopes=False)]
            root_parents = roots
        else:
            owned = list(walk(func.body, into_scopes=False))
            nested: list[cst.CSTNode] = [
                n
                for n in walk(func.body)
                if isinstance(n, (cst.FunctionDef, cst.Lambda, cst.ClassDef))
            ]
            yield from self._hidden(nested)
            root_parents = [func.body]
        parents: dict[int, cst.CSTNode] = {}
        for root in root_parents:
            for node in walk(root, into_scopes=False):
                for child in node.children:
                    parents[id(child)] = node
        local = self.locals_of(func) if func is not None else {}
        cls_param = self._cls_param(func, scope.cls) if func is not None else None
        maker = func is not None and (
            (scope.cls is None and func.name.value in self.makers)
            or (
                scope.cls is not None and f"{scope.cls.name.value}.{func.name.value}" in self.makers
            )
        )
        own = scope.cls is not None and scope.cls.name.value in self.classes
        for node in owned:
            if isinstance(node, cst.Name):
                if _not_a_reference(node, parents):
                    continue
                if (followed := self._followed(node.value)) and node.value not in local:
                    if not self._reference_ok(node, parents):
                        yield from ((name, node) for name in sorted(followed))
                    continue
                if own and func is not None and _is_self(func, node):
                    if not _receiver(node, parents):
                        assert scope.cls is not None
                        yield scope.cls.name.value, node  # ``return self``, ``register(self)``
                    continue
            if not isinstance(node, (cst.Call, cst.Name)):
                continue
            classes = self.made(node, local, cls_param, scope.cls)
            if not classes or (isinstance(node, cst.Name) and _is_target(node, parents)):
                continue
            parent = parents.get(id(node))
            if isinstance(parent, cst.Return) and maker:
                continue
            if isinstance(parent, cst.Assign) and any(
                isinstance(t.target, cst.Name) and t.target.value in local for t in parent.targets
            ):
                continue
            if (
                isinstance(parent, cst.Attribute)
                and parent.value is node
                and not parent.attr.value.startswith("__")
                and not any(f"{c}.{parent.attr.value}" in self.makers for c in classes)
            ):
                continue
            if isinstance(parent, cst.Call) and parent.func is node and id(parent) in calls:
                continue
            yield from ((name, node) for name in sorted(classes))

    def _hidden(self, roots: list[cst.CSTNode]) -> Iterator[tuple[str, cst.CSTNode]]:
        """Mentions of the classes or their makers in code not followed (a nested function,
        a lambda, a decorator, a default): each may make an instance out of sight."""
        for root in roots:
            for node in walk(root):
                if isinstance(node, cst.Name) and (followed := self._followed(node.value)):
                    yield from ((name, node) for name in sorted(followed))

    def _reference_ok(self, node: cst.Name, parents: dict[int, cst.CSTNode]) -> bool:
        """``C(...)`` or ``route(...)`` (an instance, followed on its own), ``C.maker(...)``,
        ``C.attr`` (a class attribute)."""
        parent = parents.get(id(node))
        if isinstance(parent, cst.Call) and parent.func is node:
            return True
        if (
            node.value in self.classes
            and isinstance(parent, cst.Attribute)
            and parent.value is node
        ):
            method = self._method(node.value, parent.attr.value)
            if method is None:
                return not parent.attr.value.startswith("__")
            grand = parents.get(id(parent))
            return (
                f"{node.value}.{parent.attr.value}" in self.makers
                and isinstance(grand, cst.Call)
                and grand.func is parent
            )
        return False

    def _method(self, cls: str, name: str) -> cst.FunctionDef | None:
        body = self.class_defs[cls].body
        if isinstance(body, cst.IndentedBlock):
            for stmt in body.body:
                if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
                    return stmt
        return None


def _decorator(func: cst.FunctionDef) -> str | None:
    if len(func.decorators) == 1 and isinstance(func.decorators[0].decorator, cst.Name):
        return func.decorators[0].decorator.value
    return None


def _is_name(node: cst.CSTNode, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


def _is_self(func: cst.FunctionDef, node: cst.Name) -> bool:
    params = leading_params(func)
    return (
        bool(params)
        and _decorator(func) not in ("classmethod", "staticmethod")
        and node.value == params[0].name.value
    )


def _receiver(node: cst.Name, parents: dict[int, cst.CSTNode]) -> bool:
    """``node`` is what an attribute is read from (``self.body``), not a dunder of it."""
    parent = parents.get(id(node))
    return (
        isinstance(parent, cst.Attribute)
        and parent.value is node
        and not parent.attr.value.startswith("__")
    )


def _not_a_reference(node: cst.Name, parents: dict[int, cst.CSTNode]) -> bool:
    """``node`` names no value: an attribute's name, a keyword, a definition's name."""
    parent = parents.get(id(node))
    return (
        (isinstance(parent, cst.Attribute) and parent.attr is node)
        or (isinstance(parent, cst.Arg) and parent.keyword is node)
        or (isinstance(parent, (cst.ClassDef, cst.FunctionDef, cst.Param)) and parent.name is node)
    )


def _is_target(node: cst.Name, parents: dict[int, cst.CSTNode]) -> bool:
    parent = parents.get(id(node))
    return isinstance(parent, cst.AssignTarget) and parent.target is node
