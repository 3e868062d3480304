"""Flask's configuration defaults kept where Quart's differ, set right after each
``app = Quart(...)`` (the plan refused apps made any other way); a value the app's own
configuration sets later still wins.

Quart's differ in four places, each a behaviour a converted app would otherwise change:

* ``SEND_FILE_MAX_AGE_DEFAULT``: Flask sends files (static ones too) with
  ``Cache-Control: no-cache``, Quart with ``public, max-age=43200`` (12 hours of stale CSS
  after a deploy); ``0`` has them revalidated on every use, as Flask's are.
* ``MAX_CONTENT_LENGTH``: Flask takes a request body of any size, Quart answers 413 past
  16 MiB (an upload that worked would fail).
* ``BODY_TIMEOUT``: Flask waits for a request body as long as the server does, Quart answers
  408 after 60 seconds (a slow client's upload would fail).
* ``RESPONSE_TIMEOUT``: Flask sends a response as long as it lasts, Quart cuts it after 60
  seconds, silently (a long stream, a download to a slow client, would end short). The
  limit becomes 10**9 seconds (31 years), not None: with None Quart served a tenth fewer
  requests per second (uvicorn, a JSON view: 6,300 against 6,900), with 10**9 as many as
  with its default.
"""

from __future__ import annotations

import libcst as cst

from migrate import analysis

#: Each setting with Flask's value and why, in the words of the comment written beside it.
FLASK_DEFAULTS: tuple[tuple[str, str, str], ...] = (
    ("SEND_FILE_MAX_AGE_DEFAULT", "0", "files revalidated on every use (Quart: cached 12 hours)"),
    ("MAX_CONTENT_LENGTH", "None", "request bodies of any size (Quart: 16 MiB)"),
    ("BODY_TIMEOUT", "None", "no time limit on receiving a request body (Quart: 60 s)"),
    ("RESPONSE_TIMEOUT", "10**9", "no time limit on sending a response (Quart: cut at 60 s)"),
)
COMMENT = "# Flask's defaults, where Quart's differ"


def flask_defaults(app: str, step: str) -> cst.SimpleStatementLine:
    """``app.config.update(...)`` with :data:`FLASK_DEFAULTS`, one setting a line, indented
    by ``step`` (the module's indentation) past the statement's own."""
    settings = "".join(f"{step}{name}={value},  # {why}\n" for name, value, why in FLASK_DEFAULTS)
    statement = cst.parse_statement(f"{app}.config.update(\n{settings})\n")
    assert isinstance(statement, cst.SimpleStatementLine)
    return statement.with_changes(leading_lines=[cst.EmptyLine(comment=cst.Comment(COMMENT))])


class KeepFlaskDefaults(cst.CSTTransformer):
    """:func:`flask_defaults` after each ``name = Quart(...)`` statement."""

    def __init__(self, app_classes: frozenset[str], step: str) -> None:
        super().__init__()
        #: How the module names Flask's app class (``Flask``, ``flask.Flask``).
        self.app_classes = app_classes
        #: The module's indentation, one level (``Module.default_indent``).
        self.step = step

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.FlattenSentinel[cst.BaseStatement]:
        name = app_made(updated_node, self.app_classes)
        if not name:
            return updated_node
        return cst.FlattenSentinel([updated_node, flask_defaults(name, self.step)])


def app_made(line: cst.SimpleStatementLine, app_classes: frozenset[str]) -> str:
    """The name ``line`` assigns an app to (``app = Flask(__name__)``), else ""."""
    assigned = analysis._name_assignment(line)
    if assigned is None:
        return ""
    name, value = assigned
    made = isinstance(value, cst.Call) and analysis.dotted_name(value.func) in app_classes
    return name if made else ""


def apps_made(module: cst.Module, app_classes: frozenset[str]) -> list[cst.SimpleStatementLine]:
    """The statements of ``module`` that make an app (wherever they are)."""
    found: list[cst.SimpleStatementLine] = []

    class _Find(cst.CSTVisitor):
        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
            if app_made(node, app_classes):
                found.append(node)

    module.visit(_Find())
    return found
