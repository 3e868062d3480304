"""The runner: decoding, the prefilter, errors per file, byte preservation, parallel order."""

from __future__ import annotations

import ast
import codecs
from pathlib import Path

import libcst as cst
import pytest

from migrate import project
from migrate.diffing import file_diff, split_lines
from migrate.rules.base import FileContext
from migrate.runner import (
    FileTask,
    MigrationError,
    UnknownRuleError,
    migrate_file_bytes,
    migrate_source,
    module_name_for,
    run_files,
    select_rules,
)
from migrate.runner import files as run_phase
from migrate.runner import source as source_phase
from tests.migrate.cli_test_rules import (
    TEST_RULES,
    AsyncApplicationRule,
    CrashingRule,
    StartResponseMarkerRule,
)

APP = 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return []\n'
CONTEXT = FileContext("app.py", "app")


def test_migrate_source_runs_rules_in_order_and_is_idempotent() -> None:
    result = migrate_source(APP, rules=TEST_RULES)
    assert result.new_source.startswith("async def application(")
    assert "# migrate[test-marker]: start_response [call] needs a look\n" in result.new_source
    assert [(c.rule, c.line, c.kind) for c in result.changes] == [
        ("test-async-app", 1, "converted"),
        ("test-marker", 2, "manual"),
    ]
    assert result.changed
    again = migrate_source(result.new_source, rules=TEST_RULES)
    assert again.new_source == result.new_source and again.changes == []


def test_prefilter_skips_rules_and_parsing() -> None:
    result = migrate_source("x = 1\n", rules=TEST_RULES)
    assert result.rules_run == [] and not result.changed


def test_unparsable_source_is_an_error_even_when_no_rule_applies() -> None:
    with pytest.raises(
        MigrationError, match=r"syntax error at line 2, column \d+: '\(' was never closed"
    ):
        migrate_source("x = 1\ny = (\nz = 3\n", rules=TEST_RULES)
    with pytest.raises(MigrationError, match=r"syntax error"):
        migrate_source("def application(:\n", rules=TEST_RULES)


def test_rule_crash_names_the_rule() -> None:
    with pytest.raises(MigrationError, match=r"rule test-crash crashed: RuntimeError: boom"):
        migrate_source("CRASH_ME = 1\n", rules=TEST_RULES)


def test_output_that_does_not_compile_is_refused() -> None:
    source = "def BREAK_ME():\n    yield from x\n"
    with pytest.raises(MigrationError, match=r"test-broken produced code that does not compile"):
        migrate_source(source, rules=TEST_RULES)


def test_select_rules_by_id() -> None:
    assert select_rules(["test-marker"], available=TEST_RULES) == [StartResponseMarkerRule]
    assert CrashingRule not in select_rules(None, ["test-crash"], available=TEST_RULES)
    with pytest.raises(UnknownRuleError, match="'nope'"):
        select_rules(["nope"], available=TEST_RULES)


def test_module_name_for() -> None:
    assert module_name_for("app/wsgi.py") == "app.wsgi"
    assert module_name_for("pkg/__init__.py") == "pkg"
    assert module_name_for("wsgi.py") == "wsgi"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(APP.replace("\n", "\r\n").encode(), id="crlf"),
        pytest.param(codecs.BOM_UTF8 + APP.encode(), id="bom"),
        pytest.param(codecs.BOM_UTF8 + APP.replace("\n", "\r\n").encode(), id="bom-crlf"),
        pytest.param(
            ("# -*- coding: latin-1 -*-\n" + APP + 'NAME = "café"\n').encode("latin-1"),
            id="latin-1",
        ),
        pytest.param(APP.rstrip("\n").encode(), id="no-final-newline"),
    ],
)
def test_bytes_keep_encoding_bom_and_line_endings(data: bytes) -> None:
    status, changes, new, error = migrate_file_bytes(data, [AsyncApplicationRule], CONTEXT)
    assert (status, error) == ("changed", None) and new is not None
    assert [c.kind for c in changes] == ["converted"]
    # exactly one line differs: everything else is byte-for-byte the same
    old_lines, new_lines = split_lines(data), split_lines(new)
    assert len(old_lines) == len(new_lines)
    differing = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert len(differing) == 1
    before, after = differing[0]
    assert after == before.replace(b"def application", b"async def application")
    assert new.startswith(codecs.BOM_UTF8) == data.startswith(codecs.BOM_UTF8)


