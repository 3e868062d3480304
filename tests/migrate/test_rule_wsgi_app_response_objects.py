"""Rule ``wsgi-app``: response objects and request objects of the module.

WSGI code in the style of WebOb keeps the protocol in two small classes: a ``Response``
whose ``__call__(environ, start_response)`` answers (often through a ``start()`` method that
only calls ``start_response``), made by the views and returned up to the app, and a
``Request(environ)`` that keeps the environ and reads it lazily. The app class converts
with the apps that serve its instances (``return view(req)(environ, start_response)``,
``response = route(req); return response(environ, start_response)``), when every instance
made in the module goes where the rule can follow it; a class that keeps an environ and
only reads it is handed one built from the scope. Behaviour: the code before, served as
WSGI (wsgiref), and after, served as ASGI (uvicorn and hypercorn), answer the same requests
the same way; every case is also run twice.
"""

from __future__ import annotations

import concurrent.futures
import inspect

import httpx
import pytest

from tests.harness import (
    Req,
    assert_idempotent,
    assert_same_behaviour,
    load_module,
    migrate_project_twice,
    migrate_text,
)
from tests.servers import serve_asgi

SHOP = """
import json
import threading
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

REASONS = {200: "OK", 201: "Created", 303: "See Other", 404: "Not Found", 304: "Not Modified"}
BASKETS = {}
MEETING = threading.Barrier(2, timeout=10)


class Request(object):
    def __init__(self, environ):
        self.environ = environ
        self.path = environ.get("PATH_INFO") or "/"
        self.query = parse_qs(environ.get("QUERY_STRING", ""))
        self._form = None

    @property
    def form(self):
        if self._form is None:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
            raw = self.environ["wsgi.input"].read(length) if length else b""
            self._form = parse_qs(raw.decode("utf-8"))
        return self._form

    def cookie(self, name):
        jar = SimpleCookie(self.environ.get("HTTP_COOKIE", ""))
        return jar[name].value if name in jar else None


class Response(object):
    def __init__(self, text="", code=200, headers=(), kind="text/plain"):
        self.body = text.encode("utf-8")
        self.code = code
        self.headers = list(headers)
        self.kind = kind

    @classmethod
    def as_json(cls, data, code=200):
        return cls(json.dumps(data, sort_keys=True), code, kind="application/json")

    @classmethod
    def see_other(cls, where):
        return cls("", 303, [("Location", where)])

    def header_list(self):
        found = [("Content-Type", self.kind + "; charset=utf-8")] if self.code != 304 else []
        return found + self.headers + [("Content-Length", str(len(self.body)))]

    def start(self, start_response):
        start_response("%d %s" % (self.code, REASONS[self.code]), self.header_list())

    def __call__(self, environ, start_response):
        self.start(start_response)
        if environ["REQUEST_METHOD"] == "HEAD" or self.code == 304:
            return []
        return [self.body]


def show(req, who):
    basket = BASKETS.get(who, [])
    if req.environ.get("HTTP_IF_NONE_MATCH") == '"%d"' % len(basket):
        return Response(code=304)
    reply = Response.as_json({"who": who, "items": basket})
    reply.headers.append(("ETag", '"%d"' % len(basket)))
    return reply


def add(req, who):
    item = req.form.get("item", [""])[0]
    if not item:
        return Response.as_json({"error": "no item"}, 404)
    BASKETS.setdefault(who, []).append(item)
    return Response.see_other("/basket")


def route(req):
    who = req.cookie("who") or req.query.get("who", ["guest"])[0]
    if req.path == "/meet":
        MEETING.wait()  # two requests at once: the loop must not be held by either
        return Response("met")
    if req.path != "/basket":
        return Response("no page at %s" % req.path, 404)
    if req.environ["REQUEST_METHOD"] == "POST":
        return add(req, who)
    return show(req, who)


def application(environ, start_response):
    response = route(Request(environ))
    return response(environ, start_response)


def robots(environ, start_response):
    return Response("User-agent: *")(environ, start_response)
"""

