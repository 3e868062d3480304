"""PasteDeploy projects: ``pserve x.ini`` serves on uvicorn from the ini's server section,
``gunicorn --paste x.ini`` a module the run writes beside the ini file (both served for
real in ``test_rule_deployment_served.py``)."""

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
    ("server", "after"),
    [
        ("listen = *:6543", "host = 0.0.0.0\nport = 6543\nproxy_headers = false"),
        ("listen = localhost:6543", "host = localhost\nport = 6543\nproxy_headers = false"),
        ("host = 127.0.0.1\nport = 8080\nthreads = 8",
         "host = 127.0.0.1\nport = 8080\nproxy_headers = false"),
        ("listen = *:%(http_port)s", "host = 0.0.0.0\nport = %(http_port)s\nproxy_headers = false"),
        ("", "host = 0.0.0.0\nport = 8080\nproxy_headers = false"),  # waitress' default
        ("unix_socket = /run/shelf.sock", "uds = /run/shelf.sock\nproxy_headers = false"),
        ("listen = 0.0.0.0:6543\ntrusted_proxy = 10.0.0.1\n"
         "trusted_proxy_headers = x-forwarded-for x-forwarded-proto\nurl_prefix = /shelf/",
         "host = 0.0.0.0\nport = 6543\nforwarded_allow_ips = 10.0.0.1\nroot_path = /shelf"),
    ],
)  # fmt: skip
def test_pserve_keeps_its_command_and_its_ini_serves_the_app_on_uvicorn(
    tmp_path: Path, server: str, after: str
) -> None:
    texts, changes, _ = migrate_project(tmp_path, project("pserve production.ini", server))
    assert texts["Procfile"] == "web: pserve production.ini\n"
    marker = next(line for line in texts["production.ini"].splitlines() if "migrate[" in line)
    settings = "use = egg:waitress#main\n" + (f"{server}\n" if server else "")
    assert texts["production.ini"] == INI.format(server=server).replace(
        settings, f"{marker}\nuse = call:adapters.paste:uvicorn_server\n{after}\n"
    )
    assert marker.startswith(
        "# migrate[deployment]: pserve serves [server:main]'s app on uvicorn through "
        "adapters.WsgiToAsgi"
    )
    assert ("`threads = 8` dropped" in marker) == ("threads" in server)
    assert [(c["path"], c["kind"], c["line"]) for c in changes] == [
        ("production.ini", "adapted", 5)
    ]
    assert not (tmp_path / "out" / "production_asgi.py").exists()
    again_changes_nothing(tmp_path, texts)


def test_the_section_keeps_its_comments_line_endings_and_the_files_defaults(
    tmp_path: Path,
) -> None:
    """Values of [DEFAULT] are PasteDeploy's global_conf, not the server's settings."""
    ini = (
        "[DEFAULT]\r\nhttp_port = 6543\r\n\r\n[app:main]\r\nuse = egg:shelf\r\n\r\n"
        "[server:main]\r\nuse = egg:waitress#main\r\n# where\r\nlisten =\r\n"
        "    127.0.0.1:%(http_port)s\r\n\r\n[loggers]\r\nkeys = root\r\n"
    )
    _, changes, _ = migrate_project(tmp_path, {"development.ini": ini.encode()})
    new = (tmp_path / "out" / "development.ini").read_bytes().decode()
    marker = new.splitlines()[7]
    assert marker.startswith("# migrate[deployment]: pserve serves [server:main]'s app on uvicorn")
    assert new == ini.replace(
        "use = egg:waitress#main\r\n# where\r\nlisten =\r\n    127.0.0.1:%(http_port)s\r\n",
        f"{marker}\r\nuse = call:adapters.paste:uvicorn_server\r\nhost = 127.0.0.1\r\n"
        "port = %(http_port)s\r\nproxy_headers = false\r\n# where\r\n",
    )
    assert [(c["kind"], c["line"]) for c in changes] == [("adapted", 8)]


