"""``app.wsgi_app = ProxyFix(app.wsgi_app, ...)`` → ``app.asgi_app = adapters.ProxyFix(
app.asgi_app, ...)``: werkzeug's ``ProxyFix`` in front of Quart's ASGI app, with the same trust
(the plan, :func:`migrate.frameworks.flask._proxied_wsgi_apps`, let only such statements be)."""

from __future__ import annotations

import libcst as cst

from migrate import analysis
from migrate.middleware_analysis import PROXY_FIX


class AsgiProxyFix(cst.CSTTransformer):
    def __init__(self, module: cst.Module) -> None:
        super().__init__()
        #: How the module spells werkzeug's ProxyFix (``ProxyFix``, ``PF``...).
        self.spellings = frozenset(analysis.import_spellings(module, frozenset({PROXY_FIX})))
        #: The statements to change, in ``module`` as it is.
        self.found = [
            node
            for node in analysis.walk(module)
            if isinstance(node, cst.Assign) and _proxies(node, self.spellings)
        ]

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if not _proxies(updated_node, self.spellings):
            return updated_node
        call = updated_node.value
        assert isinstance(call, cst.Call)
        first, *rest = call.args
        fixed = call.with_changes(
            func=cst.parse_expression("adapters.ProxyFix"),
            args=[first.with_changes(value=_asgi_app(first.value)), *rest],
        )
        target = updated_node.targets[0]
        return updated_node.with_changes(
            targets=[target.with_changes(target=_asgi_app(target.target))], value=fixed
        )


def _proxies(assign: cst.Assign, spellings: frozenset[str]) -> bool:
    """``X.wsgi_app = ProxyFix(X.wsgi_app, ...)``."""
    call = assign.value
    return (
        len(assign.targets) == 1
        and _is_wsgi_app(assign.targets[0].target)
        and isinstance(call, cst.Call)
        and analysis.dotted_name(call.func) in spellings
        and bool(call.args)
        and _is_wsgi_app(call.args[0].value)
    )


def _is_wsgi_app(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Attribute) and node.attr.value == "wsgi_app"


def _asgi_app(node: cst.BaseExpression) -> cst.BaseExpression:
    assert isinstance(node, cst.Attribute)
    return node.with_changes(attr=cst.Name("asgi_app"))
