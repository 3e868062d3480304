"""``FLASK_APP`` and ``flask --app`` naming a Flask app the run serves through the adapter.

``served-app`` serves a Flask app as ``app = WsgiToAsgi(flask_app := app)``. Flask's command
line finds the Flask app under ``flask_app`` when it looks for one itself, but a
``FLASK_APP=app:app`` (a Dockerfile's ``ENV``, a compose ``environment``, ``.flaskenv``, an
``export`` line) or ``flask --app app:app db upgrade`` names ``app``, now ASGI, and Flask
stops ("A valid Flask application was not obtained"). Each such name becomes the one the
Flask app is kept in::

    ENV FLASK_APP=app:app               ENV FLASK_APP=app:flask_app
    flask --app app:app db upgrade      flask --app app:flask_app db upgrade

The text is read line by line for these forms only; what they name is looked up among the
modules of the run as a server command's app is (:mod:`.apps`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from migrate.rules.deployment.commands import AppSpec

#: ``FLASK_APP=mod:app``, ``FLASK_APP: mod:app`` (YAML), ``flask ... --app mod:app`` /
#: ``-A mod:app``; the module may be a file (``app.py:app``).
_NAMED = re.compile(
    r"""(?P<lead>\bFLASK_APP["']?\s*(?:=|:[ \t]*|[ \t]+)["']?|\bflask\b[^\n]*?(?:--app[= ]|-A[ \t]+)["']?)"""
    r"""(?P<module>[A-Za-z_][\w./]*?)(?:\.py)?:(?P<attr>[A-Za-z_]\w*)\b(?!\()"""
)
#: ``app = WsgiToAsgi(flask_app := app)``: where the run keeps the Flask app.
_KEPT = r"^{attr}[ \t]*=[ \t]*WsgiToAsgi\([ \t]*(?P<kept>[A-Za-z_]\w*)[ \t]*:=[ \t]*{attr}[ \t]*\)"


def flask_app_names(
    text: str, module_path: Callable[[AppSpec], Path | None], module_text: Callable[[Path], str]
) -> tuple[str, list[tuple[int, str]]]:
    """``text`` with each name of a Flask app the run serves as ASGI replaced by the one it
    keeps the Flask app in, and (line, message) for each."""
    changes: list[tuple[int, str]] = []

    def replace(match: re.Match[str]) -> str:
        module, attr = match["module"].replace("/", "."), match["attr"]
        path = module_path(AppSpec(module, attr))
        kept = kept_flask_app(module_text(path), attr) if path is not None else None
        if kept is None:
            return match[0]
        line = text.count("\n", 0, match.start()) + 1
        changes.append(
            (
                line,
                f"`{module}:{attr}` is an ASGI app after the run, which Flask's command line "
                f"cannot load: it names the Flask app, kept in `{module}:{kept}`",
            )
        )
        start, end = match.span("attr")
        return match[0][: start - match.start()] + kept + match[0][end - match.start() :]

    return _NAMED.sub(replace, text), changes


def kept_flask_app(module_text: str, attr: str) -> str | None:
    """The name the run keeps the Flask app of ``attr`` in (``flask_app`` for ``app =
    WsgiToAsgi(flask_app := app)``), if it serves ``attr`` so."""
    found = re.search(_KEPT.format(attr=re.escape(attr)), module_text, re.MULTILINE)
    return found["kept"] if found is not None else None
