"""The marker comment left at every adapted or manual spot: ``# migrate[rule-id]: message``.

Its own module, free of imports from the rest of :mod:`migrate`, so that any module
(rules, helpers, the reporting) can use it without import cycles.
"""

from __future__ import annotations

import re

MARKER_RE = re.compile(r"#\s*migrate\[(?P<rule>[a-z0-9-]+)\]:\s*(?P<message>.*)")


def marker_comment(rule_id: str, message: str) -> str:
    """The text of a marker comment (one line, so the marker survives reformatting)."""
    one_line = " ".join(message.split())
    return f"# migrate[{rule_id}]: {one_line}"
