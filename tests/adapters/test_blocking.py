"""``adapters.blocking.run_blocking`` and ``adapters.watchdog.LoopWatchdog``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import sqlite3
import threading
import time

import httpx
import pytest

from adapters.blocking import run_blocking
from adapters.watchdog import LoopWatchdog, Stall
from tests.servers import serve_asgi

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def test_one_request_keeps_one_thread_and_two_requests_get_two() -> None:
    async def request() -> tuple[int, int, int]:
        first = await run_blocking(threading.get_ident)
        second = await run_blocking(threading.get_ident)
        return first, second, threading.get_ident()

    async def main() -> list[tuple[int, int, int]]:
        return await asyncio.gather(request(), request())  # each in a task of its own

    (a1, a2, loop_a), (b1, b2, loop_b) = asyncio.run(main())
    assert a1 == a2 and b1 == b2  # a request's calls share a thread
    assert a1 != b1  # two requests do not
    assert loop_a not in (a1, b1) and loop_a == loop_b


def test_a_sqlite_connection_made_in_one_call_works_in_the_next() -> None:
    async def main() -> int:
        conn = await run_blocking(sqlite3.connect, ":memory:")
        cursor = await run_blocking(conn.execute, "SELECT 41 + 1")
        row = await run_blocking(cursor.fetchone)
        await run_blocking(conn.close)
        return int(row[0])

    assert asyncio.run(main()) == 42


def test_contextvars_kwargs_and_errors_reach_the_thread() -> None:
    def show(prefix: str, *, suffix: str) -> str:
        return prefix + request_id.get() + suffix

    def fail() -> None:
        raise KeyError("gone")

    async def main() -> str:
        request_id.set("r-7")
        with pytest.raises(KeyError, match="gone"):
            await run_blocking(fail)
        return await run_blocking(show, "<", suffix=">")

    assert asyncio.run(main()) == "<r-7>"


def test_two_served_requests_wait_on_a_barrier_together() -> None:
    barrier = threading.Barrier(2, timeout=10)

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        await run_blocking(barrier.wait)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"met"})

    with serve_asgi(app) as url, concurrent.futures.ThreadPoolExecutor(2) as pool:
        bodies = list(pool.map(lambda _: httpx.get(url, timeout=30).text, range(2)))
    assert bodies == ["met", "met"]


def test_the_watchdog_names_the_request_and_the_place_once() -> None:
    stalls: list[Stall] = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        time.sleep(0.3)  # blocks the loop on purpose
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"slow"})

    watched = LoopWatchdog(app, threshold=0.05, on_block=stalls.append)
    with serve_asgi(watched) as url:
        for _ in range(3):
            assert httpx.get(url + "/slow/path", timeout=30).text == "slow"
    assert len(stalls) == 1, stalls  # the same place is reported once
    stall = stalls[0]
    assert (stall.method, stall.path) == ("GET", "/slow/path")
    assert stall.seconds >= 0.05
    assert "time.sleep(0.3)" in "".join(stall.stack)
    assert stall.place[0] == __file__


def test_the_watchdog_stays_quiet_when_the_loop_is_free() -> None:
    stalls: list[Stall] = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.2)
        await run_blocking(time.sleep, 0.2)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with serve_asgi(LoopWatchdog(app, threshold=0.05, on_block=stalls.append)) as url:
        assert httpx.get(url, timeout=30).text == "ok"
    assert stalls == []


def test_when_every_thread_is_lent_a_request_waits_for_one_given_back() -> None:
    from adapters import blocking

    async def request() -> set[int]:
        first = await run_blocking(threading.get_ident)
        await asyncio.sleep(0.01)  # holds its thread while it waits
        return {first, await run_blocking(threading.get_ident)}

    async def main() -> list[set[int]]:
        return await asyncio.gather(*(request() for _ in range(5)))

    blocking.set_blocking_threads(2)
    try:
        threads = asyncio.run(main())
    finally:
        blocking.set_blocking_threads(blocking.DEFAULT_THREADS)
    assert all(len(used) == 1 for used in threads)  # each request kept its one thread
    assert len(set().union(*threads)) == 2  # and no more than two ever ran


def test_a_request_cancelled_in_a_blocking_call_does_not_hold_up_the_next() -> None:
    from adapters import blocking

    release = threading.Event()

    async def main() -> int:
        stuck = asyncio.ensure_future(run_blocking(release.wait, 10))
        await asyncio.sleep(0.05)
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        # the one thread is still inside release.wait(): the next request gets another
        return await asyncio.wait_for(asyncio.ensure_future(run_blocking(lambda: 7)), 5)

    blocking.set_blocking_threads(1)
    try:
        assert asyncio.run(main()) == 7
    finally:
        release.set()
        blocking.set_blocking_threads(blocking.DEFAULT_THREADS)


def test_a_requests_last_call_runs_on_its_thread_and_a_single_call_on_any() -> None:
    """After earlier calls (a connection opened on the request's thread), the last one runs
    there too; a request's single call takes the next free thread of the shared pool."""
    from adapters import blocking

    async def request(calls: int) -> list[threading.Thread]:
        threads = [await run_blocking(threading.current_thread) for _ in range(calls - 1)]
        threads.append(await blocking.run_blocking_last(threading.current_thread))
        return threads

    async def main() -> list[list[threading.Thread]]:
        return [await asyncio.ensure_future(request(n)) for n in (3, 1)]

    several, single = asyncio.run(main())
    assert len({t.ident for t in several}) == 1  # the names are alike: compare the threads
    assert several[0].name.startswith("wsgi2asgi-blocking")
    assert single[0].name.startswith("wsgi2asgi-single")


def test_single_calls_share_a_pool_of_the_configured_size() -> None:
    from adapters import blocking

    async def single() -> str:
        thread = await blocking.run_blocking_last(threading.current_thread)
        return thread.name

    async def main() -> set[str]:
        return set(await asyncio.gather(*(single() for _ in range(8))))

    blocking.set_blocking_threads(1)
    try:
        assert len(asyncio.run(main())) == 1  # eight requests, one thread
    finally:
        blocking.set_blocking_threads(blocking.DEFAULT_THREADS)


def test_a_request_holding_a_thread_keeps_it_over_its_apps_last_call() -> None:
    # a middleware opened a connection on the request's thread, the app it wraps made its
    # one call (run_blocking_last), another request took a thread meanwhile: the middleware
    # closes the connection on the thread that opened it
    from adapters import blocking

    async def main() -> tuple[int | None, int | None, int | None]:
        app_returned = asyncio.Event()
        other_holds_one = asyncio.Event()
        finished = asyncio.Event()

        async def wrapped() -> tuple[int | None, int | None, int | None]:
            opened = await run_blocking(threading.get_ident)
            in_app = await blocking.run_blocking_last(threading.get_ident)
            app_returned.set()
            await other_holds_one.wait()
            closed = await run_blocking(threading.get_ident)
            return opened, in_app, closed

        async def other() -> None:
            await app_returned.wait()
            await run_blocking(lambda: None)  # takes a free thread and holds it
            other_holds_one.set()
            await finished.wait()

        other_task = asyncio.ensure_future(other())
        try:
            return await asyncio.wait_for(wrapped(), 5)
        finally:
            finished.set()
            await other_task

    blocking.set_blocking_threads(2)
    try:
        opened, in_app, closed = asyncio.run(main())
    finally:
        blocking.set_blocking_threads(blocking.DEFAULT_THREADS)
    assert opened == in_app == closed
