"""The process-wide event loop that :class:`adapters.AsgiToWsgi` runs ASGI apps on.

One loop per process, in a daemon thread, started lazily by the first caller. It is
fork-safe: a pre-forking server (gunicorn, mod_wsgi daemons, uWSGI) usually forks before
the first request, so no loop exists yet; if it forks later, the child notices (the pid
changed, and an ``os.register_at_fork`` hook drops the parent's loop) and starts its own.
"""

from __future__ import annotations

import asyncio
import os
import threading

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread_id: int | None = None
_pid = -1


def get_loop() -> asyncio.AbstractEventLoop:
    """Return this process's adapter loop, starting its thread on first use."""
    loop = _loop
    if loop is not None and _pid == os.getpid():
        return loop
    with _lock:
        if _loop is None or _pid != os.getpid():
            _start()
        assert _loop is not None
        return _loop


def loop_thread_id() -> int | None:
    """The ident of the loop's thread (``None`` before it started in this process)."""
    return _thread_id if _pid == os.getpid() else None


def _start() -> None:
    global _loop, _pid, _thread_id
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        global _thread_id
        asyncio.set_event_loop(loop)
        _thread_id = threading.get_ident()
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="wsgi2asgi-asgi-loop", daemon=True)
    thread.start()
    started.wait()
    _loop, _pid = loop, os.getpid()


def _forget_parent_loop() -> None:
    # In a forked child the loop's thread does not exist: drop (do not close) the loop,
    # and replace the lock, which another parent thread may have held at fork time.
    global _lock, _loop, _thread_id
    _lock = threading.Lock()
    _loop = None
    _thread_id = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_loop)
