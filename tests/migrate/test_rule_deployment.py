"""Rule ``deployment``: the files that start a project start the migrated app.

Each test writes a small project (a WSGI app and its deployment files), migrates it with the
real CLI (``--out``, with a report) and reads what became of the deployment files. Running
the rewritten commands for real is ``test_rule_deployment_served.py``.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from migrate.cli import main
from migrate.rules.deployment import requirements
from migrate.rules.deployment.commands import find_invocation, parse_bind
from migrate.rules.deployment.words import ShellSyntaxError, Word, shell_segments

APP = """\
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]
"""


def migrate_project(
    tmp_path: Path, files: dict[str, str | bytes], *args: str
) -> tuple[dict[str, str], list[dict[str, Any]], int]:
    """The migrated text of every file, the report's changes (with their path), the exit code."""
    source = tmp_path / "project"
    for name, content in files.items():
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))
    out, report = tmp_path / "out", tmp_path / "report.json"
    result = CliRunner().invoke(
        main,
        [str(source), "--out", str(out), "--report", str(report), "-j", "1", "--no-cache", *args],
        catch_exceptions=False,
    )
    texts = {
        name: (out / name).read_text(errors="replace") for name in files if (out / name).exists()
    }
    data = json.loads(report.read_text())
    changes = [
        {**change, "path": entry["path"].rsplit("project/", 1)[-1]}
        for entry in data["files"]
        for change in entry["changes"]
        if change["rule"] == "deployment"
    ]
    for entry in data["files"]:
        if entry["status"] == "error":
            changes.append(
                {"path": entry["path"].rsplit("project/", 1)[-1], "error": entry["error"]}
            )
    return texts, changes, result.exit_code


def again_changes_nothing(tmp_path: Path, migrated: dict[str, str], *args: str) -> None:
    texts, _, _ = migrate_project(tmp_path / "again", dict(migrated), *args)
    assert texts == migrated


# --------------------------------------------------------------------------- words


def test_shell_words_keep_quotes_spans_and_what_the_shell_expands() -> None:
    text = "cd /app && exec gunicorn -b \"0.0.0.0:$PORT\" 'app:app' --name=a\\ b # comment"
    first, second = shell_segments(text)
    assert [w.value for w in first.words] == ["cd", "/app"]
    assert [w.value for w in second.words] == [
        "exec",
        "gunicorn",
        "-b",
        "0.0.0.0:$PORT",
        "app:app",
        "--name=a b",
    ]
    bind = second.words[3]
    assert bind.dynamic and text[bind.start : bind.end] == '"0.0.0.0:$PORT"'
    assert not second.words[4].dynamic


@pytest.mark.parametrize(
    "text", ["gunicorn 'app:app", "gunicorn app:app <<EOF", "gunicorn $(cat app)"]
)
def test_shell_text_that_cannot_be_read_with_certainty_is_refused(text: str) -> None:
    with pytest.raises(ShellSyntaxError):
        shell_segments(text)


def test_the_server_is_found_behind_wrappers_and_python_m() -> None:
    command = "FOO=1 exec poetry run python3 -m gunicorn -w4 --bind=:80 app:app"
    words = [word for segment in shell_segments(command) for word in segment.words]
    invocation = find_invocation(words)
    assert invocation is not None and invocation.server == "gunicorn"
    assert [w.value for w in invocation.head] == ["python3", "-m", "gunicorn"]
    assert invocation.first("workers").value.value == "4"  # type: ignore[union-attr]
    assert invocation.first("bind").value.value == ":80"  # type: ignore[union-attr]
    assert [w.value for w in invocation.positionals] == ["app:app"]
    assert invocation.env["FOO"].value == "1"
    assert find_invocation([Word.literal("python"), Word.literal("manage.py")]) is None


def test_addresses_are_read_the_servers_way() -> None:
    bind = parse_bind(Word.literal("*:8080"))
    assert bind is not None and (bind.host.value, bind.port.value) == ("0.0.0.0", "8080")  # type: ignore[union-attr]
    assert parse_bind(Word.literal("unix:/run/app.sock")).uds.value == "/run/app.sock"  # type: ignore[union-attr]
    assert parse_bind(Word.literal("fd://3")).fd.value == "3"  # type: ignore[union-attr]
    assert parse_bind(Word("$BIND", "$BIND", dynamic=True)) is None


# --------------------------------------------------------------------------- command files


def test_a_procfile_keeps_gunicorn_with_uvicorn_workers_and_drops_threads(tmp_path: Path) -> None:
    texts, changes, code = migrate_project(
        tmp_path,
        {
            "app.py": APP,
            "Procfile": "web: gunicorn app:app --workers 3 --threads 8 --log-file -\nworker: python worker.py\n",
        },
    )
    assert code == 0
    assert texts["Procfile"] == (
        "web: gunicorn -k uvicorn_worker.UvicornWorker app:app --workers 3 --log-file -\n"
        "worker: python worker.py\n"
    )
    (change,) = changes
    assert change["kind"] == "converted" and change["line"] == 1
    assert "`--threads 8` dropped" in change["message"]
    again_changes_nothing(tmp_path, texts)


def test_a_procfile_moved_to_uvicorn_binds_the_platforms_port(tmp_path: Path) -> None:
    texts, _, _ = migrate_project(
        tmp_path,
        {"app.py": APP, "Procfile": "web: gunicorn app:app -w 2 --keep-alive 10\n"},
        "--server", "uvicorn",
    )  # fmt: skip
    assert texts["Procfile"] == (
        "web: uvicorn app:app --host 0.0.0.0 --port $PORT --workers 2 --timeout-keep-alive 10\n"
    )
    again_changes_nothing(tmp_path, texts, "--server", "uvicorn")


