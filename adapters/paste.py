"""PasteDeploy's server on uvicorn: ``pserve app.ini`` serving the ini's WSGI app as ASGI.

Pyramid projects (any project PasteDeploy loads) start with ``pserve production.ini``, which
loads the app of ``[app:main]`` and hands it to the server of ``[server:main]``. Naming this
factory there serves the same app on uvicorn, through :class:`adapters.WsgiToAsgi`::

    [server:main]
    use = call:adapters.paste:uvicorn_server
    host = 0.0.0.0
    port = 6543

The settings are ``uvicorn.run``'s keywords (its command-line options with ``_`` for ``-``),
read from the section's text as ``uvicorn`` would read them; PasteDeploy has filled in
``%(var)s`` before. ``pserve --reload`` and the ini's logging keep working: uvicorn's own
logging setup is used only where the ini set none. uvicorn is imported when the server
starts, so only projects served this way need it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from adapters._types import WSGIApp
from adapters.wsgi_to_asgi import WsgiToAsgi

__all__ = ["uvicorn_server"]

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _flag(text: str) -> bool:
    word = text.strip().lower()
    if word not in _TRUE | _FALSE:
        raise ValueError(f"`{text}` is not true or false")
    return word in _TRUE


#: The settings the section may hold -> how their text is read.
SETTINGS: dict[str, Callable[[str], Any]] = {
    "host": str, "port": int, "uds": str, "fd": int, "root_path": str,
    "proxy_headers": _flag, "forwarded_allow_ips": str, "server_header": _flag,
    "date_header": _flag, "timeout_keep_alive": int, "timeout_graceful_shutdown": int,
    "limit_concurrency": int, "limit_max_requests": int, "backlog": int, "ssl_certfile": str,
    "ssl_keyfile": str, "ssl_ca_certs": str, "log_level": str, "access_log": _flag,
}  # fmt: skip


def uvicorn_server(global_conf: Mapping[str, str], **settings: str) -> Callable[[WSGIApp], None]:
    """PasteDeploy's server factory (``use = call:adapters.paste:uvicorn_server``): the
    settings are checked here, when pserve reads the file, and the app served by ``serve``."""
    options: dict[str, Any] = {}
    for name, text in settings.items():
        read = SETTINGS.get(name)
        if read is None:
            known = ", ".join(sorted(SETTINGS))
            raise ValueError(
                f"adapters.paste.uvicorn_server: `{name}` is not a setting it takes ({known})"
            )
        try:
            options[name] = read(text.strip())
        except ValueError as exc:
            raise ValueError(f"adapters.paste.uvicorn_server: `{name}`: {exc}") from None

    def serve(wsgi_app: WSGIApp) -> None:
        import uvicorn

        if logging.getLogger().handlers:  # pserve set up the ini's logging: keep it
            options.setdefault("log_config", None)
        # one process serves it: pyramid_debugtoolbar, for one, turns itself off otherwise
        uvicorn.run(WsgiToAsgi(wsgi_app, multiprocess=False), **options)

    return serve
