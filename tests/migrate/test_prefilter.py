"""The shape prefilter: every WSGI form the rules handle passes it; everyday Python does not.

Every rule test also checks that the sources it migrates pass both prefilter stages (see
``tests/harness.py``); these tests pin the forms and the false positives down by name.
"""

from __future__ import annotations

import ast
import textwrap

import pytest

from migrate import prefilter
from migrate.prefilter import has_wsgi_shape, may_hold_wsgi_callable
from migrate.rules import rules_by_id
from migrate.runner import UnknownRuleError, select_rules
from tests.harness import migrate_text

WSGI_FORMS = {
    "app with other names": """
        def app(env, respond):
            respond("200 OK", [("Content-Type", "text/plain")])
            return [b"hi"]
    """,
    "method app": """
        class Site:
            def __call__(self, environ, start_response):
                start_response("200 OK", [])
                return [b"hi"]
    """,
    "response helper": """
        def html_response(start_response, status, body):
            start_response(status, [("Content-Type", "text/html")])
            return [body]
    """,
    "sub-app with a helper from another module": """
        from http_utils import html_response

        def page(environ, start_response, name):
            return html_response(start_response, 200, name)
    """,
    "dispatcher over imported sub-apps": """
        from views import index, about

        def app(environ, start_response):
            if environ["PATH_INFO"] == "/about":
                return about(environ, start_response)
            return index(environ, start_response)
    """,
    "middleware class": """
        class Count:
            def __init__(self, app):
                self.app = app

            def __call__(self, environ, start_response):
                return self.app(environ, start_response)
    """,
    "closure middleware": """
        def middleware(app):
            def wrapped(environ, start_response):
                return app(environ, start_response)
            return wrapped
    """,
    "decorator factory middleware": """
        def require_token(token):
            def decorate(app):
                def wrapped(environ, start_response):
                    return app(environ, start_response)
                return wrapped
            return decorate
    """,
    "PEP 3333 iterable class": """
        class Response:
            def __init__(self, environ, start_response):
                self.environ = environ
                self.start = start_response

            def __iter__(self):
                self.start("200 OK", [])
                yield b"hi"
    """,
    "start_response passed through *args": """
        def wrapped(environ, start_response):
            def start(*args):
                return start_response(*args)
            return start(*("200 OK", []))
    """,
    "app class inside a try block": """
        try:
            import ujson as json
        except ImportError:
            class Site:
                def __call__(self, environ, start_response):
                    start_response("200 OK", [])
                    return [b"hi"]
    """,
    "app inside an if block": """
        import sys
        if sys.version_info >= (3,):
            def app(environ, start_response):
                start_response("200 OK", [])
                return [b""]
    """,
    "a class answering through a chain of its methods": """
        class Api:
            def __call__(self, environ, start_response):
                if environ.get("PATH_INFO") != "/":
                    return self._not_found(start_response)
                return self._not_found(start_response)

            def _not_found(self, start_response):
                return self._json(start_response, "404 Not Found", {})

            def _json(self, start_response, status, payload):
                start_response(status, [("Content-Type", "application/json")])
                return [repr(payload).encode()]
    """,
}

NOT_WSGI = {
    "f-string assertion": """
        def assert_visible(self, response, field_name):
            self.assertContains(response, f"<div class={field_name}>")
    """,
    "factory called with keywords only": """
        def formfield(self, form_class=None, **kwargs):
            return form_class(**kwargs)
    """,
    "keyword-only callback": """
        def transform(field, alias, *, name, previous):
            return previous(field, alias)
    """,
    "plain iterable class": """
        class RawQuery:
            def __init__(self, sql, using, params=()):
                self.sql = sql

            def __iter__(self):
                return iter(self.execute(self.sql, self.params))
    """,
    "delegation without HTTP": """
        def get(self, key, default):
            return self.cache.get(key, default)
    """,
    # Django's own code, which the earlier prefilter let through to libcst:
    "a request handed on next to a page size": """
        def history_view(self, request, object_id):
            paginator = self.get_paginator(request, self.actions(object_id), 100)
            return paginator.page(1)
    """,
    "a request handed on with a keyword status": """
        def error_handler(request, exception=None):
            return TemplateResponse(request, "handler.html", status=403)
    """,
    "a method handing its request on, next to a CGI key": """
        class SubclassedMiddleware(BrokenLinkEmailsMiddleware):
            def is_ignorable_request(self, request, uri, domain, referer):
                if super().is_ignorable_request(request, uri, domain, referer):
                    return True
                return "Spider" in request.META["HTTP_USER_AGENT"]
    """,
    "an app nested in a test method (the rules convert module-level apps only)": """
        class ServerTests(TestCase):
            def test_app(self):
                def app(environ, start_response):
                    start_response("200 OK", [])
                    return [b"hi"]
                self.serve(app)
    """,
    "a callback parameter called in a module that speaks HTTP elsewhere": """
        HEADERS = [("Content-Type", "text/html")]

        def register(self, model, admin_class):
            return admin_class(model, self)
    """,
}