def test_empty_file_and_undecodable_file() -> None:
    assert migrate_file_bytes(b"", TEST_RULES, CONTEXT)[0] == "unchanged"
    status, _, _, error = migrate_file_bytes(b"x = '\xe9'\n", TEST_RULES, CONTEXT)
    assert status == "error" and error is not None and "cannot decode as utf-8" in error


def test_file_diff_marks_missing_final_newline() -> None:
    diff = file_diff(b"a\nb", b"a\nc", "x.py")
    assert diff == (
        b"--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n"
        b"+c\n\\ No newline at end of file\n"
    )
    assert file_diff(b"", b"x\n", "n.py").endswith(b"@@ -0,0 +1 @@\n+x\n")


def test_run_files_in_processes_keeps_order(tmp_path: Path) -> None:
    tasks = []
    for i in range(12):
        path = tmp_path / f"m{i:02}.py"
        path.write_text(APP if i % 3 == 0 else ("CRASH_ME = 1\n" if i == 4 else f"x = {i}\n"))
        tasks.append(FileTask(path, path.name))
    serial = list(run_files(tasks, TEST_RULES, jobs=1))
    parallel = list(run_files(tasks, TEST_RULES, jobs=2))
    assert [r.relpath for r in parallel] == [t.relpath for t in tasks]
    assert [(r.status, r.changes, r.new_bytes, r.error) for r in parallel] == [
        (r.status, r.changes, r.new_bytes, r.error) for r in serial
    ]
    assert [r.status for r in serial].count("changed") == 4
    assert serial[4].status == "error"


def test_a_timeout_that_libcst_turned_into_another_error_is_still_a_timeout() -> None:
    """libcst's cleanup code can raise (a KeyError) while our per-file timer fires: that is a
    timeout, never a crash of the rule."""
    from migrate.runner import FileTimeout
    from migrate.runner.source import _caused_by_timeout

    try:
        try:
            raise FileTimeout
        except FileTimeout:
            raise KeyError("IndentedBlock(...)") from None
    except KeyError as exc:
        assert exc.__context__ is not None
        assert _caused_by_timeout(exc)
    assert not _caused_by_timeout(KeyError("a real crash"))


HELPERS_MODULE = """
def greeting(environ):
    return environ.get("QUERY_STRING", "") or "world"


def text_response(start_response, text):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [text.encode()]
"""

APP_MODULE = """
from helpers import greeting, text_response


def app(environ, start_response):
    if environ["PATH_INFO"] != "/":
        start_response("404 Not Found", [])
        return [b""]
    return text_response(start_response, "hello " + greeting(environ))
"""


def write_tasks(folder: Path, files: dict[str, str]) -> list[FileTask]:
    """Write ``files`` (relpath -> text) under ``folder``; a task for each, in order."""
    tasks = []
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        tasks.append(FileTask(path, name))
    return tasks


