"""Rule ``server``: WSGI server entry points become ``uvicorn.run(...)``."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, QualifiedNameProvider

from migrate.analysis import calls_in
from migrate.rules.server import (
    MAKE_SERVER,
    RUN_SIMPLE,
    WAITRESS_SERVE,
    ServerRule,
    _may_call_a_server,
)
from migrate.runner import SourceResult, migrate_source
from tests.harness import load_module
from tests.scripts import assert_same_answers_as_scripts, get_from_script

ASGI_APP = """
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = f"{scope['method']} {scope['path']} {scope['query_string'].decode()}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
"""


def run(source: str, relpath: str = "svc.py") -> SourceResult:
    return migrate_source(textwrap.dedent(source), rules=[ServerRule], relpath=relpath)


def check(before: str, after: str, kinds: list[str], relpath: str = "svc.py") -> SourceResult:
    """``before`` becomes ``after`` with changes of ``kinds``, and a second run changes nothing."""
    result = run(before, relpath)
    assert result.new_source == textwrap.dedent(after)
    assert [c.kind for c in result.changes] == kinds
    assert all(c.rule == "server" for c in result.changes)
    again = run(result.new_source, relpath)
    assert again.new_source == result.new_source
    assert again.changes == []
    return result


# ------------------------------------------------------------------------------ conversions


def test_wsgiref_with_block() -> None:
    result = check(
        '''\
        """Service."""
        from wsgiref.simple_server import make_server

        from svc_app import app

        if __name__ == "__main__":
            # the dev server
            with make_server("", 8000, app) as httpd:
                print("Serving on port 8000...")
                httpd.serve_forever()
        ''',
        '''\
        """Service."""

        from svc_app import app
        from adapters import as_asgi

        if __name__ == "__main__":
            import uvicorn
            # the dev server
            print("Serving on port 8000...")
            uvicorn.run(as_asgi(app), host="0.0.0.0", port=8000, proxy_headers=False)
        ''',
        ["adapted"],
    )
    assert result.changes[0].line == 10
    assert (
        'uvicorn.run(as_asgi(app), host="0.0.0.0", port=8000, proxy_headers=False)'
        in result.changes[0].message
    )
    assert "nothing here shows that `app` is an ASGI app" in result.changes[0].message


def test_wsgiref_chained_call_keeps_other_imports() -> None:
    check(
        """\
        from wsgiref.simple_server import WSGIServer, make_server
        from svc_app import app

        if __name__ == "__main__":
            make_server("127.0.0.1", 8080, app).serve_forever()
        """,
        """\
        from wsgiref.simple_server import WSGIServer
        from svc_app import app
        from adapters import as_asgi

        if __name__ == "__main__":
            import uvicorn
            uvicorn.run(as_asgi(app), host="127.0.0.1", port=8080, proxy_headers=False)
        """,
        ["adapted"],
    )


def test_wsgiref_assigned_server_with_try_finally() -> None:
    # uvicorn is imported in the function that serves: importing the module does not need it
    check(
        """\
        from wsgiref import simple_server
        from svc_app import app

        def main(port=8000):
            httpd = simple_server.make_server("localhost", port, app)
            print("listening")
            try:
                httpd.serve_forever()
            except KeyboardInterrupt:
                print("bye")
            finally:
                httpd.server_close()
        """,
        """\
        from svc_app import app
        from adapters import as_asgi

        def main(port=8000):
            import uvicorn
            print("listening")
            try:
                uvicorn.run(as_asgi(app), host="localhost", port=port, proxy_headers=False)
            except KeyboardInterrupt:
                print("bye")
        """,
        ["adapted"],
    )


def test_werkzeug_run_simple() -> None:
    check(
        """\
        from werkzeug.serving import run_simple
        from svc_app import app

        if __name__ == "__main__":
            run_simple("0.0.0.0", 5000, app, use_reloader=False, threaded=False)
        """,
        """\
        from svc_app import app
        from adapters import as_asgi

        if __name__ == "__main__":
            import uvicorn
            uvicorn.run(as_asgi(app), host="0.0.0.0", port=5000, proxy_headers=False)
        """,
        ["adapted"],
    )


def test_werkzeug_reloader_uses_an_import_string() -> None:
    check(
        """\
        from werkzeug.serving import run_simple
        from adapters import WsgiToAsgi
        from svc_app import wsgi_app

        app = WsgiToAsgi(wsgi_app)

        if __name__ == "__main__":
            run_simple("localhost", 5000, app, use_reloader=True)
        """,
        """\
        from adapters import WsgiToAsgi
        from svc_app import wsgi_app

        app = WsgiToAsgi(wsgi_app)

        if __name__ == "__main__":
            import uvicorn
            uvicorn.run("pkg.svc:app", host="localhost", port=5000, reload=True, proxy_headers=False)
        """,
        ["converted"],
        relpath="pkg/svc.py",
    )


def test_reloader_with_an_app_made_elsewhere_keeps_the_server() -> None:
    """An import string cannot go through adapters.as_asgi: an app nothing here shows to be
    ASGI keeps its WSGI server (with the reloader), and gets the app through as_wsgi."""
    result = run(
        """\
        from werkzeug.serving import run_simple
        from svc_app import app

        if __name__ == "__main__":
            run_simple("localhost", 5000, app, use_reloader=True)
        """,
        relpath="pkg/svc.py",
    )
    assert [c.kind for c in result.changes] == ["adapted"]
    assert "reload needs an import string" in result.changes[0].message
    assert 'run_simple("localhost", 5000, as_wsgi(app), use_reloader=True)' in result.new_source


def test_werkzeug_debugger_is_converted_and_marked() -> None:
    result = check(
        """\
        from werkzeug import serving
        from svc_app import app

        if __name__ == "__main__":
            serving.run_simple("", 5000, app, use_debugger=True)
        """,
        """\
        from svc_app import app
        from adapters import as_asgi

        if __name__ == "__main__":
            import uvicorn
            # migrate[server]: uvicorn has no interactive debugger like werkzeug's use_debugger: tracebacks go to the log; add a debug error page middleware if you need one
            uvicorn.run(as_asgi(app), host="0.0.0.0", port=5000, proxy_headers=False)
        """,
        ["adapted", "manual"],
    )
    assert "debugger" in result.changes[1].message


def test_waitress_serve_forms() -> None:
    check(
        """\
        import os
        import waitress
        from waitress import serve as waitress_serve
        from svc_app import app

        def a():
            waitress.serve(app, host="127.0.0.1", port=8081)

        def b():
            waitress_serve(app, listen="*:8082")

        def c():
            waitress.serve(app)

        def d():
            waitress.serve(app, port=os.environ["PORT"])

        def e():
            waitress.serve(app, port="8083", host="")
        """,
        """\
        import os
        import uvicorn
        from svc_app import app
        from adapters import as_asgi

        def a():
            uvicorn.run(as_asgi(app), host="127.0.0.1", port=8081, proxy_headers=False)

        def b():
            uvicorn.run(as_asgi(app), host="0.0.0.0", port=8082, proxy_headers=False)

        def c():
            uvicorn.run(as_asgi(app), host="0.0.0.0", port=8080, proxy_headers=False)

        def d():
            uvicorn.run(as_asgi(app), host="0.0.0.0", port=int(os.environ["PORT"]), proxy_headers=False)

        def e():
            uvicorn.run(as_asgi(app), host="0.0.0.0", port=8083, proxy_headers=False)
        """,
        ["adapted"] * 5,
    )


def test_already_uvicorn_is_left_alone() -> None:
    source = """\
        from svc_app import app

        if __name__ == "__main__":
            import uvicorn
            uvicorn.run(app, host="0.0.0.0", port=8000, proxy_headers=False)
        """
    result = run(source)
    assert result.new_source == textwrap.dedent(source)
    assert result.changes == []


def test_lookalikes_are_not_touched() -> None:
    source = """\
        from mylib import make_server, serve

        def run_simple(*args):
            pass

        make_server("", 1, app).serve_forever()
        serve(app, port=1)
        run_simple("", 1, app)
        """
    result = run(source)
    assert result.new_source == textwrap.dedent(source)
    assert result.changes == []


def test_might_apply_is_a_superset() -> None:
    assert ServerRule.might_apply("from wsgiref.simple_server import make_server as ms")
    assert ServerRule.might_apply("from waitress import serve as go")
    assert ServerRule.might_apply("import werkzeug\nwerkzeug.serving.run_simple('', 1, a)")
    assert not ServerRule.might_apply("import uvicorn\nuvicorn.run(app)")


# ------------------------------------------------------------------------------ manual spots


UNCERTAIN_CALL_MODULE = """\
    import waitress
    from werkzeug.serving import run_simple
    from wsgiref.simple_server import make_server
    from svc_app import app, create_app, QuietHandler

    def wsgi_app(env, respond):
        respond("204 No Content", [])
        return []

    if __name__ == "__main__":
        {call}
    """


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        ('make_server("", 8000, app, handler_class=QuietHandler).serve_forever()', "handler_class"),
        ('run_simple("", 5000, app, ssl_context="adhoc")', "ssl_certfile"),
        ('run_simple("", 5000, app, threaded=True)', "threaded"),
        ('waitress.serve(app, port=8080, url_scheme="https")', "url_scheme"),
        ('waitress.serve(app, listen="127.0.0.1:8080 [::1]:8080")', "once per address"),
    ],
)
def test_uncertain_calls_keep_their_server_and_get_the_app_through_as_wsgi(
    call: str, needle: str
) -> None:
    """A server call the rule cannot rewrite stays, with a marker; the app it serves may be
    ASGI after this run (imported from a module of the run, made by a factory of it), so it
    gets it through adapters.as_wsgi, which hands a WSGI app on unchanged: the entry point
    serves either way."""
    source = UNCERTAIN_CALL_MODULE.format(call=call)
    result = run(source)
    (change,) = result.changes
    assert change.kind == "adapted"
    assert needle in change.message and "through adapters.as_wsgi" in change.message
    wrapped = call.replace(", app", ", as_wsgi(app)").replace("serve(app,", "serve(as_wsgi(app),")
    expected = (
        textwrap.dedent(source)
        .replace(f"    {call}", f"    # migrate[server]: {change.message}\n    {wrapped}")
        .replace("QuietHandler\n", "QuietHandler\nfrom adapters import as_wsgi\n", 1)
    )
    assert result.new_source == expected
    again = run(result.new_source)
    assert again.new_source == result.new_source
    assert again.changes == []


@pytest.mark.parametrize(
    ("call", "app", "reason"),
    [
        ('make_server("", 8000, wsgi_app).serve_forever()', "wsgi_app", "still a WSGI callable"),
        (
            'make_server("", 8000, svc.wsgi_app).serve_forever()',
            "svc.wsgi_app",
            "`svc.wsgi_app` is an expression",
        ),
        (
            'make_server("", 8000, create_app()).serve_forever()',
            "create_app()",
            "`create_app()` is an expression",
        ),
    ],
)
def test_an_app_that_may_still_be_wsgi_is_served_by_uvicorn_through_as_asgi(
    call: str, app: str, reason: str
) -> None:
    """Whatever the app is (still WSGI, or what an expression gives), uvicorn can serve it
    through adapters.as_asgi, which adapts a WSGI app and hands an ASGI app on as it is."""
    source = UNCERTAIN_CALL_MODULE.format(call=call)
    result = run(source)
    (change,) = result.changes
    assert change.kind == "adapted"
    assert reason in change.message and "through adapters.as_asgi" in change.message
    expected = (
        textwrap.dedent(source)
        .replace(
            f"    {call}",
            f'    uvicorn.run(as_asgi({app}), host="0.0.0.0", port=8000, proxy_headers=False)',
        )
        .replace("from wsgiref.simple_server import make_server\n", "")
        .replace("QuietHandler\n", "QuietHandler\nfrom adapters import as_asgi\n", 1)
        .replace(
            'if __name__ == "__main__":\n', 'if __name__ == "__main__":\n    import uvicorn\n', 1
        )
    )
    assert result.new_source == expected
    again = run(result.new_source)
    assert again.new_source == result.new_source
    assert again.changes == []


def test_server_object_used_otherwise() -> None:
    result = run(
        """\
        import threading
        from wsgiref.simple_server import make_server
        from svc_app import app

        httpd = make_server("", 8000, app)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        """
    )
    assert [c.kind for c in result.changes] == ["adapted"]
    assert result.new_source.splitlines()[5].startswith("# migrate[server]: `httpd` made by")
    assert 'httpd = make_server("", 8000, as_wsgi(app))' in result.new_source
    # only what is used is imported (the uvicorn.run planned first was given up)
    assert "from adapters import as_wsgi\n" in result.new_source
    assert "as_asgi" not in result.new_source


def test_an_app_computed_where_the_server_is_made_keeps_its_place() -> None:
    """uvicorn.run would take the place of serve_forever(): ``create_app()`` would then run
    after the code in between. The server stays, and gets the app through as_wsgi."""
    result = run(
        """\
        from wsgiref.simple_server import make_server
        from svc_app import create_app

        if __name__ == "__main__":
            httpd = make_server("", 8000, create_app())
            print("serving")
            httpd.serve_forever()
        """
    )
    (change,) = result.changes
    assert change.kind == "adapted"
    assert "`create_app()` is computed where the server is made" in change.message
    assert 'httpd = make_server("", 8000, as_wsgi(create_app()))' in result.new_source
    assert "as_asgi" not in result.new_source and "import uvicorn" not in result.new_source


def test_app_built_in_main_block_goes_through_as_asgi() -> None:
    result = run(
        """\
        from wsgiref.simple_server import make_server
        from svc_app import create_app

        if __name__ == "__main__":
            app = create_app()
            make_server("", 8000, app).serve_forever()
        """
    )
    assert [c.kind for c in result.changes] == ["adapted"]
    assert "`__main__` block" in result.changes[0].message
    assert (
        'uvicorn.run(as_asgi(app), host="0.0.0.0", port=8000, proxy_headers=False)'
        in result.new_source
    )
    assert "make_server" not in result.new_source


# ------------------------------------------------------------------------------ behaviour


MAIN_BLOCKS = {
    "wsgiref-with": """\
        from wsgiref.simple_server import make_server

        if __name__ == "__main__":
            with make_server("", 8765, app) as httpd:
                print("serving")
                httpd.serve_forever()
        """,
    "werkzeug": """\
        from werkzeug.serving import run_simple

        if __name__ == "__main__":
            run_simple("127.0.0.1", 8765, app, use_reloader=False)
        """,
    "werkzeug-reload": """\
        from werkzeug.serving import run_simple

        if __name__ == "__main__":
            run_simple("127.0.0.1", 8765, app, use_reloader=True)
        """,
    "waitress-listen": """\
        from waitress import serve

        if __name__ == "__main__":
            serve(app, listen="127.0.0.1:8765")
        """,
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("form", sorted(MAIN_BLOCKS))
def test_migrated_main_block_serves_for_real(
    form: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    before = ASGI_APP.lstrip() + "\n\n" + textwrap.dedent(MAIN_BLOCKS[form])
    result = migrate_source(before, rules=[ServerRule], relpath="svc.py")
    assert [c.kind for c in result.changes] == ["converted"]
    assert "uvicorn.run(" in result.new_source
    assert "8765" in result.new_source
    response = get_from_script(result.new_source, tmp_path, started, "/ping?x=1")
    url = str(response.url).split("/ping")[0]
    assert response.status_code == 200
    assert response.text == "GET /ping x=1"
    assert response.headers["server"] == "uvicorn"
    posted = httpx.post(f"{url}/notes", content=b"hello", timeout=5)
    assert posted.text == "POST /notes "


def test_wsgi_def_rebound_to_an_asgi_wrapper_is_trusted() -> None:
    result = run(
        """\
        from wsgiref.simple_server import make_server
        from adapters import WsgiToAsgi

        def app(environ, start_response):
            start_response("200 OK", [])
            return [b"hi"]

        app = WsgiToAsgi(app)

        if __name__ == "__main__":
            make_server("", 8000, app).serve_forever()
        """
    )
    assert [c.kind for c in result.changes] == ["converted"]
    assert 'uvicorn.run(app, host="0.0.0.0", port=8000, proxy_headers=False)' in result.new_source
    assert "make_server" not in result.new_source


@pytest.mark.parametrize(
    ("setup", "origin"),
    [
        ("from wsgiref.simple_server import demo_app as app", "wsgiref.simple_server"),
        (
            "from django.core.wsgi import get_wsgi_application\napp = get_wsgi_application()",
            "django.core.wsgi.get_wsgi_application",
        ),
        ("import flask\napp = flask.Flask(__name__)", "flask.Flask"),
    ],
)
def test_apps_from_wsgi_libraries_go_through_as_asgi(setup: str, origin: str) -> None:
    result = run(f"import waitress\n{setup}\nwaitress.serve(app, port=8080)\n")
    assert [c.kind for c in result.changes] == ["adapted"]
    assert f"comes from {origin}" in result.changes[0].message
    assert (
        'uvicorn.run(as_asgi(app), host="0.0.0.0", port=8080, proxy_headers=False)'
        in result.new_source
    )
    assert "waitress" not in result.new_source


MIDDLEWARE_STACK = """\
from wsgiref.simple_server import make_server
from svc_app import inner


