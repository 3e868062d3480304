"""A WSGI server command rewritten for an ASGI server, or left as it is with the reason.

The target is chosen per command: gunicorn stays gunicorn with uvicorn workers
(``-k uvicorn_worker.UvicornWorker``: workers, timeouts, binds, restarts, logging and its
config file carry over; only the words that change are touched), every other server moves to
uvicorn; ``--server`` picks one for all. Settings are carried by meaning, not by name
(gunicorn's ``--keep-alive`` is uvicorn's ``--timeout-keep-alive``); a setting the target has
no equivalent for is dropped and said in the message, or, where dropping it would change what
the server does (a daemon, a user switch, a uWSGI socket), the command stays as it is and is
marked ``manual``.

``--threads N`` has no ASGI equivalent: a worker runs one event loop, and the blocking work
of the migrated app runs on wsgi2asgi's thread pool (40 threads per process). A bound above
that carries over as ``WSGI2ASGI_BLOCKING_THREADS=N`` in the command's environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from migrate.frameworks.bottle import DEFAULT_PORT as BOTTLE_DEFAULT_PORT
from migrate.frameworks.bottle import ONE_PROCESS_SERVERS as BOTTLE_ONE_PROCESS_SERVERS
from migrate.rules.base import ChangeKind
from migrate.rules.deployment import configs
from migrate.rules.deployment.apps import Resolution
from migrate.rules.deployment.commands import (
    ASGI_SERVERS,
    TABLES,
    AppSpec,
    Bind,
    Invocation,
    Option,
    parse_bind,
    read_options,
)
from migrate.rules.deployment.words import Word

Target = Literal["uvicorn", "gunicorn", "hypercorn", "granian"]
TARGETS: tuple[Target, ...] = ("uvicorn", "gunicorn", "hypercorn", "granian")
UVICORN_WORKER = "uvicorn_worker.UvicornWorker"
#: What wsgi2asgi's thread pool holds per process (``adapters.blocking.DEFAULT_THREADS``).
POOL_THREADS = 40
THREADS_VARIABLE = "WSGI2ASGI_BLOCKING_THREADS"
#: gunicorn worker classes that serve ASGI already.
ASGI_WORKERS = frozenset(
    {"uvicorn_worker.UvicornWorker", "uvicorn_worker.UvicornH11Worker", "asgi",
     "uvicorn.workers.UvicornWorker", "uvicorn.workers.UvicornH11Worker"}
)  # fmt: skip
DEPRECATED_WORKERS = {
    "uvicorn.workers.UvicornWorker": "uvicorn_worker.UvicornWorker",
    "uvicorn.workers.UvicornH11Worker": "uvicorn_worker.UvicornH11Worker",
}


@dataclass
class Rewrite:
    """What becomes of one command."""

    kind: ChangeKind
    message: str
    #: The new words of the command (prefix included); None: the command stays as it is.
    words: list[Word | str] | None = None
    #: Environment the new command needs (``WSGI2ASGI_BLOCKING_THREADS``).
    env: dict[str, Word | str] = field(default_factory=dict)
    #: The servers the new command runs (for the project's requirements).
    needs: tuple[str, ...] = ()
    #: The module file of that app (the project the requirements are for).
    module: Path | None = None
    #: Files the new command needs, by their path from the command's folder -> their text
    #: (the module serving a PasteDeploy file's app).
    creates: dict[str, str] = field(default_factory=dict)
    #: What the report says of them.
    created_message: str = ""


@dataclass
class Context:
    """What a command's rewrite depends on besides its words."""

    #: ``--server``, when given.
    server: Target | None
    #: What the app named by a spec is after the run (given the folders to look in).
    resolve: Callable[[AppSpec, list[str]], Resolution]
    #: The file is a Procfile: the platform sets ``PORT`` and expects it to be served.
    procfile: bool = False
    #: A shell runs the command's text.
    shell: bool = True
    #: Environment the file gives the command (a Dockerfile's ``ENV``).
    env: Mapping[str, str] = field(default_factory=dict)
    #: The text of a file named by the command (a config file), None when there is none.
    read_file: Callable[[str], str | None] = lambda _path: None


