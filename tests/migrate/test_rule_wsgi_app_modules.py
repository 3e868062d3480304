"""Rule ``wsgi-app`` across the modules of one run: handlers that hand ``environ`` to helpers
of another module which only read it, and ``start_response`` to response helpers of another
module which only call it, are converted; the helper module is never changed.

Each example migrates a small project with :func:`migrate.runner.migrate_sources` (what a run
over its folder does), loads the files before and after as a folder on ``sys.path``, serves
the app before as WSGI (wsgiref) and after as ASGI (uvicorn, hypercorn), and compares the
answers. Helpers the project index cannot prove safe leave the app as it was before this
feature (adapted, with a marker saying why).
"""

from __future__ import annotations

import ast
import json
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from migrate.project import ModuleSummary, ProjectIndex, summarize
from migrate.runner import SourceResult, migrate_source, migrate_sources, module_name_for
from tests.harness import (
    Req,
    assert_same_project_behaviour,
    load_project,
    served_project_outcomes,
)

ROOT = Path(__file__).resolve().parent.parent.parent


def dedented(files: Mapping[str, str]) -> dict[str, str]:
    return {relpath: textwrap.dedent(source).lstrip("\n") for relpath, source in files.items()}


def migrate_project(files: Mapping[str, str]) -> tuple[dict[str, str], dict[str, SourceResult]]:
    """The files after a run over all of them, and the results; checks that a second run over
    the migrated files changes nothing and reports nothing (idempotent)."""
    before = dedented(files)
    results = migrate_sources(before)
    after = {relpath: result.new_source for relpath, result in results.items()}
    again = migrate_sources(after)
    for relpath, result in again.items():
        assert result.new_source == after[relpath], f"second run changed {relpath}"
        assert result.changes == [], f"second run reported {result.changes} in {relpath}"
    return after, results


def without_markers(source: str) -> str:
    return "".join(
        line
        for line in source.splitlines(keepends=True)
        if not line.lstrip().startswith("# migrate[")
    )


def kinds(result: SourceResult, rule: str = "wsgi-app") -> dict[str, str]:
    """``{name: kind}`` of the changes of ``rule`` (the name is the first one in backquotes)."""
    return {c.message.split("`")[1]: c.kind for c in result.changes if c.rule == rule}


# --------------------------------------------------------------------------- a helper module

WEB = '''
    """Helpers shared by the handlers (plain WSGI, other WSGI code may use them too)."""

    import json
    from http.cookies import SimpleCookie
    from urllib.parse import parse_qs

    STATUS = {200: "200 OK", 201: "201 Created", 400: "400 Bad Request", 404: "404 Not Found"}


    def request_path(environ):
        """PATH_INFO as text: WSGI hands it over as latin-1 decoded bytes."""
        return environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")


    def query(environ):
        return parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)


    def cookies(environ):
        jar = SimpleCookie()
        jar.load(environ.get("HTTP_COOKIE", ""))
        return {key: morsel.value for key, morsel in jar.items()}


    def read_body(environ):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        return environ["wsgi.input"].read(length) if length > 0 else b""


    def read_json(environ):
        if "CONTENT_TYPE" not in environ or environ["CONTENT_TYPE"] != "application/json":
            return None
        return json.loads(read_body(environ) or b"null")


    def respond(start_response, status, body, content_type, extra_headers=()):
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        headers.extend(extra_headers)
        start_response(STATUS[status], headers)
        return [body]


    def json_response(start_response, status, data, extra_headers=()):
        body = json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return respond(start_response, status, body, "application/json; charset=utf-8", extra_headers)


    def text_response(start_response, status, text):
        return respond(start_response, status, text.encode("utf-8"), "text/plain; charset=utf-8")


    def checked_response(start_response, status, data):
        if status not in STATUS:
            raise KeyError(status)  # before start_response: a clean 500
        return json_response(start_response, status, data)


    def lines(start_response, items):
        """Streamed: start_response is called when the body is first iterated."""
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        for item in items:
            yield item.encode("utf-8") + b"\\n"
'''

APP = """
    import web
    from web import checked_response, cookies, json_response, lines, query, read_json, request_path


    def hello(environ, start_response):
        name = query(environ).get("name", ["world"])[0]
        return web.text_response(start_response, 200, f"hello {name}")


    def create(environ, start_response):
        data = read_json(environ)
        if data is None:
            return json_response(start_response, 400, {"error": "send JSON"})
        return json_response(start_response, 201, {"got": data}, [("X-Created", "yes")])


    def whoami(environ, start_response):
        return json_response(start_response, 200, {"user": cookies(environ).get("user")})


    def stream(environ, start_response):
        return lines(start_response, ["one", "two", "drei"])


    def broken(environ, start_response):
        return checked_response(start_response, 599, {})


    def app(environ, start_response):
        path = request_path(environ)
        if path == "/hello":
            return hello(environ, start_response)
        if path == "/create":
            return create(environ, start_response)
        if path == "/whoami":
            return whoami(environ, start_response)
        if path == "/stream":
            return stream(environ, start_response)
        if path == "/broken":
            return broken(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"nothing at {path}".encode("utf-8")]
"""

REQUESTS = [
    Req("GET", "/hello?name=Zo%C3%AB"),
    Req("GET", "/hello"),
    Req("POST", "/create", [("Content-Type", "application/json")], b'{"title": "T\xc3\xabst"}'),
    Req("POST", "/create", [("Content-Type", "text/plain")], b"title=x"),
    Req("GET", "/whoami", cookies={"user": "zoe", "theme": "dark"}),
    Req("GET", "/whoami"),
    Req("GET", "/stream"),
    Req("GET", "/broken"),
    Req("GET", "/d%C3%A9j%C3%A0-vu"),
    Req("GET", "/caf%E9"),
]


