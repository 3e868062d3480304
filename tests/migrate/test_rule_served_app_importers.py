"""Rule ``served-app``: the modules using an app another module serves, as the WSGI app it was.

A Bottle app is served through the adapter (``app = WsgiToAsgi(app)``), so ``uvicorn
shop.web:app`` serves it; its tests hand it to werkzeug's test client, which calls a WSGI
app. Each of those uses gets it through ``adapters.as_wsgi``: the project's own tests pass
after the run as before, and the app answers the same.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.harness import Req, assert_same_project_behaviour
from tests.migrate.test_rule_wsgi_app_modules import migrate_project

REPO = Path(__file__).resolve().parents[2]

PROJECT = {
    "shop/__init__.py": "",
    "shop/web.py": """
        import bottle

        app = bottle.Bottle()


        @app.route("/hello/<name>")
        def hello(name):
            return f"hello {name} ({bottle.request.query.get('q', '-')})"


        @app.post("/items")
        def add():
            return {"added": bottle.request.json}
    """,
    # a fixture hands the app to the tests: no sign of WSGI here but the name
    "tests/conftest.py": """
        import pytest

        from shop.web import app as shop_app


        @pytest.fixture
        def app():
            return shop_app
    """,
    "tests/test_web.py": """
        import json

        from werkzeug.test import Client

        import shop.web


        def test_hello(app):
            # `app` is the fixture's: a parameter, not the import
            assert Client(app).get("/hello/ada?q=x").text == "hello ada (x)"


        def test_items():
            client = Client(shop.web.app)
            response = client.post("/items", json={"n": 1})
            assert json.loads(response.text) == {"added": {"n": 1}}
            assert shop.web.app.config is not None  # through the adapter, as it is
    """,
}


def run_tests(files: dict[str, str], folder: Path) -> subprocess.CompletedProcess[str]:
    for relpath, text in files.items():
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        (folder / relpath).write_text(textwrap.dedent(text))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=folder,
        env={"PYTHONPATH": f"{REPO}:{folder}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_tests_of_a_served_app_get_the_wsgi_app_they_used(tmp_path: Path) -> None:
    after, results = migrate_project(PROJECT)
    assert after["shop/web.py"].rstrip().endswith("app = WsgiToAsgi(app)")
    assert "    return as_wsgi(shop_app)\n" in after["tests/conftest.py"]
    assert "Client(app).get(" in after["tests/test_web.py"]  # the fixture's parameter
    assert "client = Client(as_wsgi(shop.web.app))" in after["tests/test_web.py"]
    assert "assert shop.web.app.config is not None" in after["tests/test_web.py"]
    assert {c.kind for r in results.values() for c in r.changes} == {"adapted"}

    ran = {
        "before": run_tests(PROJECT, tmp_path / "before"),
        "after": run_tests(after, tmp_path / "after"),
        # the module served as ASGI, its tests left as they were: they fail
        "tests left": run_tests({**PROJECT, "shop/web.py": after["shop/web.py"]}, tmp_path / "x"),
    }
    assert ran["before"].returncode == 0, ran["before"].stdout
    assert ran["after"].returncode == 0, ran["after"].stdout
    assert "2 passed" in ran["after"].stdout
    assert ran["tests left"].returncode != 0

    requests = [
        Req("GET", "/hello/bob?q=1"),
        Req("POST", "/items", (("Content-Type", "application/json"),), b'{"a": 2}'),
    ]
    assert_same_project_behaviour(PROJECT, after, "shop.web", requests)


FLASK_PROJECT = {
    "shop/__init__.py": "",
    "shop/web.py": """
        from flask import Flask

        app = Flask(__name__)


        @app.route("/boom")
        def boom():
            raise LookupError("no such item")
    """,
    # Flask's testing mode lets the view's exception reach the test: set on the Flask app
    "tests/test_web.py": """
        import pytest

        from shop.web import app


        def test_boom_reaches_the_test():
            app.testing = True
            with pytest.raises(LookupError):
                app.test_client().get("/boom")
    """,
}


def test_a_test_setting_an_attribute_of_a_served_app_sets_it_on_the_wsgi_app(
    tmp_path: Path,
) -> None:
    after, _ = migrate_project(FLASK_PROJECT)
    assert "    as_wsgi(app).testing = True\n" in after["tests/test_web.py"]
    assert "app.test_client().get(" in after["tests/test_web.py"]  # handed on by the adapter
    ran = {
        "before": run_tests(FLASK_PROJECT, tmp_path / "before"),
        "after": run_tests(after, tmp_path / "after"),
        # set on the adapter, the Flask app answers 500 and the test fails
        "tests left": run_tests(
            {**FLASK_PROJECT, "shop/web.py": after["shop/web.py"]}, tmp_path / "x"
        ),
    }
    assert ran["before"].returncode == 0, ran["before"].stdout
    assert ran["after"].returncode == 0, ran["after"].stdout
    assert ran["tests left"].returncode != 0


# the app under a name of its own, handed to the tests by a fixture: nothing here says WSGI
FIXTURE_PROJECT = {
    "bookshop.py": """
        import bottle

        shop = bottle.Bottle()


        @shop.route("/books/<title>")
        def book(title):
            return {"title": title}
    """,
    "tests/conftest.py": """
        import pytest

        from bookshop import shop


        @pytest.fixture
        def wsgi_app():
            return shop
    """,
    "tests/test_books.py": """
        import json

        from werkzeug.test import Client


        def test_book(wsgi_app):
            assert json.loads(Client(wsgi_app).get("/books/dune").text) == {"title": "dune"}
    """,
}


def test_a_fixture_handing_an_app_of_any_name_to_the_tests_gets_the_wsgi_app(
    tmp_path: Path,
) -> None:
    after, _ = migrate_project(FIXTURE_PROJECT)
    assert after["bookshop.py"].rstrip().endswith("shop = WsgiToAsgi(shop)")
    assert "    return as_wsgi(shop)\n" in after["tests/conftest.py"]
    ran = {
        "before": run_tests(FIXTURE_PROJECT, tmp_path / "before"),
        "after": run_tests(after, tmp_path / "after"),
    }
    assert ran["before"].returncode == 0, ran["before"].stdout
    assert ran["after"].returncode == 0, ran["after"].stdout
