"""Rule ``falcon-asgi``: Falcon apps move to ``falcon.asgi``, with every part they call.

::

    # before                                      # after
    import falcon                                 import falcon
                                                  import falcon.asgi

    class Items:                                  class Items:
        def on_get(self, req, resp):                  async def on_get(self, req, resp):
            resp.media = find(req.get_param("q"))         resp.media = find(req.get_param("q"))

        @falcon.before(require_key)                   @falcon.before(require_key)
        def on_post(self, req, resp):                 async def on_post(self, req, resp):
            resp.media = add(req.get_media())             resp.media = add(await req.get_media())

    app = falcon.App(middleware=[Tenant()])       app = falcon.asgi.App(middleware=[Tenant()])
    app.add_route("/items", Items())              app.add_route("/items", Items())

An app converts together with everything it calls, wherever it is defined in the run
(:mod:`migrate.frameworks.falcon` decides; every module reads the same plan): the responders of its resources,
its middleware's ``process_*`` methods, the hooks on them (``falcon.before(fn)``, and the
function a hook factory returns), its error handlers and sinks become coroutines; the body
is read with ``await req.get_media()`` (``req.media`` too); a file given to ``resp.stream``
is opened and read in the blocking pool (``await AsyncFile.open(...)``); any other call that
may block runs there too (:mod:`migrate.blocking`). An app with a part the plan cannot
convert faithfully (a sync generator as the stream, ``req.env``, ``req`` handed to code the
rule cannot see, a resource that is not a class instance) stays WSGI, and ``served-app``
serves it through the adapter. Falcon's ``testing.TestClient`` drives both kinds of apps, so
the project's tests keep working.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import PositionProvider

from migrate import analysis
from migrate.blocking import ModuleFacts, as_coroutine, give_thread_back_early
from migrate.cst_helpers import (
    ENVIRON_IMPORTS,
    EnvironFromScope,
    ReplaceNodes,
    add_imports,
    paren_await,
    suite_statements,
)
from migrate.frameworks.falcon import FALCON_APPS, REQ_AT, ModulePlan, Part, might_use_falcon
from migrate.rules.base import FileContext, Rule

ASYNC_FILE = ("adapters.blocking", "AsyncFile")


class FalconAsgiRule(Rule):
    rule_id = "falcon-asgi"
    opt_in = True  # slower than the adapter, as measured: see the README
    summary = (
        "Falcon apps become falcon.asgi apps: responders, middleware, hooks, error handlers "
        "and sinks become coroutines across the modules of the run (or the app stays WSGI)."
    )

    @classmethod
    def might_apply(cls, source: str) -> bool:
        return might_use_falcon(source)

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self.plan = ModulePlan()
        self.imports: list[tuple[str, str | None]] = []

    def visit_Module(self, node: cst.Module) -> bool:
        project = self.context.project
        if project is None:
            return False
        self.plan = project.falcon_plan(self.context.relpath)
        return False

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if not self.plan.apps and not self.plan.parts:
            return updated_node
        # found and reported in the module as given (nodes with positions), swapped at once
        replacements = {**self._apps(original_node), **self._parts(original_node)}
        module = original_node.visit(ReplaceNodes(replacements))
        assert isinstance(module, cst.Module)
        return add_imports(module, self.imports) if self.imports else module

    # -- apps ---------------------------------------------------------------------------

    def _apps(self, module: cst.Module) -> dict[int, cst.CSTNode]:
        spellings = analysis.import_spellings(module, FALCON_APPS)
        wrapper = cst.MetadataWrapper(module, unsafe_skip_copy=True)
        positions = wrapper.resolve(PositionProvider)
        calls = sorted(
            (
                node
                for node in positions
                if isinstance(node, cst.Call) and analysis.dotted_name(node.func) in spellings
            ),
            key=lambda call: (positions[call].start.line, positions[call].start.column),
        )
        chosen = {id(call): call for index, call in enumerate(calls) if index in self.plan.apps}
        new_func = cst.parse_expression("falcon.asgi.App")
        for call in chosen.values():
            self.report(call, "converted", "Falcon app: falcon.asgi.App, its parts coroutines")
        if chosen:
            self.imports.append(("falcon.asgi", None))
        return {id(c): c.with_changes(func=new_func) for c in chosen.values()}

    # -- parts ---------------------------------------------------------------------------

    def _parts(self, module: cst.Module) -> dict[int, cst.CSTNode]:
        facts = ModuleFacts(module, self.context.blocking, stashed_elsewhere=self.plan.stashed)
        replacements: dict[int, cst.CSTNode] = {}
        classes = {s.name.value: s for s in module.body if isinstance(s, cst.ClassDef)}
        functions = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
        for part in sorted(self.plan.parts, key=lambda p: (p.cls, p.factory, p.name)):
            owner: cst.ClassDef | None = None
            if part.cls:
                owner = classes.get(part.cls)
                func = _def_in(owner, part.name)
            elif part.factory:
                func = _def_in(functions.get(part.factory), part.name)
            else:
                func = functions.get(part.name)
            if func is None:
                raise AssertionError(f"the plan names {part}, which {self.context.relpath} lacks")
            replacements[id(func)] = self._coroutine(func, part, facts, owner)
        return replacements

    def _async_generators(
        self, func: cst.FunctionDef, resp: str, facts: ModuleFacts, owner: cst.ClassDef | None
    ) -> cst.FunctionDef:
        """``func`` with the generators it defines and streams (``resp.stream = gen()``)
        made async generators: falcon.asgi takes no other (the plan refused the rest)."""
        streamed = _streamed_names(func, resp)
        if not streamed:
            return func
        body: list[cst.BaseStatement] = []
        for stmt in suite_statements(func.body):
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value in streamed:
                made = as_coroutine(stmt, cst.CSTTransformer(), facts, cls=owner)
                name = f"`{stmt.name.value}`, streamed by `{func.name.value}`,"
                if made.refused:
                    self.report(stmt, "manual", made.manual_message(stmt.name.value))
                else:
                    self.imports.extend(made.imports)
                    detail = f" ({made.detail})" if made.detail else ""
                    self.report(stmt, "converted", f"{name} is an async generator{detail}")
                stmt = made.node
            body.append(stmt)
        assert isinstance(func.body, cst.IndentedBlock)
        return func.with_changes(body=func.body.with_changes(body=body))

    def _coroutine(
        self, func: cst.FunctionDef, part: Part, facts: ModuleFacts, owner: cst.ClassDef | None
    ) -> cst.FunctionDef:
        params = [p.name.value for p in func.params.params]
        kind = (
            "responder"
            if part.cls and part.name.startswith("on_")
            else ("middleware" if part.cls else part.kind)
        )
        at = REQ_AT.get(kind, 0)
        req = params[at]
        resp = params[at + 1] if len(params) > at + 1 else ""
        streaming = self._async_generators(func, resp, facts, owner)
        awaiting = _AwaitBody(req, resp)
        # what falcon.asgi hands over is data to the analysis; the resource a middleware or
        # hook gets is not (it may hold a connection), nor is what they were handed
        data = [p for p in (req, resp) if p]
        made = as_coroutine(streaming, awaiting, facts, cls=owner, data_params=data)
        if awaiting.files:
            self.imports.append(ASYNC_FILE)
        if made.refused:
            # the plan checked the shapes it knows; this one the analysis refuses: kept
            # async without moving the call would block the loop, so the module says so
            self.report(func, "manual", made.manual_message(part.name))
            return made.node
        imports = made.imports
        if part in self.plan.last and (early := give_thread_back_early(made.node, imports)):
            # nothing of the run follows in the request: its thread is free once it returns
            made.node, imports = early
        self.imports.extend(imports)
        environ = EnvironFromScope(frozenset({req}), "env")  # after the analysis: data reads
        node = made.node.visit(environ)
        assert isinstance(node, cst.FunctionDef)
        if environ.reads:
            self.imports.extend(ENVIRON_IMPORTS)
        details = [made.detail] if made.detail else []
        if awaiting.reads:
            details.insert(
                0, f"{awaiting.reads} body read{'s' if awaiting.reads > 1 else ''} awaited"
            )
        if environ.reads:
            details.append("`req.env` read from an environ built from the scope")
        what = {
            "hook": "hook", "handler": "error handler", "sink": "sink",
        }.get(part.kind, "responder" if kind == "responder" else "middleware method")  # fmt: skip
        name = f"{part.cls}.{part.name}" if part.cls else part.name
        message = f"Falcon {what} `{name}` is a coroutine for falcon.asgi"
        if details:
            message += f" ({', '.join(details)})"
        self.report(func, "converted", message)
        annotated = _asgi_annotations(node)
        if annotated is not node:
            self.imports.append(("falcon.asgi", None))
        return annotated


#: The WSGI classes a responder's parameters may be annotated with -> falcon.asgi's.
ASGI_CLASSES = {"falcon.Request": "falcon.asgi.Request", "falcon.Response": "falcon.asgi.Response"}


def _asgi_annotations(func: cst.FunctionDef) -> cst.FunctionDef:
    """``req: falcon.Request`` → ``req: falcon.asgi.Request`` (and ``Response``): the
    objects a falcon.asgi app hands over (``await req.get_media()`` type-checks); ``func``
    itself when no parameter is annotated so."""
    if not any(
        p.annotation is not None and analysis.dotted_name(p.annotation.annotation) in ASGI_CLASSES
        for p in func.params.params
    ):
        return func
    params = [
        param.with_changes(
            annotation=param.annotation.with_changes(
                annotation=cst.parse_expression(ASGI_CLASSES[spelled])
            )
        )
        if param.annotation is not None
        and (spelled := analysis.dotted_name(param.annotation.annotation)) in ASGI_CLASSES
        else param
        for param in func.params.params
    ]
    return func.with_changes(params=func.params.with_changes(params=params))


def _streamed_names(func: cst.FunctionDef, resp: str) -> set[str]:
    """The functions ``func`` defines in its body and calls in ``resp.stream = name(...)``."""
    defined = {
        stmt.name.value for stmt in suite_statements(func.body) if isinstance(stmt, cst.FunctionDef)
    }
    return {
        node.value.func.value
        for node in analysis.walk(func)
        if isinstance(node, cst.Assign)
        and len(node.targets) == 1
        and isinstance(target := node.targets[0].target, cst.Attribute)
        and analysis.is_plain_name(target.value, resp)
        and target.attr.value == "stream"
        and isinstance(node.value, cst.Call)
        and isinstance(node.value.func, cst.Name)
        and node.value.func.value in defined
    }


def _def_in(owner: cst.ClassDef | cst.FunctionDef | None, name: str) -> cst.FunctionDef | None:
    """The ``def name`` directly in the body of ``owner`` (a class, a hook factory)."""
    body = owner.body.body if owner is not None else ()
    return next((s for s in body if isinstance(s, cst.FunctionDef) and s.name.value == name), None)


class _AwaitBody(cst.CSTTransformer):
    """``req.get_media()``, ``req.stream.read(...)`` and ``resp.render_body()`` awaited,
    ``req.media`` read as ``(await req.get_media())``, ``resp.stream = open(...)`` opened in
    the blocking pool; a loop over a multipart form's parts made ``async for``, each part's
    ``text``/``data``/``media`` read with its awaited getter and its ``get_*()`` and
    ``stream.read(...)`` awaited (the plan let through only loops whose parts are used so:
    :func:`migrate.frameworks.falcon.form_loops`); nested functions untouched (the plan
    refused bodies read there)."""

    def __init__(self, req: str, resp: str) -> None:
        super().__init__()
        self.req, self.resp = req, resp
        self.reads = 0
        self.files = 0
        self.parts: set[str] = set()  # the names of the parts of the loops over forms
        self.form_loops: set[int] = set()  # those loops (original nodes)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_For(self, node: cst.For) -> None:
        media = node.iter.func if isinstance(node.iter, cst.Call) else node.iter
        if (
            isinstance(media, cst.Attribute)
            and media.attr.value in ("media", "get_media")
            and isinstance(media.value, cst.Name)
            and (media.value.value == self.req or media.value.value in self.parts)
            and isinstance(node.target, cst.Name)
        ):
            self.parts.add(node.target.value)
            self.form_loops.add(id(node))

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> cst.For:
        if id(original_node) in self.form_loops:
            self.reads += 1
            return updated_node.with_changes(asynchronous=cst.Asynchronous())
        return updated_node

    def _is_part(self, node: cst.BaseExpression) -> bool:
        return isinstance(node, cst.Name) and node.value in self.parts

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = updated_node.func
        if (
            (
                isinstance(func, cst.Attribute)
                and (analysis.is_plain_name(func.value, self.req) or self._is_part(func.value))
                and func.attr.value == "get_media"
            )
            or (
                isinstance(func, cst.Attribute)
                and self._is_part(func.value)
                and func.attr.value in ("get_text", "get_data")
            )
            or (
                isinstance(func, cst.Attribute)
                and analysis.is_plain_name(func.value, self.resp)
                and func.attr.value == "render_body"
            )
            or (
                isinstance(func, cst.Attribute)
                and func.attr.value == "read"
                and isinstance(func.value, cst.Attribute)
                and (
                    (
                        analysis.is_plain_name(func.value.value, self.req)
                        and func.value.attr.value in ("stream", "bounded_stream")
                    )
                    or (self._is_part(func.value.value) and func.value.attr.value == "stream")
                )
            )
        ):
            self.reads += 1
            return cst.Await(updated_node)
        return updated_node

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        owner, attr = updated_node.value, updated_node.attr.value
        if analysis.is_plain_name(owner, self.req) and attr == "media":
            self.reads += 1
            return paren_await(cst.Await(cst.parse_expression(f"{self.req}.get_media()")))
        if self._is_part(owner) and attr in ("text", "data", "media"):
            assert isinstance(owner, cst.Name)
            self.reads += 1
            getter = cst.parse_expression(f"{owner.value}.get_{attr}()")
            return paren_await(cst.Await(getter))
        return updated_node

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        target = updated_node.targets[0].target if len(updated_node.targets) == 1 else None
        value = updated_node.value
        if (
            isinstance(target, cst.Attribute)
            and analysis.is_plain_name(target.value, self.resp)
            and target.attr.value == "stream"
            and isinstance(value, cst.Call)
            and analysis.is_plain_name(value.func, "open")
        ):
            self.files += 1
            opened = value.with_changes(func=cst.parse_expression("AsyncFile.open"))
            return updated_node.with_changes(value=cst.Await(opened))
        return updated_node
