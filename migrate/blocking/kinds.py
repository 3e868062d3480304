"""Which calls of a function may block, and which values hold something that blocks.

Every value a function handles gets one of three kinds, joined over all its bindings (the
analysis is flow-insensitive, so it errs towards "may block"):

- ``DATA``: plain values (literals, scope reads, results of cheap calls, modules, functions);
- ``UNKNOWN``: values the analysis cannot type (parameters, results of calls into code it
  cannot see); a method called on one blocks unless it is a method of a builtin type
  (:data:`~migrate.blocking.table.PURE_METHODS`);
- ``RESOURCE``: what a blocking call returned (a connection, a cursor, a file, rows read
  through them): every method called on it blocks, iterating over it blocks, and a cheap
  call handed one (``list(cursor)``) blocks too.

A call blocks (:meth:`FunctionFacts.blocks`) when the table says so, when it reaches code it
cannot see (an installed package the table does not know, another module, a callable held
in a variable), when it is a function or method of the module (or a nested def) whose body
has a call that blocks (followed to any depth), or when it is a method of a value that is
not ``DATA`` (above). Calls already awaited are async code and never block.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator
from dataclasses import dataclass, field

import libcst as cst

from migrate import analysis
from migrate.analysis import ImportBinding
from migrate.blocking.attributes import KeptAttributes
from migrate.blocking.stash import KEY_READS, stashed_names
from migrate.blocking.table import (
    BLOCKING_BUILTINS,
    DATA_METHODS,
    PURE_METHODS,
    RETURNS_DATA,
    STREAM_MAKERS,
    BlockingTable,
)

DATA, UNKNOWN, RESOURCE = 0, 1, 2
Kind = int

_BUILTINS = frozenset(dir(builtins))
#: Builtins that iterate over what they are given (a cursor handed to one is read).
_CONSUMERS = frozenset(
    [
        "list",
        "tuple",
        "set",
        "frozenset",
        "dict",
        "sorted",
        "sum",
        "min",
        "max",
        "any",
        "all",
        "enumerate",
        "zip",
        "map",
        "filter",
        "iter",
        "next",
        "reversed",
        "bytes",
        "bytearray",
    ]
)
#: Builtins that hand back a lazy iterator: when a call of one blocks, iterating it does.
_LAZY = frozenset(["iter", "map", "filter", "zip", "reversed", "enumerate"])
#: What the rules make to record a WSGI response in async code (``response =
#: asgi_helpers.StartResponse()``): calling one only keeps the status and headers.
_RECORDERS = frozenset({"adapters.asgi_helpers.StartResponse"})
_DATA_NODES = (
    cst.BaseNumber,
    cst.SimpleString,
    cst.ConcatenatedString,
    cst.FormattedString,
    cst.Comparison,
    cst.Ellipsis,
)


@dataclass
class ModuleFacts:
    """What one module binds at its top level, shared by the analyses of its functions."""

    module: cst.Module
    table: BlockingTable
    #: local names that stand for a module of :mod:`adapters` the rules import themselves
    known_helpers: frozenset[str] = frozenset()
    #: names other modules of the unit stash on what a request hands around
    #: (:mod:`migrate.blocking.stash`); the module's own are added to them
    stashed_elsewhere: frozenset[str] = frozenset()
    imports: dict[str, ImportBinding] = field(init=False)
    functions: dict[str, cst.FunctionDef] = field(init=False)
    classes: dict[str, cst.ClassDef] = field(init=False)
    global_values: dict[str, list[cst.BaseExpression]] = field(init=False)
    _summaries: dict[int, bool] = field(init=False, default_factory=dict)
    _global_kinds: dict[str, Kind] = field(init=False, default_factory=dict)
    _param_classes: dict[tuple[int, str], cst.ClassDef | None] = field(
        init=False, default_factory=dict
    )
    _kept: KeptAttributes = field(init=False)
    _attribute_kinds: dict[tuple[int, str, tuple[int, int] | None], Kind] = field(
        init=False, default_factory=dict
    )
    _init_param_kinds: dict[tuple[int, str], Kind] = field(init=False, default_factory=dict)
    _stashed: frozenset[str] | None = field(init=False, default=None)
    #: values given to a module-level name by a function declaring it ``global``: id ->
    #: (that function, its class)
    _rebound_in: dict[int, tuple[cst.FunctionDef, cst.ClassDef | None]] = field(init=False)
    _return_kinds: dict[tuple[int, frozenset[str]], Kind] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.imports = analysis.import_bindings(self.module)
        self._kept = KeptAttributes(self.module)
        self.functions = {}
        self.classes = {}
        self.global_values = {}
        for stmt in self.module.body:
            if isinstance(stmt, cst.FunctionDef):
                self.functions[stmt.name.value] = stmt
            elif isinstance(stmt, cst.ClassDef):
                self.classes[stmt.name.value] = stmt
            else:
                for target, value in _bindings(stmt):
                    self.global_values.setdefault(target, []).append(value)
        # ``global DB`` then ``DB = sqlite3.connect(...)`` in a function: a value of DB too,
        # whose kind is worked out in that function
        self._rebound_in = {}
        for func, cls in _functions_of(self.module):
            for target, value in _rebindings(func, cst.Global):
                self.global_values.setdefault(target, []).append(value)
                self._rebound_in[id(value)] = (func, cls)

    def qualified(self, node: cst.BaseExpression) -> str | None:
        """``os.path.exists`` for ``os.path.exists`` / ``from os import path; path.exists``;
        None when the root name is not an import of the module (or a known helper)."""
        parts: list[str] = []
        while isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
        if not isinstance(node, cst.Name):
            return None
        root = node.value
        if root in self.known_helpers:
            return ".".join(["adapters", root, *reversed(parts)])
        binding = self.imports.get(root)
        if binding is None:
            return None
        return binding.qualified(list(reversed(parts)))

    @property
    def stashed(self) -> frozenset[str]:
        """The names stashed on what a request hands around, by this module or others of
        its unit: what they hold is not known (:mod:`migrate.blocking.stash`)."""
        if self._stashed is None:
            try:
                own = stashed_names(ast.parse(self.module.code))
            except SyntaxError:  # pragma: no cover - the scan compiled the file
                own = frozenset()
            self._stashed = own | self.stashed_elsewhere
        return self._stashed

    def made_async(self, func: cst.FunctionDef) -> None:
        """``func`` of the module becomes an ``async def`` in this run (an async generator a
        view streams): calling it runs nothing of it, so blocks nothing."""
        self._summaries[id(func)] = False

    def global_kind(self, name: str) -> Kind:
        if name in self._global_kinds:
            return self._global_kinds[name]
        self._global_kinds[name] = UNKNOWN  # while it is worked out (a value naming itself)
        outer = FunctionFacts(self, None, None)
        kinds = []
        for value in self.global_values.get(name, []):
            rebound = self._rebound_in.get(id(value))
            facts = outer if rebound is None else FunctionFacts(self, *rebound)
            kinds.append(facts.kind(value))
        kind = max(kinds, default=UNKNOWN)
        self._global_kinds[name] = kind
        return kind

    def attribute_kind(
        self, cls: cst.ClassDef, attr: str, at: tuple[int, int] | None = None
    ) -> Kind:
        """The kind of what ``self.attr`` holds in the methods of ``cls``: the join of the
        values its methods put there (a comprehension: what it collects; an append: the
        item), when those are all it can hold
        (:class:`migrate.blocking.attributes.KeptAttributes`); else UNKNOWN. ``at``:
        ``(index, width)`` of the item a loop unpacks (``for regex, view in self.routes``),
        of rows that are tuples of that width."""
        key = (id(cls), attr, at)
        if key in self._attribute_kinds:
            return self._attribute_kinds[key]
        self._attribute_kinds[key] = UNKNOWN  # while it is worked out
        kept = self._kept.values(cls, attr)
        kind = UNKNOWN
        if kept:
            kind = max(
                FunctionFacts(self, k.method, cls).row_kind(k.value, k.item, at) for k in kept
            )
        self._attribute_kinds[key] = kind
        return kind

    def init_param_kind(self, cls: cst.ClassDef, param: str) -> Kind:
        """The kind of the parameter ``param`` of ``cls.__init__``: the join of what every
        instantiation of the module hands it, when the module uses the class only by calling
        it (no subclass, no alias) and every call can be read; else UNKNOWN. Other modules
        making instances are not this module's to convert (as for :meth:`param_class`)."""
        key = (id(cls), param)
        if key in self._init_param_kinds:
            return self._init_param_kinds[key]
        self._init_param_kinds[key] = UNKNOWN  # recursion: a cycle proves nothing
        kind = self._init_param_kind(cls, param)
        self._init_param_kinds[key] = kind
        return kind

    def _init_param_kind(self, cls: cst.ClassDef, param: str) -> Kind:
        name = cls.name.value
        init = analysis.method_named(cls, "__init__")
        params = analysis.positional_params(init) if init is not None else None
        if self.classes.get(name) is not cls or params is None:
            return UNKNOWN
        index = next((i for i, p in enumerate(params) if p.name.value == param), None)
        if index is None or index == 0:
            return UNKNOWN
        default = params[index].default
        kinds: list[Kind] = []
        callers = [(None, None), *self._callers()]
        for caller, caller_cls in callers:
            facts = FunctionFacts(self, caller, caller_cls)
            body = caller.body if caller is not None else self.module
            for node in analysis.walk(body, into_scopes=caller is not None):
                if not (isinstance(node, cst.Call) and analysis.is_plain_name(node.func, name)):
                    continue
                if caller is not None and name in facts.locals:
                    return UNKNOWN  # the name is a local there
                value = analysis.argument_for(node, index - 1, param, default)
                if value is None:
                    return UNKNOWN
                kinds.append(facts.kind(value))
        # every mention is one of those calls, or the definition's own name
        return max(kinds) if kinds and self._mentions(name) == len(kinds) + 1 else UNKNOWN

    def _mentions(self, name: str) -> int:
        """How many Name nodes of the module are ``name``."""
        return sum(
            1 for n in analysis.walk(self.module) if isinstance(n, cst.Name) and n.value == name
        )

    def param_class(self, func: cst.FunctionDef, param: str) -> cst.ClassDef | None:
        """The class of the module every call of the module-level function ``func`` hands
        its parameter ``param`` an instance of (``route(Request(environ))``, ``create(req)``
        with ``req`` such a parameter of the caller), when the module uses ``func`` only by
        calling it; else None. Calls from other modules are not this module's to convert."""
        key = (id(func), param)
        if key in self._param_classes:
            return self._param_classes[key]
        self._param_classes[key] = None  # recursion: a cycle of calls proves nothing
        found = self._param_class(func, param)
        self._param_classes[key] = found
        return found

    def _param_class(self, func: cst.FunctionDef, param: str) -> cst.ClassDef | None:
        name = func.name.value
        params = analysis.positional_params(func)
        if self.functions.get(name) is not func or params is None:
            return None
        index = next((i for i, p in enumerate(params) if p.name.value == param), None)
        if index is None or params[index].default is not None:
            return None
        found: cst.ClassDef | None = None
        calls = 0
        for caller, caller_cls in self._callers():
            facts: FunctionFacts | None = None
            for node in analysis.walk(caller.body):
                if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node.name.value == name:
                    continue
                if not (isinstance(node, cst.Call) and analysis.is_plain_name(node.func, name)):
                    continue
                args = node.args
                if len(args) <= index or any(
                    a.keyword is not None or a.star for a in args[: index + 1]
                ):
                    return None
                if facts is None:
                    facts = FunctionFacts(self, caller, caller_cls)
                cls = facts.class_of_value(args[index].value)
                if cls is None or (found is not None and cls is not found):
                    return None
                found = cls
                calls += 1
        # every mention is one of those calls, or the definition's own name
        return found if calls and self._mentions(name) == calls + 1 else None

    def _callers(self) -> Iterator[tuple[cst.FunctionDef, cst.ClassDef | None]]:
        for stmt in self.module.body:
            if isinstance(stmt, cst.FunctionDef):
                yield stmt, None
            elif isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock):
                for member in stmt.body.body:
                    if isinstance(member, cst.FunctionDef):
                        yield member, stmt

    def return_kind(self, func: cst.FunctionDef, data_params: frozenset[str]) -> Kind:
        """The kind of what the module-level function ``func`` returns when handed data for
        ``data_params`` (and what the analysis cannot type for its other parameters): the
        join of its ``return`` values (DATA for none). A generator or coroutine function,
        or one decorated, returns what the analysis cannot type."""
        key = (id(func), data_params)
        if key in self._return_kinds:
            return self._return_kinds[key]
        self._return_kinds[key] = UNKNOWN  # recursion: a cycle proves nothing
        kind = UNKNOWN
        if func.asynchronous is None and not func.decorators:
            nodes = list(analysis.walk(func.body, into_scopes=False))
            if not any(isinstance(n, (cst.Yield, cst.Await)) for n in nodes):
                facts = FunctionFacts(self, func, None, data_params=data_params)
                kind = max(
                    (facts.kind(n.value) for n in nodes if isinstance(n, cst.Return) and n.value),
                    default=DATA,
                )
        self._return_kinds[key] = kind
        return kind

    def function_blocks(self, func: cst.FunctionDef, cls: cst.ClassDef | None) -> bool:
        """Whether a sync function of the module (a method of ``cls``) has a call that blocks."""
        key = id(func)
        if key in self._summaries:
            return self._summaries[key]
        self._summaries[key] = False  # recursion: the other calls of the cycle decide
        facts = FunctionFacts(self, func, cls)
        verdict = func.asynchronous is None and any(
            facts.blocks(call) for call in facts.calls(func.body)
        )
        self._summaries[key] = verdict
        return verdict


