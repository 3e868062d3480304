"""Rule ``wsgi-middleware``: behaviour is the test.

Each case is a module with a WSGI middleware, a small WSGI app ``inner`` and ``app = Mw(inner)``.
It is migrated by the middleware rule and then the ``wsgi-app`` rule; the module before is
served as WSGI (wsgiref), the module after as ASGI (uvicorn and hypercorn), and the same
requests must get the same status, headers and body. A second run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from migrate.rules.base import Change
from tests.harness import Req, assert_same_behaviour, load_module
from tests.migrate.test_rule_wsgi_middleware_support import (
    assert_pipeline_idempotent,
    migrate_module,
)

INNER = """

def inner(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("boom")
    body = "{} {} {} {}".format(
        environ["REQUEST_METHOD"], environ["SCRIPT_NAME"], environ["PATH_INFO"],
        environ["QUERY_STRING"],
    ).encode("utf-8")
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), ("X-Powered-By", "w")],
    )
    return [body]
"""


# Error middleware guarding both phases of a WSGI response (the call, then the iteration in
# a generator method) with the same page: one try around the ASGI call, the loop's own code
# observing the body in the send wrapper.
CATCHING_ITERATOR = """
import sys


class Mw:
    def __init__(self, app):
        self.app = app
        self.late_errors = 0

    def _page(self, environ, start_response, exc_info):
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")], exc_info)
        return [("failed on %s" % environ["PATH_INFO"]).encode()]

    def __call__(self, environ, start_response):
        try:
            app_iter = self.app(environ, start_response)
        except Exception:
            return self._page(environ, start_response, sys.exc_info())
        return self._guard(environ, start_response, app_iter)

    def _guard(self, environ, start_response, app_iter):
        sent = 0
        try:
            try:
                for chunk in app_iter:
                    sent += len(chunk)
                    yield chunk
            except Exception:
                if sent:
                    self.late_errors += 1
                    raise
                yield from self._page(environ, start_response, sys.exc_info())
        finally:
            if hasattr(app_iter, "close"):
                app_iter.close()
"""

# a generator app: it fails before its first chunk on /late (start_response already
# called), which the error page still replaces, as a WSGI server had sent nothing
STREAMING_INNER = """

