"""``asgi_helpers.HeldStart``: the ``send`` an error-page middleware hands the app it guards.
The response start waits for the first body bytes, as a WSGI server's headers do, so an
error raised before them can still be answered with the middleware's page."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters import asgi_helpers

Message = dict[str, Any]


def guarded(app: Any) -> list[Message]:
    """What reaches the server when an error-page middleware guards ``app``."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def middleware() -> None:
        response = asgi_helpers.HeldStart(send)
        try:
            await app({"type": "http"}, receive, response)
        except LookupError:
            if response.started:
                raise
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b"page"})

    asyncio.run(middleware())
    return sent


def start(status: int = 200) -> Message:
    return {"type": "http.response.start", "status": status, "headers": [(b"x-app", b"1")]}


def test_the_start_waits_for_the_first_bytes() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    assert [m.get("status", m.get("body")) for m in guarded(app)] == [200, b"one", b""]


def test_an_error_before_the_first_bytes_is_answered_by_the_page() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        raise KeyError("before any byte")

    assert [m.get("status", m.get("body")) for m in guarded(app)] == [500, b"page"]


def test_an_error_after_bytes_went_out_is_raised() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start())
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        raise KeyError("after bytes")

    with pytest.raises(KeyError):
        guarded(app)


def test_an_empty_response_goes_out_at_its_end() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(start(204))
        await send({"type": "http.response.body", "body": b""})

    assert [m.get("status", m.get("body")) for m in guarded(app)] == [204, b""]
