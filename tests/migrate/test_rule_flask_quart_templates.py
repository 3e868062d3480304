"""Rule ``flask-quart``: template context processors move to Quart as hooks do. One that
uses what the request's hooks opened (a sqlite3 connection on ``g``) becomes a coroutine with
its blocking calls on the request's thread; the pages render the same (wsgiref before,
uvicorn and hypercorn after), and two requests' processors block at once without blocking
the loop."""

from __future__ import annotations

import concurrent.futures

import httpx
import quart

from tests.harness import (
    Req,
    assert_same_project_behaviour,
    change_kinds,
    load_project,
    migrate_project_twice,
)
from tests.servers import serve_asgi

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
    with serve_asgi(app, "uvicorn") as url, concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: httpx.get(url + "/?meet=1", timeout=10), range(2)))
    assert [a.text for a in answers] == ["NOTES! 42 / 2026 True"] * 2


def test_a_template_filter_that_may_block_is_marked() -> None:
    files = {
        "app.py": TEMPLATES["app.py"].replace(
            '        @app.get("/")',
            '        @app.template_filter("title_of")\n'
            "        def title_of(note_id):\n"
            '            return g.db.execute("SELECT ?", (note_id,)).fetchone()[0]\n\n\n'
            '        @app.get("/")',
        )
    }
    after, results = migrate_project_twice(files)
    marker = "# migrate[flask-quart]: this template helper may block: under Quart, Jinja calls it"
    assert f"{marker}" in after["app.py"].split("def title_of")[0].rsplit("\n\n", 1)[1]
    assert after["app.py"].count(marker) == 1  # not on `shout`, which blocks nothing
    assert change_kinds(results, "flask-quart").count("manual") == 1