def test_dockerfile_exec_shell_and_sh_c_forms(tmp_path: Path) -> None:
    dockerfile = """\
        FROM python:3.11-slim
        RUN pip install -r requirements.txt
        CMD ["gunicorn", "-b", "0.0.0.0:8000", "-w", "2", "app:app"]
        ENTRYPOINT gunicorn \\
            --bind 0.0.0.0:8000 \\
            app:app
        CMD ["sh", "-c", "exec gunicorn -b 0.0.0.0:$PORT app:app"]
    """
    texts, changes, _ = migrate_project(tmp_path, {"app.py": APP, "Dockerfile": dockerfile})
    assert texts["Dockerfile"] == textwrap.dedent("""\
        FROM python:3.11-slim
        RUN pip install -r requirements.txt
        CMD ["gunicorn", "-k", "uvicorn_worker.UvicornWorker", "-b", "0.0.0.0:8000", "-w", "2", "app:app"]
        ENTRYPOINT gunicorn -k uvicorn_worker.UvicornWorker \\
            --bind 0.0.0.0:8000 \\
            app:app
        CMD ["sh", "-c", "exec gunicorn -k uvicorn_worker.UvicornWorker -b 0.0.0.0:$PORT app:app"]
    """)
    assert [c["line"] for c in changes] == [3, 4, 7]
    again_changes_nothing(tmp_path, texts)


def test_compose_strings_flow_and_block_lists(tmp_path: Path) -> None:
    compose = """\
        services:
          web:
            command: waitress-serve --listen=0.0.0.0:8080 --threads=64 app:app
          api:
            command: ["uwsgi", "--http", ":9090", "--wsgi-file", "app.py", "--callable", "app", "--processes", "4", "--master"]
          admin:
            entrypoint:
              - gunicorn
              - --bind=0.0.0.0:7000  # the admin port
              - app:app
    """
    texts, changes, _ = migrate_project(tmp_path, {"app.py": APP, "docker-compose.yml": compose})
    assert texts["docker-compose.yml"] == textwrap.dedent("""\
        services:
          web:
            command: env WSGI2ASGI_BLOCKING_THREADS=64 uvicorn app:app --host 0.0.0.0 --port 8080 --no-proxy-headers
          api:
            command: ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "9090", "--workers", "4", "--no-proxy-headers"]
          admin:
            entrypoint:
              - gunicorn
              - -k
              - uvicorn_worker.UvicornWorker
              - --bind=0.0.0.0:7000  # the admin port
              - app:app
    """)
    assert "WSGI2ASGI_BLOCKING_THREADS=64" in changes[0]["message"]
    again_changes_nothing(tmp_path, texts)


def test_kubernetes_systemd_supervisord_scripts_and_makefiles(tmp_path: Path) -> None:
    files = {
        "app.py": APP,
        "deploy/web.yaml": """\
            apiVersion: apps/v1
            kind: Deployment
            spec:
              template:
                spec:
                  containers:
                    - name: web
                      command: ["gunicorn", "--workers", "4", "app:app"]
        """,
        "deploy/app.service": "[Service]\nExecStart=/srv/venv/bin/gunicorn --workers 3 --bind unix:/run/app.sock app:app\n",
        "deploy/supervisord.conf": "[program:web]\ncommand=/srv/venv/bin/waitress-serve --port=8001 app:app\n",
        "run.sh": "#!/bin/sh\nset -e\nexec gunicorn app:app -t 60\n",
        "Makefile": "serve:\n\t@gunicorn --reload app:app\n",
    }
    texts, changes, _ = migrate_project(tmp_path, files, "--server", "uvicorn")
    assert texts["deploy/web.yaml"].endswith(
        'command: ["uvicorn", "app:app", "--host", "127.0.0.1", "--port", "8000", "--workers", "4"]\n'
    )
    assert texts["deploy/app.service"] == (
        "[Service]\nExecStart=/srv/venv/bin/uvicorn app:app --uds /run/app.sock --workers 3\n"
    )
    assert texts["deploy/supervisord.conf"] == (
        "[program:web]\ncommand=/srv/venv/bin/uvicorn app:app --host 0.0.0.0 --port 8001 "
        "--no-proxy-headers\n"
    )
    assert (
        texts["run.sh"] == "#!/bin/sh\nset -e\nexec uvicorn app:app --host 127.0.0.1 --port 8000\n"
    )
    assert texts["Makefile"] == "serve:\n\t@uvicorn app:app --host 127.0.0.1 --port 8000 --reload\n"
    by_path = {c["path"]: c["message"] for c in changes}
    assert "`-t 60` dropped" in by_path["run.sh"]
    assert "uvicorn does not read PORT" in by_path["run.sh"]


def test_flask_run_becomes_uvicorn_on_flasks_port(tmp_path: Path) -> None:
    texts, _, _ = migrate_project(
        tmp_path,
        {
            "hello.py": APP.replace("def app", "def app"),
            "Procfile": "web: flask --app hello:app run --debug\n",
        },
    )
    assert texts["Procfile"] == (
        "web: uvicorn hello:app --host 127.0.0.1 --port 5000 --reload --no-proxy-headers\n"
    )


FLASK_MAIN = "from flask import Flask\n\n{name} = Flask(__name__)\n"


