"""The deployment phase of a run: after the Python files, the files that start them.

:func:`migrate_deployment` takes the deployment files the discovery found and what the Python
files became (:class:`~migrate.rules.deployment.apps.PythonOutcome`), and returns one
:class:`~migrate.runner.FileResult` per file, as the Python files get: the same diff, the same
``--check``/``--write``/``--out``, the same report (``line`` points into the file). Command
files go first (they say which servers the project now needs), then gunicorn config files
(converted where the commands using them were), then the requirements.

A file that cannot be decoded, or whose rewrite would not read back, is an error, left as it is.
"""

from __future__ import annotations

import dataclasses
import functools
import posixpath
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from migrate.discovery import FoundFile
from migrate.rules.base import Change
from migrate.rules.deployment import MARKER, RULE, gunicorn_config, requirements
from migrate.rules.deployment.apps import PythonOutcome, Resolution, bases_for, resolve
from migrate.rules.deployment.commands import AppSpec, Invocation, find_invocation
from migrate.rules.deployment.flask_app import flask_app_names
from migrate.rules.deployment.formats import (
    FORMATS,
    Format,
    Site,
    format_for,
    indent_of,
    is_shell_script,
    line_start,
)
from migrate.rules.deployment.paste import paste_rewrite, serves_paste_file
from migrate.rules.deployment.paste_ini import is_paste_server_text, migrate_ini
from migrate.rules.deployment.targets import Context, Rewrite, Target, rewrite
from migrate.rules.deployment.uwsgi_ini import has_uwsgi_section, migrate_uwsgi_ini
from migrate.rules.deployment.words import ShellSyntaxError, Word, shell_segments, values
from migrate.runner import (
    FileResult,
    MigrationError,
    decode_source,
    describe_exception,
    encode_source,
)

_Work = Callable[[str], tuple[str, list[Change]]]

#: Words that say a line that cannot be read starts a WSGI server.
_SERVER_WORDS = re.compile(
    r"\b(gunicorn|waitress-serve|uwsgi|mod_wsgi-express|pserve|flask\s+run|-m\s+bottle)\b"
)
_SHELLS = frozenset({"sh", "bash", "/bin/sh", "/bin/bash", "/usr/bin/env sh"})
#: Files of environment settings Flask's command line reads (FLASK_APP, :mod:`.flask_app`):
#: ``.flaskenv``, ``.env`` and ``.env.dev``-like ones (compose's ``env_file``); not an
#: encrypted one (``.env.gpg``), which is no text to read.
_ENV_FILE = re.compile(r"^(\.flaskenv|\.env(\.[\w-]+)?)$")
_ENCRYPTED = frozenset({".gpg", ".enc", ".age", ".asc", ".vault", ".kdbx", ".pgp"})


def is_server_ini(path: str) -> bool:
    """An ini file a server reads: PasteDeploy's ``[server:...]``, uWSGI's ``[uwsgi]``."""
    try:
        with open(path, "rb") as file:
            text = file.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        return False
    return is_paste_server_text(text) or has_uwsgi_section(text)


def is_env_file(name: str) -> bool:
    return _ENV_FILE.match(name) is not None and not name.endswith(tuple(_ENCRYPTED))


def is_deployment_file(relpath: str, path: str | None = None) -> bool:
    """Whether the file at ``relpath`` is one this phase reads: by its name, or for a name
    without a suffix (``start``, ``docker-entrypoint``), by a shell's ``#!`` line at ``path``."""
    name = relpath.rsplit("/", 1)[-1]
    return (
        format_for(name) is not None
        or is_env_file(name)
        or requirements.is_requirements_file(relpath)
        or name == "pyproject.toml"
        or gunicorn_config.is_config_name(name)
        or ("." not in name and path is not None and is_shell_script(path))
        or (name.endswith(".ini") and path is not None and is_server_ini(path))
    )


