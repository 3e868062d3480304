"""Rule ``wsgi-app``, by text: what the rewritten code looks like, what is left alone, the
prefilter, idempotency, and the non-HTTP scopes of converted apps. (Behaviour is tested in
test_rule_wsgi_app.py; these are on top.)"""

from __future__ import annotations

import asyncio
import textwrap
from typing import Any
from unittest import mock

import libcst as cst
import pytest
from libcst.metadata import PositionProvider

from migrate.rules.base import FileContext
from migrate.rules.wsgi_app import WsgiAppRule
from tests.harness import assert_idempotent, load_module, migrate_text


def dedent(text: str) -> str:
    return textwrap.dedent(text)


def test_simple_app_reads_like_hand_written_asgi() -> None:
    before = '''
    """A tiny service."""

    # Say hello.
    def app(environ, start_response):
        name = environ.get("QUERY_STRING", "")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"Hello " + name.encode()]
    '''
    after, changes = migrate_text(before)
    assert after == dedent('''
    """A tiny service."""
    from adapters import asgi_helpers

    # Say hello.
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return await asgi_helpers.handle_non_http(scope, receive, send)
        name = scope["query_string"].decode("latin-1")
        body = b"Hello " + name.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": body})
    ''')
    assert [(c.rule, c.line, c.kind, c.message) for c in changes] == [
        ("wsgi-app", 5, "converted", "WSGI app `app` converted to ASGI (1 environ read)")
    ]
    assert_idempotent(after)


def test_names_of_parameters_do_not_matter() -> None:
    before = """
    def whatever(e, cb):
        cb("200 OK", [])
        return [e["REQUEST_METHOD"].encode()]
    """
    after, changes = migrate_text(before)
    assert "async def whatever(scope, receive, send):" in after
    assert 'scope["method"].encode()' in after
    assert [c.kind for c in changes] == ["converted"]


def test_untouched_code_is_kept_byte_for_byte() -> None:
    before = """
    import os   # keep   this
    CONFIG = {'a' :1}

    def helper( x ):
        return x*2   # odd   spacing


    def app(environ, start_response):
        start_response("200 OK", [])
        return [b""]

    if __name__ == "__main__":
        from wsgiref.simple_server import make_server
        make_server("", 8000, app).serve_forever()
    """
    after, _ = migrate_text(before)
    source = dedent(before)
    for untouched in (
        "import os   # keep   this\n",
        "CONFIG = {'a' :1}\n\ndef helper( x ):\n    return x*2   # odd   spacing\n\n\n",
        source[source.index("if __name__") :],
    ):
        assert untouched in after


def test_adapted_marker_is_never_repeated() -> None:
    before = """
    def app(environ, start_response):
        environ["seen"] = 1
        start_response("200 OK", [])
        return [b""]
    """
    after, changes = migrate_text(before)
    assert after.count("# migrate[wsgi-app]:") == 1
    assert "def _app_wsgi(environ, start_response):" in after
    assert "it sets environ['seen'] without handing the request on" in changes[0].message
    assert_idempotent(after)


def test_already_adapted_by_hand_is_left_alone() -> None:
    source = """
    from adapters import WsgiToAsgi

    def wsgi(environ, start_response):
        start_response("200 OK", [])
        return [b""]

    app = WsgiToAsgi(wsgi)
    """
    after, changes = migrate_text(source)
    assert after == dedent(source) and changes == []


def test_app_used_by_other_code_gets_a_manual_marker_once() -> None:
    before = """
    def inner(environ, start_response):
        start_response("200 OK", [])
        return [b"inner"]

    app = SomeMiddleware(inner)
    """
    after, changes = migrate_text(before)
    assert [c.kind for c in changes] == ["manual"]
    assert after.count("# migrate[wsgi-app]: WSGI app `inner` is also used") == 1
    assert_idempotent(after)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (
            "def app(environ, start_response):\n"
            "    start_response('200 OK', [])\n"
            "    return make_body()\n",
            "returns an iterable the rule cannot see into",
        ),
        (
            "def app(environ, start_response):\n"
            "    if environ['PATH_INFO'] == '/':\n"
            "        start_response('200 OK', [])\n"
            "    else:\n"
            "        start_response('404 Not Found', [])\n"
            "    return [b'x']\n",
            "start_response and the body are on different paths",
        ),
        (
            "def app(environ, start_response):\n"
            "    start_response('200 OK', [])\n"
            "    while True:\n"
            "        start_response('200 OK', [])\n"
            "        yield b'x'\n",
            "start_response may be called twice",
        ),
        (
            "def app(environ, start_response):\n"
            "    headers = []\n"
            "    start_response('200 OK', headers)\n"
            "    headers.append(('X', 'y'))\n"
            "    return [b'x']\n",
            "code between start_response and the body uses",
        ),
        (
            "def app(environ, start_response):\n"
            "    def later():\n"
            "        return environ['PATH_INFO']\n"
            "    start_response('200 OK', [])\n"
            "    return [later().encode()]\n",
            "nested function",
        ),
    ],
)
def test_what_is_not_proven_equivalent_is_adapted(source: str, reason: str) -> None:
    after, changes = migrate_text(source)
    assert [c.kind for c in changes] == ["adapted"]
    assert reason in changes[0].message
    assert "app = WsgiToAsgi(_app_wsgi)" in after
    assert_idempotent(after)


