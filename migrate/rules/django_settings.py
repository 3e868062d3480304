"""Rule ``django-settings``: what a Django project must change to be served by ASGI.

The ``django-asgi`` rule gives the project its ``asgi.py``; Django then serves it, but three
things it relies on behave differently there (``../shared/research/frameworks.md``):

- **WhiteNoise has no ASGI support** (its maintainer, 2026: "not going to happen any time
  soon"); ServeStatic is its fork for ASGI, with the same settings. The dotted paths
  (``"whitenoise.middleware.WhiteNoiseMiddleware"`` in ``MIDDLEWARE``, the storages,
  ``"whitenoise.runserver_nostatic"``) and the ``WHITENOISE_*`` settings become
  ServeStatic's (``converted``).
- **Persistent database connections leak under ASGI** ("When using ASGI, persistent
  connections should be disabled", Django's databases docs): each request's thread is
  retired with its connection still open. ``CONN_MAX_AGE`` (a ``DATABASES`` entry, an
  assignment to ``["CONN_MAX_AGE"]``, ``dj_database_url``'s ``conn_max_age=``) becomes 0,
  with a ``manual`` marker: a connection pool gives the reuse back (psycopg's
  ``OPTIONS={"pool": True}``).
- **A sync iterator given to ``StreamingHttpResponse`` is read whole** before anything is
  sent (Django consumes it with ``sync_to_async(list)`` and warns; a stream of events that
  never ends sends nothing): a ``manual`` marker on each such response made from a
  generator, advising :func:`adapters.iterate_in_thread` (the generator run in the request's
  thread, each chunk sent as it comes). The rule does not wrap it itself: Django takes an
  async iterator whole under WSGI (runserver, the test client), where the project's tests
  iterating ``streaming_content`` would then fail.
- **A ``FileResponse`` is read whole too**: its file is a sync iterator, so under ASGI Django
  reads the whole file into memory before it sends anything (a 300 MB download took the
  server from 52 MB to 347 MB, measured under uvicorn; WSGI servers stream it): a ``manual``
  marker on each, to have the web server send large files.

Applied to modules that read like settings (they set or change ``INSTALLED_APPS``,
``MIDDLEWARE``, ``DATABASES``, ``STORAGES``...) and, for the streaming marker, to modules that
import ``StreamingHttpResponse``.
"""

from __future__ import annotations

import re

import libcst as cst

from migrate import analysis
from migrate.rules.base import ChangeKind, FileContext, Rule

#: WhiteNoise's dotted paths -> ServeStatic's.
SERVESTATIC_PATHS = {
    "whitenoise.middleware.WhiteNoiseMiddleware": "servestatic.middleware.ServeStaticMiddleware",
    "whitenoise.runserver_nostatic": "servestatic.runserver_nostatic",
    **{
        f"whitenoise.storage.{name}": f"servestatic.storage.{name}"
        for name in ("CompressedManifestStaticFilesStorage", "CompressedStaticFilesStorage")
    },
}
#: The settings both read (ServeStatic's are WhiteNoise's with the other prefix).
_WHITENOISE_SETTING = re.compile(
    r"WHITENOISE_(ADD_HEADERS_FUNCTION|ALLOW_ALL_ORIGINS|AUTOREFRESH|CHARSET"
    r"|IMMUTABLE_FILE_TEST|INDEX_FILE|MAX_AGE|MIMETYPES|ROOT|STATIC_PREFIX|USE_FINDERS"
    r"|KEEP_ONLY_HASHED_FILES|MANIFEST_STRICT|SKIP_COMPRESS_EXTENSIONS)"
)
_SETTINGS_NAMES = frozenset(
    {"INSTALLED_APPS", "MIDDLEWARE", "DATABASES", "STORAGES", "STATICFILES_STORAGE", "ROOT_URLCONF"}
)
_CONN_MAX_AGE = (
    "CONN_MAX_AGE set to 0: under ASGI every request's thread is retired with its database "
    "connection open, so persistent connections leak (Django's docs: disable them); to reuse "
    "connections, use the database's pool (psycopg 3: OPTIONS={'pool': True})"
)
_STREAMING = (
    "StreamingHttpResponse is given a sync generator: under ASGI Django reads it whole before "
    "it sends anything (sync_to_async(list), with a warning: a stream that never ends sends "
    "nothing); where streaming matters, hand it adapters.iterate_in_thread(gen()), which runs "
    "it in the request's thread and sends each chunk as it comes (under WSGI, runserver and "
    "the test client, Django then reads it whole), or make it an async generator"
)

_FILE_RESPONSE = (
    "FileResponse under ASGI: Django reads the whole file into memory before it sends "
    "anything (its file is a sync iterator, consumed by sync_to_async(list)); WSGI servers "
    "stream it. For large files, have the web server send them (X-Accel-Redirect, "
    "X-Sendfile) or give a StreamingHttpResponse an async iterator"
)
FILE_RESPONSES = frozenset({"django.http.FileResponse", "django.http.response.FileResponse"})