class Middleware:
    def __init__(self, app):
        self.app = app

    {call}


application = Middleware(inner)

if __name__ == "__main__":
    make_server("", 8000, application).serve_forever()
"""


def test_instance_of_a_still_wsgi_middleware_goes_through_as_asgi() -> None:
    source = MIDDLEWARE_STACK.format(
        call="def __call__(self, environ, start_response):\n"
        "        return self.app(environ, start_response)"
    )
    result = migrate_source(source, rules=[ServerRule], relpath="svc.py")
    assert [c.kind for c in result.changes] == ["adapted"]
    assert "`application` is still a WSGI callable" in result.changes[0].message
    assert (
        'uvicorn.run(as_asgi(application), host="0.0.0.0", port=8000, proxy_headers=False)'
        in result.new_source
    )


def test_instance_of_an_asgi_middleware_is_trusted() -> None:
    source = MIDDLEWARE_STACK.format(
        call="async def __call__(self, scope, receive, send):\n"
        "        await self.app(scope, receive, send)"
    )
    result = migrate_source(source, rules=[ServerRule], relpath="svc.py")
    assert [c.kind for c in result.changes] == ["converted"]
    assert (
        'uvicorn.run(application, host="0.0.0.0", port=8000, proxy_headers=False)'
        in result.new_source
    )


def test_pep3333_iterable_class_goes_through_as_asgi() -> None:
    result = run(
        """\
        import waitress

        class App:
            def __init__(self, environ, start_response):
                self.start = start_response

            def __iter__(self):
                self.start("200 OK", [])
                yield b"hi"

        waitress.serve(App, port=8080)
        """
    )
    assert [c.kind for c in result.changes] == ["adapted"]
    assert (
        'uvicorn.run(as_asgi(App), host="0.0.0.0", port=8080, proxy_headers=False)'
        in result.new_source
    )


# --------------------------------------------------------------------------- prefilters


class _QualifiedServerCalls(cst.CSTVisitor):
    """The calls libcst's qualified names take for a server function (what the rule acts on)."""

    METADATA_DEPENDENCIES = (QualifiedNameProvider,)

    def __init__(self) -> None:
        super().__init__()
        self.found = 0

    def visit_Call(self, node: cst.Call) -> None:
        names = {q.name for q in self.get_metadata(QualifiedNameProvider, node.func, set())}
        self.found += bool(names & (MAKE_SERVER | RUN_SIMPLE | WAITRESS_SERVE))


