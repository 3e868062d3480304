"""Running the rules over files: decode, prefilter, parse once, transform, verify, encode.

Public API:

- :func:`migrate_source` -- run rules over source text (what rule tests call);
- :func:`migrate_file_bytes` -- the same for a file's raw bytes, keeping encoding, BOM and
  line endings; never raises, problems come back as an ``error`` result;
- :func:`run_files` -- many files, in N processes, results yielded in input order;
- :func:`select_rules` -- rule classes from ``--select``/``--ignore`` ids.

Per file: decode (BOM, PEP 263 cookie), run the rules' text prefilters, parse once with
libcst only if one of them matches (otherwise only CPython's much faster parser checks
that the file parses), run the rules in registry order, check the result parses and
compiles, encode it back. A parse error, a crash in a rule, output that does not parse
or a file taking longer than the time limit makes that file an ``error``; never the run.

Nothing here prints or writes files: the CLI decides what to do with the results.
"""

from __future__ import annotations

import ast
import bisect
import codecs
import dataclasses
import difflib
import gc
import importlib
import io
import itertools
import os
import posixpath
import re
import signal
import symtable
import threading
import time
import tokenize
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Literal, TypeVar

import libcst as cst
from libcst.metadata import MetadataWrapper

from migrate import analysis, prefilter
from migrate import cache as cache_module
from migrate import rules as registry
from migrate.blocking.table import BlockingTable, active_table, use_table
from migrate.cache import ResultCache
from migrate.frameworks.falcon import FalconFacts, FalconPlan, facts_of, might_use_falcon
from migrate.frameworks.falcon import plan as falcon_plan
from migrate.frameworks.flask import FlaskFacts, FlaskPlan, might_use_flask
from migrate.frameworks.flask import facts_of as flask_facts
from migrate.frameworks.flask import plan as flask_plan
from migrate.project import (
    Delegation,
    ModuleSummary,
    ProjectIndex,
    may_use_wsgi_apps,
    might_summarize,
    summarize,
    table_delegations,
    wsgi_delegations,
)
from migrate.rules import Change, FileContext, Rule
from migrate.rules.base import NewFile

FileStatus = Literal["changed", "unchanged", "error"]


class MigrationError(Exception):
    """A file could not be migrated (it does not parse, a rule crashed, ...)."""


class FileTimeout(BaseException):
    """The per-file time limit ran out. A BaseException, so that rule code catching
    ``Exception`` cannot swallow it."""


#: Seconds one file may take before it is reported as an error (a rule's prefilter regex
#: that backtracks catastrophically must cost one file, not hang the run).
DEFAULT_FILE_TIMEOUT = 120.0

#: What the current file is going through, for the message when it times out.
_stage = ["reading"]


class UnknownRuleError(ValueError):
    """A rule id that is not in the registry, or a selection that leaves out a rule that a
    selected rule needs."""