@pytest.mark.parametrize(
    ("ini", "main", "after"),
    [
        ("[uwsgi]\nmodule = main\ncallable = app\nhttp = :8080\n", FLASK_MAIN.format(name="app"),
         "[uwsgi]\nmodule = main\n{marker}\ncallable = flask_app\nhttp = :8080\n"),
        ("[uwsgi]\nmodule = main:app\n", FLASK_MAIN.format(name="app"),
         "[uwsgi]\n{marker}\nmodule = main:flask_app\n"),
        # uWSGI's default callable, `application`
        ("[uwsgi]\nmodule = main\n", FLASK_MAIN.format(name="application"),
         "[uwsgi]\n{marker}\nmodule = main\ncallable = flask_app\n"),
        # an app with no WSGI name left (converted): marked only
        ("[uwsgi]\nwsgi-file = main.py\n", APP.replace("def app", "def application"),
         "[uwsgi]\n{marker}\nwsgi-file = main.py\n"),
        # an app of no module of the run: left as it is
        ("[uwsgi]\nmodule = elsewhere\n", FLASK_MAIN.format(name="app"), None),
    ],
)  # fmt: skip
def test_a_uwsgi_ini_whose_app_becomes_asgi_serves_the_wsgi_app_kept_or_is_marked(
    tmp_path: Path, ini: str, main: str, after: str | None
) -> None:
    """uWSGI has no ASGI mode, and the file may be read by a command outside the tree (a
    base image's `uwsgi --ini /app/uwsgi.ini`): it must not hand uWSGI the ASGI app."""
    files = {
        "app/uwsgi.ini": ini,
        "app/main.py": main,
        "Dockerfile": "FROM tiangolo/uwsgi-nginx-flask\n",
    }
    texts, changes, _ = migrate_project(tmp_path, files)
    if after is None:
        assert texts["app/uwsgi.ini"] == ini
        assert not [c for c in changes if c["path"] == "app/uwsgi.ini"]
        return
    marker = next(line for line in texts["app/uwsgi.ini"].splitlines() if "migrate[" in line)
    assert texts["app/uwsgi.ini"] == after.format(marker=marker)
    assert [c["kind"] for c in changes if c["path"] == "app/uwsgi.ini"] == ["manual"]
    assert marker.startswith("# migrate[deployment]: uWSGI, which has no ASGI mode, serves")
    assert ("keeps in `main:flask_app`" in marker) == ("flask_app" in after)
    again_changes_nothing(tmp_path, texts)
    _, again, _ = migrate_project(tmp_path / "later", texts)  # its marker is seen
    assert not [c for c in again if c["path"] == "app/uwsgi.ini"]


@pytest.mark.parametrize(
    ("init", "after"),
    [
        ("from .core import *\n", "gunicorn -k uvicorn_worker.UvicornWorker shop:app"),
        ("from .helpers import *\nfrom .core import *\n",
         "gunicorn -k uvicorn_worker.UvicornWorker shop:app"),
        # core's __all__ leaves `app` out: the package has no `app` from it
        ("from .core import *\n", None),
    ],
)  # fmt: skip
def test_an_app_a_package_re_exports_with_a_star_import_is_followed(
    tmp_path: Path, init: str, after: str | None
) -> None:
    """httpbin's ``gunicorn httpbin:app``: ``httpbin/__init__.py`` is ``from .core import *``."""
    core = "from flask import Flask\n\napp = Flask(__name__)\n"
    if after is None:
        core += '\n__all__ = ["Flask"]\n'
    files = {
        "shop/__init__.py": init,
        "shop/core.py": core,
        "shop/helpers.py": "def helper():\n    return 1\n",
        "Procfile": "web: gunicorn shop:app\n",
    }
    texts, changes, _ = migrate_project(tmp_path, files)
    if after is None:
        assert "which the run cannot show to be an ASGI app" in texts["Procfile"]
        return
    assert texts["Procfile"] == f"web: {after}\n"
    assert [c["kind"] for c in changes if c["path"] == "Procfile"] == ["converted"]


@pytest.mark.parametrize(
    ("command", "args", "after"),
    [
        ("granian --interface wsgi --port 8888 --workers 2 --http 1 app:app", (),
         "granian --interface asgi --port 8888 --workers 2 --http 1 app:app"),
        # its blocking threads are WSGI's alone (granian refuses more than one for ASGI)
        ("granian --interface=wsgi --blocking-threads 64 app:app", (),
         "WSGI2ASGI_BLOCKING_THREADS=64 granian --interface=asgi app:app"),
        ("GRANIAN_INTERFACE=wsgi granian --no-ws app:app", (),
         "GRANIAN_INTERFACE=wsgi granian --interface asgi --no-ws app:app"),
        ("granian --interface wsgi --host 0.0.0.0 --port 8888 --blocking-threads 4 app:app",
         ("--server", "uvicorn"),
         "uvicorn app:app --host 0.0.0.0 --port 8888 --no-proxy-headers"),
        ("granian --interface asgi app:app", (), None),  # ASGI already
        ("granian app:app", (), None),  # RSGI, granian's default
    ],
)  # fmt: skip
def test_granian_serving_a_wsgi_app_serves_it_as_asgi(
    tmp_path: Path, command: str, args: tuple[str, ...], after: str | None
) -> None:
    texts, changes, _ = migrate_project(
        tmp_path, {"app.py": APP, "Procfile": f"web: {command}\n"}, *args
    )
    assert texts["Procfile"] == f"web: {after or command}\n"
    kinds = [c["kind"] for c in changes if c["path"] == "Procfile"]
    assert kinds == (["converted"] if after else [])
    if "blocking-threads 4" in command:
        assert "`--blocking-threads 4` dropped" in changes[-1]["message"]
    again_changes_nothing(tmp_path, texts, *args)