def inner(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("boom")
    return stream(environ, start_response)


def stream(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ["PATH_INFO"] == "/late":
        raise KeyError("late")
    for word in ("one ", "two ", environ["PATH_INFO"]):
        yield word.encode()
"""


@dataclass(frozen=True)
class Case:
    source: str
    requests: tuple[Req, ...]
    kind: str = "converted"
    inner: str = INNER
    #: what the wsgi-app rule makes of `inner`
    inner_kind: str = "converted"
    stack: str = "app = Mw(inner)"

    def module(self) -> str:
        return f"{self.source.strip()}\n{self.inner}\n\n{self.stack}\n"


GET = Req("GET", "/hello?x=1")

CASES: dict[str, Case] = {
    "auth 401": Case(
        """
class Mw:
    def __init__(self, app, token="secret"):
        self.app = app
        self.token = token

    def __call__(self, environ, start_response):
        if environ.get("HTTP_AUTHORIZATION") != "Bearer " + self.token:
            start_response("401 Unauthorized", [("Content-Type", "text/plain"),
                                                ("WWW-Authenticate", "Bearer")])
            return [b"who are you?"]
        return self.app(environ, start_response)
""",
        (GET, Req("GET", "/x", headers=[("Authorization", "Bearer secret")])),
    ),
    "api key 403": Case(
        """
def Mw(app, keys=("k1", "k2")):
    def wrapped(environ, start_response):
        key = environ.get("HTTP_X_API_KEY", "")
        if key not in keys:
            start_response("403 Forbidden", [("Content-Type", "application/json")])
            return [b'{"error": "forbidden"}']
        return app(environ, start_response)

    return wrapped
""",
        (
            GET,
            Req("GET", "/a", headers=[("X-API-Key", "k2")]),
            Req("GET", "/a", headers=[("X-API-Key", "no")]),
        ),
    ),
    "cors preflight and headers": Case(
        """
ALLOWED = "https://example.com"


class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        origin = environ.get("HTTP_ORIGIN")
        if environ["REQUEST_METHOD"] == "OPTIONS" and origin:
            start_response("204 No Content", [
                ("Access-Control-Allow-Origin", ALLOWED),
                ("Access-Control-Allow-Methods", "GET, POST"),
                ("Access-Control-Max-Age", "600"),
            ])
            return [b""]

        def cors_start_response(status, headers, exc_info=None):
            if origin == ALLOWED:
                headers.append(("Access-Control-Allow-Origin", origin))
                headers.append(("Vary", "Origin"))
            return start_response(status, headers, exc_info)

        return self.app(environ, cors_start_response)
""",
        (
            GET,
            Req("OPTIONS", "/api", headers=[("Origin", "https://example.com")]),
            Req("GET", "/api", headers=[("Origin", "https://example.com")]),
            Req("GET", "/api", headers=[("Origin", "https://evil.com")]),
        ),
    ),
    "request id header": Case(
        """
import itertools

_ids = itertools.count(1)


class Mw:
    def __init__(self, app, header="X-Request-Id"):
        self.app = app
        self.header = header

    def __call__(self, environ, start_response):
        request_id = environ.get("HTTP_X_REQUEST_ID") or "req-%d" % next(_ids)

        def start(status, headers, exc_info=None):
            return start_response(status, headers + [(self.header, request_id)], exc_info)

        return self.app(environ, start)
""",
        (GET, Req("GET", "/b", headers=[("X-Request-Id", "abc")]), GET),
    ),
    "security headers append": Case(
        '''
def Mw(app):
    """Adds the headers the security review asked for to every response."""

    def wrapped(environ, start_response):
        def start(status, headers, exc_info=None):
            headers = list(headers) + [
                ("X-Content-Type-Options", "nosniff"),
                ("X-Frame-Options", "DENY"),
                ("Strict-Transport-Security", "max-age=63072000"),
            ]
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wrapped
''',
        (GET, Req("POST", "/p", body=b"x")),
    ),
    "header removal": Case(
        """
class Mw:
    def __init__(self, app, hidden=("x-powered-by", "server")):
        self.app = app
        self.hidden = hidden

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() not in self.hidden]
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
""",
        (GET,),
    ),
    "header replace": Case(
        """
class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            for i, (name, value) in enumerate(headers):
                if name.lower() == "content-type" and value == "text/plain":
                    headers[i] = (name, "text/plain; charset=utf-8")
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
""",
        (GET,),
    ),
    "status capture for logging": Case(
        """
LOG = []


class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]

        def logging_start_response(status, headers, exc_info=None):
            LOG.append("%s -> %s" % (path, status))
            return start_response(status, headers, exc_info)

        return self.app(environ, logging_start_response)
""",
        (GET, Req("GET", "/log"), Req("GET", "/log")),
        inner="""

def inner(environ, start_response):
    body = " | ".join(LOG).encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
""",
        stack="app = Mw(inner)",
    ),
    "timing header": Case(
        """
import time


class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        started = time.perf_counter()

        def start(status, headers, exc_info=None):
            elapsed = time.perf_counter() - started
            headers.append(("X-Timed", "yes" if elapsed >= 0 else "no"))
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
""",
        (GET,),
    ),
    "options after the app: keyword-only, **kwargs": Case(
        """
class Mw:
    def __init__(self, app, label="t", *, upper=False, **options):
        self.app = app
        self.label = label.upper() if upper else label
        self.options = options

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            headers.append(("X-Label", self.label + str(len(self.options))))
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
""",
        (GET, Req("GET", "/other")),
        stack='app = Mw(inner, "x", upper=True, extra=1)',
    ),
    "response named, then returned": Case(
        """
class Mw:
    def __init__(self, application, label="t", **options):
        self.application = application
        self.label = label

    def __call__(self, environ, start_response):
        def custom_start_response(status, response_headers, exc_info=None):
            response_headers.append(("X-Label", self.label))
            return start_response(status, response_headers, exc_info)

        retval = self.application(environ, custom_start_response)
        return retval
""",
        (GET, Req("GET", "/other")),
    ),
    "prefix mounting": Case(
        """
class Mw:
    def __init__(self, app, prefix="/shop"):
        self.app = app
        self.prefix = prefix

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
            environ["PATH_INFO"] = path[len(self.prefix):]
            return self.app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not mounted here"]
""",
        (
            Req("GET", "/shop/cart?id=3"),
            Req("GET", "/shop"),
            Req("GET", "/other"),
            Req("GET", "/shop/caf%C3%A9"),
        ),
    ),
    "method override": Case(
        """
