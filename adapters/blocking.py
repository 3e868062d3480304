"""Run blocking calls of async code in threads, the way a threaded WSGI server ran them.

``migrate`` rewrites a call that may block (a database driver, an HTTP client, a file) in code
it makes async into ``await run_blocking(f, *args)``. The call runs in a thread of a pool sized
for I/O (40 threads, like ``WsgiToAsgi``'s; not the loop's default executor, which has
``cpu_count + 4``), with the caller's contextvars.

Every blocking call of one request runs on the *same* thread, in order: the request (its
asyncio task) borrows one thread of the pool at its first blocking call and gives it back when
it ends, as a threaded WSGI server gives each request one thread. Objects bound to the thread
that made them keep working: a ``sqlite3`` connection opened in one call and used in the next,
a ``threading.local`` cache, a driver's per-thread session. When every thread is lent, a
request's first blocking call waits for one (the same back-pressure as a WSGI server's
``--threads``).

The pool size is ``WSGI2ASGI_BLOCKING_THREADS`` (default 40), read at the first call, or
:func:`set_blocking_threads` at start-up.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

from adapters._threadpool import ThreadPool, awaited_job

__all__ = ["blocking_pool", "run_blocking", "set_blocking_threads"]

T = TypeVar("T")
_Job = Callable[[], None]

DEFAULT_THREADS = 40
_pool: ThreadPool | None = None
_pool_lock = threading.Lock()
#: request task -> the thread it borrowed (its lane)
_lanes: dict[asyncio.Task[Any], _Lane] = {}


class _Lane:
    """One pool thread serving one task's jobs in order until the task ends."""

    __slots__ = ("jobs",)

    def __init__(self, pool: ThreadPool) -> None:
        self.jobs: SimpleQueue[_Job | None] = SimpleQueue()
        pool.submit(self._serve)

    def _serve(self) -> None:
        get = self.jobs.get
        while (job := get()) is not None:
            job()
            del job

    def release(self, _task: object = None) -> None:
        self.jobs.put(None)


def blocking_pool() -> ThreadPool:
    """The process-wide pool blocking calls run in (created on first use)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                size = int(os.environ.get("WSGI2ASGI_BLOCKING_THREADS") or DEFAULT_THREADS)
                _pool = ThreadPool(size, name="wsgi2asgi-blocking")
    return _pool


def set_blocking_threads(max_workers: int) -> None:
    """Size the pool (call at start-up, before the first request): the old server's
    ``--threads`` is a good value."""
    global _pool
    with _pool_lock:
        old, _pool = _pool, ThreadPool(max_workers, name="wsgi2asgi-blocking")
    if old is not None:
        old.shutdown(wait=False)


def _lane() -> _Lane:
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - a coroutine always runs in a task under asyncio
        raise RuntimeError("run_blocking() must be awaited inside an asyncio task")
    lane = _lanes.get(task)
    if lane is None:
        lane = _lanes[task] = _Lane(blocking_pool())
        task.add_done_callback(_forget)
    return lane


def _forget(task: asyncio.Task[Any]) -> None:
    lane = _lanes.pop(task, None)
    if lane is not None:
        lane.release()


async def run_blocking(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on this request's thread of the blocking pool; its result."""
    job, future = awaited_job(fn, args, kwargs)
    _lane().jobs.put(job)
    return await future


def _after_fork() -> None:
    global _pool
    _lanes.clear()
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
