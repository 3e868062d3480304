"""The ``__main__`` block of a module whose app ``served-app`` serves through the adapter.

Before the run, that block handed the app on as the WSGI app it was: to Bottle's
``run(app)``, gevent's ``WSGIServer(("", 8000), app)``, a WSGI middleware, a script's own
server. After the run the name holds an ASGI app, and each such use would get it::

    # before                                   # after
    app = bottle.Bottle()                      app = bottle.Bottle()
                                               app = WsgiToAsgi(app)
    if __name__ == "__main__":                 if __name__ == "__main__":
        WSGIServer(("", 80), app).serve()          WSGIServer(("", 80), as_wsgi(app)).serve()

``adapters.as_wsgi`` unwraps ``WsgiToAsgi`` back to the app it wraps, so each use gets the
very object it got before. What the block does with the app through an attribute
(``app.run(port=8080)``: the adapter hands attributes on) is left as it is, but for what
reaches the adapter itself (``app.secret_key = "dev"``, ``app.wsgi_app``: see
:mod:`.attributes`); so are the calls that take an ASGI app (``uvicorn.run``) and the
server calls the ``server`` rule rewrites itself. Once the block binds the name anew, its
later uses see that value, not the module's app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst

from migrate import analysis
from migrate.cst_helpers import with_marker
from migrate.rules.served_app.attributes import ADAPTER_ATTRIBUTES, STATEMENTS

Statement = cst.SimpleStatementLine | cst.BaseCompoundStatement


@dataclass
class WsgiUses:
    """The names of the block that get ``as_wsgi(...)``, by the statement holding them."""

    names: set[cst.BaseExpression] = field(default_factory=set)
    by_statement: dict[Statement, list[str]] = field(default_factory=dict)


def wsgi_uses(
    block: cst.If, served: set[str], takes_either: Callable[[cst.Call], bool]
) -> WsgiUses:
    """Where the ``__main__`` ``block`` hands one of the ``served`` names on as it is, before
    binding it anew. ``takes_either``: a call whose plain-name arguments are left alone."""
    finder = _Finder(served, takes_either)
    block.body.visit(finder)
    return finder.uses


class _Finder(cst.CSTVisitor):
    def __init__(self, served: set[str], takes_either: Callable[[cst.Call], bool]) -> None:
        self.served = set(served)
        self.takes_either = takes_either
        self.uses = WsgiUses()
        self._statements: list[Statement] = []

    # the statement a use is reported at (and its marker goes above)

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, STATEMENTS):
            self._statements.append(node)
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        super().on_leave(original_node)
        if isinstance(original_node, STATEMENTS):
            self._statements.pop()

    def visit_For(self, node: cst.For) -> bool:
        node.iter.visit(self)
        self._bind(node.target)
        node.body.visit(self)
        if node.orelse is not None:
            node.orelse.visit(self)
        return False

    # code that runs later, or binds names: not a use of the module's app here

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.served.discard(node.name.value)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.served.discard(node.name.value)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Global(self, node: cst.Global) -> bool:
        return False

    def visit_Nonlocal(self, node: cst.Nonlocal) -> bool:
        return False

    def visit_Import(self, node: cst.Import) -> bool:
        for alias in node.names:
            bound = alias.asname.name if alias.asname else alias.name
            self._bind(bound if isinstance(bound, cst.Name) else _root(bound))
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if not isinstance(node.names, cst.ImportStar):
            for alias in node.names:
                self._bind(alias.asname.name if alias.asname else alias.name)
        return False

    def visit_Assign(self, node: cst.Assign) -> bool:
        node.value.visit(self)  # evaluated before the targets are bound
        for target in node.targets:
            self._bind(target.target)
        return False

    def visit_AnnAssign(self, node: cst.AnnAssign) -> bool:
        if node.value is not None:
            node.value.visit(self)
        self._bind(node.target)
        return False

    def visit_AugAssign(self, node: cst.AugAssign) -> bool:
        node.value.visit(self)
        self._bind(node.target)
        return False

    def visit_AsName(self, node: cst.AsName) -> bool:
        self._bind(node.name)
        return False

    def visit_NamedExpr(self, node: cst.NamedExpr) -> bool:
        node.value.visit(self)
        self._bind(node.target)
        return False

    def visit_CompFor(self, node: cst.CompFor) -> bool:
        # a comprehension's own names: only its iterable reads the block's
        node.iter.visit(self)
        return False

    def visit_Del(self, node: cst.Del) -> bool:
        self._bind(node.target)
        return False

    # uses

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        # ``app.run(...)``: the adapter hands attributes on, but its own (.attributes);
        # ``x.app`` names no variable
        if not (isinstance(node.value, cst.Name) and node.value.value in self.served):
            node.value.visit(self)
        elif node.attr.value in ADAPTER_ATTRIBUTES:
            self.visit_Name(node.value)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)  # a keyword is no use of a name
        return False

    def visit_Call(self, node: cst.Call) -> bool:
        if not self.takes_either(node):
            return True
        node.func.visit(self)
        for arg in node.args:
            if not isinstance(arg.value, cst.Name):
                arg.value.visit(self)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self.served and self._statements:
            self.uses.names.add(node)
            self.uses.by_statement.setdefault(self._statements[-1], []).append(node.value)

    def _bind(self, target: cst.BaseExpression) -> None:
        if (
            isinstance(target, cst.Attribute)
            and isinstance(target.value, cst.Name)
            and target.value.value in self.served
        ):
            self.visit_Name(target.value)  # ``app.secret_key = ...``: see .attributes
        for name in analysis.target_names(target):
            self.served.discard(name)


def _root(node: cst.BaseExpression) -> cst.BaseExpression:
    """``a`` of ``import a.b.c``: the name that import binds."""
    while isinstance(node, cst.Attribute):
        node = node.value
    return node


class AsWsgi(cst.CSTTransformer):
    """Hands each of ``nodes`` (names, ``module.app`` attributes) on through
    ``as_wsgi(...)``, with the ``markers`` (comment texts) above their statements."""

    def __init__(self, nodes: set[cst.BaseExpression], markers: dict[Statement, list[str]]) -> None:
        self.nodes = nodes
        self.markers = markers

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return self._wrapped(original_node, updated_node)

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        return self._wrapped(original_node, updated_node)

    def _wrapped(
        self, original: cst.BaseExpression, updated: cst.BaseExpression
    ) -> cst.BaseExpression:
        if original in self.nodes:
            return cst.Call(func=cst.Name("as_wsgi"), args=[cst.Arg(updated)])
        return updated

    # the statements a use is found at (see _Finder) get the marker

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement:
        return self._marked(original_node, updated_node)

    def leave_If(self, original_node: cst.If, updated_node: cst.If) -> cst.BaseStatement:
        return self._marked(original_node, updated_node)

    def leave_With(self, original_node: cst.With, updated_node: cst.With) -> cst.BaseStatement:
        return self._marked(original_node, updated_node)

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> cst.BaseStatement:
        return self._marked(original_node, updated_node)

    def leave_While(self, original_node: cst.While, updated_node: cst.While) -> cst.BaseStatement:
        return self._marked(original_node, updated_node)

    def leave_Try(self, original_node: cst.Try, updated_node: cst.Try) -> cst.BaseStatement:
        return self._marked(original_node, updated_node)

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.BaseStatement:
        return self._marked(original_node, updated_node)

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.BaseStatement:
        return self._marked(original_node, updated_node)

    def _marked(self, original: Statement, updated: Statement) -> cst.BaseStatement:
        for comment in self.markers.get(original, ()):
            updated = with_marker(updated, comment)  # type: ignore[assignment]
        return updated