SHOP_REQUESTS = [
    Req("GET", "/basket"),
    Req(
        "POST",
        "/basket",
        body=b"item=apples",
        headers=[("Content-Type", "application/x-www-form-urlencoded")],
    ),
    Req(
        "POST",
        "/basket?who=ann",
        body=b"item=pears&item=figs",
        headers=[("Content-Type", "application/x-www-form-urlencoded")],
    ),
    Req("POST", "/basket", body=b"", headers=[("Cookie", "who=ann")]),
    Req("GET", "/basket", headers=[("Cookie", "who=ann")]),
    Req("GET", "/basket?who=ann", headers=[("If-None-Match", '"1"')]),
    Req("HEAD", "/basket"),
    Req("GET", "/elsewhere"),
]


def test_response_objects_convert_with_the_apps_serving_them() -> None:
    after, changes = migrate_text(SHOP)
    assert_idempotent(after)
    assert sorted(c.kind for c in changes) == ["converted"] * 3, changes
    assert "start_response" not in after
    assert "async def start(self, send):" in after
    assert "await self.start(send)" in after
    assert "return await response(scope, asgi_helpers.replay_body(" in after
    assert 'return await Response("User-agent: *")(scope, receive, send)' in after
    # the views stay as they were: they make response objects, and never block
    assert "def route(req):" in after and "def show(req, who):" in after
    module = load_module(after)
    assert inspect.isclass(module.Response) and inspect.isclass(module.Request)
    assert inspect.iscoroutinefunction(module.Response.__call__)
    assert_same_behaviour(SHOP, after, SHOP_REQUESTS, app_name="application")
    assert_same_behaviour(SHOP, after, [Req("GET", "/")], app_name="robots")


def test_a_view_that_blocks_runs_off_the_loop() -> None:
    after, _ = migrate_text(SHOP)
    assert "await run_blocking(route, Request(environ))" in after
    module = load_module(after)
    with serve_asgi(module.application) as url:

        def meet() -> str:
            return httpx.get(url + "/meet", timeout=30).text

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            assert list(pool.map(lambda _: meet(), range(2))) == ["met", "met"]


NO_BLOCKING = SHOP.replace("        MEETING.wait()  # two requests", "        pass  # two requests")


def test_views_that_do_not_block_stay_on_the_loop() -> None:
    # ``req`` is a Request in every call of route, show and add: their calls of its methods
    # are the module's own code, which does not block
    after, _ = migrate_text(NO_BLOCKING)
    assert "    response = route(Request(environ))\n" in after
    assert "run_blocking" not in after
    assert_same_behaviour(NO_BLOCKING, after, SHOP_REQUESTS, app_name="application")


ESCAPING = SHOP.replace(
    "def route(req):\n",
    "LAST = []\n\n\ndef route(req):\n    LAST.append(Response('kept'))\n",
)


def test_an_instance_kept_out_of_sight_keeps_the_class_wsgi() -> None:
    after, changes = migrate_text(ESCAPING)
    assert "def __call__(self, environ, start_response):" in after
    assert all(c.kind != "converted" for c in changes if "Response" in c.message), changes
    assert any("`Response` is also used at line" in c.message for c in changes), changes
    assert_same_behaviour(ESCAPING, after, SHOP_REQUESTS[:2], app_name="application")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # a subclass could answer otherwise
        ("def show(req, who):", "class Plain(Response):\n    pass\n\n\ndef show(req, who):"),
        # a method hands the instance out
        (
            "    def header_list(self):",
            "    def chained(self):\n        return self\n\n    def header_list(self):",
        ),
        # an instance handed to other code
        ("    return reply\n", "    print(reply)\n    return reply\n"),
        # the class used as a value
        ("def route(req):\n", "KINDS = [Response]\n\n\ndef route(req):\n"),
    ],
)
def test_a_response_class_used_out_of_sight_stays_wsgi(old: str, new: str) -> None:
    before = SHOP.replace(old, new, 1)
    assert before != SHOP
    after, changes = migrate_text(before)
    assert "def __call__(self, environ, start_response):" in after
    assert not any("`Response` converted" in c.message for c in changes), changes
    assert_same_behaviour(before, after, SHOP_REQUESTS[:2], app_name="application")


