"""Names a module gives on from another (``from .app import create_app`` in a package's
``__init__.py``): what the project index knows of them is what it knows of the original.

A package's ``__init__.py`` is where most projects put their public names (flaskbb's
``wsgi.py`` says ``from flaskbb import create_app``, which ``flaskbb/__init__.py`` imports
from ``flaskbb.app``). Each case runs the code before as WSGI and after as ASGI on the same
requests, and a second run changes nothing.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate.cli import main
from migrate.project import ModuleSummary
from migrate.runner import migrate_sources
from migrate.runner.source import _cpython_tree, _summary_of
from tests.harness import Req, assert_same_project_behaviour, load_project
from tests.migrate.test_rule_served_app import FLASK_FACTORY as FACTORY
from tests.migrate.test_rule_wsgi_app_modules import (
    APP,
    REQUESTS,
    WEB,
    dedented,
    kinds,
    migrate_project,
)

GREETINGS = [Req("GET", "/greet?who=ada"), Req("GET", "/greet"), Req("GET", "/nope")]


def test_an_app_made_by_a_factory_its_package_gives_on_is_served_as_asgi() -> None:
    before = dedented(
        {
            "shop/app.py": FACTORY,
            "shop/__init__.py": "from shop.app import create_app  # noqa\n",
            "wsgi.py": 'from shop import create_app\n\napp = create_app({"NAME": "x"})\n',
        }
    )
    after, results = migrate_project(before)
    (change,) = results["wsgi.py"].changes
    assert change.kind == "adapted"
    assert "a Flask app (`Flask(...)`) made by `create_app()`" in change.message
    # wsgi.py serves what the factory makes: the factory gets no ASGI sibling
    assert after["shop/app.py"] == before["shop/app.py"]
    assert after["shop/__init__.py"] == before["shop/__init__.py"]
    assert_same_project_behaviour(before, after, "wsgi", GREETINGS)


def test_re_exports_are_followed_through_modules_and_new_names() -> None:
    # a package gives on, under a new name, what one of its modules imports from another
    before = dedented(
        {
            "shop/factory.py": FACTORY,
            "shop/entry.py": "from .factory import create_app as build  # noqa\n",
            "shop/__init__.py": "from .entry import build as make_app  # noqa\n",
            "serve.py": "import shop\n\napplication = shop.make_app()\n",
        }
    )
    after, results = migrate_project(before)
    (change,) = results["serve.py"].changes
    # named by its own module's name for it
    assert "a Flask app (`Flask(...)`) made by `create_app()`" in change.message
    assert_same_project_behaviour(before, after, "serve", GREETINGS, app_name="application")


def test_a_factory_the_package_does_not_give_on_is_not_served_by_its_importers() -> None:
    # wsgi.py serves what shop/factory.py makes; shop/legacy.py's factory of the same name
    # is served by nobody: it gets its ASGI sibling, for `uvicorn --factory`
    before = dedented(
        {
            "shop/factory.py": FACTORY,
            "shop/legacy.py": FACTORY,
            "shop/__init__.py": "from .factory import create_app\n",
            "wsgi.py": "from shop import create_app\n\napp = create_app()\n",
        }
    )
    after, _ = migrate_project(before)
    assert after["shop/factory.py"] == before["shop/factory.py"]
    assert "def create_asgi_app(*args, **kwargs):" in after["shop/legacy.py"]
    assert "app = WsgiToAsgi(flask_app := app)" in after["wsgi.py"]


def test_a_served_app_its_package_gives_on_is_unwrapped_where_a_test_uses_it_as_wsgi() -> None:
    before = dedented(
        {
            "shop/web.py": """
                from flask import Flask

                app = Flask(__name__)


                @app.route("/")
                def index():
                    return "hi"
            """,
            "shop/__init__.py": "from .web import app\n",
            "test_shop.py": """
                from werkzeug.test import Client

                from shop import app


                def client():
                    return Client(app)
            """,
        }
    )
    after, results = migrate_project(before)
    assert "app = WsgiToAsgi(flask_app := app)" in after["shop/web.py"]
    (change,) = results["test_shop.py"].changes
    # the import names the package: the message names the module serving the app
    assert "(shop/web.py serves it through adapters.WsgiToAsgi)" in change.message
    assert "return Client(as_wsgi(app))" in after["test_shop.py"]
    assert_same_project_behaviour(before, after, "shop", [Req("GET", "/"), Req("GET", "/x")])
    for files in (before, after):
        test_module = load_project(files, "test_shop")
        response = test_module.client().get("/")
        assert (response.status_code, response.data) == (200, b"hi")


def test_helpers_a_package_gives_on_are_trusted_as_their_own_module() -> None:
    before = dedented(
        {
            "web/helpers.py": WEB,
            "web/__init__.py": """
                from web.helpers import (
                    checked_response,
                    cookies,
                    json_response,
                    lines,
                    query,
                    read_json,
                    request_path,
                    text_response,
                )
            """,
            "app.py": APP,
        }
    )
    after, results = migrate_project(before)
    assert set(kinds(results["app.py"]).values()) == {"converted"}
    assert_same_project_behaviour(before, after, "app", REQUESTS)


@pytest.mark.parametrize(
    "package",
    [
        # bound again: what it gives is not the factory any more
        "from .app import create_app\n\ncreate_app = print\n",
        # one of two: which one is imported is decided when it runs
        "try:\n    from .app import create_app\nexcept ImportError:\n    create_app = None\n",
        # a star import may rebind it
        "from .app import create_app\nfrom os.path import *\n",
    ],
)
def test_a_name_the_package_may_bind_to_something_else_is_not_followed(package: str) -> None:
    files = {
        "shop/app.py": FACTORY,
        "shop/__init__.py": package,
        "wsgi.py": "from shop import create_app\n\napp = create_app()\n",
    }
    results = migrate_sources(dedented(files))
    assert results["wsgi.py"].changes == []


def test_re_exports_that_go_round_lead_nowhere() -> None:
    files = {
        "shop/__init__.py": "from .a import create_app\n",
        "shop/a.py": "from .b import create_app\n",
        "shop/b.py": "from shop import create_app\n",
        "wsgi.py": "from shop import create_app\n\napp = create_app()\n",
    }
    results = migrate_sources(files)
    assert all(not result.changes for result in results.values())


def test_a_summary_lists_the_names_its_module_gives_on() -> None:
    source = (
        "from __future__ import annotations\n"
        "import os\n"
        "from .app import create_app, VERSION as version\n"
        "from . import views\n"
        "if os.name:\n"
        "    from .other import hidden\n"
    )
    summary = _summary_of(source, "shop/__init__.py", _cpython_tree(source))
    assert isinstance(summary, ModuleSummary)
    assert summary.reexports == (
        ("create_app", ".app", "create_app"),
        ("version", ".app", "VERSION"),
        ("views", ".", "views"),
    )


def test_the_cli_follows_a_package_to_modules_no_file_of_the_run_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner summarizes the modules the files it migrates import, then those their
    re-exports lead to (``web/env.py``: no file imports ``env``, and no rule runs on it),
    with and without its cache, and gives the same result either way."""
    monkeypatch.setenv("WSGI2ASGI_CACHE_DIR", str(tmp_path / "cache"))
    project = tmp_path / "project"
    before = dedented(
        {
            "web/env.py": """
                def request_path(environ):
                    return environ.get("PATH_INFO", "/")
            """,
            "web/__init__.py": "from web.env import request_path\n",
            "app.py": """
                from web import request_path


                def app(environ, start_response):
                    start_response("200 OK", [("Content-Type", "text/plain")])
                    return [request_path(environ).encode()]
            """,
        }
    )
    for relpath, source in before.items():
        (project / relpath).parent.mkdir(parents=True, exist_ok=True)
        (project / relpath).write_text(source)
    outputs: list[str] = []
    for extra in (["--no-cache"], [], []):  # the cache is filled, then used
        out = tmp_path / f"out{len(outputs)}"
        args = [str(project), "--out", str(out), "-j", "2", *extra]
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        outputs.append((out / "app.py").read_text())
    # the helper is trusted: the app is converted, not adapted
    assert "async def app(scope, receive, send):" in outputs[0]
    assert "# migrate[" not in outputs[0]
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]
    after = {**before, "app.py": outputs[0]}
    assert_same_project_behaviour(before, after, "app", [Req("GET", "/caf%C3%A9"), Req("GET", "/")])


