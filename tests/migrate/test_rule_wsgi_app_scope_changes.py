"""Rule ``wsgi-app``: apps that change the request before handing it on.

WSGI apps change the environ they hand to their sub-apps (``shift_path_info``, their own keys
such as ``environ["site.root"] = ...``); under ASGI each change becomes a changed copy of the
scope, which the sub-app gets, and a helper that still reads an environ gets one built from
the scope as it is at the call. Also here: a response helper whose status comes from its
callers (``respond(start_response, status, headers, text)``), and a body read on one branch
of an app that hands the request on on another.

Behaviour: the code before, served as WSGI (wsgiref), and after, served as ASGI (uvicorn and
hypercorn), answer the same requests the same way; every case is also run twice.
"""

from __future__ import annotations

from textwrap import dedent

from migrate.rules.wsgi_app import WsgiAppRule
from tests.harness import Req, assert_idempotent, assert_same_behaviour, migrate_text


def migrated(before: str) -> tuple[str, list[tuple[str, str]]]:
    """Run the rule (checking the prefilter and idempotency): the new code and the changes as
    ``(kind, message)``."""
    assert WsgiAppRule.might_apply(dedent(before))
    after, changes = migrate_text(before)
    assert_idempotent(after)
    return after, [(c.kind, c.message) for c in changes]


MOUNTED_SECTIONS = """
import html
from urllib.parse import parse_qs
from wsgiref.headers import Headers
from wsgiref.util import application_uri, request_uri, shift_path_info

DOCS = {"intro": "Hello", "café": "Crème"}


def respond(start_response, status, headers, text):
    body = text.encode("utf-8")
    headers["Content-Length"] = str(len(body))
    start_response(status, headers.items())
    return [body]


def link(environ, name):
    return environ["site.root"] + "/docs/" + name


def listing(environ, start_response):
    h = Headers([("Content-Type", "text/html; charset=utf-8")])
    items = "".join("<li>%s</li>" % link(environ, n) for n in sorted(DOCS))
    return respond(start_response, "200 OK", h, "<ul>%s</ul> at %s" % (items, request_uri(environ)))


def docs(environ, start_response):
    name = shift_path_info(environ)
    if not name:
        return listing(environ, start_response)
    name = name.encode("latin-1").decode("utf-8")
    action = shift_path_info(environ) or "show"
    if action == "edit" and environ["REQUEST_METHOD"] == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        DOCS[name] = parse_qs(environ["wsgi.input"].read(size).decode("utf-8"))["text"][0]
        h = Headers([("Content-Type", "text/plain")])
        h["Location"] = link(environ, name)
        return respond(start_response, "303 See Other", h, "saved")
    if name not in DOCS:
        return respond(start_response, "404 Not Found", Headers([]), "no " + html.escape(name))
    h = Headers([])
    h.add_header("Content-Type", "text/plain", charset="utf-8")
    lines = [DOCS[name], action, environ["SCRIPT_NAME"], environ["PATH_INFO"],
             request_uri(environ, include_query=False)]
    return respond(start_response, "200 OK", h, "\\n".join(lines))


def app(environ, start_response):
    environ["site.root"] = application_uri(environ).rstrip("/")
    section = shift_path_info(environ)
    if section == "docs":
        return docs(environ, start_response)
    if not section:
        return listing(environ, start_response)
    return respond(start_response, "404 Not Found", Headers([("Content-Type", "text/plain")]),
                   "no section " + section)
"""

HOST = ("Host", "docs.example")
FORM = ("Content-Type", "application/x-www-form-urlencoded")
SECTION_REQUESTS = [
    Req("GET", path, [HOST])
    for path in (
        "/",
        "/docs/",
        "/docs/intro",
        "/docs/intro/raw?x=1",
        "/docs/caf%C3%A9",
        "/docs//intro/./show",
    )
] + [
    Req("POST", "/docs/new/edit", [HOST, FORM], b"text=fresh+page"),
    Req("GET", "/docs/new", [HOST]),
    Req("GET", "/docs/missing", [HOST]),
    Req("GET", "/elsewhere", [HOST]),
]


