"""Serves a digest of a data file read on every request (open + read: file I/O)."""
import hashlib
import os

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data.bin")


def app(environ, start_response):
    with open(DATA, "rb") as f:
        data = f.read()
    body = ("%d %s\n" % (len(data), hashlib.sha1(data).hexdigest())).encode("ascii")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
