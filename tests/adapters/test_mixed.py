"""The runtime for half-migrated apps: Router, wsgi_middleware, is_asgi_app, as_asgi/as_wsgi."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from typing import Any

import flask
import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters import AsgiToWsgi, WsgiToAsgi
from adapters.mixed import (
    Router,
    as_asgi,
    as_wsgi,
    asgi_middleware_around_wsgi,
    is_asgi_app,
    wsgi_middleware,
)
from tests.servers import serve_asgi


def legacy_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = json.dumps(
        {"app": "wsgi", "script_name": environ["SCRIPT_NAME"], "path_info": environ["PATH_INFO"]}
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


async def new_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    body = json.dumps(
        {"app": "asgi", "root_path": scope["root_path"], "path": scope["path"]}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AsgiClassApp:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await new_asgi(scope, receive, send)


class WsgiClassApp:
    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        return legacy_wsgi(environ, start_response)


def test_tells_wsgi_and_asgi_apps_apart() -> None:
    flask_app = flask.Flask(__name__)
    starlette_app = Starlette()
    assert is_asgi_app(new_asgi)
    assert is_asgi_app(AsgiClassApp())
    assert is_asgi_app(starlette_app)
    assert is_asgi_app(WsgiToAsgi(legacy_wsgi))
    assert not is_asgi_app(legacy_wsgi)
    assert not is_asgi_app(WsgiClassApp())
    assert not is_asgi_app(flask_app)
    assert not is_asgi_app(AsgiToWsgi(new_asgi))
    with pytest.raises(TypeError, match="cannot tell"):
        is_asgi_app(lambda *args: None)
    with pytest.raises(TypeError, match="not callable"):
        is_asgi_app(42)


def test_conversions_unwrap_instead_of_stacking_adapters() -> None:
    assert as_wsgi(WsgiToAsgi(legacy_wsgi)) is legacy_wsgi
    assert as_asgi(AsgiToWsgi(new_asgi)) is new_asgi
    assert as_asgi(new_asgi) is new_asgi
    assert as_wsgi(legacy_wsgi) is legacy_wsgi
    assert isinstance(as_asgi(legacy_wsgi), WsgiToAsgi)
    assert isinstance(as_wsgi(new_asgi), AsgiToWsgi)


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn"])
def test_router_mounts_wsgi_and_asgi_apps_by_prefix(server: str) -> None:
    app = Router({"/api/v2": new_asgi, "/legacy": legacy_wsgi, "/": WsgiClassApp()})
    with serve_asgi(app, server) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/api/v2/items").json() == {
            "app": "asgi",
            "root_path": "/api/v2",
            "path": "/api/v2/items",
        }
        assert client.get("/api/v2").json()["app"] == "asgi"
        # A segment boundary, not a string prefix: /api/v2x belongs to the root app.
        assert client.get("/api/v2x").json() == {
            "app": "wsgi",
            "script_name": "",
            "path_info": "/api/v2x",
        }
        assert client.get("/legacy/a/b").json() == {
            "app": "wsgi",
            "script_name": "/legacy",
            "path_info": "/a/b",
        }
        assert client.get("/legacy").json() == {
            "app": "wsgi",
            "script_name": "/legacy",
            "path_info": "",
        }
        assert client.get("/other").json()["path_info"] == "/other"


def test_router_without_root_mount_answers_404() -> None:
    app = Router({"/api": new_asgi})
    with serve_asgi(app) as url:
        response = httpx.get(url + "/elsewhere", timeout=10)
    assert response.status_code == 404
    assert response.text == "Not Found"


def test_router_rejects_bad_mounts() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        Router({"api": new_asgi})
    with pytest.raises(ValueError, match="two apps mounted"):
        Router({"/api": new_asgi, "/api/": legacy_wsgi})


def test_router_nested_under_a_root_path() -> None:
    inner = Router({"/v2": new_asgi, "/": legacy_wsgi})
    outer = Router({"/api": inner})
    with serve_asgi(outer) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/api/v2/x").json() == {
            "app": "asgi",
            "root_path": "/api/v2",
            "path": "/api/v2/x",
        }
        assert client.get("/api/old").json() == {
            "app": "wsgi",
            "script_name": "/api",
            "path_info": "/old",
        }


class LifespanRecorder:
    """An ASGI app that counts lifespan events and can fail its startup."""

    def __init__(self, fail_startup: bool = False) -> None:
        self.events: list[str] = []
        self.fail_startup = fail_startup

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    if self.fail_startup:
                        await send({"type": "lifespan.startup.failed", "message": "db down"})
                        return
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await new_asgi(scope, receive, send)


async def _run_lifespan(app: Any) -> list[dict[str, Any]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []
    for message in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
        inbox.put_nowait(message)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send), 5
    )
    return sent


def test_router_lifespan_reaches_each_distinct_app_once() -> None:
    recorder = LifespanRecorder()
    app = Router({"/a": recorder, "/b": recorder, "/": legacy_wsgi})
    sent = asyncio.run(_run_lifespan(app))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert recorder.events == ["lifespan.startup", "lifespan.shutdown"]


def test_router_lifespan_reports_a_failed_startup() -> None:
    app = Router({"/a": LifespanRecorder(fail_startup=True), "/b": LifespanRecorder()})
    sent = asyncio.run(_run_lifespan(app))
    assert sent[0] == {"type": "lifespan.startup.failed", "message": "db down"}


def test_router_lifespan_tolerates_apps_without_lifespan_support() -> None:
    sent = asyncio.run(_run_lifespan(Router({"/a": new_asgi})))  # new_asgi asserts type == http
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


class AddHeaderWsgiMiddleware:
    """A classic WSGI middleware: adds a response header and records what it saw."""

    def __init__(self, app: Any, name: str, value: str) -> None:
        self.app = app
        self.header = (name, value)

    def __call__(self, environ: Any, start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, self.header], exc_info)

        environ["HTTP_X_SEEN_BY_WSGI"] = "yes"
        return self.app(environ, start)


async def echo_header_asgi(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        return
    headers = dict(scope["headers"])
    body = headers.get(b"x-seen-by-wsgi", b"no")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def test_wsgi_middleware_around_an_asgi_app() -> None:
    app = wsgi_middleware(AddHeaderWsgiMiddleware)(echo_header_asgi, "X-Frame-Options", "DENY")
    with serve_asgi(app) as url:
        response = httpx.get(url + "/", timeout=10)
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert response.text == "yes"  # the environ change reached the ASGI app as a header


def test_wsgi_middleware_passes_lifespan_to_the_inner_app() -> None:
    recorder = LifespanRecorder()
    app = wsgi_middleware(AddHeaderWsgiMiddleware)(recorder, "X-A", "1")
    sent = asyncio.run(_run_lifespan(app))
    assert recorder.events == ["lifespan.startup", "lifespan.shutdown"]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_asgi_middleware_around_a_wsgi_app() -> None:
    from starlette.middleware.gzip import GZipMiddleware

    def big_wsgi(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"x" * 5000]

    app = asgi_middleware_around_wsgi(GZipMiddleware, big_wsgi, minimum_size=100)
    with serve_asgi(app) as url:
        response = httpx.get(url + "/", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == "x" * 5000


def test_starlette_and_flask_side_by_side() -> None:
    async def hello(request: Any) -> JSONResponse:
        return JSONResponse({"from": "starlette", "root_path": request.scope["root_path"]})

    flask_app = flask.Flask("legacy")

    @flask_app.route("/users/<name>")
    def user(name: str) -> dict[str, str]:
        return {"from": "flask", "name": name, "script_root": flask.request.script_root}

    app = Router({"/v2": Starlette(routes=[Route("/hello", hello)]), "/": flask_app})
    with serve_asgi(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/v2/hello").json() == {"from": "starlette", "root_path": "/v2"}
        assert client.get("/users/zoë").json() == {
            "from": "flask",
            "name": "zoë",
            "script_root": "",
        }


class SetRemoteUserWsgiMiddleware:
    """A WSGI auth middleware: sets REMOTE_USER and a custom key for the app behind it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: Any, start_response: Any) -> Any:
        environ["REMOTE_USER"] = "ada"
        environ["myapp.roles"] = ["admin"]
        environ["PATH_INFO"] = "/rewritten"  # derived keys come from the scope, not the old environ
        return self.app(environ, start_response)


