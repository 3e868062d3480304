"""PasteDeploy projects: commands serving an ini file's app (``gunicorn --paste x.ini``).

Pyramid's projects (Pylons' too, and any app PasteDeploy loads) name their app in an ini
file, ``[app:main]`` with ``use = egg:myproject`` (the project's ``main(global_config,
**settings)``). ``pserve x.ini`` runs the server the file names too, which the run moves to
uvicorn in the file itself (:mod:`.paste_ini`): such a command stays as it is. The others
read only the app there, and no ASGI server reads these files: the run writes a module
beside the ini file that loads the same app the same way and serves it through
``adapters.WsgiToAsgi``, and the command serves that module::

    gunicorn --paste production.ini -w 3
        → gunicorn -k uvicorn_worker.UvicornWorker -w 3 --log-config production.ini production_asgi:app
    pserve production.ini --reload   (--server hypercorn, which no PasteDeploy server runs)
        → hypercorn -b 0.0.0.0:6543 --reload production_asgi:app

The module sets up logging from the file as pserve did (gunicorn's ``--paste`` read it as
its ``--log-config``, which stays). What cannot be carried with certainty leaves the
command as it is, marked: a server section of another server or with settings uvicorn has
no equivalent for, values filled in from variables (``%(http_port)s``, ``pserve x.ini
http_port=8080``), an ini file that is not in the tree.
"""

from __future__ import annotations

import configparser
import dataclasses
import json
import posixpath
import re
from dataclasses import dataclass

from migrate.rules.deployment.apps import Resolution
from migrate.rules.deployment.commands import AppSpec, Invocation, Option, find_invocation
from migrate.rules.deployment.paste_ini import Refused, pserve_serves_asgi, server_serving
from migrate.rules.deployment.targets import (
    ASGI_WORKERS,
    Context,
    Rewrite,
    Target,
    render,
    rewrite,
)
from migrate.rules.deployment.words import Word

#: The sections an app can be named by (``[app:main]``, a pipeline of filters, ...).
_APP_KINDS = ("app", "pipeline", "composite", "filter-app")
#: What the generated module holds (``{config}``: the ini file's name beside it).
_MODULE = '''\
"""The app `{config}` describes, for ASGI servers: `uvicorn {module}:app`.

Written by wsgi2asgi's migrate for {command}, which no ASGI server runs: it
loads the app the way PasteDeploy did (logging from the file first, then the `{name}` app)
and serves it through adapters.WsgiToAsgi. Where one process serves it (uvicorn without
--workers), WsgiToAsgi(..., multiprocess=False) says so to the app: pyramid_debugtoolbar
turns itself off otherwise.
"""

import logging.config
import os

from paste.deploy import loadapp

from adapters import WsgiToAsgi

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), {config_literal})
{logging}app = WsgiToAsgi(loadapp("config:" + CONFIG, name={name_literal}))
'''
_LOGGING = (
    "logging.config.fileConfig(\n"
    '    CONFIG, {"__file__": CONFIG, "here": os.path.dirname(CONFIG)},\n'
    "    disable_existing_loggers=False,\n"
    ")\n"
)


@dataclass(frozen=True)
class EntryModule:
    """The module serving an ini file's app, beside that file."""

    #: Its path from the command's folder.
    relpath: str
    #: How a server names it.
    spec: AppSpec
    text: str


def _paste_option(invocation: Invocation) -> Option | None:
    """gunicorn's ``--paste x.ini``, uWSGI's ``--ini-paste x.ini`` (or ``--paste``)."""
    server = invocation.server
    paste = invocation.first("paste") if server in ("gunicorn", "uwsgi") else None
    if server == "uwsgi":
        paste = invocation.first("ini_paste") or paste
    return paste


def serves_paste_file(invocation: Invocation) -> bool:
    """Whether the command serves the app of a PasteDeploy file (:func:`paste_rewrite`'s)."""
    return invocation.server == "pserve" or _paste_option(invocation) is not None


def paste_rewrite(invocation: Invocation, context: Context) -> Rewrite | None:
    """The rewrite of a command serving a PasteDeploy file; None where there is nothing to
    do (an ASGI worker; a pserve whose ini the run moves to uvicorn)."""
    server, paste = invocation.server, _paste_option(invocation)
    worker = invocation.first("worker_class")
    if worker is not None and worker.value is not None and worker.value.value in ASGI_WORKERS:
        return None
    try:
        if paste is not None:
            return _moved(invocation, paste, context)
        return _pserve(invocation, context)
    except Refused as refused:
        return Rewrite("manual", f"{server}: {refused}")