@dataclass
class SourceResult:
    """What :func:`migrate_source` returns."""

    new_source: str
    changes: list[Change]
    #: Ids of the rules that ran (their ``might_apply`` said yes).
    rules_run: list[str] = field(default_factory=list)
    #: Files the rules create beside this one.
    new_files: list[NewFile] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the code changed (a rule may report a ``manual`` spot without changing code)."""
        return self.new_source_differs

    new_source_differs: bool = False


@dataclass
class FileResult:
    """The outcome for one file; small and picklable, it travels back from the workers."""

    path: Path
    relpath: str
    status: FileStatus
    changes: list[Change] = field(default_factory=list)
    error: str | None = None
    #: The bytes read and the bytes to write; only set when ``status == "changed"``.
    old_bytes: bytes | None = None
    new_bytes: bytes | None = None
    #: A file the run creates (``old_bytes`` is empty; it does not exist yet).
    created: bool = False
    #: The files the rules create beside this one, each a result of its own.
    companions: tuple[FileResult, ...] = ()


# --------------------------------------------------------------------------- rule selection

#: How a worker process finds a rule class: (module, qualified name). Rules travel to the
#: workers as these references, never as classes, so any module-level Rule subclass works
#: (registered or not, e.g. one defined in a test module).
RuleRef = tuple[str, str]


def rule_ref(rule: type[Rule]) -> RuleRef:
    return (rule.__module__, rule.__qualname__)


def load_rule(ref: RuleRef) -> type[Rule]:
    module_name, qualname = ref
    registered = registry.rules_by_id()
    for rule in registered.values():
        if rule_ref(rule) == ref:
            return rule
    obj: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Rule)):
        raise TypeError(f"{module_name}.{qualname} is not a Rule subclass")
    return obj


def select_rules(
    select: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    available: Sequence[type[Rule]] | None = None,
    enable: Sequence[str] = (),
) -> list[type[Rule]]:
    """The rules to run, in registry order: ``select`` (when None: every rule but the opt-in
    ones, plus those in ``enable``) minus ``ignore``.

    Raises :class:`UnknownRuleError` naming every unknown id.
    """
    rules = list(registry.RULES if available is None else available)
    known = {rule.rule_id for rule in rules}
    unknown = [rid for rid in [*(select or ()), *ignore, *enable] if rid not in known]
    if unknown:
        listing = ", ".join(sorted(known)) or "none are registered"
        raise UnknownRuleError(
            f"unknown rule id {', '.join(repr(u) for u in unknown)} (known: {listing})"
        )
    if select is not None:
        rules = [rule for rule in rules if rule.rule_id in select]
    else:
        rules = [rule for rule in rules if not rule.opt_in or rule.rule_id in enable]
    rules = [rule for rule in rules if rule.rule_id not in ignore]
    chosen = {rule.rule_id for rule in rules}
    for rule in rules:
        missing = [needed for needed in rule.requires if needed not in chosen]
        if missing:
            raise UnknownRuleError(
                f"rule {rule.rule_id!r} needs {', '.join(repr(m) for m in missing)} in the same run "
                "(else half a stack would be converted): select both, or ignore both"
            )
    return rules


def _resolve_rules(
    rule_ids: Sequence[str] | None, rules: Sequence[type[Rule]] | None
) -> list[type[Rule]]:
    if rules is not None:
        return list(rules)
    return select_rules(None if rule_ids is None else list(rule_ids))


# --------------------------------------------------------------------------- one source


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
    )
    index.flask = flask_plan(
        (
            flask_facts(relpath, tree)
            for relpath, tree in trees.items()
            if tree is not None and might_use_flask(sources[relpath])
        ),
        index.files,
    )
    return {
        relpath: _transform(
            source, selected, FileContext(relpath, module_name_for(relpath), project=index)
        )
        for relpath, source in sources.items()
    }


# --------------------------------------------------------------------------- one file


def decode_source(data: bytes) -> tuple[str, str]:
    """(text, encoding) honouring a BOM and a PEP 263 cookie; raises MigrationError.

    With a BOM the encoding is ``utf-8-sig``, so encoding the text again puts it back.
    """
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        # tokenize says "invalid or missing encoding declaration"; say which byte is the problem.
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as decode_error:
            raise MigrationError(
                f"cannot decode as utf-8: byte {data[decode_error.start]:#04x} at offset "
                f"{decode_error.start} (and no valid encoding declaration)"
            ) from None
        raise MigrationError(f"cannot decode: {exc.msg}") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise MigrationError(
            f"cannot decode as {encoding}: byte {data[exc.start]:#04x} at offset {exc.start}"
        ) from None
    except LookupError:
        raise MigrationError(f"unknown encoding {encoding!r}") from None
    return text, encoding


def encode_source(text: str, encoding: str) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise MigrationError(
            f"the migrated code has {exc.object[exc.start : exc.end]!r}, which {encoding} "
            "cannot encode; file left alone"
        ) from None


def migrate_file_bytes(
    data: bytes,
    rules: Sequence[type[Rule]],
    context: FileContext,
    prefiltered: Sequence[type[Rule]] | None = None,
    new_files: list[NewFile] | None = None,
) -> tuple[FileStatus, list[Change], bytes | None, str | None]:
    """(status, changes, new bytes or None, error or None) for one file's content
    (``prefiltered``: see :func:`_transform`); the files the rules create beside it are
    added to ``new_files``."""
    try:
        text, encoding = decode_source(data)
        result = _transform(text, rules, context, prefiltered)
        if new_files is not None:
            new_files.extend(result.new_files)
        if result.new_source == text:
            return "unchanged", result.changes, None, None
        new_data = encode_source(result.new_source, encoding)
        if encoding == "utf-8-sig" and not new_data.startswith(codecs.BOM_UTF8):
            new_data = codecs.BOM_UTF8 + new_data  # defensive: never lose the BOM
        return "changed", result.changes, new_data, None
    except MigrationError as exc:
        return "error", [], None, str(exc)
    except Exception as exc:  # a bug of ours must cost one file, not the run
        return "error", [], None, f"internal error: {describe_exception(exc)}"


@dataclass(frozen=True)
class FileTask:
    """One file to process, as sent to a worker."""

    path: Path
    relpath: str


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise FileTimeout in this thread after ``seconds`` (Unix, main thread only; a
    no-op elsewhere). CPython's regex engine and parser check for signals, so this
    interrupts them too."""
    usable = (
        seconds is not None
        and seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    assert seconds is not None

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise FileTimeout

    # Someone else's timer (pytest-timeout, an application) runs out first: leave it alone.
    outer_remaining, _ = signal.getitimer(signal.ITIMER_REAL)
    if 0 < outer_remaining <= seconds:
        yield
        return
    previous = signal.signal(signal.SIGALRM, on_alarm)
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_remaining > 0:  # re-arm the outer timer for what it had left
            left = outer_remaining - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))


