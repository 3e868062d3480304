"""What may block: the curated table of blocking APIs and of known-cheap ones.

Names are qualified the way the code imports them (``sqlite3.connect``, ``os.path.exists``,
``requests.Session``); patterns use ``fnmatch`` (``requests.*``). A call is looked up in this
order: the project's own lists (``[tool.wsgi2asgi] blocking`` / ``non_blocking``), then
:data:`BLOCKING`, then :data:`CHEAP`; anything else from an installed package may block.

Two kinds of blocking names:

- calls that block themselves (``time.sleep``, ``urllib.request.urlopen``, ``open``);
- constructors and connectors whose *results* block when used (``sqlite3.connect``,
  ``requests.Session``, ``threading.Lock``): the call itself runs in a thread too (it often
  connects), and every method called on what it returned, or on what came out of that,
  is a blocking call.

Nothing here is per framework or per project: a project adds its own with ``[tool.wsgi2asgi]``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

from migrate.frameworks import FLASK_SIGNALS

#: Blocking calls and constructors of blocking objects.
#: File-system queries: they block, and give plain data (a flag, a size, a path).
_FILE_SYSTEM_QUERIES: tuple[str, ...] = (
    "os.path.exists",
    "os.path.lexists",
    "os.path.isfile",
    "os.path.isdir",
    "os.path.islink",
    "os.path.ismount",
    "os.path.getsize",
    "os.path.getmtime",
    "os.path.getatime",
    "os.path.getctime",
    "os.path.realpath",
    "os.path.samefile",
)

BLOCKING: tuple[str, ...] = (
    # the standard library
    "time.sleep",
    "open",
    "input",
    "io.open",
    "io.open_code",
    "os.fdopen",
    "os.open",
    "os.read",
    "os.write",
    "os.system",
    "os.popen",
    "os.wait*",
    "os.spawn*",
    "os.posix_spawn*",
    "os.listdir",
    "os.scandir",
    "os.walk",
    "os.stat",
    "os.lstat",
    "os.remove",
    "os.unlink",
    "os.rename",
    "os.replace",
    "os.mkdir",
    "os.makedirs",
    "os.rmdir",
    "os.sendfile",
    "os.fsync",
    *_FILE_SYSTEM_QUERIES,
    "pathlib.*",
    "shutil.*",
    "glob.*",
    "tempfile.*",
    "subprocess.*",
    "socket.*",
    "ssl.*",
    "select.*",
    "selectors.*",
    "sqlite3.*",
    "dbm.*",
    "shelve.*",
    "smtplib.*",
    "ftplib.*",
    "poplib.*",
    "imaplib.*",
    "telnetlib.*",
    "http.client.*",
    "urllib.request.*",
    "xmlrpc.client.*",
    "queue.*",
    "multiprocessing.*",
    "concurrent.futures.*",
    "threading.Lock",
    "threading.RLock",
    "threading.Condition",
    "threading.Semaphore",
    "threading.BoundedSemaphore",
    "threading.Event",
    "threading.Barrier",
    "gzip.open",
    "bz2.open",
    "lzma.open",
    "zipfile.*",
    "tarfile.*",
    "wsgiref.simple_server.*",
    # common libraries (their sync APIs)
    "requests.*",
    "urllib3.*",
    "httplib2.*",
    "httpx.Client",
    "httpx.get",
    "httpx.post",
    "httpx.put",
    "httpx.patch",
    "httpx.delete",
    "httpx.head",
    "httpx.options",
    "httpx.request",
    "httpx.stream",
    "psycopg2.*",
    "psycopg.connect",
    "psycopg.Connection*",
    "psycopg_pool.ConnectionPool",
    "pymysql.*",
    "MySQLdb.*",
    "mysql.connector.*",
    "cx_Oracle.*",
    "oracledb.connect",
    "pyodbc.*",
    "redis.Redis",
    "redis.StrictRedis",
    "redis.from_url",
    "redis.ConnectionPool",
    "pymongo.*",
    "sqlalchemy.create_engine",
    "sqlalchemy.orm.Session",
    "sqlalchemy.orm.sessionmaker",
    "sqlalchemy.orm.scoped_session",
    "boto3.*",
    "botocore.*",
    "ldap3.*",
    "ldap.*",
    "paramiko.*",
    "elasticsearch.Elasticsearch",
    "pika.*",
    "kafka.*",
    "memcache.*",
    "pymemcache.*",
    "pylibmc.*",
    "smbclient.*",
    "ftputil.*",
    "suds.*",
    "zeep.*",
)

#: Modules and names that do not block (pure computation over their arguments).
CHEAP: tuple[str, ...] = (
    "adapters.*",
    "json.*",
    "re.*",
    "html.*",
    "urllib.parse.*",
    "base64.*",
    "binascii.*",
    "datetime.*",
    "calendar.*",
    "time.time",
    "time.time_ns",
    "time.monotonic*",
    "time.perf_counter*",
    "time.process_time*",
    "time.gmtime",
    "time.localtime",
    "time.strftime",
    "time.strptime",
    "time.mktime",
    "email.utils.*",
    "http.cookies.*",
    "http.HTTPStatus*",
    "http.server.BaseHTTPRequestHandler.responses",
    "hashlib.*",
    "hmac.*",
    "secrets.*",
    "random.*",
    "uuid.*",
    "math.*",
    "cmath.*",
    "decimal.*",
    "fractions.*",
    "statistics.*",
    "string.*",
    "textwrap.*",
    "unicodedata.*",
    "struct.*",
    "zlib.*",
    "gzip.compress",
    "gzip.decompress",
    "gzip.GzipFile",
    "bz2.compress",
    "bz2.decompress",
    "lzma.compress",
    "lzma.decompress",
    "io.BytesIO",
    "io.StringIO",
    "io.TextIOWrapper",
    "csv.*",
    "collections.*",
    "functools.*",
    "itertools.*",
    "operator.*",
    "copy.*",
    "dataclasses.*",
    "enum.*",
    "typing.*",
    "types.*",
    "abc.*",
    "contextlib.*",
    "warnings.*",
    "logging.*",
    "traceback.*",
    "sys.exc_info",
    "sys.getsizeof",
    "sys.intern",
    "os.environ*",
    "os.getenv",
    "os.getpid",
    "os.fspath",
    "os.fsencode",
    "os.fsdecode",
    "os.path.join",
    "os.path.basename",
    "os.path.dirname",
    "os.path.split",
    "os.path.splitext",
    "os.path.normpath",
    "os.path.normcase",
    "os.path.isabs",
    "os.path.commonpath",
    "os.path.commonprefix",
    "posixpath.*",
    "ntpath.*",
    "mimetypes.guess_type",
    "mimetypes.guess_extension",
    "mimetypes.guess_all_extensions",
    "mimetypes.add_type",
    "cgi.escape",
    "cgi.parse_header",
    "xml.sax.saxutils.*",
    "xml.etree.ElementTree.*",
    "pprint.*",
    "reprlib.*",
    "locale.*",
    "gettext.*",
    "bisect.*",
    "heapq.*",
    "array.*",
    "weakref.*",
    "ipaddress.*",
    "wsgiref.util.*",
    "wsgiref.headers.*",
    "threading.local",
    "threading.current_thread",
    "threading.get_ident",
    "contextvars.*",
    "markupsafe.*",
    "jinja2.Template",
    "jinja2.Markup",
    "jinja2.escape",
    "werkzeug.http.*",
    "werkzeug.urls.*",
    "werkzeug.utils.escape",
    "werkzeug.security.safe_join",
    "falcon.HTTP*",
    "falcon.errors.*",
    "falcon.http_error.*",
    "falcon.http_status.*",
    "falcon.redirects.*",
    "falcon.uri.*",
    "falcon.to_query_str",
    "falcon.code_to_http_status",
    "falcon.get_http_status",
    # Flask's request-context API and Quart's, the same names: cheap reads of the request,
    # the app's config and the session, and building responses. (Not ``g``: what a project
    # keeps there, a database connection, blocks, and belongs to the request's thread.)
    *(
        f"{framework}.{name}"
        for framework in ("flask", "quart")
        for name in (
            "request.args.*",
            "request.headers.*",
            "request.cookies.*",
            "request.view_args.*",
            "request.environ.*",
            "current_app.config.*",
            "session.get",
            "session.pop",
            "session.setdefault",
            "session.clear",
            "jsonify",
            "abort",
            "url_for",
            "redirect",
            "get_flashed_messages",
            "escape",
            "Response",
            "stream_with_context",
        )
    ),
    # connecting a receiver to one of their signals (what receivers do is their own code)
    *(
        f"{framework}.{signal}.{method}"
        for framework in ("flask", "quart")
        for signal in FLASK_SIGNALS
        for method in ("connect", "connect_via", "connected_to", "disconnect")
    ),
)

#: Builtins that may block (the others are computation over their arguments).
BLOCKING_BUILTINS = frozenset({"open", "input", "breakpoint", "exec", "eval", "__import__"})

#: Method names of ``str``, ``bytes``, ``list``, ``dict``, ``set``, ``tuple`` and ``re.Match``:
#: called on a value the analysis cannot type (a parameter), such a method is taken for the
#: builtin type's. (A driver method with one of these names, ``cache.get(key)`` on a
#: parameter, is missed: the watchdog of :mod:`adapters.watchdog` finds those.)
PURE_METHODS = frozenset(
    [
        "capitalize",
        "casefold",
        "center",
        "count",
        "decode",
        "encode",
        "endswith",
        "expandtabs",
        "find",
        "format",
        "format_map",
        "hex",
        "index",
        "isalnum",
        "isalpha",
        "isascii",
        "isdecimal",
        "isdigit",
        "isidentifier",
        "islower",
        "isnumeric",
        "isprintable",
        "isspace",
        "istitle",
        "isupper",
        "join",
        "ljust",
        "lower",
        "lstrip",
        "maketrans",
        "partition",
        "removeprefix",
        "removesuffix",
        "replace",
        "rfind",
        "rindex",
        "rjust",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "translate",
        "upper",
        "zfill",
        "append",
        "clear",
        "copy",
        "extend",
        "insert",
        "pop",
        "remove",
        "reverse",
        "sort",
        "fromkeys",
        "get",
        "items",
        "keys",
        "popitem",
        "setdefault",
        "update",
        "values",
        "add",
        "difference",
        "difference_update",
        "discard",
        "intersection",
        "intersection_update",
        "isdisjoint",
        "issubset",
        "issuperset",
        "symmetric_difference",
        "symmetric_difference_update",
        "union",
        "group",
        "groups",
        "groupdict",
        "span",
        "start",
        "end",
    ]
)

#: Methods of blocking objects that hand back plain data (bytes, text, rows as tuples):
#: what they return is read already, so using it does not block.
DATA_METHODS = frozenset(
    [
        "read",
        "read1",
        "readline",
        "readlines",
        "readall",
        "recv",
        "recvfrom",
        "fetchone",
        "fetchall",
        "fetchmany",
        "getvalue",
        "json",
        "decode",
    ]
)

#: Blocking functions that hand back plain data (a path, a size, a flag, a stat result,
#: names), not a handle: using their result does not block.
RETURNS_DATA = frozenset(
    [
        *_FILE_SYSTEM_QUERIES,
        "os.stat",
        "os.lstat",
        "os.listdir",
        "os.access",
        "os.getcwd",
        "os.readlink",
        "time.sleep",
        "glob.glob",
        "socket.gethostbyname",
        "socket.gethostname",
        "subprocess.run",
        "subprocess.call",
        "subprocess.check_call",
        "subprocess.check_output",
        # paths and names of what they made
        "tempfile.mkdtemp",
        "tempfile.mkstemp",
        "tempfile.gettempdir",
        "os.makedirs",
        "os.mkdir",
        "shutil.copy",
        "shutil.copy2",
        "shutil.copyfile",
        "shutil.move",
    ]
)

#: Calls of the code the rules write that make, without blocking, an object whose every
#: use blocks: the request body as a stream (read in a worker thread, see
#: ``adapters.asgi_helpers.RequestStream``).
STREAM_MAKERS = frozenset(["asgi_helpers.RequestStream"])

#: The async spelling of a blocking call, where it is the same call on the loop.
ASYNC_EQUIVALENTS = {"time.sleep": "asyncio.sleep"}


def _compile(patterns: Iterable[str]) -> re.Pattern[str]:
    joined = "|".join(fnmatch.translate(p) for p in patterns) or "(?!)"
    return re.compile(joined)


@dataclass(frozen=True)
class BlockingTable:
    """The lists a run uses: the project's (``[tool.wsgi2asgi]``) before the built-in ones."""

    blocking: tuple[str, ...] = ()
    non_blocking: tuple[str, ...] = ()

    def verdict(self, qualified: str) -> str:
        """``"blocks"``, ``"cheap"`` or ``"unknown"`` for a qualified name."""
        if _matches(self.non_blocking, qualified):
            return "cheap"
        if _matches(self.blocking, qualified) or _BUILTIN_BLOCKING.fullmatch(qualified):
            return "blocks"
        if _BUILTIN_CHEAP.fullmatch(qualified):
            return "cheap"
        return "unknown"


_BUILTIN_BLOCKING = _compile(BLOCKING)
_BUILTIN_CHEAP = _compile(CHEAP)
_COMPILED: dict[tuple[str, ...], re.Pattern[str]] = {}


def _matches(patterns: tuple[str, ...], qualified: str) -> bool:
    if not patterns:
        return False
    compiled = _COMPILED.get(patterns)
    if compiled is None:
        compiled = _COMPILED[patterns] = _compile(patterns)
    return compiled.fullmatch(qualified) is not None


DEFAULT_TABLE = BlockingTable()
_active = [DEFAULT_TABLE]


def active_table() -> BlockingTable:
    """The table of this run (set once per process by :func:`use_table`)."""
    return _active[0]


def use_table(table: BlockingTable) -> None:
    """Make ``table`` the one every file of this process is migrated with (the CLI calls it
    with the project's settings; worker processes get it from their initializer)."""
    _active[0] = table
