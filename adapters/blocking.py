"""Run blocking calls of async code in threads, the way a threaded WSGI server ran them.

``migrate`` rewrites a call that may block (a database driver, an HTTP client, a file) in code
it makes async into ``await run_blocking(f, *args)``. The call runs in a thread of a pool sized
for I/O (40 threads, like ``WsgiToAsgi``'s; not the loop's default executor, which has
``cpu_count + 4``), with the caller's contextvars.

Every blocking call of one request runs on the *same* thread, in order: the request (its
asyncio task) borrows one thread (a "lane") at its first blocking call and gives it back when
it ends, as a threaded WSGI server gives each request one thread. Objects bound to the thread
that made them keep working: a ``sqlite3`` connection opened in one call and used in the next,
a ``threading.local`` cache, a driver's per-thread session. When every thread is lent, a
request's first blocking call waits for one (the same back-pressure as a WSGI server's
``--threads``).

A lane given back stays parked on its own queue, so the next request's first call wakes it
directly: one thread hand-off per call and one back, as few as ``WsgiToAsgi`` needs for a
whole request (a lane never wakes only to be handed back).

A request's single blocking call (``run_blocking_last`` before any other, what ``migrate``
writes where an app makes one) needs no lane: it goes to a pool of the same size whose
free threads take the next queued call at once (the kind of pool ``WsgiToAsgi`` uses), where
a lane given back waits for the loop to hand it on (on the sqlite app of
``benchmarks/bench_blocking.py`` at 64 connections: 1.10x the adapter's requests per second,
where lanes gave 0.92x).

The pool size is ``WSGI2ASGI_BLOCKING_THREADS`` (default 40), read at the first call, or
:func:`set_blocking_threads` at start-up.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections import deque
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

from adapters._threadpool import DEFAULT_THREADS as DEFAULT_THREADS  # the pool size by default
from adapters._threadpool import ThreadPool, awaited_job, configured_threads

__all__ = [
    "AsyncFile",
    "blocking_command",
    "run_blocking",
    "run_blocking_last",
    "set_blocking_threads",
]

T = TypeVar("T")
_Job = Callable[[], None]


class _Lane:
    """One thread running the jobs put on its queue, in order, for one task at a time."""

    __slots__ = ("jobs",)

    def __init__(self) -> None:
        self.jobs: SimpleQueue[_Job | None] = SimpleQueue()
        threading.Thread(target=self._serve, name="wsgi2asgi-blocking", daemon=True).start()

    def _serve(self) -> None:
        get = self.jobs.get
        while (job := get()) is not None:
            job()  # awaited_job's jobs never raise: they hand the outcome to the loop
            del job

    def stop(self) -> None:
        self.jobs.put(None)


class _Lanes:
    """The lanes of the process: lent to tasks, parked, and the tasks waiting for one."""

    def __init__(self, size: int) -> None:
        self.size = size
        #: the pool of a request's single call (:func:`run_blocking_last` before any other)
        self.single = ThreadPool(size, name="wsgi2asgi-single")
        self.lock = threading.Lock()  # tasks of loops in other threads may share them
        self.lent: dict[asyncio.Task[Any], _Lane] = {}
        self.parked: list[_Lane] = []  # LIFO: the warmest thread first
        self.started = 0
        self.waiting: deque[asyncio.Future[_Lane]] = deque()

    def of(self, task: asyncio.Task[Any]) -> _Lane | asyncio.Future[_Lane]:
        """``task``'s lane: its own, a parked one, a new one; or a future for the first lane
        given back when all are lent."""
        # the common paths take no lock: dict and list operations are atomic
        lane = self.lent.get(task)
        if lane is not None:
            return lane
        try:
            lane = self.parked.pop()
        except IndexError:
            with self.lock:
                if self.started < self.size:
                    self.started += 1
                    lane = _Lane()
                elif self.parked:  # given back meanwhile (a loop in another thread)
                    lane = self.parked.pop()
                else:
                    waiter: asyncio.Future[_Lane] = asyncio.get_running_loop().create_future()
                    self.waiting.append(waiter)
                    return waiter
        self.lend(task, lane)
        return lane

    def lend(self, task: asyncio.Task[Any], lane: _Lane) -> None:
        self.lent[task] = lane
        task.add_done_callback(self.give_back)

    def give_back(self, task: asyncio.Task[Any]) -> None:
        lane = self.lent.pop(task, None)
        if lane is None:
            return
        if not self.waiting and not task.cancelled():
            self.parked.append(lane)
            return
        with self.lock:
            if task.cancelled():
                # it may have left a job running: later work must not queue behind it
                lane.stop()
                self.started -= 1
                lane = None
                if self.waiting:
                    self.started += 1
                    lane = _Lane()
            while self.waiting:
                waiter = self.waiting.popleft()
                if not waiter.done():  # a waiter whose task was cancelled is skipped
                    assert lane is not None
                    waiter.get_loop().call_soon_threadsafe(_hand, waiter, lane, self)
                    return
            if lane is not None:
                self.parked.append(lane)


def _hand(waiter: asyncio.Future[_Lane], lane: _Lane, lanes: _Lanes) -> None:
    if waiter.done():  # cancelled meanwhile: the lane goes to the next one
        with lanes.lock:
            lanes.parked.append(lane)
        return
    waiter.set_result(lane)


_lanes: _Lanes | None = None
_lanes_lock = threading.Lock()


def _all_lanes() -> _Lanes:
    global _lanes
    if _lanes is None:
        with _lanes_lock:
            if _lanes is None:
                _lanes = _Lanes(configured_threads())
    return _lanes


def set_blocking_threads(max_workers: int) -> None:
    """Size the pool (call at start-up, before the first request): the old server's
    ``--threads`` is a good value."""
    global _lanes
    if max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    with _lanes_lock:
        old, _lanes = _lanes, _Lanes(max_workers)
    if old is not None:
        old.single.shutdown(wait=False)
        with old.lock:
            for lane in old.parked:
                lane.stop()
            old.parked.clear()


async def run_blocking(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on this request's thread of the blocking pool; its result."""
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - a coroutine always runs in a task under asyncio
        raise RuntimeError("run_blocking() must be awaited inside an asyncio task")
    lanes = _all_lanes()
    lane = lanes.of(task)
    if not isinstance(lane, _Lane):
        lane = await lane
        lanes.lend(task, lane)
    job, future = awaited_job(fn, args, kwargs)
    lane.jobs.put(job)
    return await future


