"""Settings from ``[tool.wsgi2asgi]`` in the project's pyproject.toml.

Found by walking up from the first PATH to the first pyproject.toml that has the table.
Keys: ``select``, ``ignore``, ``exclude`` (lists of strings, or one comma-separated
string), ``jobs`` (an integer), ``cache`` (true or false), and ``blocking`` /
``non_blocking`` (qualified names or ``fnmatch`` patterns, ``"mylib.client.*"``: calls the
blocking-call table of :mod:`migrate.blocking.table` should count as blocking / as cheap). Command-line flags win over
these; ``--exclude`` globs are added to the configured ones.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]
    except ImportError:
        tomllib = None  # type: ignore[assignment, unused-ignore]

KNOWN_KEYS = (
    "select", "ignore", "enable", "exclude", "jobs", "cache", "blocking", "non_blocking",
)  # fmt: skip


class ConfigError(Exception):
    """pyproject.toml has a [tool.wsgi2asgi] table we cannot use."""


@dataclass
class Settings:
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    #: Opt-in rules to run as well (``--enable``).
    enable: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    jobs: int | None = None
    #: Use and keep results of earlier runs (``--no-cache`` turns it off for one run).
    cache: bool = True
    #: Calls to count as blocking / as cheap, before the built-in table.
    blocking: list[str] = field(default_factory=list)
    non_blocking: list[str] = field(default_factory=list)
    #: The pyproject.toml the settings came from, if any.
    source: Path | None = None
    #: Problems worth telling the user that do not stop the run.
    warnings: list[str] = field(default_factory=list)


def _string_list(value: Any, key: str, source: Path) -> list[str]:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise ConfigError(f"{source}: [tool.wsgi2asgi] {key} must be a list of strings")


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.wsgi2asgi] table, from ``start`` upwards."""
    start = start.absolute()
    folder = start if start.is_dir() else start.parent
    for candidate_dir in (folder, *folder.parents):
        candidate = candidate_dir / "pyproject.toml"
        if candidate.is_file():
            try:
                text = candidate.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if "wsgi2asgi" in text:  # cheap test before parsing
                return candidate
    return None


def load_settings(start: Path) -> Settings:
    """Settings for a run over ``start``; defaults when no configuration is found."""
    pyproject = find_pyproject(start)
    if pyproject is None:
        return Settings()
    if tomllib is None:
        return Settings(
            warnings=[
                f"{pyproject}: [tool.wsgi2asgi] ignored: install tomli to read it on Python 3.10"
            ]
        )
    try:
        with pyproject.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{pyproject}: {exc}") from None
    table = data.get("tool", {}).get("wsgi2asgi")
    if table is None:
        return Settings()
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.wsgi2asgi] must be a table")
    settings = Settings(source=pyproject)
    for key in table:
        if key not in KNOWN_KEYS:
            settings.warnings.append(
                f"{pyproject}: unknown key {key!r} in [tool.wsgi2asgi] (known: {', '.join(KNOWN_KEYS)})"
            )
    if "select" in table:
        settings.select = _string_list(table["select"], "select", pyproject)
    if "ignore" in table:
        settings.ignore = _string_list(table["ignore"], "ignore", pyproject)
    if "enable" in table:
        settings.enable = _string_list(table["enable"], "enable", pyproject)
    if "exclude" in table:
        settings.exclude = _string_list(table["exclude"], "exclude", pyproject)
    for key in ("blocking", "non_blocking"):
        if key in table:
            setattr(settings, key, _string_list(table[key], key, pyproject))
    if "jobs" in table:
        jobs = table["jobs"]
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ConfigError(f"{pyproject}: [tool.wsgi2asgi] jobs must be a positive integer")
        settings.jobs = jobs
    if "cache" in table:
        if not isinstance(table["cache"], bool):
            raise ConfigError(f"{pyproject}: [tool.wsgi2asgi] cache must be true or false")
        settings.cache = table["cache"]
    return settings