class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            override = environ.get("HTTP_X_HTTP_METHOD_OVERRIDE", "").upper()
            if override in ("PUT", "PATCH", "DELETE"):
                environ["REQUEST_METHOD"] = override
        return self.app(environ, start_response)
""",
        (Req("POST", "/r", headers=[("X-HTTP-Method-Override", "delete")]), Req("POST", "/r"), GET),
    ),
    "redirect to https": Case(
        """
class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ["wsgi.url_scheme"] == "http" and environ["PATH_INFO"].startswith("/secure"):
            host = environ.get("HTTP_HOST", "localhost")
            location = "https://" + host + environ["PATH_INFO"]
            start_response("301 Moved Permanently", [("Location", location), ("Content-Length", "0")])
            return []
        return self.app(environ, start_response)
""",
        (Req("GET", "/secure/area", headers=[("Host", "example.com")]), GET),
    ),
    "trailing slash redirect": Case(
        """
def Mw(app):
    def wrapped(environ, start_response):
        path = environ["PATH_INFO"]
        if not path.endswith("/") and "." not in path.rsplit("/", 1)[-1]:
            query = environ.get("QUERY_STRING")
            location = path + "/" + ("?" + query if query else "")
            start_response("308 Permanent Redirect", [("Location", location)])
            return [b""]
        return app(environ, start_response)

    return wrapped
""",
        (Req("GET", "/docs?page=2"), Req("GET", "/docs/"), Req("GET", "/file.txt")),
    ),
    "maintenance 503": Case(
        """
import os


class Mw:
    def __init__(self, app, flag="MAINTENANCE_FLAG_FOR_TESTS"):
        self.app = app
        self.flag = flag

    def __call__(self, environ, start_response):
        if os.getenv(self.flag) != "off" and environ["PATH_INFO"] != "/health":
            start_response("503 Service Unavailable", [("Retry-After", "120"),
                                                       ("Content-Type", "text/html")])
            return [b"<h1>Back soon</h1>"]
        return self.app(environ, start_response)
""",
        (GET, Req("GET", "/health")),
    ),
    "error page via exc_info": Case(
        """
import sys


class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        try:
            return self.app(environ, start_response)
        except Exception as error:
            page = ("<h1>Sorry</h1><p>%s</p>" % type(error).__name__).encode("utf-8")
            start_response("500 Internal Server Error",
                           [("Content-Type", "text/html")], sys.exc_info())
            return [page]
""",
        (GET, Req("GET", "/boom")),
    ),
    "error page from a method, with exc_info": Case(
        """
import json
import sys


class Mw:
    def __init__(self, app):
        self.app = app

    def _page(self, environ, start_response, exc_info):
        body = json.dumps({"error": exc_info[0].__name__, "path": environ["PATH_INFO"]})
        start_response("500 Internal Server Error", [("Content-Type", "application/json")],
                       exc_info)
        return [body.encode()]

    def __call__(self, environ, start_response):
        try:
            return self.app(environ, start_response)
        except Exception:
            return self._page(environ, start_response, sys.exc_info())
""",
        (GET, Req("GET", "/boom")),
    ),
    "catching iterator folded into the error page": Case(
        CATCHING_ITERATOR,
        (GET, Req("GET", "/boom"), Req("GET", "/late"), Req("GET", "/stream")),
        inner=STREAMING_INNER,
    ),
    "catching iterator with a different late page stays WSGI": Case(
        CATCHING_ITERATOR.replace(
            "yield from self._page(environ, start_response, sys.exc_info())",
            'start_response("502 Bad Gateway", [], sys.exc_info())\n                yield b"late"',
        ),
        # not /late: the app below an adapted middleware is ASGI, and an ASGI app has one
        # phase, so the adapter cannot tell the middleware its error came from iterating
        (GET, Req("GET", "/boom")),
        kind="adapted",
        inner=STREAMING_INNER,
    ),
    "body uppercasing with content-length fix": Case(
        """
class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            return start_response(status, headers, exc_info)

        result = self.app(environ, start)
        try:
            for chunk in result:
                yield chunk.upper()
        finally:
            if hasattr(result, "close"):
                result.close()
""",
        (GET, Req("GET", "/shout")),
    ),
    "gzip-like body transform": Case(
        """
import zlib


