"""Modules that use another module's served app as the WSGI app it was: its tests, a script.

The module serving ``app`` makes it ASGI (``app = WsgiToAsgi(app)``); a test of the project
hands it to WebTest or werkzeug's client, which call a WSGI app. Each use of the imported
name gets it through ``adapters.as_wsgi``, which unwraps ``WsgiToAsgi`` back to the very
app the use got before (and adapts an ASGI app, whatever the module made of it)::

    # before                                  # after
    from webtest import TestApp               from webtest import TestApp
    from myapp import app                     from myapp import app
                                              # migrate[served-app]: ...
    def test_hello():                         def test_hello():
        client = TestApp(app)                     client = TestApp(as_wsgi(app))

Every use of the name counts (a fixture returning it hands it to a client elsewhere), but
those through an attribute (``app.config``: the adapter hands attributes on; not a store,
``app.testing = True``, see :mod:`.attributes`), those given
to what takes an ASGI app (``uvicorn.run``) and those given to the server calls the
``server`` rule rewrites (``bottle.run(app)``). The names are found with libcst's scopes,
so a parameter or a local of the same name (a pytest fixture ``app``) is not taken for the
import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import libcst as cst
from libcst.metadata import Scope

from migrate import analysis
from migrate.frameworks.flask_tests import is_test_path
from migrate.rules.served_app.attributes import passes_adapter

#: ``(import, local name, module_ref, name)``: ``from myapp import app as x`` gives
#: ``(..., "x", "myapp", "app")``; ``import myapp`` gives ``(..., "myapp.app", ...)``.
ImportedApp = tuple[cst.Import | cst.ImportFrom, str, str, str]


def imported_apps(
    module: cst.Module, served: Callable[[str], tuple[str, ...]]
) -> list[ImportedApp]:
    """An :data:`ImportedApp` for each import of a served app (one of ``served(module_ref)``):
    ``from myapp import app [as x]``, and ``import myapp`` (the local name is then the
    dotted module, its uses ``myapp.app``)."""
    found: list[ImportedApp] = []
    for node in analysis.import_statements(module):
        if isinstance(node, cst.ImportFrom):
            if isinstance(node.names, cst.ImportStar) or (
                node.module is None and not node.relative
            ):
                continue
            module_ref = "." * len(node.relative) + (
                analysis.dotted_name(node.module) if node.module is not None else ""
            )
            for alias in node.names:
                name = analysis.dotted_name(alias.name)
                local = analysis.dotted_name(alias.asname.name) if alias.asname else name
                if name in served(module_ref):
                    found.append((node, local, module_ref, name))
        else:
            for alias in node.names:
                module_ref = analysis.dotted_name(alias.name)
                local = analysis.dotted_name(alias.asname.name) if alias.asname else module_ref
                for name in served(module_ref):
                    found.append((node, f"{local}.{name}", module_ref, name))
    return found


def uses_of(
    binding: cst.Import | cst.ImportFrom,
    spelled: str,
    scopes: Mapping[cst.CSTNode, Scope | None],
    parent: Callable[[cst.CSTNode], cst.CSTNode | None],
    takes_either: Callable[[cst.Call], bool],
) -> Iterator[cst.BaseExpression]:
    """The uses of ``spelled`` (``app``; ``shop.web.app`` after ``import shop.web``) bound
    by ``binding`` that hand the app on as it is."""
    bound, path = spelled, []
    if isinstance(binding, cst.Import):  # libcst binds the dotted name the import names
        bound, _, attribute = spelled.rpartition(".")
        path = [attribute]
    scope = scopes.get(binding)
    if scope is None:
        return
    for assignment in scope.assignments[bound]:
        if getattr(assignment, "node", None) is not binding:
            continue
        for access in assignment.references:
            use: cst.CSTNode = access.node
            for part in path:  # ``myapp.app``: up the attribute chain
                above = parent(use)
                if not (
                    isinstance(above, cst.Attribute)
                    and above.value is use
                    and above.attr.value == part
                ):
                    break
                use = above
            else:
                if _hands_on(use, parent, takes_either):
                    assert isinstance(use, cst.BaseExpression)
                    yield use


def _hands_on(
    use: cst.CSTNode,
    parent: Callable[[cst.CSTNode], cst.CSTNode | None],
    takes_either: Callable[[cst.Call], bool],
) -> bool:
    above = parent(use)
    if isinstance(above, cst.Attribute) and above.value is use:
        # ``app.config``: the adapter hands attributes on; not ``app.testing = True``
        return passes_adapter(above, parent)
    if isinstance(above, (cst.AssignTarget, cst.Del)) or (
        isinstance(above, (cst.AugAssign, cst.AnnAssign)) and above.target is use
    ):
        return False  # bound, not used
    if isinstance(above, cst.Arg):
        call = parent(above)
        return not (isinstance(call, cst.Call) and takes_either(call))
    return True


def is_test_module(relpath: str) -> bool:
    """A module of the project's tests, by its path (``tests/``, ``test_*.py``, ``tests.py``)."""
    *folders, name = relpath.split("/")
    return (
        is_test_path(relpath)
        or name in ("tests.py", "test.py")
        or any(folder in ("tests", "test") for folder in folders)
    )


def same_package(relpath: str, serving: str, files: frozenset[str]) -> bool:
    """``relpath`` is a module of the package ``serving`` is in (``app/routes.py`` for
    ``app/__init__.py``): a part of the app, not an entry point of it."""
    folder = serving.rpartition("/")[0]
    return bool(folder) and f"{folder}/__init__.py" in files and relpath.startswith(folder + "/")


def flask_apps_kept(module: cst.Module) -> set[str]:
    """The local names the module already keeps a Flask app for (``flask_app =
    as_wsgi(app)`` at module level, from an earlier run)."""
    kept: set[str] = set()
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if (
                isinstance(small, cst.Assign)
                and isinstance(small.value, cst.Call)
                and analysis.dotted_name(small.value.func) == "as_wsgi"
                and len(small.value.args) == 1
            ):
                kept.add(analysis.dotted_name(small.value.args[0].value))
    return kept
