"""Rule ``falcon-asgi``: a Falcon app moves to ``falcon.asgi`` with every part it calls,
across the modules of the run, or stays WSGI (served through the adapter) as a whole.

Each example migrates a small project with :func:`migrate.runner.migrate_sources` (what a run
over its folder does), serves the app before as WSGI (wsgiref) and after as ASGI (uvicorn,
hypercorn) and compares the answers.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import falcon.asgi
import falcon.testing

from tests.harness import (
    Req,
    assert_same_project_behaviour,
    change_kinds,
    load_project,
    migrate_project_twice,
)
from tests.servers import get_together

HOOKS = """
    import falcon

    KEYS = {"k1": "warehouse"}


    def require_key(req, resp, resource, params):
        if req.get_header("X-Key") not in KEYS:
            raise falcon.HTTPUnauthorized(title="key", challenges=['Key realm="x"'])
        req.context.client = KEYS[req.get_header("X-Key")]


    def limit_body(max_bytes):
        def hook(req, resp, resource, params):
            if (req.content_length or 0) > max_bytes:
                raise falcon.HTTPContentTooLarge(title="too large")

        return hook
"""

RESOURCES = """
    import os

    import falcon

    from hooks import limit_body, require_key

    HERE = os.path.dirname(os.path.abspath(__file__))
    ITEMS = {1: {"id": 1, "name": "hammer"}}


    def checked(doc):
        if not isinstance(doc, dict) or not doc.get("name"):
            raise falcon.HTTPBadRequest(title="name is required")
        return {"name": doc["name"]}


    class Items:
        def on_get(self, req, resp):
            limit = req.get_param_as_int("limit", min_value=1, default=10)
            resp.media = {"items": list(ITEMS.values())[:limit], "tenant": req.context.tenant}

        @falcon.before(require_key)
        @falcon.before(limit_body(64))
        def on_post(self, req, resp):
            item = dict(checked(req.get_media()), id=len(ITEMS) + 1, by=req.context.client)
            ITEMS[item["id"]] = item
            resp.status = falcon.HTTP_201
            resp.location = "/items/%d" % item["id"]
            resp.media = item


    class Item:
        def on_get(self, req, resp, item_id):
            if item_id not in ITEMS:
                raise falcon.HTTPNotFound(description="no item %d" % item_id)
            resp.media = ITEMS[item_id]

        def on_put(self, req, resp, item_id):
            ITEMS[item_id] = dict(checked(req.media), id=item_id)
            resp.media = ITEMS[item_id]


    class Notes:
        def on_get(self, req, resp):
            path = os.path.join(HERE, "notes.txt")
            with open(path, "w") as out:
                out.write("line\\n" * 500)
            resp.content_type = falcon.MEDIA_TEXT
            resp.content_length = os.path.getsize(path)
            resp.stream = open(path, "rb")
"""

APP = """
    import falcon

    from resources import Item, Items, Notes


    class Tenant:
        def process_request(self, req, resp):
            req.context.tenant = req.get_header("X-Tenant", default="public")

        def process_response(self, req, resp, resource, req_succeeded):
            resp.set_header("X-Tenant", req.context.tenant)
            if not req_succeeded:
                resp.set_header("X-Failed", "1")


    def value_error(req, resp, ex, params):
        resp.status = falcon.HTTP_422
        resp.media = {"error": str(ex)}


    def fallback(req, resp):
        resp.media = {"sink": req.path}


    app = falcon.App(middleware=[Tenant()])
    app.add_route("/items", Items())
    app.add_route("/items/{item_id:int}", Item())
    app.add_route("/notes.txt", Notes())
    app.add_error_handler(ValueError, value_error)
    app.add_sink(fallback, prefix="/legacy")
