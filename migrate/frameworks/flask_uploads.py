"""Uploaded files under Quart: ``FileStorage.save()`` is a coroutine there.

``f = request.files["photo"]; f.save(path)`` would, unawaited, save nothing. The rule awaits
``save()`` on the uploads it can follow: ``request.files[...]``/``request.files.get(...)``,
a name bound to one in the function, and the loop variable of ``for f in
request.files.getlist(...)``/``.values()`` (or of a name bound to such a list). An upload
used any other way (handed to a helper, returned, stored) may be saved where the rule cannot
await it: that keeps the run on Flask. Reading an upload (``f.filename``, ``f.read()``,
``f.stream``) is the same under both.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping

from migrate.frameworks import own_nodes

#: Methods of request.files giving one upload / a list of them.
ONE = frozenset({"get"})
MANY = frozenset({"getlist", "values"})


def upload_blockers(
    func: ast.FunctionDef, flask_names: Mapping[str, str], separately: Collection[int] = ()
) -> Iterator[str]:
    """Why the uploads ``func`` handles cannot all have their ``save()`` awaited
    (``separately``: the ids of the functions inside it checked on their own, its views)."""
    requests = {local for local, name in flask_names.items() if name == "request"}
    if not requests:
        return
    nodes = list(own_nodes(func))
    uploads, lists = _bound(nodes, requests)
    allowed: set[int] = set()
    for node in nodes:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in uploads or node.value.id in lists:
                allowed.add(id(node.value))  # f.save(...), f.filename, files.append?
        elif isinstance(node, (ast.Assign, ast.For)):
            value = node.value if isinstance(node, ast.Assign) else node.iter
            if isinstance(value, ast.Name) and value.id in lists and isinstance(node, ast.For):
                allowed.add(id(value))
        elif isinstance(node, (ast.If, ast.While, ast.UnaryOp, ast.BoolOp, ast.Compare)):
            tests = [node.test] if isinstance(node, (ast.If, ast.While)) else []
            tests += [node.operand] if isinstance(node, ast.UnaryOp) else []
            tests += list(node.values) if isinstance(node, ast.BoolOp) else []
            tests += [node.left, *node.comparators] if isinstance(node, ast.Compare) else []
            allowed.update(id(t) for t in tests if isinstance(t, ast.Name))
    for node in nodes:
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and (node.id in uploads or node.id in lists)
            and id(node) not in allowed
        ):
            yield f"`{func.name}` hands the upload `{node.id}` on (its save() is a coroutine)"
            return
    parents = {id(child): node for node in nodes for child in ast.iter_child_nodes(node)}
    for node in nodes:
        if isinstance(node, ast.Attribute) and _files(node, requests):
            parent = parents.get(id(node))
            reached = (
                isinstance(parent, ast.Subscript)
                or (isinstance(parent, ast.Attribute) and parent.attr in ONE | MANY | {"keys"})
                or isinstance(parent, (ast.Compare, ast.For, ast.If, ast.UnaryOp, ast.BoolOp))
            )
            if not reached:
                how = f".{parent.attr}()" if isinstance(parent, ast.Attribute) else ""
                yield (
                    f"`{func.name}` reads the uploads (`request.files{how}`) where the rule "
                    "cannot follow them (their save() is a coroutine)"
                )
                return
    for node in nodes:
        if (
            isinstance(node, ast.expr)
            and _is_upload(node, requests)
            and not _followed(node, parents.get(id(node)))
        ):
            yield f"`{func.name}` hands an upload on (its save() is a coroutine)"
            return
    own = {id(node) for node in nodes}
    skipped = {
        id(inner)
        for node in ast.walk(func)
        if id(node) in separately and node is not func
        for inner in ast.walk(node)
    }
    for node in ast.walk(func):
        if id(node) in own or id(node) in skipped or node is func:
            continue
        if (isinstance(node, ast.Name) and (node.id in uploads or node.id in lists)) or (
            isinstance(node, ast.Attribute) and _files(node, requests)
        ):
            yield f"`{func.name}` uses an upload in a nested function (its save() is a coroutine)"
            return


def upload_names(func: ast.FunctionDef, flask_names: Mapping[str, str]) -> frozenset[str]:
    """The names ``func`` binds to one upload (``f = request.files["x"]``, ``for f in
    request.files.getlist("x")``, or in a list bound to that): the rule awaits their
    ``save()`` (the plan hands it these names)."""
    requests = {local for local, name in flask_names.items() if name == "request"}
    return frozenset(_bound(list(own_nodes(func)), requests)[0]) if requests else frozenset()


def _followed(upload: ast.AST, parent: ast.AST | None) -> bool:
    """An upload expression where the rule follows it: bound to a name, its attribute read
    (``.save(...)``, ``.filename``), compared."""
    if isinstance(parent, ast.Assign):
        return len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name)
    return isinstance(parent, (ast.Attribute, ast.Compare, ast.If, ast.UnaryOp, ast.BoolOp))


def _bound(nodes: list[ast.AST], requests: set[str]) -> tuple[set[str], set[str]]:
    """The names bound to one upload, and those bound to a list of them."""
    uploads: set[str] = set()
    lists: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and _is_upload(node.value, requests):
                uploads.add(target.id)
            elif isinstance(target, ast.Name) and _is_upload_list(node.value, requests):
                lists.add(target.id)
    for node in nodes:
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            over = node.iter
            if _is_upload_list(over, requests) or (isinstance(over, ast.Name) and over.id in lists):
                uploads.add(node.target.id)
    return uploads, lists


def _files(node: ast.expr, requests: set[str]) -> bool:
    """``request.files``."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "files"
        and isinstance(node.value, ast.Name)
        and node.value.id in requests
    )


def _is_upload(node: ast.expr, requests: set[str]) -> bool:
    """``request.files[...]`` or ``request.files.get(...)``."""
    if isinstance(node, ast.Subscript):
        return _files(node.value, requests)
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ONE
        and _files(node.func.value, requests)
    )


def _is_upload_list(node: ast.expr, requests: set[str]) -> bool:
    """``request.files.getlist(...)`` or ``request.files.values()``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in MANY
        and _files(node.func.value, requests)
    )