@pytest.fixture(params=["small run", "big run"])
def run_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways run_files works: on a small run the rules wait for the project index; on a
    big one they run during the scan and again where the index answers their lookups."""
    if request.param == "big run":
        monkeypatch.setattr(run_phase, "RULES_WAIT_UP_TO", 0)
    return str(request.param)


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_files_tells_each_module_what_the_others_define(
    tmp_path: Path, jobs: int, run_size: str
) -> None:
    # The app hands environ and start_response to helpers of another module: the first pass
    # summarizes helpers.py, so the second can convert the app (helpers.py stays as it is).
    files = {"helpers.py": HELPERS_MODULE, "app.py": APP_MODULE, "other.py": "x = 1\n"}
    tasks = write_tasks(tmp_path, files)
    progress: list[None] = []
    results = list(
        run_files(
            tasks, select_rules(["wsgi-app"]), jobs=jobs, on_progress=lambda: progress.append(None)
        )
    )
    assert [r.relpath for r in results] == list(files)
    assert len(progress) == len(files)
    by_name = {r.relpath: r for r in results}
    assert by_name["helpers.py"].status == by_name["other.py"].status == "unchanged"
    assert by_name["app.py"].status == "changed"
    assert [c.kind for c in by_name["app.py"].changes] == ["converted"]
    assert by_name["app.py"].new_bytes is not None
    assert b"StartResponse()" in by_name["app.py"].new_bytes
    # without the helpers module in the run, nothing proves them safe: the app is adapted
    alone = list(run_files(tasks[1:], select_rules(["wsgi-app"]), jobs=jobs))
    assert [c.kind for c in alone[0].changes] == ["adapted"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_files_leaves_an_app_other_modules_call_as_wsgi(
    tmp_path: Path, jobs: int, run_size: str
) -> None:
    files = {
        "pages.py": "def index(environ, start_response):\n"
        '    start_response("200 OK", [])\n'
        '    return [b"hi"]\n',
        "app.py": "from pages import index\n\n\ndef app(environ, start_response):\n"
        '    if environ["PATH_INFO"] == "/":\n'
        "        return index(environ, start_response)\n"
        '    start_response("404 Not Found", [])\n'
        '    return [b""]\n',
    }
    tasks = write_tasks(tmp_path, files)
    pages, app = list(run_files(tasks, select_rules(["wsgi-app"]), jobs=jobs))
    assert [c.kind for c in pages.changes] == ["manual"]
    assert [c.kind for c in app.changes] == ["adapted"]
    # without app.py in the run, pages.py converts
    (alone,) = run_files(tasks[:1], select_rules(["wsgi-app"]), jobs=jobs)
    assert [c.kind for c in alone.changes] == ["converted"]


@pytest.mark.parametrize(
    "wrap",
    [
        "from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware\n\n"
        "application = SentryWsgiMiddleware(app)\n",
        "import newrelic.agent\n\napplication = newrelic.agent.WSGIApplicationWrapper(app)\n",
        "from whitenoise import WhiteNoise\n\napplication = WhiteNoise(app, root='static')\n",
    ],
)
def test_run_files_leaves_an_app_wsgi_middleware_of_another_package_wraps_as_wsgi(
    tmp_path: Path, wrap: str, run_size: str
) -> None:
    """The scan gives such an entry point a syntax tree (its text names WSGI middleware and
    wraps a name at module level), so the app it wraps stays WSGI."""
    files = {
        "web.py": "def app(environ, start_response):\n"
        '    start_response("200 OK", [])\n'
        '    return [b"hi"]\n',
        "wsgi.py": f"from web import app\n{wrap}",
    }
    tasks = write_tasks(tmp_path, files)
    web, wsgi = list(run_files(tasks, select_rules(["wsgi-app"]), jobs=2))
    assert [c.kind for c in web.changes] == ["manual"]
    assert "wsgi.py uses `app`" in web.changes[0].message
    assert wsgi.status == "unchanged"


WEB_MODULE = """\
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hi"]


class Site:
    def __call__(self, environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"site"]