@pytest.mark.parametrize(
    ("source", "server_calls"),
    [
        ("from waitress import serve as go\ngo(app)\n", 1),
        ("import waitress as w\nw.serve(app)\n", 1),
        ("from wsgiref import simple_server as s\ns.make_server('', 1, app)\n", 1),
        ("import wsgiref.util\nwsgiref.simple_server.make_server('', 1, app)\n", 1),
        ("def f():\n    from werkzeug import run_simple as rs\n    rs('h', 1, app)\n", 1),
        ("from wsgiref.util import request_uri\nprint(request_uri(environ))\n", 0),
        ("import waitress\ngo = waitress.serve\ngo(app)\n", 0),  # libcst does not follow it
    ],
)
def test_the_shape_stage_and_the_metadata_gate_keep_every_server_call(
    source: str, server_calls: int
) -> None:
    """Both the shape stage and the test that decides whether the rule works out any
    metadata go by the name called: they must let through every call the qualified names
    find (an import may rename the function; an assignment is not followed by libcst)."""
    module = cst.parse_module(source)
    qualified = _QualifiedServerCalls()
    MetadataWrapper(module).visit(qualified)
    assert qualified.found == server_calls
    if server_calls:
        assert ServerRule.might_apply_to_tree(ast.parse(source), source)
        assert len(_may_call_a_server(module, calls_in(module))) >= server_calls
    else:  # and they are sharp: no server call, no libcst
        assert not ServerRule.might_apply_to_tree(ast.parse(source), source)


