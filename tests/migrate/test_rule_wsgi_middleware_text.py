"""Rule ``wsgi-middleware``: the text it writes (before/after), markers, idempotency, and the
pieces that need no server."""

from __future__ import annotations

import asyncio
from textwrap import dedent
from typing import Any

import pytest

from migrate.rules import RULES
from migrate.rules.wsgi_app import WsgiAppRule
from migrate.rules.wsgi_middleware import WsgiMiddlewareRule
from migrate.runner import migrate_source
from tests.harness import Req, assert_idempotent, assert_same_behaviour, load_module, migrate_text
from tests.migrate.test_rule_wsgi_middleware import CASES
from tests.migrate.test_rule_wsgi_middleware_support import (
    assert_pipeline_idempotent,
    migrate_module,
)


def rule(before: str) -> tuple[str, list[str]]:
    after, changes = migrate_text(before, WsgiMiddlewareRule)
    assert_idempotent(after, WsgiMiddlewareRule)
    return after, [c.kind for c in changes]


def test_registry_runs_the_middleware_rule_before_the_app_rule() -> None:
    assert RULES.index(WsgiMiddlewareRule) < RULES.index(WsgiAppRule)


@pytest.mark.parametrize("name", sorted(CASES))
def test_might_apply_and_idempotent_for_every_case(name: str) -> None:
    source = CASES[name].module()
    assert WsgiMiddlewareRule.might_apply(source)
    after, changes = migrate_text(source, WsgiMiddlewareRule)
    assert changes
    assert_idempotent(after, WsgiMiddlewareRule)


def test_might_apply_is_false_without_middleware() -> None:
    assert not WsgiMiddlewareRule.might_apply("x = 1\nprint(x)\n")


def test_short_circuit_class() -> None:
    after, kinds = rule("""
    class Auth:
        def __init__(self, app, token):
            self.app = app
            self.token = token

        def __call__(self, environ, start_response):
            if environ.get("HTTP_AUTHORIZATION") != self.token:
                start_response("401 Unauthorized", [("Content-Type", "text/plain")])
                return [b"no"]
            return self.app(environ, start_response)
    """)
    assert kinds == ["converted"]
    assert after == dedent("""
    from adapters import asgi_helpers

    class Auth:
        def __init__(self, app, token):
            self.app = app
            self.token = token

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.app(scope, receive, send)
            if asgi_helpers.request_headers(scope).get("authorization") != self.token:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"text/plain")],
                    }
                )
                await send({"type": "http.response.body", "body": b"no"})
                return
            await self.app(scope, receive, send)
    """)


def test_start_response_wrapper_factory() -> None:
    after, kinds = rule("""
    import functools


    def security_headers(app):
        @functools.wraps(app)
        def wrapped(environ, start_response):
            def start(status, headers, exc_info=None):
                headers.append(("X-Frame-Options", "DENY"))
                return start_response(status, headers, exc_info)

            return app(environ, start)

        return wrapped
    """)
    assert kinds == ["converted"]
    assert after == dedent("""
    import functools
    from adapters import asgi_helpers


    def security_headers(app):
        @functools.wraps(app)
        async def wrapped(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)

            async def send_wrapper(message):
                if message["type"] == "http.response.start":
                    status, headers = asgi_helpers.wsgi_response_start(message)
                    headers.append(("X-Frame-Options", "DENY"))
                    message = asgi_helpers.asgi_response_start(message, status, headers)
                await send(message)

            await app(scope, receive, send_wrapper)

        return wrapped
    """)


def test_environ_writes_become_a_scope_copy() -> None:
    after, kinds = rule("""
    def mount(app, prefix):
        def wrapped(environ, start_response):
            environ["SCRIPT_NAME"] += prefix
            environ["PATH_INFO"] = environ["PATH_INFO"][len(prefix):]
            environ["HTTP_X_MOUNTED"] = "yes"
            del environ["HTTP_COOKIE"]
            return app(environ, start_response)

        return wrapped
    """)
    assert kinds == ["converted"]
    assert (
        "scope = asgi_helpers.with_wsgi_path(scope, script_name=asgi_helpers.script_name(scope) + prefix)"
        in after
    )
    assert (
        "scope = asgi_helpers.with_wsgi_path(scope, path_info=asgi_helpers.path_info(scope)[len(prefix):])"
        in after
    )
    assert 'scope = asgi_helpers.with_request_header(scope, "x-mounted", "yes")' in after
    assert 'scope = asgi_helpers.with_request_header(scope, "cookie", None)' in after


