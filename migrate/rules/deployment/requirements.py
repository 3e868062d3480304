"""The project's dependencies gain what the migrated project needs, and lose nothing.

What is needed: the servers the rewritten commands start (uvicorn, uvicorn-worker, ...) and
the packages the migrated Python code imports that it did not before (``adapters`` is the
wsgi2asgi distribution, ``uvicorn.run`` needs uvicorn). They go into the requirements files
that list a WSGI server (the deployment's own), else the top ``requirements.txt``, and into
``pyproject.toml``'s ``[project] dependencies`` when it lists a WSGI server or no
requirements file took them. Nothing is removed: gunicorn still runs the uvicorn workers,
and a command left WSGI still needs its server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from migrate.config import tomllib  # type: ignore[attr-defined, unused-ignore]

#: Requirement lines for what the migrated project may need, by distribution name.
REQUIREMENTS = {
    "uvicorn": "uvicorn>=0.36",
    "uvicorn-worker": "uvicorn-worker>=0.4",
    "gunicorn": "gunicorn>=21",
    "hypercorn": "hypercorn",
    "granian": "granian",
    "wsgi2asgi": "wsgi2asgi",
    "servestatic": "servestatic",
    "quart": "quart",
    "pytest-asyncio": "pytest-asyncio",
}
#: Distributions of the modules migrated code imports.
DISTRIBUTION_OF_MODULE = {
    "uvicorn": "uvicorn",
    "adapters": "wsgi2asgi",
    "hypercorn": "hypercorn",
    "servestatic": "servestatic",
    "quart": "quart",
}
WSGI_SERVERS = frozenset({"gunicorn", "waitress", "uwsgi", "mod-wsgi", "pyuwsgi"})
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_FILE = re.compile(r"^(requirements([-_.][\w.-]*)?|(test|tests|dev)[-_]requirements)\.(txt|in)$")


def is_requirements_file(relpath: str) -> bool:
    parts = relpath.split("/")
    name = parts[-1]
    return bool(_FILE.match(name)) or (
        len(parts) > 1 and parts[-2] == "requirements" and name.endswith((".txt", ".in"))
    )


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def listed(text: str) -> set[str]:
    """The distributions a requirements file names."""
    names: set[str] = set()
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].strip()
        if not stripped or stripped.startswith("-"):
            continue
        match = _NAME.match(stripped)
        if match:
            names.add(normalized(match.group(1)))
    return names


def add_requirements(text: str, needed: Iterable[str]) -> tuple[str, list[str]]:
    """``text`` with a line for each of ``needed`` it does not list, and those lines."""
    present = listed(text)
    added = [REQUIREMENTS.get(n, n) for n in needed if normalized(n) not in present]
    if not added:
        return text, []
    newline = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith("\n"):
        text += newline
    return text + "".join(line + newline for line in added), added


#: What a distribution the rewrites add needs of another one: (needed, name, lowest major).
NEEDS_AT_LEAST = {"uvicorn-worker": ("gunicorn", 21)}
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(==|<=|<|~=)\s*(\d+)")


def too_old_pins(text: str, needed: Iterable[str]) -> list[tuple[int, str]]:
    """(line number, why) of the pins in a requirements file that keep what ``needed``
    depends on below the version it needs (``gunicorn==20.0.4`` for uvicorn-worker)."""
    floors = {
        NEEDS_AT_LEAST[n][0]: (n, NEEDS_AT_LEAST[n][1]) for n in needed if n in NEEDS_AT_LEAST
    }
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _PIN.match(line.split("#", 1)[0])
        if match is None or normalized(match.group(1)) not in floors:
            continue
        needer, floor = floors[normalized(match.group(1))]
        operator, major = match.group(2), int(match.group(3))
        if major < floor or (operator == "<" and major <= floor):
            found.append((number, f"{needer} needs {match.group(1)}>={floor}: raise this pin"))
    return found


def pyproject_dependencies(text: str) -> set[str] | None:
    """The names in ``[project] dependencies`` (else in Poetry's ``[tool.poetry.dependencies]``
    table, Python aside), None when there is no such list (or no TOML reader: Python 3.10
    without tomli)."""
    data = _toml(text)
    if data is None:
        return None
    dependencies = data.get("project", {}).get("dependencies")
    if isinstance(dependencies, list):
        return _names_of(dependencies)
    poetry = _poetry_dependencies(data)
    return None if poetry is None else {normalized(name) for name in poetry} - {"python"}


def _toml(text: str) -> dict[str, Any] | None:
    if tomllib is None:
        return None
    try:
        return tomllib.loads(text)  # type: ignore[no-any-return]
    except tomllib.TOMLDecodeError:
        return None


def _poetry_dependencies(data: dict[str, Any]) -> dict[str, Any] | None:
    table = data.get("tool", {}).get("poetry", {}).get("dependencies")
    return table if isinstance(table, dict) else None


def _names_of(items: list[object]) -> set[str]:
    """The distributions a TOML list of requirements names."""
    return {
        normalized(m.group(1))
        for item in items
        if isinstance(item, str) and (m := _NAME.match(item))
    }


def add_to_pyproject(text: str, needed: Iterable[str]) -> tuple[str, list[str]]:
    """``text`` with the missing ones of ``needed`` appended to ``[project] dependencies``,
    or to Poetry's ``[tool.poetry.dependencies]`` where the project has no such list."""
    present = pyproject_dependencies(text)
    if present is None:
        return text, []
    data = _toml(text) or {}
    if isinstance(data.get("project", {}).get("dependencies"), list):
        return _add_to_list(text, "project", "dependencies", needed, present)
    return _add_to_table(text, POETRY_DEPENDENCIES, needed, present)


