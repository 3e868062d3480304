"""Files under Quart: ``send_file``/``send_from_directory`` calls in Quart's words, and the
app's file caching kept at Flask's default (what :mod:`migrate.frameworks.flask_files` allows).
"""

from __future__ import annotations

import libcst as cst

from migrate import analysis
from migrate.cst_helpers import keyword_arg, with_arg
from migrate.frameworks.flask_files import KEYWORDS

#: Put right after ``app = Quart(...)``: Flask sends files (static ones too) with
#: ``Cache-Control: no-cache``, Quart with ``public, max-age=43200`` (12 hours of stale CSS
#: after a deploy). ``0`` has them revalidated on every use, as Flask's do; a value the app's
#: own configuration sets later still wins.
CACHING_DEFAULT = '{app}.config["SEND_FILE_MAX_AGE_DEFAULT"] = 0'
CACHING_COMMENT = (
    "# Flask's default: files are revalidated on every use (Quart caches them 12 hours)"
)


def quart_sender_call(call: cst.Call, name: str, current_app: str) -> cst.Call:
    """``send_file(...)``/``send_from_directory(...)`` with Quart's keyword names. Flask
    finds a relative path under the app's ``root_path``, Quart under the working folder: the
    path is joined to the root path as Flask does. Flask's ``send_file`` answers conditional
    requests unless told not to, Quart's only when told."""
    renames = KEYWORDS[name]
    first = next(iter(KEYWORDS[name]))  # path_or_file, directory
    args = []
    for index, arg in enumerate(call.args):
        if (arg.keyword is None and index == 0) or (arg.keyword and arg.keyword.value == first):
            arg = arg.with_changes(value=under_root_path(cst.Name(current_app), arg.value))
        if arg.keyword is not None:
            arg = arg.with_changes(
                keyword=cst.Name(renames[arg.keyword.value] or arg.keyword.value)
            )
        args.append(arg)
    if name == "send_file" and not any(
        a.keyword and a.keyword.value == "conditional" for a in args
    ):
        args = with_arg(args, keyword_arg("conditional", cst.Name("True")))
    return call.with_changes(args=args)


def under_root_path(owner: cst.BaseExpression, path: cst.BaseExpression) -> cst.Call:
    """``os.path.join(owner.root_path, path)``: where Flask looks for an app's relative
    paths (Quart, under the working folder)."""
    join = cst.parse_expression("os.path.join")
    root = cst.Attribute(owner, cst.Name("root_path"))
    return cst.Call(join, [cst.Arg(root), cst.Arg(path)])


class KeepFlaskFileCaching(cst.CSTTransformer):
    """:data:`CACHING_DEFAULT` after each ``name = Quart(...)`` statement (the plan refused
    apps made any other way)."""

    def __init__(self, app_classes: frozenset[str]) -> None:
        super().__init__()
        #: How the module names Flask's app class (``Flask``, ``flask.Flask``).
        self.app_classes = app_classes

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.FlattenSentinel[cst.BaseStatement]:
        name = app_made(updated_node, self.app_classes)
        if not name:
            return updated_node
        default = cst.parse_statement(CACHING_DEFAULT.format(app=name)).with_changes(
            leading_lines=[cst.EmptyLine(comment=cst.Comment(CACHING_COMMENT))]
        )
        return cst.FlattenSentinel([updated_node, default])


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
