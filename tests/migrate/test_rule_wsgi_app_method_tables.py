"""An app class dispatching through a table of its own bound methods, made once by
``__init__``: ``self.routes = {"/": self.index, ...}`` looked up with ``self.routes.get(path,
self.not_found)``, or ``self.routes = [("/", self.home), ...]`` looped over with ``for path,
method in self.routes``; ``return handler(environ, start_response)``.

The usual first step from one function to a home-made framework. Before, the handler was
"other code" and the class was served through the adapter; the methods in the table are the
class's own, so they convert with it (``return await handler(scope, receive, send)``) when
nothing else can put another callable in the table. Each case serves the module before as
WSGI (wsgiref) and after as ASGI (uvicorn, hypercorn) on the same requests.
"""

from __future__ import annotations

import inspect

import pytest

from tests.harness import Req, assert_same_behaviour, load_module
from tests.migrate.test_rule_wsgi_app import migrated

DICT_TABLE = """
import json


class Site:
    def __init__(self, title):
        self.title = title
        self.routes = {
            "/": self.index,
            "/about": self.about,
            "/api/info": self.info,
        }

    def __call__(self, environ, start_response):
        handler = self.routes.get(environ.get("PATH_INFO", "/"), self.not_found)
        return handler(environ, start_response)

    def index(self, environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [("<h1>%s</h1>" % self.title).encode()]

    def about(self, environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"about ", environ.get("QUERY_STRING", "").encode()]

    def info(self, environ, start_response):
        body = json.dumps({"method": environ["REQUEST_METHOD"]}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    def not_found(self, environ, start_response):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no page at " + environ["PATH_INFO"].encode()]


app = Site("Welcome")
"""

REQUESTS = [
    Req("GET", "/"),
    Req("GET", "/about?v=2"),
    Req("POST", "/api/info", body=b"x"),
    Req("GET", "/missing"),
]


def test_a_dict_of_bound_methods_looked_up_with_a_default_converts() -> None:
    after = migrated(DICT_TABLE, "converted")
    site = type(load_module(after).app)
    for name in ("__call__", "index", "about", "info", "not_found"):
        assert inspect.iscoroutinefunction(getattr(site, name)), name
    assert "return await handler(scope, receive, send)" in after
    assert_same_behaviour(DICT_TABLE, after, REQUESTS)


ROWS_TABLE = """
import re


class Router:
    def __init__(self):
        self.urls = (
            (re.compile(r"^/$"), "home", self.home),
            (re.compile(r"^/items/(\\d+)$"), "item", self.item),
        )

    def home(self, environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"home"]

    def item(self, environ, start_response):
        number = environ["PATH_INFO"].rsplit("/", 1)[1]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("item %s" % number).encode()]

    def not_found(self, environ, start_response):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    def __call__(self, environ, start_response):
        for pattern, name, view in self.urls:
            if pattern.match(environ["PATH_INFO"]):
                return view(environ, start_response)
        return self.not_found(environ, start_response)


app = Router()
"""


def test_rows_holding_bound_methods_looped_over_convert() -> None:
    after = migrated(ROWS_TABLE, "converted")
    assert "return await view(scope, receive, send)" in after
    requests = [Req("GET", "/"), Req("GET", "/items/42"), Req("GET", "/items/x")]
    assert_same_behaviour(ROWS_TABLE, after, requests)


LEGACY = """

def legacy(environ, start_response):
    start_response("410 Gone", [("Content-Type", "text/plain")])
    return [b"gone"]
"""


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # another method adds to the table: it may hold any WSGI app then
        (
            "    def index(",
            "    def add(self, path, view):\n        self.routes[path] = view\n\n    def index(",
        ),
        # the instance's own attribute of a method's name goes into the table instead
        (
            "        self.routes = {",
            "        if not title:\n            self.index = self.about\n        self.routes = {",
        ),
    ],
    ids=["table changed by a method", "method name set on the instance"],
)
def test_a_table_other_code_may_change_keeps_the_class_wsgi(old: str, new: str) -> None:
    before = DICT_TABLE.replace(old, new, 1)
    after = migrated(before, "adapted")
    assert "app = WsgiToAsgi(Site(" in after
    assert_same_behaviour(before, after, REQUESTS[:2])


def test_a_handler_local_bound_again_keeps_the_class_wsgi() -> None:
    before = (
        DICT_TABLE.replace(
            '        handler = self.routes.get(environ.get("PATH_INFO", "/"), self.not_found)\n',
            '        handler = self.routes.get(environ.get("PATH_INFO", "/"))\n'
            "        if handler is None:\n"
            "            handler = legacy\n",
        )
        + LEGACY
    )
    after = migrated(before, "adapted", "manual")
    assert "app = WsgiToAsgi(Site(" in after
    assert_same_behaviour(before, after, [Req("GET", "/"), Req("GET", "/missing")])


def test_a_handler_kept_elsewhere_keeps_the_class_wsgi() -> None:
    # stored, the handler could be called from there as the WSGI app it was
    before = DICT_TABLE.replace(
        "        return handler(environ, start_response)\n",
        "        SEEN.append(handler)\n        return handler(environ, start_response)\n",
    ).replace("\n\nclass Site:", "\nSEEN = []\n\n\nclass Site:")
    after = migrated(before, "adapted")
    assert "app = WsgiToAsgi(Site(" in after
    assert_same_behaviour(before, after, REQUESTS[:2])
