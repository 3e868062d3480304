"""The rewritten deployment files start servers that answer like the original ones.

A project with a Procfile, a gunicorn.conf.py and a Dockerfile ``CMD`` is migrated by the CLI.
The command lines the files hold are then run for real on 127.0.0.1, before (gunicorn's
threaded workers serving the WSGI app) and after (gunicorn with two uvicorn workers, the
config file's and the Procfile's; uvicorn alone with ``--server uvicorn``), and the same
requests get the same status, headers and body.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import IGNORED_HEADERS

pytestmark = pytest.mark.skipif(
    shutil.which("gunicorn") is None or sys.platform == "win32", reason="needs gunicorn"
)

REPO = Path(__file__).resolve().parents[2]

APP = """\
import json
from urllib.parse import parse_qs


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/":
        body = b"home"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [body]
    if path == "/echo":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        sent = environ["wsgi.input"].read(length).decode()
        body = json.dumps({
            "query": query, "body": sent, "method": environ["REQUEST_METHOD"],
            "scheme": environ["wsgi.url_scheme"], "client": environ.get("REMOTE_ADDR"),
        }).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("X-Echo", "1")])
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such page: " + path.encode()]
"""

REQUESTS = [
    ("GET", "/", b""),
    ("GET", "/echo?a=1&b=%C3%A9", b""),
    ("POST", "/echo", b"x=1&y=two"),
    ("GET", "/missing", b""),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The port the Dockerfile's command names (the tests run it on a free one instead).
DOCKER_PORT = "8000"


def write_project(folder: Path) -> None:
    files = {
        "app.py": APP,
        "Procfile": "web: gunicorn app:app --workers 2 --threads 4 --bind 127.0.0.1:$PORT\n",
        "gunicorn.conf.py": 'workers = 2\nworker_class = "gthread"\nthreads = 4\n',
        "Dockerfile": textwrap.dedent(f"""\
            FROM python:3.11-slim
            WORKDIR /srv
            COPY . .
            CMD ["gunicorn", "-c", "gunicorn.conf.py", "-b", "127.0.0.1:{DOCKER_PORT}", "app:app"]
        """),
        "requirements.txt": "gunicorn\n",
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def migrate(source: Path, out: Path, *args: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "migrate",
            str(source),
            "--out",
            str(out),
            "-j",
            "1",
            "--no-cache",
            *args,
        ],
        capture_output=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


def procfile_command(folder: Path) -> str:
    (line,) = (folder / "Procfile").read_text().splitlines()
    return line.split(":", 1)[1].strip()


def dockerfile_command(folder: Path) -> list[str]:
    match = re.search(r"^CMD (\[.*\])$", (folder / "Dockerfile").read_text(), re.MULTILINE)
    assert match is not None
    command: list[str] = json.loads(match.group(1))
    return command


@contextlib.contextmanager
def running(command: str | list[str], folder: Path, port: int | None = None) -> Iterator[str]:
    """``command`` started in ``folder`` on a free port (``port``: the one it listens on):
    a string through ``sh`` with ``$PORT`` set, as a Procfile runs; a list as it is, its
    Dockerfile port replaced."""
    port = free_port() if port is None else port
    # the folder too, as an installed project would be (pserve's egg or call: lookups)
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": f"{REPO}{os.pathsep}{folder}"}
    if isinstance(command, str):
        argv = ["sh", "-c", command]
    else:
        argv = [
            str(port) if word == DOCKER_PORT else word.replace(f":{DOCKER_PORT}", f":{port}")
            for word in command
        ]
    process = subprocess.Popen(
        argv, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{argv} exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            # an HTTP answer, not a connect: a connect to a free port of the ephemeral range
            # can reach itself (TCP simultaneous open)
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{argv} did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def answers(
    url: str, requests: list[tuple[str, str, bytes]] = REQUESTS
) -> tuple[list[tuple[int, list[tuple[str, str]], bytes]], set[str]]:
    """Each request's status, headers (but the server's own) and body; the Server headers."""
    seen, servers = [], set()
    no_reuse = httpx.Limits(max_keepalive_connections=0)  # answers must not hang on timing
    with httpx.Client(base_url=url, timeout=20, limits=no_reuse) as client:
        for method, path, body in requests:
            response = client.request(method, path, content=body)
            headers = sorted(
                (k.lower(), v)
                for k, v in response.headers.items()
                if k.lower() not in IGNORED_HEADERS
            )
            seen.append((response.status_code, headers, response.content))
            servers.add(response.headers.get("server", ""))
    return seen, servers


def behind_a_proxy(url: str) -> tuple[str, str]:
    """The scheme and client address the app sees of a request a proxy on 127.0.0.1 sends
    (waitress, flask run and bottle's servers read no X-Forwarded-* headers: neither may
    uvicorn after them)."""
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    seen = httpx.get(f"{url}/echo", headers=forwarded, timeout=20).json()
    return seen["scheme"], seen["client"]


def without_length(seen: list[tuple[int, list[tuple[str, str]], bytes]]) -> list[object]:
    return [
        (status, [h for h in headers if h[0] != "content-length"], body)
        for status, headers, body in seen
    ]


def test_procfile_and_dockerfile_commands_answer_the_same_after_the_run(tmp_path: Path) -> None:
    source, out = tmp_path / "src", tmp_path / "out"
    write_project(source)
    migrate(source, out)
    assert procfile_command(out) == (
        "gunicorn -k uvicorn_worker.UvicornWorker app:app --workers 2 --bind 127.0.0.1:$PORT"
    )
    assert 'worker_class = "uvicorn_worker.UvicornWorker"' in (out / "gunicorn.conf.py").read_text()

    with running(procfile_command(source), source) as url:
        before, before_servers = answers(url)
    assert before_servers == {"gunicorn"}
    with running(procfile_command(out), out) as url:
        after, after_servers = answers(url)
    assert after_servers == {"uvicorn"}
    assert after == before

    with running(dockerfile_command(source), source) as url:
        assert answers(url)[0] == before
    with running(dockerfile_command(out), out) as url:
        docker_after, servers = answers(url)
    assert servers == {"uvicorn"} and docker_after == before


def test_commands_moved_to_uvicorn_answer_the_same(tmp_path: Path) -> None:
    source, out = tmp_path / "src", tmp_path / "out"
    write_project(source)
    migrate(source, out, "--server", "uvicorn")
    assert procfile_command(out) == "uvicorn app:app --host 127.0.0.1 --port $PORT --workers 2"
    with running(procfile_command(source), source) as url:
        before, _ = answers(url)
    with running(procfile_command(out), out) as url:
        after, servers = answers(url)
    assert servers == {"uvicorn"} and after == before


def test_a_makefile_recipe_with_make_variables_answers_the_same(tmp_path: Path) -> None:
    # make expands $(PORT) before the shell runs the line: a make variable, kept as written
    source, out = tmp_path / "src", tmp_path / "out"
    write_project(source)
    recipe = "gunicorn --workers 2 --threads 4 --bind $(HOST):$(PORT) app:app"
    (source / "Makefile").write_text(f"HOST ?= 127.0.0.1\nPORT ?= 8000\n\nserve:\n\t{recipe}\n")
    migrate(source, out)
    assert (
        (out / "Makefile")
        .read_text()
        .endswith(
            "\tgunicorn -k uvicorn_worker.UvicornWorker --workers 2 --bind $(HOST):$(PORT) app:app\n"
        )
    )
    with running("make --no-print-directory serve PORT=$PORT", source) as url:
        before, before_servers = answers(url)
    with running("make --no-print-directory serve PORT=$PORT", out) as url:
        after, after_servers = answers(url)
    assert (before_servers, after_servers) == ({"gunicorn"}, {"uvicorn"})
    assert after == before


def test_a_compose_command_moved_from_waitress_to_uvicorn_answers_the_same(tmp_path: Path) -> None:
    """Compose splits its ``command:`` string into words and runs them without a shell: the
    thread bound the rewrite carries goes through the ``env`` program."""
    source, out = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    (source / "app.py").write_text(APP)
    (source / "docker-compose.yml").write_text(
        "services:\n  web:\n    build: .\n"
        f"    command: waitress-serve --listen=127.0.0.1:{DOCKER_PORT} --threads=64 app:app\n"
    )
    migrate(source, out)
    line = (out / "docker-compose.yml").read_text().splitlines()[-1]
    command = shlex.split(line.split("command:", 1)[1])
    assert command == [
        "env", "WSGI2ASGI_BLOCKING_THREADS=64", "uvicorn", "app:app",
        "--host", "127.0.0.1", "--port", DOCKER_PORT, "--no-proxy-headers",
    ]  # fmt: skip
    original_line = (source / "docker-compose.yml").read_text().splitlines()[-1]
    original = shlex.split(original_line.split("command:", 1)[1])
    with running(original, source) as url:
        before, before_servers = answers(url)
        before_proxied = behind_a_proxy(url)
    with running(command, out) as url:
        after, servers = answers(url)
        after_proxied = behind_a_proxy(url)
    assert before_servers == {"waitress"} and servers == {"uvicorn"}
    assert after_proxied == before_proxied == ("http", "127.0.0.1")
    # waitress computes a Content-Length for a one-chunk body; uvicorn streams it (framing)
    assert without_length(after) == without_length(before)


def test_granian_moved_from_its_wsgi_interface_to_asgi_answers_the_same(tmp_path: Path) -> None:
    source, out = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    (source / "app.py").write_text(APP)
    (source / "Procfile").write_text(
        "web: granian --interface wsgi --host 127.0.0.1 --port $PORT --blocking-threads 2 app:app\n"
    )
    migrate(source, out)
    assert procfile_command(out) == "granian --interface asgi --host 127.0.0.1 --port $PORT app:app"
    with running(procfile_command(source), source) as url:
        before, _ = answers(url)
        before_proxied = behind_a_proxy(url)
    with running(procfile_command(out), out) as url:
        after, _ = answers(url)
        after_proxied = behind_a_proxy(url)
    assert without_length(after) == without_length(before)
    assert before[1][2].startswith(b'{"query": {"a": ["1"], "b": ["\\u00e9"]}')
    assert after_proxied == before_proxied == ("http", "127.0.0.1")


FLASK_MAIN = """\
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/echo", methods=["GET", "POST"])
def echo():
    return jsonify(query=request.args.to_dict(), body=request.get_data(as_text=True))
