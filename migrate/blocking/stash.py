"""What code puts on the objects a request hands around, where a plain value is expected.

The analysis takes a framework's request and response (Falcon's ``req``/``resp``, the
scope) for data: reading them never blocks. But code keeps its own objects there for the
rest of the request::

    class Database:                                   # middleware.py
        def process_request(self, req, resp):
            req.context.session = Session()
        def process_response(self, req, resp, resource, req_succeeded):
            req.context.session.close()               # blocks: a database round trip

    rows = req.context.session.query(Item).all()     # resources.py: blocks too

Such a *stash* is a store through an attribute or a constant key of anything but ``self``
(``req.context.session = ...``, ``req.context["session"] = ...``, ``environ["db"] = ...``,
``setattr(req.context, "session", ...)``) of a value that is not plainly data. Reads of a
stashed name (``x.session``, ``x["session"]``, ``getattr(x, "session")``,
``x.get("session")``) hold what the analysis cannot type, whatever ``x`` is
(:meth:`migrate.blocking.kinds.FunctionFacts.kind`): a method called on one may block.

The names are read from CPython's AST: the framework plans read them from every module of a
unit in the scan (a middleware of one module, the resources of another), a module's own from
its own text.
"""

from __future__ import annotations

import ast

#: Calls whose result is a plain value whatever they are handed.
_PLAIN_CALLS = frozenset(["str", "int", "float", "bool", "len", "repr", "bytes", "round"])
#: Calls ``f(x, name, value)`` that store ``value`` under ``name``: ``setattr``, and the
#: scope copy the middleware rule writes for ``environ[key] = value``
#: (:func:`adapters.asgi_helpers.with_environ_key`), which a later rule of the run reads.
_STORING_CALLS = frozenset(["setattr", "with_environ_key", "with_environ_value"])
#: Methods of a mapping that read the value at a key.
KEY_READS = frozenset(["get", "pop", "setdefault"])


def stashed_names(tree: ast.AST) -> frozenset[str]:
    """The attribute names and constant keys under ``tree`` that are given a value that may
    not be plain data (see the module docstring)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            if node.value is None or _plain(node.value):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                found.update(_stored_names(target))
        elif (
            isinstance(node, ast.Call)
            and _callee(node.func) in _STORING_CALLS
            and len(node.args) == 3
            and not _plain(node.args[2])
            and (name := _constant_str(node.args[1])) is not None
            and not _is_self(node.args[0])
        ):
            found.add(name)
    return frozenset(found)


def _callee(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _stored_names(target: ast.expr) -> list[str]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _stored_names(element)]
    if isinstance(target, ast.Starred):
        return _stored_names(target.value)
    if isinstance(target, ast.Attribute) and not _is_self(target.value):
        return [target.attr]  # self.attr: what a class keeps (migrate.blocking.attributes)
    if isinstance(target, ast.Subscript) and (key := _constant_str(target.slice)) is not None:
        return [key]
    return []


def _is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def _constant_str(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _plain(value: ast.expr) -> bool:
    """``value`` is plain data by its form alone (a literal, an f-string, a comparison, a
    container of such, a comprehension, ``str(...)``)."""
    if isinstance(value, (ast.Constant, ast.JoinedStr, ast.Compare)):
        return True
    if isinstance(value, (ast.ListComp, ast.SetComp, ast.DictComp)):
        return True  # a new container (of what it collects: rarely a resource)
    if isinstance(value, (ast.Tuple, ast.List, ast.Set)):
        return all(_plain(e) for e in value.elts)
    if isinstance(value, ast.Dict):
        return all(_plain(v) for v in value.values)
    if isinstance(value, ast.BinOp):
        return _plain(value.left) and _plain(value.right)
    if isinstance(value, ast.UnaryOp):
        return _plain(value.operand)
    if isinstance(value, ast.BoolOp):
        return all(_plain(v) for v in value.values)
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in _PLAIN_CALLS
    )
