"""Rule ``flask-quart``: the run's Flask code moves to Quart, or all of it stays on Flask.

Each example migrates a small project with :func:`migrate.runner.migrate_sources`, serves the
Flask app before as WSGI (wsgiref) and the Quart app after as ASGI (uvicorn, hypercorn), and
compares the answers.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest
import quart
from click.testing import CliRunner

from migrate.cli import main
from migrate.frameworks import flask
from migrate.runner import migrate_sources, select_rules
from tests.harness import (
    Req,
    assert_same_project_behaviour,
    change_kinds,
    load_project,
    migrate_project_twice,
)
from tests.servers import get_together

DB = """
    import sqlite3

    from flask import current_app, g


    def get_db():
        if "db" not in g:
            g.db = sqlite3.connect(current_app.config["DATABASE"])
            g.db.row_factory = sqlite3.Row
        return g.db


    def close_db(exc=None):
        db = g.pop("db", None)
        if db is not None:
            db.close()


    def init_db(path):
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TABLE IF EXISTS note")
            conn.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, title TEXT UNIQUE)")
            conn.execute("INSERT INTO note (title) VALUES ('first')")
"""

VIEWS = """
    from flask import Blueprint, abort, jsonify, render_template_string, request

    from db import get_db

    pages = Blueprint("pages", __name__)


    def page(title, body):
        return render_template_string("<h1>{{ t }}</h1><p>{{ b }}</p>", t=title, b=body)


    @pages.route("/hello/<name>")
    def hello(name):
        return page("Hello", name)


    @pages.post("/echo")
    def echo():
        return jsonify(form=request.form.get("x"), args=request.args.get("q", ""))


    @pages.get("/notes/<int:note_id>")
    def note(note_id):
        row = get_db().execute("SELECT * FROM note WHERE id = ?", (note_id,)).fetchone()
        if row is None:
            abort(404)
        return jsonify(id=row["id"], title=row["title"])
"""

APP = """
    import os
    import sqlite3
    import tempfile

    from flask import Flask, jsonify, request

    from db import close_db, get_db, init_db
    from views import pages

    app = Flask(__name__)
    app.config["DATABASE"] = os.path.join(tempfile.mkdtemp(), "notes.sqlite3")
    app.config["MODE"] = os.environ.get("NOTES_MODE", "dev")  # not the request's environ
    app.teardown_appcontext(close_db)
    app.register_blueprint(pages)
    init_db(app.config["DATABASE"])


    @app.post("/notes")
    def create():
        payload = request.get_json()
        if not isinstance(payload, dict) or not payload.get("title"):
            return jsonify(error="title required"), 422
        db = get_db()
        cur = db.execute("INSERT INTO note (title) VALUES (?)", (payload["title"],))
        db.commit()
        return jsonify(id=cur.lastrowid), 201


    @app.errorhandler(sqlite3.IntegrityError)
    def conflict(error):
        return jsonify(error="conflict"), 409


    @app.errorhandler(404)
    def not_found(error):
        return jsonify(error="not found", path=request.path), 404