"""


def test_a_uwsgi_ini_a_base_image_reads_keeps_serving_the_flask_app(tmp_path: Path) -> None:
    """tiangolo/uwsgi-nginx-flask's image runs ``uwsgi --ini /app/uwsgi.ini`` itself: the
    file names the Flask app the run keeps (``callable = flask_app``), and uWSGI answers as
    before. Left naming ``app``, it would hand uWSGI the ASGI app."""
    source, out = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    (source / "main.py").write_text(FLASK_MAIN)
    (source / "uwsgi.ini").write_text(
        "[uwsgi]\nmodule = main\ncallable = app\nhttp = 127.0.0.1:$(PORT)\n"
    )
    (source / "Dockerfile").write_text("FROM tiangolo/uwsgi-nginx-flask:python3.12\nCOPY . /app\n")
    migrate(source, out)
    assert "\ncallable = flask_app\n" in (out / "uwsgi.ini").read_text()
    uwsgi = str(Path(sys.executable).with_name("uwsgi"))
    requests = [("GET", "/echo?a=1", b""), ("POST", "/echo", b"x=1"), ("GET", "/nope", b"")]
    with running(f"{uwsgi} --ini uwsgi.ini", source) as url:
        before, _ = answers(url, requests)
    with running(f"{uwsgi} --ini uwsgi.ini", out) as url:
        after, _ = answers(url, requests)
    assert after == before
    assert before[0][2] == b'{"body":"","query":{"a":"1"}}\n'


FACTORY = """\
from flask import Flask, jsonify, request


