"""Analyses of web frameworks shared by the rules and the project index."""

from __future__ import annotations

import ast


def offload_blocker(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """What keeps the blocking calls of ``func``, made a coroutine, from all leaving the loop:
    a ``return`` inside a ``with`` (the statement must move to a thread whole, response and
    all), which :mod:`migrate.blocking` refuses."""
    for node in ast.walk(func):
        if isinstance(node, (ast.With, ast.AsyncWith)) and any(
            isinstance(inner, ast.Return) for inner in ast.walk(node)
        ):
            return f"`{func.name}` returns from inside a `with` block"
    return ""
