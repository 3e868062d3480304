"""``adapters.iterate_in_thread``: a sync generator of response chunks served as an async
iterator, produced in one thread as it goes; and what it gives a Django streaming view under
uvicorn: each event as it comes, where Django alone reads a sync generator whole before it
sends anything (a stream that never ends sends nothing)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from asgiref.sync import ThreadSensitiveContext

from adapters import iterate_in_thread
from tests.django_served import IN_MEMORY, SHOP_WSGI, served, shop_settings, write


async def collect(chunks: object, limit: int | None = None) -> list[object]:
    out = []
    async for chunk in chunks:  # type: ignore[attr-defined]
        out.append(chunk)
        if limit is not None and len(out) == limit:
            break
    return out


def test_every_chunk_arrives_in_order_past_the_buffer() -> None:
    chunks = asyncio.run(collect(iterate_in_thread((f"{n}\n" for n in range(1000)), buffer=4)))
    assert chunks == [f"{n}\n" for n in range(1000)]


def test_an_error_of_the_generator_reaches_the_consumer() -> None:
    def broken() -> Iterator[bytes]:
        yield b"first"
        raise LookupError("no such row")

    seen: list[object] = []

    async def consume() -> None:
        async for chunk in iterate_in_thread(broken()):
            seen.append(chunk)

    with pytest.raises(LookupError, match="no such row"):
        asyncio.run(consume())
    assert seen == [b"first"]


def test_a_consumer_that_stops_closes_the_generator_in_its_thread() -> None:
    closed_in: list[threading.Thread] = []

    def endless() -> Iterator[int]:
        n = 0
        try:
            while True:
                yield n
                n += 1
        finally:
            closed_in.append(threading.current_thread())

    async def main() -> tuple[list[object], threading.Thread]:
        stream = iterate_in_thread(endless(), buffer=2)
        chunks = await collect(stream, limit=3)
        await stream.aclose()  # type: ignore[attr-defined]
        for _ in range(100):  # the thread stops at its next chunk
            if closed_in:
                break
            await asyncio.sleep(0.01)
        return chunks, threading.current_thread()

    chunks, loop_thread = asyncio.run(main())
    assert chunks == [0, 1, 2]
    assert closed_in and closed_in[0] is not loop_thread


@pytest.mark.parametrize("per_request", [True, False])
def test_two_streams_blocking_in_their_generators_do_not_block_the_loop(
    per_request: bool,
) -> None:
    # each generator waits for the other before its chunk: iterated on the loop, the first
    # would hold it and the barrier would break. Thread-sensitive streams each run in their
    # request's context (as Django's ASGI handler opens one per request), the others on the
    # loop's executor.
    both = threading.Barrier(2, timeout=5)

    def waiting(name: str) -> Iterator[str]:
        both.wait()
        yield name

    async def request(name: str) -> list[object]:
        if not per_request:
            return await collect(iterate_in_thread(waiting(name), thread_sensitive=False))
        async with ThreadSensitiveContext():
            return await collect(iterate_in_thread(waiting(name)))

    async def main() -> list[list[object]]:
        return await asyncio.gather(request("a"), request("b"))

    assert asyncio.run(main()) == [["a"], ["b"]]


# --------------------------------------------------------------------------- under Django

EVENTS = """
    import time

    from django.db import connection
    from django.http import StreamingHttpResponse
    from django.urls import path

    from adapters import iterate_in_thread


    def events():
        for n in range(100):  # 5 s of events: long past the client's patience
            with connection.cursor() as cursor:  # the ORM, in the request's thread
                cursor.execute("SELECT %s", [n])
                (value,) = cursor.fetchone()
            yield f"data: {value}\\n\\n"
            time.sleep(0.05)


    def wrapped(request):
        return StreamingHttpResponse(iterate_in_thread(events()), content_type="text/event-stream")


    def plain(request):
        return StreamingHttpResponse(events(), content_type="text/event-stream")


    def ok(request):
        return StreamingHttpResponse(iter([b"ok"]))


    urlpatterns = [path("", ok), path("wrapped", wrapped), path("plain", plain)]
"""
PROJECT = {
    "shop/__init__.py": "",
    "shop/settings.py": shop_settings(databases=IN_MEMORY),
    "shop/urls.py": EVENTS,
    "shop/wsgi.py": SHOP_WSGI,
    "shop/asgi.py": SHOP_WSGI.replace("wsgi", "asgi"),
}


def first_events(url: str, count: int = 3) -> list[str]:
    """The first ``count`` events of the stream, read as they come (2 s for each at most)."""
    events: list[str] = []
    with httpx.stream("GET", url, timeout=httpx.Timeout(10, read=2)) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line)
                if len(events) == count:
                    break
    return events


def test_a_django_event_stream_is_sent_as_it_comes_under_asgi(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    expected = ["data: 0", "data: 1", "data: 2"]
    with served(tmp_path, "wsgi", "shop", "/") as url:
        assert first_events(f"{url}/plain") == expected  # WSGI streamed the sync generator
    with served(tmp_path, "asgi", "shop", "/") as url:
        assert first_events(f"{url}/wrapped") == expected
        with pytest.raises(httpx.ReadTimeout):  # Django alone reads it whole first (5 s)
            first_events(f"{url}/plain")