def create_app(config=None):
    app = Flask(__name__)
    app.config.update(config or {})

    @app.get("/")
    def home():
        return "home"

    @app.route("/echo", methods=["GET", "POST"])
    def echo():
        body = request.get_data(as_text=True)
        return jsonify(query=request.args.to_dict(flat=False), body=body, method=request.method)

    return app
"""


def test_an_app_factory_served_by_gunicorn_is_served_as_asgi_by_its_sibling(
    tmp_path: Path,
) -> None:
    """``gunicorn 'shop:create_app()'``: the factory's ASGI sibling (served-app) is served."""
    source = tmp_path / "src"
    (source / "shop").mkdir(parents=True)
    (source / "shop" / "__init__.py").write_text(FACTORY)
    (source / "Procfile").write_text("web: gunicorn 'shop:create_app()' --bind 127.0.0.1:$PORT\n")
    with running(procfile_command(source), source) as url:
        before, _ = answers(url)
    for server, expected in (
        ((), "gunicorn -k uvicorn_worker.UvicornWorker 'shop:create_asgi_app()' "),
        (("--server", "uvicorn"), "uvicorn shop:create_asgi_app --host 127.0.0.1 "),
    ):
        out = tmp_path / ("out" + "-".join(server))
        migrate(source, out, *server)
        assert procfile_command(out).startswith(expected)
        assert "def create_asgi_app(*args, **kwargs):" in (out / "shop/__init__.py").read_text()
        with running(procfile_command(out), out) as url:
            after, servers = answers(url)
        assert servers == {"uvicorn"} and after == before


