"""Resource classes dispatching on the request method: ``handler = getattr(self, verb, None)
if verb in VERBS else None``, then ``handler(environ)``.

The method that looks the handler up is a helper of the app (``self.dispatch(environ,
args)``): it only reads the environ when every method it may find does
(:mod:`migrate.method_lookups`), so the app converts with the helper handed an environ built
from the scope (with the body, for a handler reading it), in the blocking pool. Before, the
app stayed WSGI ("may change or keep it"). Each case serves the module before as WSGI
(wsgiref) and after as ASGI (uvicorn, hypercorn) on the same requests.
"""

from __future__ import annotations

from migrate.runner import migrate_source
from tests.harness import Req, assert_same_behaviour
from tests.migrate.test_blocking import assert_two_requests_meet
from tests.migrate.test_rule_wsgi_app import migrated

TODOS = """
import json
import threading

VERBS = ("get", "post", "delete")
BARRIER = threading.Barrier(2, timeout=10)


class HTTPError(Exception):
    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status
        self.message = message


class Todos(object):
    def __init__(self):
        self.items = {"a": {"title": "a"}}

    def dispatch(self, environ, args):
        verb = environ["REQUEST_METHOD"].lower()
        handler = getattr(self, verb, None) if verb in VERBS else None
        if handler is None:
            raise HTTPError("405 Method Not Allowed", "method not allowed")
        return handler(environ, **args)

    def get(self, environ):
        if environ.get("QUERY_STRING") == "meet":
            BARRIER.wait()
        return "200 OK", {"todos": sorted(self.items)}

    def post(self, environ):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            data = json.loads(environ["wsgi.input"].read(length).decode("utf-8"))
        except ValueError:
            raise HTTPError("400 Bad Request", "malformed JSON")
        self.items[data["title"]] = data
        return "201 Created", data

    def __call__(self, environ, start_response, **args):
        try:
            status, payload = self.dispatch(environ, args)
        except HTTPError as err:
            status, payload = err.status, {"error": err.message}
        body = (json.dumps(payload, sort_keys=True) + "\\n").encode("utf-8")
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


app = Todos()
"""

TODO_REQUESTS = [
    Req("GET", "/"),
    Req("POST", "/", [("Content-Type", "application/json")], b'{"title": "caf\\u00e9"}'),
    Req("POST", "/", [("Content-Type", "application/json")], b'{"title": '),
    Req("GET", "/"),
    Req("PUT", "/", body=b"{}"),
    Req("DELETE", "/"),
]


def test_a_class_dispatching_on_the_method_converts_with_the_body_read_first() -> None:
    after = migrated(TODOS, "converted")
    assert "async def __call__(self, scope, receive, send, **args):" in after
    assert (
        "environ = asgi_helpers.build_environ(scope, await asgi_helpers.read_body(receive))"
        in after
    )
    assert "await run_blocking(self.dispatch, environ, args)" in after
    assert "    def dispatch(self, environ, args):" in after  # the helper stays as it is
    assert_same_behaviour(TODOS, after, TODO_REQUESTS)


def test_the_looked_up_handler_runs_off_the_event_loop() -> None:
    # two requests reach the barrier of `get` together: neither runs on the loop's thread
    after = migrated(TODOS, "converted")
    assert_two_requests_meet(after, "/?meet")


TWO_CLASSES = """
VERBS = ("get",)


class Hello(object):
    def dispatch(self, environ):
        verb = environ["REQUEST_METHOD"].lower()
        handler = getattr(self, verb, None) if verb in VERBS else None
        return handler(environ) if handler is not None else ("405 Method Not Allowed", b"")

    def get(self, environ):
        return "200 OK", ("hello " + environ["PATH_INFO"]).encode()

    def __call__(self, environ, start_response):
        status, body = self.dispatch(environ)
        start_response(status, [("Content-Type", "text/plain")])
        return [body]


class Bye(object):
    def dispatch(self, environ):
        verb = "get"
        handler = getattr(self, verb, None) if verb in ("get", "head") else None
        return handler(environ)

    def get(self, environ):
        return "200 OK", environ.get("HTTP_X_NAME", "bye").encode()

    def __call__(self, environ, start_response):
        status, body = self.dispatch(environ)
        start_response(status, [("Content-Type", "text/plain")])
        return [body]


app = Hello()
bye = Bye()
"""


def test_methods_of_one_name_in_two_classes_read_only_both() -> None:
    # ``self.dispatch`` and ``self.get`` may mean either class's: both only read, so both
    # apps convert (before, a name defined twice was never a reader)
    after = migrated(TWO_CLASSES, "converted", "converted")
    assert after.count("asgi_helpers.build_environ(scope)") == 2
    requests = [Req("GET", "/x"), Req("POST", "/y"), Req("GET", "/z", [("X-Name", "ann")])]
    assert_same_behaviour(TWO_CLASSES, after, requests)
    assert_same_behaviour(TWO_CLASSES, after, requests, app_name="bye")