site = Site()
"""


@pytest.mark.parametrize(
    ("user", "used"),
    [
        (
            "from werkzeug.test import Client\n\nfrom web import app\n\n\n"
            'def test_hi():\n    assert Client(app).get("/").data == b"hi"\n',
            "app",
        ),
        ("from wsgiref.handlers import CGIHandler\n\nimport web\n\nCGIHandler().run(web.app)\n",
         "app"),
        ("from adapters import WsgiToAsgi\n\nfrom web import site\n\nasgi_site = WsgiToAsgi(site)\n",
         "Site"),
    ],
    ids=["test client", "CGI handler", "adapter of an instance"],
)  # fmt: skip
@pytest.mark.parametrize("jobs", [1, 2])
def test_run_files_leaves_an_app_that_modules_the_rules_skip_use_as_wsgi(
    tmp_path: Path, jobs: int, run_size: str, user: str, used: str
) -> None:
    """A test client, a CGI handler or a WSGI-to-ASGI adapter in a module that no rule looks
    at still keeps the app it is handed WSGI (converted, it would break them)."""
    files = {"web.py": WEB_MODULE, "user.py": user}
    tasks = write_tasks(tmp_path, files)
    web, other = list(run_files(tasks, select_rules(["wsgi-app"]), jobs=jobs))
    assert other.status == "unchanged"
    kinds = {c.message.split("`")[1]: c.kind for c in web.changes}
    assert kinds[used] == "manual"
    assert [k for name, k in kinds.items() if name != used] == ["converted"]
    message = next(c.message for c in web.changes if c.kind == "manual")
    assert "user.py uses" in message
    # without the user in the run, both convert
    (alone,) = run_files(tasks[:1], select_rules(["wsgi-app"]), jobs=jobs)
    assert [c.kind for c in alone.changes] == ["converted", "converted"]


def test_every_wsgi_consumer_is_seen_by_the_text_test_and_the_tree_test() -> None:
    for qualified in sorted(project.WSGI_CONSUMERS | project.WSGIREF_HANDLERS):
        module, _, name = qualified.rpartition(".")
        use = f"{name}().run(app)" if qualified in project.WSGIREF_HANDLERS else f"{name}(app)"
        for source in (
            f"from {module} import {name}\nfrom web import app\n\nx = {use}\n",
            f"import {module} as m\nfrom web import app\n\nx = m.{use}\n",
        ):
            assert project.may_use_wsgi_apps(source), source
            uses = project.wsgi_delegations(ast.parse(source))
            # (what the module-level name holds is served: no WSGI use)
            assert {u for u in uses if u[2:] != (project.SERVED,)} == {("web", "app")}, source


STACK_MODULE = """\
from werkzeug.middleware.proxy_fix import ProxyFix


class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        environ["HTTP_X_SEEN"] = "1"
        return self.app(environ, start_response)


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hi"]


def other(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"other"]


