"""WSGI apps taking more than the request: ``def application(environ, start_response,
memcache_client=None)``, ``__call__(self, environ, start_response, **kwargs)``.

A server calls them with the request only, so they are apps: before, the rules took only
``def app(environ, start_response)`` for one, and a module serving such an app kept it WSGI
with no word (``uvicorn module:app`` then failed). Each case serves the module before as WSGI
(wsgiref) and after as ASGI (uvicorn, hypercorn) on the same requests; what follows the
request in the signature is kept, so code calling the app with more still can.
"""

from __future__ import annotations

import inspect
import textwrap

from migrate.runner import migrate_source
from tests.harness import Req, assert_same_behaviour, load_module
from tests.migrate.test_rule_wsgi_app import migrated

FUNCTIONS = """
def application(environ, start_response, memcache_client=None, *, observer=None):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr((environ["PATH_INFO"], memcache_client, observer)).encode()]


def routed(environ, start_response, **route_args):
    body = ("args: %r" % sorted(route_args.items())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def listed(environ, start_response, *extra):
    start_response("202 Accepted", [("Content-Type", "text/plain")])
    return [b"extra: %d" % len(extra)]


def app(environ, start_response):
    if environ["PATH_INFO"] == "/routed":
        return routed(environ, start_response, sku="a1")
    if environ["PATH_INFO"] == "/listed":
        return listed(environ, start_response)
    return application(environ, start_response, memcache_client="mc")
"""


def test_function_apps_with_optional_parameters_convert_and_keep_them() -> None:
    after = migrated(FUNCTIONS, *["converted"] * 4)
    module = load_module(after)
    for name in ("application", "routed", "listed", "app"):
        assert inspect.iscoroutinefunction(getattr(module, name)), name
    assert (
        "async def application(scope, receive, send, memcache_client=None, *, observer=None):"
        in after
    )
    assert "async def routed(scope, receive, send, **route_args):" in after
    assert "async def listed(scope, receive, send, *extra):" in after
    requests = [Req("GET", "/"), Req("GET", "/routed"), Req("GET", "/listed")]
    assert_same_behaviour(FUNCTIONS, after, requests)
    assert_same_behaviour(FUNCTIONS, after, [Req("GET", "/x")], app_name="application")
    assert_same_behaviour(FUNCTIONS, after, [Req("GET", "/y")], app_name="routed")


CLASS = """
import json


class Hello(object):
    def __call__(self, environ, start_response, **kwargs):
        if environ["PATH_INFO"] == "/json":
            return self._json(start_response, {"path": environ["PATH_INFO"], "kw": kwargs})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello " + environ.get("QUERY_STRING", "").encode()]

    def _json(self, start_response, data, *extra):
        body = json.dumps(data, sort_keys=True).encode()
        start_response("200 OK", [("Content-Type", "application/json")] + list(extra))
        return [body]


app = Hello()
"""


def test_a_class_app_with_keyword_arguments_converts_with_its_helper() -> None:
    after = migrated(CLASS, "converted")
    assert "async def __call__(self, scope, receive, send, **kwargs):" in after
    assert "async def _json(self, send, data, *extra):" in after
    assert_same_behaviour(CLASS, after, [Req("GET", "/?a=1"), Req("GET", "/json")])


def test_a_parameter_without_default_is_not_an_app() -> None:
    # a server cannot call it: a view of some framework, called with what it needs
    source = textwrap.dedent(
        """
        def view(environ, start_response, data):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [data]
        """
    )
    result = migrate_source(source)
    assert result.new_source == source
    assert not result.changes


def test_helpers_taking_the_environ_and_more_are_not_apps() -> None:
    # werkzeug's wrap_file and Paste's intercept_output: named the WSGI way, the second
    # parameter handed on or called, but no response start of their own
    source = textwrap.dedent(
        """
        from wsgiref.util import FileWrapper


        def wrap_file(environ, file, buffer_size=8192):
            return environ.get("wsgi.file_wrapper", FileWrapper)(file, buffer_size)


        def intercept_output(environ, application, conditional=None, start_response=None):
            captured = []

            def replacement_start_response(status, headers, exc_info=None):
                captured[:] = [status, headers]

            body = b"".join(application(environ, replacement_start_response))
            return captured[0], captured[1], body
        """
    )
    result = migrate_source(source)
    assert result.new_source == source
    assert not result.changes


UNCONVERTED = """
class Tagged(object):
    def __call__(self, environ, start_response, **kwargs):
        headers = [("Content-Type", "text/plain")]
        self.environ = environ  # kept: the rule does not convert this app
        start_response("200 OK", headers)
        return [environ["PATH_INFO"].encode()]


app = Tagged()
"""


def test_a_served_app_with_keyword_arguments_the_rules_keep_wsgi_is_adapted() -> None:
    # before, nothing was said and ``app`` stayed WSGI
    result = migrate_source(textwrap.dedent(UNCONVERTED))
    kinds = {(c.rule, c.kind) for c in result.changes}
    assert ("wsgi-app", "adapted") in kinds or ("served-app", "adapted") in kinds, kinds
    module = load_module(result.new_source)
    assert inspect.iscoroutinefunction(type(module.app).__call__) or inspect.iscoroutinefunction(
        module.app.__call__
    )
    assert_same_behaviour(UNCONVERTED, result.new_source, [Req("GET", "/a"), Req("GET", "/b")])


MIDDLEWARE = """
class Log(object):
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response, **kwargs):
        environ["log.seen"] = environ["PATH_INFO"]
        return self.app(environ, start_response)


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello " + environ["log.seen"].encode()]


app = Log(hello)
"""


def test_middleware_taking_keyword_arguments_keeps_its_stack_wsgi_behind_the_adapter() -> None:
    # the middleware rule converts ``__call__(self, environ, start_response)`` only: the app it
    # wraps stays WSGI with it, and the module's ``app`` is served through the adapter (before,
    # ``app`` stayed WSGI)
    result = migrate_source(textwrap.dedent(MIDDLEWARE))
    assert "app = WsgiToAsgi(Log(hello))" in result.new_source
    assert "def hello(environ, start_response):" in result.new_source
    assert_same_behaviour(MIDDLEWARE, result.new_source, [Req("GET", "/a")])
