"""``asgi_helpers.StartResponse``: a PEP 3333 ``start_response`` whose response an ASGI app
sends, for WSGI response helpers that converted code still calls::

    response = asgi_helpers.StartResponse()
    body = json_response(response, 404, {"error": "not found"})
    return await response.send(send, body)

It must send what a WSGI server sends for the same calls: the start just before the first
non-empty chunk (or at the end), ``exc_info`` honoured, ``close()`` called on every path.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from adapters.asgi_helpers import StartResponse

Messages = list[dict[str, Any]]


def sent(response: StartResponse, body: Iterable[bytes]) -> Messages:
    messages: Messages = []

    async def send(message: Any) -> None:
        messages.append(dict(message))

    asyncio.run(response.send(send, body))
    return messages


def start(status: int, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def body(data: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


class Closing:
    """A response body that counts its close() calls and may fail half-way."""

    def __init__(self, chunks: list[bytes], fail_after: int | None = None) -> None:
        self.chunks = chunks
        self.fail_after = fail_after
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_after:
                raise RuntimeError("broken body")
            yield chunk

    def close(self) -> None:
        self.closed += 1


def json_response(start_response: Any, status: str, data: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json"), ("X-Extra", "1")])
    return [data]


def test_a_list_body_is_sent_with_its_status_and_headers() -> None:
    response = StartResponse()
    assert sent(response, json_response(response, "404 Not Found", b"{}")) == [
        start(404, (b"content-type", b"application/json"), (b"x-extra", b"1")),
        body(b"{}", False),
    ]


def test_empty_chunks_are_skipped_and_an_empty_body_still_starts() -> None:
    response = StartResponse("204 No Content", [])
    assert sent(response, [b"", b""]) == [start(204), body(b"", False)]
    response = StartResponse("200 OK", [])
    assert sent(response, [b"a", b"", b"b"]) == [start(200), body(b"a", True), body(b"b", False)]


def test_a_generator_may_call_start_response_when_first_iterated() -> None:
    response = StartResponse()

    def lines(start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b""
        yield b"one\n"
        yield b"two\n"

    assert sent(response, lines(response)) == [
        start(200, (b"content-type", b"text/plain")),
        body(b"one\n", True),
        body(b"two\n", True),
        body(b"", False),
    ]


def test_exc_info_replaces_the_response_until_it_started() -> None:
    response = StartResponse()
    response("200 OK", [("Content-Type", "text/plain")])
    with pytest.raises(AssertionError):
        response("500 Internal Server Error", [])  # twice without exc_info
    try:
        raise ValueError("late")
    except ValueError:
        response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
    assert sent(response, [b"oops"]) == [
        start(500, (b"content-type", b"text/plain")),
        body(b"oops", False),
    ]


def test_exc_info_after_the_start_raises_the_error_again() -> None:
    response = StartResponse()

    def failing(start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"partial"
        try:
            raise KeyError("after start")
        except KeyError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        yield b"never"

    messages: Messages = []

    async def send(message: Any) -> None:
        messages.append(dict(message))

    with pytest.raises(KeyError, match="after start"):
        asyncio.run(response.send(send, failing(response)))
    assert messages == [start(200), body(b"partial", True)]


def test_close_is_called_once_on_every_path() -> None:
    ok = Closing([b"a", b"b"])
    response = StartResponse("200 OK", [])
    assert sent(response, ok) == [start(200), body(b"a", True), body(b"b", True), body(b"", False)]
    assert ok.closed == 1

    early = Closing([b"a"], fail_after=0)  # fails before anything is sent: a clean 500
    messages: Messages = []

    async def send(message: Any) -> None:
        messages.append(dict(message))

    with pytest.raises(RuntimeError):
        asyncio.run(StartResponse("200 OK", []).send(send, early))
    assert early.closed == 1 and messages == []

    gone = Closing([b"a", b"b"])

    async def disconnected(message: Any) -> None:
        raise OSError("client went away")

    with pytest.raises(OSError):
        asyncio.run(StartResponse("200 OK", []).send(disconnected, gone))
    assert gone.closed == 1


def test_a_body_without_start_response_is_an_error() -> None:
    with pytest.raises(AssertionError, match="before start_response"):
        sent(StartResponse(), [b"x"])
    with pytest.raises(ValueError, match="invalid WSGI status"):
        StartResponse("OK", [])


def test_write_chunks_go_out_first_in_order() -> None:
    response = StartResponse()

    def legacy(start_response: Any) -> Iterator[bytes]:
        write = start_response("200 OK", [])
        write(b"1")
        yield b"2"
        write(b"3")
        yield b"4"

    assert sent(response, legacy(response)) == [
        start(200),
        body(b"1", True),
        body(b"2", True),
        body(b"3", True),
        body(b"4", True),
        body(b"", False),
    ]
    listed = StartResponse()
    listed("200 OK", [])(b"first ")
    assert sent(listed, [b"second"]) == [start(200), body(b"first ", True), body(b"second", False)]
