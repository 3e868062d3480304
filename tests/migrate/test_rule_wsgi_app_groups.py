"""Rule ``wsgi-app``, call groups: a dispatcher, the sub-apps it hands ``environ`` and
``start_response`` to (``return sub(environ, start_response, *extra)``) and the response
helpers that get ``start_response`` (``return json_response(start_response, 200, data)``) are
converted together -- or, when one of them cannot be, all left as before (the dispatcher
adapted, the sub-apps manual), never half-converted.

The group conversion is switched by ``wsgi_app.CONVERTS_CALL_GROUPS`` (on by default).
Behaviour: the code before, served as WSGI (wsgiref), and after, served as ASGI (uvicorn and
hypercorn), answer the same requests the same way; every case is also run twice.
"""

from __future__ import annotations

from textwrap import dedent

import pytest

from migrate.rules import wsgi_app
from migrate.rules.wsgi_app import WsgiAppRule
from tests.harness import Req, assert_idempotent, assert_same_behaviour, migrate_text
from tests.migrate.test_rule_wsgi_app_modules import dedented, kinds, migrate_project


def migrated(before: str) -> tuple[str, list[tuple[int, str, str]]]:
    """Run the rule (checking the prefilter and idempotency): the new code and the changes as
    ``(line, kind, message)``."""
    assert WsgiAppRule.might_apply(dedent(before))
    after, changes = migrate_text(before)
    assert_idempotent(after)
    return after, [(c.line, c.kind, c.message) for c in changes]


# --------------------------------------------------------------------------- a whole API

NOTES = """
import json

STATUS = {200: "200 OK", 201: "201 Created", 400: "400 Bad Request", 404: "404 Not Found",
          405: "405 Method Not Allowed"}
NOTES = {1: "first", 2: "second"}


def request_path(environ):
    return environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")


def respond(start_response, status, body, content_type, extra_headers=()):
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    headers.extend(extra_headers)
    start_response(STATUS[status], headers)
    return [body]


def json_response(start_response, status, data, extra_headers=()):
    body = json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return respond(start_response, status, body, "application/json; charset=utf-8", extra_headers)


def html_response(start_response, status, html):
    return respond(start_response, status, html.encode("utf-8"), "text/html; charset=utf-8")


def method_not_allowed(start_response, allowed):
    return json_response(
        start_response, 405, {"error": "method not allowed"}, [("Allow", ", ".join(allowed))]
    )


def not_found(environ, start_response):
    return json_response(start_response, 404, {"error": "not found", "path": request_path(environ)})


def index(environ, start_response):
    items = "".join(f"<li>{text}</li>" for text in NOTES.values())
    return html_response(start_response, 200, f"<h1>Notizen · café</h1><ul>{items}</ul>")


def create_note(environ, start_response):
    if not environ.get("CONTENT_TYPE", "").startswith("application/json"):
        return json_response(start_response, 400, {"error": "expected JSON"})
    length = int(environ.get("CONTENT_LENGTH") or 0)
    data = json.loads(environ["wsgi.input"].read(length) or b"null")
    if not isinstance(data, dict) or not data.get("title"):
        return json_response(start_response, 400, {"error": "title is required"})
    return json_response(start_response, 201, {"title": data["title"]}, [("Location", "/notes/3")])


def note_detail(environ, start_response, note_id):
    if environ["REQUEST_METHOD"] != "GET":
        return method_not_allowed(start_response, ["GET"])
    if note_id not in NOTES:
        return not_found(environ, start_response)
    return json_response(start_response, 200, {"id": note_id, "text": NOTES[note_id]})


def stream(environ, start_response, count):
    start_response("200 OK", [("Content-Type", "text/plain")])
    for number in range(count):
        yield f"line {number}\\n".encode()


def app(environ, start_response):
    path = request_path(environ)
    method = environ["REQUEST_METHOD"]
    if path == "/":
        return index(environ, start_response)
    if path == "/notes":
        if method == "POST":
            return create_note(environ, start_response)
        return method_not_allowed(start_response, ["POST"])
    if path.startswith("/notes/"):
        try:
            note_id = int(path.rsplit("/", 1)[1])
        except ValueError:
            return not_found(environ, start_response)
        return note_detail(environ, start_response, note_id)
    if path.startswith("/stream/"):
        return stream(environ, start_response, len(path) - len("/stream/"))
    if path == "/raw":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"raw"]
    return not_found(environ, start_response)


if __name__ == "__main__":
    from wsgiref.simple_server import make_server
    make_server("", 8000, app).serve_forever()
"""