def rewrite(invocation: Invocation, context: Context) -> Rewrite | None:
    """The rewrite of ``invocation``; None where there is nothing to do (an ASGI server)."""
    for name, value in context.env.items():  # the command line's own assignments win
        invocation.env.setdefault(name, Word.literal(value))
    server = invocation.server
    if server in ASGI_SERVERS and not _granian_serving_wsgi(invocation):
        return None
    if server == "mod_wsgi":
        return _manual(
            "mod_wsgi has no ASGI mode: serve the app with uvicorn (or gunicorn with uvicorn "
            "workers) behind Apache's mod_proxy (ProxyPass), then remove this command"
        )
    if server == "gunicorn":
        worker = invocation.first("worker_class")
        if worker is not None and worker.value is not None and worker.value.value in ASGI_WORKERS:
            return _renamed_worker(invocation, worker)
    if invocation.unknown:
        names = ", ".join(sorted(set(invocation.unknown)))
        return _manual(f"{server} options this tool does not know ({names}): rewrite by hand")
    on_command_line = invocation
    invocation, config_note, config_blockers = _with_config(invocation, context)
    if invocation.unknown:
        names = ", ".join(sorted(set(invocation.unknown)))
        return _manual(f"{config_note} has {server} options this tool does not know ({names})")
    worker = invocation.first("worker_class") if server == "gunicorn" else None
    if (
        worker is not None
        and worker.value is not None
        and "websocket" in worker.value.value.lower()
    ):
        return _manual(
            f"gunicorn's worker `{worker.value.source}` answers websockets through the worker's "
            "own socket (gevent-websocket), which no ASGI server hands an app: the command "
            "keeps its worker; move the websockets to an ASGI library by hand"
        )
    spec_word, spec = app_of(invocation)
    if spec is None and config_blockers and not config_note:
        return _manual(f"{server}: {config_blockers[0]}: check by hand")
    if spec is None:
        what = f"`{spec_word.source}`" if spec_word is not None else "no app on its command line"
        return _manual(f"{server} serves {what}, which this tool cannot look up: check by hand")
    extra = [
        o.value.value for o in invocation.options if o.key in ("chdir", "pythonpath") and o.value
    ]
    resolution = context.resolve(spec, extra)
    if (
        resolution.verdict != "asgi"
        and server == "flask"
        and ":" not in (spec_word.value if spec_word else ":")
        and len(resolution.asgi_names) == 1
    ):
        # flask finds `app`, `application` or the module's one Flask app: after the run,
        # the module's one ASGI app
        spec = AppSpec(spec.module, resolution.asgi_names[0])
        resolution = context.resolve(spec, extra)
    named = f"`{spec.text()}`"
    if resolution.verdict != "asgi":
        why = {
            "wsgi": "stays a WSGI app after the run",
            "unknown": "the run cannot show to be an ASGI app",
            "missing": "is not a module of this run",
        }[resolution.verdict]
        return _manual(f"{server} serves {named}, which {why}: the command keeps its WSGI server")
    target: Target = context.server or _STAYS.get(server, "uvicorn")
    if server == "gunicorn" and target == "gunicorn":  # its config file is rewritten apart
        return _gunicorn_in_place(on_command_line, spec_word, resolution)
    if server == "granian" and target == "granian":
        return _granian_in_place(invocation, spec_word, resolution)
    serving = read_serving(invocation, context)
    if config_note:
        serving.notes.append(f"the settings of {config_note} are on the command line now")
        serving.blockers.extend(config_blockers)
    if serving.blockers:
        return _manual(
            f"{server}: " + "; ".join(serving.blockers) + f": rewrite by hand ({named} is an "
            f"ASGI app after the run, which {server} cannot serve as it is)"
        )
    return render(target, invocation, serving, resolution)


