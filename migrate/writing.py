"""Safe writes: a file is either fully rewritten or left exactly as it was.

The new content goes to a temporary file in the same folder (same file system, so the
rename is atomic), is flushed and fsynced, gets the original's permission bits, and then
replaces the original with ``os.replace``. Any failure removes the temporary file.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path


class WriteError(Exception):
    """A file could not be written; the message says why, the file is untouched."""


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible everywhere (e.g. Windows), hence best effort.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically, with permission bits ``mode`` (default: the
    existing file's, else 0o644 minus the umask)."""
    folder = path.parent
    if mode is None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    try:
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".migrate-tmp")
    except OSError as exc:
        raise WriteError(
            f"cannot create a temporary file in {folder}: {exc.strerror or exc}"
        ) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteError(f"cannot write: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def rewrite_in_place(path: Path, expected_old: bytes, new: bytes) -> None:
    """Replace the content of an existing file, refusing when it is read-only or was
    modified since it was read (someone's editor or another tool got there first)."""
    real = path.resolve()  # a file named through a symlink: write the target, keep the link
    try:
        st = real.stat()
    except OSError as exc:
        raise WriteError(f"cannot write: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise WriteError("not a regular file; not written")
    # Checked on the mode bits, not with os.access: as root os.access always says yes,
    # but a read-only file is the owner saying "do not change this".
    if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise WriteError("file is read-only; not written")
    try:
        current = real.read_bytes()
    except OSError as exc:
        raise WriteError(f"cannot read back: {exc.strerror or exc}") from None
    if current != expected_old:
        raise WriteError("file changed on disk while migrating; not written")
    atomic_write(real, new, stat.S_IMODE(st.st_mode))


def create_file(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data`` (atomically), refusing when something is there already
    (made since the run looked)."""
    if path.exists() or path.is_symlink():
        raise WriteError("a file of that name exists now; not written")
    atomic_write(path, data)


def write_copy(target: Path, data: bytes | None = None, source: Path | None = None) -> None:
    """Write ``data`` (or copy ``source``, keeping its metadata) to ``target`` for ``--out``."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            mode = stat.S_IMODE(source.stat().st_mode) if source is not None else None
            atomic_write(target, data, mode)
        elif source is not None:
            shutil.copy2(source, target)
    except OSError as exc:
        raise WriteError(f"cannot write {target}: {exc.strerror or exc}") from None