NOTES_REQUESTS = [
    Req("GET", "/"),
    Req("GET", "/notes/1"),
    Req("GET", "/notes/2"),
    Req("GET", "/notes/7"),
    Req("DELETE", "/notes/1"),
    Req("GET", "/notes/x"),
    Req("GET", "/notes"),
    Req("POST", "/notes", headers=[("Content-Type", "application/json")], body=b'{"title": "t"}'),
    Req("POST", "/notes", headers=[("Content-Type", "application/json")], body=b'{"x": 1}'),
    Req("POST", "/notes", headers=[("Content-Type", "text/plain")], body=b"hello"),
    Req("GET", "/stream/abc"),
    Req("GET", "/stream/"),
    Req("GET", "/raw"),
    Req("GET", "/caf%C3%A9"),
    Req("HEAD", "/"),
]


def test_dispatcher_sub_apps_and_helpers_convert_together() -> None:
    after, changes = migrated(NOTES)
    assert [kind for _, kind, _ in changes] == ["converted"] * 10
    for signature in (
        "async def respond(send, status, body, content_type, extra_headers=()):",
        "async def json_response(send, status, data, extra_headers=()):",
        "async def method_not_allowed(send, allowed):",
        "async def not_found(scope, receive, send):",
        "async def note_detail(scope, receive, send, note_id):",
        "async def stream(scope, receive, send, count):",
        "async def app(scope, receive, send):",
    ):
        assert signature in after
    for call in (
        "return await index(scope, receive, send)",
        "return await note_detail(scope, receive, send, note_id)",
        'return await stream(scope, receive, send, len(path) - len("/stream/"))',
        'return await method_not_allowed(send, ["POST"])',
        'return await respond(send, status, body, "application/json; charset=utf-8", extra_headers)',
    ):
        assert call in after
    assert "start_response" not in after
    assert_same_behaviour(NOTES, after, NOTES_REQUESTS)


def test_each_member_reports_its_own_line_and_group() -> None:
    _, changes = migrated(NOTES)
    source = dedent(NOTES).splitlines()
    for line, _, message in changes:
        name = message.split("`")[1]
        assert source[line - 1].startswith(f"def {name}("), (line, message)
    messages = {message.split("`")[1]: message for _, _, message in changes}
    assert messages["index"].startswith(
        "WSGI app `index` converted to ASGI together with `app` (dispatcher), "
        "`html_response` (response helper)"
    )
    assert messages["html_response"] == (
        "response helper `html_response` converted to ASGI together with `index` (sub-app), "
        "`respond` (response helper) (takes `send` instead of `start_response`)"
    )
    assert "extra arguments kept" in messages["note_detail"]
    assert "streamed body" in messages["stream"]


def test_readable_output() -> None:
    before = """
    def text_response(start_response, status, text):
        start_response(status, [("Content-Type", "text/plain")])
        return [text.encode()]


    def hello(environ, start_response, name):
        return text_response(start_response, "200 OK", f"hello {name}")


    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path.startswith("/hello/"):
            return hello(environ, start_response, path[len("/hello/"):])
        return text_response(start_response, "404 Not Found", "no")
    """
    after, changes = migrated(before)
    assert after == dedent("""\

    from adapters import asgi_helpers

    async def text_response(send, status, text):
        await send(
            {
                "type": "http.response.start",
                "status": int(status.split(None, 1)[0]),
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": text.encode()})


    async def hello(scope, receive, send, name):
        if scope["type"] != "http":
            return await asgi_helpers.handle_non_http(scope, receive, send)
        return await text_response(send, "200 OK", f"hello {name}")


    async def app(scope, receive, send):
        if scope["type"] != "http":
            return await asgi_helpers.handle_non_http(scope, receive, send)
        path = asgi_helpers.path_info(scope)
        if path.startswith("/hello/"):
            return await hello(scope, receive, send, path[len("/hello/"):])
        return await text_response(send, "404 Not Found", "no")
    """)
    assert [(line, kind) for line, kind, _ in changes] == [
        (2, "converted"),
        (7, "converted"),
        (11, "converted"),
    ]
    assert changes[2][2] == (
        "WSGI app `app` converted to ASGI together with `hello` (sub-app), "
        "`text_response` (response helper) (1 environ read)"
    )
    assert_same_behaviour(before, after, [Req("GET", "/hello/you"), Req("GET", "/x")])


