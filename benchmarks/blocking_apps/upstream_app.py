"""A gateway: each request asks an upstream HTTP service with urllib and passes its answer on."""
import json
import os
import urllib.request

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:8099")


def app(environ, start_response):
    with urllib.request.urlopen(UPSTREAM + "/rates", timeout=10) as response:
        rates = json.loads(response.read())
    body = json.dumps({"base": "EUR", "rates": rates}).encode("utf-8")
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
