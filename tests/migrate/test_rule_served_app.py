"""Rule ``served-app``: after a run, the name a module serves holds an ASGI app.

Every case runs the whole pipeline (the rules before it decide what stays WSGI), serves the
module before as WSGI (wsgiref) and after as ASGI (uvicorn, hypercorn), and replays the same
requests. The patterns are the ones the other rules leave WSGI: apps whose status and headers
reach ``start_response`` in ways they do not follow, instances of router classes filled in
after they are made, middleware stacks built in a loop.
"""

from __future__ import annotations

import inspect
import textwrap

import pytest

from migrate.runner import SourceResult, migrate_source
from tests.harness import Req, assert_same_behaviour, assert_same_project_behaviour, load_module
from tests.migrate.test_rule_wsgi_app_modules import dedented, migrate_project


def migrate(source: str) -> SourceResult:
    return migrate_source(textwrap.dedent(source))


def served_app_changes(result: SourceResult) -> list[str]:
    return [c.message for c in result.changes if c.rule == "served-app"]


def assert_second_run_changes_nothing(result: SourceResult) -> None:
    again = migrate_source(result.new_source)
    assert again.new_source == result.new_source
    assert not again.changes


HEADERS_OBJECT = """
    from wsgiref.headers import Headers


    def _respond(start_response, status, headers, text):
        body = text.encode("utf-8")
        headers["Content-Length"] = str(len(body))
        start_response(status, headers.items())
        return [body]


    def page(environ, start_response):
        h = Headers()
        h.add_header("Content-Type", "text/plain", charset="utf-8")
        return _respond(start_response, "200 OK", h, "page " + environ["PATH_INFO"])


    def app(environ, start_response):
        if environ["PATH_INFO"].startswith("/page"):
            return page(environ, start_response)
        h = Headers([("Content-Type", "text/plain")])
        return _respond(start_response, "404 Not Found", h, "nothing here")
"""


def test_an_app_answering_through_a_headers_object_is_converted_before_it_is_served() -> None:
    # the response helper gets its status from its callers: the wsgi-app rule converts the
    # group, so this rule has nothing left to serve through the adapter
    result = migrate(HEADERS_OBJECT)
    assert served_app_changes(result) == []
    assert {c.kind for c in result.changes if c.rule == "wsgi-app"} == {"converted"}
    module = load_module(result.new_source)
    assert inspect.iscoroutinefunction(module.app)
    assert list(inspect.signature(module.page).parameters) == ["scope", "receive", "send"]
    requests = [Req("GET", "/page/one"), Req("GET", "/other")]
    assert_same_behaviour(HEADERS_OBJECT, result.new_source, requests)
    assert_second_run_changes_nothing(result)


ROUTER_FILLED_IN_LATER = """
    import re


    class Router:
        def __init__(self):
            self.routes = []

        def add(self, pattern, handler):
            self.routes.append((re.compile(pattern + "$"), handler))

        def __call__(self, environ, start_response):
            for regex, handler in self.routes:
                match = regex.match(environ["PATH_INFO"])
                if match:
                    return handler(environ, start_response, **match.groupdict())
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no route"]


    class Hello:
        def __call__(self, environ, start_response, name):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [("hello " + name).encode()]


    app = Router()
    app.add("/hello/(?P<name>[a-z]+)", Hello())
    app.add("/hi/(?P<name>[a-z]+)", Hello())
"""


def test_an_instance_filled_in_after_it_is_made_is_served_after_the_last_addition() -> None:
    result = migrate(ROUTER_FILLED_IN_LATER)
    assert len(served_app_changes(result)) == 1
    assert result.new_source.rstrip().endswith(
        'app.add("/hi/(?P<name>[a-z]+)", Hello())\n'
        + result.new_source.rstrip().splitlines()[-2]
        + "\napp = WsgiToAsgi(app)"
    )
    requests = [Req("GET", "/hello/ada"), Req("GET", "/hi/bob"), Req("GET", "/nope")]
    assert_same_behaviour(ROUTER_FILLED_IN_LATER, result.new_source, requests)
    assert_second_run_changes_nothing(result)