"""

PROJECT = {"db.py": DB, "views.py": VIEWS, "app.py": APP}
JSON = (("Content-Type", "application/json"),)
REQUESTS = [
    Req("GET", "/hello/Zo%C3%AB"),
    Req("POST", "/echo?q=1", (("Content-Type", "application/x-www-form-urlencoded"),), b"x=%C3%A9"),
    Req("GET", "/notes/1"),
    Req("GET", "/notes/9"),
    Req("POST", "/notes", JSON, b'{"title": "second"}'),
    Req("POST", "/notes", JSON, b'{"title": "second"}'),
    Req("POST", "/notes", JSON, b'{"nope": 1}'),
    Req("GET", "/notes/2"),
    Req("GET", "/nowhere"),
]


def test_a_flask_project_in_three_modules_moves_to_quart() -> None:
    after, results = migrate_project_twice(PROJECT)
    assert "from quart import Quart, jsonify, request" in after["app.py"]
    assert "app = Quart(__name__)" in after["app.py"]
    assert "payload = await request.get_json()" in after["app.py"]
    assert "async def close_db(exc=None):" in after["db.py"]  # registered by a call elsewhere
    assert "def get_db():" in after["db.py"] and "async def get_db" not in after["db.py"]
    assert "async def page(title, body):" in after["views.py"]  # awaits Quart, so a coroutine
    assert 'return await page("Hello", name)' in after["views.py"]
    assert 'form=(await request.form).get("x")' in after["views.py"]
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    assert not any(c.rule == "served-app" for r in results.values() for c in r.changes)
    assert_same_project_behaviour(PROJECT, after, "app", REQUESTS)
    assert isinstance(load_project(after, "app").app, quart.Quart)


BLOCKING = {
    "app.py": """
        import threading

        from flask import Flask, jsonify

        app = Flask(__name__)
        BOTH = threading.Barrier(2, timeout=5)


        @app.get("/meet")
        def meet():
            BOTH.wait()  # both requests must be in here at once
            return jsonify(met=True)
    """,
}


def test_blocking_calls_of_views_run_off_the_event_loop() -> None:
    after, results = migrate_project_twice(BLOCKING)
    assert change_kinds(results, "flask-quart") == ["converted"] * 3  # import, app, view
    app = load_project(after, "app").app
    answers = get_together(app, "/meet")
    assert [a.status_code for a in answers] == [200, 200]


def stays_flask(files: Mapping[str, str], markers: int = 0) -> None:
    """The run stays on Flask, with ``markers`` manual markers (on extension imports)."""
    after, results = migrate_project_twice(files)
    assert change_kinds(results, "flask-quart") == ["manual"] * markers
    for relpath in files:
        code = [line for line in after[relpath].splitlines() if not line.lstrip().startswith("#")]
        assert "quart" not in "\n".join(code), relpath  # (a marker may name quart-cors)


def test_an_extension_keeps_the_whole_run_on_flask() -> None:
    stays_flask({**PROJECT, "app.py": "from flask_cors import CORS\n" + textwrap.dedent(APP)}, 1)


def test_a_subclass_of_flask_keeps_the_whole_run_on_flask() -> None:
    # its overrides are Flask's methods; Quart's are coroutines
    stays_flask({
        "app.py": """
            from flask import Flask


            class ShopFlask(Flask):
                def make_response(self, rv):
                    return super().make_response(rv)


            app = ShopFlask(__name__)


            @app.route("/")
            def index():
                return "hi"
        """,
    })  # fmt: skip


def test_quarts_coroutines_reached_through_the_flask_module_keep_the_run_on_flask() -> None:
    stays_flask({
        "app.py": """
            import flask

            app = flask.Flask(__name__)


            @app.get("/")
            def index():
                return flask.jsonify(name=flask.request.args.get("name"))
        """,
    })  # fmt: skip


def one_view(returned: str) -> dict[str, str]:
    """An app of one view returning ``returned``."""
    return {
        "app.py": f"""
            from flask import Flask, Response, current_app, jsonify, redirect, request

            app = Flask(__name__)


            @app.get("/")
            def index():
                return {returned}
        """,
    }


def test_the_one_view_app_itself_moves_to_quart() -> None:
    """(So what keeps the one-view apps below on Flask is what each returns.)"""
    _, results = migrate_project_twice(one_view("jsonify(user=request.args.get('u'))"))
    assert set(change_kinds(results, "flask-quart")) == {"converted"}


@pytest.mark.parametrize(
    "call",
    [
        'current_app.make_response(("hi", 201))',
        "app.send_static_file('site.css')",
        "jsonify(a=1).make_conditional(request)",
    ],
)
def test_a_method_that_is_a_coroutine_under_quart_keeps_the_run_on_flask(call: str) -> None:
    """Unawaited, it would do nothing under Quart: the rule awaits the request's getters only."""
    stays_flask(one_view(call))