# --------------------------------------------------------------------------- prefilter


@pytest.mark.parametrize(
    "source",
    [
        "def app(environ, start_response):\n    start_response('200 OK', [])\n    return []\n",
        "def app(\n    env,  # the environ\n    respond,\n):\n    respond ('200 OK', [])\n    return []\n",
        "class A:\n    def __call__(self, e, sr: object) -> list[bytes]:\n        sr('200 OK', [])\n        return []\napp = A()\n",
        "class A:\n    def __init__(self, environ, start_response):\n        self.start = start_response\n"
        "    def __iter__(self):\n        self.start('200 OK', [])\n        yield b''\n",
        "def app(environ, start_response):\n    start_response(\n        '200 OK', [])\n    return []\n",
    ],
)
def test_prefilter_says_yes_to_every_shape(source: str) -> None:
    assert WsgiAppRule.might_apply(source)
    _, changes = migrate_text(source)
    assert changes


@pytest.mark.parametrize(
    "source",
    [
        "import os\nprint(os.getcwd())\n",
        "def add(a, b):\n    return a + b\n",
        "def handler(request, response):\n    return response.render(request)\n",
        # the shape without any sign of HTTP: a callback, not start_response
        "def infix(bp, func):\n    func(bp, 1)\n    return [bp]\n",
        "class Rows:\n    def __init__(self, cursor, size):\n        self.cursor = cursor\n"
        "    def __iter__(self):\n        return iter(self.cursor)\n",
    ],
)
def test_no_change_to_code_that_is_not_wsgi(source: str) -> None:
    after, changes = migrate_text(source)
    assert after == source and changes == []


def test_prefilter_says_no_to_plain_code() -> None:
    assert not WsgiAppRule.might_apply("import os\nprint(os.getcwd())\n")
    assert not WsgiAppRule.might_apply("def add(a, b):\n    return a + b\n")


# --------------------------------------------------------------------------- non-HTTP scopes


def _run(app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_converted_app_completes_lifespan_and_closes_websockets() -> None:
    after, _ = migrate_text("""
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"x"]
    """)
    app = load_module(after).app
    lifespan = _run(
        app, {"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    )
    assert lifespan == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]
    ws = _run(app, {"type": "websocket"}, [{"type": "websocket.connect"}])
    assert ws == [{"type": "websocket.close", "code": 1000}]


def test_prefilter_is_linear_on_comment_banners() -> None:
    import time

    source = ("#" * 20_000 + "\n") * 5 + "def f(a, b):  " + "#" * 20_000 + "\n    b('200 OK', [])\n"
    start = time.perf_counter()
    assert WsgiAppRule.might_apply(source)
    assert time.perf_counter() - start < 0.5


# Shape of Django's db/migrations/autodetector.py and big test modules: much code, words the
# text prefilter looks for, and no WSGI app.
NOT_WSGI_BIG = (
    '''
"""Computes changes; mentions environ and start_response in passing."""
import os


class Autodetector:
    def __init__(self, from_state, to_state, questioner=None):
        self.from_state = from_state
        self.to_state = to_state
        self.environ = os.environ.get("MODE", "x")

    def changes(self, graph, trim_to_apps=None, convert_apps=None, migration_name=None):
        changes = self._detect_changes(convert_apps, graph)
        if trim_to_apps:
            changes = self._trim_to_apps(changes, trim_to_apps)
        return changes

    def _detect_changes(self, convert_apps=None, graph=None):
        for app_label, model_name in sorted(self.old_model_keys):
            if model_name == "start_response":
                continue
            elif app_label:
                pairs = [(app_label, model_name)]
                graph(pairs)
        return {}
'''
    * 40
)


def test_big_module_without_wsgi_app_is_left_alone_without_positions() -> None:
    """Regression: on such a module the rule computed libcst positions up front; a per-file time
    limit running out in there was reported as ``KeyError: IndentedBlock(...)``. The rule now
    asks for no metadata (positions only for a module with something to report). (Today's
    text prefilter keeps this module away from the rule; the rule is run on it directly.)"""
    assert WsgiAppRule.get_inherited_dependencies() == frozenset()
    module = cst.parse_module(NOT_WSGI_BIG)
    wrapper = cst.MetadataWrapper(module)
    rule = WsgiAppRule(FileContext("autodetector.py", "autodetector"))
    with mock.patch.object(PositionProvider, "_gen_impl", side_effect=AssertionError):
        after = wrapper.visit(rule)
    assert after.code == NOT_WSGI_BIG
    assert rule.changes == []


def test_reported_lines_still_come_from_positions() -> None:
    before = "x = 1\n\n\n" + dedent("""
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"ok"]

    handlers = [app]
    """)
    _, changes = migrate_text(before)
    assert [(c.line, c.kind) for c in changes] == [(5, "manual")]
