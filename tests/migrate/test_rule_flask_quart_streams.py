"""Rule ``flask-quart``: a generator a view streams becomes an async generator (its blocking
calls in the blocking pool), ``stream_with_context`` takes Quart's form, and the streams answer
the same (wsgiref before, uvicorn and hypercorn after); other bodies that may be generators
keep the run on Flask."""

from __future__ import annotations

import ast
import textwrap

import pytest

from migrate.frameworks import flask
from migrate.runner import migrate_sources
from tests.harness import (
    Req,
    assert_same_project_behaviour,
    change_kinds,
    load_project,
    migrate_project_twice,
)
from tests.servers import get_together

STREAMS = {
    "app.py": """
        import json
        import threading

        from flask import Flask, Response, request, stream_with_context

        app = Flask(__name__)
        BOTH = threading.Barrier(2, timeout=5)


        @app.get("/squares.csv")
        def squares():
            limit = int(request.args.get("limit", "3"))

            def generate():
                yield "n,square\\n"
                for n in range(limit):
                    yield f"{n},{n * n}\\n"

            return Response(generate(), mimetype="text/csv")


        @app.get("/hello")
        def hello():
            def generate():
                yield "Hello "
                yield request.args.get("name", "you")  # the request, kept for the stream
                yield "!"

            return stream_with_context(generate())


        @app.get("/parts")
        def parts():
            def chunks():
                yield b"a"
                yield b"b"

            return chunks(), 202, {"X-Kind": "stream"}


        @app.get("/meet")
        def meet():
            def generate():
                yield "waiting\\n"
                BOTH.wait()  # both streams must be in here at once
                yield "met\\n"

            return Response(generate(), mimetype="text/plain")


        @app.get("/doc")
        def doc():
            text = json.dumps({"streamed": False})
            return Response(text, mimetype="application/json")  # text: no stream
    """,
}
REQUESTS = [
    Req("GET", "/squares.csv?limit=5"),
    Req("GET", "/hello?name=Zo%C3%AB"),
    Req("GET", "/parts"),
    Req("GET", "/doc"),
]


def test_streamed_generators_become_async_generators() -> None:
    after, results = migrate_project_twice(STREAMS)
    app = after["app.py"]
    assert '    async def generate():\n        yield "n,square\\n"' in app
    assert "    return stream_with_context(generate)()" in app
    assert "    async def chunks():" in app
    assert "await run_blocking(BOTH.wait)" in app
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    assert_same_project_behaviour(STREAMS, after, "app", REQUESTS)


def test_a_blocking_call_in_a_stream_runs_off_the_event_loop() -> None:
    after, _ = migrate_project_twice(STREAMS)
    app = load_project(after, "app").app
    answers = get_together(app, "/meet")
    assert [(a.status_code, a.text) for a in answers] == [(200, "waiting\nmet\n")] * 2


MODULE_GENERATORS = {
    "app.py": """
        import sqlite3
        import threading

        from flask import Flask, Response, request, stream_with_context

        app = Flask(__name__)
        BOTH = threading.Barrier(2, timeout=5)


        def query(sql, args):
            with sqlite3.connect(":memory:") as db:
                return db.execute(sql, args).fetchone()


        def squares(limit):
            yield "n,square\\n"
            for n in range(limit):
                yield "%d,%d\\n" % query("SELECT ?, ? * ?", (n, n, n))


        def greeting():
            yield "Hello "
            yield request.args.get("name", "you")


        def meeting():
            yield "waiting\\n"
            BOTH.wait()  # both streams must be in here at once
            yield "met\\n"


        @app.get("/squares.csv")
        def export():
            return Response(squares(int(request.args.get("limit", "3"))), mimetype="text/csv")


        @app.get("/hello")
        def hello():
            return stream_with_context(greeting())


        @app.get("/meet")
        def meet():
            return Response(meeting(), mimetype="text/plain")
    """,
}


def test_module_level_generators_the_views_stream_become_async_generators() -> None:
    after, results = migrate_project_twice(MODULE_GENERATORS)
    app = after["app.py"]
    assert "async def squares(limit):" in app and "async def greeting():" in app
    assert (
        'return Response(squares(int(request.args.get("limit", "3"))), mimetype="text/csv")' in app
    )
    assert "return stream_with_context(greeting)()" in app
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    requests = [Req("GET", "/squares.csv?limit=4"), Req("GET", "/hello?name=Zo%C3%AB")]
    assert_same_project_behaviour(MODULE_GENERATORS, after, "app", requests)
    served = load_project(after, "app").app
    answers = get_together(served, "/meet")
    assert [(a.status_code, a.text) for a in answers] == [(200, "waiting\nmet\n")] * 2


def test_a_streamed_module_generator_used_otherwise_keeps_the_run_on_flask() -> None:
    source = textwrap.dedent(MODULE_GENERATORS["app.py"]).lstrip() + "\n\nROWS = list(squares(2))\n"
    plan = flask.plan([flask.facts_of("app.py", ast.parse(source))], ["app.py"])
    assert "streams `squares`, which is used other than as a response's body" in (
        plan.for_module("app.py").refused
    )


def refusal(view_body: str) -> str:
    source = (
        textwrap.dedent("""
        from flask import Flask, Response, stream_with_context

        app = Flask(__name__)


        def rows():
            yield "x"


        @app.get("/")
        def index():
        {body}
    """)
        .lstrip()
        .replace("{body}", textwrap.indent(textwrap.dedent(view_body).strip(), "    "))
    )
    results = migrate_sources({"app.py": source}, ["flask-quart"])
    reason = flask.plan([flask.facts_of("app.py", ast.parse(source))], ["app.py"])
    refused = reason.for_module("app.py").refused
    if refused:
        assert change_kinds(results, "flask-quart") == [] and results["app.py"].new_source == source
    return refused


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("return Response(iter(rows()))", "may be a generator"),
        ("return Response([b'a', b'b'])", "may be a generator"),
        (
            "def gen():\n    yield from rows()\nreturn Response(gen())",
            "`index` streams `gen`, which uses `yield from`",
        ),
        (
            "def gen():\n    yield 'a'\nkeep = gen\nreturn Response(gen())",
            "`index` streams `gen`, which is used other than called",
        ),
    ],
)
def test_other_bodies_that_may_be_generators_keep_the_run_on_flask(body: str, reason: str) -> None:
    assert reason in refusal(body)


def test_a_response_argument_quart_lacks_keeps_the_run_on_flask() -> None:
    reason = refusal("return Response('x', direct_passthrough=True)")
    assert "arguments Quart's Response lacks" in reason


def test_text_bodies_are_no_streams() -> None:
    assert refusal("text = 'a' + 'b'\nreturn Response(text)") == ""
    assert refusal("return Response(f'{1}', mimetype='text/plain')") == ""