@pytest.mark.parametrize(
    "code",
    [
        "request.remote_user or '-'",
        "request.input_stream.read()",
        "request.environ.get('REMOTE_USER', '-')",  # an auth proxy's key: not in the scope
        "request.stream.read(1024)",  # a part of the body: Quart's has no stream
        "request.stream.read() + request.stream.read()",  # the second read gives b'' in Flask
        "str(sorted(request.environ))",  # the environ whole
        "Response('x').call_on_close(print) or 'x'",
        "redirect('/', code=301, Response=Response)",
    ],
)
def test_what_quarts_request_and_response_lack_keeps_the_run_on_flask(code: str) -> None:
    """Under Quart it would raise AttributeError."""
    stays_flask(one_view(code))


ENVIRON = {
    "app.py": """
        from flask import Flask, jsonify, request

        app = Flask(__name__)


        @app.before_request
        def remember_client():
            forwarded = request.environ.get("HTTP_X_FORWARDED_FOR")
            request.client_ip = forwarded or request.environ["REMOTE_ADDR"]


        @app.get("/who")
        def who():
            return jsonify(
                ip=request.client_ip,
                agent=request.environ.get("HTTP_USER_AGENT", ""),
                query=request.environ["QUERY_STRING"],
                method=request.environ["REQUEST_METHOD"],
                scheme=request.environ["wsgi.url_scheme"],
                signed="HTTP_AUTHORIZATION" in request.environ,
            )
    """,
}


def test_reads_of_the_request_environ_read_one_built_from_the_scope() -> None:
    """Quart's request has no environ: the keys a WSGI server sets from the request are read
    from the environ adapters.environ_from_scope builds, with the same values, and nothing
    goes to a thread for them (a dict read)."""
    after, results = migrate_project_twice(ENVIRON)
    assert "request.environ" not in after["app.py"] and "run_blocking" not in after["app.py"]
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    requests = [
        Req("GET", "/who?page=2", [("X-Forwarded-For", "10.0.0.7"), ("Authorization", "Bearer t")]),
        Req("GET", "/who", [("User-Agent", "probe/1.0")]),
    ]
    assert_same_project_behaviour(ENVIRON, after, "app", requests)


WEBHOOK = {
    "app.py": """
        import hashlib
        import hmac

        from flask import Flask, abort, jsonify, request

        app = Flask(__name__)
        SECRET = b"s3cret"


        @app.post("/hook")
        def hook():
            payload = request.stream.read()  # the raw body, as signed
            expected = hmac.new(SECRET, payload, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, request.headers.get("X-Signature", "")):
                abort(401)
            return jsonify(size=len(payload), sha1=hashlib.sha1(payload).hexdigest())
    """,
}


def test_the_body_read_whole_from_the_stream_is_quarts_data() -> None:
    after, results = migrate_project_twice(WEBHOOK)
    assert "payload = await request.get_data()  # the raw body, as signed" in after["app.py"]
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    body = b'{"event": "push", "ref": "main"}'
    signed = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    requests = [
        Req("POST", "/hook", [("X-Signature", signed), ("Content-Type", "application/json")], body),
        Req("POST", "/hook", [("X-Signature", "forged")], body),
        Req(
            "POST", "/hook", [("X-Signature", hmac.new(b"s3cret", b"", hashlib.sha256).hexdigest())]
        ),
    ]
    assert_same_project_behaviour(WEBHOOK, after, "app", requests)


def test_a_request_getter_handed_on_uncalled_keeps_the_run_on_flask() -> None:
    """``parse = request.get_json`` then ``parse()``: the rule awaits direct calls only."""
    stays_flask(one_view("jsonify(got=(lambda read: read())(request.get_json))"))


def test_an_app_context_entered_outside_the_tests_keeps_the_run_on_flask() -> None:
    """A script or job's ``with app.app_context():`` (Quart's is entered with ``async with``)."""
    stays_flask({
        **PROJECT,
        "jobs.py": """
            from app import app
            from db import get_db


            def count_notes():
                with app.app_context():
                    return get_db().execute("SELECT COUNT(*) FROM note").fetchone()[0]
        """,
    })  # fmt: skip


