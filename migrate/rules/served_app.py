"""Rule ``served-app``: every name a module serves as a WSGI app holds an ASGI app after the run.

It runs after ``wsgi-middleware`` and ``wsgi-app``, on what they made. A module-level name
that still holds a WSGI app, and that no other code of the module hands on (so it is what a
server is pointed at: ``uvicorn module:app``), is served through ``adapters.WsgiToAsgi``
right after the last statement that builds it::

    # before                                    # after
    app = Api()                                 app = Api()
    app.add("/todos", Todos(store))             app.add("/todos", Todos(store))
                                                # migrate[served-app]: `app` holds ...
                                                app = WsgiToAsgi(app)

What the name holds is read by :mod:`migrate.app_values`: apps the other rules do not
recognise (the status and headers reach ``start_response`` through a helper, a
``wsgiref.headers.Headers``, a response object), instances of WSGI classes, stacks of
middleware the other rules left WSGI (one built in a ``for`` loop too). Names other
modules of the run use the WSGI way are left to the ``wsgi-app`` rule's markers.
"""

from __future__ import annotations

import ast

import libcst as cst

from migrate import prefilter
from migrate.app_values import ModuleValues, Served
from migrate.cst_helpers import add_imports, with_marker
from migrate.rules.base import FileContext, Rule, marker_comment


class ServedAppRule(Rule):
    rule_id = "served-app"
    summary = (
        "A module-level name still serving a WSGI app after the other rules is served through "
        "adapters.WsgiToAsgi, so `uvicorn module:name` serves it."
    )

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return prefilter.may_hold_wsgi_callable(source)

    @classmethod
    def might_apply_to_tree(cls, tree: ast.Module, source: str) -> bool:
        return True

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        #: statement -> the bindings to add after it
        self.after: dict[int, list[cst.BaseStatement]] = {}

    def visit_Module(self, node: cst.Module) -> bool:
        project = self.context.project
        for served in ModuleValues(node).served_wsgi_apps():
            if project is not None and project.callers_of(self.context.relpath, served.name):
                continue  # other modules use it the WSGI way: the wsgi-app rule says so
            self._adapt(served)
        return False

    def _adapt(self, served: Served) -> None:
        name = served.name
        message = (
            f"`{name}` holds {served.value.describe()}, which no rule converted to ASGI: served "
            f"through adapters.WsgiToAsgi, so `{name}` is an ASGI app"
        )
        binding: cst.BaseStatement = cst.parse_statement(f"{name} = WsgiToAsgi({name})\n")
        if isinstance(served.final_at, cst.BaseCompoundStatement):
            assert isinstance(binding, cst.SimpleStatementLine)
            binding = binding.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
        self.after.setdefault(id(served.final_at), []).append(
            with_marker(binding, marker_comment(self.rule_id, message))
        )
        self.report(served.final_at, "adapted", message)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if not self.after:
            return updated_node
        body: list[cst.BaseStatement] = []
        for original, stmt in zip(original_node.body, updated_node.body, strict=True):
            body.append(stmt)
            body.extend(self.after.get(id(original), ()))
        module = updated_node.with_changes(body=body)
        return add_imports(module, [("adapters", "WsgiToAsgi")])
