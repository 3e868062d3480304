"""Many files: in N worker processes, two passes (scan, then the rules with the project index),
through the result cache, results in input order (:func:`run_files`)."""

from __future__ import annotations

import ast
import dataclasses
import gc
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from migrate import cache as cache_module
from migrate.blocking.table import BlockingTable, active_table, use_table
from migrate.cache import ResultCache
from migrate.frameworks.falcon import FalconFacts, FalconPlan
from migrate.frameworks.falcon import plan as falcon_plan
from migrate.frameworks.flask import FlaskFacts, FlaskPlan
from migrate.frameworks.flask import plan as flask_plan
from migrate.project import (
    Delegation,
    ModuleSummary,
    ProjectIndex,
)
from migrate.rules import Rule
from migrate.runner.file import (
    FileTask,
    ScanResult,
    _may_be_imported,
    _plan,
    _read,
    _reexported_names,
    decode_source,
    process_file,
    scan_file,
    summarize_file,
    time_limit,
)
from migrate.runner.results import DEFAULT_FILE_TIMEOUT, FileResult, FileTimeout
from migrate.runner.rule_selection import RuleRef, load_rule, rule_ref
from migrate.runner.source import _cpython_tree, _with_table_delegations

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
            django_views: list[str] = []
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
                django_views.extend(f"{tasks[index].relpath}:{name}" for name in scan.django_views)
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
                # the modules they import, then those these give names on from (re-exports)
                imported.update(_reexported_names(summaries, frozenset(imported)))
                while True:
                    names = frozenset(imported)
                    wanted = [i for i in summarizable if _may_be_imported(tasks[i].relpath, names)]
                    if not wanted:
                        break
                    taken = set(wanted)
                    summarizable = [i for i in summarizable if i not in taken]
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
                    found = [summary for (summary,) in more if summary is not None]
                    summaries.extend(found)
                    imported.update(_reexported_names(found, names))
                by_relpath = {task.relpath: task for task in tasks}
                callers = _with_table_delegations(
                    callers,
                    by_relpath,
                    lambda relpath: _tree_of_task(by_relpath[relpath], timeout),
                )
                project = ProjectIndex.from_summaries(
                    summaries, (task.relpath for task in tasks), callers
                )
                project.falcon = _plan(
                    # the modules it imports from that never name falcon are read when asked
                    lambda facts, files: falcon_plan(
                        facts, files, lambda relpath: _tree_of_task(by_relpath[relpath], timeout)
                    ),
                    falcon_facts,
                    project.files,
                    FalconPlan(),
                )
                project.flask = _plan(flask_plan, flask_facts_found, project.files, FlaskPlan())
                project.django_views = tuple(django_views)
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
                        project.django_views,
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
