"""The response made inside a ``try`` with handlers that catch anything (``except
Exception: start_response("500 ...", headers, sys.exc_info())``).

Under WSGI nothing is sent inside the ``try``: the server sends the response once the app
returned, so a handler never sees what sending raises, and a second ``start_response`` with
``exc_info`` replaces the first. Before, such an app was served through the adapter (an
ASGI ``send`` inside the ``try`` would be caught by ``except Exception``). Now the ``try`` is
kept as it is in a nested coroutine where ``start_response`` is an
``asgi_helpers.StartResponse`` recording the response, sent once the ``try`` is over. Each
case serves the module before as WSGI (wsgiref) and after as ASGI (uvicorn, hypercorn).
"""

from __future__ import annotations

import inspect

from tests.harness import Req, assert_same_behaviour, load_module
from tests.migrate.test_blocking import assert_two_requests_meet
from tests.migrate.test_rule_wsgi_app import migrated

CATCH_ALL = """
import json
import sys
import traceback


def lookup(environ):
    if environ["PATH_INFO"] == "/boom":
        raise KeyError("no such thing")
    return {"path": environ["PATH_INFO"]}


def app(environ, start_response):
    try:
        payload = lookup(environ)
        body = json.dumps(payload).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    except Exception:
        start_response(
            "500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info()
        )
        return [traceback.format_exc().splitlines()[-1].encode()]
"""


def test_a_catch_all_try_records_the_response_and_sends_it_after() -> None:
    after = migrated(CATCH_ALL, "converted")
    assert inspect.iscoroutinefunction(load_module(after).app)
    assert "response = asgi_helpers.StartResponse()" in after
    # each return ends the try: it keeps what it returns, sent once the try is over
    assert "response_body = [body]" in after
    assert "return await response.send(send, response_body)" in after
    assert_same_behaviour(CATCH_ALL, after, [Req("GET", "/ok"), Req("GET", "/boom")])


# a second start_response with exc_info replaces the first one, as the server did (the error
# comes after start_response: the body is made after it)
REPLACED = """
import sys


def app(environ, start_response):
    try:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Stage", "ok")])
        number = int(environ.get("QUERY_STRING") or "0")
        return [b"%d" % (100 // number)]
    except ZeroDivisionError:
        start_response("400 Bad Request", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"not zero"]
    except Exception:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"bad number"]
"""


def test_a_handler_replaces_a_response_started_in_the_try() -> None:
    after = migrated(REPLACED, "converted")
    requests = [Req("GET", "/?4"), Req("GET", "/?0"), Req("GET", "/?x")]
    assert_same_behaviour(REPLACED, after, requests)


SQLITE = """
import os
import sqlite3
import sys
import tempfile
import threading

BARRIER = threading.Barrier(2, timeout=10)
DB = os.path.join(tempfile.mkdtemp(), "items.db")
with sqlite3.connect(DB) as setup:
    setup.execute("create table items (id integer primary key, name text)")
    setup.execute("insert into items values (1, 'spoon')")


def app(environ, start_response):
    conn = sqlite3.connect(DB)
    try:
        if environ["PATH_INFO"] == "/meet":
            BARRIER.wait()
        item_id = int(environ.get("QUERY_STRING") or "1")
        row = conn.execute("select name from items where id = ?", (item_id,)).fetchone()
        if row is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such item"]
        else:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [row[0].encode()]
    except Exception as exc:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [type(exc).__name__.encode()]
    finally:
        conn.close()
"""


def test_blocking_calls_in_the_try_run_in_the_pool() -> None:
    after = migrated(SQLITE, "converted")
    assert "BARRIER.wait" in after and "run_blocking" in after
    # the connect and the whole try run in one hop, as the WSGI app ran in one thread
    assert after.count("await run_blocking") == 1
    # sending what it recorded needs no thread: the hop gives its thread back when it returns
    assert "await run_blocking_last(_blocking_block)" in after
    requests = [Req("GET", "/?1"), Req("GET", "/?9"), Req("GET", "/?x")]
    assert_same_behaviour(SQLITE, after, requests)
    # both requests wait at the barrier together: nothing of the try blocks the loop
    assert_two_requests_meet(after, "/meet")


