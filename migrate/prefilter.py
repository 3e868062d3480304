"""The two prefilter stages that keep most files away from libcst.

1. :func:`may_hold_wsgi_callable`, on the text: a sign of HTTP (the evidence recognition
   insists on) and a parameter of some ``def`` that is called. Most files stop here, and
   the runner checks their syntax with CPython's cheapest parse.
2. :func:`has_wsgi_shape`, on CPython's AST of the files the text test passed: a function
   with the shape of a WSGI app, helper, sub-app or middleware, and its evidence.

Only files passing both are parsed with libcst. Each stage must be a superset of what the
rules match: every rule test checks that (see ``tests/harness.py``), and a miss would
silently skip a file.
"""

from __future__ import annotations

import ast
import bisect
import functools
import re
from collections.abc import Iterable, Iterator

_RECEIVERS = frozenset({"self", "cls"})

# --------------------------------------------------------------------------- stage 1: text

# Signs of HTTP that the shape stage insists on (see _is_http_literal), as they appear in
# text: a status literal, a CGI/WSGI environ key literal, or a (header, value) pair as an
# item of a list or a tuple (_HEADERS_TEXT).
_QUOTED_EVIDENCE = re.compile(  # one scan for both kinds of string literal
    r"""["'](?:[1-9][0-9][0-9][ "']"""
    r"""|(?P<cgi>REQUEST_METHOD|SCRIPT_NAME|PATH_INFO|QUERY_STRING|CONTENT_TYPE|CONTENT_LENGTH"""
    r"""|SERVER_NAME|SERVER_PORT|SERVER_PROTOCOL|REMOTE_ADDR|REMOTE_HOST|REMOTE_USER"""
    r"""|REQUEST_URI|RAW_URI|HTTP_[A-Z0-9_]+|wsgi\.\w+)["'])"""
)
# The first argument of a call, up to what shows there are more (a comma), star arguments, or
# parentheses nested too deep to follow (then the text counts, to stay a superset): a
# parameter called with one argument is not start_response. A keyword argument (``x=``, but
# not ``==``, ``<=``... nor ``:=``) ends it too: no positional argument can follow one.
_FIRST_ARGUMENT = r"(?:[^(),*=]|[=!<>:]=|\([^()]*\))*"


def names_a_cgi_key(source: str) -> bool:
    """``source`` holds a CGI/WSGI environ key literal (``"PATH_INFO"``, ``"wsgi.input"``):
    what any function reading an environ it is handed must name."""
    return _text(source).quoted()[1]


# A response helper handed start_response and a status: "html_response(start_response, 200, page)"
_STATUS_NUMBER = r"""["']?[1-9][0-9][0-9]\b"""
# (searched from the comma: a pattern starting with a plain character is found much faster)
_COMMA_THEN_STATUS = re.compile(rf",\s*{_STATUS_NUMBER}")
_ARGUMENT_BEFORE = re.compile(r"[(,]\s*[^\W\d]\w*\s*\Z")
# An escape that may stand for a letter or a hyphen ("\x41", "\N{...}"), or a line continuation.
_LETTER_ESCAPE = r"\\(?:[xuUN0-7]|\n)"
# A (header, value) pair: its first item a string that may hold a header name (see
# is_header_name): a word then a hyphen ("Content-Type"), a capitalised word ("Location"), or
# what the text alone cannot tell: an escape, or a word joined to the next string ("x" "-y").
_PAIR_TEXT = (
    r"""\((?:\s|#[^\n]*(?:\n|$))*[uUrR]?["']{1,3}"""
    rf"""(?:[A-Za-z][A-Za-z0-9]*(?:-|{_LETTER_ESCAPE}|["'](?:\s|#[^\n]*\n)*[uUrR]?["'])"""
    rf"""|[A-Z][a-z]*["']|{_LETTER_ESCAPE})"""
)
_HEADERS_TEXT = re.compile(r"""[,(\[](?:\s|#[^\n]*(?:\n|$))*""" + _PAIR_TEXT)
#: The pair alone (found much faster, as the engine looks for its "(" first): every match
#: of _HEADERS_TEXT holds one.
_HEADER_PAIR = re.compile(_PAIR_TEXT)
# "def name(" and its parameter text up to the first ")" (a default like "x=f()" cuts it short,
# which _parameter_names notices)
_DEF_PARAMS = re.compile(r"def\s+(\w+)\s*\(([^)]*)")  # no \b first: a plain "def" is found faster
# The same, but only the functions the rules may read: not methods whose list starts with
# the receiver (most defs), except __call__ and __init__. Left out by the regex engine, which
# is several times faster than looking at each in Python.
_DEF_PARAMS_READ = re.compile(
    r"def\s+((?:__call__|__init__)(?=\s*\()|\w+\b(?!\s*\(\s*(?:self|cls)\s*(?:[,:)]|\Z)))"
    r"\s*\(([^)]*)"
)
_IDENT = re.compile(r"[^\W\d]\w*")