def test_every_pserve_command_of_the_ini_stays(tmp_path: Path) -> None:
    """Options, variables, another app of the file: pserve reads the server section."""
    procfile = (
        "web: pserve production.ini http_port=$PORT\n"
        "dev: /venv/bin/pserve --reload production.ini#main --server-name main\n"
    )
    files = {**project("pserve production.ini", "listen = *:%(http_port)s"), "Procfile": procfile}
    texts, changes, _ = migrate_project(tmp_path, files)
    assert texts["Procfile"] == procfile
    assert "port = %(http_port)s" in texts["production.ini"]
    assert [c["path"] for c in changes] == ["production.ini"]


@pytest.mark.parametrize(
    ("server", "reason"),
    [
        ("listen = *:6543\nurl_scheme = https", "it forces the URL scheme"),
        ("listen = *:6543 [::]:6543", "more than one address"),
        ("listen = *:6543\nasyncore_loop_timeout = 1\nfrobnicate = 1", "(frobnicate)"),
        ("listen = $HOST:6543", "cannot read the address `$HOST:6543`"),
    ],
)  # fmt: skip
def test_a_server_section_that_cannot_be_carried_stays_marked_with_its_command(
    tmp_path: Path, server: str, reason: str
) -> None:
    texts, changes, _ = migrate_project(tmp_path, project("pserve production.ini", server))
    lines = texts["production.ini"].splitlines()
    marker = lines[lines.index("[server:main]") + 1]
    assert marker.startswith("# migrate[deployment]: pserve serves [server:main]'s app as WSGI")
    assert reason in marker and "call:adapters.paste:uvicorn_server" in marker
    assert texts["production.ini"] == INI.format(server=server).replace(
        "[server:main]\n", f"[server:main]\n{marker}\n"
    )
    procfile_marker, command = texts["Procfile"].splitlines()
    assert command == "web: pserve production.ini" and reason in procfile_marker
    assert sorted((c["path"], c["kind"]) for c in changes) == [
        ("Procfile", "manual"), ("production.ini", "manual")
    ]  # fmt: skip
    again_changes_nothing(tmp_path, texts)
    # a later run sees its marker: nothing more to say of the file
    _, again, _ = migrate_project(tmp_path / "later", texts)
    assert not [c for c in again if c["path"] == "production.ini"]


def test_another_server_in_the_ini_is_marked(tmp_path: Path) -> None:
    files = project("pserve production.ini")
    files["production.ini"] = files["production.ini"].replace("egg:waitress#main", "egg:gunicorn")
    _, changes, _ = migrate_project(tmp_path, files)
    assert [c["kind"] for c in changes] == ["manual", "manual"]
    assert all("runs `egg:gunicorn`" in c["message"] for c in changes)


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("pserve other.ini", "not a file of this tree"),
        ("pserve ../production.ini", "not an ini file of this tree"),
        ("pserve production.ini --server-name=alt", "no [server:alt]"),
    ],
)  # fmt: skip
def test_a_pserve_command_this_tool_cannot_follow_keeps_a_marker(
    tmp_path: Path, command: str, reason: str
) -> None:
    texts, changes, _ = migrate_project(tmp_path, project(command))
    marker, line = texts["Procfile"].splitlines()
    assert line == f"web: {command}"
    assert marker.startswith("# migrate[deployment]: pserve: ") and reason in marker
    assert [c["kind"] for c in changes if c["path"] == "Procfile"] == ["manual"]


