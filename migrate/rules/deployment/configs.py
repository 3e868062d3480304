"""Server config files read as the command-line options they stand for.

A command may keep its settings in a file: gunicorn's ``-c gunicorn.conf.py`` (or the
``gunicorn.conf.py`` it reads from its folder by default), uWSGI's ``--ini uwsgi.ini``. Moved
to another server, those settings must come along, so the file is read into the option words
the command line would hold (``workers = 4`` -> ``--workers 4``) and the command is rewritten
from both. Only what is certain is read: a gunicorn setting computed at run time
(``os.environ.get(...)``), a server hook (``def post_fork(...)``) or a uWSGI option the table
does not know make the file a *blocker*: the command stays as it is, marked.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from migrate.rules.deployment.words import Word

#: gunicorn settings -> the command-line option carrying them ("" for the app itself).
GUNICORN_SETTINGS = {
    "bind": "--bind", "workers": "--workers", "worker_class": "--worker-class",
    "threads": "--threads", "worker_connections": "--worker-connections", "timeout": "--timeout",
    "graceful_timeout": "--graceful-timeout", "keepalive": "--keep-alive",
    "max_requests": "--max-requests", "max_requests_jitter": "--max-requests-jitter",
    "forwarded_allow_ips": "--forwarded-allow-ips", "certfile": "--certfile",
    "keyfile": "--keyfile", "ca_certs": "--ca-certs", "loglevel": "--log-level",
    "logconfig": "--log-config", "accesslog": "--access-logfile", "errorlog": "--error-logfile",
    "access_log_format": "--access-logformat", "chdir": "--chdir", "pythonpath": "--pythonpath",
    "reload": "--reload", "preload_app": "--preload", "backlog": "--backlog",
    "proc_name": "--name", "pidfile": "--pid", "daemon": "--daemon", "user": "--user",
    "group": "--group", "umask": "--umask", "raw_env": "--env", "reuse_port": "--reuse-port",
    "capture_output": "--capture-output", "worker_tmp_dir": "--worker-tmp-dir",
    "limit_request_line": "--limit-request-line", "limit_request_fields": "--limit-request-fields",
    "limit_request_field_size": "--limit-request-field_size", "root_path": "--root-path",
    "proxy_protocol": "--proxy-protocol", "proxy_allow_ips": "--proxy-allow-from",
    "statsd_host": "--statsd-host", "statsd_prefix": "--statsd-prefix",
    "sendfile": "", "wsgi_app": "",
}  # fmt: skip
#: Boolean settings: the option appears when the setting is true.
_GUNICORN_FLAGS = frozenset(
    {"reload", "preload_app", "daemon", "reuse_port", "capture_output", "proxy_protocol"}
)


@dataclass
class ConfigOptions:
    """What a config file says, as command-line words, or why it cannot be read."""

    words: list[Word] = field(default_factory=list)
    #: The app it names (gunicorn's ``wsgi_app``, uWSGI's ``module``).
    app: Word | None = None
    blockers: list[str] = field(default_factory=list)


def gunicorn_options(text: str, name: str) -> ConfigOptions:
    """The settings of a gunicorn config file (Python) as gunicorn options."""
    found = ConfigOptions()
    try:
        module = ast.parse(text)
    except SyntaxError:
        found.blockers.append(f"{name} does not parse")
        return found
    for stmt in module.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Expr)):
            continue  # imports, docstrings
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.blockers.append(f"{name} defines the server hook `{stmt.name}`")
            continue
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            found.blockers.append(f"{name} has code this tool does not read (line {stmt.lineno})")
            continue
        setting = stmt.targets[0].id
        try:
            value = ast.literal_eval(stmt.value)
        except ValueError:
            found.blockers.append(f"{name} computes `{setting}` at run time")
            continue
        option = GUNICORN_SETTINGS.get(setting)
        if option is None:
            found.blockers.append(f"{name} sets `{setting}`, which this tool does not know")
        elif setting == "wsgi_app" and isinstance(value, str):
            found.app = Word.literal(value)
        elif setting in _GUNICORN_FLAGS:
            if value:
                found.words.append(Word.literal(option))
        elif option:
            for item in value if isinstance(value, (list, tuple)) else [value]:
                found.words += [Word.literal(option), Word.literal(str(item))]
    return found


def uwsgi_ini_options(text: str, name: str) -> ConfigOptions:
    """The ``[uwsgi]`` section of an ini file as uWSGI options (``key = value`` ->
    ``--key=value``; a false flag left out)."""
    found = ConfigOptions()
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
            continue
        if section != "uwsgi":
            continue
        key, equals, value = stripped.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or "%" in value or "$(" in value:
            found.blockers.append(f"{name} has `{stripped}`, which this tool cannot read")
            continue
        if value.lower() not in ("false", "no", "off"):
            found.words.append(Word.literal(f"--{key}={value}"))
    return found
