"""Rule ``wsgi-app``, by behaviour: the app before the rewrite, served as WSGI (wsgiref),
and the app after it, served as ASGI (uvicorn and hypercorn), answer the same requests
with the same status, headers and body. Every case also checks that a second run changes
nothing."""

from __future__ import annotations

import inspect
import json
import textwrap

import pytest

from migrate.rules.wsgi_app import WsgiAppRule
from tests.harness import (
    Req,
    assert_idempotent,
    assert_same_behaviour,
    load_module,
    migrate_text,
)


def migrated(before: str, *kinds: str) -> str:
    """Run the rule, check the kinds of changes it reports and that it is idempotent."""
    after, changes = migrate_text(before)
    assert [c.kind for c in changes] == list(kinds), changes
    assert WsgiAppRule.might_apply(before)
    assert_idempotent(after)
    return after


# --------------------------------------------------------------------------- responses


def test_return_paths_status_and_headers() -> None:
    before = """
    import json

    def app(env, respond):
        path = env["PATH_INFO"]
        if path == "/":
            respond("200 OK", [("Content-Type", "text/plain"), ("X-Multi", "a"), ("X-Multi", "b")])
            return [b"home"]
        if path == "/json":
            data = {"method": env["REQUEST_METHOD"], "n": len(path)}
            respond("201 Created", [("Content-Type", "application/json")])
            return [json.dumps(data).encode()]
        if path == "/parts":
            respond("200 OK", [("Content-Type", "text/plain")])
            return (b"a", b"", b"b")
        if path == "/empty":
            respond("204 No Content", [])
            return []
        respond("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: ", path.encode("latin-1")]
    """
    after = migrated(before, "converted")
    assert "async def app(scope, receive, send):" in after
    requests = [
        Req("GET", "/"),
        Req("POST", "/json", body=b"x"),
        Req("GET", "/parts"),
        Req("GET", "/empty"),
        Req("GET", "/nope"),
        Req("HEAD", "/"),
    ]
    assert_same_behaviour(before, after, requests)


def test_dynamic_status_and_headers() -> None:
    before = """
    STATUSES = {"/gone": "410 Gone", "/teapot": "418 I'm a teapot"}

    def app(environ, start_response):
        status = STATUSES.get(environ["PATH_INFO"], "200 OK")
        body = status.encode()
        headers = [("Content-Type", "text/plain")]
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]
    """
    after = migrated(before, "converted")
    assert "int(status.split(None, 1)[0])" in after
    assert_same_behaviour(
        before, after, [Req("GET", "/"), Req("GET", "/gone"), Req("GET", "/teapot")]
    )


def test_error_between_start_response_and_body_is_a_clean_500() -> None:
    # PEP 3333 sends the headers with the first body chunk: code that raises after
    # start_response still gives the server's 500, before and after.
    before = """
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        n = int(environ["QUERY_STRING"] or "1")
        return [str(100 // n).encode()]
    """
    after = migrated(before, "converted")
    assert_same_behaviour(before, after, [Req("GET", "/?4"), Req("GET", "/?0"), Req("GET", "/?x")])


def test_generator_streams_chunks() -> None:
    before = """
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        for i in range(3):
            yield f"line {i}\\n".encode()
            if environ["QUERY_STRING"] == "short":
                return
        yield b"done"
    """
    after = migrated(before, "converted")
    assert '"more_body": True' in after and "yield" not in after
    assert_same_behaviour(before, after, [Req("GET", "/"), Req("GET", "/?short")])


def test_generator_with_work_before_the_first_chunk() -> None:
    before = """
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        rows = [r for r in environ["QUERY_STRING"].split("&") if r]
        yield str(len(rows)).encode()
        for row in rows:
            yield row.upper().encode() + b"\\n"
    """
    after = migrated(before, "converted")
    assert_same_behaviour(before, after, [Req("GET", "/?a&b&c"), Req("GET", "/")])


def test_generator_whose_first_chunk_is_sent_on_one_branch_only() -> None:
    # the start goes out with the first chunk, whichever branch yields it: a run-time flag
    # says whether it went, so an error before any chunk is still a 500 (nothing sent yet)
    before = """
    def app(environ, start_response):
        query = environ.get("QUERY_STRING", "")
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Kind", "export")])
        if "preamble" in query:
            yield b"preamble\\n"
        if "fail" in query:
            raise ValueError("no body for you")
        yield query.upper().encode() + b"\\n"
        yield b"end"
    """
    after = migrated(before, "converted")
    assert "started = False" in after and "if not started:" in after
    requests = [
        Req("GET", "/?plain"),
        Req("GET", "/?preamble"),
        Req("GET", "/?fail"),  # 500 on both sides: the start had not gone out
    ]  # (after a chunk, an error is a cut response: wsgiref's close-delimited one looks whole)
    assert_same_behaviour(before, after, requests)


def test_generator_whose_loop_may_fail_before_its_first_chunk() -> None:
    # the start goes out with the loop's first chunk; a failure before it is a 500, and an
    # empty loop still sends the start with the end of the body
    before = """
    ROWS = {"a": [1, 2], "none": []}

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        for value in ROWS[environ.get("QUERY_STRING", "")]:
            yield str(value).encode() + b"\\n"
    """
    after = migrated(before, "converted")
    assert "started = False" in after
    requests = [Req("GET", "/?a"), Req("GET", "/?none"), Req("GET", "/?missing")]
    assert_same_behaviour(before, after, requests)