@dataclass
class _Run:
    roots: Sequence[Path]
    outcome: PythonOutcome
    server: Target | None
    #: What the migrated project needs (distribution names), each with the file needing it.
    needs: list[tuple[Path, str]] = field(default_factory=list)
    #: What its migrated tests need (pytest plugins), each with the test file needing it.
    test_needs: list[tuple[Path, str]] = field(default_factory=list)
    #: Folders of gunicorn commands, with the config file they name (None: the default).
    gunicorn_commands: list[tuple[Path, str | None, bool]] = field(default_factory=list)
    #: The folder of each command file read, as its relpath names it.
    relpath_of: dict[Path, str] = field(default_factory=dict)
    #: Files the rewritten commands need (:attr:`Rewrite.creates`): path -> (relpath, text,
    #: what the first command needing it says).
    created: dict[Path, tuple[str, str, str]] = field(default_factory=dict)


def migrate_deployment(
    files: Sequence[FoundFile],
    outcome: PythonOutcome,
    roots: Sequence[Path],
    server: Target | None = None,
) -> list[FileResult]:
    """One result per file of ``files`` (in their order), then one per file created."""
    run = _Run(roots, outcome, server)
    results: dict[int, FileResult] = {}
    later: list[int] = []
    configs: list[int] = []
    for index, found in enumerate(files):
        name = found.path.name
        if gunicorn_config.is_config_name(name):
            configs.append(index)
        elif name.endswith(".ini"):
            results[index] = _guarded(found, functools.partial(_server_ini, found, run=run))
        elif requirements.is_requirements_file(found.relpath) or name == "pyproject.toml":
            later.append(index)
        else:
            # an env file that is no text (latin-1 secrets) is not ours to read: left alone
            optional = is_env_file(name)
            work = functools.partial(_commands, found, run=run)
            results[index] = _guarded(found, work, optional=optional)
    for index in configs:
        found = files[index]
        results[index] = _guarded(found, functools.partial(_gunicorn_config, found, run=run))
    run.needs.extend(
        (path, requirements.DISTRIBUTION_OF_MODULE[module])
        for path, modules in outcome.new_imports.items()
        for module in modules
        if module in requirements.DISTRIBUTION_OF_MODULE
    )
    run.test_needs.extend(
        (path, plugin) for path, plugins in outcome.new_test_plugins.items() for plugin in plugins
    )
    results.update(_dependencies([(i, files[i]) for i in later], run))
    return [results[index] for index in range(len(files))] + _created(run)


def _created(run: _Run) -> list[FileResult]:
    """The files the rewritten commands need, unless there already (as the same text: the
    rewrite checked)."""
    results = []
    for path, (relpath, text, message) in run.created.items():
        if not path.exists():
            changes = [Change(RULE, 1, "adapted", message)]
            new = text.encode("utf-8")
            results.append(
                FileResult(path, relpath, "changed", changes, None, b"", new, created=True)
            )
    return results


def _guarded(
    found: FoundFile, work: _Work, data: bytes | None = None, *, optional: bool = False
) -> FileResult:
    """Read (unless ``data`` holds its bytes already), rewrite, check and encode one file;
    any failure is that file's error (an ``optional`` file that cannot be decoded is left
    as it is)."""
    try:
        data = found.path.read_bytes() if data is None else data
    except OSError as exc:
        return FileResult(found.path, found.relpath, "error", error=f"cannot read: {exc.strerror}")
    try:
        text, encoding = decode_source(data)
    except MigrationError as exc:
        if optional:
            return FileResult(found.path, found.relpath, "unchanged", [])
        return FileResult(found.path, found.relpath, "error", error=str(exc))
    try:
        new_text, changes = work(text)
        new_bytes = encode_source(new_text, encoding) if new_text != text else data
    except (ValueError, UnicodeError) as exc:
        return FileResult(found.path, found.relpath, "error", error=f"not rewritten: {exc}")
    except Exception as exc:  # a bug of ours must cost one file, not the run
        error = f"internal error: {describe_exception(exc)}"
        return FileResult(found.path, found.relpath, "error", error=error)
    if new_bytes == data:
        return FileResult(found.path, found.relpath, "unchanged", changes)
    return FileResult(found.path, found.relpath, "changed", changes, None, data, new_bytes)


# --------------------------------------------------------------------------- PasteDeploy


