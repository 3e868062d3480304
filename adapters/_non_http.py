"""What an HTTP-only ASGI app does with the other scopes (lifespan, websocket).

Shared by :class:`adapters.WsgiToAsgi` and by code the codemod generates
(``adapters.asgi_helpers.handle_non_http``).
"""

from __future__ import annotations

from adapters._types import Receive, Scope, Send


async def handle_non_http(scope: Scope, receive: Receive, send: Send) -> None:
    """What an HTTP-only app does with other scopes: completes the lifespan handshake
    and refuses websockets (the server answers 403)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "websocket":
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 1000})
