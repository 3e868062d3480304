"""The ``migrate`` command: thin glue between discovery, the runner, writing and reporting.

Exit status (the contract): 0 done; 1 with ``--check`` when anything would change;
2 usage error; 3 some files could not be processed (reported; the rest are done).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from migrate import cache as cache_module
from migrate import rules as rules_registry
from migrate.blocking.table import BlockingTable, use_table
from migrate.cache import ResultCache
from migrate.config import ConfigError, Settings, load_settings
from migrate.diffing import file_diff, write_diff
from migrate.discovery import FoundFile, discover, walk_all_files
from migrate.reporting import (
    FileOutcome,
    Mode,
    RunSummary,
    make_stderr_console,
    render_rule_list,
    render_summary,
    report_json,
)
from migrate.rules import Rule
from migrate.rules.deployment import DeploymentRule
from migrate.rules.deployment.apps import PythonOutcome
from migrate.rules.deployment.run import is_deployment_file, migrate_deployment
from migrate.rules.deployment.targets import TARGETS, Target
from migrate.runner import (
    DEFAULT_FILE_TIMEOUT,
    FileResult,
    FileTask,
    UnknownRuleError,
    decode_source,
    run_files,
    select_rules,
)
from migrate.writing import WriteError, atomic_write, create_file, rewrite_in_place, write_copy

EXIT_OK = 0
EXIT_WOULD_CHANGE = 1
EXIT_USAGE = 2
EXIT_FILE_ERRORS = 3
#: Not a status of the contract: the shell's code for "killed by SIGPIPE" (128 + 13).
EXIT_BROKEN_PIPE = 141

#: Runs with fewer files finish before a progress bar would be worth drawing.
PROGRESS_MIN_FILES = 50


def _split_ids(values: Sequence[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _display_path(path: Path, cwd: Path) -> str:
    """The path shown in diffs and the report: relative to the current directory."""
    text, prefix = str(path), os.path.join(str(cwd), "")
    if text.startswith(prefix) and os.path.isabs(text) and os.path.normpath(text) == text:
        # what relpath gives, without its work per file (a tenth of a second on Django)
        return text[len(prefix) :].replace(os.sep, "/")
    try:
        return os.path.relpath(path, cwd).replace(os.sep, "/")
    except ValueError:  # another drive on Windows
        return path.as_posix()


@dataclass
class Output:
    """Where things go, decided once: stdout as bytes (patches) or via rich on a terminal."""

    stdout: BinaryIO
    stdout_is_terminal: bool
    stderr_is_terminal: bool

    def diff_console(self) -> Console | None:
        if not self.stdout_is_terminal:
            return None
        # Created per use: while a progress bar is live, sys.stdout is rich's proxy.
        return Console(file=sys.stdout, highlight=False, markup=False, emoji=False)

    def line(self, text: str) -> None:
        if self.stdout_is_terminal:
            Console(file=sys.stdout, highlight=False, markup=False, emoji=False).print(
                Text(text), soft_wrap=True
            )
        else:
            self.stdout.write(text.encode("utf-8", "surrogateescape") + b"\n")
            self.stdout.flush()


@contextmanager
def _progress(
    enabled: bool, total: int, console: Console, stdout_is_terminal: bool
) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("migrating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        # Diffs piped to a file must stay raw bytes: only redirect a terminal stdout.
        redirect_stdout=stdout_is_terminal,
        redirect_stderr=False,
    )
    progress.add_task("files", total=total)
    try:
        yield progress
    finally:
        progress.stop()


def _out_base(paths: Sequence[Path]) -> Path:
    """The folder whose layout ``--out DIR`` reproduces: the common parent of all PATHs."""
    folders = [path if path.is_dir() else path.parent for path in paths]
    return Path(os.path.commonpath([str(folder) for folder in folders]))


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _settings(paths: Sequence[str]) -> Settings:
    try:
        return load_settings(Path(paths[0]))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _list_rules() -> None:
    console = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)
    render_rule_list(
        console,
        [
            (rule.rule_id, ("(opt-in: --enable) " if rule.opt_in else "") + rule.summary)
            for rule in rules_registry.RULES
        ],
    )


def _quiet_on_broken_pipe(command: Callable[..., None]) -> Callable[..., None]:
    """The reader of the diff went away (`migrate . | head`): stop quietly, like git does."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except BrokenPipeError:
            # Point stdout at /dev/null so the interpreter's final flush does not fail again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_BROKEN_PIPE)

    return run


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=str))
@click.option(
    "--dry-run",
    "--diff",
    "dry_run",
    is_flag=True,
    help="Write nothing; print a unified diff on stdout (the default).",
)
@click.option("-w", "--write", is_flag=True, help="Rewrite the files in place.")
@click.option(
    "--check", is_flag=True, help="Write nothing; list the files that would change; exit 1 if any."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write a migrated copy of the whole tree into DIR; leave PATH untouched.",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write a JSON report to FILE.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Number of processes (default: all cores; 1 runs in this process).",
)
@click.option(
    "--select",
    "select_values",
    multiple=True,
    metavar="RULE,...",
    help="Run only these rules (comma-separated, repeatable).",
)
@click.option(
    "--ignore",
    "ignore_values",
    multiple=True,
    metavar="RULE,...",
    help="Skip these rules (comma-separated, repeatable).",
)
@click.option(
    "--enable",
    "enable_values",
    multiple=True,
    metavar="RULE,...",
    help="Also run these opt-in rules (flask-quart, falcon-asgi: native, but slower than the "
    "adapter as measured; see the README).",
)
@click.option(
    "--exclude",
    "exclude_globs",
    multiple=True,
    metavar="GLOB",
    help="Skip paths matching GLOB (repeatable; added to [tool.wsgi2asgi] exclude).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_FILE_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    help="Report a file as an error when it takes longer than this (0: no limit).",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Do not use or keep results of earlier runs (kept in $WSGI2ASGI_CACHE_DIR, else "
    "~/.cache/wsgi2asgi; never in the project).",
)
@click.option(
    "--server",
    type=click.Choice(TARGETS),
    default=None,
    help="The server deployment files move to (default: gunicorn with uvicorn workers where "
    "gunicorn ran, else uvicorn).",
)
@click.option("--list-rules", is_flag=True, help="List the rules (id and summary) and exit.")
@click.version_option(package_name="wsgi2asgi")
@_quiet_on_broken_pipe
def main(
    paths: tuple[str, ...],
    dry_run: bool,
    write: bool,
    check: bool,
    out_dir: Path | None,
    report_file: Path | None,
    jobs: int | None,
    select_values: tuple[str, ...],
    ignore_values: tuple[str, ...],
    enable_values: tuple[str, ...],
    exclude_globs: tuple[str, ...],
    timeout: float,
    no_cache: bool,
    server: Target | None,
    list_rules: bool,
) -> None:
    """Migrate the WSGI code under PATH... to ASGI.

    Without --write nothing is written: the diff goes to stdout (a patch that
    `git apply` accepts when piped) and a summary to stderr. Settings may also live in
    [tool.wsgi2asgi] of pyproject.toml (select, ignore, exclude, jobs); flags win.

    Exit status: 0 done; 1 with --check when anything would change; 2 usage error;
    3 some files could not be processed.
    """
    if list_rules:
        _list_rules()
        return
    if not paths:
        raise click.UsageError("no PATH given (try `migrate .`)")
    chosen = [
        name
        for name, on in (
            ("--dry-run", dry_run),
            ("--write", write),
            ("--check", check),
            ("--out", out_dir is not None),
        )
        if on
    ]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} cannot be used together")
    mode: Mode = (
        "write" if write else "check" if check else "out" if out_dir is not None else "diff"
    )

    settings = _settings(paths)
    select = _split_ids(select_values) if select_values else settings.select
    ignore = _split_ids(ignore_values) if ignore_values else settings.ignore
    enable = _split_ids(enable_values) if enable_values else settings.enable
    try:
        selected_rules = select_rules(select, ignore, enable=enable)
    except UnknownRuleError as exc:
        raise click.UsageError(str(exc)) from None

    cwd = Path.cwd()
    roots = [Path(os.path.abspath(path)) for path in paths]
    prune: list[Path] = []
    out_root: Path | None = None
    if out_dir is not None:
        out_root = Path(os.path.abspath(out_dir))
        for root in roots:
            if _is_within(root, out_root):
                raise click.UsageError(f"--out {out_dir} must not contain PATH {root}")
        prune.append(out_root)

    deploying = DeploymentRule in selected_rules
    found = discover(
        paths,
        [*settings.exclude, *exclude_globs],
        prune=prune,
        cwd=cwd,
        also=is_deployment_file if deploying else None,
    )
    deployment_files = [
        f for f in found.files if deploying and is_deployment_file(f.relpath, str(f.path))
    ]
    python_files = [f for f in found.files if f not in deployment_files]
    summary = RunSummary(skipped=list(found.skipped))
    summary.notes.extend(settings.warnings)
    if not selected_rules:
        summary.notes.append(
            "no rules selected" if rules_registry.RULES else "no rules are registered yet"
        )

    output = Output(
        stdout=sys.stdout.buffer,
        stdout_is_terminal=sys.stdout.isatty(),
        stderr_is_terminal=sys.stderr.isatty(),
    )
    stderr_console = make_stderr_console(output.stderr_is_terminal)
    tasks = [FileTask(f.path, f.relpath) for f in python_files]
    outcome = PythonOutcome()
    out_base = _out_base(roots) if out_root is not None else None
    effective_jobs = jobs if jobs is not None else settings.jobs

    show_progress = output.stderr_is_terminal and len(tasks) >= PROGRESS_MIN_FILES
    with _progress(
        show_progress, len(tasks), stderr_console, output.stdout_is_terminal
    ) as progress:
        on_start = on_progress = None
        if progress is not None:
            on_start = progress.start
            on_progress = functools.partial(progress.advance, progress.task_ids[0])
        table = BlockingTable(tuple(settings.blocking), tuple(settings.non_blocking))
        use_table(table)
        cache = (
            None
            if no_cache or not settings.cache
            else _cache(selected_rules, timeout, roots, table)
        )
        for result in run_files(
            tasks,
            selected_rules,
            effective_jobs,
            on_start=on_start,
            timeout=timeout or None,
            on_progress=on_progress,
            cache=cache,
        ):
            for each in (result, *result.companions):
                summary.outcomes.append(_handle_result(each, mode, cwd, output, out_root, out_base))
                if deployment_files:
                    outcome.add(each.path, *_texts(each))
        if deployment_files:
            for each in migrate_deployment(deployment_files, outcome, roots, server):
                summary.outcomes.append(_handle_result(each, mode, cwd, output, out_root, out_base))

    if cache is not None:
        summary.notes.extend(cache.problems)
    if out_root is not None and out_base is not None:
        _copy_other_files(roots, out_root, out_base, found.files, summary)

    exit_code = EXIT_OK
    if report_file is not None:
        try:
            report_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(report_file, report_json(summary))
        except (WriteError, OSError) as exc:
            summary.other_errors.append(f"cannot write the report {report_file}: {exc}")

    render_summary(stderr_console, summary, mode)
    if summary.count("error") or summary.other_errors:
        exit_code = EXIT_FILE_ERRORS
    elif mode == "check" and summary.count("changed"):
        exit_code = EXIT_WOULD_CHANGE
    sys.exit(exit_code)