# --------------------------------------------------------------------------- fall back as a whole


FALLBACK_CASES = {
    "sub-app returns an iterable with close()": (
        """
        class Export:
            closed = 0

            def __init__(self, rows):
                self.rows = rows

            def __iter__(self):
                for row in self.rows:
                    yield row.encode() + b"\\n"

            def close(self):
                Export.closed += 1


        def export(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/csv")])
            return Export(["a,b", "c,d"])


        def hello(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hello"]


        def app(environ, start_response):
            if environ["PATH_INFO"] == "/export":
                return export(environ, start_response)
            if environ["PATH_INFO"] == "/hello":
                return hello(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no"]
        """,
        "`export`: returns an iterable the rule cannot see into",
    ),
    "helper writes to the environ": (
        """
        def page(environ, start_response, title):
            environ["app.title"] = title
            start_response("200 OK", [("Content-Type", "text/html")])
            return [f"<h1>{environ['app.title']}</h1>".encode()]


        def hello(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hello"]


        def app(environ, start_response):
            if environ["PATH_INFO"] == "/hello":
                return hello(environ, start_response)
            return page(environ, start_response, environ["PATH_INFO"])
        """,
        "`page`: it sets environ['app.title'] without handing the request on",
    ),
    "sub-app also kept in a route table": (
        """
        def hello(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hello"]


        ROUTES = {"/hello": hello}


        def app(environ, start_response):
            if environ["PATH_INFO"] == "/hi":
                return hello(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [repr(sorted(ROUTES)).encode()]
        """,
        "`hello` is also used at line 7",
    ),
    "sub-app called inside a with block": (
        """
        import threading

        LOCK = threading.Lock()


        def hello(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hello"]


        def app(environ, start_response):
            with LOCK:
                return hello(environ, start_response)
        """,
        "inside a try or with block",
    ),
}


@pytest.mark.parametrize("case", sorted(FALLBACK_CASES))
def test_group_with_an_unconvertible_member_falls_back_whole(case: str) -> None:
    before, reason = FALLBACK_CASES[case]
    after, changes = migrated(before)
    kinds = {message.split("`")[1]: kind for _, kind, message in changes}
    assert "converted" not in kinds.values()
    assert kinds["app"] == "adapted"
    assert "app = WsgiToAsgi(_app_wsgi)" in after
    assert "async def" not in after
    assert all(reason in message for _, _, message in changes), changes
    assert all("cannot be" in message for _, _, message in changes)
    requests = [Req("GET", "/export"), Req("GET", "/hello"), Req("GET", "/hi"), Req("GET", "/x")]
    assert_same_behaviour(before, after, requests, asgi_servers=("uvicorn",))


def test_helper_from_another_module_keeps_the_group_wsgi() -> None:
    before = """
    from http_utils import html_response


    def index(environ, start_response):
        return html_response(start_response, 200, "<h1>hi</h1>")


    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]


    def app(environ, start_response):
        if environ["PATH_INFO"] == "/":
            return index(environ, start_response)
        return hello(environ, start_response)
    """
    after, changes = migrated(before)
    assert [(kind, message.split("`")[1]) for _, kind, message in changes] == [
        ("manual", "hello"),
        ("adapted", "app"),
    ]
    assert all(
        "`index` uses `html_response` from http_utils with start_response; convert them together"
        in message
        for _, _, message in changes
    )
    assert "def index(environ, start_response):" in after  # not an app by itself: untouched


