"""``adapters.asgi_helpers``, which code converted by rule ``wsgi-app`` imports: each helper
gives the value the WSGI app read from ``environ``. (The served behaviour tests cover them
end to end; these pin the corners servers in tests do not reach, like a root path.)"""

from __future__ import annotations

import wsgiref.util
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest

from adapters import asgi_helpers


def scope_for(raw_path: bytes, root_path: str = "", **extra: Any) -> dict[str, Any]:
    """A scope like uvicorn's: ``path`` and ``raw_path`` include the root path."""
    full_raw = root_path.encode() + raw_path
    path = unquote_to_bytes(full_raw).decode("utf-8", "replace")
    scope = {
        "type": "http",
        "method": "GET",
        "http_version": "1.1",
        "scheme": "http",
        "path": path,
        "raw_path": full_raw,
        "root_path": root_path,
        "query_string": b"",
        "headers": [],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
    }
    scope.update(extra)
    return scope


def wsgi_path(raw_path: bytes) -> str:
    return unquote_to_bytes(raw_path).decode("latin-1")  # what wsgiref puts in PATH_INFO


@pytest.mark.parametrize("raw", [b"/", b"/a/b", b"/caf%C3%A9", b"/%FF/x", b"/a%2Fb"])
@pytest.mark.parametrize("root", ["", "/mount"])
def test_path_info_and_script_name(raw: bytes, root: str) -> None:
    scope = scope_for(raw, root)
    assert asgi_helpers.path_info(scope) == wsgi_path(raw)
    assert asgi_helpers.script_name(scope) == root
    without_raw = {k: v for k, v in scope.items() if k != "raw_path"}
    if b"%FF" not in raw:  # without raw_path the undecodable byte is already lost
        assert asgi_helpers.path_info(without_raw) == wsgi_path(raw)


def test_request_path_is_the_strict_utf8_path() -> None:
    assert asgi_helpers.request_path(scope_for(b"/caf%C3%A9", "/m")) == "/café"
    with pytest.raises(UnicodeDecodeError):
        asgi_helpers.request_path(scope_for(b"/%FF"))


@pytest.mark.parametrize("raw", [b"/a/b/c", b"/a//./b", b"/", b"/x/", b"/caf%C3%A9/%FF"])
def test_shift_path_info_matches_wsgiref(raw: bytes) -> None:
    environ = {"SCRIPT_NAME": "/m", "PATH_INFO": wsgi_path(raw)}
    scope = scope_for(raw, "/m")
    for _ in range(3):
        expected = wsgiref.util.shift_path_info(environ)
        got, scope = asgi_helpers.shift_path_info(scope)
        assert got == expected
        assert asgi_helpers.path_info(scope) == environ["PATH_INFO"]
        assert asgi_helpers.script_name(scope) == environ["SCRIPT_NAME"]


def test_request_headers_join_like_cgi() -> None:
    scope = scope_for(
        b"/",
        headers=[
            (b"x-multi", b"a"),
            (b"X-Multi", b" b "),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"x_under", b"u"),
            (b"content-type", b"text/plain"),
        ],
    )
    assert asgi_helpers.request_headers(scope) == {
        "x-multi": "a,b",
        "cookie": "a=1; b=2",
        "x-under": "u",
        "content-type": "text/plain",
    }
    environ = asgi_helpers.build_environ(scope)
    assert environ["HTTP_X_MULTI"] == "a,b"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert "HTTP_CONTENT_TYPE" not in environ
    assert environ["SERVER_PORT"] == "8000" and environ["REMOTE_ADDR"] == "127.0.0.1"


def test_server_and_client_may_be_missing() -> None:
    scope = scope_for(b"/", server=None, client=None)
    assert asgi_helpers.server_name(scope) == "localhost"
    assert asgi_helpers.server_port(scope) == "80"
    assert asgi_helpers.remote_addr(scope) == ""


async def _body(messages: list[dict[str, Any]], limit: int | None) -> bytes:
    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return await asgi_helpers.read_body(receive, limit)


def test_read_body_joins_chunks_and_honours_the_limit() -> None:
    import asyncio

    def msgs() -> list[dict[str, Any]]:
        return [
            {"type": "http.request", "body": b"ab", "more_body": True},
            {"type": "http.request", "body": b"cd", "more_body": False},
        ]

    assert asyncio.run(_body(msgs(), None)) == b"abcd"
    assert asyncio.run(_body(msgs(), 3)) == b"abc"
    assert asyncio.run(_body(msgs(), -1)) == b"abcd"
    assert asyncio.run(_body([{"type": "http.disconnect"}], None)) == b""