def _server_ini(found: FoundFile, text: str, *, run: _Run) -> tuple[str, list[Change]]:
    """An ini file a server reads: pserve's server sections moved to uvicorn
    (:mod:`.paste_ini`), a ``[uwsgi]`` section's app kept WSGI or marked (:mod:`.uwsgi_ini`)."""
    folder = found.path.parent

    def resolved(spec: AppSpec, extra: list[str]) -> Resolution:
        return resolve(spec, bases_for(folder, run.roots, extra), run.outcome)

    changes: list[Change] = []
    if is_paste_server_text(text):
        text, changes = migrate_ini(text, Context(run.server, resolved))
        if any(change.kind == "adapted" for change in changes):
            run.needs.extend((found.path, need) for need in ("uvicorn", "wsgi2asgi"))
    if has_uwsgi_section(text):
        text, more = migrate_uwsgi_ini(text, found.path.name, resolved, run.outcome.text)
        changes += more
    return text, changes


# --------------------------------------------------------------------------- commands


def _commands(found: FoundFile, text: str, *, run: _Run) -> tuple[str, list[Change]]:
    new_text, changes = _server_commands(found, text, run=run)
    folder = found.path.parent

    def module_path(spec: AppSpec) -> Path | None:
        return resolve(spec, bases_for(folder, run.roots, []), run.outcome).path

    named, renamed = flask_app_names(new_text, module_path, run.outcome.text)
    changes += [Change(RULE, line, "converted", message) for line, message in renamed]
    return named, changes


def _server_commands(found: FoundFile, text: str, *, run: _Run) -> tuple[str, list[Change]]:
    fmt = format_for(found.path.name, text)
    if fmt is None and "." not in found.path.name and text.startswith("#!"):
        fmt = FORMATS["shell"]
    if fmt is None:
        return text, []
    run.relpath_of[found.path.parent] = posixpath.dirname(found.relpath)
    context = Context(
        run.server,
        lambda spec, extra: resolve(spec, bases_for(found.path.parent, run.roots, extra), run.outcome),
        procfile=fmt is FORMATS["procfile"],
        shell=fmt.shell,
        read_file=functools.partial(_read_beside, found.path.parent),
    )  # fmt: skip
    edits: list[tuple[int, int, str]] = []
    changes: list[Change] = []
    for site in fmt.sites(text):
        for rewritten, start, end, new in _site_rewrites(site, context, found.path.parent, run):
            changes.append(Change(RULE, site.line, rewritten.kind, rewritten.message))
            if new is not None:
                edits.append((start, end, new))
            elif (
                rewritten.words is None and fmt.comment and not _marked_above(text, site.marker_at)
            ):
                edits.append((site.marker_at, site.marker_at, _marker(text, site, fmt, rewritten)))
    new_text = _applied(text, edits)
    if new_text != text:
        fmt.check(new_text)
    return new_text, changes


def _read_beside(folder: Path, name: str) -> str | None:
    """The text of ``name`` (a config file a command reads) from ``folder``, if it is there."""
    path = folder / name
    try:
        return decode_source(path.read_bytes())[0] if path.is_file() else None
    except (OSError, MigrationError):
        return None


def _site_rewrites(
    site: Site, context: Context, folder: Path, run: _Run
) -> list[tuple[Rewrite, int, int, str | None]]:
    """(rewrite, start, end, new text or None) for each server command of the site."""
    if site.env:
        context = dataclasses.replace(context, env=site.env)
    if site.app_folder is not None:  # the app is imported from there first
        hint, resolve = site.app_folder, context.resolve
        context = dataclasses.replace(
            context, resolve=lambda spec, extra: resolve(spec, [hint, *extra])
        )
    if site.form == "shell":
        return [
            (rw, site.start + start, site.start + end, new)
            for rw, start, end, new in _shell_rewrites(
                site.text, context, folder, run, shell=context.shell
            )
        ]
    if site.form == "quoted":
        assert site.encode is not None
        return _inner_rewrites(
            site.text, site.encode, (site.start, site.end), context, folder, run,
            shell=context.shell,
        )  # fmt: skip
    words = list(site.words)
    assert site.write_list is not None
    write_list = site.write_list
    if len(words) == 3 and words[0].value in _SHELLS and words[1].value == "-c":
        head = [words[0].value, words[1].value]
        return _inner_rewrites(
            words[2].value, lambda text: write_list([*head, text]), (site.start, site.end),
            context, folder, run, shell=True,
        )  # fmt: skip
    invocation = find_invocation(words)
    if invocation is None:
        return []
    rewritten = _rewritten(invocation, context)
    if rewritten is None:
        return []
    _record(invocation, rewritten, folder, run)
    if rewritten.words is None:
        return [(rewritten, site.start, site.end, None)]
    new_values = values(rewritten.words)
    if rewritten.env:
        env = [f"{k}={v.value if isinstance(v, Word) else v}" for k, v in rewritten.env.items()]
        new_values = ["env", *env, *new_values]
    return [(rewritten, site.start, site.end, site.write_list(new_values))]


