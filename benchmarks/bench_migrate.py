"""How fast is `migrate --check -j 2` on a big real tree, next to merely parsing it with libcst?

The tree is Django's source from its sdist (downloaded once into benchmarks/.cache/).
Both timings use 2 processes; medians of --repeat runs. Target: migrate takes at most 1/10
of the parse-only time. migrate is timed twice: a first run (empty result cache), and the
same run again with the cache the first one left (what a CI gate on an unchanged tree pays).

    python3 benchmarks/bench_migrate.py                 # all timings, in one run (~2 min)
    python3 benchmarks/bench_migrate.py --no-baseline   # migrate only
"""

from __future__ import annotations

import argparse
import ast
import compileall
import json
import os
import resource
import subprocess
import symtable
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import libcst as cst

# Measure the code of this checkout, whatever copy of the package is installed.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from migrate.discovery import discover  # noqa: E402
from migrate.rules import RULES, Rule  # noqa: E402
from migrate.runner import FileTimeout, select_rules, time_limit  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"
REQUIREMENT = "django==5.2.*"
TARGET_RATIO = 0.1


def django_tree() -> Path:
    """The extracted sdist, downloading and extracting it when missing."""
    CACHE.mkdir(parents=True, exist_ok=True)
    archives = sorted(CACHE.glob("django-5.2*.tar.gz"))
    if not archives:
        print(f"downloading {REQUIREMENT} sdist into {CACHE} ...", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                str(CACHE),
                REQUIREMENT,
            ],
            check=True,
        )
        archives = sorted(CACHE.glob("django-5.2*.tar.gz"))
    archive = archives[-1]
    tree = CACHE / archive.name.removesuffix(".tar.gz")
    if not tree.is_dir():
        with tarfile.open(archive) as tar:
            if sys.version_info >= (3, 12):
                tar.extractall(CACHE, filter="data")
            else:
                tar.extractall(CACHE)
    return tree


PREFILTER_LIMIT = 2.0


def count_prefilter_hits(
    files: list[Path], sources: list[str], rules: list[type[Rule]]
) -> tuple[int, int, list[tuple[Path, str]]]:
    """How many files some rule's text prefilter lets through, how many of those also pass
    the rule's shape prefilter (only those are parsed with libcst), and which prefilters hang."""
    text_hits = shape_hits = 0
    hangs: list[tuple[Path, str]] = []
    for path, source in zip(files, sources, strict=True):
        text_passed = []
        for rule in rules:
            try:
                with time_limit(PREFILTER_LIMIT):
                    if rule.might_apply(source):
                        text_passed.append(rule)
            except FileTimeout:
                hangs.append((path, rule.rule_id))
                text_passed.append(rule)
        if not text_passed:
            continue
        text_hits += 1
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        shape_hits += any(rule.might_apply_to_tree(tree, source) for rule in text_passed)
    return text_hits, shape_hits, hangs


def _parse_chunk(paths: list[str]) -> list[str]:
    """Parse files with libcst; return the ones that do not parse."""
    failures = []
    for path in paths:
        try:
            cst.parse_module(Path(path).read_bytes())
        except Exception as exc:
            failures.append(f"{path}: {type(exc).__name__}")
    return failures