def _is_settings(module: cst.Module) -> bool:
    """``module`` sets or changes what a Django settings module does."""
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                targets = (
                    [t.target for t in small.targets]
                    if isinstance(small, cst.Assign)
                    else [small.target]
                    if isinstance(small, (cst.AugAssign, cst.AnnAssign))
                    else []
                )
                called = (
                    small.value.func.value
                    if isinstance(small, cst.Expr)
                    and isinstance(small.value, cst.Call)
                    and isinstance(small.value.func, cst.Attribute)
                    else None
                )
                for target in [*targets, *([called] if called is not None else [])]:
                    root = target
                    while isinstance(root, (cst.Subscript, cst.Attribute)):
                        root = root.value
                    if isinstance(root, cst.Name) and root.value in _SETTINGS_NAMES:
                        return True
    return False


def _generators(module: cst.Module) -> set[str]:
    """The names of the module's sync generator functions, at any depth (a view often
    defines its rows generator inside itself)."""
    return {
        s.name.value
        for s in analysis.walk(module)
        if isinstance(s, cst.FunctionDef)
        and s.asynchronous is None
        and analysis.contains_yield(s.body)
    }


class DjangoSettingsRule(Rule):
    rule_id = "django-settings"
    summary = (
        "Django settings for ASGI: WhiteNoise -> ServeStatic, CONN_MAX_AGE -> 0 (marked); a "
        "sync generator given to StreamingHttpResponse, and FileResponse, marked (Django reads "
        "them whole under ASGI)."
    )

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return (
            any(
                word in source
                for word in ("whitenoise", "WHITENOISE_", "CONN_MAX_AGE", "conn_max_age")
            )
            or ("StreamingHttpResponse" in source and "yield" in source)
            or "FileResponse" in source
        )

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self.settings = False
        self.streaming: set[str] = set()
        self.generators: set[str] = set()
        self.file_responses: set[str] = set()
        #: what the statement being left changed: ``(kind, message)``
        self.pending: list[tuple[ChangeKind, str]] = []

    def visit_Module(self, node: cst.Module) -> bool:
        self.settings = _is_settings(node)
        spellings = analysis.import_spellings(
            node,
            frozenset(
                {"django.http.StreamingHttpResponse", "django.http.response.StreamingHttpResponse"}
            ),
        )
        self.streaming = set(spellings)
        self.generators = _generators(node) if self.streaming else set()
        self.file_responses = set(analysis.import_spellings(node, FILE_RESPONSES))
        return self.settings or bool(self.streaming) or bool(self.file_responses)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
        self.pending = []
        return True

    # -- the settings ---------------------------------------------------------------------

    def leave_SimpleString(
        self, original_node: cst.SimpleString, updated_node: cst.SimpleString
    ) -> cst.SimpleString:
        value = analysis.string_value(original_node)
        if not self.settings or value not in SERVESTATIC_PATHS:
            return updated_node
        new = SERVESTATIC_PATHS[value]
        quote = original_node.quote
        self.pending.append(
            (
                "converted",
                f"WhiteNoise has no ASGI support: `{value}` became its ASGI fork's `{new}` "
                "(the same settings and answers; its 304 answers also carry "
                "Access-Control-Allow-Origin)",
            )
        )
        return updated_node.with_changes(value=f"{original_node.prefix}{quote}{new}{quote}")

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        if not self.settings or not _WHITENOISE_SETTING.fullmatch(original_node.value):
            return updated_node
        new = "SERVESTATIC_" + original_node.value.removeprefix("WHITENOISE_")
        self.pending.append(("converted", f"setting `{original_node.value}` became `{new}`"))
        return updated_node.with_changes(value=new)

    def leave_DictElement(
        self, original_node: cst.DictElement, updated_node: cst.DictElement
    ) -> cst.DictElement:
        if self.settings and analysis.string_value(original_node.key) == "CONN_MAX_AGE":
            return updated_node.with_changes(value=self._zero(original_node.value))
        return updated_node

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        target = original_node.targets[0].target if len(original_node.targets) == 1 else None
        key = (
            target.slice[0].slice
            if isinstance(target, cst.Subscript) and len(target.slice) == 1
            else None
        )
        if (
            self.settings
            and isinstance(key, cst.Index)
            and analysis.string_value(key.value) == "CONN_MAX_AGE"
        ):
            return updated_node.with_changes(value=self._zero(original_node.value))
        return updated_node

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        if (
            self.settings
            and original_node.keyword is not None
            and original_node.keyword.value == "conn_max_age"
        ):
            return updated_node.with_changes(value=self._zero(original_node.value))
        return updated_node

    def _zero(self, value: cst.BaseExpression) -> cst.BaseExpression:
        if isinstance(value, cst.Integer) and value.evaluated_value == 0:
            return value
        self.pending.append(("manual", _CONN_MAX_AGE))
        return cst.Integer("0")

    # -- streaming --------------------------------------------------------------------------

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        if analysis.dotted_name(original_node.func) in self.file_responses:
            self.pending.append(("manual", _FILE_RESPONSE))
        if (
            self.streaming
            and analysis.dotted_name(original_node.func) in self.streaming
            and original_node.args
            and original_node.args[0].keyword is None
        ):
            content = original_node.args[0].value
            if isinstance(content, cst.GeneratorExp) or (
                isinstance(content, cst.Call)
                and isinstance(content.func, cst.Name)
                and content.func.value in self.generators
            ):
                self.pending.append(("manual", _STREAMING))
        return updated_node

    # -- markers and the report ---------------------------------------------------------------

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement:
        pending, self.pending = self.pending, []
        return self.report_all(original_node, updated_node, pending)
