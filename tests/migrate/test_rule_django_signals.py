"""Rule ``django-signals``: a ``request_started`` receiver taking the WSGI environ gets one
built from the scope under ASGI, and the project answers under uvicorn as under wsgiref;
without the rule every request answers 500 under ASGI (Django sends the scope there, and the
receiver's ``environ`` parameter is missing)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import httpx

from migrate.runner import migrate_sources
from tests.django_served import SHOP_WSGI, before_and_after, served, shop_settings
from tests.harness import change_kinds, migrate_project_twice

SIGNALS = """
    from django.core.signals import request_started
    from django.dispatch import receiver

    SEEN = []


    @receiver(request_started)
    def remember(sender, environ, **kwargs):
        \"\"\"What each request asked for, as a WSGI server gives it.\"\"\"
        query = environ.get("QUERY_STRING")
        SEEN.append([environ["REQUEST_METHOD"], environ["PATH_INFO"], query, environ.get("HTTP_X_TRACE")])


    def count(sender, environ, **extra):
        SEEN.append(len(environ.get("HTTP_COOKIE", "")))


    request_started.connect(count)
"""
PROJECT = {
    "shop/__init__.py": "",
    "shop/apps.py": """
        from django.apps import AppConfig


        class ShopConfig(AppConfig):
            name = "shop"

            def ready(self):
                from shop import signals  # noqa: F401  (connects the receivers)
    """,
    "shop/settings.py": shop_settings(installed_apps=["shop.apps.ShopConfig"]),
    "shop/signals.py": SIGNALS,
    "shop/urls.py": """
        from django.http import JsonResponse
        from django.urls import path

        from shop.signals import SEEN


        def seen(request):
            return JsonResponse({"seen": SEEN[-6:]})


        urlpatterns = [path("seen", seen)]
    """,
    "shop/wsgi.py": SHOP_WSGI,
}


def answers(root: Path, kind: str) -> list[tuple[int, bytes]]:
    with served(root, kind, "shop", "/seen") as url, httpx.Client(base_url=url) as client:
        return [
            (response.status_code, response.content)
            for response in (
                client.get("/seen?page=2", headers={"X-Trace": "t-1"}),
                client.post("/missing", headers={"Cookie": "session=abc"}),
                client.get("/seen"),
            )
        ]


def test_a_receiver_of_the_environ_gets_one_under_asgi(tmp_path: Path) -> None:
    _, results = migrate_project_twice(PROJECT)
    assert change_kinds(results, "django-signals") == ["converted", "converted"]
    before, after = before_and_after(tmp_path, PROJECT)
    signals = (after / "shop" / "signals.py").read_text()
    assert "def remember(sender, environ=None, **kwargs):" in signals
    assert 'environ = adapters.environ_from_scope(extra["scope"], io.BytesIO())' in signals
    expected = answers(before, "wsgi")
    assert expected[2][0] == 200 and b'["POST", "/missing", "", null], 11' in expected[2][1]
    assert answers(after, "asgi") == expected

    unmigrated = tmp_path / "unmigrated"  # the receivers as written, the rest migrated
    shutil.copytree(after, unmigrated)
    shutil.copy(before / "shop" / "signals.py", unmigrated / "shop" / "signals.py")
    assert [status for status, _ in answers(unmigrated, "asgi")] == [500, 500, 500]


def test_a_receiver_storing_into_the_environ_is_marked() -> None:
    source = textwrap.dedent(
        """
        import time

        from django.core.signals import request_started
        from django.dispatch import receiver


        @receiver([request_started])
        def stamp(sender, environ, **kwargs):
            environ["request_start_time"] = time.time()


        @receiver(request_started)
        def strict(sender, environ):  # no **kwargs: Django's connect refuses it
            pass
        """
    )
    result = migrate_sources({"signals.py": source}, ["django-signals"])["signals.py"]
    assert [(c.line, c.kind) for c in result.changes] == [(9, "converted"), (9, "manual")]
    assert "# migrate[django-signals]: this receiver stores into the environ" in result.new_source
    assert "def strict(sender, environ):" in result.new_source
    again = migrate_sources({"signals.py": result.new_source}, ["django-signals"])["signals.py"]
    assert again.new_source == result.new_source and not again.changes