def Mw(app, level=6):
    def wrapped(environ, start_response):
        compressor = zlib.compressobj(level, zlib.DEFLATED, 31)

        def start(status, headers, exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Encoding", "gzip"))
            return start_response(status, headers, exc_info)

        result = app(environ, start)
        try:
            for chunk in result:
                yield compressor.compress(chunk)
            yield compressor.flush()
        finally:
            if hasattr(result, "close"):
                result.close()

    return wrapped
""",
        (GET,),
    ),
    "close hook counting": Case(
        """
FINISHED = [0]


class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        result = self.app(environ, start_response)
        try:
            yield from result
        finally:
            if hasattr(result, "close"):
                result.close()
            FINISHED[0] += 1
""",
        (GET, Req("GET", "/count"), Req("GET", "/count")),
        inner="""

def inner(environ, start_response):
    body = str(FINISHED[0]).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
""",
    ),
    "body size observer": Case(
        """
SIZES = []


class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        sent = 0
        result = self.app(environ, start_response)
        try:
            for chunk in result:
                sent += len(chunk)
                yield chunk
        finally:
            if hasattr(result, "close"):
                result.close()
            SIZES.append(sent)
""",
        (GET, Req("GET", "/sizes"), Req("GET", "/sizes")),
        inner="""

def inner(environ, start_response):
    if environ["PATH_INFO"] == "/sizes":
        body = repr(SIZES).encode()
    else:
        body = b"hello world"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
""",
    ),
    "json body validation 400": Case(
        """
import io
import json


class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] in ("POST", "PUT"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            try:
                json.loads(body or b"null")
            except ValueError:
                start_response("400 Bad Request", [("Content-Type", "text/plain")])
                return [b"invalid JSON"]
            environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)
""",
        (Req("POST", "/j", body=b'{"a": 1}'), Req("POST", "/j", body=b"{nope"), GET),
        inner="""

def inner(environ, start_response):
    data = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"got " + data]
""",
    ),
    "buffered body rewrite": Case(
        """
class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = headers

        body = b"".join(self.app(environ, capture))
        body = body.replace(b"GET", b"get") + b" (rewritten)"
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]
""",
        (GET,),
    ),
    "environ key injection": Case(
        """
class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        environ["myapp.user"] = environ.get("HTTP_X_USER", "anonymous")
        return self.app(environ, start_response)
""",
        (GET, Req("GET", "/", headers=[("X-User", "ann")])),
        # the key the middleware adds reaches the converted app in scope["wsgi.environ"]
        inner_kind="converted",
        inner="""

def inner(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("user=" + environ["myapp.user"]).encode()]
""",
    ),
    "decorator form": Case(
        """
def Mw(app):
    def wrapped(environ, start_response):
        def start(status, headers, exc_info=None):
            return start_response(status, headers + [("X-Decorated", "1")], exc_info)

        return app(environ, start)

    return wrapped
""",
        (GET,),
        inner="""

@Mw
def site(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode("latin-1")]
""",
        stack="app = site",
    ),
    "decorator factory with arguments": Case(
        """
import functools


def require_token(token, realm="demo"):
    def decorator(app):
        @functools.wraps(app)
        def wrapped(environ, start_response):
            if environ.get("HTTP_X_TOKEN") != token:
                start_response("403 Forbidden", [("Content-Type", "text/plain"),
                                                 ("X-Realm", realm)])
                return [b"forbidden"]
            return app(environ, start_response)

        return wrapped

    return decorator
""",
        (GET, Req("GET", "/in", headers=[("X-Token", "s3cret")])),
        inner="""

@require_token("s3cret")
def site(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"welcome " + environ["PATH_INFO"].encode("latin-1")]
""",
        stack="app = site",
    ),
    "stack of three": Case(
        """
class A:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_BLOCK"):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"blocked"]
        return self.app(environ, start_response)


class B:
    def __init__(self, app, prefix):
        self.app = app
        self.prefix = prefix

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        if path.startswith(self.prefix):
            environ["SCRIPT_NAME"] += self.prefix
            environ["PATH_INFO"] = path[len(self.prefix):]
        return self.app(environ, start_response)


def C(app):
    def wrapped(environ, start_response):
        def start(status, headers, exc_info=None):
            headers.append(("X-Layer", "c"))
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wrapped
""",
        (GET, Req("GET", "/v1/items"), Req("GET", "/v1/x", headers=[("X-Block", "1")])),
        stack='app = A(B(C(inner), "/v1"))',
    ),
    "proxy fix": Case(
        """
