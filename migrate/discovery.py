"""Which files a run looks at: PATH arguments walked into a deterministic list of files.

Folders are walked recursively, in sorted order, skipping what is never a project's own
code: hidden folders, virtualenvs (any folder holding ``pyvenv.cfg``), ``site-packages``,
``node_modules``, ``__pycache__``, whatever the ``.gitignore`` files say (nested ones and
``.git/info/exclude`` included) and the user's ``--exclude`` globs.

The gitignore matcher is our own (standard library only) so that the result does not
depend on whether git is installed or the tree is a git work tree. It implements what
projects actually write: ``#`` comments, ``!`` negation, ``dir/``-only patterns,
anchored patterns (a ``/`` at the start or in the middle), ``*``, ``?``, ``[...]`` and
``**``; a deeper ``.gitignore`` overrides a shallower one, the last match wins, and a
file inside an ignored folder cannot be re-included (git does the same).

Symlinks are never followed: one that leaves the tree, is broken, or points back into the
tree (whose target is then processed at its real path, exactly once) is reported as
skipped with a reason, never dropped silently.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Folder names never walked into (besides hidden folders and virtualenvs).
ALWAYS_SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})


@dataclass(frozen=True)
class FoundFile:
    """A file to process."""

    #: Absolute path (not resolved: a file named through a symlink keeps its name).
    path: Path
    #: Posix path relative to the PATH argument it was found under (for an explicitly
    #: named file, relative to the current directory when inside it, else its name);
    #: this is what rules get in :class:`migrate.rules.base.FileContext`.
    relpath: str


@dataclass(frozen=True)
class SkippedPath:
    """Something a run saw and deliberately did not process, with the reason."""

    path: Path
    reason: str


@dataclass
class Discovery:
    """The outcome of walking the PATH arguments."""

    files: list[FoundFile] = field(default_factory=list)
    skipped: list[SkippedPath] = field(default_factory=list)


# --------------------------------------------------------------------------- gitignore


@dataclass(frozen=True)
class IgnorePattern:
    """One line of a .gitignore file, compiled."""

    regex: re.Pattern[str]
    negated: bool
    dir_only: bool


def _translate_glob(glob: str) -> str:
    """Regex source for a gitignore glob (already stripped of ``!``, leading and trailing ``/``)."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        char = glob[i]
        if char == "*":
            if glob.startswith("**", i):
                at_segment_start = i == 0 or glob[i - 1] == "/"
                at_segment_end = i + 2 == n or glob[i + 2] == "/"
                if at_segment_start and at_segment_end:
                    if i + 2 == n:
                        out.append(".*")  # "a/**" matches everything inside a/
                        i += 2
                    else:
                        out.append("(?:.*/)?")  # "**/" matches zero or more folders
                        i += 3
                    continue
                # "a**b" is two ordinary stars, as in git
                out.append("[^/]*")
                i += 2
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = i + 1
            if end < n and glob[end] in "!^":
                end += 1
            if end < n and glob[end] == "]":
                end += 1
            while end < n and glob[end] != "]":
                end += 1
            if end >= n:
                out.append(re.escape(char))  # an unclosed "[" is literal
            else:
                body = glob[i + 1 : end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif char == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def parse_gitignore_line(line: str) -> IgnorePattern | None:
    """Compile one .gitignore line; None for blank lines and comments."""
    line = line.rstrip("\n").rstrip("\r")
    if not line or line.startswith("#"):
        return None
    # Trailing spaces are ignored unless escaped with a backslash.
    stripped = line.rstrip(" ")
    if stripped.endswith("\\") and len(stripped) < len(line):
        stripped += " "
    line = stripped
    negated = line.startswith("!")
    if negated or line.startswith("\\!") or line.startswith("\\#"):
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    # A slash at the start or in the middle anchors the pattern to the .gitignore's folder;
    # otherwise it matches a name at any depth.
    anchored = "/" in line
    line = line.lstrip("/")
    body = _translate_glob(line)
    if not anchored:
        body = "(?:.*/)?" + body
    return IgnorePattern(re.compile(body + r"\Z", re.DOTALL), negated, dir_only)


@dataclass
class IgnoreFile:
    """The patterns of one .gitignore (or info/exclude) file, relative to ``base``."""

    base: Path
    patterns: list[IgnorePattern]

    def __post_init__(self) -> None:
        text = self.base.as_posix()
        #: ``base`` as an absolute posix string ending with ``/``, for fast prefix tests.
        self.base_posix = text if text.endswith("/") else text + "/"

    @classmethod
    def read(cls, path: Path, base: Path) -> IgnoreFile | None:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        patterns = [p for p in map(parse_gitignore_line, text.splitlines()) if p is not None]
        return cls(base, patterns) if patterns else None

    def match(self, path: str, is_dir: bool) -> bool | None:
        """True: ignored, False: re-included by a negation, None: no pattern says anything.

        ``path`` is absolute, with ``/`` separators (strings, not Path: this runs for
        every entry of the tree, and pathlib's parsing would dominate the walk).
        """
        base = self.base_posix
        if not path.startswith(base):
            return None
        rel = path[len(base) :]
        verdict: bool | None = None
        for pattern in self.patterns:
            if pattern.dir_only and not is_dir:
                continue
            if pattern.regex.match(rel):
                verdict = not pattern.negated
        return verdict


def is_ignored(path: str, is_dir: bool, ignore_files: Sequence[IgnoreFile]) -> bool:
    """Whether ``path`` (absolute, ``/`` separators) is ignored by ``ignore_files``
    (shallowest first; deeper ones win)."""
    ignored = False
    for ignore_file in ignore_files:
        verdict = ignore_file.match(path, is_dir)
        if verdict is not None:
            ignored = verdict
    return ignored


def _git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _ancestor_ignore_files(root: Path) -> list[IgnoreFile]:
    """The .gitignore files above ``root`` up to the git work tree's top (plus info/exclude).

    Walking ``proj/src`` must honour ``proj/.gitignore`` too, as git would.
    """
    git_root = _git_root(root)
    if git_root is None:
        return []
    found: list[IgnoreFile] = []
    exclude = IgnoreFile.read(git_root / ".git" / "info" / "exclude", git_root)
    if exclude is not None:
        found.append(exclude)
    folders = [root, *root.parents]
    for folder in reversed(folders[1 : folders.index(git_root) + 1]):
        ignore_file = IgnoreFile.read(folder / ".gitignore", folder)
        if ignore_file is not None:
            found.append(ignore_file)
    return found


# --------------------------------------------------------------------------- walking


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _matches_exclude(path: str, relpath: str, excludes: Sequence[str]) -> bool:
    """``--exclude`` globs match the path relative to the walked root, any of its trailing
    parts (so ``tests`` or ``migrations/*.py`` work at any depth), or its absolute path."""
    if not excludes:
        return False
    parts = relpath.split("/")
    candidates = {"/".join(parts[i:]) for i in range(len(parts))}
    candidates.add(path)
    return any(
        fnmatch.fnmatchcase(candidate, glob.rstrip("/"))
        for glob in excludes
        for candidate in candidates
    )


def _skip_reason_for_dir(entry: os.DirEntry[str]) -> str | None:
    name = entry.name
    if name.startswith("."):
        return "hidden folder"
    if name in ALWAYS_SKIPPED_DIRS:
        return f"{name} folder"
    if os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
        return "virtualenv"
    return None


class _Walker:
    def __init__(
        self,
        excludes: Sequence[str],
        python_only: bool,
        skipped: list[SkippedPath],
        prune: Sequence[Path],
        also: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.excludes = excludes
        self.python_only = python_only
        #: Which other files are wanted besides ``*.py`` (deployment files): (relpath, path).
        self.also = also
        self.skipped = skipped
        self.prune = [p.resolve() for p in prune]

    def walk(self, root: Path) -> Iterator[FoundFile]:
        yield from self._walk_dir(root.as_posix(), "", root.resolve(), _ancestor_ignore_files(root))

    def _walk_dir(
        self, folder: str, rel_dir: str, real_root: Path, ignore_files: list[IgnoreFile]
    ) -> Iterator[FoundFile]:
        # Strings, not Path objects, for every entry: pathlib's parsing would dominate the walk.
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            self.skipped.append(SkippedPath(Path(folder), f"cannot list folder: {exc.strerror}"))
            return
        if any(entry.name == ".gitignore" for entry in entries):
            local = IgnoreFile.read(Path(folder, ".gitignore"), Path(folder))
            if local is not None:
                ignore_files = [*ignore_files, local]
        for entry in entries:
            path = f"{folder.rstrip('/')}/{entry.name}"
            relpath = f"{rel_dir}{entry.name}"
            if entry.is_symlink():
                self._note_symlink(Path(path), real_root, relpath, ignore_files)
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            # Ignored and excluded paths are left out quietly: the user asked for that.
            if ignore_files and is_ignored(path, is_dir, ignore_files):
                continue
            if self.excludes and _matches_exclude(path, relpath, self.excludes):
                continue
            if is_dir:
                if entry.name == ".git" or _skip_reason_for_dir(entry) is not None:
                    continue
                if self.prune and Path(path).resolve() in self.prune:
                    continue
                yield from self._walk_dir(path, relpath + "/", real_root, ignore_files)
            elif self._wanted(entry.name, relpath, path) and entry.is_file():
                yield FoundFile(Path(path), relpath)

    def _wanted(self, name: str, relpath: str, path: str) -> bool:
        return (
            not self.python_only
            or name.endswith(".py")
            or (self.also is not None and self.also(relpath, path))
        )

    def _note_symlink(
        self, path: Path, real_root: Path, relpath: str, ignore_files: list[IgnoreFile]
    ) -> None:
        posix = path.as_posix()
        if is_ignored(posix, False, ignore_files) or _matches_exclude(
            posix, relpath, self.excludes
        ):
            return
        if path.name.startswith(".") or path.name in ALWAYS_SKIPPED_DIRS:
            return
        target = path.resolve()
        is_dir = target.is_dir()
        if not is_dir and not self._wanted(path.name, relpath, str(path)):
            return
        if not target.exists():
            reason = "broken symlink, not followed"
        elif not _is_within(target, real_root):
            reason = f"symlink to {target}, outside the tree: not followed"
        else:
            inside = target.relative_to(real_root).as_posix()
            reason = f"symlink to {inside} in the tree: processed there"
        self.skipped.append(SkippedPath(path, reason))


def _display_relpath(path: Path, cwd: Path) -> str:
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        return path.name


def discover(
    paths: Iterable[str | os.PathLike[str]],
    excludes: Sequence[str] = (),
    *,
    python_only: bool = True,
    prune: Sequence[Path] = (),
    cwd: Path | None = None,
    also: Callable[[str, str], bool] | None = None,
) -> Discovery:
    """Expand PATH arguments into files, in a deterministic order, without duplicates.

    Besides ``*.py`` files, the walk takes those ``also`` accepts (given relpath and path).

    Explicitly named files are always taken (whatever their suffix or .gitignore says)
    unless an ``--exclude`` glob matches them. ``prune`` lists folders never walked into
    (the ``--out`` folder when it lies inside the tree).
    """
    cwd = (cwd or Path.cwd()).absolute()
    result = Discovery()
    walker = _Walker(excludes, python_only, result.skipped, prune, also)
    # Keyed by absolute path: walked files are never symlinks, so no resolve() (a syscall
    # per path component) is needed; a named file is keyed by its target as well.
    seen: set[str] = set()

    def add(found: FoundFile, *, resolve: bool = False) -> None:
        keys = {str(found.path)}
        if resolve:
            keys.add(str(found.path.resolve()))
        if not keys & seen:
            seen.update(keys)
            result.files.append(found)

    for raw in paths:
        path = Path(os.path.abspath(cwd / raw))
        if path.is_dir():
            for found in walker.walk(path):
                add(found)
        elif path.exists():
            relpath = _display_relpath(path, cwd)
            if not _matches_exclude(path.as_posix(), relpath, excludes):
                add(FoundFile(path, relpath), resolve=True)
        else:
            result.skipped.append(SkippedPath(path, "no such file or folder"))
    return result


def walk_all_files(root: Path, prune: Sequence[Path] = ()) -> Discovery:
    """Every file of the tree under ``root`` (not only ``*.py``), with the same skipping
    rules as :func:`discover` but ``--exclude`` (a file kept from the rules is still part of
    the project); used by ``--out`` to copy the files no rule touches."""
    result = Discovery()
    walker = _Walker((), False, result.skipped, prune)
    result.files.extend(walker.walk(root.absolute()))
    return result