def test_handlers_using_helpers_of_another_module_are_converted() -> None:
    before = dedented({"web.py": WEB, "app.py": APP})
    after, results = migrate_project(before)
    assert after["web.py"] == before["web.py"]  # the helper module is never changed
    assert kinds(results["app.py"]) == {
        "hello": "converted",
        "create": "converted",
        "whoami": "converted",
        "stream": "converted",
        "broken": "converted",
        "app": "converted",
    }
    code = after["app.py"]
    assert "# migrate[" not in code
    # environ readers get a faithful environ, built with the body for the one reading it
    assert (
        "environ = asgi_helpers.build_environ(scope, await asgi_helpers.read_body(receive))" in code
    )
    assert code.count("asgi_helpers.build_environ(scope)") == 3  # hello, whoami, app
    # response helpers get a start_response collector, whatever module attribute spells them;
    # code of another module may block, so it runs in the request's thread (with the work
    # before the response goes out, in one hop)
    assert (
        "        response = asgi_helpers.StartResponse()\n"
        '        body = web.text_response(response, 200, f"hello {name}")\n'
        "        return body, response\n"
        "    body, response = await run_blocking(_blocking_block)\n"
        "    return await response.send(send, body)\n"
    ) in code
    assert 'body = await run_blocking(lines, response, ["one", "two", "drei"])' in code
    assert_same_project_behaviour(before, after, "app", REQUESTS)


VIEWS = """
    from web import json_response, request_path, text_response


    def index(environ, start_response):
        return text_response(start_response, 200, "welcome")


    def where(environ, start_response):
        return json_response(start_response, 200, {"path": request_path(environ)})


    def app(environ, start_response):
        if environ["PATH_INFO"] == "/":
            return index(environ, start_response)
        return where(environ, start_response)
"""


def test_handlers_whose_every_response_comes_from_another_module_are_apps_too() -> None:
    # No handler here calls start_response itself: only the index, which vouches for the
    # helpers of web.py, shows that they are WSGI apps (without it they are left alone).
    before = dedented({"web.py": WEB, "views.py": VIEWS})
    after, results = migrate_project(before)
    assert kinds(results["views.py"]) == {
        "index": "converted",
        "where": "converted",
        "app": "converted",
    }
    assert "# migrate[" not in after["views.py"]
    alone = migrate_source(before["views.py"], ["wsgi-app"], relpath="views.py")
    assert alone.changes == [] and not alone.changed
    requests = [Req("GET", "/"), Req("GET", "/caf%C3%A9?x=1"), Req("POST", "/a/b", body=b"x")]
    assert_same_project_behaviour(before, after, "views", requests)


def test_handing_start_response_on_without_any_sign_of_http_is_not_an_app() -> None:
    # The evidence asked of every app: a status in the call to the helper. Without it a file
    # holding nothing else would be skipped by the prefilters, so the rule must not take
    # `page` for an app either, whatever else the file holds (here: `health`).
    views = """
        from web import text_response


        def health(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]


        def page(environ, start_response):
            return text_response(start_response, STATUS, TEXT)
    """
    results = migrate_sources(dedented({"web.py": WEB, "views.py": views}))
    assert kinds(results["views.py"]) == {"health": "converted"}
    assert "def page(environ, start_response):" in results["views.py"].new_source


#: Two WSGI apps that would convert on their own.
TWO_PAGES = """
    def index(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"index"]


    def about(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"about"]
"""


def test_an_app_another_module_calls_as_wsgi_stays_wsgi() -> None:
    # views.index would convert on its own, but app.py hands it environ and start_response:
    # as ASGI it would break app.py, whatever becomes of app.py (here: adapted).
    pages = TWO_PAGES
    app = """
        import pages
        from pages import index


        def app(environ, start_response):
            if environ["PATH_INFO"] == "/":
                return index(environ, start_response)
            if environ["PATH_INFO"] == "/about":
                return pages.about(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"nothing here"]
    """
    before = dedented({"pages.py": pages, "app.py": app})
    after, results = migrate_project(before)
    assert kinds(results["pages.py"]) == {"index": "manual", "about": "manual"}
    assert "app.py uses `index` the WSGI way" in after["pages.py"]
    assert "def index(environ, start_response):" in after["pages.py"]
    assert kinds(results["app.py"]) == {"app": "adapted"}
    requests = [Req("GET", "/"), Req("GET", "/about"), Req("GET", "/other")]
    assert_same_project_behaviour(before, after, "app", requests)
    # alone, pages.py converts: nothing in the run calls it
    alone = migrate_sources(dedented({"pages.py": pages}))
    assert kinds(alone["pages.py"]) == {"index": "converted", "about": "converted"}


def test_a_package_with_relative_and_module_imports() -> None:
    before = dedented(
        {
            "shop/__init__.py": "",
            "shop/util/__init__.py": "",
            "shop/util/http.py": WEB,
            "shop/views.py": """
            from .util import http
            from .util.http import request_path


            def app(environ, start_response):
                if request_path(environ) == "/hello":
                    return http.json_response(start_response, 200, http.query(environ))
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"no"]
            """,
            "main.py": """
            import shop.util.http as h


            def app(environ, start_response):
                if environ["PATH_INFO"] == "/":
                    start_response("200 OK", [("Content-Type", "text/plain")])
                    return [b"home"]
                return h.text_response(start_response, 404, h.request_path(environ))
            """,
        }
    )
    after, results = migrate_project(before)
    assert kinds(results["shop/views.py"]) == {"app": "converted"}
    assert kinds(results["main.py"]) == {"app": "converted"}
    requests = [Req("GET", "/hello?x=1&x=2"), Req("GET", "/"), Req("GET", "/%C3%BCber")]
    assert_same_project_behaviour(before, after, "shop.views", requests, asgi_servers=("uvicorn",))
    assert_same_project_behaviour(before, after, "main", requests, asgi_servers=("hypercorn",))


