"""PasteDeploy files' own servers: ``pserve production.ini`` serving its app on uvicorn.

``pserve x.ini`` loads the app of ``[app:main]`` and runs the server of ``[server:main]``
(``use = egg:waitress#main``, ``listen = *:6543``). The run rewrites that section to
:mod:`adapters.paste`'s server, which serves the same app on uvicorn through
``adapters.WsgiToAsgi``, with the same address::

    [server:main]
    use = egg:waitress#main              [server:main]
    listen = *:6543               →      # migrate[deployment]: pserve serves ... on uvicorn
                                         use = call:adapters.paste:uvicorn_server
                                         host = 0.0.0.0
                                         port = 6543
                                         proxy_headers = false

so every ``pserve x.ini`` keeps working as it is: in the tree's commands (which the run then
leaves alone), in the docs, in a deployment outside the tree, with ``--reload`` or with
variables filled in (``port = %(http_port)s``, ``pserve x.ini http_port=8080``). A section
this tool cannot carry over with certainty (another server, a setting uvicorn has no
equivalent for) stays as it is, marked.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from migrate.rules.base import Change
from migrate.rules.deployment import MARKER, RULE, ini_marker
from migrate.rules.deployment.commands import TABLES, Invocation, read_options
from migrate.rules.deployment.targets import Context, Serving, read_serving, root_path
from migrate.rules.deployment.words import Word

#: The ``use`` of a server section served by :func:`adapters.paste.uvicorn_server`.
RUNNER = "call:adapters.paste:uvicorn_server"
#: ``use`` of the server sections whose settings are waitress' (``listen``, ``threads``...)
#: or only a host and a port.
_WAITRESS = frozenset({"egg:waitress#main", "egg:waitress"})
_HOST_AND_PORT = frozenset({"egg:pyramid#wsgiref", "egg:paste#http", "egg:paste"})
#: The targets whose server the runner is (gunicorn: uvicorn workers; pserve is one process).
_UVICORN_TARGETS = (None, "uvicorn", "gunicorn")
_SERVER_HEADER = re.compile(r"^[ \t]*\[server:([^\]]+)\][ \t]*\r?$", re.MULTILINE)


class Refused(Exception):
    """Why the command (or the ini's server section) stays as it is (the marker's text)."""


def is_paste_server_text(text: str) -> bool:
    """Whether the ini ``text`` has a ``[server:name]`` section (pserve runs it)."""
    return _SERVER_HEADER.search(text) is not None


def pserve_serves_asgi(parser: configparser.RawConfigParser, name: str, context: Context) -> bool:
    """Whether ``pserve`` serving ``[server:name]`` serves on uvicorn after the run: the
    section is :data:`RUNNER`'s already, or the run makes it so (:func:`migrate_ini`)."""
    section = f"server:{name}"
    use = parser.get(section, "use", fallback="").strip()
    if use == RUNNER:
        return True
    if context.server not in _UVICORN_TARGETS or not parser.has_section(section):
        return False
    try:
        _runner_settings(server_serving(parser, name, context, variables=True))
    except Refused:
        return False
    return True


def server_serving(
    parser: configparser.RawConfigParser,
    name: str,
    context: Context,
    *,
    variables: bool = False,
) -> Serving:
    """What ``[server:name]`` (waitress, or a server of a host and a port) serves, read as
    waitress-serve's options would be; :class:`Refused` where it cannot be carried over.
    With ``variables``, a value PasteDeploy fills in (``%(http_port)s``) is read as the
    dynamic ``${http_port}``."""
    section = f"server:{name}"
    if not parser.has_section(section):
        raise Refused(f"its file has no [{section}]: check which server it runs")
    use = parser.get(section, "use", fallback="").strip().lower()
    # PasteDeploy hands the [DEFAULT] values to the server apart (its global_conf)
    keys = [key for key in parser.options(section) if key not in ("use", *parser.defaults())]
    # a server of host and port only: both given (their defaults are not waitress')
    if use not in _WAITRESS and (use not in _HOST_AND_PORT or set(keys) != {"host", "port"}):
        raise Refused(f"its [{section}] runs `{use or '?'}`: check by hand")
    words: list[Word] = []
    for key in keys:
        value = " ".join(parser.get(section, key).split())
        if "%(" in value and not (variables and "$" not in value):
            raise Refused(f"its [{section}] fills `{key}` in from a variable: check by hand")
        value = _VARIABLE.sub(r"${\1}", value)
        values = value.split(" ") if key == "listen" else [value]
        for each in values:  # shown in messages as the file has it
            shown = f"{key} = {_as_written(each)}"
            words.append(Word(f"--{key.replace('_', '-')}={each}", shown, dynamic="$" in each))
    waitress = Invocation("waitress", (), (Word.literal("waitress-serve"),))
    read_options(words, TABLES["waitress"], waitress)
    if waitress.unknown:
        names = ", ".join(sorted({w.removeprefix("--") for w in waitress.unknown}))
        raise Refused(f"its [{section}] has settings this tool does not know ({names})")
    serving = read_serving(waitress, context)
    if serving.blockers:
        raise Refused(f"its [{section}] " + "; ".join(serving.blockers) + ": rewrite by hand")
    return serving