def _texts(result: FileResult) -> tuple[str | None, str | None]:
    """A Python file's text before (None: created) and after (None: unchanged) the run."""
    if result.status != "changed" or result.new_bytes is None:
        return None, None
    old = None if result.created else decode_source(result.old_bytes or b"")[0]
    return old, decode_source(result.new_bytes)[0]


def _cache(
    rules: Sequence[type[Rule]], timeout: float, roots: Sequence[Path], table: BlockingTable
) -> ResultCache:
    """The results kept from earlier runs with the same rules, settings and roots."""
    elsewhere = [  # rules from outside this package: their code is part of the fingerprint
        Path(file)
        for rule in rules
        if (file := getattr(sys.modules.get(rule.__module__), "__file__", None))
        and not Path(file).resolve().is_relative_to(cache_module.PACKAGE_DIR)
    ]
    settings = [
        *(f"{rule.__module__}.{rule.__qualname__}" for rule in rules),
        f"timeout {timeout}",
        f"blocking {table.blocking!r} non_blocking {table.non_blocking!r}",
    ]
    fingerprint = cache_module.fingerprint(elsewhere, settings, roots)
    return ResultCache(cache_module.default_directory(), fingerprint)


def _handle_result(
    result: FileResult,
    mode: Mode,
    cwd: Path,
    output: Output,
    out_root: Path | None,
    out_base: Path | None,
) -> FileOutcome:
    """Do what the mode says with one file's result; a failed write turns it into an error."""
    display = _display_path(result.path, cwd)
    outcome = FileOutcome(display, result.status, list(result.changes), result.error)
    changed = (
        result.status == "changed" and result.old_bytes is not None and result.new_bytes is not None
    )
    try:
        if mode == "diff" and changed:
            assert result.old_bytes is not None and result.new_bytes is not None
            write_diff(
                file_diff(result.old_bytes, result.new_bytes, display, created=result.created),
                output.stdout,
                output.diff_console(),
            )
        elif mode == "check" and changed:
            output.line(display)
        elif mode == "write" and changed and result.created:
            assert result.new_bytes is not None
            create_file(result.path, result.new_bytes)
        elif mode == "write" and changed:
            assert result.old_bytes is not None and result.new_bytes is not None
            rewrite_in_place(result.path, result.old_bytes, result.new_bytes)
        elif mode == "out" and out_root is not None and out_base is not None:
            target = out_root / result.path.relative_to(out_base)
            if changed:
                source = None if result.created else result.path
                write_copy(target, result.new_bytes, source=source)
            else:
                write_copy(target, source=result.path)
    except WriteError as exc:
        return FileOutcome(display, "error", [], f"not written: {exc}")
    return outcome


