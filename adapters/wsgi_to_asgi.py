"""``WsgiToAsgi``: serve a WSGI (PEP 3333) application from an ASGI 3 server.

Drop-in for ``asgiref.wsgi.WsgiToAsgi(app)``; standard library only.

How a request flows (the hot path)::

    event loop                                  worker thread (ThreadPool)
    ----------                                  --------------------------
    msg = await receive()   # GET: whole body
    environ = ...; submit(ctx.run, worker) ---> app(environ, start_response)
    await waiter                                iterate; push(start + body) into the channel
                            <--- one call_soon_threadsafe (only if the loop waits, coalesced)
    send(start); send(body)

A one-element list response is one hop into the pool and one back. Streamed responses go through
the same per-request channel: the worker appends messages and wakes the loop only when it waits;
the worker blocks only when more than ``response_buffer_size`` bytes are not yet sent
(backpressure without a round trip per chunk). A body that does not fit the first ``receive()``
is pumped by a task with bounded read-ahead; the same task (or, for streamed responses, a
watcher) sees ``http.disconnect``. Every path ends the request, frees the thread and calls the
iterable's ``close()`` exactly once (in the worker, before the last message is handed over).

Errors: an exception raised before the response started is logged and re-raised, so the server
sends its own 500; after the headers went out it is re-raised too (the server aborts the
connection). A client that disconnects ends the request quietly: the worker stops at its next
chunk (``close()`` is called), ``wsgi.input.read()`` and ``write()`` raise
:class:`ClientDisconnected`.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import os
import tempfile
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from typing import IO, Any

from adapters._lines import LineReading
from adapters._non_http import handle_non_http
from adapters._threadpool import ThreadPool, default_pool
from adapters._types import (
    Environ,
    ExcInfo,
    Message,
    Receive,
    ResponseHeaders,
    Scope,
    Send,
    WriteCallable,
    WSGIApp,
)
from adapters.environ import base_environ, environ_from_scope
from adapters.errors import ClientDisconnected, RequestTooLarge

__all__ = ["ClientDisconnected", "FileWrapper", "RequestTooLarge", "WsgiToAsgi"]

logger = logging.getLogger("adapters.wsgi_to_asgi")

READ_AHEAD = 1024 * 1024  # request body bytes received ahead of the app's reads
# The pump, once full, is woken only when the app has read the buffer down to half: each
# wake-up then moves many chunks, instead of one thread<->loop hand-off per chunk.
READ_AHEAD_LOW = READ_AHEAD // 2


class FileWrapper:
    """``wsgi.file_wrapper``: iterates a file in blocks; sent by path when the server can."""

    def __init__(self, filelike: IO[bytes], blksize: int = 64 * 1024) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> Iterator[bytes]:
        read, size = self.filelike.read, self.blksize
        while data := read(size):
            yield data

    def sendable_path(self, content_length: int | None) -> str | None:
        """The file's absolute path if the whole file, unchanged, is the response body."""
        try:
            fileno = self.filelike.fileno()
            name = self.filelike.name
            if not isinstance(name, str) or self.filelike.tell() != 0:
                return None
            st, path_st = os.fstat(fileno), os.stat(name)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return None
        if (st.st_dev, st.st_ino) != (path_st.st_dev, path_st.st_ino):
            return None
        if content_length is not None and content_length != st.st_size:
            return None
        return os.path.abspath(name)