POETRY_DEPENDENCIES = "tool.poetry.dependencies"


def _add_to_table(
    text: str, table: str, needed: Iterable[str], present: set[str]
) -> tuple[str, list[str]]:
    """``text`` with the missing ones of ``needed`` as keys at the end of the table
    ``[table]`` (Poetry's: ``uvicorn = ">=0.36"``, ``quart = "*"``)."""
    added = [REQUIREMENTS.get(n, n) for n in needed if normalized(n) not in present]
    span = _table_span(text, table) if added else None
    if span is None:
        return text, []
    start, end = span
    at = start + len(text[start:end].rstrip(" \t\r\n"))
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = []
    for line in added:
        match = _NAME.match(line)
        assert match is not None
        name, constraint = match.group(1), line[match.end() :].strip()
        lines.append(f'{newline}{name} = "{constraint or "*"}"')
    new = text[:at] + "".join(lines) + text[at:]
    assert tomllib is not None
    tomllib.loads(new)  # it still reads (raises otherwise)
    return new, added


#: The tables of pyproject.toml whose lists are dependency sets (extras, PEP 735 groups).
TEST_TABLES = ("project.optional-dependencies", "dependency-groups")


def add_to_pyproject_tests(text: str, needed: Iterable[str]) -> tuple[str, list[str]]:
    """``text`` with the missing ones of ``needed`` appended to each list of extras or
    dependency groups that names pytest (the project's test dependencies), and to each of
    Poetry's dependency groups that does."""
    data = _toml(text)
    if data is None:
        return text, []
    added: list[str] = []
    for table in TEST_TABLES:
        lists: object = data
        for part in table.split("."):
            lists = lists.get(part, {}) if isinstance(lists, dict) else {}
        for key, items in lists.items() if isinstance(lists, dict) else []:
            present = _names_of(items if isinstance(items, list) else [])
            if "pytest" in present:
                text, more = _add_to_list(text, table, key, needed, present)
                added.extend(line for line in more if line not in added)
    poetry = data.get("tool", {}).get("poetry", {})
    groups = poetry.get("group", {}) if isinstance(poetry, dict) else {}
    tables = {
        f"tool.poetry.group.{name}.dependencies": group.get("dependencies")
        for name, group in groups.items()
        if isinstance(group, dict)
    }
    tables["tool.poetry.dev-dependencies"] = (
        poetry.get("dev-dependencies") if isinstance(poetry, dict) else None
    )
    for table, names in tables.items():
        if isinstance(names, dict) and "pytest" in {normalized(n) for n in names}:
            text, more = _add_to_table(text, table, needed, {normalized(n) for n in names})
            added.extend(line for line in more if line not in added)
    return text, added


def _add_to_list(
    text: str, table: str, key_name: str, needed: Iterable[str], present: set[str]
) -> tuple[str, list[str]]:
    """``text`` with the missing ones of ``needed`` appended to the list ``key_name`` of the
    table ``[table]`` (written as a table header, with the list one of its keys)."""
    added = [REQUIREMENTS.get(n, n) for n in needed if normalized(n) not in present]
    span = _table_span(text, table) if added else None
    if span is None:
        return text, []
    key_pattern = rf"^{re.escape(key_name)}[ \t]*=[ \t]*\["
    key = re.compile(key_pattern, re.MULTILINE).search(text, *span)
    if key is None:
        return text, []
    close = _closing_bracket(text, key.end())
    if close is None:
        return text, []
    inner = text[key.end() : close]
    newline = "\r\n" if "\r\n" in text else "\n"
    if "\n" in inner:
        items = [line for line in inner.splitlines() if line.strip()]
        indent = re.match(r"[ \t]*", items[-1]).group(0) if items else "    "  # type: ignore[union-attr]
        body = inner.rstrip(" \t\r\n")
        comma = "" if not body.strip() or body.rstrip().endswith(",") else ","
        insert = comma + "".join(f'{newline}{indent}"{line}",' for line in added)
        new = text[: key.end()] + body + insert + inner[len(body) :] + text[close:]
    else:
        body = inner.rstrip()
        joiner = ", " if body.strip() and not body.endswith(",") else (" " if body.strip() else "")
        quoted = ", ".join(f'"{line}"' for line in added)
        new = text[: key.end()] + body + joiner + quoted + text[key.end() + len(body) :]
    assert tomllib is not None
    tomllib.loads(new)  # it still reads (raises otherwise)
    return new, added


def _table_span(text: str, table: str) -> tuple[int, int] | None:
    """Where the body of ``[table]`` is in ``text`` (from the end of its header line to the
    next table's header), None without such a header."""
    section = re.search(rf"^\[{re.escape(table)}\][ \t]*$", text, re.MULTILINE)
    if section is None:
        return None
    next_section = re.compile(r"^\[", re.MULTILINE).search(text, section.end())
    return section.end(), len(text) if next_section is None else next_section.start()


def _closing_bracket(text: str, start: int) -> int | None:
    depth, quote, index = 1, "", start
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 2
                continue
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
            continue
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return None
