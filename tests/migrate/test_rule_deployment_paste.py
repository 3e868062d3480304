"""PasteDeploy projects: ``pserve x.ini`` and ``gunicorn --paste x.ini`` serve a module the
run writes beside the ini file (served for real in ``test_rule_deployment_served.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.migrate.test_rule_deployment import again_changes_nothing, migrate_project

INI = """\
[app:main]
use = egg:shelf

[server:main]
use = egg:waitress#main
{server}

[loggers]
keys = root
"""


def project(procfile: str, server: str = "listen = *:6543", **files: str) -> dict[str, str]:
    return {"production.ini": INI.format(server=server), "Procfile": f"web: {procfile}\n", **files}


@pytest.mark.parametrize(
    ("command", "server", "after"),
    [
        ("pserve production.ini", "listen = *:6543",
         "uvicorn production_asgi:app --host 0.0.0.0 --port 6543"),
        ("pserve production.ini --reload", "listen = localhost:6543",
         "uvicorn production_asgi:app --host localhost --port 6543 --reload"),
        ("/venv/bin/pserve production.ini", "host = 127.0.0.1\nport = 8080\nthreads = 8",
         "/venv/bin/uvicorn production_asgi:app --host 127.0.0.1 --port 8080"),
        ("pserve production.ini --server-name main -n main", "listen = *:6543",
         "uvicorn production_asgi:app --host 0.0.0.0 --port 6543"),
        ("gunicorn --paste production.ini -w 3 -b :$PORT",  "listen = *:6543",
         "gunicorn -k uvicorn_worker.UvicornWorker -w 3 -b :$PORT --log-config production.ini "
         "production_asgi:app"),
        ("gunicorn --paster=production.ini#api --log-config log.ini", "listen = *:6543",
         "gunicorn -k uvicorn_worker.UvicornWorker --log-config log.ini production_api_asgi:app"),
    ],
)  # fmt: skip
def test_commands_serve_the_module_written_for_their_ini(
    tmp_path: Path, command: str, server: str, after: str
) -> None:
    files = project(command, server)
    if "#api" in command:
        files["production.ini"] += "\n[app:api]\nuse = egg:shelf#api\n"
    texts, changes, _ = migrate_project(tmp_path, files)
    assert texts["Procfile"] == f"web: {after}\n"
    module = "production_api_asgi.py" if "#api" in command else "production_asgi.py"
    created = (tmp_path / "out" / module).read_text()
    assert "from adapters import WsgiToAsgi" in created
    name = "api" if "#api" in command else "main"
    assert f'loadapp("config:" + CONFIG, name="{name}")' in created
    assert "logging.config.fileConfig(" in created  # the ini has [loggers]
    kinds = {c["path"]: c["kind"] for c in changes}
    assert kinds["Procfile"] == "adapted" and kinds[module] == "adapted"
    again_changes_nothing(tmp_path, {**texts, module: created})


@pytest.mark.parametrize(
    ("command", "server", "reason"),
    [
        ("pserve production.ini http_port=8080", "listen = *:6543", "fills the file's variables"),
        ("pserve production.ini", "listen = *:%(http_port)s", "from a variable"),
        ("pserve production.ini", "listen = *:6543\nurl_scheme = https", "url-scheme"),
        ("pserve production.ini", "listen = *:6543 [::]:6543", "more than one address"),
        ("pserve other.ini", "listen = *:6543", "not a file of this tree"),
        ("pserve ../production.ini", "listen = *:6543", "not an ini file of this tree"),
        ("pserve production.ini#nope", "listen = *:6543", "no [app:nope] section"),
        ("pserve production.ini --server-name=alt", "listen = *:6543", "no [server:alt]"),
    ],
)  # fmt: skip
def test_what_cannot_be_carried_keeps_the_command_with_a_marker(
    tmp_path: Path, command: str, server: str, reason: str
) -> None:
    texts, changes, _ = migrate_project(tmp_path, project(command, server))
    marker, line = texts["Procfile"].splitlines()
    assert line == f"web: {command}"
    assert marker.startswith("# migrate[deployment]: pserve: ") and reason in marker
    assert [c["kind"] for c in changes] == ["manual"]
    assert not (tmp_path / "out" / "production_asgi.py").exists()


def test_another_server_section_or_a_module_of_that_name_keeps_the_command(
    tmp_path: Path,
) -> None:
    files = project("pserve production.ini")
    files["production.ini"] = files["production.ini"].replace("egg:waitress#main", "egg:gunicorn")
    texts, changes, _ = migrate_project(tmp_path, files)
    assert "runs `egg:gunicorn`" in changes[0]["message"]
    files = project("pserve production.ini", production_asgi="")
    files["production_asgi.py"] = files.pop("production_asgi")
    texts, changes, _ = migrate_project(tmp_path / "mine", files)
    assert "exists already" in changes[0]["message"]
    assert texts["production_asgi.py"] == ""  # the user's file is not replaced


@pytest.mark.parametrize(
    ("command", "uwsgi", "after"),
    [
        ("uwsgi --ini-paste-logged production.ini", "http = 0.0.0.0:6543\nprocesses = 4",
         "uvicorn production_asgi:app --host 0.0.0.0 --port 6543 --workers 4"),
        ("uwsgi --ini-paste production.ini --http :8080", "master = true",
         "uvicorn production_asgi:app --host 0.0.0.0 --port 8080"),
        ("uwsgi --ini-paste production.ini", "socket = /tmp/uwsgi.sock", None),
    ],
)  # fmt: skip
def test_uwsgi_ini_paste_serves_the_module_with_the_ini_settings(
    tmp_path: Path, command: str, uwsgi: str, after: str | None
) -> None:
    files = project(command)
    files["production.ini"] += f"\n[uwsgi]\n{uwsgi}\n"
    texts, changes, _ = migrate_project(tmp_path, files)
    if after is None:  # the uwsgi protocol to nginx: nothing to carry it to
        assert "speaks the uwsgi protocol" in changes[0]["message"]
        assert texts["Procfile"].endswith(f"web: {command}\n")
        assert not (tmp_path / "out" / "production_asgi.py").exists()
        return
    assert texts["Procfile"] == f"web: {after}\n"
    assert (tmp_path / "out" / "production_asgi.py").exists()


BOTTLE_APP = "import bottle\n\napp = bottle.Bottle()\n"


@pytest.mark.parametrize(
    ("command", "after"),
    [
        ("python -m bottle -b 0.0.0.0 --reload shop:app",
         "python -m uvicorn shop:app --host 0.0.0.0 --port 8080 --reload"),
        ("bottle.py -s waitress shop:app", "uvicorn shop:app --host localhost --port 8080"),
        ("python -m bottle --debug shop:app", "it runs in bottle's debug mode"),
        ("python -m bottle -s gevent shop:app", "it runs bottle's `gevent` server"),
        ("python -m bottle -p auth shop:app", "it installs bottle plugins"),
        ("python -m bottle shop", "bottle serves `shop`, which this tool cannot look up"),
    ],
)  # fmt: skip
def test_bottles_command_line(tmp_path: Path, command: str, after: str) -> None:
    texts, changes, _ = migrate_project(
        tmp_path, {"shop.py": BOTTLE_APP, "Procfile": f"web: {command}\n"}
    )
    if after.startswith(("python -m uvicorn", "uvicorn")):
        assert texts["Procfile"] == f"web: {after}\n"
        assert [c["kind"] for c in changes if c["path"] == "Procfile"] == ["converted"]
        return
    marker, line = texts["Procfile"].splitlines()
    assert line == f"web: {command}" and after in marker
    assert [c["kind"] for c in changes if c["path"] == "Procfile"] == ["manual"]


def test_gunicorn_paste_moves_to_the_server_the_run_picks(tmp_path: Path) -> None:
    # rewritten as any gunicorn command is: --server uvicorn moves it to uvicorn
    texts, _, _ = migrate_project(
        tmp_path, project("gunicorn --paste production.ini -b :$PORT -w 3"), "--server", "uvicorn"
    )
    assert texts["Procfile"] == (
        "web: uvicorn production_asgi:app --host 0.0.0.0 --port $PORT --workers 3 "
        "--log-config production.ini\n"
    )
