"""End to end: migrate every project in ``sample_projects/`` with the real CLI, then check that
the migrated copy, served by ASGI servers, answers exactly like the original served by waitress.

For each sample project:

* ``python3 -m migrate sample_projects/<p> --out <tmp>/<p> --report <tmp>/report.json`` exits 0
  and writes a report that follows the contract's schema;
* the original app (waitress) and the migrated app (uvicorn, then hypercorn) get the same
  requests over HTTP and give the same status, headers and body;
* ``--check`` on the migrated copy exits 0 (idempotent);
* the dry-run patch applies with ``git apply`` and gives exactly the ``--out`` tree;
* the sample folder is byte-for-byte unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from migrate.rules.deployment.run import is_deployment_file
from tests.servers import serve_asgi, serve_wsgi

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_projects"
CLI_TIMEOUT = 60

if not (ROOT / "migrate" / "cli.py").exists():
    pytest.skip(
        "migrate/cli.py is not written yet: no CLI to run end to end", allow_module_level=True
    )

#: Headers that legitimately differ between servers.
IGNORED_HEADERS = {"date", "server", "transfer-encoding", "connection", "keep-alive"}


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def json_req(method: str, path: str, data: Any) -> Req:
    return Req(method, path, {"Content-Type": "application/json"}, json.dumps(data).encode())


def form_req(path: str, body: str) -> Req:
    return Req("POST", path, {"Content-Type": "application/x-www-form-urlencoded"}, body.encode())


@dataclass(frozen=True)
class Sample:
    #: the module holding the application, and the module-level name it has (before and after)
    module: str
    app_name: str
    requests: tuple[Req, ...]
    #: every change is ``converted``: nothing left adapted or manual (notes_api's handlers
    #: use helpers of another module, which the project index lets the rule follow)
    all_converted: bool = False


PROJECTS: dict[str, Sample] = {
    "notes_api": Sample(
        "app.py",
        "application",
        (
            Req("GET", "/"),
            Req("GET", "/api/notes"),
            Req("GET", "/api/notes?tag=home&limit=1"),
            Req("GET", "/api/notes?tag=caf%C3%A9"),
            Req("GET", "/api/notes?limit=abc"),
            json_req("POST", "/api/notes", {"title": "Tëst ✓", "body": "x" * 20000, "tags": ["w"]}),
            json_req("POST", "/api/notes", {"title": "Ünïcode", "tags": ["café"]}),
            Req("POST", "/api/notes", {"Content-Type": "application/json"}, b"{nope"),
            Req("POST", "/api/notes", {"Content-Type": "text/plain"}, b"title=x"),
            json_req("POST", "/api/notes", {"body": "no title"}),
            Req("GET", "/api/notes/4"),
            Req("GET", "/api/notes/999"),
            Req("GET", "/api/notes/abc"),
            Req("PUT", "/api/notes"),
            Req("PATCH", "/api/notes/1", {"Content-Type": "application/json"}, b"{}"),
            Req("POST", "/api/notes/2", {"X-HTTP-Method-Override": "DELETE"}),
            Req("GET", "/api/notes/2"),
            Req("DELETE", "/api/notes/1"),
            Req("DELETE", "/api/notes/1"),
            Req("GET", "/api/notes/export.csv"),
            Req("GET", "/api/feed"),
            Req("GET", "/tags/caf%C3%A9"),
            Req("GET", "/tags/w"),
            Req("GET", "/login"),
            form_req("/login", "name=Zo%C3%AB+M%C3%BCller"),
            form_req("/login", "name=++"),
            Req("DELETE", "/login"),
            Req("GET", "/me", {"Cookie": "seen_login=1; user=Zo%C3%AB%20M%C3%BCller"}),
            Req("GET", "/me"),
            Req("GET", "/nowhere"),
            Req("GET", "/d%C3%A9j%C3%A0-vu?x=%E2%9C%93"),
        ),
        all_converted=True,
    ),
    "status_page": Sample(
        "server.py",
        "application",
        (
            Req("GET", "/"),
            Req("GET", "/health"),
            Req("GET", "/checks.txt"),
            Req("GET", "/?verbose=1&lang=d%C3%A9"),
            Req("POST", "/health", {"Content-Type": "application/json"}, b'{"ping": 1}'),
            Req("DELETE", "/"),
            Req("GET", "/%C3%A9t%C3%A9"),
            Req("GET", "/health", {"Cookie": "session=abc"}),
            Req("GET", "/"),
        ),
    ),
    "tiny_site": Sample(
        "wsgi.py",
        "app",
        (
            Req("GET", "/"),
            Req("GET", "/about"),
            Req("GET", "/static/style.css"),
            Req("GET", "/static/missing.css"),
            Req("GET", "/hello?name=Zo%C3%AB"),
            Req("GET", "/hello"),
            Req("GET", "/hello?name=%3Cscript%3E&name=second"),
            Req("GET", "/%C3%BCber"),
            form_req("/about", "a=1&b=%C3%A4"),
        ),
    ),
}


# ------------------------------------------------------------------------------ helpers


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[bytes]:
    # Run the CLI of this checkout, whatever copy of the package is installed.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "migrate", *args, "-j", "1"],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def check_report(report: dict[str, Any], files: set[str]) -> None:
    """The report follows the contract's schema and its summary adds up."""
    assert report["version"] == 1
    assert set(report) == {"version", "files", "summary"}
    counts = {"converted": 0, "adapted": 0, "manual": 0}
    paths = set()
    for entry in report["files"]:
        assert entry["status"] in ("changed", "unchanged", "error")
        assert isinstance(entry["path"], str)
        assert ("error" in entry) == (entry["status"] == "error"), entry
        assert set(entry) <= {"path", "status", "error", "changes"}
        paths.add(entry["path"])
        for change in entry["changes"]:
            assert set(change) == {"rule", "line", "kind", "message"}
            assert isinstance(change["rule"], str) and change["rule"]
            assert isinstance(change["line"], int) and change["line"] >= 1
            assert isinstance(change["message"], str) and change["message"]
            counts[change["kind"]] += 1
    assert paths == files
    summary = report["summary"]
    assert summary["files"] == len(report["files"])
    assert summary["changed"] == sum(f["status"] == "changed" for f in report["files"])
    assert summary["errors"] == sum(f["status"] == "error" for f in report["files"]) == 0
    for kind, count in counts.items():
        assert summary[kind] == count, kind
    assert summary["changed"] >= 1