# --------------------------------------------------------------------------- not trusted

UNTRUSTED: dict[str, tuple[str, str, str]] = {
    # case: (helper module, the app's import and use of it, the reason in the marker)
    "stores start_response": (
        """
        SEEN = []


        def json_response(start_response, status, data):
            SEEN.append(start_response)
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b"{}"]
        """,
        "from helpers import json_response\nRESPOND = json_response",
        "which hands `start_response` to `SEEN.append` (other code)",
    ),
    "uses the write callable": (
        """
        def json_response(start_response, status, data):
            write = start_response("200 OK", [("Content-Type", "application/json")])
            write(b"{}")
            return []
        """,
        "from helpers import json_response\nRESPOND = json_response",
        "which uses what `start_response`(...) returns (the write() callable)",
    ),
    "async helper": (
        """
        async def json_response(start_response, status, data):
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b"{}"]
        """,
        "from helpers import json_response\nRESPOND = json_response",
        "which is an async function",
    ),
    "class": (
        """
        class json_response:
            def __init__(self, start_response, status, data):
                start_response("200 OK", [("Content-Type", "application/json")])

            def __iter__(self):
                yield b"{}"
        """,
        "from helpers import json_response\nRESPOND = json_response",
        "which is a class",
    ),
    "not in the run": (
        None,  # type: ignore[dict-item]
        "from helpers import json_response\nRESPOND = json_response",
        "which is not defined in a module of this run the rule could check",
    ),
    "part of WSGI code of its own module": (
        """
        def json_response(start_response, status, data):
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b"{}"]


        def ping(environ, start_response):
            return json_response(start_response, 200, {})
        """,
        "from helpers import json_response\nRESPOND = json_response",
        "which is part of WSGI code of its own module",
    ),
    "rebound in the app's module": (
        """
        def json_response(start_response, status, data):
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b"{}"]
        """,
        "from helpers import json_response\nRESPOND = json_response\n"
        "if RESPOND is None:\n    json_response = None",
        "which is also bound by other code of this module (`json_response`)",
    ),
}

UNTRUSTED_APP = """
{imports}


def app(environ, start_response):
    if environ["PATH_INFO"] == "/":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"home"]
    return json_response(start_response, 200, {{"path": environ["PATH_INFO"]}})
"""


@pytest.mark.parametrize("case", sorted(UNTRUSTED))
def test_a_helper_that_is_not_proven_safe_keeps_the_app_adapted(case: str) -> None:
    helper, imports, reason = UNTRUSTED[case]
    files = {"app.py": UNTRUSTED_APP.format(imports=imports)}
    if helper is not None:
        files["helpers.py"] = helper
    files = dedented(files)
    after, results = migrate_project(files)
    assert kinds(results["app.py"]) == {"app": "adapted"}
    message = results["app.py"].changes[-1].message
    assert "`app` kept as WSGI and served through adapters.WsgiToAsgi" in message
    assert "start_response to `json_response()`" in message and reason in message, message
    assert "app = WsgiToAsgi(_app_wsgi)" in after["app.py"]
    if helper is not None and case != "part of WSGI code of its own module":
        assert after["helpers.py"] == files["helpers.py"]


def test_an_untrusted_helper_is_still_served_the_same() -> None:
    helper, imports, _ = UNTRUSTED["stores start_response"]
    before = dedented({"helpers.py": helper, "app.py": UNTRUSTED_APP.format(imports=imports)})
    after, _ = migrate_project(before)
    assert_same_project_behaviour(
        before, after, "app", [Req("GET", "/"), Req("GET", "/x")], asgi_servers=("uvicorn",)
    )


def test_an_environ_writer_of_another_module_keeps_the_app_adapted() -> None:
    files = {
        "helpers.py": """
            def tagged_path(environ):
                environ["myapp.seen"] = True
                return environ.get("PATH_INFO", "/")
            """,
        "app.py": """
            from helpers import tagged_path


            def app(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [tagged_path(environ).encode("latin-1")]
            """,
    }
    _, results = migrate_project(files)
    assert kinds(results["app.py"]) == {"app": "adapted"}
    assert "it hands the environ to `tagged_path()` from helpers.py, which writes to `environ`" in (
        results["app.py"].changes[0].message
    )


LAYERED = {
    "auth.py": """
        def user_of(environ):
            return environ.get("HTTP_X_USER", "anonymous")
        """,
    "payloads.py": """
        import json


        def json_body(environ):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            return json.loads(environ["wsgi.input"].read(length) or b"{}")
        """,
    "app.py": """
        import json

        import payloads
        from auth import user_of


        def greeting(environ):
            return "hello %s at %s" % (user_of(environ), environ["PATH_INFO"])


        def entry(environ):
            data = payloads.json_body(environ)
            return {"title": data.get("title"), "by": user_of(environ)}


        def app(environ, start_response):
            if environ["REQUEST_METHOD"] == "POST":
                body = json.dumps(entry(environ), sort_keys=True).encode()
            else:
                body = greeting(environ).encode()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [body]
        """,
}


