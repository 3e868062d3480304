"""What a run gives back (the result of a source, of a file), its errors, and the stage a
file is at (for the message when it times out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from migrate.rules import Change
from migrate.rules.base import NewFile

FileStatus = Literal["changed", "unchanged", "error"]


class MigrationError(Exception):
    """A file could not be migrated (it does not parse, a rule crashed, ...)."""


class FileTimeout(BaseException):
    """The per-file time limit ran out. A BaseException, so that rule code catching
    ``Exception`` cannot swallow it."""


#: Seconds one file may take before it is reported as an error (a rule's prefilter regex
#: that backtracks catastrophically must cost one file, not hang the run).
DEFAULT_FILE_TIMEOUT = 120.0

#: What the current file is going through, for the message when it times out.
_stage = ["reading"]


class UnknownRuleError(ValueError):
    """A rule id that is not in the registry, or a selection that leaves out a rule that a
    selected rule needs."""


@dataclass
class SourceResult:
    """What :func:`migrate_source` returns."""

    new_source: str
    changes: list[Change]
    #: Ids of the rules that ran (their ``might_apply`` said yes).
    rules_run: list[str] = field(default_factory=list)
    #: Files the rules create beside this one.
    new_files: list[NewFile] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the code changed (a rule may report a ``manual`` spot without changing code)."""
        return self.new_source_differs

    new_source_differs: bool = False


@dataclass
class FileResult:
    """The outcome for one file; small and picklable, it travels back from the workers."""

    path: Path
    relpath: str
    status: FileStatus
    changes: list[Change] = field(default_factory=list)
    error: str | None = None
    #: The bytes read and the bytes to write; only set when ``status == "changed"``.
    old_bytes: bytes | None = None
    new_bytes: bytes | None = None
    #: A file the run creates (``old_bytes`` is empty; it does not exist yet).
    created: bool = False
    #: The files the rules create beside this one, each a result of its own.
    companions: tuple[FileResult, ...] = ()