def test_groups_stay_as_before_while_switched_off() -> None:
    before = """
    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    def app(environ, start_response):
        return hello(environ, start_response)
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wsgi_app, "CONVERTS_CALL_GROUPS", False)
        after, changes = migrate_text(before)
        assert [c.kind for c in changes] == ["manual", "adapted"]
        assert "convert it together with its users" in changes[0].message
        assert_idempotent(after)


def test_converting_twice_changes_nothing_for_a_partly_adapted_group() -> None:
    before = """
    from adapters import WsgiToAsgi


    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]


    def inner(environ, start_response):
        return hello(environ, start_response)


    app = WsgiToAsgi(inner)
    """
    _, changes = migrated(before)
    assert [(kind, message.split("`")[1]) for _, kind, message in changes] == [("manual", "hello")]
    assert "`inner` is served through adapters.WsgiToAsgi here" in changes[0][2]


CHAINED = """
STATUS = {200: "200 OK", 404: "404 Not Found"}


def respond(start_response, status, text):
    body = text.encode("utf-8")
    start_response(STATUS[status], [("Content-Type", "text/plain; charset=utf-8"),
                                    ("Content-Length", str(len(body)))])
    return [body]


def page(start_response, status, title):
    return respond(start_response, status, f"== {title} ==")


def index(environ, start_response):
    return page(start_response, 200, "home")


def missing(environ, start_response):
    return page(start_response, 404, environ["PATH_INFO"])


def app(environ, start_response):
    if environ["PATH_INFO"] == "/":
        return index(environ, start_response)
    return missing(environ, start_response)
"""


def test_dispatcher_seen_only_through_a_chain_of_helpers() -> None:
    # no function of `app`'s calls start_response itself: found through respond <- page
    after, changes = migrated(CHAINED)
    assert [kind for _, kind, _ in changes] == ["converted"] * 5
    assert "async def page(send, status, title):" in after
    assert_same_behaviour(CHAINED, after, [Req("GET", "/"), Req("GET", "/caf%C3%A9")])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wsgi_app, "CONVERTS_CALL_GROUPS", False)
        assert migrate_text(CHAINED) == (dedent(CHAINED), [])  # as before: not seen at all


def test_helper_exported_in_all_keeps_the_group_wsgi() -> None:
    before = '__all__ = ["respond", "page"]\n' + CHAINED
    after, changes = migrated(before)
    assert changes == []  # the apps were only found through the helpers: left as before
    assert after == before
    with_direct = before + (
        "\n\ndef raw(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return index(environ, start_response)\n"
    )
    _, changes = migrated(with_direct)
    assert [kind for _, kind, _ in changes] == ["adapted"]
    assert (
        "`respond` is exported in __all__ (other modules may hand it start_response)"
        in (changes[0][2])
    )


COMPILED_ROUTES_WITH_HELPER = """
import json
import re


def json_response(start_response, status, payload, extra_headers=()):
    body = json.dumps(payload, sort_keys=True).encode("utf-8")
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    headers.extend(extra_headers)
    start_response(status, headers)
    return [body]


def index(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"stock service\\n"]


def item(environ, start_response):
    (sku,), _ = environ["wsgiorg.routing_args"]
    if sku not in ("ab-1", "cx-7"):
        return json_response(start_response, "404 Not Found", {"error": "no such sku"})
    return json_response(start_response, "200 OK", {"sku": sku})


class URLMap:
    def __init__(self, routes):
        self.routes = [(re.compile(p), handler, methods) for p, handler, methods in routes]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        allowed = []
        for regex, handler, methods in self.routes:
            match = regex.match(path)
            if match is None:
                continue
            if environ["REQUEST_METHOD"] not in methods:
                allowed.extend(m for m in methods if m not in allowed)
                continue
            environ["wsgiorg.routing_args"] = (match.groups(), match.groupdict())
            return handler(environ, start_response)
        if allowed:
            return json_response(
                start_response, "405 Method Not Allowed", {"error": "no"}, [("Allow", ", ".join(allowed))]
            )
        return json_response(start_response, "404 Not Found", {"error": "not found", "path": path})


