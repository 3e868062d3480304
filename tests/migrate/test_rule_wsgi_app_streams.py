"""Rule ``wsgi-app``: the request body handed on as a stream.

``environ["wsgi.input"]`` handed to code that reads it in blocks (a hashing helper, a
``LimitedStream`` wrapper read through ``iter(lambda: stream.read(n), b"")``) becomes
``asgi_helpers.RequestStream(receive)``: the body as it arrives, never all of it in memory,
read by that code in the thread pool. Behaviour: the code before, served as WSGI (wsgiref),
and after, served as ASGI (uvicorn and hypercorn), answer the same requests the same way;
two uploads hashed at once meet at a barrier (the loop is never blocked by a read).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from textwrap import dedent
from typing import Any

import httpx

from migrate.rules.wsgi_app import WsgiAppRule
from tests.harness import Req, assert_idempotent, assert_same_behaviour, load_module, migrate_text
from tests.servers import serve_asgi

UPLOADS = """
import hashlib
import re
import threading

CHUNK = 4096
BARRIER = threading.Barrier(2, timeout=10)
ROUTE = re.compile(r"^/(?P<algo>sha1|sha256)/(?P<label>[a-z]+)$")


class LimitedStream:
    def __init__(self, stream, limit):
        self.stream = stream
        self.remaining = limit

    def read(self, size):
        if self.remaining <= 0:
            return b""
        data = self.stream.read(min(size, self.remaining))
        self.remaining -= len(data)
        return data


def hash_stream(stream, length, algo, meet=False):
    h = hashlib.new(algo)
    seen = 0
    while seen < length:
        block = stream.read(min(CHUNK, length - seen))
        if not block:
            break
        if meet and not seen:
            BARRIER.wait()  # both uploads are being read at once
        h.update(block)
        seen += len(block)
    return seen, h.hexdigest()


def reply(start_response, status, text):
    start_response(status, [("Content-Type", "text/plain")])
    return [text.encode()]


def hashed(environ, start_response, algo, label):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    seen, digest = hash_stream(environ["wsgi.input"], length, algo, label == "meet")
    return reply(start_response, "200 OK", "%s %s %d %s" % (label, algo, seen, digest))


def lines(environ, start_response):
    stream = LimitedStream(environ["wsgi.input"], int(environ.get("CONTENT_LENGTH") or 0))
    count = 0
    for block in iter(lambda: stream.read(CHUNK), b""):
        count += block.count(b"\\n")
    return reply(start_response, "200 OK", "%d lines" % count)


def app(environ, start_response):
    match = ROUTE.match(environ.get("PATH_INFO", ""))
    if match and environ["REQUEST_METHOD"] == "PUT":
        return hashed(environ, start_response, **match.groupdict())
    if environ.get("PATH_INFO") == "/lines":
        return lines(environ, start_response)
    return reply(start_response, "404 Not Found", "no")
"""

BIG = bytes(range(256)) * 800  # 200 KiB: many messages on the way in


def test_a_stream_handed_to_helpers_is_read_off_the_loop_as_it_arrives() -> None:
    assert WsgiAppRule.might_apply(dedent(UPLOADS))
    after, changes = migrate_text(UPLOADS)
    assert_idempotent(after)
    assert {c.kind for c in changes} == {"converted"}, changes
    assert "request_stream = asgi_helpers.RequestStream(receive)" in after
    assert "await run_blocking(hash_stream, request_stream, length, algo," in after
    assert "stream = LimitedStream(request_stream," in after
    assert "return await hashed(scope, receive, send, **match.groupdict())" in after
    requests = [
        Req("PUT", "/sha256/big", body=BIG),
        Req("PUT", "/sha1/small", body=b"abc"),
        Req("PUT", "/sha1/empty"),
        Req("POST", "/lines", body=b"one\ntwo\nthree\n" * 3000),
        Req("GET", "/nowhere"),
    ]
    assert_same_behaviour(UPLOADS, after, requests)
    # two uploads meet at the barrier while their bodies are read: no read blocks the loop
    module = load_module(after)
    with serve_asgi(module.app) as url:

        def put() -> int:
            return httpx.put(url + "/sha256/meet", content=BIG, timeout=30).status_code

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            assert list(pool.map(lambda _: put(), range(2))) == [200, 200]


LINES = """
def app(environ, start_response):
    count = 0
    for line in environ["wsgi.input"]:
        count += 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d lines" % count]
"""


def test_a_loop_over_the_stream_moves_to_the_pool_whole() -> None:
    after, changes = migrate_text(LINES)
    assert_idempotent(after)
    assert [c.kind for c in changes] == ["converted"], changes
    assert "for line in request_stream:" in after
    # waitress ends wsgi.input at the request's length (wsgiref would wait for more)
    requests = [Req("POST", "/", body=b"a\nb\nc\n" * 5000), Req("POST", "/", body=b"x")]
    assert_same_behaviour(LINES, after, requests, wsgi_server="waitress")


TWO_STREAMS = """
def first_line(stream):
    return stream.readline()


def app(environ, start_response):
    first = first_line(environ["wsgi.input"])
    second = first_line(environ["wsgi.input"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [first, second]
"""


def test_a_stream_used_twice_stays_wsgi() -> None:
    after, changes = migrate_text(TWO_STREAMS)
    assert [c.kind for c in changes] == ["adapted"]
    assert "twice" in changes[0].message
    assert_same_behaviour(TWO_STREAMS, after, [Req("POST", "/", body=b"a\nb\nc\n")])


STREAM_BY_GET = """
import hashlib


def digest(stream, size):
    return hashlib.sha256(stream.read(size) if stream is not None else b"").hexdigest()


def app(environ, start_response):
    stream = environ.get("wsgi.input")
    text = digest(stream, int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [text.encode()]
"""


def test_the_stream_taken_with_get_is_the_same_stream() -> None:
    after, changes = migrate_text(STREAM_BY_GET)
    assert_idempotent(after)
    assert [c.kind for c in changes] == ["converted"], changes
    assert "stream = request_stream" in after
    requests = [Req("POST", "/", body=b"abc"), Req("POST", "/", body=BIG), Req("POST", "/")]
    assert_same_behaviour(STREAM_BY_GET, after, requests)


FILES = """
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def app(environ, start_response):
    path = os.path.join(HERE, "page.txt")
    size = os.path.getsize(path)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](open(path, "rb"), 4096)
"""


def test_a_file_is_sent_by_path_where_the_server_offers_pathsend(tmp_path: Path) -> None:
    after, changes = migrate_text(FILES)
    assert [c.kind for c in changes] == ["converted"], changes
    assert "await asgi_helpers.send_file(send, file, scope)" in after
    (tmp_path / "page.txt").write_bytes(b"x" * 10_000)
    module = load_module(
        after.replace("os.path.dirname(os.path.abspath(__file__))", repr(str(tmp_path)))
    )

    def served(extensions: dict[str, Any]) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "headers": [],
            "extensions": extensions,
        }
        asyncio.run(module.app(scope, receive, send))
        return sent

    by_path = served({"http.response.pathsend": {}})
    assert [m["type"] for m in by_path] == ["http.response.start", "http.response.pathsend"]
    assert by_path[1]["path"] == str(tmp_path / "page.txt")
    read = served({})
    assert [m["type"] for m in read[:2]] == ["http.response.start", "http.response.body"]
    assert b"".join(m.get("body", b"") for m in read[1:]) == b"x" * 10_000
