"""Runs of statements that go to the request's thread in one hop (migrate.blocking.segments).

Each case is a WSGI app whose blocking statements share names with the code around them in
the ways Python scoping makes delicate (a name rebound, read before it is written, bound by
two runs, a module global); the app before (WSGI) and after (ASGI) answer the same.
"""

from __future__ import annotations

import pytest

from tests.harness import Req, assert_idempotent, assert_same_behaviour, migrate_text

CASES = {
    "a name rebound in the run": """
        import sqlite3

        def app(environ, start_response):
            total = len(environ.get("QUERY_STRING", ""))
            conn = sqlite3.connect(":memory:")
            total = total + conn.execute("SELECT 40").fetchone()[0]
            conn.close()
            total += 2
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(total).encode()]
    """,
    "two runs around an await bind the same name": """
        import sqlite3

        def app(environ, start_response):
            conn = sqlite3.connect(":memory:")
            row = conn.execute("SELECT 'before'").fetchone()
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size)
            row = conn.execute("SELECT ?", (row[0] + "+" + body.decode(),)).fetchone()
            conn.close()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [row[0].encode()]
    """,
    "a module global counted in the run": """
        import sqlite3

        HITS = 0

        def app(environ, start_response):
            global HITS
            conn = sqlite3.connect(":memory:")
            HITS += conn.execute("SELECT 1").fetchone()[0]
            conn.close()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(HITS).encode()]
    """,
    "a loop with break over a cursor, and a branch that answers early": """
        import sqlite3

        def app(environ, start_response):
            conn = sqlite3.connect(":memory:")
            if environ.get("QUERY_STRING") == "early":
                conn.close()
                start_response("204 No Content", [])
                return []
            found = None
            for (n,) in conn.execute("SELECT 1 UNION SELECT 2 UNION SELECT 3"):
                if n == 2:
                    found = n
                    break
            conn.close()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(found).encode()]
    """,
    "a run in a loop whose next round reads what it bound": """
        import sqlite3

        def app(environ, start_response):
            conn = sqlite3.connect(":memory:")
            for word in ("a", "b", "c"):
                # `last` is first bound by the run below: the next round reads it
                if word != "a" and last == "b":
                    conn.close()
                    start_response("200 OK", [("Content-Type", "text/plain")])
                    return [("stopped after " + last).encode()]
                value = conn.execute("SELECT ?", (word,)).fetchone()[0]
                last = value.lower()
                if word != "c":
                    continue
                conn.close()
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"all words"]
            start_response("500 Internal Server Error", [])
            return []
    """,
}


@pytest.mark.parametrize("before", list(CASES.values()), ids=list(CASES))
def test_a_run_keeps_python_scoping(before: str) -> None:
    after, changes = migrate_text(before)
    assert [c.kind for c in changes] == ["converted"], changes
    assert "def _blocking_block" in after
    assert_idempotent(after)
    requests = [
        Req("POST", "/?abc", body=b"xy"),
        Req("POST", "/", body=b""),
        Req("GET", "/?early"),
    ]
    assert_same_behaviour(before, after, requests)


def test_the_asgi_channel_stays_on_the_loop() -> None:
    # what is made from `send` (a response collector of a helper) is never handed to a
    # thread, and `time.sleep` is awaited, holding no thread
    before = """
        import sqlite3
        import time

        def app(environ, start_response):
            conn = sqlite3.connect(":memory:")
            word = conn.execute("SELECT 'hi'").fetchone()[0]
            conn.close()
            time.sleep(0.001)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [word.encode()]
    """
    after, changes = migrate_text(before)
    assert [c.kind for c in changes] == ["converted"]
    assert "await asyncio.sleep(0.001)" in after
    block = after[after.index("def _blocking_block") : after.index("await run_blocking")]
    assert "send" not in block and "time.sleep" not in block
    assert_same_behaviour(before, after, [Req("GET", "/")])
