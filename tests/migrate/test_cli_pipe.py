"""A real `python3 -m migrate` run, piped: the dry-run output is a patch that `git apply`
and `patch -p1` accept, and applying it gives byte for byte what `--write` writes.

The test rules are put in the registry of the child process by a ``sitecustomize``
module on its PYTHONPATH (the real rules are developed separately).
"""

from __future__ import annotations

import codecs
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return []\n'

SITECUSTOMIZE = """
import migrate.rules
from tests.migrate.cli_test_rules import TEST_RULES
migrate.rules.RULES = TEST_RULES
"""

FILES: dict[str, bytes] = {
    "app.py": APP.encode(),
    "no_newline.py": APP.rstrip("\n").encode(),
    "crlf.py": APP.replace("\n", "\r\n").encode(),
    "pkg/bom.py": codecs.BOM_UTF8 + APP.encode(),
    "pkg/latin.py": ("# -*- coding: latin-1 -*-\nX = 'é'\n" + APP).encode("latin-1"),
    "pkg/long.py": ("".join(f"x{i} = {i}\n" for i in range(30)) + APP + "y = 1\n").encode(),
    "pkg/unchanged.py": b"x = 1\n",
    "pkg/empty.py": b"",
    "pkg/form_feed.py": ("x = 1\n\x0c\n" + APP).encode(),
    "README.md": b"# readme\n",
}


def make_project(root: Path) -> None:
    for relpath, data in FILES.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def run_migrate(args: list[str], cwd: Path, hooks: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hooks), str(REPO)])}
    return subprocess.run(
        [sys.executable, "-m", "migrate", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_piped_dry_run_is_a_patch_equal_to_write(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    dry, written, patched = tmp_path / "dry", tmp_path / "written", tmp_path / "patched"
    for root in (dry, written, patched):
        make_project(root)

    result = run_migrate([".", "-j", "2"], dry, hooks)
    assert result.returncode == 0, result.stderr.decode()
    patch = result.stdout
    assert patch.count(b"--- a/") == patch.count(b"\n+++ b/") == 7
    assert b"\\ No newline at end of file\n" in patch
    assert b"async def application(environ, start_response):\r\n" in patch  # CRLF kept
    assert b"# migrate[test-marker]: start_response [call] needs a look" in patch
    assert b"\x1b[" not in patch  # no colour when piped
    assert tree_bytes(dry) == FILES  # nothing written
    assert b"7 files would be changed" in result.stderr

    assert run_migrate([".", "--write"], written, hooks).returncode == 0

    subprocess.run(["git", "init", "-q"], cwd=dry, check=True)
    (tmp_path / "changes.patch").write_bytes(patch)
    subprocess.run(["git", "apply", "--check", "../changes.patch"], cwd=dry, check=True)
    subprocess.run(["git", "apply", "../changes.patch"], cwd=dry, check=True)
    assert tree_bytes(dry) == tree_bytes(written)

    if shutil.which("patch") is not None:
        subprocess.run(
            ["patch", "-p1", "--quiet", "--binary", "-i", "../changes.patch"],
            cwd=patched,
            check=True,
        )
        assert tree_bytes(patched) == tree_bytes(written)

    # idempotent: a second run over the written tree changes nothing
    again = run_migrate([".", "--check"], written, hooks)
    assert (again.returncode, again.stdout) == (0, b"")
    assert b"No files would be changed" in again.stderr


def test_a_project_package_named_like_the_standard_librarys_does_not_break_the_tool(
    tmp_path: Path,
) -> None:
    """``python3 -m migrate .`` at the root of a project that has its own ``json`` package
    (or ``http``, ``types``...): ``python -m`` puts the current folder first on sys.path, and
    the tool (libcst imports ``json``) must not import the project's package instead."""
    project = tmp_path / "project"
    (project / "json").mkdir(parents=True)
    (project / "json" / "__init__.py").write_text("raise ImportError('the project json')\n")
    (project / "http.py").write_text("raise ImportError('the project http')\n")
    (project / "app.py").write_text(APP)
    completed = subprocess.run(
        [sys.executable, "-m", "migrate", "--check", "."],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert b"ImportError" not in completed.stderr, completed.stderr.decode()
    assert completed.returncode == 1  # --check: app.py would change
    assert b"3 files checked" in completed.stderr