@pytest.mark.parametrize(
    ("target", "after"),
    [
        ("hypercorn", "hypercorn -b 0.0.0.0:6543 production_asgi:app"),
        ("granian", "granian --interface asgi --host 0.0.0.0 --port 6543 production_asgi:app"),
    ],
)  # fmt: skip
def test_pserve_moves_to_another_asgi_server_through_a_module_written_for_its_ini(
    tmp_path: Path, target: str, after: str
) -> None:
    texts, changes, _ = migrate_project(
        tmp_path, project("pserve production.ini"), "--server", target
    )
    assert texts["Procfile"] == f"web: {after}\n"
    created = (tmp_path / "out" / "production_asgi.py").read_text()
    assert 'loadapp("config:" + CONFIG, name="main")' in created
    assert "logging.config.fileConfig(" in created  # the ini has [loggers]
    kinds = {c["path"]: c["kind"] for c in changes}
    # no PasteDeploy server runs hypercorn or granian: the section stays, marked
    assert kinds == {"Procfile": "adapted", "production_asgi.py": "adapted",
                     "production.ini": "manual"}  # fmt: skip
    again_changes_nothing(tmp_path, {**texts, "production_asgi.py": created}, "--server", target)


@pytest.mark.parametrize(
    ("command", "after"),
    [
        ("gunicorn --paste production.ini -w 3 -b :$PORT",
         "gunicorn -k uvicorn_worker.UvicornWorker -w 3 -b :$PORT --log-config production.ini "
         "production_asgi:app"),
        ("gunicorn --paster=production.ini#api --log-config log.ini",
         "gunicorn -k uvicorn_worker.UvicornWorker --log-config log.ini production_api_asgi:app"),
    ],
)  # fmt: skip
def test_gunicorn_paste_serves_the_module_written_for_its_ini(
    tmp_path: Path, command: str, after: str
) -> None:
    files = project(command)
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
    assert kinds == {"Procfile": "adapted", module: "adapted", "production.ini": "adapted"}
    again_changes_nothing(tmp_path, {**texts, module: created})


def test_a_module_of_that_name_keeps_the_gunicorn_command(tmp_path: Path) -> None:
    files = project("gunicorn --paste production.ini", production_asgi="")
    files["production_asgi.py"] = files.pop("production_asgi")
    texts, changes, _ = migrate_project(tmp_path, files)
    assert "exists already" in next(c for c in changes if c["path"] == "Procfile")["message"]
    assert texts["production_asgi.py"] == ""  # the user's file is not replaced


@pytest.mark.parametrize(
    ("command", "uwsgi", "after"),
    [
        ("uwsgi --ini-paste-logged production.ini", "http = 0.0.0.0:6543\nprocesses = 4",
         "uvicorn production_asgi:app --host 0.0.0.0 --port 6543 --workers 4 --no-proxy-headers"),
        ("uwsgi --ini-paste production.ini --http :8080", "master = true",
         "uvicorn production_asgi:app --host 0.0.0.0 --port 8080 --no-proxy-headers"),
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
         "python -m uvicorn shop:app --host 0.0.0.0 --port 8080 --reload --no-proxy-headers"),
        ("bottle.py -s waitress shop:app",
         "uvicorn shop:app --host localhost --port 8080 --no-proxy-headers"),
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


def test_the_projects_pyproject_gains_uvicorn_beside_lock_files_of_their_own_folder(
    tmp_path: Path,
) -> None:
    """pip-compile outputs in ``lockfiles/`` are not the project's requirements: its
    pyproject.toml is (atramhasis' layout)."""
    pyproject = '[project]\nname = "shelf"\ndependencies = [\n    "pyramid",\n]\n'
    lock = "pyramid==2.0.2\nwaitress==3.0.2\n"
    files = {
        "production.ini": INI.format(server="listen = *:6543"),
        "pyproject.toml": pyproject,
        "lockfiles/requirements-dev.txt": lock,
    }
    texts, changes, _ = migrate_project(tmp_path, files)
    assert texts["pyproject.toml"] == pyproject.replace(
        '"pyramid",\n', '"pyramid",\n    "uvicorn>=0.36",\n    "wsgi2asgi",\n'
    )
    assert texts["lockfiles/requirements-dev.txt"] == lock
    assert sorted(c["path"] for c in changes) == ["production.ini", "pyproject.toml"]
