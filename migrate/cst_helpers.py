"""libcst helpers shared by rules: adding imports and recognising our own markers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import libcst as cst

from migrate.analysis import dotted_name
from migrate.markers import MARKER_RE

#: How the code the WSGI rules write names ``adapters.asgi_helpers`` (``from adapters import
#: asgi_helpers``).
HELPERS = "asgi_helpers"
_EMPTY = cst.Module(body=[])


def code_of(node: cst.CSTNode) -> str:
    """The source of ``node`` (default formatting of a module: 4 spaces, ``\n``)."""
    return _EMPTY.code_for_node(node)


def add_imports(module: cst.Module, imports: list[tuple[str, str | None]]) -> cst.Module:
    """Add ``import module`` (name None) or ``from module import name``, unless already there.

    What libcst's ``AddImportsVisitor`` does with such imports (a test holds the two to the
    same output), without its walk over the whole module and the fifth of a second its
    import costs: only the block of imports at the top counts as already imported; a name
    from a module that block imports from joins that statement; the other imports go at
    the end of the block (after the docstring), ``import`` ones first, sorted.
    """
    modules = {name for name, obj in imports if obj is None}
    objects: dict[str, set[str]] = {}
    for name, obj in sorted(imports, key=lambda item: (item[0], item[1] or "")):
        if obj is not None:
            objects.setdefault(name, set()).add(obj)
    body = list(module.body)
    start = 1 if _docstring_first(module) else 0
    end = start
    while end < len(body) and _import_of(body[end]) is not None:
        end += 1
    for index in range(start, end):  # what the top block imports already
        node = _import_of(body[index])
        if isinstance(node, cst.Import):
            modules -= {dotted_name(a.name) for a in node.names if a.asname is None}
        elif isinstance(node, cst.ImportFrom) and not node.relative and node.module is not None:
            source = dotted_name(node.module)
            if isinstance(node.names, cst.ImportStar):
                objects.pop(source, None)
            elif source in objects:
                objects[source] -= {dotted_name(a.name) for a in node.names if a.asname is None}
                if not objects[source]:
                    del objects[source]
    for index in range(start, end):  # names from a module the block imports from join it
        node = _import_of(body[index])
        if (
            isinstance(node, cst.ImportFrom)
            and not isinstance(node.names, cst.ImportStar)
            and not node.relative
            and node.module is not None
            and dotted_name(node.module) in objects
        ):
            added = [
                cst.ImportAlias(cst.Name(n)) for n in sorted(objects.pop(dotted_name(node.module)))
            ]
            line = body[index]
            assert isinstance(line, cst.SimpleStatementLine)
            body[index] = line.with_changes(body=[node.with_changes(names=[*added, *node.names])])
    if not modules and not objects:
        return module.with_changes(body=body)
    config = module.config_for_parsing
    new = [cst.parse_statement(f"import {name}", config) for name in sorted(modules)]
    new += [
        cst.parse_statement(f"from {name} import {', '.join(sorted(names))}", config)
        for name, names in objects.items()
    ]
    after = body[end:]
    if after:  # a blank line between the imports and what follows them
        first = after[0]
        if not first.leading_lines or first.leading_lines[0].comment is not None:
            after[0] = first.with_changes(leading_lines=[cst.EmptyLine(), *first.leading_lines])
    return module.with_changes(body=[*body[:end], *new, *after])


def remove_unused_imports(
    module: cst.Module, imports: Iterable[tuple[str, str | None]], asname: str | None = None
) -> cst.Module:
    """``module`` without those of ``imports`` (module, name or None for ``import module``)
    that nothing uses any more (libcst's ``RemoveImportsVisitor``), imported as ``asname``
    if given."""
    # imported here: libcst.codemod is slow to import, and most runs never need it
    from libcst.codemod import CodemodContext
    from libcst.codemod.visitors import RemoveImportsVisitor

    context = CodemodContext()
    for module_name, obj in sorted(imports, key=lambda i: (i[0], i[1] or "")):
        RemoveImportsVisitor.remove_unused_import(context, module_name, obj, asname)
    return RemoveImportsVisitor(context).transform_module(module)


def _docstring_first(module: cst.Module) -> bool:
    """The module starts with a docstring (a plain string) or a ``__strict__`` flag."""
    small = single_statement(module.body[0]) if module.body else None
    if isinstance(small, cst.Expr):
        return isinstance(small.value, cst.SimpleString)
    return (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and small.targets[0].target.value == "__strict__"
    )


def _import_of(statement: cst.BaseStatement) -> cst.Import | cst.ImportFrom | None:
    """The import a line holds alone (``import x`` / ``from x import y``), else None."""
    small = single_statement(statement)
    return small if isinstance(small, (cst.Import, cst.ImportFrom)) else None


def single_statement(stmt: cst.CSTNode) -> cst.BaseSmallStatement | None:
    """The small statement of a line that holds one alone (``x = 1``), else None."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        return stmt.body[0]
    return None


def is_docstring(stmt: cst.BaseStatement) -> bool:
    """A line holding a string alone (a docstring where it stands first)."""
    small = single_statement(stmt)
    return isinstance(small, cst.Expr) and isinstance(
        small.value, (cst.SimpleString, cst.ConcatenatedString)
    )


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


def keyword_arg(name: str, value: cst.BaseExpression) -> cst.Arg:
    """``name=value`` (no spaces around ``=``, as a keyword argument is written)."""
    tight = cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))
    return cst.Arg(value, keyword=cst.Name(name), equal=tight)