def process_file(
    task: FileTask,
    rules: Sequence[type[Rule]],
    timeout: float | None = DEFAULT_FILE_TIMEOUT,
    project: ProjectIndex | None = None,
) -> FileResult:
    """Read, migrate and describe one file; never raises. ``project``: what the other
    modules of the run define."""
    data = _read(task)
    if isinstance(data, FileResult):
        return data
    _stage[0] = "decoding"
    try:
        with time_limit(timeout):
            return _migrated(task, data, rules, project)
    except FileTimeout:
        return _timed_out(task, timeout)


def _migrated(
    task: FileTask,
    data: bytes,
    rules: Sequence[type[Rule]],
    project: ProjectIndex | None,
    prefiltered: Sequence[type[Rule]] | None = None,
) -> FileResult:
    context = FileContext(task.relpath, module_name_for(task.relpath), project=project)
    new_files: list[NewFile] = []
    status, changes, new_data, error = migrate_file_bytes(
        data, rules, context, prefiltered, new_files
    )
    companions = companion_results(task, new_files, rules, project) if status != "error" else ()
    if status == "changed":
        return FileResult(
            task.path, task.relpath, status, changes, None, data, new_data, companions=companions
        )
    return FileResult(task.path, task.relpath, status, changes, error, companions=companions)


def companion_results(
    task: FileTask,
    new_files: Sequence[NewFile],
    rules: Sequence[type[Rule]],
    project: ProjectIndex | None,
) -> tuple[FileResult, ...]:
    """The results for the files the rules create beside ``task``'s file, leaving out those
    whose name exists already (a file of the user's is never replaced). The rules run on a
    new file too (what it holds may need them: WSGI middleware around the app), as on any."""
    folder = posixpath.dirname(task.relpath)
    results = []
    for new in new_files:
        path = task.path.parent / new.name
        if path.exists() or path.is_symlink():
            continue
        relpath = posixpath.join(folder, new.name)
        context = FileContext(relpath, module_name_for(relpath), project=project)
        try:
            migrated = _transform(new.text, rules, context)
        except MigrationError as exc:
            results.append(FileResult(path, relpath, "error", error=f"not created: {exc}"))
            continue
        created = Change(new.rule, 1, new.kind, new.message)
        results.append(
            FileResult(
                path,
                relpath,
                "changed",
                [created, *migrated.changes],
                None,
                b"",
                migrated.new_source.encode("utf-8"),
                created=True,
            )
        )
    return tuple(results)


