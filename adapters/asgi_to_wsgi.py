"""``AsgiToWsgi``: serve an ASGI 3 application from a WSGI server or WSGI test client.

How a request flows (two threads, one hop each way for a small response):

* The WSGI worker thread builds the scope, pre-reads the first request-body chunk,
  schedules the app on the process-wide loop (:mod:`adapters._loop`) with one
  ``call_soon_threadsafe`` and blocks on the request's ``SimpleQueue``.
* On the loop, ``send`` never round-trips: ``http.response.start`` is kept until the
  first body chunk, then head + chunk go into the queue as one item; later chunks are
  queued as plain ``bytes``. ``send`` waits only while more than ``buffer_size`` bytes are
  queued and not yet taken by the WSGI server (credit-based backpressure).
* ``receive`` hands out the pre-read chunk; for more it queues a read request, which the
  WSGI thread serves (blocking ``wsgi.input`` reads never run on the loop).
* The WSGI server closing the iterable early wakes the app: ``receive`` returns
  ``http.disconnect``, ``send`` raises :class:`ClientDisconnected`, and the task is
  cancelled if it has not finished after ``disconnect_grace`` seconds.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import http
import logging
import os
import threading
from collections.abc import Coroutine, Iterable, Iterator
from queue import SimpleQueue
from typing import Any, cast

from adapters import _loop
from adapters._types import ASGIApp, Environ, Message, Scope, StartResponse
from adapters.errors import ClientDisconnected
from adapters.scope import scope_from_environ

__all__ = ["AsgiToWsgi", "ClientDisconnected"]

logger = logging.getLogger("adapters.asgi_to_wsgi")

CHUNK = 64 * 1024
_STATUS = {int(s): f"{s.value} {s.phrase}" for s in http.HTTPStatus}
_ERROR_BODY = b"Internal Server Error"


class _Head:
    """``http.response.start`` plus the first body chunk (or the whole body)."""

    __slots__ = ("body", "done", "headers", "path", "status")

    def __init__(self, status: str, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.headers = headers
        self.body = b""
        self.done = False  # body is the whole response
        self.path: str | None = None  # http.response.pathsend


class _Failure:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


# Queue items besides bytes, _Head and _Failure:
_READ = object()  # the app wants more request body
_END = object()  # response complete
_DONE = object()  # app task finished (only queued for wait_for_app)

_NEW, _STARTED, _COMPLETE = 0, 1, 2
_running: set[asyncio.Task[None]] = set()


def _status_line(status: int) -> str:
    line = _STATUS.get(status)
    return line if line is not None else f"{status} Unknown"


def _response_headers(raw: Iterable[Any]) -> list[tuple[str, str]]:
    headers = []
    for name, value in raw:
        n, v = bytes(name).decode("latin-1"), bytes(value).decode("latin-1")
        if "\n" in v or "\r" in v or "\n" in n or "\r" in n or ":" in n:
            raise ValueError(f"invalid response header {n!r}: {v!r}")
        headers.append((n, v))
    return headers


class _Call:
    """One request. Attributes are written by one thread only, noted per group."""

    __slots__ = (
        "cancel_armed",
        "consumed",
        "disconnect_grace",
        "drain_waiter",
        "finished",
        "head",
        "input",
        "limit",
        "loop",
        "more_body",
        "pending",
        "produced",
        "queue",
        "raise_errors",
        "reading",
        "remaining",
        "state",
        "task",
        "wait_for_app",
        "waiters",
        "woken",
    )

    def __init__(self, adapter: AsgiToWsgi, environ: Environ) -> None:
        self.loop = adapter._loop
        self.queue: SimpleQueue[object] = SimpleQueue()
        self.limit = adapter.buffer_size
        self.wait_for_app = adapter.wait_for_app
        self.raise_errors = adapter.raise_errors
        self.disconnect_grace = adapter.disconnect_grace
        # WSGI thread: request body source.
        self.input = environ.get("wsgi.input")
        self.remaining = -1  # bytes left to read; -1: read to EOF
        self.consumed = 0  # response bytes taken by the WSGI server
        self.woken: object = None
        # loop thread:
        self.pending: Message | None = None  # next http.request message for receive()
        self.more_body = False
        self.reading = False  # a _READ is queued and not yet answered
        self.waiters: list[asyncio.Future[None]] = []  # receive() calls waiting
        self.finished = False  # response complete or WSGI side gone
        self.state = _NEW
        self.head: _Head | None = None
        self.produced = 0
        self.drain_waiter: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.cancel_armed = False

    # ---- WSGI thread ---------------------------------------------------------------

    def preread(self, environ: Environ) -> None:
        length = environ.get("CONTENT_LENGTH")
        if length:
            try:
                self.remaining = max(int(length), 0)
            except ValueError:
                self.remaining = 0
        elif not environ.get("wsgi.input_terminated"):
            self.remaining = 0
        if self.remaining == 0 or self.input is None:
            self.pending = {"type": "http.request", "body": b"", "more_body": False}
        else:
            self.pending = self.read_message()
        self.more_body = self.pending.get("more_body", False)

    def read_message(self) -> Message:
        want = CHUNK if self.remaining < 0 else min(self.remaining, CHUNK)
        try:
            data: bytes = self.input.read(want) if want else b""  # type: ignore[union-attr]
        except Exception:  # servers raise their own types when the client is gone
            logger.debug("reading wsgi.input failed", exc_info=True)
            return {"type": "http.disconnect"}
        if self.remaining < 0:
            return {"type": "http.request", "body": data, "more_body": bool(data)}
        if not data and want:
            # fewer bytes than Content-Length: the client went away
            return {"type": "http.disconnect"}
        self.remaining = max(self.remaining - len(data), 0)
        return {"type": "http.request", "body": data, "more_body": self.remaining > 0}

    def next_item(self) -> object:
        """Block for the app's next message, serving body reads meanwhile."""
        queue = self.queue
        while True:
            item = queue.get()
            if item is not _READ:
                return item
            self.loop.call_soon_threadsafe(self.deliver, self.read_message())

    def took(self, size: int) -> None:
        """The WSGI server took ``size`` bytes: give the app credit back if it waits."""
        self.consumed += size
        waiter = self.drain_waiter
        if (
            waiter is not None
            and waiter is not self.woken
            and self.produced - self.consumed <= self.limit // 2
        ):
            self.woken = waiter
            self.loop.call_soon_threadsafe(_wake, waiter)

    def wait_done(self) -> None:
        while self.queue.get() is not _DONE:
            pass

    # ---- loop thread ---------------------------------------------------------------

    def run(self, app: ASGIApp, scope: Scope) -> None:
        try:
            coro = cast("Coroutine[Any, Any, None]", app(scope, self.receive, self.send))
            self.task = task = self.loop.create_task(coro)
        except BaseException as exc:  # not an ASGI 3 callable
            self.fail(exc)
            if self.wait_for_app:
                self.queue.put(_DONE)
            return
        _running.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self.app_done)

    async def receive(self) -> Message:
        while True:
            message = self.pending
            if message is not None:
                self.pending = None
                return message
            if self.finished:
                self.told()
                return {"type": "http.disconnect"}
            if self.more_body and not self.reading:
                self.reading = True
                self.queue.put(_READ)  # the WSGI thread reads and calls deliver()
            waiter = self.loop.create_future()
            self.waiters.append(waiter)
            await waiter

    def deliver(self, message: Message) -> None:
        if self.finished:
            return
        self.reading = False
        self.pending = message
        self.more_body = message.get("more_body", False)
        self.wake_receivers()

    def wake_receivers(self) -> None:
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            _wake(waiter)

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body" and self.state == _STARTED:
            if self.finished:
                self.told()
                raise ClientDisconnected("the WSGI server closed the response")
            body = message.get("body", b"")
            if type(body) is not bytes:
                body = bytes(body)
            head = self.head
            self.produced += len(body)
            if not message.get("more_body", False):
                self.state = _COMPLETE
                if head is not None:
                    self.head = None
                    head.body, head.done = body, True
                    self.queue.put(head)
                else:
                    if body:
                        self.queue.put(body)
                    self.queue.put(_END)
                self.finish()
            elif body:
                if head is not None:
                    self.head = None
                    head.body = body
                    self.queue.put(head)
                else:
                    self.queue.put(body)
                if self.produced - self.consumed > self.limit:
                    await self.drain()
        elif kind == "http.response.start" and self.state == _NEW:
            self.head = _Head(
                _status_line(int(message["status"])),
                _response_headers(message.get("headers", ())),
            )
            self.state = _STARTED
        elif kind == "http.response.pathsend" and self.head is not None:
            head, self.head = self.head, None
            head.path, head.done = os.fspath(message["path"]), True
            self.state = _COMPLETE
            self.queue.put(head)
            self.finish()
        elif kind == "http.response.trailers":
            pass  # never offered; tolerated and dropped
        elif self.finished and self.state != _COMPLETE:
            self.told()
            raise ClientDisconnected("the WSGI server closed the response")
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} in response state {self.state}")

    async def drain(self) -> None:
        while self.produced - self.consumed > self.limit and not self.finished:
            self.drain_waiter = waiter = self.loop.create_future()
            try:
                # re-check after publishing the waiter: the WSGI thread may have taken it all
                if self.produced - self.consumed > self.limit:
                    await waiter
            finally:
                self.drain_waiter = None
        if self.finished:
            self.told()
            raise ClientDisconnected("the WSGI server closed the response")

    def finish(self) -> None:
        """No more request body and no more response: wake whoever waits in receive()."""
        if self.finished:
            return
        self.finished = True
        self.pending = None
        self.wake_receivers()
        if self.drain_waiter is not None:
            _wake(self.drain_waiter)

    def closed_early(self) -> None:
        """The WSGI server closed the iterable before the response was complete. An app
        waiting in ``receive()`` or ``send()`` is told first (``http.disconnect``,
        :class:`ClientDisconnected`), and only then does its grace period start: it is never
        cancelled before it could hear of the disconnect, whatever the grace or the order in
        which the loop runs the wake-ups."""
        waiting = bool(self.waiters) or self.drain_waiter is not None
        self.finish()
        if not waiting:
            self.told()

    def told(self) -> None:
        """The app has heard of the disconnect (or cannot, being busy elsewhere): cancel it
        if it is still running ``disconnect_grace`` seconds from now."""
        task = self.task
        if self.cancel_armed or task is None or task.done() or self.state == _COMPLETE:
            return
        self.cancel_armed = True
        self.loop.call_later(self.disconnect_grace, task.cancel)

    def fail(self, exc: BaseException) -> None:
        if self.finished and isinstance(exc, (OSError, asyncio.CancelledError)):
            logger.debug("ASGI app ended after the client disconnected: %r", exc)
        else:
            logger.error("Exception in ASGI application", exc_info=exc)
        self.queue.put(_Failure(exc))
        self.finish()

    def app_done(self, task: asyncio.Task[None]) -> None:
        _running.discard(task)
        exc = asyncio.CancelledError() if task.cancelled() else task.exception()
        if self.state != _COMPLETE and (exc is not None or not self.finished):
            if exc is None:  # (returning early after the client left is fine)
                what = "a response" if self.state == _NEW else "the response body"
                exc = RuntimeError(f"ASGI app returned without sending {what}")
            self.fail(exc)
        elif exc is not None and not isinstance(exc, asyncio.CancelledError):
            logger.error("Exception in ASGI application after the response", exc_info=exc)
        if self.wait_for_app:
            self.queue.put(_DONE)


