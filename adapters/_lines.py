"""Line reading for the request body streams (``wsgi.input``): ``readlines()`` and iteration
over ``readline()``, which each stream defines."""

from __future__ import annotations

from collections.abc import Iterator


class LineReading:
    """``readlines`` and ``__iter__`` from the subclass's ``readline``."""

    def readline(self, size: int | None = -1) -> bytes:
        raise NotImplementedError

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line
