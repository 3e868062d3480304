"""The registry of rules: one module per rule, listed here in the order they run.

Order matters: a rule later in the list sees the output of the ones before it.
To add a rule, write ``migrate/rules/<rule>.py`` with one :class:`Rule` subclass
and add it to :data:`RULES`.
"""

from __future__ import annotations

from migrate.rules.base import Change, ChangeKind, FileContext, Rule
from migrate.rules.deployment import DeploymentRule
from migrate.rules.django_asgi import DjangoAsgiRule
from migrate.rules.django_middleware import DjangoMiddlewareRule
from migrate.rules.django_request import DjangoRequestRule
from migrate.rules.django_settings import DjangoSettingsRule
from migrate.rules.django_signals import DjangoSignalsRule
from migrate.rules.falcon_asgi import FalconAsgiRule
from migrate.rules.flask_quart import FlaskQuartRule
from migrate.rules.served_app import ServedAppRule
from migrate.rules.server import ServerRule
from migrate.rules.wsgi_app import WsgiAppRule
from migrate.rules.wsgi_middleware import WsgiMiddlewareRule

RULES: tuple[type[Rule], ...] = (
    WsgiMiddlewareRule,
    WsgiAppRule,
    FalconAsgiRule,
    FlaskQuartRule,
    DjangoAsgiRule,
    DjangoSettingsRule,
    DjangoMiddlewareRule,
    DjangoRequestRule,
    DjangoSignalsRule,
    ServedAppRule,
    ServerRule,
    DeploymentRule,
)


def rules_by_id() -> dict[str, type[Rule]]:
    return {rule.rule_id: rule for rule in RULES}


__all__ = ["RULES", "Change", "ChangeKind", "FileContext", "Rule", "rules_by_id"]
