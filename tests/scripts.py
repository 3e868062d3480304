"""Modules run as scripts (``python svc.py``), for the ``__main__`` blocks the rules rewrite.

    response = get_from_script(source, tmp_path, started, "/ping")

``started`` is the fixture of :mod:`tests.conftest`: it stops every script a test started,
with its process group (uvicorn's reloader has a child).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

#: The port a script under test names; each run gets a free one in its place.
SCRIPT_PORT = "8765"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def started_scripts() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    stop_all(procs)


def get_from_script(
    source: str,
    where: Path,
    started: list[subprocess.Popen[bytes]],
    path: str,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Run ``source`` as ``python svc.py`` in ``where`` (its port 8765 replaced by a free
    one) and GET ``path`` (with ``headers``) from the server it starts, once it answers.
    The response's URL is the server's."""
    port = free_port()
    where.mkdir(parents=True, exist_ok=True)
    (where / "svc.py").write_text(source.replace(SCRIPT_PORT, str(port)))
    proc = subprocess.Popen(
        [sys.executable, "svc.py"],
        cwd=where,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    started.append(proc)
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=1)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                pytest.fail("the server did not answer within 20 s")
            time.sleep(0.1)


def assert_same_answers_as_scripts(
    before: str,
    after: str,
    tmp_path: Path,
    started: list[subprocess.Popen[bytes]],
    paths: tuple[str, ...] = ("/ping?x=1",),
    *,
    uvicorn_after: bool = True,
) -> dict[str, str]:
    """``python svc.py`` before (a WSGI server) and after (uvicorn, unless not
    ``uvicorn_after``) answers each of ``paths`` the same; the first answers ``pong 1``.
    Returns the base URL of each server ("before", "after"), still serving."""
    answers: dict[str, list[tuple[int, str, str]]] = {}
    bases: dict[str, str] = {}
    for where, text in (("before", before), ("after", after)):
        first = get_from_script(text, tmp_path / where, started, paths[0])
        base = bases[where] = str(first.url).removesuffix(paths[0])
        got = [first, *(httpx.get(base + path, timeout=5) for path in paths[1:])]
        answers[where] = [(r.status_code, r.text, r.headers["content-type"]) for r in got]
        assert (first.headers.get("server") == "uvicorn") == (where == "after" and uvicorn_after)
    assert answers["before"] == answers["after"]
    assert answers["before"][0][:2] == (200, "pong 1")
    return bases
