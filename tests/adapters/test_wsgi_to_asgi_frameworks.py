"""Flask and Django applications through WsgiToAsgi, served by uvicorn."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters import WsgiToAsgi
from tests.servers import serve_asgi

pytestmark = pytest.mark.timeout(30)

FILE_DATA = os.urandom(200_000)


# --------------------------------------------------------------------------- Flask


def make_flask_app(tmp_file: str) -> Any:
    from flask import Flask, Response, jsonify, request, send_file, stream_with_context

    app = Flask("w2a_flask")

    @app.get("/hello")
    def hello() -> str:
        return f"hello {request.args.get('name', 'nobody')}"

    @app.post("/form")
    def form() -> Any:
        return jsonify(dict(request.form))

    @app.post("/json")
    def json_echo() -> Any:
        return jsonify({"got": request.get_json()})

    @app.post("/raw")
    def raw() -> bytes:
        return request.get_data()

    @app.get("/stream")
    def stream() -> Response:
        def gen() -> Iterator[str]:
            for i in range(5):
                yield f"{request.path}:{i}\n"

        return Response(stream_with_context(gen()), mimetype="text/plain")

    @app.get("/file")
    def file() -> Any:
        return send_file(tmp_file, mimetype="application/octet-stream")

    @app.get("/cookie")
    def cookie() -> Any:
        resp = Response("cookies")
        resp.set_cookie("a", "1")
        resp.set_cookie("b", "2")
        return resp

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("flask view failure (expected by the test)")

    return app


@pytest.fixture(scope="module")
def flask_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("flask") / "data.bin"
    path.write_bytes(FILE_DATA)
    with serve_asgi(WsgiToAsgi(make_flask_app(str(path))), "uvicorn") as base:
        yield base


def test_flask_get(flask_url: str) -> None:
    r = httpx.get(flask_url + "/hello", params={"name": "wörld"}, timeout=5)
    assert r.status_code == 200 and r.text == "hello wörld"


def test_flask_form_and_json(flask_url: str) -> None:
    r = httpx.post(flask_url + "/form", data={"a": "1", "b": "zwei"}, timeout=5)
    assert r.json() == {"a": "1", "b": "zwei"}
    r = httpx.post(flask_url + "/json", json={"x": [1, 2]}, timeout=5)
    assert r.json() == {"got": {"x": [1, 2]}}


def test_flask_chunked_body_reaches_the_view(flask_url: str) -> None:
    def body() -> Iterator[bytes]:
        yield b"part one, "
        yield b"part two"

    r = httpx.post(flask_url + "/raw", content=body(), timeout=5)
    assert r.status_code == 200 and r.content == b"part one, part two"


def test_flask_stream_file_cookies_head_404_500(flask_url: str) -> None:
    r = httpx.get(flask_url + "/stream", timeout=5)
    assert r.text == "".join(f"/stream:{i}\n" for i in range(5))
    r = httpx.get(flask_url + "/file", timeout=5)
    assert r.status_code == 200 and r.content == FILE_DATA
    assert r.headers["content-length"] == str(len(FILE_DATA))
    r = httpx.get(flask_url + "/cookie", timeout=5)
    assert sorted(r.headers.get_list("set-cookie")) == ["a=1; Path=/", "b=2; Path=/"]
    r = httpx.head(flask_url + "/file", timeout=5)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(len(FILE_DATA))
    assert httpx.get(flask_url + "/missing", timeout=5).status_code == 404
    assert httpx.get(flask_url + "/boom", timeout=5).status_code == 500


# --------------------------------------------------------------------------- Django


def _django_views() -> list[Any]:
    from django.http import (
        FileResponse,
        HttpRequest,
        HttpResponse,
        JsonResponse,
        StreamingHttpResponse,
    )
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    def hello(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"hello {request.GET.get('name', 'nobody')} at {request.path}")

    @csrf_exempt
    def form(request: HttpRequest) -> JsonResponse:
        return JsonResponse({k: request.POST[k] for k in request.POST})

    @csrf_exempt
    def raw(request: HttpRequest) -> HttpResponse:
        return HttpResponse(request.body, content_type="application/octet-stream")

    def stream(request: HttpRequest) -> StreamingHttpResponse:
        return StreamingHttpResponse(f"{i}," for i in range(10))

    def file(request: HttpRequest) -> FileResponse:
        return FileResponse(open(DJANGO_FILE[0], "rb"))

    def meta(request: HttpRequest) -> HttpResponse:
        return HttpResponse(request.build_absolute_uri() + " " + request.META["REMOTE_ADDR"])

    return [
        path("hello/", hello),
        path("form/", form),
        path("raw/", raw),
        path("stream/", stream),
        path("file/", file),
        path("meta/", meta),
    ]


DJANGO_FILE: list[str] = []
urlpatterns: list[Any] = []


@pytest.fixture(scope="module")
def django_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import django
    from django.conf import settings
    from django.test.utils import override_settings

    path = tmp_path_factory.mktemp("django") / "data.bin"
    path.write_bytes(FILE_DATA)
    DJANGO_FILE[:] = [str(path)]
    wanted = {
        "ROOT_URLCONF": __name__,
        "ALLOWED_HOSTS": ["*"],
        "DEBUG": False,
        "SECRET_KEY": "test-only",
        "MIDDLEWARE": ["django.middleware.common.CommonMiddleware"],
        "INSTALLED_APPS": [],
        "USE_TZ": True,
    }
    if not settings.configured:  # settings can be configured once per process
        settings.configure(**wanted)
    django.setup()
    urlpatterns[:] = _django_views()
    from django.core.wsgi import get_wsgi_application

    with (
        override_settings(**wanted),
        serve_asgi(WsgiToAsgi(get_wsgi_application(), buffer_chunked_body=True), "uvicorn") as base,
    ):
        yield base


def test_django_get_and_meta(django_url: str) -> None:
    r = httpx.get(django_url + "/hello/", params={"name": "ünï"}, timeout=5)
    assert r.status_code == 200 and r.text == "hello ünï at /hello/"
    r = httpx.get(django_url + "/meta/?q=1", timeout=5)
    assert r.text == f"{django_url}/meta/?q=1 127.0.0.1"


def test_django_post(django_url: str) -> None:
    r = httpx.post(django_url + "/form/", data={"a": "1", "b": "two"}, timeout=5)
    assert r.json() == {"a": "1", "b": "two"}
    data = os.urandom(300_000)
    r = httpx.post(django_url + "/raw/", content=data, timeout=5)
    assert r.content == data


def test_django_streaming_and_file(django_url: str) -> None:
    r = httpx.get(django_url + "/stream/", timeout=5)
    assert r.text == "".join(f"{i}," for i in range(10))
    r = httpx.get(django_url + "/file/", timeout=5)
    assert r.status_code == 200 and r.content == FILE_DATA
    assert httpx.get(django_url + "/nope/", timeout=5).status_code == 404


def test_django_chunked_body_with_buffering(django_url: str) -> None:
    """Django trusts only CONTENT_LENGTH: ``buffer_chunked_body=True`` provides it."""

    def body() -> Iterator[bytes]:
        yield b"chunk one, "
        yield b"chunk two"

    r = httpx.post(django_url + "/raw/", content=body(), timeout=5)
    assert r.status_code == 200 and r.content == b"chunk one, chunk two"
