"""Rule ``served-app``: an app handed to an extension that registers itself on it is served.

``db = SQLAlchemy(app)``, ``Migrate(app, db)``, ``CORS(app)``: at module level, after the app
is made, a call takes the app and keeps it (to configure it), it does not make an app of it.
It got the WSGI app and keeps that one whatever the name holds later, so the name is served
through the adapter after the last such call. A call that makes an app of it (middleware: the
entry point is then that app) still leaves it alone. A function handing the app on later
(``describe(app)``, ``return app``) gets the WSGI app it got before, through
``adapters.as_wsgi``; one binding the name anew (``global app``) keeps it WSGI.

An app whose websockets go through its WSGI server's socket (Flask-Sock, Flask-SocketIO)
stays on that server: no ASGI server hands an app a socket, and through the adapter it
would refuse every websocket.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from migrate.runner import SourceResult, migrate_source
from tests.harness import Req, assert_same_behaviour
from tests.migrate.test_rule_deployment import again_changes_nothing
from tests.migrate.test_rule_deployment import migrate_project as migrate_tree
from tests.migrate.test_rule_wsgi_app_modules import dedented, migrate_project


def migrate(source: str) -> SourceResult:
    return migrate_source(textwrap.dedent(source))


def served_changes(result: SourceResult) -> list[tuple[str, str]]:
    return [(c.kind, c.message) for c in result.changes if c.rule == "served-app"]


# flask-cors registers itself on the app (after-request hooks) and keeps it
FLASK_WITH_EXTENSIONS = """
    from flask import Flask, jsonify, request
    from flask_cors import CORS


    class Registry:
        # the shape of every Flask extension: it keeps the app it configures
        def __init__(self, app=None):
            self.app = app
            if app is not None:
                self.init_app(app)

        def init_app(self, app):
            app.extensions["registry"] = self
            app.config.setdefault("REGISTRY_NAME", "shop")


    app = Flask(__name__)
    app.config["GREETING"] = "hello"
    CORS(app, origins=["https://shop.example"])
    registry = Registry()
    registry.init_app(app)


    @app.route("/greet")
    def greet():
        return jsonify(greeting=app.config["GREETING"], name=app.config["REGISTRY_NAME"])


    @app.post("/echo")
    def echo():
        return jsonify(got=request.get_json())
"""

ORIGIN = (("Origin", "https://shop.example"),)
REQUESTS = [
    Req("GET", "/greet", headers=ORIGIN),
    Req("GET", "/greet", headers=(("Origin", "https://elsewhere.example"),)),
    Req(
        "OPTIONS",
        "/echo",
        headers=(*ORIGIN, ("Access-Control-Request-Method", "POST")),
    ),
    Req("POST", "/echo", headers=(*ORIGIN, ("Content-Type", "application/json")), body=b"[1]"),
]


def test_an_app_extensions_register_on_is_served_after_the_last_registration() -> None:
    before = FLASK_WITH_EXTENSIONS
    result = migrate(before)
    ((kind, message),) = served_changes(result)
    assert kind == "adapted" and "a Flask app" in message
    after = result.new_source
    # after the registrations (they got the Flask app), before the routes it serves
    assert after.index("registry.init_app(app)") < after.index("WsgiToAsgi(flask_app := app)")
    assert after.index("WsgiToAsgi(flask_app := app)") > after.index("def echo():")
    assert_same_behaviour(before, after, REQUESTS)
    again = migrate_source(after)
    assert again.new_source == after and not again.changes


def test_an_app_handed_to_middleware_is_not_the_entry_point() -> None:
    # `application` is what a server names: the middleware rule makes it ASGI, and the apps
    # it mounts stay the WSGI apps it mounts
    before = """
        from flask import Flask
        from werkzeug.middleware.dispatcher import DispatcherMiddleware

        app = Flask(__name__)
        admin = Flask("admin")
        application = DispatcherMiddleware(app, {"/admin": admin})


        @app.route("/hello")
        def hello():
            return "hello"


        @admin.route("/")
        def home():
            return "admin"
    """
    result = migrate(before)
    assert served_changes(result) == []
    assert "application = Router(" in result.new_source
    assert "WsgiToAsgi" not in result.new_source
    requests = [Req("GET", "/hello"), Req("GET", "/admin/"), Req("GET", "/nope")]
    assert_same_behaviour(before, result.new_source, requests, app_name="application")


def test_a_raw_wsgi_app_handed_to_a_call_is_wrapped_by_it_not_registered_on() -> None:
    # extensions register on a framework's app; a call taking a WSGI function makes an app
    # of it (paste's gzip middleware): `wrapped` is the entry point, `hello` stays as it is
    before = """
        from paste.gzipper import middleware


        def hello(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"hello"]


        wrapped = middleware(hello)
    """
    result = migrate(before)
    assert "hello = WsgiToAsgi(hello)" not in result.new_source
    assert not any("`hello` holds" in message for _, message in served_changes(result))


FUNCTIONS_HANDING_THE_APP_ON = """
    from flask import Flask, current_app, jsonify
    from flask_cors import CORS

    app = Flask(__name__)
    app.config["GREETING"] = "hi"


    def describe(flask_app):  # a helper of the project, given the app (httpbin's shape)
        return f"{type(flask_app).__name__} {flask_app.config['GREETING']}"


    @app.route("/who")
    def who():
        same = current_app._get_current_object() is get_app()
        return jsonify(app=describe(app), same=same, apps=[type(a).__name__ for a in [app]])


    def get_app():
        return app


    def enable_cors():
        CORS(app)