def _copy_other_files(
    roots: Sequence[Path],
    out_root: Path,
    out_base: Path,
    processed: Sequence[FoundFile],
    summary: RunSummary,
) -> None:
    """``--out`` copies the whole tree: also the files no rule looks at (templates, configs...)
    and those ``--exclude`` kept from the rules (excluded from the migration, not the copy)."""
    done = {found.path.resolve() for found in processed}
    for root in roots:
        if not root.is_dir():
            continue
        for found in walk_all_files(root, prune=[out_root]).files:
            if found.path.resolve() in done:
                continue
            done.add(found.path.resolve())
            try:
                write_copy(out_root / found.path.relative_to(out_base), source=found.path)
            except WriteError as exc:
                summary.other_errors.append(str(exc))


if __name__ == "__main__":  # pragma: no cover
    main()


def entry_point() -> None:
    """The console script (and ``python -m migrate``): :func:`main`, then an immediate exit.

    Everything the run promised is done when :func:`main` returns: files written, the
    report and the cache saved, the workers gone. What is left is the interpreter's own
    teardown, which frees every object one by one: a seventh of a second after a run over
    Django, for nothing. The streams are flushed first.
    """
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if sys.gettrace() is not None or sys.getprofile() is not None:
        # a profiler or a coverage tool is watching: it saves its data on the way out
        raise SystemExit(code)
    if isinstance(code, str):  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()  # what others registered to run at exit still runs
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # the reader went away: nothing more to say
            stream.flush()
    os._exit(code if isinstance(code, int) else 0)