def _with_config(invocation: Invocation, context: Context) -> tuple[Invocation, str, list[str]]:
    """``invocation`` with the settings of the config file it reads (the command line's
    win), that file's name ("" when it reads none), and what in it cannot be carried."""
    server = invocation.server
    if server == "gunicorn":
        option = invocation.first("config")
        name = option.value.value if option is not None and option.value is not None else None
        if name is None:
            name = "gunicorn.conf.py"  # gunicorn reads it from its folder by default
        text = context.read_file(name)
        if text is None:
            return invocation, "", []
        read = configs.gunicorn_options(text, name)
    elif server == "uwsgi":
        option = invocation.first("config")
        files = [w.value for w in invocation.positionals if w.value.endswith(".ini")]
        name = option.value.value if option is not None and option.value is not None else None
        name = name or (files[0] if files else None)
        if name is None:
            return invocation, "", []
        text = context.read_file(name)
        if text is None:  # its app is named there: nothing here says which
            return invocation, "", [f"its settings are in `{name}`, not a file of this tree"]
        read = configs.uwsgi_ini_options(text, name)
    else:
        return invocation, "", []
    merged = Invocation(
        server, invocation.prefix, invocation.head, env=invocation.env, body=invocation.body
    )
    read_options(read.words, TABLES[server], merged)
    keys_given = {o.key for o in invocation.options}
    merged.options = [
        o for o in merged.options if o.key not in keys_given or o.key not in SINGLE
    ] + [o for o in invocation.options if o.key != "config"]
    merged.unknown += invocation.unknown
    merged.positionals = [w for w in invocation.positionals if not w.value.endswith(".ini")]
    if not merged.positionals and read.app is not None:
        merged.positionals = [read.app]
    return merged, f"`{name}`", read.blockers


#: Settings given once: the command line's value replaces the config file's.
SINGLE = frozenset({"bind", "workers", "worker_class", "threads", "timeout", "keepalive",
                    "graceful_timeout", "max_requests", "log_level", "app", "wsgi_file"})  # fmt: skip


def _manual(message: str) -> Rewrite:
    return Rewrite("manual", message)


def _renamed_worker(invocation: Invocation, worker: Option) -> Rewrite | None:
    assert worker.value is not None
    new = DEPRECATED_WORKERS.get(worker.value.value)
    if new is None:
        return None
    words = _replaced(invocation, _set_value(worker, new))
    return Rewrite(
        "converted",
        f"gunicorn worker `{worker.value.value}` is deprecated (uvicorn 0.30): `{new}` from "
        "the uvicorn-worker package",
        words,
        needs=("uvicorn-worker",),
    )


def app_of(invocation: Invocation) -> tuple[Word | None, AppSpec | None]:
    """The word naming the app and what it names."""
    server = invocation.server
    if server == "uwsgi":
        # ``--callable`` names the app where ``--module``/``--wsgi-file`` do not
        callable_ = invocation.first("callable")
        attr = callable_.value.value if callable_ and callable_.value else "application"
        module = invocation.first("app")
        if module is not None and module.value is not None and not module.value.dynamic:
            return module.value, AppSpec.parse(module.value.value.replace("/", "."), attr)
        wsgi_file = invocation.first("wsgi_file")
        if wsgi_file is None or wsgi_file.value is None or wsgi_file.value.dynamic:
            return None, None
        path = wsgi_file.value.value
        if not path.endswith(".py") or path.startswith("/"):
            return wsgi_file.value, None
        return wsgi_file.value, AppSpec.parse(f"{path[:-3].replace('/', '.')}:{attr}")
    if server == "flask":
        word = (
            invocation.first("app").value  # type: ignore[union-attr]
            if invocation.first("app") is not None
            else invocation.env.get("FLASK_APP")
        )
        if word is None or word.dynamic:
            return word, None
        target, colon, attr = word.value.partition(":")
        if target.endswith(".py"):  # FLASK_APP=hello.py, a file of the working folder
            target = target[: -len(".py")].replace("/", ".")
        return word, AppSpec.parse(f"{target}{colon}{attr}", "app")
    if len(invocation.positionals) != 1:
        return None, None
    word = invocation.positionals[0]
    if word.dynamic or (server == "bottle" and ":" not in word.value):
        return word, None  # bottle serves the default app of the module it names
    spec = AppSpec.parse(word.value, "application")
    if spec is not None and invocation.first("factory") is not None:  # waitress' --call
        spec = AppSpec(spec.module, spec.attr, call=True)
    return word, spec