def test_granian_serving_django_or_an_app_left_wsgi(tmp_path: Path) -> None:
    files = {
        "mysite/__init__.py": "",
        "mysite/wsgi.py": DJANGO_WSGI,
        "Makefile": (
            "serve:\n\tgranian --interface wsgi mysite.wsgi:application\n"
            "old:\n\tgranian --interface wsgi elsewhere:app\n"
        ),
    }
    texts, changes, _ = migrate_project(tmp_path, files)
    # Django raises on lifespan events: granian's interface without them
    assert "\tgranian --interface asginl mysite.asgi:application\n" in texts["Makefile"]
    assert "\tgranian --interface wsgi elsewhere:app\n" in texts["Makefile"]
    marked = [c for c in changes if c["path"] == "Makefile" and c["kind"] == "manual"]
    assert (
        "granian serves `elsewhere:app`, which is not a module of this run"
        in (marked[0]["message"])
    )


def test_make_variables_are_words_whose_value_is_not_known(tmp_path: Path) -> None:
    files = {
        "app.py": APP,
        "Makefile": "PORT ?= 8000\n\nprod:\n\tgunicorn -w 4 -b 0.0.0.0:$(PORT) app:app\n"
        "\ndev:\n\tgunicorn -b 127.0.0.1:$$(cat port.txt) app:app\n",
    }
    texts, changes, _ = migrate_project(tmp_path, files)
    assert (
        "\tgunicorn -k uvicorn_worker.UvicornWorker -w 4 -b 0.0.0.0:$(PORT) app:app\n"
        in (texts["Makefile"])
    )
    # $$( is the shell's command substitution (make hands it `$(`): left, marked
    assert "\tgunicorn -b 127.0.0.1:$$(cat port.txt) app:app\n" in texts["Makefile"]
    assert [c["kind"] for c in changes if c["line"] >= 6] == ["manual"]
    again_changes_nothing(tmp_path, texts)


def test_poetry_dependencies_gain_what_the_run_needs(tmp_path: Path) -> None:
    pyproject = """\
        [tool.poetry]
        name = "shop"

        [tool.poetry.dependencies]
        python = "^3.10"
        gunicorn = "^23.0.0"

        [tool.poetry.group.dev.dependencies]
        pytest = "^8"
    """
    files = {"app.py": APP, "Procfile": "web: gunicorn app:app\n", "pyproject.toml": pyproject}
    texts, changes, _ = migrate_project(tmp_path, files)
    assert (
        'gunicorn = "^23.0.0"\nuvicorn-worker = ">=0.4"\nwsgi2asgi = "*"\n\n[tool.poetry.group'
        in (texts["pyproject.toml"])
    )
    assert [c["kind"] for c in changes if c["path"] == "pyproject.toml"] == ["converted"]
    # with a lock file, what was added is not installed until it is renewed: said there
    locked, changes, _ = migrate_project(
        tmp_path / "locked", {**files, "poetry.lock": "# locked\n"}
    )
    assert (
        "# migrate[deployment]: poetry.lock does not list what was added yet: run `poetry lock`"
        '\nuvicorn-worker = ">=0.4"\n'
    ) in locked["pyproject.toml"]
    assert [c["kind"] for c in changes if c["path"] == "pyproject.toml"] == ["converted", "manual"]
    again_changes_nothing(tmp_path, locked)


def test_poetry_groups_listing_pytest_gain_the_test_plugins() -> None:
    text = textwrap.dedent(
        """\
        [tool.poetry.dependencies]
        flask = "^3"

        [tool.poetry.group.dev.dependencies]
        pytest = "^8"

        [tool.poetry.group.lint.dependencies]
        ruff = "*"
        """
    )
    new, added = requirements.add_to_pyproject_tests(text, ["pytest-asyncio"])
    assert added == ["pytest-asyncio"]
    assert 'pytest = "^8"\npytest-asyncio = "*"\n\n[tool.poetry.group.lint' in new
    assert requirements.add_to_pyproject(new, ["quart"])[0].startswith(
        '[tool.poetry.dependencies]\nflask = "^3"\nquart = "*"\n'
    )


# --------------------------------------------------------------------------- what stays


def test_an_app_the_run_leaves_wsgi_keeps_its_server_with_a_marker(tmp_path: Path) -> None:
    files = {"app.py": APP, "Procfile": "web: gunicorn app:app\n"}
    texts, changes, _ = migrate_project(tmp_path, files, "--select", "deployment")
    assert texts["Procfile"] == (
        "# migrate[deployment]: gunicorn serves `app:app`, which stays a WSGI app after the "
        "run: the command keeps its WSGI server\nweb: gunicorn app:app\n"
    )
    assert [c["kind"] for c in changes] == ["manual"]
    again_changes_nothing(tmp_path, texts, "--select", "deployment")


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("gunicorn elsewhere:app", "is not a module of this run"),
        ("gunicorn --frobnicate app:app", "options this tool does not know (--frobnicate)"),
        ("gunicorn $APP_MODULE", "which this tool cannot look up"),
        ("waitress-serve --unix-socket=/tmp/s --listen=:80 app:app", "more than one address"),
        ("gunicorn --daemon app:app", None),
        ("gunicorn 'app:app", "cannot read with certainty"),
        ("uwsgi /code/etc/uwsgi.ini", "its settings are in `/code/etc/uwsgi.ini`, not a file of"),
        # websockets through gevent-websocket: a uvicorn worker would refuse every one
        (
            "gunicorn -k geventwebsocket.gunicorn.workers.GeventWebSocketWorker app:app",
            "answers websockets through the worker's own socket (gevent-websocket)",
        ),
    ],
)
def test_what_cannot_be_rewritten_with_certainty_is_marked_and_left(
    tmp_path: Path, command: str, reason: str | None
) -> None:
    texts, changes, _ = migrate_project(tmp_path, {"app.py": APP, "Procfile": f"web: {command}\n"})
    if reason is None:  # gunicorn keeps its own options: --daemon carries over
        assert (
            texts["Procfile"]
            == f"web: {command.replace('gunicorn', 'gunicorn -k uvicorn_worker.UvicornWorker')}\n"
        )
        return
    marker, line = texts["Procfile"].splitlines()
    assert line == f"web: {command}"
    assert marker.startswith("# migrate[deployment]: ") and reason in marker
    assert [c["kind"] for c in changes] == ["manual"]


