"""Rule ``wsgi-app``: WSGI applications become native ASGI 3 applications.

Recognises, by shape (never by name):

- module-level functions taking ``(environ, start_response)`` under any names and calling
  the second with a status and headers (a status line like ``"200 OK"``, a header list, or
  CGI keys read from the first are the evidence), or handing it to a function that does;
- classes whose ``__call__(self, environ, start_response)`` has that shape (their
  module-level instances, ``app = App()``, are the applications);
- PEP 3333 iterable classes (``__init__(self, environ, start_response)`` + ``__iter__``).

Produces, when the rewrite is provably equivalent (kind ``converted``), an
``async def app(scope, receive, send)`` under the same name. Before::

    def app(environ, start_response):
        name = environ.get("QUERY_STRING", "")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [name.encode()]

After::

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return await asgi_helpers.handle_non_http(scope, receive, send)
        name = scope["query_string"].decode("latin-1")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": name.encode()})

``environ`` reads map to the scope (``adapters.asgi_helpers`` keeps their exact WSGI
values), ``wsgi.input`` reads become ``await asgi_helpers.read_body(receive)``, yields and
``write()`` calls become body messages with ``more_body``. The response start is sent
where PEP 3333 sends it: just before the first body chunk, so code that raises between
``start_response`` and the body still gives a clean 500.

Anything the rule cannot prove equivalent (environ written to or handed to unknown code,
``start_response`` passed on, ``exc_info``, iterables it cannot see into, unusual control
flow...) is kept as WSGI under a private name and served through the runtime adapter
(kind ``adapted``), with a ``# migrate[wsgi-app]: why`` marker::

    def _app_wsgi(environ, start_response): ...
    # migrate[wsgi-app]: `app` kept as WSGI and served through adapters.WsgiToAsgi: ...
    app = WsgiToAsgi(_app_wsgi)

A WSGI app that other code of the module also uses (a dispatcher, a middleware stack) is
left alone with a ``manual`` marker. Already-converted and already-adapted code is
recognised, so a second run changes nothing.

Call groups (when :data:`CONVERTS_CALL_GROUPS` is on): a dispatcher, the sub-apps it hands
the request to and the response helpers that get ``start_response`` are converted together
(each reported on its own line), when every member converts and every use of a member is
``return f(environ, start_response, *extra)`` / ``return helper(start_response, ...)`` in
another member (outside try/with blocks), or a use the rule accepts for an app (serving it,
an alias)::

    def json_response(start_response, status, data):        async def json_response(send, status, data):
        start_response(status, [...])                            await send({... "http.response.start" ...})
        return [json.dumps(data).encode()]                       await send({... "http.response.body" ...})

    def detail(environ, start_response, item_id):            async def detail(scope, receive, send, item_id):
        return json_response(start_response, "200 OK", ...)      ...
                                                                 return await json_response(send, "200 OK", ...)
    def app(environ, start_response):                        async def app(scope, receive, send):
        ...                                                      ...
        return detail(environ, start_response, 7)                return await detail(scope, receive, send, 7)

Otherwise the whole group stays as it was (the dispatcher adapted, the sub-apps manual, the
helpers untouched), and the markers say why -- e.g. that a member hands ``start_response`` to
a helper imported from another module the rule knows nothing about, or that a helper is
exported in ``__all__``.

Helpers of other modules (when the run gives the rule a project index, ``FileContext.project``,
see :mod:`migrate.project`): the helper module is never changed, only the calling one, so its
rewrite stays right whatever happens to the helper's file. An environ reader the index proves
read-only is handed an environ built from the scope (with the request body when it reads
``wsgi.input``); a response helper proven to only call its start_response (or hand it to
another such helper of its module) is handed an ``asgi_helpers.StartResponse``, which sends
the response with PEP 3333's timing (start before the first non-empty chunk, ``exc_info``,
``close()``)::

    from http_utils import json_response, query_params

    def list_notes(environ, start_response):     async def list_notes(scope, receive, send):
        params = query_params(environ)               ...
        return json_response(                        environ = asgi_helpers.build_environ(scope)
            start_response, 200, params)             params = query_params(environ)
                                                     response = asgi_helpers.StartResponse()
                                                     body = json_response(response, 200, params)
                                                     return await response.send(send, body)

With the index, an iterable the rule cannot see into (``return CsvExport(rows)`` after
``start_response``) is sent through a StartResponse too. Without it (``project`` None) the
rule behaves as if those helpers were unknown. The index also tells which apps other modules
of the run still use as WSGI apps (call them with environ and start_response, hand them to a
WSGI test client, adapter or wsgiref handler: :func:`migrate.project.wsgi_delegations`):
those stay WSGI, with a ``manual`` marker naming the modules.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import libcst as cst

from migrate import analysis, prefilter, scope_writes, wsgi_keys
from migrate.analysis import (
    CallGroup,
    Delegate,
    GroupMember,
    WsgiApp,
    is_plain_name,
    mentions,
    string_value,
)
from migrate.blocking import CannotOffload, ModuleFacts, offload_blocking
from migrate.cst_helpers import (
    OwnScopeTransformer,
    add_imports,
    has_marker,
    is_docstring,
    paren_await,
    single_statement,
    suite_statements,
    with_marker,
)
from migrate.project import HelperSummary, Lookup, ProjectIndex, imported_function
from migrate.route_tables import RouteTable, find_route_tables
from migrate.rules.base import FileContext, Rule, marker_comment

HELPERS = "asgi_helpers"
_LATIN1 = frozenset({"latin-1", "latin1", "iso-8859-1", "iso8859-1", "l1"})
_UTF8 = frozenset({"utf-8", "utf8"})


#: Does the rule convert *call groups* natively: WSGI apps and response helpers of one module
#: that hand ``start_response`` to each other (a dispatcher, its sub-apps, ``json_response(
#: start_response, ...)`` helpers)? When off, a group that could be converted is left
#: exactly as before (the caller adapted, the callees manual); groups that cannot be
#: converted say why in their markers either way.
CONVERTS_CALL_GROUPS = True


class Unconvertible(Exception):
    """The rewrite cannot be shown equivalent; the message says why."""


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _expr(text: str) -> cst.BaseExpression:
    return cst.parse_expression(text)


def _stmt(text: str) -> cst.BaseStatement:
    return cst.parse_statement(text)


def _quoted(text: str) -> str:
    """``text`` as a string literal, in double quotes where it can be."""
    return f'"{text}"' if text.isprintable() and not set(text) & {'"', "\\"} else repr(text)


def _is_text(node: cst.BaseExpression) -> bool:
    """A ``str`` literal (``"ok"``, an f-string): a body chunk no WSGI server sends (it
    answers 500 before the headers go out), where ASGI servers fail after the start."""
    if isinstance(node, cst.SimpleString):
        return "b" not in node.prefix.lower()
    if isinstance(node, cst.FormattedString):
        return True
    if isinstance(node, cst.ConcatenatedString):
        return _is_text(node.left)
    return False


def _is_safe(node: cst.BaseExpression) -> bool:
    """Expressions treated as unable to raise: literals, names, attribute reads, f-strings,
    ``str()``/``range()``/``.encode()`` of those. Code the rule moves past the response
    start must be safe."""
    if isinstance(
        node,
        (cst.SimpleString, cst.ConcatenatedString, cst.Integer, cst.Float, cst.Name),
    ):
        return True
    if isinstance(node, cst.Attribute):
        return _is_safe(node.value)
    if isinstance(node, (cst.List, cst.Tuple)):
        return all(isinstance(e, cst.Element) and _is_safe(e.value) for e in node.elements)
    if isinstance(node, cst.FormattedString):
        return all(
            isinstance(p, cst.FormattedStringText)
            or (
                isinstance(p, cst.FormattedStringExpression)
                and p.format_spec is None
                and _is_safe(p.expression)
            )
            for p in node.parts
        )
    if isinstance(node, cst.Call):
        args_ok = all(a.keyword is None and not a.star and _is_safe(a.value) for a in node.args)
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "encode":
            return args_ok and _is_safe(node.func.value)
        if isinstance(node.func, cst.Name) and node.func.value in ("str", "range"):
            return args_ok
    return False


# --------------------------------------------------------------------------- other modules


class ImportedHelpers:
    """The functions a module imports from other modules of the run that its WSGI code may
    hand the environ or start_response to, as far as the project index proves them safe
    (:mod:`migrate.project`): environ readers get an environ built from the scope, response
    helpers an ``asgi_helpers.StartResponse``. Their own module is never changed for it."""

    def __init__(self, module: cst.Module, index: ProjectIndex, relpath: str) -> None:
        self.index = index
        self.relpath = relpath
        self.bindings = analysis.import_bindings(module)
        self._module = module
        self._bound: dict[str, int] | None = None
        #: Local names of the function being converted, which hide module-level ones.
        self.shadowed: frozenset[str] = frozenset()

    def inside(self, func: cst.FunctionDef) -> ImportedHelpers:
        """The same, for code inside ``func`` (whose parameters and local names hide imports)."""
        view = copy.copy(self)
        params = {p.name.value for p in analysis.positional_params(func) or []}
        view.shadowed = frozenset(params | analysis.written_names(func.body))
        return view

    def lookup(self, callee: str) -> Lookup | None:
        """What the dotted ``callee`` (``json_response``, ``http_utils.json_response``)
        refers to, when its first part is a name imported at module level; None otherwise."""
        if not callee:
            return None
        first, *rest = callee.split(".")
        binding = self.bindings.get(first)
        if binding is None or first in self.shadowed:
            return None
        if self._bound is None:
            self._bound = analysis.module_level_bindings(self._module)
        if self._bound.get(first, 0) != 1 or "*" in self._bound:
            return Lookup(
                None, binding.module, f"is also bound by other code of this module (`{first}`)"
            )
        target = imported_function((binding.module, binding.name), rest)
        if target is None:
            return None
        return self.index.lookup(self.relpath, *target)

    def takes_start_response(self, callee: str, index: int) -> bool:
        """The dotted ``callee`` is a helper of another module, proven to only call (or hand
        on) the start_response it gets as its argument ``index``."""
        lookup = self.lookup(callee)
        return (
            lookup is not None
            and lookup.helper is not None
            and index in lookup.helper.start_response_params
        )

    def environ_reader(self, callee: str) -> tuple[Lookup, HelperSummary] | None:
        lookup = self.lookup(callee)
        if lookup is None or lookup.helper is None or not lookup.helper.environ_params:
            return None
        return lookup, lookup.helper


# --------------------------------------------------------------------------- environ reads


@dataclass
class EnvironUse:
    reads: int = 0
    body_reads: int = 0
    needs_environ: bool = False
    #: The environ handed to helpers must carry the request body (one reads wsgi.input).
    needs_body: bool = False
    shifts: int = 0
    wsgiref: int = 0
    uses_sys: bool = False
    #: ``environ["wsgi.input"]`` handed on as a stream (``asgi_helpers.RequestStream``)
    streams: int = 0
    #: names bound to ``environ["wsgi.file_wrapper"]`` (now ``asgi_helpers.FileWrapper``)
    file_wrappers: set[str] = field(default_factory=set)


class EnvironRewriter(cst.CSTTransformer):
    """Rewrites the reads of ``environ`` in one app body to scope expressions; raises
    :class:`Unconvertible` on any other use of ``environ``."""

    def __init__(
        self,
        environ: str,
        start_response: str,
        aliases: dict[str, str],
        helpers: dict[str, set[int]],
        delegates: Mapping[str, Delegate] | None = None,
        imported: ImportedHelpers | None = None,
    ) -> None:
        super().__init__()
        self.environ = environ
        self.start_response = start_response
        self.aliases = aliases
        self.helpers = helpers
        self.imported = imported
        #: Members of the call group being converted: the environ they get is not a use.
        self.delegates: Mapping[str, Delegate] = delegates or {}
        self.allowed: set[int] = set()  # ids of environ Name nodes inside understood forms
        self.shift_calls: set[int] = set()
        self.body_read_calls: set[int] = set()
        self.body_read_subscripts: set[int] = set()
        #: the rewritten reads (``await asgi_helpers.read_body(receive)``), by id
        self.body_read_results: set[int] = set()
        self.genexp_depth = 0
        self.fstring_quotes: list[str] = []
        self.use = EnvironUse()
        #: The function changes its scope (shifts the path, writes environ keys): a helper
        #: gets an environ built from the scope as it is at the call, not at the start.
        self.environ_at_call = False
        self.helper_args: set[int] = set()

    def _e(self, text: str) -> cst.BaseExpression:
        """Parse generated code, with single quotes inside a double-quoted f-string."""
        if self.fstring_quotes and '"' in self.fstring_quotes[-1]:
            text = text.replace('"', "'")
        return _expr(text)

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        self.fstring_quotes.append(node.start)

    def leave_FormattedString(
        self, original_node: cst.FormattedString, updated_node: cst.FormattedString
    ) -> cst.BaseExpression:
        self.fstring_quotes.pop()
        return updated_node

    # -- recognising (top-down) -------------------------------------------------------

    def _allow(self, node: cst.CSTNode | None) -> None:
        if node is not None:
            self.allowed.add(id(node))

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self.genexp_depth += 1

    def leave_GeneratorExp(
        self, original_node: cst.GeneratorExp, updated_node: cst.GeneratorExp
    ) -> cst.BaseExpression:
        self.genexp_depth -= 1
        return updated_node

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if is_plain_name(node.value, self.environ) and node.attr.value != "get":
            raise Unconvertible(f"it uses environ.{node.attr.value}")
        self._allow(node.attr)  # `os.environ`: an attribute name, not the environ

    def visit_Arg(self, node: cst.Arg) -> None:
        self._allow(node.keyword)  # `f(environ=...)`: a keyword name, not the environ

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if analysis.environ_read_key(node, self.environ) is not None:
            self._allow(node.value)

    def visit_Comparison(self, node: cst.Comparison) -> None:
        if analysis.environ_membership_key(node, self.environ) is not None:
            self._allow(node.comparisons[0].comparator)

    def visit_Call(self, node: cst.Call) -> None:
        env = self.environ
        if analysis.environ_read_key(node, env) is not None:
            assert isinstance(node.func, cst.Attribute)
            self._allow(node.func.value)
            return
        if self._is_body_read(node):
            assert isinstance(node.func, cst.Attribute)
            assert isinstance(node.func.value, cst.Subscript)
            self._allow(node.func.value.value)
            self.body_read_calls.add(id(node))
            self.body_read_subscripts.add(id(node.func.value))
            return
        callee = analysis.dotted_name(node.func)
        fn = self.aliases.get(callee)
        if fn in analysis.WSGIREF_READERS and node.args and is_plain_name(node.args[0].value, env):
            self._allow(node.args[0].value)
            return
        if fn == "shift_path_info" and id(node) in self.shift_calls:
            self._allow(node.args[0].value)
            return
        delegate = self.delegates.get(callee) if callee else None
        for index, arg in enumerate(node.args):
            if not is_plain_name(arg.value, env):
                continue
            if (
                delegate is not None
                and delegate.environ == index
                and arg.keyword is None
                and not arg.star
            ):
                self._allow(arg.value)  # handed on to a member of the group: rewritten later
                continue
            if arg.keyword is None and not arg.star and index in self.helpers.get(callee, set()):
                self._allow(arg.value)
                self.helper_args.add(id(arg.value))
                self.use.needs_environ = True
                body_readers: frozenset[str] = getattr(self.helpers, "body_readers", frozenset())
                self.use.needs_body = self.use.needs_body or callee in body_readers
                continue
            reader = self.imported.environ_reader(callee) if self.imported is not None else None
            if (
                reader is not None
                and arg.keyword is None
                and not arg.star
                and not any(a.star for a in node.args[:index])
                and index in reader[1].environ_params
            ):
                self._allow(arg.value)  # a faithful environ built from the scope is handed over
                self.helper_args.add(id(arg.value))
                self.use.needs_environ = True
                self.use.needs_body = self.use.needs_body or index in reader[1].body_params
                continue
            what = f"`{callee}()`" if callee else "other code"
            if any(is_plain_name(a.value, self.start_response) for a in node.args):
                raise Unconvertible(
                    f"it hands environ and start_response to {what} (another WSGI app or middleware)"
                )
            lookup = self.imported.lookup(callee) if self.imported is not None else None
            if lookup is not None:
                why = lookup.problem or "does not take the environ there, or not only to read it"
                raise Unconvertible(
                    f"it hands the environ to {what} from {lookup.module}, which {why}"
                )
            raise Unconvertible(f"it hands the environ to {what}, which may change or keep it")

    def _is_body_read(self, node: cst.Call) -> bool:
        func = node.func
        return (
            isinstance(func, cst.Attribute)
            and func.attr.value == "read"
            and analysis.environ_read_key(func.value, self.environ) == "wsgi.input"
            and isinstance(func.value, cst.Subscript)
            and len(node.args) <= 1
            and all(a.keyword is None and not a.star for a in node.args)
        )

    def _shift_call(self, value: cst.BaseExpression | None) -> cst.Call | None:
        if (
            isinstance(value, cst.Call)
            and self.aliases.get(analysis.dotted_name(value.func)) == "shift_path_info"
            and len(value.args) == 1
            and is_plain_name(value.args[0].value, self.environ)
        ):
            return value
        return None

    def visit_Assign(self, node: cst.Assign) -> None:
        if (
            analysis.environ_read_key(node.value, self.environ) == "wsgi.file_wrapper"
            and len(node.targets) == 1
            and isinstance(node.targets[0].target, cst.Name)
        ):
            self.use.file_wrappers.add(node.targets[0].target.value)
        call = self._shift_call(node.value)
        if (
            call is not None
            and len(node.targets) == 1
            and isinstance(node.targets[0].target, cst.Name)
        ):
            self.shift_calls.add(id(call))

    def visit_Expr(self, node: cst.Expr) -> None:
        call = self._shift_call(node.value)
        if call is not None:
            self.shift_calls.add(id(call))

    # -- rewriting (bottom-up) ----------------------------------------------------------

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        if original_node.value == self.environ and id(original_node) not in self.allowed:
            raise Unconvertible(
                f"`{self.environ}` (the environ) is used in a way the rule cannot follow "
                "(handed to other code, stored or iterated)"
            )
        if self.environ_at_call and id(original_node) in self.helper_args:
            return self._e(f"{HELPERS}.build_environ(scope)")
        return updated_node

    def _read(self, key: str, form: str, default: cst.BaseExpression | None) -> cst.BaseExpression:
        self.use.reads += 1
        header = wsgi_keys.header_of_key(key)
        if header is not None:
            headers = f"{HELPERS}.request_headers(scope)"
            if form == "subscript":
                return self._e(f"{headers}[{header!r}]".replace("'", '"'))
            args = f'"{header}"' + (f", {_code(default)}" if default is not None else "")
            return self._e(f"{headers}.get({args})")
        if wsgi_keys.is_carried_key(key):
            # ``.get(key, default)`` stays a .get with the same default, evaluated as before
            extra = f"{HELPERS}.environ_extra(scope)"
            if form == "subscript":
                return self._e(f"{extra}[{_quoted(key)}]")
            args = _quoted(key) + (f", {_code(default)}" if default is not None else "")
            return self._e(f"{extra}.get({args})")
        if key == "wsgi.file_wrapper":
            # every ASGI server here has one: the WSGI default is never used
            return self._e(f"{HELPERS}.FileWrapper")
        if key not in wsgi_keys.ALWAYS_PRESENT_KEYS:
            if key == "wsgi.input":
                raise Unconvertible(
                    "uses the request stream environ['wsgi.input'] beyond one read()"
                )
            raise Unconvertible(f"reads environ[{key!r}], which has no ASGI equivalent")
        if default is not None and not _is_safe(default):
            raise Unconvertible(f"the default of environ.get({key!r}, ...) has side effects")
        simple = {
            "REQUEST_METHOD": 'scope["method"]',
            "SCRIPT_NAME": f"{HELPERS}.script_name(scope)",
            "PATH_INFO": f"{HELPERS}.path_info(scope)",
            "QUERY_STRING": 'scope["query_string"].decode("latin-1")',
            "SERVER_NAME": f"{HELPERS}.server_name(scope)",
            "SERVER_PORT": f"{HELPERS}.server_port(scope)",
            "SERVER_PROTOCOL": (
                '("HTTP/" + scope["http_version"])'
                if self.fstring_quotes
                else "f\"HTTP/{scope['http_version']}\""
            ),
            "REMOTE_ADDR": f"{HELPERS}.remote_addr(scope)",
            "wsgi.url_scheme": 'scope.get("scheme", "http")',
            "wsgi.errors": "sys.stderr",
        }
        if key == "wsgi.errors":
            self.use.uses_sys = True
        return self._e(simple[key])

    def leave_Subscript(
        self, original_node: cst.Subscript, updated_node: cst.Subscript
    ) -> cst.BaseExpression:
        key = analysis.environ_read_key(original_node, self.environ)
        if key is not None:
            if key == "wsgi.input" and id(original_node) in self.body_read_subscripts:
                return updated_node  # part of a .read() call, replaced there
            if key == "wsgi.input":
                # the stream itself, handed to code that reads it: the body as it arrives,
                # read off the loop (what reads it blocks, see migrate.blocking)
                if self.genexp_depth:
                    raise Unconvertible("uses the request stream inside a generator expression")
                self.use.streams += 1
                if self.use.streams > 1:
                    raise Unconvertible("uses the request stream environ['wsgi.input'] twice")
                stream = self._e(f"{HELPERS}.RequestStream(receive)").with_changes(
                    lpar=original_node.lpar, rpar=original_node.rpar
                )
                self.body_read_results.add(id(stream))
                return stream
            return self._read(key, "subscript", None).with_changes(
                lpar=original_node.lpar, rpar=original_node.rpar
            )
        return updated_node.with_changes(value=paren_await(updated_node.value))

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        return updated_node.with_changes(value=paren_await(updated_node.value))

    def leave_Comparison(
        self, original_node: cst.Comparison, updated_node: cst.Comparison
    ) -> cst.BaseExpression:
        key = analysis.environ_membership_key(original_node, self.environ)
        if key is None:
            return updated_node
        header = wsgi_keys.header_of_key(key)
        negate = isinstance(original_node.comparisons[0].operator, cst.NotIn)
        self.use.reads += 1
        op = "not in" if negate else "in"
        if header is None and wsgi_keys.is_carried_key(key):
            return self._e(f"{_quoted(key)} {op} {HELPERS}.environ_extra(scope)").with_changes(
                lpar=original_node.lpar, rpar=original_node.rpar
            )
        if header is None:
            raise Unconvertible(f"tests `{key!r} in environ`")
        return self._e(f'"{header}" {op} {HELPERS}.request_headers(scope)').with_changes(
            lpar=original_node.lpar, rpar=original_node.rpar
        )

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        env = self.environ
        if id(original_node) in self.body_read_calls:
            if self.genexp_depth:
                raise Unconvertible("reads the request body inside a generator expression")
            self.use.body_reads += 1
            self.use.reads += 1
            if self.use.body_reads > 1:
                raise Unconvertible("reads the request body more than once")
            args = "".join(f", {_code(a.value)}" for a in updated_node.args)
            read = self._e(f"await {HELPERS}.read_body(receive{args})").with_changes(
                lpar=original_node.lpar, rpar=original_node.rpar
            )
            self.body_read_results.add(id(read))
            return read
        key = analysis.environ_read_key(original_node, env)
        if key is not None:
            default = updated_node.args[1].value if len(updated_node.args) == 2 else None
            if key == "wsgi.input":
                raise Unconvertible(
                    "uses the request stream environ['wsgi.input'] beyond one read()"
                )
            return self._read(key, "get", default).with_changes(
                lpar=original_node.lpar, rpar=original_node.rpar
            )
        if self._is_path_dance(original_node):
            return self._e(f"{HELPERS}.request_path(scope)").with_changes(
                lpar=original_node.lpar, rpar=original_node.rpar
            )
        fn = self.aliases.get(analysis.dotted_name(original_node.func))
        if (
            fn in analysis.WSGIREF_READERS
            and original_node.args
            and is_plain_name(original_node.args[0].value, env)
        ):
            self.use.wsgiref += 1
            first = updated_node.args[0].with_changes(value=cst.Name("scope"))
            return updated_node.with_changes(
                func=self._e(f"{HELPERS}.{fn}"), args=[first, *updated_node.args[1:]]
            )
        return updated_node.with_changes(func=paren_await(updated_node.func))

    def _is_path_dance(self, node: cst.Call) -> bool:
        """``environ["PATH_INFO"].encode("latin-1").decode("utf-8")``."""
        func = node.func
        if not (
            isinstance(func, cst.Attribute)
            and func.attr.value == "decode"
            and len(node.args) == 1
            and string_value(node.args[0].value) in _UTF8
        ):
            return False
        inner = func.value
        return (
            isinstance(inner, cst.Call)
            and isinstance(inner.func, cst.Attribute)
            and inner.func.attr.value == "encode"
            and len(inner.args) == 1
            and (string_value(inner.args[0].value) or "").lower() in _LATIN1
            and analysis.environ_read_key(inner.func.value, self.environ) == "PATH_INFO"
        )

    def leave_Assign(
        self, original_node: cst.Assign, updated_node: cst.Assign
    ) -> cst.BaseSmallStatement:
        call = self._shift_call(original_node.value)
        if call is None or id(call) not in self.shift_calls:
            return updated_node
        self.use.shifts += 1
        target = _code(original_node.targets[0].target)
        return _small(f"{target}, scope = {HELPERS}.shift_path_info(scope)")

    def leave_Expr(self, original_node: cst.Expr, updated_node: cst.Expr) -> cst.BaseSmallStatement:
        call = self._shift_call(original_node.value)
        if call is None:
            return updated_node
        self.use.shifts += 1
        return _small(f"_, scope = {HELPERS}.shift_path_info(scope)")


class ScopeChanges(OwnScopeTransformer):
    """Before the environ reads are rewritten: writes to the environ become scope statements
    (:mod:`migrate.scope_writes`), and a path shift that is the first thing an assignment
    evaluates (``action = shift_path_info(environ) or "view"``) gets a line of its own, which
    the rewriter turns into ``action, scope = asgi_helpers.shift_path_info(scope)``."""

    def __init__(self, environ: str, aliases: Mapping[str, str]) -> None:
        super().__init__()
        self.environ = environ
        self.aliases = aliases
        self.writes = scope_writes.Writes()
        self.shifts = False

    @property
    def changes_scope(self) -> bool:
        return self.shifts or self.writes.count > 0

    def _is_shift(self, node: cst.BaseExpression) -> bool:
        return (
            isinstance(node, cst.Call)
            and self.aliases.get(analysis.dotted_name(node.func)) == "shift_path_info"
            and len(node.args) == 1
            and is_plain_name(node.args[0].value, self.environ)
        )

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        small = single_statement(original_node)
        if small is None:
            return updated_node
        if any(self._is_shift(n) for n in analysis.walk(small) if isinstance(n, cst.Call)):
            self.shifts = True
        try:
            new = scope_writes.write_statement(small, self.environ, self.writes)
        except scope_writes.CannotWrite as why:
            raise Unconvertible(str(why)) from None
        if new is not None:
            return _stmt(new).with_changes(
                leading_lines=original_node.leading_lines,
                trailing_whitespace=original_node.trailing_whitespace,
            )
        if (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
            and isinstance(small.value, cst.BooleanOperation)
            and self._is_shift(small.value.left)
        ):
            name = small.targets[0].target.value
            first = cst.SimpleStatementLine(
                body=[small.with_changes(value=small.value.left)],
                leading_lines=original_node.leading_lines,
            )
            rest = small.with_changes(value=small.value.with_changes(left=cst.Name(name)))
            return cst.FlattenSentinel(
                [first, original_node.with_changes(body=[rest], leading_lines=())]
            )
        return updated_node


def _small(text: str) -> cst.BaseSmallStatement:
    stmt = _stmt(text)
    assert isinstance(stmt, cst.SimpleStatementLine)
    return stmt.body[0]


# --------------------------------------------------------------------------- response


def _with_last(block: cst.BaseSuite, stmt: cst.BaseStatement) -> cst.BaseSuite:
    """``block`` with ``stmt`` appended."""
    if isinstance(block, cst.IndentedBlock):
        return block.with_changes(body=[*block.body, stmt])
    assert isinstance(block, cst.SimpleStatementSuite)  # ``if x: yield y`` on one line
    return cst.IndentedBlock(body=[cst.SimpleStatementLine(body=block.body), stmt])


@dataclass(eq=False)
class Pending:
    """``start_response(status, headers)`` seen, response start not sent yet."""

    status: cst.BaseExpression
    headers: cst.BaseExpression
    names: set[str]
    leading_lines: Sequence[cst.EmptyLine]
    trailing: cst.TrailingWhitespace
    #: The ``start_response(status, headers)`` call itself.
    call: cst.Call | None = None


@dataclass(eq=False)
class MaybeStarted:
    """After an ``if`` one branch of which sent the response start (its first chunk) while
    the other left it pending: ``flag``, set by the branches that sent it, tells at run time
    (the start goes out before the next chunk only if it has not yet, as under WSGI)."""

    pending: Pending
    flag: str


NOT_STARTED = "not started"
STARTED = "started"
TERMINATED = "terminated"
State = Pending | MaybeStarted | str


@dataclass
class ResponseRewriter:
    """Turns ``start_response`` / ``return [...]`` / ``yield`` / ``write()`` in one app body
    into ``send`` calls, following the response state through the blocks."""

    start_response: str
    generator: bool
    used_names: set[str]
    write: str | None = None
    generated_returns: set[int] = field(default_factory=set)
    #: Members of the call group being converted: ``return f(environ, start_response, ...)``
    #: becomes ``return await f(scope, receive, send, ...)`` (``send`` for a response helper).
    delegates: Mapping[str, Delegate] = field(default_factory=dict)
    #: Depth of try/with blocks around the statement being rewritten.
    guarded: int = 0
    #: Response helpers of other modules handed start_response (dotted callees, checked by
    #: :func:`_check_collector_call`): ``return json_response(start_response, ...)`` becomes
    #: ``return await response.send(send, json_response(response, ...))`` with ``response``
    #: an ``asgi_helpers.StartResponse``.
    collected: frozenset[str] = frozenset()
    #: Whether ``asgi_helpers.StartResponse`` may send what the rule cannot see into (an
    #: iterable returned after start_response): only with knowledge of the project.
    collects: bool = False
    #: How many returns went through a StartResponse (for the report).
    collector_uses: int = 0
    collector_name: str | None = None
    body_name: str | None = None
    #: Names bound to ``asgi_helpers.FileWrapper`` (``environ["wsgi.file_wrapper"]`` once):
    #: ``return wrapper(file, size)`` sends the file, read in the thread pool.
    file_wrappers: frozenset[str] = frozenset()

    # -- code generation ------------------------------------------------------------------

    def fresh(self, base: str) -> str:
        name = base
        while name in self.used_names:
            name += "_"
        self.used_names.add(name)
        return name

    @staticmethod
    def status_code(status: cst.BaseExpression) -> str:
        value = string_value(status)
        if value is not None:
            code = value.split(None, 1)[0] if value.strip() else ""
            if len(code) != 3 or not code.isdigit():
                raise Unconvertible(f"status {value!r} is not a valid HTTP status")
            return str(int(code))
        return f"int({_code(status)}.split(None, 1)[0])"

    @staticmethod
    def headers_code(headers: cst.BaseExpression) -> str:
        if isinstance(headers, (cst.List, cst.Tuple)) and all(
            isinstance(e, cst.Element)
            and isinstance(e.value, cst.Tuple)
            and len(e.value.elements) == 2
            and all(isinstance(x, cst.Element) for x in e.value.elements)
            for e in headers.elements
        ):
            items = []
            for element in headers.elements:
                assert isinstance(element.value, cst.Tuple)
                name_node, value_node = (x.value for x in element.value.elements)
                items.append(
                    f"({_header_bytes(name_node, True)}, {_header_bytes(value_node, False)})"
                )
            one_line = "[" + ", ".join(items) + "]"
            if len(one_line) <= 60:
                return one_line
            return "[\n" + "".join(f"            {item},\n" for item in items) + "        ]"
        return (
            '[(name.lower().encode("latin-1"), value.encode("latin-1")) '
            f"for name, value in {_code(headers)}]"
        )

    def start_send(self, pending: Pending) -> cst.BaseStatement:
        status = self.status_code(pending.status)
        headers = self.headers_code(pending.headers)
        one_line = f'await send({{"type": "http.response.start", "status": {status}, "headers": {headers}}})'
        if len(one_line) <= 88:
            stmt = _stmt(one_line)
        else:
            stmt = _stmt(
                "await send(\n    {\n"
                '        "type": "http.response.start",\n'
                f'        "status": {status},\n'
                f'        "headers": {headers},\n'
                "    }\n)"
            )
        assert isinstance(stmt, cst.SimpleStatementLine)
        return stmt.with_changes(
            leading_lines=pending.leading_lines, trailing_whitespace=pending.trailing
        )

    @staticmethod
    def body_send(body: str, more: bool) -> cst.BaseStatement:
        more_text = ', "more_body": True' if more else ""
        return _stmt(f'await send({{"type": "http.response.body", "body": {body}{more_text}}})')

    def collector(self) -> str:
        """The local name of the ``asgi_helpers.StartResponse`` of this function (one name
        for every return that needs one: each assigns it just before its use)."""
        if self.collector_name is None:
            self.collector_name = self.fresh("response")
        return self.collector_name

    def collector_return(
        self,
        stmt: cst.SimpleStatementLine,
        node: cst.Return,
        start: cst.Call,
        body: cst.BaseExpression,
        leading_lines: Sequence[cst.EmptyLine],
        out: list[cst.BaseStatement],
        trailing: cst.TrailingWhitespace | None = None,
    ) -> State:
        """``return BODY`` -> three statements::

        response = asgi_helpers.StartResponse(...)    # ``start``, with its arguments
        body = BODY
        return await response.send(send, body)
        """
        response = self.collector()
        if self.body_name is None:
            self.body_name = self.fresh("body")
        assign = cst.SimpleStatementLine(
            body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(response))], value=start)],
            leading_lines=leading_lines,
        )
        if trailing is not None:
            assign = assign.with_changes(trailing_whitespace=trailing)
        out.append(assign)
        out.append(
            cst.SimpleStatementLine(
                body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(self.body_name))], value=body)]
            )
        )
        sent = _expr(f"await {response}.send(send, {self.body_name})")
        out.append(stmt.with_changes(body=[node.with_changes(value=sent)], leading_lines=()))
        self.collector_uses += 1
        return TERMINATED

    def bare_return(self) -> cst.BaseStatement:
        stmt = _stmt("return")
        self.generated_returns.add(id(stmt))
        return stmt

    # -- the walk -----------------------------------------------------------------------

    def has_ops(self, node: cst.CSTNode) -> bool:
        if analysis.contains_yield(node) or mentions(node, self.start_response, into_scopes=False):
            return True
        if self.write and mentions(node, self.write, into_scopes=False):
            return True
        return any(isinstance(n, cst.Return) for n in analysis.walk(node, into_scopes=False))

    def check_between(self, node: cst.CSTNode, state: State) -> None:
        pending = state.pending if isinstance(state, MaybeStarted) else state
        if isinstance(pending, Pending) and analysis.names_in(node) & pending.names:
            raise Unconvertible(
                "code between start_response and the body uses the names it was given"
            )

    def merge(self, states: Sequence[State]) -> State:
        live = [s for s in states if s is not TERMINATED]
        if not live:
            return TERMINATED
        if all(s is live[0] for s in live):
            return live[0]
        maybe = next((s for s in live if isinstance(s, MaybeStarted)), None)
        if maybe is not None and all(s is maybe or s is STARTED for s in live):
            return maybe  # the branches that sent the start set its flag
        raise Unconvertible("start_response and the body are on different paths")

    def flush(self, state: State, out: list[cst.BaseStatement]) -> None:
        if isinstance(state, Pending):
            out.append(self.start_send(state))
        elif isinstance(state, MaybeStarted):
            out.append(self.start_unless_sent(state))

    def start_flag(
        self,
        pending: Pending,
        out: list[cst.BaseStatement],
        leading: Sequence[cst.EmptyLine] = (),
    ) -> MaybeStarted:
        """``started = False`` added to ``out``: from here the first chunk sends the start."""
        flag = self.fresh("started")
        out.append(_stmt(f"{flag} = False").with_changes(leading_lines=leading))
        return MaybeStarted(pending, flag)

    def start_unless_sent(
        self, state: MaybeStarted, leading: Sequence[cst.EmptyLine] = ()
    ) -> cst.BaseStatement:
        """``if not started: await send(start); started = True``."""
        send = self.start_send(state.pending).with_changes(leading_lines=())
        return cst.If(
            test=_expr(f"not {state.flag}"),
            body=cst.IndentedBlock(body=[send, _stmt(f"{state.flag} = True")]),
            leading_lines=leading,
        )

    def block(
        self, stmts: Sequence[cst.BaseStatement], state: State
    ) -> tuple[list[cst.BaseStatement], State]:
        out: list[cst.BaseStatement] = []
        for stmt in stmts:
            if state is TERMINATED:
                out.append(stmt)  # unreachable code, kept as is
                continue
            if isinstance(stmt, cst.SimpleStatementLine):
                state = self.simple(stmt, state, out)
            else:
                state = self.compound(stmt, state, out)
        return out, state

    def suite(self, suite: cst.BaseSuite, state: State) -> tuple[cst.BaseSuite, State]:
        if isinstance(suite, cst.SimpleStatementSuite):
            if not self.has_ops(suite):
                self.check_between(suite, state)
                return suite, state
            suite = cst.IndentedBlock(
                body=[cst.SimpleStatementLine(body=[s]) for s in suite.body],
            )
        assert isinstance(suite, cst.IndentedBlock)
        body, state = self.block(suite.body, state)
        if not body:
            body = [_stmt("pass")]
        return suite.with_changes(body=body), state

    def simple(
        self, stmt: cst.SimpleStatementLine, state: State, out: list[cst.BaseStatement]
    ) -> State:
        if len(stmt.body) != 1:
            if self.has_ops(stmt):
                raise Unconvertible("start_response or the body share a line with other code")
            self.check_between(stmt, state)
            out.append(stmt)
            return state
        small = stmt.body[0]
        sr = self.start_response
        # start_response(status, headers) / write = start_response(status, headers)
        call: cst.BaseExpression | None = None
        write: str | None = None
        if isinstance(small, cst.Expr):
            call = small.value
        elif (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
        ):
            call = small.value
            write = small.targets[0].target.value
        if isinstance(call, cst.Call) and is_plain_name(call.func, sr):
            args = call.args
            if len(args) == 3 or any(a.keyword and a.keyword.value == "exc_info" for a in args):
                raise Unconvertible("start_response is called with exc_info")
            if len(args) != 2 or any(a.keyword is not None or a.star for a in args):
                raise Unconvertible("start_response is called with unusual arguments")
            if state is not NOT_STARTED:
                raise Unconvertible("start_response may be called twice")
            if write is not None:
                if self.write not in (None, write):
                    raise Unconvertible("several write() callables")
                self.write = write
            names = analysis.names_in(call)
            return Pending(
                args[0].value,
                args[1].value,
                names,
                stmt.leading_lines,
                stmt.trailing_whitespace,
                call,
            )
        # return
        if isinstance(small, cst.Return):
            return self.return_(stmt, small, state, out)
        # yield chunk / write(chunk)
        chunk: cst.BaseExpression | None = None
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Yield):
            if small.value.value is None or isinstance(small.value.value, cst.From):
                raise Unconvertible("yields something other than a chunk")
            chunk = small.value.value
        elif (
            isinstance(small, cst.Expr)
            and isinstance(small.value, cst.Call)
            and self.write is not None
            and is_plain_name(small.value.func, self.write)
            and len(small.value.args) == 1
            and small.value.args[0].keyword is None
            and not small.value.args[0].star
        ):
            chunk = small.value.args[0].value
        if chunk is not None:
            if state is NOT_STARTED:
                raise Unconvertible("sends body before start_response")
            if _is_text(chunk):
                raise Unconvertible(
                    "sends text (str) as the body, which WSGI servers refuse (PEP 3333 wants bytes)"
                )
            lead: Sequence[cst.EmptyLine] = stmt.leading_lines
            if isinstance(state, (Pending, MaybeStarted)):
                if not _is_safe(chunk):
                    name = self.fresh("chunk")
                    out.append(_stmt(f"{name} = {_code(chunk)}").with_changes(leading_lines=lead))
                    lead = ()
                    chunk = cst.Name(name)
                if isinstance(state, MaybeStarted):
                    out.append(self.start_unless_sent(state, lead))
                else:
                    out.append(
                        self.start_send(state).with_changes(
                            leading_lines=[*state.leading_lines, *lead]
                        )
                    )
                lead = ()
            out.append(self.body_send(_code(chunk), True).with_changes(leading_lines=lead))
            return STARTED
        if isinstance(small, cst.Raise):
            out.append(stmt)
            return TERMINATED
        if self.has_ops(stmt):
            raise Unconvertible(
                "start_response, write() or a yield is used in a way the rule cannot follow"
            )
        self.check_between(stmt, state)
        out.append(stmt)
        return state

    def return_(
        self,
        stmt: cst.SimpleStatementLine,
        node: cst.Return,
        state: State,
        out: list[cst.BaseStatement],
    ) -> State:
        if (
            isinstance(node.value, cst.Call)
            and analysis.dotted_name(node.value.func) in self.delegates
        ):
            return self.delegate_return(stmt, node, node.value, state, out)
        if (
            isinstance(node.value, cst.Call)
            and analysis.dotted_name(node.value.func) in self.collected
            and any(is_plain_name(a.value, self.start_response) for a in node.value.args)
        ):
            return self.collected_return(stmt, node, node.value, state, out)
        if state is NOT_STARTED:
            raise Unconvertible("returns without calling start_response first")
        if isinstance(state, MaybeStarted) and not self.generator:
            raise Unconvertible("start_response and the body are on different paths")
        if self.generator:
            if node.value is not None:
                raise Unconvertible("the generator returns a value")
            self.flush(state, out)
            out.append(self.body_send('b""', False).with_changes(leading_lines=stmt.leading_lines))
            out.append(self.bare_return())
            return TERMINATED
        value = node.value
        if isinstance(value, cst.GeneratorExp):
            return self.generator_return(stmt, value, state, out)
        if isinstance(value, cst.Call) and (
            analysis.dotted_name(value.func) in {*self.file_wrappers, f"{HELPERS}.FileWrapper"}
        ):
            return self.file_return(stmt, value, state, out)
        if not isinstance(value, (cst.List, cst.Tuple)) or not all(
            isinstance(e, cst.Element) for e in value.elements
        ):
            if (
                self.collects
                and isinstance(state, Pending)
                and state.call is not None
                and value is not None
                and not self.guarded
            ):
                # sent as a WSGI server would: start before the first non-empty chunk, close()
                start = state.call.with_changes(func=_expr(f"{HELPERS}.StartResponse"))
                return self.collector_return(
                    stmt,
                    node,
                    start,
                    value,
                    [*state.leading_lines, *stmt.leading_lines],
                    out,
                    state.trailing,
                )
            raise Unconvertible("returns an iterable the rule cannot see into")
        chunks = [e.value for e in value.elements]
        if any(_is_text(c) for c in chunks):
            raise Unconvertible(
                "returns text (str) as the body, which WSGI servers refuse (PEP 3333 wants bytes)"
            )
        lead = list(stmt.leading_lines)
        if isinstance(state, Pending) and not all(_is_safe(c) for c in chunks):
            name = self.fresh("body")
            codes = ", ".join(_code(c) for c in chunks)
            joined = _code(chunks[0]) if len(chunks) == 1 else f'b"".join([{codes}])'
            out.append(_stmt(f"{name} = {joined}").with_changes(leading_lines=lead))
            lead = []
            chunks = [cst.Name(name)]
        if isinstance(state, Pending):
            out.append(
                self.start_send(state).with_changes(leading_lines=[*state.leading_lines, *lead])
            )
            lead = []
        sends = [self.body_send(_code(c), True) for c in chunks[:-1]]
        sends.append(self.body_send(_code(chunks[-1]) if chunks else 'b""', False))
        sends[0] = sends[0].with_changes(leading_lines=lead)
        out.extend(sends)
        out.append(self.bare_return())
        return TERMINATED

    def file_return(
        self,
        stmt: cst.SimpleStatementLine,
        call: cst.Call,
        state: State,
        out: list[cst.BaseStatement],
    ) -> State:
        """``return wrapper(open(path, "rb"), size)`` after start_response -> the file made
        first (an error opening it is still an error before the response), the start, then
        its blocks read in the thread pool and sent (``asgi_helpers.send_file``)."""
        if not isinstance(state, Pending) or self.guarded:
            raise Unconvertible("returns wsgi.file_wrapper's result where the rule cannot follow")
        name = self.fresh("file")
        made = call.with_changes(func=_expr(f"{HELPERS}.FileWrapper"))
        out.append(_stmt(f"{name} = {_code(made)}").with_changes(leading_lines=stmt.leading_lines))
        out.append(self.start_send(state).with_changes(leading_lines=state.leading_lines))
        out.append(_stmt(f"await {HELPERS}.send_file(send, {name})"))
        out.append(self.bare_return())
        return TERMINATED

    def generator_return(
        self,
        stmt: cst.SimpleStatementLine,
        value: cst.GeneratorExp,
        state: State,
        out: list[cst.BaseStatement],
    ) -> State:
        """``return (chunk for x in items)`` -> the loop the server would have run over it:
        ``for x in items: await send(chunk)``, the start with the first chunk when it is
        still pending (a run-time flag), the end of the body after the loop."""
        comp = value.for_in
        if comp.inner_for_in is not None or comp.asynchronous is not None or len(comp.ifs) > 1:
            raise Unconvertible("returns a generator expression with several loops")
        if _is_text(value.elt):
            raise Unconvertible(
                "returns text (str) as the body, which WSGI servers refuse (PEP 3333 wants bytes)"
            )
        self.check_between(comp.iter, state)
        lead: Sequence[cst.EmptyLine] = stmt.leading_lines  # the return's comments
        if isinstance(state, Pending):
            state = self.start_flag(state, out, lead)
            lead = ()
        chunk = self.fresh("chunk")
        sends: list[cst.BaseStatement] = [_stmt(f"{chunk} = {_code(value.elt)}")]
        if isinstance(state, MaybeStarted):
            sends.append(self.start_unless_sent(state))
        sends.append(self.body_send(chunk, True))
        body: cst.BaseSuite = cst.IndentedBlock(body=sends)
        if comp.ifs:
            body = cst.IndentedBlock(
                body=[cst.If(test=comp.ifs[0].test, body=cst.IndentedBlock(body=sends))]
            )
        loop = cst.For(target=comp.target, iter=comp.iter, body=body)
        out.append(loop.with_changes(leading_lines=lead))
        self.flush(state, out)
        out.append(self.body_send('b""', False))
        out.append(self.bare_return())
        return TERMINATED

    def check_handing_on(self, name: str, state: State) -> None:
        """``return name(..., start_response, ...)`` can become ASGI only where the callee
        then produces the whole response."""
        if self.generator:
            raise Unconvertible(f"the generator returns the response of `{name}()`")
        if state is not NOT_STARTED:
            raise Unconvertible(
                f"start_response may be called before it is handed to `{name}()` (twice)"
            )
        if self.guarded:
            raise Unconvertible(
                f"`{name}()` is handed start_response inside a try or with block (once ASGI, "
                "its whole response would be produced inside the block)"
            )

    def delegate_return(
        self,
        stmt: cst.SimpleStatementLine,
        node: cst.Return,
        call: cst.Call,
        state: State,
        out: list[cst.BaseStatement],
    ) -> State:
        """``return f(environ, start_response, *extra)`` -> ``return await f(scope, receive,
        send, *extra)``; ``return helper(start_response, ...)`` -> ``return await helper(send,
        ...)``. The callee produces the whole response."""
        name = analysis.dotted_name(call.func)
        assert name is not None
        delegate = self.delegates[name]
        self.check_handing_on(name, state)
        args = list(call.args)
        sr_arg = args[delegate.start_response]
        args[delegate.start_response] = sr_arg.with_changes(value=cst.Name("send"))
        if delegate.environ is not None:
            env_arg = args[delegate.environ]
            receive = cst.Arg(cst.Name("receive"), comma=env_arg.comma)
            args[delegate.environ] = env_arg.with_changes(
                value=cst.Name("scope"),
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
            )
            args.insert(delegate.environ + 1, receive)
        awaited = cst.Await(expression=call.with_changes(args=args))
        out.append(stmt.with_changes(body=[node.with_changes(value=awaited)]))
        return TERMINATED

    def collected_return(
        self,
        stmt: cst.SimpleStatementLine,
        node: cst.Return,
        call: cst.Call,
        state: State,
        out: list[cst.BaseStatement],
    ) -> State:
        """``return json_response(start_response, ...)`` (a response helper of another module)
        -> ``response = asgi_helpers.StartResponse()`` and ``return await response.send(send,
        json_response(response, ...))``: the helper, unchanged, calls the collector."""
        name = analysis.dotted_name(call.func)
        self.check_handing_on(name, state)
        response = self.collector()
        args = [
            arg.with_changes(value=cst.Name(response))
            if is_plain_name(arg.value, self.start_response)
            else arg
            for arg in call.args
        ]
        start = _expr(f"{HELPERS}.StartResponse()")
        assert isinstance(start, cst.Call)
        return self.collector_return(
            stmt, node, start, call.with_changes(args=args), stmt.leading_lines, out
        )

    def compound(
        self, stmt: cst.BaseStatement, state: State, out: list[cst.BaseStatement]
    ) -> State:
        if self.collects and isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            # its returns and yields are its own (convert_callable already refused a nested
            # function that uses the environ or start_response)
            self.check_between(stmt, state)
            out.append(stmt)
            return state
        if not self.has_ops(stmt):
            self.check_between(stmt, state)
            out.append(stmt)
            return state
        if isinstance(stmt, cst.If):
            new_if, merged = self.if_(stmt, state, top=True)
            if isinstance(merged, MaybeStarted) and merged is not state:
                # the flag the branches that send the start set, False before the if
                init = _stmt(f"{merged.flag} = False").with_changes(
                    leading_lines=new_if.leading_lines
                )
                out.append(init)
                new_if = new_if.with_changes(leading_lines=())
            out.append(new_if)
            return merged
        if isinstance(stmt, cst.With):
            for item in stmt.items:
                self.check_between(item, state)
            self.guarded += 1
            try:
                body, state = self.suite(stmt.body, state)
            finally:
                self.guarded -= 1
            out.append(stmt.with_changes(body=body))
            return state
        if isinstance(stmt, (cst.For, cst.While)):
            return self.loop(stmt, state, out)
        if isinstance(stmt, cst.Try):
            return self.try_(stmt, state, out)
        raise Unconvertible(f"the response is produced inside a `{type(stmt).__name__}` statement")

    def if_(self, node: cst.If, state: State, top: bool = False) -> tuple[cst.If, State]:
        if self.has_ops(node.test):
            raise Unconvertible("start_response or a yield inside a condition")
        self.check_between(node.test, state)
        body, s_body = self.suite(node.body, state)
        orelse: cst.If | cst.Else | None = node.orelse
        s_else: State = state
        if isinstance(node.orelse, cst.If):
            orelse, s_else = self.if_(node.orelse, state)
        elif isinstance(node.orelse, cst.Else):
            else_body, s_else = self.suite(node.orelse.body, state)
            orelse = node.orelse.with_changes(body=else_body)
        live = [s for s in (s_body, s_else) if s is not TERMINATED]
        if (
            top
            and isinstance(state, Pending)
            and STARTED in live
            and state in live
            and all(s is STARTED or s is state for s in live)
            and not isinstance(node.orelse, cst.If)
        ):
            # one way sent the start with its first chunk, the other did not yet
            flag = self.fresh("started")
            body = _with_last(body, _stmt(f"{flag} = True")) if s_body is STARTED else body
            if s_else is STARTED and isinstance(orelse, cst.Else):
                orelse = orelse.with_changes(body=_with_last(orelse.body, _stmt(f"{flag} = True")))
            return node.with_changes(body=body, orelse=orelse), MaybeStarted(state, flag)
        return node.with_changes(body=body, orelse=orelse), self.merge([s_body, s_else])

    def loop(self, node: cst.For | cst.While, state: State, out: list[cst.BaseStatement]) -> State:
        header: cst.CSTNode = node.iter if isinstance(node, cst.For) else node.test
        if self.has_ops(header) or (isinstance(node, cst.For) and self.has_ops(node.target)):
            raise Unconvertible("start_response or a yield inside a loop header")
        if isinstance(state, (Pending, MaybeStarted)):
            first = node.body.body[0] if isinstance(node.body, cst.IndentedBlock) else None
            first_chunk = self._chunk_of(first)
            self.check_between(header, state)
            if (
                isinstance(node, cst.For)
                and _is_safe(node.iter)
                and first_chunk is not None
                and _is_safe(first_chunk)
            ):
                self.flush(state, out)  # nothing before the first chunk can fail: send now
                state = STARTED
            elif isinstance(state, Pending):
                # the first step may fail before any chunk (a 500 under WSGI): the first chunk
                # sends the start, a flag says whether it went
                state = self.start_flag(state, out)
        body, s_body = self.suite(node.body, state)
        allowed = (
            (state, TERMINATED, STARTED) if isinstance(state, MaybeStarted) else (state, TERMINATED)
        )
        if s_body not in allowed:
            raise Unconvertible("start_response is called inside a loop")
        orelse = node.orelse
        s_out: State = state
        if orelse is not None:
            else_body, s_out = self.suite(orelse.body, state)
            orelse = orelse.with_changes(body=else_body)
        out.append(node.with_changes(body=body, orelse=orelse))
        return s_out

    def _chunk_of(self, stmt: cst.BaseStatement | None) -> cst.BaseExpression | None:
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            return None
        small = stmt.body[0]
        if not isinstance(small, cst.Expr):
            return None
        if isinstance(small.value, cst.Yield) and isinstance(small.value.value, cst.BaseExpression):
            return small.value.value
        if (
            isinstance(small.value, cst.Call)
            and self.write is not None
            and is_plain_name(small.value.func, self.write)
            and len(small.value.args) == 1
        ):
            return small.value.args[0].value
        return None

    def _only_handed_on(self, node: cst.Try) -> bool:
        """The try's body produces responses only as ``return helper(start_response, ...)``
        (the helper sends start and body at once, nothing of the body runs between them),
        and no handler can catch what ``send`` raises (an ``OSError``, a ``RuntimeError``,
        a cancellation): a handler then runs exactly when it ran under WSGI, before any
        response went out."""
        if analysis.contains_yield(node.body):
            return False
        for sub in analysis.walk(node.body, into_scopes=False):
            if isinstance(sub, cst.Call) and (
                is_plain_name(sub.func, self.start_response)
                or (self.write is not None and is_plain_name(sub.func, self.write))
            ):
                return False
        handing = {
            id(arg.value)
            for sub in analysis.walk(node.body, into_scopes=False)
            if isinstance(sub, cst.Return) and isinstance(sub.value, cst.Call)
            for arg in sub.value.args
        }
        for sub in analysis.walk(node.body, into_scopes=False):
            if (
                isinstance(sub, cst.Name)
                and sub.value == self.start_response
                and id(sub) not in handing
            ):
                return False  # start_response handed on otherwise than in a return
        return all(_narrow_handler(handler) for handler in node.handlers)

    def try_(self, node: cst.Try, state: State, out: list[cst.BaseStatement]) -> State:
        if node.finalbody is not None and self.has_ops(node.finalbody):
            raise Unconvertible("the response is produced in a finally block")
        # a ``finally`` (closing a connection) then runs once the response went out, where
        # under WSGI it ran once the body was made: nothing the client sees changes
        handed_on = self._only_handed_on(node)
        if node.handlers and self.has_ops(node.body) and not handed_on:
            raise Unconvertible("the response is produced inside a try block with except handlers")
        # the helpers a return hands start_response to send the whole response in the body
        self.guarded += 0 if handed_on else 1
        try:
            body, s_body = self.suite(node.body, state)
        finally:
            self.guarded -= 0 if handed_on else 1
        # handlers and else run inside the finally block, if there is one
        outer = 1 if node.finalbody is not None else 0
        self.guarded += outer
        try:
            states = [s_body]
            handlers = []
            for handler in node.handlers:
                h_body, s_h = self.suite(handler.body, state)
                handlers.append(handler.with_changes(body=h_body))
                states.append(s_h)
            orelse = node.orelse
            if orelse is not None:
                else_body, s_else = self.suite(orelse.body, s_body)
                orelse = orelse.with_changes(body=else_body)
                states[0] = s_else
        finally:
            self.guarded -= outer
        out.append(node.with_changes(body=body, handlers=handlers, orelse=orelse))
        return self.merge(states)


#: Exception types a handler may name that catch what an ASGI ``send`` can raise.
_SEND_ERRORS = frozenset(
    {
        "BaseException", "Exception", "OSError", "IOError", "EnvironmentError", "error",
        "RuntimeError", "CancelledError", "ConnectionError", "ConnectionResetError",
        "ConnectionAbortedError", "BrokenPipeError", "ClientDisconnected",
    }
)  # fmt: skip


def _narrow_handler(handler: cst.ExceptHandler) -> bool:
    """``except SomeError:`` naming only types that cannot catch a failed ``send``."""
    if handler.type is None:
        return False
    types = (
        [e.value for e in handler.type.elements]
        if isinstance(handler.type, cst.Tuple)
        else [handler.type]
    )
    return all(
        isinstance(t, (cst.Name, cst.Attribute))
        and analysis.dotted_name(t).rsplit(".", 1)[-1] not in _SEND_ERRORS
        for t in types
    )


def _bytes_literal(data: bytes) -> str:
    """``b"..."`` with double quotes, escaping what needs it."""
    text = "".join(
        chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in data
    )
    return f'b"{text}"'


def _header_bytes(node: cst.BaseExpression, is_name: bool) -> str:
    value = string_value(node)
    if value is not None:
        if is_name:
            value = value.lower()
        try:
            return _bytes_literal(value.encode("latin-1"))
        except UnicodeEncodeError:
            raise Unconvertible("a response header is not latin-1") from None
    code = _code(node)
    if not isinstance(
        node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.FormattedString)
    ):
        code = f"({code})"
    return f'{code}.lower().encode("latin-1")' if is_name else f'{code}.encode("latin-1")'


# --------------------------------------------------------------------------- the rule


@dataclass
class Conversion:
    node: cst.FunctionDef
    details: list[str]
    use: EnvironUse
    #: what the module must import for blocking calls moved off the loop
    imports: list[tuple[str, str | None]] = field(default_factory=list)


def convert_callable(
    func: cst.FunctionDef,
    environ: str,
    start_response: str,
    *,
    method: bool,
    aliases: dict[str, str],
    helpers: dict[str, set[int]],
    delegates: Mapping[str, Delegate] | None = None,
    role: Literal["app", "helper"] = "app",
    middleware: set[str] | frozenset[str] = frozenset(),
    imported: ImportedHelpers | None = None,
    blocking: ModuleFacts | None = None,
    cls: cst.ClassDef | None = None,
) -> Conversion:
    """The ASGI version of one WSGI callable, or :class:`Unconvertible`.

    With ``blocking`` (the module's facts for :mod:`migrate.blocking`), the calls of the
    new async function that may block are moved off the event loop (``cls``: the class
    whose method it is); where that cannot be done faithfully it is Unconvertible.

    With ``delegates`` (the members of its call group, converted with it), ``return
    f(environ, start_response, *extra)`` calls of them become ``return await f(scope, receive,
    send, *extra)``. ``role="helper"``: ``func`` is a response helper, which gets
    ``start_response`` (its parameter of that name becomes ``send``) but no environ (pass
    ``""``); an app (``role="app"``) may take extra parameters after the two WSGI ones.
    Decorators are kept when they are all ASGI middleware (``middleware``, from
    :func:`analysis.middleware_names`): they then get the ASGI app they expect.

    With ``imported`` (knowledge of the other modules of the run), the environ may be handed
    to environ readers of other modules (they get one built from the scope), start_response
    to their response helpers (they get an ``asgi_helpers.StartResponse``), and an iterable
    returned after start_response is sent through a StartResponse too."""
    delegates = delegates or {}
    if imported is not None:
        imported = imported.inside(func)
    static = role == "helper" and [analysis.dotted_name(d.decorator) for d in func.decorators] == [
        "staticmethod"
    ]
    if (
        func.decorators
        and not static
        and len(_middleware_decorators(func, middleware)) != len(func.decorators)
    ):
        raise Unconvertible("it is decorated (the decorator expects a WSGI callable)")
    if not isinstance(func.body, cst.IndentedBlock):
        raise Unconvertible("it is written on one line")
    taken = analysis.names_in(func.body) & {"scope", "receive", "send", HELPERS}
    if taken:
        raise Unconvertible(f"it already uses the name(s) {', '.join(sorted(taken))}")
    for node in analysis.walk(func.body):
        if node is func.body:
            continue
        if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)) and (
            mentions(node, environ) or mentions(node, start_response)
        ):
            raise Unconvertible("a nested function uses the environ or start_response")
    returned = {
        id(n.value) for n in analysis.walk(func.body) if isinstance(n, cst.Return) and n.value
    }
    hands_request_on = False
    collected: set[str] = set()
    for node in analysis.walk(func.body):
        if isinstance(node, cst.Call) and any(
            is_plain_name(a.value, start_response) for a in node.args
        ):
            callee = analysis.dotted_name(node.func) or "other code"
            delegate = delegates.get(callee) if isinstance(node.func, cst.Name) else None
            lookup = imported.lookup(callee) if imported is not None and delegate is None else None
            if lookup is not None:
                _check_collector_call(node, callee, lookup, start_response, id(node) in returned)
                collected.add(callee)
                continue
            if delegate is None:
                raise Unconvertible(f"it hands start_response to `{callee}()`")
            _check_delegate_call(node, delegate, environ, start_response, id(node) in returned)
            hands_request_on = hands_request_on or delegate.environ is not None
    other_params = {p.name.value for p in analysis.positional_params(func) or []}
    taken = (other_params - {environ, start_response}) & {"scope", "receive", "send"}
    if taken:
        raise Unconvertible(f"it already uses the name(s) {', '.join(sorted(taken))}")
    scope_changes = ScopeChanges(environ, aliases)
    prepared = func.body.visit(scope_changes)
    assert isinstance(prepared, cst.IndentedBlock)
    if environ in analysis.written_names(prepared):
        raise Unconvertible(f"it writes to `{environ}` (the environ)")
    if start_response in analysis.written_names(prepared):
        raise Unconvertible(f"it rebinds `{start_response}`")
    generator = analysis.contains_yield(prepared)

    rewriter = EnvironRewriter(environ, start_response, aliases, helpers, delegates, imported)
    rewriter.environ_at_call = scope_changes.changes_scope
    body = prepared.visit(rewriter)
    assert isinstance(body, cst.IndentedBlock)
    use = rewriter.use
    writes = scope_changes.writes
    if writes.count and not (hands_request_on or use.needs_environ):
        raise Unconvertible(
            f"it sets environ[{writes.keys[0]!r}] without handing the request on: only the "
            "code around it could read that, which an ASGI app cannot give it"
        )
    if use.needs_body and scope_changes.changes_scope:
        raise Unconvertible(
            "it changes the request (path or environ keys) and hands the environ to a helper "
            "that reads the request body"
        )
    if use.streams and (use.body_reads or use.needs_body):
        raise Unconvertible("reads the request body both as a stream and whole")
    if (
        (use.body_reads or use.streams)
        and hands_request_on
        and _may_follow(body.body, rewriter.body_read_results, _handing_on_calls(body, delegates))
    ):
        raise Unconvertible("it reads the request body and hands the request on")
    if use.needs_body and hands_request_on:
        raise Unconvertible(
            "it hands the environ to a helper that reads the request body, and hands the request on"
        )
    if use.needs_body and use.body_reads:
        raise Unconvertible(
            "it reads the request body and hands the environ to a helper that reads it too"
        )

    stmts = list(body.body)
    docstring: list[cst.BaseStatement] = []
    if stmts and is_docstring(stmts[0]):
        docstring = [stmts.pop(0)]
    responder = ResponseRewriter(
        start_response,
        generator,
        analysis.names_in(func),
        delegates=delegates,
        collected=frozenset(collected),
        collects=imported is not None,
        file_wrappers=bound_once(use.file_wrappers, body),
    )
    new_stmts, state = responder.block(stmts, NOT_STARTED)
    if generator:
        if state is NOT_STARTED:
            raise Unconvertible("the generator may finish without calling start_response")
        if state is not TERMINATED:
            responder.flush(state, new_stmts)
            new_stmts.append(responder.body_send('b""', False))
    elif state is not TERMINATED:
        raise Unconvertible("a path ends without returning a body")
    if new_stmts and id(new_stmts[-1]) in responder.generated_returns:
        new_stmts.pop()
    leftover = cst.IndentedBlock(body=new_stmts)
    if mentions(leftover, start_response) or (
        responder.write and mentions(leftover, responder.write)
    ):
        raise Unconvertible("start_response or write() is handed to other code")

    prologue: list[cst.BaseStatement] = []
    if role == "app":
        prologue.append(
            _stmt(
                'if scope["type"] != "http":\n'
                f"    return await {HELPERS}.handle_non_http(scope, receive, send)\n"
            )
        )
    if rewriter.environ_at_call:
        pass  # each helper gets an environ built at its call
    elif use.needs_environ and use.needs_body:
        prologue.append(
            _stmt(f"{environ} = {HELPERS}.build_environ(scope, await {HELPERS}.read_body(receive))")
        )
    elif use.needs_environ:
        prologue.append(_stmt(f"{environ} = {HELPERS}.build_environ(scope)"))
    first = new_stmts[0] if new_stmts else None
    if (
        prologue
        and isinstance(first, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
        and not docstring
    ):
        # keep the comments above the first statement above the guard
        prologue[0] = prologue[0].with_changes(leading_lines=first.leading_lines)
        new_stmts[0] = first.with_changes(leading_lines=())
    old_params = analysis.positional_params(func) or []
    params = [cst.Param(cst.Name(n)) for n in ("scope", "receive", "send")]
    if method:
        params.insert(0, cst.Param(old_params[0].name))
    elif role == "helper":
        params = [
            cst.Param(cst.Name("send")) if p.name.value == start_response else p for p in old_params
        ]
    else:
        params.extend(old_params[2:])
    new_func = func.with_changes(
        asynchronous=cst.Asynchronous(),
        params=cst.Parameters(params=_last_without_comma(params)),
        returns=None,
        body=body.with_changes(body=[*docstring, *prologue, *new_stmts]),
    )
    details = []
    if use.reads:
        details.append(f"{use.reads} environ read{'s' if use.reads != 1 else ''}")
    if writes.count:
        details.append("environ writes become a changed copy of the scope")
    if use.wsgiref or use.shifts:
        details.append("wsgiref.util helpers")
    if use.body_reads:
        details.append("request body read from receive()")
    if use.streams:
        details.append("request body streamed to code that reads it off the loop")
    if generator or responder.write:
        details.append("streamed body")
    if use.needs_environ:
        details.append("helpers get an environ built from the scope")
    if responder.collector_uses:
        details.append("WSGI responses sent through asgi_helpers.StartResponse")
    imports: list[tuple[str, str | None]] = []
    if blocking is not None:
        new_func, imports = off_the_loop(new_func, blocking, cls, details)
    return Conversion(new_func, details, use, imports)


def bound_once(names: set[str], body: cst.CSTNode) -> frozenset[str]:
    """Those of ``names`` that ``body`` binds exactly once (a plain ``name = ...``)."""
    counts: dict[str, int] = {}
    for node in analysis.walk(body):
        targets: list[cst.BaseExpression] = []
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor)):
            targets = [node.target]
        elif isinstance(node, (cst.AsName, cst.NamedExpr)):
            targets = [node.name if isinstance(node, cst.AsName) else node.target]
        for target in targets:
            for name in analysis.names_in(target) & names:
                counts[name] = counts.get(name, 0) + 1
    return frozenset(name for name in names if counts.get(name) == 1)


def _handing_on_calls(body: cst.CSTNode, delegates: Mapping[str, Delegate]) -> set[int]:
    """The calls under ``body`` (rewritten) that hand the request to a member of the group."""
    return {
        id(node)
        for node in analysis.walk(body)
        if isinstance(node, cst.Call)
        and (delegate := delegates.get(analysis.dotted_name(node.func) or "")) is not None
        and delegate.environ is not None
    }


def _may_follow(stmts: Sequence[cst.BaseStatement], first: set[int], then: set[int]) -> bool:
    """Whether a node of ``then`` may run after a node of ``first`` (both sets of ids of
    nodes under ``stmts``), following branches: a branch that ends with ``return`` or
    ``raise`` does not go on. Loops and ``try`` are taken whole (conservative)."""

    def has(node: cst.CSTNode, ids: set[int]) -> bool:
        return any(id(n) in ids for n in analysis.walk(node))

    def flow(block: Sequence[cst.BaseStatement], after: bool) -> tuple[bool | None, bool]:
        """(whether a ``first`` node ran on a path that goes on -- None: no path goes on,
        whether a ``then`` node may follow one)"""
        state: bool | None = after
        for stmt in block:
            if state is None:
                return None, False  # unreachable
            if isinstance(stmt, cst.If):
                if has(stmt.test, first):
                    state = True
                if state and has(stmt.test, then):
                    return state, True
                taken, follows = flow(suite_statements(stmt.body), state)
                if follows:
                    return taken, True
                if stmt.orelse is None:
                    other: bool | None = state
                elif isinstance(stmt.orelse, cst.If):
                    other, follows = flow([stmt.orelse], state)
                else:
                    other, follows = flow(suite_statements(stmt.orelse.body), state)
                if follows:
                    return other, True
                state = None if taken is None and other is None else bool(taken or other)
                continue
            if isinstance(stmt, cst.BaseCompoundStatement):
                if has(stmt, first) and has(stmt, then):
                    return True, True
                if state and has(stmt, then):
                    return state, True
                state = state or has(stmt, first)
                continue
            if state and has(stmt, then):
                return state, True
            state = state or has(stmt, first)
            assert isinstance(stmt, cst.SimpleStatementLine)
            if any(isinstance(small, (cst.Return, cst.Raise)) for small in stmt.body):
                state = None
        return state, False

    return flow(stmts, False)[1]


def off_the_loop(
    func: cst.FunctionDef, blocking: ModuleFacts, cls: cst.ClassDef | None, details: list[str]
) -> tuple[cst.FunctionDef, list[tuple[str, str | None]]]:
    """``func`` (made async) with its blocking calls moved off the event loop
    (:mod:`migrate.blocking`), and the imports that needs; what moved is added to
    ``details``. Unconvertible where that cannot be done faithfully."""
    try:
        offloaded = offload_blocking(func, blocking, cls=cls)
    except CannotOffload as why:
        raise Unconvertible(str(why)) from None
    if offloaded.detail():
        details.append(offloaded.detail())
    return offloaded.node, offloaded.imports


def _middleware_decorators(
    func: cst.FunctionDef | cst.ClassDef, middleware: set[str] | frozenset[str]
) -> list[cst.Decorator]:
    """The outermost decorators of ``func`` that are ASGI middleware (``@auth``,
    ``@require("x")``): they wrap whatever the decorators below them make."""
    found: list[cst.Decorator] = []
    for decorator in func.decorators:
        expr = decorator.decorator
        callee = expr.func if isinstance(expr, cst.Call) else expr
        if not middleware or analysis.dotted_name(callee) not in middleware:
            break
        found.append(decorator)
    return found


def _last_without_comma(params: list[cst.Param]) -> list[cst.Param]:
    if params and params[-1].comma is not cst.MaybeSentinel.DEFAULT:
        params[-1] = params[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return params


def _check_delegate_call(
    call: cst.Call, delegate: Delegate, environ: str, start_response: str, returned: bool
) -> None:
    """``call`` hands the environ and start_response to a member of the group exactly where
    the member takes them, and is what the function returns."""
    name = analysis.dotted_name(call.func)
    if not returned:
        raise Unconvertible(
            f"it calls `{name}()` with start_response other than as `return {name}(...)`"
        )
    expected = {delegate.start_response: start_response}
    if delegate.environ is not None:
        expected[delegate.environ] = environ
    last = max(expected)
    for index, arg in enumerate(call.args):
        if arg.star == "**" and index > last:
            # keyword arguments after the request (``**match.groupdict()``) fill the
            # member's own parameters, which keep their names
            if mentions(arg.value, start_response) or (environ and mentions(arg.value, environ)):
                raise Unconvertible(f"it hands `{name}()` the environ or start_response twice")
            continue
        if arg.star:
            raise Unconvertible(f"it calls `{name}()` with *args or **kwargs")
        wanted = expected.get(index)
        if wanted is not None:
            if arg.keyword is not None or not is_plain_name(arg.value, wanted):
                raise Unconvertible(f"it hands `{name}()` the environ or start_response unusually")
        elif mentions(arg.value, start_response) or (environ and is_plain_name(arg.value, environ)):
            raise Unconvertible(f"it hands `{name}()` the environ or start_response twice")
    if len(call.args) <= max(expected):
        raise Unconvertible(f"it hands `{name}()` the environ or start_response unusually")


def _check_collector_call(
    call: cst.Call, callee: str, lookup: Lookup, start_response: str, returned: bool
) -> None:
    """``call`` hands start_response to a response helper of another module (``lookup``) the
    way it can be handed an ``asgi_helpers.StartResponse`` instead: as a positional argument
    the helper only calls or hands to another such helper, in ``return helper(...)``."""
    helper = lookup.helper
    if helper is None:
        raise Unconvertible(
            f"it hands start_response to `{callee}()` from {lookup.module}, which {lookup.problem}"
        )
    if not returned:
        raise Unconvertible(
            f"it calls `{callee}()` with start_response other than as `return {callee}(...)`"
        )
    at = [i for i, a in enumerate(call.args) if mentions(a.value, start_response)]
    if (
        len(at) != 1
        or any(a.star for a in call.args)
        or call.args[at[0]].keyword is not None
        or not is_plain_name(call.args[at[0]].value, start_response)
        or at[0] not in helper.start_response_params
    ):
        raise Unconvertible(
            f"it hands start_response to `{callee}()` from {lookup.module} where that function "
            "does not only call it"
        )


def _role(member: GroupMember, group: CallGroup) -> str:
    if member.is_helper:
        return "response helper"
    apps = {m.name for m in group.members if not m.is_helper}
    return "dispatcher" if apps & set(member.callees) else "sub-app"


def _names(names: Sequence[str], limit: int = 3) -> str:
    shown = [f"`{n}`" for n in dict.fromkeys(names)]
    if len(shown) > limit:
        return f"{', '.join(shown[:limit])} and {len(shown) - limit} more"
    return ", ".join(shown)


def _imported_problems(group: CallGroup, imported: ImportedHelpers | None = None) -> list[str]:
    """``start_response`` handed to imported functions, one line per module they come from:
    without knowledge of the project the rule sees one module at a time, so it cannot
    convert them together. With it (``imported``), whether each call may hand the helper an
    ``asgi_helpers.StartResponse`` instead, or why not, is found when its caller is converted
    (:func:`_check_collector_call`)."""
    if imported is not None:
        return []  # converting each member tells, for every call, whether and why not
    by_source: dict[str, tuple[list[str], list[str]]] = {}
    for member, callee, source in group.imported_uses:
        users, callees = by_source.setdefault(source, ([], []))
        users.append(member)
        callees.append(callee)
    problems = []
    for source, (users, callees) in by_source.items():
        verb = "uses" if len(set(users)) == 1 else "use"
        problems.append(
            f"{_names(users)} {verb} {_names(callees, 4)} from {source} with start_response; "
            "convert them together"
        )
    return problems


def _group_reason(group: CallGroup, problems: list[str]) -> str:
    """Why a call group stays WSGI, for its markers."""
    if len(group.names) == 1:
        # a group of one is an app alone: its problems, said of "it"
        (name,) = group.names
        problems = [
            problem.removeprefix(f"`{name}`: ").replace(f"`{name}` ", "it ", 1)
            if problem.startswith(f"`{name}`")
            else problem
            for problem in problems
        ]
    unique = list(dict.fromkeys(problems))
    # the same problem, seen once by the group and once by the conversion, said once
    unique = [p for p in unique if not any(o != p and o.startswith(p) for o in unique)]
    text = "; ".join(unique[:3])
    if len(unique) > 3:
        text += f" (and {len(unique) - 3} more)"
    if len(group.names) == 1:
        return text
    shown = _names(group.names)
    return f"it is converted only together with its call group ({shown}), which cannot be: {text}"


class _WrapBottoms(cst.CSTTransformer):
    """``name`` at the bottom of a middleware stack (ids from ``_stack_arguments``) ->
    ``WsgiToAsgi(name)``."""

    def __init__(self, bottoms: set[int], names: set[str]) -> None:
        super().__init__()
        self.bottoms = bottoms
        self.names = names

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> cst.CSTNode:  # type: ignore[override]
        if (
            isinstance(original_node, cst.Name)
            and id(original_node) in self.bottoms
            and original_node.value in self.names
        ):
            return _expr(f"WsgiToAsgi({original_node.value})")
        return updated_node


class WsgiAppRule(Rule):
    rule_id = "wsgi-app"
    summary = "WSGI applications become native ASGI apps (or are served through WsgiToAsgi)."

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return analysis.may_hold_wsgi_app(source)

    @classmethod
    def might_apply_to_tree(cls, tree: ast.Module, source: str) -> bool:
        # a middleware class is the wsgi-middleware rule's (this one sees it as an app only
        # if its __call__ shows HTTP itself)
        return prefilter.has_wsgi_shape(tree, middleware_classes=False)

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self.replacements: dict[
            int, cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]
        ] = {}
        self.imports: set[tuple[str, str | None]] = set()
        #: Local names of ASGI middleware (see :func:`analysis.middleware_names`).
        self.middleware: set[str] = set()
        self._module: cst.Module | None = None
        #: Helpers of other modules of the run (None: the run gave no project knowledge).
        self.imported: ImportedHelpers | None = None
        #: What the module binds, for moving blocking calls off the loop (migrate.blocking).
        self.blocking: ModuleFacts | None = None

    # -- planning on the original module -------------------------------------------------

    def visit_Module(self, node: cst.Module) -> bool:
        """Plan every change from the original module; all of them replace module-level
        statements, which :meth:`leave_Module` does (so no need to walk into the tree)."""
        self._module = node
        if self.context.project is not None:
            self.imported = ImportedHelpers(node, self.context.project, self.context.relpath)
        # A handler whose responses all come from helpers of other modules is an app too,
        # when the index vouches for those helpers.
        responder = self.imported.takes_start_response if self.imported else None
        apps = analysis.find_apps(node, responder)
        groups = analysis.find_call_groups(node, apps, responder)
        if not groups and not apps:
            return False
        self.blocking = ModuleFacts(node, self.context.blocking, known_helpers=frozenset({HELPERS}))
        self.middleware = analysis.middleware_names(node)
        aliases = analysis.wsgiref_util_aliases(node)
        helpers = analysis.read_only_environ_helpers(node)
        grouped: set[int] = set()
        found = {id(app) for app in apps}
        called_elsewhere = self._called_elsewhere([*apps, *(m for g in groups for m in g.members)])
        for table in find_route_tables(node, apps):
            members = [*table.apps, *(a for a in apps if a.name in table.dispatchers)]
            if any(
                id(a) in grouped
                or a.name in called_elsewhere
                or a.already_adapted
                or has_marker(a.node, self.rule_id, module=node)
                for a in members
            ):
                continue
            if self._plan_table(table, members, aliases, helpers):
                grouped.update(id(a) for a in members)
        for group in groups:
            if all(m.app is not None and id(m.app) in grouped for m in group.members):
                continue  # a route table's, converted with it
            callers = {
                m.name: called_elsewhere[m.name]
                for m in group.members
                if m.name in called_elsewhere
            }
            if callers:
                # every member keeps its WSGI definition under its name: another module calls it
                for member in group.members:
                    if member.app is not None and not any(
                        has_marker(member.app.node, rule, module=node)
                        for rule in (self.rule_id, "wsgi-middleware")
                    ):
                        self._called_by_other_modules(member.app, callers)
                grouped.update(id(m.app) for m in group.members if m.app is not None)
            elif len(group.members) > 1 or group.problems or group.imported_uses:
                self._plan_group(group, node, aliases, helpers, found)
                grouped.update(id(m.app) for m in group.members if m.app is not None)
        for app in apps:
            if id(app) in grouped:
                continue
            if app.already_adapted or has_marker(app.node, self.rule_id, module=node):
                continue
            if app.kind == "callable-class" and has_marker(
                app.node, "wsgi-middleware", module=node
            ):
                continue  # the middleware rule left it as WSGI middleware, and said why
            if app.name in called_elsewhere:
                self._called_by_other_modules(app, {app.name: called_elsewhere[app.name]})
                continue
            if app.makes_instances and not app.instances:
                # used here otherwise (wrapped by the middleware rule's adapter, made inside
                # a function): those uses decide, not this rule
                if not app.other_uses and not app.stack_uses:
                    self._made_elsewhere(app)
                continue
            if app.other_uses:
                self._manual(app)
            elif app.kind == "iterable-class":
                self._adapt_definition(app, "PEP 3333 iterable classes are not converted natively")
            elif app.kind == "function":
                assert isinstance(app.node, cst.FunctionDef)
                try:
                    conversion = self._convert_function(
                        app.node, app.environ, app.start_response, aliases, helpers
                    )
                except Unconvertible as why:
                    self._adapt_definition(app, str(why))
                else:
                    self._converted(app, conversion.node, conversion)
            else:
                self._plan_maker(app, node, aliases, helpers)
        self.changes.sort(key=lambda change: change.line)
        return False

    def _convert_function(
        self,
        node: cst.FunctionDef,
        environ: str,
        start_response: str,
        aliases: dict[str, str],
        helpers: dict[str, set[int]],
        **options: Any,
    ) -> Conversion:
        """:func:`convert_callable` for a module-level function, with what the module knows."""
        return convert_callable(
            node,
            environ,
            start_response,
            method=False,
            aliases=aliases,
            helpers=helpers,
            middleware=self.middleware,
            imported=self.imported,
            blocking=self.blocking,
            **options,
        )

    # -- route tables -----------------------------------------------------------------

    def _plan_table(
        self,
        table: RouteTable,
        members: Sequence[WsgiApp],
        aliases: dict[str, str],
        helpers: dict[str, set[int]],
    ) -> bool:
        """Convert the apps of a route table and its dispatchers together, or none of them
        (the dispatchers hand the request to what the table holds)."""
        conversions: dict[str, Conversion] = {}
        for app in members:
            assert isinstance(app.node, cst.FunctionDef)
            try:
                conversions[app.name] = self._convert_function(
                    app.node,
                    app.environ,
                    app.start_response,
                    aliases,
                    helpers,
                    delegates=table.delegates(app.name) if app.name in table.dispatchers else None,
                )
            except Unconvertible:
                return False  # each stays as it was (and is said so, one by one)
        for app in members:
            conversion = conversions[app.name]
            conversion.details.append(f"with the route table `{table.name}`")
            self._converted(app, conversion.node, conversion)
        return True

    # -- call groups ------------------------------------------------------------------

    def _plan_group(
        self,
        group: CallGroup,
        module: cst.Module,
        aliases: dict[str, str],
        helpers: dict[str, set[int]],
        found: set[int],
    ) -> None:
        """Convert every member of ``group`` or none: a half-converted group would hand an
        ASGI ``send`` to WSGI code (or the reverse)."""
        problems = _imported_problems(group, self.imported) + group.problems
        for member in group.members:
            if member.app is not None and member.app.already_adapted:
                problems.append(
                    f"`{member.name}` is served through adapters.WsgiToAsgi here, so it stays WSGI"
                )
            if has_marker(member.node, self.rule_id, module=module):
                problems.append(f"`{member.name}` was left as WSGI by an earlier run")
        for name, stmt in group.stray_uses:
            problems.append(f"`{name}` is also used at line {self.line_of(stmt)}")
        conversions: dict[str, Conversion] = {}
        if not any(m.app is not None and m.app.already_adapted for m in group.members):
            # also when the group cannot convert: every reason goes into the markers
            delegates = {m.name: m.delegate for m in group.members}
            for member in group.members:
                try:
                    conversions[member.name] = self._convert_function(
                        member.node,
                        member.environ,
                        member.start_response,
                        aliases,
                        helpers,
                        delegates=delegates,
                        role="helper" if member.is_helper else "app",
                    )
                except Unconvertible as why:
                    problems.append(f"`{member.name}`: {why}")
        if not problems and CONVERTS_CALL_GROUPS:
            for member in group.members:
                self._converted_member(group, member, conversions[member.name])
            return
        # fall back for the whole group, as for apps one by one (helpers, and apps only the
        # group sees, are left alone)
        reason = _group_reason(group, problems) if problems else None
        for member in group.members:
            app = member.app
            if (
                app is None
                or id(app) not in found
                or app.already_adapted
                or has_marker(app.node, self.rule_id, module=module)
            ):
                continue
            if app.other_uses:
                self._manual(app, reason)
                continue
            assert isinstance(app.node, cst.FunctionDef)
            try:
                convert_callable(
                    app.node,
                    app.environ,
                    app.start_response,
                    method=False,
                    aliases=aliases,
                    helpers=helpers,
                    middleware=self.middleware,
                )
            except Unconvertible as why:
                self._adapt_definition(app, reason or str(why))
            else:  # not reached: a member alone hands start_response on or is called
                self._adapt_definition(app, reason or "it belongs to a call group")

    def _converted_member(
        self, group: CallGroup, member: GroupMember, conversion: Conversion
    ) -> None:
        self.replacements[id(member.node)] = conversion.node
        self.imports.add(("adapters", HELPERS))
        self.imports.update(conversion.imports)
        if conversion.use.uses_sys:
            self.imports.add(("sys", None))
        roles = {m.name: _role(m, group) for m in group.members}
        related = [*member.callers, *(c for c in member.callees if c not in member.callers)]
        shown = ", ".join(f"`{name}` ({roles[name]})" for name in related[:4])
        if len(related) > 4:
            shown += f" and {len(related) - 4} more"
        details = list(conversion.details)
        if member.is_helper:
            details.insert(0, f"takes `send` instead of `{member.start_response}`")
        elif member.callers and len(analysis.positional_params(member.node) or []) > 2:
            details.insert(0, "extra arguments kept")
        extra = f" ({', '.join(details)})" if details else ""
        what = "response helper" if member.is_helper else "WSGI app"
        # a group of one: an app whose responses all come from helpers of other modules
        together = f" together with {shown}" if shown else ""
        self.report(
            member.node, "converted", f"{what} `{member.name}` converted to ASGI{together}{extra}"
        )

    def _plan_maker(
        self,
        app: WsgiApp,
        module: cst.Module,
        aliases: dict[str, str],
        helpers: dict[str, set[int]],
    ) -> None:
        """A class's ``__call__``, or the app a factory defines, is converted where it stands,
        so the instances, or what the factory returns, are ASGI apps; if it cannot be, the
        names bound to what the class or factory makes get it through ``WsgiToAsgi``."""
        factory = app.kind == "factory"
        if factory:
            assert isinstance(app.node, cst.FunctionDef)
            inner = app.made
        else:
            assert isinstance(app.node, cst.ClassDef)
            inner = analysis.method_named(app.node, "__call__")
        assert inner is not None
        try:
            conversion = convert_callable(
                inner,
                app.environ,
                app.start_response,
                method=not factory,
                aliases=aliases,
                helpers=helpers,
                # decorators kept only when ASGI middleware: a __call__'s never are
                middleware=self.middleware if factory else frozenset(),
                imported=self.imported,
                blocking=self.blocking,
                cls=app.node if isinstance(app.node, cst.ClassDef) else None,
            )
        except Unconvertible as why:
            for stmt in module.body:
                bound = analysis._instance_binding(stmt, app.name)
                if bound is not None and isinstance(stmt, cst.SimpleStatementLine):
                    self._adapt_binding(stmt, bound, str(why))
            return
        body = app.node.body
        assert isinstance(body, cst.IndentedBlock)
        new_body = [conversion.node if s is inner else s for s in body.body]
        self._converted(
            app, app.node.with_changes(body=body.with_changes(body=new_body)), conversion
        )

    def _converted(self, app: WsgiApp, new_node: cst.BaseStatement, conversion: Conversion) -> None:
        self.replacements[id(app.node)] = new_node
        self.imports.add(("adapters", HELPERS))
        self.imports.update(conversion.imports)
        if conversion.use.uses_sys:
            self.imports.add(("sys", None))
        details = f" ({', '.join(conversion.details)})" if conversion.details else ""
        if app.kind == "factory" and app.made is not None:
            message = (
                f"WSGI app `{app.made.name.value}` made by `{app.name}` converted to ASGI: "
                f"`{app.name}()` returns an ASGI app{details}"
            )
        else:
            what = "WSGI app" if app.kind == "function" else "WSGI app class"
            message = f"{what} `{app.name}` converted to ASGI{details}"
        self.report(app.node, "converted", message)

    def _adapt_definition(
        self,
        app: WsgiApp,
        reason: str,
        *,
        kind: Literal["adapted", "manual"] = "adapted",
        message: str | None = None,
    ) -> None:
        """``def _name_wsgi`` and ``name = WsgiToAsgi(_name_wsgi)``. ASGI middleware decorators
        (``@auth``) move onto the binding, around the adapter: ``name = auth(WsgiToAsgi(...))``."""
        private = f"_{app.name}_wsgi"
        outer = _middleware_decorators(app.node, self.middleware)
        renamed = app.node.with_changes(
            name=cst.Name(private), decorators=app.node.decorators[len(outer) :]
        )
        value = f"WsgiToAsgi({private})"
        for decorator in reversed(outer):
            value = f"{_code(decorator.decorator)}({value})"
        if message is None:
            message = f"`{app.name}` kept as WSGI and served through adapters.WsgiToAsgi: {reason}"
        binding = with_marker(_stmt(f"{app.name} = {value}"), marker_comment(self.rule_id, message))
        if isinstance(binding, cst.SimpleStatementLine):
            blank = [cst.EmptyLine(), cst.EmptyLine()]
            binding = binding.with_changes(leading_lines=[*blank, *binding.leading_lines])
        self.replacements[id(app.node)] = cst.FlattenSentinel([renamed, binding])
        self.imports.add(("adapters", "WsgiToAsgi"))
        self.report(app.node, kind, message)

    def _adapt_binding(self, stmt: cst.SimpleStatementLine, name: str, reason: str) -> None:
        small = stmt.body[0]
        assert isinstance(small, cst.Assign)
        message = f"`{name}` kept as WSGI and served through adapters.WsgiToAsgi: {reason}"
        wrapped = stmt.with_changes(
            body=[small.with_changes(value=_expr(f"WsgiToAsgi({_code(small.value)})"))]
        )
        self.replacements[id(stmt)] = with_marker(wrapped, marker_comment(self.rule_id, message))
        self.imports.add(("adapters", "WsgiToAsgi"))
        self.report(stmt, "adapted", message)

    def _called_elsewhere(
        self, apps: Sequence[WsgiApp | analysis.GroupMember]
    ) -> dict[str, list[str]]:
        """name -> the files of the run that call it as a WSGI app (none without a project)."""
        project = self.context.project
        if project is None:
            return {}
        found: dict[str, list[str]] = {}
        for app in apps:
            # an app class is used through its instances (``application = App()``)
            names = [app.name, *(app.instances if isinstance(app, WsgiApp) else ())]
            callers = sorted(
                {file for name in names for file in project.callers_of(self.context.relpath, name)}
            )
            if callers:
                found[app.name] = callers
        return found

    def _called_by_other_modules(self, app: WsgiApp, callers: Mapping[str, list[str]]) -> None:
        """Leave ``app`` as it is, under its name, with a marker: other modules of the run call
        it (or a member of its call group) the WSGI way, which would break once it is ASGI."""
        said = "; ".join(
            f"{', '.join(files[:3])} {'use' if len(files) > 1 else 'uses'} `{name}` the WSGI way"
            for name, files in callers.items()
        )
        message = (
            f"WSGI app `{app.name}` left as WSGI: {said} (a call with environ and "
            "start_response, a start_response handed to it, a WSGI test client or adapter, a "
            "subclass, WSGI middleware of a package outside the run, a table of routes a WSGI "
            "dispatcher looks it up in), which would break once it is ASGI: convert them "
            "together (or serve the final app through adapters.WsgiToAsgi)"
        )
        self.replacements[id(app.node)] = with_marker(
            app.node, marker_comment(self.rule_id, message)
        )
        self.report(app.node, "manual", message)

    def _made_elsewhere(self, app: WsgiApp) -> None:
        """A class or a factory of WSGI apps with no module-level name holding what it makes:
        how its apps are served is out of sight (a library's public API, an entry point of
        another module), so it stays WSGI, and says so."""
        what = "WSGI app class" if app.kind == "callable-class" else "WSGI app factory"
        message = (
            f"{what} `{app.name}` left as WSGI: no name of this module holds an app it makes, "
            "so the rule cannot see how they are served: convert it together with the code "
            f"that calls `{app.name}()`, or serve what that makes through adapters.WsgiToAsgi"
        )
        assert isinstance(app.node, (cst.FunctionDef, cst.ClassDef))
        self.replacements[id(app.node)] = with_marker(
            app.node, marker_comment(self.rule_id, message)
        )
        self.report(app.node, "manual", message)

    def _manual(self, app: WsgiApp, reason: str | None = None) -> None:
        lines = ", ".join(dict.fromkeys(str(self.line_of(use)) for use in app.other_uses[:3]))
        what = "WSGI app factory" if app.kind == "factory" else "WSGI app"
        message = (
            f"{what} `{app.name}` is also used by other code here (line {lines}); "
            "left as WSGI: "
            + (
                reason
                or "convert it together with its users, or serve the final app "
                "through adapters.WsgiToAsgi"
            )
        )
        node = app.node
        assert isinstance(node, (cst.FunctionDef, cst.ClassDef))
        if isinstance(node, cst.FunctionDef) and _middleware_decorators(node, self.middleware):
            # the ASGI middleware decorating it needs an ASGI app: the name becomes one
            message = (
                f"WSGI app `{app.name}` is also used by other code here (line {lines}); kept "
                f"as WSGI (as `_{app.name}_wsgi`) and served through adapters.WsgiToAsgi under "
                f"its ASGI middleware decorators, so `{app.name}` is now an ASGI app: check "
                "those uses" + (f" ({reason})" if reason else "")
            )
            self._adapt_definition(app, "", kind="manual", message=message)
        else:
            self.replacements[id(node)] = with_marker(node, marker_comment(self.rule_id, message))
            self.report(node, "manual", message)
        self._adapt_stack_uses(app)

    def _adapt_stack_uses(self, app: WsgiApp) -> None:
        """``x = Mw(name)`` with ASGI middleware around an app that stays WSGI under its name:
        ``x = Mw(WsgiToAsgi(name))``."""
        from migrate import middleware_analysis

        for stmt in app.stack_uses:
            if not isinstance(stmt, cst.SimpleStatementLine) or id(stmt) in self.replacements:
                continue
            small = stmt.body[0]
            assert isinstance(small, cst.Assign)
            bottoms = middleware_analysis._stack_arguments(small.value, self.middleware) or set()
            names = app.instances if app.makes_instances else [app.name]
            value = small.value.visit(_WrapBottoms(bottoms, set(names)))
            assert isinstance(value, cst.BaseExpression)
            message = (
                f"`{app.name}` stays a WSGI app inside the ASGI middleware stack, served "
                "through adapters.WsgiToAsgi"
            )
            wrapped = stmt.with_changes(body=[small.with_changes(value=value)])
            self.replacements[id(stmt)] = with_marker(
                wrapped, marker_comment(self.rule_id, message)
            )
            self.imports.add(("adapters", "WsgiToAsgi"))
            self.report(stmt, "adapted", message)

    # -- applying -------------------------------------------------------------------------

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if not self.replacements:
            return updated_node
        body: list[cst.BaseStatement] = []
        for stmt in updated_node.body:
            new = self.replacements.get(id(stmt), stmt)
            if isinstance(new, cst.FlattenSentinel):
                body.extend(new.nodes)
            else:
                body.append(new)
        module = updated_node.with_changes(body=body)
        if not self.imports:
            return module
        return add_imports(module, sorted(self.imports, key=lambda i: (i[0], i[1] or "")))
