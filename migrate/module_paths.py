"""Where an import of one module of the run finds another: the files Python would try."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator


def candidate_paths(importer_relpath: str, module_ref: str) -> Iterator[str]:
    """The files ``module_ref`` (``"pkg.mod"``, ``".mod"``) may be, imported from the file
    ``importer_relpath``, in the order to try them: a relative import from the importer's
    package folder; an absolute one from the importer's own folder, then the folders above
    it, nearest first."""
    folder = posixpath.dirname(importer_relpath)
    dots = len(module_ref) - len(module_ref.lstrip("."))
    rest = module_ref[dots:].replace(".", "/")
    if dots:
        for _ in range(dots - 1):
            if not folder:
                return  # above the run's root: unknown
            folder = posixpath.dirname(folder)
        folders = [folder]
    else:
        folders = [folder]
        while folder:
            folder = posixpath.dirname(folder)
            folders.append(folder)
    for base in folders:
        path = posixpath.join(base, rest) if rest else base
        if rest:
            yield f"{path}.py"
        yield posixpath.join(path, "__init__.py") if path else "__init__.py"


def join_module(package: str, name: str) -> str:
    """The module reference of ``name`` inside ``package`` (``.resources`` + ``ending``:
    ``.resources.ending``; ``.`` + ``ending``: ``.ending``)."""
    if not name:
        return package
    return package + name if package.endswith(".") or not package else f"{package}.{name}"