def test_unconvertible_middleware_is_adapted_with_one_marker() -> None:
    before = """
    class Retry:
        def __init__(self, app):
            self.app = app

        def __call__(self, environ, start_response):
            try:
                return list(self.app(environ, start_response))
            except ConnectionError:
                return list(self.app(environ, start_response))
    """
    after, kinds = rule(before)
    assert kinds == ["adapted"]
    assert "class _RetryWsgi:" in after
    assert "Retry = wsgi_middleware(_RetryWsgi)" in after
    assert "from adapters import wsgi_middleware" in after
    assert after.count("# migrate[wsgi-middleware]: `Retry` kept as WSGI (as `_RetryWsgi`)") == 1


def test_middleware_used_by_code_the_rule_cannot_follow_stays_wsgi() -> None:
    before = """
    from flask import Flask

    flask_app = Flask(__name__)


    class Mw:
        def __init__(self, app):
            self.app = app

        def __call__(self, environ, start_response):
            return self.app(environ, start_response)


    flask_app.wsgi_app = Mw(flask_app.wsgi_app)
    """
    after, kinds = rule(before)
    assert kinds == ["manual"]  # Flask's wsgi_app must stay a WSGI app
    assert "flask_app.wsgi_app = Mw(flask_app.wsgi_app)" in after
    before_odd = """
    class Mw:
        def __init__(self, app):
            self.app = app

        def __call__(self, environ, start_response):
            return self.app(environ, start_response)


    def create_app(inner):
        return Mw(inner)
    """
    after, kinds = rule(before_odd)
    assert kinds == ["manual"]
    assert "def __call__(self, environ, start_response)" in after
    assert (
        "# migrate[wsgi-middleware]: `Mw` is also used here in ways the rule cannot follow" in after
    )


def test_wsgi_app_rule_does_not_claim_converted_or_adapted_middleware() -> None:
    after, changes = migrate_module(CASES["auth 401"].module())
    assert [c.rule for c in changes if "`Mw`" in c.message] == ["wsgi-middleware"]
    assert "WsgiToAsgi(Mw(" not in after
    after, changes = migrate_module(CASES["response iterator class"].module())
    assert "Mw = wsgi_middleware(_MwWsgi)" in after
    assert not [c for c in changes if c.rule == "wsgi-app" and "Mw" in c.message]


def test_stack_bottom_is_converted_by_the_wsgi_app_rule() -> None:
    after, changes = migrate_module(CASES["stack of three"].module())
    assert 'app = A(B(C(inner), "/v1"))' in after
    assert "async def inner(scope, receive, send):" in after
    assert "WsgiToAsgi" not in after
    assert not [c for c in changes if "inside the ASGI middleware stack" in c.message]


def test_stack_of_middleware_from_another_module() -> None:
    before = """
    from middleware import RequestCounter, security_headers


    def status_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


    application = RequestCounter(security_headers(status_app))
    """
    after, kinds = rule(before)
    assert kinds == ["adapted"]
    assert (
        "application = as_asgi(RequestCounter(security_headers(asgi_helpers.wsgi_or_asgi(status_app))))"
        in after
    )


def test_third_party_middleware() -> None:
    after, kinds = rule("""
    from paste.translogger import TransLogger
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.middleware.proxy_fix import ProxyFix
    from werkzeug.middleware.shared_data import SharedDataMiddleware
    from whitenoise import WhiteNoise

    from myproject import api, inner

    app = ProxyFix(DispatcherMiddleware(inner, {"/api": api}), x_for=1, x_proto=1)
    logged = TransLogger(SharedDataMiddleware(inner, {"/static": "static"}))
    site = WhiteNoise(inner, root="static/", prefix="assets/")
    """)
    assert sorted(kinds) == ["adapted", "adapted", "adapted", "converted", "converted", "converted"]
    assert 'app = adapters.ProxyFix(Router({"/api": api, "/": inner}), x_for=1, x_proto=1)' in after
    assert "import adapters\n" in after
    assert "werkzeug.middleware.proxy_fix" not in after
    assert "werkzeug.middleware.dispatcher" not in after
    assert "whitenoise" not in after
    assert (
        "logged = wsgi_middleware(TransLogger)(wsgi_middleware(SharedDataMiddleware)(inner, "
        '{"/static": "static"}))' in after
    )
    assert 'site = ServeStaticASGI(as_asgi(inner), root="static/", prefix="assets/")' in after
    assert "# migrate[wsgi-middleware]: `TransLogger` stays WSGI" in after
    assert "Starlette's StaticFiles (mounted with adapters.Router) is the ASGI counterpart" in after


