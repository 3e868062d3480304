"""Results kept from one run to the next, so a second run over a tree that barely changed
costs a fraction of the first (a CI gate runs ``migrate --check`` on every push).

What is kept, per file, keyed by its path and the hash of its bytes:

- what the first pass found (:class:`~migrate.runner.ScanResult`): most files need nothing
  more;
- a module's summary for the project index;
- the result of the rules, keyed also by the project index it was made with (a file's
  migration may depend on what other modules define).

Errors are never kept: a file that could not be read, decoded, parsed or finished in time
is tried again on the next run.

Every entry also depends on the code doing the work. The cache file's name is a
fingerprint of: this package's own source files, the selected rules (and the source files
of rules from elsewhere), the per-file time limit, the versions of Python and libcst and the
roots of the run. Changing any of them starts a fresh cache, never a stale answer.

The cache lives outside the project (``$WSGI2ASGI_CACHE_DIR``, else
``$XDG_CACHE_HOME/wsgi2asgi``, else ``~/.cache/wsgi2asgi``): a dry run writes nothing into
the tree it looks at. It is written atomically; a cache that cannot be read is ignored,
one that cannot be written costs nothing but the speed-up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

#: Bumped when what the cache holds changes shape.
FORMAT = 1

PACKAGE_DIR = Path(__file__).resolve().parent

Key = tuple[str, ...]


def default_directory() -> Path:
    explicit = os.environ.get("WSGI2ASGI_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wsgi2asgi"


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def libcst_version() -> str:
    """The version of libcst, whose parser and code generation every result goes through."""
    try:
        from libcst._version import __version__  # free: libcst is imported already
    except ImportError:  # laid out otherwise: its distribution's metadata says it
        import importlib.metadata

        return importlib.metadata.version("libcst")
    return str(__version__)


def fingerprint(
    rule_modules: Iterable[Path], settings: Sequence[str], roots: Sequence[Path]
) -> str:
    """What every entry depends on besides the file itself (see the module docstring)."""
    digest = hashlib.blake2b(digest_size=16)
    parts = (f"format {FORMAT}", sys.version, f"libcst {libcst_version()}", *settings)
    for part in (*parts, *(str(r) for r in roots)):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    sources = {*PACKAGE_DIR.rglob("*.py"), *rule_modules}
    for source in sorted(sources):
        digest.update(str(source.relative_to(source.anchor)).encode("utf-8", "surrogateescape"))
        try:
            digest.update(source.read_bytes())
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()


def canonical(value: Any) -> Any:
    """``value`` as nested tuples whose ``repr`` does not depend on set order or hash
    seeds (for the key of a project index)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            tuple((f.name, canonical(getattr(value, f.name))) for f in dataclasses.fields(value)),
        )
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted((canonical(v) for v in value), key=repr)))
    if isinstance(value, (list, tuple)):
        return tuple(canonical(v) for v in value)
    if isinstance(value, dict):
        return ("dict", tuple(sorted(((repr(k), canonical(v)) for k, v in value.items()))))
    return value


def value_hash(value: Any) -> str:
    return hashlib.blake2b(repr(canonical(value)).encode(), digest_size=16).hexdigest()


class ResultCache:
    """The entries of one fingerprint: read at the start of a run, written at its end with
    the entries the run used or made (so the file never outgrows the tree)."""

    def __init__(self, directory: Path, fingerprint: str) -> None:
        self.path = directory / f"{fingerprint}.pickle"
        self._old: dict[Key, Any] = self._load()
        self._new: dict[Key, Any] = {}
        #: Problems worth a note in the summary (the run goes on without the cache).
        self.problems: list[str] = []

    def _load(self) -> dict[Key, Any]:
        try:
            with self.path.open("rb") as handle:
                entries = pickle.load(handle)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError):
            return {}  # none yet, or not one of ours: start afresh
        return entries if isinstance(entries, dict) else {}

    def is_empty(self) -> bool:
        """Nothing was kept by an earlier run (with the same fingerprint)."""
        return not self._old

    def get(self, key: Key) -> Any | None:
        if key in self._new:
            return self._new[key]
        value = self._old.get(key)
        if value is not None:
            self._new[key] = value
        return value

    def put(self, key: Key, value: Any) -> None:
        self._new[key] = value

    def save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _forget_old_caches(self.path.parent)
            fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".pickle")
            try:
                with os.fdopen(fd, "wb") as handle:
                    pickle.dump(self._new, handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            self.problems.append(
                f"the cache could not be written ({self.path}: {exc.strerror or exc})"
            )


#: A cache file no run has written for this long is deleted (another version of the tool,
#: another set of rules or roots made it).
MAX_AGE_DAYS = 30


def _forget_old_caches(directory: Path) -> None:
    limit = time.time() - MAX_AGE_DAYS * 86400
    for old in directory.glob("*.pickle"):
        try:
            if old.stat().st_mtime < limit:
                old.unlink()
        except OSError:
            pass  # another run's, or gone already