@dataclass
class ScanResult:
    """The first look at a file (see :func:`run_files`); small and picklable."""

    #: The file's final result, or None when rules must run on it.
    result: FileResult | None
    #: What the module tells the others of the run (for a file the rules run on).
    summary: ModuleSummary | None = None
    #: The names in the import statements of a file the rules run on: only modules named
    #: there are worth a summary.
    imported_names: frozenset[str] = frozenset()
    #: The module may have a summary to give (it defines a function), worked out only if a
    #: file the rules run on imports it (most never are: an AST of each would cost more
    #: than the rest of the scan).
    summarizable: bool = False
    #: For a file the rules ran on with an empty project index and that looked modules up
    #: in it: that result, and the lookups. It stands if none of them finds a module in the
    #: whole index (else the rules run again, knowing it).
    tentative: FileResult | None = None
    queries: frozenset[tuple[str, str, str]] = frozenset()
    #: Functions of other modules this file calls the WSGI way (they must stay WSGI).
    delegations: frozenset[Delegation] = frozenset()
    #: The hash of the bytes scanned (None: unreadable), for the result cache.
    content_hash: str | None = None
    #: What the module tells about Falcon apps (a module mentioning falcon).
    falcon: FalconFacts | None = None
    #: What the module tells about Flask code (a module mentioning flask).
    flask: FlaskFacts | None = None


def scan_file(
    task: FileTask,
    rules: Sequence[type[Rule]],
    timeout: float | None = DEFAULT_FILE_TIMEOUT,
    rules_now: bool = True,
) -> ScanResult:
    """Read a file and run everything short of libcst on it: decoding, the syntax check and
    both prefilter stages. Most files are done there (unchanged, or an error). For the few
    that pass the prefilters: the module's summary and imports, and the rules, given an
    empty project index: unless a rule looked up a module that the whole index has, that
    result is final (it would be the same with the whole index). Without ``rules_now``, the
    rules wait for the whole index (the file's result is None). Never raises."""
    data = _read(task)
    if isinstance(data, FileResult):
        return ScanResult(data)
    scan = _scan(task, data, rules, timeout, rules_now)
    scan.content_hash = cache_module.content_hash(data)
    return scan


def _scan(
    task: FileTask,
    data: bytes,
    rules: Sequence[type[Rule]],
    timeout: float | None,
    rules_now: bool,
) -> ScanResult:
    _stage[0] = "decoding"
    migrated: FileResult | None = None
    try:
        with time_limit(timeout):
            text, _ = decode_source(data)
            # a module using apps of others the WSGI way tells them (the AST is the syntax check)
            uses_apps = may_use_wsgi_apps(text)
            uses_falcon = might_use_falcon(text)
            uses_flask = might_use_flask(text)
            candidates, tree = _prefilter(
                text, rules, want_tree=uses_apps or uses_falcon or uses_flask
            )
            falcon = _facts(facts_of, task.relpath, tree) if uses_falcon else None
            flask = _facts(flask_facts, task.relpath, tree) if uses_flask else None
            summary = _summary_of(text, task.relpath, tree) if candidates else None
            queries: frozenset[tuple[str, str, str]] = frozenset()
            if candidates and rules_now:
                probe = ProjectIndex()
                # the prefilters ran just above: not again
                migrated = _migrated(task, data, rules, probe, candidates)
                queries = frozenset(probe.queries)
    except FileTimeout:
        return ScanResult(_timed_out(task, timeout))
    except MigrationError as exc:
        return ScanResult(FileResult(task.path, task.relpath, "error", error=str(exc)))
    except Exception as exc:  # a bug of ours must cost one file, not the run
        error = f"internal error: {describe_exception(exc)}"
        return ScanResult(FileResult(task.path, task.relpath, "error", error=error))
    finally:
        analysis.forget_trees()
    delegations = (
        wsgi_delegations(tree) if tree is not None and (candidates or uses_apps) else frozenset()
    )
    if candidates:
        names = _imported_names(tree) if tree is not None else frozenset()
        if queries and migrated is not None and migrated.status != "error":
            return ScanResult(
                None, summary, names, tentative=migrated, queries=queries,
                delegations=delegations, falcon=falcon, flask=flask,
            )  # fmt: skip
        return ScanResult(
            migrated, summary, names, delegations=delegations, falcon=falcon, flask=flask
        )
    unchanged = FileResult(task.path, task.relpath, "unchanged")
    # the full test (might_summarize) waits until a file the rules run on imports the module
    return ScanResult(unchanged, summarizable="def" in text, delegations=delegations, falcon=falcon)


