"""Files under Quart: ``send_file``/``send_from_directory`` calls in Quart's words (what
:mod:`migrate.frameworks.flask_files` allows); Flask's file caching default is kept by
:mod:`.defaults`.
"""

from __future__ import annotations

import libcst as cst

from migrate.cst_helpers import keyword_arg, with_arg
from migrate.frameworks.flask_files import KEYWORDS


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
