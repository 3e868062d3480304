"""Which rules run: ``--select``/``--ignore`` ids to rule classes, and how a worker process finds
them again (a reference, never the class)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from migrate import rules as registry
from migrate.rules import Rule
from migrate.runner.results import UnknownRuleError

#: How a worker process finds a rule class: (module, qualified name). Rules travel to the
#: workers as these references, never as classes, so any module-level Rule subclass works
#: (registered or not, e.g. one defined in a test module).
RuleRef = tuple[str, str]


def rule_ref(rule: type[Rule]) -> RuleRef:
    return (rule.__module__, rule.__qualname__)


def load_rule(ref: RuleRef) -> type[Rule]:
    module_name, qualname = ref
    registered = registry.rules_by_id()
    for rule in registered.values():
        if rule_ref(rule) == ref:
            return rule
    obj: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Rule)):
        raise TypeError(f"{module_name}.{qualname} is not a Rule subclass")
    return obj


def select_rules(
    select: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    available: Sequence[type[Rule]] | None = None,
    enable: Sequence[str] = (),
) -> list[type[Rule]]:
    """The rules to run, in registry order: ``select`` (when None: every rule but the opt-in
    ones, plus those in ``enable``) minus ``ignore``.

    Raises :class:`UnknownRuleError` naming every unknown id.
    """
    rules = list(registry.RULES if available is None else available)
    known = {rule.rule_id for rule in rules}
    unknown = [rid for rid in [*(select or ()), *ignore, *enable] if rid not in known]
    if unknown:
        listing = ", ".join(sorted(known)) or "none are registered"
        raise UnknownRuleError(
            f"unknown rule id {', '.join(repr(u) for u in unknown)} (known: {listing})"
        )
    if select is not None:
        rules = [rule for rule in rules if rule.rule_id in select]
    else:
        rules = [rule for rule in rules if not rule.opt_in or rule.rule_id in enable]
    rules = [rule for rule in rules if rule.rule_id not in ignore]
    chosen = {rule.rule_id for rule in rules}
    for rule in rules:
        missing = [needed for needed in rule.requires if needed not in chosen]
        if missing:
            raise UnknownRuleError(
                f"rule {rule.rule_id!r} needs {', '.join(repr(m) for m in missing)} in the same run "
                "(else half a stack would be converted): select both, or ignore both"
            )
    return rules


def _resolve_rules(
    rule_ids: Sequence[str] | None, rules: Sequence[type[Rule]] | None
) -> list[type[Rule]]:
    if rules is not None:
        return list(rules)
    return select_rules(None if rule_ids is None else list(rule_ids))