def test_options_uvicorn_cannot_follow_leave_the_command_alone(tmp_path: Path) -> None:
    texts, changes, _ = migrate_project(
        tmp_path,
        {"app.py": APP, "Procfile": "web: gunicorn --user www app:app\n"},
        "--server",
        "uvicorn",
    )
    assert texts["Procfile"].endswith("web: gunicorn --user www app:app\n")
    assert "it switches user" in changes[0]["message"]


def test_asgi_servers_are_left_and_the_deprecated_uvicorn_worker_is_renamed(tmp_path: Path) -> None:
    files = {
        "app.py": APP,
        "Procfile": "web: uvicorn app:app\nold: gunicorn -k uvicorn.workers.UvicornWorker app:app\n",
    }
    texts, changes, _ = migrate_project(tmp_path, files)
    assert texts["Procfile"] == (
        "web: uvicorn app:app\nold: gunicorn -k uvicorn_worker.UvicornWorker app:app\n"
    )
    assert "deprecated" in changes[0]["message"]


def test_a_file_that_cannot_be_decoded_is_an_error_and_the_rest_is_done(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "app.py": APP,
        "Procfile": b"web: gunicorn app:app \xff\xfe\n",
        "run.sh": "gunicorn app:app\n",
    }
    texts, changes, code = migrate_project(tmp_path, files)
    assert code == 3
    assert any(c.get("path") == "Procfile" and "decode" in c["error"] for c in changes)
    assert texts["run.sh"] == "gunicorn -k uvicorn_worker.UvicornWorker app:app\n"


# --------------------------------------------------------------------------- Django, configs


DJANGO_WSGI = """\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
application = get_wsgi_application()
"""


def test_django_commands_serve_the_asgi_module(tmp_path: Path) -> None:
    files = {
        "mysite/__init__.py": "",
        "mysite/wsgi.py": DJANGO_WSGI,
        "Procfile": "web: gunicorn mysite.wsgi --log-file -\n",
        "run.sh": "gunicorn mysite.wsgi:application -b 127.0.0.1:8000\n",
        "gunicorn.conf.py": "wsgi_app = \"mysite.wsgi:application\"\nworker_class = 'sync'\nthreads = 4\n",
    }
    texts, _, _ = migrate_project(tmp_path, files)
    assert texts["Procfile"] == (
        "web: gunicorn -k uvicorn_worker.UvicornWorker mysite.asgi:application --log-file -\n"
    )
    assert texts["gunicorn.conf.py"] == (
        "wsgi_app = \"mysite.asgi:application\"\nworker_class = 'uvicorn_worker.UvicornWorker'\n"
        "threads = 4\n"
    )
    uvicorn_texts, _, _ = migrate_project(tmp_path / "u", files, "--server", "uvicorn")
    assert uvicorn_texts["run.sh"] == (
        "uvicorn mysite.asgi:application --host 127.0.0.1 --port 8000 --lifespan off\n"
    )


def test_a_django_project_serving_static_files_from_wsgi_py_moves_too(tmp_path: Path) -> None:
    # asgi.py gets ServeStatic's ASGI app in WhiteNoise's place: an ASGI app all the same
    wsgi = DJANGO_WSGI + (
        "from whitenoise import WhiteNoise\n\n"
        'application = WhiteNoise(application, root="/srv/static", prefix="static/")\n'
    )
    files = {
        "mysite/__init__.py": "",
        "mysite/wsgi.py": wsgi,
        "Procfile": "web: gunicorn mysite.wsgi:application\n",
    }
    texts, _, _ = migrate_project(tmp_path, files)
    created = (tmp_path / "out" / "mysite" / "asgi.py").read_text()
    assert "application = ServeStaticASGI(application, " in created
    assert texts["Procfile"] == (
        "web: gunicorn -k uvicorn_worker.UvicornWorker mysite.asgi:application\n"
    )


def test_a_gunicorn_config_used_by_a_converted_command_gets_uvicorn_workers(tmp_path: Path) -> None:
    files = {
        "app.py": APP,
        "Procfile": "web: gunicorn -c gunicorn_config.py app:app\n",
        "gunicorn_config.py": "bind = '0.0.0.0:8000'\nworkers = 2\n",
    }
    texts, changes, _ = migrate_project(tmp_path, files)
    assert texts["gunicorn_config.py"] == (
        "bind = '0.0.0.0:8000'\nworkers = 2\nworker_class = 'uvicorn_worker.UvicornWorker'\n"
    )
    assert {c["path"] for c in changes} == {"Procfile", "gunicorn_config.py"}
    again_changes_nothing(tmp_path, texts)


def test_requirements_and_pyproject_gain_what_the_migrated_project_needs(tmp_path: Path) -> None:
    files = {
        "app.py": APP,
        "Procfile": "web: gunicorn app:app\n",
        "requirements.txt": "flask==3.0\ngunicorn==21.2",
        "requirements-dev.txt": "pytest\n",
        "pyproject.toml": '[project]\nname = "x"\ndependencies = [\n    "gunicorn>=21",\n]\n',
    }
    texts, _, _ = migrate_project(tmp_path, files)
    assert texts["requirements.txt"] == (
        "flask==3.0\ngunicorn==21.2\nuvicorn-worker>=0.4\nwsgi2asgi\n"
    )
    assert texts["requirements-dev.txt"] == "pytest\n"
    assert texts["pyproject.toml"] == (
        '[project]\nname = "x"\ndependencies = [\n    "gunicorn>=21",\n'
        '    "uvicorn-worker>=0.4",\n    "wsgi2asgi",\n]\n'
    )
    again_changes_nothing(tmp_path, texts)