def _functions_of(
    module: cst.Module,
) -> Iterator[tuple[cst.FunctionDef, cst.ClassDef | None]]:
    """Every function of ``module``, nested ones too, with the class it is a method of."""
    stack: list[tuple[cst.CSTNode, cst.ClassDef | None]] = [(module, None)]
    while stack:
        node, cls = stack.pop()
        for child in analysis.children_of(node):
            if isinstance(child, cst.FunctionDef):
                yield child, cls
                stack.append((child, None))
            elif isinstance(child, cst.ClassDef):
                stack.append((child, child))
            else:  # a method may sit in an ``if`` of the class body
                stack.append((child, cls))


def _rebindings(
    func: cst.FunctionDef, declaration: type[cst.Global] | type[cst.Nonlocal]
) -> Iterator[tuple[str, cst.BaseExpression]]:
    """(name, value) for each name ``func`` declares ``global`` (or ``nonlocal``) and binds."""
    declared = {
        item.name.value
        for node in analysis.walk(func.body, into_scopes=False)
        if isinstance(node, declaration)
        for item in node.names
    }
    if declared:
        yield from ((n, v) for n, v in _bindings(func.body) if n in declared)


def _bindings(stmt: cst.CSTNode) -> Iterator[tuple[str, cst.BaseExpression]]:
    """(name, value) for ``name = value`` (and each name of a tuple target) under ``stmt``,
    not entering nested scopes."""
    for node in analysis.walk(stmt, into_scopes=False):
        targets: list[cst.BaseExpression] = []
        value: cst.BaseExpression | None = None
        if isinstance(node, cst.Assign):
            targets, value = [t.target for t in node.targets], node.value
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.NamedExpr)):
            targets, value = [node.target], node.value
        if value is not None:
            for target in targets:
                yield from _pairs(target, value)