def with_arg(args: Sequence[cst.Arg], arg: cst.Arg) -> list[cst.Arg]:
    """``args`` and ``arg`` after them, the last one's comma written ``, ``."""
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return [*args[:-1], *(a.with_changes(comma=comma) for a in args[-1:]), arg]


def paren_await(node: cst.BaseExpression) -> cst.BaseExpression:
    """``(await x)`` where ``await x`` is the value of an attribute, subscript or call."""
    if isinstance(node, cst.Await) and not node.lpar:
        return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return node


class ReplaceNodes(cst.CSTTransformer):
    """Swaps nodes by identity: ``{id(original): new}``, for nodes of the tree it visits
    (a rule finds and reports on the original nodes, then rewrites them in one pass)."""

    def __init__(self, replacements: dict[int, cst.CSTNode]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode:
        return self.replacements.get(id(original_node), updated_node)


def suite_statements(suite: cst.BaseSuite) -> list[cst.BaseStatement]:
    """The statements of a block, a one-line suite (``if x: return y``) as one statement each."""
    if isinstance(suite, cst.IndentedBlock):
        return list(suite.body)
    assert isinstance(suite, cst.SimpleStatementSuite)
    return [cst.SimpleStatementLine(body=[s]) for s in suite.body]


class OwnScopeTransformer(cst.CSTTransformer):
    """A transformer that stays in the scope it is given: nested functions, classes and
    lambdas are scopes of their own, left as they are."""

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


class EnvironFromScope(cst.CSTTransformer):
    """``owner.attribute`` (Falcon's ``req.env``, Flask's ``request.environ``) → the environ a
    WSGI server would give, built from the ASGI request's scope once per request:
    ``adapters.scope_environ(owner.scope)`` (the plans let through only reads of the keys
    the scope gives: :func:`migrate.frameworks.environ_reads`)."""

    def __init__(self, owners: frozenset[str], attribute: str) -> None:
        super().__init__()
        self.owners, self.attribute = owners, attribute
        self.reads = 0

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        owner = updated_node.value
        if (
            isinstance(owner, cst.Name)
            and owner.value in self.owners
            and updated_node.attr.value == self.attribute
        ):
            self.reads += 1
            return cst.parse_expression(f"adapters.scope_environ({owner.value}.scope)")
        return updated_node


#: What :class:`EnvironFromScope`'s rewrite imports.
ENVIRON_IMPORTS: list[tuple[str, str | None]] = [("adapters", None)]
