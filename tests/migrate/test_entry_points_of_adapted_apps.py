"""A module whose app the run serves through the adapter, run as a script.

``served-app`` makes the module's app an ASGI app (``app = WsgiToAsgi(app)``); its
``__main__`` block served it with a WSGI server. Each case runs ``python svc.py`` before
(on that server) and after, and replays the same requests: Bottle's ``run()`` in its three
forms moves to uvicorn (``server``), and what the block hands the app to that no rule
rewrites gets the WSGI app it got before (``adapters.as_wsgi``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from migrate.runner import SourceResult, migrate_source
from tests.harness import Req, assert_same_project_behaviour
from tests.migrate.test_rule_deployment_served import REPO, answers, running
from tests.migrate.test_rule_wsgi_app_modules import dedented, migrate_project
from tests.scripts import assert_same_answers_as_scripts

BOTTLE_APP = """\
import bottle

app = bottle.Bottle()


@app.route("/ping")
def ping():
    return f"pong {bottle.request.query.get('x', '')}"


@app.route("/boom")
def boom():
    return 1 / 0

"""


def migrate(source: str) -> SourceResult:
    result = migrate_source(source, relpath="svc.py")
    again = migrate_source(result.new_source, relpath="svc.py")
    assert again.new_source == result.new_source and again.changes == []
    return result


def changes(result: SourceResult, rule: str) -> list[tuple[str, str]]:
    return [(c.kind, c.message) for c in result.changes if c.rule == rule]


#: the ``__main__`` block after BOTTLE_APP -> what the server rule writes in its place
BOTTLE_RUNS = {
    "bottle.run(app)": (
        'bottle.run(app, host="127.0.0.1", port=8765, quiet=True)',
        'uvicorn.run(app, host="127.0.0.1", port=8765, log_level="warning", proxy_headers=False)',
    ),
    "the method of a Bottle app": (
        'app.run(host="127.0.0.1", port=8765, server="waitress")',
        'uvicorn.run(app, host="127.0.0.1", port=8765, proxy_headers=False)',
    ),
    "with the reloader": (
        'bottle.run(app, host="127.0.0.1", port=8765, reloader=True, interval=2)',
        'uvicorn.run("svc:app", host="127.0.0.1", port=8765, reload=True, reload_delay=2, proxy_headers=False)',
    ),
}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("form", sorted(BOTTLE_RUNS))
def test_bottle_run_moves_to_uvicorn(
    form: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    call, uvicorn_call = BOTTLE_RUNS[form]
    before = BOTTLE_APP + f'\nif __name__ == "__main__":\n    {call}\n'
    result = migrate(before)
    assert [kind for kind, _ in changes(result, "served-app")] == ["adapted"]
    assert [kind for kind, _ in changes(result, "server")] == ["converted"]
    assert uvicorn_call in result.new_source
    assert_same_answers_as_scripts(before, result.new_source, tmp_path, started)


@pytest.mark.timeout(60)
def test_bottle_debug_mode_is_kept(tmp_path: Path, started: list[subprocess.Popen[bytes]]) -> None:
    # run(debug=True) set bottle's debug mode: its error pages show the exception
    before = BOTTLE_APP + (
        'if __name__ == "__main__":\n'
        '    bottle.run(app, host="127.0.0.1", port=8765, debug=True, quiet=True)\n'
    )
    result = migrate(before)
    assert "    bottle.debug(True)\n    uvicorn.run(app," in result.new_source
    servers = assert_same_answers_as_scripts(before, result.new_source, tmp_path, started)
    for base in servers.values():
        boom = httpx.get(base + "/boom", timeout=5)
        assert boom.status_code == 500
        # the traceback names the file, which is not the same in the two
        assert "ZeroDivisionError" in boom.text and "Traceback" in boom.text


@pytest.mark.timeout(60)
def test_the_default_app_of_bottle_is_served(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    # Bottle's hello world: routes on the default app, run() without an app
    before = textwrap.dedent(
        """\
        from bottle import request, route, run


        @route("/ping")
        def ping():
            return f"pong {request.query.get('x', '')}"


        if __name__ == "__main__":
            run(host="127.0.0.1", port=8765, quiet=True)
        """
    )
    result = migrate(before)
    assert changes(result, "server")[0][0] == "adapted"
    assert "uvicorn.run(as_asgi(bottle.default_app())," in result.new_source
    assert "from bottle import request, route\n" in result.new_source
    assert_same_answers_as_scripts(before, result.new_source, tmp_path, started)


@pytest.mark.timeout(60)
def test_bottle_run_with_reloader_and_debug_stays_and_gets_the_wsgi_app(
    tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    # uvicorn's reloader would import the module where no bottle.debug() runs: marked, and
    # bottle serves the app it served before
    before = BOTTLE_APP + (
        'if __name__ == "__main__":\n'
        '    bottle.run(app, host="127.0.0.1", port=8765, reloader=True, debug=True)\n'
    )
    result = migrate(before)
    ((kind, message),) = changes(result, "server")
    assert kind == "adapted"
    assert "both reloader and debug" in message
    assert "bottle.run(as_wsgi(app), host=" in result.new_source
    assert_same_answers_as_scripts(
        before, result.new_source, tmp_path, started, uvicorn_after=False
    )


#: ``__main__`` blocks handing the app to what no rule rewrites
UNKNOWN_CONSUMERS = {
    # a server object of wsgiref's, given the app by a method
    "a server object": (
        """\
        from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

        if __name__ == "__main__":
            httpd = WSGIServer(("127.0.0.1", 8765), WSGIRequestHandler)
            httpd.set_app(app)
            httpd.serve_forever()
        """,
        "httpd.set_app(as_wsgi(app))",
        False,
    ),
    # WSGI middleware put around the app before it is served
    "a WSGI middleware": (
        """\
        from wsgiref.simple_server import make_server
        from werkzeug.middleware.shared_data import SharedDataMiddleware

        if __name__ == "__main__":
            served = SharedDataMiddleware(app, {})
            make_server("127.0.0.1", 8765, served).serve_forever()
        """,
        "served = SharedDataMiddleware(as_wsgi(app), {})",
        True,
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("form", sorted(UNKNOWN_CONSUMERS))
def test_what_the_main_block_hands_the_app_to_gets_the_wsgi_app(
    form: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    block, handed, uvicorn_after = UNKNOWN_CONSUMERS[form]
    before = BOTTLE_APP + "\n" + textwrap.dedent(block)
    result = migrate(before)
    served = changes(result, "served-app")
    assert [kind for kind, _ in served] == ["adapted", "adapted"]
    assert "uses it as the WSGI app it was" in served[1][1]
    assert handed in result.new_source
    assert_same_answers_as_scripts(
        before, result.new_source, tmp_path, started, uvicorn_after=uvicorn_after
    )


FLASK_MODULE = """\
from flask import Flask, request

