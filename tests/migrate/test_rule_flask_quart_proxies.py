"""Rule ``flask-quart``: ``app.wsgi_app = ProxyFix(app.wsgi_app, ...)`` becomes
``app.asgi_app = adapters.ProxyFix(app.asgi_app, ...)``, and the app behind its proxies sees
the same client, scheme, host and mount point (wsgiref before, uvicorn and hypercorn after)."""

from __future__ import annotations

import quart

from tests.harness import (
    Req,
    assert_same_project_behaviour,
    change_kinds,
    load_project,
    migrate_project_twice,
)

PROXIED = {
    "app.py": """
        from flask import Flask, jsonify, request, url_for
        from werkzeug.middleware.proxy_fix import ProxyFix as Fix

        app = Flask(__name__)
        app.wsgi_app = Fix(app.wsgi_app, x_for=2, x_proto=1, x_host=1, x_prefix=1)


        @app.get("/who")
        def who():
            return jsonify(
                client=request.remote_addr,
                scheme=request.scheme,
                host=request.host,
                root=request.script_root,
                link=url_for("who", _external=True),
            )
    """,
}
BEHIND_PROXIES = [
    Req("GET", "/who", (
        ("X-Forwarded-For", "192.0.2.66, 198.51.100.1, 203.0.113.7"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "shop.example"),
        ("X-Forwarded-Prefix", "/shop"),
    )),
    Req("GET", "/who", (("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Host", "a.example"))),
    Req("GET", "/who", (("X-Forwarded-Host", "b.example:8443"), ("X-Forwarded-Proto", "http"))),
]  # fmt: skip


def test_proxy_fix_guards_the_quart_app_with_the_same_trust() -> None:
    after, results = migrate_project_twice(PROXIED)
    app = after["app.py"]
    assert (
        "app.asgi_app = adapters.ProxyFix(app.asgi_app, x_for=2, x_proto=1, x_host=1, x_prefix=1)"
    ) in app
    assert "werkzeug" not in app and "import adapters\n" in app
    assert set(change_kinds(results, "flask-quart")) == {"converted"}
    assert isinstance(load_project(after, "app").app, quart.Quart)
    # uvicorn applies X-Forwarded-For/Proto from 127.0.0.1 itself unless told not to: then
    # ProxyFix alone decides, as under a WSGI server (with one value where two proxies are
    # trusted, uvicorn's would have taken it)
    no_proxy_headers = {"uvicorn": {"proxy_headers": False}}
    assert_same_project_behaviour(
        PROXIED, after, "app", BEHIND_PROXIES, server_config=no_proxy_headers
    )


def test_other_uses_of_wsgi_app_keep_the_run_on_flask() -> None:
    for line in (
        "app.wsgi_app = Fix(app.wsgi_app, **OPTIONS)",
        "app.wsgi_app = Other(app.wsgi_app)",
        "app.wsgi_app = Fix(other.wsgi_app)",
    ):
        files = {"app.py": PROXIED["app.py"].replace(
            "app.wsgi_app = Fix(app.wsgi_app, x_for=2, x_proto=1, x_host=1, x_prefix=1)",
            f"OPTIONS, Other, other = {{}}, None, None\n        {line}",
        )}  # fmt: skip
        _, results = migrate_project_twice(files)
        assert change_kinds(results, "flask-quart") == [], line
