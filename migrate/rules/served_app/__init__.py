"""Rule ``served-app``: every name a module serves as a WSGI app holds an ASGI app after the run.

It runs after ``wsgi-middleware`` and ``wsgi-app``, on what they made. A module-level name
that still holds a WSGI app, and that no other code of the module hands on (so it is what a
server is pointed at: ``uvicorn module:app``), is served through ``adapters.WsgiToAsgi``
right after the last statement that builds it::

    # before                                    # after
    app = Api()                                 app = Api()
    app.add("/todos", Todos(store))             app.add("/todos", Todos(store))
                                                # migrate[served-app]: `app` holds ...
                                                app = WsgiToAsgi(app)

What the name holds is read by :mod:`migrate.app_values`: apps the other rules do not
recognise (the status and headers reach ``start_response`` through a helper, a
``wsgiref.headers.Headers``, a response object), instances of WSGI classes, stacks of
middleware the other rules left WSGI (one built in a ``for`` loop too).

What used the app as the WSGI app it was gets it through ``adapters.as_wsgi``: the module's
``__main__`` block (:mod:`.main_block`), its functions setting the app's attributes
(:mod:`.attributes`), and the other modules of the run using a framework app served this
way, its tests say (:mod:`.importers`). Raw WSGI apps other modules use the WSGI way are
left to the ``wsgi-app`` rule's markers.

A Flask app whose websockets go through its WSGI server's socket (Flask-Sock,
Flask-SocketIO) is not served through the adapter, which would refuse them: it stays on its
WSGI server, with a ``manual`` marker.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator, Mapping

import libcst as cst
from libcst.metadata import MetadataWrapper, ScopeProvider

from migrate import analysis, prefilter
from migrate.app_values import (
    ModuleValues,
    Protocol,
    Served,
    Value,
    asgi_factory_name,
    may_make_wsgi_apps,
)
from migrate.cst_helpers import add_imports, comments_of, with_marker
from migrate.module_paths import candidate_paths
from migrate.project import imported_target, may_use_wsgi_apps, wsgi_delegations
from migrate.rules.base import FileContext, Rule, marker_comment
from migrate.rules.served_app import importers, server_keys
from migrate.rules.served_app.attributes import later_uses
from migrate.rules.served_app.main_block import AsWsgi, Statement, wsgi_uses


class ServedAppRule(Rule):
    rule_id = "served-app"
    summary = (
        "A module-level name still serving a WSGI app after the other rules is served through "
        "adapters.WsgiToAsgi, so `uvicorn module:name` serves it."
    )

    @classmethod
    def might_apply(cls, source: str) -> bool:
        # a module serving an app, or one that may use an app another module serves: as
        # the WSGI app it was (a test client), under a name apps go by, or in a pytest
        # fixture handing it to the tests (``return shop_app``)
        return (
            may_make_wsgi_apps(source)
            or may_use_wsgi_apps(source)
            or _IMPORTS_AN_APP.search(source) is not None
            or ("fixture" in source and "import" in source)
        )

    @classmethod
    def might_apply_to_tree(cls, tree: ast.Module, source: str) -> bool:
        return (
            may_make_wsgi_apps(source)
            or bool(wsgi_delegations(tree))
            or _imports_an_app(tree)
            or _fixtures_import(tree)
        )

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        #: statement -> the bindings to add after it
        self.after: dict[int, list[cst.BaseStatement]] = {}
        #: the module's module-level names (how many bindings each)
        self._bound: Mapping[str, int] = {}
        #: a call that takes an app as it is (its plain-name arguments stay as they are)
        self._takes_either: Callable[[cst.Call], bool] = lambda call: False
        #: factory of another module of the run -> that module (its plans say why its app
        #: stays WSGI)
        self.made_in: dict[str, str] = {}
        self.imports: set[tuple[str, str]] = set()
        #: Where the module hands an app it served before on as WSGI (in its ``__main__``
        #: block, or one imported from a module serving it): each gets ``as_wsgi(...)``,
        #: with the markers (comment texts) above their statements.
        self.wsgi_uses: set[cst.BaseExpression] = set()
        self.markers: dict[Statement, list[str]] = {}

    def visit_Module(self, node: cst.Module) -> bool:
        self._bound = analysis.module_level_bindings(node)
        project = self.context.project
        imported = self._imported_factories(node) if project is not None else None
        values = ModuleValues(node, imported)
        self._takes_either = values.takes_app_as_is
        adapted: set[str] = set()
        # names of one app (``app = application``) are served together
        aliases: dict[int, list[tuple[Served, list[str]]]] = {}
        testing = importers.is_test_module(self.context.relpath)
        for served in values.served_wsgi_apps():
            if testing and self._handed_on_later(node, served.name):
                continue  # a test's app, for its test functions: no server names it
            callers = project.callers_of(self.context.relpath, served.name) if project else []
            if callers and not (project and project.serves(self.context.relpath, served.name)):
                continue  # other modules use it the WSGI way: the wsgi-app rule says so
            websockets = self._server_websockets(served.value)
            if websockets:
                self._keep_on_wsgi_server(served.name, served.value, served.bound_at, websockets)
                continue
            aliases.setdefault(id(served.value), []).append((served, callers))
        order = self.tree_index().order
        for group in aliases.values():
            group.sort(key=lambda pair: order(pair[0].final_at))
            self._adapt([served for served, _ in group], [c for _, cs in group for c in cs])
            adapted.update(served.name for served, _ in group)
        if adapted:
            self._keep_main_blocks_wsgi(node, adapted)
            self._keep_later_uses_wsgi(node, adapted)
            self._mark_server_key_reads(node)
        if project is not None:
            self._keep_imported_apps_wsgi(node)
        for factory, value in self._unserved_factories(node, values):
            websockets = self._server_websockets(value)
            if websockets:
                self._keep_on_wsgi_server(f"{factory.name.value}()", value, factory, websockets)
            else:
                self._add_asgi_factory(factory, value)
        return False

    def _keep_imported_apps_wsgi(self, module: cst.Module) -> None:
        """The apps this module imports from modules serving them get the WSGI apps they
        were where they are used (:mod:`migrate.rules.served_app.importers`)."""
        project = self.context.project
        assert project is not None
        relpath = self.context.relpath

        def served(module_ref: str) -> tuple[str, ...]:
            # a Quart or falcon.asgi app there: what uses it gets it as it is
            return tuple(
                name
                for name, (serving, _) in project.served_apps(relpath, module_ref).items()
                if not self._moves_natively(serving.relpath)
            )

        found = importers.imported_apps(module, served)
        if not found:
            return
        self._keep_flask_apps_for_flask_cli(module, found)
        scopes = MetadataWrapper(module, unsafe_skip_copy=True).resolve(ScopeProvider)
        index = self.tree_index()
        for binding, spelled, module_ref, name in found:
            uses = list(
                importers.uses_of(binding, spelled, scopes, index.parent, self._takes_either)
            )
            if not uses:
                continue
            self.wsgi_uses.update(uses)
            statement = index.parent(binding)
            assert isinstance(statement, cst.SimpleStatementLine)
            places = f"{len(uses)} place{'s' if len(uses) > 1 else ''}"
            message = (
                f"{self._asgi_after_run(spelled, module_ref, name)}: where this module uses it as the "
                f"WSGI app it was ({places}), it gets that app through adapters.as_wsgi"
            )
            self._mark_as_wsgi(statement, message, binding)

    def _keep_flask_apps_for_flask_cli(
        self, module: cst.Module, found: list[importers.ImportedApp]
    ) -> None:
        """A module importing a Flask app another module serves (``from app import app`` in
        the Flask Mega-Tutorial's ``microblog.py``) was a module Flask's command line could
        load (``FLASK_APP=microblog.py``: it looks for a Flask app there). The app is the
        adapter now: the module keeps the Flask app under a second name, as the serving
        module does."""
        project = self.context.project
        assert project is not None
        relpath = self.context.relpath
        if importers.is_test_module(relpath) or project.flask_server_websockets():
            return
        kept = importers.flask_apps_kept(module)
        for binding, local, module_ref, name in found:
            serving, served_as = project.served_apps(relpath, module_ref)[name]
            if (
                served_as not in serving.served_flask_apps
                or "." in local  # ``import app`` then ``app.app``: no name to re-export
                or local in kept
                or importers.same_package(relpath, serving.relpath, project.files)
            ):
                continue
            statement = next((s for s in module.body if binding in _small_statements(s)), None)
            if statement is None:
                continue  # imported in a function or a block: not what the command reads
            keep = _free_name(("flask_app", f"{local}_flask", "flask_wsgi_app"), self._bound)
            message = (
                f"{self._asgi_after_run(local, module_ref, name)}; Flask's command line (FLASK_APP "
                f"naming this module) looks for a Flask app here: `{keep}` is the Flask app, "
                "through adapters.as_wsgi"
            )
            made = cst.parse_statement(f"{keep} = as_wsgi({local})\n")
            self.after.setdefault(id(statement), []).append(
                with_marker(made, marker_comment(self.rule_id, message))
            )
            self.imports.add(("adapters", "as_wsgi"))
            self.report(statement, "adapted", message)
            kept.add(local)

    def _import_name(self) -> str:
        """The module's name as its project imports it: from the top of its packages
        (``project`` for ``services/web/project/__init__.py`` when ``services/web`` is no
        package), not from the run's root."""
        project = self.context.project
        if project is None:
            return self.context.module_name
        folders = self.context.relpath.split("/")[:-1]
        if self.context.relpath.endswith("/__init__.py"):
            folders = folders[:-1]  # the package itself is the module
        while folders and "/".join([*folders, "__init__.py"]) in project.files:
            folders = folders[:-1]  # a package: part of the name
        # what is left are plain folders above the top package: not part of the name
        return ".".join(self.context.module_name.split(".")[len(folders) :])

    def _asgi_after_run(self, local: str, module_ref: str, name: str) -> str:
        """What a module importing a served app is told about it; the module serving it is
        named by its file where the import does not name it (``from . import app``; a
        package giving on an app of one of its modules)."""
        project = self.context.project
        assert project is not None
        serving, _ = project.served_apps(self.context.relpath, module_ref)[name]
        named = module_ref
        if module_ref.startswith(".") or serving.relpath not in candidate_paths(
            self.context.relpath, module_ref
        ):
            named = serving.relpath
        return (
            f"`{local}` is an ASGI app after the run ({named} serves it through "
            "adapters.WsgiToAsgi)"
        )

    def _mark_as_wsgi(
        self, statement: cst.BaseStatement, message: str, at: cst.CSTNode | None = None
    ) -> None:
        """A use in ``statement`` gets the app through ``as_wsgi``: the marker above it, the
        change reported at ``at`` (the statement itself by default)."""
        assert isinstance(statement, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
        self.markers.setdefault(statement, []).append(marker_comment(self.rule_id, message))
        self.imports.add(("adapters", "as_wsgi"))
        self.report(statement if at is None else at, "adapted", message)

    def _keep_main_blocks_wsgi(self, module: cst.Module, adapted: set[str]) -> None:
        """The ``__main__`` block gets the WSGI apps it handed on before the run
        (:mod:`migrate.rules.served_app.main_block`)."""
        for stmt in module.body:
            if not analysis._is_main_guard(stmt):
                continue
            assert isinstance(stmt, cst.If)
            uses = wsgi_uses(stmt, adapted, self._takes_either)
            if not uses.names:
                continue
            self.wsgi_uses.update(uses.names)
            for at, names in uses.by_statement.items():
                self._mark_as_wsgi(at, _main_block_message(names))

    def _keep_later_uses_wsgi(self, module: cst.Module, adapted: set[str]) -> None:
        """The module's functions hand on the apps it serves, store their attributes, or
        read the adapter's own names: they get the apps through ``as_wsgi``
        (:mod:`migrate.rules.served_app.attributes`)."""
        found: dict[cst.BaseStatement, tuple[list[str], set[bool]]] = {}
        parent = self.tree_index().parent
        for use, statement, handed_on in later_uses(
            module.body, adapted, parent, self._takes_either
        ):
            self.wsgi_uses.add(use)
            names, kinds = found.setdefault(statement, ([], set()))
            names.append(use.value)
            kinds.add(handed_on)
        for statement, (names, kinds) in found.items():
            listed = ", ".join(f"`{name}`" for name in dict.fromkeys(names))
            what = " and ".join(
                (
                    "hands on the WSGI app it was"
                    if handed_on
                    else "sets an attribute of the WSGI app it was, or reads one the adapter "
                    "has too"
                )
                for handed_on in sorted(kinds, reverse=True)
            )
            message = (
                f"{listed} holds an ASGI app when this code runs, and it {what}: it gets "
                "that app through adapters.as_wsgi"
            )
            self._mark_as_wsgi(statement, message)

    def _handed_on_later(self, module: cst.Module, name: str) -> bool:
        """A function of ``module`` hands the app of ``name`` on (``Client(app)``)."""
        uses = later_uses(module.body, [name], self.tree_index().parent, self._takes_either)
        return any(handed_on for _, _, handed_on in uses)

    def _mark_server_key_reads(self, module: cst.Module) -> None:
        """What the module reads of the environ that only a WSGI server sets gets a
        ``manual`` marker (:mod:`migrate.rules.served_app.server_keys`)."""
        for statement, key in server_keys.server_key_reads(module, self.tree_index().parent):
            self._mark_manual(statement, server_keys.message(key))

    def _mark_manual(self, statement: cst.BaseStatement, message: str) -> None:
        """A ``manual`` marker above ``statement``, reported, unless a run put it there
        already (or this one did, for another use in it)."""
        assert isinstance(statement, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
        comment = marker_comment(self.rule_id, message)
        if comment in comments_of(statement) or comment in self.markers.get(statement, ()):
            return
        self.markers.setdefault(statement, []).append(comment)
        self.report(statement, "manual", message)

    def _unserved_factories(
        self, module: cst.Module, values: ModuleValues
    ) -> Iterator[tuple[cst.FunctionDef, Value]]:
        """The module's factories of WSGI apps whose apps no module-level name of the run
        holds (``app = create_app()`` here or elsewhere: that name is served)."""
        factories = values.factories()
        bound = self._bound
        served_here = {
            analysis.dotted_name(small.value.func)
            for stmt in module.body
            if isinstance(stmt, cst.SimpleStatementLine)
            for small in stmt.body
            if isinstance(small, cst.Assign) and isinstance(small.value, cst.Call)
        }
        project = self.context.project
        for stmt in module.body:
            if not isinstance(stmt, cst.FunctionDef) or stmt.name.value not in factories:
                continue
            name, value = stmt.name.value, factories[stmt.name.value]
            # served by the module calling it, if that module can tell it makes a framework's
            # app (the summaries say so of framework apps only)
            elsewhere = (
                project is not None
                and project.served_elsewhere(self.context.relpath, name)
                and (
                    not value.makes_framework_apps
                    or project.exports_factory(self.context.relpath, name)
                )
            )
            if (
                value.protocol == "wsgi"
                and asgi_factory_name(name) not in bound
                and name not in served_here
                and not elsewhere
                and _callable_bare(stmt)
                and not _returns_a_module_name(stmt, bound)
            ):
                yield stmt, value

    def _add_asgi_factory(self, factory: cst.FunctionDef, value: Value) -> None:
        """An ASGI factory beside a factory of WSGI apps, for ``uvicorn --factory``: the
        factory itself keeps its WSGI app (its tests, its CLI and its callers use it)."""
        name, asgi_name = factory.name.value, asgi_factory_name(factory.name.value)
        # what it returns on some path may be another kind of app: as_asgi adapts only a
        # WSGI one
        adapter = "as_asgi" if value.either else "WsgiToAsgi"
        message = (
            f"{value.describe()}, which no rule converted to ASGI: `{asgi_name}` serves it "
            f"through adapters.{adapter} for ASGI servers (`uvicorn --factory "
            f"{self._import_name()}:{asgi_name}`); `{name}` still returns the WSGI app "
            "its callers and tests use"
        )
        why = self._why_framework_stays(value)
        if why:
            message += f" ({why})"
        made = cst.parse_statement(
            f"def {asgi_name}(*args, **kwargs):\n    return {adapter}({name}(*args, **kwargs))\n"
        )
        made = made.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
        self.after.setdefault(id(factory), []).append(
            with_marker(made, marker_comment(self.rule_id, message))
        )
        self.imports.add(("adapters", adapter))
        self.report(factory, "adapted", message)

    def _imported_factories(self, module: cst.Module) -> Callable[[str], Value | None]:
        """What a call of a name imported from another module of the run makes, when the
        project index knows that function returns an app (``create_app()``)."""
        project = self.context.project
        assert project is not None
        target_of = imported_target(module)

        def factory(callee: str) -> Value | None:
            target = target_of(callee)
            found = project.app_factory(self.context.relpath, *target) if target else None
            if (
                found is None
                and target is not None
                and project.app_class(self.context.relpath, *target)
            ):
                # a WSGI app class there, which its module may or may not make ASGI
                return Value(
                    "wsgi",
                    True,
                    f"an instance of the app class `{target[1]}` of {target[0]}",
                    target[1],
                    either=True,
                )
            if found is None or found[0] not in ("wsgi", "asgi"):
                return None
            assert target is not None
            made, how, either, self.made_in[target[1]] = found
            protocol: Protocol = "wsgi" if made == "wsgi" else "asgi"
            if "Flask" in how and self._moves_to_quart(self.made_in[target[1]]):
                protocol = "asgi"  # the factory's module makes a Quart app after the run
            return Value(protocol, True, how, target[1], either=either)

        return factory

    def _moves_natively(self, relpath: str) -> bool:
        """The module ``relpath`` moves its Flask app to Quart, or its Falcon apps to
        falcon.asgi, in this run: its apps are ASGI without the adapter."""
        project = self.context.project
        assert project is not None
        rules = self.context.run_rules
        return ("flask-quart" in rules and project.flask_plan(relpath).convert) or (
            "falcon-asgi" in rules and bool(project.falcon_plan(relpath).apps)
        )

    def _moves_to_quart(self, relpath: str) -> bool:
        """The module ``relpath`` moves to Quart in this run (``flask-quart``)."""
        project = self.context.project
        return (
            project is not None
            and "flask-quart" in self.context.run_rules
            and project.flask_plan(relpath).convert
        )

    def _adapt(self, names_of_one_app: list[Served], callers: list[str]) -> None:
        """Serve the app the names hold (one, or aliases of one app) through the adapter,
        after the last statement that builds it under any of them."""
        served = names_of_one_app[-1]
        name = served.name
        others = [s.name for s in names_of_one_app[:-1]]
        if served.value.either:
            # its class's module decides whether it stays WSGI: serving it tells
            message = (
                f"`{name}` holds {served.value.describe()}, which may still be a WSGI app after "
                f"the run (its module decides): served through adapters.as_asgi, which wraps "
                f"it in WsgiToAsgi only if it is, so `{name}` is an ASGI app either way"
            )
            wrapper = "as_asgi"
            self.imports.add(("adapters", "as_asgi"))
        else:
            message = (
                f"`{name}` holds {served.value.describe()}, which no rule converted to ASGI: "
                f"served through adapters.WsgiToAsgi, so `{name}` is an ASGI app"
            )
            wrapper = "WsgiToAsgi"
            self.imports.add(("adapters", "WsgiToAsgi"))
        why = self._why_framework_stays(served.value)
        if why:
            message += f" ({why})"
        if callers:
            message += (
                f"; {', '.join(callers)} {'use' if len(callers) > 1 else 'uses'} it as the WSGI "
                "app it was, through adapters.as_wsgi"
            )
        wrapped = name
        if "Flask" in served.value.describe() and not served.value.either:
            # Flask's command line (flask run, flask shell, flask db upgrade) looks for the
            # module's Flask app: under `app`, else as the one Flask instance of the module
            keep = _free_name(("flask_app", f"{name}_flask", "flask_wsgi_app"), self._bound)
            wrapped = f"{keep} := {name}"
            message += (
                f"; the Flask app stays in `{keep}` for Flask's command line (`flask run`, "
                f"`flask shell`, `flask db upgrade`), which finds it there (a FLASK_APP or "
                f"--app naming `{self._import_name()}:{name}` must name "
                f"`{self._import_name()}:{keep}`)"
            )
        if others:
            listed = ", ".join(f"`{other}`" for other in others)
            message += f"; {listed} holds the same app, and is served the same way"
        targets = " = ".join([*others, name])
        binding: cst.BaseStatement = cst.parse_statement(f"{targets} = {wrapper}({wrapped})\n")
        if isinstance(served.final_at, cst.BaseCompoundStatement):
            assert isinstance(binding, cst.SimpleStatementLine)
            binding = binding.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
        self.after.setdefault(id(served.final_at), []).append(
            with_marker(binding, marker_comment(self.rule_id, message))
        )
        self.report(served.final_at, "adapted", message)

    def _keep_on_wsgi_server(
        self, name: str, value: Value, statement: cst.BaseStatement, websockets: str
    ) -> None:
        """A framework app answering websockets through its WSGI server's socket stays
        WSGI, on that server: through the adapter it would refuse every websocket."""
        verb = "returns" if name.endswith("()") else "holds"
        message = (
            f"`{name}` {verb} {value.describe()} whose websockets go through the "
            f"WSGI server's own socket ({websockets}): no ASGI server hands an app one, so "
            f"served through an ASGI adapter it would refuse every websocket; it stays a WSGI "
            f"app, on its WSGI server. To serve it with an ASGI server, move its websockets "
            f"to an ASGI library by hand (python-socketio's `socketio.ASGIApp`, Quart's "
            f"websockets)"
        )
        self._mark_manual(statement, message)

    def _server_websockets(self, value: Value) -> str:
        """The extension through which a Flask app answers websockets on its WSGI server's
        socket, from the run's Flask plan."""
        project = self.context.project
        if project is None or "Flask" not in value.describe():
            return ""
        return project.flask_server_websockets()

    def _why_framework_stays(self, value: Value) -> str:
        """Why the framework rule left a Flask or Falcon app on WSGI, from its plan."""
        project = self.context.project
        if project is None:
            return ""
        how = value.describe()
        maker = value.name or value.made_by
        relpath = self.made_in.get(maker, self.context.relpath)
        if "Flask" in how:
            plan = project.flask_plan(relpath)
            if plan.refused:
                return f"the run stays on Flask: {plan.refused}"
            if plan.convert:
                return (
                    "`--enable flask-quart` moves it to Quart, which served slower in our benchmark"
                )
        if "Falcon" in how:
            falcon = project.falcon_plan(relpath)
            if falcon.refused:
                return f"it stays on Falcon's WSGI App: {falcon.refused[0][1]}"
            if falcon.apps:
                return "`--enable falcon-asgi` moves it to falcon.asgi, which served slower in our benchmark"
        return ""

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if not self.after and not self.wsgi_uses and not self.markers:
            return updated_node
        if self.wsgi_uses or self.markers:
            # untouched by the walk (visit_Module stops it): its nodes are the original's
            updated_node = updated_node.visit(AsWsgi(self.wsgi_uses, self.markers))
        body: list[cst.BaseStatement] = []
        for original, stmt in zip(original_node.body, updated_node.body, strict=True):
            body.append(stmt)
            body.extend(self.after.get(id(original), ()))
        module = updated_node.with_changes(body=body)
        return add_imports(module, sorted(self.imports))


#: The names apps go by, imported by modules that do not say what they do with them.
_APP_NAMES = frozenset({"app", "application", "api"})
#: ``from myapp import app``, ``import myapp`` then ``myapp.application``.
_IMPORTS_AN_APP = re.compile(
    r"^[ \t]*from[ \t]+[\w.]+[ \t]+import[ \t(]+[^#\n]*\b(?:app|application|api)\b"
    r"|\.(?:app|application|api)\b",
    re.MULTILINE,
)


def _imports_an_app(tree: ast.Module) -> bool:
    """``from myapp import app``, or ``myapp.app`` after ``import myapp``."""
    modules: set[str] = set()
    attributes: set[str] = set()
    for node in prefilter.walk_ast(tree):
        if isinstance(node, ast.ImportFrom):
            if any(alias.name in _APP_NAMES for alias in node.names):
                return True
        elif isinstance(node, ast.Import):
            modules.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in _APP_NAMES
            and isinstance(node.value, (ast.Name, ast.Attribute))
        ):
            root: ast.expr = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name):
                attributes.add(root.id)
    return bool(modules & attributes)


def _small_statements(stmt: cst.BaseStatement) -> tuple[cst.BaseSmallStatement, ...]:
    return tuple(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else ()


def _fixtures_import(tree: ast.Module) -> bool:
    """The module defines pytest fixtures (``@pytest.fixture``, ``@fixture(...)``) and
    imports from another module: a fixture may hand an app of the run to the tests under any
    name (``from shop.web import app as shop_app``; ``return shop_app``)."""
    imports = fixtures = False
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module:
            imports = True
        elif isinstance(stmt, ast.FunctionDef) and any(
            _is_fixture(decorator) for decorator in stmt.decorator_list
        ):
            fixtures = True
    return imports and fixtures


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    return name in ("fixture", "yield_fixture")


def _free_name(names: tuple[str, ...], bound: Mapping[str, int]) -> str:
    """The first of ``names`` the module does not bind (a numbered one past them)."""
    for name in names:
        if name not in bound:
            return name
    return next(f"{names[0]}_{n}" for n in range(2, 1000) if f"{names[0]}_{n}" not in bound)


def _main_block_message(names: list[str]) -> str:
    listed = ", ".join(f"`{name}`" for name in dict.fromkeys(names))
    return (
        f"{listed} holds an ASGI app now, and this code uses it as the WSGI app it was (hands "
        "it on, or sets its attributes): it gets that app through adapters.as_wsgi"
    )


def _returns_a_module_name(func: cst.FunctionDef, bound: Mapping[str, int]) -> bool:
    """``func`` hands back an app a module-level name holds (``def get_app(): return app``,
    ``return as_wsgi(app)`` once the run served it): a getter, not a factory; that name is
    served itself."""
    returned = [
        _unwrapped_as_wsgi(node.value)
        for node in analysis.walk(func.body, into_scopes=False)
        if isinstance(node, cst.Return)
    ]
    return bool(returned) and all(
        isinstance(value, cst.Name)
        and value.value in bound
        and any(ref is value for ref in analysis.global_references(func, value.value))
        for value in returned
    )


def _unwrapped_as_wsgi(value: cst.BaseExpression | None) -> cst.BaseExpression | None:
    """``app`` of ``as_wsgi(app)``; anything else as it is."""
    if (
        isinstance(value, cst.Call)
        and analysis.dotted_name(value.func) in ("as_wsgi", "adapters.as_wsgi")
        and len(value.args) == 1
    ):
        return value.args[0].value
    return value


def _callable_bare(func: cst.FunctionDef) -> bool:
    """``func()`` is a valid call (every parameter has a default), as ``uvicorn --factory``
    and ``gunicorn 'module:factory()'`` make it: Pyramid's ``main(global_config, **settings)``
    is not, and an ASGI factory beside it would serve nothing."""
    params = func.params
    required = [
        p
        for p in (*params.posonly_params, *params.params, *params.kwonly_params)
        if p.default is None
    ]
    return not required
