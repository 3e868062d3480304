"""Helpers for the ``wsgi-middleware`` tests: run the middleware rule and then the ``wsgi-app``
rule (as the registry does), the way a whole migration treats a module with a stack.

The ``wsgi-app`` rule does not yet know middleware stacks: it leaves an app that is wrapped
(``app = Auth(inner)``) or decorated (``@auth``) as WSGI with a ``manual`` marker, so the
middleware rule serves such apps through the adapters for now
(``middleware_analysis.WSGI_APP_CONVERTS_STACKED_APPS``). ``migrate_module(...,
stack_aware=True)`` runs the wsgi-app rule with the stack knowledge of
:mod:`migrate.middleware_analysis` patched in (:func:`stack_aware_wsgi_app`): stack uses do not
count as "other uses", a function decorated only with middleware factories is converted with
its decorators kept, and the whole stack comes out ASGI top to bottom.
"""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Iterator
from typing import Any
from unittest import mock

import libcst as cst

from migrate import analysis
from migrate import middleware_analysis as mwa
from migrate.rules import wsgi_app
from migrate.rules.base import Change, FileContext, Rule
from migrate.rules.wsgi_app import WsgiAppRule
from migrate.rules.wsgi_middleware import WsgiMiddlewareRule

PIPELINE: tuple[type[Rule], ...] = (WsgiMiddlewareRule, WsgiAppRule)


@contextlib.contextmanager
def stack_aware_wsgi_app() -> Iterator[None]:
    """The ``wsgi-app`` rule with the middleware-stack knowledge it should get."""
    original_find = analysis.find_apps
    original_convert = wsgi_app.convert_callable
    middleware: set[str] = set()

    def find_apps(module: cst.Module) -> list[analysis.WsgiApp]:
        middleware.clear()
        middleware.update(mwa.middleware_names(module))
        apps = original_find(module)
        for app in apps:
            app.other_uses = [
                use for use in app.other_uses
                if not mwa.is_middleware_stack_use(use, app.name, middleware)
            ]
        return apps

    def convert_callable(func: cst.FunctionDef, *args: Any, **kwargs: Any) -> Any:
        if mwa.only_middleware_decorators(func, middleware):
            conversion = original_convert(func.with_changes(decorators=()), *args, **kwargs)
            conversion.node = conversion.node.with_changes(decorators=func.decorators)
            return conversion
        return original_convert(func, *args, **kwargs)

    with mock.patch.object(analysis, "find_apps", find_apps), \
            mock.patch.object(wsgi_app, "convert_callable", convert_callable), \
            mock.patch.object(mwa, "WSGI_APP_CONVERTS_STACKED_APPS", True):
        yield


def migrate_module(
    before: str, *, stack_aware: bool = False, rules: tuple[type[Rule], ...] = PIPELINE
) -> tuple[str, list[Change]]:
    """Run ``rules`` in order over ``before`` (dedented), each on the output of the last; with
    ``stack_aware``, the wsgi-app rule as it should become (see :func:`stack_aware_wsgi_app`)."""
    source = textwrap.dedent(before)
    changes: list[Change] = []
    with stack_aware_wsgi_app() if stack_aware else contextlib.nullcontext():
        for rule in rules:
            if not rule.might_apply(source):
                continue
            wrapper = cst.MetadataWrapper(cst.parse_module(source))
            instance = rule(FileContext("app.py", "app"))
            source = wrapper.visit(instance).code
            changes.extend(instance.changes)
    return source, changes


def assert_pipeline_idempotent(after: str, *, stack_aware: bool = False) -> None:
    again, changes = migrate_module(after, stack_aware=stack_aware)
    assert again == after, "second run changed the code"
    assert changes == [], f"second run reported {changes}"