_F = TypeVar("_F")
_P = TypeVar("_P")


def _facts(
    make: Callable[[str, ast.Module], _F], relpath: str, tree: ast.Module | None
) -> _F | None:
    """A framework's facts of one module; None when it has none, or when the analysis
    failed (the framework rule then leaves the module's apps to the adapter)."""
    if tree is None:
        return None
    try:
        return make(relpath, tree)
    except Exception:  # a bug of the analysis must not make the file an error
        return None


def _plan(
    make: Callable[[Sequence[_F], frozenset[str]], _P],
    facts: Sequence[_F],
    files: frozenset[str],
    empty: _P,
) -> _P:
    """A framework's plan for the run; the empty plan (nothing converted) if it failed."""
    try:
        return make(facts, files)
    except Exception:  # a bug of the plan must not stop the run: the apps stay adapted
        return empty


def summarize_file(
    task: FileTask, timeout: float | None = DEFAULT_FILE_TIMEOUT
) -> ModuleSummary | None:
    """The summary of a file :func:`scan_file` found summarizable (None if it has none, or
    cannot be read any more)."""
    data = _read(task)
    if isinstance(data, FileResult):
        return None
    try:
        with time_limit(timeout):
            text, _ = decode_source(data)
            if not might_summarize(text):  # most are not: spare them an AST
                return None
            return _summary_of(text, task.relpath, _cpython_tree(text))
    except (FileTimeout, Exception):  # the importing app stays adapted; the run goes on
        return None


def _imported_names(tree: ast.Module) -> frozenset[str]:
    """Every name in the module's import statements: ``from pkg.http import respond`` gives
    pkg, http and respond (any of them may be a module of the run)."""
    names: set[str] = set()
    for node in prefilter.walk_ast(tree):
        if isinstance(node, ast.ImportFrom):
            names.update((node.module or "").split("."))
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names.update(alias.name.split("."))
    names.discard("")
    return frozenset(names)


def _may_be_imported(relpath: str, names: frozenset[str]) -> bool:
    """``relpath`` is a module some import of ``names`` can refer to (by its last name)."""
    return module_name_for(relpath).rpartition(".")[2] in names


def _read(task: FileTask) -> bytes | FileResult:
    try:
        return task.path.read_bytes()
    except OSError as exc:
        return FileResult(
            task.path, task.relpath, "error", error=f"cannot read: {exc.strerror or exc}"
        )


def _timed_out(task: FileTask, timeout: float | None) -> FileResult:
    error = f"timed out after {timeout or 0:g} s in {_stage[0]}"
    return FileResult(task.path, task.relpath, "error", error=error)


# --------------------------------------------------------------------------- many files

# Set once per worker process by the pool initializer.
_worker_rules: list[type[Rule]] = []
_worker_timeout: list[float | None] = [DEFAULT_FILE_TIMEOUT]


def _init_worker(refs: Sequence[RuleRef], timeout: float | None, table: BlockingTable) -> None:
    global _worker_rules
    use_table(table)
    _worker_rules = [load_rule(ref) for ref in refs]
    _worker_timeout[0] = timeout


def _scan_chunk(tasks: Sequence[FileTask], rules_now: bool) -> list[ScanResult]:
    return [scan_file(task, _worker_rules, _worker_timeout[0], rules_now) for task in tasks]


def _summarize_chunk(tasks: Sequence[FileTask]) -> list[tuple[ModuleSummary | None]]:
    # in a 1-tuple, so that "no summary" can be kept in the cache (None means "not kept")
    return [(summarize_file(task, _worker_timeout[0]),) for task in tasks]