# a return inside a loop does not end the try: the try goes into a nested coroutine
SHARED_NAMES = """
import sys

HITS = 0
WORDS = ("alpha", "beta")


def app(environ, start_response):
    global HITS
    status = "200 OK"
    note = "none"
    try:
        HITS += 1
        note = environ.get("QUERY_STRING") or note
        for word in WORDS:
            if word.startswith(note):
                start_response(status, [("Content-Type", "text/plain")])
                return [("%s %d" % (word, HITS)).encode()]
        raise ValueError(note)
    except ValueError:
        status = "422 Unprocessable Entity"
        start_response(status, [("Content-Type", "text/plain")], sys.exc_info())
        return [note.encode()]
"""


def test_names_the_function_binds_outside_the_try_stay_the_functions() -> None:
    after = migrated(SHARED_NAMES, "converted")
    assert "return await response.send(send, await respond())" in after
    assert "global HITS" in after and "nonlocal note, status" in after
    requests = [Req("GET", "/?a"), Req("GET", "/?fail"), Req("GET", "/?b")]
    assert_same_behaviour(SHARED_NAMES, after, requests)


def test_a_try_returning_early_whose_calls_may_block_keeps_the_app_wsgi() -> None:
    # a return before the end of the try keeps it in a nested coroutine, where each blocking
    # call would make its own hop to the pool: the adapter makes one, as the WSGI server did
    before = SQLITE.replace(
        """            return [b"no such item"]
        else:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [row[0].encode()]""",
        """            return [b"no such item"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [row[0].encode()]""",
    )
    after = migrated(before, "adapted")
    assert "whose calls may block: served through the adapter" in after
    assert_same_behaviour(before, after, [Req("GET", "/?1"), Req("GET", "/?9")])


FALLS_THROUGH = """
def app(environ, start_response):
    try:
        if environ["PATH_INFO"] == "/":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"home"]
    except Exception:
        pass
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]
"""


def test_a_try_that_may_go_on_keeps_the_app_wsgi() -> None:
    # what follows the try would need what it recorded: kept as WSGI behind the adapter
    after = migrated(FALLS_THROUGH, "adapted")
    assert "produced inside a try block with except handlers" in after
    assert_same_behaviour(FALLS_THROUGH, after, [Req("GET", "/"), Req("GET", "/x")])


GENERATOR_RETURNED = """
import sys


def rows(count):
    for number in range(count):
        yield b"%d\\n" % number


def app(environ, start_response):
    try:
        count = int(environ.get("QUERY_STRING") or "3")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return rows(count)
    except ValueError:
        start_response("400 Bad Request", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"a number, please"]
"""


def test_a_try_returning_a_generator_keeps_the_app_wsgi() -> None:
    # the server iterated it in the thread the app ran in: a recorded try sends only lists
    after = migrated(GENERATOR_RETURNED, "adapted")
    assert_same_behaviour(GENERATOR_RETURNED, after, [Req("GET", "/?2"), Req("GET", "/?x")])


TWO_BRANCHES = """
import json
import os
import tempfile

STORE = tempfile.mkdtemp()


def load(name):
    with open(os.path.join(STORE, name)) as f:  # raises for a missing file
        return json.load(f)


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/a":
        try:
            size = os.path.getsize(os.path.join(STORE, "a.json"))
            data = load("a.json")
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"size": size, "data": data}).encode()]
        except Exception as e:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [type(e).__name__.encode()]
    if path == "/b":
        try:
            size = os.path.getsize(os.path.join(STORE, "b.json"))
            data = load("b.json")
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"size": size, "data": data}).encode()]
        except Exception as e:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [type(e).__name__.encode()]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no"]


with open(os.path.join(STORE, "b.json"), "w") as f:
    json.dump({"b": 1}, f)
"""


def test_tries_of_two_branches_binding_the_same_names_each_run_alone() -> None:
    # each try goes to the pool whole, in one hop; what the other branch binds is not handed
    # back from it (``size`` is never bound when /a fails: handing it back would raise), nor
    # is an ``except ... as e`` name (unbound again as its handler ends)
    after = migrated(TWO_BRANCHES, "converted")
    assert "nonlocal" not in after
    assert "response_body = await run_blocking(_blocking_block)" in after
    assert "response_body_ = await run_blocking(_blocking_block_2)" in after
    requests = [Req("GET", "/a"), Req("GET", "/b"), Req("GET", "/c")]
    assert_same_behaviour(TWO_BRANCHES, after, requests)