def test_a_summary_lists_the_functions_returning_what_imported_names_make() -> None:
    source = textwrap.dedent("""\
        from flask import current_app, has_app_context

        from shop.wrappers import ShopFlask
        from shop import tools


        def make_app():
            if has_app_context():
                return current_app._get_current_object()
            app = ShopFlask(__name__)
            return app


        def make_other():
            return tools.build(__name__)


        def wrapped():
            return tools.Middleware(ShopFlask(__name__))


        def version():
            return "1.0"
    """)
    summary = _summary_of(source, "shop/app.py", _cpython_tree(source))
    assert summary is not None
    # `wrapped` hands back middleware around the app: not what the class makes
    assert summary.pending_factories == (
        (
            "make_app",
            (("flask.current_app", "_get_current_object"), ("shop.wrappers", "ShopFlask")),
            False,
        ),
        ("make_other", (("shop.tools", "build"),), False),
    )


def test_a_function_returning_what_no_factory_makes_is_no_factory() -> None:
    files = {
        "shop/tools.py": "def build(name):\n    return {'name': name}\n",
        "shop/app.py": (
            "from flask import request\n\nfrom shop import tools\n\n\n"
            "def make_app():\n    return tools.build(__name__)\n"
        ),
        "serve.py": "from shop.app import make_app\n\napp = make_app()\n",
    }
    results = migrate_sources(files)
    assert all(not result.changes for result in results.values())