def _rewritten(invocation: Invocation, context: Context) -> Rewrite | None:
    """PasteDeploy commands (:mod:`.paste`), then any server command (:mod:`.targets`)."""
    if serves_paste_file(invocation):
        return paste_rewrite(invocation, context)
    return rewrite(invocation, context)


def _inner_rewrites(
    inner: str,
    encode: Callable[[str], str],
    span: tuple[int, int],
    context: Context,
    folder: Path,
    run: _Run,
    *,
    shell: bool,
) -> list[tuple[Rewrite, int, int, str | None]]:
    """The rewrites of command text held in a string at ``span`` (``sh -c "..."``, a quoted
    YAML or TOML value): the string is written again once, with every rewrite in it."""
    found = _shell_rewrites(inner, context, folder, run, shell=shell)
    new_inner = _applied(inner, [(s, e, n) for _, s, e, n in found if n is not None])
    new = encode(new_inner) if new_inner != inner else None
    out: list[tuple[Rewrite, int, int, str | None]] = []
    for rewritten, _, _, edit in found:
        out.append((rewritten, *span, new if edit is not None else None))
        if edit is not None:
            new = None  # one replacement of the whole string
    return out


def _shell_rewrites(
    text: str, context: Context, folder: Path, run: _Run, *, shell: bool = True
) -> list[tuple[Rewrite, int, int, str | None]]:
    """(rewrite, start, end, new text or None) for each server command in shell ``text``."""
    try:
        segments = shell_segments(text)
    except ShellSyntaxError as exc:
        if _SERVER_WORDS.search(text):
            message = (
                f"a server command this tool cannot read with certainty ({exc}): check by hand"
            )
            return [(Rewrite("manual", message), 0, len(text), None)]
        return []
    found: list[tuple[Rewrite, int, int, str | None]] = []
    for segment in segments:
        words = segment.words
        if len(words) == 3 and words[0].value in _SHELLS and words[1].value == "-c":
            script = words[2]  # sh -c "...": the script is shell text of its own
            inner = _inner_rewrites(
                script.value, functools.partial(_requoted, script.source),
                (script.start, script.end), context, folder, run, shell=True,
            )  # fmt: skip
            found.extend((rw, start, end, new) for rw, start, end, new in inner)
            continue
        invocation = find_invocation(segment.words)
        if invocation is None:
            continue
        rewritten = _rewritten(invocation, context)
        if rewritten is None:
            continue
        _record(invocation, rewritten, folder, run)
        first, last = segment.words[0], segment.words[-1]
        start = (invocation.prefix or invocation.head)[0].start
        if rewritten.words is None:
            found.append((rewritten, first.start, last.end, None))
            continue
        env = [f"{k}={v.source if isinstance(v, Word) else v}" for k, v in rewritten.env.items()]
        if env and not shell:
            env.insert(0, "env")  # no shell reads the assignments: the env program does
        new = " ".join([*env, _render(text, segment.words, rewritten.words)])
        found.append((rewritten, start, last.end, new))
    return found


def _render(text: str, original: Sequence[Word], words: Sequence[Word | str]) -> str:
    """Shell text for ``words``: a word kept from the original follows the one kept before
    it with the original spacing (line continuations too) where nothing was dropped between
    them; a new word is quoted and joined with a space."""
    position = {id(word): index for index, word in enumerate(original)}
    out: list[str] = []
    kept: Word | None = None
    for word in words:
        if isinstance(word, Word) and id(word) in position:
            adjacent = kept is not None and position[id(word)] == position[id(kept)] + 1
            if out:
                out.append(text[kept.end : word.start] if adjacent and kept else " ")
            out.append(word.source)
            kept = word
        else:
            if out:
                out.append(" ")
            out.append(word.source if isinstance(word, Word) else _quote(word))
    return "".join(out)


