"""``f.save(path)`` awaited on the uploads of a view (Quart's ``FileStorage.save`` is a
coroutine): what :mod:`migrate.frameworks.flask_uploads` lets through."""

from __future__ import annotations

import libcst as cst

from migrate import analysis
from migrate.frameworks.flask_uploads import MANY, ONE


def upload_names(func: cst.FunctionDef, requests: set[str]) -> set[str]:
    """The names ``func`` binds to one upload (``f = request.files["x"]``, ``for f in
    request.files.getlist("x")``, or in a list bound to that)."""
    uploads: set[str] = set()
    lists: set[str] = set()
    nodes = list(analysis.walk(func, into_scopes=False))
    for node in nodes:
        if isinstance(node, cst.Assign) and len(node.targets) == 1:
            target = node.targets[0].target
            if isinstance(target, cst.Name) and is_upload(node.value, requests):
                uploads.add(target.value)
            elif isinstance(target, cst.Name) and _is_upload_list(node.value, requests):
                lists.add(target.value)
    for node in nodes:
        if isinstance(node, cst.For) and isinstance(node.target, cst.Name):
            over = node.iter
            if _is_upload_list(over, requests) or (
                isinstance(over, cst.Name) and over.value in lists
            ):
                uploads.add(node.target.value)
    return uploads


def is_upload_save(call: cst.Call, uploads: set[str], requests: set[str]) -> bool:
    """``call`` is ``f.save(...)`` of an upload (``call`` as the module has it)."""
    func = call.func
    if not (isinstance(func, cst.Attribute) and func.attr.value == "save"):
        return False
    owner = func.value
    return (isinstance(owner, cst.Name) and owner.value in uploads) or is_upload(owner, requests)


def _files(node: cst.BaseExpression, requests: set[str]) -> bool:
    return (
        isinstance(node, cst.Attribute)
        and node.attr.value == "files"
        and isinstance(node.value, cst.Name)
        and node.value.value in requests
    )


def is_upload(node: cst.BaseExpression, requests: set[str]) -> bool:
    if isinstance(node, cst.Subscript):
        return _files(node.value, requests)
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in ONE
        and _files(node.func.value, requests)
    )


def _is_upload_list(node: cst.BaseExpression, requests: set[str]) -> bool:
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in MANY
        and _files(node.func.value, requests)
    )
