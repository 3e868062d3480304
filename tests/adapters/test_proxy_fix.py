"""``adapters.ProxyFix``: an ASGI app behind it sees the request as a WSGI app behind
werkzeug's ``ProxyFix`` does, for every trust setting and every way the headers come.

Each case builds one request scope; werkzeug's ``ProxyFix`` gets the environ a WSGI server
would build from it (:func:`adapters.environ_from_scope`, what ``WsgiToAsgi`` hands a WSGI
app), ours gets the scope, and the environ built from the scope it hands on must say the same.
Served for real: ``tests/migrate/test_rule_flask_quart_proxies.py`` and the wsgi-middleware
rule's tests.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from werkzeug.middleware.proxy_fix import ProxyFix as WerkzeugProxyFix

from adapters import ProxyFix, environ_from_scope

SEEN = ("REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME",
        "SERVER_PORT", "SCRIPT_NAME", "PATH_INFO", "HTTP_X_FORWARDED_FOR")  # fmt: skip


def scope_of(headers: list[tuple[str, str]], root_path: str = "", path: str = "/a/b") -> Any:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": root_path,
        "query_string": b"", "client": ("10.0.0.9", 51000), "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"app.internal:8000")]
        + [(n.lower().encode(), v.encode("latin-1")) for n, v in headers],
    }  # fmt: skip


def through_werkzeug(scope: Any, settings: dict[str, int]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update({key: environ.get(key) for key in SEEN})
        return []

    WerkzeugProxyFix(app, **settings)(environ_from_scope(scope, io.BytesIO()), lambda *a: None)
    return seen


def through_ours(scope: Any, settings: dict[str, int]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        environ = environ_from_scope(scope, io.BytesIO())
        seen.update({key: environ.get(key) for key in SEEN})

    async def nothing() -> Any:
        return {"type": "http.request"}

    async def ignore(message: Any) -> None:
        pass

    asyncio.run(ProxyFix(app, **settings)(scope, nothing, ignore))
    return seen


ALL = {"x_for": 1, "x_proto": 1, "x_host": 1, "x_port": 1, "x_prefix": 1}
HEADERS = [
    ("X-Forwarded-For", "203.0.113.7"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "shop.example"),
    ("X-Forwarded-Port", "8443"),
    ("X-Forwarded-Prefix", "/shop"),
]
CASES = [
    pytest.param({}, HEADERS, id="werkzeug's defaults"),
    pytest.param(ALL, HEADERS, id="every header from one proxy"),
    pytest.param(ALL, [], id="no forwarded headers"),
    pytest.param(ALL, [("X-Forwarded-Host", "shop.example:9000")], id="host with a port"),
    pytest.param(ALL, [("X-Forwarded-Host", "[2001:db8::1]")], id="IPv6 host, no port"),
    pytest.param(
        {"x_for": 2, "x_proto": 2},
        [("X-Forwarded-For", "198.51.100.1, 203.0.113.7"), ("X-Forwarded-Proto", "https,http")],
        id="two proxies",
    ),
    pytest.param(
        {"x_for": 2},
        [("X-Forwarded-For", "192.0.2.66, 198.51.100.1, 203.0.113.7")],
        id="a client's own header before two proxies",
    ),
    pytest.param(
        {"x_for": 3}, [("X-Forwarded-For", "198.51.100.1, 203.0.113.7")], id="fewer than trusted"
    ),
    pytest.param(
        {"x_for": 2},
        [("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-For", "203.0.113.7")],
        id="repeated header",
    ),
    pytest.param({"x_for": 1}, [("X-Forwarded-For", '"203.0.113.7", ,')], id="quoted and empty"),
    pytest.param({"x_port": 1}, [("X-Forwarded-Port", "443")], id="port alone"),
    pytest.param({"x_host": 0}, HEADERS, id="host not trusted"),
]


@pytest.mark.parametrize(("settings", "headers"), CASES)
def test_the_app_sees_what_werkzeugs_proxy_fix_shows(
    settings: dict[str, int], headers: list[tuple[str, str]]
) -> None:
    scope = scope_of(headers)
    assert through_ours(scope, settings) == through_werkzeug(scope, settings)


def test_a_prefix_replaces_the_root_path_the_app_was_mounted_at() -> None:
    scope = scope_of([("X-Forwarded-Prefix", "/shop")], root_path="/inner", path="/inner/a/b")
    ours = through_ours(scope, ALL)
    assert ours == through_werkzeug(scope, ALL)
    assert (ours["SCRIPT_NAME"], ours["PATH_INFO"]) == ("/shop", "/a/b")


def test_a_websocket_behind_tls_is_wss_and_lifespan_passes_through() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["type"], scope.get("scheme")))

    async def main() -> None:
        fixed = ProxyFix(app)
        websocket = {**scope_of([("X-Forwarded-Proto", "https")]), "type": "websocket"}
        websocket["scheme"] = "ws"
        await fixed(websocket, None, None)  # type: ignore[arg-type]
        await fixed({"type": "lifespan"}, None, None)  # type: ignore[arg-type]

    asyncio.run(main())
    assert seen == [("websocket", "wss"), ("lifespan", None)]