app = Flask(__name__)


@app.route("/ping")
def ping():
    return f"pong {request.args.get('x', '')}"


@app.cli.command("hello")
def hello():
    print("hello from", app.name)
"""


def flask_cli(folder: Path, *args: str, app: str = "svc") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", app, *args],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{folder}"},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.timeout(90)
def test_flasks_command_line_finds_the_flask_app_after_the_run(tmp_path: Path) -> None:
    """``flask run``, ``flask routes`` and the app's own commands (``flask db upgrade`` in a
    boot script) look for the module's Flask app; ``app`` is ASGI after the run."""
    result = migrate(FLASK_MODULE)
    assert result.new_source.endswith("app = WsgiToAsgi(flask_app := app)\n")
    folders = {"before": FLASK_MODULE, "after": result.new_source}
    # the app served through the adapter without the Flask app kept: the commands fail
    folders["wrapped only"] = result.new_source.replace("flask_app := app", "app")
    for name, text in folders.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "svc.py").write_text(text)
    ran = {
        name: (flask_cli(tmp_path / name, "hello"), flask_cli(tmp_path / name, "routes"))
        for name in folders
    }
    assert ran["before"][0].stdout == ran["after"][0].stdout == "hello from svc\n"
    assert ran["before"][1].stdout == ran["after"][1].stdout
    assert "/ping" in ran["after"][1].stdout
    assert ran["wrapped only"][0].returncode != 0 and ran["wrapped only"][1].returncode != 0

    requests = [("GET", "/ping?x=1", b""), ("GET", "/missing", b"")]
    seen = []
    for name in ("before", "after"):
        with running("python -m flask --app svc run --port $PORT", tmp_path / name) as url:
            seen.append(answers(url, requests))
    assert seen[0] == seen[1] and seen[0][0][0][2] == b"pong 1"