STACK_BUILT_IN_A_LOOP = """
    import functools


    class Prefix:
        def __init__(self, app, prefix=""):
            self.app = app
            self.prefix = prefix

        def __call__(self, environ, start_response):
            environ["SCRIPT_NAME"] = environ.get("HTTP_X_PREFIX", self.prefix)
            return self.app(environ, start_response)


    class Stamp:
        def __init__(self, app):
            self.app = app

        def __call__(self, environ, start_response):
            def stamped(status, headers, exc_info=None):
                return start_response(status, headers + [("X-Stamp", "1")], exc_info)
            return self.app(environ, stamped)


    def inner(environ, start_response):
        environ["my.key"] = "seen"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [(environ["SCRIPT_NAME"] + environ["PATH_INFO"] + environ["my.key"]).encode()]


    app = inner
    for middleware in (functools.partial(Prefix, prefix="/base"), Stamp):
        app = middleware(app)
"""


def test_a_stack_built_in_a_loop_is_converted_layer_by_layer_and_its_classes_stay_classes() -> None:
    # the loop is a stack the rules follow: the layers become ASGI middleware, the app at the
    # bottom (which the wsgi-app rule leaves WSGI) goes behind the adapter, nothing is left
    # for this rule
    result = migrate(STACK_BUILT_IN_A_LOOP)
    assert served_app_changes(result) == []
    kinds = {(c.rule, c.kind) for c in result.changes}
    assert kinds == {("wsgi-middleware", "converted"), ("wsgi-app", "adapted")}
    module = load_module(result.new_source)
    assert inspect.isclass(module.Prefix) and inspect.isclass(module.Stamp)
    requests = [Req("GET", "/x"), Req("GET", "/y", headers=(("X-Prefix", "/p"),))]
    assert_same_behaviour(STACK_BUILT_IN_A_LOOP, result.new_source, requests)
    assert_second_run_changes_nothing(result)


CHOSEN_AT_IMPORT = """
    import os


    class Stamp:
        def __init__(self, app):
            self.app = app

        def __call__(self, environ, start_response):
            environ["stamp.seen"] = "yes"
            return self.app(environ, start_response)


    def inner(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ.get("stamp.seen", "no").encode()]


    app = inner
    for mw in (Stamp,):
        app = mw(app)
    if os.environ.get("W2A_TEST_NO_STAMP"):
        app = inner
"""


def test_a_name_both_branches_of_an_if_leave_wsgi_is_served() -> None:
    result = migrate(CHOSEN_AT_IMPORT)
    assert len(served_app_changes(result)) == 1
    assert_same_behaviour(CHOSEN_AT_IMPORT, result.new_source, [Req("GET", "/")])


ROUTE_ARGUMENT_DECORATOR = """
    def with_args(func):
        def handler(environ, start_response):
            return func(environ, start_response, *environ["route.args"])
        return handler


    @with_args
    def item(environ, start_response, sku):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [sku.encode()]


    def app(environ, start_response):
        environ["route.args"] = (environ["PATH_INFO"].strip("/"),)
        return item(environ, start_response)
"""


def test_a_decorator_handing_a_view_route_arguments_is_not_taken_for_middleware() -> None:
    result = migrate(ROUTE_ARGUMENT_DECORATOR)
    assert not [c for c in result.changes if c.rule == "wsgi-middleware"]
    assert "def with_args(func):" in result.new_source
    assert_same_behaviour(ROUTE_ARGUMENT_DECORATOR, result.new_source, [Req("GET", "/AB-1")])


NOT_WSGI = """
    def on_event(event, callback):
        callback(event)


    def relay(message, handler):
        return handler(message)
"""


def test_functions_of_two_parameters_that_do_not_speak_wsgi_are_left_alone() -> None:
    result = migrate(NOT_WSGI)
    assert result.new_source == textwrap.dedent(NOT_WSGI)
    assert not result.changes


# --------------------------------------------------------------------------- frameworks

FLASK = """
    from flask import Flask, current_app, jsonify, request

    app = Flask(__name__)
    app.config["GREETING"] = "hello"


    @app.route("/greet")
    def greet():
        # the module-level name is read at request time, through the adapter
        return jsonify(greeting=app.config["GREETING"], who=request.args.get("who", "-"))


    @app.post("/echo")
    def echo():
        return jsonify(got=request.get_json(), debug=current_app.debug)
"""

FALCON = """
    import falcon


    class Items:
        def on_get(self, req, resp):
            resp.media = {"items": [1, 2], "limit": req.get_param_as_int("limit", default=5)}

        def on_post(self, req, resp):
            resp.status = falcon.HTTP_201
            resp.media = req.get_media()


    app = falcon.App()
    app.add_route("/items", Items())
"""