def test_helpers_of_the_module_handing_the_environ_to_readers_of_another_are_readers() -> None:
    # before, ``greeting(environ)`` "may change or keep" the environ: the app stayed WSGI
    before = dedented(LAYERED)
    after, results = migrate_project(before)
    assert kinds(results["app.py"]) == {"app": "converted"}
    code = after["app.py"]
    # one of them reads the body through payloads.py: the environ is built with it
    assert (
        "environ = asgi_helpers.build_environ(scope, await asgi_helpers.read_body(receive))" in code
    )
    assert "def greeting(environ):" in code and "def entry(environ):" in code
    requests = [
        Req("GET", "/hi", [("X-User", "zoe")]),
        Req("GET", "/"),
        Req("POST", "/e", [("X-User", "ann")], b'{"title": "caf\xc3\xa9"}'),
    ]
    assert_same_project_behaviour(before, after, "app", requests)


def test_a_helper_whose_local_name_hides_the_imported_reader_is_not_one() -> None:
    files = dedented(LAYERED)
    files["app.py"] = files["app.py"].replace(
        '    return "hello %s at %s" % (user_of(environ), environ["PATH_INFO"])',
        '    user_of = lambda env: env.setdefault("myapp.user", "x")\n'
        '    return "hello %s at %s" % (user_of(environ), environ["PATH_INFO"])',
    )
    _, results = migrate_project(files)
    assert kinds(results["app.py"]) == {"app": "adapted"}
    assert "it hands the environ to `greeting()`" in results["app.py"].changes[0].message


def test_without_project_knowledge_nothing_changes() -> None:
    app = dedented({"app.py": APP})["app.py"]
    alone = migrate_source(app, relpath="app.py")
    assert kinds(alone) == {"app": "adapted"}
    assert "convert them together" in alone.changes[0].message
    # a run over the app alone (the helper module excluded): adapted, and the marker says why
    excluded = migrate_sources({"app.py": app})["app.py"]
    assert kinds(excluded) == {"app": "adapted"}
    assert (
        "`hello`: it hands start_response to `web.text_response()` from web, which is not defined "
        "in a module of this run the rule could check"
    ) in excluded.changes[0].message


# --------------------------------------------------------------------------- the index


def summary_of(relpath: str, source: str) -> ModuleSummary | None:
    source = textwrap.dedent(source)
    return summarize(relpath, module_name_for(relpath), ast.parse(source), source)


def test_summaries_say_which_parameters_are_safe() -> None:
    summary = summary_of("web.py", WEB)
    assert summary is not None
    helpers = {h.name: h for h in summary.helpers}
    assert helpers["request_path"].environ_params == {0}
    assert helpers["read_json"].body_params == {0}
    assert helpers["query"].body_params == frozenset()
    assert helpers["json_response"].start_response_params == {0}
    assert helpers["lines"].start_response_params == {0}
    assert helpers["checked_response"].start_response_params == {0}
    assert summary_of("consts.py", "STATUS = {200: '200 OK'}\n") is None
    assert summary_of("plain.py", "def add(a, b):\n    return a + b\n") is None


def index_of(files: Mapping[str, str]) -> ProjectIndex:
    summaries = [summary_of(relpath, source) for relpath, source in files.items()]
    return ProjectIndex.from_summaries(s for s in summaries if s is not None)


def test_imports_resolve_to_the_modules_python_would_load() -> None:
    index = index_of(
        {
            "sample/notes_api/http_utils.py": WEB,
            "pkg/__init__.py": WEB,
            "pkg/web.py": WEB,
            "pkg/sub/tools.py": WEB,
            "web.py": WEB,
        }
    )

    def found(importer: str, module_ref: str) -> str | None:
        lookup = index.lookup(importer, module_ref, "json_response")
        return lookup.module if lookup.helper is not None else None

    # a script's sibling (`from http_utils import ...` next to it), whatever the run's root
    assert found("sample/notes_api/app.py", "http_utils") == "sample/notes_api/http_utils.py"
    # relative imports, from a module and from a package's __init__
    assert found("pkg/app.py", ".web") == "pkg/web.py"
    assert found("pkg/__init__.py", ".web") == "pkg/web.py"
    assert found("pkg/sub/views.py", "..web") == "pkg/web.py"
    assert found("pkg/sub/views.py", ".tools") == "pkg/sub/tools.py"
    assert found("pkg/sub/views.py", "..") == "pkg/__init__.py"
    # absolute dotted names from the run's root (`import pkg.sub.tools as t; t.f()`)
    assert found("app.py", "pkg.sub.tools") == "pkg/sub/tools.py"
    assert found("other/app.py", "pkg.web") == "pkg/web.py"
    assert found("other/app.py", "web") == "web.py"
    assert found("app.py", "pkg.missing") is None
    assert found("app.py", "...above") is None
    missing = index.lookup("app.py", "nowhere", "json_response")
    assert missing.helper is None and "not defined in a module of this run" in missing.problem


def test_the_rule_follows_every_import_spelling() -> None:
    helper = (
        "def respond(start_response, text):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [text.encode()]\n"
    )
    files = {"pkg/__init__.py": "", "pkg/helpers.py": helper}
    spellings = {
        "from pkg.helpers import respond as r": "r",
        "from pkg import helpers": "helpers.respond",
        "import pkg.helpers as h": "h.respond",
        "import pkg.helpers": "pkg.helpers.respond",
    }
    for imports, callee in spellings.items():
        app = (
            f"{imports}\n\n\ndef app(environ, start_response):\n"
            "    if environ['PATH_INFO'] == '/':\n"
            "        start_response('200 OK', [('Content-Type', 'text/plain')])\n"
            "        return [b'home']\n"
            f"    return {callee}(start_response, 'hi')\n"
        )
        results = migrate_sources({**files, "app.py": app})
        assert kinds(results["app.py"]) == {"app": "converted"}, (
            imports,
            results["app.py"].changes,
        )
        # the app's one hop: sending what the helper returned needs no thread after it
        assert (
            f"body = await run_blocking_last({callee}, response, 'hi')"
            in results["app.py"].new_source
        )