"""


def test_an_app_functions_hand_on_later_is_served_and_they_get_the_wsgi_app() -> None:
    """A function runs after the module served the app: what it hands on, returns or
    compares is the app it got before, through adapters.as_wsgi (which unwraps the adapter)."""
    before = FUNCTIONS_HANDING_THE_APP_ON
    result = migrate(before)
    after = result.new_source
    assert "app = WsgiToAsgi(flask_app := app)" in after
    for use in ("describe(as_wsgi(app))", "for a in [as_wsgi(app)]", "return as_wsgi(app)",
                "CORS(as_wsgi(app))"):  # fmt: skip
        assert use in after
    assert "def get_asgi_app" not in after  # a getter of the served app makes no new app
    kinds = [kind for kind, _ in served_changes(result)]
    assert kinds == ["adapted"] * 4  # the app; a marker above each statement handing it on
    assert_same_behaviour(before, after, [Req("GET", "/who"), Req("GET", "/nope")])
    again = migrate_source(after)
    assert again.new_source == after and not again.changes


def test_an_app_a_function_binds_anew_stays_wsgi() -> None:
    # `global app` then `app = ...`: the name does not keep the app it was served as
    before = """
        from flask import Flask

        app = Flask(__name__)


        def reset():
            global app
            app = Flask("fresh")
    """
    result = migrate(before)
    assert served_changes(result) == []
    assert result.new_source == textwrap.dedent(before)


SOCK_APP = """
    from flask import Flask
    from flask_sock import Sock

    app = Flask(__name__)
    sock = Sock(app)


    @app.route("/")
    def index():
        return "hi"


    @sock.route("/echo")
    def echo(ws):
        while True:
            ws.send(ws.receive())
"""


def test_an_app_answering_websockets_on_its_servers_socket_stays_on_that_server(
    tmp_path: Path,
) -> None:
    files = {"app.py": SOCK_APP, "Procfile": "web: gunicorn --threads 50 app:app\n"}
    texts, _, _ = migrate_tree(tmp_path, files)
    (marker,) = [line for line in texts["app.py"].splitlines() if line.startswith("# migrate[")]
    assert marker.startswith("# migrate[served-app]: `app` holds a Flask app (`Flask(...)`) whose")
    assert "websockets go through the WSGI server's own socket (Flask-Sock)" in marker
    assert texts["app.py"].replace(marker + "\n", "") == textwrap.dedent(SOCK_APP)
    # the command keeps its WSGI server, which hands the app its socket
    assert texts["Procfile"].endswith(
        "stays a WSGI app after the run: the command keeps its "
        "WSGI server\nweb: gunicorn --threads 50 app:app\n"
    )
    again_changes_nothing(tmp_path, texts)


# Flask-SocketIO registered on the app a factory makes
SOCKETIO_FACTORY = """
    from flask import Flask
    from flask_socketio import SocketIO

    socketio = SocketIO()


    def create_app():
        app = Flask(__name__)
        socketio.init_app(app)
        return app
