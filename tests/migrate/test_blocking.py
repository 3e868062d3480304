"""Never block the event loop: code the rules make async runs its blocking calls in threads.

Each conversion is checked three ways: the kinds and message of the change, the behaviour
(before as WSGI, after as ASGI, same requests), and -- where calls moved -- concurrency
without timing: two requests must be inside a ``threading.Barrier(2)`` at once, which a
blocked event loop never allows (the barrier times out and the request fails).
"""

from __future__ import annotations

import concurrent.futures
import textwrap

import httpx
import libcst as cst
import pytest

from migrate.blocking import ModuleFacts
from migrate.blocking.kinds import FunctionFacts
from migrate.blocking.table import BlockingTable, active_table, use_table
from migrate.rules.wsgi_app import WsgiAppRule
from migrate.rules.wsgi_middleware import WsgiMiddlewareRule
from tests.harness import (
    Req,
    assert_idempotent,
    assert_same_behaviour,
    assert_same_project_behaviour,
    load_module,
    load_project,
    migrate_project_twice,
    migrate_text,
)
from tests.servers import get_together, serve_asgi


def migrated(before: str, *kinds: str, rule: type = WsgiAppRule) -> tuple[str, list[str]]:
    after, changes = migrate_text(before, rule)
    assert [c.kind for c in changes] == list(kinds), changes
    assert_idempotent(after, rule)
    return after, [c.message for c in changes]


def assert_two_requests_meet(after: str, path: str, app_name: str = "app") -> None:
    """Two concurrent requests to ``path`` both answer 200: each reaches the barrier of the
    app while the other is inside it."""
    module = load_module(after)
    with serve_asgi(getattr(module, app_name)) as url:

        def get() -> int:
            return httpx.get(url + path, timeout=30).status_code

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            statuses = list(pool.map(lambda _: get(), range(2)))
    assert statuses == [200, 200]


def call_verdicts(source: str) -> dict[str, bool]:
    """Whether each call of the last function of ``source`` may block, by its text."""
    module = cst.parse_module(textwrap.dedent(source))
    func = module.body[-1]
    assert isinstance(func, cst.FunctionDef)
    facts = FunctionFacts(ModuleFacts(module, active_table()), func, None)
    return {cst.Module([]).code_for_node(c): facts.blocks(c) for c in facts.calls(func.body)}