@pytest.mark.timeout(30)
def test_a_server_call_left_as_it_is_serves_the_asgi_app_through_as_wsgi(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    """make_server() with a handler class of its own stays (manual work: uvicorn has no
    equivalent), but it is handed the app, ASGI now, through adapters.as_wsgi: the entry
    point keeps working (adapted)."""
    before = ASGI_APP.lstrip() + textwrap.dedent(
        """

        from wsgiref.simple_server import WSGIRequestHandler, make_server


        class QuietHandler(WSGIRequestHandler):
            def log_message(self, format, *args):
                pass


        if __name__ == "__main__":
            make_server("127.0.0.1", 8765, app, handler_class=QuietHandler).serve_forever()
        """
    )
    result = migrate_source(before, rules=[ServerRule], relpath="svc.py")
    assert [c.kind for c in result.changes] == ["adapted"]
    assert "handler_class" in result.changes[0].message
    assert 'make_server("127.0.0.1", 8765, as_wsgi(app), handler_class=QuietHandler)' in (
        result.new_source
    )
    assert "from adapters import as_wsgi" in result.new_source
    again = migrate_source(result.new_source, rules=[ServerRule], relpath="svc.py")
    assert again.new_source == result.new_source and again.changes == []
    response = get_from_script(result.new_source, tmp_path, started, "/ping?x=1")
    assert response.status_code == 200
    assert response.text == "GET /ping x=1"
    assert "WSGIServer" in response.headers["server"]


@pytest.mark.timeout(60)
def test_a_server_call_serving_what_a_converted_factory_makes_keeps_working(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    """The wsgi-app rule makes ``make_app()`` return an ASGI app; the server call serving
    ``make_app()`` (an expression: the server rule cannot tell what it is) becomes uvicorn,
    which gets it through adapters.as_asgi, so ``python svc.py`` answers as before."""
    before = textwrap.dedent(
        """\
        from wsgiref.simple_server import make_server


        def make_app(greeting):
            def app(environ, start_response):
                body = f"{greeting} {environ['PATH_INFO']}".encode()
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [body]

            return app


        application = make_app("hello")

        if __name__ == "__main__":
            make_server("127.0.0.1", 8765, make_app("hi")).serve_forever()
        """
    )
    result = migrate_source(before, relpath="svc.py")
    assert sorted((c.rule, c.kind) for c in result.changes) == [
        ("server", "adapted"),
        ("wsgi-app", "converted"),
    ]
    assert "async def app(scope, receive, send):" in result.new_source
    assert (
        'uvicorn.run(as_asgi(make_app("hi")), host="127.0.0.1", port=8765, proxy_headers=False)'
        in result.new_source
    )
    answers = []
    for name, source in (("before", before), ("after", result.new_source)):
        (tmp_path / name).mkdir()
        response = get_from_script(source, tmp_path / name, started, "/ping")
        answers.append((response.status_code, response.text))
    assert answers == [(200, "hi /ping")] * 2


@pytest.mark.timeout(60)
def test_a_flask_app_made_by_create_app_is_served_by_uvicorn_through_as_asgi(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    """``app = create_app()`` (a real Flask app, WSGI) served by werkzeug's run_simple: the
    entry point moves to uvicorn, which gets the app through adapters.as_asgi, so it
    answers as before (``uvicorn.run(app)`` alone served a WSGI app to an ASGI server)."""
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    factory = textwrap.dedent(
        """\
        from flask import Flask, request


        def create_app():
            app = Flask(__name__)

            @app.route("/ping")
            def ping():
                return f"pong {request.args.get('x', '')} {request.scheme} {request.remote_addr}"

            return app
        """
    )
    before = textwrap.dedent(
        """\
        from werkzeug.serving import run_simple

        from myapp import create_app

        app = create_app()

        if __name__ == "__main__":
            run_simple("127.0.0.1", 8765, app)
        """
    )
    result = migrate_source(before, relpath="svc.py")
    assert [(c.rule, c.kind) for c in result.changes] == [("server", "adapted")]
    assert (
        'uvicorn.run(as_asgi(app), host="127.0.0.1", port=8765, proxy_headers=False)'
        in result.new_source
    )
    answers = []
    for name, source in (("before", before), ("after", result.new_source)):
        (tmp_path / name / "myapp.py").write_text(factory)
        # from a proxy on 127.0.0.1: werkzeug's server read no X-Forwarded-* header; nor
        # may uvicorn (proxy_headers=False)
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        response = get_from_script(source, tmp_path / name, started, "/ping?x=1", forwarded)
        answers.append((response.status_code, response.text, response.headers.get("server", "")))
    assert [a[:2] for a in answers] == [(200, "pong 1 http 127.0.0.1")] * 2
    assert "Werkzeug" in answers[0][2] and answers[1][2] == "uvicorn"


STILL_WSGI_ENTRY_POINTS = {
    # Pyramid's hello world shape: the app is built in the __main__ block, and the server
    # object is kept in a name until serve_forever()
    "app built in the main block": (
        """\
        from wsgiref.simple_server import make_server


        def make_wsgi_app():
            def app(environ, start_response):
                query = environ.get("QUERY_STRING", "").partition("=")[2]
                start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
                return [f"pong {query}".encode()]

            return app


        if __name__ == "__main__":
            app = make_wsgi_app()
            server = make_server("127.0.0.1", 8765, app)
            server.serve_forever()
        """,
        'uvicorn.run(as_asgi(app), host="127.0.0.1", port=8765, proxy_headers=False)',
        "built in the `__main__` block",
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(STILL_WSGI_ENTRY_POINTS))
def test_an_entry_point_serving_a_wsgi_app_moves_to_uvicorn_through_as_asgi(
    name: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    """An app the rules leave WSGI (or cannot vouch for) no longer keeps its entry point on
    a WSGI server with a manual marker: uvicorn serves it through adapters.as_asgi, and
    ``python svc.py`` answers as before."""
    source, served, reason = STILL_WSGI_ENTRY_POINTS[name]
    before = textwrap.dedent(source)
    result = migrate_source(before, relpath="svc.py")
    server_changes = [c for c in result.changes if c.rule == "server"]
    assert [c.kind for c in server_changes] == ["adapted"]
    assert reason in server_changes[0].message
    assert served in result.new_source
    assert_same_answers_as_scripts(before, result.new_source, tmp_path, started)
    again = migrate_source(result.new_source, relpath="svc.py")
    assert again.new_source == result.new_source and again.changes == []


def test_the_app_imports_where_uvicorn_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # uvicorn serves the __main__ block only: it is imported there, so a worker, a test or
    # another server importing the app does not need it
    result = run(
        """\
        import os
        from wsgiref.simple_server import make_server

        def application(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hi"]

        if __name__ == "__main__":
            make_server("127.0.0.1", int(os.environ.get("PORT", "8000")), application).serve_forever()
        """
    )
    assert [c.kind for c in result.changes] == ["adapted"]
    assert "\nimport uvicorn" not in result.new_source
    assert 'if __name__ == "__main__":\n    import uvicorn\n' in result.new_source
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now fails
    module = load_module(result.new_source)
    assert callable(module.application)


def test_waitress_threads_size_the_pool_of_the_blocking_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``threads=8`` bounded how many requests could block at once under waitress: the
    converted code's blocking calls get the same bound."""
    before = """
    import waitress


    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


    if __name__ == "__main__":
        waitress.serve(app, host="127.0.0.1", port=8080, threads=8)
    """
    after = """
    from adapters.blocking import set_blocking_threads


    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


    if __name__ == "__main__":
        import uvicorn
        set_blocking_threads(8)
        uvicorn.run(app, host="127.0.0.1", port=8080, proxy_headers=False)
    """
    result = check(before, after, ["converted"])
    assert "threads=8 sizes the thread pool of the blocking calls" in result.changes[0].message
    # run as __main__ with uvicorn.run stubbed: the pool is sized before the server starts
    import types

    from adapters import blocking

    served: list[int] = []
    fake = types.ModuleType("uvicorn")
    fake.run = lambda app, **kw: served.append(blocking._all_lanes().size)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvicorn", fake)
    try:
        exec(compile(result.new_source, "svc.py", "exec"), {"__name__": "__main__"})
    finally:
        blocking.set_blocking_threads(blocking.DEFAULT_THREADS)
    assert served == [8]


def test_bottle_run_in_an_if_block_imports_uvicorn_there_and_keeps_a_debug_value() -> None:
    # run(debug=x) set bottle's debug mode unless x was None; a module imported by another
    # server (uWSGI here) must not need uvicorn
    result = run(
        """\
        import bottle
        import config

        application = bottle.default_app()

        if config.standalone:
            bottle.run(host=config.ip, port=config.port, debug=config.debug)
        """,
        relpath="server.py",
    )
    assert result.new_source.endswith(
        "if config.standalone:\n"
        "    import uvicorn\n"
        "    if config.debug is not None:\n"
        "        bottle.debug(config.debug)\n"
        "    uvicorn.run(as_asgi(bottle.default_app()), host=config.ip, port=config.port, proxy_headers=False)\n"
    )
    assert [c.kind for c in result.changes] == ["adapted"]
    assert run(result.new_source, relpath="server.py").changes == []


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        ('bottle.run(app, server="gunicorn", workers=4)', "passes server options (workers)"),
        ('bottle.run(app, server="gevent")', 'uses the server "gevent"'),
        ("bottle.run(app, plugins=[p])", "is given plugins"),
        ('bottle.run("svc:app")', 'loads the app "svc:app" by name'),
        ("bottle.run(app, debug=flags())", "debug=flags()"),
    ],
)
def test_bottle_runs_uvicorn_cannot_follow_are_marked(call: str, reason: str) -> None:
    result = run(
        f"import bottle\n\napp = bottle.Bottle()\n\nif __name__ == '__main__':\n    {call}\n"
    )
    ((kind, message),) = [(c.kind, c.message) for c in result.changes]
    assert kind == "manual" and reason in message, message
    assert call in result.new_source


def test_web_py_run_is_marked_with_what_serves_it_on_uvicorn() -> None:
    # CGI, FastCGI or its own server, as sys.argv and the environment say: told, not guessed
    source = """\
        import web

        app = web.application(("/(.*)", "hello"), globals())

        if __name__ == "__main__":
            app.run()
        """
    result = run(source, "svc.py")
    (change,) = result.changes
    assert change.kind == "manual" and change.message.startswith("web.py's run() serves the app")
    assert "WsgiToAsgi(web.httpserver.StaticMiddleware(app.wsgifunc()))" in change.message
    again = run(result.new_source, "svc.py")
    assert again.new_source == result.new_source and again.changes == []


#: Bottle apps served by statements at module level, not in a ``__main__`` block (a
#: Heroku-style ``if``/``else`` on the environment, or a bare ``app.run(...)``).
MODULE_LEVEL_RUNS = {
    "if-else": """
        import os

        from bottle import Bottle, request

        app = Bottle()


        @app.get("/ping")
        def ping():
            return f"pong {request.query.x}"


        if os.environ.get("APP_LOCATION") == "heroku":
            app.run(host="0.0.0.0", port=int(os.environ.get("PORT", 5000)), quiet=True)
        else:
            app.run(host="127.0.0.1", port=8765, quiet=True)
    """,
    "bare": """
        from bottle import Bottle, request

        app = Bottle()


        @app.get("/ping")
        def ping():
            return f"pong {request.query.x}"


        app.run(host="127.0.0.1", port=8765, quiet=True)
    """,
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(MODULE_LEVEL_RUNS))
def test_a_run_at_module_level_serves_the_app_after_its_wrap(
    name: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    """The statement serving the app runs where it stands: ``served-app`` wraps the app
    before it (running it builds nothing), and ``uvicorn.run`` gets the ASGI app the name
    holds there. Both used to put the wrap after the run: uvicorn got the Bottle app and
    called it as an ASGI 2 app (a TypeError on every request)."""
    before = textwrap.dedent(MODULE_LEVEL_RUNS[name])
    result = migrate_source(before, relpath="svc.py")
    code = result.new_source
    assert code.index("app = WsgiToAsgi(app)") < code.index("uvicorn.run(app, ")
    assert_same_answers_as_scripts(before, code, tmp_path, started)
    again = migrate_source(code, relpath="svc.py")
    assert again.new_source == code and again.changes == []


def test_a_module_level_server_call_before_the_wrap_gets_the_app_through_as_asgi() -> None:
    # what the name holds where the call stands counts, not its last binding
    source = textwrap.dedent("""\
        import bottle
        from adapters import WsgiToAsgi

        app = bottle.Bottle()
        bottle.run(app, host="127.0.0.1", port=8080)
        app = WsgiToAsgi(app)
    """)
    result = migrate_source(source, ["server"], relpath="svc.py")
    assert "uvicorn.run(as_asgi(app), " in result.new_source