def test_a_returned_generator_expression_is_the_loop_the_server_would_run() -> None:
    before = """
    ROWS = {"a": [1, 2, 3], "none": []}

    def app(environ, start_response):
        query = environ.get("QUERY_STRING", "")
        if query.startswith("log"):
            write = start_response("200 OK", [("Content-Type", "text/csv")])
            write(b"n\\r\\n")
            return (("%d\\r\\n" % n).encode() for n in range(3))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (str(v).encode() for v in ROWS[query] if v != 2)
    """
    after = migrated(before, "converted")
    assert "for n in range(3):" in after and "started = False" in after
    requests = [Req("GET", "/?log"), Req("GET", "/?a"), Req("GET", "/?none"), Req("GET", "/?zz")]
    assert_same_behaviour(before, after, requests)


def test_yield_from_is_the_loop_over_what_it_delegates_to() -> None:
    # a chunk source that fails before its first chunk is still a 500 (the start waits for it)
    before = """
    ROWS = {"a": [1, 2], "none": []}

    def lines(key):
        for value in ROWS[key]:
            yield b"%d\\n" % value

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield from lines(environ.get("QUERY_STRING", ""))
        yield b"end\\n"
    """
    after = migrated(before, "converted")
    assert "for chunk in lines(" in after and "yield" not in after.split("def app")[1]
    requests = [Req("GET", "/?a"), Req("GET", "/?none"), Req("GET", "/?missing")]
    assert_same_behaviour(before, after, requests)


def test_legacy_write_callable() -> None:
    before = """
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"hello ")
        write(environ["REQUEST_METHOD"].encode())
        return [b"!"]
    """
    after = migrated(before, "converted")
    assert "write" not in after
    assert_same_behaviour(before, after, [Req("GET", "/"), Req("DELETE", "/")])


def test_callable_class_instance() -> None:
    before = """
    class Greeter:
        def __init__(self, greeting):
            self.greeting = greeting

        def __call__(self, environ, start_response):
            name = environ.get("HTTP_X_NAME", "world")
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [f"{self.greeting}, {name}!".encode()]

    app = Greeter("Hello")
    """
    after = migrated(before, "converted")
    assert "async def __call__(self, scope, receive, send):" in after
    assert 'app = Greeter("Hello")' in after
    assert_same_behaviour(
        before, after, [Req("GET", "/"), Req("GET", "/", headers=[("X-Name", "Ann")])]
    )


def test_response_start_follows_the_paths_to_the_body() -> None:
    # The start is sent on each path just before its body; a path that raises first
    # still gives the server's 500.
    before = """
    import contextlib

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])  # always 200
        method = environ["REQUEST_METHOD"]
        if method == "HEAD": return []
        elif method == "DELETE":
            raise RuntimeError("no deletes")
        with contextlib.suppress(KeyError):
            return [method.encode()]
    """
    after = migrated(before, "converted")
    assert after.count('"type": "http.response.start"') == 2
    requests = [Req("GET", "/"), Req("HEAD", "/"), Req("DELETE", "/"), Req("POST", "/", body=b"x")]
    assert_same_behaviour(before, after, requests)


def test_generator_with_cleanup() -> None:
    before = """
    def app(environ, start_response):
        parts = environ["QUERY_STRING"].split(",")
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            for part in parts:
                yield part.encode()
                yield b";"
        finally:
            parts.clear()
    """
    after = migrated(before, "converted")
    assert_same_behaviour(before, after, [Req("GET", "/?a,b,c"), Req("GET", "/")])


# --------------------------------------------------------------------------- environ reads


CGI_ECHO = """
import json
import textwrap

def app(environ, start_response):
    seen = {
        "method": environ["REQUEST_METHOD"],
        "script": environ.get("SCRIPT_NAME", ""),
        "path": environ["PATH_INFO"],
        "decoded": environ["PATH_INFO"].encode("latin-1").decode("utf-8", "replace"),
        "query": environ.get("QUERY_STRING", ""),
        "type": environ.get("CONTENT_TYPE", "none"),
        "length": environ.get("CONTENT_LENGTH"),
        "accept": environ.get("HTTP_ACCEPT"),
        "multi": environ.get("HTTP_X_MULTI", "-"),
        "has_auth": "HTTP_AUTHORIZATION" in environ,
        "no_auth": "HTTP_AUTHORIZATION" not in environ,
        "cookie": environ.get("HTTP_COOKIE", ""),
        "host": environ["HTTP_HOST"],
        "server_named": bool(environ["SERVER_NAME"]),
        "port_is_digits": environ["SERVER_PORT"].isdigit(),
        "remote": environ["REMOTE_ADDR"],
        "scheme": environ["wsgi.url_scheme"],
        "protocol": environ["SERVER_PROTOCOL"],
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(seen, sort_keys=True).encode()]
"""

CGI_REQUESTS = [
    Req("GET", "/plain?a=1&b=%20x", headers=[("Host", "example.com")]),
    Req("GET", "/café/ü?q=é", headers=[("Host", "example.com"), ("Accept", "text/html")]),
    Req("GET", "/caf%C3%A9%2Fx", headers=[("Host", "example.com")]),
    Req(
        "POST",
        "/form",
        headers=[
            ("Host", "example.com"),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", "Bearer t"),
        ],
        body=b"a=1",
        cookies={"session": "abc", "theme": "dark"},
    ),
]


