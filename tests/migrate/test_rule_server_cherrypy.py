"""Rule ``server``: CherryPy's ``quickstart()`` serves the same app on uvicorn.

Each case runs ``python svc.py`` before (CherryPy's own server, cheroot) and after (uvicorn,
serving CherryPy's tree through the adapter) and replays the same requests; then stops it
with SIGTERM, as a process manager does: the engine's ``stop`` listeners run both times.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from pathlib import Path

import httpx
import pytest

from migrate.runner import SourceResult, migrate_source
from tests.scripts import assert_same_answers_as_scripts

pytest.importorskip("cherrypy")

APP = """\
import cherrypy


class Root:
    @cherrypy.expose
    def ping(self, x=""):
        cherrypy.session["seen"] = cherrypy.session.get("seen", 0) + 1
        return f"pong {x}"

    @cherrypy.expose
    @cherrypy.tools.json_out()
    def seen(self):
        return {"seen": cherrypy.session.get("seen", 0), "path": cherrypy.request.path_info}

    @cherrypy.expose
    def form(self, name=None):
        if cherrypy.request.method != "POST":
            raise cherrypy.HTTPError(405)
        return f"hello {name}"


def remember_stop():
    with open("stopped", "w") as f:
        f.write("stopped")


CONF = {
    "/": {
        "tools.sessions.on": True,
        "tools.response_headers.on": True,
        "tools.response_headers.headers": [("X-App", "shop")],
    }
}
"""

MAIN_BLOCKS = {
    "config dict and settings updated before": """\
        if __name__ == "__main__":
            cherrypy.config.update({"server.socket_port": 8765, "log.screen": False})
            cherrypy.engine.subscribe("stop", remember_stop)
            cherrypy.quickstart(Root(), "", CONF)
        """,
    # a config file's [global] section sets the server's address
    "config file, keywords, module alias": """\
        import cherrypy as cp

        SITE_CONF = \"\"\"
        [global]
        server.socket_host = "127.0.0.1"
        server.socket_port = 8765
        log.screen = False

        [/]
        tools.sessions.on = True
        tools.response_headers.on = True
        tools.response_headers.headers = [("X-App", "shop")]
        \"\"\"

        if __name__ == "__main__":
            with open("site.conf", "w") as conf:
                conf.write(SITE_CONF)
            cp.engine.subscribe("stop", remember_stop)
            cp.quickstart(root=Root(), config="site.conf")
        """,
}


def migrate(source: str) -> SourceResult:
    result = migrate_source(source, relpath="svc.py")
    again = migrate_source(result.new_source, relpath="svc.py")
    assert again.new_source == result.new_source and again.changes == []
    return result


@pytest.mark.timeout(90)
@pytest.mark.parametrize("form", sorted(MAIN_BLOCKS))
def test_quickstart_serves_the_same_app_on_uvicorn(
    form: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    before = APP + "\n\n" + textwrap.dedent(MAIN_BLOCKS[form])
    result = migrate(before)
    (change,) = result.changes
    assert change.rule == "server" and change.kind == "adapted"
    assert "cherrypy.quickstart() now serves on uvicorn" in change.message
    assert "quickstart(" not in result.new_source
    # CherryPy writes its own Server header, and uvicorn adds none
    bases = assert_same_answers_as_scripts(
        before,
        result.new_source,
        tmp_path,
        started,
        ("/ping?x=1", "/seen", "/missing"),
        uvicorn_after=False,
    )
    for where, base in bases.items():
        # uvicorn writes header names in lower case, cheroot as the app gave them
        raw = [name for name, _ in httpx.get(base + "/seen").headers.raw]
        assert (b"content-type" in raw) == (where == "after"), raw
        # the session cookie, a method CherryPy refuses, a form, a tool's header
        with httpx.Client(base_url=base) as client:
            client.get("/ping")
            seen = client.get("/seen").json()
            refused = client.get("/form")
            posted = client.post("/form", data={"name": "ann"})
            assert seen == {"seen": 1, "path": "/seen"}, where
            assert refused.status_code == 405 and posted.text == "hello ann", where
            assert posted.headers["x-app"] == "shop", where
            assert len(posted.headers.get_list("server")) == 1, where
    for proc in started:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    for where in ("before", "after"):
        assert (tmp_path / where / "stopped").read_text() == "stopped", where


def test_a_quickstart_whose_result_is_used_is_marked() -> None:
    result = migrate(APP + "\nserved = cherrypy.quickstart(Root())\n")
    (change,) = result.changes
    assert (
        change.kind == "manual" and "the result of cherrypy.quickstart() is used" in change.message
    )
