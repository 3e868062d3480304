"""One file: decode, time limit, the first pass that reads what the project index needs
(:func:`scan_file`), the rules (:func:`process_file`), encode."""

from __future__ import annotations

import ast
import codecs
import io
import posixpath
import signal
import threading
import time
import tokenize
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TypeVar

from migrate import analysis, prefilter
from migrate import cache as cache_module
from migrate.frameworks.django import async_views, might_have_async_views
from migrate.frameworks.falcon import FalconFacts, facts_of, might_use_falcon
from migrate.frameworks.flask import FlaskFacts, might_use_flask
from migrate.frameworks.flask import facts_of as flask_facts
from migrate.project import (
    Delegation,
    ModuleSummary,
    ProjectIndex,
    may_use_wsgi_apps,
    might_summarize,
    wsgi_delegations,
)
from migrate.rules import Change, FileContext, Rule
from migrate.rules.base import NewFile
from migrate.runner.results import (
    DEFAULT_FILE_TIMEOUT,
    FileResult,
    FileStatus,
    FileTimeout,
    MigrationError,
    _stage,
)
from migrate.runner.source import (
    _cpython_tree,
    _prefilter,
    _summary_of,
    _transform,
    describe_exception,
    module_name_for,
)


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
    #: The async Django views the module defines (:mod:`migrate.frameworks.django`).
    django_views: tuple[str, ...] = ()


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
            uses_flask = might_use_flask(text, task.relpath)
            has_views = might_have_async_views(text)
            candidates, tree = _prefilter(
                text, rules, want_tree=uses_apps or uses_falcon or uses_flask or has_views
            )
            falcon = _facts(facts_of, task.relpath, tree) if uses_falcon else None
            flask = _facts(flask_facts, task.relpath, tree) if uses_flask else None
            views = async_views(task.relpath, tree) if has_views and tree is not None else ()
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
                delegations=delegations, falcon=falcon, flask=flask, django_views=views,
            )  # fmt: skip
        return ScanResult(
            migrated, summary, names, delegations=delegations, falcon=falcon, flask=flask,
            django_views=views,
        )  # fmt: skip
    unchanged = FileResult(task.path, task.relpath, "unchanged")
    # its summary waits until a file the rules run on imports the module
    return ScanResult(
        unchanged, summarizable=might_summarize(text), delegations=delegations, falcon=falcon,
        django_views=views,
    )  # fmt: skip


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
            if not might_summarize(text):  # spare them an AST
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


def _reexported_names(summaries: Iterable[ModuleSummary], names: frozenset[str]) -> set[str]:
    """What the re-exports of ``summaries`` of any of ``names`` import, as
    :func:`_imported_names` (the modules they lead to are then summarized too)."""
    found: set[str] = set()
    for summary in summaries:
        for local, module_ref, name in summary.reexports:
            if local in names:
                found.update(module_ref.split("."))
                found.add(name)
    found.discard("")
    return found


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