def _moved(invocation: Invocation, paste: Option, context: Context) -> Rewrite:
    """``gunicorn --paste x.ini`` / ``uwsgi --ini-paste x.ini``: the same command serving the
    module written for the ini file, rewritten as any of its server's commands is
    (:mod:`.targets`). gunicorn keeps the ini as its ``--log-config``, as ``--paste`` did;
    ``--ini-paste`` is ``--ini x.ini`` (the [uwsgi] settings) serving the app."""
    if paste.value is None or paste.value.dynamic:
        raise Refused("the PasteDeploy file it serves is named at run time: check by hand")
    path, name = _config_uri(paste.value.value)
    parser = _read(path, context)
    command = f"`{invocation.server} {paste.name} {paste.value.value}`"
    entry = _entry_module(path, name, parser, command, context)
    spec = [Word.literal(entry.spec.text())]
    if invocation.server == "uwsgi":
        ini = [Word.literal("--ini"), Word.literal(path)] if paste.key == "ini_paste" else []
        here, after = [*ini, Word.literal("--module"), *spec], []
    else:
        logged = parser.has_section("loggers") and invocation.first("log_config") is None
        here = []
        after = [Word.literal("--log-config"), Word.literal(path), *spec] if logged else spec
    body: list[Word] = []
    for word in invocation.body:
        if word is paste.words[0]:
            body += here
        elif all(word is not w for w in paste.words):
            body.append(word)
    moved = find_invocation([*invocation.prefix, *invocation.head, *body, *after])
    assert moved is not None
    resolve = context.resolve

    def resolved(spec: AppSpec, extra: list[str]) -> Resolution:
        return Resolution("asgi", spec) if spec == entry.spec else resolve(spec, extra)

    rewritten = rewrite(moved, dataclasses.replace(context, resolve=resolved))
    if rewritten is None or rewritten.words is None:
        raise Refused(rewritten.message if rewritten is not None else "check by hand")
    return _created(rewritten, entry, path)


def _pserve(invocation: Invocation, context: Context) -> Rewrite | None:
    if invocation.unknown:
        raise Refused(f"options this tool does not know ({', '.join(invocation.unknown)})")
    if not invocation.positionals or invocation.positionals[0].dynamic:
        raise Refused("the PasteDeploy file it serves is not named on its command line")
    config, *variables = invocation.positionals
    path, name = _config_uri(config.value)
    app_name, server_name = invocation.first("app_name"), invocation.first("server_name")
    if app_name is not None and app_name.value is not None:
        name = app_name.value.value
    server = "main"
    if server_name is not None and server_name.value is not None:
        server = server_name.value.value
    parser = _read(path, context)
    if pserve_serves_asgi(parser, server, context):
        return None  # its ini's server section is (or becomes) uvicorn's: see paste_ini
    if variables:
        raise Refused(
            "it fills the file's variables in (`"
            + " ".join(v.source for v in variables)
            + "`): the module serving the app would need them: check by hand"
        )
    serving = server_serving(parser, server, context)
    if invocation.first("reload") is not None:
        serving.flags.add("reload")
    entry = _entry_module(path, name, parser, f"`pserve {config.value}`", context)
    target: Target = context.server or "uvicorn"
    if target == "gunicorn":
        raise Refused("pserve ran one process: serve it with uvicorn, hypercorn or granian")
    return _created(
        render(target, invocation, serving, Resolution("asgi", entry.spec)), entry, path
    )


def _created(rewritten: Rewrite, entry: EntryModule, config: str) -> Rewrite:
    rewritten.creates[entry.relpath] = entry.text
    rewritten.created_message = (
        f"created: the app `{config}` describes, served through adapters.WsgiToAsgi for ASGI "
        f"servers (`uvicorn {entry.spec.text()}`), loaded as PasteDeploy loaded it"
    )
    rewritten.needs = (*rewritten.needs, "wsgi2asgi")
    rewritten.message += (
        f"; `{entry.relpath}` (created) loads the app `{config}` describes and serves it "
        "through adapters.WsgiToAsgi"
    )
    rewritten.kind = "adapted"
    return rewritten


def _config_uri(uri: str) -> tuple[str, str]:
    """The file and the app name of ``production.ini#admin`` (``config:`` allowed)."""
    uri = uri.removeprefix("config:")
    path, _, name = uri.partition("#")
    path = path.removeprefix("./")
    parts = path.split("/")
    if not path.endswith(".ini") or path.startswith("/") or ":" in path or ".." in parts:
        raise Refused(f"it serves `{uri}`, which is not an ini file of this tree")
    return path, name or "main"


def _read(path: str, context: Context) -> configparser.RawConfigParser:
    text = context.read_file(path)
    if text is None:
        raise Refused(f"`{path}` is not a file of this tree: check by hand")
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text, path)
    except configparser.Error as exc:
        raise Refused(f"`{path}` cannot be read ({exc.message})") from None
    return parser


def _entry_module(
    path: str, name: str, parser: configparser.RawConfigParser, command: str, context: Context
) -> EntryModule:
    if not any(parser.has_section(f"{kind}:{name}") for kind in _APP_KINDS) and not (
        name == "main" and parser.has_section("app")
    ):
        raise Refused(f"`{path}` has no [app:{name}] section: check by hand")
    folder, filename = posixpath.split(path)
    stem = _identifier(filename.removesuffix(".ini"))
    module = f"{stem}_asgi" if name == "main" else f"{stem}_{_identifier(name)}_asgi"
    relpath = posixpath.join(folder, f"{module}.py")
    packages = [part for part in folder.split("/") if part]
    if not all(part.isidentifier() for part in packages):
        raise Refused(f"`{folder}`, the folder of `{path}`, cannot be imported from: check by hand")
    dotted = ".".join([*packages, module])
    text = _MODULE.format(
        config=filename,
        module=dotted,
        command=command,
        name=name,
        config_literal=json.dumps(filename),
        name_literal=json.dumps(name),
        logging=_LOGGING if parser.has_section("loggers") else "",
    )
    existing = context.read_file(relpath)
    if existing is not None and existing != text:
        raise Refused(f"`{relpath}`, the module it would serve, exists already: check by hand")
    return EntryModule(relpath, AppSpec(dotted, "app"), text)


def _identifier(text: str) -> str:
    """``text`` as a module name's part (``my-app.prod`` → ``my_app_prod``)."""
    name = re.sub(r"\W", "_", text)
    return f"_{name}" if name[:1].isdigit() else name