#: A value PasteDeploy fills in from the file's defaults or pserve's ``name=value``.
_VARIABLE = re.compile(r"%\((\w+)\)s")


# --------------------------------------------------------------------------- the rewrite


@dataclass
class _Section:
    """A ``[server:name]`` section of the text: its lines by index."""

    name: str
    header: int
    #: The lines of its settings (continuations included), and of its ``use``.
    settings: list[int] = field(default_factory=list)
    use: int | None = None


def migrate_ini(text: str, context: Context) -> tuple[str, list[Change]]:
    """``text`` (a PasteDeploy file) with each server section pserve would run as WSGI served
    on uvicorn (:data:`RUNNER`), or marked where that cannot be done with certainty."""
    lines = text.splitlines(keepends=True)
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        return text, [Change(RULE, 1, "manual", f"pserve: it cannot be read ({exc.message})")]
    changes: list[Change] = []
    for section in reversed(_server_sections(lines)):  # from the end: indexes above hold
        use = parser.get(f"server:{section.name}", "use", fallback="").strip()
        if use == RUNNER:
            continue
        at = section.use if section.use is not None else section.header + 1
        newline = "\r\n" if lines[section.header].endswith("\r\n") else "\n"
        try:
            new, message = _rewritten(parser, section.name, use, context)
        except Refused as refused:
            message = (
                f"pserve serves [server:{section.name}]'s app as WSGI: {refused} "
                f"(`use = {RUNNER}` serves it on uvicorn, given uvicorn.run's settings)"
            )
            if at == 0 or MARKER not in lines[at - 1]:  # a later run: marked already
                changes.append(Change(RULE, at + 1, "manual", message))
                lines.insert(at, ini_marker(message, newline))
            continue
        changes.append(Change(RULE, at + 1, "adapted", message))
        first = section.settings[0] if section.settings else section.header + 1
        block = [ini_marker(message, newline), *(f"{key} = {value}{newline}" for key, value in new)]
        for index in reversed(section.settings):
            del lines[index]
        lines[first:first] = block
    return "".join(lines), sorted(changes, key=lambda change: change.line)


def _rewritten(
    parser: configparser.RawConfigParser, name: str, use: str, context: Context
) -> tuple[list[tuple[str, str]], str]:
    if context.server not in _UVICORN_TARGETS:
        raise Refused(
            f"`--server {context.server}` has no PasteDeploy server: serve the app with a module "
            "loading it (paste.deploy.loadapp) through adapters.WsgiToAsgi"
        )
    serving = server_serving(parser, name, context, variables=True)
    settings = [("use", RUNNER), *_runner_settings(serving)]
    message = (
        f"pserve serves [server:{name}]'s app on uvicorn through adapters.WsgiToAsgi "
        f"(`use = {RUNNER}`; it ran `{use}`)"
    )
    if serving.notes:
        message += "; " + "; ".join(serving.notes)
    return settings, message


def _runner_settings(serving: Serving) -> list[tuple[str, str]]:
    """:func:`adapters.paste.uvicorn_server`'s settings for ``serving`` (a variable written
    back as PasteDeploy's ``%(name)s``)."""
    bind = serving.binds[0]
    settings: list[tuple[str, Word | None]]
    if bind.uds is not None:
        settings = [("uds", bind.uds)]
    elif bind.fd is not None:
        settings = [("fd", bind.fd)]
    else:
        settings = [("host", bind.host), ("port", bind.port)]
    for key, value in serving.values.items():
        if key == "root_path":
            settings.append(("root_path", root_path(value)))
        elif key in ("forwarded_allow_ips", "backlog"):
            settings.append((key, value))
        else:
            raise Refused(f"its `{key}` has no uvicorn setting here: rewrite by hand")
    if serving.flags:
        raise Refused(f"it runs with {', '.join(sorted(serving.flags))}: rewrite by hand")
    if "forwarded_allow_ips" not in serving.values:
        # waitress read no X-Forwarded-* headers unless told to trust a proxy; uvicorn
        # reads them from 127.0.0.1 by default
        settings.append(("proxy_headers", Word.literal("false")))
    return [(key, _as_written(value.value)) for key, value in settings if value is not None]


def _server_sections(lines: Sequence[str]) -> list[_Section]:
    """The ``[server:name]`` sections of ``lines``, as configparser reads them."""
    sections: list[_Section] = []
    current: _Section | None = None
    in_setting = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        match = _SERVER_HEADER.match(line.rstrip("\r\n"))
        if stripped.startswith("[") and stripped.endswith("]") and not line[:1].isspace():
            current = _Section(match[1], index) if match is not None else None
            if current is not None:
                sections.append(current)
            in_setting = False
        elif not stripped or stripped.startswith(("#", ";")):
            in_setting = False
        elif line[:1].isspace() and in_setting:
            if current is not None:
                current.settings.append(index)
        else:
            in_setting = True
            if current is not None:
                current.settings.append(index)
                key = re.split(r"[=:]", stripped, maxsplit=1)[0].strip().lower()
                if key == "use":
                    current.use = index
    return sections


def _as_written(value: str) -> str:
    """``value`` with the variables read as ``${name}`` written ``%(name)s`` again."""
    return re.sub(r"\$\{(\w+)\}", r"%(\1)s", value)