class _Channel:
    """One request's hand-over between the event loop and its worker thread."""

    __slots__ = (
        "body",
        "body_bytes",
        "body_done",
        "body_error",
        "error",
        "finished",
        "gate",
        "gone",
        "inflight",
        "limit",
        "lock",
        "loop",
        "out",
        "pending",
        "space_waiter",
        "start_pushed",
        "task",
        "too_large",
        "waiter",
        "wake_pending",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.loop = loop
        self.lock = threading.Lock()
        self.limit = limit
        self.out: list[Message] = []  # response messages not yet taken by the loop
        self.pending = 0  # bytes in ``out``
        self.inflight = 0  # bytes taken by the loop, not yet sent
        self.waiter: asyncio.Future[None] | None = None  # the sender waits for messages
        self.space_waiter: asyncio.Future[None] | None = None  # the pump waits for reads
        self.wake_pending = False
        self.gate: threading.Lock | None = None  # held while the worker waits for the loop
        self.start_pushed = False
        self.finished = False  # the worker is done (close() called)
        self.error: BaseException | None = None
        self.gone = False  # the loop side stopped: client gone, send failed, or request over
        self.too_large = False
        self.body: deque[bytes] = deque()
        self.body_bytes = 0
        self.body_done = True
        self.body_error: ClientDisconnected | None = None
        self.task: asyncio.Future[None] | None = None  # the body pump / disconnect watcher

    # -- worker side (call with the lock held where noted) --

    def _wake_loop(self, waiter: asyncio.Future[None] | None) -> None:  # lock held
        """Wake the loop if ``waiter`` waits; one wake-up pending at a time (it wakes both)."""
        if waiter is not None and not self.wake_pending:
            self.wake_pending = True
            try:
                self.loop.call_soon_threadsafe(self.wake)
            except RuntimeError:  # loop closed
                self.gone = True

    def push(self, messages: list[Message], nbytes: int, finished: bool = False) -> None:
        with self.lock:
            if self.gone:
                raise ClientDisconnected("client disconnected")
            self.out += messages
            self.pending += nbytes
            self.start_pushed = True
            self.finished = finished
            self._wake_loop(self.waiter)
            if self.pending + self.inflight > self.limit and not finished:
                while self.pending + self.inflight > self.limit and not self.gone:
                    self._block()
                if self.gone:
                    raise ClientDisconnected("client disconnected")

    def _block(self) -> None:  # lock held; returns with it held, after unblock()
        gate = self.gate = threading.Lock()
        gate.acquire()
        self.lock.release()
        try:
            while not gate.acquire(timeout=5.0):
                if self.loop.is_closed():  # the server died without ending the request
                    break
        finally:
            self.lock.acquire()
        if self.loop.is_closed():
            self.gone = True

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            self.error = exc
            self.finished = True
            self._wake_loop(self.waiter)

    def take_body(self) -> bytes:
        """The next request body chunk (b"" at the end); blocks until the pump has one."""
        with self.lock:
            while not self.body:
                if self.body_error is not None:
                    raise self.body_error
                if self.body_done:
                    return b""
                if self.gone:
                    raise ClientDisconnected("client disconnected")
                self._wake_loop(self.space_waiter)
                self._block()
            chunk = self.body.popleft()
            self.body_bytes -= len(chunk)
            if self.body_bytes <= READ_AHEAD_LOW:
                self._wake_loop(self.space_waiter)
            return chunk

    # -- loop side --

    def unblock(self) -> None:  # lock held: let the worker re-check its condition
        gate, self.gate = self.gate, None
        if gate is not None:
            gate.release()

    def wake(self) -> None:
        with self.lock:
            self.wake_pending = False
            waiter, self.waiter = self.waiter, None
            space_waiter, self.space_waiter = self.space_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if space_waiter is not None and not space_waiter.done():
            space_waiter.set_result(None)

    def hang_up(self, body_error: ClientDisconnected | None = None) -> None:
        """The loop side is done with this request: release the worker wherever it waits."""
        with self.lock:
            self.gone = True
            if body_error is not None and self.body_error is None and not self.body_done:
                self.body_error = body_error
            self.unblock()

    async def pump(
        self, receive: Receive, received: int, limit: int | None, max_size: int | None
    ) -> None:
        """Feed request body chunks to the worker, then watch for ``http.disconnect``."""
        loop = self.loop
        try:
            while not self.body_done:
                with self.lock:
                    waiter = None
                    if self.body_bytes >= READ_AHEAD and not self.gone:
                        waiter = self.space_waiter = loop.create_future()
                if waiter is not None:
                    await waiter
                    continue
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunk: bytes = message.get("body", b"")
                more: bool = message.get("more_body", False)
                received += len(chunk)
                if max_size is not None and received > max_size:
                    with self.lock:
                        self.too_large = True
                        self.body_error = RequestTooLarge("request body too large")
                        self.unblock()
                    self.wake()
                    return
                if limit is not None and received >= limit:
                    chunk, more = chunk[: len(chunk) - (received - limit)], False
                with self.lock:
                    if chunk:
                        self.body.append(chunk)
                        self.body_bytes += len(chunk)
                    self.body_done = not more
                    self.unblock()
            else:
                message = await receive()  # blocks until the client disconnects
                if message["type"] != "http.disconnect":
                    return  # not a conforming server: stop watching rather than spin
        except asyncio.CancelledError:
            raise
        except Exception:  # a broken receive() is a gone client
            logger.debug("receive() failed", exc_info=True)
        self.hang_up(ClientDisconnected("client disconnected during the request body"))
        self.wake()

    async def forward(self, send: Send, receive: Receive) -> None:
        """Send what the worker produces until it is finished; raise its error."""
        lock, loop = self.lock, self.loop
        started = False
        while True:
            with lock:
                if self.gone:
                    return
                batch: list[Message] | None = self.out
                if batch:
                    self.out = []
                    self.inflight, self.pending = self.pending, 0
                elif self.too_large and not self.start_pushed:
                    self.gone = True
                    self.unblock()
                    batch = _too_large()
                elif not self.finished:
                    waiter = self.waiter = loop.create_future()
                    batch = None
                finished = self.finished
            if batch is None:
                await waiter
                continue
            for message in batch:
                await send(message)
            started = started or bool(batch)
            if self.gone:  # a 413 was sent, or the client left meanwhile
                return
            if finished:
                break
            with lock:
                self.inflight = 0
                self.unblock()
            if self.task is None:  # a streamed response: watch for the client going away
                self.task = asyncio.ensure_future(self.pump(receive, 0, None, None))
        error = self.error
        if error is not None:
            after = " after the response started" if started else ""
            logger.error("Exception in WSGI application%s", after, exc_info=error)
            raise error


def _start(status: int, headers: list[tuple[bytes, bytes]]) -> Message:
    return {"type": "http.response.start", "status": status, "headers": headers}


def _too_large() -> list[Message]:
    headers = [(b"content-type", b"text/plain"), (b"connection", b"close")]
    return [_start(413, headers), {"type": "http.response.body", "body": b"Request body too large"}]


class _Response:
    """The worker side of one response: ``start_response``, ``write`` and the iteration."""

    __slots__ = ("chan", "closed", "content_length", "head", "headers", "sent", "status")

    def __init__(self, chan: _Channel, head: bool) -> None:
        self.chan = chan
        self.head = head
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.content_length: int | None = None
        self.sent = False
        self.closed = False

    def start_response(
        self, status: str, headers: ResponseHeaders, exc_info: ExcInfo | None = None
    ) -> WriteCallable:
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
                logger.error("WSGI application sent an error response", exc_info=exc_info)
            finally:
                exc_info = None
        elif self.status:
            raise AssertionError("start_response() called twice without exc_info")
        code = int(status[:3]) if status[3:4] in ("", " ") else 0
        if not 100 <= code <= 999:
            raise ValueError(f"invalid WSGI status {status!r}")
        out = []
        content_length = None
        for name, value in headers:
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name or ":" in name:
                raise ValueError(f"invalid character in response header {name!r}: {value!r}")
            key = name.lower().encode("latin-1")
            if key == b"content-length":
                content_length = int(value)
            out.append((key, value.encode("latin-1")))
        self.status, self.headers, self.content_length = code, out, content_length
        return self.write

    def send(self, data: bytes, more: bool) -> None:
        if self.sent:
            messages: list[Message] = []
        else:
            if not self.status:
                raise RuntimeError("WSGI application did not call start_response()")
            messages = [_start(self.status, self.headers)]
            self.sent = True
        if data or not more:
            messages.append({"type": "http.response.body", "body": data, "more_body": more})
        self.chan.push(messages, len(data), not more)

    def write(self, data: bytes) -> None:
        if not self.status:
            raise AssertionError("write() called before start_response()")
        data = _as_bytes(data)
        if self.content_length is not None:
            data = data[: self.content_length]
            self.content_length -= len(data)
        if data and not self.head:
            self.send(data, True)

    def _pathsend(self, wrapper: FileWrapper) -> bool:
        path = wrapper.sendable_path(self.content_length)
        if path is None or self.sent or not self.status:
            return False
        self.close(wrapper)
        self.sent = True
        pathsend = {"type": "http.response.pathsend", "path": path}
        self.chan.push([_start(self.status, self.headers), pathsend], 0, True)
        return True

    def run(self, iterable: Iterable[bytes], pathsend: bool) -> None:
        """Hand the response over; ``close()`` the iterable before the last message."""
        try:
            if self.head or self.content_length == 0:
                chunks = iter(iterable)  # a generator may call start_response lazily
                while not self.status and next(chunks, None) is not None:
                    pass
            elif pathsend and isinstance(iterable, FileWrapper) and self._pathsend(iterable):
                return
            else:
                last = len(iterable) if type(iterable) in (list, tuple) else -1  # type: ignore[arg-type]
                for i, chunk in enumerate(iterable, 1):
                    chunk = _as_bytes(chunk)
                    if self.content_length is not None:
                        if len(chunk) >= self.content_length:  # never iterate past it
                            chunk, last = chunk[: self.content_length], i
                        self.content_length -= len(chunk)
                    if i == last:
                        self.close(iterable)
                        self.send(chunk, False)
                        return
                    if chunk:
                        self.send(chunk, True)
                    elif self.chan.gone:
                        raise ClientDisconnected("client disconnected")
        finally:
            self.close(iterable)  # no-op if already closed (before the last message)
        self.send(b"", False)

    def close(self, iterable: Any) -> None:
        """Call the iterable's ``close()``: exactly once, whatever happens."""
        if not self.closed:
            self.closed = True
            close = getattr(iterable, "close", None)
            if close is not None:
                close()


def _as_bytes(data: Any) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"WSGI application must produce bytes, not {type(data).__name__}")


