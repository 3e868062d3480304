"""Every test run keeps migrate's result cache in a folder of its own, never in the
user's ~/.cache (subprocesses inherit the variable)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from tests.scripts import started_scripts

_cache_dir = tempfile.mkdtemp(prefix="wsgi2asgi-test-cache-")


def pytest_configure(config: pytest.Config) -> None:
    os.environ["WSGI2ASGI_CACHE_DIR"] = _cache_dir


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_cache_dir, ignore_errors=True)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The scripts a test starts (:func:`tests.scripts.get_from_script`), stopped at its end."""
    yield from started_scripts()