"""


def test_an_app_made_by_a_factory_registering_socketio_stays_on_its_server() -> None:
    files = {
        "chat/__init__.py": SOCKETIO_FACTORY,
        "wsgi.py": "from chat import create_app\n\napp = create_app()\n",
    }
    after, results = migrate_project(dedented(files))
    (change,) = results["wsgi.py"].changes
    assert change.kind == "manual" and "(Flask-SocketIO)" in change.message
    assert "WsgiToAsgi" not in after["wsgi.py"]
    assert "create_asgi_app" not in after["chat/__init__.py"]


def test_a_factory_of_a_socketio_app_gets_no_asgi_sibling() -> None:
    # served as `gunicorn -k eventlet 'chat:create_app()'`: no `uvicorn --factory` for it
    files = {"chat.py": SOCKETIO_FACTORY}
    after, results = migrate_project(dedented(files))
    (change,) = results["chat.py"].changes
    assert change.kind == "manual"
    assert change.message.startswith("`create_app()` returns a Flask app")
    assert "create_asgi_app" not in after["chat.py"]


@pytest.mark.parametrize("alias", ["app = application", "application = app"])
def test_two_names_of_one_app_are_both_served(alias: str) -> None:
    # Elastic Beanstalk serves `application`, the developer's commands name `app`
    made = alias.split(" = ")[1]
    before = f"""
        from flask import Flask, request

        {made} = Flask(__name__)
        {alias}


        @app.route("/hello")
        def hello():
            return "hello " + request.args.get("name", "-")
    """
    result = migrate(before)
    ((kind, message),) = served_changes(result)
    assert kind == "adapted" and "holds the same app, and is served the same way" in message
    assert result.new_source.rstrip().endswith(" = WsgiToAsgi(flask_app := app)")
    requests = [Req("GET", "/hello?name=ann"), Req("GET", "/nope")]
    for name in ("app", "application"):
        assert_same_behaviour(before, result.new_source, requests, app_name=name)
    again = migrate_source(result.new_source)
    assert again.new_source == result.new_source and not again.changes


def test_reads_of_what_only_the_wsgi_server_sets_are_marked() -> None:
    """httpbin accepted chunked bodies only where SERVER_SOFTWARE named gunicorn: through
    the adapter the environ has no SERVER_SOFTWARE, nor a server's own keys."""
    before = """
        from flask import Flask, abort, request

        app = Flask(__name__)


        @app.before_request
        def chunked_only_on_gunicorn():
            if request.environ.get("HTTP_TRANSFER_ENCODING") == "chunked":
                server = request.environ.get("SERVER_SOFTWARE", "")
                if not server.startswith("gunicorn/"):
                    abort(501)


        @app.route("/socket")
        def socket():
            return "yes" if "gunicorn.socket" in request.environ else "no"
    """
    result = migrate(before)
    manual = [message for kind, message in served_changes(result) if kind == "manual"]
    assert len(manual) == 2
    assert manual[0].startswith("`SERVER_SOFTWARE` named the WSGI server")
    assert manual[1].startswith("`gunicorn.socket` is a key of one WSGI server's own")
    lines = result.new_source.splitlines()
    at = lines.index('        server = request.environ.get("SERVER_SOFTWARE", "")')
    assert lines[at - 1].startswith("        # migrate[served-app]: `SERVER_SOFTWARE` named")
    # the rest answers as before (a plain GET reads neither)
    assert_same_behaviour(before, result.new_source, [Req("GET", "/socket")])
    again = migrate_source(result.new_source)
    assert again.new_source == result.new_source and not again.changes


def test_a_function_a_function_calls_is_no_app_to_serve() -> None:
    # Paste's urlparser: `load_module(environ, filename)` looks like a WSGI app, and the
    # module's methods call it as the helper it is
    before = """
        import os


        def load_module(environ, filename):
            base = environ["paste.urlparser.base_python_name"]
            return base + "." + os.path.splitext(os.path.basename(filename))[0]


        class Parser:
            def find_init_module(self, environ):
                return load_module(environ, "__init__.py")
    """
    result = migrate(before)
    assert served_changes(result) == []
    assert "WsgiToAsgi" not in result.new_source and "as_wsgi" not in result.new_source
