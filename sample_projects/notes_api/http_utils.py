"""Small helpers shared by the handlers. They take the WSGI environ, like the handlers do."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

STATUS_TEXT = {
    200: "200 OK",
    201: "201 Created",
    303: "303 See Other",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Payload Too Large",
}

MAX_BODY = 64 * 1024


class BadRequest(Exception):
    pass


def request_path(environ):
    """PATH_INFO as text: WSGI hands it over as latin-1 decoded bytes."""
    return environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")


def query_params(environ):
    return parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)


def read_body(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BadRequest("bad Content-Length") from None
    if length > MAX_BODY:
        raise BadRequest("body too large")
    return environ["wsgi.input"].read(length) if length > 0 else b""


def read_json(environ):
    if not environ.get("CONTENT_TYPE", "").startswith("application/json"):
        raise BadRequest("expected application/json")
    try:
        return json.loads(read_body(environ) or b"null")
    except ValueError:
        raise BadRequest("invalid JSON") from None


def read_form(environ):
    body = read_body(environ).decode("utf-8")
    return {key: values[0] for key, values in parse_qs(body).items()}


def cookies(environ):
    jar = SimpleCookie()
    jar.load(environ.get("HTTP_COOKIE", ""))
    return {key: morsel.value for key, morsel in jar.items()}


def respond(start_response, status, body, content_type, extra_headers=()):
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    headers.extend(extra_headers)
    start_response(STATUS_TEXT[status], headers)
    return [body]


def json_response(start_response, status, data, extra_headers=()):
    body = json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return respond(start_response, status, body, "application/json; charset=utf-8", extra_headers)


def html_response(start_response, status, html, extra_headers=()):
    return respond(start_response, status, html.encode("utf-8"), "text/html; charset=utf-8", extra_headers)
