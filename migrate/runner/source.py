"""One source text through the rules: prefilter, parse once, transform, verify
(:func:`migrate_source`, :func:`migrate_sources`)."""

from __future__ import annotations

import ast
import bisect
import dataclasses
import difflib
import re
import symtable
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper

from migrate import analysis
from migrate.frameworks.django import async_views, might_have_async_views
from migrate.frameworks.falcon import facts_of, might_use_falcon
from migrate.frameworks.falcon import plan as falcon_plan
from migrate.frameworks.flask import facts_of as flask_facts
from migrate.frameworks.flask import might_use_flask
from migrate.frameworks.flask import plan as flask_plan
from migrate.project import (
    Delegation,
    ModuleSummary,
    ProjectIndex,
    might_summarize,
    summarize,
    table_delegations,
    wsgi_delegations,
)
from migrate.rules import Change, FileContext, Rule
from migrate.rules.base import NewFile
from migrate.runner.results import FileTimeout, MigrationError, SourceResult, _stage
from migrate.runner.rule_selection import _resolve_rules


def module_name_for(relpath: str) -> str:
    """``app/wsgi.py`` -> ``app.wsgi``; ``pkg/__init__.py`` -> ``pkg``."""
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    if parts and parts[-1].endswith(".py"):
        parts[-1] = parts[-1][:-3]
    if len(parts) > 1 and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


_LIBCST_ERROR_AT = re.compile(r"(?:parser error: )?error at (\d+):(\d+): (.*)", re.DOTALL)


def _describe_parse_error(exc: cst.ParserSyntaxError) -> str:
    """``syntax error at line 3, column 5: expected one of ...`` (libcst's own position
    prefix is more precise than its ``raw_line``, so it is used when present)."""
    line, column, message = exc.raw_line, exc.raw_column + 1, exc.message
    match = _LIBCST_ERROR_AT.match(message)
    if match:
        line, column, message = int(match[1]), int(match[2]) + 1, match[3]
    if len(message) > 120:
        message = message[:117] + "..."
    return f"syntax error at line {line}, column {column}: {message}"


def _parse(source: str) -> cst.Module:
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        # CPython's messages and positions are the ones people know ("'(' was never
        # closed" at the right line); libcst's is the fallback for syntax only it refuses.
        cpython_error = _cpython_syntax_error(source)
        if cpython_error is not None:
            raise MigrationError(cpython_error) from None
        raise MigrationError(
            _describe_parse_error(exc) + " (valid Python, but libcst cannot parse it)"
        ) from None
    except RecursionError:
        raise MigrationError("too deeply nested to parse") from None


#: The file name our syntax checks compile under. Warnings the compiler emits for user code
#: ("invalid escape sequence") are not ours to print; they are silenced by one filter on
#: this name, as ``warnings.catch_warnings`` per file costs a tenth of the compile time.
_CHECK_FILENAME = "<migrate-syntax-check>"
warnings.filterwarnings("ignore", module=re.escape(_CHECK_FILENAME))


