"""WSGI server command lines understood: which server, which app, which settings.

:func:`find_invocation` finds the server in a simple command (``gunicorn ...``,
``/srv/venv/bin/gunicorn ...``, ``python -m waitress ...``, ``exec uwsgi ...``,
``FLASK_APP=x flask run``, behind wrappers such as ``poetry run`` or ``ddtrace-run``) and
reads its options with the server's own option table, so the app it serves is found
wherever it stands. Every option is read into :class:`Serving`, the server-neutral
settings the targets render (:mod:`.targets`); an option no target can carry is a *note*
(dropped, with what replaces it) or a *blocker* (the command is left as it is, marked).
An option this table does not know makes the command uncertain: it is left as it is.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from migrate.rules.deployment.words import Word, split_word

#: Programs that run the next words as a command (skipped to find the server).
WRAPPERS = {
    "exec": 0, "nohup": 0, "time": 0, "ddtrace-run": 0, "opentelemetry-instrument": 0,
    "newrelic-admin": 1, "poetry": 1, "pipenv": 1, "uv": 1, "pdm": 1, "hatch": 1, "rye": 1,
}  # fmt: skip
_PYTHON = re.compile(r"python(\d+(\.\d+)?)?$")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
#: The servers, by the name of their program and their ``python -m`` module.
PROGRAMS = {
    "gunicorn": "gunicorn", "waitress-serve": "waitress", "uwsgi": "uwsgi", "flask": "flask",
    "mod_wsgi-express": "mod_wsgi", "uvicorn": "uvicorn", "hypercorn": "hypercorn",
    "granian": "granian", "pserve": "pserve", "bottle.py": "bottle",
}  # fmt: skip
MODULES = {
    "gunicorn": "gunicorn", "waitress": "waitress", "flask": "flask", "uvicorn": "uvicorn",
    "bottle": "bottle",
}  # fmt: skip
ASGI_SERVERS = frozenset({"uvicorn", "hypercorn", "granian"})

#: gunicorn's options: name -> (key, takes a value). Keys are :class:`Serving`'s.
_GUNICORN: dict[str, tuple[str, bool]] = {}
for _names, _key, _takes in (
    ("-b --bind", "bind", True),
    ("-w --workers", "workers", True),
    ("-k --worker-class", "worker_class", True),
    ("--threads", "threads", True),
    ("--worker-connections", "worker_connections", True),
    ("-t --timeout", "timeout", True),
    ("--graceful-timeout", "graceful_timeout", True),
    ("--keep-alive", "keepalive", True),
    ("--max-requests", "max_requests", True),
    ("--max-requests-jitter", "max_requests_jitter", True),
    ("--forwarded-allow-ips", "forwarded_allow_ips", True),
    ("--certfile", "certfile", True),
    ("--keyfile", "keyfile", True),
    ("--ca-certs", "ca_certs", True),
    ("--log-level", "log_level", True),
    ("--log-config", "log_config", True),
    ("--access-logfile", "access_log", True),
    ("--error-logfile --log-file", "error_log", True),
    ("--access-logformat", "access_log_format", True),
    ("-c --config", "config", True),
    ("--chdir", "chdir", True),
    ("--pythonpath", "pythonpath", True),
    ("--reload", "reload", False),
    ("--preload", "preload", False),
    ("--backlog", "backlog", True),
    ("-n --name", "name", True),
    ("-p --pid", "pid", True),
    ("--capture-output", "capture_output", False),
    ("--worker-tmp-dir", "worker_tmp_dir", True),
    ("--limit-request-line", "limit_request", True),
    ("--limit-request-fields", "limit_request", True),
    ("--limit-request-field_size", "limit_request", True),
    ("--statsd-host", "statsd", True),
    ("--statsd-prefix", "statsd", True),
    ("--reuse-port", "reuse_port", False),
    ("--no-sendfile", "no_sendfile", False),
    ("--proxy-protocol", "proxy_protocol", False),
    ("--proxy-allow-from", "proxy_allow_from", True),
    ("-D --daemon", "daemon", False),
    ("-u --user", "user", True),
    ("-g --group", "group", True),
    ("-m --umask", "umask", True),
    ("-e --env", "env", True),
    ("--paste --paster", "paste", True),
    ("--root-path", "root_path", True),
    ("--enable-stdio-inheritance", "stdio", False),
    ("--reload-engine", "reload_engine", True),
    ("--reload-extra-file", "reload_extra", True),
    ("--ciphers", "ciphers", True),
    ("--ssl-version", "ssl_version", True),
    ("--cert-reqs", "cert_reqs", True),
    ("--log-syslog", "syslog", False),
    ("--initgroups", "initgroups", False),
    ("--spew", "spew", False),
    ("--check-config", "check_config", False),
    ("--print-config", "check_config", False),
):
    for _name in _names.split():
        _GUNICORN[_name] = (_key, _takes)

#: waitress-serve's options (``waitress.adjustments``), all ``--name=value`` or flags.
_WAITRESS: dict[str, tuple[str, bool]] = {
    "--listen": ("bind", True), "--host": ("host", True), "--port": ("port", True),
    "--unix-socket": ("uds", True), "--threads": ("threads", True),
    "--url-prefix": ("root_path", True), "--call": ("factory", False),
    "--trusted-proxy": ("forwarded_allow_ips", True), "--backlog": ("backlog", True),
    "--trusted-proxy-headers": ("trusted_proxy_headers", True),
    "--trusted-proxy-count": ("trusted_proxy_count", True),
    "--ident": ("ident", True), "--expose-tracebacks": ("expose_tracebacks", False),
    "--no-expose-tracebacks": ("expose_tracebacks", False),
    "--connection-limit": ("connection_limit", True), "--channel-timeout": ("channel_timeout", True),
    "--cleanup-interval": ("tuning", True), "--recv-bytes": ("tuning", True),
    "--send-bytes": ("tuning", True), "--outbuf-overflow": ("tuning", True),
    "--outbuf-high-watermark": ("tuning", True), "--inbuf-overflow": ("tuning", True),
    "--asyncore-loop-timeout": ("tuning", True), "--asyncore-use-poll": ("tuning", False),
    "--max-request-header-size": ("max_header_size", True),
    "--max-request-body-size": ("max_body_size", True), "--url-scheme": ("url_scheme", True),
    "--unix-socket-perms": ("uds_perms", True), "--ipv4": ("tuning", False),
    "--ipv6": ("tuning", False), "--no-ipv4": ("tuning", False), "--no-ipv6": ("tuning", False),
    "--log-untrusted-proxy-headers": ("tuning", False),
    "--clear-untrusted-proxy-headers": ("tuning", False),
}  # fmt: skip

#: uWSGI's options this tool knows (it has hundreds: any other leaves the command alone).
_UWSGI: dict[str, tuple[str, bool]] = {
    "--http": ("bind", True), "--http-socket": ("bind", True), "--socket": ("uwsgi_socket", True),
    "-s": ("uwsgi_socket", True), "--module": ("app", True), "-w": ("app", True),
    "--wsgi": ("app", True), "--wsgi-file": ("wsgi_file", True), "--file": ("wsgi_file", True),
    "--callable": ("callable", True), "--processes": ("workers", True), "-p": ("workers", True),
    "--workers": ("workers", True), "--threads": ("threads", True), "--chdir": ("chdir", True),
    "--pythonpath": ("pythonpath", True), "--max-requests": ("max_requests", True),
    "--harakiri": ("timeout", True), "--mount": ("mount", True), "--ini": ("config", True),
    "--master": ("drop", False), "-M": ("drop", False), "--vacuum": ("drop", False),
    "--die-on-term": ("drop", False), "--enable-threads": ("drop", False),
    "--lazy-apps": ("drop", False), "--single-interpreter": ("drop", False),
    "--need-app": ("drop", False), "--strict": ("drop", False), "--thunder-lock": ("drop", False),
    "--buffer-size": ("drop", True), "--post-buffering": ("drop", True),
    "--manage-script-name": ("drop", False), "--disable-logging": ("drop", False),
    "--static-map": ("static_map", True), "--home": ("drop", True), "--virtualenv": ("drop", True),
    "-H": ("drop", True), "--uid": ("user", True), "--gid": ("group", True),
    "--ini-paste": ("ini_paste", True), "--ini-paste-logged": ("ini_paste", True),
    "--paste": ("paste", True), "--paste-logger": ("drop", False),
}  # fmt: skip

#: flask's options (``flask [--app X] [--debug] run [options]``).
_FLASK: dict[str, tuple[str, bool]] = {
    "--app": ("app", True), "-A": ("app", True), "--debug": ("reload", False),
    "--no-debug": ("drop", False), "-e": ("env_file", True), "--env-file": ("env_file", True),
    "--host": ("host", True), "-h": ("host", True), "--port": ("port", True), "-p": ("port", True),
    "--reload": ("reload", False), "--no-reload": ("drop", False), "--debugger": ("drop", False),
    "--no-debugger": ("drop", False), "--with-threads": ("drop", False),
    "--without-threads": ("drop", False), "--cert": ("certfile", True), "--key": ("keyfile", True),
    "--extra-files": ("drop", True), "--exclude-patterns": ("drop", True),
}  # fmt: skip

#: pserve's options (Pyramid's ``pserve config.ini [var=value...]``).
_PSERVE: dict[str, tuple[str, bool]] = {
    "--reload": ("reload", False), "-n": ("app_name", True), "--app-name": ("app_name", True),
    "-s": ("server_name", True), "--server": ("server_name", True),
    "--server-name": ("server_name", True), "--reload-interval": ("drop", True),
    "-b": ("drop", False), "--browser": ("drop", False), "-v": ("drop", False),
    "--verbose": ("drop", False), "-q": ("drop", False), "--quiet": ("drop", False),
}  # fmt: skip

#: Bottle's command line (``python -m bottle [options] package.module:app``).
_BOTTLE: dict[str, tuple[str, bool]] = {
    "-b": ("bind", True), "--bind": ("bind", True), "-s": ("bottle_server", True),
    "--server": ("bottle_server", True), "-p": ("plugin", True), "--plugin": ("plugin", True),
    "-c": ("bottle_config", True), "--conf": ("bottle_config", True),
    "-C": ("bottle_config", True), "--param": ("bottle_config", True),
    "--debug": ("debug", False), "--reload": ("reload", False), "--version": ("drop", False),
}  # fmt: skip

#: granian's options (``granian --interface wsgi [options] module:app``; 2.x, and the 1.x names
#: still seen): those read by meaning, then its other flags (``--ws``/``--no-ws``) and the
#: others taking a value, kept as they are where granian stays.
_GRANIAN: dict[str, tuple[str, bool]] = {
    "--interface": ("interface", True), "--host": ("host", True), "--port": ("port", True),
    "--uds": ("uds", True), "--workers": ("workers", True),
    "--blocking-threads": ("threads", True), "--threads": ("threads", True),
    "--url-path-prefix": ("root_path", True), "--ssl-certificate": ("certfile", True),
    "--ssl-keyfile": ("keyfile", True), "--log-level": ("log_level", True),
    "--backlog": ("backlog", True), "--working-dir": ("chdir", True),
    "--factory": ("factory", False), "--no-factory": ("drop", False),
    "--reload": ("reload", False), "--no-reload": ("drop", False),
    "--env-files": ("env_file", True), "--pid-file": ("pid", True),
}  # fmt: skip
for _flag in (
    "ws", "http1-keep-alive", "http1-pipeline-flush", "http2-adaptive-window", "log",
    "access-log", "ssl-client-verify", "respawn-failed-workers", "metrics",
    "reload-ignore-worker-failure", "opt",
):  # fmt: skip
    _GRANIAN[f"--{_flag}"] = _GRANIAN[f"--no-{_flag}"] = ("granian", False)
for _valued in (
    "uds-permissions", "http", "blocking-threads-idle-timeout", "runtime-threads",
    "runtime-blocking-threads", "runtime-mode", "loop", "task-impl", "backpressure",
    "http1-buffer-size", "http1-header-read-timeout", "http2-initial-connection-window-size",
    "http2-initial-stream-window-size", "http2-keep-alive-interval", "http2-keep-alive-timeout",
    "http2-max-concurrent-streams", "http2-max-frame-size", "http2-max-headers-size",
    "http2-max-send-buffer-size", "log-config", "access-log-fmt", "ssl-keyfile-password",
    "ssl-protocol-min", "ssl-ca", "ssl-crl", "respawn-interval", "rss-sample-interval",
    "rss-samples", "workers-lifetime", "workers-max-rss", "workers-kill-timeout",
    "static-path-route", "static-path-mount", "static-path-dir-to-file",
    "static-path-expires", "metrics-scrape-interval", "metrics-address", "metrics-port",
    "reload-paths", "reload-ignore-dirs", "reload-ignore-patterns", "reload-ignore-paths",
    "reload-tick", "process-name", "threading-mode",
):  # fmt: skip
    _GRANIAN[f"--{_valued}"] = ("granian", True)

TABLES = {
    "gunicorn": _GUNICORN, "waitress": _WAITRESS, "uwsgi": _UWSGI, "flask": _FLASK,
    "pserve": _PSERVE, "bottle": _BOTTLE, "granian": _GRANIAN,
}  # fmt: skip


@dataclass(frozen=True)
class Option:
    key: str
    name: str
    value: Word | None
    #: The words it took (``-w 4`` two, ``--workers=4`` one).
    words: tuple[Word, ...]


@dataclass
class Invocation:
    """A server started by a simple command."""

    server: str
    #: Words before the server's (env assignments, ``exec``, wrappers): kept as they are.
    prefix: tuple[Word, ...]
    #: The words that start the server (``gunicorn``; ``python -m gunicorn``; ``flask ... run``).
    head: tuple[Word, ...]
    options: list[Option] = field(default_factory=list)
    #: The positional words (the app, for most servers).
    positionals: list[Word] = field(default_factory=list)
    #: Options the server's table does not know (the command is then uncertain).
    unknown: list[str] = field(default_factory=list)
    #: Environment assignments in ``prefix`` (``FLASK_APP=x``), by name.
    env: dict[str, Word] = field(default_factory=dict)
    #: The words after ``head``, in their order.
    body: tuple[Word, ...] = ()

    def first(self, key: str) -> Option | None:
        return next((option for option in self.options if option.key == key), None)

    def all(self, key: str) -> list[Option]:
        return [option for option in self.options if option.key == key]


def find_invocation(words: Sequence[Word]) -> Invocation | None:
    """The server a simple command starts, with its options read; None if it starts none."""
    index, env = 0, {}
    while index < len(words):
        word = words[index]
        name = word.value.rsplit("/", 1)[-1]
        if _ASSIGNMENT.match(word.value) and index < len(words) - 1:
            key, _, value = word.value.partition("=")
            env[key] = Word(value, value, dynamic=word.dynamic)
            index += 1
        elif name == "env":
            index += 1
        elif name in WRAPPERS:
            index += 1 + WRAPPERS[name]
        else:
            break
    if index >= len(words):
        return None
    program = words[index].value.rsplit("/", 1)[-1]
    start = index
    if _PYTHON.match(program):
        if index + 2 >= len(words) or words[index + 1].value != "-m":
            return None
        server = MODULES.get(words[index + 2].value)
        index += 3
    else:
        server = PROGRAMS.get(program)
        index += 1
    if server is None:
        return None
    invocation = Invocation(
        server, tuple(words[:start]), tuple(words[start:index]), env=env, body=tuple(words[index:])
    )
    if server not in TABLES:
        invocation.positionals = list(words[index:])
        return invocation
    table = TABLES[server]
    rest = list(words[index:])
    if server == "flask":
        # ``flask [group options] run [run options]``: only ``run`` starts a server
        run_at = next((i for i, w in enumerate(rest) if w.value == "run"), None)
        if run_at is None:
            return None
        invocation.head = (*invocation.head, *rest[: run_at + 1])
        read_options(rest[:run_at], table, invocation)
        rest = rest[run_at + 1 :]
    read_options(rest, table, invocation)
    return invocation


def read_options(
    words: Sequence[Word], table: dict[str, tuple[str, bool]], into: Invocation
) -> None:
    index = 0
    while index < len(words):
        word = words[index]
        text = word.value
        if text == "--":
            into.positionals.extend(words[index + 1 :])
            return
        if not text.startswith("-") or text == "-":
            into.positionals.append(word)
            index += 1
            continue
        name, equals, inline = text.partition("=")
        entry = table.get(name)
        if entry is None and not equals and not name.startswith("--") and len(name) > 2:
            entry = table.get(name[:2])  # -w4
            if entry is not None and entry[1]:
                name, inline, equals = name[:2], name[2:], "="
        if entry is None:
            into.unknown.append(name)
            index += 1
            continue
        key, takes = entry
        if not takes:
            into.options.append(Option(key, name, None, (word,)))
            index += 1
        elif equals:
            value = Word(inline, inline, dynamic=word.dynamic)
            into.options.append(Option(key, name, value, (word,)))
            index += 1
        elif index + 1 < len(words):
            into.options.append(Option(key, name, words[index + 1], (word, words[index + 1])))
            index += 2
        else:
            into.unknown.append(name)
            index += 1


@dataclass(frozen=True)
class Bind:
    """Where a server listens: a host and port, a unix socket, or an inherited descriptor."""

    host: Word | None = None
    port: Word | None = None
    uds: Word | None = None
    fd: Word | None = None


def parse_bind(word: Word) -> Bind | None:
    """A gunicorn/uWSGI/waitress address: ``host:port``, ``:port``, ``unix:/path``,
    ``fd://N``, ``*:port``, ``[::1]:port``; None when it cannot be read with certainty."""
    text = word.value
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        return Bind(uds=Word(path, path if word.source == text else shlex.quote(path)))
    if text.startswith("fd://"):
        number = text[len("fd://") :]
        return Bind(fd=Word.literal(number)) if number.isdigit() else None
    parts = split_word(word, ":")
    if parts is None:
        if word.dynamic or not text:
            return None
        return Bind(host=word)  # a host alone: gunicorn's port 8000
    host, port = parts
    if not port.value or (not port.dynamic and not port.value.isdigit()) or host.dynamic:
        return None
    if host.value.startswith("[") and host.value.endswith("]"):
        host = Word.literal(host.value[1:-1])
    if host.value in ("", "*"):
        host = Word.literal("0.0.0.0")
    return Bind(host=host, port=port)


@dataclass(frozen=True)
class AppSpec:
    """``module:attr`` a command serves; ``call`` for a factory (``module:make_app()``)."""

    module: str
    attr: str
    call: bool = False

    @classmethod
    def parse(cls, text: str, default_attr: str = "application") -> AppSpec | None:
        module, _, attr = text.partition(":")
        call = attr.endswith("()")
        attr = attr[:-2] if call else attr
        dotted = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
        if not dotted.match(module) or (attr and not dotted.match(attr)):
            return None
        return cls(module, attr or default_attr, call)

    def text(self) -> str:
        return f"{self.module}:{self.attr}" + ("()" if self.call else "")
