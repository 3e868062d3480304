"""Rule ``django-request``: Django code reading ``request.environ`` (WSGI only: under ASGI,
``AttributeError``) reads ``request.META``, and ``isinstance(request, WSGIRequest)`` checks
``ASGIRequest`` too; the views answer under ASGI (uvicorn) as they did under WSGI (wsgiref),
where without the rule they answer 500 or skip a check. Keys Django does not set under ASGI
are marked."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import httpx

from migrate.runner import migrate_sources
from tests.django_served import SHOP_WSGI, before_and_after, served, shop_settings
from tests.harness import change_kinds, migrate_project_twice

VIEWS = """
    from django.core.handlers.wsgi import WSGIRequest
    from django.http import HttpResponseForbidden, JsonResponse
    from django.urls import path
    from django.views import View


    def staff_only(view):
        def checked(request):
            if isinstance(request, WSGIRequest) and request.GET.get("staff") != "yes":
                return HttpResponseForbidden("staff only")
            return view(request)

        return checked


    @staff_only
    def secret(request):
        return JsonResponse({"secret": 42})


    def where(request):
        ip = request.environ.get("HTTP_X_FORWARDED_FOR", request.environ["REMOTE_ADDR"])
        query = request.environ["QUERY_STRING"]
        if "HTTP_REFERER" in request.environ:
            query += " (referred)"
        return JsonResponse({"ip": ip, "query": query, "stamp": request.environ["STAMP"]})


    class Agent(View):
        def get(self, request):
            return JsonResponse({"agent": self.request.environ.get("HTTP_USER_AGENT", "")})


    urlpatterns = [
        path("where", where), path("agent", Agent.as_view()), path("secret", secret)
    ]
"""
PROJECT = {
    "shop/__init__.py": "",
    "shop/settings.py": shop_settings(middleware=["shop.middleware.Stamp"]),
    "shop/middleware.py": """
        class Stamp:
            def __init__(self, get_response):
                self.get_response = get_response

            def __call__(self, request):
                request.environ["STAMP"] = request.environ["REQUEST_METHOD"].lower()
                return self.get_response(request)
    """,
    "shop/urls.py": VIEWS,
    "shop/wsgi.py": SHOP_WSGI,
}


def answers(root: Path, kind: str) -> list[tuple[int, bytes]]:
    with served(root, kind, "shop", "/agent") as url, httpx.Client(base_url=url) as client:
        return [
            (response.status_code, response.content)
            for response in (
                client.get("/where?page=2"),
                client.get(
                    "/where", headers={"Referer": "http://x/", "X-Forwarded-For": "10.1.2.3"}
                ),
                client.get("/agent", headers={"User-Agent": "probe/1.0"}),
                client.get("/secret"),
                client.get("/secret?staff=yes"),
            )
        ]


def test_environ_reads_become_meta_reads_and_answer_the_same(tmp_path: Path) -> None:
    _, results = migrate_project_twice(PROJECT)
    assert set(change_kinds(results, "django-request")) == {"converted"}
    before, after = before_and_after(tmp_path, PROJECT)
    urls = (after / "shop" / "urls.py").read_text()
    assert "request.environ" not in urls and "self.request.META.get(" in urls
    assert "isinstance(request, (WSGIRequest, ASGIRequest))" in urls
    assert (
        'request.META["STAMP"] = request.META["REQUEST_METHOD"]'
        in (after / "shop" / "middleware.py").read_text()
    )
    expected = answers(before, "wsgi")
    assert [status for status, _ in expected] == [200, 200, 200, 403, 200]
    assert expected[0] == (200, b'{"ip": "127.0.0.1", "query": "page=2", "stamp": "get"}')
    assert answers(after, "asgi") == expected

    unmigrated = tmp_path / "unmigrated"  # the views as written, the rest migrated
    shutil.copytree(after, unmigrated)
    shutil.copy(before / "shop" / "urls.py", unmigrated / "shop" / "urls.py")
    # environ: AttributeError; the staff check: False for an ASGIRequest, the secret given
    assert [status for status, _ in answers(unmigrated, "asgi")] == [500, 500, 500, 200, 200]


def test_what_django_does_not_set_under_asgi_is_marked() -> None:
    source = textwrap.dedent(
        """
        from wsgiref.util import request_uri

        from django.http import HttpResponse


        def scheme(request):
            return HttpResponse(request.META["wsgi.url_scheme"])


        def protocol(request):
            return HttpResponse(request.environ.get("SERVER_PROTOCOL", "HTTP/1.0"))


        def uri(request):
            return HttpResponse(request_uri(request.environ))


        def agent(request):
            return HttpResponse(request.META.get("HTTP_USER_AGENT", ""))
        """
    )
    result = migrate_sources({"views.py": source}, ["django-request"])["views.py"]
    manual = [(c.line, c.message) for c in result.changes if c.kind == "manual"]
    assert [line for line, _ in manual] == [8, 12, 16]
    assert "no 'wsgi.url_scheme'" in manual[0][1] and "use request.scheme" in manual[0][1]
    assert "no 'SERVER_PROTOCOL'" in manual[1][1]
    assert "handed on whole" in manual[2][1]
    assert "request_uri(request.META)" in result.new_source
    assert result.new_source.count("# migrate[django-request]:") == 3
    again = migrate_sources({"views.py": result.new_source}, ["django-request"])["views.py"]
    assert again.new_source == result.new_source and not again.changes


def test_a_module_without_django_is_left_alone() -> None:
    source = "def app(request):\n    return request.environ['PATH_INFO']\n"
    result = migrate_sources({"webob_app.py": source}, ["django-request"])["webob_app.py"]
    assert result.new_source == source and not result.changes