def _process_chunk(tasks: Sequence[FileTask], project: ProjectIndex) -> list[FileResult]:
    return [process_file(task, _worker_rules, _worker_timeout[0], project) for task in tasks]


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def _few_collections() -> Iterator[None]:
    """Run with the cyclic garbage collector mostly out of the way (restored after).

    Building an AST or a libcst tree allocates objects by the million, and with the default
    thresholds the collector walks the young ones thousands of times per run for next to
    nothing: the trees hold no cycles, reference counting frees them. Freezing what is
    alive now (the imported modules) also keeps the collector off it and, as the workers
    are forked here, off pages they share with this process. About 10% of a run's CPU."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _chunks(tasks: Sequence[FileTask], size: int) -> Iterator[list[FileTask]]:
    for start in range(0, len(tasks), size):
        yield list(tasks[start : start + size])


def run_files(
    tasks: Sequence[FileTask],
    rules: Sequence[type[Rule]],
    jobs: int | None = None,
    on_start: Callable[[], None] | None = None,
    timeout: float | None = DEFAULT_FILE_TIMEOUT,
    on_progress: Callable[[], None] | None = None,
    cache: ResultCache | None = None,
) -> Iterator[FileResult]:
    """Process ``tasks`` and yield one result per task, in the order of ``tasks``.

    Two passes. The first scans every file (:func:`scan_file`): most are done there. The
    summaries of the modules the rest import make the project index; the second pass runs
    the rules, knowing it, on the few files that need them.

    ``jobs == 1`` (or a handful of files) runs in this process; otherwise a process pool
    works on chunks of files (few round trips, even load) and results stream back as soon
    as their turn comes. ``on_start`` is called once the workers exist, before any result
    is yielded (the CLI starts its progress bar there, after forking); ``on_progress``
    once per file as soon as its result is known (results wait for their turn). A file
    taking longer than ``timeout`` seconds is reported as an error (None: no limit).
    With a ``cache``, what an earlier run found for a file with the same bytes (and, for
    the rules, the same project index) is taken from it, and it is saved at the end.
    """
    jobs = default_jobs() if jobs is None or jobs < 1 else jobs
    executor: ProcessPoolExecutor | None = None

    def pool(files: int) -> ProcessPoolExecutor | None:
        nonlocal executor
        if executor is None and jobs > 1 and files > 2:
            refs = [rule_ref(rule) for rule in rules]
            executor = ProcessPoolExecutor(
                max_workers=jobs,
                initializer=_init_worker,
                initargs=(refs, timeout, active_table()),
            )
        return executor

    with _few_collections():
        try:
            results: list[FileResult | None] = [None] * len(tasks)
            summaries: list[ModuleSummary] = []
            waiting: list[int] = []  # files the rules must see, once every summary is in
            imported: set[str] = set()  # what the files in waiting import
            summarizable: list[int] = []
            scans_by_index: dict[int, ScanResult] = {}  # of the files in waiting
            callers: dict[str, frozenset[Delegation]] = {}
            falcon_facts: list[FalconFacts] = []
            flask_facts_found: list[FlaskFacts] = []
            turn = 0  # results[:turn] were yielded

            def known(index: int, result: FileResult) -> Iterator[FileResult]:
                nonlocal turn
                results[index] = result
                if on_progress is not None:
                    on_progress()
                while turn < len(results) and (ready := results[turn]) is not None:
                    turn += 1
                    yield ready

            # With nothing to look up (a first run), the workers hash what they read, and
            # this process reads no file at all (without a hash, a file has no key: it is
            # kept below, once its hash is known).
            lookups = cache is not None and not cache.is_empty()
            # On a big tree the rules run during the scan, on the files they may change,
            # while the other files are being scanned; a result stands unless the whole
            # index answers a lookup it made. On a small one the scan is over at once, and
            # a file whose helpers live in a module of the run would be done twice.
            rules_now = len(tasks) > RULES_WAIT_UP_TO
            hashes: list[str | None] = _content_hashes(tasks) if lookups else [None] * len(tasks)
            scans = _through_cache(
                cache,
                _cache_keys("scan", range(len(tasks)), tasks, hashes),
                tasks,
                lambda todo: _in_pool(
                    pool(len(todo)), _scan_chunk, todo, _chunk_size(len(todo), jobs),
                    lambda task: scan_file(task, rules, timeout, rules_now), (rules_now,),
                ),
                keep=_worth_keeping,
                revive=_scan_for,
            )  # fmt: skip
            if on_start is not None:
                on_start()
            for index, scan in enumerate(scans):
                if hashes[index] is None and scan.content_hash is not None:
                    hashes[index] = scan.content_hash
                    if cache is not None and _worth_keeping(scan):
                        cache.put(("scan", tasks[index].relpath, scan.content_hash), scan)
                if scan.summary is not None:
                    summaries.append(scan.summary)
                if scan.delegations:
                    callers[tasks[index].relpath] = scan.delegations
                if scan.falcon is not None:
                    falcon_facts.append(scan.falcon)
                if scan.flask is not None:
                    flask_facts_found.append(scan.flask)
                if scan.summarizable:
                    summarizable.append(index)
                if scan.result is None:
                    waiting.append(index)
                    scans_by_index[index] = scan
                    imported.update(scan.imported_names)
                else:
                    yield from known(index, scan.result)
            if waiting:
                # Only the workers that exist already: forking once the caller started threads
                # (a progress bar) is not safe.
                names = frozenset(imported)
                wanted = [i for i in summarizable if _may_be_imported(tasks[i].relpath, names)]
                more = _through_cache(
                    cache,
                    _cache_keys("summary", wanted, tasks, hashes),
                    [tasks[i] for i in wanted],
                    lambda todo: _in_pool(
                        executor, _summarize_chunk, todo, _chunk_size(len(todo), jobs),
                        lambda task: (summarize_file(task, timeout),), (),
                    ),
                    keep=lambda _: True,
                    revive=lambda kept, _: kept,
                )  # fmt: skip
                summaries.extend(summary for (summary,) in more if summary is not None)
                by_relpath = {task.relpath: task for task in tasks}
                callers = _with_table_delegations(
                    callers,
                    by_relpath,
                    lambda relpath: _tree_of_task(by_relpath[relpath], timeout),
                )
                project = ProjectIndex.from_summaries(
                    summaries, (task.relpath for task in tasks), callers
                )
                project.falcon = _plan(falcon_plan, falcon_facts, project.files, FalconPlan())
                project.flask = _plan(flask_plan, flask_facts_found, project.files, FlaskPlan())
                # a result made with the empty index stands where the whole one adds nothing
                for index in list(waiting):
                    scan = scans_by_index[index]
                    if scan.tentative is not None and not any(
                        project.answers(query) for query in scan.queries
                    ):
                        waiting.remove(index)
                        yield from known(index, scan.tentative)
                project.queries.clear()  # the lookups just made: not shipped to the workers
                index_key = cache_module.value_hash(
                    (
                        sorted(summaries, key=lambda s: s.relpath),
                        project.files,
                        project.wsgi_callers,
                        project.falcon,
                        project.flask,
                    )
                )
                transformed = _through_cache(
                    cache,
                    _cache_keys("result", waiting, tasks, hashes, index_key),
                    [tasks[i] for i in waiting],
                    lambda todo: _in_pool(
                        executor, _process_chunk, todo, 1,
                        lambda task: process_file(task, rules, timeout, project), (project,),
                    ),
                    keep=lambda result: result.status != "error",
                    revive=_revived,
                )  # fmt: skip
                for index, result in zip(waiting, transformed, strict=True):
                    yield from known(index, result)
            if cache is not None:
                cache.save()
        finally:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)


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


def _tree_of_task(task: FileTask, timeout: float | None) -> ast.Module | None:
    """CPython's tree of a file read now: the modules holding tables of routes are read here,
    being few and seldom among the files the rules see."""
    data = _read(task)
    if not isinstance(data, bytes):
        return None
    try:
        with time_limit(timeout):
            return _cpython_tree(decode_source(data)[0])
    except (FileTimeout, Exception):  # its own scan reports it
        return None


#: Runs of at most this many files run the rules once the whole project index is known
#: (see run_files).
RULES_WAIT_UP_TO = 100


def _worth_keeping(scan: ScanResult) -> bool:
    return scan.result is None or scan.result.status != "error"  # errors are never kept


def _revived(kept: FileResult, task: FileTask) -> FileResult:
    """A cached result for ``task``'s file: its path, and its companions checked again
    (a file of that name may exist by now)."""
    companions = tuple(
        dataclasses.replace(c, path=task.path.parent / c.path.name)
        for c in kept.companions
        if not (task.path.parent / c.path.name).exists()
    )
    return dataclasses.replace(kept, path=task.path, companions=companions)


def _content_hashes(tasks: Sequence[FileTask]) -> list[str | None]:
    """The hash of every file's bytes (None: unreadable, the scan will say why)."""
    hashes: list[str | None] = []
    for task in tasks:
        try:
            hashes.append(cache_module.content_hash(task.path.read_bytes()))
        except OSError:
            hashes.append(None)
    return hashes


