"""Rule ``flask-quart``: files (static ones, ``send_file``, ``send_from_directory``) are sent
the same way under Quart: same bodies, types, lengths, attachments, validators, ranges and
cache lifetimes, served by wsgiref before and by uvicorn after.

Quart writes its file headers differently where nothing depends on it: it leaves out
``Content-Disposition: inline`` and ``Accept-Ranges`` (it still answers ranges), and says
``public, max-age=0`` where Flask says ``no-cache`` (both: revalidate on every use). The
comparison reads each response for what a client acts on, listed in :func:`as_client_sees_it`.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from migrate.frameworks import flask
from migrate.runner import migrate_sources
from tests.harness import change_kinds, load_project, migrate_project_twice
from tests.servers import serve_asgi, serve_wsgi

FILES = {
    "app.py": """
        import os

        from flask import Flask, send_file, send_from_directory

        app = Flask(__name__)
        REPORTS = "reports"  # relative: Flask finds it under the app's root path


        @app.get("/report")
        def report():
            path = os.path.join(REPORTS, "q1.txt")
            return send_file(path, download_name="first-quarter.txt", max_age=60)


        @app.get("/reports/<name>")
        def reports(name):
            return send_from_directory(REPORTS, name, as_attachment=True)


        @app.get("/plain/<name>")
        def plain(name):
            return send_file(f"{REPORTS}/{name}", "text/plain", etag=False)
    """,
}
DATA = {"static/site.css": "body { color: teal }\n", "reports/q1.txt": "0123456789\n"}


def as_client_sees_it(response: httpx.Response) -> tuple[object, ...]:
    """What a browser or a cache acts on in a file response (of a 304: that it is one, and
    its validator)."""
    if response.status_code == 304:
        return (304, response.content, "etag" in response.headers)
    cache = response.headers.get("cache-control", "")
    lifetime = "revalidate" if cache in ("no-cache", "public, max-age=0") else cache
    disposition = response.headers.get("content-disposition", "")
    return (
        response.status_code,
        response.content,
        response.headers.get("content-type"),
        response.headers.get("content-length"),
        disposition if disposition.startswith("attachment") else "",
        "etag" in response.headers,
        "last-modified" in response.headers,
        lifetime if response.status_code in (200, 206) else "",
    )


def file_answers(url: str) -> list[tuple[object, ...]]:
    """A client's requests for files, conditional ones with the validators it was given."""
    answers = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for path in ("/static/site.css", "/report", "/reports/q1.txt", "/plain/q1.txt"):
            first = client.get(path)
            answers.append(as_client_sees_it(first))
            if "etag" in first.headers:
                again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
                answers.append(as_client_sees_it(again))
            answers.append(as_client_sees_it(client.get(path, headers={"Range": "bytes=2-5"})))
        for path in ("/reports/missing.txt", "/reports/..%2Fapp.py", "/static/nothing.css"):
            answers.append(as_client_sees_it(client.get(path)))
    return answers


def served_answers(
    files: Mapping[str, str], serve: Callable[[Any], AbstractContextManager[str]]
) -> list[tuple[object, ...]]:
    app = load_project({**files, **DATA}, "app").app
    with serve(app) as url:
        return file_answers(url)


def test_files_are_sent_as_flask_sent_them() -> None:
    after, results = migrate_project_twice(FILES)
    app = after["app.py"]
    assert (
        "return await send_file(os.path.join(current_app.root_path, path), "
        'attachment_filename="first-quarter.txt", cache_timeout=60, conditional=True)'
    ) in app
    assert "await send_from_directory(os.path.join(current_app.root_path, REPORTS), name" in app
    assert "SEND_FILE_MAX_AGE_DEFAULT=0," in app
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    before = served_answers(FILES, serve_wsgi)
    assert before[0][0] == 200 and before[1][0] == 304  # the requests do reach the files
    assert served_answers(after, serve_asgi) == before
    assert served_answers(after, lambda app: serve_asgi(app, "hypercorn")) == before


@pytest.mark.parametrize(
    ("view", "reason"),
    [
        ("return send_file(io.BytesIO(b'x'), mimetype='text/plain')", "may be a file object"),
        ("return send_file(open(name, 'rb'), mimetype='text/plain')", "may be a file object"),
        ("return send_file(name, etag='v1')", "an etag of its own"),
        ("return send_file(name, max_age=lambda path: 5)", "may be a function"),
        ("return send_file(name, 'text/plain', False, None, True)", "more positional"),
        ("return send_file(name, **OPTIONS)", "by unpacking"),
        ("return send_from_directory('.', name, environ={})", "the argument `environ`"),
    ],
)
def test_a_file_sent_in_a_way_quart_cannot_keeps_the_run_on_flask(view: str, reason: str) -> None:
    source = f"""
        import io

        from flask import Flask, send_file, send_from_directory

        app = Flask(__name__)
        OPTIONS = {{}}


        @app.get("/<name>")
        def download(name):
            {view}
    """
    assert reason in refusal(source)


def refusal(source: str) -> str:
    """Why the run of the one module ``source`` stays on Flask ("": it moves to Quart),
    after checking that the rule leaves it as it is then."""
    text = textwrap.dedent(source).lstrip()
    results = migrate_sources({"app.py": text}, ["flask-quart"])
    facts = flask.facts_of("app.py", ast.parse(text))
    reason = flask.plan([facts], ["app.py"]).for_module("app.py").refused
    if reason:
        assert change_kinds(results, "flask-quart") == []
        assert results["app.py"].new_source == text
    return reason


def test_an_app_made_other_than_by_assignment_keeps_the_run_on_flask() -> None:
    source = """
        from flask import Flask


        def make():
            return Flask(__name__)
    """
    assert refusal(source) == "it makes an app other than as `name = Flask(...)`"