def test_only_the_apps_run_with_options_quart_lacks_keeps_the_run_on_flask() -> None:
    app = """
        from flask import Flask

        app = Flask(__name__)


        @app.get("/")
        def index():
            return "hi"


        class Job:
            def __call__(self, *args, **kwargs):
                return self.run(*args, **kwargs)  # no app's run

            def run(self, *args, **kwargs):
                return args


        if __name__ == "__main__":
            app.run(port=5001)
    """
    after, _ = migrate_project_twice({"app.py": app})
    assert "from quart import Quart" in after["app.py"]
    stays_flask({"app.py": app.replace("app.run(port=5001)", "app.run(port=5001, threaded=True)")})


@pytest.mark.parametrize(
    "read", ["len(response.get_data())", "len(response.data)", "response.json is None"]
)
def test_a_hook_reading_the_responses_data_keeps_the_run_on_flask(read: str) -> None:
    stays_flask({
        "app.py": f"""
            from flask import Flask

            app = Flask(__name__)


            @app.after_request
            def sized(response):
                response.headers["X-Size"] = str({read})
                return response
        """,
    })  # fmt: skip


def test_data_of_what_is_no_response_is_no_obstacle() -> None:
    after, _ = migrate_project_twice({
        "app.py": """
            from flask import Flask, jsonify

            app = Flask(__name__)


            class Payload:
                data = b"x"


            @app.errorhandler(404)
            def missing(error):
                return jsonify(payload=Payload().data.decode(), error=str(error)), 404
        """,
    })  # fmt: skip
    assert "async def missing(error):" in after["app.py"]


def test_flasks_test_client_in_the_tests_keeps_the_run_on_flask() -> None:
    stays_flask({
        **PROJECT,
        "test_app.py": """
            from app import app

            def test_hello():
                assert app.test_client().get("/hello/x").status_code == 200
        """,
    })  # fmt: skip


def test_a_view_whose_blocking_work_cannot_all_leave_the_loop_keeps_the_run_on_flask() -> None:
    views = textwrap.dedent(VIEWS) + textwrap.dedent("""

        @pages.get("/source")
        def source():
            with open(__file__) as handle:
                return jsonify(first=handle.readline())
    """)
    stays_flask({**PROJECT, "views.py": views})


def test_a_coroutine_used_other_than_called_keeps_the_run_on_flask() -> None:
    stays_flask({
        **PROJECT,
        "views.py": textwrap.dedent(VIEWS) + "\n\nPAGE_MAKERS = {'plain': page}\n",
    })  # fmt: skip


def test_each_flask_extension_is_marked_with_what_to_use_under_quart() -> None:
    files = {
        **PROJECT,
        "app.py": "from flask_cors import CORS\n" + textwrap.dedent(APP),
        "views.py": "import flask_login\n" + textwrap.dedent(VIEWS),
    }
    after, results = migrate_project_twice(files)  # the markers once
    assert after["app.py"].startswith(
        "# migrate[flask-quart]: `flask_cors` is a Flask extension with no drop-in Quart "
        "version, which keeps the run on Flask (served through the adapter): quart-cors"
    )
    assert "# migrate[flask-quart]: `flask_login` is a Flask extension" in after["views.py"]
    assert "quart-auth" in after["views.py"]
    assert change_kinds(results, "flask-quart") == ["manual", "manual"]


def test_the_adapted_app_says_why_the_run_stays_on_flask() -> None:
    after, results = migrate_project_twice(
        {**PROJECT, "app.py": "from flask_cors import CORS\n" + textwrap.dedent(APP)}
    )
    (message,) = [c.message for r in results.values() for c in r.changes if c.rule == "served-app"]
    assert "the run stays on Flask: it uses the Flask extension `flask_cors`" in message
    assert_same_project_behaviour(
        {**PROJECT, "app.py": "from flask_cors import CORS\n" + textwrap.dedent(APP)},
        after, "app", REQUESTS[:4],
    )  # fmt: skip