FLASK_APP = """
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return "hi"
"""
FLASK_TESTS = """
import pytest

from app import app


@pytest.fixture
def client():
    return app.test_client()


def test_index(client):
    assert client.get("/").data == b"hi"
"""


def test_the_test_dependencies_gain_the_plugin_the_migrated_tests_need(tmp_path: Path) -> None:
    pyproject = (
        '[project]\nname = "x"\ndependencies = ["flask"]\n\n'
        '[project.optional-dependencies]\ntest = ["pytest", "coverage"]\ndocs = ["sphinx"]\n\n'
        '[dependency-groups]\ndev = [\n    "pytest>=8",\n]\nlint = ["ruff"]\n'
    )
    files = {
        "app.py": FLASK_APP,
        "tests/test_app.py": FLASK_TESTS,
        "requirements.txt": "flask\n",
        "requirements-dev.txt": "pytest\n",
        "pyproject.toml": pyproject,
    }
    texts, changes, _ = migrate_project(tmp_path, files, "--enable", "flask-quart")
    assert "@pytest.mark.asyncio" in texts["tests/test_app.py"]
    assert texts["requirements-dev.txt"] == "pytest\npytest-asyncio\n"
    assert texts["pyproject.toml"] == pyproject.replace(
        'test = ["pytest", "coverage"]', 'test = ["pytest", "coverage", "pytest-asyncio"]'
    ).replace('    "pytest>=8",\n', '    "pytest>=8",\n    "pytest-asyncio",\n')
    assert texts["requirements.txt"] == "flask\nquart\n"  # the app's own dependency
    assert {c["path"] for c in changes} == {
        "requirements.txt",
        "requirements-dev.txt",
        "pyproject.toml",
    }
    again_changes_nothing(tmp_path, texts)


def test_settings_in_config_files_come_along_to_another_server(tmp_path: Path) -> None:
    files = {
        "app.py": APP,
        "uwsgi.ini": "[uwsgi]\nmodule = app:app\nhttp = :8080\nprocesses = 4\nthreads = 2\nmaster = true\n",
        "run.sh": "uwsgi --ini uwsgi.ini\n",
        "web/app.py": APP,
        "web/gunicorn.conf.py": "bind = ['127.0.0.1:9000']\nworkers = 3\nkeepalive = 5\n",
        "web/Procfile": "web: gunicorn app:app --workers 2\n",
    }
    texts, changes, _ = migrate_project(tmp_path, files, "--server", "uvicorn")
    assert texts["run.sh"] == (
        "uvicorn app:app --host 0.0.0.0 --port 8080 --workers 4 --no-proxy-headers\n"
    )
    # the command line wins over the file it reads, as under gunicorn
    assert texts["web/Procfile"] == (
        "web: uvicorn app:app --host 127.0.0.1 --port 9000 --workers 2 --timeout-keep-alive 5\n"
    )
    messages = {c["path"]: c["message"] for c in changes}
    assert "the settings of `uwsgi.ini` are on the command line now" in messages["run.sh"]


def test_a_config_file_computed_at_run_time_keeps_the_command(tmp_path: Path) -> None:
    files = {
        "app.py": APP,
        "gunicorn.conf.py": "import os\nworkers = int(os.environ.get('WEB_CONCURRENCY', 2))\n"
        "def post_fork(server, worker):\n    pass\n",
        "Procfile": "web: gunicorn app:app\n",
    }
    texts, changes, _ = migrate_project(tmp_path, files, "--server", "uvicorn")
    assert texts["Procfile"].endswith("web: gunicorn app:app\n")
    message = next(c["message"] for c in changes if c["path"] == "Procfile")
    assert "computes `workers` at run time" in message and "hook `post_fork`" in message
    # with gunicorn kept, the file is gunicorn's to read: only its worker class changes
    kept, _, _ = migrate_project(tmp_path / "kept", files)
    assert kept["Procfile"] == "web: gunicorn -k uvicorn_worker.UvicornWorker app:app\n"
    assert kept["gunicorn.conf.py"].endswith('worker_class = "uvicorn_worker.UvicornWorker"\n')


def test_check_and_write_cover_deployment_files(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "Procfile").write_text("web: gunicorn app:app\n")
    runner = CliRunner()
    check = runner.invoke(main, [str(tmp_path), "--check", "-j", "1", "--no-cache"])
    assert check.exit_code == 1 and "Procfile" in check.output
    write = runner.invoke(main, [str(tmp_path), "--write", "-j", "1", "--no-cache"])
    assert write.exit_code == 0
    assert (
        tmp_path / "Procfile"
    ).read_text() == "web: gunicorn -k uvicorn_worker.UvicornWorker app:app\n"
    again = runner.invoke(main, [str(tmp_path), "--check", "-j", "1", "--no-cache"])
    assert again.exit_code == 0, again.output


def test_ignoring_the_rule_leaves_deployment_files_alone(tmp_path: Path) -> None:
    texts, changes, _ = migrate_project(
        tmp_path, {"app.py": APP, "Procfile": "web: gunicorn app:app\n"}, "--ignore", "deployment"
    )
    assert texts["Procfile"] == "web: gunicorn app:app\n" and changes == []


