"""``asgi_helpers.collected_response``: an ASGI app's response as the iterable its WSGI
form would return, for a middleware that consumes the response whole."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters import asgi_helpers


def run(app: Any) -> tuple[list[tuple[str, list[tuple[str, str]]]], Any]:
    started: list[tuple[str, list[tuple[str, str]]]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def collect() -> Any:
        return await asgi_helpers.collected_response(
            app,
            {"type": "http"},
            receive,
            lambda status, headers: started.append((status, headers)),
        )

    return started, asyncio.run(collect())


async def streams_then_fails(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
    await send({"type": "http.response.body", "body": b"one ", "more_body": True})
    raise OSError("lost the cursor")


async def fails_first(scope: Any, receive: Any, send: Any) -> None:
    raise KeyError("no such thing")


def test_chunks_come_first_and_a_late_error_is_raised_while_iterating() -> None:
    started, response = run(streams_then_fails)
    assert started == [("200 OK", [("X-A", "1")])]
    seen = []
    with pytest.raises(OSError, match="lost the cursor"):
        for chunk in response:
            seen.append(chunk)
    assert seen == [b"one "]


def test_an_error_before_the_response_starts_is_raised_by_the_call() -> None:
    with pytest.raises(KeyError):
        run(fails_first)