BOTTLE = """
    from bottle import Bottle, request

    app = Bottle()


    @app.route("/hello/<name>")
    def hello(name):
        return {"hello": name, "q": request.query.get("q", "")}
"""

WEBOB = """
    from webob import Response
    from webob.dec import wsgify


    @wsgify
    def app(req):
        return Response("hello " + req.params.get("name", "-"), content_type="text/plain")
"""

WERKZEUG = """
    from werkzeug.wrappers import Request, Response


    @Request.application
    def app(request):
        return Response(f"{request.method} {request.args.get('name', '-')}")
"""

# the Pyramid cookbook's way: the app is made in a module-level ``with`` block
PYRAMID_WITH = """
    from pyramid.config import Configurator
    from pyramid.response import Response


    def hello(request):
        return Response("hello " + request.matchdict["name"], content_type="text/plain")


    with Configurator() as config:
        config.add_route("hello", "/hello/{name}")
        config.add_view(hello, route_name="hello")
        app = config.make_wsgi_app()
"""

PYRAMID_PACKAGE = """
    from pyramid.config import Configurator
    from pyramid.response import Response


    def hello(request):
        return Response("hello " + request.matchdict["name"], content_type="text/plain")


    def main(settings):
        config = Configurator(settings=settings)
        config.add_route("hello", "/hello/{name}")
        config.add_view(hello, route_name="hello")
        return config.make_wsgi_app()
"""

JSON = (("Content-Type", "application/json"),)
FORM = (("Content-Type", "application/x-www-form-urlencoded"),)
FLASK_REQUESTS = [
    Req("GET", "/greet?who=ada"),
    Req("POST", "/echo", headers=JSON, body=b'{"a": 1}'),
    Req("GET", "/missing"),
]
FALCON_REQUESTS = [
    Req("GET", "/items?limit=3"),
    Req("POST", "/items", headers=JSON, body=b'{"b": 2}'),
    Req("DELETE", "/items"),
]
# (Bottle's error pages name the server's port: only pages that do not)
BOTTLE_REQUESTS = [Req("GET", "/hello/bob?q=x"), Req("GET", "/hello/ada")]


@pytest.mark.parametrize(
    "source, framework, requests",
    [
        (FLASK, "Flask", FLASK_REQUESTS),
        (FALCON, "Falcon", FALCON_REQUESTS),
        (BOTTLE, "Bottle", BOTTLE_REQUESTS),
        (WEBOB, "WebOb", [Req("GET", "/?name=ada"), Req("POST", "/", FORM, b"name=bob")]),
        (WERKZEUG, "Werkzeug", [Req("GET", "/?name=ada"), Req("PUT", "/x")]),
        (PYRAMID_WITH, "Pyramid", [Req("GET", "/hello/ada"), Req("GET", "/nope")]),
    ],
    ids=[
        "flask",
        "falcon",
        "bottle",
        "webob-wsgify",
        "werkzeug-request-application",
        "pyramid-with-block",
    ],
)
def test_a_framework_app_is_served_as_asgi_after_it_is_built(
    source: str, framework: str, requests: list[Req]
) -> None:
    result = migrate(source)
    (message,) = served_app_changes(result)
    assert f"a {framework} app" in message
    # after the last statement that builds it (routes, config); Flask's command line finds
    # the Flask app the module keeps
    wrapped = "flask_app := app" if framework == "Flask" else "app"
    assert result.new_source.rstrip().endswith(f"app = WsgiToAsgi({wrapped})")
    assert_same_behaviour(source, result.new_source, requests)
    assert_second_run_changes_nothing(result)


def test_an_app_of_a_subclass_of_a_framework_class_is_served() -> None:
    before = """
        from flask import Flask, jsonify


        class ShopFlask(Flask):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.shop_name = "corner shop"


        app = ShopFlask(__name__)


        @app.route("/name")
        def name():
            return jsonify(name=app.shop_name)
    """
    result = migrate(before)
    (message,) = served_app_changes(result)
    assert "a Flask app (`ShopFlask(...)`, a `Flask`)" in message
    assert result.new_source.rstrip().endswith("app = WsgiToAsgi(flask_app := app)")
    assert_same_behaviour(before, result.new_source, [Req("GET", "/name"), Req("GET", "/x")])
    assert_second_run_changes_nothing(result)


