"""Rule ``django-middleware``: a ``MiddlewareMixin`` class overriding ``__call__`` with sync
code answers under ASGI as under WSGI (served by wsgiref before, uvicorn after; without the
rule's ``async_capable = False`` it answers 500: Django hands it an async ``get_response``)."""

from __future__ import annotations

import ast
import re
import shutil
import textwrap
from pathlib import Path

import httpx
import pytest

from migrate.frameworks.django import async_views
from migrate.runner import migrate_sources
from tests.django_served import IN_MEMORY, SHOP_WSGI, before_and_after, served, shop_settings
from tests.harness import change_kinds, migrate_project_twice

MIDDLEWARE = """
    import itertools

    from django.db import connection
    from django.utils.deprecation import MiddlewareMixin

    COUNTER = itertools.count(1)


    class CountingMiddleware(MiddlewareMixin):
        \"\"\"Numbers the responses.\"\"\"

        def __call__(self, request):
            response = self.get_response(request)
            response["X-Count"] = str(next(COUNTER))
            return response


    class TaggedMiddleware(CountingMiddleware):
        def __call__(self, request):
            response = super().__call__(request)
            response["X-Tag"] = "tagged"
            return response


    class SwitchingMiddleware(MiddlewareMixin):
        def __call__(self, request):
            if self.async_mode:  # switches to async itself, as the mixin does
                return self.__acall__(request)
            return super().__call__(request)

        def process_response(self, request, response):
            response["X-Switching"] = "yes"
            return response


    class AuditMiddleware(MiddlewareMixin):
        def __call__(self, request):
            with connection.cursor() as cursor:  # the ORM: refused on the event loop
                cursor.execute("SELECT 1")
            return self.get_response(request)


    class HookMiddleware(MiddlewareMixin):
        def process_response(self, request, response):
            response["X-Hook"] = "yes"
            return response


    class PlainMiddleware:
        def __init__(self, get_response):
            self.get_response = get_response

        def __call__(self, request):
            response = self.get_response(request)
            response["X-Plain"] = "yes"
            return response
"""
PROJECT = {
    "shop/__init__.py": "",
    "shop/settings.py": shop_settings(
        middleware=[
            "shop.middleware.PlainMiddleware",  # sync only: Django adapts what is inside it
            "shop.middleware.AuditMiddleware",
            "shop.middleware.TaggedMiddleware",  # inside Audit: it alone breaks when unfixed
            "shop.middleware.SwitchingMiddleware",
            "shop.middleware.HookMiddleware",
        ],
        databases=IN_MEMORY,
    ),
    "shop/middleware.py": MIDDLEWARE,
    "shop/urls.py": """
        from django.http import HttpResponse, JsonResponse
        from django.urls import path


        def index(request):
            return HttpResponse("hello " + request.GET.get("name", "world"))


        async def ping(request):
            return JsonResponse({"pong": True})


        urlpatterns = [path("", index), path("ping", ping)]
    """,
    "shop/wsgi.py": SHOP_WSGI,
}


def answers(root: Path, kind: str) -> list[tuple[int, dict[str, str], bytes]]:
    out = []
    with served(root, kind, "shop", "/") as url, httpx.Client(base_url=url, timeout=10) as client:
        for path in ("/?name=ada", "/ping", "/missing"):
            response = client.get(path)
            kept = {k: v for k, v in response.headers.items() if k.startswith("x-")}
            out.append((response.status_code, kept, response.content))
    return out


