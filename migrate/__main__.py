"""``python3 -m migrate``: the same command as the ``migrate`` console script."""

import os
import sys


def _forget_the_current_folder() -> None:
    """``python -m`` puts the current folder first on ``sys.path``, and ``migrate .`` is run
    from the root of the project it migrates: a package of that project named like one of the
    standard library's (``json/``, ``http/``, ``types.py``) would be imported in its place by
    this tool and its libraries (libcst imports ``json``), and crash it. The folder stays when
    this package itself was found there (run from a checkout of wsgi2asgi, not installed)."""
    if not sys.path or sys.path[0] not in ("", os.getcwd()):
        return
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.abspath(sys.path[0] or os.curdir) != here:
        del sys.path[0]


_forget_the_current_folder()

from migrate.cli import entry_point  # noqa: E402  (after the path is fixed)

if __name__ == "__main__":
    entry_point()
