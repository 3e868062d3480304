"""A Django project served in a process of its own (Django's settings are per process), before
(its ``wsgi`` module under wsgiref) or after (its ``asgi`` module under uvicorn, lifespan off),
on a socket bound here."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]

_WSGIREF = """
import importlib, socket, sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

class Inherited(WSGIServer):
    def server_bind(self):
        self.socket.close()
        self.socket = socket.socket(fileno=int(sys.argv[1]))
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = self.server_address[:2]
        self.setup_environ()

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

application = importlib.import_module(sys.argv[2]).application
make_server("127.0.0.1", 0, application, server_class=Inherited, handler_class=Quiet).serve_forever()
"""


@contextlib.contextmanager
def served(root: Path, kind: str, package: str, probe: str = "/") -> Iterator[str]:
    """``package.wsgi`` (``kind="wsgi"``) or ``package.asgi`` served; the base URL once
    ``probe`` answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    fd = sock.fileno()
    if kind == "wsgi":
        cmd = [sys.executable, "-c", _WSGIREF, str(fd), f"{package}.wsgi"]
    else:
        cmd = [sys.executable, "-m", "uvicorn", f"{package}.asgi:application", "--fd", str(fd)]
        cmd += ["--log-level", "warning", "--lifespan", "off"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(REPO)])}
    proc = subprocess.Popen(cmd, cwd=root, env=env, pass_fds=[fd])
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + probe, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{kind} server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        sock.close()
