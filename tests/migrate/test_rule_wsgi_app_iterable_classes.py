"""Rule ``wsgi-app``: PEP 3333 iterable classes.

The class is the app: the server calls it with the environ and start_response, iterates the
instance, then calls its ``close()``. Its ASGI form is still a class, an ASGI 3 app through
its metaclass (``asgi_helpers.AppClass``): ``__iter__`` becomes ``async def respond(self,
scope, receive, send)``, ``close()`` runs once the response went out. A class that cannot be
converted stays WSGI behind the adapter, and still a class (``asgi_helpers.app_class``).
Behaviour: the code before, served as WSGI (wsgiref), and after, served as ASGI (uvicorn and
hypercorn), answer the same requests the same way.
"""

from __future__ import annotations

import inspect

from tests.harness import Req, assert_idempotent, assert_same_behaviour, load_module, migrate_text

GREETER = """
CLOSED = []


class Greeter(object):
    greeting = "Hello"

    def __init__(self, environ, start_response):
        self.environ = environ
        self.start = start_response
        self.sent = 0

    def __iter__(self):
        name = self.environ.get("QUERY_STRING") or "world"
        if name == "nobody":
            self.start("404 Not Found", [("Content-Type", "text/plain")])
            yield b"no one here\\n"
            return
        self.start("200 OK", [("Content-Type", "text/plain"), ("X-Path", self.environ["PATH_INFO"])])
        for part in (self.greeting, ", ", name, "!\\n"):
            self.sent += 1
            yield part.encode("utf-8")

    def close(self):
        CLOSED.append(self.sent)


def closed(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr(CLOSED).encode()]


app = Greeter
"""


def test_an_iterable_class_becomes_a_class_that_is_an_asgi_app() -> None:
    after, changes = migrate_text(GREETER)
    assert_idempotent(after)
    assert [c.kind for c in changes] == ["converted", "converted"], changes
    assert "class Greeter(object, metaclass=asgi_helpers.AppClass):" in after
    assert "async def respond(self, scope, receive, send):" in after
    assert "self.start" not in after and "self.environ" not in after
    module = load_module(after)
    assert inspect.isclass(module.app) and module.app.greeting == "Hello"
    requests = [Req("GET", "/hi?ann"), Req("GET", "/hi"), Req("GET", "/x?nobody")]
    assert_same_behaviour(GREETER, after, requests)
    # close() ran after each response, with what the iteration had done
    assert_same_behaviour(GREETER, after, [*requests, Req("GET", "/")], app_name="closed")


KEEPS_ENVIRON = GREETER.replace(
    "    def close(self):\n        CLOSED.append(self.sent)",
    '    def close(self):\n        CLOSED.append(self.environ["PATH_INFO"])',
)


def test_a_class_that_cannot_convert_stays_a_class() -> None:
    after, changes = migrate_text(KEEPS_ENVIRON)
    assert [c.kind for c in changes] == ["adapted", "converted"], changes
    assert "`close()` uses the environ or start_response" in changes[0].message
    assert 'Greeter = asgi_helpers.app_class(WsgiToAsgi(_Greeter_wsgi), "Greeter")' in after
    module = load_module(after)
    assert inspect.isclass(module.Greeter) and inspect.isclass(module.app)
    requests = [Req("GET", "/hi?ann"), Req("GET", "/x?nobody")]
    assert_same_behaviour(KEEPS_ENVIRON, after, requests)
    assert_same_behaviour(KEEPS_ENVIRON, after, [*requests, Req("GET", "/")], app_name="closed")
