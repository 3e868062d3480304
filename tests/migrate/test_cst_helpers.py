"""``add_imports`` gives what libcst's AddImportsVisitor gives, without its cost."""

from __future__ import annotations

import itertools
from pathlib import Path

import libcst as cst
import pytest
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from migrate.cst_helpers import add_imports

REPO = Path(__file__).resolve().parents[2]

MODULES = {
    "empty": "",
    "code only": "app = 1\n",
    "docstring": '"""Doc."""\n\napp = 1\n',
    "docstring then imports": '"""Doc."""\nimport os\nfrom json import dumps\n# why\napp = 1\n',
    "comment above the code": "import os\n# the app\napp = 1\n",
    "blank line above the code": "import os\n\napp = 1\n",
    "imports from the same module": "from adapters import Router\nfrom adapters import (\n    as_asgi,\n)\n",
    "star import": "from adapters import *\nx = 1\n",
    "aliases": "import uvicorn as u\nfrom adapters import Router as R\nx = 1\n",
    "already there": "import uvicorn\nfrom adapters import WsgiToAsgi, asgi_helpers\n",
    "import after code": "x = 1\nimport uvicorn\nfrom adapters import WsgiToAsgi\n",
    "relative": "from .adapters import WsgiToAsgi\nx = 1\n",
    "future": "from __future__ import annotations\n\nimport os\n",
    "strict flag": "__strict__ = True\nimport os\n",
    "two statements on a line": "import os; import sys\nx = 1\n",
    "dotted import": "import adapters.mixed\nimport os.path\nx = 1\n",
    "windows line ends": '"""Doc."""\r\nimport os\r\n\r\napp = 1\r\n',
    "concatenated docstring": '"a" "b"\nimport os\n',
}

IMPORTS = [
    [("adapters", "WsgiToAsgi")],
    [("uvicorn", None)],
    [("adapters", "asgi_helpers"), ("adapters", "Router"), ("json", None), ("uvicorn", None)],
    [("starlette.staticfiles", "StaticFiles"), ("adapters", "as_asgi")],
    [("adapters.mixed", None), ("os", "path")],
]


def _libcst(source: str, imports: list[tuple[str, str | None]]) -> str:
    context = CodemodContext()
    for module_name, obj in imports:
        AddImportsVisitor.add_needed_import(context, module_name, obj)
    return AddImportsVisitor(context).transform_module(cst.parse_module(source)).code


@pytest.mark.parametrize(
    ("source", "imports"),
    list(itertools.product(MODULES.values(), IMPORTS)),
    ids=[f"{name}-{n}" for name, n in itertools.product(MODULES, range(len(IMPORTS)))],
)
def test_add_imports_matches_libcst(source: str, imports: list[tuple[str, str | None]]) -> None:
    ours = add_imports(cst.parse_module(source), sorted(imports, key=lambda i: (i[0], i[1] or "")))
    assert ours.code == _libcst(source, imports)


def test_add_imports_matches_libcst_on_the_project_sources() -> None:
    # (libcst's visitor takes seconds on our bigger modules: the small ones say as much)
    sources = sorted((REPO / "sample_projects").rglob("*.py")) + [
        REPO / "migrate" / name for name in ("cst_helpers.py", "markers.py", "writing.py")
    ]
    for path in sources:
        source = path.read_text(encoding="utf-8")
        for imports in IMPORTS:
            ours = add_imports(cst.parse_module(source), imports)
            assert ours.code == _libcst(source, imports), path
