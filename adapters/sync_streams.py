"""A sync iterable (a generator of response chunks) served as an async iterator, produced in
one thread as it goes.

An ASGI framework handed a sync iterator either blocks its event loop on every ``next()`` or
reads the whole of it first: Django reads a ``StreamingHttpResponse``'s sync iterator whole,
with ``sync_to_async(list)``, before it sends anything. A stream of events that never ends
(server-sent events, a long poll) then sends nothing, ever; a big export sits in memory.
:func:`iterate_in_thread` runs the iterator in one thread, asgiref's ``sync_to_async`` with
``thread_sensitive=True`` (under Django's ASGI handler: the request's own thread, where its
database connection lives and is closed), and hands each chunk to the loop as it comes::

    return StreamingHttpResponse(iterate_in_thread(rows()), content_type="text/csv")

One thread hand-off for the whole stream, not one per chunk: the thread appends chunks to a
buffer and wakes the loop only when it waits (many chunks per wake-up when it is busy). The
buffer holds ``buffer`` chunks; past that the thread waits for the loop to take them (the
client's pace, as a WSGI server writing to its socket). When the consumer stops (client gone),
the thread stops at its next chunk and the iterator is closed there.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Generic, TypeVar

from asgiref.sync import sync_to_async

__all__ = ["iterate_in_thread"]

T = TypeVar("T")


class _Stopped(Exception):
    """The consumer is gone: the producing thread ends."""


class _Handoff(Generic[T]):
    """Chunks from one producing thread to the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.loop = loop
        self.limit = limit
        self.chunks: deque[T] = deque()
        self.finished = False
        self.error: BaseException | None = None
        self.stopped = False  # the consumer is gone
        self.lock = threading.Condition()
        self.waiter: asyncio.Future[None] | None = None  # the loop waits for chunks

    # -- the producing thread --

    def put(self, chunk: T) -> None:
        with self.lock:
            while len(self.chunks) >= self.limit and not self.stopped:
                self.lock.wait()
            if self.stopped:
                raise _Stopped
            self.chunks.append(chunk)
            self._wake()

    def finish(self, error: BaseException | None = None) -> None:
        with self.lock:
            self.finished, self.error = True, error
            self._wake()

    def _wake(self) -> None:  # lock held
        waiter, self.waiter = self.waiter, None
        if waiter is not None:
            self.loop.call_soon_threadsafe(_resolve, waiter)

    # -- the loop --

    async def take(self) -> list[T]:
        """The chunks produced so far (waiting for one); [] at the end."""
        while True:
            with self.lock:
                if self.chunks:
                    taken = list(self.chunks)
                    self.chunks.clear()
                    self.lock.notify_all()
                    return taken
                if self.finished:
                    if self.error is not None:
                        raise self.error
                    return []
                waiter = self.waiter = self.loop.create_future()
            await waiter

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            self.lock.notify_all()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def iterate_in_thread(
    iterable: Iterable[T], *, buffer: int = 64, thread_sensitive: bool = True
) -> AsyncIterator[T]:
    """The items of ``iterable``, produced in one thread (see the module's docstring).

    ``thread_sensitive`` is asgiref's: True runs the iterator on the thread of the current
    ``ThreadSensitiveContext`` (Django's ASGI handler opens one per request), which outside
    such a context is one thread shared by every caller; False, on a thread of the loop's
    default executor."""
    handoff: _Handoff[T] = _Handoff(asyncio.get_running_loop(), buffer)

    def produce() -> None:
        iterator = iter(iterable)
        try:
            for chunk in iterator:
                handoff.put(chunk)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the consumer, raised there
            handoff.finish(exc)
            return
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()  # in the thread that ran it (a generator's finally: blocks)
        handoff.finish()

    producing = asyncio.ensure_future(sync_to_async(produce, thread_sensitive=thread_sensitive)())
    try:
        while chunks := await handoff.take():
            for chunk in chunks:
                yield chunk
        await producing
    finally:
        handoff.stop()  # a thread waiting to put returns; one in next() stops at its chunk