def _replaced(
    invocation: Invocation, new: dict[int, str], drop: frozenset[int] = frozenset()
) -> list[Word | str]:
    """The invocation's words with some replaced (by ``id``) and some dropped."""
    out: list[Word | str] = [*invocation.prefix, *invocation.head]
    for word in invocation.body:
        if id(word) in drop:
            continue
        out.append(new.get(id(word), word))
    return out


def _in_place(
    invocation: Invocation,
    spec_word: Word | None,
    resolution: Resolution,
    new: dict[int, str],
    drop: set[int],
) -> list[Word | str]:
    """The words of a command whose server stays: ``new`` and ``drop`` applied, and the app
    named as the run serves it (wsgi.py's asgi.py sibling, a factory's ASGI sibling)."""
    if spec_word is not None and resolution.spec != AppSpec.parse(spec_word.value):
        new = {**new, id(spec_word): resolution.spec.text()}
    return _replaced(invocation, new, frozenset(drop))


def _gunicorn_in_place(
    invocation: Invocation, spec_word: Word | None, resolution: Resolution
) -> Rewrite:
    notes: list[str] = []
    new: dict[int, str] = {}
    drop: set[int] = set()
    worker = invocation.first("worker_class")
    if worker is not None and worker.value is not None:
        new.update(_set_value(worker, UVICORN_WORKER))
        note = _worker_note(worker.value.value)
        if note:
            notes.append(note)
    env: dict[str, Word | str] = {}
    for option in invocation.options:
        if option.key == "threads":
            drop.update(id(w) for w in option.words)
            notes.append(_threads_note(option, env))
        elif option.key == "worker_connections":
            drop.update(id(w) for w in option.words)
            notes.append(
                f"`{_shown(option)}` dropped: uvicorn workers do not read it (each worker's "
                "event loop takes every connection)"
            )
        elif option.key == "timeout":
            notes.append(_timeout_note(option))
        elif option.key == "access_log_format":
            notes.append(
                f"`{option.name}` is ignored by uvicorn workers (uvicorn logs its own format)"
            )
    words = _in_place(invocation, spec_word, resolution, new, drop)
    if worker is None:
        at = len(invocation.prefix) + len(invocation.head)
        words[at:at] = ["-k", UVICORN_WORKER]
    message = f"gunicorn now runs uvicorn workers (`-k {UVICORN_WORKER}`) serving `{resolution.spec.text()}`"
    return Rewrite(
        "converted", _joined(message, notes), words, env, ("gunicorn", "uvicorn-worker"),
        resolution.path,
    )  # fmt: skip


#: The servers that stay (with an ASGI worker or interface) unless ``--server`` says otherwise.
_STAYS: dict[str, Target] = {"gunicorn": "gunicorn", "granian": "granian"}


def _granian_serving_wsgi(invocation: Invocation) -> bool:
    """granian serving a WSGI app: ``--interface wsgi`` (or ``GRANIAN_INTERFACE=wsgi``)."""
    if invocation.server != "granian":
        return False
    option = invocation.first("interface")
    word = option.value if option is not None else invocation.env.get("GRANIAN_INTERFACE")
    return word is not None and word.value == "wsgi"


def _granian_interface(resolution: Resolution) -> str:
    """granian's ASGI interface for the app: ``asginl`` (no lifespan) for Django, which
    raises on lifespan events."""
    return "asginl" if resolution.django else "asgi"