FAILING_AFTER_START = SHOP.replace(
    '        if environ["REQUEST_METHOD"] == "HEAD" or self.code == 304:',
    '        if environ["REQUEST_METHOD"] == "HEAD" or self.check(environ):',
).replace(
    "    def start(self, start_response):",
    "    def check(self, environ):\n"
    '        return 1 / len(environ.get("QUERY_STRING", "x")) == 304\n\n'
    "    def start(self, start_response):",
)


def test_code_that_may_fail_between_the_start_and_the_body_keeps_it_wsgi() -> None:
    # under WSGI a failure there is still the server's 500 (the start is not out yet); an
    # ASGI start already sent cannot be taken back
    after, changes = migrate_text(FAILING_AFTER_START)
    assert "def __call__(self, environ, start_response):" in after
    assert any("may fail" in c.message for c in changes), changes
    requests = [Req("GET", "/basket?who=x"), Req("GET", "/basket")]
    assert_same_behaviour(FAILING_AFTER_START, after, requests, app_name="application")


WRITING_REQUEST = SHOP.replace(
    "        self._form = None\n",
    '        self._form = None\n        environ["shop.seen"] = True\n',
)


def test_a_request_class_that_writes_the_environ_is_not_handed_a_copy() -> None:
    after, changes = migrate_text(WRITING_REQUEST)
    assert "response = route(Request(environ))\n    return response(environ" in after
    assert not any(c.kind == "converted" for c in changes), changes
    assert_same_behaviour(WRITING_REQUEST, after, SHOP_REQUESTS[:3], app_name="application")


PAGE = """
class Page:
    def __init__(self, text):
        self.text = text

    def headers(self):
        return [("Content-Type", "text/plain"), ("Content-Length", str(len(self.text)))]

    def begin(self, start_response):
        start_response("200 OK", self.headers())

    def __call__(self, environ, start_response):
        self.begin(start_response)
        if environ["REQUEST_METHOD"] == "HEAD":
            return []
        return [self.text]


app = Page(b"hello")
"""


def test_an_app_class_whose_start_comes_from_another_method_is_found() -> None:
    after, changes = migrate_text(PAGE)
    assert_idempotent(after)
    assert [c.kind for c in changes] == ["converted"], changes
    assert "async def begin(self, send):" in after
    assert_same_behaviour(PAGE, after, [Req("GET", "/"), Req("HEAD", "/")])


WEB = """
class Page(object):
    def __init__(self, text):
        self.text = text

    def __call__(self, environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [self.text.encode()]


def page(text):
    return Page(text)


def app(environ, start_response):
    return page("home")(environ, start_response)
"""


@pytest.mark.parametrize(
    "other",
    [
        "from web import Page\n\n\ndef legacy(environ, start_response):\n"
        '    return Page("old")(environ, start_response)\n',
        "from web import page\n\n\ndef legacy(environ, start_response):\n"
        '    response = page("old")\n    return response(environ, start_response)\n',
    ],
)
def test_instances_another_module_serves_the_wsgi_way_keep_the_class_wsgi(other: str) -> None:
    after, results = migrate_project_twice({"web.py": WEB, "other.py": other})
    assert "def __call__(self, environ, start_response):" in after["web.py"]
    assert not any(c.kind == "converted" for c in results["web.py"].changes)
    assert any("served the WSGI way by other.py" in c.message for c in results["web.py"].changes)
    alone, _ = migrate_project_twice({"web.py": WEB})
    assert "async def __call__(self, scope, receive, send):" in alone["web.py"]
