"""Rule ``django-request``: what Django code reads of a request's WSGI environ, read where
Django keeps it under ASGI too.

``request.environ`` exists only on Django's ``WSGIRequest``: under ASGI every view or
middleware reading it raises ``AttributeError`` ("'ASGIRequest' object has no attribute
'environ'", a complaint of many projects and libraries). Under WSGI ``request.environ`` *is*
``request.META`` (the same dict), so ``request.environ`` becomes ``request.META``: the same
object under WSGI, and under ASGI the dict Django fills from the scope (``converted``)::

    ip = request.environ.get("HTTP_X_FORWARDED_FOR", request.environ["REMOTE_ADDR"])
    ip = request.META.get("HTTP_X_FORWARDED_FOR", request.META["REMOTE_ADDR"])

Under ASGI ``META`` holds the request line, the headers, ``CONTENT_*``, ``REMOTE_ADDR`` and
``SERVER_NAME``/``SERVER_PORT``, and what the app itself stores there; not the WSGI server's
keys (``wsgi.url_scheme``, ``wsgi.input``, ``SERVER_PROTOCOL``...).

``isinstance(request, WSGIRequest)``, False for every request under ASGI (Django makes an
``ASGIRequest`` there), becomes ``isinstance(request, (WSGIRequest, ASGIRequest))``
(``converted``; the same answer under WSGI, where no ``ASGIRequest`` is made).

A read of a key a WSGI server or middleware sets (:func:`_set_by_wsgi`), of
``request.environ`` or ``request.META``, gets a ``manual`` marker saying what to use instead
(unless the module stores that key itself); so does the environ handed on whole.

Applied to modules importing Django or defining a middleware, to ``request`` (a view's or a
middleware's parameter) and ``self.request`` (a class-based view's).
"""

from __future__ import annotations

import ast
import re
from typing import TypeVar

import libcst as cst

from migrate import analysis, prefilter
from migrate.cst_helpers import add_imports
from migrate.rules.base import ChangeKind, FileContext, Rule

_Statement = TypeVar("_Statement", bound=cst.BaseStatement)

#: CGI variables a WSGI server sets in the environ and Django does not under ASGI.
WSGI_SERVER_CGI = frozenset(
    {
        "SERVER_PROTOCOL", "SERVER_SOFTWARE", "GATEWAY_INTERFACE", "REQUEST_URI", "RAW_URI",
        "REMOTE_USER", "REMOTE_HOST", "REMOTE_PORT", "REMOTE_IDENT", "AUTH_TYPE", "HTTPS",
        "DOCUMENT_ROOT", "PATH_TRANSLATED",
    }
)  # fmt: skip
#: What to use under ASGI instead of a WSGI server's key.
INSTEAD = {
    "wsgi.url_scheme": "request.scheme",
    "wsgi.input": "request.body or reading request itself",
    "SERVER_PROTOCOL": 'request.scope["http_version"] under ASGI',
    "REMOTE_PORT": "request.META['REMOTE_PORT'], an int under ASGI (a str under WSGI)",
}
ENVIRON = (
    "request.environ exists only under WSGI (it is request.META there, the same dict): "
    "request.META is read instead"
)
#: A dotted key written as a string (``"wsgi.url_scheme"``, ``'repoze.who.identity'``).
_WSGI_KEY_TEXT = re.compile(r"""["'][\w-]+\.[\w.-]+["']""")
WSGI_REQUEST = "django.core.handlers.wsgi.WSGIRequest"
ASGI_REQUEST = "django.core.handlers.asgi.ASGIRequest"
ISINSTANCE = (
    "isinstance(request, WSGIRequest) is False for every request under ASGI: ASGIRequest, "
    "the request Django makes there, is checked too"
)
HANDED_ON = (
    "the request's environ is handed on whole: under ASGI request.META has no WSGI server "
    "keys (wsgi.url_scheme, wsgi.input, SERVER_PROTOCOL...); check what the callee reads"
)


def _wsgi_key_of_meta(node: ast.AST) -> bool:
    """``request.META["wsgi.url_scheme"]``, ``request.META.get("SERVER_PROTOCOL")`` (CPython's
    tree): a read of a key a WSGI server sets."""
    if isinstance(node, ast.Subscript):
        meta, key = node.value, node.slice
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
        meta, key = node.func.value, node.args[0]
    else:
        return False
    return (
        isinstance(meta, ast.Attribute)
        and meta.attr == "META"
        and _is_request_ast(meta.value)
        and isinstance(key, ast.Constant)
        and isinstance(key.value, str)
        and _set_by_wsgi(key.value)
    )