def _granian_in_place(
    invocation: Invocation, spec_word: Word | None, resolution: Resolution
) -> Rewrite:
    """``granian --interface wsgi``: the same command serving the ASGI app, every other
    option kept; ``--blocking-threads`` (WSGI's only: granian refuses more than one for
    ASGI) sizes wsgi2asgi's pool instead."""
    notes: list[str] = []
    env: dict[str, Word | str] = {}
    interface = _granian_interface(resolution)
    new: dict[int, str] = {}
    drop: set[int] = set()
    for option in invocation.options:
        if option.key == "threads":
            drop.update(id(w) for w in option.words)
            notes.append(_threads_note(option, env))
        elif option.key == "interface":
            new.update(_set_value(option, interface))
    words = _in_place(invocation, spec_word, resolution, new, drop)
    if invocation.first("interface") is None:  # GRANIAN_INTERFACE=wsgi: the option wins
        at = len(invocation.prefix) + len(invocation.head)
        words[at:at] = ["--interface", interface]
    message = f"granian now serves `{resolution.spec.text()}` as ASGI (`--interface {interface}`)"
    return Rewrite("converted", _joined(message, notes), words, env, ("granian",), resolution.path)


def _set_value(option: Option, value: str) -> dict[int, str]:
    """How to give ``option`` another value: its value word, or its one word ``--name=v``."""
    if len(option.words) == 2:
        return {id(option.words[1]): value}
    glue = "=" if option.name.startswith("--") else ""
    return {id(option.words[0]): f"{option.name}{glue}{value}"}


def _shown(option: Option) -> str:
    return " ".join(w.source for w in option.words)


def _worker_note(worker: str) -> str:
    if worker in ("gevent", "eventlet") or "gevent" in worker or "eventlet" in worker:
        return (
            f"the {worker} worker is gone: its monkeypatching does not fit an asyncio loop; "
            "concurrency now comes from the event loop and the thread pool"
        )
    return ""


def _threads_note(option: Option, env: dict[str, Word | str]) -> str:
    value = option.value
    base = (
        f"`{_shown(option)}` dropped: a worker runs one event loop, and the app's blocking "
        f"work runs on wsgi2asgi's thread pool ({POOL_THREADS} threads per worker)"
    )
    if value is None:
        return base
    if value.dynamic:
        env[THREADS_VARIABLE] = value
        return base.replace(")", f", sized by {THREADS_VARIABLE}={value.source})", 1)
    if value.value.isdigit() and int(value.value) > POOL_THREADS:
        env[THREADS_VARIABLE] = value.value
        return base.replace(f"{POOL_THREADS} threads", f"{value.value} threads", 1).replace(
            ")", f", {THREADS_VARIABLE}={value.value})", 1
        )
    return base


def _timeout_note(option: Option) -> str:
    return (
        f"`{_shown(option)}` now restarts a worker whose event loop stalls that long, "
        "with its requests; it no longer cuts one slow request short"
    )


def _joined(message: str, notes: Sequence[str]) -> str:
    return message + "".join(f"; {note}" for note in notes if note)


# --------------------------------------------------------------------------- serving


@dataclass
class Serving:
    """A command's settings, server-neutral, as the targets render them."""

    binds: list[Bind] = field(default_factory=list)
    values: dict[str, Word] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    env: dict[str, Word | str] = field(default_factory=dict)


#: Settings carried to the target by meaning (key of :class:`Serving.values`).
CARRIED = frozenset({
    "workers", "root_path", "forwarded_allow_ips", "keepalive", "graceful_timeout",
    "max_requests", "max_requests_jitter", "certfile", "keyfile", "ca_certs", "log_level",
    "log_config", "backlog", "app_dir",
})  # fmt: skip
#: Options that change what the server does where no target can follow.
BLOCKING = {
    "daemon": "it runs as a daemon", "user": "it switches user", "group": "it switches group",
    "umask": "it sets a umask", "env": "it sets environment variables (-e)",
    "paste": "it serves a PasteDeploy config", "uwsgi_socket": "it speaks the uwsgi protocol "
    "to a front server (nginx uwsgi_pass must become proxy_pass)",
    "mount": "it mounts apps under prefixes", "static_map": "it serves static files",
    "url_scheme": "it forces the URL scheme", "max_body_size": "it limits request bodies",
    "max_header_size": "it limits request headers", "config": "its settings are in a config file",
    "proxy_protocol": "it reads the PROXY protocol", "pid": "it writes a pid file",
    "env_file": "it reads an env file",
    "plugin": "it installs bottle plugins (install them in the app's module)",
    "bottle_config": "it loads bottle config (load it in the app's module)",
    "debug": "it runs in bottle's debug mode, with tracebacks on error pages (call "
    "bottle.debug(True) in the app's module)",
}  # fmt: skip


