"""uWSGI ini files naming an app the run makes ASGI (``[uwsgi]``, ``module = main``,
``callable = app``).

uWSGI has no ASGI mode. A command of the tree starting uWSGI with the file moves to an ASGI
server with the file's settings (:mod:`.targets`), but the file is also read where the tree
does not say: a base image's own command (tiangolo/uwsgi-nginx-flask runs
``uwsgi --ini /app/uwsgi.ini``), a systemd unit on the host. Left as it was, it would hand
uWSGI the ASGI app as a WSGI one, and every request would answer 500::

    [uwsgi]                                   [uwsgi]
    module = main                             module = main
    callable = app                     →      # migrate[deployment]: uWSGI ... keeps serving
                                              callable = flask_app

A Flask app the run keeps under a second name (``app = WsgiToAsgi(flask_app := app)``) is
served by that name: uWSGI serves the WSGI app it served before. Any other app gets a marker
saying the file serves it no more. Both are ``manual``: the app is served as ASGI only once
an ASGI server starts it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from migrate.rules.base import Change
from migrate.rules.deployment import MARKER, RULE, ini_marker
from migrate.rules.deployment.apps import Resolution
from migrate.rules.deployment.commands import TABLES, AppSpec, Invocation, read_options
from migrate.rules.deployment.configs import uwsgi_ini_options
from migrate.rules.deployment.flask_app import kept_flask_app
from migrate.rules.deployment.targets import app_of
from migrate.rules.deployment.words import Word

_SECTION = re.compile(r"^[ \t]*\[uwsgi\][ \t]*\r?$", re.MULTILINE)


def has_uwsgi_section(text: str) -> bool:
    return _SECTION.search(text) is not None


def migrate_uwsgi_ini(
    text: str,
    name: str,
    resolve: Callable[[AppSpec, list[str]], Resolution],
    module_text: Callable[[Path], str],
) -> tuple[str, list[Change]]:
    """``text`` (an ini file with a ``[uwsgi]`` section) serving the WSGI app it served, or
    marked, where the app it names is ASGI after the run."""
    read = uwsgi_ini_options(text, name)
    invocation = Invocation("uwsgi", (), (Word.literal("uwsgi"),))
    read_options(read.words, TABLES["uwsgi"], invocation)
    spec_word, spec = app_of(invocation)
    if spec is None or spec_word is None:
        return text, []
    chdir = [o.value.value for o in invocation.options if o.key == "chdir" and o.value]
    resolution = resolve(spec, chdir)
    if resolution.verdict != "asgi" or resolution.spec != spec:
        return text, []  # a WSGI app, one this run cannot see, or a Django wsgi.py
    lines = text.splitlines(keepends=True)
    at = _line_naming(lines, spec)
    if at is None:
        return text, []
    kept = (
        kept_flask_app(module_text(resolution.path), spec.attr)
        if resolution.path is not None
        else None
    )
    named = f"`{spec.text()}`"
    asgi = f"start it with an ASGI server (`uvicorn {spec.text()}`)"
    newline = "\r\n" if lines[at].endswith("\r\n") else "\n"
    if kept is None:
        if at > 0 and MARKER in lines[at - 1]:
            return text, []  # a later run: marked already
        message = (
            f"uWSGI, which has no ASGI mode, serves {named} from this file, and it is an "
            f"ASGI app after the run: it would answer every request 500; {asgi} instead"
        )
    else:
        message = (
            f"uWSGI, which has no ASGI mode, serves {named} from this file, and it is an "
            f"ASGI app after the run: the file names the Flask app the run keeps in "
            f"`{spec.module}:{kept}`, which uWSGI serves as before; to serve the app as "
            f"ASGI, {asgi}"
        )
        lines[at] = _renamed(lines[at], spec, kept, newline)
    lines.insert(at, ini_marker(message, newline))
    return "".join(lines), [Change(RULE, at + 1, "manual", message)]


def _line_naming(lines: list[str], spec: AppSpec) -> int | None:
    """The line of the ``[uwsgi]`` section naming the app: its ``callable``, else its
    ``module``/``wsgi-file`` (the last one, as uWSGI reads them)."""
    section, found, fallback = "", None, None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
            continue
        key = stripped.partition("=")[0].strip().replace("_", "-")
        if section != "uwsgi":
            continue
        if key == "callable":
            found = index
        elif key in ("module", "wsgi-file", "wsgi", "w", "file"):
            fallback = index
    return found if found is not None else fallback


def _renamed(line: str, spec: AppSpec, kept: str, newline: str) -> str:
    """The line naming ``kept`` in the place of ``spec``'s app (a ``callable`` line, a
    ``module = main:app``), or, for a ``module`` line naming none (uWSGI's default,
    ``application``), that line and a ``callable`` line after it."""
    key, equals, value = line.partition("=")
    body = value.rstrip("\r\n")
    if key.strip() == "callable":
        return f"{key}{equals} {kept}{newline}"
    if body.strip().endswith(f":{spec.attr}"):
        return f"{key}{equals}{body[: body.rindex(':')]}:{kept}{newline}"
    return f"{line.rstrip()}{newline}callable = {kept}{newline}"