def _cache_keys(
    kind: str,
    indexes: Iterable[int],
    tasks: Sequence[FileTask],
    hashes: Sequence[str | None],
    *extra: str,
) -> list[cache_module.Key | None]:
    """The cache keys of ``tasks[i]`` for ``i`` in ``indexes`` (None: the file cannot be read)."""
    keys: list[cache_module.Key | None] = []
    for index in indexes:
        digest = hashes[index]
        keys.append(None if digest is None else (kind, tasks[index].relpath, digest, *extra))
    return keys


def _scan_for(kept: ScanResult, task: FileTask) -> ScanResult:
    """A kept scan, with the paths of this run."""
    return dataclasses.replace(
        kept,
        result=None if kept.result is None else _revived(kept.result, task),
        tentative=None if kept.tentative is None else _revived(kept.tentative, task),
    )


_T = TypeVar("_T")


def _through_cache(
    cache: ResultCache | None,
    keys: Sequence[cache_module.Key | None],
    tasks: Sequence[FileTask],
    compute: Callable[[Sequence[FileTask]], Iterator[_T]],
    keep: Callable[[_T], bool],
    revive: Callable[[Any, FileTask], _T],
) -> Iterator[_T]:
    """One value per task, in order: from ``cache`` where it has one under the task's key,
    else from ``compute`` (called right away on the tasks missing, so a pool starts now);
    computed values that ``keep`` accepts are put in the cache."""
    hits: dict[int, _T] = {}
    if cache is not None:
        for index, key in enumerate(keys):
            if key is not None and (kept := cache.get(key)) is not None:
                hits[index] = revive(kept, tasks[index])
    computed = compute([task for index, task in enumerate(tasks) if index not in hits])
    return _merge(hits, computed, cache, keys, keep)


