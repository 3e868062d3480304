"""Response methods handing the response on to one another: ``__call__`` returns
``self._not_found(start_response)``, which returns ``self._json(start_response, "404 Not
Found", ...)``, the one method calling ``start_response``.

The common shape of a small API class (one method per error page, all built on one JSON
writer). Before, only a method calling ``start_response`` itself was followed: such a class was
no app at all to the wsgi-app rule (nothing said, the module's app left WSGI), and a
middleware class written so was served through the adapter. Each case serves the module before
as WSGI (wsgiref) and after as ASGI (uvicorn, hypercorn) on the same requests.
"""

from __future__ import annotations

import inspect

from tests.harness import Req, assert_same_behaviour, load_module
from tests.migrate.test_rule_wsgi_app import migrated
from tests.migrate.test_rule_wsgi_middleware_support import (
    assert_pipeline_idempotent,
    migrate_module,
)

API = """
import json


class TodoApi:
    def __init__(self, todos):
        self.todos = dict(todos)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path == "/todos":
            if method != "GET":
                return self._method_not_allowed(start_response, ["GET"])
            return self._send_json(start_response, "200 OK", sorted(self.todos))
        if path.startswith("/todos/"):
            todo = self.todos.get(path[len("/todos/"):])
            if todo is None:
                return self._not_found(start_response)
            return self._send_json(start_response, "200 OK", {"title": todo})
        return self._not_found(start_response)

    def _send_json(self, start_response, status, payload, extra_headers=None):
        body = json.dumps(payload).encode("utf-8")
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if extra_headers:
            headers.extend(extra_headers)
        start_response(status, headers)
        return [body]

    def _error(self, start_response, status, detail, extra_headers=None):
        # one more step: the error pages share their shape
        return self._send_json(start_response, status, {"detail": detail}, extra_headers)

    def _not_found(self, start_response):
        return self._error(start_response, "404 Not Found", "Not Found")

    def _method_not_allowed(self, start_response, allowed):
        return self._error(
            start_response,
            "405 Method Not Allowed",
            "Method Not Allowed",
            extra_headers=[("Allow", ", ".join(allowed))],
        )


app = TodoApi({"1": "write tests", "2": "ship"})
"""

API_REQUESTS = [
    Req("GET", "/todos"),
    Req("GET", "/todos/2"),
    Req("GET", "/todos/9"),
    Req("POST", "/todos", body=b"{}"),
    Req("GET", "/elsewhere"),
]


def test_a_class_answering_through_a_chain_of_response_methods_converts() -> None:
    after = migrated(API, "converted")
    app = load_module(after).app
    assert inspect.iscoroutinefunction(type(app).__call__)
    for method in ("_send_json", "_error", "_not_found", "_method_not_allowed"):
        assert inspect.iscoroutinefunction(getattr(type(app), method)), method
    assert 'return await self._error(send, "404 Not Found", "Not Found")' in after
    assert_same_behaviour(API, after, API_REQUESTS)


STATIC_WRITER = """
class Greeter:
    def __call__(self, environ, start_response):
        name = environ.get("QUERY_STRING", "")
        if not name:
            return self._bad_request(start_response)
        return self._text(start_response, "200 OK", "hello " + name)

    def _bad_request(self, start_response):
        return self._text(start_response, "400 Bad Request", "say who")

    @staticmethod
    def _text(start_response, status, text):
        body = text.encode()
        start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]


app = Greeter()
"""


def test_the_chain_may_end_in_a_static_method() -> None:
    after = migrated(STATIC_WRITER, "converted")
    assert "async def _text(send, status, text):" in after
    assert_same_behaviour(STATIC_WRITER, after, [Req("GET", "/?ada"), Req("GET", "/")])


KEPT_RESULT = """
LOG = []


class Greeter:
    def __call__(self, environ, start_response):
        if environ.get("QUERY_STRING"):
            return self._text(start_response, "200 OK", "hello")
        return self._bad_request(start_response)

    def _bad_request(self, start_response):
        # the WSGI response is kept and the code goes on: no hand-off the rule follows
        page = self._text(start_response, "400 Bad Request", "say who")
        LOG.append("bad request")
        return page

    def _text(self, start_response, status, text):
        start_response(status, [("Content-Type", "text/plain")])
        return [text.encode()]


app = Greeter()
"""


def test_a_link_of_the_chain_that_keeps_the_response_keeps_the_class_wsgi() -> None:
    after = migrated(KEPT_RESULT, "adapted")
    assert "app = WsgiToAsgi(Greeter())" in after
    assert "`_bad_request()`, which it hands the response to" in after
    assert_same_behaviour(KEPT_RESULT, after, [Req("GET", "/?x"), Req("GET", "/")])


MIDDLEWARE = """
import json


class RequireKey:
    def __init__(self, app, keys):
        self.app = app
        self.keys = frozenset(keys)

    def __call__(self, environ, start_response):
        key = environ.get("HTTP_X_API_KEY")
        if key is None:
            return self._unauthorized(start_response, "missing key")
        if key not in self.keys:
            return self._forbidden(start_response)
        return self.app(environ, start_response)

    def _problem(self, start_response, status, message):
        body = json.dumps({"error": message}).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def _unauthorized(self, start_response, message):
        return self._problem(start_response, "401 Unauthorized", message)

    def _forbidden(self, start_response):
        return self._problem(start_response, "403 Forbidden", "unknown key")


def inner(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"secret " + environ["PATH_INFO"].encode()]


app = RequireKey(inner, ["k1"])
"""


def test_middleware_answering_through_a_chain_converts() -> None:
    after, changes = migrate_module(MIDDLEWARE)
    assert [(c.rule, c.kind) for c in changes] == [
        ("wsgi-middleware", "converted"),
        ("wsgi-app", "converted"),
    ], changes
    assert_pipeline_idempotent(after)
    module = load_module(after)
    assert inspect.isclass(module.RequireKey)
    assert inspect.iscoroutinefunction(module.RequireKey._unauthorized)
    requests = [
        Req("GET", "/a", headers=[("X-Api-Key", "k1")]),
        Req("GET", "/b", headers=[("X-Api-Key", "nope")]),
        Req("GET", "/c"),
    ]
    assert_same_behaviour(MIDDLEWARE, after, requests)
