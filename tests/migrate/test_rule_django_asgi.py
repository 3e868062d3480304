"""Rule ``django-asgi``: a Django project with only ``wsgi.py`` gets ``asgi.py``.

The project is migrated by the real CLI; before, ``mysite.wsgi:application`` is served by
wsgiref, after, ``mysite.asgi:application`` by uvicorn, each in a process of its own (Django's
settings are per process), and the same requests get the same answers. The created file goes
through every mode: the piped diff creates it under ``git apply`` and ``patch -p1``,
``--write`` and ``--out`` write it, ``--check`` lists it, and a second run changes nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.django_served import served

REPO = Path(__file__).resolve().parents[2]

WSGI = '''\
"""
WSGI config for mysite project.

It exposes the WSGI callable as a module-level variable named ``application``.
"""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_wsgi_application()
'''

PROJECT = {
    "manage.py": "import os, sys\n",
    "mysite/__init__.py": "",
    "mysite/settings.py": """
        SECRET_KEY = "test-only-secret"
        DEBUG = False
        ALLOWED_HOSTS = ["*"]
        ROOT_URLCONF = "mysite.urls"
        INSTALLED_APPS = []
        DATABASES = {}
        MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
        USE_TZ = True
    """,
    "mysite/urls.py": """
        import json

        from django.http import JsonResponse
        from django.urls import path
        from django.views.decorators.csrf import csrf_exempt


        def hello(request):
            return JsonResponse({"hello": request.GET.get("name", "world"), "path": request.path})


        @csrf_exempt
        def echo(request):
            return JsonResponse({"method": request.method, "got": json.loads(request.body)})


        urlpatterns = [path("hello/", hello), path("echo/", echo)]
    """,
    "mysite/wsgi.py": WSGI,
}


def write_project(root: Path) -> None:
    for relpath, text in PROJECT.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) if relpath != "mysite/wsgi.py" else text)


def migrate(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "migrate", ".", *args],
        cwd=root,
        capture_output=True,
        timeout=120,
        check=False,
    )


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts and "__pycache__" not in p.parts
    }


def answers(url: str) -> list[tuple[int, str, object]]:
    out = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for method, path, body in [
            ("GET", "/hello/?name=ada", None),
            ("GET", "/hello", None),  # APPEND_SLASH: 301
            ("POST", "/echo/", {"a": [1, 2]}),
            ("GET", "/missing/", None),
        ]:
            response = client.request(method, path, json=body)
            content = (
                response.json()
                if response.headers.get("content-type", "").startswith("application/json")
                else response.status_code
            )
            out.append((response.status_code, response.headers.get("location", ""), content))
    return out


def test_a_django_project_gets_an_asgi_py_that_serves_it_the_same(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    write_project(before)
    write_project(after)
    result = migrate(after, "--write", "--report", str(tmp_path / "report.json"))
    assert result.returncode == 0, result.stderr.decode()
    asgi = (after / "mysite" / "asgi.py").read_text()
    assert "from django.core.asgi import get_asgi_application" in asgi
    assert 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")' in asgi
    assert "ASGI config for mysite project." in asgi
    assert (after / "mysite" / "wsgi.py").read_text() == WSGI  # kept for runserver
    report = json.loads((tmp_path / "report.json").read_text())
    (created,) = [f for f in report["files"] if f["path"] == "mysite/asgi.py"]
    assert created["status"] == "changed"
    assert [c["kind"] for c in created["changes"]] == ["converted"]
    assert (
        "`uvicorn mysite.asgi:application` serves the project" in created["changes"][0]["message"]
    )

    with served(before, "wsgi", "mysite", "/hello/") as url:
        expected = answers(url)
    with served(after, "asgi", "mysite", "/hello/") as url:
        got = answers(url)
    assert expected[0][2] == {"hello": "ada", "path": "/hello/"}
    assert got == expected

    again = migrate(after, "--check")
    assert again.returncode == 0, again.stdout.decode()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_new_file_goes_through_every_mode(tmp_path: Path) -> None:
    dry, written, patched, source = (tmp_path / n for n in ("dry", "written", "patched", "src"))
    for root in (dry, written, patched, source):
        write_project(root)
    check = migrate(dry, "--check")
    assert (check.returncode, check.stdout) == (1, b"mysite/asgi.py\n")
    diff = migrate(dry)
    assert diff.returncode == 0
    assert diff.stdout.startswith(b"--- /dev/null\n+++ b/mysite/asgi.py\n@@ -0,0 +1,12 @@\n")
    assert tree(dry) == tree(source)  # a dry run writes nothing
    assert migrate(written, "--write").returncode == 0
    (tmp_path / "changes.patch").write_bytes(diff.stdout)
    subprocess.run(["git", "init", "-q"], cwd=dry, check=True)
    subprocess.run(["git", "apply", "../changes.patch"], cwd=dry, check=True)
    assert tree(dry) == tree(written)
    if shutil.which("patch") is not None:
        subprocess.run(
            ["patch", "-p1", "--quiet", "-i", "../changes.patch"], cwd=patched, check=True
        )
        assert tree(patched) == tree(written)
    out = tmp_path / "out"
    assert migrate(source, "--out", str(out)).returncode == 0
    assert tree(out) == tree(written)
    assert "mysite/asgi.py" not in tree(source)  # --out leaves the source alone


def test_an_existing_asgi_py_is_never_replaced(tmp_path: Path) -> None:
    write_project(tmp_path)
    mine = "# my own asgi.py\napplication = None\n"
    (tmp_path / "mysite" / "asgi.py").write_text(mine)
    result = migrate(tmp_path, "--write")
    assert result.returncode == 0
    assert (tmp_path / "mysite" / "asgi.py").read_text() == mine


def test_wsgi_middleware_around_the_app_is_migrated_in_asgi_py_and_kept_in_wsgi_py(
    tmp_path: Path,
) -> None:
    write_project(tmp_path)
    wrapped = WSGI + "\nfrom whitenoise import WhiteNoise\napplication = WhiteNoise(application)\n"
    (tmp_path / "mysite" / "wsgi.py").write_text(wrapped)
    result = migrate(tmp_path, "--write")
    assert result.returncode == 0, result.stderr.decode()
    assert (tmp_path / "mysite" / "wsgi.py").read_text() == wrapped  # runserver's, untouched
    asgi = (tmp_path / "mysite" / "asgi.py").read_text()
    assert "application = get_asgi_application()" in asgi
    assert "ServeStaticASGI(" in asgi and "WhiteNoise(" not in asgi
    assert migrate(tmp_path, "--check").returncode == 0


def test_only_the_docstring_says_asgi_where_it_said_wsgi(tmp_path: Path) -> None:
    write_project(tmp_path)
    logged = WSGI + 'print("serving the WSGI app")\n'
    (tmp_path / "mysite" / "wsgi.py").write_text(logged)
    assert migrate(tmp_path, "--write").returncode == 0
    asgi = (tmp_path / "mysite" / "asgi.py").read_text()
    assert "ASGI config for mysite project." in asgi
    assert 'print("serving the WSGI app")' in asgi


# WSGI middleware of a package outside the run (dj-static's Cling, Sentry's WSGI middleware)
STAMP = """\
class Stamp:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        def stamped(status, headers, exc_info=None):
            return start_response(status, [*headers, ("X-Stamp", environ["PATH_INFO"])], exc_info)

        return self.app(environ, stamped)
