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

#: The methods of a class-based view that handle a request.
HTTP_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "trace"})


def might_have_async_views(source: str) -> bool:
    """Cheap text test: ``source`` may define an async Django view."""
    return "async def" in source and "request" in source and "django" in source


def async_views(relpath: str, tree: ast.Module) -> tuple[str, ...]:
    """The async views of a module importing Django: the async functions taking a request
    first of a views module (one with ``view`` in its path, or a URL conf defining
    ``urlpatterns``), ``async def ping(request)``, and the async HTTP-method handlers of
    class-based views anywhere, ``async def get(self, request)``. An async helper taking a
    request elsewhere (Django's ``alogin(request, user)``) is no view."""
    if not any(
        (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "django")
        or (
            isinstance(node, ast.Import)
            and any(a.name.split(".")[0] == "django" for a in node.names)
        )
        for node in ast.walk(tree)
    ):
        return ()
    views_module = "view" in relpath.lower() or any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "urlpatterns" for t in node.targets)
        for node in tree.body
    )
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if (
                    isinstance(item, ast.AsyncFunctionDef)
                    and item.name in HTTP_METHODS
                    and _parameters(item)[:2] == ["self", "request"]
                ):
                    found.append(f"{node.name}.{item.name}")
    if views_module:
        found.extend(
            stmt.name
            for stmt in tree.body
            if isinstance(stmt, ast.AsyncFunctionDef) and _parameters(stmt)[:1] == ["request"]
        )
    return tuple(found)


def _parameters(func: ast.AsyncFunctionDef) -> list[str]:
    return [arg.arg for arg in [*func.args.posonlyargs, *func.args.args]]
