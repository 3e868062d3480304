"""What every rule is: a libcst transformer with a stable id that records its changes.

A rule never prints and never touches the file system. The runner
(:mod:`migrate.runner`) parses a file once, hands the module to each selected
rule in registry order, and collects the :class:`Change` records they report.

Writing a rule::

    class MyRule(Rule):
        rule_id = "my-rule"
        summary = "One line for --list-rules."

        @classmethod
        def might_apply(cls, source: str) -> bool:
            return "environ" in source            # cheap, must never say False wrongly

        def leave_FunctionDef(self, original_node, updated_node):
            ...
            self.report(original_node, "converted", "WSGI app `app` is now ASGI")
            return new_node
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, TypeVar

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from migrate.analysis import statement_texts
from migrate.blocking.table import BlockingTable, active_table
from migrate.cst_children import TreeIndex
from migrate.cst_helpers import comments_of, with_marker
from migrate.markers import MARKER_RE, marker_comment

if TYPE_CHECKING:
    from migrate.project import ProjectIndex

__all__ = [
    "CHANGE_KINDS",
    "MARKER_RE",
    "Change",
    "ChangeKind",
    "FileContext",
    "NewFile",
    "Rule",
    "marker_comment",
]

ChangeKind = Literal["converted", "adapted", "manual"]
_Statement = TypeVar("_Statement", bound=cst.BaseStatement)
CHANGE_KINDS: tuple[ChangeKind, ...] = ("converted", "adapted", "manual")


@dataclass(frozen=True)
class Change:
    """One thing a rule did, as the summary and the JSON report show it."""

    rule: str
    line: int
    kind: ChangeKind
    message: str


@dataclass(frozen=True)
class NewFile:
    """A file a rule creates beside the one it migrates (Django's ``asgi.py`` beside its
    ``wsgi.py``). The runner drops it when a file of that name exists already."""

    rule: str
    #: The file's name, in the folder of the migrated file.
    name: str
    text: str
    kind: ChangeKind
    message: str


@dataclass
class FileContext:
    """What a rule may know about the file it is working on."""

    #: Path relative to the root the user named (posix separators), e.g. ``"app/wsgi.py"``.
    relpath: str
    #: Dotted module name guessed from ``relpath`` (``"app.wsgi"``), for messages and imports.
    module_name: str
    #: What the other modules of the run define (:mod:`migrate.project`), for rules that
    #: follow calls into them; None: no knowledge of other modules.
    project: ProjectIndex | None = None
    #: The text of the module the rule is given, for cheap text tests that spare a walk
    #: over its tree ("" when unknown: such a test must then not skip anything).
    source: str = ""
    #: A line of that text -> the same line in the file as it was before the run (earlier
    #: rules may have inserted markers above it); None: the text is the file's.
    original_line: Callable[[int], int] | None = None
    #: The blocking-call table of the run (the project's ``[tool.wsgi2asgi] blocking`` and
    #: ``non_blocking`` lists before the built-in ones, :mod:`migrate.blocking.table`).
    blocking: BlockingTable = field(default_factory=active_table)
    #: The ids of the rules this run runs (an opt-in rule's work is another's business only
    #: when it runs).
    run_rules: frozenset[str] = frozenset()


class Rule(cst.CSTTransformer):
    """Base class of every rule: a libcst transformer with a stable id.

    Subclasses set :attr:`rule_id` and :attr:`summary`, implement
    :meth:`might_apply`, and call :meth:`report` for every change they make.
    """

    # No metadata by default: positions are worked out only for a module where something is
    # reported (:meth:`line_of`). Most modules the prefilters let through hold nothing to
    # convert, and on a big one (Django's tests) positions cost more than the rule itself;
    # a per-file time limit running out inside libcst's position code also surfaced as a
    # bogus ``KeyError: IndentedBlock(...)`` "crash" (libcst's ``finally`` hides the timeout).
    METADATA_DEPENDENCIES = ()

    #: Stable id used by --select/--ignore, in markers and in the report. Never rename.
    rule_id: ClassVar[str]
    #: One line for ``--list-rules``.
    summary: ClassVar[str]
    #: Ids of rules that must run in the same run (selecting this rule without them is an error).
    requires: ClassVar[tuple[str, ...]] = ()
    #: Runs only when asked for (``--enable``/``--select``): a rewrite that is native but, as
    #: measured, serves slower than the adapter it replaces (see the README).
    opt_in: ClassVar[bool] = False

    def __init__(self, context: FileContext) -> None:
        super().__init__()
        self.context = context
        self.changes: list[Change] = []
        #: Files to create beside this one (:meth:`create_beside`).
        self.new_files: list[NewFile] = []
        self._visited_module: cst.Module | None = None
        self._positions: Mapping[cst.CSTNode, CodeRange] | None = None
        self._statement_lines: dict[int, int] | None = None
        self._tree: TreeIndex | None = None

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Module) and self._visited_module is None:
            self._visited_module = node
        return super().on_visit(node)

    @classmethod
    def might_apply(cls, source: str) -> bool:
        """A cheap text test run before parsing.

        It must be a superset of what the rule matches: returning False for a
        file the rule would change is a bug (the file would be silently skipped).
        """
        raise NotImplementedError

    @classmethod
    def claims(cls, relpath: str, source: str) -> bool:
        """This rule takes the whole file: the other rules leave it alone (Django's
        ``wsgi.py``, which keeps serving WSGI while the rule writes its ``asgi.py``). A cheap
        test, like :meth:`might_apply`. The default claims nothing."""
        return False

    @classmethod
    def might_apply_to_tree(cls, tree: ast.Module, source: str) -> bool:
        """A second, sharper prefilter on CPython's AST of the file (which the runner parses
        anyway, to report files that do not parse): run only when :meth:`might_apply` said yes.
        ``source`` is the text the tree was parsed from.

        Same contract: a superset of what the rule matches. The default says yes.
        """
        return True

    def line_of(self, node: cst.CSTNode) -> int:
        """1-based line where ``node`` starts, in the file as it was before the run (what
        the summary, the report and the rules' messages point to)."""
        line = self._line_in_module(node)
        to_original = self.context.original_line
        return line if to_original is None else to_original(line)

    def _line_in_module(self, node: cst.CSTNode) -> int:
        """1-based line where ``node`` starts in the module this rule was given."""
        if PositionProvider in self.metadata:  # the rule declared it
            return self.get_metadata(PositionProvider, node).start.line
        assert self._visited_module is not None, "line_of before the module was visited"
        if self._statement_lines is None:
            self._statement_lines = statement_lines(self._visited_module)
        line = self._statement_lines.get(id(node))
        if line is not None:
            return line
        tree = self.tree_index()
        top: cst.CSTNode | None = node
        while top is not None and (parent := tree.parent(top)) is not self._visited_module:
            top = parent
        if top is not None and id(top) in self._statement_lines:
            # the positions in its module-level statement alone, not in the whole module
            # (libcst's PositionProvider costs a fifth of a second on 2,000 lines)
            offset = nested_line_offsets(self._visited_module, top).get(node)
            if offset is not None:
                return self._statement_lines[id(top)] + offset
        if self._positions is None:
            # the module itself, not a copy: the nodes the rule holds are its nodes
            wrapper = MetadataWrapper(self._visited_module, unsafe_skip_copy=True)
            self._positions = wrapper.resolve(PositionProvider)
        return self._positions[node].start.line

    def tree_index(self) -> TreeIndex:
        """The parents and source order of the module this rule was given (built once)."""
        assert self._visited_module is not None, "tree_index before the module was visited"
        if self._tree is None or self._tree.root is not self._visited_module:
            self._tree = TreeIndex(self._visited_module)
        return self._tree

    def create_beside(self, name: str, text: str, kind: ChangeKind, message: str) -> None:
        """Create the file ``name`` in this file's folder with ``text`` (reported as a change
        at its line 1), unless a file of that name exists already."""
        self.new_files.append(NewFile(self.rule_id, name, text, kind, message))

    def report(self, node: cst.CSTNode, kind: ChangeKind, message: str) -> None:
        """Record a change made at ``node`` (an *original* node, which has position metadata)."""
        self.changes.append(Change(self.rule_id, self.line_of(node), kind, message))

    def report_all(
        self, original: cst.BaseStatement, new: _Statement, changes: list[tuple[ChangeKind, str]]
    ) -> _Statement:
        """Report ``changes`` (each once) at the statement ``original``; ``new`` (what it
        became) with a marker above it for each ``manual`` one, unless a run marked it so
        already (then that change is neither marked again nor reported)."""
        for kind, message in dict.fromkeys(changes):
            if kind == "manual":
                comment = marker_comment(self.rule_id, message)
                if comment in comments_of(original):
                    continue  # marked by an earlier run
                new = with_marker(new, comment)  # type: ignore[assignment]
            self.report(original, kind, message)
        return new


def statement_lines(module: cst.Module) -> dict[int, int]:
    """The line where each module-level statement of ``module`` starts (by ``id``), as
    libcst's PositionProvider gives it (a decorated definition starts at ``def``/``class``).

    Most changes are reported at module-level statements, and this costs one code
    generation of the module, where the PositionProvider costs six times as much (a fifth
    of a second on a module of 2,000 lines): it records a position for every node.
    """
    lines: dict[int, int] = {}
    line = 1 + len(module.header)  # an EmptyLine is one line
    texts = statement_texts(module)
    for stmt in module.body:
        offset = len(stmt.leading_lines)
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            offset += sum(_line_ends(module.code_for_node(d)) for d in stmt.decorators)
            offset += len(stmt.lines_after_decorators)
        lines[id(stmt)] = line + offset
        line += _line_ends(texts[id(stmt)])
    return lines


def nested_line_offsets(module: cst.Module, statement: cst.CSTNode) -> Mapping[cst.CSTNode, int]:
    """For each node under the module-level ``statement`` of ``module``: how many lines below
    the statement's first line it starts, as libcst's PositionProvider would tell in the whole
    module (remembered for the last statement asked about)."""
    if _OFFSETS and _OFFSETS[0][0] is statement:
        return _OFFSETS[0][1]
    alone = cst.Module(
        body=[statement],  # type: ignore[list-item]  # a module-level statement of module
        default_indent=module.default_indent,
        default_newline=module.default_newline,
    )
    positions = MetadataWrapper(alone, unsafe_skip_copy=True).resolve(PositionProvider)
    first = positions[statement].start.line
    offsets = {node: where.start.line - first for node, where in positions.items()}
    _OFFSETS[:] = [(statement, offsets)]
    return offsets


_OFFSETS: list[tuple[cst.CSTNode, Mapping[cst.CSTNode, int]]] = []


def _line_ends(code: str) -> int:
    # "\r\n", "\n" and a lone "\r" each end a line, as for the PositionProvider
    return code.count("\n") + code.count("\r") - code.count("\r\n")