def _is_request_ast(node: ast.expr) -> bool:
    """``request`` or ``self.request`` (CPython's tree)."""
    if isinstance(node, ast.Attribute):
        return (
            node.attr == "request" and isinstance(node.value, ast.Name) and node.value.id == "self"
        )
    return isinstance(node, ast.Name) and node.id == "request"


def _is_request(node: cst.BaseExpression) -> bool:
    """``request`` or ``self.request``."""
    return analysis.dotted_name(node) in ("request", "self.request")


def _key_used(parent: cst.CSTNode | None, grand: cst.CSTNode | None) -> str:
    """The string key of the dict ``parent`` holds that is read or stored (``d["K"]``,
    ``d.get("K", ...)``, ``"K" in d``), "" for another use (the dict handed on whole)."""
    if isinstance(parent, cst.Subscript) and len(parent.slice) == 1:
        index = parent.slice[0].slice
        if isinstance(index, cst.Index):
            return analysis.string_value(index.value) or ""
    if (
        isinstance(parent, cst.Attribute)
        and parent.attr.value in ("get", "setdefault", "pop")
        and isinstance(grand, cst.Call)
        and grand.args
    ):
        return analysis.string_value(grand.args[0].value) or ""
    if (
        isinstance(parent, cst.ComparisonTarget)
        and isinstance(parent.operator, (cst.In, cst.NotIn))
        and isinstance(grand, cst.Comparison)
    ):
        return analysis.string_value(grand.left) or ""
    return ""


def _set_by_wsgi(key: str) -> bool:
    """A key a WSGI server or middleware sets, which Django does not under ASGI: an extension
    key (dotted, PEP 3333: ``wsgi.url_scheme``, ``gunicorn.socket``, ``repoze.who.identity``)
    or a CGI variable of :data:`WSGI_SERVER_CGI`. Other keys are the app's own."""
    return "." in key or key in WSGI_SERVER_CGI


def _stored_keys(module: cst.Module) -> frozenset[str]:
    """The keys the module stores in a request's environ or META (``request.META["K"] =
    ...``, ``.setdefault("K", ...)``): there under ASGI too."""
    keys = set()
    for node in analysis.walk(module):
        if isinstance(node, cst.AssignTarget) and isinstance(node.target, cst.Subscript):
            target = node.target
            if (
                isinstance(target.value, cst.Attribute)
                and target.value.attr.value in ("environ", "META")
                and _is_request(target.value.value)
            ):
                keys.add(_key_used(target, node))
        elif (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "setdefault"
            and isinstance(node.func.value, cst.Attribute)
            and node.func.value.attr.value in ("environ", "META")
            and _is_request(node.func.value.value)
        ):
            keys.add(_key_used(node.func, node))
    return frozenset(keys - {""})