def _tree(source: str) -> ast.Module:
    return ast.parse(textwrap.dedent(source))


@pytest.mark.parametrize("source", WSGI_FORMS.values(), ids=WSGI_FORMS.keys())
def test_wsgi_forms_pass(source: str) -> None:
    assert has_wsgi_shape(_tree(source))


@pytest.mark.parametrize("source", WSGI_FORMS.values(), ids=WSGI_FORMS.keys())
def test_wsgi_forms_pass_the_text_stage_of_a_wsgi_rule(source: str) -> None:
    text = textwrap.dedent(source)
    rules = rules_by_id()
    assert rules["wsgi-app"].might_apply(text) or rules["wsgi-middleware"].might_apply(text)


@pytest.mark.parametrize(
    "params",
    [
        "environ: dict[str, object], start_response: Callable[..., object]",
        "environ,  # the request\n    start_response,",
        "environ=None, start_response=make_default()",
        "environ, \\\n    start_response",
    ],
    ids=["generic annotations", "comments", "call in a default", "line continuation"],
)
def test_the_text_stage_reads_parameter_lists_that_are_not_simple(params: str) -> None:
    source = f"def app({params}):\n    start_response('200 OK', [])\n    return []\n"
    assert may_hold_wsgi_callable(source)


def test_the_text_stage_needs_a_called_parameter_and_a_sign_of_http() -> None:
    assert not may_hold_wsgi_callable("def f(a, b):\n    b('200 OK', [])\n".replace("b(", "c("))
    assert not may_hold_wsgi_callable("def f(a, b):\n    b(1, 2)\n")


@pytest.mark.parametrize("source", NOT_WSGI.values(), ids=NOT_WSGI.keys())
def test_everyday_python_does_not(source: str) -> None:
    assert not has_wsgi_shape(_tree(source))


def test_third_party_middleware_is_found_by_its_imports() -> None:
    middleware = rules_by_id()["wsgi-middleware"]
    source = "from werkzeug.middleware.proxy_fix import ProxyFix\napp = ProxyFix(app)\n"
    assert middleware.might_apply(source)
    assert middleware.might_apply_to_tree(ast.parse(source), source)
    # an editor's paste() is not Paste
    editor = "class Editor:\n    def paste(self, event):\n        self.text.paste()\n"
    assert middleware.might_apply(editor)
    assert not middleware.might_apply_to_tree(ast.parse(editor), editor)


def test_selecting_a_rule_without_the_rules_it_needs_is_a_usage_error() -> None:
    with pytest.raises(UnknownRuleError, match="'wsgi-middleware' needs 'wsgi-app'"):
        select_rules(["wsgi-middleware"])
    with pytest.raises(UnknownRuleError, match="needs 'wsgi-app'"):
        select_rules(None, ["wsgi-app"])
    chosen = [rule.rule_id for rule in select_rules(["wsgi-app", "wsgi-middleware"])]
    assert set(chosen) == {"wsgi-app", "wsgi-middleware"}
    assert rules_by_id()["wsgi-middleware"].requires == ("wsgi-app",)