def test_a_handler_that_writes_the_environ_keeps_the_app_wsgi() -> None:
    source = TODOS.replace(
        '        return "200 OK", {"todos": sorted(self.items)}',
        '        environ["todos.seen"] = True\n'
        '        return "200 OK", {"todos": sorted(self.items)}',
    )
    assert source != TODOS
    after = migrated(source, "adapted")
    assert "it hands the environ to `self.dispatch()`, which may change or keep it" in after


def test_a_set_of_names_made_at_run_time_or_an_attribute_set_keeps_the_app_wsgi() -> None:
    # the names must be a literal: a set the instance holds may grow
    grown = TODOS.replace("if verb in VERBS else None", "if verb in self.verbs else None")
    assert grown != TODOS
    assert "may change or keep it" in migrated(grown, "adapted")
    # an attribute of a looked-up name set anywhere is found before the method
    shadowed = TODOS.replace(
        'self.items = {"a": {"title": "a"}}',
        'self.items = {"a": {"title": "a"}}\n        self.delete = lambda env: env.clear()',
    )
    assert shadowed != TODOS
    assert "may change or keep it" in migrated(shadowed, "adapted")
    # the handler bound again (a loop over other callables), or the set hidden by a local
    rebound = TODOS.replace(
        "        return handler(environ, **args)",
        "        for handler in (lambda env: env.clear(),):\n"
        "            pass\n"
        "        return handler(environ, **args)",
    )
    assert rebound != TODOS
    assert "may change or keep it" in migrated(rebound, "adapted")
    hidden = TODOS.replace(
        '        verb = environ["REQUEST_METHOD"].lower()',
        '        verb = environ["REQUEST_METHOD"].lower()\n        VERBS = self.__dict__',
    )
    assert hidden != TODOS
    assert "may change or keep it" in migrated(hidden, "adapted")


RESOURCES = """
import json

VERBS = ("get", "put")


class Resource(object):
    def dispatch(self, environ, args):
        verb = environ["REQUEST_METHOD"].lower()
        handler = getattr(self, verb, None) if verb in VERBS else None
        if handler is None:
            return "405 Method Not Allowed", {"allow": [v for v in VERBS if hasattr(self, v)]}
        return handler(environ, **args)

    def __call__(self, environ, start_response, **args):
        status, payload = self.dispatch(environ, args)
        body = json.dumps(payload, sort_keys=True).encode("utf-8")
        start_response(status, [("Content-Type", "application/json")])
        return [body]


class Store(Resource):
    def __init__(self, items):
        self.items = items

    def get(self, environ, **matched):
        return "200 OK", {"items": sorted(self.items), "matched": matched}


class EditableStore(Store):
    def put(self, environ):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        key = environ["wsgi.input"].read(length).decode("utf-8")
        self.items[key] = True
        return "201 Created", {"count": len(self.items)}


app = EditableStore({"a": True})
"""


def test_subclasses_of_an_app_class_that_change_nothing_of_it_serve_its_converted_path() -> None:
    # the subclasses add the handlers ``Resource.dispatch`` looks up; the app is an
    # instance of one: the class converts, and the subclasses' instances with it (before,
    # the subclasses were uses the rule could not follow, and ``app`` was adapted)
    after = migrated(RESOURCES, "converted")
    assert "    async def __call__(self, scope, receive, send, **args):" in after
    assert "app = EditableStore(" in after and "WsgiToAsgi" not in after
    requests = [Req("GET", "/"), Req("PUT", "/", body=b"b"), Req("GET", "/"), Req("POST", "/")]
    assert_same_behaviour(RESOURCES, after, requests)


def test_a_subclass_overriding_the_app_class_keeps_it_wsgi() -> None:
    overriding = RESOURCES.replace(
        "class EditableStore(Store):\n",
        "class EditableStore(Store):\n"
        "    def dispatch(self, environ, args):\n"
        "        return Store.dispatch(self, environ, args)\n\n",
    )
    assert overriding != RESOURCES
    # the class stays WSGI, and the instance the module serves goes through the adapter
    result = migrate_source(overriding)
    assert [(c.rule, c.kind) for c in result.changes] == [("served-app", "adapted")]
    assert "app = WsgiToAsgi(app)" in result.new_source
    assert "    def __call__(self, environ, start_response, **args):" in result.new_source
    assert_same_behaviour(
        overriding, result.new_source, [Req("GET", "/"), Req("PUT", "/", body=b"b")]
    )