class WsgiToAsgi:
    """An ASGI 3 application that serves the WSGI application ``wsgi_app``.

    Options (all keyword, all optional):

    * ``thread_pool``: a :class:`ThreadPool` to share between apps; or ``max_workers`` for a
      private one. Default: the process-wide pool of 40 threads.
    * ``max_body_size``: request bodies larger than this get a 413 (checked against
      Content-Length up front and while streaming). Default: no limit.
    * ``response_buffer_size``: response bytes the WSGI thread may produce ahead of the client
      before it waits (default 512 KiB; one more chunk may be in flight).
    * ``keep_underscore_headers``: keep request headers whose name contains ``_`` (default:
      dropped, as gunicorn and nginx do, so ``X_Forwarded_For`` cannot spoof
      ``HTTP_X_FORWARDED_FOR``).
    * ``errors``: the ``wsgi.errors`` stream (default ``sys.stderr``).
    * ``buffer_chunked_body``: for frameworks that trust only ``CONTENT_LENGTH`` (Django): a
      body sent without Content-Length (chunked, HTTP/2) is read completely before the app
      runs (spooled to a temporary file beyond 1 MiB) and ``CONTENT_LENGTH`` is set. Default:
      off; the body is streamed and ``wsgi.input_terminated`` tells the app to read to EOF.
    * ``multiprocess``: the ``wsgi.multiprocess`` the app sees. Default True: an ASGI server
      may run the app in several workers, which the app cannot see. Give False where one
      process serves it (``uvicorn app:app`` without ``--workers``): tools keeping state in
      the process, such as pyramid_debugtoolbar, turn themselves off when it is True.

    Errors before the response started are logged and re-raised, so the server answers its
    own 500; after it started they are re-raised too (the server aborts the connection).
    """

    def __init__(
        self,
        wsgi_app: WSGIApp,
        *,
        thread_pool: ThreadPool | None = None,
        max_workers: int | None = None,
        max_body_size: int | None = None,
        response_buffer_size: int = 512 * 1024,
        keep_underscore_headers: bool = False,
        errors: IO[str] | None = None,
        buffer_chunked_body: bool = False,
        multiprocess: bool = True,
    ) -> None:
        if thread_pool is not None and max_workers is not None:
            raise TypeError("give thread_pool or max_workers, not both")
        self.wsgi_app = wsgi_app
        self._pool = thread_pool or (ThreadPool(max_workers) if max_workers else None)
        self.max_body_size = max_body_size
        self.response_buffer_size = response_buffer_size
        self.keep_underscore_headers = keep_underscore_headers
        self.buffer_chunked_body = buffer_chunked_body
        self._base = base_environ(
            errors=errors, multiprocess=multiprocess, file_wrapper=FileWrapper
        )

    @property
    def wsgi_application(self) -> WSGIApp:
        """The wrapped app, under asgiref's attribute name."""
        return self.wsgi_app

    def __getattr__(self, name: str) -> Any:
        # Only for names the adapter lacks: a module that serves ``app = WsgiToAsgi(app)``
        # keeps ``app.config``, ``app.route``, ``app.logger`` working in its views.
        # Dunders stay the adapter's own (copy, pickle and inspect probe them).
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            wrapped = self.__dict__["wsgi_app"]
        except KeyError:
            raise AttributeError(name) from None
        return getattr(wrapped, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind in ("lifespan", "websocket"):
            # lifespan: acknowledged; websocket: a WSGI app has none, closed before accept (403)
            await handle_non_http(scope, receive, send)
        else:
            raise ValueError(f"WsgiToAsgi cannot handle a {kind!r} scope")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client is already gone
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        loop = asyncio.get_running_loop()
        chan = _Channel(loop, self.response_buffer_size)
        environ = environ_from_scope(
            scope, None, base=self._base, keep_underscore_headers=self.keep_underscore_headers
        )
        length = environ.get("CONTENT_LENGTH")
        limit = int(length) if length and length.isdigit() else None
        max_size = self.max_body_size
        if max_size is not None and (limit or len(body)) > max_size:
            for message in _too_large():
                await send(message)
            return
        if limit is not None and len(body) >= limit:
            body, more = body[:limit], False
        if more and limit is None and self.buffer_chunked_body:
            try:
                spooled = await _spool_body(receive, body, max_size)
            except RequestTooLarge:
                spooled = None
                for message in _too_large():
                    await send(message)
            if spooled is None:
                return
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = spooled
        elif more:
            chan.body_done = False
            if body:
                chan.body.append(body)
                chan.body_bytes = len(body)
            environ["wsgi.input"] = _Input(chan)
            chan.task = asyncio.ensure_future(chan.pump(receive, len(body), limit, max_size))
        else:
            environ["wsgi.input"] = io.BytesIO(body)
            if body and limit is None and self.buffer_chunked_body:
                environ["CONTENT_LENGTH"] = str(len(body))
        pathsend = "http.response.pathsend" in (scope.get("extensions") or ())
        pool = self._pool or default_pool()
        pool.submit(contextvars.copy_context().run, self._worker, environ, chan, pathsend)
        try:
            await chan.forward(send, receive)
        except OSError as exc:  # send() raised: the server says the client is gone
            if chan.error is exc:
                raise
            logger.debug("client disconnected: %r", exc)
        finally:
            chan.hang_up()
            if chan.task is not None:
                chan.task.cancel()

    def _worker(self, environ: Environ, chan: _Channel, pathsend: bool) -> None:
        """Runs in a pool thread: call the app, hand over the response."""
        response = _Response(chan, environ["REQUEST_METHOD"] == "HEAD")
        try:
            iterable = self.wsgi_app(environ, response.start_response)
            response.run(iterable, pathsend)
        except BaseException as exc:
            if isinstance(exc, ClientDisconnected) and chan.gone:
                logger.debug("WSGI response abandoned: client disconnected")
            chan.fail(exc)


async def _spool_body(
    receive: Receive, body: bytes, max_size: int | None
) -> tuple[IO[bytes], str] | None:
    """The whole request body in a (spooled) file, or None if the client left."""
    spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 - returned
    size = len(body)
    spool.write(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            spool.close()
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if max_size is not None and size > max_size:
            spool.close()
            raise RequestTooLarge("request body too large")
        spool.write(chunk)
        if not message.get("more_body", False):
            spool.seek(0)
            return spool, str(size)


class _Input(LineReading):
    """``wsgi.input`` for a body that arrives in several messages: pulled on demand."""

    def __init__(self, chan: _Channel) -> None:
        self._chan = chan
        self._buf = bytearray()
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._chan.take_body()
        if not chunk:
            self._eof = True
            return False
        self._buf += chunk
        return True

    def read(self, size: int | None = -1) -> bytes:
        buf = self._buf
        if not buf and size is not None and size > 0 and not self._eof:
            # The common case (a reader asking for what the server sends per message): hand
            # the received chunk over as it is, without copying it through the buffer.
            chunk = self._chan.take_body()
            if len(chunk) == size:
                return chunk
            if not chunk:
                self._eof = True
                return b""
            buf += chunk
        if size is None or size < 0:
            while self._fill():
                pass
        else:
            while len(buf) < size and self._fill():
                pass
            if len(buf) > size:
                data = bytes(buf[:size])
                del buf[:size]
                return data
        data = bytes(buf)
        buf.clear()
        return data

    def readline(self, size: int | None = -1) -> bytes:
        buf = self._buf
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end >= 0:
                end += 1
                break
            start = len(buf)
            if (size is not None and 0 <= size <= start) or not self._fill():
                end = start
                break
        if size is not None and 0 <= size < end:
            end = size
        data = bytes(buf[:end])
        del buf[:end]
        return data
