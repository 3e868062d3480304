"""``LoopWatchdog``: ASGI middleware that reports requests during which the event loop stalled.

Switch it on while you finish a migration to find what static analysis cannot see (a blocking
call inside a library, a CPU-heavy loop)::

    app = LoopWatchdog(app, threshold=0.1)

The loop stamps the time every ``threshold / 4`` seconds; a watchdog thread looks at the stamp
as often. When the loop has not run for more than ``threshold`` while requests are in flight,
it logs (logger ``adapters.watchdog``, level WARNING) the request the loop was serving
(method and path) and where the loop thread was stuck (its stack), at most once per place.
``on_block`` is called with the same :class:`Stall` instead of logging, when given.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

__all__ = ["LoopWatchdog", "Stall"]

logger = logging.getLogger("adapters.watchdog")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Stall:
    """One stall of the event loop, seen during a request."""

    method: str
    path: str
    #: How long the loop had not run when the stall was seen, in seconds (at least this long).
    seconds: float
    #: The loop thread's stack then, innermost frame last (``traceback.format_list`` lines).
    stack: tuple[str, ...]
    #: (file, line) of the innermost frame: a place is reported once.
    place: tuple[str, int]


class _LoopWatch:
    """The stamp of one event loop and the thread that watches it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, middleware: LoopWatchdog) -> None:
        self.loop = loop
        self.middleware = middleware
        self.thread_id = threading.get_ident()  # created on the loop's thread
        self.interval = middleware.threshold / 4
        self.stamp = time.monotonic()
        self.requests: dict[asyncio.Task[Any], tuple[str, str]] = {}
        self.reported_episode = False
        loop.call_soon(self._tick)
        threading.Thread(target=self._watch, name="wsgi2asgi-loop-watchdog", daemon=True).start()

    def _tick(self) -> None:
        self.stamp = time.monotonic()
        self.reported_episode = False
        self.loop.call_later(self.interval, self._tick)

    def _watch(self) -> None:
        while not self.loop.is_closed():
            time.sleep(self.interval)
            late = time.monotonic() - self.stamp
            if late > self.middleware.threshold and self.requests and not self.reported_episode:
                frame = sys._current_frames().get(self.thread_id)
                if frame is not None:
                    self.reported_episode = True
                    self._report(frame, late)

    def _report(self, frame: FrameType, late: float) -> None:
        task = asyncio.current_task(self.loop)
        method, path = self.requests.get(task, ("?", "?")) if task is not None else ("?", "?")
        summary = traceback.extract_stack(frame)
        innermost = summary[-1] if summary else None
        place = (innermost.filename, innermost.lineno or 0) if innermost else ("?", 0)
        if place in self.middleware.places:
            return
        self.middleware.places.add(place)
        stall = Stall(method, path, late, tuple(traceback.format_list(summary)), place)
        self.middleware.on_block(stall)


def _log(stall: Stall) -> None:
    logger.warning(
        "event loop blocked for at least %.0f ms during %s %s; the loop thread was at:\n%s",
        stall.seconds * 1000,
        stall.method,
        stall.path,
        "".join(stall.stack),
    )


class LoopWatchdog:
    """Wraps an ASGI app; see the module's docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        threshold: float = 0.1,
        on_block: Callable[[Stall], None] | None = None,
    ) -> None:
        if threshold <= 0:
            raise ValueError("threshold must be positive")
        self.app = app
        self.threshold = threshold
        self.on_block = on_block or _log
        self.places: set[tuple[str, int]] = set()
        self._watches: dict[asyncio.AbstractEventLoop, _LoopWatch] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        watch = self._watches.get(loop)
        if watch is None:
            watch = self._watches[loop] = _LoopWatch(loop, self)
        task = asyncio.current_task()
        assert task is not None
        watch.requests[task] = (scope.get("method", "?"), scope.get("path", "?"))
        try:
            await self.app(scope, receive, send)
        finally:
            watch.requests.pop(task, None)