def test_proxy_fix_keeps_its_settings_and_only_unpacked_ones_are_adapted() -> None:
    after, kinds = rule("""
    from werkzeug.middleware.proxy_fix import ProxyFix
    from myproject import inner

    app = ProxyFix(inner, 2, 1, x_host=1, x_prefix=1)
    """)
    assert kinds == ["adapted", "converted"]  # as_asgi: `inner` may still be a WSGI app
    assert "app = adapters.ProxyFix(as_asgi(inner), 2, 1, x_host=1, x_prefix=1)" in after
    assert "werkzeug" not in after
    after, kinds = rule("""
    from werkzeug.middleware.proxy_fix import ProxyFix
    from myproject import inner, options

    app = ProxyFix(inner, **options)
    """)
    assert kinds == ["adapted"]
    assert "app = wsgi_middleware(ProxyFix)(inner, **options)" in after
    assert "argument `**options` is not one of ProxyFix's hop counts" in after


def test_shared_data_with_starlette_becomes_static_files() -> None:
    after, kinds = rule("""
    import starlette
    from werkzeug.middleware.shared_data import SharedDataMiddleware
    from myproject import inner

    app = SharedDataMiddleware(inner, {"/static": "/srv/static"})
    """)
    assert kinds == ["converted"]
    assert 'app = Router({"/static": StaticFiles(directory="/srv/static"), "/": inner})' in after
    assert "from starlette.staticfiles import StaticFiles" in after


# --------------------------------------------------------------------------- non-HTTP scopes


def test_non_http_scopes_go_straight_to_the_inner_app() -> None:
    after, _ = migrate_text(CASES["auth 401"].module(), WsgiMiddlewareRule)
    module = load_module(after.replace("app = Mw(inner)", ""))
    seen: list[str] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def nothing() -> dict[str, Any]:
        return {}

    async def ignore(message: dict[str, Any]) -> None:
        return None

    middleware = module.Mw(inner)
    for kind in ("lifespan", "websocket"):
        asyncio.run(middleware({"type": kind, "headers": []}, nothing, ignore))
    assert seen == ["lifespan", "websocket"]


# --------------------------------------------------------------------------- a stack's app used as WSGI

# The module itself calls the app a stack builds the WSGI way (a CGI handler, a test client,
# a WSGI server the server rule does not know): made ASGI, that code would break.
WSGI_USER = """
from wsgiref.util import setup_testing_defaults
{imports}

{middleware}

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ.get("HTTP_X_SEEN", "-").encode(), b" ", environ["REMOTE_ADDR"].encode()]


application = {stack}


def render(path):
    environ = {{"PATH_INFO": path, "REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}}
    setup_testing_defaults(environ)
    seen = []
    body = b"".join(application(environ, lambda status, headers, exc_info=None: seen.append(status)))
    return seen[0], body
"""

OWN_MIDDLEWARE = """
class Mw:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        environ["HTTP_X_SEEN"] = "1"
        return self.app(environ, start_response)
"""


@pytest.mark.parametrize(
    ("imports", "middleware", "stack", "expected"),
    [
        ("", OWN_MIDDLEWARE, "Mw(app)", b"1 127.0.0.1"),
        ("from werkzeug.middleware.proxy_fix import ProxyFix", "", "ProxyFix(app, x_for=1)",
         b"- 203.0.113.9"),
    ],
    ids=["own middleware", "ProxyFix"],
)  # fmt: skip
def test_a_stack_whose_app_the_module_calls_as_wsgi_stays_wsgi(
    imports: str, middleware: str, stack: str, expected: bytes
) -> None:
    before = WSGI_USER.format(imports=imports, middleware=middleware, stack=stack)
    after, changes = migrate_module(before)
    assert {c.kind for c in changes} == {"manual"}
    assert f"application = {stack}" in after
    assert "used here as a WSGI app" in after or "also used as a WSGI app" in after
    assert load_module(before).render("/") == load_module(after).render("/") == ("200 OK", expected)
    assert_pipeline_idempotent(after)


def test_only_paste_middleware_runs_as_middleware() -> None:
    """``paste.fixture.TestApp`` is a test client, not middleware: it is not wrapped, and the
    app under the gzip middleware stays WSGI for it."""
    before = """
    from paste.fixture import TestApp
    from paste.gzipper import middleware


    def simple_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"this is a test"]


    wsgi_app = middleware(simple_app)
    app = TestApp(wsgi_app)
    """
    after, changes = migrate_module(before)
    assert "wsgi_middleware(TestApp)" not in after
    assert "wsgi_app = middleware(simple_app)" in after
    assert "def simple_app(environ, start_response):" in after
    assert {c.kind for c in changes} == {"manual"}
    translogger = """
    from paste.translogger import TransLogger


    def simple_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"this is a test"]


    app = TransLogger(simple_app)
    """
    after, _ = migrate_module(translogger)
    assert "app = wsgi_middleware(TransLogger)(simple_app)" in after


