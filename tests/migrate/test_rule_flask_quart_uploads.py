"""Rule ``flask-quart``: uploads are saved under Quart (its ``FileStorage.save`` is a coroutine:
unawaited, it saved nothing), served by wsgiref before and uvicorn and hypercorn after; an
upload handed where the rule cannot await its save keeps the run on Flask."""

from __future__ import annotations

import ast
import textwrap

import pytest

from migrate.frameworks import flask
from migrate.runner import migrate_sources
from tests.harness import Req, assert_same_project_behaviour, change_kinds, migrate_project_twice

UPLOADS = {
    "app.py": """
        import hashlib
        import os
        import tempfile

        from flask import Flask, jsonify, request

        app = Flask(__name__)
        FOLDER = tempfile.mkdtemp()


        def digest(name):
            with open(os.path.join(FOLDER, name), "rb") as saved:
                return hashlib.sha256(saved.read()).hexdigest()


        @app.post("/one")
        def one():
            photo = request.files.get("photo")
            if photo is None or photo.filename == "":
                return jsonify(error="no photo"), 400
            photo.save(os.path.join(FOLDER, "one.bin"))
            return jsonify(name=photo.filename, sha256=digest("one.bin"))


        @app.post("/many")
        def many():
            names = []
            for upload in request.files.getlist("doc"):
                upload.save(os.path.join(FOLDER, "many-" + upload.filename))
                names.append(upload.filename)
            request.files["extra"].save(os.path.join(FOLDER, "extra.bin"))
            return jsonify(saved=[digest("many-" + n) for n in names], extra=digest("extra.bin"))
    """,
}


def multipart(*parts: tuple[str, str, bytes]) -> Req:
    """A POST of the form ``parts`` (field, filename, content)."""
    body = b""
    for field, filename, content in parts:
        body += (
            b"--XyZ\r\n"
            + f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'.encode()
            + b"Content-Type: application/octet-stream\r\n\r\n"
            + content
            + b"\r\n"
        )
    headers = (("Content-Type", "multipart/form-data; boundary=XyZ"),)
    return Req("POST", "", headers, body + b"--XyZ--\r\n")


def test_uploads_are_saved_under_quart() -> None:
    after, results = migrate_project_twice(UPLOADS)
    app = after["app.py"]
    assert "    await photo.save(" in app
    assert "        await upload.save(" in app
    assert '    await (await request.files)["extra"].save(' in app
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    data = bytes(range(256)) * 40
    one = multipart(("photo", "cat.jpg", data))
    many = multipart(("doc", "a.txt", b"first"), ("doc", "b.txt", b"second"), ("extra", "e", data))
    requests = [
        Req("POST", "/one", one.headers, one.body),
        Req(
            "POST",
            "/one",
            multipart(("other", "x", b"x")).headers,
            multipart(("other", "x", b"x")).body,
        ),
        Req("POST", "/many", many.headers, many.body),
    ]
    assert_same_project_behaviour(UPLOADS, after, "app", requests)


@pytest.mark.parametrize(
    "body",
    [
        "keep(request.files['photo'])",
        "photo = request.files['photo']\nkeep(photo)",
        "photo = request.files['photo']\nlater = lambda: photo.save('x')",
        "for name, upload in request.files.items():\n    upload.save('/tmp/' + name)",
        "uploads = dict(request.files)",
    ],
)
def test_an_upload_the_rule_cannot_follow_keeps_the_run_on_flask(body: str) -> None:
    source = (
        textwrap.dedent("""
        from flask import Flask, request

        app = Flask(__name__)


        def keep(upload):
            upload.save("/tmp/kept")


        @app.post("/")
        def index():
        {body}
            return "ok"
    """)
        .lstrip()
        .replace("{body}", textwrap.indent(textwrap.dedent(body), "    "))
    )
    reason = flask.plan([flask.facts_of("app.py", ast.parse(source))], ["app.py"])
    assert "upload" in reason.for_module("app.py").refused
    results = migrate_sources({"app.py": source}, ["flask-quart"])
    assert results["app.py"].new_source == source
