"""A Django project written to a folder, migrated there by the CLI, and served in a process of
its own (Django's settings are per process), before (its ``wsgi`` module under wsgiref) or
after (its ``asgi`` module under uvicorn, lifespan off), on a socket bound here."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]

#: ``shop/wsgi.py``: what ``startproject`` writes (before Django 3, with no ``asgi.py``).
SHOP_WSGI = """
    import os

    from django.core.wsgi import get_wsgi_application

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    application = get_wsgi_application()
"""


#: ``DATABASES`` of one sqlite3 database in memory.
IN_MEMORY = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}


def shop_settings(
    *,
    middleware: Sequence[str] = (),
    installed_apps: Sequence[str] = (),
    databases: Mapping[str, object] | None = None,
) -> str:
    """``shop/settings.py`` of a test project: ``shop.urls`` served to any host."""
    return f"""
        SECRET_KEY = "test-only-secret"
        DEBUG = False
        ALLOWED_HOSTS = ["*"]
        INSTALLED_APPS = {list(installed_apps)!r}
        MIDDLEWARE = {list(middleware)!r}
        ROOT_URLCONF = "shop.urls"
        DATABASES = {dict(databases or {})!r}
    """


def write(root: Path, files: dict[str, str]) -> None:
    """``files`` (relpath -> text, dedented) under ``root``."""
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def before_and_after(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path]:
    """The project written to ``before/``, and copied to ``after/`` (the same files, the same
    times: the same ETags) and migrated there by the CLI (``--write``)."""
    before, after = tmp_path / "before", tmp_path / "after"
    write(before, files)
    shutil.copytree(before, after)
    done = subprocess.run(
        [sys.executable, "-m", "migrate", ".", "--write"],
        cwd=after,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return before, after


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