def test_every_cgi_key_has_the_same_value() -> None:
    after = migrated(CGI_ECHO, "converted")
    assert "environ" not in after
    assert 'scope["method"]' in after
    assert 'scope["query_string"].decode("latin-1")' in after
    # waitress, like most servers, leaves CONTENT_TYPE out when the request has none
    # (wsgiref makes one up: "text/plain"); the ASGI app reads the header.
    assert_same_behaviour(CGI_ECHO, after, CGI_REQUESTS, wsgi_server="waitress")
    # Repeated headers are joined with "," like wsgiref and asgiref do (waitress uses ", ").
    repeated = Req(
        "PUT",
        "/multi",
        headers=[
            ("Host", "h"),
            ("Content-Type", "text/plain"),
            ("X-Multi", "one"),
            ("X-Multi", "two"),
        ],
    )
    with_type = [r for r in CGI_REQUESTS if any(h[0] == "Content-Type" for h in r.headers)]
    assert_same_behaviour(CGI_ECHO, after, [*with_type, repeated], wsgi_server="wsgiref")


def test_path_info_latin1_round_trip_becomes_the_decoded_path() -> None:
    before = """
    def app(environ, start_response):
        path = environ["PATH_INFO"].encode("latin-1").decode("utf-8")
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"[{path}] {len(path)}".encode("utf-8")]
    """
    after = migrated(before, "converted")
    assert "path = asgi_helpers.request_path(scope)" in after
    requests = [Req("GET", "/café"), Req("GET", "/%E2%82%AC/x"), Req("GET", "/%FF")]
    assert_same_behaviour(before, after, requests)


def test_missing_key_raises_before_and_after() -> None:
    before = """
    def app(environ, start_response):
        token = environ["HTTP_X_TOKEN"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [token.encode()]
    """
    after = migrated(before, "converted")
    assert_same_behaviour(
        before, after, [Req("GET", "/", headers=[("X-Token", "t")]), Req("GET", "/")]
    )


def test_reads_inside_f_strings_keep_valid_quotes() -> None:
    before = """
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        text = f"{environ['REQUEST_METHOD']} {environ.get('HTTP_X_A', 'none')} {environ['SERVER_PROTOCOL']}"
        return [text.encode(), f'{"HTTP_X_B" in environ}'.encode()]
    """
    after = migrated(before, "converted")
    compile(after, "after.py", "exec")  # valid on Python 3.10 too: no reused quotes
    assert "{'HTTP/' + scope['http_version']}" in after
    requests = [Req("GET", "/"), Req("PATCH", "/", headers=[("X-A", "1"), ("X-B", "2")])]
    assert_same_behaviour(before, after, requests)


# --------------------------------------------------------------------------- request body


def test_form_and_json_bodies() -> None:
    before = """
    import json
    from urllib.parse import parse_qs

    def app(environ, start_response):
        try:
            size = int(environ.get("CONTENT_LENGTH", 0))
        except ValueError:
            size = 0
        raw = environ["wsgi.input"].read(size)
        if environ.get("CONTENT_TYPE", "").startswith("application/json"):
            data = json.loads(raw or b"null")
        else:
            data = parse_qs(raw.decode("utf-8"))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"size": size, "data": data}, sort_keys=True).encode()]
    """
    after = migrated(before, "converted")
    assert "raw = await asgi_helpers.read_body(receive, size)" in after
    requests = [
        Req(
            "POST",
            "/",
            headers=[("Content-Type", "application/x-www-form-urlencoded")],
            body=b"a=1&a=2&b=%C3%A9",
        ),
        Req(
            "PUT",
            "/",
            headers=[("Content-Type", "application/json")],
            body=json.dumps({"x": [1, 2]}).encode(),
        ),
        Req("POST", "/", headers=[("Content-Type", "text/plain")], body=b"x" * 200_000),
        Req("GET", "/", headers=[("Content-Type", "text/plain")]),
    ]
    assert_same_behaviour(before, after, requests)


def test_body_read_inside_an_expression() -> None:
    before = """
    def app(environ, start_response):
        n = int(environ.get("CONTENT_LENGTH") or 0)
        text = environ["wsgi.input"].read(n).decode("utf-8").upper()
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return [text.encode("utf-8")]
    """
    after = migrated(before, "converted")
    assert "(await asgi_helpers.read_body(receive, n)).decode" in after
    assert_same_behaviour(before, after, [Req("POST", "/", body="héllo".encode())])


# --------------------------------------------------------------------------- helpers, wsgiref


def test_environ_handed_to_read_only_helpers() -> None:
    before = """
    def client_name(environ):
        return environ.get("HTTP_X_NAME") or environ["REMOTE_ADDR"]

    def describe(env, prefix):
        return prefix + env["REQUEST_METHOD"] + " " + client_name(env)

    def app(environ, start_response):
        text = describe(environ, "> ")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [text.encode()]
    """
    after = migrated(before, "converted")
    assert "environ = asgi_helpers.build_environ(scope)" in after
    assert "def client_name(environ):" in after  # helpers are left as they are
    assert_same_behaviour(
        before, after, [Req("GET", "/"), Req("PUT", "/", headers=[("X-Name", "z")])]
    )


def test_wsgiref_util_helpers() -> None:
    before = """
    from wsgiref import util
    from wsgiref.util import request_uri, shift_path_info

    def app(environ, start_response):
        full = request_uri(environ)
        bare = request_uri(environ, include_query=False)
        base = util.application_uri(environ)
        first = shift_path_info(environ)
        second = shift_path_info(environ)
        rest = environ["PATH_INFO"]
        mount = environ["SCRIPT_NAME"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [repr((full, bare, base, first, second, rest, mount)).encode()]
    """
    after = migrated(before, "converted")
    assert "first, scope = asgi_helpers.shift_path_info(scope)" in after
    requests = [
        Req("GET", "/a/b/c?x=1", headers=[("Host", "example.com")]),
        Req("GET", "/a//./b", headers=[("Host", "example.com")]),
        Req("GET", "/", headers=[("Host", "example.com:8080")]),
        Req("GET", "/caf%C3%A9/%FF/z", headers=[("Host", "example.com")]),
    ]
    assert_same_behaviour(before, after, requests)