# ------------------------------------------------------------------ a PasteDeploy project

PYRAMID_PACKAGE = """\
import logging

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPFound
from pyramid.view import view_config

log = logging.getLogger(__name__)


@view_config(route_name="home", renderer="json")
def home(request):
    log.warning("home for %s", request.params.get("who", "-"))
    request.response.headers["X-Greeting"] = request.registry.settings["greeting"]
    return {"who": request.params.get("who", "-"), "method": request.method}


@view_config(route_name="home", request_method="POST", renderer="json")
def post(request):
    return {"posted": dict(request.POST)}


@view_config(route_name="old")
def old(request):
    return HTTPFound(location=request.route_url("home"))


def main(global_config, **settings):
    with Configurator(settings=settings) as config:
        config.add_route("home", "/")
        config.add_route("old", "/old")
        config.scan()
    return config.make_wsgi_app()
"""

PASTE_INI = """\
[app:main]
use = call:shelf:main
greeting = hello from the ini

[DEFAULT]
http_port = {port}

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:%(http_port)s

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)s [%(name)s] %(message)s
"""

PASTE_REQUESTS = [
    ("GET", "/?who=ada", b""),
    ("POST", "/", b"x=1&y=two"),
    ("GET", "/old", b""),
    ("GET", "/missing", b""),
]


def test_a_paste_deploy_project_is_served_by_uvicorn_from_its_ini_and_a_module_made_for_it(
    tmp_path: Path,
) -> None:
    """``pserve production.ini`` (a Dockerfile) runs the server its ini names: the run moves
    that section to adapters.paste's uvicorn server, and the command stays.
    ``gunicorn --paste production.ini`` (a Procfile) reads only the app from the ini, which
    no ASGI worker reads: the run writes ``production_asgi.py`` beside it to serve."""
    source, out, port = tmp_path / "src", tmp_path / "out", free_port()
    (source / "shelf").mkdir(parents=True)
    (source / "shelf" / "__init__.py").write_text(PYRAMID_PACKAGE)
    (source / "production.ini").write_text(PASTE_INI.format(port=port))
    (source / "Dockerfile").write_text('FROM python:3.11-slim\nCMD ["pserve", "production.ini"]\n')
    (source / "Procfile").write_text(
        "web: gunicorn --paste production.ini -b 127.0.0.1:$PORT --workers 2\n"
    )
    migrate(source, out)
    assert dockerfile_command(out) == ["pserve", "production.ini"]
    assert "use = call:adapters.paste:uvicorn_server\nhost = 127.0.0.1\nport = %(http_port)s\n" in (
        (out / "production.ini").read_text()
    )
    assert (out / "production_asgi.py").exists()
    assert procfile_command(out) == (
        "gunicorn -k uvicorn_worker.UvicornWorker -b 127.0.0.1:$PORT --workers 2 "
        "--log-config production.ini production_asgi:app"
    )

    def proxied_redirect(url: str) -> str:
        # waitress trusted no proxy: the redirect names http, whatever X-Forwarded-Proto says
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "example.org"}
        return httpx.get(f"{url}/old", headers=headers).headers["location"]

    with running(dockerfile_command(source), source, port) as url:
        before, before_servers = answers(url, PASTE_REQUESTS)
        before_redirect = proxied_redirect(url)
    with running(dockerfile_command(out), out, port) as url:
        after, after_servers = answers(url, PASTE_REQUESTS)
        after_redirect = proxied_redirect(url)
    assert (before_servers, after_servers) == ({"waitress"}, {"uvicorn"})
    assert after == before
    assert before[0][2] == b'{"who": "ada", "method": "GET"}'
    assert ("x-greeting", "hello from the ini") in before[0][1]
    assert after_redirect == before_redirect == f"http://127.0.0.1:{port}/"

    # on the ini's port again: the redirect names it
    with running(procfile_command(source), source, port) as url:
        assert answers(url, PASTE_REQUESTS)[0] == before
    with running(procfile_command(out), out, port) as url:
        gunicorn_after, servers = answers(url, PASTE_REQUESTS)
    assert servers == {"uvicorn"} and gunicorn_after == before

    # a second run changes nothing: the commands serve an ASGI app, the module is there
    again = tmp_path / "again"
    migrate(out, again)
    for name in ("Dockerfile", "Procfile", "production_asgi.py", "production.ini"):
        assert (again / name).read_text() == (out / name).read_text()


