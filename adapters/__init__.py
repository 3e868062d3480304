"""wsgi2asgi's runtime adapters: WSGI apps in ASGI servers and ASGI apps in WSGI servers.

Standard library only; never imports :mod:`migrate`, so an app that imports ``adapters``
pays for nothing else.
"""

from adapters._threadpool import ThreadPool
from adapters.asgi_to_wsgi import AsgiToWsgi
from adapters.environ import environ_from_scope, scope_environ
from adapters.errors import ClientDisconnected, RequestTooLarge
from adapters.mixed import (
    Router,
    as_asgi,
    as_wsgi,
    asgi_middleware_around_wsgi,
    is_asgi_app,
    wsgi_middleware,
)
from adapters.proxy_fix import ProxyFix
from adapters.scope import scope_from_environ
from adapters.sync_streams import iterate_in_thread
from adapters.wsgi_to_asgi import WsgiToAsgi

__all__ = [
    "AsgiToWsgi",
    "ClientDisconnected",
    "ProxyFix",
    "RequestTooLarge",
    "Router",
    "ThreadPool",
    "WsgiToAsgi",
    "as_asgi",
    "as_wsgi",
    "asgi_middleware_around_wsgi",
    "environ_from_scope",
    "is_asgi_app",
    "iterate_in_thread",
    "scope_environ",
    "scope_from_environ",
    "wsgi_middleware",
]
