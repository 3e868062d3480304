"""The base rule's cheap line numbers agree with libcst's PositionProvider."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from migrate.rules.base import FileContext, Rule, statement_lines

REPO = Path(__file__).resolve().parents[2]

TRICKY = '''#!/usr/bin/env python
# a header comment

"""The docstring."""
import os

# a comment above a decorated function
@decorator(
    "spanning", "lines",
)
# between decorators
@other

def handler(environ, start_response):
    return []
x = 1; y = 2
class Plain: pass
if x:
    value = """a string
spanning
lines"""


async def later():
    pass
'''


def _assert_lines_match(source: str) -> None:
    module = cst.parse_module(source)
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    lines = statement_lines(module)
    assert len(lines) == len(module.body)
    for stmt in module.body:
        assert lines[id(stmt)] == positions[stmt].start.line, module.code_for_node(stmt)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_statement_lines_match_the_position_provider(newline: str) -> None:
    _assert_lines_match(TRICKY.replace("\n", newline))


def test_statement_lines_with_mixed_line_ends() -> None:
    mixed = TRICKY.replace("import os\n", "import os\r").replace("pass\n", "pass\r\n", 1)
    _assert_lines_match(mixed)


def test_statement_lines_on_the_project_sources() -> None:
    sources = sorted((REPO / "sample_projects").rglob("*.py")) + sorted(
        (REPO / "migrate").rglob("*.py")
    )
    assert len(sources) > 20
    for path in sources:
        _assert_lines_match(path.read_text(encoding="utf-8"))


class _LineRule(Rule):
    rule_id = "lines"
    summary = "only asks for lines"


def _assert_every_line_matches(source: str) -> None:
    """Every node's line (nested ones too, which the rule finds through the node's
    module-level statement) is the PositionProvider's."""
    module = cst.parse_module(source)
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    rule = _LineRule(FileContext(relpath="lines.py", module_name="lines", source=source))
    module.visit(rule)
    nested = 0
    for node, where in positions.items():
        assert rule.line_of(node) == where.start.line, module.code_for_node(node)
        nested += node not in module.body
    assert nested > 0


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_nested_lines_match_the_position_provider(newline: str) -> None:
    _assert_every_line_matches(TRICKY.replace("\n", newline))


def test_nested_lines_on_a_sample_project() -> None:
    for path in sorted((REPO / "sample_projects").rglob("*.py")):
        _assert_every_line_matches(path.read_text(encoding="utf-8"))
