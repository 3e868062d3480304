"""The `migrate` command through click's CliRunner: every flag, every exit code, bad input.

The real rules are developed separately; these tests run the small rules of
``cli_test_rules`` in their place (monkeypatched into the registry).
"""

from __future__ import annotations

import codecs
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import migrate.rules
from migrate.cli import main
from migrate.reporting import FileOutcome, RunSummary, build_report, report_json
from migrate.rules import Change
from tests.migrate.cli_test_rules import TEST_RULES

APP = 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return []\n'
MIGRATED_APP = (
    "async def application(environ, start_response):\n"
    "    # migrate[test-marker]: start_response [call] needs a look\n"
    '    start_response("200 OK", [])\n'
    "    return []\n"
)


@pytest.fixture(autouse=True)
def test_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setattr(migrate.rules, "RULES", TEST_RULES)
    monkeypatch.chdir(tmp_path)
    yield


def make_tree(files: dict[str, str | bytes], root: Path | None = None) -> Path:
    root = root or Path("proj")
    for relpath, content in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# --------------------------------------------------------------------------- default: diff


def test_default_prints_a_patch_and_writes_nothing() -> None:
    make_tree({"app.py": APP, "plain.py": "x = 1\n"})
    result = run("proj", "-j", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("--- a/proj/app.py\n+++ b/proj/app.py\n@@ -1,3 +1,4 @@\n")
    # markup-looking text reaches the diff and the summary untouched
    assert "+    # migrate[test-marker]: start_response [call] needs a look\n" in result.stdout
    assert "proj/app.py:2 [test-marker] manual: start_response [call] needs a look" in result.stderr
    assert "1 file would be changed, 1 unchanged (2 files checked)" in result.stderr
    assert Path("proj/app.py").read_text() == APP
    for alias in ("--diff", "--dry-run"):
        assert run("proj", "-j", "1", alias).stdout == result.stdout


def test_nothing_to_change_says_so() -> None:
    make_tree({"plain.py": "x = 1\n"})
    result = run("proj")
    assert (result.exit_code, result.stdout) == (0, "")
    assert "No files would be changed (1 file checked)." in result.stderr


def test_parallel_output_equals_serial() -> None:
    make_tree({f"m{i}.py": APP if i % 2 else "x = 1\n" for i in range(8)})
    serial = run("proj", "-j", "1")
    parallel = run("proj", "-j", "2")
    assert parallel.exit_code == 0
    assert parallel.stdout == serial.stdout and parallel.stdout.count("+++ ") == 4


# --------------------------------------------------------------------------- --check


def test_check_lists_files_and_exits_1() -> None:
    make_tree({"app.py": APP, "plain.py": "x = 1\n"})
    result = run("proj", "--check")
    assert (result.exit_code, result.stdout) == (1, "proj/app.py\n")
    assert Path("proj/app.py").read_text() == APP
    Path("proj/app.py").write_text(MIGRATED_APP)
    assert run("proj", "--check").exit_code == 0


# --------------------------------------------------------------------------- --write


def test_write_rewrites_keeps_mode_and_second_run_is_a_no_op() -> None:
    make_tree({"app.py": APP, "plain.py": "x = 1\n"})
    os.chmod("proj/app.py", 0o640)
    result = run("proj", "-w")
    assert result.exit_code == 0 and result.stdout == ""
    assert "1 file changed" in result.stderr
    assert Path("proj/app.py").read_text() == MIGRATED_APP
    assert stat.S_IMODE(os.stat("proj/app.py").st_mode) == 0o640
    assert not list(Path("proj").glob(".*migrate-tmp"))
    again = run("proj", "--write")
    assert "No files changed" in again.stderr and Path("proj/app.py").read_text() == MIGRATED_APP


def test_write_refuses_a_read_only_file_and_does_the_rest() -> None:
    # Checked on the mode bits, so this holds when the tests run as root too.
    make_tree({"a_ro.py": APP, "b.py": APP})
    os.chmod("proj/a_ro.py", 0o444)
    result = run("proj", "--write")
    assert result.exit_code == 3
    assert "proj/a_ro.py: not written: file is read-only" in result.stderr
    assert Path("proj/a_ro.py").read_text() == APP
    assert Path("proj/b.py").read_text() == MIGRATED_APP


def test_write_failure_leaves_no_half_written_file(monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree({"a.py": APP, "b.py": APP})
    real_replace = os.replace

    def failing_replace(src: str, dst: str) -> None:
        if str(dst).endswith("a.py"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr("migrate.writing.os.replace", failing_replace)
    result = run("proj", "-w")
    assert result.exit_code == 3
    assert "proj/a.py: not written: cannot write: No space left on device" in result.stderr
    assert Path("proj/a.py").read_text() == APP
    assert Path("proj/b.py").read_text() == MIGRATED_APP
    assert sorted(p.name for p in Path("proj").iterdir()) == ["a.py", "b.py"]


def test_write_keeps_encoding_bom_crlf_and_empty_files() -> None:
    latin = ("# -*- coding: latin-1 -*-\n" + APP + 'NAME = "café"\n').encode("latin-1")
    make_tree(
        {
            "latin.py": latin,
            "bom.py": codecs.BOM_UTF8 + APP.encode(),
            "crlf.py": APP.replace("\n", "\r\n").encode(),
            "empty.py": b"",
        }
    )
    assert run("proj", "-w").exit_code == 0
    assert Path("proj/latin.py").read_bytes() == (
        "# -*- coding: latin-1 -*-\n" + MIGRATED_APP + 'NAME = "café"\n'
    ).encode("latin-1")
    assert Path("proj/bom.py").read_bytes() == codecs.BOM_UTF8 + MIGRATED_APP.encode()
    assert Path("proj/crlf.py").read_bytes() == MIGRATED_APP.replace("\n", "\r\n").encode()
    assert Path("proj/empty.py").read_bytes() == b""


# --------------------------------------------------------------------------- bad input


def test_broken_files_are_reported_and_the_rest_is_done() -> None:
    make_tree(
        {
            "app.py": APP,
            "syntax.py": "x = 1\ndef f(:\n",
            "crash.py": "CRASH_ME = 1\n",
            "undecodable.py": b"x = '\xe9'\n",
            "broken_output.py": "def BREAK_ME():\n    yield from x\n",
        }
    )
    result = run("proj", "-j", "1")
    assert result.exit_code == 3
    assert "+++ b/proj/app.py" in result.stdout and result.stdout.count("+++ ") == 1
    assert "4 files could not be processed (left alone):" in result.stderr
    assert "proj/syntax.py: syntax error at line 2" in result.stderr
    assert "proj/crash.py: rule test-crash crashed: RuntimeError: boom" in result.stderr
    assert "proj/undecodable.py: cannot decode as utf-8: byte 0xe9" in result.stderr
    assert "proj/broken_output.py: rules test-broken produced code that does not compile" in (
        result.stderr
    )
    # --check: files that could not be processed win over "would change"
    assert run("proj", "--check").exit_code == 3


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_that_takes_too_long_is_an_error_not_a_hang(jobs: str) -> None:
    make_tree({"app.py": APP, "slow.py": "SLOW_ME = 1\n", "z.py": APP})
    result = run("proj", "--timeout", "0.5", "-j", jobs)
    assert result.exit_code == 3
    assert "proj/slow.py: timed out after 0.5 s in the prefilter of rule test-slow" in result.stderr
    assert result.stdout.count("+++ ") == 2


def test_symlink_out_of_the_tree_is_skipped_with_a_reason(tmp_path: Path) -> None:
    make_tree({"app.py": APP})
    outside = tmp_path / "elsewhere.py"
    outside.write_text(APP)
    os.symlink(outside, "proj/link.py")
    result = run("proj", "-w")
    assert result.exit_code == 0
    assert "proj/link.py: symlink to" in result.stderr and "outside the tree" in result.stderr
    assert outside.read_text() == APP


# --------------------------------------------------------------------------- --out


def test_out_writes_a_migrated_copy_of_the_whole_tree() -> None:
    make_tree(
        {
            "app.py": APP,
            "plain.py": "x = 1\n",
            "syntax.py": "def f(:\n",
            "templates/index.html": "<p>hi</p>\n",
            ".secret/key": "k",
            "venv/pyvenv.cfg": "",
            "venv/lib.py": "",
        }
    )
    result = run("proj", "--out", "copy")
    assert result.exit_code == 3  # syntax.py: copied as is, and reported
    assert Path("copy/app.py").read_text() == MIGRATED_APP
    assert Path("copy/plain.py").read_text() == "x = 1\n"
    assert Path("copy/syntax.py").read_text() == "def f(:\n"
    assert Path("copy/templates/index.html").read_text() == "<p>hi</p>\n"
    assert not Path("copy/.secret").exists() and not Path("copy/venv").exists()
    assert Path("proj/app.py").read_text() == APP


def test_out_copies_excluded_files_unchanged() -> None:
    make_tree({"app.py": APP, "legacy/app.py": APP, "legacy/notes.txt": "n\n"})
    assert run("proj", "--exclude", "legacy", "--out", "copy").exit_code == 0
    assert Path("copy/app.py").read_text() == MIGRATED_APP
    assert Path("copy/legacy/app.py").read_text() == APP  # not migrated, not lost
    assert Path("copy/legacy/notes.txt").read_text() == "n\n"


def test_out_inside_the_tree_is_not_walked_and_out_around_path_is_refused() -> None:
    make_tree({"app.py": APP})
    assert run("proj", "--out", "proj/migrated").exit_code == 0
    assert Path("proj/migrated/app.py").read_text() == MIGRATED_APP
    assert not Path("proj/migrated/migrated").exists()
    assert run("proj", "--out", "proj/migrated").exit_code == 0  # a second run is fine too
    assert run("proj", "--out", ".").exit_code == 2


# --------------------------------------------------------------------------- --report


def test_report_follows_the_contract_schema() -> None:
    make_tree({"app.py": APP, "plain.py": "x = 1\n", "syntax.py": "def f(:\n"})
    result = run("proj", "--report", "out/report.json")
    assert result.exit_code == 3
    report = json.loads(Path("out/report.json").read_text())
    # CPython's wording varies between versions
    assert report["files"][2]["error"].startswith("syntax error at line 1, column ")
    report["files"][2]["error"] = "SYNTAX"
    assert report == {
        "version": 1,
        "files": [
            {
                "path": "proj/app.py",
                "status": "changed",
                "changes": [
                    {
                        "rule": "test-async-app",
                        "line": 1,
                        "kind": "converted",
                        "message": "`application` is now [async]",
                    },
                    {
                        "rule": "test-marker",
                        "line": 2,
                        "kind": "manual",
                        "message": "start_response [call] needs a look",
                    },
                ],
            },
            {"path": "proj/plain.py", "status": "unchanged", "changes": []},
            {
                "path": "proj/syntax.py",
                "status": "error",
                "error": "SYNTAX",
                "changes": [],
            },
        ],
        "summary": {
            "files": 3,
            "changed": 1,
            "errors": 1,
            "converted": 1,
            "adapted": 0,
            "manual": 1,
        },
    }


def test_report_has_one_line_per_file_and_keeps_any_text() -> None:
    changes = [Change("wsgi-app", 3, "converted", 'a "quote",\nnewline and é')]
    summary = RunSummary(
        outcomes=[
            FileOutcome("dir/é.py", "changed", changes, None),
            FileOutcome("b.py", "unchanged", [], None),
            FileOutcome("c.py", "error", [], "cannot read: x"),
        ]
    )
    text = report_json(summary).decode("utf-8")
    assert json.loads(text) == build_report(summary)
    lines = text.splitlines()
    assert lines[3:7] == [
        "    " + json.dumps(entry, ensure_ascii=False) + ("," if index < 2 else "")
        for index, entry in enumerate(build_report(summary)["files"])
    ] + ["  ],"]
    assert json.loads(report_json(RunSummary())) == build_report(RunSummary())


# --------------------------------------------------------------------------- rules


def test_select_ignore_and_list_rules() -> None:
    make_tree({"app.py": APP})
    only_marker = run("proj", "--select", "test-marker")
    assert (
        "+async" not in only_marker.stdout and "+    # migrate[test-marker]" in only_marker.stdout
    )
    no_marker = run("proj", "--ignore", "test-marker,test-crash")
    assert "+async def" in no_marker.stdout and "migrate[test-marker]" not in no_marker.stdout
    both = run("proj", "--select", "test-async-app", "--select", "test-marker")
    assert both.stdout == run("proj").stdout
    listing = run("--list-rules")
    assert listing.exit_code == 0
    assert listing.stdout.splitlines()[0] == "test-async-app  Make `application` async (test rule)."


@pytest.mark.parametrize(
    "args",
    [
        ["proj", "--select", "nope"],
        ["proj", "--ignore", "test-marker,nope"],
        ["proj", "--write", "--check"],
        ["proj", "--diff", "--out", "x"],
        [],
        ["does-not-exist"],
        ["proj", "-j", "0"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    make_tree({"app.py": APP})
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert Path("proj/app.py").read_text() == APP


# --------------------------------------------------------------------------- pyproject.toml


def test_settings_from_pyproject_and_flags_win() -> None:
    make_tree(
        {
            "pyproject.toml": '[tool.wsgi2asgi]\nselect = ["test-marker"]\nexclude = ["skipme"]\njobs = 1\n',
            "app.py": APP,
            "skipme/app.py": APP,
        }
    )
    configured = run("proj")
    assert configured.stdout.count("+++ ") == 1
    assert "+    # migrate[test-marker]" in configured.stdout and "+async" not in configured.stdout
    flagged = run("proj", "--select", "test-async-app")
    assert "+async def" in flagged.stdout and "migrate[test-marker]" not in flagged.stdout


@pytest.mark.parametrize(
    "table",
    ['select = ["nope"]', "jobs = 0", 'exclude = "a"\nignore = [1]', "not toml ["],
)
def test_bad_settings_are_usage_errors(table: str) -> None:
    make_tree({"pyproject.toml": f"[tool.wsgi2asgi]\n{table}\n", "app.py": APP})
    assert run("proj").exit_code == 2


def test_exclude_flag_adds_to_configured_excludes() -> None:
    make_tree(
        {
            "pyproject.toml": '[tool.wsgi2asgi]\nexclude = ["skipme"]\n',
            "app.py": APP,
            "skipme/app.py": APP,
            "generated/app.py": APP,
        }
    )
    result = run("proj", "--exclude", "generated", "--check")
    assert (result.exit_code, result.stdout) == (1, "proj/app.py\n")