def test_os_environ_is_not_the_wsgi_environ() -> None:
    # `os.environ` / `f(environ=...)`: attribute and keyword names, not uses of the environ
    before = """
    import os

    def label(environ="?"):
        return "[" + environ + "]"

    def app(environ, start_response):
        mode = os.environ.get("W2A_TEST_MODE", "dev")
        home = "HOME" in os.environ
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [(label(environ=mode) + " " + str(home) + " " + environ["PATH_INFO"]).encode()]
    """
    after = migrated(before, "converted")
    assert 'os.environ.get("W2A_TEST_MODE", "dev")' in after
    assert_same_behaviour(before, after, [Req("GET", "/a"), Req("GET", "/b?x=1")])


def test_parameter_named_like_the_app_is_not_a_use_of_it() -> None:
    # `def Mw(app)` shadows the module's `app`: not another use, so `app` is converted
    before = """
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode("latin-1")]


    def Mw(app, prefix="x"):
        def wrapped(environ, start_response):
            return app(environ, start_response)

        return wrapped


    handler = lambda app: app
    """
    after = migrated(before, "converted")
    assert "async def app(scope, receive, send):" in after
    assert_same_behaviour(before, after, [Req("GET", "/a")])
    # a default value or decorator is evaluated outside: still a use
    used = before.replace('prefix="x"', "prefix=app")
    after = migrated(used, "manual")
    assert "def app(environ, start_response):" in after


@pytest.mark.parametrize(
    "local",
    [
        "app = make()\n    return app",
        "def app():\n        return 1\n    return app",
        "for app in make():\n        pass\n    return app",
        "from os import path as app\n    return app",
        "with make() as app:\n        return app",
        "(app, other) = make()\n    return app",
    ],
)
def test_a_local_variable_named_like_the_app_is_not_a_use_of_it(local: str) -> None:
    """A function binding ``app`` itself uses its own: Python makes the name local there."""
    before = f"""
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode("latin-1")]


def helper(make):
    {local}
"""
    after = migrated(before, "converted")
    assert "async def app(scope, receive, send):" in after
    # ``global app`` makes it the module's: a use again
    used = before.replace("(make):\n", "(make):\n    global app\n")
    after = migrated(used, "manual")
    assert "def app(environ, start_response):" in after


# --------------------------------------------------------------------------- adapted, manual


ADAPTED_CASES = {
    "environ written": """
    def app(environ, start_response):
        environ["app.seen"] = True
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [repr(environ["app.seen"]).encode()]
    """,
    "exc_info": """
    import sys

    def app(environ, start_response):
        try:
            value = 1 // len(environ["QUERY_STRING"])
        except ZeroDivisionError:
            start_response("500 Oops", [("Content-Type", "text/plain")], sys.exc_info())
            return [b"oops"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(value).encode()]
    """,
    "iterable with close()": """
    class Body:
        def __init__(self, chunks):
            self.chunks = chunks
        def __iter__(self):
            return iter(self.chunks)
        def close(self):
            pass

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body([b"a", b"b"])
    """,
    # an iterable class whose __init__ starts the response (its native form: see
    # test_rule_wsgi_app_iterable_classes.py); it stays a class
    "PEP 3333 iterable class starting in __init__": """
    class app:
        def __init__(self, environ, start_response):
            self.path = environ["PATH_INFO"]
            start_response("200 OK", [("Content-Type", "text/plain")])

        def __iter__(self):
            yield b"Hello from "
            yield self.path.encode("latin-1")
    """,
    # a Python 2 leftover (gunicorn's examples/bad.py): WSGI servers answer 500 before any
    # header goes out; converted, the ASGI server would fail after the start
    "text body": """
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return ["ok"]
    """,
    "text chunk yielded": """
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield f"path {environ['PATH_INFO']}"
    """,
}


@pytest.mark.parametrize("case", sorted(ADAPTED_CASES))
def test_adapted_fallback_behaves_the_same(case: str) -> None:
    before = ADAPTED_CASES[case]
    # `hello` is also called by `app`: it stays WSGI (manual marker), `app` is adapted
    kinds = ("manual", "adapted") if "hello" in before else ("adapted",)
    after = migrated(before, *kinds)
    assert "# migrate[wsgi-app]: `app` kept as WSGI" in after
    if "class app" in before:  # a class stays a class
        assert 'app = asgi_helpers.app_class(WsgiToAsgi(_app_wsgi), "app")' in after
        assert inspect.isclass(load_module(after).app)
    else:
        assert "app = WsgiToAsgi(_app_wsgi)" in after
    assert "from adapters import WsgiToAsgi" in after
    requests = [Req("GET", "/hello?x"), Req("GET", "/other"), Req("GET", "/")]
    assert_same_behaviour(before, after, requests)


