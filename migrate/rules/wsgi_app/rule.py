"""The rule: finding the apps of a module, their groups and route tables, converting or adapting
each, and writing the module back."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import libcst as cst

from migrate import analysis, app_finding, prefilter
from migrate.app_finding import CallGroup, Delegate, GroupMember, WsgiApp
from migrate.blocking import ModuleFacts, give_thread_back_early
from migrate.cst_helpers import (
    add_imports,
    code_of,
    has_marker,
    with_marker,
)
from migrate.hand_offs import hand_off_methods
from migrate.route_decorators import RouteDecorator, find_route_decorators
from migrate.route_tables import RouteTable, find_route_tables, joined_groups
from migrate.rules import wsgi_app as package
from migrate.rules.base import FileContext, Rule, marker_comment
from migrate.rules.wsgi_app.common import HELPERS, Unconvertible, _expr, _stmt
from migrate.rules.wsgi_app.convert import (
    Conversion,
    ConvertedMethod,
    _middleware_decorators,
    convert_callable,
    convert_hand_offs,
    hand_off_delegates,
    merge_hand_offs,
)
from migrate.rules.wsgi_app.imported import ImportedHelpers
from migrate.rules.wsgi_app.iterable_class import convert_iterable_class


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


def _served_alone(conversion: Conversion) -> None:
    """An app nothing else of the module calls, whose one blocking call is its last: its
    thread is given back as soon as that call returns (``run_blocking_last``), as
    ``WsgiToAsgi`` frees its thread once the WSGI app answered, not when the response went out."""
    early = give_thread_back_early(conversion.node, conversion.imports)
    if early is not None:
        conversion.node, conversion.imports = early


class _WrapReads(cst.CSTTransformer):
    """The Name nodes ``reads`` (ids in the original tree) -> ``wrapper(name)``."""

    def __init__(self, reads: set[int], wrapper: str) -> None:
        super().__init__()
        self.reads = reads
        self.wrapper = wrapper

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> cst.CSTNode:  # type: ignore[override]
        if isinstance(original_node, cst.Name) and id(original_node) in self.reads:
            return _expr(f"{self.wrapper}({original_node.value})")
        return updated_node


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
        #: Local names of ASGI middleware (see :func:`app_finding.middleware_names`).
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
        apps = app_finding.find_apps(node, responder)
        # views a route decorator makes apps: converted only with a route table holding them
        decorators = {d.name: d for d in find_route_decorators(node)}
        known = {a.name: a for a in apps}
        decorated = []
        for app in app_finding.decorated_apps(node, list(decorators.values())):
            if app.name in known:
                known[app.name].decorated_by = app.decorated_by  # an app of two parameters
            else:
                decorated.append(app)
        groups = app_finding.find_call_groups(node, [*apps, *decorated], responder)
        if not groups and not apps:
            return False
        self.blocking = ModuleFacts(node, self.context.blocking, known_helpers=frozenset({HELPERS}))
        self.middleware = app_finding.middleware_names(node)
        aliases = analysis.wsgiref_util_aliases(node)
        helpers = analysis.read_only_environ_helpers(
            node, self.imported.environ_readers() if self.imported else None
        )
        grouped: set[int] = set()
        found = {id(app) for app in apps}
        called_elsewhere = self._called_elsewhere([*apps, *(m for g in groups for m in g.members)])
        with_tables: set[int] = set()  # the call groups converted with a route table
        for table in find_route_tables(node, [*apps, *decorated]):
            dispatchers = [a for a in apps if a.name in table.dispatchers]
            joined = joined_groups(table, groups, dispatchers)
            members = [*table.apps, *dispatchers]
            if (
                joined is None
                or any(
                    id(a) in grouped
                    or a.name in called_elsewhere
                    or a.already_adapted
                    or has_marker(a.node, self.rule_id, module=node)
                    for a in [*members, *(m.app for g in joined for m in g.members if m.app)]
                )
                # a helper another module hands its start_response to stays as it is
                or any(m.name in called_elsewhere for g in joined for m in g.members)
            ):
                continue
            if self._plan_table(table, members, joined, decorators, aliases, helpers):
                grouped.update(id(a) for a in members)
                grouped.update(id(m.app) for g in joined for m in g.members if m.app)
                with_tables.update(id(g) for g in joined)
        for group in groups:
            if id(group) in with_tables or all(
                m.app is not None and id(m.app) in grouped for m in group.members
            ):
                continue  # a route table's, converted with it
            group.problems.extend(
                f"`{m.name}` is made an app by `@{m.app.decorated_by}`, converted only with "
                "a route table holding it"
                for m in group.members
                if m.app is not None and m.app.decorated_by
            )
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
            elif len(group.members) > 1 or group.problems or group.imported_uses or group.classes:
                self._plan_group(group, node, aliases, helpers, found, apps)
                grouped.update(id(m.app) for m in group.members if m.app is not None)
                grouped.update(id(a) for a in apps if a.name in group.classes)
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
                self._plan_iterable_class(app, aliases, helpers)
            elif app.kind == "function":
                assert isinstance(app.node, cst.FunctionDef)
                try:
                    conversion = self._convert_function(
                        app.node, app.environ, app.start_response, aliases, helpers
                    )
                except Unconvertible as why:
                    self._adapt_definition(app, str(why))
                else:
                    if not app.stack_uses:  # else the middleware's code follows it
                        _served_alone(conversion)
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
            middleware=options.pop("middleware", self.middleware),
            imported=self.imported,
            blocking=self.blocking,
            **options,
        )

    # -- route tables -----------------------------------------------------------------

    def _plan_table(
        self,
        table: RouteTable,
        members: Sequence[WsgiApp],
        groups: Sequence[CallGroup],
        decorators: Mapping[str, RouteDecorator],
        aliases: dict[str, str],
        helpers: dict[str, set[int]],
    ) -> bool:
        """Convert the apps of a route table, its dispatchers and their call groups
        together, or none of them (the dispatchers hand the request to what the table holds,
        and the members of a group hand each other start_response)."""
        shared = {m.name: m.delegate for g in groups for m in g.members}
        in_groups = {m.name: (g, m) for g in groups for m in g.members}
        makers = self._route_decorators(members, groups, decorators)
        if makers is None:
            return False
        # a decorated view keeps its decorator, an app maker converted with it
        middleware = self.middleware | {d.name for d in makers} | table.kept_decorators
        conversions: dict[str, tuple[cst.BaseStatement, Conversion]] = {}
        for maker in makers:
            try:
                conversions[maker.name] = self._convert_class(
                    maker,
                    self._module_node(),
                    aliases,
                    helpers,
                    delegates={decorators[maker.name].param: Delegate(0, 1)},
                )
            except Unconvertible:
                return False
        for app in members:
            delegates = (
                {**shared, **table.delegates(app.name)} if app.name in table.dispatchers else shared
            )
            try:
                if isinstance(app.node, cst.ClassDef):
                    # a dispatching class given the routes by its constructor
                    conversions[app.name] = self._convert_class(
                        app, self._module_node(), aliases, helpers, delegates=delegates
                    )
                    continue
                conversion = self._convert_function(
                    app.node,
                    app.environ,
                    app.start_response,
                    aliases,
                    helpers,
                    delegates=delegates,
                    middleware=middleware,
                )
                conversions[app.name] = (conversion.node, conversion)
            except Unconvertible:
                return False  # each stays as it was (and is said so, one by one)
        # the helpers and sub-apps of the groups, which the table does not hold
        others: dict[str, Conversion] = {}
        for name, (_, member) in in_groups.items():
            if name in conversions:
                continue
            try:
                others[name] = self._convert_function(
                    member.node,
                    member.environ,
                    member.start_response,
                    aliases,
                    helpers,
                    delegates=shared,
                    role="helper" if member.is_helper else "app",
                )
            except Unconvertible:
                return False
        for app in [*makers, *members]:
            node, conversion = conversions[app.name]
            conversion.details.append(f"with the route table `{table.name}`")
            if app.name in in_groups and isinstance(app.node, cst.FunctionDef):
                self._converted_member(*in_groups[app.name], conversion)
            else:
                self._converted(app, node, conversion)
        for name, conversion in others.items():
            self._converted_member(*in_groups[name], conversion)
        return True

    def _route_decorators(
        self,
        members: Sequence[WsgiApp],
        groups: Sequence[CallGroup],
        decorators: Mapping[str, RouteDecorator],
    ) -> list[WsgiApp] | None:
        """The route decorators making apps of the unit, as the factories they are (what
        they return is the app they define); None when one also decorates a function outside
        the unit, or another module of the run uses it (``@with_route_args`` on its views)."""
        unit = {a.name for a in members} | {m.name for g in groups for m in g.members}
        used = [
            a.decorated_by
            for a in [*members, *(m.app for g in groups for m in g.members if m.app)]
            if a.decorated_by
        ]
        makers = []
        project = self.context.project
        for name in dict.fromkeys(used):
            decorator = decorators[name]
            if (
                any(f.name.value not in unit for f in decorator.decorated)
                or (project is not None and project.callers_of(self.context.relpath, name))
                # the middleware rule kept it as WSGI middleware, and said why
                or has_marker(decorator.node, "wsgi-middleware", module=self._module_node())
            ):
                return None
            makers.append(
                WsgiApp(
                    "factory",
                    name,
                    decorator.node,
                    decorator.environ,
                    decorator.start_response,
                    made=decorator.made,
                )
            )
        return makers

    # -- call groups ------------------------------------------------------------------

    def _plan_group(
        self,
        group: CallGroup,
        module: cst.Module,
        aliases: dict[str, str],
        helpers: dict[str, set[int]],
        found: set[int],
        apps: Sequence[WsgiApp] = (),
    ) -> None:
        """Convert every member of ``group`` or none: a half-converted group would hand an
        ASGI ``send`` to WSGI code (or the reverse). The WSGI app classes whose instances it
        serves (``group.classes``) convert with it."""
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
                served = {key: Delegate(0, 1) for key in member.instance_calls}
                try:
                    conversions[member.name] = self._convert_function(
                        member.node,
                        member.environ,
                        member.start_response,
                        aliases,
                        helpers,
                        delegates={**delegates, **served},
                        role="helper" if member.is_helper else "app",
                    )
                except Unconvertible as why:
                    problems.append(f"`{member.name}`: {why}")
        classes = [a for a in apps if a.name in group.classes]
        converted_classes: dict[str, tuple[cst.ClassDef | cst.FunctionDef, Conversion]] = {}
        # the classes whose instances the group serves (find_call_groups made the flow)
        flow = app_finding.instance_flow(module, apps) if classes else None
        for cls_app in classes:
            assert flow is not None
            # the class, and the functions of the module making its instances (``route``),
            # may be served the WSGI way by other modules of the run
            makers = [
                name
                for name, made in flow.makers.items()
                if "." not in name and cls_app.name in made
            ]
            project = self.context.project
            users = sorted(
                {f for name in makers for f in project.callers_of(self.context.relpath, name)}
                if project is not None
                else set()
            )
            if users:
                problems.append(
                    f"`{cls_app.name}`'s instances are served the WSGI way by {', '.join(users[:2])}"
                )
                continue
            try:
                converted_classes[cls_app.name] = self._convert_class(
                    cls_app, module, aliases, helpers
                )
            except Unconvertible as why:
                problems.append(f"`{cls_app.name}`: {why}")
        if not problems and package.CONVERTS_CALL_GROUPS:
            for member in group.members:
                if not member.callers and not member.is_helper:
                    _served_alone(conversions[member.name])
                self._converted_member(group, member, conversions[member.name])
            for cls_app in classes:
                new_class, conversion = converted_classes[cls_app.name]
                users = [
                    m.name
                    for m in group.members
                    if any(cls_app.name in c for c in m.instance_calls.values())
                ]
                conversion.details.append(
                    f"its instances answer requests for {_names(users)}, converted with it"
                )
                self._converted(cls_app, new_class, conversion)
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
            if member.instance_calls and reason:
                self._adapt_definition(app, reason)
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
        try:
            new_node, conversion = self._convert_class(app, module, aliases, helpers)
        except Unconvertible as why:
            for stmt in module.body:
                for maker in app.makers:
                    bound = app_finding._instance_binding(stmt, maker)
                    if bound is not None and isinstance(stmt, cst.SimpleStatementLine):
                        self._adapt_binding(stmt, bound, str(why))
            return
        self._converted(app, new_node, conversion)

    def _plan_iterable_class(
        self, app: WsgiApp, aliases: dict[str, str], helpers: dict[str, set[int]]
    ) -> None:
        """A PEP 3333 iterable class becomes a class that is an ASGI app (``__await__``), or
        stays WSGI behind the adapter, still a class (``asgi_helpers.app_class``)."""
        cls = app.node
        assert isinstance(cls, cst.ClassDef)

        def convert(func: cst.FunctionDef, environ: str, start_response: str) -> Conversion:
            return convert_callable(
                func,
                environ,
                start_response,
                method=True,
                aliases=aliases,
                helpers=helpers,
                imported=self.imported,
                blocking=self.blocking,
                cls=cls,
            )

        try:
            new_class, conversion = convert_iterable_class(cls, convert)
        except Unconvertible as why:
            self._adapt_definition(app, str(why), as_class=True)
        else:
            self._converted(app, new_class, conversion)

    def _module_node(self) -> cst.Module:
        assert self._module is not None
        return self._module

    def _convert_class(
        self,
        app: WsgiApp,
        module: cst.Module,
        aliases: dict[str, str],
        helpers: dict[str, set[int]],
        delegates: Mapping[str, Delegate] | None = None,
    ) -> tuple[cst.ClassDef | cst.FunctionDef, Conversion]:
        """The class with its ``__call__`` (and the methods it hands the request or the
        response to) converted, or the factory with the app it defines converted; or
        :class:`Unconvertible`."""
        factory = app.kind == "factory"
        if factory:
            assert isinstance(app.node, cst.FunctionDef)
            inner = app.made
        else:
            assert isinstance(app.node, cst.ClassDef)
            inner = analysis.method_named(app.node, "__call__")
        assert inner is not None
        cls = app.node if isinstance(app.node, cst.ClassDef) else None
        # the methods the class hands the request or the response to convert with it
        methods = (
            hand_off_methods(module, cls, inner, app.environ, app.start_response) if cls else []
        )

        def convert(
            func: cst.FunctionDef, environ: str, start_response: str, **options: Any
        ) -> Conversion:
            return convert_callable(
                func,
                environ,
                start_response,
                method=not factory,
                aliases=aliases,
                helpers=helpers,
                # decorators kept only when ASGI middleware: a __call__'s never are
                middleware=self.middleware if factory else frozenset(),
                imported=self.imported,
                blocking=self.blocking,
                cls=cls,
                **options,
            )

        def convert_request(
            func: cst.FunctionDef, environ: str, start_response: str, delegates: dict[str, Delegate]
        ) -> ConvertedMethod:
            done = convert(
                func, environ, start_response, delegates=delegates, role="request-method"
            )
            return ConvertedMethod(done.node, done.details, done.imports)

        conversion = convert(
            inner,
            app.environ,
            app.start_response,
            delegates={
                **(hand_off_delegates(methods, inner) if methods else {}),
                **(delegates or {}),
            }
            or None,
        )
        converted = (
            convert_hand_offs(
                methods,
                cls,
                convert_request,
                aliases=aliases,
                helpers=helpers,
                blocking=self.blocking,
            )
            if cls and methods
            else {}
        )
        merge_hand_offs(conversion.details, conversion.imports, converted, methods)
        body = app.node.body
        assert isinstance(body, cst.IndentedBlock)
        new_body = [
            conversion.node if s is inner else converted[id(s)].node if id(s) in converted else s
            for s in body.body
        ]
        return app.node.with_changes(body=body.with_changes(body=new_body)), conversion

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
        as_class: bool = False,
    ) -> None:
        """``def _name_wsgi`` and ``name = WsgiToAsgi(_name_wsgi)``. ASGI middleware decorators
        (``@auth``) move onto the binding, around the adapter: ``name = auth(WsgiToAsgi(...))``.
        ``as_class``: the name held a class, and still does (``asgi_helpers.app_class``)."""
        private = f"_{app.name}_wsgi"
        outer = _middleware_decorators(app.node, self.middleware)
        renamed = app.node.with_changes(
            name=cst.Name(private), decorators=app.node.decorators[len(outer) :]
        )
        value = f"WsgiToAsgi({private})"
        if as_class:
            value = f'{HELPERS}.app_class({value}, "{app.name}")'
            self.imports.add(("adapters", HELPERS))
        for decorator in reversed(outer):
            value = f"{code_of(decorator.decorator)}({value})"
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
            body=[small.with_changes(value=_expr(f"WsgiToAsgi({code_of(small.value)})"))]
        )
        self.replacements[id(stmt)] = with_marker(wrapped, marker_comment(self.rule_id, message))
        self.imports.add(("adapters", "WsgiToAsgi"))
        self.report(stmt, "adapted", message)

    def _called_elsewhere(
        self, apps: Sequence[WsgiApp | app_finding.GroupMember]
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
        callers = " or ".join(
            f"`{name}()`" for name in (app.name, *(f.name.value for f in app.factories))
        )
        message = (
            f"{what} `{app.name}` left as WSGI: no name of this module holds an app it makes, "
            "so the rule cannot see how they are served: convert it together with the code "
            f"that calls {callers}, or serve what that makes through adapters.WsgiToAsgi"
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
            # the ASGI middleware decorating it needs an ASGI app: the name becomes one, and
            # what used it as the WSGI app it was gets that app back through as_wsgi
            kept = self._uses_through_as_wsgi(app)
            if kept:
                uses = (
                    f"where this module uses it as the WSGI app it was (line {kept}), it gets "
                    "that app through adapters.as_wsgi"
                )
            else:
                uses = "check those uses"
            message = (
                f"WSGI app `{app.name}` is also used by other code here (line {lines}); kept "
                f"as WSGI (as `_{app.name}_wsgi`) and served through adapters.WsgiToAsgi under "
                f"its ASGI middleware decorators, so `{app.name}` is now an ASGI app: {uses}"
                + (f" ({reason})" if reason else "")
            )
            self._adapt_definition(app, "", kind="adapted" if kept else "manual", message=message)
        else:
            self.replacements[id(node)] = with_marker(node, marker_comment(self.rule_id, message))
            self.report(node, "manual", message)
        self._adapt_stack_uses(app)

    def _uses_through_as_wsgi(self, app: WsgiApp) -> str:
        """Every statement of ``app.other_uses`` reads ``as_wsgi(name)`` where it read the
        name; the lines, or ``""`` (nothing changed) when one of them also binds the name or
        another change of the rule rewrites it."""
        statements = [s for s in app.other_uses if isinstance(s, cst.BaseStatement)]
        if len(statements) != len(app.other_uses) or any(
            id(s) in self.replacements or app.name in analysis.bound_names(s) for s in statements
        ):
            return ""
        for statement in statements:
            reads = {id(n) for n in analysis.global_references(statement, app.name)}
            new = statement.visit(_WrapReads(reads, "as_wsgi"))
            assert isinstance(new, cst.BaseStatement)
            self.replacements[id(statement)] = new
        self.imports.add(("adapters", "as_wsgi"))
        return ", ".join(dict.fromkeys(str(self.line_of(s)) for s in statements))

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
