"""PLACEHOLDER -- being written (issue 2)."""
from typing import Any


class AsgiToWsgi:
    def __init__(self, asgi_app: Any, **options: Any) -> None:
        raise NotImplementedError