class DjangoRequestRule(Rule):
    rule_id = "django-request"
    summary = (
        "Django: request.environ (WSGI only) becomes request.META, isinstance(request, "
        "WSGIRequest) checks ASGIRequest too; reads of keys META lacks under ASGI "
        "(wsgi.url_scheme, SERVER_PROTOCOL...) are marked."
    )

    @classmethod
    def might_apply(cls, source: str) -> bool:
        if "django" not in source and "get_response" not in source:
            return False
        if "request.environ" in source or "WSGIRequest" in source:
            return True
        # request.META is everywhere in Django code: only a WSGI server's key matters
        return "request.META" in source and (
            _WSGI_KEY_TEXT.search(source) is not None
            or any(key in source for key in WSGI_SERVER_CGI)
        )

    @classmethod
    def might_apply_to_tree(cls, tree: ast.Module, source: str) -> bool:
        # libcst's parse of a big module costs more than this walk: only a module that reads
        # a request's environ, a WSGI server's key of its META, or checks WSGIRequest
        for node in prefilter.walk_ast(tree):
            if isinstance(node, ast.Attribute) and _is_request_ast(node.value):
                if node.attr == "environ":
                    return True
            elif (isinstance(node, ast.Name) and node.id == "WSGIRequest") or _wsgi_key_of_meta(
                node
            ):
                return True
        return False

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self.stack: list[cst.CSTNode] = []  # the nodes the visit is in
        self.stored: frozenset[str] = frozenset()  # keys the module stores itself
        #: What the statement being left needs said: (kind, message).
        self.pending: list[tuple[ChangeKind, str]] = []
        self.outer: list[list[tuple[ChangeKind, str]]] = []  # of the statements around the block
        self.wsgi_request: set[str] = set()  # how the module spells Django's WSGIRequest
        self.asgi_request = ""  # and ASGIRequest ("": cannot name it)
        self.checks_asgi = False  # an isinstance check now names ASGIRequest

    def visit_Module(self, node: cst.Module) -> bool:
        if not _is_django_module(node):
            return False
        self.stored = _stored_keys(node)
        self.wsgi_request = set(analysis.import_spellings(node, frozenset({WSGI_REQUEST})))
        asgi_request = analysis.import_spellings(node, frozenset({ASGI_REQUEST}))
        self.asgi_request = next(iter(asgi_request), "")
        if not self.asgi_request and "ASGIRequest" not in analysis.module_level_bindings(node):
            self.asgi_request = "ASGIRequest"  # imported if a check needs it
        return True

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if self.checks_asgi and self.asgi_request == "ASGIRequest":
            return add_imports(updated_node, [(ASGI_REQUEST.rsplit(".", 1)[0], "ASGIRequest")])
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        """``isinstance(x, WSGIRequest)`` -> ``isinstance(x, (WSGIRequest, ASGIRequest))``."""
        if (
            not self.wsgi_request
            or not self.asgi_request
            or analysis.dotted_name(original_node.func) != "isinstance"
            or len(updated_node.args) != 2
        ):
            return updated_node
        classes = updated_node.args[1].value
        listed = (
            list(classes.elements) if isinstance(classes, cst.Tuple) else [cst.Element(classes)]
        )
        names = {analysis.dotted_name(e.value) for e in listed}
        if not names & self.wsgi_request or self.asgi_request in names:
            return updated_node
        self.checks_asgi = True
        self.pending.append(("converted", ISINSTANCE))
        listed = [e.with_changes(comma=cst.MaybeSentinel.DEFAULT) for e in listed]
        both = cst.Tuple([*listed, cst.Element(cst.parse_expression(self.asgi_request))])
        return updated_node.with_changes(
            args=[updated_node.args[0], updated_node.args[1].with_changes(value=both)]
        )

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)
        return super().on_visit(node)

    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode:
        try:
            new = super().on_leave(original_node, updated_node)
        finally:
            self.stack.pop()
        if isinstance(original_node, cst.BaseCompoundStatement) and isinstance(
            new, cst.BaseCompoundStatement
        ):  # what its header (an ``if``'s test) needs said
            return self._said(original_node, new)
        return new  # type: ignore[return-value]

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self.outer.append(self.pending)  # the header's, said when its statement is left
        self.pending = []

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        self.pending = self.outer.pop()
        return updated_node

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.Attribute:
        attr = original_node.attr.value
        if attr not in ("environ", "META") or not _is_request(original_node.value):
            return updated_node
        # the stack ends with this node: its parent, and the parent's parent
        parent = self.stack[-2] if len(self.stack) > 1 else None
        grand = self.stack[-3] if len(self.stack) > 2 else None
        key = _key_used(parent, grand)
        if key and _set_by_wsgi(key) and key not in self.stored and _is_read(parent, grand):
            hint = INSTEAD.get(key, "")
            self.pending.append(
                (
                    "manual",
                    f"under ASGI request.META has no {key!r}: Django fills it from the scope "
                    "(the request line, headers, CONTENT_*, REMOTE_ADDR, SERVER_NAME/PORT), "
                    "not from a WSGI server or middleware" + (f"; use {hint}" if hint else ""),
                )
            )
        if attr == "META":
            return updated_node
        self.pending.append(("converted", ENVIRON))
        if not key:
            self.pending.append(("manual", HANDED_ON))
        return updated_node.with_changes(attr=cst.Name("META"))

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement:
        return self._said(original_node, updated_node)

    def _said(self, original_node: cst.BaseStatement, new: _Statement) -> _Statement:
        """``new`` with the markers its pending changes need; the changes reported."""
        pending, self.pending = self.pending, []
        return self.report_all(original_node, new, pending)


def _is_read(parent: cst.CSTNode | None, grand: cst.CSTNode | None) -> bool:
    """The key is read, not stored (``d["K"] = v`` stores what the app reads back)."""
    if isinstance(parent, cst.Subscript) and isinstance(grand, cst.AssignTarget):
        return False
    return not (isinstance(parent, cst.Attribute) and parent.attr.value == "setdefault")


def _is_django_module(module: cst.Module) -> bool:
    """The module imports Django, or holds a Django middleware (a function taking
    ``get_response``: ``__init__(self, get_response)``), which needs no import."""
    return any(
        binding.module.split(".")[0] == "django"
        for binding in analysis.import_bindings(module).values()
    ) or any(
        isinstance(node, cst.Param) and node.name.value == "get_response"
        for node in analysis.walk(module)
    )
