"""What the app a command serves is after the run: ASGI, still WSGI, or unknown.

A deployment file names an app as ``module:attr``. The module is looked up among the Python
files of the run (from the folders the command may import from: the file's own folder, a
``--chdir``/``--pythonpath``, the roots of the run), and the name is read in the module's
migrated text with :class:`migrate.app_values.ModuleValues`, following ``from x import app``
into other modules of the run. A Django ``wsgi.py`` (left WSGI for ``runserver``) whose
sibling ``asgi.py`` holds the same name as ASGI points the command there.

Only an app shown to be ASGI gets an ASGI server: anything else keeps its WSGI server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import libcst as cst

from migrate.analysis import dotted_name, dunder_all, module_level_bindings
from migrate.app_values import ModuleValues, Value, asgi_factory_name
from migrate.rules.deployment.commands import AppSpec

Verdict = Literal["asgi", "wsgi", "unknown", "missing"]


_IMPORT = re.compile(r"^[ \t]*(?:from|import)[ \t]+([A-Za-z_]\w*)", re.MULTILINE)
#: A module named by its dotted path in a string (Django settings: ``"servestatic.middleware.
#: ServeStaticMiddleware"`` in ``MIDDLEWARE``): the project needs it as much as an import.
_DOTTED = re.compile(r"""["']([A-Za-z_]\w*)\.[A-Za-z_][\w.]*["']""")
#: What migrated tests use that a pytest plugin gives, by the words they use it with.
TEST_PLUGINS = {"pytest_asyncio": "pytest-asyncio", "pytest.mark.asyncio": "pytest-asyncio"}


@dataclass
class PythonOutcome:
    """The Python files of the run as they are after it."""

    #: Every Python file of the run (absolute paths), created ones included.
    files: set[Path] = field(default_factory=set)
    #: The new text of the files the run changed or created.
    changed: dict[Path, str] = field(default_factory=dict)
    #: Top-level modules each migrated file imports that the original did not.
    new_imports: dict[Path, set[str]] = field(default_factory=dict)
    #: The test plugins (distributions) each migrated file uses that the original did not.
    new_test_plugins: dict[Path, set[str]] = field(default_factory=dict)
    _modules: dict[Path, cst.Module | None] = field(default_factory=dict)
    _values: dict[Path, dict[str, Value | None] | None] = field(default_factory=dict)

    def add(self, path: Path, old_text: str | None, new_text: str | None) -> None:
        """A file of the run: its text before (None: created) and after (None: unchanged)."""
        self.files.add(path)
        if new_text is not None:
            self.changed[path] = new_text
            before = {*_IMPORT.findall(old_text or ""), *_DOTTED.findall(old_text or "")}
            added = {*_IMPORT.findall(new_text), *_DOTTED.findall(new_text)} - before
            if added:
                self.new_imports[path] = added
            plugins = {
                plugin
                for words, plugin in TEST_PLUGINS.items()
                if words in new_text and words not in (old_text or "")
            }
            if plugins:
                self.new_test_plugins[path] = plugins

    def __contains__(self, path: Path) -> bool:
        return path in self.files

    def text(self, path: Path) -> str:
        if path in self.changed:
            return self.changed[path]
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeError):
            return ""

    def module(self, path: Path) -> cst.Module | None:
        if path not in self._modules:
            try:
                self._modules[path] = cst.parse_module(self.text(path))
            except (cst.ParserSyntaxError, RecursionError):
                self._modules[path] = None
        return self._modules[path]

    def values(self, path: Path) -> dict[str, Value | None] | None:
        """What each module-level name of the file holds after the run (read once)."""
        if path not in self._values:
            module = self.module(path)
            self._values[path] = None if module is None else ModuleValues(module).env
        return self._values[path]


@dataclass(frozen=True)
class Resolution:
    verdict: Verdict
    #: The spec to serve (a Django ``wsgi`` module becomes its ``asgi`` sibling).
    spec: AppSpec
    #: The module file, when found.
    path: Path | None = None
    #: The app is Django's (``get_asgi_application``), which raises on lifespan events.
    django: bool = False
    #: The module's names holding an ASGI app after the run (where ``spec`` is not one).
    asgi_names: tuple[str, ...] = ()


def resolve(spec: AppSpec, bases: Iterable[Path], outcome: PythonOutcome) -> Resolution:
    """What ``spec`` names after the run, looked up from each folder of ``bases`` in turn."""
    for base in [*bases, None]:
        if base is None:  # a command run elsewhere (a compose service's build folder)
            base, path = _only_match(spec.module, outcome)
        else:
            path = _module_file(base, spec.module, outcome)
        if path is None or base is None:
            continue
        verdict = _verdict(path, spec, outcome, base)
        if verdict == "wsgi" and spec.call:
            # the ASGI factory the served-app rule put beside a factory of WSGI apps
            sibling_factory = replace(spec, attr=asgi_factory_name(spec.attr))
            if _verdict(path, sibling_factory, outcome, base) == "asgi":
                return Resolution("asgi", sibling_factory, path)
        if verdict != "asgi" and path.name == "wsgi.py":
            sibling = path.with_name("asgi.py")
            package = spec.module.rpartition(".")[0]
            moved = replace(spec, module=f"{package}.asgi" if package else "asgi")
            if sibling in outcome and _verdict(sibling, moved, outcome, base) == "asgi":
                return Resolution("asgi", moved, sibling, _is_django(outcome.text(sibling)))
        others = () if verdict == "asgi" else _asgi_names(path, outcome)
        return Resolution(verdict, spec, path, _is_django(outcome.text(path)), others)
    return Resolution("missing", spec)