class PassThroughAsgiMiddleware:
    """An ASGI layer in the middle, as a half-migrated stack has: it drops a header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k != b"x-drop"])
        await self.app(scope, receive, send)


def whoami_wsgi(environ: Any, start_response: Any) -> list[bytes]:
    body = json.dumps(
        {
            "user": environ.get("REMOTE_USER"),
            "roles": environ.get("myapp.roles"),
            "path": environ["PATH_INFO"],
            "dropped": environ.get("HTTP_X_DROP"),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def test_environ_keys_set_by_wsgi_middleware_cross_an_asgi_layer() -> None:
    """WSGI middleware → ASGI middleware → WSGI app: the app sees what the WSGI middleware set,
    as it would in a WSGI-only stack; what the ASGI layer changed (a dropped header, the path
    as the scope says) wins over the older environ."""
    inner = PassThroughAsgiMiddleware(WsgiToAsgi(whoami_wsgi))
    app = wsgi_middleware(SetRemoteUserWsgiMiddleware)(inner)
    with serve_asgi(app) as url:
        got = httpx.get(url + "/original", headers={"X-Drop": "1"}, timeout=10).json()
    assert got == {"user": "ada", "roles": ["admin"], "path": "/rewritten", "dropped": None}


def test_scope_keys_set_by_asgi_middleware_cross_a_wsgi_layer() -> None:
    """ASGI middleware → WSGI middleware → ASGI app: custom scope keys (Starlette's `user`,
    `session`, ...) reach the inner ASGI app."""

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = json.dumps(
            {"user": scope.get("user"), "state": scope.get("state", {}).get("x")}
        ).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    wrapped = wsgi_middleware(AddHeaderWsgiMiddleware)(inner, "X-A", "1")

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = dict(scope, user="grace", state={"x": 1})
        await wrapped(scope, receive, send)

    with serve_asgi(outer) as url:
        response = httpx.get(url + "/", timeout=10)
    assert response.headers["x-a"] == "1"
    assert response.json() == {"user": "grace", "state": 1}


class _StampWsgi:
    """A WSGI middleware class, as ``migrate`` keeps one it adapts."""

    header = "X-Stamp"

    def __init__(self, app: Any, value: str = "v1", *, also: str = "") -> None:
        self.app = app
        self.value = value + also

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        def stamped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, (self.header, self.value)], exc_info)

        return self.app(environ, stamped)


def test_a_wsgi_middleware_class_stays_a_class_with_its_signature_and_attributes() -> None:
    import inspect

    Stamp = wsgi_middleware(_StampWsgi)
    assert isinstance(Stamp, type) and issubclass(Stamp, _StampWsgi)
    assert Stamp.__name__ == "Stamp" and Stamp.header == "X-Stamp"
    assert str(inspect.signature(Stamp)) == str(inspect.signature(_StampWsgi))

    class Louder(Stamp):  # type: ignore[misc, valid-type]
        header = "X-Louder"

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"inner"})

    app = Louder(inner, "v2", also="!")
    assert isinstance(app, Stamp) and is_asgi_app(app)
    with serve_asgi(app) as url:
        response = httpx.get(url)
    assert (response.text, response.headers["x-louder"]) == ("inner", "v2!")


class _JsonErrors:
    """WSGI error middleware: an exception of the app becomes a JSON 500 it writes itself."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            return self.app(environ, start_response)
        except LookupError as exc:
            body = json.dumps({"error": str(exc)}).encode()
            start_response("500 Internal Server Error", [("Content-Type", "application/json")])
            return [body]


async def _failing_asgi(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    raise KeyError("order 9")


def test_wsgi_error_middleware_sees_the_errors_of_an_asgi_app_it_wraps() -> None:
    # a WSGI app raises; the ASGI app the middleware now wraps must look the same to it
    app = wsgi_middleware(_JsonErrors)(_failing_asgi)
    with serve_asgi(app, "uvicorn") as url:
        response = httpx.get(url + "/orders/9")
    assert response.status_code == 500
    assert response.json() == {"error": "'order 9'"}


def test_asgi_to_wsgi_answers_500_unless_asked_to_raise() -> None:
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "", "SERVER_NAME": "x",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
    }  # fmt: skip
    seen: list[str] = []
    body = AsgiToWsgi(_failing_asgi, lifespan=False)(environ, lambda s, h, e=None: seen.append(s))
    assert seen == ["500 Internal Server Error"] and b"".join(body) == b"Internal Server Error"
    with pytest.raises(KeyError):
        AsgiToWsgi(_failing_asgi, lifespan=False, raise_errors=True)(
            environ, lambda s, h, e=None: None
        )
