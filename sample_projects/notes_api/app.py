"""notes_api: the WSGI application.

Run it with ``python3 app.py`` and open http://localhost:8000/.
"""

from __future__ import annotations

import html
import json
import os
from urllib.parse import quote, unquote
from wsgiref.simple_server import make_server

from http_utils import (
    BadRequest,
    cookies,
    html_response,
    json_response,
    query_params,
    read_form,
    read_json,
    request_path,
)
from store import seeded_store

notes = seeded_store()


def not_found(environ, start_response):
    return json_response(start_response, 404, {"error": "not found", "path": request_path(environ)})


def method_not_allowed(start_response, allowed):
    return json_response(
        start_response, 405, {"error": "method not allowed"}, [("Allow", ", ".join(allowed))]
    )


def index(environ, start_response):
    items = "".join(
        f'<li><a href="/api/notes/{n["id"]}">{html.escape(n["title"])}</a></li>' for n in notes.list()
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Notizen · café ☕</title></head>"
        f"<body><h1>Notizen · café ☕</h1><ul>{items}</ul></body></html>"
    )
    return html_response(start_response, 200, page)


def list_notes(environ, start_response):
    params = query_params(environ)
    tag = params.get("tag", [None])[0]
    try:
        limit = int(params["limit"][0]) if "limit" in params else None
    except ValueError:
        return json_response(start_response, 400, {"error": "limit must be a number"})
    return json_response(start_response, 200, {"notes": notes.list(tag=tag, limit=limit)})


def create_note(environ, start_response):
    try:
        data = read_json(environ)
    except BadRequest as exc:
        return json_response(start_response, 400, {"error": str(exc)})
    if not isinstance(data, dict) or not data.get("title"):
        return json_response(start_response, 400, {"error": "title is required"})
    note = notes.add(data["title"], data.get("body", ""), data.get("tags", []))
    return json_response(start_response, 201, note, [("Location", f"/api/notes/{note['id']}")])


def note_detail(environ, start_response, note_id):
    method = environ["REQUEST_METHOD"]
    if method == "GET":
        note = notes.get(note_id)
        if note is None:
            return not_found(environ, start_response)
        return json_response(start_response, 200, note)
    if method == "DELETE":
        if not notes.delete(note_id):
            return not_found(environ, start_response)
        return json_response(start_response, 200, {"deleted": note_id})
    return method_not_allowed(start_response, ["GET", "DELETE"])


class CsvExport:
    """The export body: one CSV line per note. ``close()`` is where the export is accounted
    for, so it must be called (PEP 3333) even when the client goes away half-way."""

    finished = 0

    def __init__(self, rows):
        self.rows = rows

    def __iter__(self):
        yield b"id,title,tags\r\n"
        for note in self.rows:
            title = note["title"].replace('"', '""')
            yield f'{note["id"]},"{title}",{" ".join(note["tags"])}\r\n'.encode()

    def close(self):
        CsvExport.finished += 1


def export_csv(environ, start_response):
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/csv; charset=utf-8"),
            ("Content-Disposition", 'attachment; filename="notes.csv"'),
        ],
    )
    return CsvExport(notes.list())


def feed(environ, start_response):
    """Newline-delimited JSON, one chunk per note, streamed as it is produced."""
    start_response("200 OK", [("Content-Type", "application/x-ndjson")])

    def chunks():
        for note in notes.list():
            yield json.dumps({"id": note["id"], "title": note["title"]}).encode() + b"\n"
        yield b'{"end": true}\n'

    return chunks()


def tag_page(environ, start_response, tag):
    tagged = notes.list(tag=tag)
    items = "".join(f"<li>{html.escape(n['title'])}</li>" for n in tagged)
    page = f"<h1>Tag: {html.escape(tag)}</h1><p>{len(tagged)} notes</p><ul>{items}</ul>"
    return html_response(start_response, 200, page)


def login(environ, start_response):
    if environ["REQUEST_METHOD"] == "GET":
        form = (
            '<form method="post" action="/login"><input name="name">'
            "<button>Log in</button></form>"
        )
        return html_response(start_response, 200, form)
    if environ["REQUEST_METHOD"] != "POST":
        return method_not_allowed(start_response, ["GET", "POST"])
    form = read_form(environ)
    name = form.get("name", "").strip()
    if not name:
        return html_response(start_response, 400, "<p>Please tell us your name.</p>")
    start_response(
        "303 See Other",
        [
            ("Location", "/me"),
            ("Set-Cookie", f"user={quote(name)}; Path=/; HttpOnly"),
            ("Set-Cookie", "seen_login=1; Path=/"),
            ("Content-Length", "0"),
        ],
    )
    return [b""]


def me(environ, start_response):
    user = cookies(environ).get("user")
    if not user:
        return json_response(start_response, 401, {"error": "log in first"})
    return json_response(start_response, 200, {"user": unquote(user)})


def app(environ, start_response):
    path = request_path(environ)
    method = environ["REQUEST_METHOD"]

    if path == "/":
        return index(environ, start_response)
    if path == "/login":
        return login(environ, start_response)
    if path == "/me":
        return me(environ, start_response)
    if path == "/api/notes":
        if method == "GET":
            return list_notes(environ, start_response)
        if method == "POST":
            return create_note(environ, start_response)
        return method_not_allowed(start_response, ["GET", "POST"])
    if path == "/api/notes/export.csv":
        return export_csv(environ, start_response)
    if path == "/api/feed":
        return feed(environ, start_response)
    if path.startswith("/api/notes/"):
        try:
            note_id = int(path.rsplit("/", 1)[1])
        except ValueError:
            return not_found(environ, start_response)
        return note_detail(environ, start_response, note_id)
    if path.startswith("/tags/"):
        return tag_page(environ, start_response, path[len("/tags/"):])
    return not_found(environ, start_response)


class MethodOverride:
    """Lets HTML forms and old proxies send PUT/PATCH/DELETE as a POST with an
    ``X-HTTP-Method-Override`` header."""

    allowed = {"PUT", "PATCH", "DELETE"}

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            override = environ.get("HTTP_X_HTTP_METHOD_OVERRIDE", "").upper()
            if override in self.allowed:
                environ["REQUEST_METHOD"] = override
        return self.app(environ, start_response)


application = MethodOverride(app)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    with make_server("", port, application) as httpd:
        print(f"Serving notes on http://localhost:{port}/")
        httpd.serve_forever()