def _requoted(source: str, text: str) -> str:
    """``text`` as one shell word, quoted the way ``source`` was (double quotes keep the
    ``$VARIABLES`` in it for the shell to expand, as they were)."""
    if source.startswith('"'):
        return '"' + re.sub(r'(["\\`])', r"\\\1", text) + '"'
    if "'" not in text:
        return f"'{text}'"
    return shlex.quote(text)


def _quote(value: str) -> str:
    if value.startswith("$") or re.fullmatch(r"[\w@%+=:,./-]+", value):
        return value
    return shlex.quote(value)


def _record(invocation: Invocation, rewritten: Rewrite, folder: Path, run: _Run) -> None:
    if rewritten.words is not None:
        where = rewritten.module or folder
        run.needs.extend((where, need) for need in rewritten.needs)
        for relpath, text in rewritten.creates.items():
            shown = posixpath.join(run.relpath_of.get(folder, ""), relpath)
            run.created.setdefault(folder / relpath, (shown, text, rewritten.created_message))
    if invocation.server == "gunicorn":
        config = invocation.first("config")
        path = config.value.value if config is not None and config.value is not None else None
        run.gunicorn_commands.append((folder, path, rewritten.words is not None))


def _marked_above(text: str, offset: int) -> bool:
    if offset == 0:
        return False
    previous = text[line_start(text, offset - 1) : offset]
    return MARKER in previous


def _marker(text: str, site: Site, fmt: Format, rewritten: Rewrite) -> str:
    end = text.find("\n", site.marker_at)
    line = text[site.marker_at : len(text) if end < 0 else end]
    indent = site.marker_indent if site.marker_indent is not None else indent_of(line)
    newline = "\r\n" if line.endswith("\r") else "\n"
    message = " ".join(rewritten.message.split())
    return f"{indent}{fmt.comment}{MARKER} {message}{newline}"


def _applied(text: str, edits: Sequence[tuple[int, int, str]]) -> str:
    out: list[str] = []
    at = 0
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < at:
            continue  # overlapping: the first one stands
        out.append(text[at:start])
        out.append(new)
        at = end
    out.append(text[at:])
    return "".join(out)


# --------------------------------------------------------------------------- configs


def _gunicorn_config(found: FoundFile, text: str, *, run: _Run) -> tuple[str, list[Change]]:
    folder = found.path.parent
    users = [
        converted
        for command_folder, named, converted in run.gunicorn_commands
        if (named is not None and (command_folder / named).resolve() == found.path.resolve())
        or (named is None and command_folder == folder)
    ]

    def resolver(spec: AppSpec) -> Resolution:
        return resolve(spec, bases_for(folder, run.roots, ()), run.outcome)

    new_text, change = gunicorn_config.migrate_config(text, users, resolver)
    if change is None:
        return text, []
    if change.kind == "converted":
        run.needs.extend((found.path, need) for need in ("gunicorn", "uvicorn-worker"))
    return new_text, [change]


# --------------------------------------------------------------------------- dependencies


