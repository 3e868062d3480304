"""status_page: a JSON health check and an HTML status page."""

import html
import json
from wsgiref.simple_server import make_server

from checks import CHECKS, overall
from middleware import RequestCounter, security_headers

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Status</title></head>
<body><h1>Systemstatus: {overall}</h1><table>{rows}</table>
<p>Anfrage Nr. {number}</p></body></html>"""


def status_app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    method = environ.get("REQUEST_METHOD", "GET")
    if method not in ("GET", "HEAD"):
        body = b"only GET\n"
        start_response(
            "405 Method Not Allowed",
            [("Content-Type", "text/plain"), ("Allow", "GET, HEAD"), ("Content-Length", str(len(body)))],
        )
        return [body]
    if path == "/health":
        body = json.dumps({"status": overall()}).encode()
        code = "200 OK" if overall() != "down" else "503 Service Unavailable"
        start_response(code, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/":
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{state}</td><td>{html.escape(note)}</td></tr>"
            for name, state, note in CHECKS
        )
        number = environ.get("status_page.request_number", "?")
        body = PAGE.format(overall=overall(), rows=rows, number=number).encode("utf-8")
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/checks.txt":
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return (f"{name}: {state}\n".encode("utf-8") for name, state, _ in CHECKS)
    body = b"not found\n"
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


application = RequestCounter(security_headers(status_app))


if __name__ == "__main__":
    make_server("", 9000, application).serve_forever()
