"""A hand-rolled router, the kind raw WSGI apps carry: compiled patterns a dispatching class
tries in order, a decorator handing a view what its route matched, and a JSON helper the views
and the dispatcher's 404 share. No blocking I/O: what is measured is the request's own path
(the root is the last route, so every request scans the table)."""
import json
import re


def json_response(start_response, status, payload):
    body = json.dumps(payload, sort_keys=True).encode("utf-8")
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def with_args(view):
    def routed(environ, start_response):
        return view(environ, start_response, **environ["router.args"])

    return routed


@with_args
def item(environ, start_response, sku):
    return json_response(start_response, "200 OK", {"sku": sku})


@with_args
def stock(environ, start_response, sku, warehouse):
    return json_response(start_response, "200 OK", {"sku": sku, "warehouse": warehouse})


@with_args
def report(environ, start_response, year, month):
    return json_response(start_response, "200 OK", {"year": int(year), "month": int(month)})


@with_args
def home(environ, start_response):
    return json_response(start_response, "200 OK", {"path": environ["PATH_INFO"], "ok": True})


class Router:
    def __init__(self, routes):
        self.routes = [(re.compile(pattern), view) for pattern, view in routes]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        for regex, view in self.routes:
            match = regex.match(path)
            if match is not None:
                environ["router.args"] = match.groupdict()
                return view(environ, start_response)
        return json_response(start_response, "404 Not Found", {"path": path})


app = Router(
    [
        (r"^/items/(?P<sku>[A-Z]{2}-\d+)$", item),
        (r"^/items/(?P<sku>[A-Z]{2}-\d+)/stock/(?P<warehouse>[a-z]+)$", stock),
        (r"^/reports/(?P<year>\d{4})-(?P<month>\d{2})$", report),
        (r"^/$", home),
    ]
)