# --------------------------------------------------------------------------- notes_api


@pytest.mark.timeout(120)
def test_notes_api_is_converted_with_the_same_behaviour(tmp_path: Path) -> None:
    from tests.servers import serve_asgi, serve_wsgi
    from tests.test_sample_projects import PROJECTS, load_app, replay

    folder = ROOT / "sample_projects" / "notes_api"
    prefix = "sample_projects/notes_api/"
    before = {prefix + path.name: path.read_text(encoding="utf-8") for path in folder.glob("*.py")}
    results = migrate_sources(before)
    app_result = results[prefix + "app.py"]
    assert kinds(app_result)["app"] == "converted"
    assert set(kinds(app_result).values()) == {"converted"}
    assert all(not results[prefix + name].changed for name in ("http_utils.py", "store.py"))
    assert "# migrate[" not in app_result.new_source
    migrated = tmp_path / "notes_api"
    migrated.mkdir()
    for relpath, result in results.items():
        (migrated / relpath.removeprefix(prefix)).write_text(result.new_source, encoding="utf-8")
    again = migrate_sources({relpath: result.new_source for relpath, result in results.items()})
    assert all(not result.changed and not result.changes for result in again.values())

    sample = PROJECTS["notes_api"]
    with serve_wsgi(load_app(folder, sample, "notes_api_wsgi_original"), "waitress") as url:
        expected = replay(url, sample.requests)
    for server in ("uvicorn", "hypercorn"):
        app = load_app(migrated, sample, f"notes_api_asgi_{server}")
        with serve_asgi(app, server) as url:
            got = replay(url, sample.requests)
        for req, want, have in zip(sample.requests, expected, got, strict=True):
            assert have == want, f"{server}: {req}"
    assert json.loads(expected[1][2])["notes"]  # the sample really answered


def test_an_app_a_test_client_of_another_module_uses_stays_wsgi() -> None:
    """Tests that use a WSGI test client keep working: the app they are given stays WSGI
    (with a marker saying why) until they move to an ASGI client."""
    web = """
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hi " + environ["PATH_INFO"].encode()]
    """
    test_web = """
        from werkzeug.test import Client

        from web import app


        def fetch(path):
            response = Client(app).get(path)
            return response.status, response.data
    """
    before = dedented({"web.py": web, "test_web.py": test_web})
    after, results = migrate_project(before)
    assert kinds(results["web.py"]) == {"app": "manual"}
    assert "test_web.py uses `app` the WSGI way" in after["web.py"]
    assert after["test_web.py"] == before["test_web.py"]
    fetch_before = load_project(before, "test_web").fetch
    fetch_after = load_project(after, "test_web").fetch
    assert fetch_before("/x") == fetch_after("/x") == ("200 OK", b"hi /x")
    # alone, web.py converts
    alone = migrate_sources(dedented({"web.py": web}))
    assert kinds(alone["web.py"]) == {"app": "converted"}


def test_a_factory_whose_apps_a_test_client_of_another_module_uses_stays_wsgi() -> None:
    """``Client(make_app())`` in a test: what the factory makes stays WSGI, with a marker
    naming the test; alone, the factory's app converts."""
    web = """
        def make_app(greeting="hi"):
            def app(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [greeting.encode() + b" " + environ["PATH_INFO"].encode()]

            return app


        application = make_app()
    """
    test_web = """
        from werkzeug.test import Client

        from web import make_app


        def fetch(path):
            response = Client(make_app("yo")).get(path)
            return response.status, response.data
    """
    before = dedented({"web.py": web, "test_web.py": test_web})
    after, results = migrate_project(before)
    assert kinds(results["web.py"]) == {"make_app": "manual"}
    assert "test_web.py uses `make_app` the WSGI way" in after["web.py"]
    assert after["test_web.py"] == before["test_web.py"]
    fetch_before = load_project(before, "test_web").fetch
    fetch_after = load_project(after, "test_web").fetch
    assert fetch_before("/x") == fetch_after("/x") == ("200 OK", b"yo /x")
    alone, _ = migrate_project({"web.py": web})
    assert "async def app(scope, receive, send):" in alone["web.py"]
    requests = [Req("GET", "/x")]
    assert_same_project_behaviour(
        dedented({"web.py": web}), alone, "web", requests, app_name="application"
    )


def test_a_factory_whose_app_another_module_calls_the_wsgi_way_stays_wsgi() -> None:
    """``app = make_app(); return app(environ, start_response)`` in an entry point of
    another module: what the factory makes stays WSGI, and the entry point, served through
    the adapter (``served-app``), answers as before."""
    web = """
        def make_app():
            def app(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"made " + environ["PATH_INFO"].encode()]

            return app


        default = make_app()
    """
    entry = """
        from web import make_app


        def application(environ, start_response):
            app = make_app()
            return app(environ, start_response)
    """
    before = dedented({"web.py": web, "entry.py": entry})
    after, results = migrate_project(before)
    assert kinds(results["web.py"]) == {"make_app": "manual"}
    assert "entry.py uses `make_app` the WSGI way" in after["web.py"]
    assert after["entry.py"].endswith("application = WsgiToAsgi(application)\n")
    requests = [Req("GET", "/x")]
    expected = served_project_outcomes(
        before, "entry", requests, server="wsgiref", asgi=False, app_name="application"
    )
    assert expected[0].body == b"made /x"
    assert_same_project_behaviour(before, after, "entry", requests, app_name="application")


