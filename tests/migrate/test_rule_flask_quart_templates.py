"""Rule ``flask-quart``: template context processors move to Quart as hooks do. One that
uses what the request's hooks opened (a sqlite3 connection on ``g``) becomes a coroutine with
its blocking calls on the request's thread; the pages render the same (wsgiref before,
uvicorn and hypercorn after), and two requests' processors block at once without blocking
the loop."""

from __future__ import annotations

import textwrap

import quart

from tests.harness import (
    Req,
    assert_same_project_behaviour,
    change_kinds,
    load_project,
    migrate_project_twice,
)
from tests.servers import get_together

TEMPLATES = {
    "app.py": """
        import sqlite3
        import threading

        from flask import Blueprint, Flask, g, render_template_string, request

        app = Flask(__name__)
        pages = Blueprint("pages", __name__)
        BOTH = threading.Barrier(2, timeout=5)


        @app.before_request
        def open_db():
            g.db = sqlite3.connect(":memory:")  # bound to the thread that opened it


        @app.teardown_request
        def close_db(error):
            db = g.pop("db", None)
            if db is not None:
                db.close()


        @app.context_processor
        def inject_answer():
            (answer,) = g.db.execute("SELECT 40 + 2").fetchone()
            return {"answer": answer}


        @app.context_processor
        def inject_site():
            return dict(site="notes", path=request.path)


        def inject_meeting():
            if request.args.get("meet"):
                BOTH.wait()  # both requests must be here at once
            return {"met": bool(request.args.get("meet"))}


        app.context_processor(inject_meeting)


        @pages.app_context_processor
        def inject_year():
            return {"year": 2026}


        @app.template_filter()
        def shout(text):
            return text.upper() + "!"


        @app.get("/")
        def index():
            return render_template_string("{{ site | shout }} {{ answer }} {{ path }} {{ year }} {{ met }}")


        app.register_blueprint(pages)
    """,
}


def test_context_processors_render_the_same_under_quart() -> None:
    after, results = migrate_project_twice(TEMPLATES)
    assert "async def inject_answer():" in after["app.py"]
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    assert_same_project_behaviour(TEMPLATES, after, "app", [Req("GET", "/"), Req("GET", "/?x=1")])
    app = load_project(after, "app").app
    assert isinstance(app, quart.Quart)
    answers = get_together(app, "/?meet=1")
    assert [a.text for a in answers] == ["NOTES! 42 / 2026 True"] * 2


HELPER = """
        @app.template_filter("doubled")
        def doubled(number):
            (value,) = g.db.execute("SELECT ? * 2", (number,)).fetchone()  # g's connection
            return value


        @app.get("/double/<int:number>")
        def double(number):
            return render_template_string("{{ number | doubled }} {{ site | shout }}", number=number)
"""


def test_a_template_filter_that_may_block_becomes_a_coroutine_jinja_awaits() -> None:
    # only Jinja calls it: under Quart it awaits a coroutine filter, whose blocking calls
    # then run on the request's thread (a sync one would run on the loop, where g's
    # connection, opened on that thread, refuses to work)
    files = {"app.py": TEMPLATES["app.py"] + textwrap.indent(textwrap.dedent(HELPER), " " * 8)}
    after, results = migrate_project_twice(files)
    assert '@app.template_filter("doubled")\nasync def doubled(number):' in after["app.py"]
    assert "def shout(text):" in after["app.py"]  # blocks nothing: stays a function
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    assert_same_project_behaviour(files, after, "app", [Req("GET", "/double/21")])


def test_a_blocking_template_filter_also_called_as_a_function_is_marked() -> None:
    called = HELPER.replace(
        'return render_template_string("{{ number | doubled }}',
        'doubled(number)\n            return render_template_string("{{ number | doubled }}',
    )
    files = {"app.py": TEMPLATES["app.py"] + textwrap.indent(textwrap.dedent(called), " " * 8)}
    after, results = migrate_project_twice(files)
    marker = "# migrate[flask-quart]: this template helper may block: under Quart, Jinja calls it"
    assert after["app.py"].count(marker) == 1
    assert "\ndef doubled(number):" in after["app.py"]
    assert change_kinds(results, "flask-quart").count("manual") == 1