def test_callable_class_that_cannot_convert_is_adapted_at_its_instances() -> None:
    before = """
    class Router:
        def __init__(self, routes):
            self.routes = routes

        def __call__(self, environ, start_response):
            handler = self.routes.get(environ["PATH_INFO"])
            if handler is None:
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"no route"]
            return handler(environ, start_response)

    def index(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"index"]

    app = Router({"/": index})
    """
    after, changes = migrate_text(before)
    assert [(c.kind, c.message.split(":")[0]) for c in sorted(changes, key=lambda c: c.line)] == [
        ("manual", "WSGI app `index` is also used by other code here (line 17); left as WSGI"),
        ("adapted", "`app` kept as WSGI and served through adapters.WsgiToAsgi"),
    ]
    assert 'app = WsgiToAsgi(Router({"/": index}))' in after
    assert_idempotent(after)
    assert_same_behaviour(
        before, after, [Req("GET", "/"), Req("GET", "/x")], asgi_servers=("uvicorn",)
    )


# --------------------------------------------------------------------------- app factories


def test_app_made_by_a_factory_is_converted_where_it_stands() -> None:
    """``def make_app(...)`` defining a WSGI app and returning it: the app becomes ASGI inside
    the factory, so the name bound to what it returns holds an ASGI app."""
    before = """
    def make_app(greeting="Hello", *, allow="OPTIONS,GET"):
        counter = {"hits": 0}

        def prometheus_like(environ, start_response):
            counter["hits"] += 1
            if environ["REQUEST_METHOD"] == "OPTIONS":
                status = "200 OK"
                headers = [("Allow", allow)]
                output = b""
            elif environ["PATH_INFO"] == "/favicon.ico":
                status = "404 Not Found"
                headers = [("Content-Type", "text/plain")]
                output = b"no icon"
            else:
                status = "200 OK"
                headers = [("Content-Type", "text/plain")]
                output = f"{greeting} #{counter['hits']}".encode()
            start_response(status, headers)
            return [output]

        return prometheus_like

    app = make_app("Hi")
    """
    after = migrated(before, "converted")
    assert "    async def prometheus_like(scope, receive, send):" in after
    assert 'app = make_app("Hi")' in after
    assert_same_behaviour(
        before,
        after,
        [Req("GET", "/"), Req("OPTIONS", "/"), Req("GET", "/favicon.ico"), Req("GET", "/x")],
    )


def test_factory_whose_app_cannot_convert_is_adapted_at_its_bindings() -> None:
    before = """
    def make_app(routes):
        def dispatch(environ, start_response):
            handler = routes.get(environ["PATH_INFO"])
            if handler is None:
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"no route"]
            return handler(environ, start_response)

        return dispatch

    def index(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"index"]

    app = make_app({"/": index})
    """
    after, changes = migrate_text(before)
    assert sorted(c.kind for c in changes) == ["adapted", "manual"], changes
    assert 'app = WsgiToAsgi(make_app({"/": index}))' in after
    assert_idempotent(after)
    assert_same_behaviour(before, after, [Req("GET", "/"), Req("GET", "/x")])


@pytest.mark.parametrize(
    "use",
    [
        # a WSGI test client and a server call the rule does not rewrite take the WSGI app
        "from wsgiref.validate import validator\nchecked = validator(make_app())",
        "from wsgiref.handlers import CGIHandler\nCGIHandler().run(make_app())",
    ],
)
def test_factory_whose_result_is_used_as_wsgi_here_stays_wsgi(use: str) -> None:
    before = f"""
def make_app():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"made"]

    return app

application = make_app()
{use}
"""
    after, changes = migrate_text(before)
    assert "def app(environ, start_response):" in after
    assert [c.kind for c in changes] == ["manual"], changes
    assert_idempotent(after)


APP_IN_A_FACTORY = """
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"made"]
"""


@pytest.mark.parametrize(
    ("head", "tail"),
    [
        # a fixture reaches its users by name, out of sight
        ("import pytest\n\n@pytest.fixture\ndef make_app():", "    return app"),
        # the app is not all it returns
        ("def make_app(debug=False):\n    if debug:\n        return None", "    return app"),
        # the app is also used inside the factory
        ("def make_app(registry):", "    registry.append(app)\n    return app"),
    ],
)
def test_what_only_looks_like_a_factory_is_left_alone(head: str, tail: str) -> None:
    before = f"{head}{APP_IN_A_FACTORY}\n{tail}\n\n\napplication = make_app([])\n"
    after, changes = migrate_text(before)
    assert changes == [], changes
    assert after == before


# --------------------------------------------------------------------------- dispatchers


def test_dispatcher_handing_requests_to_handlers_of_its_table_converts_with_them() -> None:
    """An app that picks a handler by path from a table of the module's apps (its default
    one of them too) and hands it the request: the table's apps and the dispatcher convert
    together (see migrate.route_tables)."""
    before = """
    def index(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"index"]

    def not_found(environ, start_response):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"nope " + environ["PATH_INFO"].encode()]

    ROUTES = {"/": index}

    def app(environ, start_response):
        handler = ROUTES.get(environ["PATH_INFO"], not_found)
        return handler(environ, start_response)
    """
    after, changes = migrate_text(before)
    assert sorted((c.kind, c.message.split("`")[1]) for c in changes) == [
        ("converted", "app"),
        ("converted", "index"),
        ("converted", "not_found"),
    ]
    assert "return await handler(scope, receive, send)" in after
    assert_idempotent(after)
    assert_same_behaviour(before, after, [Req("GET", "/"), Req("GET", "/x")])