#: WSGI middleware of a package the run does not migrate (a stand-in for sentry_sdk's).
THIRD_PARTY_MIDDLEWARE = """
    class SentryWsgiMiddleware:
        def __init__(self, app):
            self.app = app

        def __call__(self, environ, start_response):
            def start(status, headers, exc_info=None):
                return start_response(status, headers + [("X-Watched", "yes")], exc_info)

            return self.app(environ, start)
"""

WEB_APP = """
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"web " + environ["PATH_INFO"].encode()]
"""


def test_an_app_another_module_wraps_in_middleware_of_another_package_stays_wsgi() -> None:
    """``application = SentryWsgiMiddleware(app)`` in a wsgi.py: the middleware, outside the
    run, takes a WSGI app, so ``app`` stays WSGI (it was converted, and the entry point
    broke without a word)."""
    wsgi = """
        from sentry_like.wsgi import SentryWsgiMiddleware

        from web import app

        application = SentryWsgiMiddleware(app)
    """
    before = dedented({"web.py": WEB_APP, "wsgi.py": wsgi})
    after, results = migrate_project(before)
    assert kinds(results["web.py"]) == {"app": "manual"}
    assert "wsgi.py uses `app` the WSGI way" in after["web.py"]
    assert after["wsgi.py"] == before["wsgi.py"]
    package = {"sentry_like/__init__.py": "", "sentry_like/wsgi.py": THIRD_PARTY_MIDDLEWARE}
    requests = [Req("GET", "/x")]
    expected, got = (
        served_project_outcomes(
            {**files, **dedented(package)},
            "wsgi",
            requests,
            server="wsgiref",
            asgi=False,
            app_name="application",
        )
        for files in (before, after)
    )
    assert got == expected and expected[0].body == b"web /x"


def test_an_app_another_module_wraps_in_middleware_of_the_run_is_still_converted() -> None:
    """The same stack with middleware of a module of the run: the run migrates both, so the
    app converts."""
    wsgi = """
        from middleware import SentryWsgiMiddleware

        from web import app

        application = SentryWsgiMiddleware(app)
    """
    before = dedented({"web.py": WEB_APP, "wsgi.py": wsgi, "middleware.py": THIRD_PARTY_MIDDLEWARE})
    after, results = migrate_project(before)
    assert kinds(results["web.py"]) == {"app": "converted"}
    requests = [Req("GET", "/x")]
    assert_same_project_behaviour(before, after, "wsgi", requests, app_name="application")


CLASS_DISPATCHER = """
    from site_views import urls
    from site_views.views import not_found


    class App:
        def __init__(self, routes):
            self.routes = routes

        def __call__(self, environ, start_response):
            for pattern, view in self.routes:
                if pattern.match(environ.get("PATH_INFO", "/")):
                    return view(environ, start_response)
            return not_found(environ, start_response)


    application = App(urls.urlpatterns)
"""


@pytest.mark.parametrize("dispatcher", ["function reading the table", "class given the table"])
def test_views_in_a_table_of_routes_a_dispatcher_of_another_module_reads_stay_wsgi(
    dispatcher: str,
) -> None:
    """Three modules: the views, a table of routes naming them, and a dispatcher that looks
    its handler up in the table and hands it the request. The dispatcher stays WSGI (behind
    the adapter), so the views in the table stay WSGI too (they were converted, and the
    dispatcher called ASGI apps the WSGI way)."""
    views = """
        import json


        def home(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"home"]


        def api(environ, start_response):
            body = json.dumps({"path": environ["PATH_INFO"]}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]


        def not_found(environ, start_response):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
    """
    urls = """
        import re

        from site_views import views

        urlpatterns = [
            (re.compile(r"^/$"), views.home),
            (re.compile(r"^/api/"), views.api),
        ]
    """
    app = """
        from site_views.urls import urlpatterns
        from site_views.views import not_found


        def application(environ, start_response):
            path = environ.get("PATH_INFO", "/")
            for pattern, view in urlpatterns:
                if pattern.match(path):
                    return view(environ, start_response)
            return not_found(environ, start_response)
    """
    if dispatcher == "class given the table":
        app = CLASS_DISPATCHER
    before = dedented(
        {
            "site_views/__init__.py": "",
            "site_views/views.py": views,
            "site_views/urls.py": urls,
            "site_views/app.py": app,
        }
    )
    after, results = migrate_project(before)
    assert kinds(results["site_views/views.py"]) == {
        "home": "manual",
        "api": "manual",
        "not_found": "manual",
    }
    assert "site_views/urls.py uses `home` the WSGI way" in after["site_views/views.py"]
    assert kinds(results["site_views/app.py"]) == {"application": "adapted"}
    requests = [Req("GET", "/"), Req("GET", "/api/x"), Req("GET", "/nothing")]
    assert_same_project_behaviour(before, after, "site_views.app", requests, app_name="application")


def test_apps_a_wsgi_dispatcher_of_another_package_mounts_stay_wsgi() -> None:
    """``DispatcherMiddleware(main.app, {"/api": api.app})``: werkzeug's dispatcher calls both
    the WSGI way, so both stay WSGI (also when only the wsgi-app rule runs, which leaves the
    dispatcher as it is)."""
    api = """
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"api " + environ["PATH_INFO"].encode()]
    """
    wsgi = """
        from werkzeug.middleware.dispatcher import DispatcherMiddleware

        import api
        import web

        application = DispatcherMiddleware(web.app, {"/api": api.app})
    """
    before = dedented({"web.py": WEB_APP, "api.py": api, "wsgi.py": wsgi})
    results = migrate_sources(before, ["wsgi-app"])
    after = {relpath: result.new_source for relpath, result in results.items()}
    assert kinds(results["web.py"]) == {"app": "manual"}
    assert kinds(results["api.py"]) == {"app": "manual"}
    assert after["wsgi.py"] == before["wsgi.py"]
    requests = [Req("GET", "/x"), Req("GET", "/api/y")]
    expected, got = (
        served_project_outcomes(
            files, "wsgi", requests, server="wsgiref", asgi=False, app_name="application"
        )
        for files in (before, after)
    )
    assert got == expected and expected[1].body == b"api /y"


