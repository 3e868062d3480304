"""PLACEHOLDER -- being written (issue 2)."""
from typing import Any


class WsgiToAsgi:
    def __init__(self, wsgi_app: Any, **options: Any) -> None:
        raise NotImplementedError