def test_an_app_a_factory_of_another_module_makes_is_served_as_asgi() -> None:
    """``app = main(settings)`` in an entry-point module: the project index knows ``main``
    returns a Pyramid app."""
    before = dedented(
        {
            "shop/__init__.py": PYRAMID_PACKAGE,
            "wsgi.py": 'from shop import main\n\napp = main({"shop.name": "x"})\n',
        }
    )
    after, results = migrate_project(before)
    assert after["shop/__init__.py"] == before["shop/__init__.py"]
    (change,) = results["wsgi.py"].changes
    assert change.kind == "adapted"
    assert "a Pyramid app (`config.make_wsgi_app()`) made by `main()`" in change.message
    requests = [Req("GET", "/hello/ada"), Req("GET", "/nope")]
    assert_same_project_behaviour(before, after, "wsgi", requests)


def test_a_call_of_an_unknown_function_is_left_alone() -> None:
    source = "from elsewhere import make_thing\n\napp = make_thing()\n"
    assert not migrate(source).changes


FLASK_FACTORY = textwrap.dedent("""\
    from flask import Flask, jsonify, request


    def create_app(config=None):
        app = Flask(__name__)
        app.config.update(config or {})

        @app.route("/greet")
        def greet():
            return jsonify(who=request.args.get("who", "-"), name=app.config.get("NAME"))

        return app
""")


def test_a_factory_no_module_serves_gets_an_asgi_sibling_for_asgi_servers() -> None:
    before = FLASK_FACTORY
    result = migrate(before)
    (message,) = served_app_changes(result)
    assert "a Flask app (`Flask(...)`) made by `create_app()`" in message
    assert "`uvicorn --factory example:create_asgi_app`" in message
    assert result.new_source.endswith(
        "def create_asgi_app(*args, **kwargs):\n    return WsgiToAsgi(create_app(*args, **kwargs))\n"
    )
    assert "def create_app(config=None):\n    app = Flask(__name__)" in result.new_source
    assert_second_run_changes_nothing(result)
    requests = [Req("GET", "/greet?who=ada"), Req("GET", "/missing")]
    served = '\napp = create_app({"NAME": "shop"})\n'
    assert_same_behaviour(
        before + served, result.new_source + served.replace("create_", "create_asgi_"), requests
    )


INDICO_SHAPED = {
    # a Flask subclass with a mixin, in a module of its own
    "shop/wrappers.py": """
        from flask import Flask


        class PluginMixin:
            plugins = ()


        class ShopFlask(PluginMixin, Flask):
            pass
    """,
    # a factory returning the app of the app context it is called in, if any (Indico's
    # make_app): a return this run cannot read
    "shop/app.py": """
        from flask import current_app, has_app_context, jsonify, request

        from shop.wrappers import ShopFlask


        def make_app(testing=False):
            if has_app_context():
                return current_app._get_current_object()
            app = ShopFlask(__name__)
            app.config["TESTING"] = testing

            @app.route("/greet")
            def greet():
                return jsonify(who=request.args.get("who", "-"), testing=app.config["TESTING"])

            return app
    """,
}


def test_a_factory_with_a_return_the_run_cannot_read_gets_an_as_asgi_sibling() -> None:
    after, results = migrate_project(dedented(INDICO_SHAPED))
    (change,) = results["shop/app.py"].changes
    assert "a Flask app (`ShopFlask(...)`, a `Flask`) made by `make_app()`" in change.message
    assert "`make_asgi_app` serves it through adapters.as_asgi" in change.message
    assert after["shop/app.py"].endswith(
        "def make_asgi_app(*args, **kwargs):\n    return as_asgi(make_app(*args, **kwargs))\n"
    )
    before = dedented(INDICO_SHAPED)
    served = {"serve.py": "from shop.app import make_app\n\napp = make_app(testing=True)\n"}
    served_after = {"serve.py": served["serve.py"].replace("make_app", "make_asgi_app")}
    requests = [Req("GET", "/greet?who=ada"), Req("GET", "/missing")]
    assert_same_project_behaviour(
        {**before, **served}, {**after, **served_after}, "serve", requests
    )


