"""A JSON endpoint whose latency is a call that waits (here time.sleep: a database round
trip, a lock, a slow disk), the way most WSGI handlers spend their time."""
import json
import time


def app(environ, start_response):
    time.sleep(0.02)
    body = json.dumps({"path": environ["PATH_INFO"], "ok": True}).encode("utf-8")
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
