"""tiny_site: one WSGI callable, three pages and a stylesheet."""

import os
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.util import FileWrapper

from pages import PAGES, greeting, render

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


def serve_static(environ, start_response, name):
    path = os.path.join(STATIC_DIR, os.path.basename(name))
    if not os.path.isfile(path):
        return not_found(start_response)
    start_response(
        "200 OK",
        [("Content-Type", "text/css; charset=utf-8"), ("Content-Length", str(os.path.getsize(path)))],
    )
    wrapper = environ.get("wsgi.file_wrapper", FileWrapper)
    return wrapper(open(path, "rb"), 8192)


def not_found(start_response):
    body = render("Nicht gefunden", "<p>Diese Seite gibt es nicht.</p>")
    start_response("404 Not Found", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path.startswith("/static/"):
        return serve_static(environ, start_response, path[len("/static/"):])
    if path == "/hello":
        name = parse_qs(environ.get("QUERY_STRING", "")).get("name", ["Gast"])[0]
        body = greeting(name)
    elif path in PAGES:
        body = render(*PAGES[path])
    else:
        return not_found(start_response)
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    httpd = make_server("127.0.0.1", 8080, app, handler_class=QuietHandler)
    print("tiny_site on http://127.0.0.1:8080/")
    httpd.serve_forever()