def read_serving(invocation: Invocation, context: Context) -> Serving:
    """The settings of ``invocation`` (notes and blockers for what does not carry over)."""
    serving = Serving()
    host: Word | None = None
    port: Word | None = None
    for option in invocation.options:
        key, value = option.key, option.value
        if key == "bottle_server" and value is not None:
            if value.value not in BOTTLE_ONE_PROCESS_SERVERS:
                serving.blockers.append(f"it runs bottle's `{value.source}` server")
            else:
                serving.notes.append(f"`{_shown(option)}` dropped: uvicorn serves in its place")
        elif key == "bind" and value is not None:
            bind = parse_bind(value)
            alone = bind is not None and bind.host is not None and bind.port is None
            if alone and invocation.server == "bottle":  # a host alone: bottle's port
                assert bind is not None
                bind = replace(bind, port=Word.literal(BOTTLE_DEFAULT_PORT))
            if bind is None:
                serving.blockers.append(f"cannot read the address `{value.source}`")
            else:
                serving.binds.append(bind)
        elif key == "host":
            host = value
        elif key == "port":
            port = value
        elif key == "uds" and value is not None:
            serving.binds.append(Bind(uds=value))
        elif key in ("chdir", "pythonpath") and value is not None:
            if "app_dir" in serving.values:
                serving.blockers.append("it imports from more than one folder")
            serving.values["app_dir"] = value
        elif key in CARRIED and value is not None:
            serving.values[key] = value
        elif key in ("reload", "factory"):
            serving.flags.add(key)
        elif key in ("app", "wsgi_file", "callable", "interface"):
            continue  # the app, read by app_of; granian's WSGI interface, replaced
        elif key == "threads":
            serving.notes.append(_threads_note(option, serving.env))
        elif key == "timeout":
            serving.notes.append(
                f"`{_shown(option)}` dropped: no ASGI server cuts a slow request short"
            )
        elif key == "forwarded_allow_ips":
            serving.values[key] = value  # type: ignore[assignment]
        elif key == "trusted_proxy_headers" and value is not None:
            headers = {h.strip().lower() for h in value.value.replace(",", " ").split()}
            if not headers <= {"x-forwarded-for", "x-forwarded-proto"}:
                serving.blockers.append(
                    f"it trusts proxy headers uvicorn does not read ({value.source})"
                )
        elif key in BLOCKING:
            serving.blockers.append(f"{BLOCKING[key]} (`{_shown(option)}`)")
        elif key == "worker_class" and value is not None:
            note = _worker_note(value.value)
            if note:
                serving.notes.append(note)
        else:
            serving.notes.append(f"`{_shown(option)}` dropped")
    if invocation.server == "flask":  # flask run reads FLASK_RUN_HOST / FLASK_RUN_PORT
        host = host or invocation.env.get("FLASK_RUN_HOST")
        port = port or invocation.env.get("FLASK_RUN_PORT")
    if host is not None or port is not None:
        default_host, default_port = DEFAULT_ADDRESS.get(invocation.server, ("127.0.0.1", "8000"))
        serving.binds.append(
            Bind(host or Word.literal(default_host), port or Word.literal(default_port))
        )
    if len(serving.binds) > 1:
        serving.blockers.append("it listens on more than one address")
    if not serving.binds:
        serving.binds.append(_default_bind(invocation.server, context, serving))
    return serving


#: Where a server listens by default (host, port).
DEFAULT_ADDRESS = {
    "waitress": ("0.0.0.0", "8080"), "flask": ("127.0.0.1", "5000"),
    "bottle": ("localhost", BOTTLE_DEFAULT_PORT), "granian": ("127.0.0.1", "8000"),
}  # fmt: skip