def test_lines_point_into_the_file_as_it_was_before_the_run() -> None:
    """The app rule reads what the middleware rule made of the file (a marker above ``Mw``):
    its changes and the lines in its messages are still the file's own."""
    before = WSGI_USER.format(imports="", middleware=OWN_MIDDLEWARE, stack="Mw(app)")
    source = dedent(before)
    lines = source.splitlines()
    result = migrate_source(source, rules=RULES, relpath="app.py")
    app_line = lines.index("def app(environ, start_response):") + 1
    stack_line = lines.index("application = Mw(app)") + 1
    [app_change] = [c for c in result.changes if c.rule == "wsgi-app"]
    assert app_change.line == app_line
    assert f"(line {stack_line})" in app_change.message
    [mw_change] = [c for c in result.changes if c.rule == "wsgi-middleware"]
    assert mw_change.line == lines.index("class Mw:") + 1
    assert f"builds at line {stack_line}" in mw_change.message


@pytest.mark.parametrize(
    "serve",
    [
        "import uvicorn\n\n    uvicorn.run(application, port=8000)",
        "from wsgiref.simple_server import make_server\n\n"
        '    make_server("", 8000, application).serve_forever()',
    ],
    ids=["uvicorn", "wsgiref"],
)
def test_a_stack_whose_app_is_only_served_is_converted(serve: str) -> None:
    before = f"""
{OWN_MIDDLEWARE}

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hi"]


application = Mw(app)

if __name__ == "__main__":
    {serve}
"""
    after, changes = migrate_module(before)
    assert [c.kind for c in changes] == ["converted", "converted"]
    assert "async def __call__(self, scope, receive, send):" in after
    assert "async def app(scope, receive, send):" in after


def test_middleware_around_an_instance_bound_before_under_the_same_name() -> None:
    """``application = App()`` then ``application = Mw(application)``: the argument is the
    instance of the app class, which the wsgi-app rule converts (no adapter in between)."""
    before = f"""
{OWN_MIDDLEWARE}

class App:
    def __call__(self, environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ.get("HTTP_X_SEEN", "-").encode()]


application = App()
application = Mw(application)
"""
    after, changes = migrate_module(before)
    assert [c.kind for c in changes] == ["converted", "converted"]
    assert "application = Mw(application)" in after
    assert_same_behaviour(before, after, [Req("GET", "/")], app_name="application")


@pytest.mark.parametrize(
    "stack",
    [
        "ProxyFix(app.wsgi_app, x_for=1)",
        'DispatcherMiddleware(app.wsgi_app, {"/other": other})',
    ],
)
def test_third_party_middleware_on_flasks_wsgi_app_stays_wsgi(stack: str) -> None:
    """Flask calls ``app.wsgi_app`` as a WSGI app: the middleware there stays as it is."""
    before = f"""
from flask import Flask, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__)
other = Flask("other")
app.wsgi_app = {stack}


@app.route("/")
def index():
    return request.remote_addr or "-"
"""
    after, changes = migrate_module(before)
    assert after == dedent(before)
    assert changes == []


def test_a_route_decorator_before_a_flask_app_is_wrapped_is_no_use_of_the_stack() -> None:
    before = """
from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__)


@app.route("/")
def index():
    return request.remote_addr or "-"


app = ProxyFix(app, x_for=1)
"""
    after, changes = migrate_module(before)
    assert "app = adapters.ProxyFix(as_asgi(app)" in after
    assert "manual" not in {c.kind for c in changes}
    requests = [Req("GET", "/", headers=[("X-Forwarded-For", "203.0.113.7")])]
    assert_same_behaviour(before, after, requests)
    # used after the wrapping (app.run() on what ProxyFix made), it stays as it is
    running = before + '\nif __name__ == "__main__":\n    app.run(port=5000)\n'
    after, changes = migrate_module(running)
    assert "app = ProxyFix(app, x_for=1)" in after
    assert [c.kind for c in changes] == ["manual"]


def test_a_wrapper_of_the_same_shape_that_is_not_wsgi_is_left_alone() -> None:
    """Pyramid's predicate wrapper has the shape of middleware (``__init__(self, predicate)``,
    ``__call__(self, context, request)`` handing both on) but nothing of WSGI: untouched."""
    predicate = """
    class Notted:
        def __init__(self, predicate):
            self.predicate = predicate

        def __call__(self, context, request):
            return not self.predicate(context, request)
    """
    after, kinds = rule(predicate)
    assert kinds == [] and after == dedent(predicate)
    # a wrapper with its parameters named the WSGI way is middleware
    passing = """
    class PassThrough:
        def __init__(self, app):
            self.app = app

        def __call__(self, env, respond):
            return self.app(env, respond)
    """
    _, kinds = rule(passing)
    assert kinds == ["converted"]
    _, kinds = rule(passing.replace("env, respond", "context, request"))
    assert kinds == []
