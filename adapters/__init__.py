"""wsgi2asgi's runtime adapters: WSGI apps in ASGI servers and ASGI apps in WSGI servers.

Standard library only (asgiref optional); never imports :mod:`migrate`, so an app
that imports ``adapters`` pays for nothing else.
"""

from adapters.asgi_to_wsgi import AsgiToWsgi
from adapters.wsgi_to_asgi import WsgiToAsgi

__all__ = ["AsgiToWsgi", "WsgiToAsgi"]
