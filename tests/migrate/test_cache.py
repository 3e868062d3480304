"""The result cache: a second run over the same bytes gives the same results without
redoing the work, and anything that could change a result makes it work again."""

from __future__ import annotations

import importlib.metadata
import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate import cache as cache_module
from migrate.cache import ResultCache
from migrate.cli import main
from migrate.runner import FileResult, FileTask, run_files, select_rules
from migrate.runner import files as run_phase
from tests.migrate.test_runner import APP_MODULE as APP
from tests.migrate.test_runner import HELPERS_MODULE as HELPERS

# helpers.py's text_response stores the start_response it gets: not safe to hand a collector
UNTRUSTED_HELPERS = HELPERS.replace(
    "def text_response(start_response, text):\n",
    "SEEN = []\n\n\ndef text_response(start_response, text):\n    SEEN.append(start_response)\n",
)


def write_tree(root: Path, files: dict[str, str]) -> list[FileTask]:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return [FileTask(root / name, name) for name in files]


def outcome(results: list[FileResult]) -> list[tuple[str, str, list[str], bytes | None]]:
    return [(r.relpath, r.status, [c.kind for c in r.changes], r.new_bytes) for r in results]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the runner scanned and transformed a file (in this process: jobs=1)."""
    calls = {"scan": 0, "transform": 0}
    scan, process = run_phase.scan_file, run_phase.process_file

    def counting_scan(*args: object, **kwargs: object) -> run_phase.ScanResult:
        calls["scan"] += 1
        return scan(*args, **kwargs)  # type: ignore[arg-type]

    def counting_process(*args: object, **kwargs: object) -> FileResult:
        calls["transform"] += 1
        return process(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(run_phase, "scan_file", counting_scan)
    monkeypatch.setattr(run_phase, "process_file", counting_process)
    return calls


def run(tasks: list[FileTask], directory: Path) -> list[FileResult]:
    cache = ResultCache(directory, "fingerprint")
    return list(run_files(tasks, select_rules(["wsgi-app"]), jobs=1, cache=cache))


@pytest.mark.parametrize("big_run", [False, True], ids=["small run", "big run"])
def test_a_second_run_takes_every_result_from_the_cache(
    tmp_path: Path, counted: dict[str, int], monkeypatch: pytest.MonkeyPatch, big_run: bool
) -> None:
    if big_run:  # the rules run during the scan, as on a tree of more files
        monkeypatch.setattr(run_phase, "RULES_WAIT_UP_TO", 0)
    tasks = write_tree(
        tmp_path / "proj", {"helpers.py": HELPERS, "app.py": APP, "other.py": "x = 1\n"}
    )
    first = run(tasks, tmp_path / "cache")
    # helpers.py and app.py pass the prefilters. On a small run the rules wait for the
    # project index and run once on both; on a big one they ran during the scan, and only
    # app.py (which hands start_response to a helper of helpers.py) is done again
    expected = {"scan": 3, "transform": 1 if big_run else 2}
    assert counted == expected
    assert outcome(first)[1][1:3] == ("changed", ["converted"])
    second = run(tasks, tmp_path / "cache")
    assert outcome(second) == outcome(first)
    assert [r.path for r in second] == [t.path for t in tasks]
    assert counted == expected, "the second run redid work"


def test_a_changed_file_is_worked_on_again(tmp_path: Path, counted: dict[str, int]) -> None:
    tasks = write_tree(tmp_path / "proj", {"app.py": APP, "other.py": "x = 1\n"})
    run(tasks, tmp_path / "cache")
    (tmp_path / "proj" / "other.py").write_text("x = 2\n")
    run(tasks, tmp_path / "cache")
    assert counted["scan"] == 3


def test_a_result_that_depends_on_another_module_follows_it(tmp_path: Path) -> None:
    # app.py keeps its bytes; what helpers.py defines decides whether it converts
    tasks = write_tree(tmp_path / "proj", {"helpers.py": HELPERS, "app.py": APP})
    assert outcome(run(tasks, tmp_path / "cache"))[1][2] == ["converted"]
    (tmp_path / "proj" / "helpers.py").write_text(UNTRUSTED_HELPERS)
    assert outcome(run(tasks, tmp_path / "cache"))[1][2] == ["adapted"]
    (tmp_path / "proj" / "helpers.py").write_text(HELPERS)
    assert outcome(run(tasks, tmp_path / "cache"))[1][2] == ["converted"]


def test_errors_are_never_kept(tmp_path: Path, counted: dict[str, int]) -> None:
    tasks = write_tree(tmp_path / "proj", {"broken.py": "x = (\n"})
    assert run(tasks, tmp_path / "cache")[0].status == "error"
    assert run(tasks, tmp_path / "cache")[0].status == "error"
    assert counted["scan"] == 2


def test_a_cache_that_cannot_be_read_is_ignored(tmp_path: Path) -> None:
    tasks = write_tree(tmp_path / "proj", {"app.py": APP})
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "fingerprint.pickle").write_bytes(b"not a pickle")
    assert run(tasks, tmp_path / "cache")[0].status == "changed"
    assert run(tasks, tmp_path / "cache")[0].status == "changed"  # and it was rewritten


def test_the_fingerprint_covers_rules_settings_code_and_roots(tmp_path: Path) -> None:
    rule_file = tmp_path / "my_rule.py"
    rule_file.write_text("# version 1\n")
    base = cache_module.fingerprint([rule_file], ["rule a", "timeout 120"], [tmp_path])
    assert base == cache_module.fingerprint([rule_file], ["rule a", "timeout 120"], [tmp_path])
    assert base != cache_module.fingerprint([rule_file], ["rule b", "timeout 120"], [tmp_path])
    assert base != cache_module.fingerprint([rule_file], ["rule a", "timeout 5"], [tmp_path])
    assert base != cache_module.fingerprint(
        [rule_file], ["rule a", "timeout 120"], [tmp_path / "x"]
    )
    rule_file.write_text("# version 2\n")
    assert base != cache_module.fingerprint([rule_file], ["rule a", "timeout 120"], [tmp_path])


def test_the_fingerprint_covers_the_libcst_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cache_module.libcst_version() == importlib.metadata.version("libcst")
    before = cache_module.fingerprint([], ["rule a"], [tmp_path])
    monkeypatch.setattr(cache_module, "libcst_version", lambda: "99.0")
    assert cache_module.fingerprint([], ["rule a"], [tmp_path]) != before


def test_the_index_key_does_not_depend_on_set_order() -> None:
    assert cache_module.value_hash(frozenset({"a", "b", "c"})) == cache_module.value_hash(
        frozenset({"c", "b", "a"})
    )
    assert cache_module.value_hash(frozenset({"a"})) != cache_module.value_hash(frozenset({"b"}))


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_the_cli_keeps_its_cache_outside_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("WSGI2ASGI_CACHE_DIR", str(cache_dir))
    project = tmp_path / "proj"
    write_tree(project, {"helpers.py": HELPERS, "app.py": APP})
    before = {p: p.read_bytes() for p in project.rglob("*")}
    first = cli(str(project), "--report", str(tmp_path / "r1.json"))
    second = cli(str(project), "--report", str(tmp_path / "r2.json"))
    assert first == second and first[0] == 0 and first[1].startswith("--- ")
    assert json.loads((tmp_path / "r1.json").read_text()) == json.loads(
        (tmp_path / "r2.json").read_text()
    )
    assert {p: p.read_bytes() for p in project.rglob("*")} == before  # nothing written there
    assert len(list(cache_dir.glob("*.pickle"))) == 1


def test_no_cache_neither_reads_nor_writes_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("WSGI2ASGI_CACHE_DIR", str(cache_dir))
    project = tmp_path / "proj"
    write_tree(project, {"app.py": APP})
    assert cli(str(project), "--check", "--no-cache")[0] == 1
    assert not cache_dir.exists()
    (project / "pyproject.toml").write_text("[tool.wsgi2asgi]\ncache = false\n")
    assert cli(str(project), "--check")[0] == 1
    assert not cache_dir.exists()


def test_a_cache_that_cannot_be_written_costs_only_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("WSGI2ASGI_CACHE_DIR", str(blocker / "cache"))
    project = tmp_path / "proj"
    write_tree(project, {"app.py": APP})
    result = CliRunner().invoke(main, [str(project), "--check"], catch_exceptions=False)
    assert result.exit_code == 1  # the verdict, not a failure
    assert "the cache could not be written" in result.stderr


def test_caches_no_run_wrote_for_a_month_are_deleted(tmp_path: Path) -> None:
    tasks = write_tree(tmp_path / "proj", {"app.py": APP})
    stale = tmp_path / "cache" / "made-by-an-old-version.pickle"
    recent = tmp_path / "cache" / "made-yesterday.pickle"
    for path, age_days in ((stale, 31), (recent, 1)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        when = time.time() - age_days * 86400
        os.utime(path, (when, when))
    run(tasks, tmp_path / "cache")
    assert not stale.exists() and recent.exists()