def _default_bind(server: str, context: Context, serving: Serving) -> Bind:
    """Where ``server`` listens when its command says nothing, spelled out for the target."""
    if server in DEFAULT_ADDRESS:
        host, port = DEFAULT_ADDRESS[server]
        return Bind(Word.literal(host), Word.literal(port))
    if server == "uwsgi":
        serving.blockers.append("it has no --http address")
        return Bind()
    if context.procfile:  # gunicorn binds 0.0.0.0:$PORT where the platform sets PORT
        return Bind(Word.literal("0.0.0.0"), Word("$PORT", "$PORT", dynamic=True))
    serving.notes.append(
        "gunicorn listened on 0.0.0.0:$PORT where PORT is set; uvicorn does not read PORT"
    )
    return Bind(Word.literal("127.0.0.1"), Word.literal("8000"))


def _program(invocation: Invocation, name: str) -> list[Word | str]:
    """The words starting ``name`` the way the original started its server."""
    first = invocation.head[0].value
    if len(invocation.head) >= 3 and invocation.head[1].value == "-m":
        return [invocation.head[0], "-m", name.replace("-", "_")]
    folder = first.rpartition("/")[0]
    return [f"{folder}/{name}" if folder else name]


def root_path(value: Word) -> Word | None:
    """A mount prefix as ASGI servers want it: no trailing slash, none at all for ``/``
    (uvicorn would make ``//path`` of every request)."""
    if value.dynamic:
        return value
    text = value.value.rstrip("/")
    return Word.literal(text) if text else None


def _separate(bind: Bind) -> list[Word | str]:
    """``--host H --port P`` / ``--uds PATH`` / ``--fd N``: uvicorn's and granian's way."""
    if bind.uds is not None:
        return ["--uds", bind.uds]
    if bind.fd is not None:
        return ["--fd", bind.fd]
    return ["--host", bind.host or "127.0.0.1", "--port", bind.port or "8000"]


def _joined_address(bind: Bind) -> list[Word | str]:
    """``-b host:port`` / ``-b unix:PATH`` / ``-b fd://N``: gunicorn's and hypercorn's way."""
    if bind.uds is not None:
        return ["-b", f"unix:{bind.uds.value}"]
    if bind.fd is not None:
        return ["-b", f"fd://{bind.fd.value}"]
    host = bind.host.source if bind.host is not None else "127.0.0.1"
    port = bind.port.source if bind.port is not None else "8000"
    text = f"{host}:{port}"
    return ["-b", Word(text, text, dynamic="$" in text)]


@dataclass(frozen=True)
class Style:
    """How a target server is started: its words for each setting of :class:`Serving`."""

    program: str
    label: str
    needs: tuple[str, ...]
    #: Words right after the program (the worker class, the interface).
    leading: tuple[str, ...]
    address: Callable[[Bind], list[Word | str]]
    #: :class:`Serving` value key -> option.
    options: dict[str, str]
    #: Serving keys the server has no option for -> what the message says.
    missing: dict[str, str]
    #: The app right after the leading words (else last).
    app_first: bool
    #: How a factory is marked: an option, or "" for gunicorn's ``module:factory()``.
    factory: str
    #: Words turning lifespan events off (Django raises on them); () where not possible.
    no_lifespan: tuple[str, ...] = ()
    #: Words keeping X-Forwarded-* headers out of the request where the server reads them
    #: by default (uvicorn, from 127.0.0.1) and the old one did not.
    no_proxy_headers: tuple[str, ...] = ()


#: The servers applying X-Forwarded-* headers of a trusted proxy (127.0.0.1) by default:
#: gunicorn its X-Forwarded-Proto. The others (waitress unless told to trust a proxy,
#: flask run, uWSGI, bottle's servers) hand the app the connection's own address and scheme.
READS_PROXY_HEADERS = frozenset({"gunicorn"})

