"""Helpers for the ``wsgi-middleware`` tests: run the middleware rule and then the ``wsgi-app``
rule (as the registry does), the way a whole migration treats a module with a stack: the
middleware becomes ASGI, and the wsgi-app rule converts the app at the bottom of the stack (or
one decorated with the middleware), or serves it through ``adapters.WsgiToAsgi`` below it.
"""

from __future__ import annotations

import textwrap

import libcst as cst

from migrate.rules.base import Change, FileContext, Rule
from migrate.rules.wsgi_app import WsgiAppRule
from migrate.rules.wsgi_middleware import WsgiMiddlewareRule
from tests.harness import assert_prefilters_pass

PIPELINE: tuple[type[Rule], ...] = (WsgiMiddlewareRule, WsgiAppRule)


def migrate_module(
    before: str, *, rules: tuple[type[Rule], ...] = PIPELINE
) -> tuple[str, list[Change]]:
    """Run ``rules`` in order over ``before`` (dedented), each on the output of the last."""
    source = textwrap.dedent(before)
    changes: list[Change] = []
    for rule in rules:
        if not rule.might_apply(source):
            continue
        wrapper = cst.MetadataWrapper(cst.parse_module(source))
        instance = rule(FileContext("app.py", "app"))
        new_source = wrapper.visit(instance).code
        if new_source != source or instance.changes:
            assert_prefilters_pass(rule, source)
        source = new_source
        changes.extend(instance.changes)
    return source, changes


def assert_pipeline_idempotent(after: str) -> None:
    again, changes = migrate_module(after)
    assert again == after, "second run changed the code"
    assert changes == [], f"second run reported {changes}"
