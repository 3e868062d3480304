"""Rule ``served-app``: a module serving what a factory of raw WSGI apps of another module of
the run makes (``app = make_app("hi")`` in ``wsgi.py``, the factory in ``shop/web.py``).

Before, the project summaries knew only the factories of framework apps (``create_app()``
making a Flask app): ``wsgi.py``'s ``app`` stayed WSGI with no word, and ``uvicorn wsgi:app``
failed. Now the factory is known to make an app that its own module may convert or keep, so
the name is served through ``adapters.as_asgi`` (which wraps only a WSGI app), and a class
whose instances only such a factory makes says why it stays WSGI. So is an instance of a
subclass of an app class of another module whose own ``__call__`` shows nothing of WSGI
(``return super().__call__(environ, start_response)``).
"""

from __future__ import annotations

import inspect

from tests.harness import Req, assert_same_project_behaviour, change_kinds, load_project
from tests.migrate.test_rule_wsgi_app_modules import migrate_project

CLOSURE_FACTORY = {
    "shop/__init__.py": "",
    "shop/web.py": """
        def make_app(greeting):
            def app(environ, start_response):
                body = (greeting + " " + environ["PATH_INFO"]).encode()
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [body]

            return app
    """,
    "wsgi.py": """
        from shop.web import make_app

        app = make_app("hello")
    """,
}


def test_what_a_factory_of_another_module_makes_is_served_as_asgi() -> None:
    after, results = migrate_project(CLOSURE_FACTORY)
    assert "app = as_asgi(app)" in after["wsgi.py"]
    assert change_kinds(results, "served-app") == ["adapted"]
    # the factory's own module cannot see who calls it: it keeps it WSGI, and says so
    assert change_kinds(results, "wsgi-app") == ["manual"]
    assert "no name of this module holds an app it makes" in after["shop/web.py"]
    assert_same_project_behaviour(CLOSURE_FACTORY, after, "wsgi", [Req("GET", "/a/b")])


CLASS_FACTORY = {
    "quotes/__init__.py": "",
    "quotes/store.py": """
        class QuoteStore:
            def __init__(self, quotes):
                self.quotes = list(quotes)

            def first(self):
                return self.quotes[0]


        def default_store():
            return QuoteStore(["simple is better than complex"])
    """,
    "quotes/api.py": '''
        """The quote API, as a plain WSGI class."""

        import json

        from .store import QuoteStore, default_store


        class QuoteApi:
            def __init__(self, store: QuoteStore):
                self.store = store

            def __call__(self, environ, start_response):
                if environ.get("PATH_INFO") != "/quote":
                    return self._not_found(start_response)
                return self._json(start_response, "200 OK", {"quote": self.store.first()})

            def _json(self, start_response, status, payload):
                body = json.dumps(payload).encode()
                start_response(status, [("Content-Type", "application/json")])
                return [body]

            def _not_found(self, start_response):
                return self._json(start_response, "404 Not Found", {"detail": "Not Found"})


        def create_quote_app(store=None):
            """Build the quote API."""
            return QuoteApi(store or default_store())


        __all__ = ["QuoteApi", "create_quote_app"]
    ''',
    "wsgi.py": """
        from quotes.api import create_quote_app

        app = create_quote_app()
    """,
}


def test_a_class_made_by_an_exported_factory_stays_wsgi_and_is_served_where_used() -> None:
    after, results = migrate_project(CLASS_FACTORY)
    assert "app = as_asgi(app)" in after["wsgi.py"]
    assert change_kinds(results, "wsgi-app") == ["manual"]
    assert "`QuoteApi()` or `create_quote_app()`" in after["quotes/api.py"]
    requests = [Req("GET", "/quote"), Req("GET", "/other")]
    assert_same_project_behaviour(CLASS_FACTORY, after, "wsgi", requests)


CONVERTED_THERE = {
    "shop/__init__.py": "",
    "shop/web.py": """
        def make_app(greeting):
            def app(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [greeting.encode()]

            return app


        app = make_app("from the module")
    """,
    "wsgi.py": """
        from shop.web import make_app

        app = make_app("from wsgi.py")
    """,
}


def test_a_factory_its_module_converts_is_passed_on_unchanged() -> None:
    after, results = migrate_project(CONVERTED_THERE)
    assert change_kinds(results, "wsgi-app") == ["converted"]
    assert "app = as_asgi(app)" in after["wsgi.py"]
    # as_asgi hands an ASGI app on as it is: no adapter around the converted app
    assert inspect.iscoroutinefunction(load_project(after, "wsgi").app)
    assert_same_project_behaviour(CONVERTED_THERE, after, "wsgi", [Req("GET", "/")])


SUBCLASS_ELSEWHERE = {
    "web/__init__.py": "",
    "web/framework.py": """
        class Application:
            def __init__(self, pages):
                self.pages = dict(pages)

            def __call__(self, environ, start_response):
                status, text = self.render(environ["PATH_INFO"])
                start_response(status, [("Content-Type", "text/plain")])
                return [text.encode()]

            def render(self, path):
                if path in self.pages:
                    return "200 OK", self.pages[path]
                return "404 Not Found", "no page"


        class DebugApplication(Application):
            # shows nothing of WSGI itself: it hands the request to its base
            def __call__(self, environ, start_response):
                self.served = getattr(self, "served", 0) + 1
                return super().__call__(environ, start_response)
    """,
    "wsgi.py": """
        from web.framework import DebugApplication

        application = DebugApplication({"/": "home"})
    """,
}


def test_an_instance_of_a_subclass_of_an_app_class_of_another_module_is_served() -> None:
    after, results = migrate_project(SUBCLASS_ELSEWHERE)
    assert "application = as_asgi(application)" in after["wsgi.py"]
    assert change_kinds(results, "served-app") == ["adapted"]
    requests = [Req("GET", "/"), Req("GET", "/x")]
    assert_same_project_behaviour(
        SUBCLASS_ELSEWHERE, after, "wsgi", requests, app_name="application"
    )
