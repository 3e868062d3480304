"""Rule ``wsgi-app``, route decorators: a decorator of the module that makes a view taking
more than the request a WSGI app (``@with_route_args`` handing it what the route matched)
converts with the route table holding the views it decorates, its dispatcher and the
response helpers they share -- or nothing of them does (``migrate/route_decorators.py``).

Behaviour: the code before, served as WSGI (wsgiref), and after, served as ASGI (uvicorn and
hypercorn), answer the same requests the same way; every case is also run twice.
"""

from __future__ import annotations

import pytest

from tests.harness import Req, assert_idempotent, assert_same_behaviour, migrate_text
from tests.migrate.test_rule_wsgi_app_modules import dedented, kinds, migrate_project

SHELF = """
import json
import re


def json_response(start_response, status, payload):
    body = json.dumps(payload, sort_keys=True).encode("utf-8")
    start_response(status, [("Content-Type", "application/json")])
    return [body]


def routed(view):
    # the named groups of the route arrive as keyword arguments, the others in order
    def handler(environ, start_response):
        positional, named = environ["shelf.route"]
        return view(environ, start_response, *positional, **named)
    handler.__name__ = view.__name__
    return handler


def index(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"shelf"]


@routed
def book(environ, start_response, isbn):
    if not isbn.startswith("978"):
        return json_response(start_response, "404 Not Found", {"isbn": isbn})
    return json_response(start_response, "200 OK", {"isbn": isbn, "method": environ["REQUEST_METHOD"]})


@routed
def shelf_page(environ, start_response, shelf, page):
    return json_response(start_response, "200 OK", {"shelf": shelf, "page": int(page)})


class Dispatcher:
    def __init__(self, routes):
        self.routes = [(re.compile(pattern), view) for pattern, view in routes]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        for regex, view in self.routes:
            match = regex.match(path)
            if match is not None:
                named = match.groupdict()
                environ["shelf.route"] = ((), named) if named else (match.groups(), {})
                return view(environ, start_response)
        return json_response(start_response, "404 Not Found", {"path": path})


app = Dispatcher([
    (r"^/$", index),
    (r"^/books/(?P<isbn>\\d+)$", book),
    (r"^/shelves/(\\w+)/(\\d+)$", shelf_page),
])
"""

REQUESTS = [
    Req("GET", "/"),
    Req("GET", "/books/9780262"),
    Req("POST", "/books/12345"),
    Req("GET", "/shelves/poetry/3"),
    Req("GET", "/elsewhere"),
]


def test_a_route_decorator_converts_with_the_table_holding_its_views() -> None:
    after, changes = migrate_text(SHELF)
    assert_idempotent(after)
    assert [c.kind for c in changes] == ["converted"] * 6, changes
    messages = " | ".join(c.message for c in changes)
    assert "WSGI app `handler` made by `routed` converted to ASGI" in messages
    # the decorator is kept on the views, now ASGI apps taking the route's arguments
    assert "@routed\nasync def book(scope, receive, send, isbn):" in after
    assert "return await view(scope, receive, send, *positional, **named)" in after
    assert "handler.__name__ = view.__name__" in after
    assert "run_blocking" not in after
    assert_same_behaviour(SHELF, after, REQUESTS)


@pytest.mark.parametrize(
    "change",
    [
        # the decorator also makes an app the table does not hold
        (
            "class Dispatcher:",
            "@routed\ndef stray(environ, start_response, x):\n    return []\n\n\nclass Dispatcher:",
        ),
        # the decorator is used otherwise than as a decorator: it is no route decorator
        ("class Dispatcher:", "LATER = routed\n\n\nclass Dispatcher:"),
        # the view hands the request to code the rule cannot see
        (
            "    if not isbn.startswith",
            "    audit(environ, start_response)\n    if not isbn.startswith",
        ),
    ],
)
def test_a_route_decorator_the_unit_cannot_hold_keeps_everything_wsgi(
    change: tuple[str, str],
) -> None:
    before = SHELF.replace(*change)
    assert before != SHELF
    after, changes = migrate_text(before)
    assert not [c for c in changes if c.kind == "converted"], changes
    assert "    def handler(environ, start_response):" in after
    assert "def book(environ, start_response, isbn):" in after
    if "audit(" not in before:
        assert_same_behaviour(before, after, REQUESTS)