app = URLMap([
    (r"^/$", index, ("GET", "HEAD")),
    (r"^/items/([a-z]+-\\d+)$", item, ("GET",)),
])
"""


def test_a_route_table_converts_with_the_response_helper_its_views_and_dispatcher_share() -> None:
    """``json_response`` answers for the views (200, 404) and for the dispatching class the
    routes are given to (405, 404): the table, its class and the helper's group are one unit."""
    after, changes = migrated(COMPILED_ROUTES_WITH_HELPER)
    assert {kind for _, kind, _ in changes} == {"converted"}, changes
    assert 'return await json_response(send, "404 Not Found"' in after
    assert "run_blocking" not in after  # nothing of it may block: no thread hop per route
    assert "match = regex.match(path)" in after
    requests = [
        Req("GET", "/"),
        Req("GET", "/items/ab-1"),
        Req("GET", "/items/zz-9"),
        Req("POST", "/items/ab-1"),
        Req("GET", "/nowhere"),
    ]
    assert_same_behaviour(COMPILED_ROUTES_WITH_HELPER, after, requests)


@pytest.mark.parametrize(
    "change",
    [
        # the helper also answers for a function the table knows nothing of
        (
            "app = URLMap([",
            "def legacy(environ, start_response, reason):\n"
            "    return json_response(start_response, '410 Gone', {'why': reason})\n\n\n"
            "RETIRED = legacy\n\n\napp = URLMap([",
        ),
        # the dispatcher hands the helper on as a value
        ("        allowed = []\n", "        allowed = []\n        reply = json_response\n"),
    ],
)
def test_a_route_table_whose_helper_is_used_out_of_sight_stays_wsgi(
    change: tuple[str, str],
) -> None:
    before = COMPILED_ROUTES_WITH_HELPER.replace(*change)
    assert before != COMPILED_ROUTES_WITH_HELPER
    after, changes = migrate_text(before)
    assert not any(
        kind == "converted" for _, kind, _ in [(c.line, c.kind, c.message) for c in changes]
    )
    assert "def json_response(start_response," in after
    requests = [Req("GET", "/"), Req("GET", "/items/ab-1"), Req("POST", "/items/ab-1")]
    assert_same_behaviour(before, after, requests)


TUTORIAL_DISPATCHER = """
import re
from html import escape


def index(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b'<a href="hello/">continue</a>']


def hello(environ, start_response):
    args = environ["myapp.url_args"]
    subject = escape(args[0]) if args else "World"
    start_response("200 OK", [("Content-Type", "text/html")])
    return [("Hello %s!" % subject).encode()]


def not_found(environ, start_response):
    start_response("404 NOT FOUND", [("Content-Type", "text/plain")])
    return [b"Not Found"]


urls = [
    (r"^$", index),
    (r"hello/?$", hello),
    (r"hello/(.+)$", hello),
]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "").lstrip("/")
    for regex, callback in urls:
        match = re.search(regex, path)
        if match is not None:
            environ["myapp.url_args"] = match.groups()
            return callback(environ, start_response)
    return not_found(environ, start_response)
"""


def test_a_dispatcher_falling_back_to_an_app_it_calls_converts_with_its_table() -> None:
    """The tutorial's dispatcher: a list of routes it loops over, and ``not_found`` called by
    name when none matches (a call group of the dispatcher, which the table vouches for)."""
    after, changes = migrated(TUTORIAL_DISPATCHER)
    assert [kind for _, kind, _ in changes] == ["converted"] * 4, changes
    assert "return await callback(scope, receive, send)" in after
    assert "return await not_found(scope, receive, send)" in after
    requests = [Req("GET", "/"), Req("GET", "/hello/"), Req("GET", "/hello/Ann"), Req("GET", "/x")]
    assert_same_behaviour(TUTORIAL_DISPATCHER, after, requests, app_name="application")


def test_a_route_table_whose_helper_another_module_hands_start_response_stays_wsgi() -> None:
    before = dedented(
        {
            "shop.py": COMPILED_ROUTES_WITH_HELPER,
            "legacy.py": """
                from shop import json_response


                def gone(environ, start_response):
                    return json_response(start_response, "410 Gone", {"error": "gone"})
            """,
        }
    )
    after, results = migrate_project(before)
    assert "converted" not in kinds(results["shop.py"]).values(), results["shop.py"].changes
    assert "def json_response(start_response, status, payload" in after["shop.py"]