def test_quart_is_opt_in_and_the_adapted_app_says_how_to_ask_for_it(tmp_path: Path) -> None:
    ids = [rule.rule_id for rule in select_rules()]
    assert "flask-quart" not in ids and "falcon-asgi" not in ids
    assert "flask-quart" in [rule.rule_id for rule in select_rules(enable=["flask-quart"])]
    before = {r: textwrap.dedent(s).lstrip("\n") for r, s in PROJECT.items()}
    (message,) = [
        c.message
        for result in migrate_sources(before).values()
        for c in result.changes
        if c.rule == "served-app"
    ]
    assert "`--enable flask-quart` moves it to Quart" in message
    for relpath, source in before.items():
        (tmp_path / relpath).write_text(source)
    runner = CliRunner()
    default = runner.invoke(main, [str(tmp_path), "--check", "--no-cache", "-j", "1"])
    enabled = runner.invoke(
        main, [str(tmp_path), "--enable", "flask-quart", "--no-cache", "-j", "1"]
    )
    assert "from quart" not in default.output and default.exit_code == 1  # would change
    assert "+from quart import Quart, jsonify, request" in enabled.output


# An app factory in a package, the shape of Flask's tutorial: views defined inside the factory,
# a view decorator, views registered with add_url_rule, a CLI command reading a resource.
FACTORY = {
    "notes/__init__.py": """
        import os
        import sqlite3

        from flask import Flask

        SCHEMA = os.path.join(os.path.dirname(__file__), "schema.sql")


        def create_app(config=None):
            app = Flask(__name__)
            app.config.update(config or {})
            if not os.path.exists(app.config["DATABASE"]):
                with open(SCHEMA) as schema, sqlite3.connect(app.config["DATABASE"]) as conn:
                    conn.executescript(schema.read())

            @app.route("/ping")
            def ping():
                return "pong"

            from . import db
            from .views import bp, count

            db.init_app(app)
            app.register_blueprint(bp)
            app.add_url_rule("/", endpoint="index")
            app.add_url_rule("/count", "count", count)
            return app
    """,
    "notes/db.py": """
        import sqlite3

        import click
        from flask import current_app, g


        def get_db():
            if "db" not in g:
                g.db = sqlite3.connect(current_app.config["DATABASE"])
            return g.db


        def close_db(error=None):
            db = g.pop("db", None)
            if db is not None:
                db.close()


        def init_db():
            db = get_db()
            with current_app.open_resource("schema.sql") as f:
                db.executescript(f.read().decode("utf8"))
            db.execute("INSERT INTO note (title) VALUES ('from the CLI')")
            db.commit()


        @click.command("init-db")
        def init_db_command():
            init_db()
            click.echo("Initialized the database.")


        def init_app(app):
            app.teardown_appcontext(close_db)
            app.cli.add_command(init_db_command)
    """,
    "notes/views.py": """
        import functools

        from flask import Blueprint, jsonify, redirect, request, url_for

        from .db import get_db

        bp = Blueprint("notes", __name__)


        def token_required(view):
            @functools.wraps(view)
            def wrapped_view(**kwargs):
                if request.args.get("token") != "s3cret":
                    return jsonify(error="token required"), 401
                return view(**kwargs)

            return wrapped_view


        @bp.route("/")
        def index():
            rows = get_db().execute("SELECT id, title FROM note ORDER BY id").fetchall()
            return jsonify([{"id": i, "title": t} for i, t in rows])


        @bp.post("/notes")
        @token_required
        def add():
            db = get_db()
            db.execute("INSERT INTO note (title) VALUES (?)", (request.form["title"],))
            db.commit()
            return redirect(url_for("index"))


        def count():
            (n,) = get_db().execute("SELECT COUNT(*) FROM note").fetchone()
            return jsonify(n=n)
    """,
    "wsgi.py": """
        import os
        import tempfile

        from notes import create_app

        DATABASE = os.environ.get("NOTES_DB") or os.path.join(tempfile.mkdtemp(), "notes.sqlite3")
        app = create_app({"DATABASE": DATABASE})
    """,
}
SCHEMA = {
    "notes/schema.sql": "DROP TABLE IF EXISTS note;\nCREATE TABLE note (id INTEGER PRIMARY KEY, title TEXT);\n"
}
FORM = (("Content-Type", "application/x-www-form-urlencoded"),)
FACTORY_REQUESTS = [
    Req("GET", "/ping"),
    Req("GET", "/"),
    Req("POST", "/notes", FORM, b"title=first"),
    Req("POST", "/notes?token=s3cret", FORM, b"title=Zo%C3%AB"),
    Req("GET", "/"),
    Req("GET", "/count"),
    Req("GET", "/nowhere"),
]