def _wake(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Body:
    """The WSGI response iterable of a streamed response."""

    __slots__ = ("call", "closed", "ended", "first")

    def __init__(self, call: _Call, first: bytes) -> None:
        self.call = call
        self.first = first  # non-empty unless the response is already complete
        self.ended = False
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        call = self.call
        chunk = self.first
        if chunk:
            self.first = b""
            call.took(len(chunk))
            return chunk
        if self.ended:
            raise StopIteration
        item = call.next_item()
        if type(item) is bytes:
            call.took(len(item))
            return item
        self.ended = True
        if item is _END:
            raise StopIteration
        assert type(item) is _Failure
        raise item.exc  # headers went out with the first chunk: abort (PEP 3333)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        call = self.call
        if not self.ended:
            call.loop.call_soon_threadsafe(call.closed_early)
        if call.wait_for_app:
            call.wait_done()

    def __del__(self) -> None:
        # A server that drops the iterable without close() must not leave the app hanging.
        if not self.closed and not self.ended:
            self.closed = True
            with contextlib.suppress(RuntimeError):  # loop gone (interpreter shutdown)
                self.call.loop.call_soon_threadsafe(self.call.closed_early)


def _error_headers() -> list[tuple[str, str]]:
    return [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(_ERROR_BODY))),
    ]