def test_the_text_stage_reads_only_the_methods_the_rules_read() -> None:
    # Django's tests: helper methods calling a parameter, next to status literals
    test_case = (
        "class Tests(TestCase):\n"
        "    def check(self, response, callback):\n"
        "        callback(response, '404 Not Found')\n"
    )
    assert not may_hold_wsgi_callable(test_case)
    assert may_hold_wsgi_callable(test_case.replace("def check", "def __call__"))


def test_the_server_rule_needs_an_import_of_a_server_package() -> None:
    server = rules_by_id()["server"]
    test_module = "class Tests:\n    def test(self):\n        server = self.make_server('cert')\n"
    assert server.might_apply(test_module)
    assert not server.might_apply_to_tree(ast.parse(test_module), test_module)
    for imports in (
        "from wsgiref.simple_server import make_server",
        "from wsgiref import simple_server",
        "import wsgiref.simple_server as ss",
        "from werkzeug.serving import run_simple",
        "import waitress",
    ):
        source = f"{imports}\n{test_module}"
        assert server.might_apply_to_tree(ast.parse(source), source), imports


def test_a_status_without_its_reason_phrase_passes_each_stage() -> None:
    source = textwrap.dedent(
        """
        def app(environ, start_response):
            start_response("200", HEADERS)
            return [b"hi"]
        """
    )
    rule = rules_by_id()["wsgi-app"]
    assert migrate_text(source, rule)[1]  # the rule takes it for an app...
    assert rule.might_apply(source)  # ...so both prefilters must let it through
    assert rule.might_apply_to_tree(ast.parse(source), source)


@pytest.mark.parametrize(
    "pair",
    [
        '("Content-Type", v)',
        '("content-length", n)',
        '("Location", url)',
        '(u"Location", url)',
        '("""Location""", url)',
        '(("Location"), url)',
        '("content" "-type", v)',  # joined strings
        '("content"  # a comment\n "-type", v)',
        '("\\x43ontent-Type", v)',  # escapes
        '("Loc\\x61tion", v)',
        '("location", url)',  # no header name (is_header_name): the text may pass it or not
        '("id", models.AutoField())',
        '("two words", 1)',
    ],
)
def test_the_text_stage_finds_every_pair_the_shape_stage_takes_for_a_header(pair: str) -> None:
    source = f"headers = [{pair}]\n"
    first = ast.parse(source).body[0].value.elts[0].elts[0]  # type: ignore[attr-defined]
    is_header = isinstance(first, ast.Constant) and prefilter.is_header_name(first.value)
    if is_header:
        assert prefilter._HEADERS_TEXT.search(source)
    else:  # the text stage is sharp on the plain cases
        assert not prefilter._HEADERS_TEXT.search(source) or "\\" in pair


@pytest.mark.parametrize(
    ("headers", "is_app"),
    [
        ('[("Content-Type", "text/plain")]', True),
        ('(("Content-Type", "text/plain"),)', True),
        ("[(name, value)]", False),  # pairs of names: no sign of HTTP
        ('[("a", "b")]', False),  # nor pairs whose first item is no header name
    ],
    ids=["header list", "header tuple", "pairs of names", "pairs of words"],
)
def test_headers_as_the_only_sign_of_http_mean_the_same_to_each_stage(
    headers: str, is_app: bool
) -> None:
    """The text stage, the shape stage and the rule agree on a header list as evidence (the
    status is not a literal): what a stage lets through alone, the next one takes too."""
    source = textwrap.dedent(
        f"""
        def app(environ, start_response):
            name, value = "Content-Type", "text/plain"
            start_response(STATUS, {headers})
            return [b"hi"]
        """
    )
    rule = rules_by_id()["wsgi-app"]
    rule_converts = bool(migrate_text(source, rule)[1])
    assert rule_converts is is_app
    if is_app:
        assert rule.might_apply(source)
        assert rule.might_apply_to_tree(ast.parse(source), source)
    else:
        assert not rule.might_apply_to_tree(ast.parse(source), source)


