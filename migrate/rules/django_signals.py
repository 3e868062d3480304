"""Rule ``django-signals``: a ``request_started`` receiver reading the WSGI environ keeps
working under ASGI.

Under WSGI Django sends ``request_started`` with the request's ``environ``; under ASGI with
its ``scope`` instead. A receiver taking ``environ`` (Django's docs show one, and audit
libraries wrote theirs so) then raises ``TypeError`` on every request, a 500, although it
worked under WSGI. The receiver gets the environ a WSGI server would have given, built from
the scope by :func:`adapters.environ_from_scope` (``converted``)::

    @receiver(request_started)                      @receiver(request_started)
    def log_start(sender, environ, **kwargs):       def log_start(sender, environ=None, **kwargs):
        if environ["PATH_INFO"] in WATCHED:             if environ is None:  # ASGI: the scope
            ...                                             environ = adapters.environ_from_scope(
                                                                kwargs["scope"], io.BytesIO())
                                                        if environ["PATH_INFO"] in WATCHED:

Under WSGI nothing changes. Under ASGI the environ is not the request's ``META`` (the request
is not made yet), so a receiver that stores into it, or hands it on, gets a ``manual``
marker: what it stores there no view will read.

Receivers are found by ``@receiver(request_started)`` (also in a list) and by
``request_started.connect(name)`` for a function of the module; one without ``**kwargs``
(which Django's ``connect`` requires) or with a later parameter without a default is left.
"""

from __future__ import annotations

import libcst as cst

from migrate import analysis
from migrate.cst_helpers import add_imports, is_docstring
from migrate.rules.base import ChangeKind, FileContext, Rule

SIGNAL = "django.core.signals.request_started"
BUILT = (
    "request_started receiver: under ASGI Django sends the scope, not the environ; the "
    "receiver gets the environ a WSGI server would give, built from the scope"
)
STORES = (
    "this receiver stores into the environ or hands it on: under ASGI the environ it gets is "
    "built from the scope, not the request's META, so what it stores there no view reads; "
    "keep per-request state elsewhere (a middleware setting request attributes)"
)
#: Methods of a dict that change it.
CHANGING = frozenset({"update", "setdefault", "pop", "popitem", "clear", "__setitem__"})


def _environ_param(func: cst.FunctionDef) -> cst.Param | None:
    """The receiver's ``environ`` parameter, where it can take a default: a keyword argument
    catch-all (Django passes ``signal`` and ``sender``, and requires one) and no parameter
    after it without a default."""
    params = func.params
    if not isinstance(params.star_kwarg, cst.Param):
        return None
    listed = [*params.posonly_params, *params.params]
    for index, param in enumerate(listed):
        if param.name.value == "environ" and param.default is None:
            later = listed[index + 1 :]
            return param if all(p.default is not None for p in later) else None
    for param in params.kwonly_params:
        if param.name.value == "environ" and param.default is None:
            return param
    return None


def _stores_or_hands_on(func: cst.FunctionDef) -> bool:
    """``environ`` is changed (``environ["k"] = v``, ``environ.update(...)``, ``del``) or
    handed to a call, rather than only read."""
    for node in analysis.walk(func.body):
        if isinstance(node, (cst.AssignTarget, cst.Del)):
            target = node.target
            if (
                isinstance(target, cst.Subscript)
                and analysis.dotted_name(target.value) == "environ"
            ):
                return True
        elif isinstance(node, cst.Call):
            func_name = analysis.dotted_name(node.func)
            if func_name.startswith("environ.") and func_name.split(".", 1)[1] in CHANGING:
                return True
            if any(analysis.dotted_name(arg.value) == "environ" for arg in node.args):
                return True
    return False


class DjangoSignalsRule(Rule):
    rule_id = "django-signals"
    summary = (
        "A request_started receiver taking the WSGI environ gets one built from the scope "
        "under ASGI (Django sends the scope there: TypeError on every request)."
    )

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return "request_started" in source and "environ" in source

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self.signal: set[str] = set()  # how the module spells request_started
        self.connected: set[str] = set()  # functions handed to request_started.connect
        self.built = False  # a receiver now builds an environ

    def visit_Module(self, node: cst.Module) -> bool:
        self.signal = set(analysis.import_spellings(node, frozenset({SIGNAL})))
        self.connected = {
            analysis.dotted_name(n.args[0].value)
            for n in analysis.walk(node)
            if isinstance(n, cst.Call)
            and n.args
            and isinstance(n.func, cst.Attribute)
            and n.func.attr.value == "connect"
            and analysis.dotted_name(n.func.value) in self.signal
        }
        return bool(self.signal)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if self.built:
            return add_imports(updated_node, [("adapters", None), ("io", None)])
        return updated_node

    def _is_receiver(self, func: cst.FunctionDef) -> bool:
        if func.name.value in self.connected:
            return True
        for decorator in func.decorators:
            call = decorator.decorator
            if not isinstance(call, cst.Call) or not call.args:
                continue
            if analysis.dotted_name(call.func).rsplit(".", 1)[-1] != "receiver":
                continue
            first = call.args[0].value
            signals = (
                [e.value for e in first.elements]
                if isinstance(first, (cst.List, cst.Tuple))
                else [first]
            )
            if any(analysis.dotted_name(s) in self.signal for s in signals):
                return True
        return False

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        if not self._is_receiver(original_node):
            return updated_node
        param = _environ_param(updated_node)
        body = updated_node.body
        if param is None or not isinstance(body, cst.IndentedBlock):
            return updated_node
        star = updated_node.params.star_kwarg
        assert isinstance(star, cst.Param)
        build = cst.parse_statement(
            "if environ is None:  # under ASGI Django sends the scope: a WSGI server's environ\n"
            f'    environ = adapters.environ_from_scope({star.name.value}["scope"], io.BytesIO())\n'
        )
        statements = list(body.body)
        at = 1 if statements and is_docstring(statements[0]) else 0
        statements.insert(at, build)
        default = param.with_changes(
            default=cst.Name("None"),
            equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
        )
        new = updated_node.with_changes(
            params=updated_node.params.deep_replace(param, default),
            body=body.with_changes(body=statements),
        )
        self.built = True
        changes: list[tuple[ChangeKind, str]] = [("converted", BUILT)]
        if _stores_or_hands_on(original_node):
            changes.append(("manual", STORES))
        return self.report_all(original_node, new, changes)