SQLITE_HELPER = """
import json
import os
import sqlite3
import tempfile
import threading
import time

DB = os.path.join(tempfile.mkdtemp(), "notes.db")
BARRIER = threading.Barrier(2, timeout=10)

def setup():
    conn = sqlite3.connect(DB)
    conn.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes (text) VALUES ('first'), ('second')")
    conn.commit()
    conn.close()

setup()

def fetch_notes():
    conn = sqlite3.connect(DB)
    try:
        return [row[0] for row in conn.execute("SELECT text FROM notes ORDER BY id")]
    finally:
        conn.close()

def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/meet":
        BARRIER.wait()
    time.sleep(0.01)  # database latency
    body = json.dumps({"path": path, "notes": fetch_notes()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""


def test_sleep_and_a_database_helper_move_off_the_loop() -> None:
    after, messages = migrated(SQLITE_HELPER, "converted")
    assert "await asyncio.sleep(0.01)" in after
    assert "await run_blocking(BARRIER.wait)" in after
    assert '"notes": await run_blocking(fetch_notes)' in after
    assert "2 blocking calls moved to threads" in messages[0]
    assert "1 time.sleep() awaited as asyncio.sleep()" in messages[0]
    assert_same_behaviour(SQLITE_HELPER, after, [Req("GET", "/"), Req("GET", "/x")])
    assert_two_requests_meet(after, "/meet")


def test_a_connection_opened_before_an_await_is_used_after_it_on_the_same_thread() -> None:
    # sqlite3 refuses a connection used from another thread than the one that made it: the
    # request body is read (awaited) between the hop that opens it and the hop that uses it,
    # and every hop of a request runs on its one thread
    before = """
    import sqlite3

    def app(environ, start_response):
        conn = sqlite3.connect(":memory:")
        conn.execute("CREATE TABLE t (body TEXT)")
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size)
        try:
            conn.execute("INSERT INTO t VALUES (?)", (body.decode(),))
            count = conn.execute("SELECT count(*), max(body) FROM t").fetchone()
        finally:
            conn.close()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [repr(count).encode()]
    """
    after, messages = migrated(before, "converted")
    assert after.count("await run_blocking(_blocking_block") == 2, after
    assert "6 blocking calls moved to threads" in messages[0]
    requests = [Req("POST", "/", body=b"hello"), Req("POST", "/", body=b"")]
    assert_same_behaviour(before, after, requests)


def test_the_work_after_a_blocking_call_goes_to_the_thread_with_it() -> None:
    """Up to the next await, what follows a blocking call (decoding, encoding) runs in the
    same hop, as it ran in the WSGI thread; what comes before it stays on the loop."""
    before = """
    import json
    import sqlite3

    def app(environ, start_response):
        name = environ.get("QUERY_STRING") or "world"
        conn = sqlite3.connect(":memory:")
        row = conn.execute("SELECT upper(?)", (name,)).fetchone()
        conn.close()
        body = json.dumps({"hello": row[0]}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    """
    after, _ = migrated(before, "converted")
    lines = [line.strip() for line in after.splitlines()]
    block = lines.index("def _blocking_block():")
    assert lines[block - 1].startswith("name = ")  # before the first blocking call: the loop
    assert lines[block + 1 : block + 6] == [
        'conn = sqlite3.connect(":memory:")',
        'row = conn.execute("SELECT upper(?)", (name,)).fetchone()',
        "conn.close()",
        'body = json.dumps({"hello": row[0]}).encode()',
        "return body",
    ]
    assert "body = await run_blocking_last(_blocking_block)" in lines
    assert_same_behaviour(before, after, [Req("GET", "/?ada"), Req("GET", "/")])


def test_a_with_block_over_a_file_runs_in_one_thread_hop() -> None:
    before = """
    import os
    import tempfile

    PATH = os.path.join(tempfile.mkdtemp(), "motd.txt")
    with open(PATH, "w") as f:
        f.write("hello from disk")

    def app(environ, start_response):
        with open(PATH) as handle:
            text = handle.read()
            size = len(text)
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Size", str(size))])
        return [text.encode()]
    """
    after, messages = migrated(before, "converted")
    assert "def _blocking_block():" in after
    assert "size, text = await run_blocking_last(_blocking_block)" in after
    assert "2 blocking calls moved to threads" in messages[0]
    assert_same_behaviour(before, after, [Req("GET", "/")])


def test_a_comprehension_over_a_cursor_moves_whole() -> None:
    # the comprehension reads the cursor where it runs: in the thread, with the work after it
    before = """
    import sqlite3

    CONN = sqlite3.connect(":memory:", check_same_thread=False)

    def app(environ, start_response):
        items = [str(row[0]) for row in CONN.execute("SELECT 1 UNION SELECT 2")]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [",".join(items).encode()]
    """
    after, _ = migrated(before, "converted")
    block = after[after.index("def _blocking_block():") : after.index("await run_blocking")]
    assert 'items = [str(row[0]) for row in CONN.execute("SELECT 1 UNION SELECT 2")]' in block
    assert_same_behaviour(before, after, [Req("GET", "/")])


def test_a_loop_over_a_cursor_runs_in_the_thread_with_its_block() -> None:
    # a cursor is read row by row where it is iterated: the loop goes to the thread whole
    before = """
    import sqlite3

    def app(environ, start_response):
        conn = sqlite3.connect(":memory:")
        lines = []
        for row in conn.execute("SELECT 1 UNION SELECT 2"):
            lines.append("row %d" % row[0])
        conn.close()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["\\n".join(lines).encode()]
    """
    after, _ = migrated(before, "converted")
    assert "for row in conn.execute" in after and "def _blocking_block():" in after
    assert_same_behaviour(before, after, [Req("GET", "/")])


def test_blocking_reached_through_helpers_and_methods() -> None:
    # the module's own helpers and methods are followed to any depth; pure ones stay as is
    before = """
    import threading

    BARRIER = threading.Barrier(2, timeout=10)

    def meet():
        BARRIER.wait()

    class Greeter:
        def greeting(self, name):
            return "hello " + name.title()

        def wait_and_greet(self, name):
            meet()
            return self.greeting(name)

    GREETER = Greeter()

    def app(environ, start_response):
        name = environ.get("QUERY_STRING", "") or "world"
        if environ["PATH_INFO"] == "/meet":
            text = GREETER.wait_and_greet(name)
        else:
            text = GREETER.greeting(name)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [text.encode()]
    """
    after, _ = migrated(before, "converted")
    assert "text = await run_blocking_last(GREETER.wait_and_greet, name)" in after
    assert "text = GREETER.greeting(name)" in after
    assert_same_behaviour(before, after, [Req("GET", "/?ada"), Req("GET", "/")])
    assert_two_requests_meet(after, "/meet")


def test_a_helper_reading_the_body_of_the_built_environ_stays_on_the_loop() -> None:
    # the environ a converted app hands its helpers is built from the scope with the body
    # already read: its wsgi.input is in memory, so the helper does not go to a thread
    before = """
    from urllib.parse import parse_qs

    def form(environ):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        return parse_qs(environ["wsgi.input"].read(size).decode())

    def app(environ, start_response):
        name = form(environ).get("name", ["world"])[0]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("hello " + name).encode()]
    """
    after, _ = migrated(before, "converted")
    assert "name = form(environ).get(" in after
    assert "run_blocking" not in after
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    requests = [Req("POST", "/", form, b"name=ada"), Req("POST", "/", form, b"")]
    assert_same_behaviour(before, after, requests)


def test_values_read_from_the_file_system_are_plain_data() -> None:
    # os.path.realpath() blocks, the path it gives back does not; nor does what a method of
    # the class computes from a file (it is not a handle for being a method's result)
    module = cst.parse_module(
        textwrap.dedent(
            """
            import os

            class Files:
                def size_of(self, path):
                    with open(path, "rb") as f:
                        return len(f.read())

                def handle(self, path):
                    full = os.path.realpath(path)
                    inside = full.startswith("/tmp")
                    size = self.size_of(full)
                    return inside, str(size).isdigit()
            """
        )
    )
    cls = module.body[1]
    assert isinstance(cls, cst.ClassDef) and isinstance(cls.body, cst.IndentedBlock)
    handle = cls.body.body[1]
    assert isinstance(handle, cst.FunctionDef)
    facts = FunctionFacts(ModuleFacts(module, active_table()), handle, cls)
    verdicts = {cst.Module([]).code_for_node(c): facts.blocks(c) for c in facts.calls(handle.body)}
    assert verdicts == {
        "os.path.realpath(path)": True,
        'full.startswith("/tmp")': False,
        "self.size_of(full)": True,
        "str(size).isdigit()": False,
        "str(size)": False,
    }


def test_a_folder_made_at_import_is_a_plain_path() -> None:
    # tempfile.mkdtemp() blocks; the path it returns is data: joining it does not
    verdicts = call_verdicts(
        "import os\nimport tempfile\n\nFOLDER = tempfile.mkdtemp()\n\n\n"
        "def where(name):\n    return os.path.getsize(os.path.join(FOLDER, name))\n"
    )
    assert verdicts == {
        "os.path.getsize(os.path.join(FOLDER, name))": True,
        "os.path.join(FOLDER, name)": False,
    }


def test_what_a_helper_of_the_module_returns_is_data_when_its_returns_are() -> None:
    # digests() reads a stream (it blocks), but what it returns is a number and a hasher:
    # hexdigest() runs on the loop; what connect() returns is not data, its calls move
    verdicts = call_verdicts(
        """
        import hashlib
        import sqlite3

        def digests(stream):
            hasher = hashlib.sha256()
            size = 0
            for block in iter(lambda: stream.read(4096), b""):
                hasher.update(block)
                size += len(block)
            return size, hasher

        def connect(path):
            return sqlite3.connect(path)

        def handle(stream, path):
            size, hasher = digests(stream)
            conn = connect(path)
            conn.execute("INSERT INTO uploads VALUES (?, ?)", (size, hasher.hexdigest()))
        """
    )
    assert verdicts == {
        "digests(stream)": True,
        "connect(path)": True,
        'conn.execute("INSERT INTO uploads VALUES (?, ?)", (size, hasher.hexdigest()))': True,
        "hasher.hexdigest()": False,
    }


def test_what_a_body_reading_helper_returns_is_used_on_the_loop() -> None:
    before = """
    import hashlib

    def digests(stream, length):
        hasher = hashlib.sha256()
        hasher.update(stream.read(length))
        return length, hasher

    def app(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        size, hasher = digests(environ["wsgi.input"], length)
        text = "%d %s" % (size, hasher.hexdigest())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [text.encode()]
    """
    after, _ = migrated(before, "converted")
    # digests() is handed data for `length`, which it returns: the text made of what it
    # returned is data, and encoding it needs no second hop
    assert after.count("await run_blocking(") == 1
    assert "text = await run_blocking(_blocking_block)" in after
    assert '"body": text.encode()' in after
    assert_same_behaviour(before, after, [Req("POST", "/", body=b"abc"), Req("GET", "/")])


def test_a_comprehension_holds_what_it_collects() -> None:
    verdicts = call_verdicts(
        """
        import sqlite3

        def handle(paths):
            conns = [sqlite3.connect(p) for p in paths]
            names = {p: p.upper() for p in paths}
            conns[0].execute("SELECT 1")
            names["a"].lower()
        """
    )
    assert verdicts == {
        "sqlite3.connect(p)": True,
        "p.upper()": False,
        'conns[0].execute("SELECT 1")': True,
        'names["a"].lower()': False,
    }


def test_a_tuple_assigned_a_tuple_binds_each_name_to_its_own_value() -> None:
    verdicts = call_verdicts(
        """
        import urllib.request

        def handle(url):
            resp = urllib.request.urlopen(url)
            status, body = resp.status, resp.read()
            return body.decode()
        """
    )
    # what read() returned is data; the status of the response does not make it a resource
    assert verdicts == {
        "urllib.request.urlopen(url)": True,
        "resp.read()": True,
        "body.decode()": False,
    }


def test_what_a_helper_takes_in_star_parameters_is_not_known() -> None:
    verdicts = call_verdicts(
        """
        def commit_all(*conns, **named):
            for conn in conns:
                conn.commit()
            named["audit"].commit()

        def handle(db, audit):
            commit_all(db, audit=audit)
        """
    )
    assert verdicts == {"commit_all(db, audit=audit)": True}


def test_a_local_a_nested_function_binds_has_the_kind_of_what_it_binds() -> None:
    verdicts = call_verdicts(
        """
        import sqlite3

        def handle(path):
            conn = None
            def open_db():
                nonlocal conn
                conn = sqlite3.connect(path)
            open_db()
            conn.execute("SELECT 1")
        """
    )
    assert verdicts['conn.execute("SELECT 1")'] is True  # conn is not only None


def test_a_global_a_function_binds_has_the_kind_of_what_it_binds() -> None:
    # GATE is None at import, then a barrier set by init() through `global GATE`: its
    # wait() may block (under the old reading, GATE was None, plain data, waited on the loop)
    before = """
    import threading

    GATE = None

    def init():
        global GATE
        GATE = threading.Barrier(2, timeout=5)

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/meet":
            GATE.wait()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"met"]

    init()
    """
    after, _ = migrated(before, "converted")
    assert "await run_blocking_last(GATE.wait)" in after
    assert_same_behaviour(before, after, [Req("GET", "/")])
    assert_two_requests_meet(after, "/meet")


def test_what_an_offloaded_call_returns_can_be_called() -> None:
    # make_reader() may block (it reaches open()); the function it returns is called on the
    # loop only if it is cheap -- here it is not known, so it moves too: the statement's two
    # blocking calls go in one hop
    before = """
    import os
    import tempfile

    PATH = os.path.join(tempfile.mkdtemp(), "data.txt")
    with open(PATH, "w") as f:
        f.write("0123456789")

    def make_reader(path):
        handle = open(path)
        return handle.read

    def app(environ, start_response):
        size = int(environ.get("QUERY_STRING") or 4)
        text = make_reader(PATH)(size)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [text.encode()]
    """
    after, _ = migrated(before, "converted")
    assert "        text = make_reader(PATH)(size)\n" in after
    assert "text = await run_blocking_last(_blocking_block)" in after
    assert_same_behaviour(before, after, [Req("GET", "/?3"), Req("GET", "/")])


@pytest.mark.parametrize(
    ("code", "why"),
    [
        (
            """
            import sqlite3

            def app(environ, start_response):
                conn = sqlite3.connect(":memory:")
                out = []
                for row in conn.execute("SELECT 1 UNION SELECT 2"):
                    # reading the request (an await once ASGI) inside the loop over the cursor
                    out.append(environ["wsgi.input"].read(1) + str(row[0]).encode())
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b",".join(out)]
            """,
            "loops over what a blocking call returned",
        ),
        (
            """
            import threading

            LOCK = threading.Lock()

            def app(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                with LOCK:
                    return [b"locked"]
            """,
            "also holds response code",
        ),
        (
            """
            import time

            def app(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                slow = (time.sleep(0) or b"x" for _ in range(2))
                return [b"".join(slow)]
            """,
            "generator expression calls something that may block",
        ),
    ],
)
def test_what_cannot_move_faithfully_stays_wsgi_behind_the_adapter(code: str, why: str) -> None:
    after, messages = migrated(code, "adapted")
    assert why in messages[0]
    assert "WsgiToAsgi(_app_wsgi)" in after
    assert_same_behaviour(code, after, [Req("POST", "/", body=b"ab")])


def test_middleware_made_async_moves_its_blocking_calls() -> None:
    before = """
    import threading
    import time

    BARRIER = threading.Barrier(2, timeout=10)

    class Throttle:
        def __init__(self, app, delay=0.0):
            self.app = app
            self.delay = delay

        def __call__(self, environ, start_response):
            if environ["PATH_INFO"] == "/meet":
                BARRIER.wait()
            time.sleep(self.delay)
            environ["HTTP_X_THROTTLED"] = "yes"
            return self.app(environ, start_response)

    def inner(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ.get("HTTP_X_THROTTLED", "no").encode()]

    app = Throttle(inner, delay=0.001)
    """
    after, changes = migrate_text(before, WsgiMiddlewareRule)
    after, more = migrate_text(after, WsgiAppRule)
    kinds = [c.kind for c in [*changes, *more]]
    assert kinds == ["converted", "converted"], [*changes, *more]
    assert "await asyncio.sleep(self.delay)" in after
    assert "await run_blocking(BARRIER.wait)" in after
    assert_same_behaviour(before, after, [Req("GET", "/"), Req("GET", "/x")])
    assert_two_requests_meet(after, "/meet")


def test_the_projects_own_lists_come_first() -> None:
    table = BlockingTable(blocking=("mylib.cache.*",), non_blocking=("requests.utils.*",))
    assert table.verdict("mylib.cache.get") == "blocks"
    assert table.verdict("requests.utils.quote") == "cheap"
    assert table.verdict("requests.get") == "blocks"
    assert table.verdict("json.dumps") == "cheap"
    assert table.verdict("somelib.compute") == "unknown"
    before = """
    from mylib import fastmath

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(fastmath.square(3)).encode()]
    """
    after, _ = migrated(before, "converted")
    assert "await run_blocking_last(fastmath.square, 3)" in after  # unknown package: may block
    previous = active_table()
    use_table(BlockingTable(non_blocking=("mylib.fastmath.*",)))
    try:
        after, _ = migrated(before, "converted")
    finally:
        use_table(previous)
    assert "str(fastmath.square(3))" in textwrap.dedent(after)
    assert "run_blocking" not in after


#: A middleware keeps a connection (and a barrier) in the environ for the app it wraps,
#: and closes the connection once the app returns.
KEPT_IN_THE_ENVIRON = {
    "app.py": """
        import sqlite3
        import threading

        BOTH = threading.Barrier(2, timeout=5)


        def app(environ, start_response):
            if environ["PATH_INFO"] == "/meet":
                environ["app.meeting"].wait()  # both requests must be in here at once
            total = environ["app.db"].execute("SELECT 40 + 2").fetchone()[0]
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(total).encode()]


        class WithDatabase:
            def __init__(self, app, path):
                self.app = app
                self.path = path

            def __call__(self, environ, start_response):
                environ["app.db"] = sqlite3.connect(self.path)
                environ["app.meeting"] = BOTH
                try:
                    return self.app(environ, start_response)
                finally:
                    environ["app.db"].close()


        application = WithDatabase(app, ":memory:")
    """,
}


def test_what_a_middleware_keeps_in_the_environ_is_used_off_the_loop_on_its_thread() -> None:
    # the environ's values are data to the analysis, but for what the module's own code
    # puts there (migrate.blocking.stash): a connection made on the request's thread is
    # used and closed there (sqlite3 refuses any other), the barrier is waited for there
    after, results = migrate_project_twice(KEPT_IN_THE_ENVIRON)
    kinds = {c.kind for r in results.values() for c in r.changes}
    assert kinds == {"converted"}
    assert '.execute("SELECT 40 + 2")' in after["app.py"].split("def _blocking_block")[1]
    requests = [Req("GET", "/"), Req("GET", "/again")]
    assert_same_project_behaviour(
        KEPT_IN_THE_ENVIRON, after, "app", requests, app_name="application"
    )
    answers = get_together(load_project(after, "app").application, "/meet")
    assert [a.status_code for a in answers] == [200, 200]