def _cpython_syntax_error(source: str) -> str | None:
    try:
        compile(source, _CHECK_FILENAME, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
        return f"syntax error at {where}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"cannot parse: {type(exc).__name__}: {exc}"
    return None


def _compile_error(source: str) -> str | None:
    """None if CPython compiles ``source``, else why not."""
    try:
        compile(source, _CHECK_FILENAME, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"{exc.msg} at line {exc.lineno}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def describe_exception(exc: BaseException, limit: int = 160) -> str:
    """``KeyError: 'x' (at wsgi_app.py:123 in leave_Call)``: one short line.

    An exception's text can be huge (a KeyError on a CST node prints the whole subtree),
    and the summary and the report are read by people.
    """
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"


def _might_apply(rule: type[Rule], source: str) -> bool:
    _stage[0] = f"the prefilter of rule {rule.rule_id}"
    try:
        return rule.might_apply(source)
    except Exception as exc:
        raise MigrationError(
            f"rule {rule.rule_id} crashed in might_apply: {describe_exception(exc)}"
        ) from exc


def _caused_by_timeout(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, FileTimeout):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _might_apply_to_tree(rule: type[Rule], tree: ast.Module, source: str) -> bool:
    _stage[0] = f"the shape prefilter of rule {rule.rule_id}"
    try:
        return rule.might_apply_to_tree(tree, source)
    except Exception as exc:
        raise MigrationError(
            f"rule {rule.rule_id} crashed in might_apply_to_tree: {describe_exception(exc)}"
        ) from exc


def _check_syntax(source: str) -> None:
    """Raise MigrationError when ``source`` does not parse.

    The cheapest complete check CPython offers: building the symbol table parses the file
    without making Python objects of its AST (about 40% cheaper than ``ast.parse``), which
    matters as every file of the tree goes through it. It also refuses a few things the
    grammar allows (``nonlocal`` at module level); those files are parsed again to tell.
    """
    try:
        symtable.symtable(source, _CHECK_FILENAME, "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        if _cpython_tree(source) is None:
            _parse(source)  # the verdict and the message come from libcst, as for other files


def _cpython_tree(source: str) -> ast.Module | None:
    """CPython's AST of ``source``, or None when CPython cannot parse it."""
    try:
        tree = compile(source, _CHECK_FILENAME, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return tree if isinstance(tree, ast.Module) else None


def _prefilter(
    source: str, rules: Sequence[type[Rule]], *, want_tree: bool = False
) -> tuple[list[type[Rule]], ast.Module | None]:
    """The rules that pass both prefilter stages on ``source`` (they need a libcst parse),
    and CPython's AST of it when one was built (always with ``want_tree``, if it parses).
    Raises MigrationError when the file does not parse."""
    candidates = [rule for rule in rules if _might_apply(rule, source)]
    _stage[0] = "checking the syntax"
    if not candidates and not want_tree:
        _check_syntax(source)
        return [], None
    tree = _cpython_tree(source)
    if tree is None:
        _parse(source)  # the verdict and the message come from libcst, as for other files
        return candidates, None  # valid to libcst: its rules get their chance
    return [rule for rule in candidates if _might_apply_to_tree(rule, tree, source)], tree


def _summary_of(source: str, relpath: str, tree: ast.Module | None) -> ModuleSummary | None:
    """What the module tells the others of the run (see :mod:`migrate.project`)."""
    if tree is None or not might_summarize(source):
        return None
    _stage[0] = "summarizing the module"
    return summarize(relpath, module_name_for(relpath), tree, source)


def _transform(
    source: str,
    rules: Sequence[type[Rule]],
    context: FileContext,
    prefiltered: Sequence[type[Rule]] | None = None,
) -> SourceResult:
    """Parse once, run every rule whose prefilter matches, verify the output. Raises
    MigrationError. ``prefiltered``: the rules that passed the prefilters on ``source``,
    when the caller ran them already (they are not run again)."""
    try:
        return _run_rules(source, rules, context, prefiltered)
    finally:
        analysis.forget_trees()  # what the rules' analyses remembered of this file's tree


def _run_rules(
    source: str,
    rules: Sequence[type[Rule]],
    context: FileContext,
    prefiltered: Sequence[type[Rule]] | None = None,
) -> SourceResult:
    # A libcst parse is the expensive part and most files need none. Two prefilter stages
    # come first: the rules' text tests, then their shape tests on CPython's AST. CPython's
    # parser (about 20x faster than libcst) runs on every file anyway, so that a file which
    # does not parse is reported whether or not a rule would touch it.
    context = dataclasses.replace(context, run_rules=frozenset(r.rule_id for r in rules))
    claiming = [rule for rule in rules if rule.claims(context.relpath, source)]
    if claiming:  # the file is theirs alone
        rules = claiming
    candidates = _prefilter(source, rules)[0] if prefiltered is None else prefiltered
    candidates = [rule for rule in candidates if rule in rules]
    if not candidates:
        return SourceResult(source, [])
    _stage[0] = "parsing"
    # A freshly parsed tree has no shared nodes, so the wrapper's defensive deep copy is not
    # needed; one wrapper (and its computed positions) serves every rule until one changes
    # the code, after which the next rule gets a fresh parse of the new text.
    wrapper: MetadataWrapper | None = MetadataWrapper(_parse(source), unsafe_skip_copy=True)
    changes: list[Change] = []
    new_files: list[NewFile] = []
    rules_run: list[str] = []
    current = source
    for rule_class in rules:
        # A rule the prefilters passed over runs after all if an earlier rule wrote what its
        # prefilters match.
        if rule_class not in candidates and (
            current == source or not _passes_prefilters(rule_class, current)
        ):
            continue
        if wrapper is None:  # an earlier rule changed the code: this one gets its tree
            wrapper = _reparse(current, rules_run)
        rules_run.append(rule_class.rule_id)
        _stage[0] = f"rule {rule_class.rule_id}"
        try:
            # a rule after one that changed the file reads the new text, but its lines are
            # reported in the file's
            original_line = None if current == source else _original_lines(current, source)
            rule = rule_class(
                dataclasses.replace(context, source=current, original_line=original_line)
            )
            transformed = wrapper.visit(rule)
            # a rule with nothing to do hands its module back as it got it: that is the text
            # it was parsed from (libcst's round trip is exact), without a code generation
            code = current if transformed is wrapper.module else transformed.code
        except Exception as exc:
            if _caused_by_timeout(exc):  # libcst's own cleanup can turn our timeout into a KeyError
                raise FileTimeout from exc
            raise MigrationError(
                f"rule {rule_class.rule_id} crashed: {describe_exception(exc)}"
            ) from exc
        changes.extend(rule.changes)
        new_files.extend(rule.new_files)
        if code != current:
            current = code
            wrapper = None  # parsed again only if another rule runs
    if current != source:
        # The guarantee "every written file parses": CPython's compiler checks the new code
        # when the original compiled (it also catches e.g. `await` outside `async def`,
        # which parses); else libcst's parser, as for the rules after the first.
        _stage[0] = "verifying the new code"
        problem = _compile_error(current)
        if problem is not None and _compile_error(source) is None:
            raise MigrationError(
                f"rules {', '.join(rules_run)} produced code that does not compile "
                f"({problem}); file left alone"
            )
        if problem is not None and wrapper is None:
            _reparse(current, rules_run)
    return SourceResult(
        current, changes, rules_run, new_files, new_source_differs=current != source
    )


def _original_lines(changed: str, original: str) -> Callable[[int], int]:
    """Line numbers of ``changed`` (what rules made of ``original``) -> those of
    ``original``: a line the rules kept maps to itself, one they wrote to the first line of
    what it replaces. The summary and the report point into the file as it is on disk
    before the run (markers that earlier rules inserted above would shift them)."""
    blocks: list[tuple[str, int, int, int, int]] = []  # (tag, changed from/to, original ...)
    starts: list[int] = []

    def to_original(line: int) -> int:
        if not starts:  # worked out when a rule first reports a line (most report none)
            matcher = difflib.SequenceMatcher(
                None, changed.splitlines(), original.splitlines(), autojunk=False
            )
            blocks.extend(matcher.get_opcodes())
            starts.extend(block[1] for block in blocks)
        if not blocks:
            return line
        tag, start, _, original_start, original_end = blocks[
            max(0, bisect.bisect_right(starts, line - 1) - 1)
        ]
        if tag == "equal":
            return original_start + (line - 1 - start) + 1
        return min(original_start, max(0, original_end - 1)) + 1

    return to_original


def _passes_prefilters(rule: type[Rule], code: str) -> bool:
    if not _might_apply(rule, code):
        return False
    tree = _cpython_tree(code)
    # conservatively, code CPython cannot parse goes to the rule (libcst may parse it)
    return tree is None or _might_apply_to_tree(rule, tree, code)


def _reparse(code: str, rules_run: Sequence[str]) -> MetadataWrapper:
    """libcst's tree of what ``rules_run`` made of the file. Raises MigrationError when it
    does not parse."""
    _stage[0] = "verifying the new code"
    try:
        return MetadataWrapper(cst.parse_module(code), unsafe_skip_copy=True)
    except cst.ParserSyntaxError as exc:
        raise MigrationError(
            f"rules {', '.join(rules_run)} produced code that does not parse "
            f"({_describe_parse_error(exc)}); file left alone"
        ) from None


def migrate_source(
    source: str,
    rule_ids: Sequence[str] | None = None,
    *,
    rules: Sequence[type[Rule]] | None = None,
    relpath: str = "example.py",
    project: ProjectIndex | None = None,
) -> SourceResult:
    """Run rules over ``source`` and return ``.new_source`` and ``.changes``.

    ``rule_ids`` selects registered rules by id (default: all, in registry order);
    ``rules`` passes rule classes directly (for rules not registered yet). The rules'
    prefilter applies, as in a real run. Raises :class:`MigrationError` when the
    source does not parse, a rule crashes or the output does not parse.

    Example (in a rule's test)::

        result = migrate_source(code, ["wsgi-app"])
        assert result.new_source == expected
        assert [c.kind for c in result.changes] == ["converted"]
    """
    selected = _resolve_rules(rule_ids, rules)
    return _transform(
        source, selected, FileContext(relpath, module_name_for(relpath), project=project)
    )


def migrate_sources(
    sources: Mapping[str, str],
    rule_ids: Sequence[str] | None = None,
    *,
    rules: Sequence[type[Rule]] | None = None,
) -> dict[str, SourceResult]:
    """Run rules over several modules of one project (``relpath -> source``), each knowing
    what the others define (:class:`~migrate.project.ProjectIndex`): what a run over their
    folder does, in this process. Raises :class:`MigrationError` as :func:`migrate_source`.

    Example::

        results = migrate_sources({"app.py": app_code, "http_utils.py": helpers_code})
        assert [c.kind for c in results["app.py"].changes] == ["converted", ...]
    """
    selected = _resolve_rules(rule_ids, rules)
    trees = {relpath: _cpython_tree(source) for relpath, source in sources.items()}
    summaries = [
        summary
        for relpath, source in sources.items()
        if (summary := _summary_of(source, relpath, trees[relpath])) is not None
    ]  # a source that does not parse is reported by its own _transform below
    callers = {
        relpath: wsgi_delegations(tree) for relpath, tree in trees.items() if tree is not None
    }
    callers = _with_table_delegations(callers, sources, trees.get)
    index = ProjectIndex.from_summaries(summaries, sources, callers)
    index.falcon = falcon_plan(
        (
            facts_of(relpath, tree)
            for relpath, tree in trees.items()
            if tree is not None and might_use_falcon(sources[relpath])
        ),
        index.files,
        trees.get,
    )
    index.flask = flask_plan(
        (
            flask_facts(relpath, tree)
            for relpath, tree in trees.items()
            if tree is not None and might_use_flask(sources[relpath], relpath)
        ),
        index.files,
    )
    index.django_views = tuple(
        f"{relpath}:{name}"
        for relpath, tree in trees.items()
        if tree is not None and might_have_async_views(sources[relpath])
        for name in async_views(relpath, tree)
    )
    return {
        relpath: _transform(
            source, selected, FileContext(relpath, module_name_for(relpath), project=index)
        )
        for relpath, source in sources.items()
    }


def _with_table_delegations(
    callers: dict[str, frozenset[Delegation]],
    relpaths: Iterable[str],
    tree_of: Callable[[str], ast.Module | None],
) -> dict[str, frozenset[Delegation]]:
    """``callers`` plus the WSGI uses made by the tables of routes that dispatchers of other
    modules look their handlers up in (:func:`migrate.project.table_delegations`); ``tree_of``
    gives a module's tree (None: it cannot be read or parsed, and its own scan says so)."""
    tables = ProjectIndex.from_summaries((), relpaths, callers).tables_wanted()
    merged = dict(callers)
    for relpath, names in tables.items():
        tree = tree_of(relpath)
        found = table_delegations(tree, names) if tree is not None else frozenset()
        if found:
            merged[relpath] = merged.get(relpath, frozenset()) | found
    return merged