async def run_blocking_last(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """:func:`run_blocking` for what ``migrate`` writes where an app makes a single blocking
    call: when it is the request's first, it runs on any free thread and holds none after
    it returns, as ``WsgiToAsgi`` frees its thread once the WSGI app has answered.

    When the request already holds a thread (a middleware around the app opened a database
    connection there), the call runs on it and the request keeps it: that middleware may
    use the connection again once the app returns."""
    task = asyncio.current_task()
    lanes = _all_lanes()
    if task is not None and task not in lanes.lent:
        # any free thread will do, and the shared pool's threads take the next call from
        # its queue as soon as they are free, where a lane given back waits for the loop to
        # hand it on
        job, future = awaited_job(fn, args, kwargs)
        lanes.single.submit(job)
        return await future
    return await run_blocking(fn, *args, **kwargs)


def blocking_command(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn``, a sync function that an async framework calls on the event loop's thread
    outside any request (a CLI command under Quart's ``with_appcontext``), run on its task's
    thread of the blocking pool, which the caller waits for.

    The task's later :func:`run_blocking` calls (an app context's teardown closing a database
    connection the command opened) then run on the thread that made the objects they use, as
    the command and its teardown shared one thread under Flask. Called with no running task,
    ``fn`` runs where it is called."""

    @functools.wraps(fn)
    def on_task_thread(*args: Any, **kwargs: Any) -> T:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop
            task = None
        if task is None:
            return fn(*args, **kwargs)
        lanes = _all_lanes()
        lane = lanes.of(task)
        if not isinstance(lane, _Lane):  # every lane lent: this caller cannot await one
            lane.cancel()
            with lanes.lock:
                lanes.started += 1
            lane = _Lane()
            lanes.lend(task, lane)
        outcome: list[Any] = []
        done = threading.Event()
        ctx = contextvars.copy_context()

        def job() -> None:
            try:
                outcome.append((True, ctx.run(fn, *args, **kwargs)))
            except BaseException as exc:  # handed back to the caller's thread
                outcome.append((False, exc))
            finally:
                done.set()

        lane.jobs.put(job)
        done.wait()
        ok, value = outcome[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    return on_task_thread


def _after_fork() -> None:
    global _lanes
    _lanes = None  # the parent's threads do not exist here


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class AsyncFile:
    """A file opened, read and closed on the request's thread of the blocking pool, for
    frameworks that await a stream's ``read()`` and ``close()`` (``falcon.asgi``'s
    ``resp.stream``)."""

    def __init__(self, file: Any) -> None:
        self._file = file

    @classmethod
    async def open(cls, *args: Any, **kwargs: Any) -> AsyncFile:
        """``open(*args, **kwargs)`` in the pool."""
        return cls(await run_blocking(open, *args, **kwargs))

    async def read(self, size: int = -1) -> Any:
        return await run_blocking(self._file.read, size)

    async def close(self) -> None:
        await run_blocking(self._file.close)
