"""Rule ``wsgi-app``, routes registered at import: a dispatching class whose instance the
module hands its views by calling a method (``app.add("/about", about)``) or decorating them
(``@app.route("/")``) converts with those views, when every registration is a statement of
the module's top level naming one of its function apps (``migrate/registered_routes.py``).

Behaviour: the code before, served as WSGI (wsgiref), and after, served as ASGI (uvicorn and
hypercorn), answer the same requests the same way; every case is also run twice.
"""

from __future__ import annotations

import pytest

from migrate.runner import migrate_source
from tests.harness import Req, assert_idempotent, assert_same_behaviour, migrate_text
from tests.migrate.test_rule_wsgi_app_modules import migrate_project

MICRO_FRAMEWORK = """
import json
import re


def json_response(start_response, status, payload):
    body = json.dumps(payload, sort_keys=True).encode()
    start_response(status, [("Content-Type", "application/json")])
    return [body]


class App:
    def __init__(self):
        self.routes = []

    def add(self, pattern, view, methods=("GET",)):
        self.routes.append((re.compile("^%s$" % pattern), view, methods))

    def route(self, pattern, methods=("GET",)):
        def register(view):
            self.routes.append((re.compile("^%s$" % pattern), view, methods))
            return view
        return register

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        for regex, view, methods in self.routes:
            match = regex.match(path)
            if match is None:
                continue
            if environ["REQUEST_METHOD"] not in methods:
                return json_response(start_response, "405 Method Not Allowed", {"allowed": list(methods)})
            environ["app.args"] = match.groupdict()
            return view(environ, start_response)
        return json_response(start_response, "404 Not Found", {"path": path})


app = App()


@app.route("/")
def index(environ, start_response):
    return json_response(start_response, "200 OK", {"hello": "world"})


@app.route("/items/(?P<name>[a-z]+)", methods=("GET", "POST"))
def item(environ, start_response):
    name = environ["app.args"]["name"]
    return json_response(start_response, "200 OK", {"item": name, "method": environ["REQUEST_METHOD"]})


def about(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"about"]


app.add("/about", about)
"""

REQUESTS = [
    Req("GET", "/"),
    Req("GET", "/items/pear"),
    Req("POST", "/items/fig"),
    Req("DELETE", "/items/fig"),
    Req("GET", "/about"),
    Req("GET", "/missing"),
]


def test_views_registered_at_import_convert_with_the_class_they_are_registered_with() -> None:
    after, changes = migrate_text(MICRO_FRAMEWORK)
    assert_idempotent(after)
    assert [c.kind for c in changes] == ["converted"] * 5, changes
    assert '@app.route("/")\nasync def index(scope, receive, send):' in after
    assert "return await view(scope, receive, send)" in after
    # the rows are compiled patterns: matching them stays on the loop
    assert "run_blocking" not in after
    assert_same_behaviour(MICRO_FRAMEWORK, after, REQUESTS)


@pytest.mark.parametrize(
    "change",
    [
        # a view registered at run time, out of sight of the rule
        ('app.add("/about", about)', 'def late():\n    app.add("/about", about)\n\n\nlate()'),
        # a registration of what the module does not define as an app
        ('app.add("/about", about)', 'app.add("/about", about)\napp.add("/len", len)'),
        # the rows read from outside the class
        ('app.add("/about", about)', 'app.add("/about", about)\nCOUNT = len(app.routes)'),
        # a registering method that does more than register
        (
            '        self.routes.append((re.compile("^%s$" % pattern), view, methods))\n\n    def route',
            '        self.routes.append((re.compile("^%s$" % pattern), view, methods))\n'
            "        print(pattern)\n\n    def route",
        ),
    ],
)
def test_routes_registered_where_the_rule_cannot_follow_keep_everything_wsgi(
    change: tuple[str, str],
) -> None:
    before = MICRO_FRAMEWORK.replace(*change)
    assert before != MICRO_FRAMEWORK
    # every rule: the module's app is then served through the adapter
    files, results = migrate_project({"app.py": before})
    changes = results["app.py"].changes
    assert not [c for c in changes if c.kind == "converted"], changes
    assert "    def __call__(self, environ, start_response):" in files["app.py"]
    assert_same_behaviour(before, files["app.py"], REQUESTS)


