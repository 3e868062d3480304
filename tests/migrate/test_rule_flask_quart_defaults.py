"""Rule ``flask-quart``: a converted app keeps Flask's configuration defaults where Quart's
differ. Without them a converted app answers 413 to an upload past 16 MiB, 408 to a request
body that takes over 60 s to arrive, and cuts a response that lasts over 60 s; each case is
served by wsgiref before and by uvicorn and hypercorn after.

Quart's time limits are shortened to 0.3 s here (its defaults, patched for the test's
process), so that a stream of a second and a body sent over a second run past them: the
migrated app must still answer as Flask does, and the same app without the rule's settings
must not (the test can fail).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping

import httpx
import pytest
import quart
from werkzeug.datastructures import ImmutableDict

from tests.harness import (
    Req,
    assert_same_project_behaviour,
    change_kinds,
    load_project,
    migrate_project_twice,
)
from tests.servers import serve_asgi, serve_wsgi

APP = {
    "app.py": """
        import time

        from flask import Flask, Response, request

        app = Flask(__name__)


        @app.post("/upload")
        def upload():
            return {"received": len(request.get_data())}


        @app.get("/ticks")
        def ticks():
            def generate():
                for n in range(3):
                    time.sleep(0.4)
                    yield f"tick {n}\\n"

            return Response(generate(), mimetype="text/plain")
    """,
}
BIG_UPLOAD = b"x" * (17 * 1024 * 1024)  # past Quart's 16 MiB
REQUESTS = [
    Req("POST", "/upload", [("Content-Type", "application/octet-stream")], BIG_UPLOAD),
    Req("GET", "/ticks"),
]


@pytest.fixture
def short_quart_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Quart's 60 s limits on receiving a body and sending a response, made 0.3 s."""
    shortened = {**quart.Quart.default_config, "BODY_TIMEOUT": 0.3, "RESPONSE_TIMEOUT": 0.3}
    monkeypatch.setattr(quart.Quart, "default_config", ImmutableDict(shortened))


def slowly(body: bytes, parts: int = 4) -> Iterator[bytes]:
    """``body`` in ``parts`` pieces, 0.3 s apart: a slow client's upload."""
    size = len(body) // parts
    for start in range(0, len(body), size):
        time.sleep(0.3)
        yield body[start : start + size]


def slow_upload(url: str) -> tuple[int, bytes]:
    body = b"y" * 4000
    length = {"Content-Length": str(len(body))}  # not chunked: a WSGI app reads a length
    response = httpx.post(f"{url}/upload", content=slowly(body), headers=length, timeout=10)
    return response.status_code, response.content


def slow_uploads(files: Mapping[str, str], asgi: bool) -> list[tuple[int, bytes]]:
    app = load_project(files, "app").app
    if not asgi:
        with serve_wsgi(app) as url:
            return [slow_upload(url)]
    answers = []
    for server in ("uvicorn", "hypercorn"):
        with serve_asgi(app, server) as url:
            answers.append(slow_upload(url))
    return answers


def without_defaults(source: str) -> str:
    """``source`` with the rule's ``app.config.update(...)`` of Flask's defaults removed."""
    return re.sub(r"# Flask's defaults.*?\n\)\n", "", source, flags=re.DOTALL)


@pytest.mark.usefixtures("short_quart_limits")
def test_uploads_and_streams_have_flasks_limits() -> None:
    after, results = migrate_project_twice(APP, ["flask-quart"])
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    assert_same_project_behaviour(APP, after, "app", REQUESTS)
    before_slow = slow_uploads(APP, asgi=False)
    assert before_slow == [(200, b'{"received":4000}\n')]
    assert slow_uploads(after, asgi=True) == before_slow * 2

    quart_defaults = {"app.py": without_defaults(after["app.py"])}
    assert "config.update" not in quart_defaults["app.py"]
    with pytest.raises(AssertionError):  # Quart's own defaults: 413, a cut stream
        assert_same_project_behaviour(APP, quart_defaults, "app", REQUESTS[:1])
    with pytest.raises(AssertionError):
        assert_same_project_behaviour(APP, quart_defaults, "app", REQUESTS[1:])
    assert slow_uploads(quart_defaults, asgi=True)[0][0] == 408