from werkzeug.middleware.proxy_fix import ProxyFix
""",
        (
            GET,
            Req(
                "GET",
                "/",
                headers=[("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")],
            ),
            Req("GET", "/", headers=[("X-Forwarded-For", "198.51.100.1, 203.0.113.7")]),
        ),
        inner="""

def inner(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [(environ["REMOTE_ADDR"] + " " + environ["wsgi.url_scheme"]).encode()]
""",
        stack="app = ProxyFix(inner, x_for=1, x_proto=1)",
    ),
    "proxy fix with every header": Case(
        """
from werkzeug.middleware.proxy_fix import ProxyFix
""",
        (
            GET,
            Req("GET", "/p", headers=[("X-Forwarded-Prefix", "/base")]),
            Req(
                "GET",
                "/p?q=1",
                headers=[
                    ("X-Forwarded-For", "192.0.2.1, 198.51.100.1, 203.0.113.7"),
                    ("X-Forwarded-Host", "shop.example:8443"),
                    ("X-Forwarded-Port", "9443"),
                    ("X-Forwarded-Prefix", "/base"),
                ],
            ),
        ),
        inner="""

def inner(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    seen = ["REMOTE_ADDR", "SCRIPT_NAME", "PATH_INFO"]
    if "HTTP_X_FORWARDED_HOST" in environ:  # else the servers' own ports differ
        seen += ["HTTP_HOST", "SERVER_PORT"]
    return [" ".join(environ[key] for key in seen).encode()]
""",
        stack="app = ProxyFix(inner, x_for=2, x_proto=1, x_host=1, x_port=1, x_prefix=1)",
    ),
    "proxy fix with options unpacked": Case(
        """
from werkzeug.middleware.proxy_fix import ProxyFix

OPTIONS = {"x_for": 1}
""",
        (GET, Req("GET", "/p", headers=[("X-Forwarded-For", "203.0.113.7")])),
        kind="adapted",
        stack="app = ProxyFix(inner, **OPTIONS)",
    ),
    "dispatcher": Case(
        """
from werkzeug.middleware.dispatcher import DispatcherMiddleware


def api(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [('{"script": "%s", "path": "%s"}' % (environ["SCRIPT_NAME"], environ["PATH_INFO"])).encode()]
""",
        (GET, Req("GET", "/api/users"), Req("GET", "/api"), Req("GET", "/apix")),
        stack='app = DispatcherMiddleware(inner, {"/api": api})',
    ),
    # a Python 2 leftover: WSGI servers answer 500 before the headers go out; the ASGI
    # middleware would fail after its start, so it stays WSGI (and answers 500 the same)
    "text short-circuit body": Case(
        """
class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_BLOCK"):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return ["blocked"]
        return self.app(environ, start_response)
""",
        (GET, Req("GET", "/hello", headers=[("X-Block", "1")])),
        kind="adapted",
    ),
    "response iterator class": Case(
        """
class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        return _Closing(self.app(environ, start_response))


class _Closing:
    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def close(self):
        if hasattr(self.iterable, "close"):
            self.iterable.close()
""",
        (GET,),
        kind="adapted",
    ),
    # the class hands the whole request to its own methods: they become ASGI with it
    "request handed to methods of the class": Case(
        """
class Mw:
    def __init__(self, app, origins=("https://a.example",)):
        self.app = app
        self.origins = set(origins)

    def __call__(self, environ, start_response):
        origin = environ.get("HTTP_ORIGIN")
        if environ["REQUEST_METHOD"] == "OPTIONS" and origin:
            return self._preflight(environ, start_response, origin)
        if origin in self.origins:
            return self._decorated(environ, start_response, origin)
        return self.app(environ, start_response)

    def _preflight(self, environ, start_response, origin):
        if origin not in self.origins:
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"rejected"]
        start_response("204 No Content", [("Access-Control-Allow-Origin", origin)])
        return []

    def _decorated(self, environ, start_response, origin):
        def cors_start_response(status, headers, exc_info=None):
            headers = list(headers) + [("Access-Control-Allow-Origin", origin)]
            return start_response(status, headers, exc_info)
        return self.app(environ, cors_start_response)
""",
        (
            GET,
            Req("GET", "/x", [("Origin", "https://a.example")]),
            Req("OPTIONS", "/x", [("Origin", "https://a.example")]),
            Req("OPTIONS", "/x", [("Origin", "https://b.example")]),
        ),
    ),
    # keys of its own set, removed, or named by an attribute; a method reads the environ
    "environ keys set, popped and named by an attribute": Case(
        """
class Mw:
    def __init__(self, app, keys=("k1",), environ_key="demo.scopes"):
        self.app = app
        self.keys = keys
        self.environ_key = environ_key

    def _key_from(self, environ):
        return environ.get("HTTP_X_API_KEY") or None

    def __call__(self, environ, start_response):
        environ.pop("REMOTE_USER", None)
        key = self._key_from(environ)
        if key in self.keys:
            environ["REMOTE_USER"] = "user-" + key
            environ[self.environ_key] = ("read", "write")
        else:
            environ[self.environ_key] = ()
        return self.app(environ, start_response)
""",
        (GET, Req("GET", "/x", [("X-API-Key", "k1")]), Req("GET", "/x", [("X-API-Key", "no")])),
        inner="""

def inner(environ, start_response):
    body = "{} {}".format(environ.get("REMOTE_USER"), environ.get("demo.scopes")).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
""",
    ),
    # the wrapped app's response is consumed whole before the middleware answers
    "response consumed whole": Case(
        """
class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        response = {}
        chunks = []

        def capture(status, headers, exc_info=None):
            response["status"], response["headers"] = status, list(headers)
            return chunks.append

        app_iter = self.app(environ, capture)
        try:
            for chunk in app_iter:
                chunks.append(chunk)
        finally:
            if hasattr(app_iter, "close"):
                app_iter.close()
        body = b"".join(chunks).upper()
        headers = [(k, v) for k, v in response["headers"] if k.lower() != "content-length"]
        start_response(response["status"], headers + [("Content-Length", str(len(body)))])
        return [body]
""",
        (GET, Req("GET", "/write"), Req("GET", "/stream"), Req("POST", "/x", body=b"abc")),
        inner="""

def inner(environ, start_response):
    if environ["PATH_INFO"] == "/write":
        write = start_response("201 Created", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"and returned"]
    if environ["PATH_INFO"] == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"part %d " % i for i in range(3))
    body = environ["REQUEST_METHOD"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
""",
    ),
    # a loop that may stop early reads only part of the response: not collected whole
    "response read only in part": Case(
        """
class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        seen = {}

        def capture(status, headers, exc_info=None):
            seen["status"] = status

        first = b""
        for chunk in self.app(environ, capture):
            first = chunk
            break
        start_response(seen["status"], [("Content-Type", "text/plain")])
        return [first]
""",
        (GET,),
        kind="adapted",
    ),
    # files sent through wsgi.file_wrapper; the error pages come from a static method
    "files through wsgi.file_wrapper": Case(
        """
import os
import tempfile
from wsgiref.util import FileWrapper

ROOT = tempfile.mkdtemp()
with open(os.path.join(ROOT, "big.bin"), "wb") as f:
    f.write(bytes(range(256)) * 100)
with open(os.path.join(ROOT, "empty.txt"), "wb") as f:
    pass


class Mw:
    def __init__(self, app, root=ROOT):
        self.app = app
        self.root = os.path.realpath(root)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/files/"):
            return self.app(environ, start_response)
        full = os.path.realpath(os.path.join(self.root, path[len("/files/"):]))
        if not full.startswith(self.root + os.sep):
            return self._plain(start_response, "403 Forbidden", "forbidden")
        if not os.path.isfile(full):
            return self._plain(start_response, "404 Not Found", "no file")
        headers = [("Content-Type", "application/octet-stream"),
                   ("Content-Length", str(os.path.getsize(full)))]
        start_response("200 OK", headers)
        wrapper = environ.get("wsgi.file_wrapper", FileWrapper)
        return wrapper(open(full, "rb"), 1000)

    @staticmethod
    def _plain(start_response, status, text):
        body = text.encode()
        start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
""",
        (
            GET,
            Req("GET", "/files/big.bin"),
            Req("GET", "/files/empty.txt"),
            Req("GET", "/files/missing"),
            Req("GET", "/files/../../etc/passwd"),
        ),
    ),
    # the stack is built by a loop over the layers, innermost first
    "stack built in a loop": Case(
        """
import functools


class Mw:
    def __init__(self, app, prefix=""):
        self.app = app
        self.prefix = prefix

    def __call__(self, environ, start_response):
        if self.prefix and environ["PATH_INFO"].startswith(self.prefix):
            environ["SCRIPT_NAME"] = self.prefix
            environ["PATH_INFO"] = environ["PATH_INFO"][len(self.prefix):] or "/"
        return self.app(environ, start_response)


class NoStore:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        def no_store(status, headers, exc_info=None):
            return start_response(status, list(headers) + [("Cache-Control", "no-store")], exc_info)
        return self.app(environ, no_store)
""",
        (GET, Req("GET", "/admin/users?x=1"), Req("POST", "/admin")),
        stack="""app = inner
for layer in (functools.partial(Mw, prefix="/admin"), NoStore):
    app = layer(app)""",
    ),
}


#: What the middleware rule says about the app at the bottom of a stack (not the middleware).
BOTTOM_MESSAGES = ("inside the ASGI middleware stack", "adapters.as_asgi")


def middleware_kinds(changes: list[Change]) -> list[str]:
    """The kinds the wsgi-middleware rule reported for the middleware themselves."""
    return [
        c.kind
        for c in changes
        if c.rule == "wsgi-middleware" and not any(m in c.message for m in BOTTOM_MESSAGES)
    ]


@pytest.mark.parametrize("name", sorted(CASES))
def test_middleware_behaves_the_same(name: str) -> None:
    """The whole pipeline: middleware, then the app at the bottom of the stack."""
    case = CASES[name]
    before = case.module()
    after, changes = migrate_module(before)
    kinds = middleware_kinds(changes)
    assert kinds and set(kinds) == {case.kind}, (kinds, after)
    assert_same_behaviour(before, after, list(case.requests))
    assert_pipeline_idempotent(after)


STACK_AWARE = (
    "auth 401",
    "stack of three",
    "decorator form",
    "decorator factory with arguments",
    "json body validation 400",
    "proxy fix",
    "environ key injection",
    "stack built in a loop",
)


@pytest.mark.parametrize("name", STACK_AWARE)
def test_stack_comes_out_asgi_top_to_bottom(name: str) -> None:
    """The wsgi-app rule converts stacked apps: the app at the bottom is native too."""
    case = CASES[name]
    before = case.module()
    after, changes = migrate_module(before)
    assert set(middleware_kinds(changes)) == {case.kind}, changes
    assert all(c.kind != "manual" for c in changes), changes
    assert not [c for c in changes if any(m in c.message for m in BOTTOM_MESSAGES)]
    assert "WsgiToAsgi(inner)" not in after and "WsgiToAsgi(site)" not in after
    assert [c.kind for c in changes if c.rule == "wsgi-app"] == [case.inner_kind], changes
    assert_same_behaviour(before, after, list(case.requests), asgi_servers=("uvicorn",))
    assert_pipeline_idempotent(after)


# --------------------------------------------------------------------------- across modules

MIDDLEWARE_MODULE = '''
def security_headers(app):
    def wrapped(environ, start_response):
        def start(status, headers, exc_info=None):
            return start_response(status, headers + [("X-Frame-Options", "DENY")], exc_info)

        return app(environ, start)

    return wrapped


class RequestCounter:
    def __init__(self, app):
        self.app = app
        self.count = 0

    def __call__(self, environ, start_response):
        self.count += 1
        environ["demo.request_number"] = self.count
        return self.app(environ, start_response)


class Legacy:
    """Cannot be converted: it hands the environ to other code."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        self.seen = sorted(environ)
        return self.app(environ, start_response)
'''

SERVER_MODULE = """
from MIDDLEWARE import Legacy, RequestCounter, security_headers


def status_app(environ, start_response):
    number = environ.get("demo.request_number", "?")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("request %s" % number).encode()]


app = Legacy(RequestCounter(security_headers(status_app)))
"""


def test_stack_of_middleware_from_another_module_behaves_the_same() -> None:
    """The middleware are migrated in their own module (two converted, one adapted); the stack
    in the server module wraps its WSGI app so that it works with either kind."""
    mw_after, mw_changes = migrate_module(MIDDLEWARE_MODULE)
    assert sorted(middleware_kinds(mw_changes)) == ["adapted", "converted", "converted"]
    before_mw, after_mw = load_module(MIDDLEWARE_MODULE), load_module(mw_after)
    server_after, changes = migrate_module(SERVER_MODULE)
    assert [c.kind for c in changes if c.rule == "wsgi-middleware"] == ["adapted"]
    before = SERVER_MODULE.replace("MIDDLEWARE", before_mw.__name__)
    after = server_after.replace("MIDDLEWARE", after_mw.__name__)
    requests = [Req("GET", "/"), Req("GET", "/again")]
    assert_same_behaviour(before, after, requests, asgi_servers=("uvicorn",))


# --------------------------------------------------------------------------- apps left as WSGI

MW_HEADER = """
def Mw(app):
    def wrapped(environ, start_response):
        def start(status, headers, exc_info=None):
            return start_response(status, headers + [("X-Mw", "1")], exc_info)

        return app(environ, start)

    return wrapped
"""

UNCONVERTIBLE = """

def inner(environ, start_response):
    environ["app.seen"] = "yes"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["app.seen"].encode() + environ["PATH_INFO"].encode("latin-1")]
"""

OTHER_USE = """

def inner(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode("latin-1")]


ALL_APPS = [inner]
"""

STACKED_LEFT_AS_WSGI = {
    "stack, app adapted": (
        MW_HEADER + UNCONVERTIBLE + "\n\napp = Mw(inner)\n",
        "inner = WsgiToAsgi(_inner_wsgi)",
        "app = Mw(inner)",
    ),
    "stack, app manual": (
        MW_HEADER + OTHER_USE + "\n\napp = Mw(inner)\n",
        "def inner(environ, start_response):",
        "app = Mw(WsgiToAsgi(inner))",
    ),
    "decorated, app adapted": (
        MW_HEADER + "\n\n@Mw\n" + UNCONVERTIBLE.lstrip("\n") + "\n\napp = inner\n",
        "def _inner_wsgi(environ, start_response):",
        "inner = Mw(WsgiToAsgi(_inner_wsgi))",
    ),
    # the list of apps gets the WSGI app it held: as_wsgi(inner)
    "decorated, other use through as_wsgi": (
        MW_HEADER + "\n\n@Mw\n" + OTHER_USE.lstrip("\n") + "\n\napp = inner\n",
        "def _inner_wsgi(environ, start_response):",
        "inner = Mw(WsgiToAsgi(_inner_wsgi))",
        "ALL_APPS = [as_wsgi(inner)]",
    ),
}


@pytest.mark.parametrize("name", sorted(STACKED_LEFT_AS_WSGI))
def test_stacked_app_left_as_wsgi_is_adapted_below_the_middleware(name: str) -> None:
    """An app the wsgi-app rule does not convert (adapted or manual) under ASGI middleware is
    served through WsgiToAsgi below it: never ASGI middleware around a WSGI app."""
    before, *expected = STACKED_LEFT_AS_WSGI[name]
    after, changes = migrate_module(before)
    for text in expected:
        assert text in after, after
    assert "async def wrapped(scope, receive, send):" in after
    assert "@Mw" not in after
    app_kinds = {c.kind for c in changes if c.rule == "wsgi-app"}
    assert app_kinds == (
        {"manual"}
        if "manual" in name and "stack" not in name
        else {"manual", "adapted"}
        if "manual" in name
        else {"adapted"}
    ), changes
    assert_same_behaviour(before, after, [GET, Req("GET", "/x")], asgi_servers=("uvicorn",))
    assert_pipeline_idempotent(after)


def test_an_adapted_middleware_class_is_still_a_class() -> None:
    # kept WSGI (it hands start_response to code the rule cannot follow), it stays a class:
    # subclasses, isinstance and class attributes keep working, and it wraps ASGI apps
    before = """
    def _forward(start_response, status, headers):
        return start_response(status, headers + [("X-Tagged", "yes")])

    class Tagger:
        label = "tagged"

        def __init__(self, app, prefix=""):
            self.app = app
            self.prefix = prefix

        def __call__(self, environ, start_response):
            def tagged(status, headers, exc_info=None):
                return _forward(start_response, status, headers)
            return self.app(environ, tagged)

    def inner(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    app = Tagger(inner, prefix="p")
    """
    after, changes = migrate_module(before)
    assert [c.kind for c in changes] == ["adapted", "converted"], changes
    assert_pipeline_idempotent(after)
    module = load_module(after)
    assert isinstance(module.Tagger, type) and module.Tagger.label == "tagged"
    assert isinstance(module.app, module.Tagger)
    assert_same_behaviour(before, after, [Req("GET", "/a"), Req("POST", "/b", body=b"x")])
