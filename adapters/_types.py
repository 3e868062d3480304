"""Type aliases shared by the adapters (PEP 3333 and ASGI 3)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from types import TracebackType
from typing import Any, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
ResponseHeaders = list[tuple[str, str]]
WriteCallable = Callable[[bytes], None]


class StartResponse(Protocol):
    def __call__(
        self, status: str, headers: ResponseHeaders, exc_info: ExcInfo | None = ..., /
    ) -> WriteCallable: ...


WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