FLASK_SESSIONS = """\
from flask import Flask, request, session

app = Flask(__name__)


@app.route("/ping")
def ping():
    session["seen"] = session.get("seen", 0) + 1  # needs the secret key set below
    return f"pong {request.args.get('x', '')}"

"""

#: code run after the module served its app, setting what Flask reads from the app itself
LATER_ATTRIBUTES = {
    "the main block sets them": (
        """\
        if __name__ == "__main__":
            app.secret_key = "dev"
            app.debug = False
            app.run(port=8765)
        """,
        'as_wsgi(app).secret_key = "dev"',
    ),
    "a function the main block calls sets them": (
        """\
        def configure(key):
            app.secret_key = key


        if __name__ == "__main__":
            configure("dev")
            app.run(port=8765)
        """,
        "    as_wsgi(app).secret_key = key",
    ),
    # the adapter's own `wsgi_app` is the app it serves, not Flask's WSGI callable
    "a command wraps Flask's wsgi_app": (
        """\
        class Tagged:
            def __init__(self, wsgi_app):
                self.wsgi_app = wsgi_app

            def __call__(self, environ, start_response):
                return self.wsgi_app(environ, lambda s, h, e=None: start_response(s, [*h, ("X-Tag", "1")]))


        def serve_tagged():
            app.secret_key = "dev"
            app.wsgi_app = Tagged(app.wsgi_app)
            app.run(port=8765)


        if __name__ == "__main__":
            serve_tagged()
        """,
        "    as_wsgi(app).wsgi_app = Tagged(as_wsgi(app).wsgi_app)",
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("form", sorted(LATER_ATTRIBUTES))
def test_what_sets_attributes_of_the_app_later_sets_them_on_the_wsgi_app(
    form: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    """``app.secret_key = "dev"`` on the adapter would leave the Flask app without one, and
    every request using the session would answer 500."""
    block, rewritten = LATER_ATTRIBUTES[form]
    before = FLASK_SESSIONS + "\n" + textwrap.dedent(block)
    result = migrate(before)
    assert rewritten in result.new_source
    assert result.new_source.count("app = WsgiToAsgi(flask_app := app)") == 1
    bases = assert_same_answers_as_scripts(
        before, result.new_source, tmp_path, started, uvicorn_after=False
    )
    tags = {where: httpx.get(base + "/ping").headers.get("x-tag") for where, base in bases.items()}
    assert tags["before"] == tags["after"]


# the Flask Mega-Tutorial's first layout: the app made in a package, its views in a module
# importing it back, and the entry module `FLASK_APP=microblog.py` names
MEGA_TUTORIAL = {
    "app/__init__.py": """\
        from flask import Flask

        app = Flask(__name__)
        app.config["GREETING"] = "hi"

        from app import routes  # noqa: E402
    """,
    "app/routes.py": """\
        from flask import jsonify

        from app import app


        @app.route("/")
        def index():
            return jsonify(greeting=app.config["GREETING"])
    """,
    "microblog.py": """\
        from app import app


        @app.cli.command("hello")
        def hello():
            print("hello from", app.name)
    """,
}


@pytest.mark.timeout(90)
def test_a_module_importing_the_flask_app_stays_a_module_flasks_command_line_loads(
    tmp_path: Path,
) -> None:
    before = dedented(MEGA_TUTORIAL)
    after, _ = migrate_project(before)
    assert after["app/__init__.py"].count("app = WsgiToAsgi(flask_app := app)\n") == 1
    assert "flask_app = as_wsgi(app)\n" in after["microblog.py"]
    assert after["app/routes.py"] == before["app/routes.py"]  # a part of the app
    requests = [Req("GET", "/"), Req("GET", "/missing")]
    assert_same_project_behaviour(before, after, "microblog", requests)

    folders = {
        "before": before,
        "after": after,
        # the entry module left as it was: Flask finds no Flask app in it
        "entry left": {**after, "microblog.py": before["microblog.py"]},
    }
    ran = {}
    for name, files in folders.items():
        for relpath, text in files.items():
            (tmp_path / name / relpath).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name / relpath).write_text(text)
        ran[name] = [
            flask_cli(tmp_path / name, *c, app="microblog") for c in (["hello"], ["routes"])
        ]
    assert [r.stdout for r in ran["before"]] == [r.stdout for r in ran["after"]]
    assert ran["after"][0].stdout == "hello from app\n" and "index" in ran["after"][1].stdout
    assert all(r.returncode != 0 for r in ran["entry left"])
