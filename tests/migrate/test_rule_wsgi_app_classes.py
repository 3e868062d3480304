"""Rule ``wsgi-app``: an app class that hands the request or the response to its own methods.

``return self._create(environ, start_response)`` (the whole request) and ``return
self._reply(start_response, 404, data)`` (only the response, a static method or not) are
part of the class: they become ASGI with its ``__call__`` (``await self._create(scope,
receive, send)``, ``await self._reply(send, 404, data)``), so its instances are ASGI apps.
A method also used otherwise keeps the class WSGI. Behaviour: the code before, served as
WSGI (wsgiref), and after, served as ASGI (uvicorn and hypercorn), answer the same requests
the same way; every case is also run twice.
"""

from __future__ import annotations

import inspect
import textwrap

import pytest

from migrate.runner import migrate_source
from tests.harness import (
    Req,
    assert_idempotent,
    assert_same_behaviour,
    assert_same_project_behaviour,
    load_module,
    migrate_project_twice,
    migrate_text,
)

NOTES = """
import json

STATUS = {200: "200 OK", 404: "404 Not Found", 405: "405 Method Not Allowed", 400: "400 Bad Request"}


class NotesApp:
    def __init__(self, notes):
        self.notes = dict(notes)

    @staticmethod
    def _reply(start_response, status, payload):
        body = json.dumps(payload, sort_keys=True).encode()
        start_response(STATUS[status], [("Content-Type", "application/json"),
                                        ("Content-Length", str(len(body)))])
        return [body]

    def _not_allowed(self, start_response, allowed):
        start_response("405 Method Not Allowed", [("Allow", ", ".join(allowed))])
        return [b""]

    def _create(self, environ, start_response):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        text = environ["wsgi.input"].read(size).decode()
        if not text:
            return self._reply(start_response, 400, {"error": "empty"})
        key = str(len(self.notes) + 1)
        self.notes[key] = text
        return self._reply(start_response, 200, {"id": key})

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/notes":
            if environ["REQUEST_METHOD"] == "POST":
                return self._create(environ, start_response)
            if environ["REQUEST_METHOD"] != "GET":
                return self._not_allowed(start_response, ["GET", "POST"])
            return self._reply(start_response, 200, sorted(self.notes))
        note = self.notes.get(path.rsplit("/", 1)[-1])
        if note is None:
            return self._reply(start_response, 404, {"error": "no note"})
        return self._reply(start_response, 200, {"text": note})


app = NotesApp({"1": "first"})
"""


def test_methods_handed_the_request_or_the_response_convert_with_the_class() -> None:
    after, changes = migrate_text(NOTES)
    assert_idempotent(after)
    assert [c.kind for c in changes] == ["converted"], changes
    assert "`_create()`, `_not_allowed()`, `_reply()`" in changes[0].message
    assert "return await self._create(scope, receive, send)" in after
    assert "return await self._reply(send, 404, {" in after
    assert "start_response" not in after
    module = load_module(after)
    assert inspect.isclass(module.NotesApp)
    assert inspect.iscoroutinefunction(module.NotesApp._reply)
    requests = [
        Req("GET", "/notes"),
        Req("POST", "/notes", body=b"second"),
        Req("POST", "/notes"),
        Req("GET", "/notes/2"),
        Req("GET", "/notes/9"),
        Req("DELETE", "/notes"),
    ]
    assert_same_behaviour(NOTES, after, requests)


SHARED_METHOD = NOTES.replace(
    "app = NotesApp(",
    "def legacy(start_response):\n    return NotesApp._reply(start_response, 200, [])\n\n\napp = NotesApp(",
)


def test_a_method_also_called_from_outside_keeps_the_class_wsgi() -> None:
    result = migrate_source(textwrap.dedent(SHARED_METHOD))
    kinds = sorted((c.rule, c.kind) for c in result.changes)
    assert kinds == [("served-app", "adapted"), ("wsgi-app", "manual")], result.changes
    assert "def _reply(start_response, status, payload):" in result.new_source
    requests = [Req("GET", "/notes"), Req("GET", "/notes/1")]
    assert_same_behaviour(SHARED_METHOD, result.new_source, requests)


BY_METHOD = """
import json

NOTES = {"1": "first"}


class NotesApp(object):
    def __call__(self, environ, start_response):
        handler = getattr(self, "do_" + environ["REQUEST_METHOD"], None)
        if handler is None:
            start_response("405 Method Not Allowed", [("Allow", "GET, POST")])
            return [b""]
        return handler(environ, start_response)

    def do_GET(self, environ, start_response):
        body = json.dumps(NOTES, sort_keys=True).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    def do_POST(self, environ, start_response):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        NOTES[str(len(NOTES) + 1)] = environ["wsgi.input"].read(size).decode()
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"created"]


app = NotesApp()
"""


def test_methods_looked_up_by_a_name_made_at_run_time_convert_with_the_class() -> None:
    after, changes = migrate_text(BY_METHOD)
    assert_idempotent(after)
    assert [c.kind for c in changes] == ["converted"], changes
    assert "return await handler(scope, receive, send)" in after
    assert "async def do_GET(self, scope, receive, send):" in after
    requests = [
        Req("GET", "/"),
        Req("POST", "/", body=b"second"),
        Req("GET", "/"),
        Req("DELETE", "/"),
        Req("HEAD", "/"),
    ]
    assert_same_behaviour(BY_METHOD, after, requests)


@pytest.mark.parametrize(
    "tail",
    [
        # a subclass may add a WSGI method the lookup finds
        "class MoreNotes(NotesApp):\n    pass\n",
        # so may an attribute set at run time
        "app.do_PUT = app.do_POST\n",
    ],
)
def test_a_lookup_that_may_find_more_keeps_the_class_wsgi(tail: str) -> None:
    before = BY_METHOD + "\n\n" + tail
    result = migrate_source(textwrap.dedent(before))
    assert not any(c.kind == "converted" for c in result.changes), result.changes
    assert "def do_GET(self, environ, start_response):" in result.new_source
    assert_same_behaviour(before, result.new_source, [Req("GET", "/"), Req("DELETE", "/")])


def test_a_subclass_in_another_module_adding_a_wsgi_method_keeps_the_class_wsgi() -> None:
    more = (
        "from notes import NotesApp\n\n\nclass MoreNotes(NotesApp):\n"
        "    def do_PUT(self, environ, start_response):\n"
        '        start_response("204 No Content", [])\n        return [b""]\n'
    )
    after, results = migrate_project_twice({"notes.py": BY_METHOD, "more.py": more})
    assert "def do_GET(self, environ, start_response):" in after["notes.py"]
    assert any("more.py uses `NotesApp`" in c.message for c in results["notes.py"].changes)


@pytest.mark.parametrize(
    "extra",
    [
        "    greeting = 'hush'\n",  # the base converts: the subclass's instances are ASGI
        "    def do_PUT(self, environ, start_response):\n"  # the base stays WSGI
        '        start_response("204 No Content", [])\n        return [b""]\n',
    ],
)
def test_an_instance_of_a_subclass_of_an_app_class_of_another_module_is_served(extra: str) -> None:
    other = f"from notes import NotesApp\n\n\nclass MoreNotes(NotesApp):\n{extra}\n\napp = MoreNotes()\n"
    before = {"notes.py": BY_METHOD, "more.py": other}
    after, _ = migrate_project_twice(before)
    assert "app = as_asgi(app)" in after["more.py"]
    requests = [Req("GET", "/"), Req("POST", "/", body=b"more"), Req("PUT", "/")]
    assert_same_project_behaviour(before, after, "more", requests)
