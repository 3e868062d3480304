"""werkzeug's ``ProxyFix`` for ASGI apps: the ``X-Forwarded-*`` headers of the proxies in front
of the app, trusted by hop count, change the scope the way ``ProxyFix`` changes the environ.

::

    app = ProxyFix(asgi_app, x_for=1, x_proto=1, x_host=1, x_port=0, x_prefix=1)

Each ``x_*`` is the number of proxies that set that header (0: ignore it). The value used is
the one the outermost trusted proxy saw, the ``x_*``-th from the right of the comma-separated
list, and nothing changes when the list is shorter. In ASGI terms, with the same results as
under ``ProxyFix``:

* ``X-Forwarded-For`` → ``client`` (its port kept, as ``REMOTE_PORT`` is);
* ``X-Forwarded-Proto`` → ``scheme`` (``https`` is ``wss`` for a WebSocket);
* ``X-Forwarded-Host`` → the ``host`` header and ``server`` (its port too, when it has one);
* ``X-Forwarded-Port`` → the port of the ``host`` header and of ``server``;
* ``X-Forwarded-Prefix`` → ``root_path`` (``SCRIPT_NAME``), ``path`` keeping what came after
  the old root path (``PATH_INFO``), as the ASGI spec has ``path`` include ``root_path``.

The headers themselves are left as they are, and the scope as it came is kept under
``"proxy_fix.orig"`` (werkzeug's ``werkzeug.proxy_fix.orig``). Lifespan passes through.
Unlike uvicorn's ``--proxy-headers``, it trusts the headers whoever the peer is: as with
``ProxyFix``, only deploy it where the proxy is the only way in.
"""

from __future__ import annotations

from urllib.request import parse_http_list

from adapters._types import ASGIApp, Receive, Scope, Send


class ProxyFix:
    """An ASGI app: ``app`` behind proxies, each ``x_*`` the number of them trusted for that
    header (werkzeug's defaults: ``X-Forwarded-For`` and ``-Proto`` from one proxy)."""

    def __init__(
        self,
        app: ASGIApp,
        x_for: int = 1,
        x_proto: int = 1,
        x_host: int = 0,
        x_port: int = 0,
        x_prefix: int = 0,
    ) -> None:
        self.app = app
        self.x_for = x_for
        self.x_proto = x_proto
        self.x_host = x_host
        self.x_port = x_port
        self.x_prefix = x_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        return await self.app(self.fixed(scope), receive, send)

    def fixed(self, scope: Scope) -> Scope:
        """``scope`` as the outermost trusted proxy received the request."""
        forwarded: dict[bytes, list[bytes]] = {}
        for name, value in scope["headers"]:
            if name.lower().startswith(b"x-forwarded-"):
                forwarded.setdefault(name.lower(), []).append(value)

        def real(trusted: int, header: bytes) -> str:
            """The trusted proxy's value of ``header`` ("": none)."""
            if not trusted or header not in forwarded:
                return ""
            joined = b",".join(forwarded[header]).decode("latin-1")
            values = [_unquoted(v) for v in parse_http_list(joined) if v]
            return values[-trusted] if len(values) >= trusted else ""

        fixed = dict(scope)
        fixed["proxy_fix.orig"] = scope
        client = real(self.x_for, b"x-forwarded-for")
        if client:
            port = scope["client"][1] if scope.get("client") else 0
            fixed["client"] = (client, port)
        scheme = real(self.x_proto, b"x-forwarded-proto")
        if scheme:
            websocket = {"http": "ws", "https": "wss"}
            fixed["scheme"] = (
                websocket.get(scheme, scheme) if scope["type"] == "websocket" else scheme
            )
        host = _host_header(scope)
        server_name, server_port = scope.get("server") or ("", None)
        forwarded_host = real(self.x_host, b"x-forwarded-host")
        if forwarded_host:
            host = server_name = forwarded_host
            if ":" in forwarded_host and not forwarded_host.endswith("]"):  # "]": IPv6, no port
                server_name, port_text = forwarded_host.rsplit(":", 1)
                server_port = _port(port_text)
        forwarded_port = real(self.x_port, b"x-forwarded-port")
        if forwarded_port:
            if host:
                bare = host.rsplit(":", 1)[0] if ":" in host and not host.endswith("]") else host
                host = f"{bare}:{forwarded_port}"
            server_port = _port(forwarded_port)
        if forwarded_host or forwarded_port:
            fixed["server"] = (server_name, server_port)
            headers = [(n, v) for n, v in scope["headers"] if n.lower() != b"host"]
            fixed["headers"] = [(b"host", host.encode("latin-1")), *headers] if host else headers
        prefix = real(self.x_prefix, b"x-forwarded-prefix")
        if prefix:
            root: str = scope.get("root_path", "")
            path: str = scope["path"]
            after_root = path[len(root) :] if root and path.startswith(root) else path
            fixed["root_path"] = prefix
            fixed["path"] = prefix + after_root
            if scope.get("raw_path") is not None:
                raw: bytes = scope["raw_path"]
                raw_root = root.encode("utf-8")
                raw_after = raw[len(raw_root) :] if raw_root and raw.startswith(raw_root) else raw
                fixed["raw_path"] = prefix.encode("utf-8") + raw_after
        return fixed


def _unquoted(value: str) -> str:
    """A list item as werkzeug reads it: a quoted string without its quotes and escapes."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace("\\\\", "\\").replace('\\"', '"')
    return value


def _host_header(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name.lower() == b"host":
            return str(value.decode("latin-1"))
    return ""


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() else None
