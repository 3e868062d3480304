"""Uses of a served app, in code run after the wrap, that would reach the adapter itself.

``app = WsgiToAsgi(app)`` keeps ``app.config``, ``app.route``, ``app.run()`` working: the
adapter reads the attributes it lacks from the app it serves. Two kinds of use get the
adapter instead of the app, so code running after the wrap (the module's functions, its
``__main__`` block, the modules importing the app) would change the adapter and leave the
app as it was::

    # before                                  # after
    if __name__ == "__main__":                if __name__ == "__main__":
        app.secret_key = "dev"                    as_wsgi(app).secret_key = "dev"
        app.run()                                 app.run()

- a store: ``app.secret_key = "dev"``, ``app.testing = True``, ``app.n += 1``, ``del app.x``
  (without it, Flask's sessions answer 500: no secret key was set on the Flask app);
- a name the adapter has itself: ``app.wsgi_app`` is the app the adapter serves, not Flask's
  WSGI callable (``app.wsgi_app = ProfilerMiddleware(app.wsgi_app)`` in a command, then
  ``app.run()``).

Nor does the name itself, handed on or returned by a function (``describe(app)``, ``return
app``, httpbin's ``digest_challenge_response(app, ...)``): it would hand on the adapter.

Each gets the app through ``adapters.as_wsgi``, which unwraps the adapter to the very app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import libcst as cst

from migrate import analysis

#: The adapter's own attributes (``adapters.WsgiToAsgi``): read or written on the adapter.
ADAPTER_ATTRIBUTES = frozenset(
    {
        "wsgi_app", "wsgi_application", "max_body_size", "response_buffer_size",
        "keep_underscore_headers", "buffer_chunked_body",
    }
)  # fmt: skip

Parent = Callable[[cst.CSTNode], "cst.CSTNode | None"]
#: The statements a use is reported at (the marker goes above the innermost one).
STATEMENTS = (
    cst.SimpleStatementLine, cst.If, cst.With, cst.For, cst.While, cst.Try,
    cst.FunctionDef, cst.ClassDef,
)  # fmt: skip


def passes_adapter(attribute: cst.Attribute, parent: Parent) -> bool:
    """``attribute`` (``app.X``) reaches the adapter itself, not the app it serves: ``X`` is
    one of the adapter's names, or ``app.X`` is stored or deleted."""
    if attribute.attr.value in ADAPTER_ATTRIBUTES:
        return True
    above = parent(attribute)
    if isinstance(above, (cst.AssignTarget, cst.Del)):
        return above.target is attribute
    return isinstance(above, (cst.AugAssign, cst.AnnAssign)) and above.target is attribute


def later_uses(
    body: Iterable[cst.BaseStatement],
    names: Iterable[str],
    parent: Parent,
    takes_either: Callable[[cst.Call], bool],
) -> Iterator[tuple[cst.Name, cst.BaseStatement, bool]]:
    """``(use, statement, handed_on)``: the module-level ``names`` in the functions and
    lambdas of ``body`` (code that runs after the module served its apps) that would reach
    the adapter: an attribute use that :func:`passes_adapter`, or the name itself handed on
    or returned (``helper(app)``; ``handed_on``), but to a call that takes either kind of
    app (``takes_either``: ``uvicorn.run(app)``); with the innermost statement holding each."""
    for stmt in body:
        if analysis._is_main_guard(stmt):
            continue  # its own reading (main_block)
        for name in names:
            for use in analysis.deferred_reads(stmt, name) or ():
                above = parent(use)
                if isinstance(above, cst.Attribute) and above.value is use:
                    if not passes_adapter(above, parent):
                        continue
                    handed_on = False
                else:
                    call = parent(above) if isinstance(above, cst.Arg) else None
                    if isinstance(call, cst.Call) and takes_either(call):
                        continue
                    handed_on = True
                statement = statement_of(use, parent, stmt)
                assert statement is not None  # ``stmt`` at most
                yield use, statement, handed_on


def statement_of(
    use: cst.CSTNode, parent: Parent, top: cst.BaseStatement | None = None
) -> cst.BaseStatement | None:
    """The innermost statement holding ``use`` (``top`` at most; None when there is none)."""
    node: cst.CSTNode | None = use
    while node is not None and node is not top:
        if isinstance(node, STATEMENTS):
            return node
        node = parent(node)
    return top