SCOREBOARD = """
class App:
    def __init__(self):
        self.routes = {}

    def route(self, path):
        def register(handler):
            self.routes[path] = handler
            return handler
        return register

    def __call__(self, environ, start_response):
        handler = self.routes.get(environ.get("PATH_INFO") or "/")
        if handler is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such page"]
        return handler(environ, start_response)


app = App()


@app.route("/")
def index(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [b"<h1>Scoreboard</h1>"]


@app.route("/match")
def match(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("match for %s" % environ.get("QUERY_STRING", "")).encode()]
"""


def test_views_registered_in_a_dict_convert_with_the_class_looking_them_up() -> None:
    after, changes = migrate_text(SCOREBOARD)
    assert_idempotent(after)
    assert [c.kind for c in changes] == ["converted"] * 3, changes
    assert "        return await handler(scope, receive, send)" in after
    requests = [Req("GET", "/"), Req("GET", "/match?id=7"), Req("GET", "/elsewhere")]
    assert_same_behaviour(SCOREBOARD, after, requests)


@pytest.mark.parametrize(
    "change",
    [
        # a default the registrations do not know of
        (
            'self.routes.get(environ.get("PATH_INFO") or "/")',
            'self.routes.get(environ.get("PATH_INFO") or "/", fallback)',
        ),
        # the dict filled from outside the class
        ("app = App()\n", "app = App()\napp.routes['/x'] = len\n"),
    ],
)
def test_a_dict_of_views_the_rule_cannot_follow_keeps_everything_wsgi(
    change: tuple[str, str],
) -> None:
    before = SCOREBOARD.replace(*change)
    assert before != SCOREBOARD
    if "fallback" in before:
        before += "\n\ndef fallback(environ, start_response):\n    start_response('200 OK', [])\n    return [b'?']\n"
    files, results = migrate_project({"app.py": before})
    assert not [c for c in results["app.py"].changes if c.kind == "converted"], results
    assert "    def __call__(self, environ, start_response):" in files["app.py"]
    assert_same_behaviour(before, files["app.py"], [Req("GET", "/"), Req("GET", "/elsewhere")])


RESOURCE_INSTANCES = """
import re


class Page(object):
    def __init__(self, text):
        self.text = text

    def __call__(self, environ, start_response, **args):
        body = ("%s %s %s" % (self.text, environ["PATH_INFO"], sorted(args.items()))).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]


class Shouting(Page):
    def loud(self):
        return self.text.upper()


def missing(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no route"]


class Api(object):
    def __init__(self):
        self.routes = []

    def add(self, pattern, resource):
        self.routes.append((re.compile("^%s$" % pattern), resource))

    def __call__(self, environ, start_response):
        for regex, resource in self.routes:
            m = regex.match(environ.get("PATH_INFO", ""))
            if m:
                return resource(environ, start_response, **m.groupdict())
        return missing(environ, start_response)


app = Api()
app.add("/", Page("home"))
app.add(r"/items/(?P<item>\\w+)", Shouting("item"))
"""


def test_new_instances_of_app_classes_registered_at_import_convert_with_the_router() -> None:
    # the resources are instances made in the registrations, of an app class and of a
    # subclass adding a method: the classes convert with the router, which hands them what
    # it matched (before, the app classes were used where the rule could not follow)
    after, changes = migrate_text(RESOURCE_INSTANCES)
    assert [c.kind for c in changes] == ["converted"] * 3, changes
    assert "    async def __call__(self, scope, receive, send, **args):" in after
    assert "return await resource(scope, receive, send, **m.groupdict())" in after
    assert 'app.add("/", Page("home"))' in after
    assert_idempotent(after)
    requests = [Req("GET", "/"), Req("GET", "/items/abc"), Req("GET", "/nowhere")]
    assert_same_behaviour(RESOURCE_INSTANCES, after, requests)


def test_an_app_class_also_held_by_a_name_keeps_the_routes_wsgi() -> None:
    # ``about`` is served too (as an instance of a class the routes hold): the whole run
    # keeps the router WSGI behind the adapter, every name still serving
    held = RESOURCE_INSTANCES + 'about = Page("about")\n'
    result = migrate_source(held)
    assert "async def __call__(self, scope, receive, send):" not in result.new_source
    assert "app = WsgiToAsgi(app)" in result.new_source
    assert_same_behaviour(held, result.new_source, [Req("GET", "/"), Req("GET", "/items/x")])
    assert_same_behaviour(held, result.new_source, [Req("GET", "/a")], app_name="about")
