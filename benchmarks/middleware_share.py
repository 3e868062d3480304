"""How many of the middleware patterns in the behaviour tests the codemod converts natively.

    python3 benchmarks/middleware_share.py

Runs the wsgi-middleware + wsgi-app pipeline over every pattern of
tests/migrate/test_rule_wsgi_middleware.py (each of which the tests serve before as WSGI and
after as ASGI) and counts the kinds the middleware rule reported for each.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.migrate.test_rule_wsgi_middleware import CASES, middleware_kinds
from tests.migrate.test_rule_wsgi_middleware_support import migrate_module


def main() -> None:
    per_pattern: dict[str, str] = {}
    inner_apps: collections.Counter[str] = collections.Counter()
    for name, case in sorted(CASES.items()):
        _after, changes = migrate_module(case.module())
        kinds = set(middleware_kinds(changes))
        per_pattern[name] = next((k for k in ("manual", "adapted") if k in kinds), "converted")
        inner_apps.update(c.kind for c in changes if c.rule == "wsgi-app")
    totals = collections.Counter(per_pattern.values())
    total = len(per_pattern)
    for kind in ("converted", "adapted", "manual"):
        print(f"{kind:9} {totals[kind]:3} of {total} ({totals[kind] / total:.0%})")
    print("not converted:", ", ".join(n for n, k in per_pattern.items() if k != "converted") or "-")
    print("inner apps (wsgi-app):", dict(inner_apps))


if __name__ == "__main__":
    main()