BOTTLE_MODULE = """\
import bottle

app = bottle.Bottle()


@app.route("/")
def home():
    return "home"


@app.route("/echo", method=["GET", "POST"])
def echo():
    bottle.response.set_header("X-Echo", "1")
    return {
        "query": {k: bottle.request.query.getall(k) for k in bottle.request.query},
        "body": bottle.request.body.read().decode(),
        "method": bottle.request.method,
    }
"""


def test_bottles_command_line_moves_to_uvicorn_and_answers_the_same(tmp_path: Path) -> None:
    """``python -m bottle myapp:app`` would call the app, ASGI after the run, the WSGI way."""
    source, out = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    (source / "shop.py").write_text(BOTTLE_MODULE)
    (source / "Procfile").write_text("web: python -m bottle --bind 127.0.0.1:$PORT shop:app\n")
    migrate(source, out)
    assert procfile_command(out) == (
        "python -m uvicorn shop:app --host 127.0.0.1 --port $PORT --no-proxy-headers"
    )
    with running(procfile_command(source), source) as url:
        before, before_servers = answers(url)
    with running(procfile_command(out), out) as url:
        after, after_servers = answers(url)
    assert before_servers == {"WSGIServer/0.2 CPython/" + sys.version.split()[0]}
    assert after_servers == {"uvicorn"}
    # bottle answers 404 pages in its own template, naming the port: not compared
    assert after[:3] == before[:3] and after[3][0] == before[3][0] == 404


FLASK_CLI_APP = """\
from flask import Flask

app = Flask(__name__)


@app.route("/")
def home():
    return "home"


@app.cli.command("hello")
def hello():
    print("hello from", app.name)
"""


def test_flask_app_names_the_flask_app_flasks_command_line_can_load(tmp_path: Path) -> None:
    """``FLASK_APP=svc:app`` names ``app``, ASGI after the run: Flask's command line would
    stop ("A valid Flask application was not obtained"). It names the Flask app now."""
    source, out = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    (source / "svc.py").write_text(FLASK_CLI_APP)
    (source / "cli.sh").write_text("#!/bin/sh\nexport FLASK_APP=svc:app\npython -m flask hello\n")
    migrate(source, out)
    assert "export FLASK_APP=svc:flask_app\n" in (out / "cli.sh").read_text()
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def run_cli(folder: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", "cli.sh"], cwd=folder, env=env, capture_output=True, text=True, check=False
        )

    before, after = run_cli(source), run_cli(out)
    assert before.stdout == after.stdout == "hello from svc\n", after.stderr
    # the migrated app with the script as it was: Flask cannot load the app
    (out / "cli.sh").write_text((source / "cli.sh").read_text())
    assert run_cli(out).returncode != 0
