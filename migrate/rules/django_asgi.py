"""Rule ``django-asgi``: a Django project's ``wsgi.py`` gets its ``asgi.py``.

Django serves ASGI itself (``django.core.asgi.get_asgi_application``), so a project moves by
gaining the entry point Django's own ``startproject`` writes since 3.0::

    # mysite/wsgi.py (kept: runserver and       # mysite/asgi.py (new)
    # WSGI servers go on using it)
    import os                                   import os
    from django.core.wsgi import (              from django.core.asgi import (
        get_wsgi_application)                       get_asgi_application)
    os.environ.setdefault(                      os.environ.setdefault(
        "DJANGO_SETTINGS_MODULE",                   "DJANGO_SETTINGS_MODULE",
        "mysite.settings")                          "mysite.settings")
    application = get_wsgi_application()        application = get_asgi_application()

``asgi.py`` is ``wsgi.py`` with the WSGI names replaced, so whatever else it does first (a
``sys.path`` entry, loading a ``.env``) is done the same way, and the other rules then migrate
it like any module: WSGI middleware wrapping the app afterwards (``application =
WhiteNoise(application)``) becomes its ASGI counterpart there. ``uvicorn
mysite.asgi:application`` serves the project. The rule claims ``wsgi.py``: no rule changes it.
Nothing is created when an ``asgi.py`` exists.
"""

from __future__ import annotations

import posixpath

import libcst as cst

from migrate import analysis
from migrate.cst_helpers import add_imports, is_docstring, with_marker
from migrate.middleware_analysis import ASGI_MIDDLEWARE, PASTE_MIDDLEWARE, THIRD_PARTY
from migrate.rules.base import Rule, marker_comment

GET_WSGI = "django.core.wsgi.get_wsgi_application"


class _ToAsgi(cst.CSTTransformer):
    """wsgi.py's text, the WSGI names made ASGI ones (and its docstring)."""

    def __init__(self, module: cst.Module) -> None:
        super().__init__()
        first = module.body[0] if module.body else None
        docstring = (
            first.body[0].value
            if first is not None
            and is_docstring(first)
            and isinstance(first, cst.SimpleStatementLine)
            and isinstance(first.body[0], cst.Expr)
            else None
        )
        self.docstring = docstring if isinstance(docstring, cst.SimpleString) else None

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        if updated_node.value == "get_wsgi_application":
            return updated_node.with_changes(value="get_asgi_application")
        return updated_node

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.Attribute:
        if analysis.dotted_name(updated_node) == "django.core.wsgi":
            return updated_node.with_changes(attr=cst.Name("asgi"))
        return updated_node

    def leave_SimpleString(
        self, original_node: cst.SimpleString, updated_node: cst.SimpleString
    ) -> cst.SimpleString:
        # only the docstring Django writes: "WSGI config for mysite project. It exposes the
        # WSGI callable ..."; other strings (a settings value, a log line) stay as they are
        if original_node is not self.docstring:
            return updated_node
        return updated_node.with_changes(value=updated_node.value.replace("WSGI", "ASGI"))