STYLES: dict[Target, Style] = {
    "uvicorn": Style(
        "uvicorn", "uvicorn", ("uvicorn",), (), _separate,
        {"workers": "--workers", "root_path": "--root-path",
         "forwarded_allow_ips": "--forwarded-allow-ips", "keepalive": "--timeout-keep-alive",
         "graceful_timeout": "--timeout-graceful-shutdown", "max_requests": "--limit-max-requests",
         "max_requests_jitter": "--limit-max-requests-jitter", "certfile": "--ssl-certfile",
         "keyfile": "--ssl-keyfile", "ca_certs": "--ssl-ca-certs", "log_level": "--log-level",
         "log_config": "--log-config", "backlog": "--backlog", "app_dir": "--app-dir"},
        {}, app_first=True, factory="--factory", no_lifespan=("--lifespan", "off"),
        no_proxy_headers=("--no-proxy-headers",),
    ),
    "gunicorn": Style(
        "gunicorn", "gunicorn with uvicorn workers", ("gunicorn", "uvicorn-worker"),
        ("-k", UVICORN_WORKER), _joined_address,
        {"workers": "-w", "keepalive": "--keep-alive", "graceful_timeout": "--graceful-timeout",
         "max_requests": "--max-requests", "max_requests_jitter": "--max-requests-jitter",
         "forwarded_allow_ips": "--forwarded-allow-ips", "certfile": "--certfile",
         "keyfile": "--keyfile", "ca_certs": "--ca-certs", "log_level": "--log-level",
         "log_config": "--log-config", "backlog": "--backlog", "app_dir": "--chdir"},
        {"root_path": "the mount prefix goes in SCRIPT_NAME for uvicorn workers"},
        app_first=False, factory="",
    ),
    "hypercorn": Style(
        "hypercorn", "hypercorn", ("hypercorn",), (), _joined_address,
        {"workers": "-w", "root_path": "--root-path", "keepalive": "--keep-alive",
         "graceful_timeout": "--graceful-timeout", "max_requests": "--max-requests",
         "max_requests_jitter": "--max-requests-jitter", "certfile": "--certfile",
         "keyfile": "--keyfile", "ca_certs": "--ca-certs", "log_level": "--log-level",
         "log_config": "--log-config", "backlog": "--backlog"},
        {"forwarded_allow_ips": "hypercorn reads no proxy headers: add its ProxyFixMiddleware"},
        app_first=False, factory="",
    ),
    "granian": Style(
        "granian", "granian", ("granian",), ("--interface", "asgi"), _separate,
        {"workers": "--workers", "root_path": "--url-path-prefix",
         "certfile": "--ssl-certificate", "keyfile": "--ssl-keyfile", "log_level": "--log-level",
         "backlog": "--backlog"},
        {"forwarded_allow_ips": "granian reads no proxy headers: wrap the app with "
         "granian.utils.proxies.wrap_asgi_with_proxy_headers"},
        app_first=False, factory="--factory",
    ),
}  # fmt: skip


def render(
    target: Target, invocation: Invocation, serving: Serving, resolution: Resolution
) -> Rewrite:
    """The command starting ``target`` with the settings of ``serving``."""
    style = STYLES[target]
    factory = "factory" in serving.flags or resolution.spec.call
    app = resolution.spec.text().removesuffix("()")
    if factory and not style.factory:
        app += "()"
    options: list[Word | str] = list(style.address(serving.binds[0]))
    for key, flag in style.options.items():
        value = serving.values.get(key)
        if value is not None and key == "root_path":
            value = root_path(value)
        if value is not None:
            options += [flag, value]
    notes = [note for key, note in style.missing.items() if key in serving.values]
    if "reload" in serving.flags:
        options.append("--reload")
    if factory and style.factory:
        options.append(style.factory)
    if resolution.django:
        options += style.no_lifespan
    if invocation.server not in READS_PROXY_HEADERS and "forwarded_allow_ips" not in serving.values:
        options += style.no_proxy_headers
    leading = list(style.leading)
    if target == "granian":
        leading[-1] = _granian_interface(resolution)
    head = [*invocation.prefix, *_program(invocation, style.program), *leading]
    words = [*head, app, *options] if style.app_first else [*head, *options, app]
    message = f"{invocation.server} → {style.label} serving `{resolution.spec.text()}`"
    return Rewrite(
        "converted", _joined(message, [*serving.notes, *notes]), words, serving.env,
        style.needs, resolution.path,
    )  # fmt: skip
