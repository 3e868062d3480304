"""What Bottle's ways of serving an app mean, for the rules moving them to uvicorn: its
``run()`` (the ``server`` rule) and its command line, ``python -m bottle`` (``deployment``)."""

from __future__ import annotations

#: Bottle's names for the servers uvicorn takes the place of: one process, serving with
#: threads or one request at a time ("auto" picks among them). gevent, eventlet, gunicorn,
#: tornado... change how the app runs, and stay with a person.
ONE_PROCESS_SERVERS = frozenset({"wsgiref", "auto", "waitress", "paste", "cheroot", "cherrypy"})
#: Where Bottle listens by default (``run()`` and its command line).
DEFAULT_PORT = "8080"