"""


def test_wsgi_middleware_no_rule_converts_serves_the_wsgi_stack_through_the_adapter(
    tmp_path: Path,
) -> None:
    """Around Django's ASGI app it would get an ASGI app: asgi.py serves wsgi.py's stack."""
    before, after = tmp_path / "before", tmp_path / "after"
    wrapped = WSGI + "\nfrom stamp import Stamp\n\napplication = Stamp(application)\n"
    for root in (before, after):
        write_project(root)
        (root / "mysite" / "wsgi.py").write_text(wrapped)
    result = migrate(after, "--write", "--report", str(tmp_path / "report.json"))
    assert result.returncode == 0, result.stderr.decode()
    asgi = (after / "mysite" / "asgi.py").read_text()
    assert "application = Stamp(application)\n" in asgi and "import get_asgi" not in asgi
    assert asgi.endswith("\napplication = WsgiToAsgi(application)\n")
    report = json.loads((tmp_path / "report.json").read_text())
    (created,) = [f for f in report["files"] if f["path"] == "mysite/asgi.py"]
    assert [c["kind"] for c in created["changes"]] == ["adapted"]
    assert "`Stamp` wraps the app" in created["changes"][0]["message"]

    for root in (before, after):  # installed beside the project, not part of the run
        (root / "stamp.py").write_text(STAMP)
    stamps = {}
    with served(before, "wsgi", "mysite", "/hello/") as url:
        expected = answers(url)
        stamps["before"] = httpx.get(url + "/hello/").headers.get("x-stamp")
    with served(after, "asgi", "mysite", "/hello/") as url:
        got = answers(url)
        stamps["after"] = httpx.get(url + "/hello/").headers.get("x-stamp")
    assert got == expected
    assert stamps == {"before": "/hello/", "after": "/hello/"}
    (after / "stamp.py").unlink()
    assert migrate(after, "--check").returncode == 0


def test_middleware_imported_in_the_block_that_wraps_the_app_is_seen(tmp_path: Path) -> None:
    write_project(tmp_path)
    wrapped = WSGI + textwrap.dedent("""
        if os.environ.get("SENTRY_DSN"):
            from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware

            application = SentryWsgiMiddleware(application)
    """)
    (tmp_path / "mysite" / "wsgi.py").write_text(wrapped)
    assert migrate(tmp_path, "--write").returncode == 0
    asgi = (tmp_path / "mysite" / "asgi.py").read_text()
    assert asgi.endswith("\napplication = WsgiToAsgi(application)\n")
    assert "`SentryWsgiMiddleware` wraps the app" in asgi


def test_an_app_made_in_a_block_is_served_as_wsgi_py_makes_it(tmp_path: Path) -> None:
    # Heroku's dj-static recipe: which app wsgi.py serves is decided when it runs
    before, after = tmp_path / "before", tmp_path / "after"
    in_a_block = WSGI.replace(
        "application = get_wsgi_application()\n",
        textwrap.dedent("""\
            if "DYNO" in os.environ:
                from dj_static import Cling

                application = Cling(get_wsgi_application())
            else:
                application = get_wsgi_application()
        """),
    )
    for root in (before, after):
        write_project(root)
        (root / "mysite" / "wsgi.py").write_text(in_a_block)
    assert migrate(after, "--write").returncode == 0
    asgi = (after / "mysite" / "asgi.py").read_text()
    assert "    application = Cling(get_wsgi_application())\n" in asgi  # as wsgi.py has it
    assert asgi.endswith("\napplication = WsgiToAsgi(application)\n")
    assert "wsgi.py makes `application` in a block" in asgi
    with served(before, "wsgi", "mysite", "/hello/") as url:
        expected = answers(url)
    with served(after, "asgi", "mysite", "/hello/") as url:
        assert answers(url) == expected
    assert migrate(after, "--check").returncode == 0