def test_a_sync_call_override_is_run_sync_and_answers_the_same(tmp_path: Path) -> None:
    _, results = migrate_project_twice(PROJECT)
    kinds = change_kinds(results, "django-middleware")
    assert sorted(kinds) == ["adapted"] * 3 + ["manual"] * 4
    before, after = before_and_after(tmp_path, PROJECT)
    middleware = (after / "shop" / "middleware.py").read_text()
    assert middleware.count("\n    async_capable = False\n") == 3  # Counting, Tagged, Audit
    assert '"""Numbers the responses."""\n    # migrate[django-middleware]:' in middleware
    # the project has an async view: the sync-only middleware (Plain, and the fixed) say
    # each request to it holds a thread
    sync_only = re.findall(r"# migrate\[django-middleware\]: sync-only.*\nclass (\w+)", middleware)
    assert sync_only == [
        "CountingMiddleware", "TaggedMiddleware", "AuditMiddleware", "PlainMiddleware"
    ]  # fmt: skip
    assert "in front of async views (shop/urls.py:ping)" in middleware
    expected = answers(before, "wsgi")
    assert expected[0] == (  # the second response: the server's probe was the first
        200,
        {
            "x-count": "2",
            "x-tag": "tagged",
            "x-switching": "yes",
            "x-hook": "yes",
            "x-plain": "yes",
        },
        b"hello ada",
    )
    assert answers(after, "asgi") == expected

    # the same project without the rule's settings: 500 on every request, whether the
    # response is touched (Tagged, Counting) or the ORM is used (Audit, alone in MIDDLEWARE:
    # a sync-only middleware has Django run those outside it sync)
    settings = (after / "shop" / "settings.py").read_text()
    audit_alone = re.sub(
        r"MIDDLEWARE = \[.*?\]",
        'MIDDLEWARE = ["shop.middleware.AuditMiddleware"]',
        settings,
        flags=re.DOTALL,
    )
    for unfixed_classes, unfixed_settings in (
        (("CountingMiddleware", "TaggedMiddleware", "AuditMiddleware"), settings),
        (("AuditMiddleware",), audit_alone),
    ):
        unfixed = tmp_path / unfixed_classes[0]
        shutil.copytree(after, unfixed)
        (unfixed / "shop" / "middleware.py").write_text(without_fix(middleware, unfixed_classes))
        (unfixed / "shop" / "settings.py").write_text(unfixed_settings)
        assert [status for status, _, _ in answers(unfixed, "asgi")] == [500, 500, 500]


def without_fix(source: str, class_names: tuple[str, ...]) -> str:
    """``source`` without the ``async_capable = False`` the rule gave ``class_names``."""
    for name in class_names:
        fix = re.compile(
            rf"(class {name}\(.*\n(?: *\"\"\".*\n)?) *# migrate\[.*\n *async_capable = False\n\n"
        )
        source, found = fix.subn(r"\1", source)
        assert found == 1
    return source


def test_sync_only_middleware_is_marked_only_where_the_run_has_async_views() -> None:
    middleware = textwrap.dedent(
        """
        from django.utils.decorators import sync_and_async_middleware


        def timing(get_response):
            def middleware(request):
                return get_response(request)

            return middleware


        @sync_and_async_middleware
        def both(get_response):
            def middleware(request):
                return get_response(request)

            return middleware


        class Capable:
            async_capable = True

            def __init__(self, get_response):
                self.get_response = get_response

            def __call__(self, request):
                return self.get_response(request)
        """
    )
    views = "from django.http import HttpResponse\n\n\nasync def ping(request):\n    return HttpResponse()\n"
    marked = migrate_sources({"mw.py": middleware, "views.py": views}, ["django-middleware"])
    assert [c.line for c in marked["mw.py"].changes] == [5]  # timing alone
    assert (
        "# migrate[django-middleware]: sync-only middleware in front of async views (views.py:ping)"
        in marked["mw.py"].new_source
    )
    sync_views = views.replace("async def", "def")
    unmarked = migrate_sources({"mw.py": middleware, "views.py": sync_views}, ["django-middleware"])
    assert not unmarked["mw.py"].changes


def test_what_needs_no_change_is_left_alone() -> None:
    results = migrate_sources(
        {
            "mw.py": textwrap.dedent(
                """
                from django.utils.deprecation import MiddlewareMixin


                class Capable(MiddlewareMixin):
                    sync_capable = True
                    async_capable = False

                    def __call__(self, request):
                        return self.get_response(request)


                class Native(MiddlewareMixin):
                    async def __call__(self, request):
                        return await self.get_response(request)


                class Unrelated:
                    def __call__(self, request):
                        return request
                """
            )
        },
        ["django-middleware"],
    )
    assert not results["mw.py"].changes


@pytest.mark.parametrize(
    ("relpath", "source", "views"),
    [
        ("shop/views.py", "async def ping(request):\n    pass\n", ("ping",)),
        ("shop/urls.py", "async def ping(request):\n    pass\n\nurlpatterns = []\n", ("ping",)),
        (
            "shop/api.py",
            "class Stock(View):\n    async def get(self, request):\n        pass\n",
            ("Stock.get",),
        ),
        # an async helper taking a request is no view (Django's own alogin(request, user))
        ("shop/auth.py", "async def alogin(request, user):\n    pass\n", ()),
        ("shop/views.py", "async def helper(user, request):\n    pass\n", ()),
    ],
)
def test_the_async_views_the_project_index_is_told_of(
    relpath: str, source: str, views: tuple[str, ...]
) -> None:
    tree = ast.parse("from django.views import View\n" + source)
    assert async_views(relpath, tree) == views
    assert async_views(relpath, ast.parse(source)) == ()  # no Django: no views
