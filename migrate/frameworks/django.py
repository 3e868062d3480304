"""What the run's Django modules tell each other: where its async views are.

Under ASGI a sync-only middleware has Django run it, and every middleware listed before it,
in a thread, and the async views behind it through ``async_to_sync`` from that thread: each
request to an async view holds a thread as under WSGI. The ``django-middleware`` rule marks
such middleware when the run has async views; the views live in other modules than the
middleware, so each module's scan tells its own (:func:`async_views`), and the project index
gathers them.
"""

from __future__ import annotations

import ast

#: Async methods taking a request that are a middleware's, not a view's.
MIDDLEWARE_METHODS = ("_", "process_")


def might_have_async_views(source: str) -> bool:
    """Cheap text test: ``source`` may define an async Django view."""
    return "async def" in source and "request" in source and "django" in source


def async_views(tree: ast.Module) -> tuple[str, ...]:
    """The async functions of a module importing Django that take a request first (after
    ``self`` in a class): ``async def ping(request)``, ``async def get(self, request)``;
    not a middleware's ``__call__`` nor its ``process_view``."""
    if not any(
        (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "django")
        or (
            isinstance(node, ast.Import)
            and any(a.name.split(".")[0] == "django" for a in node.names)
        )
        for node in ast.walk(tree)
    ):
        return ()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef):
            names = [arg.arg for arg in [*node.args.posonlyargs, *node.args.args]]
            if names[:1] == ["self"]:
                names = names[1:]
            if names[:1] == ["request"] and not node.name.startswith(MIDDLEWARE_METHODS):
                found.append(node.name)
    return tuple(found)