def children_cpu() -> float:
    """CPU seconds used so far by finished child processes: unlike wall time, it does not
    depend on what else runs on the machine (the cores here are shared)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _check_chunk(paths: list[str]) -> list[str]:
    """Read, decode and syntax-check files as cheaply as CPython can (symtable); return the
    ones that do not parse."""
    failures = []
    for path in paths:
        try:
            symtable.symtable(Path(path).read_bytes().decode("utf-8"), path, "exec")
        except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
            failures.append(f"{path}: {type(exc).__name__}")
    return failures


def time_in_pool(
    work: Callable[[list[str]], list[str]], files: list[Path], jobs: int
) -> tuple[float, float, list[str]]:
    """``work`` over ``files`` in chunks on ``jobs`` processes: wall and CPU seconds (of the
    pool), and what it returned."""
    chunk = max(1, len(files) // (jobs * 16))
    names = [str(f) for f in files]
    chunks = [names[i : i + chunk] for i in range(0, len(names), chunk)]
    cpu = children_cpu()
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        failures = [failure for part in pool.map(work, chunks) for failure in part]
    return time.perf_counter() - start, children_cpu() - cpu, failures


def time_parse_only(files: list[Path], jobs: int) -> tuple[float, float, list[str]]:
    return time_in_pool(_parse_chunk, files, jobs)


def time_migrate(
    tree: Path, jobs: int, extra: list[str], cache_dir: Path
) -> tuple[float, float, int, dict[str, object]]:
    """One ``migrate --check`` run, keeping its result cache in ``cache_dir``."""
    with tempfile.TemporaryDirectory() as scratch:
        report_path = Path(scratch) / "report.json"
        pythonpath = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        cpu = children_cpu()
        start = time.perf_counter()
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "migrate",
                str(tree),
                "--check",
                "-j",
                str(jobs),
                "--report",
                str(report_path),
                *extra,
            ],
            capture_output=True,
            check=False,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(REPO), *pythonpath]),
                "WSGI2ASGI_CACHE_DIR": str(cache_dir),
            },
        )
        elapsed = time.perf_counter() - start
        cpu_used = children_cpu() - cpu
        if completed.returncode not in (0, 1, 3):
            sys.stderr.write(completed.stderr.decode(errors="replace"))
            raise SystemExit(f"migrate failed with exit status {completed.returncode}")
        report: dict[str, object] = json.loads(report_path.read_text())
    return elapsed, cpu_used, completed.returncode, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the libcst parse-only timing (about 17 s a run on 2 quiet cores)",
    )
    parser.add_argument(
        "--timeout", help="passed to migrate: seconds per file before it is reported as an error"
    )
    parser.add_argument("--select", help="passed to migrate: the rules to run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each timing; the median is printed"
    )
    args = parser.parse_args()
    extra = [
        f"--{name}={value}" for name in ("timeout", "select") if (value := getattr(args, name))
    ]

    selected = select_rules(args.select.split(",") if args.select else None)
    tree = django_tree()
    compile_bytecode()
    files = [f.path for f in discover([tree]).files]
    all_py = sum(1 for _ in tree.rglob("*.py"))
    sources = [f.read_bytes().decode("utf-8", "replace") for f in files]
    text_hits, shape_hits, prefilter_hangs = count_prefilter_hits(files, sources, selected)
    wsgi_mentions = sum(1 for s in sources if "environ" in s or "start_response" in s)
    lines = sum(s.count("\n") for s in sources)

    print(
        f"tree: {tree} ({all_py} .py files on disk, {len(files)} found by migrate, {lines:,} lines)"
    )
    print(
        f"registered rules: {', '.join(r.rule_id for r in RULES) or 'none'}; "
        f"selected: {', '.join(r.rule_id for r in selected) or 'none'}"
    )
    print(
        f"files passing a rule's text prefilter: {text_hits}; "
        f"of those, passing its shape prefilter too (parsed with libcst): {shape_hits}"
    )
    for path, rule_id in prefilter_hangs:
        print(f"  prefilter of rule {rule_id} takes over {PREFILTER_LIMIT:g} s on {path}")
    print(f"files mentioning environ or start_response: {wsgi_mentions}")

    cold: list[tuple[float, float]] = []
    warm: list[tuple[float, float]] = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as cache_dir:
            # cold: an empty result cache, as on a first run or a fresh CI machine
            seconds, cpu, status, report = time_migrate(tree, args.jobs, extra, Path(cache_dir))
            cold.append((seconds, cpu))
            # warm: the same tree again, with what the first run kept
            seconds, cpu, warm_status, warm_report = time_migrate(
                tree, args.jobs, extra, Path(cache_dir)
            )
            warm.append((seconds, cpu))
        if (warm_status, warm_report) != (status, report):
            raise SystemExit("the run with the cache did not give the first run's report")
    migrate_seconds, migrate_cpu = median(cold)
    warm_seconds, warm_cpu = median(warm)
    summary = report["summary"]
    assert isinstance(summary, dict)
    file_entries = report["files"]
    assert isinstance(file_entries, list)
    unparsable = [f"{e['path']}: {e['error']}" for e in file_entries if e["status"] == "error"]
    print(
        f"\nmigrate --check -j {args.jobs}, first run (empty cache), median of {args.repeat}: "
        f"{migrate_seconds:.2f} s wall, {migrate_cpu:.2f} s CPU (exit status {status}); "
        f"{summary['files']} files, {summary['changed']} would change, "
        f"{summary['errors']} reported as errors:"
    )
    for line in unparsable:
        print(f"  {line}")
    print(
        f"the same again with that run's result cache, median of {args.repeat}: "
        f"{warm_seconds:.2f} s wall, {warm_cpu:.2f} s CPU (same report)"
    )

    if args.no_baseline:
        return
    parses = [time_parse_only(files, args.jobs) for _ in range(args.repeat)]
    parse_seconds, parse_cpu = median([(wall, cpu) for wall, cpu, _ in parses])
    failures = parses[0][2]
    print(
        f"\nlibcst parse only, {args.jobs} processes, median of {args.repeat}: "
        f"{parse_seconds:.2f} s wall, {parse_cpu:.2f} s CPU; "
        f"{len(failures)} files do not parse:"
    )
    for failure in failures:
        print(f"  {os.path.relpath(failure)}")
    checks = [time_in_pool(_check_chunk, files, args.jobs) for _ in range(args.repeat)]
    check_seconds, check_cpu = median([(wall, cpu) for wall, cpu, _ in checks])
    print(
        f"CPython's syntax check alone (read, decode, symtable; no interpreter start, imports "
        f"nor discovery), {args.jobs} processes, median of {args.repeat}: {check_seconds:.2f} s "
        f"wall, {check_cpu:.2f} s CPU: ratio {check_seconds / parse_seconds:.3f}, the floor of "
        "a first run that reports every file that does not parse"
    )
    ratio = migrate_seconds / parse_seconds
    verdict = "OK" if ratio <= TARGET_RATIO else "over target"
    print(
        f"\nratio migrate / parse-only, first run: {ratio:.3f} wall "
        f"(target <= {TARGET_RATIO}): {verdict}; {migrate_cpu / parse_cpu:.3f} in CPU time"
    )
    print(
        f"ratio with the result cache of an earlier run: {warm_seconds / parse_seconds:.3f} "
        f"wall, {warm_cpu / parse_cpu:.3f} CPU"
    )
    print(
        "note: on a first run every file is read, decoded and syntax-checked by CPython "
        "(symtable: the cheapest complete check), and text and AST prefilters send only "
        "the few files that may hold WSGI code to libcst."
    )


def compile_bytecode() -> None:
    """Write the bytecode of our packages, as installing them does. Where the environment
    sets PYTHONDONTWRITEBYTECODE (this workplace's machines do), an editable install never
    gets any, and every timed run would compile our modules first: 0.08 s of each run."""
    for package in ("migrate", "adapters"):
        if not compileall.compile_dir(REPO / package, quiet=1):
            raise SystemExit(f"cannot compile {package} to bytecode")


def median(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """The (wall, CPU) sample with the median wall time."""
    ordered = sorted(samples)
    return ordered[len(ordered) // 2]


if __name__ == "__main__":
    main()
