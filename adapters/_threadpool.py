"""A small bounded thread pool for running WSGI code off the event loop (standard library only).

Why not ``concurrent.futures.ThreadPoolExecutor``: every submit builds a ``Future`` with its own
lock and condition, and delivering its result to the loop costs another hop. Here a job is a plain
callable; idle workers block on ``SimpleQueue.get()`` and the job reports back to the loop itself
(see :mod:`adapters.wsgi_to_asgi`). Threads are started on demand up to ``max_workers`` and kept;
excess jobs wait in the queue (FIFO). The pool is fork-safe: a child process starts afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import threading
import weakref
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

__all__ = ["ThreadPool", "default_pool"]

logger = logging.getLogger("adapters")
T = TypeVar("T")

_Job = tuple[Callable[..., object], tuple[Any, ...]]
_pools: weakref.WeakSet[ThreadPool] = weakref.WeakSet()


class ThreadPool:
    """A bounded pool of daemon threads, shareable between apps.

    ``submit(fn, *args)`` runs ``fn(*args)`` in a worker thread and returns at once (exceptions
    are logged; deliver results yourself). ``await run(fn, *args)`` runs it with the caller's
    contextvars and returns its result.
    """

    def __init__(self, max_workers: int = 40, name: str = "wsgi2asgi") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.name = name
        self._reset()
        _pools.add(self)

    def _reset(self) -> None:
        self._queue: SimpleQueue[_Job | None] = SimpleQueue()
        self._idle = 0  # workers waiting for a job (and not yet promised one)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._shutdown = False

    @property
    def size(self) -> int:
        """Threads started so far."""
        return len(self._threads)

    def submit(self, fn: Callable[..., object], *args: Any) -> None:
        if self._shutdown:
            raise RuntimeError("thread pool is shut down")
        self._queue.put((fn, args))
        with self._lock:
            if self._idle:
                self._idle -= 1
                return
            if len(self._threads) >= self.max_workers:
                return  # the job waits in the queue for the next free worker
            thread = threading.Thread(
                target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        get, lock = self._queue.get, self._lock
        while True:
            job = get()
            if job is None:
                return
            try:
                job[0](*job[1])
            except BaseException:
                logger.exception("unhandled exception in thread pool job")
            del job
            with lock:
                self._idle += 1

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the pool with the caller's context; await its result."""
        job, future = awaited_job(fn, args, {})
        self.submit(job)
        return await future

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop the workers once the queued jobs are done."""
        self._shutdown = True
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join(timeout)


def awaited_job(
    fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Callable[[], None], asyncio.Future[T]]:
    """A job for a thread that runs ``fn(*args, **kwargs)`` with the caller's contextvars, and
    the future of the running loop it hands the result (or the exception) to."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    ctx = contextvars.copy_context()

    def job() -> None:
        try:
            result = ctx.run(fn, *args, **kwargs)
        except BaseException as exc:
            _call_soon(loop, _set_exception, future, exc)
        else:
            _call_soon(loop, _set_result, future, result)

    return job, future


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., object], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
        loop.call_soon_threadsafe(fn, *args)


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


_default: ThreadPool | None = None
_default_lock = threading.Lock()

#: Threads per process for blocking work (like anyio's default), unless the environment
#: variable says otherwise: the deployment files of a migrated project carry the old
#: server's ``--threads`` there when it asked for more.
DEFAULT_THREADS = 40
THREADS_VARIABLE = "WSGI2ASGI_BLOCKING_THREADS"


def configured_threads() -> int:
    """``$WSGI2ASGI_BLOCKING_THREADS``, else :data:`DEFAULT_THREADS`."""
    text = os.environ.get(THREADS_VARIABLE, "").strip()
    if not text:
        return DEFAULT_THREADS
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{THREADS_VARIABLE} must be a positive whole number, not {text!r}")
    return int(text)


def default_pool() -> ThreadPool:
    """The process-wide pool (:func:`configured_threads` workers) used when no pool is given."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = ThreadPool(configured_threads())
    return _default


def _after_fork() -> None:
    for pool in list(_pools):
        pool._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
