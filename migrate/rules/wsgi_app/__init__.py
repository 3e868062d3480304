"""Rule ``wsgi-app``: WSGI applications become native ASGI 3 applications.

Recognises, by shape (never by name):

- module-level functions taking ``(environ, start_response)`` under any names and calling
  the second with a status and headers (a status line like ``"200 OK"``, a header list, or
  CGI keys read from the first are the evidence), or handing it to a function that does;
- classes whose ``__call__(self, environ, start_response)`` has that shape (their
  module-level instances, ``app = App()``, are the applications);
- PEP 3333 iterable classes (``__init__(self, environ, start_response)`` + ``__iter__``).

Produces, when the rewrite is provably equivalent (kind ``converted``), an
``async def app(scope, receive, send)`` under the same name. Before::

    def app(environ, start_response):
        name = environ.get("QUERY_STRING", "")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [name.encode()]

After::

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return await asgi_helpers.handle_non_http(scope, receive, send)
        name = scope["query_string"].decode("latin-1")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": name.encode()})

``environ`` reads map to the scope (``adapters.asgi_helpers`` keeps their exact WSGI
values), ``wsgi.input`` reads become ``await asgi_helpers.read_body(receive)``, yields and
``write()`` calls become body messages with ``more_body``. The response start is sent
where PEP 3333 sends it: just before the first body chunk, so code that raises between
``start_response`` and the body still gives a clean 500.

Anything the rule cannot prove equivalent (environ written to or handed to unknown code,
``start_response`` passed on, ``exc_info``, iterables it cannot see into, unusual control
flow...) is kept as WSGI under a private name and served through the runtime adapter
(kind ``adapted``), with a ``# migrate[wsgi-app]: why`` marker::

    def _app_wsgi(environ, start_response): ...
    # migrate[wsgi-app]: `app` kept as WSGI and served through adapters.WsgiToAsgi: ...
    app = WsgiToAsgi(_app_wsgi)

A WSGI app that other code of the module also uses (a dispatcher, a middleware stack) is
left alone with a ``manual`` marker. Already-converted and already-adapted code is
recognised, so a second run changes nothing.

Call groups (when :data:`CONVERTS_CALL_GROUPS` is on): a dispatcher, the sub-apps it hands
the request to and the response helpers that get ``start_response`` are converted together
(each reported on its own line), when every member converts and every use of a member is
``return f(environ, start_response, *extra)`` / ``return helper(start_response, ...)`` in
another member (outside try/with blocks), or a use the rule accepts for an app (serving it,
an alias)::

    def json_response(start_response, status, data):        async def json_response(send, status, data):
        start_response(status, [...])                            await send({... "http.response.start" ...})
        return [json.dumps(data).encode()]                       await send({... "http.response.body" ...})

    def detail(environ, start_response, item_id):            async def detail(scope, receive, send, item_id):
        return json_response(start_response, "200 OK", ...)      ...
                                                                 return await json_response(send, "200 OK", ...)
    def app(environ, start_response):                        async def app(scope, receive, send):
        ...                                                      ...
        return detail(environ, start_response, 7)                return await detail(scope, receive, send, 7)

Otherwise the whole group stays as it was (the dispatcher adapted, the sub-apps manual, the
helpers untouched), and the markers say why -- e.g. that a member hands ``start_response`` to
a helper imported from another module the rule knows nothing about, or that a helper is
exported in ``__all__``.

Helpers of other modules (when the run gives the rule a project index, ``FileContext.project``,
see :mod:`migrate.project`): the helper module is never changed, only the calling one, so its
rewrite stays right whatever happens to the helper's file. An environ reader the index proves
read-only is handed an environ built from the scope (with the request body when it reads
``wsgi.input``); a response helper proven to only call its start_response (or hand it to
another such helper of its module) is handed an ``asgi_helpers.StartResponse``, which sends
the response with PEP 3333's timing (start before the first non-empty chunk, ``exc_info``,
``close()``)::

    from http_utils import json_response, query_params

    def list_notes(environ, start_response):     async def list_notes(scope, receive, send):
        params = query_params(environ)               ...
        return json_response(                        environ = asgi_helpers.build_environ(scope)
            start_response, 200, params)             params = query_params(environ)
                                                     response = asgi_helpers.StartResponse()
                                                     body = json_response(response, 200, params)
                                                     return await response.send(send, body)

With the index, an iterable the rule cannot see into (``return CsvExport(rows)`` after
``start_response``) is sent through a StartResponse too. Without it (``project`` None) the
rule behaves as if those helpers were unknown. The index also tells which apps other modules
of the run still use as WSGI apps (call them with environ and start_response, hand them to a
WSGI test client, adapter or wsgiref handler: :func:`migrate.project.wsgi_delegations`):
those stay WSGI, with a ``manual`` marker naming the modules.

Where things are:

- ``rule.py``: :class:`WsgiAppRule`: the apps of a module, their call groups and route tables,
  each converted or adapted (and said so), the module written back;
- ``convert.py``: one WSGI callable to its ASGI version (:func:`convert_callable`), its
  blocking calls off the loop (:func:`off_the_loop`), the checks on what it hands on;
- ``environ.py``: environ reads to scope expressions (:class:`EnvironRewriter`), writes and
  path shifts to changed copies of the scope (:class:`ScopeChanges`);
- ``response.py``: ``start_response`` / returns / ``yield`` / ``write()`` to ``send``
  (:class:`ResponseRewriter`), following the response state through the blocks;
- ``imported.py``: what other modules of the run say about the helpers an app imports;
- ``common.py``: :class:`Unconvertible`, the generated code's helper module name, builders.
"""

from __future__ import annotations

#: Does the rule convert *call groups* natively: WSGI apps and response helpers of one module
#: that hand ``start_response`` to each other (a dispatcher, its sub-apps, ``json_response(
#: start_response, ...)`` helpers)? When off, a group that could be converted is left
#: exactly as before (the caller adapted, the callees manual); groups that cannot be
#: converted say why in their markers either way.
CONVERTS_CALL_GROUPS = True


from migrate.rules.wsgi_app.common import HELPERS, Unconvertible  # noqa: E402
from migrate.rules.wsgi_app.convert import (  # noqa: E402
    Conversion,
    bound_once,
    convert_callable,
    off_the_loop,
)
from migrate.rules.wsgi_app.environ import EnvironRewriter, EnvironUse  # noqa: E402
from migrate.rules.wsgi_app.response import (  # noqa: E402
    NOT_STARTED,
    STARTED,
    TERMINATED,
    ResponseRewriter,
)
from migrate.rules.wsgi_app.rule import WsgiAppRule  # noqa: E402

__all__ = [
    "CONVERTS_CALL_GROUPS",
    "HELPERS",
    "NOT_STARTED",
    "STARTED",
    "TERMINATED",
    "Conversion",
    "EnvironRewriter",
    "EnvironUse",
    "ResponseRewriter",
    "Unconvertible",
    "WsgiAppRule",
    "bound_once",
    "convert_callable",
    "off_the_loop",
]