class _Lifespan:
    """Runs the app's lifespan protocol on the loop (one per adapter per process)."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self.inbox: asyncio.Queue[Message] | None = None
        self.supported = True
        self.shutdown_done: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        loop = asyncio.get_running_loop()
        self.inbox = inbox = asyncio.Queue[Message]()
        started: asyncio.Future[bool] = loop.create_future()
        self.shutdown_done = stopped = loop.create_future()

        async def send(message: Message) -> None:
            kind = message["type"]
            if not str(kind).startswith("lifespan."):
                # an app without lifespan that answers every scope (a bare Starlette
                # StreamingResponse): stop it at its first message, as uvicorn does, so it
                # spends nothing (a body iterator, a counter) on a request that is not one
                raise RuntimeError(
                    f"ASGI app sent {kind!r} on the lifespan scope: it does not support lifespan"
                )
            if kind == "lifespan.startup.complete" and not started.done():
                started.set_result(True)
            elif kind == "lifespan.startup.failed" and not started.done():
                started.set_exception(
                    RuntimeError(f"ASGI lifespan startup failed: {message.get('message', '')}")
                )
            elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                if kind == "lifespan.shutdown.failed":
                    logger.error("ASGI lifespan shutdown failed: %s", message.get("message", ""))
                _wake(stopped)

        def done(task: asyncio.Task[None]) -> None:
            exc = None if task.cancelled() else task.exception()
            if not started.done():  # the app does not do lifespan: fine
                self.supported = False
                logger.info("ASGI app does not support lifespan (%r): running without it", exc)
                started.set_result(False)
            elif exc is not None:
                logger.error("Exception in ASGI lifespan", exc_info=exc)
            _wake(stopped)

        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        coro = cast("Coroutine[Any, Any, None]", self.app(scope, inbox.get, send))
        self.task = task = loop.create_task(coro)
        task.add_done_callback(done)
        await inbox.put({"type": "lifespan.startup"})
        self.supported = await started

    async def shutdown(self) -> None:
        if self.inbox is None or self.shutdown_done is None or not self.supported:
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.shutdown_done


class AsgiToWsgi:
    """A WSGI application that serves the ASGI 3 application ``app``.

    Options:

    * ``lifespan`` (default True): run the app's lifespan startup before the first
      request in each process and its shutdown at interpreter exit. Apps that do not
      support lifespan are tolerated.
    * ``wait_for_app`` (default False): keep the WSGI worker until the app's task has
      finished, including work it does after sending the response.
    * ``buffer_size`` (default 1 MiB): response bytes the app may have sent that the
      WSGI server has not taken yet before ``send`` waits.
    * ``disconnect_grace`` (default 5 s): after the WSGI server closes the response
      early, how long the app may keep running before its task is cancelled.
    * ``startup_timeout`` (default 60 s), ``shutdown_timeout`` (default 10 s): lifespan.
    * ``raise_errors`` (default False): when the app fails before its response started,
      raise its exception to the caller, as a WSGI app would, instead of answering 500
      (for WSGI middleware around it that handles errors; ``wsgi_middleware`` sets it).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        lifespan: bool = True,
        wait_for_app: bool = False,
        buffer_size: int = 1024 * 1024,
        disconnect_grace: float = 5.0,
        startup_timeout: float | None = 60.0,
        shutdown_timeout: float | None = 10.0,
        raise_errors: bool = False,
    ) -> None:
        self.app = app
        self.raise_errors = raise_errors
        self.lifespan = lifespan
        self.wait_for_app = wait_for_app
        self.buffer_size = max(int(buffer_size), 0)
        self.disconnect_grace = disconnect_grace
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self.state: dict[str, Any] = {}
        self._pid = -1
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._loop_thread: int | None = None
        self._startup_error: BaseException | None = None
        self._lifespan: _Lifespan | None = None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self._pid != os.getpid():
            self._start_process()
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("AsgiToWsgi called from its own event loop: it would deadlock")
        if self._startup_error is not None:
            raise RuntimeError("the ASGI app's lifespan startup failed") from self._startup_error
        call = _Call(self, environ)
        scope = scope_from_environ(environ)
        # Lifespan state of this app, over any an outer ASGI layer carried in through the environ.
        scope["state"] = {**scope.get("state", {}), **self.state}
        scope["extensions"] = {"http.response.pathsend": {}}
        call.preread(environ)
        ctx = contextvars.copy_context()
        self._loop.call_soon_threadsafe(call.run, self.app, scope, context=ctx)
        try:
            item = call.next_item()
            if type(item) is _Head and item.path is None:
                start_response(item.status, item.headers)
                if item.done and not call.wait_for_app:
                    return [item.body] if item.body else []
                body = _Body(call, item.body)
                body.ended = item.done
                return body
        except BaseException:
            self._loop.call_soon_threadsafe(call.closed_early)
            raise
        return _file_or_error(call, item, environ, start_response)

    # ---- per-process start and lifespan ----------------------------------------------

    def _start_process(self) -> None:
        with self._lock:
            pid = os.getpid()
            if self._pid == pid:
                return
            self._loop = _loop.get_loop()
            self._loop_thread = _loop.loop_thread_id()
            if threading.get_ident() == self._loop_thread:
                raise RuntimeError("AsgiToWsgi called from its own event loop: it would deadlock")
            self._startup_error = None
            self.state.clear()
            if self.lifespan:
                self._lifespan = lifespan = _Lifespan(self.app, self.state)
                future = asyncio.run_coroutine_threadsafe(lifespan.startup(), self._loop)
                try:
                    future.result(self.startup_timeout)
                except BaseException as exc:
                    future.cancel()
                    lifespan.supported = False
                    logger.error("ASGI lifespan startup failed", exc_info=exc)
                    self._startup_error = exc
                atexit.register(self._shutdown, pid)
            self._pid = pid

    def _shutdown(self, pid: int) -> None:
        lifespan = self._lifespan
        if pid != os.getpid() or self._pid != pid or lifespan is None:
            return
        self._lifespan = None
        future = asyncio.run_coroutine_threadsafe(lifespan.shutdown(), self._loop)
        try:
            future.result(self.shutdown_timeout)
        except BaseException:
            future.cancel()
            logger.warning("ASGI lifespan shutdown did not complete", exc_info=True)

    def close(self) -> None:
        """Run the lifespan shutdown now (it otherwise runs at interpreter exit)."""
        self._shutdown(os.getpid())


def _file_or_error(
    call: _Call, item: object, environ: Environ, start_response: StartResponse
) -> Iterable[bytes]:
    """The rarer first messages: ``http.response.pathsend``, or a failure before the body."""
    if call.wait_for_app:
        call.wait_done()
    if type(item) is _Head:
        assert item.path is not None
        try:
            file = open(item.path, "rb")  # noqa: SIM115 -- the WSGI server closes it
        except OSError as error:
            logger.error("http.response.pathsend: cannot open %r", item.path)
            item = _Failure(error)
        else:
            start_response(item.status, item.headers)
            wrapper = environ.get("wsgi.file_wrapper")
            return wrapper(file, CHUNK) if wrapper else _FileIter(file)
    assert type(item) is _Failure
    exc = item.exc
    if call.raise_errors:
        raise exc
    start_response(
        "500 Internal Server Error", _error_headers(), (type(exc), exc, exc.__traceback__)
    )
    return [_ERROR_BODY]


class _FileIter:
    __slots__ = ("file",)

    def __init__(self, file: Any) -> None:
        self.file = file

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        data: bytes = self.file.read(CHUNK)
        if not data:
            raise StopIteration
        return data

    def close(self) -> None:
        self.file.close()