def load_app(folder: Path, sample: Sample, unique: str) -> Any:
    """Import ``folder/<module>`` as ``unique`` with ``folder`` on sys.path, so its sibling
    imports (``from store import ...``) resolve to *this* copy; the siblings are dropped from
    ``sys.modules`` afterwards so the next copy gets its own."""
    siblings = {path.stem for path in folder.glob("*.py")}
    saved = {name: sys.modules.pop(name) for name in siblings if name in sys.modules}
    saved_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # never write __pycache__ into sample_projects/
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(unique, folder / sample.module)
        assert spec is not None and spec.loader is not None
        module: ModuleType = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
        return getattr(module, sample.app_name)
    finally:
        sys.path.remove(str(folder))
        sys.dont_write_bytecode = saved_bytecode
        for name in siblings:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


Answer = tuple[int, list[tuple[str, str]], bytes]


def replay(url: str, requests: tuple[Req, ...]) -> list[Answer]:
    answers: list[Answer] = []
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        for req in requests:
            client.cookies.clear()  # no cookie jar: every request is exactly as written
            response = client.request(
                req.method, url + req.path, headers=req.headers, content=req.content
            )
            headers = sorted(
                (name.lower(), value)
                for name, value in response.headers.multi_items()
                if name.lower() not in IGNORED_HEADERS
            )
            answers.append((response.status_code, headers, response.content))
    return answers


@pytest.fixture(scope="module", autouse=True)
def samples_stay_untouched() -> Iterator[None]:
    before = {name: snapshot(SAMPLES / name) for name in PROJECTS}
    yield
    for name, files in before.items():
        assert snapshot(SAMPLES / name) == files, f"sample_projects/{name} was modified"


def test_every_sample_project_is_covered() -> None:
    found = {p.name for p in SAMPLES.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert found == set(PROJECTS)
    for name in found:
        assert (SAMPLES / name / "README.md").is_file()
        assert '__name__ == "__main__"' in (SAMPLES / name / PROJECTS[name].module).read_text()


# ------------------------------------------------------------------------------ the test


@pytest.mark.timeout(90)
@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_sample_project_end_to_end(project: str, tmp_path: Path) -> None:
    sample = PROJECTS[project]
    source = SAMPLES / project
    before = snapshot(source)
    out = tmp_path / "out" / project
    report_file = tmp_path / "report.json"

    # 1. migrate a copy, with a report
    done = run_cli(f"sample_projects/{project}", "--out", str(out), "--report", str(report_file))
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    looked_at = {  # the Python files and the deployment files
        f"sample_projects/{project}/{rel}"
        for rel in before
        if rel.endswith(".py") or is_deployment_file(rel)
    }
    report = json.loads(report_file.read_text(encoding="utf-8"))
    check_report(report, looked_at)
    if sample.all_converted:
        assert report["summary"]["adapted"] == report["summary"]["manual"] == 0, report
    migrated = snapshot(out)
    assert set(migrated) == set(before), "the --out copy has other files than the project"
    assert migrated != before, "nothing was migrated"
    for rel, data in migrated.items():
        if rel.endswith(".py"):
            compile(data, rel, "exec")  # every written file parses

    # 2. same behaviour over HTTP: original on waitress, migrated copy on uvicorn and hypercorn
    original_app = load_app(source, sample, f"sample_{project}_original")
    with serve_wsgi(original_app, "waitress") as url:
        expected = replay(url, sample.requests)
    assert [status for status, _, _ in expected].count(200) >= 3  # the sample really answers
    for server in ("uvicorn", "hypercorn"):
        migrated_app = load_app(out, sample, f"sample_{project}_migrated_{server}")
        with serve_asgi(migrated_app, server) as url:
            got = replay(url, sample.requests)
        for req, want, have in zip(sample.requests, expected, got, strict=True):
            assert have[0] == want[0], f"{server}: {req}: status {have[0]} != {want[0]}"
            assert have[1] == want[1], f"{server}: {req}: headers differ"
            assert have[2] == want[2], f"{server}: {req}: body differs"

    # 3. idempotent: nothing left to do on the migrated copy
    again = run_cli(str(out), "--check")
    assert again.returncode == 0, again.stdout.decode(errors="replace")

    # 4. the dry-run diff is a patch that gives exactly the --out tree
    dry = run_cli(project, cwd=SAMPLES)
    assert dry.returncode == 0, dry.stderr.decode(errors="replace")
    assert dry.stdout.startswith(b"--- "), dry.stdout[:200]
    applied = tmp_path / "applied"
    shutil.copytree(source, applied / project, ignore=shutil.ignore_patterns("__pycache__"))
    patch = subprocess.run(
        ["git", "apply", "--whitespace=nowarn", "-"],
        cwd=applied,
        input=dry.stdout,
        capture_output=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert patch.returncode == 0, patch.stderr.decode(errors="replace")
    assert snapshot(applied / project) == migrated

    # 5. the sample itself is byte-for-byte unchanged
    assert snapshot(source) == before