def test_a_mounted_dispatcher_with_its_own_environ_key_is_converted_whole() -> None:
    after, changes = migrated(MOUNTED_SECTIONS)
    assert [kind for kind, _ in changes] == ["converted"] * 4
    assert "async def docs(scope, receive, send):" in after
    assert 'scope = asgi_helpers.with_environ_key(scope, "site.root"' in after
    assert "action, scope = asgi_helpers.shift_path_info(scope)" in after
    # the helper gets an environ built from the scope as it is at the call
    assert "link(asgi_helpers.build_environ(scope), name)" in after
    assert "start_response" not in after
    assert_same_behaviour(MOUNTED_SECTIONS, after, SECTION_REQUESTS)


WRITE_FOR_THE_CALLER = """
def inner(environ, start_response):
    environ["audit.user"] = "ada"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def app(environ, start_response):
    body = b"".join(inner(environ, start_response))
    return [body + environ.get("audit.user", "?").encode()]
"""


def test_an_environ_key_set_only_for_the_code_around_stays_wsgi() -> None:
    after, changes = migrated(WRITE_FOR_THE_CALLER)
    assert "async def inner" not in after
    assert any("audit.user" in message for _, message in changes), changes
    assert_same_behaviour(WRITE_FOR_THE_CALLER, after, [Req("GET", "/")])


BODY_ON_ONE_BRANCH = """
import json


def not_found(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [("nothing at " + environ["PATH_INFO"]).encode()]


def app(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        data = json.loads(environ["wsgi.input"].read(size) or b"{}")
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"got": data}).encode()]
    if environ["PATH_INFO"] != "/":
        return not_found(environ, start_response)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"home"]
"""

BODY_THEN_HAND_ON = """
def echo(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["REQUEST_METHOD"].encode()]


def app(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        environ["wsgi.input"].read(1)  # reads a little, then hands the request on
    return echo(environ, start_response)
"""


def test_a_body_read_on_a_branch_that_returns_does_not_stop_a_hand_on() -> None:
    after, changes = migrated(BODY_ON_ONE_BRANCH)
    assert [kind for kind, _ in changes] == ["converted", "converted"]
    assert "await not_found(scope, receive, send)" in after
    requests = [
        Req("POST", "/", [("Content-Type", "application/json")], b'{"a": 1}'),
        Req("GET", "/"),
        Req("GET", "/x"),
    ]
    assert_same_behaviour(BODY_ON_ONE_BRANCH, after, requests)


def test_a_body_read_before_a_hand_on_keeps_the_group_wsgi() -> None:
    after, changes = migrated(BODY_THEN_HAND_ON)
    assert "async def" not in after
    assert any("reads the request body and hands the request on" in m for _, m in changes)
    assert_same_behaviour(BODY_THEN_HAND_ON, after, [Req("POST", "/", body=b"abcdef")])


OWN_NAMES = """
import json


class Outbox:
    def __init__(self):
        self.sent = []

    def send(self, message, scope="all"):
        self.sent.append((scope, message))
        return len(self.sent)


OUTBOX = Outbox()


def app(environ, start_response):
    scope = environ.get("HTTP_X_SCOPE", "read")
    send = [part for part in scope.split(",") if part]
    count = OUTBOX.send(json.dumps(send), scope=scope)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"scope": scope, "parts": send, "count": count}).encode()]
"""

GLOBAL_SEND = """
def send(text):
    return text.upper()


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [send(environ["PATH_INFO"]).encode()]
"""


def test_an_app_whose_own_variables_are_called_scope_or_send_is_converted() -> None:
    after, changes = migrated(OWN_NAMES)
    assert [kind for kind, _ in changes] == ["converted"], changes
    assert 'scope_ = asgi_helpers.request_headers(scope).get("x-scope", "read")' in after
    assert "count = OUTBOX.send(json.dumps(send_), scope=scope_)" in after
    requests = [Req("GET", "/", [("X-Scope", "read,write")]), Req("GET", "/")]
    assert_same_behaviour(OWN_NAMES, after, requests)


def test_an_app_calling_a_global_named_send_stays_wsgi() -> None:
    after, changes = migrated(GLOBAL_SEND)
    assert [kind for kind, _ in changes] == ["adapted"]
    assert "already uses the name send" in changes[0][1]
    assert_same_behaviour(GLOBAL_SEND, after, [Req("GET", "/abc")])