PAIRS = """
import re


def home(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"home"]


def order(environ, start_response):
    number, = environ["shop.args"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("order %s, %s" % (number, environ["REQUEST_METHOD"])).encode()]


ROUTES = [
    (re.compile(r"^/$"), ("GET",), home),
    (re.compile(r"^/orders/(\\d+)$"), ("GET", "DELETE"), order),
]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    for pattern, methods, handler in ROUTES:
        match = pattern.match(path)
        if match is None:
            continue
        if environ["REQUEST_METHOD"] not in methods:
            start_response("405 Method Not Allowed", [("Allow", ", ".join(methods))])
            return [b""]
        environ["shop.args"] = match.groups()
        return handler(environ, start_response)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no route"]
"""


def test_a_dispatcher_looping_over_a_list_of_routes_converts_with_them() -> None:
    after = migrated(PAIRS, "converted", "converted", "converted")
    assert "for pattern, methods, handler in ROUTES:" in after
    assert "return await handler(scope, receive, send)" in after
    requests = [
        Req("GET", "/"),
        Req("GET", "/orders/12"),
        Req("DELETE", "/orders/7"),
        Req("POST", "/orders/7"),
        Req("GET", "/nowhere"),
    ]
    assert_same_behaviour(PAIRS, after, requests)


@pytest.mark.parametrize(
    "change",
    [
        # the handler is bound otherwise too
        (
            "        return handler(environ,",
            "        handler = order\n        return handler(environ,",
        ),
        # the table is used otherwise
        ("def app(environ", "FIRST = ROUTES[0]\n\n\ndef app(environ"),
        # a row holds no app of the module
        ('    (re.compile(r"^/$"), ("GET",), home),', '    (re.compile(r"^/$"), ("GET",), len),'),
    ],
)
def test_a_list_of_routes_used_otherwise_keeps_the_dispatcher_wsgi(change: tuple[str, str]) -> None:
    before = PAIRS.replace(*change)
    assert before != PAIRS
    _, changes = migrate_text(before)
    app_changes = [c for c in changes if c.message.split("`")[1] == "app"]
    assert [c.kind for c in app_changes] == ["adapted"], changes


BY_METHOD_AND_PATH = """
class Router(object):
    def __init__(self, routes, fallback_text="nothing here"):
        self.routes = routes
        self.fallback_text = fallback_text

    def __call__(self, environ, start_response):
        for method, path, view in self.routes:
            if environ["REQUEST_METHOD"] == method and environ["PATH_INFO"] == path:
                return view(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [self.fallback_text.encode()]


def listing(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"all the things"]


def create(environ, start_response):
    size = int(environ.get("CONTENT_LENGTH") or 0)
    start_response("201 Created", [("Content-Type", "text/plain")])
    return [b"made " + environ["wsgi.input"].read(size)]


app = Router([("GET", "/things", listing), ("POST", "/things", create)])
"""


def test_a_class_given_its_routes_by_its_constructor_converts_with_them() -> None:
    after = migrated(BY_METHOD_AND_PATH, "converted", "converted", "converted")
    assert "async def __call__(self, scope, receive, send):" in after
    assert "return await view(scope, receive, send)" in after
    requests = [
        Req("GET", "/things"),
        Req("POST", "/things", body=b"one"),
        Req("DELETE", "/things"),
        Req("GET", "/other"),
    ]
    assert_same_behaviour(BY_METHOD_AND_PATH, after, requests)


COMPILED = (
    BY_METHOD_AND_PATH.replace(
        "        self.routes = routes\n",
        '        self.routes = [(m, re.compile(p + "$"), v) for m, p, v in routes]\n',
    )
    .replace(
        '            if environ["REQUEST_METHOD"] == method and environ["PATH_INFO"] == path:',
        '            if environ["REQUEST_METHOD"] == method and path.match(environ["PATH_INFO"]):',
    )
    .replace("class Router(object):", "import re\n\n\nclass Router(object):")
)


def test_routes_the_constructor_compiles_first_convert_too() -> None:
    assert "re.compile" in COMPILED and "path.match" in COMPILED
    after = migrated(COMPILED, "converted", "converted", "converted")
    requests = [Req("GET", "/things"), Req("POST", "/things", body=b"two"), Req("GET", "/x")]
    assert_same_behaviour(COMPILED, after, requests)


@pytest.mark.parametrize(
    "tail",
    [
        'app.routes.append(("PUT", "/things", create))\n',  # the table changed later
        'ROUTES = [("GET", "/", listing)]\nother = Router(ROUTES)\n',  # not a literal
    ],
)
def test_a_class_whose_routes_change_out_of_sight_stays_wsgi(tail: str) -> None:
    before = BY_METHOD_AND_PATH + tail
    after, changes = migrate_text(before)
    assert "def __call__(self, environ, start_response):" in after
    assert not any("`Router` converted" in c.message for c in changes), changes


def test_dispatcher_whose_table_holds_what_the_module_does_not_define_is_adapted() -> None:
    """A handler of unknown origin in the table: the dispatcher stays WSGI behind the adapter,
    and the module's handlers with it."""
    before = """
    from elsewhere import legacy

    def index(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"index"]

    ROUTES = {"/": index, "/legacy": legacy}

    def app(environ, start_response):
        handler = ROUTES.get(environ["PATH_INFO"])
        return handler(environ, start_response)
    """
    after, changes = migrate_text(before)
    assert sorted((c.kind, c.message.split("`")[1]) for c in changes) == [
        ("adapted", "app"),
        ("manual", "index"),
    ]
    assert "app = WsgiToAsgi(_app_wsgi)" in after