class _Text:
    """What the text tests found in one source, each worked out once: both WSGI rules and
    the module summary ask about the same file, one after the other."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._quoted: tuple[bool, bool] | None = None
        self._shows_http: bool | None = None
        self._parameters: tuple[set[str], set[str]] | None = None
        self._first_params: dict[str, set[str]] | None = None
        self.wsgi_callable: bool | None = None
        self._words: dict[str, bool] = {}

    def has(self, word: str) -> bool:
        found = self._words.get(word)
        if found is None:
            found = self._words[word] = word in self.source
        return found

    def quoted(self) -> tuple[bool, bool]:
        """(a status or CGI key literal, a CGI key literal), in one scan."""
        if self._quoted is None:
            found = cgi = False
            for match in _QUOTED_EVIDENCE.finditer(self.source):
                found = True
                if match.group("cgi"):
                    cgi = True
                    break
            self._quoted = (found, cgi)
        return self._quoted

    def shows_http(self) -> bool:
        if self._shows_http is None:
            self._shows_http = self.quoted()[0] or (
                # most files have no pair at all
                _HEADER_PAIR.search(self.source) is not None
                and _HEADERS_TEXT.search(self.source) is not None
            )
        return self._shows_http

    def parameters(self) -> tuple[set[str], set[str]]:
        """(the parameters a rule may find called, the second ones): see _parameter_names."""
        if self._parameters is None:
            self._first_params = {}
            self._parameters = _parameter_names(self.source, self._first_params)
        return self._parameters

    def parameter_lists(self) -> list[tuple[int, int]]:
        """Where the parameter list of each ``def`` stands (up to its first ")")."""
        return [match.span(2) for match in _DEF_PARAMS.finditer(self.source)]

    def first_params(self) -> dict[str, set[str]]:
        """The first parameter of each function of two or more, by its name (found with
        the parameter lists)."""
        self.parameters()
        assert self._first_params is not None
        return self._first_params

    def returned_names(self) -> set[str]:
        """The names handed back by an indented ``return name`` line."""
        source = self.source
        names: set[str] = set()
        for match in _RETURNED_NAME.finditer(source):
            start = match.start()
            line_start = source.rfind("\n", 0, start) + 1
            indentation = source[line_start:start]
            if indentation and not indentation.strip(" \t"):
                names.add(match.group(1))
        return names

    def name_then_status(self) -> bool:
        """``(name, 200`` / ``, name, "404"``: a name handed on next to a status."""
        for match in _COMMA_THEN_STATUS.finditer(self.source):
            before = self.source[max(0, match.start() - 100) : match.start()]
            if _ARGUMENT_BEFORE.search(before):
                return True
        return False


@functools.lru_cache(maxsize=1)  # the file the rules' text tests are asking about
def _text(source: str) -> _Text:
    return _Text(source)


def has_any(source: str, words: Iterable[str]) -> bool:
    """One of ``words`` is in ``source``; each word is looked for once per file, whichever
    text test asks."""
    text = _text(source)
    return any(text.has(word) for word in words)


def _parameter_names(
    source: str, first_params: dict[str, set[str]] | None = None
) -> tuple[set[str], set[str]]:
    """The positional parameter names of every ``def`` with two or more of them (after
    ``self``/``cls``, of the only methods the rules read): whatever a rule may find called
    as ``start_response`` (an app's second parameter, a helper's parameter at any place);
    and the second ones alone (an app's ``start_response``, which it may hand on instead of
    calling). A superset: where the text is not simple, every identifier near the ``def``
    counts as both. ``first_params`` gets the first parameter of each function of two or
    more, by its name."""
    names: set[str] = set()
    seconds: set[str] = set()
    for match in _DEF_PARAMS_READ.finditer(source):
        name, text, whole = match.group(1), match.group(2), None
        if "(" in text:  # cut short inside a default or an annotation: read on to its end
            whole = _to_closing_parenthesis(source, match.start(2))
        params = _positional_names(whole or text, complete=whole is not None)
        if params is None:
            # not read to its end, or comments and line continuations in the list: every
            # identifier around it counts
            around = _IDENT.findall(source, match.start(2), match.start(2) + 400)
            names.update(around)
            seconds.update(around)
            if first_params is not None:
                first_params.setdefault(name, set()).update(around)
            continue
        if params and params[0] in _RECEIVERS:
            if name not in _METHODS_THE_RULES_READ:
                continue  # the rules never take another method for an app or a helper
            params = params[1:]
        if len(params) >= 2:
            names.update(params)
            seconds.add(params[1])
            if first_params is not None:
                first_params.setdefault(name, set()).add(params[0])
    return names, seconds


#: An app or middleware class's ``__call__``; a PEP 3333 iterable class's ``__init__``.
_METHODS_THE_RULES_READ = frozenset({"__call__", "__init__"})


def _positional_names(text: str, *, complete: bool = False) -> list[str] | None:
    """The positional parameter names in the text of a parameter list (up to ``*``), or
    None when the text is not simple enough to read (cut short at a parenthesis of a
    default or an annotation unless ``complete``, comments, line continuations)."""
    if (not complete and "(" in text) or "#" in text or "\\" in text:
        return None
    if not complete and (text.count('"') % 2 or text.count("'") % 2):
        return None  # cut short at a ")" inside a string
    params: list[str] = []
    for part in _split_top_level(text):
        part = part.strip()
        if part.startswith("*"):
            break  # *args, keyword-only and **kwargs: no rule matches such a signature
        name = _IDENT.match(part)
        if name is not None:
            params.append(name.group())
    return params


_CALL_METHOD_PARAMS = re.compile(r"def\s+__call__\s*\(([^)]*)")


def may_hold_wsgi_call_method(source: str) -> bool:
    """Cheap text test: does some ``def __call__`` take two positional parameters or more
    after its receiver (``__call__(self, environ, start_response)``, the only way a class
    is a WSGI app or middleware)? Other ``__call__`` methods (``__call__(self, request)``
    of Django's middleware) are never one."""
    if "__call__" not in source:
        return False
    for match in _CALL_METHOD_PARAMS.finditer(source):
        params = _positional_names(match.group(1))
        if params is None or len(params) >= 3:
            return True
        if len(params) == 2 and params[0] not in _RECEIVERS:  # a receiver under another name
            return True
    return False


#: Where a plain count of brackets goes wrong: a bracket in a string or a comment (and a
#: backslash, which may escape a quote).
_UNSAFE_FOR_BRACKETS = "'\"#\\"
#: How far the bracket counts look (a few lines): beyond, the text tests assume the worst.
_BRACKETS_REACH = 2000


def _to_closing_parenthesis(source: str, start: int) -> str | None:
    """The text from ``start`` (just after a "(") to the ")" closing it, or None where a
    plain count of brackets is unsafe (strings, comments) or it is out of reach."""
    depth = 0
    for index in range(start, min(len(source), start + _BRACKETS_REACH)):
        char = source[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return source[start:index] if char == ")" else None
            depth -= 1
        elif char in _UNSAFE_FOR_BRACKETS:
            return None
    return None


def _split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside brackets (``a: dict[str, int], b=f(1, 2)``)."""
    if "[" not in text and "{" not in text and "(" not in text:
        return text.split(",")
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def may_hold_wsgi_callable(source: str) -> bool:
    """Cheap text test: could ``source`` define a WSGI app, response helper or sub-app?

    True when the text shows a sign of HTTP and a parameter of some ``def`` is called with
    two arguments or more (``def app(environ, start_response): ... start_response(s, h``; ``def helper(body,
    respond): respond(``) or a second parameter is handed on (``return sub(environ,
    start_response)``), or when the file has both ``__init__`` and ``__iter__`` (PEP 3333
    iterable classes). A superset of what the rules recognise.
    """
    text = _text(source)
    if text.wsgi_callable is None:
        text.wsgi_callable = _may_hold_wsgi_callable(text)
    return text.wsgi_callable


def _may_hold_wsgi_callable(text: _Text) -> bool:
    source = text.source
    if "def" not in source:
        return False
    # first the test that most files fail (most have no function of two parameters but
    # methods), as it is needed anyway
    names, seconds = text.parameters()
    if not names:
        return False
    shows_http = text.shows_http()
    if not shows_http and not text.name_then_status():
        return False
    if shows_http and "__iter__" in source and "__init__" in source:
        return True
    if not shows_http:  # the status handed to a helper is the only sign of HTTP
        return (
            re.search(rf"[(,]\s*(?:{_alternatives(names)})\s*,\s*{_STATUS_NUMBER}", source)
            is not None
        )
    # a parameter called by its plain name (not an attribute: ``.name(``)
    if _called_by_plain_name(source, names):
        return True
    # start_response handed on, not merely named in a parameter list: to a sub-app with
    # the environ (``return sub(environ, start_response)``)...
    parameter_lists = text.parameter_lists()
    starts = [start - 1 for start, _ in parameter_lists]  # at their "("

    def in_parameter_list(position: int) -> bool:
        index = bisect.bisect_right(starts, position) - 1
        return index >= 0 and position <= parameter_lists[index][1]

    firsts = {name for found in text.first_params().values() for name in found}
    sub_app = rf"\(\s*(?:{_alternatives(firsts)})\s*,\s*(?:{_alternatives(seconds)})\s*[,)]"
    if firsts and any(not in_parameter_list(m.start()) for m in re.finditer(sub_app, source)):
        return True
    # ... or to a call holding a status (a response helper: ``respond(start_response,
    # 404)``, ``html_response(start_response, page, status=404)``; a helper's own
    # start_response may be its first parameter)
    handed_on = re.compile(rf"[(,]\s*(?:{_alternatives(seconds | firsts)})\s*[,)]")
    for match in handed_on.finditer(source):
        if in_parameter_list(match.start()):
            continue
        call = _enclosing_call(source, match.start() + 1)
        if call is None or _STATUS_IN_CALL.search(call):
            return True
    return False


def _called_by_plain_name(source: str, names: Iterable[str]) -> bool:
    """One of ``names`` is called with two arguments or more: ``name(x, ...``, not
    ``obj.name(`` nor ``other_name(``. The regex starts at the names, which the engine finds
    fast; what stands before one is looked at here (a lookbehind first would make the
    engine try every position of the text)."""
    call = re.compile(rf"(?:{_alternatives(names)})\s*\({_FIRST_ARGUMENT}[,*(]")
    position = 0
    while (match := call.search(source, position)) is not None:
        start = match.start()
        if start == 0 or not (source[start - 1].isalnum() or source[start - 1] in "_."):
            return True
        position = start + 1  # a match may start inside this one
    return False


_STATUS_IN_CALL = re.compile(_STATUS_NUMBER)


def _enclosing_call(source: str, position: int) -> str | None:
    """The text between the parentheses around ``position`` (the arguments of the call
    there), or None where a plain count of brackets cannot tell (strings, comments, out of
    reach): then the caller must assume the worst, its test being a superset."""
    depth, start = 0, position - 1
    while start >= max(0, position - _BRACKETS_REACH):
        char = source[start]
        if char in ")]}":
            depth += 1
        elif char in "([{":
            if depth == 0:
                break
            depth -= 1
        elif char in _UNSAFE_FOR_BRACKETS:
            return None
        start -= 1
    else:
        return None
    if source[start] != "(":
        return None
    return _to_closing_parenthesis(source, start + 1)


#: "return wrapped": a function handing back a name (closure middleware returns its inner def);
#: the indentation before it is checked apart (a pattern starting with a plain word is found
#: much faster than one starting with "^")
_RETURNED_NAME = re.compile(r"return[ \t]+([^\W\d]\w*)[ \t]*(?:#[^\n]*)?$", re.MULTILINE)


def may_hold_middleware_factory(source: str) -> bool:
    """Cheap text test: could ``source`` define closure middleware, ``def mw(app): def
    wrapped(environ, start_response): ... return app(environ, ...) ... return wrapped``?
    Such middleware needs no sign of HTTP. True when a nested ``def`` is returned by name
    and some parameter of a two-parameter ``def`` is handed first to a call."""
    if "def" not in source:
        return False
    text = _text(source)
    names = text.parameters()[0]  # what most files fail (see _may_hold_wsgi_callable)
    if not names:
        return False
    # the inner function, returned by name, takes (environ, start_response) and hands its
    # environ first to the app: "return app(environ, ...)"
    first_params = text.first_params()
    inner = text.returned_names() & first_params.keys()
    environs = {name for function in inner for name in first_params[function]}
    return bool(environs) and (
        re.search(rf"\(\s*(?:{_alternatives(environs)})\s*[,)]", source) is not None
    )


def _alternatives(names: Iterable[str]) -> str:
    """``a|b|c`` for a regex, the longest first (so ``respond`` is not taken for the start of
    ``responder`` where the pattern goes on)."""
    return "|".join(sorted(names, key=len, reverse=True))


# --------------------------------------------------------------------------- stage 2: shape


def _params(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = func.args
    return [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]


def _positional_count(call: ast.Call) -> int:
    # *args may stand for any number of arguments
    if any(isinstance(a, ast.Starred) for a in call.args):
        return 2
    return len(call.args)


_CGI_KEY = re.compile(
    r"(?:REQUEST_METHOD|SCRIPT_NAME|PATH_INFO|QUERY_STRING|CONTENT_TYPE|CONTENT_LENGTH|SERVER_NAME"
    r"|SERVER_PORT|SERVER_PROTOCOL|REMOTE_ADDR|REMOTE_HOST|REMOTE_USER|REQUEST_URI|RAW_URI"
    r"|HTTP_[A-Z0-9_]+|wsgi\.\w+)"
)


_STATUS_LINE = re.compile(r"[1-5][0-9][0-9] [A-Za-z]")
#: What the rules take for a status handed to start_response ("200 OK", also "200"):
#: analysis._STATUS_RE, which the shape stage must not be stricter than.
_STATUS_START = re.compile(r"[1-9][0-9][0-9](?: |$)")
_HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+|[A-Z][a-z]+")


def _is_status_literal(node: ast.AST) -> bool:
    """``200``, ``"200"`` or ``"200 OK"``: what a response helper is handed as the status."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool):
            return 100 <= value <= 599
        if isinstance(value, str):
            return (value.isdigit() and len(value) == 3) or _STATUS_LINE.match(value) is not None
    return False


def is_header_name(text: str) -> bool:
    """``Content-Type``, ``x-request-id``, ``Location``: what a header name looks like."""
    return _HEADER_NAME.fullmatch(text) is not None


def _is_header_pair(node: ast.AST) -> bool:
    """``("Content-Type", ...)``: a tuple whose first item looks like a header name."""
    if not isinstance(node, ast.Tuple) or len(node.elts) != 2:
        return False
    name = node.elts[0]
    return (
        isinstance(name, ast.Constant)
        and isinstance(name.value, str)
        and is_header_name(name.value)
    )


def _is_http_literal(node: ast.AST) -> bool:
    """``node`` is a CGI/WSGI environ key, a status line or a list or tuple of (header,
    value) pairs."""
    if isinstance(node, ast.Constant):
        value = node.value
        return isinstance(value, str) and (
            _CGI_KEY.fullmatch(value) is not None or _STATUS_START.match(value) is not None
        )
    return isinstance(node, (ast.List, ast.Tuple)) and any(_is_header_pair(e) for e in node.elts)


def _positional_params(func: ast.FunctionDef) -> list[str]:
    params = [a.arg for a in (*func.args.posonlyargs, *func.args.args)]
    return params[1:] if params and params[0] in _RECEIVERS else params


def _wsgi_params(func: ast.FunctionDef) -> list[str] | None:
    """The parameters of a sync function, without self/cls, if there are two or more."""
    params = _params(func)
    if params and params[0] in _RECEIVERS:
        params = params[1:]
    return params if len(params) >= 2 else None


def _calls(func: ast.AST) -> Iterator[ast.Call]:
    """The calls of two or more positional arguments in ``func`` (``start_response(status,
    headers)``, ``app(environ, start)``: a WSGI call always has two)."""
    for node in walk_ast(func):
        if isinstance(node, ast.Call) and _positional_count(node) >= 2:
            yield node


def _first_arg_is(call: ast.Call, name: str) -> bool:
    return bool(call.args) and isinstance(call.args[0], ast.Name) and call.args[0].id == name


def _hands_on_with_status(call: ast.Call, start_response: str, callables: set[str]) -> bool:
    """A response helper call: ``html_response(start_response, 200, page)``. The app's
    ``start_response`` (its second parameter) next to any status literal, or a helper's own
    first parameter followed by a status (``respond(start_response, 404, ...)``). A request
    handed on next to a number (``paginate(request, items, 100)``) is not one."""
    args = call.args
    for index, arg in enumerate(args):
        if not isinstance(arg, ast.Name) or arg.id not in callables:
            continue
        if index + 1 < len(args) and _is_status_literal(args[index + 1]):
            return True
        if arg.id == start_response and any(
            _is_status_literal(a) for a in (*args, *(k.value for k in call.keywords))
        ):
            return True
    return False


def _is_wsgi_callable(func: ast.FunctionDef, enclosing_params: frozenset[str]) -> bool:
    """``func`` looks like a WSGI app, response helper, sub-app or middleware callable:

    - it hands a parameter on next to a status: ``html_response(start_response, 200, page)``;
    - it calls a parameter of an enclosing function with its environ (closure middleware:
      ``def mw(app): def wrapped(environ, start_response): return app(environ, ...)``);
    - it calls its first or second parameter (``start_response(status, headers)``), or hands
      both on (``return sub(environ, start_response)``), and shows HTTP itself: a status
      line, a CGI key or a header pair literal, the evidence the rules insist on.

    One walk over the function; evidence elsewhere in the file does not count, as the
    rules look for it in the function too.
    """
    params = _wsgi_params(func)
    if params is None:
        return False
    environ, second = params[0], params[1]
    # start_response is the second parameter of an app, the first of a response helper
    callables = set(_positional_params(func)[:2])
    shows_http = calls_a_parameter = hands_both_on = False
    discarded: set[int] = set()  # calls whose result is dropped (met before them: BFS)
    for node in walk_ast(func):
        if isinstance(node, ast.Expr):
            discarded.add(id(node.value))
        elif isinstance(node, ast.Call):
            if _positional_count(node) < 2:
                continue
            callee = node.func
            if isinstance(callee, ast.Name) and callee.id in callables:
                calls_a_parameter = True
            if _hands_on_with_status(node, second, callables):
                return True
            if _first_arg_is(node, environ):
                # closure middleware hands on (or reads) what the app returns
                if (
                    isinstance(callee, ast.Name)
                    and callee.id in enclosing_params
                    and id(node) not in discarded
                ):
                    return True
                arg = node.args[1]
                hands_both_on = hands_both_on or (isinstance(arg, ast.Name) and arg.id == second)
        elif not shows_http:
            shows_http = _is_http_literal(node)
    return shows_http and (calls_a_parameter or hands_both_on)


def _is_app_class(node: ast.ClassDef) -> bool:
    """A sync ``__call__`` that looks like a WSGI callable by itself, or that hands its
    start_response to a method of the class that calls it (``self.start(start_response)``),
    or hands it on so (``self._not_found(start_response)`` returning ``self._json(
    start_response, ...)``), the class showing HTTP somewhere (the status and headers may
    come from other methods)."""
    methods = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
    call = methods.get("__call__")
    if call is None or (params := _wsgi_params(call)) is None:
        return False
    if _is_wsgi_callable(call, frozenset()):
        return True
    todo, seen = _handed_to(call, {params[1]}), set()
    while todo:
        name = todo.pop()
        if name in seen or (method := methods.get(name)) is None:
            continue
        seen.add(name)
        names = set(_params(method))
        if any(isinstance(c.func, ast.Name) and c.func.id in names for c in _calls(method)):
            return any(_is_http_literal(n) for n in walk_ast(node))
        todo.extend(_handed_to(method, names))
    return False


def _handed_to(func: ast.FunctionDef, names: set[str]) -> list[str]:
    """The methods ``func`` calls on ``self`` (or ``cls``) handing them one of ``names``."""
    return [
        c.func.attr
        for c in walk_ast(func)
        if isinstance(c, ast.Call)
        and isinstance(c.func, ast.Attribute)
        and isinstance(c.func.value, ast.Name)
        and c.func.value.id in _RECEIVERS
        and any(isinstance(a, ast.Name) and a.id in names for a in c.args)
    ]


def _is_middleware_class(node: ast.ClassDef) -> bool:
    """``__init__`` plus a sync ``__call__(self, environ, start_response)`` that calls an
    attribute of self with the environ first: ``return self.app(environ, start)``."""
    methods = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
    call = methods.get("__call__")
    if "__init__" not in methods or call is None:
        return False
    params = _wsgi_params(call)
    if params is None:
        return False
    # what the app returns is handed on or read: a wrapper of a signal handler or a
    # callback (``self.handler(signum, frame)``) drops it
    discarded = {id(n.value) for n in walk_ast(call) if isinstance(n, ast.Expr)}
    return any(
        _first_arg_is(c, params[0]) and isinstance(c.func, ast.Attribute) and id(c) not in discarded
        for c in _calls(call)
    )


def has_wsgi_shape(tree: ast.Module, *, middleware_classes: bool = True) -> bool:
    """Could ``tree`` define a WSGI app, a WSGI middleware or a PEP 3333 iterable class?
    Without ``middleware_classes``, a class counts only as an app (its ``__call__`` shows
    HTTP) or an iterable class: what the wsgi-app rule recognises."""
    shape = _shape_of_module(tree)
    return shape == _CALLABLE or (middleware_classes and shape == _MIDDLEWARE_CLASS)


# What a search for shapes found, the stronger the greater: a middleware class satisfies
# the wsgi-middleware rule only, a WSGI callable (or an iterable class) both WSGI rules.
_NOTHING, _MIDDLEWARE_CLASS, _CALLABLE = 0, 1, 2


@functools.lru_cache(maxsize=1)  # both WSGI rules ask about the same tree (kept by identity)
def _shape_of_module(tree: ast.Module) -> int:
    found = _NOTHING
    for node in tree.body:
        found = max(found, _shape(node, frozenset()))
        if found == _CALLABLE:
            break
    return found


#: The nodes of the last module walked whole (see walk_ast): the scan of a file walks its
#: tree several times (imports, calls, tables, shapes).
_MODULE_NODES: list[tuple[ast.AST, list[ast.AST]]] = []


def walk_ast(root: ast.AST) -> list[ast.AST]:
    """``root`` and every node under it, in the order of :func:`ast.walk` (breadth first),
    in half its time; a whole module's are remembered until another module is walked."""
    if _MODULE_NODES and _MODULE_NODES[0][0] is root:
        return _MODULE_NODES[0][1]
    found = [root]
    append = found.append
    for node in found:  # it grows as it is read
        for name in node._fields:
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        append(item)
            elif isinstance(value, ast.AST):
                append(value)
    if isinstance(root, ast.Module):
        _MODULE_NODES[:] = [(root, found)]
    return found


def forget_tree() -> None:
    """Drop the nodes remembered by :func:`walk_ast`."""
    _MODULE_NODES.clear()


_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def statements(tree: ast.AST) -> Iterator[ast.AST]:
    """Every statement under ``tree``, at any depth, without visiting expressions."""
    stack = list(_statements_in(tree))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(_statements_in(node))


def _statements_in(node: ast.AST) -> Iterator[ast.AST]:
    """The statements directly inside ``node``'s blocks: defs and classes only stand there,
    so the search needs no visit of expressions (most of a tree)."""
    for block in _BLOCKS:
        yield from getattr(node, block, ())


def _shape(node: ast.AST, enclosing_params: frozenset[str]) -> int:
    found = _NOTHING
    if isinstance(node, ast.ClassDef):
        # The rules see a class through its __call__ (an app or a middleware class) or as a
        # PEP 3333 iterable class; its other methods and what they hold are never an app.
        if _is_iterable_response_class(node) or _is_app_class(node):
            return _CALLABLE
        return _MIDDLEWARE_CLASS if _is_middleware_class(node) else _NOTHING
    if isinstance(node, ast.FunctionDef) and _is_wsgi_callable(node, enclosing_params):
        return _CALLABLE
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        enclosing_params = enclosing_params | set(_params(node))
    for child in _statements_in(node):
        found = max(found, _shape(child, enclosing_params))
        if found == _CALLABLE:
            break
    return found


def _is_iterable_response_class(node: ast.ClassDef) -> bool:
    """A PEP 3333 iterable class: ``__init__(self, environ, start_response)`` and ``__iter__``,
    with start_response called, directly or through the attribute it is stored in."""
    methods = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
    init = methods.get("__init__")
    if init is None or "__iter__" not in methods:
        return False
    params = _positional_params(init)
    if len(params) < 2:
        return False
    start_response = params[1]
    stored_as = {
        target.attr
        for stmt in walk_ast(init)
        if isinstance(stmt, ast.Assign)
        and isinstance(stmt.value, ast.Name)
        and stmt.value.id == start_response
        for target in stmt.targets
        if isinstance(target, ast.Attribute)
    }
    for call in _calls(node):
        callee = call.func
        if isinstance(callee, ast.Name) and callee.id == start_response:
            return True
        if isinstance(callee, ast.Attribute) and callee.attr in stored_as:
            return True
    return False


def imports_any(tree: ast.Module, source: str, packages: frozenset[str]) -> bool:
    """``tree`` (parsed from ``source``) imports from one of the top-level ``packages``, at
    any depth."""
    if not any(package in source for package in packages):
        return False
    stack: list[ast.AST] = [tree]
    while stack:  # imports are statements: no need to look into expressions
        node = stack.pop()
        if isinstance(node, ast.Import):
            if any(alias.name.split(".")[0] in packages for alias in node.names):
                return True
        elif isinstance(node, ast.ImportFrom):
            if not node.level and node.module and node.module.split(".")[0] in packages:
                return True
        else:
            stack.extend(_statements_in(node))
    return False