def _merge(
    hits: dict[int, _T],
    computed: Iterator[_T],
    cache: ResultCache | None,
    keys: Sequence[cache_module.Key | None],
    keep: Callable[[_T], bool],
) -> Iterator[_T]:
    for index, key in enumerate(keys):
        if index in hits:
            yield hits[index]
            continue
        value = next(computed)
        if cache is not None and key is not None and keep(value):
            cache.put(key, value)
        yield value


def _chunk_size(files: int, jobs: int) -> int:
    # Small chunks keep the pool busy to the end; not too small, or pickling round trips dominate.
    return max(1, min(64, files // (jobs * 8)))


def _in_pool(
    executor: ProcessPoolExecutor | None,
    work_on_chunk: Callable[..., list[_T]],
    tasks: Sequence[FileTask],
    chunk_size: int,
    work_here: Callable[[FileTask], _T],
    extra_args: tuple[object, ...],
) -> Iterator[_T]:
    """One result per task, in order: from the pool (its work is handed out right away, so
    the workers exist when this returns) or, without one, worked out here one by one."""
    if executor is None:
        return (work_here(task) for task in tasks)
    # every chunk gets the same extra arguments (the project index)
    repeated = [itertools.repeat(arg) for arg in extra_args]
    pending = executor.map(work_on_chunk, _chunks(tasks, chunk_size), *repeated)
    return _drain(pending, tasks, work_here)


def _drain(
    pending: Iterator[list[_T]], tasks: Sequence[FileTask], work_here: Callable[[FileTask], _T]
) -> Iterator[_T]:
    done = 0
    try:
        for chunk in pending:
            for result in chunk:
                done += 1
                yield result
    except BrokenProcessPool:
        # A worker died (killed, out of memory, a crash in C code): finish here, one by one,
        # so the run still covers every file.
        for task in tasks[done:]:
            yield work_here(task)


def tasks_for(files: Iterable[tuple[Path, str]]) -> list[FileTask]:
    return [FileTask(path, relpath) for path, relpath in files]