"""

PROJECT = {"hooks.py": HOOKS, "resources.py": RESOURCES, "app.py": APP}

REQUESTS = [
    Req("GET", "/items"),
    Req("GET", "/items?limit=0", headers=(("X-Tenant", "acme"),)),
    Req("GET", "/items/1"),
    Req("GET", "/items/9"),
    Req("POST", "/items", headers=(("Content-Type", "application/json"),), body=b'{"name": "saw"}'),
    Req("POST", "/items", headers=(("Content-Type", "application/json"), ("X-Key", "k1")),
        body=b'{"name": "saw"}'),
    Req("POST", "/items", headers=(("Content-Type", "application/json"), ("X-Key", "k1")),
        body=b'{"name": "' + b"x" * 80 + b'"}'),
    Req("POST", "/items", headers=(("Content-Type", "application/json"), ("X-Key", "k1")),
        body=b"{nope"),
    Req("PUT", "/items/1", headers=(("Content-Type", "application/json"),), body=b'{"name": "mallet"}'),
    Req("PUT", "/items/1", headers=(("Content-Type", "application/json"),), body=b"[]"),
    Req("GET", "/items/1"),
    Req("DELETE", "/items/1"),
    Req("GET", "/notes.txt"),
    Req("GET", "/legacy/page?x=1"),
]  # fmt: skip


def test_an_app_and_its_parts_in_three_modules_become_falcon_asgi() -> None:
    after, results = migrate_project_twice(PROJECT)
    assert "app = falcon.asgi.App(middleware=[Tenant()])" in after["app.py"]
    assert "async def process_request(self, req, resp):" in after["app.py"]
    assert "async def value_error(req, resp, ex, params):" in after["app.py"]
    assert "async def fallback(req, resp):" in after["app.py"]
    assert "async def require_key(req, resp, resource, params):" in after["hooks.py"]
    assert "    async def hook(req, resp, resource, params):" in after["hooks.py"]
    assert "checked(await req.get_media())" in after["resources.py"]
    assert "checked((await req.get_media()))" in after["resources.py"]
    assert 'resp.stream = await AsyncFile.open(path, "rb")' in after["resources.py"]
    assert "def checked(doc):" in after["resources.py"]  # a plain helper stays as it is
    assert set(change_kinds(results, "falcon-asgi")) == {"converted"}
    assert not any(c.rule == "served-app" for r in results.values() for c in r.changes)
    assert_same_project_behaviour(PROJECT, after, "app", REQUESTS)
    # the project's tests drive the ASGI app with the same client
    migrated = load_project(after, "app").app
    assert isinstance(migrated, falcon.asgi.App)
    assert falcon.testing.TestClient(migrated).simulate_get("/items/1").json["name"] == "hammer"


BLOCKING = {
    "app.py": """
        import threading

        import falcon

        BOTH = threading.Barrier(2, timeout=5)


        class Meeting:
            def on_get(self, req, resp):
                BOTH.wait()  # both requests must be in here at once
                resp.media = {"met": True}


        app = falcon.App()
        app.add_route("/meet", Meeting())
    """,
}


def test_blocking_calls_of_responders_run_off_the_event_loop() -> None:
    after, results = migrate_project_twice(BLOCKING)
    assert change_kinds(results, "falcon-asgi") == ["converted", "converted"]
    # the wait and what follows, in one hop; nothing of the run follows the responder in a
    # request (no middleware, hook, error handler), so its thread is free once it returns
    assert "await run_blocking_last(" in after["app.py"]
    assert "from adapters.blocking import run_blocking_last" in after["app.py"]
    app = load_project(after, "app").app
    answers = get_together(app, "/meet")
    assert [a.status_code for a in answers] == [200, 200]


#: A middleware of one module keeps a connection on ``req.context``; the resources of another
#: use it and the middleware closes it; a barrier kept there too must be reached by two
#: requests at once.
STASHED = {
    "middleware.py": """
        import sqlite3
        import threading

        import falcon

        BOTH = threading.Barrier(2, timeout=5)


        class Database:
            def __init__(self, path):
                self.path = path

            def process_request(self, req, resp):
                req.context.db = sqlite3.connect(self.path)
                req.context["meeting"] = BOTH

            def process_response(self, req, resp, resource, req_succeeded):
                db = getattr(req.context, "db", None)
                if db is not None:
                    db.close()
    """,
    "resources.py": """
        import falcon


        class Count:
            def on_get(self, req, resp):
                total = req.context.db.execute("SELECT 40 + 2").fetchone()[0]
                resp.media = {"total": total, "tenant": req.get_header("X-Tenant")}


        class Meeting:
            def on_get(self, req, resp):
                req.context.get("meeting").wait()  # both requests must be in here at once
                resp.media = {"met": True}
    """,
    "app.py": """
        import falcon

        from middleware import Database
        from resources import Count, Meeting

        app = falcon.App(middleware=[Database(":memory:")])
        app.add_route("/", Count())
        app.add_route("/meet", Meeting())
    """,
}


def test_what_middleware_keeps_on_the_request_is_used_off_the_loop_on_one_thread() -> None:
    after, results = migrate_project_twice(STASHED)
    assert set(change_kinds(results, "falcon-asgi")) == {"converted"}
    # the connection made in one thread of the request is used and closed in that thread
    assert "await run_blocking(db.close)" in after["middleware.py"]
    assert "run_blocking_last" not in after["resources.py"]  # the middleware runs after it
    assert_same_project_behaviour(
        STASHED, after, "app", [Req("GET", "/"), Req("GET", "/", headers=(("X-Tenant", "a"),))]
    )
    answers = get_together(load_project(after, "app").app, "/meet")
    assert [a.status_code for a in answers] == [200, 200]


HELD_BY_THE_RESOURCE = {
    "app.py": """
        import threading

        import falcon

        BOTH = threading.Barrier(2, timeout=5)


        class Gate:
            def process_resource(self, req, resp, resource, params):
                if resource is not None:
                    resource.meeting.wait()  # both requests must be in here at once


        class Meeting:
            def __init__(self, meeting):
                self.meeting = meeting

            def on_get(self, req, resp):
                resp.media = {"met": True}


        app = falcon.App(middleware=[Gate()])
        app.add_route("/meet", Meeting(BOTH))
    """,
}


def test_what_the_resource_a_middleware_gets_holds_may_block() -> None:
    # falcon.asgi's req and resp are data to the analysis; the resource is the project's
    # object, whose attributes may be connections (here: a barrier)
    after, results = migrate_project_twice(HELD_BY_THE_RESOURCE)
    assert set(change_kinds(results, "falcon-asgi")) == {"converted"}
    assert "await run_blocking(resource.meeting.wait)" in after["app.py"]
    answers = get_together(load_project(after, "app").app, "/meet")
    assert [a.status_code for a in answers] == [200, 200]


def test_an_app_with_a_part_it_cannot_convert_stays_wsgi_in_every_module() -> None:
    files = dict(PROJECT)
    files["resources.py"] = (
        RESOURCES
        + """

    def size_of(stream):
        return len(stream.read())


    class Upload:
        def on_post(self, req, resp):
            resp.media = {"size": size_of(req.bounded_stream)}  # the stream handed on
    """
    )
    files["app.py"] = (
        APP.replace(
            "from resources import Item, Items, Notes",
            "from resources import Item, Items, Notes, Upload",
        )
        + """
    app.add_route("/upload", Upload())
    """
    )
    after, results = migrate_project_twice(files)
    assert change_kinds(results, "falcon-asgi") == []
    assert after["hooks.py"] == textwrap.dedent(HOOKS).lstrip("\n")  # its hooks stay sync
    assert "async def" not in after["resources.py"]
    assert change_kinds(results, "served-app") == ["adapted"]  # served through the adapter
    (message,) = [c.message for r in results.values() for c in r.changes if c.rule == "served-app"]
    assert (
        "it stays on Falcon's WSGI App: `on_post` reads `req.bounded_stream` other than with "
        ".read()"
    ) in message
    assert_same_project_behaviour(
        files, after, "app", [*REQUESTS[:4], Req("POST", "/upload", body=b"12345")]
    )


def test_apps_sharing_a_resource_convert_together_or_not_at_all() -> None:
    files = {
        "resources.py": RESOURCES.replace("from hooks import limit_body, require_key", "")
        .replace("@falcon.before(require_key)", "")
        .replace("@falcon.before(limit_body(64))", "")
        .replace("by=req.context.client", "by=1"),
        "public.py": """
            import falcon

            from resources import Items

            app = falcon.App()
            app.add_route("/items", Items())
        """,
        "admin.py": """
            import falcon

            from resources import Items


            def stream_all(req, resp):
                resp.stream = (chunk for chunk in [b"a", b"b"])


            app = falcon.App()
            app.add_route("/items", Items())
            app.add_sink(stream_all, prefix="/all")
        """,
    }
    after, results = migrate_project_twice(files)
    assert change_kinds(results, "falcon-asgi") == []
    assert "async def" not in after["resources.py"]
    assert "falcon.asgi" not in after["public.py"]


def refused(resource_body: str) -> list[str]:
    """The falcon-asgi changes of a one-module app whose resource has ``resource_body``."""
    methods = textwrap.indent(textwrap.dedent(resource_body).strip("\n"), "    ")
    source = (
        f"import falcon\n\n\nclass Things:\n{methods}\n\n\n"
        'app = falcon.App()\napp.add_route("/things", Things())\n'
    )
    _, results = migrate_project_twice({"app.py": source})
    return change_kinds(results, "falcon-asgi")


def test_bodies_falcon_asgi_reads_differently_keep_the_app_wsgi() -> None:
    # a multipart form is iterated with `async for` under falcon.asgi: only `for` loops whose
    # parts are read for what a part has convert (test_a_multipart_form_...)
    assert (
        refused("""
        def on_post(self, req, resp):
            count = 0
            for item in req.media:  # a JSON list, or a form? nothing read of it says
                count += 1
            resp.media = count
    """)
        == []
    )
    assert (
        refused("""
        def on_post(self, req, resp):
            for part in req.media:
                keep(part)  # handed on: what is done with it is not seen
    """)
        == []
    )
    assert (
        refused("""
        def on_post(self, req, resp):
            resp.media = [part.name for part in req.get_media()]
    """)
        == []
    )
    assert (
        refused("""
        def on_post(self, req, resp):
            form = req.media
            for part in form:
                pass
    """)
        == []
    )
    # a sync file object unpacked into resp.stream
    assert (
        refused("""
        def on_get(self, req, resp):
            resp.stream, resp.content_length = open("x", "rb"), 1
    """)
        == []
    )
    assert (
        refused("""
        def on_get(self, req, resp):
            resp.media = {"user": req.env["REMOTE_USER"]}  # an auth proxy's, not the scope's
    """)
        == []
    )
    # a return inside a with: its blocking work could not all leave the event loop
    assert (
        refused("""
        def on_get(self, req, resp):
            with open(__file__) as source:
                resp.text = source.readline()
                return
    """)
        == []
    )
    # a responder delegating to another, which becomes a coroutine
    assert (
        refused("""
        def on_get(self, req, resp):
            resp.media = {"ok": True}

        def on_head(self, req, resp):
            self.on_get(req, resp)
    """)
        == []
    )
    assert refused("""
        def on_get(self, req, resp):
            resp.media = {"ok": True}
    """) == ["converted", "converted"]


UPLOADS = {
    "app.py": """
        import hashlib

        import falcon


        class Upload:
            def on_post(self, req, resp):
                digest, size = hashlib.sha256(), 0
                while True:
                    chunk = req.bounded_stream.read(4096)
                    if not chunk:
                        break
                    digest.update(chunk)
                    size += len(chunk)
                resp.media = {"sha256": digest.hexdigest(), "read": size}

            def on_put(self, req, resp):
                # (unbounded, req.stream.read() would wait for the connection to close under
                # a WSGI server such as wsgiref: falcon.asgi's stream is always bounded)
                resp.text = req.bounded_stream.read().decode().upper()
                resp.content_type = falcon.MEDIA_TEXT


        app = falcon.App()
        app.add_route("/upload", Upload())
    """,
}
BODY = bytes(range(256)) * 80  # 20 KB: several reads, and several ASGI messages


def test_request_streams_read_with_read_are_awaited() -> None:
    after, results = migrate_project_twice(UPLOADS)
    assert "chunk = await req.bounded_stream.read(4096)" in after["app.py"]
    assert "resp.text = (await req.bounded_stream.read()).decode().upper()" in after["app.py"]
    assert set(change_kinds(results, "falcon-asgi")) == {"converted"}
    requests = [
        Req("POST", "/upload", body=BODY),
        Req("POST", "/upload"),
        Req("PUT", "/upload", body="zoë".encode()),
    ]
    assert_same_project_behaviour(UPLOADS, after, "app", requests)
    # read otherwise (iterated, handed on, in a nested function), it keeps the app WSGI
    for body in (
        "for line in req.stream: pass",
        "resp.media = json.load(req.bounded_stream)",
        "read = lambda: req.stream.read()",
    ):
        assert (
            refused(f"""
        def on_post(self, req, resp):
            {body}
    """)
            == []
        ), body


STREAMS = {
    "app.py": """
        import threading

        import falcon

        BOTH = threading.Barrier(2, timeout=5)


        class Report:
            def on_get(self, req, resp):
                limit = req.get_param_as_int("limit", default=3)

                def rows():
                    yield b"n,square\\n"
                    for n in range(limit):
                        yield f"{n},{n * n}\\n".encode()

                resp.content_type = "text/csv"
                resp.stream = rows()


        class Meet:
            def on_get(self, req, resp):
                def chunks():
                    yield b"waiting\\n"
                    BOTH.wait()  # both streams must be in here at once
                    yield b"met\\n"

                resp.stream = chunks()


        app = falcon.App()
        app.add_route("/report", Report())
        app.add_route("/meet", Meet())
    """,
}


def test_a_generator_a_responder_streams_becomes_an_async_generator() -> None:
    after, results = migrate_project_twice(STREAMS)
    assert "        async def rows():" in after["app.py"]
    assert "            await run_blocking(BOTH.wait)" in after["app.py"]
    assert set(change_kinds(results, "falcon-asgi")) == {"converted"}
    requests = [Req("GET", "/report?limit=4"), Req("GET", "/report")]
    assert_same_project_behaviour(STREAMS, after, "app", requests)
    app = load_project(after, "app").app
    answers = get_together(app, "/meet")
    assert [(a.status_code, a.text) for a in answers] == [(200, "waiting\nmet\n")] * 2
    # a generator of elsewhere, or one falcon.asgi could not iterate, keeps the app WSGI
    assert (
        refused("""
        def on_get(self, req, resp):
            resp.stream = iter([b"a"])
    """)
        == []
    )
    assert (
        refused("""
        def on_get(self, req, resp):
            def parts():
                yield from [b"a", b"b"]

            resp.stream = parts()
    """)
        == []
    )


RENDERED = {
    "app.py": """
        import hashlib

        import falcon


        class ETags:
            def process_response(self, req, resp, resource, req_succeeded):
                body = resp.render_body()
                if body is not None:
                    resp.etag = hashlib.sha256(body).hexdigest()[:16]


        class Items:
            def on_get(self, req, resp):
                resp.media = {"items": [1, 2, 3]}


        app = falcon.App(middleware=[ETags()])
        app.add_route("/items", Items())
    """,
}


def test_a_middleware_rendering_the_body_awaits_it() -> None:
    after, results = migrate_project_twice(RENDERED)
    assert "body = await resp.render_body()" in after["app.py"]
    assert set(change_kinds(results, "falcon-asgi")) == {"converted"}
    assert_same_project_behaviour(RENDERED, after, "app", [Req("GET", "/items"), Req("GET", "/x")])


ANNOTATED = {
    "resources.py": """
        import falcon


        class Things:
            def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
                resp.media = {"q": req.get_param("q")}
    """,
    "app.py": """
        import falcon

        from resources import Things

        app = falcon.App()
        app.add_route("/things", Things())
    """,
}


def test_responders_annotated_with_falcons_classes_get_falcon_asgis() -> None:
    after, _ = migrate_project_twice(ANNOTATED)
    assert (
        "async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:"
    ) in after["resources.py"]
    assert "import falcon.asgi\n" in after["resources.py"]  # evaluated when the class is made
    assert_same_project_behaviour(ANNOTATED, after, "app", [Req("GET", "/things?q=1")])


def test_parts_the_rule_cannot_see_keep_the_app_wsgi() -> None:
    inherited = """
        import falcon


        class Base:
            def on_get(self, req, resp):
                resp.media = {"base": True}


        class Things(Base):
            def on_post(self, req, resp):
                resp.media = {"posted": True}


        app = falcon.App()
        app.add_route("/things", Things())
    """
    _, results = migrate_project_twice({"app.py": inherited})
    assert change_kinds(results, "falcon-asgi") == []
    handled_by_class = """
        import falcon


        class Gone(Exception):
            @staticmethod
            def handle(req, resp, ex, params):
                resp.status = falcon.HTTP_410


        class Things:
            def on_get(self, req, resp):
                raise Gone()


        app = falcon.App()
        app.add_route("/things", Things())
        app.add_error_handler(Gone)
    """
    after, results = migrate_project_twice({"app.py": handled_by_class})
    assert change_kinds(results, "falcon-asgi") == []
    assert_same_project_behaviour(
        {"app.py": handled_by_class}, after, "app", [Req("GET", "/things")]
    )


def test_an_app_bound_to_two_names_converts() -> None:
    source = """
        import falcon


        class Resource(object):
            def on_get(self, req, resp):
                resp.text = "hi"


        api = application = falcon.App()
        api.add_route("/", Resource())
    """
    after, _ = migrate_project_twice({"app.py": source})
    assert "api = application = falcon.asgi.App()" in after["app.py"]
    assert_same_project_behaviour(
        {"app.py": source}, after, "app", [Req("GET", "/")], app_name="application"
    )


#: An app factory of a package: its middleware bound to a name first, its resources in
#: submodules imported from the package (``from shop.resources import items``).
FACTORY_PACKAGE = {
    "shop/__init__.py": "",
    "shop/resources/__init__.py": "",
    "shop/resources/items.py": """
        import falcon

        ITEMS = {"1": "hammer"}


        class Collection:
            def on_get(self, req, resp):
                resp.media = {"items": sorted(ITEMS.values()), "by": req.context.client}


        class Item:
            def on_get(self, req, resp, item_id):
                if item_id not in ITEMS:
                    raise falcon.HTTPNotFound()
                resp.media = {"name": ITEMS[item_id]}
    """,
    "shop/app.py": """
        import falcon

        from shop.resources import items


        class Client:
            def __init__(self, header):
                self.header = header

            def process_request(self, req, resp):
                req.context.client = req.get_header(self.header) or "anonymous"


        def create_app():
            client = Client("X-Client")
            app = falcon.App(middleware=[client])
            app.add_route("/items", items.Collection())
            app.add_route("/items/{item_id}", items.Item())
            return app


        app = create_app()
    """,
}


def test_a_factorys_named_middleware_and_resources_of_submodules_convert() -> None:
    after, results = migrate_project_twice(FACTORY_PACKAGE)
    assert "app = falcon.asgi.App(middleware=[client])" in after["shop/app.py"]
    assert "    async def process_request(self, req, resp):" in after["shop/app.py"]
    assert "    async def on_get(self, req, resp, item_id):" in after["shop/resources/items.py"]
    assert set(change_kinds(results, "falcon-asgi")) == {"converted"}
    requests = [
        Req("GET", "/items"),
        Req("GET", "/items", headers=(("X-Client", "acme"),)),
        Req("GET", "/items/1"),
        Req("GET", "/items/9"),
    ]
    assert_same_project_behaviour(FACTORY_PACKAGE, after, "shop.app", requests)


def test_a_name_bound_to_two_middlewares_keeps_the_app_wsgi() -> None:
    source = """
        import falcon


        class A:
            def process_request(self, req, resp):
                req.context.seen = "a"


        class B:
            def process_request(self, req, resp):
                req.context.seen = "b"


        class Resource:
            def on_get(self, req, resp):
                resp.text = req.context.seen


        gate = A()
        gate = B()
        app = falcon.App(middleware=[gate])
        app.add_route("/", Resource())
    """
    after, _ = migrate_project_twice({"app.py": source})
    assert "falcon.asgi" not in after["app.py"]
    assert "middleware `gate` is not an instance of a named class" in after["app.py"]
    assert_same_project_behaviour({"app.py": source}, after, "app", [Req("GET", "/")])


#: Resources built on base classes of the run: one in their module, one in another module
#: (a helper method, a store kept by ``__init__``); none brings a responder.
BASED = {
    "base.py": """
        import falcon


        class StoreResource:
            def __init__(self, store):
                self.store = store

            def reply(self, resp, data):
                resp.media = {"data": data, "count": len(self.store)}
    """,
    "app.py": """
        import falcon

        from base import StoreResource


        class Listed(StoreResource):
            def keys(self):
                return sorted(self.store)


        class Items(Listed):
            def on_get(self, req, resp):
                self.reply(resp, self.keys())


        class Item(StoreResource):
            def on_get(self, req, resp, key):
                if key not in self.store:
                    raise falcon.HTTPNotFound()
                self.reply(resp, self.store[key])


        STORE = {"a": 1, "b": 2}
        app = falcon.App()
        app.add_route("/items", Items(STORE))
        app.add_route("/items/{key}", Item(STORE))
    """,
}


def test_resources_on_base_classes_of_the_run_convert() -> None:
    after, results = migrate_project_twice(BASED)
    assert "app = falcon.asgi.App()" in after["app.py"]
    assert "    async def on_get(self, req, resp, key):" in after["app.py"]
    assert "    def reply(self, resp, data):" in after["base.py"]  # a helper stays as it is
    assert set(change_kinds(results, "falcon-asgi")) == {"converted"}
    requests = [Req("GET", "/items"), Req("GET", "/items/a"), Req("GET", "/items/z")]
    assert_same_project_behaviour(BASED, after, "app", requests)


def test_a_base_class_bringing_a_responder_or_of_elsewhere_keeps_the_app_wsgi() -> None:
    responder = dict(BASED)
    responder["base.py"] = BASED["base.py"] + (
        "\n\n            def on_delete(self, req, resp):\n                resp.status = 204\n"
    )
    after, _ = migrate_project_twice(responder)
    assert "falcon.asgi" not in after["app.py"]
    assert (
        "inherits responders, middleware methods or hooks from `StoreResource`" in after["app.py"]
    )
    unknown = {"app.py": BASED["app.py"].replace("from base import", "from baselib import")}
    after, _ = migrate_project_twice(unknown)
    assert "falcon.asgi" not in after["app.py"]
    assert "inherits from `StoreResource`, not a class of this run" in after["app.py"]


def test_a_base_class_in_a_module_that_never_names_falcon_is_read() -> None:
    # the scan reads only modules naming falcon: the base class's module is read when the
    # plan asks for it (before: "not a class of this run this rule can read", WSGI)
    files = {**BASED, "base.py": BASED["base.py"].replace("import falcon\n", "", 1)}
    assert "falcon" not in files["base.py"]
    after, results = migrate_project_twice(files)
    assert "app = falcon.asgi.App()" in after["app.py"]
    assert after["base.py"] == textwrap.dedent(files["base.py"]).lstrip("\n")
    assert set(change_kinds(results, "falcon-asgi")) == {"converted"}
    requests = [Req("GET", "/items"), Req("GET", "/items/a"), Req("GET", "/items/z")]
    assert_same_project_behaviour(files, after, "app", requests)


def test_the_cli_reads_the_base_class_module_too(tmp_path: Path) -> None:
    files = {**BASED, "base.py": BASED["base.py"].replace("import falcon\n", "", 1)}
    for relpath, source in files.items():
        (tmp_path / relpath).write_text(textwrap.dedent(source).lstrip("\n"))
    done = subprocess.run(
        [sys.executable, "-m", "migrate", "--no-cache", "--enable", "falcon-asgi", "--write", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "app = falcon.asgi.App()" in (tmp_path / "app.py").read_text()


ITEMS_ELSEWHERE = {
    "items.py": """
        class Items:
            def on_get(self, req, resp):
                resp.media = {"items": [1, 2], "q": req.get_param("q")}

            def on_post(self, req, resp):
                resp.media = {"got": req.get_media()}
                resp.status = 201
    """,
    "app.py": """
        import falcon

        from items import Items

        app = falcon.App()
        app.add_route("/items", Items())
    """,
}


def test_a_resource_in_a_module_that_never_names_falcon_converts() -> None:
    # the module never names falcon, but defines responders the usual way
    # (``on_get(self, req, resp)``): the scan reads it, and the rule converts it
    after, results = migrate_project_twice(ITEMS_ELSEWHERE)
    assert "app = falcon.asgi.App()" in after["app.py"]
    assert "    async def on_get(self, req, resp):" in after["items.py"]
    assert 'resp.media = {"got": await req.get_media()}' in after["items.py"]
    assert set(change_kinds(results, "falcon-asgi")) == {"converted"}
    requests = [
        Req("GET", "/items?q=x"),
        Req("POST", "/items", [("Content-Type", "application/json")], b'{"a": 1}'),
    ]
    assert_same_project_behaviour(ITEMS_ELSEWHERE, after, "app", requests)


def test_a_resource_the_scan_cannot_tell_from_other_code_keeps_the_app_wsgi() -> None:
    # responders spelled otherwise (``on_get(self, request, response)``) in a module that
    # never names falcon: the rule does not run there, so the app stays WSGI, saying why
    files = {
        **ITEMS_ELSEWHERE,
        "items.py": ITEMS_ELSEWHERE["items.py"]
        .replace("req, resp", "request, response")
        .replace("resp.", "response.")
        .replace("req.", "request."),
    }
    after, _ = migrate_project_twice(files)
    assert "falcon.asgi" not in after["app.py"]
    assert "`Items` is defined in items.py, which never names falcon" in after["app.py"]
    assert_same_project_behaviour(files, after, "app", [Req("GET", "/items")])


def test_a_server_entry_point_serves_the_converted_app_as_is() -> None:
    source = """
        from wsgiref.simple_server import make_server

        import falcon


        class Quote:
            def on_get(self, req, resp):
                resp.media = {"quote": "hi"}


        app = falcon.App()
        app.add_route("/quote", Quote())

        if __name__ == "__main__":
            with make_server("", 8000, app) as httpd:
                httpd.serve_forever()
    """
    after, results = migrate_project_twice({"app.py": source})
    assert 'uvicorn.run(app, host="0.0.0.0", port=8000, proxy_headers=False)' in after["app.py"]
    assert set(change_kinds(results, "server")) == {"converted"}


def test_a_responder_a_test_calls_directly_keeps_the_app_wsgi() -> None:
    files = {
        "app.py": """
            import falcon


            class Things:
                def on_get(self, req, resp):
                    resp.media = {"ok": True}


            app = falcon.App()
            app.add_route("/things", Things())
        """,
        "test_app.py": """
            import falcon.testing

            from app import Things


            def test_on_get():
                resp = falcon.Response()
                Things().on_get(falcon.testing.create_req(), resp)
                assert resp.media == {"ok": True}
        """,
    }
    after, results = migrate_project_twice(files)
    assert change_kinds(results, "falcon-asgi") == []
    assert "async def" not in after["app.py"]


def test_a_hook_another_module_calls_directly_keeps_the_app_wsgi() -> None:
    check = """
        import falcon.testing

        from hooks import require_key


        def test_require_key():
            req = falcon.testing.create_req(headers={"X-Key": "k1"})
            require_key(req, falcon.Response(), None, {})
            assert req.context.client == "warehouse"
    """
    after, results = migrate_project_twice({**PROJECT, "test_hooks.py": check})
    assert change_kinds(results, "falcon-asgi") == []
    assert "async def require_key" not in after["hooks.py"]
    # the same project without that test converts
    converted, _ = migrate_project_twice(PROJECT)
    assert "async def require_key" in converted["hooks.py"]


ENVIRON = {
    "app.py": """
        import falcon


        class Tracing:
            def process_request(self, req, resp):
                req.context.trace = req.env.get("HTTP_X_TRACE_ID", "none")


        class Echo:
            def on_get(self, req, resp):
                resp.media = {
                    "trace": req.context.trace,
                    "query": req.env["QUERY_STRING"],
                    "method": req.env["REQUEST_METHOD"],
                    "scheme": req.env["wsgi.url_scheme"],
                    "protocol": req.env.get("SERVER_PROTOCOL"),
                    "signed": "HTTP_AUTHORIZATION" in req.env,
                    "peer": req.env["REMOTE_ADDR"],
                }


        app = falcon.App(middleware=[Tracing()])
        app.add_route("/echo", Echo())
    """,
}


def test_reads_of_req_env_read_an_environ_built_from_the_scope() -> None:
    # falcon.asgi's request has no env: the keys a WSGI server sets from the request are
    # read from the environ adapters.environ_from_scope builds, the same values
    after, results = migrate_project_twice(ENVIRON)
    assert "adapters.scope_environ(req.scope)" in after["app.py"]
    assert "req.env" not in after["app.py"]
    assert set(change_kinds(results, "falcon-asgi")) == {"converted"}
    requests = [
        Req("GET", "/echo?a=1&b=two", [("X-Trace-Id", "t-42"), ("Authorization", "Bearer x")]),
        Req("GET", "/echo"),
    ]
    assert_same_project_behaviour(ENVIRON, after, "app", requests)


FORMS = {
    "app.py": """
        import hashlib

        import falcon
        import falcon.media


        class Uploads:
            def on_post(self, req, resp):
                seen = []
                for part in req.get_media():
                    if part.content_type.startswith("multipart/mixed"):
                        for inner in part.media:
                            seen.append({"inner": inner.filename, "text": inner.text})
                    elif part.filename:
                        digest = hashlib.sha256()
                        while chunk := part.stream.read(1024):
                            digest.update(chunk)
                        seen.append({"file": part.secure_filename, "sha256": digest.hexdigest()})
                    else:
                        seen.append({part.name: part.get_text(), "bytes": len(part.data)})
                resp.media = seen


        forms = falcon.media.MultipartFormHandler()
        forms.parse_options.media_handlers["multipart/mixed"] = falcon.media.MultipartFormHandler()
        app = falcon.App()
        app.req_options.media_handlers[falcon.MEDIA_MULTIPART] = forms
        app.add_route("/uploads", Uploads())
    """,
}
FORM_BODY = (
    b'--outer\r\nContent-Disposition: form-data; name="title"\r\n\r\nmy notes\r\n'
    b'--outer\r\nContent-Disposition: form-data; name="doc"; filename="../notes one.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\n" + b"0123456789" * 300 + b"\r\n"
    b'--outer\r\nContent-Disposition: form-data; name="more"\r\n'
    b"Content-Type: multipart/mixed; boundary=inner\r\n\r\n"
    b'--inner\r\nContent-Disposition: attachment; filename="a.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\nfirst\r\n"
    b'--inner\r\nContent-Disposition: attachment; filename="b.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\nsecond\r\n--inner--\r\n"
    b"--outer--\r\n"
)


def test_a_multipart_form_is_iterated_with_async_for_and_its_parts_read_with_awaits() -> None:
    after, results = migrate_project_twice(FORMS)
    app = after["app.py"]
    assert "async for part in await req.get_media():" in app
    assert "async for inner in (await part.get_media()):" in app
    assert "while chunk := await part.stream.read(1024):" in app
    assert "(await part.get_data())" in app and "await part.get_text()" in app
    assert set(change_kinds(results, "falcon-asgi")) == {"converted"}
    form = [("Content-Type", "multipart/form-data; boundary=outer")]
    requests = [Req("POST", "/uploads", form, FORM_BODY), Req("POST", "/uploads", form, b"bad")]
    assert_same_project_behaviour(FORMS, after, "app", requests)