def test_middleware_around_an_app_bound_before_under_the_same_name() -> None:
    """``application = get_wsgi_application()`` then ``application = HealthCheck(application)``
    (Django's wsgi.py): the argument is the app bound before, a WSGI app of a library, not an
    instance of the middleware; once the middleware is ASGI it gets it through as_asgi."""
    legacy = """
        def make_app():
            def app(environ, start_response):
                body = f"legacy {environ['PATH_INFO']}".encode()
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [body]

            return app
    """
    wsgi = """
        from legacy import make_app

        application = make_app()


        class HealthCheck:
            def __init__(self, app):
                self.app = app

            def __call__(self, environ, start_response):
                if environ["PATH_INFO"] == "/health":
                    start_response("200 OK", [("Content-Type", "text/plain")])
                    return [b"ok"]
                return self.app(environ, start_response)


        application = HealthCheck(application)
    """
    before = dedented({"legacy.py": legacy, "wsgi.py": wsgi})
    after, results = migrate_project(before)
    # the factory's app is made elsewhere: a marker says so, the code stays
    assert kinds(results["legacy.py"]) == {"make_app": "manual"}
    assert "no name of this module holds an app it makes" in after["legacy.py"]
    assert without_markers(after["legacy.py"]) == before["legacy.py"]
    assert "application = HealthCheck(as_asgi(application))" in after["wsgi.py"]
    assert sorted(c.kind for c in results["wsgi.py"].changes) == ["adapted", "converted"]
    requests = [Req("GET", "/health"), Req("GET", "/other")]
    assert_same_project_behaviour(before, after, "wsgi", requests, app_name="application")


def test_a_response_helper_another_module_hands_its_start_response_stays_wsgi() -> None:
    """``json_response(start_response, ...)`` in b.py: a.py must not convert the helper (to
    take ``send``) with its own app, or b.py's still-WSGI app would break."""
    a = """
        import json


        def json_response(start_response, status, data):
            body = json.dumps(data).encode()
            start_response(status, [("Content-Type", "application/json")])
            return [body]


        def app(environ, start_response):
            return json_response(start_response, "200 OK", {"from": "a"})
    """
    b = """
        from a import json_response


        def app(environ, start_response):
            return json_response(start_response, "200 OK", {"path": environ["PATH_INFO"]})
    """
    before = dedented({"a.py": a, "b.py": b})
    after, results = migrate_project(before)
    assert kinds(results["a.py"]) == {"app": "manual"}
    assert "b.py uses `json_response` the WSGI way" in after["a.py"]
    assert "def json_response(start_response, status, data):" in after["a.py"]
    # b.py's app stays WSGI code too; its name serves it through the adapter
    assert kinds(results["b.py"], "served-app") == {"app": "adapted"}
    assert without_markers(after["b.py"]).endswith("app = WsgiToAsgi(app)\n")
    requests = [Req("GET", "/x")]
    assert_same_project_behaviour(before, after, "b", requests)
    # alone, a.py converts its group
    alone = migrate_sources(dedented({"a.py": a}))
    assert [c.kind for c in alone["a.py"].changes] == ["converted", "converted"]


@pytest.mark.parametrize(
    "subclass",
    [
        """
        class Wrapped(App):
            def __call__(self, environ, start_response):
                environ["HTTP_X_SEEN"] = "1"
                return super().__call__(environ, start_response)
        """,
        """
        class Wrapped(App):
            def __call__(self, env, respond):
                return [b"own: ", *App.__call__(self, env, respond)]
        """,
    ],
    ids=["super() call", "own WSGI __call__"],
)
def test_an_app_class_another_module_subclasses_the_wsgi_way_stays_wsgi(subclass: str) -> None:
    a = """
        class App:
            def __call__(self, environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [environ.get("HTTP_X_SEEN", "-").encode()]


        application = App()
    """
    b = "from a import App\n\n" + textwrap.dedent(subclass) + "\n\nwrapped = Wrapped()\n"
    before = dedented({"a.py": a, "b.py": b})
    after, results = migrate_project(before)
    assert kinds(results["a.py"]) == {"App": "manual"}
    assert "b.py uses `App` the WSGI way" in after["a.py"]
    requests = [Req("GET", "/")]
    expected = served_project_outcomes(
        before, "b", requests, server="wsgiref", asgi=False, app_name="wrapped"
    )
    assert expected[0].status == 200
    # the subclass is an app itself: it stays WSGI behind the adapter, served as ASGI (the
    # wsgi-app rule sees it hand the request on to its base; a __call__ of its own that
    # only hands start_response on is the served-app rule's)
    rule = "wsgi-app" if "super()" in subclass else "served-app"
    assert kinds(results["b.py"], rule) == {"wrapped": "adapted"}
    assert_same_project_behaviour(before, after, "b", requests, app_name="wrapped")
    alone = migrate_sources(dedented({"a.py": a}))
    assert kinds(alone["a.py"]) == {"App": "converted"}


