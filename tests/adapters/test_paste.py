"""``adapters.paste.uvicorn_server``: the PasteDeploy server ``pserve`` runs from an ini file's
``[server:main]``, serving its WSGI app on uvicorn. Served for real with ``pserve`` in
``tests/migrate/test_rule_deployment_served.py``; here, how it reads the section."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from paste.deploy import loadserver

from adapters import WsgiToAsgi
from adapters.paste import uvicorn_server

INI = """\
[server:main]
use = call:adapters.paste:uvicorn_server
host = 0.0.0.0
port = %(http_port)s
proxy_headers = false
{extra}
"""


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def served_with(monkeypatch: pytest.MonkeyPatch, ini: Path, **variables: str) -> dict[str, Any]:
    """What the server loaded from ``ini`` hands uvicorn.run when pserve calls it."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        uvicorn, "run", lambda app, **options: calls.append({"app": app, **options})
    )
    loadserver(f"config:{ini}", global_conf=variables)(hello)
    (call,) = calls
    return call


def test_the_section_is_read_as_uvicorn_reads_its_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ini = tmp_path / "production.ini"
    ini.write_text(INI.format(extra="backlog = 64\nroot_path = /shop\ntimeout_keep_alive = 7"))
    call = served_with(monkeypatch, ini, http_port="6543")  # pserve x.ini http_port=6543
    app = call.pop("app")
    assert isinstance(app, WsgiToAsgi) and app.wsgi_app is hello
    assert app._base["wsgi.multiprocess"] is False  # pserve serves from one process
    call.pop("log_config", None)
    assert call == {
        "host": "0.0.0.0", "port": 6543, "proxy_headers": False, "backlog": 64,
        "root_path": "/shop", "timeout_keep_alive": 7,
    }  # fmt: skip
    assert served_with(monkeypatch, ini, http_port="8080")["port"] == 8080


def test_the_ini_logging_is_kept_and_uvicorns_used_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ini = tmp_path / "production.ini"
    ini.write_text(INI.format(extra="").replace("%(http_port)s", "6543"))
    root = logging.getLogger()
    handlers = root.handlers[:]
    try:
        root.handlers[:] = []
        assert "log_config" not in served_with(monkeypatch, ini)  # uvicorn's default
        root.handlers[:] = [logging.NullHandler()]  # as pserve's fileConfig leaves it
        assert served_with(monkeypatch, ini)["log_config"] is None
    finally:
        root.handlers[:] = handlers


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"threads": "4"}, "`threads` is not a setting it takes"),
        ({"port": "http"}, "`port`: invalid literal for int()"),
        ({"proxy_headers": "maybe"}, "`proxy_headers`: `maybe` is not true or false"),
    ],
)
def test_a_setting_uvicorn_cannot_take_fails_when_pserve_reads_the_file(
    settings: dict[str, str], error: str
) -> None:
    with pytest.raises(ValueError, match=r"adapters\.paste\.uvicorn_server: ") as caught:
        uvicorn_server({}, **settings)
    assert error in str(caught.value)
