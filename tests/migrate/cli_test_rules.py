"""Small rules used only by the CLI/runner tests (the real rules are developed separately).

They live at module level so worker processes (``-j 2``) can import them by reference.
"""

from __future__ import annotations

import time

import libcst as cst

import migrate.rules  # noqa: F401  (first: importing cst_helpers first hits an import cycle)
from migrate.cst_helpers import has_marker, with_marker
from migrate.rules.base import Rule, marker_comment


class AsyncApplicationRule(Rule):
    """``def application(`` -> ``async def application(``, reported as converted."""

    rule_id = "test-async-app"
    summary = "Make `application` async (test rule)."

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return "application" in source

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        if original_node.name.value != "application" or original_node.asynchronous is not None:
            return updated_node
        self.report(original_node, "converted", "`application` is now [async]")
        return updated_node.with_changes(asynchronous=cst.Asynchronous())


class StartResponseMarkerRule(Rule):
    """Puts a ``# migrate[test-marker]:`` marker above statements calling ``start_response``."""

    rule_id = "test-marker"
    summary = "Mark start_response calls for review (test rule)."
    message = "start_response [call] needs a look"

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return "start_response(" in source

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement:
        code = cst.Module(body=[]).code_for_node(original_node)
        if "start_response(" not in code or has_marker(original_node, self.rule_id):
            return updated_node
        self.report(original_node, "manual", self.message)
        return with_marker(updated_node, marker_comment(self.rule_id, self.message))


class CrashingRule(Rule):
    """Raises inside the transformer for files that say CRASH_ME."""

    rule_id = "test-crash"
    summary = "Crashes on CRASH_ME (test rule)."

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return "CRASH_ME" in source

    def visit_Module(self, node: cst.Module) -> None:
        raise RuntimeError("boom")


class BrokenOutputRule(Rule):
    """Makes ``def BREAK_ME`` async: libcst accepts the result, but a ``yield from`` inside
    makes it code CPython refuses to compile, which the runner must catch."""

    rule_id = "test-broken"
    summary = "Produces uncompilable code on BREAK_ME (test rule)."

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return "BREAK_ME" in source

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        if original_node.name.value != "BREAK_ME":
            return updated_node
        self.report(original_node, "converted", "broke it")
        return updated_node.with_changes(asynchronous=cst.Asynchronous())


class SlowPrefilterRule(Rule):
    """A prefilter that never finishes on files saying SLOW_ME (think: a regex that
    backtracks catastrophically); the per-file time limit must stop it."""

    rule_id = "test-slow"
    summary = "Hangs in might_apply on SLOW_ME (test rule)."

    @classmethod
    def might_apply(cls, source: str) -> bool:
        if "SLOW_ME" in source:
            time.sleep(60)
        return False


TEST_RULES: tuple[type[Rule], ...] = (
    AsyncApplicationRule,
    StartResponseMarkerRule,
    CrashingRule,
    BrokenOutputRule,
    SlowPrefilterRule,
)
