"""Streamed responses under Quart: which generators become async generators, and what keeps
the run on Flask.

Flask streams a response from a generator it iterates in the server's thread after the view
returned (``stream_with_context`` keeps the request's context for it). Quart iterates a sync
generator in the loop's default executor, one ``next()`` at a time on any of its few threads
(a sqlite connection then fails, a thread-bound session is lost), and takes async generators
on the loop. So a generator a view streams becomes an async generator, its blocking calls in
the blocking pool on the request's thread, where it is defined in the view's body and used
only there as the body of its response::

    def generate():                                async def generate():
        for row in rows():                             for row in await run_blocking(rows):
            yield ",".join(row) + "\\n"                     yield ",".join(row) + "\\n"
    return Response(generate(), mimetype=...)      return Response(generate(), mimetype=...)

``stream_with_context(generate())`` becomes Quart's form, ``stream_with_context(generate)()``.
A response body that is certainly text (a string, ``json.dumps(...)``, an f-string...) is no
stream; any other (a generator of elsewhere, a list, a value the analysis cannot read) keeps
the run on Flask.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field

from migrate.frameworks import (
    assigned_values,
    callee_name,
    is_generator,
    own_nodes,
    plain_name,
    stream_blockers,
)

#: Calls whose result is certainly text (``str`` or ``bytes``).
TEXT_MAKERS = frozenset({
    "dumps", "str", "repr", "format", "join", "encode", "decode", "render_template",
    "render_template_string", "upper", "lower", "strip", "replace", "hexdigest",
})  # fmt: skip
#: The keywords Quart's Response takes (Flask's also takes ``direct_passthrough``).
RESPONSE_ARGUMENTS = frozenset({"response", "status", "headers", "mimetype", "content_type"})
#: What makes a response from a body: flask's Response and the app's response class.
RESPONSE_CLASS_ATTRS = frozenset({"response_class"})


@dataclass
class Streams:
    """What one module streams: the generators to make async, by enclosing function
    (``view`` or ``outer.view``), and why the run cannot move (empty: it can)."""

    generators: dict[str, list[str]] = field(default_factory=dict)
    #: Module-level generator functions the module's views stream (only that way).
    module_generators: set[str] = field(default_factory=set)
    blockers: list[str] = field(default_factory=list)


def streams(
    functions: Mapping[str, ast.FunctionDef], nodes: list[ast.AST], flask_names: Mapping[str, str]
) -> Streams:
    """The module's streamed responses; ``functions``: its module-level functions and the
    views they define, by qualified name (``create_app.index``)."""
    found = Streams()
    responses = {local for local, name in flask_names.items() if name == "Response"}
    wrappers = {local for local, name in flask_names.items() if name == "stream_with_context"}
    checked: set[int] = set()
    module_generators = {
        name: func for name, func in functions.items() if "." not in name and is_generator(func)
    }
    module_used: set[str] = set()
    streamed_calls: set[int] = set()  # the ``generate(...)`` calls streamed
    for qualified, func in functions.items():
        local = {
            stmt.name: stmt
            for stmt in func.body
            if isinstance(stmt, ast.FunctionDef) and is_generator(stmt)
        }
        generators = {**module_generators, **local}
        used: set[str] = set()
        for node in own_nodes(func):
            if isinstance(node, ast.Call) and (
                _is_response(node.func, responses) or plain_name(node.func) in wrappers
            ):
                checked.add(id(node))
                body = node.args[0] if node.args else None
                if plain_name(node.func) in wrappers and body is not None:
                    call = _stream_call(body, generators, set())
                else:
                    call = _stream_call(body, generators, wrappers) if body is not None else None
                generator = plain_name(call.func) if call is not None else ""
                if call is not None:
                    streamed_calls.add(id(call))
                    (used if generator in local else module_used).add(generator)
                elif body is not None and not _is_text(body, func):
                    found.blockers.append(
                        f"`{qualified}` builds a response from a value that may be a generator"
                    )
            elif isinstance(node, ast.Return) and node.value is not None:
                value = (
                    node.value.elts[0]
                    if isinstance(node.value, ast.Tuple) and node.value.elts
                    else node.value
                )
                call = _stream_call(value, generators, wrappers)
                if call is not None:
                    streamed_calls.add(id(call))
                    generator = plain_name(call.func)
                    (used if generator in local else module_used).add(generator)
        for name, definition in local.items():
            if name not in used:
                continue
            reason = next(stream_blockers(definition, func, wrappers), "")
            if reason:
                found.blockers.append(f"`{qualified}` streams `{name}`, which {reason}")
            else:
                found.generators.setdefault(qualified, []).append(name)
    # the names of the streamed calls: every other read of a generator's name is a use
    called = {
        id(node.func) for node in nodes if isinstance(node, ast.Call) and id(node) in streamed_calls
    }
    for name in sorted(module_used):
        reason = next(
            stream_blockers(module_generators[name], module_generators[name], wrappers), ""
        )
        if not reason and any(
            isinstance(node, ast.Name) and node.id == name and id(node) not in called
            for node in nodes
        ):
            reason = "is used other than as a response's body"
        if reason:
            found.blockers.append(f"the module streams `{name}`, which {reason}")
        else:
            found.module_generators.add(name)
    for node in nodes:
        if (
            isinstance(node, ast.Call)
            and _is_response(node.func, responses)
            and any(k.arg not in RESPONSE_ARGUMENTS for k in node.keywords)
        ):
            found.blockers.append(
                "it builds a response with arguments Quart's Response lacks (direct_passthrough)"
            )
        if (
            isinstance(node, ast.Call)
            and id(node) not in checked
            and (_is_response(node.func, responses) or plain_name(node.func) in wrappers)
            and node.args
            and not _is_text(node.args[0], None)
        ):
            found.blockers.append("it builds a response from a value that may be a generator")
    return found


def _is_response(node: ast.expr, responses: set[str]) -> bool:
    """``Response`` (flask's) or ``app.response_class`` / ``current_app.response_class``."""
    return plain_name(node) in responses or (
        isinstance(node, ast.Attribute) and node.attr in RESPONSE_CLASS_ATTRS
    )


def _stream_call(
    node: ast.expr, generators: Mapping[str, ast.FunctionDef], wrappers: set[str]
) -> ast.Call | None:
    """The call of a generator of ``generators`` whose iterator ``node`` is (``generate()``,
    or in ``stream_with_context(generate())`` when ``wrappers`` names it)."""
    if not isinstance(node, ast.Call):
        return None
    if plain_name(node.func) in wrappers and len(node.args) == 1 and not node.keywords:
        return _stream_call(node.args[0], generators, set())
    return node if plain_name(node.func) in generators else None


def _is_text(node: ast.expr, func: ast.FunctionDef | None) -> bool:
    """``node`` is certainly a ``str`` or ``bytes`` (a local: given only such values)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, bytes))
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _is_text(node.left, func) or (
            isinstance(node.op, ast.Add) and _is_text(node.right, func)
        )
    if isinstance(node, ast.Call):
        return callee_name(node) in TEXT_MAKERS
    if isinstance(node, ast.Name) and func is not None:
        values = list(assigned_values(node.id, own_nodes(func)))
        params = {a.arg for a in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]}
        return (
            bool(values)
            and node.id not in params
            and all(v is not None and _is_text(v, func) for v in values)
        )
    return False
