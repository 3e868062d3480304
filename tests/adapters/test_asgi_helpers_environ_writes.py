"""``asgi_helpers``' environ writes: what ``environ[key] = value`` / ``environ.pop(key, None)``
in WSGI code gives the code behind it, as a changed copy of the scope. Checked against the
environ a WSGI app behind the adapters would see (``adapters.environ_from_scope``)."""

from __future__ import annotations

import io

import pytest

from adapters import asgi_helpers
from adapters.environ import environ_from_scope


def scope() -> dict[str, object]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/a/b",
        "raw_path": b"/a/b",
        "root_path": "",
        "query_string": b"x=1",
        "headers": [(b"host", b"example.com")],
        "server": ("127.0.0.1", 8000),
        "client": ("10.0.0.1", 5000),
    }


def environ_of(changed: dict[str, object]) -> dict[str, object]:
    return environ_from_scope(changed, io.BytesIO())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("HTTP_X_USER", "ada"),
        ("CONTENT_TYPE", "text/plain"),
        ("PATH_INFO", "/b"),
        ("SCRIPT_NAME", "/a"),
        ("REQUEST_METHOD", "PUT"),
        ("QUERY_STRING", "y=2"),
        ("wsgi.url_scheme", "https"),
        ("myapp.scopes", ("read",)),
        ("REMOTE_USER", "ada"),
    ],
)
def test_a_computed_key_reaches_the_environ_behind(key: str, value: object) -> None:
    changed = asgi_helpers.with_environ_value(scope(), key, value)
    assert environ_of(changed)[key] == value


def test_keys_a_server_computes_cannot_be_set() -> None:
    with pytest.raises(ValueError, match="REMOTE_ADDR"):
        asgi_helpers.with_environ_value(scope(), "REMOTE_ADDR", "1.2.3.4")


def test_a_removed_key_is_gone_behind_and_the_original_scope_is_unchanged() -> None:
    original = asgi_helpers.with_environ_key(scope(), "REMOTE_USER", "mallory")
    removed = asgi_helpers.without_environ_key(original, "REMOTE_USER")
    assert "REMOTE_USER" not in environ_of(removed)
    assert environ_of(original)["REMOTE_USER"] == "mallory"
    assert asgi_helpers.without_environ_key(removed, "REMOTE_USER") is removed
