"""Rule ``django-settings``: a Django project's settings, for serving it under ASGI.

WhiteNoise (WSGI only) becomes ServeStatic, its ASGI fork with the same settings; persistent
database connections, which leak under ASGI, are switched off and marked; a sync generator
handed to ``StreamingHttpResponse`` (read whole under ASGI) is marked. Behaviour: the project
before, ``shop.wsgi`` with WhiteNoise under wsgiref, and after, ``shop.asgi`` with ServeStatic
under uvicorn, each in a process of its own, answer the same requests (static files
included) with the same status, headers and body.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.django_served import SHOP_WSGI, before_and_after, served
from tests.harness import migrate_project_twice

REPO = Path(__file__).resolve().parents[2]

PROJECT = {
    "shop/__init__.py": "",
    "shop/settings.py": """
        from pathlib import Path

        BASE_DIR = Path(__file__).resolve().parent
        SECRET_KEY = "test-only-secret"
        DEBUG = False
        ALLOWED_HOSTS = ["*"]
        INSTALLED_APPS = ["whitenoise.runserver_nostatic", "django.contrib.staticfiles"]
        MIDDLEWARE = [
            "django.middleware.security.SecurityMiddleware",
            "whitenoise.middleware.WhiteNoiseMiddleware",
            "django.middleware.common.CommonMiddleware",
        ]
        ROOT_URLCONF = "shop.urls"
        DATABASES = {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:", "CONN_MAX_AGE": 600}
        }
        STATIC_URL = "/static/"
        STATICFILES_DIRS = [BASE_DIR / "static"]
        WHITENOISE_USE_FINDERS = True
        WHITENOISE_MAX_AGE = 120
    """,
    "shop/urls.py": """
        from django.http import HttpResponse
        from django.urls import path


        def index(request):
            return HttpResponse("hello " + request.GET.get("name", "world"))


        urlpatterns = [path("", index)]
    """,
    "shop/wsgi.py": SHOP_WSGI,
    "shop/static/site.css": "body { color: red; }\n",
    "requirements.txt": "django>=5\nwhitenoise>=6\n",
}


def answers(url: str) -> list[tuple[int, dict[str, str], bytes]]:
    out = []
    with httpx.Client(base_url=url, timeout=10) as client:
        etag = client.get("/static/site.css").headers["etag"]
        for path, headers in [
            ("/?name=ada", {}),
            ("/static/site.css", {}),
            ("/static/site.css", {"If-None-Match": etag}),
            ("/static/missing.css", {}),
        ]:
            response = client.get(path, headers=headers)
            kept = {k: v for k, v in response.headers.items() if k not in ("date", "server")}
            out.append((response.status_code, kept, response.content))
    return out


def test_whitenoise_becomes_servestatic_and_serves_the_same(tmp_path: Path) -> None:
    before, after = before_and_after(tmp_path, PROJECT)
    settings = (after / "shop" / "settings.py").read_text()
    assert '"servestatic.middleware.ServeStaticMiddleware"' in settings
    assert '"servestatic.runserver_nostatic"' in settings
    assert "SERVESTATIC_MAX_AGE = 120" in settings and "WHITENOISE" not in settings
    assert (
        '"CONN_MAX_AGE": 0' in settings and "# migrate[django-settings]: CONN_MAX_AGE" in settings
    )
    assert "servestatic" in (after / "requirements.txt").read_text()
    with served(before, "wsgi", "shop", "/") as url:
        expected = answers(url)
    with served(after, "asgi", "shop", "/") as url:
        got = answers(url)
    assert expected[1][0] == 200 and expected[1][2] == b"body { color: red; }\n"
    assert expected[2][0] == 304
    # the one difference of the libraries: ServeStatic's 304 also says who may read the
    # file (as its 200 does); and wsgiref gives a 304 a Content-Length of 0
    assert got[2][1].pop("access-control-allow-origin") == "*"
    expected[2][1].pop("content-length", None)
    assert got == expected
    again = subprocess.run(
        [sys.executable, "-m", "migrate", ".", "--check"],
        cwd=after,
        capture_output=True,
        check=False,
    )
    assert again.returncode == 0, again.stdout.decode()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # a split settings module changing what the base one set
        (
            'DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)',
            'DATABASES["default"]["CONN_MAX_AGE"] = 0',
        ),
        (
            "DATABASES = {'default': dj_database_url.config(conn_max_age=600)}",
            "DATABASES = {'default': dj_database_url.config(conn_max_age=0)}",
        ),
        (
            'MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")',
            'MIDDLEWARE.insert(1, "servestatic.middleware.ServeStaticMiddleware")',
        ),
        (
            'STORAGES = {"staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}',
            'STORAGES = {"staticfiles": {"BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"}}',
        ),
    ],
)
def test_the_forms_settings_take(before: str, after: str) -> None:
    migrated, _ = migrate_project_twice({"config/settings/production.py": before + "\n"})
    assert after in migrated["config/settings/production.py"]


def test_what_is_no_settings_module_is_left_alone() -> None:
    source = 'CACHE = {"CONN_MAX_AGE": 600}\nPATH = "whitenoise.middleware.WhiteNoiseMiddleware"\n'
    migrated, results = migrate_project_twice({"tools.py": source})
    assert migrated["tools.py"] == source
    assert not results["tools.py"].changes


STREAMING = """
from django.http import StreamingHttpResponse


def rows():
    for n in range(3):
        yield "%d\\n" % n


def export(request):
    return StreamingHttpResponse(rows(), content_type="text/csv")


def squares(request):
    return StreamingHttpResponse(("%d\\n" % (n * n) for n in range(3)))


def report(request):
    def lines():
        yield "total\\n"

    response = StreamingHttpResponse(lines())
    response["Content-Disposition"] = "attachment"
    return response
"""


def test_a_sync_generator_given_to_a_streaming_response_is_marked() -> None:
    migrated, results = migrate_project_twice({"shop/views.py": STREAMING})
    text = migrated["shop/views.py"]
    assert text.count("# migrate[django-settings]: StreamingHttpResponse is given a sync") == 3
    assert [c.kind for c in results["shop/views.py"].changes] == ["manual"] * 3


FILES = """
from django import http
from django.http import FileResponse, HttpResponse


def download(request):
    return FileResponse(open("report.pdf", "rb"), as_attachment=True)


def invoice(request):
    response = http.FileResponse(open("invoice.pdf", "rb"))
    return response


def page(request):
    return HttpResponse("no file")
"""


def test_a_file_response_is_marked_it_is_read_whole_under_asgi() -> None:
    migrated, results = migrate_project_twice({"shop/views.py": FILES})
    text = migrated["shop/views.py"]
    marker = "# migrate[django-settings]: FileResponse under ASGI: Django reads the whole file"
    assert text.count(marker) == 2
    assert f"{marker}" in text.split("def download")[1].split("def invoice")[0]
    assert "def page(request):\n    return HttpResponse" in text  # no marker there
    assert [c.kind for c in results["shop/views.py"].changes] == ["manual"] * 2
