"""Unified diffs of bytes, exact enough that ``git apply`` / ``patch -p1`` reproduce ``--write``.

Works on bytes, not text, so the patch carries the file's own encoding, BOM and line
endings (a CRLF file gives CRLF lines in the patch, as ``git diff`` does), and marks a
last line without newline with ``\\ No newline at end of file``. Lines are split on
``\\n`` only: ``str.splitlines`` would also split on form feeds and U+2028 and produce
a patch that does not apply.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import BinaryIO

from rich.console import Console
from rich.text import Text

NO_NEWLINE = b"\\ No newline at end of file\n"


def split_lines(data: bytes) -> list[bytes]:
    """Lines of ``data``, each keeping its ``\\n`` (the last one may lack it)."""
    lines = data.split(b"\n")
    result = [line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        result.append(lines[-1])
    return result


def _range(start: int, length: int) -> bytes:
    # difflib's and GNU diff's conventions: "-0,0" for an empty side, "-5" for a single line.
    beginning = start + 1
    if length == 1:
        return b"%d" % beginning
    if length == 0:
        beginning -= 1
    return b"%d,%d" % (beginning, length)


def _emit(prefix: bytes, line: bytes) -> Iterator[bytes]:
    if line.endswith(b"\n"):
        yield prefix + line
    else:
        yield prefix + line + b"\n"
        yield NO_NEWLINE


def unified_diff(old: bytes, new: bytes, old_name: str, new_name: str, context: int = 3) -> bytes:
    """A unified diff from ``old`` to ``new`` with ``--- old_name`` / ``+++ new_name`` headers;
    empty when they are equal."""
    if old == new:
        return b""
    a, b = split_lines(old), split_lines(new)
    out: list[bytes] = [
        b"--- " + old_name.encode("utf-8", "surrogateescape") + b"\n",
        b"+++ " + new_name.encode("utf-8", "surrogateescape") + b"\n",
    ]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        a_start, a_end = group[0][1], group[-1][2]
        b_start, b_end = group[0][3], group[-1][4]
        out.append(
            b"@@ -"
            + _range(a_start, a_end - a_start)
            + b" +"
            + _range(b_start, b_end - b_start)
            + b" @@\n"
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in a[i1:i2]:
                    out.extend(_emit(b" ", line))
                continue
            if tag in ("replace", "delete"):
                for line in a[i1:i2]:
                    out.extend(_emit(b"-", line))
            if tag in ("replace", "insert"):
                for line in b[j1:j2]:
                    out.extend(_emit(b"+", line))
    return b"".join(out)


def file_diff(old: bytes, new: bytes, display_path: str, *, created: bool = False) -> bytes:
    """The diff of one file with git-style ``a/`` and ``b/`` prefixes (``patch -p1``, ``git apply``);
    a file the run creates comes from ``/dev/null``, as git writes it."""
    old_name = "/dev/null" if created else f"a/{display_path}"
    return unified_diff(old, new, old_name, f"b/{display_path}")


def write_diff(diff: bytes, stream: BinaryIO, color_console: Console | None = None) -> None:
    """Write a diff: raw bytes (a patch) to ``stream``, or coloured through ``color_console``
    on a terminal. Colour goes through Text objects, so nothing in the diff is read as markup."""
    if color_console is None:
        stream.write(diff)
        stream.flush()
        return
    for raw_line in split_lines(diff):
        line = raw_line.decode("utf-8", "replace").rstrip("\n").rstrip("\r")
        style = ""
        if raw_line.startswith((b"---", b"+++")):
            style = "bold"
        elif raw_line.startswith(b"@@"):
            style = "cyan"
        elif raw_line.startswith(b"+"):
            style = "green"
        elif raw_line.startswith(b"-"):
            style = "red"
        elif raw_line.startswith(b"\\"):
            style = "dim"
        color_console.print(Text(line, style=style), soft_wrap=True)