def test_dispatcher_whose_answer_is_wrapped_in_what_it_returns_is_adapted() -> None:
    """``return map(encode, handler(environ, start_response))``: the handler's answer, looked
    up by a regex router, is part of what the dispatcher returns."""
    before = r"""
    import re

    def home(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["home"]

    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["hello ", environ["routing.kwargs"]["name"]]

    URLS = [(re.compile(r"^$"), home), (re.compile(r"^hello/(?P<name>\w+)$"), hello)]

    def match(path):
        for regex, view in URLS:
            found = regex.match(path)
            if found:
                return view, found.groupdict()
        return home, {}

    def app(environ, start_response):
        handler, kwargs = match(environ["PATH_INFO"][1:])
        environ["routing.kwargs"] = kwargs
        return map(lambda chunk: chunk.encode("utf8"), handler(environ, start_response))
    """
    after, changes = migrate_text(before)
    assert [c.kind for c in changes if "`app`" in c.message] == ["adapted"]
    assert "app = WsgiToAsgi(_app_wsgi)" in after
    assert_idempotent(after)
    assert_same_behaviour(before, after, [Req("GET", "/"), Req("GET", "/hello/bob")])


def test_a_function_handing_two_arguments_on_without_reading_cgi_keys_is_no_app() -> None:
    before = """
    def apply(handler, value):
        return handler(handler, value)

    def call_later(callback, delay):
        return schedule(callback, delay)
    """
    after, changes = migrate_text(before)
    assert changes == [] and after == textwrap.dedent(before)


@pytest.mark.parametrize(
    ("maker", "what"),
    [
        (
            """
            class Greeter:
                def __call__(self, environ, start_response):
                    start_response("200 OK", [("Content-Type", "text/plain")])
                    return [b"hi"]
            """,
            "WSGI app class `Greeter`",
        ),
        (
            """
            def make_greeter():
                def greet(environ, start_response):
                    start_response("200 OK", [("Content-Type", "text/plain")])
                    return [b"hi"]

                return greet
            """,
            "WSGI app factory `make_greeter`",
        ),
    ],
)
def test_a_maker_of_apps_no_name_here_holds_stays_wsgi_and_says_so(maker: str, what: str) -> None:
    """A class or factory whose apps are made elsewhere (a library's API, another module's
    entry point): how they are served is out of sight, so the code stays as it is, with a
    marker (it was skipped silently before)."""
    after, changes = migrate_text(maker)
    assert [c.kind for c in changes] == ["manual"]
    assert changes[0].message.startswith(f"{what} left as WSGI: no name of this module holds")
    marker = f"# migrate[wsgi-app]: {changes[0].message}\n"
    assert marker in after and after.replace(marker, "") == textwrap.dedent(maker)
    assert_idempotent(after)


def test_apps_a_factory_made_for_a_wsgi_dispatcher_stay_wsgi_under_it() -> None:
    """``blog = make_app("blog")`` handed to a dispatcher class of the module: the factory is
    left as WSGI (its apps are used by WSGI code), the dispatcher is served through the
    adapter."""
    before = """
    def make_app(name):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [name.encode() + b" " + environ["PATH_INFO"].encode()]

        return app


    class Mount:
        def __init__(self, mounts):
            self.mounts = mounts

        def __call__(self, environ, start_response):
            for prefix, app in self.mounts.items():
                if environ["PATH_INFO"].startswith(prefix):
                    return app(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no mount"]


    blog = make_app("blog")
    shop = make_app("shop")
    app = Mount({"/blog": blog, "/shop": shop})
    """
    after, changes = migrate_text(before)
    assert sorted((c.kind, c.message.split(":")[0]) for c in changes) == [
        ("adapted", "`app` kept as WSGI and served through adapters.WsgiToAsgi"),
        (
            "manual",
            "WSGI app factory `make_app` is also used by other code here (line 24); left as WSGI",
        ),
    ]
    assert_idempotent(after)
    assert_same_behaviour(before, after, [Req("GET", "/blog/x"), Req("GET", "/z")])


CARRIED_KEYS = """
class Auth:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if "HTTP_X_USER" in environ:
            environ["myapp.user"] = environ["HTTP_X_USER"]
            environ["REMOTE_USER"] = environ["HTTP_X_USER"].upper()
        return self.app(environ, start_response)


def inner(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    user = environ.get("myapp.user", "anonymous")
    known = "REMOTE_USER" in environ and environ["REMOTE_USER"]
    return [f"{user} {known}".encode()]


app = Auth(inner)
"""


def test_keys_a_middleware_adds_to_the_environ_are_read_from_what_it_hands_on() -> None:
    """``environ["myapp.user"]`` set by middleware in front: the converted app reads it from
    the keys the middleware hands on (``asgi_helpers.environ_extra(scope)``), converted or
    adapted, as a WSGI app read them from its environ."""
    from migrate.runner import migrate_source

    result = migrate_source(CARRIED_KEYS)
    assert [c.kind for c in result.changes if c.rule == "wsgi-app"] == ["converted"]
    after = result.new_source
    assert 'asgi_helpers.environ_extra(scope).get("myapp.user", "anonymous")' in after
    assert '"REMOTE_USER" in asgi_helpers.environ_extra(scope)' in after
    requests = [Req("GET", "/", headers=(("X-User", "ada"),)), Req("GET", "/")]
    assert_same_behaviour(CARRIED_KEYS, after, requests)


FORM_HELPER = """
from urllib.parse import parse_qs


def _form(environ):
    size = int(environ.get("CONTENT_LENGTH") or 0)
    return parse_qs(environ["wsgi.input"].read(size).decode("utf-8"))


def app(environ, start_response):
    form = _form(environ) if environ["REQUEST_METHOD"] == "POST" else {}
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr(sorted(form.items())).encode()]
"""