def _asgi_names(path: Path, outcome: PythonOutcome) -> tuple[str, ...]:
    env = outcome.values(path)
    if env is None:
        return ()
    return tuple(
        n for n, v in env.items() if v is not None and v.protocol == "asgi" and not v.maker
    )


def _is_django(text: str) -> bool:
    return "get_asgi_application" in text


def _only_match(module: str, outcome: PythonOutcome) -> tuple[Path | None, Path | None]:
    """(base folder, file) of the one module of the run named ``module``, if just one."""
    tail = module.split(".")
    found = []
    for path in outcome.files:
        parts = path.with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if tuple(parts[-len(tail) :]) == tuple(tail):
            found.append((Path(*parts[: -len(tail)]), path))
    return found[0] if len(found) == 1 else (None, None)


def _module_file(base: Path, module: str, outcome: PythonOutcome) -> Path | None:
    stem = base.joinpath(*module.split("."))
    for candidate in (stem.with_name(stem.name + ".py"), stem / "__init__.py"):
        if candidate in outcome:
            return candidate
    return None


def _verdict(
    path: Path, spec: AppSpec, outcome: PythonOutcome, base: Path, depth: int = 0
) -> Verdict:
    module, env = outcome.module(path), outcome.values(path)
    if module is None or env is None:
        return "unknown"
    value = env.get(spec.attr)
    if value is not None:
        if value.maker != spec.call:
            return "unknown"
        return value.protocol
    if depth >= 5:
        return "unknown"
    imported = _imported_from(module, spec.attr)
    sources = [imported] if imported is not None else []
    # ``from .core import *`` (httpbin's package): the last star import holding the name
    stars = [] if imported is not None else reversed(_star_sources(module))
    for source, name in [*sources, *((star, spec.attr) for star in stars)]:
        target = (
            _module_file(base, source, outcome)
            if not source.startswith(".")
            else (_relative_file(path, source, outcome))
        )
        if target is None:
            continue
        if imported is None and not _exports(outcome.module(target), name):
            continue
        return _verdict(target, replace(spec, attr=name), outcome, base, depth + 1)
    return "unknown"


def _star_sources(module: cst.Module) -> list[str]:
    """The modules of the top-level ``from module import *`` statements, in order."""
    return [
        "." * len(small.relative) + (dotted_name(small.module) if small.module else "")
        for stmt in module.body
        if isinstance(stmt, cst.SimpleStatementLine)
        for small in stmt.body
        if isinstance(small, cst.ImportFrom) and isinstance(small.names, cst.ImportStar)
    ]


def _exports(module: cst.Module | None, name: str) -> bool:
    """``from module import *`` binds ``name``: the module binds it at its top level and
    lists it in ``__all__``, or, without ``__all__``, it is public (no leading ``_``)."""
    if module is None or name not in module_level_bindings(module):
        return False
    listed = dunder_all(module)
    return name in listed if listed is not None else not name.startswith("_")


def _relative_file(path: Path, source: str, outcome: PythonOutcome) -> Path | None:
    dots = len(source) - len(source.lstrip("."))
    folder = path.parent
    for _ in range(dots - 1):
        folder = folder.parent
    rest = source[dots:]
    return _module_file(folder, rest, outcome) if rest else None


def _imported_from(module: cst.Module, name: str) -> tuple[str, str] | None:
    """(module, original name) of a top-level ``from module import original as name``."""
    found: tuple[str, str] | None = None
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not isinstance(small, cst.ImportFrom) or isinstance(small.names, cst.ImportStar):
                continue
            source = "." * len(small.relative) + (
                dotted_name(small.module) if small.module is not None else ""
            )
            for alias in small.names:
                bound = alias.asname.name if alias.asname is not None else alias.name
                if isinstance(bound, cst.Name) and bound.value == name:
                    found = (source, dotted_name(alias.name))
    return found


def bases_for(file_folder: Path, roots: Iterable[Path], extra: Iterable[str]) -> list[Path]:
    """The folders a command started from ``file_folder`` may import its app from: its
    ``--chdir``/``--pythonpath`` (an absolute one names a folder of the machine it runs on,
    not of this tree), its own folder, the roots of the run."""
    bases: list[Path] = []
    for folder in extra:
        if not folder.startswith("/"):
            bases.append(Path(os.path.normpath(file_folder / folder)))
    for base in [file_folder, *roots]:
        if base not in bases:
            bases.append(base)
    return bases