def test_a_route_decorator_another_module_uses_keeps_everything_wsgi() -> None:
    # admin.py decorates its own WSGI views with the decorator: it must stay WSGI
    before = dedented(
        {
            "shelf.py": SHELF,
            "admin.py": """
                from shelf import routed


                @routed
                def report(environ, start_response, name):
                    start_response("200 OK", [("Content-Type", "text/plain")])
                    return [name.encode()]
            """,
        }
    )
    after, results = migrate_project(before)
    assert "converted" not in kinds(results["shelf.py"]).values(), results["shelf.py"].changes
    assert "    def handler(environ, start_response):" in after["shelf.py"]


def test_what_the_decorator_reads_of_the_environ_for_the_view_is_read_from_the_scope() -> None:
    before = SHELF.replace(
        """        positional, named = environ["shelf.route"]
        return view(environ, start_response, *positional, **named)""",
        """        return view(environ, start_response, *environ["shelf.route"][0], **environ["shelf.route"][1])""",
    )
    assert before != SHELF
    after, changes = migrate_text(before)
    assert [c.kind for c in changes] == ["converted"] * 6, changes
    assert_same_behaviour(before, after, REQUESTS)


def test_a_decorator_handing_on_just_the_request_converts_with_the_table_too() -> None:
    # @logged takes apps of two parameters: whichever rule makes it ASGI, the views keep it
    before = SHELF.replace(
        "def index(environ, start_response):",
        "SEEN = []\n\n\ndef logged(app):\n    def logging_app(environ, start_response):\n"
        '        SEEN.append(environ["PATH_INFO"])\n        return app(environ, start_response)\n'
        "    return logging_app\n\n\n@logged\ndef index(environ, start_response):",
    ).replace(
        '    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"shelf"]',
        '    start_response("200 OK", [("Content-Type", "text/plain")])\n'
        '    return [("shelf, seen %d" % len(SEEN)).encode()]',
    )
    assert "@logged" in before and "len(SEEN)" in before
    after, changes = migrate_text(before)
    assert_idempotent(after)
    assert {c.kind for c in changes} == {"converted"}, changes
    assert "@logged\nasync def index(scope, receive, send):" in after
    assert_same_behaviour(before, after, [Req("GET", "/"), Req("GET", "/"), *REQUESTS])


LOGGED_VIEW_IN_A_TABLE_THAT_STAYS_WSGI = """
SEEN = []


def logged(app):
    def logging_app(environ, start_response):
        SEEN.append(environ["PATH_INFO"])
        return app(environ, start_response)
    return logging_app


@logged
def index(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("seen %d" % len(SEEN)).encode()]


def other(environ, start_response):
    def where():
        return environ["PATH_INFO"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [where().encode()]


ROUTES = {"/": index, "/other": other}


def app(environ, start_response):
    handler = ROUTES.get(environ["PATH_INFO"])
    if handler is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"unknown"]
    return handler(environ, start_response)
"""


def test_a_view_under_converted_middleware_in_a_table_that_stays_wsgi_is_handed_on_as_wsgi() -> (
    None
):
    # `logged` becomes ASGI middleware, so `index` an ASGI app; the table (which cannot
    # convert: `other` reads the environ in a nested function) and its WSGI dispatcher get
    # the WSGI app it was
    files, results = migrate_project({"app.py": LOGGED_VIEW_IN_A_TABLE_THAT_STAYS_WSGI})
    after = files["app.py"]
    assert 'ROUTES = {"/": as_wsgi(index), "/other": other}' in after
    assert "index = logged(WsgiToAsgi(_index_wsgi))" in after
    assert "manual" not in {c.kind for c in results["app.py"].changes if "`index`" in c.message}
    requests = [Req("GET", "/"), Req("GET", "/other"), Req("GET", "/"), Req("GET", "/nope")]
    assert_same_behaviour(LOGGED_VIEW_IN_A_TABLE_THAT_STAYS_WSGI, after, requests)
