"""Bottle's ``run()``: ``bottle.run(app, host=..., port=...)``, ``run(...)`` serving Bottle's
default app, and the ``app.run(...)`` method of a Bottle app, become ``uvicorn.run``::

    # before                                       # after
    if __name__ == "__main__":                     if __name__ == "__main__":
        bottle.run(app, host="0.0.0.0",                bottle.debug(True)
                   port=8080, debug=True)              uvicorn.run(app, host="0.0.0.0",
                                                                   port=8080)

What each of bottle's arguments did, done the uvicorn way: ``debug`` set bottle's debug mode
for the whole process (error pages with tracebacks), which ``bottle.debug(...)`` still does;
``quiet=True`` silenced the startup banner and the request log (``log_level="warning"``);
``reloader`` restarts on changes (``reload=``, which needs the app as an import string, and
imports it in a process where ``bottle.debug(...)`` here does not run: not with ``debug``);
``interval`` is the reloader's (``reload_delay``). Bottle's own choice of WSGI server
(``server="waitress"``) is what uvicorn replaces, when it is one that serves one process.
Plugins, config, a server of another kind (gevent, gunicorn, a class) or its options are
left to a person (a ``manual`` marker).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import libcst as cst

from migrate.frameworks.bottle import ONE_PROCESS_SERVERS

#: ``bottle.run``'s parameters in order.
RUN_PARAMS = (
    "app", "server", "host", "port", "interval", "reloader", "quiet", "plugins", "debug",
    "config",
)  # fmt: skip
#: What makes a Bottle app (``app.run(...)`` on one is ``bottle.run(app, ...)``).
APP_MAKERS = frozenset({"bottle.Bottle", "bottle.default_app", "bottle.app"})


class BottleProblem(Exception):
    """Why a ``run()`` call cannot become ``uvicorn.run`` with certainty."""


@dataclass(frozen=True)
class BottleRun:
    """What a ``run()`` call serves and how, in uvicorn's terms."""

    #: The app (None: Bottle's default app).
    app: cst.BaseExpression | None
    host: cst.BaseExpression | None
    port: cst.BaseExpression | None
    #: ``reload=`` (None: no reloader)
    reload: str | None
    #: further ``uvicorn.run`` arguments
    extra: tuple[str, ...]
    #: The statement setting bottle's debug mode as run() did (None: it did not)
    debug: str | None


def read_run(
    args: Mapping[str, cst.BaseExpression],
    receiver: cst.BaseExpression | None,
    code: Callable[[cst.CSTNode], str],
    is_literal: Callable[[cst.BaseExpression | None, object], bool],
) -> BottleRun:
    """``args``: the call's arguments by parameter name; ``receiver``: the Bottle app of an
    ``app.run(...)`` call."""
    unknown = sorted(set(args) - set(RUN_PARAMS))
    if unknown:
        raise BottleProblem(
            f"bottle's run() passes server options ({', '.join(unknown)}): find the uvicorn "
            "equivalent (or drop them), then call uvicorn.run(app, host=..., port=...)"
        )
    server = args.get("server")
    if server is not None:
        name = server.evaluated_value if isinstance(server, cst.SimpleString) else None
        if name not in ONE_PROCESS_SERVERS:
            raise BottleProblem(
                f"bottle's run() uses the server {code(server)}: uvicorn replaces a one-process "
                "server; for workers serve the app with gunicorn's uvicorn worker "
                "(`gunicorn -k uvicorn_worker.UvicornWorker module:app`)"
            )
    for option, advice in (
        ("plugins", "install them on the app first (`app.install(plugin)`)"),
        ("config", "update the app's config first (`app.config.update(...)`)"),
    ):
        if not is_literal(args.get(option), None):
            raise BottleProblem(
                f"bottle's run() is given {option}: {advice}, then call uvicorn.run(app, ...)"
            )
    app = receiver if receiver is not None else args.get("app")
    if is_literal(app, None):
        app = None
    if isinstance(app, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        raise BottleProblem(
            f"bottle's run() loads the app {code(app)} by name: serve that app with "
            "uvicorn.run(app, host=..., port=...)"
        )
    quiet = args.get("quiet")
    extra: list[str] = []
    if not is_literal(quiet, False) and not is_literal(quiet, None):
        if not is_literal(quiet, True):
            raise BottleProblem(
                f"bottle's run() has quiet={code(quiet) if quiet else ''}: uvicorn's "
                'log_level="warning" is quiet; choose the level, then call uvicorn.run(...)'
            )
        extra.append('log_level="warning"')
    reloader = args.get("reloader")
    reload: str | None = None
    if not is_literal(reloader, False) and not is_literal(reloader, None):
        assert reloader is not None
        reload = code(reloader)
        if "interval" in args:
            extra.append(f"reload_delay={code(args['interval'])}")
    debug = args.get("debug")
    if reload is not None and not is_literal(debug, None):
        raise BottleProblem(
            "bottle's run() has both reloader and debug: uvicorn's reloader imports the module "
            "in a new process, where no bottle.debug(...) call here would run; call "
            "bottle.debug(...) where that process runs it (or drop one), then serve the app "
            'with uvicorn.run("module:app", host=..., port=..., reload=True)'
        )
    return BottleRun(
        app=app,
        host=args.get("host"),
        port=args.get("port"),
        reload=reload,
        extra=tuple(extra),
        debug=_debug_statement(debug, code, is_literal),
    )


def _debug_statement(
    debug: cst.BaseExpression | None,
    code: Callable[[cst.CSTNode], str],
    is_literal: Callable[[cst.BaseExpression | None, object], bool],
) -> str | None:
    """What ``run(debug=...)`` did to bottle's debug mode, as a statement: it calls
    ``bottle.debug(value)`` unless the value is None."""
    if debug is None or is_literal(debug, None):
        return None
    if is_literal(debug, True) or is_literal(debug, False):
        return f"bottle.debug({code(debug)})\n"
    if isinstance(debug, (cst.Name, cst.Attribute)):  # read twice, as reading it does nothing
        return f"if {code(debug)} is not None:\n    bottle.debug({code(debug)})\n"
    raise BottleProblem(
        f"bottle's run() has debug={code(debug)}: call bottle.debug(...) with its value "
        "(unless None), then uvicorn.run(app, host=..., port=...)"
    )