def test_commands_inside_quoted_strings_app_yaml_and_fly_toml(tmp_path: Path) -> None:
    files = {
        "app.py": APP,
        "app.yaml": 'runtime: python312\nentrypoint: "gunicorn -b :$PORT app:app"\n',
        "fly.toml": textwrap.dedent("""\
            app = "notes"

            [processes]
              web = "gunicorn app:app --bind 0.0.0.0:8080"  # the web process
              jobs = 'python jobs.py'

            [experimental]
              cmd = ["waitress-serve", "--port=8080", "app:app"]
        """),
        "compose.yaml": "services:\n  web:\n    command: 'sh -c \"gunicorn app:app && gunicorn app:app\"'\n",
    }
    texts, changes, _ = migrate_project(tmp_path, files)
    assert texts["app.yaml"] == (
        'runtime: python312\nentrypoint: "gunicorn -k uvicorn_worker.UvicornWorker -b :$PORT app:app"\n'
    )
    assert (
        '  web = "gunicorn -k uvicorn_worker.UvicornWorker app:app --bind 0.0.0.0:8080"  # the web process\n'
        in texts["fly.toml"]
    )
    assert (
        '  cmd = ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8080", "--no-proxy-headers"]\n'
        in texts["fly.toml"]
    )
    assert "jobs = 'python jobs.py'" in texts["fly.toml"]
    assert [c["kind"] for c in changes if c["path"] == "compose.yaml"] == ["converted", "converted"]
    assert texts["compose.yaml"].count("uvicorn_worker.UvicornWorker") == 2
    again_changes_nothing(tmp_path, texts)


def test_scripts_without_a_suffix_are_read_by_their_shebang(tmp_path: Path) -> None:
    start = "#!/usr/bin/env bash\nset -e\npython manage.py migrate\nexec gunicorn app:app --bind 0.0.0.0:5000\n"
    files = {"app.py": APP, "compose/start": start, "LICENSE": "gunicorn app:app\n"}
    texts, changes, _ = migrate_project(tmp_path, files)
    assert texts["compose/start"].endswith(
        "exec gunicorn -k uvicorn_worker.UvicornWorker app:app --bind 0.0.0.0:5000\n"
    )
    assert texts["LICENSE"] == "gunicorn app:app\n"
    assert {c["path"] for c in changes} == {"compose/start"}


def test_a_command_split_over_two_keys_is_read_and_written_as_one(tmp_path: Path) -> None:
    manifest = """\
        apiVersion: apps/v1
        kind: Deployment
        spec:
          template:
            spec:
              containers:
                - name: web
                  command: ["gunicorn"]
                  image: shop:1.0  # between the two lists, kept
                  args:
                    - --bind=0.0.0.0:8000
                    - --threads=8
                    - app:app
                - name: worker
                  command: ["python", "worker.py"]
                  args: ["--queue", "default"]
    """
    compose = """\
        services:
          web:
            entrypoint: ["waitress-serve"]
            command: ["--port=8080", "app:app"]
    """
    files = {"app.py": APP, "deploy/web.yaml": manifest, "compose.yaml": compose}
    texts, changes, _ = migrate_project(tmp_path, files)
    item = "            - "  # the args items, as dedented
    assert texts["deploy/web.yaml"] == textwrap.dedent(manifest).replace(
        f"{item}--bind=0.0.0.0:8000\n{item}--threads=8\n",
        f"{item}-k\n{item}uvicorn_worker.UvicornWorker\n{item}--bind=0.0.0.0:8000\n",
    )
    assert texts["compose.yaml"].endswith(
        '    entrypoint: ["uvicorn"]\n'
        '    command: ["app:app", "--host", "0.0.0.0", "--port", "8080", "--no-proxy-headers"]\n'
    )
    assert [c["kind"] for c in changes] == ["converted", "converted"]
    again_changes_nothing(tmp_path, texts)


def test_a_dockerfile_entrypoint_and_its_cmd_are_one_command(tmp_path: Path) -> None:
    dockerfile = """\
        FROM python:3.12 AS build
        CMD ["python", "-m", "build"]

        FROM python:3.12-slim
        ENTRYPOINT ["gunicorn"]
        EXPOSE 8000
        CMD ["-b", "0.0.0.0:8000", "--threads", "4", "app:app"]
    """
    texts, changes, _ = migrate_project(tmp_path, {"app.py": APP, "Dockerfile": dockerfile})
    assert texts["Dockerfile"] == textwrap.dedent(dockerfile).replace(
        'CMD ["-b", "0.0.0.0:8000", "--threads", "4", "app:app"]',
        'CMD ["-k", "uvicorn_worker.UvicornWorker", "-b", "0.0.0.0:8000", "app:app"]',
    )
    assert [c["line"] for c in changes] == [5]
    again_changes_nothing(tmp_path, texts)


def test_an_entrypoint_script_that_runs_cmd_leaves_cmd_read_alone(tmp_path: Path) -> None:
    dockerfile = """\
        FROM python:3.12-slim
        ENTRYPOINT ["/srv/docker-entrypoint.sh"]
        CMD ["gunicorn", "-b", "0.0.0.0:8000", "app:app"]
    """
    texts, _, _ = migrate_project(tmp_path, {"app.py": APP, "Dockerfile": dockerfile})
    assert texts["Dockerfile"].endswith(
        'CMD ["gunicorn", "-k", "uvicorn_worker.UvicornWorker", "-b", "0.0.0.0:8000", "app:app"]\n'
    )