def _pairs(
    target: cst.BaseExpression, value: cst.BaseExpression
) -> Iterator[tuple[str, cst.BaseExpression]]:
    """Each name ``target`` binds with what it gets of ``value``: element by element for a
    tuple given a tuple of its width (``status, raw = resp.status, resp.read()``), else the
    whole value."""
    if (
        isinstance(target, (cst.Tuple, cst.List))
        and isinstance(value, (cst.Tuple, cst.List))
        and len(target.elements) == len(value.elements)
        and not any(isinstance(e, cst.StarredElement) for e in (*target.elements, *value.elements))
    ):
        for part, given in zip(target.elements, value.elements, strict=True):
            yield from _pairs(part.value, given.value)
        return
    for name in analysis.target_names(target):
        yield name, value


class FunctionFacts:
    """The kinds of the names of one function, and the verdict on each of its calls."""

    def __init__(
        self,
        module: ModuleFacts,
        func: cst.FunctionDef | None,
        cls: cst.ClassDef | None,
        *,
        data_params: frozenset[str] = frozenset(),
    ) -> None:
        self.module = module
        self.func = func
        self.cls = cls
        self.locals: dict[str, list[cst.BaseExpression | _Iterated | None]] = {}
        self.nested: dict[str, cst.FunctionDef] = {}
        self._kinds: dict[str, Kind] = {}
        self._verdicts: dict[int, bool] = {}
        if func is None:
            return
        params = func.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            name = param.name.value
            self.locals[name] = [None] if name not in data_params else []
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                # a tuple / dict of the caller's values: data only where the rule says so
                name = star.name.value
                self.locals[name] = [] if name in data_params else [None]
        rebinds_outer = False  # a nested function declares a ``nonlocal``
        for node in analysis.walk(func.body):
            if isinstance(node, cst.FunctionDef):
                self.nested[node.name.value] = node
                self.locals.setdefault(node.name.value, [])
            elif isinstance(node, cst.Nonlocal):
                rebinds_outer = True
            elif isinstance(node, (cst.For, cst.CompFor)):
                for name, at in _unpacked(node.target):
                    self.locals.setdefault(name, []).append(_Iterated(node.iter, at))
            elif isinstance(node, cst.WithItem) and node.asname is not None:
                for name in analysis.target_names(node.asname.name):
                    self.locals.setdefault(name, []).append(node.item)
            elif isinstance(node, cst.ExceptHandler) and node.name is not None:
                for name in analysis.target_names(node.name.name):
                    self.locals.setdefault(name, [])
            elif isinstance(node, (cst.Import, cst.ImportFrom)):
                analysis._bind_definitions_and_imports(node, self._bind_unknown)
        for name, value in _bindings(func.body):
            self.locals.setdefault(name, []).append(value)
        if rebinds_outer:
            # ``nonlocal conn`` then ``conn = sqlite3.connect(...)`` in a nested function: a
            # value of this function's conn too (its names there are not known here)
            for nested in self.nested.values():
                for name, value in _rebindings(nested, cst.Nonlocal):
                    if name in self.locals:
                        self.locals[name].append(value)

    def _bind_unknown(self, name: str) -> None:
        self.locals[name] = [None]

    # ------------------------------------------------------------------ kinds

    def name_kind(self, name: str) -> Kind:
        if name in self._kinds:
            return self._kinds[name]
        if name in self.locals:
            self._kinds[name] = DATA  # while it is worked out (x = x + 1)
            kinds = [
                self._param_kind(name) if v is None else self.kind(v) for v in self.locals[name]
            ]
            self._kinds[name] = max(kinds, default=DATA)
            return self._kinds[name]
        module = self.module
        if (
            name in module.imports
            or name in module.functions
            or name in module.classes
            or name in module.known_helpers
        ):
            return DATA
        if name in module.global_values:
            return module.global_kind(name)
        return DATA if name in _BUILTINS else UNKNOWN

    def _param_kind(self, name: str) -> Kind:
        """A parameter's kind: what the module's instantiations hand ``__init__``, for a
        parameter of the constructor (:meth:`ModuleFacts.init_param_kind`); else UNKNOWN."""
        func, cls = self.func, self.cls
        if func is None or cls is None or func.name.value != "__init__" or func.decorators:
            return UNKNOWN
        if analysis.method_named(cls, "__init__") is not func:
            return UNKNOWN
        return self.module.init_param_kind(cls, name)

    def _own_attribute(self, node: cst.BaseExpression) -> str | None:
        """``attr`` when ``node`` is ``self.attr`` in a method of the class (``self`` its
        first parameter, never rebound); else None."""
        func, cls = self.func, self.cls
        if func is None or cls is None or func.decorators or not isinstance(node, cst.Attribute):
            return None
        params = analysis.leading_params(func)
        if not params or self.locals.get(params[0].name.value) != [None]:
            return None
        return node.attr.value if analysis.is_plain_name(node.value, params[0].name.value) else None

    def row_kind(self, value: cst.BaseExpression, item: bool, at: tuple[int, int] | None) -> Kind:
        """The kind of the rows ``value`` puts in a container (``item``: it is one row;
        else the container: for a comprehension, the rows it collects; for a literal, its
        elements), or with ``at`` of the item at that place of rows that are tuples of that
        width (another row: the whole of it)."""
        rows: list[cst.BaseExpression] | None = [value] if item else None
        if isinstance(value, (cst.ListComp, cst.SetComp, cst.GeneratorExp)) and not item:
            rows = [value.elt]
        elif isinstance(value, (cst.List, cst.Tuple, cst.Set)) and not item:
            rows = [e.value for e in value.elements]
        elif isinstance(value, cst.DictComp) and not item:
            return max(self.kind(value.key), self.kind(value.value))
        if rows is None:
            return self.kind(value)
        kinds = [
            self.kind(row.elements[at[0]].value)
            if at is not None
            and isinstance(row, cst.Tuple)
            and len(row.elements) == at[1]
            and not any(isinstance(e, cst.StarredElement) for e in row.elements)
            else self.kind(row)
            for row in rows
        ]
        return max(kinds, default=DATA)

    def kind(self, node: cst.BaseExpression | _Iterated) -> Kind:
        if isinstance(node, _Iterated):
            attr = self._own_attribute(node.iterable) if node.at is not None else None
            if attr is not None:
                assert self.cls is not None
                # ``for regex, view in self.routes``: what the class put at that place
                return self.module.attribute_kind(self.cls, attr, node.at)
            return self.kind(node.iterable)
        if isinstance(node, (cst.Await, cst.Lambda, cst.GeneratorExp, *_DATA_NODES)):
            return DATA
        if isinstance(node, cst.Name):
            return self.name_kind(node.value)
        if isinstance(node, (cst.Attribute, cst.Subscript)):
            if self.module.qualified(node) is not None or _is_request_body(node):
                return DATA
            if (attr := self._own_attribute(node)) is not None:
                assert self.cls is not None
                return self.module.attribute_kind(self.cls, attr)
            if _read_name(node) in self.module.stashed:
                return max(self.kind(node.value), UNKNOWN)  # req.context.session
            return self.kind(node.value)
        if isinstance(node, cst.Call):
            if (stashed := self._stash_read(node)) is not None:
                return stashed
            if analysis.dotted_name(node.func) in STREAM_MAKERS:
                return RESOURCE  # made on the loop, read in a thread
            if (
                isinstance(node.func, cst.Name)
                and node.func.value in self.module.classes
                and node.func.value not in self.locals
                and any(self.kind(arg.value) == RESOURCE for arg in node.args)
            ):
                return RESOURCE  # an object of the module holding one (a stream wrapper)
            if self._lazy_over_blocking(node):
                return RESOURCE  # ``iter(lambda: f.read(n), b"")``: each step of it blocks
            if not self.blocks(node):
                return DATA
            if isinstance(node.func, cst.Attribute) and node.func.attr.value in DATA_METHODS:
                return DATA  # conn.execute(...).fetchall(), f.read(): what was read
            if self.module.qualified(node.func) in RETURNS_DATA:
                return DATA  # os.path.realpath(p), os.stat(p): a value, not a handle
            if self._helper_returns_data(node):
                return DATA  # a helper of the module returning only data
            return RESOURCE if self._returns_resource(node) else UNKNOWN
        if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
            return max((self.kind(el.value) for el in node.elements), default=DATA)
        if isinstance(node, cst.Dict):
            return max(
                (self.kind(el.value) for el in node.elements if hasattr(el, "value")),
                default=DATA,
            )
        if isinstance(node, (cst.ListComp, cst.SetComp)):
            return self.kind(node.elt)  # [sqlite3.connect(p) for p in paths]: connections
        if isinstance(node, cst.DictComp):
            return max(self.kind(node.key), self.kind(node.value))
        if isinstance(node, cst.BinaryOperation):
            return max(self.kind(node.left), self.kind(node.right))
        if isinstance(node, cst.BooleanOperation):
            return max(self.kind(node.left), self.kind(node.right))
        if isinstance(node, cst.IfExp):
            return max(self.kind(node.body), self.kind(node.orelse))
        if isinstance(node, cst.UnaryOperation):
            return self.kind(node.expression)
        if isinstance(node, cst.NamedExpr):
            return self.kind(node.value)
        return UNKNOWN

    def _helper_returns_data(self, call: cst.Call) -> bool:
        """``call`` is of a function of the module that returns only data, given what the
        call hands it (a parameter handed data is data there). What else one returns is
        left to the rules for blocking calls: a value it returns may hold a resource its
        caller cannot see (``status, body = resp.status, resp.read()``), and typing it a
        resource would move every method of it (a dict's ``get``) to a thread."""
        func = call.func
        if not isinstance(func, cst.Name) or func.value in self.locals:
            return False
        helper = self.module.functions.get(func.value)
        if helper is None:
            return False
        data = frozenset(
            param.name.value
            for index, param in enumerate(analysis.leading_params(helper))
            if (given := analysis.argument_for(call, index, param.name.value, param.default))
            is not None
            and self.kind(given) == DATA
        )
        return self.module.return_kind(helper, data) == DATA

    def _stash_read(self, call: cst.Call) -> Kind | None:
        """The kind of ``getattr(x, name[, default])`` (what ``x`` holds: the kind of
        ``x``, at least UNKNOWN for a stashed name), or of ``x.get(name)`` for a stashed
        name; None for any other call."""
        func, args = call.func, call.args
        if (
            isinstance(func, cst.Name)
            and func.value == "getattr"
            and func.value not in self.locals
            and len(args) in (2, 3)
            and not any(a.star or a.keyword for a in args)
        ):
            name = analysis.string_value(args[1].value)
            kinds = [self.kind(args[0].value), *(self.kind(a.value) for a in args[2:])]
            if name is None or name in self.module.stashed:
                kinds.append(UNKNOWN)
            return max(kinds)
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in KEY_READS
            and args
            and analysis.string_value(args[0].value) in self.module.stashed
        ):
            return max(self.kind(func.value), UNKNOWN)
        return None

    def _returns_resource(self, call: cst.Call) -> bool:
        """A blocking call of the table (``open``, ``sqlite3.connect``), or a method of a
        resource, hands back a resource; other blocking calls (a helper, a function of another
        module or package) hand back what the analysis cannot type... unless what they were
        handed was a resource."""
        func = call.func
        qualified = self.module.qualified(func)
        if qualified is not None and self.module.table.verdict(qualified) == "blocks":
            return True
        if isinstance(func, cst.Name) and func.value in BLOCKING_BUILTINS:
            return True
        if (
            isinstance(func, cst.Attribute)
            and self.kind(func.value) != DATA
            and self._own_method(func) is None
        ):
            return True
        return any(self.kind(arg.value) == RESOURCE for arg in call.args)

    def _lazy_over_blocking(self, call: cst.Call) -> bool:
        """A builtin that hands back a lazy iterator (``iter``, ``map``...) over a resource
        or over a function that blocks (``lambda: f.read(n)``)."""
        func = call.func
        if not (
            isinstance(func, cst.Name) and func.value in _LAZY and func.value not in self.locals
        ):
            return False
        for arg in call.args:
            value = arg.value
            if self.kind(value) == RESOURCE:
                return True
            if isinstance(value, cst.Lambda) and any(
                isinstance(n, cst.Call) and self.blocks(n) for n in analysis.walk(value.body)
            ):
                return True
        return False

    def _own_method(self, func: cst.Attribute) -> cst.FunctionDef | None:
        """The method of the function's class ``self.name`` / ``cls.name`` is: a helper of
        the module, whose result is not a resource for being a method's."""
        owner = func.value
        if isinstance(owner, cst.Name) and owner.value in ("self", "cls") and self.cls:
            return analysis.method_named(self.cls, func.attr.value)
        return None

    # ------------------------------------------------------------------ calls

    def calls(self, body: cst.CSTNode) -> Iterator[cst.Call]:
        """The calls under ``body`` that are not awaited (nested defs included: they run when
        called, and a nested def a blocking call reaches is called)."""
        awaited = {id(n.expression) for n in analysis.walk(body) if isinstance(n, cst.Await)}
        for node in analysis.walk(body):
            if isinstance(node, cst.Call) and id(node) not in awaited:
                yield node

    def blocks(self, call: cst.Call) -> bool:
        """Whether ``call`` may block (see the module's docstring); worked out once per call
        (the rewrite asks again for the calls inside a call, a comprehension, a lambda)."""
        verdict = self._verdicts.get(id(call))
        if verdict is None:
            verdict = self._verdicts[id(call)] = self._blocks(call)
        return verdict

    def _blocks(self, call: cst.Call) -> bool:
        func = call.func
        if any(self.kind(arg.value) == RESOURCE for arg in call.args) and self._consumes(func):
            return True
        qualified = self.module.qualified(func)
        if qualified is not None:
            return self.module.table.verdict(qualified) != "cheap"
        if isinstance(func, cst.Name):
            return self._name_call_blocks(func.value)
        if isinstance(func, cst.Attribute):
            owner = func.value
            method = self._own_method(func)
            if method is not None:
                return self.module.function_blocks(method, self.cls)
            owner_class = self._class_of(owner)
            if owner_class is not None:
                method = analysis.method_named(owner_class, func.attr.value)
                if method is not None:
                    return self.module.function_blocks(method, owner_class)
            owner_kind = self.kind(owner)
            if owner_kind == DATA:
                return False
            if owner_kind == UNKNOWN:
                return func.attr.value not in PURE_METHODS
            return True
        return True  # a call of a call, of a subscript...: code the analysis cannot see

    def class_of_value(self, value: cst.BaseExpression) -> cst.ClassDef | None:
        """The class of the module ``value`` is an instance of: ``Request(environ)``, a local
        only ever bound to such a call, a parameter every call hands one
        (:meth:`ModuleFacts.param_class`)."""
        classes = self.module.classes
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
            if value.func.value in self.locals:
                return None
            return classes.get(value.func.value)
        if not isinstance(value, cst.Name) or value.value not in self.locals:
            return None
        bound = self.locals[value.value]
        if bound == [None] and self.func is not None and self.cls is None:
            return self.module.param_class(self.func, value.value)
        made = [self.class_of_value(b) if isinstance(b, cst.Call) else None for b in bound]
        first = made[0] if made else None
        return first if first is not None and all(c is first for c in made) else None

    def _class_of(self, owner: cst.BaseExpression) -> cst.ClassDef | None:
        """The class of the module ``owner`` is (``Store.method``) or whose instance it is
        (``store = Store()`` at module level, never rebound; a local or a parameter:
        :meth:`class_of_value`)."""
        if isinstance(owner, cst.Name) and owner.value in self.locals:
            return self.class_of_value(owner)
        if not isinstance(owner, cst.Name):
            return None
        classes = self.module.classes
        if owner.value in classes:
            return classes[owner.value]
        values = self.module.global_values.get(owner.value, [])
        if len(values) == 1:
            value = values[0]
            if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
                return classes.get(value.func.value)
        return None

    def _is_class_param(self, name: str) -> bool:
        """``name`` is the first parameter of a class method (``cls``), never rebound."""
        func = self.func
        if func is None or not any(
            isinstance(d.decorator, cst.Name) and d.decorator.value == "classmethod"
            for d in func.decorators
        ):
            return False
        params = analysis.leading_params(func)
        return bool(params) and params[0].name.value == name and self.locals.get(name) == [None]

    def _consumes(self, func: cst.BaseExpression) -> bool:
        if isinstance(func, cst.Name):
            return func.value in _CONSUMERS and func.value not in self.locals
        return isinstance(func, cst.Attribute) and func.attr.value == "join"

    def _name_call_blocks(self, name: str) -> bool:
        module = self.module
        if name in self.nested:
            return module.function_blocks(self.nested[name], self.cls)
        if self.cls is not None and self._is_class_param(name):
            init = analysis.method_named(self.cls, "__init__")  # ``cls(...)``: the class
            return init is not None and module.function_blocks(init, self.cls)
        if name in self.locals:
            # a callable held in a variable: anything, but a recorder the rules made
            return not all(
                isinstance(value, cst.Call) and module.qualified(value.func) in _RECORDERS
                for value in self.locals[name]
            )
        if name in module.functions:
            return module.function_blocks(module.functions[name], None)
        if name in module.classes:
            init = analysis.method_named(module.classes[name], "__init__")
            return init is not None and module.function_blocks(init, module.classes[name])
        if name in module.global_values:
            return True
        if name in _BUILTINS:
            return name in BLOCKING_BUILTINS
        return True