def _dependencies(files: Sequence[tuple[int, FoundFile]], run: _Run) -> dict[int, FileResult]:
    files_by_index = dict(files)
    data: dict[int, bytes] = {}
    texts: dict[int, str] = {}
    for index, found in files:
        try:
            data[index] = found.path.read_bytes()
            texts[index] = decode_source(data[index])[0]
        except (OSError, MigrationError):
            texts[index] = ""
    # the requirements files of a project needing something (not lock files in a folder
    # of their own, whose project is elsewhere: then its pyproject.toml takes the needs)
    reqs = [
        i
        for i, f in files
        if requirements.is_requirements_file(f.relpath)
        and _needed_under(_project_folder(f), run.needs)
    ]
    with_server = [i for i in reqs if requirements.listed(texts[i]) & requirements.WSGI_SERVERS]
    chosen = set(with_server)
    if not chosen:
        tops = sorted((files_by_index[i].relpath.count("/"), i) for i in reqs
                      if files_by_index[i].path.name == "requirements.txt")  # fmt: skip
        chosen = {index for _, index in tops[:1]}
    results: dict[int, FileResult] = {}
    for index, found in files:
        needed = _needed_under(_project_folder(found), run.needs)
        # the tests' plugins go where the project lists pytest (its test dependencies)
        test_needed = _needed_under(_project_folder(found), run.test_needs)
        if found.path.name == "pyproject.toml":
            listed = requirements.pyproject_dependencies(texts[index]) or set()
            take = bool(listed & requirements.WSGI_SERVERS) or (not chosen and bool(listed))
            lock = _lock_file(found.path.parent)
            work = _adder(requirements.add_to_pyproject, needed if take else [], found, lock)
            if test_needed:
                tests = _adder(requirements.add_to_pyproject_tests, test_needed, found, lock)
                work = _then(work, tests)
        else:
            lists_pytest = "pytest" in requirements.listed(texts[index])
            needed = [*(needed if index in chosen else []), *(test_needed if lists_pytest else [])]
            work = _adder(requirements.add_requirements, needed, found)
        results[index] = _guarded(found, work, data.get(index))
    return results


def _then(first: _Work, second: _Work) -> _Work:
    def work(text: str) -> tuple[str, list[Change]]:
        text, changes = first(text)
        text, more = second(text)
        return text, changes + more

    return work


def _project_folder(found: FoundFile) -> Path:
    """The folder a dependency file is for (``requirements/base.txt``: the one above)."""
    folder = found.path.parent
    return folder.parent if folder.name == "requirements" else folder


def _needed_under(folder: Path, needs: Sequence[tuple[Path, str]]) -> list[str]:
    return sorted({need for path, need in needs if path.is_relative_to(folder)})


def _pins_marked(text: str, needed: list[str]) -> tuple[str, list[Change]]:
    """``text`` with a marker above each pin too old for what the run added."""
    lines = text.splitlines(keepends=True)
    changes = []
    for number, why in reversed(requirements.too_old_pins(text, needed)):
        changes.append(Change(RULE, number, "manual", why))
        if MARKER not in (lines[number - 2] if number > 1 else ""):
            lines.insert(number - 1, f"# {MARKER} {why}\n")
    return "".join(lines), list(reversed(changes))


#: Lock files of the tools installing from pyproject.toml, and the command that renews each.
LOCK_FILES = {"poetry.lock": "poetry lock", "uv.lock": "uv lock", "pdm.lock": "pdm lock"}


def _lock_file(folder: Path) -> str | None:
    """The lock file beside a pyproject.toml (its name), if there is one."""
    return next((name for name in LOCK_FILES if (folder / name).is_file()), None)


def _marked_where_changed(old: str, new: str, marker: str) -> tuple[str, int]:
    """``new`` with the line ``marker`` above the first line where it differs from ``old``
    (a line it adds, or one it changes), and the marker's line number."""
    same = 0
    while same < min(len(old), len(new)) and old[same] == new[same]:
        same += 1
    at = new.rfind("\n", 0, same) + 1
    if new.startswith("\n", same) or new.startswith("\r\n", same):  # a line added after
        at = new.index("\n", same) + 1
    newline = "\r\n" if "\r\n" in new else "\n"
    return new[:at] + marker + newline + new[at:], new.count("\n", 0, at) + 1


def _adder(
    add: Callable[[str, list[str]], tuple[str, list[str]]],
    needed: list[str],
    found: FoundFile,
    lock: str | None = None,
) -> _Work:
    def work(text: str) -> tuple[str, list[Change]]:
        if not needed:
            return text, []
        new_text, added = add(text, needed)
        if not added:
            return text, []
        message = "the migrated project needs " + ", ".join(added)
        changes = [Change(RULE, text.count("\n") + 1, "converted", message)]
        if lock is not None:  # an install from the lock file would not have them
            message = f"{lock} does not list what was added yet: run `{LOCK_FILES[lock]}`"
            new_text, line = _marked_where_changed(text, new_text, f"# {MARKER} {message}")
            changes.append(Change(RULE, line, "manual", message))
        if add is requirements.add_requirements:
            new_text, pinned = _pins_marked(new_text, needed)
            changes.extend(pinned)
        return new_text, changes

    return work
