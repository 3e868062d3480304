"""``f.save(path)`` awaited on the uploads of a view (Quart's ``FileStorage.save`` is a
coroutine): what :mod:`migrate.frameworks.flask_uploads` lets through, the names bound to
uploads as the plan gives them."""

from __future__ import annotations

from collections.abc import Set as AbstractSet

import libcst as cst

from migrate.frameworks.flask_uploads import ONE


def is_upload_save(call: cst.Call, uploads: AbstractSet[str], requests: set[str]) -> bool:
    """``call`` is ``f.save(...)`` of an upload (``call`` as the module has it)."""
    func = call.func
    if not (isinstance(func, cst.Attribute) and func.attr.value == "save"):
        return False
    owner = func.value
    return (isinstance(owner, cst.Name) and owner.value in uploads) or _is_upload(owner, requests)


def _files(node: cst.BaseExpression, requests: set[str]) -> bool:
    return (
        isinstance(node, cst.Attribute)
        and node.attr.value == "files"
        and isinstance(node.value, cst.Name)
        and node.value.value in requests
    )


def _is_upload(node: cst.BaseExpression, requests: set[str]) -> bool:
    if isinstance(node, cst.Subscript):
        return _files(node.value, requests)
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in ONE
        and _files(node.func.value, requests)
    )