def test_a_helper_of_the_module_reading_the_body_gets_an_environ_with_it() -> None:
    after = migrated(FORM_HELPER, "converted")
    assert (
        "environ = asgi_helpers.build_environ(scope, await asgi_helpers.read_body(receive))"
        in after
    )
    assert "def _form(environ):" in after  # the helper itself stays as it is
    requests = [
        Req(
            "POST",
            "/",
            headers=(("Content-Type", "application/x-www-form-urlencoded"),),
            body=b"a=1&b=two",
        ),
        Req("GET", "/"),
    ]
    assert_same_behaviour(FORM_HELPER, after, requests)


TRY_AROUND_HELPERS = """
import json


class AppError(Exception):
    def __init__(self, status, detail):
        self.status, self.detail = status, detail


def reply(start_response, status, payload):
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json")])
    return [body]


def app(environ, start_response):
    try:
        if environ["PATH_INFO"] == "/fail":
            raise AppError("502 Bad Gateway", "upstream failed")
        if environ["PATH_INFO"] == "/bad-json":
            return reply(start_response, "200 OK", {"value": json.loads("{oops")})
        return reply(start_response, "200 OK", {"path": environ["PATH_INFO"]})
    except AppError as err:
        return reply(start_response, err.status, {"error": err.detail})
    except ValueError:
        return reply(start_response, "400 Bad Request", {"error": "bad json"})
"""


def test_responses_a_try_hands_to_helpers_convert_when_no_handler_catches_a_failed_send() -> None:
    """``except AppError``/``ValueError`` run before any response went out, under WSGI as
    under ASGI: the helper sends start and body at once, and nothing ``send`` raises (an
    OSError, a RuntimeError) is caught by them."""
    after = migrated(TRY_AROUND_HELPERS, "converted", "converted")  # reply, app
    assert 'return await reply(send, err.status, {"error": err.detail})' in after
    requests = [Req("GET", "/ok"), Req("GET", "/fail"), Req("GET", "/bad-json")]
    assert_same_behaviour(TRY_AROUND_HELPERS, after, requests)
    broad = TRY_AROUND_HELPERS.replace("except ValueError:", "except Exception:")
    after = migrated(broad, "adapted")
    assert "inside a try block with except handlers" in after or "try or with block" in after


FINALLY_CLOSES = """
import json
import sqlite3


def respond(start_response, status, payload):
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json")])
    return [body]


def items(environ, start_response, conn):
    rows = conn.execute("SELECT 1 UNION SELECT 2").fetchall()
    return respond(start_response, "200 OK", {"items": [r[0] for r in rows]})


def app(environ, start_response):
    conn = sqlite3.connect(":memory:")
    try:
        if environ["PATH_INFO"] == "/items":
            return items(environ, start_response, conn)
        return respond(start_response, "404 Not Found", {"error": "not found"})
    finally:
        conn.close()
"""


def test_a_connection_closed_in_finally_around_the_responses_converts() -> None:
    """The ``finally`` closes the connection once the response went out (under WSGI: once
    the body was made); the connection, made in the request's thread, is used and closed
    there: every hop of a request runs on its one thread."""
    after = migrated(FINALLY_CLOSES, "converted", "converted", "converted")
    assert "await run_blocking(conn.close)" in after
    assert_same_behaviour(FINALLY_CLOSES, after, [Req("GET", "/items"), Req("GET", "/x")])


ROUTE_TABLE = """
import json


def stats(environ, start_response):
    body = json.dumps({"path": environ["PATH_INFO"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def progress(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"step 1\\n")
    write(b"step 2\\n")
    return [b"done\\n"]


ROUTES = {"/stats": stats, "/progress": progress}


def application(environ, start_response):
    handler = ROUTES.get(environ.get("PATH_INFO", ""))
    if handler is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"unknown\\n"]
    return handler(environ, start_response)
"""


def test_a_route_table_and_its_dispatcher_convert_together() -> None:
    after = migrated(ROUTE_TABLE, "converted", "converted", "converted")
    assert "return await handler(scope, receive, send)" in after
    assert 'ROUTES = {"/stats": stats, "/progress": progress}' in after
    requests = [Req("GET", "/stats"), Req("GET", "/progress"), Req("GET", "/nope")]
    assert_same_behaviour(ROUTE_TABLE, after, requests, app_name="application")
    # one app of the table that cannot convert keeps the whole table and dispatcher WSGI
    lazy = ROUTE_TABLE.replace('return [b"done\\n"]', 'return iter([b"x", b"y"])')
    assert lazy != ROUTE_TABLE
    after = migrated(lazy, "manual", "manual", "adapted")
    assert_same_behaviour(lazy, after, requests, app_name="application")


MEMO = """
CACHE = {}


def app(environ, start_response):
    body = CACHE.get(environ["PATH_INFO"])
    if body is None:
        body = ("page for %s" % environ["PATH_INFO"]).encode()
        CACHE[environ["PATH_INFO"]] = body
        CACHE[environ.get("QUERY_STRING", ""), "seen"] = True
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"""


def test_a_key_read_from_the_environ_to_store_elsewhere_is_no_write_to_it() -> None:
    # ``CACHE[environ["PATH_INFO"]] = body`` writes to CACHE: before, the environ in the key
    # counted as written and the app stayed WSGI
    after = migrated(MEMO, "converted")
    assert "CACHE[asgi_helpers.path_info(scope)] = body" in after
    assert_same_behaviour(MEMO, after, [Req("GET", "/a"), Req("GET", "/a"), Req("GET", "/b?x")])