def test_middleware_another_module_decorates_a_wsgi_function_with_stays_wsgi() -> None:
    mw = """
        class Mw:
            def __init__(self, app):
                self.app = app

            def __call__(self, environ, start_response):
                environ["HTTP_X_SEEN"] = "1"
                return self.app(environ, start_response)
    """
    web = """
        from mw import Mw


        @Mw
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [environ.get("HTTP_X_SEEN", "-").encode()]
    """
    before = dedented({"mw.py": mw, "web.py": web})
    after, results = migrate_project(before)
    assert [c.kind for c in results["mw.py"].changes] == ["manual"]
    assert "def __call__(self, environ, start_response):" in after["mw.py"]
    assert_same_project_behaviour(before, after, "web", [Req("GET", "/")])
    alone = migrate_sources(dedented({"mw.py": mw}))
    assert [c.kind for c in alone["mw.py"].changes] == ["converted"]


def test_middleware_a_flask_app_of_another_module_wraps_its_wsgi_app_with_stays_wsgi() -> None:
    """``app.wsgi_app = Mw(app.wsgi_app)`` (Flask's own way to add WSGI middleware) in
    app.py: converted, ``Mw`` would get Flask's WSGI app as an ASGI one."""
    mw = """
        class Mw:
            def __init__(self, app):
                self.app = app

            def __call__(self, environ, start_response):
                environ["HTTP_X_SEEN"] = "1"
                return self.app(environ, start_response)
    """
    flask_app = """
        from flask import Flask, request

        from mw import Mw


        def create_app():
            app = Flask(__name__)
            app.wsgi_app = Mw(app.wsgi_app)

            @app.route("/")
            def index():
                return request.headers.get("X-Seen", "-")

            return app


        app = create_app()
    """
    before = dedented({"mw.py": mw, "app.py": flask_app})
    after, results = migrate_project(before)
    assert [c.kind for c in results["mw.py"].changes] == ["manual"]
    # the Flask app is served through the adapter, with its WSGI middleware inside
    assert kinds(results["app.py"], "served-app") == {"app": "adapted"}
    requests = [Req("GET", "/")]
    expected = served_project_outcomes(before, "app", requests, server="wsgiref", asgi=False)
    assert expected[0].body == b"1"
    assert_same_project_behaviour(before, after, "app", requests)
    alone = migrate_sources(dedented({"mw.py": mw}))
    assert [c.kind for c in alone["mw.py"].changes] == ["converted"]


def test_apps_another_module_dispatches_to_through_a_table_stay_wsgi() -> None:
    """router.py looks its handler up in a table of imported apps and calls it the WSGI way:
    the apps it imports must stay WSGI (converted, the call would get a coroutine)."""
    views = TWO_PAGES
    router = """
        import views

        ROUTES = {"/": views.index, "/about": views.about}


        def app(environ, start_response):
            handler = ROUTES.get(environ["PATH_INFO"])
            if handler is None:
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not found"]
            return handler(environ, start_response)
    """
    before = dedented({"views.py": views, "router.py": router})
    after, results = migrate_project(before)
    assert kinds(results["views.py"]) == {"index": "manual", "about": "manual"}
    requests = [Req("GET", "/"), Req("GET", "/about"), Req("GET", "/x")]
    assert_same_project_behaviour(before, after, "router", requests)


def test_middleware_that_also_answers_is_marked_once() -> None:
    """A middleware class answering some requests itself is also shaped like an app: when
    the middleware rule leaves it WSGI (another module uses it the WSGI way), the app rule
    adds no second marker."""
    mw = """
        class HealthCheck:
            def __init__(self, app):
                self.app = app

            def __call__(self, environ, start_response):
                if environ["PATH_INFO"] == "/health":
                    start_response("200 OK", [("Content-Type", "text/plain")])
                    return [b"ok"]
                return self.app(environ, start_response)
    """
    user = """
        from werkzeug.test import Client

        from mw import HealthCheck


        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hi"]


        client = Client(HealthCheck(app))
    """
    after, results = migrate_project(dedented({"mw.py": mw, "user.py": user}))
    assert [(c.rule, c.kind) for c in results["mw.py"].changes] == [("wsgi-middleware", "manual")]
    assert after["mw.py"].count("# migrate[") == 1


def test_an_app_a_test_calls_directly_stays_wsgi() -> None:
    """A test calling the app with an environ and a start_response of its own keeps it
    WSGI (converted, the call would return a coroutine)."""
    web = """
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [environ["PATH_INFO"].encode()]
    """
    test = """
        import web


        def start_response(status, headers, exc_info=None):
            start_response.status = status


        def render(path):
            return b"".join(web.app({"PATH_INFO": path}, start_response)), start_response.status
    """
    before = dedented({"web.py": web, "test_web.py": test})
    after, results = migrate_project(before)
    assert kinds(results["web.py"]) == {"app": "manual"}
    assert load_project(after, "test_web").render("/x") == (b"/x", "200 OK")


def test_middleware_another_module_makes_with_an_option_is_still_converted() -> None:
    """``application = Auth(app, "realm")`` in wsgi.py makes a stack (handled there through
    as_asgi and wsgi_or_asgi); it is no WSGI call of ``Auth``."""
    mw = """
        class Auth:
            def __init__(self, app, realm):
                self.app = app
                self.realm = realm

            def __call__(self, environ, start_response):
                environ["HTTP_X_REALM"] = self.realm
                return self.app(environ, start_response)
    """
    web = """
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [environ.get("HTTP_X_REALM", "-").encode()]
    """
    wsgi = """
        from mw import Auth
        from web import app

        application = Auth(app, "realm")
    """
    before = dedented({"mw.py": mw, "web.py": web, "wsgi.py": wsgi})
    after, results = migrate_project(before)
    assert [c.kind for c in results["mw.py"].changes] == ["converted"]
    assert_same_project_behaviour(before, after, "wsgi", [Req("GET", "/")], app_name="application")