application = Mw(app)
proxied = ProxyFix(other, x_for=1)
"""


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_files_leaves_stacks_another_module_uses_as_wsgi_and_serves_their_apps(
    tmp_path: Path, jobs: int, run_size: str
) -> None:
    files = {
        "web.py": STACK_MODULE,
        "test_web.py": "from werkzeug.test import Client\n\nfrom web import application, proxied\n\n"
        "clients = [Client(application), Client(proxied)]\n",
    }
    tasks = write_tasks(tmp_path, files)
    web, user = list(run_files(tasks, select_rules(None), jobs=jobs))
    assert sorted(c.kind for c in web.changes) == ["adapted"] * 2 + ["manual"] * 4
    assert sum("WSGI app by test_web.py" in c.message for c in web.changes) == 1  # Mw
    assert sum("WSGI app (test_web.py)" in c.message for c in web.changes) == 1  # ProxyFix
    # the names are served through the adapter, the user gets the WSGI apps it used
    assert [c.kind for c in user.changes] == ["adapted"] * 2
    assert b"clients = [Client(as_wsgi(application)), Client(as_wsgi(proxied))]" in (
        user.new_bytes or b""
    )
    # without the user, the stacks are converted
    (alone,) = run_files(tasks[:1], select_rules(None), jobs=jobs)
    assert "manual" not in {c.kind for c in alone.changes}


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_files_leaves_middleware_another_module_stacks_for_a_wsgi_user(
    tmp_path: Path, jobs: int, run_size: str
) -> None:
    """``Client(Mw(app))`` in a test module: ``Mw`` (of mw.py) and ``app`` (of web.py) are
    both used the WSGI way there, so both stay WSGI; the test module is left as it is."""
    files = {
        "mw.py": STACK_MODULE.split("def app", 1)[0].replace(
            "from werkzeug.middleware.proxy_fix import ProxyFix\n", ""
        ),
        "web.py": WEB_MODULE,
        "test_web.py": "from werkzeug.test import Client\n\nfrom mw import Mw\nfrom web import app\n\n"
        "application = Mw(app)\n\n\ndef fetch():\n    return Client(application).get('/').data\n",
    }
    tasks = write_tasks(tmp_path, files)
    mw, web, user = list(run_files(tasks, select_rules(None), jobs=jobs))
    assert user.status == "unchanged"
    assert [c.kind for c in mw.changes] == ["manual"]
    assert "`Mw` builds an app that test_web.py uses as a WSGI app" in mw.changes[0].message
    assert {c.kind for c in web.changes} == {"manual", "converted"}  # app manual, Site converted
    (alone,) = run_files(tasks[:1], select_rules(None), jobs=jobs)
    assert [c.kind for c in alone.changes] == ["converted"]


def test_lines_of_what_rules_made_map_to_the_original_file() -> None:
    original = "a\nb\nc\nd\ne\n"
    # a marker inserted above line 2, line 4 rewritten into two lines, line 5 kept
    changed = "a\n# marker\nb\nc\nD1\nD2\ne\n"
    to_original = source_phase._original_lines(changed, original)
    assert [to_original(line) for line in range(1, 8)] == [1, 1, 2, 3, 4, 4, 5]
    # lines removed above: what follows moves up
    to_original = source_phase._original_lines("a\nd\ne\n", original)
    assert [to_original(line) for line in range(1, 4)] == [1, 4, 5]


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_files_follows_a_package_that_re_exports_an_app(
    tmp_path: Path, jobs: int, run_size: str
) -> None:
    files = {
        "pkg/__init__.py": "from .web import app\n",
        "pkg/web.py": WEB_MODULE,
        "test_pkg.py": "from werkzeug.test import Client\n\nfrom pkg import app\n\n"
        "client = Client(app)\n",
    }
    tasks = write_tasks(tmp_path, files)
    _, web, _ = list(run_files(tasks, select_rules(["wsgi-app"]), jobs=jobs))
    kinds = {c.message.split("`")[1]: c.kind for c in web.changes}
    assert kinds == {"app": "manual", "Site": "converted"}


KEPT_SERVER = """
from wsgiref.simple_server import WSGIRequestHandler, make_server


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hi"]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    make_server("127.0.0.1", 8000, app, handler_class=QuietHandler).serve_forever()
"""


@pytest.mark.parametrize(
    "source, rules_left_with_nothing_to_do",
    [
        (
            (Path(__file__).resolve().parents[2] / "sample_projects" / "notes_api" / "app.py"),
            {"wsgi-middleware", "wsgi-app", "served-app"},
        ),
        # served-app looks for apps it imports: it says "wsgiref"
        (KEPT_SERVER, {"server", "served-app"}),
    ],
    ids=["sample app", "server call kept"],
)
def test_a_second_run_generates_no_code(
    source: str | Path, rules_left_with_nothing_to_do: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On what they made already, the rules whose prefilters pass have nothing to do: each
    hands the module back as it got it, and the text is the one parsed, with no code
    generation of the module (a tenth of a second on a big one)."""
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    first = migrate_source(text)
    assert first.changes
    candidates = source_phase._prefilter(first.new_source, select_rules(None))[0]
    assert {rule.rule_id for rule in candidates} == rules_left_with_nothing_to_do

    def no_code_generation(module: object) -> str:
        raise AssertionError("the module was generated again")

    monkeypatch.setattr(cst.Module, "code", property(no_code_generation))
    second = migrate_source(first.new_source)
    assert second.new_source == first.new_source
    assert not second.changes


def test_run_files_tells_the_middleware_where_the_async_views_are(
    tmp_path: Path, run_size: str
) -> None:
    # the views live in a module no rule changes: its scan alone tells the index of them
    files = {
        "shop/middleware.py": "class Timing:\n"
        "    def __init__(self, get_response):\n"
        "        self.get_response = get_response\n\n"
        "    def __call__(self, request):\n"
        "        return self.get_response(request)\n",
        "shop/views.py": "from django.http import JsonResponse\n\n\n"
        "async def ping(request):\n"
        '    return JsonResponse({"pong": True})\n',
    }
    tasks = write_tasks(tmp_path, files)
    results = {r.relpath: r for r in run_files(tasks, select_rules(["django-middleware"]))}
    assert results["shop/views.py"].status == "unchanged"
    (change,) = results["shop/middleware.py"].changes
    assert change.kind == "manual" and "(shop/views.py:ping)" in change.message
    alone = list(run_files(tasks[:1], select_rules(["django-middleware"])))
    assert alone[0].status == "unchanged" and not alone[0].changes
