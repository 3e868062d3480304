"""Exceptions shared by the adapters (one class per meaning, whichever direction raised it)."""

from __future__ import annotations


class ClientDisconnected(OSError):
    """The client went away.

    Raised by ``wsgi.input`` reads and ``write()`` in :class:`~adapters.WsgiToAsgi`, and by
    ``send()`` in :class:`~adapters.AsgiToWsgi` once the WSGI server closed the response.
    An :class:`OSError`, so code that already handles broken connections handles it too.
    """


class RequestTooLarge(ClientDisconnected):
    """The request body is larger than ``max_body_size`` (the client gets a 413)."""