def test_a_compose_service_runs_its_app_from_its_build_folder(tmp_path: Path) -> None:
    files = {
        "web/app.py": APP,
        "web/requirements.txt": "Flask==1.1.1\ngunicorn==20.0.4\n",
        "other/app.py": APP,  # a second app.py: the build folder tells them apart
        "compose.yaml": """\
            services:
              web:
                build:
                  context: web
                command: gunicorn -w 3 -b 0.0.0.0:8000 app:app
        """,
    }
    texts, changes, _ = migrate_project(tmp_path, files)
    assert "command: gunicorn -k uvicorn_worker.UvicornWorker -w 3" in texts["compose.yaml"]
    # uvicorn-worker cannot install beside gunicorn 20: the pin is marked, not changed
    assert texts["web/requirements.txt"] == (
        "Flask==1.1.1\n# migrate[deployment]: uvicorn-worker needs gunicorn>=21: raise this pin\n"
        "gunicorn==20.0.4\nuvicorn-worker>=0.4\nwsgi2asgi\n"
    )
    assert ("web/requirements.txt", "manual") in {(c["path"], c["kind"]) for c in changes}
    again_changes_nothing(tmp_path, texts)


def test_flask_run_takes_its_app_and_address_from_the_dockerfiles_env(tmp_path: Path) -> None:
    dockerfile = """\
        FROM python:3.12-slim
        ENV FLASK_APP hello.py
        ENV FLASK_RUN_PORT=8000 FLASK_RUN_HOST=0.0.0.0
        CMD ["flask", "run"]
    """
    hello = APP.replace("def app(", "def server(")  # flask finds the module's one app
    texts, _, _ = migrate_project(tmp_path, {"hello.py": hello, "Dockerfile": dockerfile})
    assert texts["Dockerfile"].endswith(
        'CMD ["uvicorn", "hello:server", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers"]\n'
    )


def test_a_stage_built_from_another_keeps_its_env(tmp_path: Path) -> None:
    dockerfile = """\
        FROM --platform=$BUILDPLATFORM python:3.12-slim AS builder
        ENV FLASK_APP hello.py
        ENV FLASK_RUN_PORT=8000 FLASK_RUN_HOST=0.0.0.0
        CMD ["flask", "run"]

        FROM builder AS dev-envs
        RUN pip install debugpy
        CMD ["flask", "run"]

        FROM python:3.12-slim AS other
        CMD ["flask", "run"]
    """
    hello = APP.replace("def app(", "def server(")
    texts, changes, _ = migrate_project(tmp_path, {"hello.py": hello, "Dockerfile": dockerfile})
    uvicorn = 'CMD ["uvicorn", "hello:server", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers"]'
    assert texts["Dockerfile"].count(uvicorn) == 2  # the builder's stage and the one built on it
    assert [c["kind"] for c in changes if c["path"] == "Dockerfile"].count("manual") == 1  # other


def test_a_bug_on_one_deployment_file_costs_that_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from migrate.rules.deployment import formats

    def broken(text: str) -> Any:
        raise IndexError("a bug")

    monkeypatch.setitem(formats.FORMATS, "procfile", formats.Format("Procfile", "# ", broken))
    files = {"app.py": APP, "Procfile": "web: gunicorn app:app\n", "run.sh": "gunicorn app:app\n"}
    texts, changes, code = migrate_project(tmp_path, files)
    assert code == 3
    assert any(c.get("path") == "Procfile" and "internal error" in c["error"] for c in changes)
    assert texts["run.sh"] == "gunicorn -k uvicorn_worker.UvicornWorker app:app\n"


FLASK_APP_MODULE = """\
from flask import Flask

app = Flask(__name__)
"""


def test_flask_app_settings_name_the_flask_app_the_run_keeps(tmp_path: Path) -> None:
    files = {
        "web.py": FLASK_APP_MODULE,
        ".flaskenv": "FLASK_APP=web.py:app\nFLASK_DEBUG=1\n",
        ".env.dev": "FLASK_APP=web:app\n",
        "Dockerfile": "FROM python:3.11\nENV FLASK_APP web:app\nRUN flask --app web:app db upgrade\n",
        "docker-compose.yml": "services:\n  web:\n    environment:\n      FLASK_APP: web:app\n",
        # another app, or an app that stays a Flask app: left as they are
        "other.sh": "#!/bin/sh\nexport FLASK_APP=web:create_app\ncelery -A web:app worker\n",
    }
    texts, changes, _ = migrate_project(tmp_path, files)
    assert texts[".flaskenv"] == "FLASK_APP=web.py:flask_app\nFLASK_DEBUG=1\n"
    assert texts[".env.dev"] == "FLASK_APP=web:flask_app\n"
    assert (
        "ENV FLASK_APP web:flask_app\nRUN flask --app web:flask_app db upgrade\n"
        in texts["Dockerfile"]
    )
    assert "FLASK_APP: web:flask_app" in texts["docker-compose.yml"]
    assert texts["other.sh"] == files["other.sh"]
    renamed = [c for c in changes if "Flask's command line cannot load" in c.get("message", "")]
    assert sorted(c["path"] for c in renamed) == [
        ".env.dev",
        ".flaskenv",
        "Dockerfile",
        "Dockerfile",
        "docker-compose.yml",
    ]
    assert {c["kind"] for c in renamed} == {"converted"}
    again_changes_nothing(tmp_path, texts)


def test_an_env_file_that_is_no_text_is_left_alone(tmp_path: Path) -> None:
    # read for FLASK_APP only: latin-1 secrets are not an error of the run
    _, changes, code = migrate_project(
        tmp_path, {"web.py": FLASK_APP_MODULE, ".env": b"SECRET=caf\xe9\nFLASK_APP=web:app\n"}
    )
    assert code == 0 and not [c for c in changes if c["path"] == ".env"]
    assert (tmp_path / "out" / ".env").read_bytes() == b"SECRET=caf\xe9\nFLASK_APP=web:app\n"