def test_an_app_factory_its_decorated_views_and_cli_command_move_to_quart() -> None:
    after, results = migrate_project_twice(FACTORY)
    init, db, views = after["notes/__init__.py"], after["notes/db.py"], after["notes/views.py"]
    assert "    async def ping():" in init  # a view the factory defines
    assert "async def count():" in views  # registered with add_url_rule
    assert "    async def wrapped_view(**kwargs):" in views
    assert "        return await view(**kwargs)" in views
    assert '@click.command("init-db")\n@with_appcontext\n@blocking_command\n' in db
    assert 'with open(os.path.join(current_app.root_path, "schema.sql"), "rb") as f:' in db
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    assert_same_project_behaviour(
        {**FACTORY, **SCHEMA}, {**after, **SCHEMA}, "wsgi", FACTORY_REQUESTS
    )


def test_the_cli_command_runs_in_an_app_context_as_under_flask(tmp_path: Path) -> None:
    after, _ = migrate_project_twice(FACTORY)
    outputs = []
    for cli, files in (("flask", FACTORY), ("quart", after)):
        folder = tmp_path / cli
        for relpath, text in {**files, **SCHEMA}.items():
            (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
            (folder / relpath).write_text(textwrap.dedent(text))
        database = folder / "notes.sqlite3"
        env = {**os.environ, "NOTES_DB": str(database), "PYTHONPATH": str(Path.cwd())}
        # the command opens a connection on `g`; the app context's teardown closes it
        done = subprocess.run(
            [sys.executable, "-m", cli, "--app", "wsgi", "init-db"],
            cwd=folder, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        with sqlite3.connect(database) as conn:
            outputs.append((done.stdout, conn.execute("SELECT title FROM note").fetchall()))
    assert outputs[0] == outputs[1] == ("Initialized the database.\n", [("from the CLI",)])


BLOCKING_FACTORY = {
    "app.py": """
        import functools
        import threading

        from flask import Flask, jsonify

        BOTH = threading.Barrier(2, timeout=5)


        def met_first(view):
            @functools.wraps(view)
            def wrapped_view(**kwargs):
                BOTH.wait()  # both requests must be in the wrapper at once
                return view(**kwargs)

            return wrapped_view


        def create_app():
            app = Flask(__name__)

            @app.get("/meet")
            @met_first
            def meet():
                BOTH.wait()  # and in the view the factory defines
                return jsonify(met=True)

            return app


        app = create_app()
    """,
}


def test_blocking_calls_of_a_factorys_views_and_their_wrapper_run_off_the_event_loop() -> None:
    after, results = migrate_project_twice(BLOCKING_FACTORY)
    assert "    async def wrapped_view(**kwargs):" in after["app.py"]
    assert "    @met_first\n    async def meet():" in after["app.py"]
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    app = load_project(after, "app").app
    assert isinstance(app, quart.Quart)
    answers = get_together(app, "/meet")
    assert [a.status_code for a in answers] == [200, 200]


def test_a_decorator_over_views_and_other_functions_keeps_the_run_on_flask() -> None:
    views = textwrap.dedent(FACTORY["notes/views.py"]) + textwrap.dedent("""

        @token_required
        def not_a_view():
            return "plain"
    """)
    stays_flask({**FACTORY, "notes/views.py": views})


# The project's own tests, on Flask's test client: they move to Quart's async one.
FACTORY_TESTS = {
    "tests/conftest.py": """
        import os
        import tempfile

        import pytest

        from notes import create_app
        from notes.db import get_db


        @pytest.fixture
        def app():
            path = os.path.join(tempfile.mkdtemp(), "test.sqlite3")
            app = create_app({"TESTING": True, "DATABASE": path})
            with app.app_context():
                get_db().execute("INSERT INTO note (title) VALUES ('seeded')")
                get_db().commit()
            yield app
            os.unlink(path)


        @pytest.fixture
        def client(app):
            return app.test_client()


        class Writer:
            def __init__(self, client):
                self._client = client

            def add(self, title):
                return self._client.post("/notes?token=s3cret", data={"title": title})


        @pytest.fixture
        def writer(client):
            return Writer(client)
    """,
    "tests/test_notes.py": """
        import pytest

        from notes.db import get_db


        def test_ping(client):
            assert client.get("/ping").data == b"pong"


        def test_index_lists_the_seeded_note(client):
            response = client.get("/")
            assert response.status_code == 200
            assert response.json == [{"id": 1, "title": "seeded"}]


        @pytest.mark.parametrize("title", ["second", "Zoë"])
        def test_add_redirects_and_stores(writer, app, title):
            response = writer.add(title)
            assert response.headers["Location"] == "/"
            with app.app_context():
                (n,) = get_db().execute("SELECT COUNT(*) FROM note").fetchone()
            assert n == 2


        def test_a_token_is_required(client):
            response = client.post("/notes", data={"title": "x"})
            assert response.status_code == 401
            assert "token required" in response.get_data(as_text=True)


        def test_count(client, writer):
            writer.add("more")
            assert client.get("/count").get_json() == {"n": 2}
    """,
}


def run_pytest(files: Mapping[str, str], folder: Path) -> subprocess.CompletedProcess[str]:
    for relpath, text in {**files, **SCHEMA}.items():
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        (folder / relpath).write_text(textwrap.dedent(text))
    env = {**os.environ, "PYTHONPATH": f"{folder}{os.pathsep}{Path.cwd()}"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_projects_tests_move_to_quarts_async_test_client(tmp_path: Path) -> None:
    after, results = migrate_project_twice({**FACTORY, **FACTORY_TESTS})
    conftest, tests = after["tests/conftest.py"], after["tests/test_notes.py"]
    assert "@pytest_asyncio.fixture\nasync def app():" in conftest
    assert "    async with app.app_context():" in conftest
    assert "def client(app):\n    return app.test_client()" in conftest  # stays sync
    assert "        return await self._client.post(" in conftest
    assert 'form={"title": title}' in conftest
    assert "@pytest.mark.asyncio\nasync def test_ping(client):" in tests
    assert '(await (await client.get("/ping")).get_data()) == b"pong"' in tests
    assert "response = await writer.add(title)" in tests
    assert "(await response.get_json()) ==" in tests
    assert "(await response.get_data(as_text=True))" in tests
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    before_run = run_pytest({**FACTORY, **FACTORY_TESTS}, tmp_path / "before")
    after_run = run_pytest(after, tmp_path / "after")
    assert before_run.returncode == 0, before_run.stdout[-2000:]
    assert after_run.returncode == 0, after_run.stdout[-3000:]
    assert "6 passed" in before_run.stdout and "6 passed" in after_run.stdout


ECHO = {
    "app.py": """
        from flask import Flask, jsonify, request

        app = Flask(__name__)


        @app.post("/echo")
        def echo():
            response = jsonify(got=request.get_json(), kind=request.content_type)
            response.headers["X-Trace"] = request.headers.get("X-Trace", "-")
            return response
    """,
    "tests/test_echo.py": """
        import json

        import pytest

        from app import app


        @pytest.fixture
        def client():
            return app.test_client()


        def test_json_with_its_content_type(client):
            response = client.post("/echo", data=json.dumps({"a": 1}), content_type="application/json")
            assert response.json == {"got": {"a": 1}, "kind": "application/json"}


        def test_content_type_beside_headers(client):
            response = client.post(
                "/echo", data='{"b": 2}', headers={"X-Trace": "t1"}, content_type="application/json"
            )
            assert response.headers["X-Trace"] == "t1" and response.json["got"] == {"b": 2}
    """,
}


def test_a_test_clients_content_type_becomes_a_header(tmp_path: Path) -> None:
    after, results = migrate_project_twice(ECHO)
    tests = after["tests/test_echo.py"]
    assert 'data=json.dumps({"a": 1}), headers={"Content-Type": "application/json"})' in tests
    assert 'headers={"X-Trace": "t1", "Content-Type": "application/json"}' in tests
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    before_run, after_run = (
        run_pytest(ECHO, tmp_path / "before"),
        run_pytest(after, tmp_path / "after"),
    )
    assert "2 passed" in before_run.stdout and "2 passed" in after_run.stdout, after_run.stdout


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        ('client.post("/echo", data=payload)', "data the analysis cannot read"),
        ('client.get("/echo", query_string="a=1")', "no dict literal"),
        ('client.get("/echo", environ_base={"REMOTE_ADDR": "1.2.3.4"})', "`environ_base`"),
        ('client.post("/echo", data={"f": (io.BytesIO(b"x"), "f.txt")})', "uploads files"),
    ],
)
def test_a_test_client_request_quart_cannot_make_keeps_the_run_on_flask(
    call: str, reason: str
) -> None:
    test = f"""
        import io

        from app import app


        def test_it():
            client = app.test_client()
            payload = {{"a": 1}}
            {call}
    """
    files = {**ECHO, "tests/test_echo.py": test}
    sources = {k: textwrap.dedent(v).lstrip() for k, v in files.items()}
    facts = [flask.facts_of(k, ast.parse(v)) for k, v in sources.items()]
    refused = flask.plan(facts, list(sources)).for_module("app.py").refused
    assert reason in refused


SIGNALS = {
    "app.py": """
        from flask import Flask, render_template_string

        app = Flask(__name__)


        @app.get("/hello/<name>")
        def hello(name):
            return render_template_string("<p>{{ who }}</p>", who=name)
    """,
    "tests/test_hello.py": """
        import pytest
        from flask import template_rendered

        from app import app


        @pytest.fixture
        def client():
            return app.test_client()


        def test_the_page_is_rendered_with_its_context(client):
            seen = []

            def record(sender, template, context, **extra):
                seen.append(context["who"])

            with template_rendered.connected_to(record, app):
                response = client.get("/hello/ada")
            assert response.data == b"<p>ada</p>" and seen == ["ada"]
    """,
}


def test_the_tests_listening_to_flasks_signals_move_to_quart(tmp_path: Path) -> None:
    after, results = migrate_project_twice(SIGNALS)
    assert "from quart import template_rendered" in after["tests/test_hello.py"]
    assert set(change_kinds(results, "flask-quart")) == {"converted"}  # no manual marker
    before_run, after_run = run_pytest(SIGNALS, tmp_path / "a"), run_pytest(after, tmp_path / "b")
    assert "1 passed" in before_run.stdout and "1 passed" in after_run.stdout, after_run.stdout


def test_a_docker_client_in_the_tests_is_no_flask_test_client() -> None:
    # tiangolo/uwsgi-nginx-flask's tests: `client.containers.get(...)` is docker's
    test = """
        from docker.client import DockerClient


        def remove_previous_container(client: DockerClient) -> None:
            previous = client.containers.get("test")
            previous.stop()
    """
    files = {**ECHO, "tests/utils.py": test}
    sources = {k: textwrap.dedent(v).lstrip() for k, v in files.items()}
    facts = [flask.facts_of(k, ast.parse(v)) for k, v in sources.items()]
    refused = flask.plan(facts, list(sources)).for_module("app.py").refused
    assert "client.containers.get" not in refused