class DjangoAsgiRule(Rule):
    rule_id = "django-asgi"
    summary = (
        "A Django project's wsgi.py gets an asgi.py beside it (get_asgi_application, same "
        "settings); wsgi.py stays as it is, for runserver and WSGI servers."
    )

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return "get_wsgi_application" in source

    @classmethod
    def claims(cls, relpath: str, source: str) -> bool:
        # runserver and WSGI servers go on importing wsgi.py: no rule changes it
        return posixpath.basename(relpath) == "wsgi.py" and "get_wsgi_application" in source

    def visit_Module(self, node: cst.Module) -> bool:
        relpath = self.context.relpath
        if posixpath.basename(relpath) != "wsgi.py":
            return False
        spellings = analysis.import_spellings(node, frozenset({GET_WSGI}))
        asgi = posixpath.join(posixpath.dirname(relpath), "asgi.py")
        project = self.context.project
        if not spellings or (project is not None and asgi in project.files):
            return False
        binding = self._binding(node, set(spellings))
        if binding is None:
            # made in a block (``if "DYNO" in os.environ: application = Cling(...) else:
            # ...``): served as wsgi.py makes it, if it is Django's ``application``
            if "application" in analysis.module_level_bindings(node):
                why = "wsgi.py makes `application` in a block, which this tool does not rewrite"
                self._serve_wsgi_stack(node, "application", why, "rewrite it")
            return False
        name = analysis._name_assignment(binding)
        assert name is not None
        index = node.body.index(binding)
        wrapped = any(analysis.global_references(s, name[0]) for s in node.body[index + 1 :])
        foreign = self._foreign_middleware(node, index, name[0], set(spellings))
        if foreign:
            # WSGI middleware no rule has an ASGI counterpart for: around Django's ASGI app
            # it would get an ASGI app; the WSGI stack is served as it is, through the adapter
            listed = ", ".join(f"`{callee}`" for callee in foreign)
            why = (
                f"{listed} wraps the app, WSGI middleware of a package outside the run with no "
                "ASGI counterpart this tool knows"
            )
            self._serve_wsgi_stack(node, name[0], why, "replace it by an ASGI one")
            return False
        message = (
            "asgi.py created beside wsgi.py (get_asgi_application(), the same settings"
            + (", the wrapping after it migrated by the rules" if wrapped else "")
            + f"): {self._serves(name[0])}"
        )
        self.create_beside("asgi.py", node.visit(_ToAsgi(node)).code, "converted", message)
        return False

    def _serves(self, name: str) -> str:
        module = self.context.module_name.rsplit(".", 1)[0] + ".asgi"
        if "." not in self.context.module_name:
            module = "asgi"
        return (
            f"`uvicorn {module}:{name}` serves the project; wsgi.py stays as it is, for "
            "runserver and WSGI servers"
        )

    def _serve_wsgi_stack(self, module: cst.Module, name: str, why: str, fix: str) -> None:
        """asgi.py: wsgi.py as it is, its app served through ``adapters.WsgiToAsgi``."""
        message = (
            f"asgi.py created beside wsgi.py, serving wsgi.py's app as it is through "
            f"adapters.WsgiToAsgi: {why}; for Django's own ASGI handler, {fix} and serve "
            f"get_asgi_application(); {self._serves(name)}"
        )
        stack = cst.parse_statement(f"{name} = WsgiToAsgi({name})\n")
        adapted = module.with_changes(
            body=[*module.body, with_marker(stack, marker_comment(self.rule_id, message))]
        )
        text = add_imports(adapted, [("adapters", "WsgiToAsgi")]).code
        self.create_beside("asgi.py", text, "adapted", message)

    def _foreign_middleware(
        self, module: cst.Module, index: int, app: str, get_wsgi: set[str]
    ) -> list[str]:
        """The callees of module-level calls given the app after it is made (``application
        = Cling(application)``, ``application = Cling(get_wsgi_application())``) imported
        from a package outside the run that no rule turns into ASGI middleware."""
        bindings = analysis.import_bindings(module, anywhere=True)  # (``if "DYNO" in ...:``)
        project = self.context.project

        def is_the_app(arg: cst.Arg) -> bool:
            value = arg.value
            return arg.keyword is None and (
                analysis.is_plain_name(value, app)
                or (isinstance(value, cst.Call) and analysis.dotted_name(value.func) in get_wsgi)
            )

        found: list[str] = []
        for stmt in module.body[index:]:
            for node in analysis.walk(stmt, into_scopes=False):
                if not isinstance(node, cst.Call) or not any(map(is_the_app, node.args)):
                    continue
                callee = analysis.dotted_name(node.func)
                binding = bindings.get(callee.split(".")[0]) if callee else None
                if binding is None:
                    continue
                qualified = binding.qualified(callee.split(".")[1:])
                known = (
                    qualified in THIRD_PARTY
                    or qualified in PASTE_MIDDLEWARE
                    or qualified in ASGI_MIDDLEWARE
                    or qualified.startswith("django.")
                )
                in_run = project is not None and (
                    project.module(self.context.relpath, binding.module) is not None
                    or binding.module.startswith(".")
                )
                if not known and not in_run and callee not in found:
                    found.append(callee)
        return found

    def _binding(self, module: cst.Module, spellings: set[str]) -> cst.BaseStatement | None:
        """``application = get_wsgi_application()`` at module level."""
        for stmt in module.body:
            assigned = analysis._name_assignment(stmt)
            if (
                assigned is not None
                and isinstance(assigned[1], cst.Call)
                and analysis.dotted_name(assigned[1].func) in spellings
            ):
                return stmt
        return None