@pytest.mark.parametrize(
    "served",
    ["app = create_app()\n", "from shop import create_app\n\napp = create_app()\n"],
    ids=["in its module", "in another module"],
)
def test_a_factory_whose_app_a_module_serves_gets_no_sibling(served: str) -> None:
    files = {"shop/__init__.py": FLASK_FACTORY}
    if served.startswith("from"):
        files["wsgi.py"] = served
    else:
        files["shop/__init__.py"] += "\n\n" + served
    after, _ = migrate_project(dedented(files))
    assert "create_asgi_app" not in after["shop/__init__.py"]


def test_an_app_a_factory_of_another_module_makes_says_why_its_framework_stays() -> None:
    files = {
        "shop/__init__.py": "import flask_login\n" + FLASK_FACTORY,
        "wsgi.py": "from shop import create_app\n\napp = create_app()\n",
    }
    _, results = migrate_project(dedented(files))
    (change,) = results["wsgi.py"].changes
    assert "(the run stays on Flask: it uses the Flask extension `flask_login`" in change.message


def test_a_factory_that_needs_arguments_gets_no_sibling() -> None:
    """``uvicorn --factory`` calls it with none: Pyramid's ``main(global_config, **settings)``."""
    result = migrate(
        PYRAMID_PACKAGE.replace("def main(settings):", "def main(global_config, **settings):")
    )
    assert "main_asgi" not in result.new_source
    bare = migrate(PYRAMID_PACKAGE.replace("def main(settings):", "def main(settings=None):"))
    assert "def main_asgi(*args, **kwargs):" in bare.new_source


def test_the_main_block_gets_the_wsgi_app_until_it_binds_the_name_anew() -> None:
    # every use it made of the WSGI app gets that app (as_wsgi unwraps WsgiToAsgi); an
    # attribute goes through the adapter, uvicorn takes the ASGI app, a keyword names no
    # variable, and after `app = ...` the name is the block's own
    result = migrate(
        """\
        import bottle
        import uvicorn

        app = bottle.Bottle()

        if __name__ == "__main__":
            app.config["x"] = 1
            check(app, handler=app)
            uvicorn.run(app)
            app = Wrapper(app)
            serve(app)
        """
    )
    main = result.new_source.split('if __name__ == "__main__":\n')[1]
    code = [line.strip() for line in main.splitlines() if not line.strip().startswith("#")]
    assert code == [
        'app.config["x"] = 1',
        "check(as_wsgi(app), handler=as_wsgi(app))",
        "uvicorn.run(app)",
        "app = Wrapper(as_wsgi(app))",
        "serve(app)",
    ]
    markers = [c for c in result.changes if "hands it on" in c.message]
    assert [c.line for c in markers] == [8, 10]
    assert_second_run_changes_nothing(result)


def test_the_flask_app_hint_names_the_module_as_its_project_imports_it() -> None:
    # `services/web` is a folder, not a package: FLASK_APP=project names the app
    files = {
        "services/web/project/__init__.py": "from flask import Flask\n\napp = Flask(__name__)\n",
        "services/web/project/views/__init__.py": "",
    }
    _, results = migrate_project(files)
    (change,) = results["services/web/project/__init__.py"].changes
    assert "naming `project:app` must name `project:flask_app`" in change.message


def test_an_app_a_factory_makes_from_a_class_of_a_third_module_is_served_as_asgi() -> None:
    """`serve.py` calls `make_app()`, whose app is made by a class of a third module: the
    summary of `shop/app.py` says `make_app` returns what `ShopFlask(...)` makes, and the
    project index, knowing `ShopFlask` is a Flask class, tells `serve.py`, which serves it
    (through `as_asgi`: `make_app` may also return an app it cannot read). The factory then
    needs no ASGI sibling."""
    files = {**INDICO_SHAPED, "serve.py": "from shop.app import make_app\n\napp = make_app()\n"}
    before = dedented(files)
    after, results = migrate_project(before)
    assert after["shop/app.py"] == before["shop/app.py"]
    (change,) = results["serve.py"].changes
    assert "a Flask app (`ShopFlask(...)`, a `Flask`) made by `make_app()`" in change.message
    assert after["serve.py"].rstrip().endswith("app = as_asgi(app)")
    requests = [Req("GET", "/greet?who=ada"), Req("GET", "/nope")]
    assert_same_project_behaviour(before, after, "serve", requests)