@pytest.mark.parametrize(
    ("call", "found"),
    [
        ("respond(status, headers)", True),
        ("respond(status == OK and '200 OK', headers)", True),
        ("respond(status=status, headers=headers)", False),  # no positional argument
        ("respond(*args)", True),
    ],
)
def test_the_text_stage_reads_the_first_argument_of_a_call(call: str, found: bool) -> None:
    source = f"def app(environ, respond):\n    {call}\n    return ['200 OK']\n"
    assert may_hold_wsgi_callable(source) is found


@pytest.mark.parametrize(
    "params",
    ["environ, start_response=make(1, 2)", 'environ, start_response=")"', "environ=(1, ')'), sr=2"],
)
def test_the_text_stage_reads_parameter_lists_with_parentheses_and_strings(params: str) -> None:
    source = f"def app({params}):\n    start_response('200 OK', [])\n    sr('200 OK', [])\n"
    assert may_hold_wsgi_callable(source)


SIGNAL_HANDLERS = {
    "class": """
        class Handler:
            def __init__(self, default_handler):
                self.default_handler = default_handler

            def __call__(self, signum, frame):
                self.default_handler(signum, frame)
                self.called = True


        handler = Handler(signal.getsignal(signal.SIGINT))
        signal.signal(signal.SIGINT, handler)
    """,
    "closure": """
        def logged(handler):
            def wrapped(signum, frame):
                log("signal", signum)
                handler(signum, frame)

            return wrapped
    """,
}


@pytest.mark.parametrize("source", SIGNAL_HANDLERS.values(), ids=SIGNAL_HANDLERS.keys())
def test_a_wrapper_that_drops_what_it_calls_returns_is_no_middleware(source: str) -> None:
    """Shaped like WSGI middleware (two parameters, the first handed on), but what the
    wrapped callable returns is dropped: no WSGI middleware does that (the response is what
    the app returns), so neither the rule nor the shape stage takes it for one."""
    text = textwrap.dedent(source)
    middleware = rules_by_id()["wsgi-middleware"]
    assert migrate_text(text, middleware) == (text, [])
    assert not middleware.might_apply_to_tree(ast.parse(text), text)
    # handing the result on makes it one
    handing_on = text.replace("        handler(signum", "        return handler(signum").replace(
        "        self.default_handler(signum", "        return self.default_handler(signum"
    )
    assert middleware.might_apply_to_tree(ast.parse(handing_on), handing_on)


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ("return sub_app(environ, start_response)", True),
        ("return html_response(start_response, page, status=404)", True),
        ('return respond(start_response, "404 Not Found")', True),
        (
            "return helpers.render(\n        start_response,\n        page,\n        200,\n    )",
            True,
        ),
        ('return respond(start_response, ")", 404)', True),  # a ")" in a string
        ("log(start_response, page)", False),  # no status, no environ before it
    ],
    ids=[
        "sub-app",
        "status keyword",
        "status string",
        "over lines",
        "paren in a string",
        "no status",
    ],
)
def test_the_text_stage_follows_start_response_handed_on(body: str, found: bool) -> None:
    source = f"def app(environ, start_response):\n    page = ['<h1>']\n    {body}\n"
    source += 'HEADERS = [("Content-Type", "text/html")]\n'  # a sign of HTTP elsewhere
    assert may_hold_wsgi_callable(source) is found


def test_a_helper_handing_on_its_first_parameter_with_a_status_passes_the_text_stage() -> None:
    source = (
        "def not_found(start_response, page):\n"
        "    return respond(start_response, 404, page)\n"
        'HEADERS = [("Content-Type", "text/html")]\n'
    )
    assert may_hold_wsgi_callable(source)


@pytest.mark.parametrize(
    "text, called",
    [
        ("respond('200 OK', headers)", True),
        ("    return respond(status, [])", True),
        ("self.respond('200 OK', headers)", False),  # a method of something else
        ("my_respond('200 OK', headers)", False),  # another name ending the same
        ("respond('200 OK')", False),  # one argument: not start_response
        # the first match (ba, after an x) is no call of a name; one starts inside it
        ("xba(a(1, 2)", True),
    ],
)
def test_a_parameter_called_by_its_plain_name(text: str, called: bool) -> None:
    assert prefilter._called_by_plain_name(text, ["respond", "a", "ba"]) is called
