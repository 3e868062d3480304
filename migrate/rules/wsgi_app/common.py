"""Shared pieces of the rule: names of the generated code, the refusal, small code builders."""

from __future__ import annotations

import libcst as cst

from migrate.cst_helpers import HELPERS as HELPERS  # the rule's modules take it from here

_LATIN1 = frozenset({"latin-1", "latin1", "iso-8859-1", "iso8859-1", "l1"})
_UTF8 = frozenset({"utf-8", "utf8"})


class Unconvertible(Exception):
    """The rewrite cannot be shown equivalent; the message says why."""


def _expr(text: str) -> cst.BaseExpression:
    return cst.parse_expression(text)


def _stmt(text: str) -> cst.BaseStatement:
    return cst.parse_statement(text)


def _quoted(text: str) -> str:
    """``text`` as a string literal, in double quotes where it can be."""
    return f'"{text}"' if text.isprintable() and not set(text) & {'"', "\\"} else repr(text)


def _is_text(node: cst.BaseExpression) -> bool:
    """A ``str`` literal (``"ok"``, an f-string): a body chunk no WSGI server sends (it
    answers 500 before the headers go out), where ASGI servers fail after the start."""
    if isinstance(node, cst.SimpleString):
        return "b" not in node.prefix.lower()
    if isinstance(node, cst.FormattedString):
        return True
    if isinstance(node, cst.ConcatenatedString):
        return _is_text(node.left)
    return False


def _is_safe(node: cst.BaseExpression) -> bool:
    """Expressions treated as unable to raise: literals, names, attribute reads, f-strings,
    ``str()``/``range()``/``.encode()`` of those. Code the rule moves past the response
    start must be safe."""
    if isinstance(
        node,
        (cst.SimpleString, cst.ConcatenatedString, cst.Integer, cst.Float, cst.Name),
    ):
        return True
    if isinstance(node, cst.Attribute):
        return _is_safe(node.value)
    if isinstance(node, (cst.List, cst.Tuple)):
        return all(isinstance(e, cst.Element) and _is_safe(e.value) for e in node.elements)
    if isinstance(node, cst.FormattedString):
        return all(
            isinstance(p, cst.FormattedStringText)
            or (
                isinstance(p, cst.FormattedStringExpression)
                and p.format_spec is None
                and _is_safe(p.expression)
            )
            for p in node.parts
        )
    if isinstance(node, cst.Call):
        args_ok = all(a.keyword is None and not a.star and _is_safe(a.value) for a in node.args)
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "encode":
            return args_ok and _is_safe(node.func.value)
        if isinstance(node.func, cst.Name) and node.func.value in ("str", "range"):
            return args_ok
    return False


def _small(text: str) -> cst.BaseSmallStatement:
    stmt = _stmt(text)
    assert isinstance(stmt, cst.SimpleStatementLine)
    return stmt.body[0]


def _with_last(block: cst.BaseSuite, stmt: cst.BaseStatement) -> cst.BaseSuite:
    """``block`` with ``stmt`` appended."""
    if isinstance(block, cst.IndentedBlock):
        return block.with_changes(body=[*block.body, stmt])
    assert isinstance(block, cst.SimpleStatementSuite)  # ``if x: yield y`` on one line
    return cst.IndentedBlock(body=[cst.SimpleStatementLine(body=block.body), stmt])
