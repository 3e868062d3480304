"""libcst helpers shared by rules: adding imports and recognising our own markers."""

from __future__ import annotations

import libcst as cst

from migrate.markers import MARKER_RE


def add_imports(module: cst.Module, imports: list[tuple[str, str | None]]) -> cst.Module:
    """Add ``import module`` (name None) or ``from module import name``, unless already there.

    Imports go after the module docstring and ``__future__`` imports, like a person would put them.
    """
    if not imports:
        return module
    # Imported here: libcst.codemod pulls in libcst.matchers, a fifth of a second that runs
    # over files no rule changes should not pay.
    from libcst.codemod import CodemodContext
    from libcst.codemod.visitors import AddImportsVisitor

    context = CodemodContext()
    for module_name, obj in imports:
        AddImportsVisitor.add_needed_import(context, module_name, obj)
    return AddImportsVisitor(context).transform_module(module)


def comments_of(node: cst.CSTNode) -> list[str]:
    """The comments attached to a statement: its leading lines and, for a one-line
    statement, its trailing comment."""
    texts: list[str] = []
    leading = getattr(node, "leading_lines", ())
    texts.extend(line.comment.value for line in leading if line.comment is not None)
    if isinstance(node, cst.SimpleStatementLine) and node.trailing_whitespace.comment:
        texts.append(node.trailing_whitespace.comment.value)
    return texts


def has_marker(
    node: cst.CSTNode, rule_id: str | None = None, *, module: cst.Module | None = None
) -> bool:
    """True if ``node`` already carries a ``# migrate[rule]:`` marker (of ``rule_id`` if given).

    Pass ``module`` when ``node`` may be the module's first statement: libcst keeps the
    comments above the first statement in ``module.header``, not on the statement.
    """
    texts = comments_of(node)
    if module is not None and module.body and module.body[0] is node:
        texts = [*(line.comment.value for line in module.header if line.comment), *texts]
    for text in texts:
        match = MARKER_RE.match(text)
        if match and (rule_id is None or match.group("rule") == rule_id):
            return True
    return False


def with_marker(node: cst.BaseStatement, comment: str) -> cst.BaseStatement:
    """``node`` with a marker comment line added above it (never a second identical one)."""
    if comment in comments_of(node):
        return node
    if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        line = cst.EmptyLine(comment=cst.Comment(comment))
        return node.with_changes(leading_lines=[*node.leading_lines, line])
    return node
