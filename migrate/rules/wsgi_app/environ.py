"""The environ -> the scope: reads rewritten to scope expressions, writes and path shifts to changed
copies of the scope."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import libcst as cst

from migrate import analysis, scope_writes, wsgi_keys
from migrate.analysis import (
    is_plain_name,
    string_value,
)
from migrate.app_finding import Delegate
from migrate.cst_helpers import (
    OwnScopeTransformer,
    code_of,
    paren_await,
    single_statement,
)
from migrate.instances import callee_key
from migrate.rules.wsgi_app.common import (
    _LATIN1,
    _UTF8,
    HELPERS,
    Unconvertible,
    _expr,
    _is_safe,
    _quoted,
    _small,
    _stmt,
)
from migrate.rules.wsgi_app.imported import ImportedHelpers


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
        #: the name the request stream is bound to, when ``environ["wsgi.input"]`` is handed on
        self.stream_name = "request_stream"
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
        key = callee_key(node.func)
        delegate = self.delegates.get(key) if key else None
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
            if arg.keyword is None and not arg.star and index in _indexes(self.helpers, callee):
                self._allow(arg.value)
                self.helper_args.add(id(arg.value))
                self.use.needs_environ = True
                self.use.needs_body = self.use.needs_body or _reads_body(self.helpers, callee)
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
            args = f'"{header}"' + (f", {code_of(default)}" if default is not None else "")
            return self._e(f"{headers}.get({args})")
        if wsgi_keys.is_carried_key(key):
            # ``.get(key, default)`` stays a .get with the same default, evaluated as before
            extra = f"{HELPERS}.environ_extra(scope)"
            if form == "subscript":
                return self._e(f"{extra}[{_quoted(key)}]")
            args = _quoted(key) + (f", {code_of(default)}" if default is not None else "")
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

    def _stream(self) -> cst.BaseExpression:
        """``environ["wsgi.input"]`` itself, handed to code that reads it: the body as it
        arrives, read off the loop (what reads it blocks, see :mod:`migrate.blocking`), made on
        the loop at the top of the function (it waits there for nothing), so a statement using
        it can move to the blocking pool whole."""
        if self.genexp_depth:
            raise Unconvertible("uses the request stream inside a generator expression")
        self.use.streams += 1
        if self.use.streams > 1:
            raise Unconvertible("uses the request stream environ['wsgi.input'] twice")
        stream = cst.Name(self.stream_name)
        self.body_read_results.add(id(stream))
        return stream

    def leave_Subscript(
        self, original_node: cst.Subscript, updated_node: cst.Subscript
    ) -> cst.BaseExpression:
        key = analysis.environ_read_key(original_node, self.environ)
        if key is not None:
            if key == "wsgi.input" and id(original_node) in self.body_read_subscripts:
                return updated_node  # part of a .read() call, replaced there
            if key == "wsgi.input":
                return self._stream()
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
            args = "".join(f", {code_of(a.value)}" for a in updated_node.args)
            read = self._e(f"await {HELPERS}.read_body(receive{args})").with_changes(
                lpar=original_node.lpar, rpar=original_node.rpar
            )
            self.body_read_results.add(id(read))
            return read
        key = analysis.environ_read_key(original_node, env)
        if key is not None:
            default = updated_node.args[1].value if len(updated_node.args) == 2 else None
            if key == "wsgi.input":
                if default is not None and not _is_safe(default):
                    raise Unconvertible(
                        "the default of environ.get('wsgi.input', ...) has side effects"
                    )
                return self._stream()  # every server gives one: the default is never used
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
        target = code_of(original_node.targets[0].target)
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


def _indexes(helpers: Mapping[str, set[int]], callee: str | None) -> set[int]:
    """Where ``callee`` takes an environ it only reads (see ``analysis.EnvironHelpers``)."""
    if isinstance(helpers, analysis.EnvironHelpers):
        return helpers.indexes(callee)
    return helpers.get(callee, set()) if callee else set()


def _reads_body(helpers: Mapping[str, set[int]], callee: str | None) -> bool:
    return isinstance(helpers, analysis.EnvironHelpers) and helpers.reads_body(callee)
