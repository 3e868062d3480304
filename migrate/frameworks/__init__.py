"""Analyses of web frameworks shared by the rules and the project index."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from migrate.module_paths import candidate_paths

F = TypeVar("F")

#: An import binding: (local name, module as imported with ``.`` for a relative import,
#: original name or "" for ``import module``).
ImportBinding = tuple[str, str, str]


def import_bindings(nodes: Iterable[ast.AST]) -> Iterator[ImportBinding]:
    """The bindings of the import statements among ``nodes`` (a module's body, or every
    node of it)."""
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                head = alias.name.split(".")[0]
                yield (alias.asname or head), (alias.name if alias.asname else head), ""
        elif isinstance(node, ast.ImportFrom):
            source = "." * node.level + (node.module or "")
            for alias in node.names:
                yield alias.asname or alias.name, source, alias.name


@dataclass(frozen=True)
class Modules(Generic[F]):
    """A framework's facts of the run's modules, found the way an import finds them."""

    facts: Mapping[str, F]
    #: Every file of the run: an import names the first candidate that exists.
    files: frozenset[str]

    def imported(self, importer: str, module_ref: str) -> F | None:
        """The facts of the module ``module_ref`` imported from the file ``importer``
        (None: not a module of the run, or one without facts)."""
        for relpath in candidate_paths(importer, module_ref):
            if relpath in self.files:
                return self.facts.get(relpath)
        return None


def offload_blocker(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """What keeps the blocking calls of ``func``, made a coroutine, from all leaving the loop:
    a ``return`` inside a ``with`` (the statement must move to a thread whole, response and
    all), which :mod:`migrate.blocking` refuses."""
    for node in ast.walk(func):
        if isinstance(node, (ast.With, ast.AsyncWith)) and any(
            isinstance(inner, ast.Return) for inner in ast.walk(node)
        ):
            return f"`{func.name}` returns from inside a `with` block"
    return ""