def _is_request_body(node: cst.Attribute | cst.Subscript) -> bool:
    """``x["wsgi.input"]``: the request body of an environ. Code the rules make async gets
    an environ only from ``asgi_helpers.build_environ``, whose body is already in memory
    (read from ``receive()`` before), so reading it never waits on the network."""
    return (
        isinstance(node, cst.Subscript)
        and len(node.slice) == 1
        and isinstance(node.slice[0].slice, cst.Index)
        and analysis.string_value(node.slice[0].slice.value) == "wsgi.input"
    )


def _read_name(node: cst.Attribute | cst.Subscript) -> str | None:
    """The attribute name or constant key ``node`` reads."""
    if isinstance(node, cst.Attribute):
        return node.attr.value
    if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
        return analysis.string_value(node.slice[0].slice.value)
    return None


@dataclass(frozen=True)
class _Iterated:
    """What a loop target is bound to: an item of ``iterable``; ``at``: ``(index, width)``
    when the target unpacks each item into that many names, this one at that place."""

    iterable: cst.BaseExpression
    at: tuple[int, int] | None = None


def _unpacked(target: cst.BaseExpression) -> list[tuple[str, tuple[int, int] | None]]:
    """The names a loop target binds, with their place in each item when it unpacks the
    item into plain names (``for regex, view in routes``)."""
    if isinstance(target, (cst.Tuple, cst.List)) and all(
        isinstance(e, cst.Element) and isinstance(e.value, cst.Name) for e in target.elements
    ):
        width = len(target.elements)
        return [
            (e.value.value, (i, width))
            for i, e in enumerate(target.elements)
            if isinstance(e.value, cst.Name)
        ]
    return [(name, None) for name in analysis.target_names(target)]
