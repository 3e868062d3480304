"""Methods a method looks up on ``self`` by a name from a fixed set, the way home-grown
resource classes dispatch on the request method::

    VERBS = ("get", "post", "put", "patch", "delete")

    class Resource:
        def dispatch(self, environ, args):
            verb = environ["REQUEST_METHOD"].lower()
            handler = getattr(self, verb, None) if verb in VERBS else None
            if handler is None:
                raise HTTPError("405 Method Not Allowed")
            return handler(environ, **args)

``handler`` is one of the methods named in ``VERBS`` of whatever class ``self`` is, or None:
the analyses that follow ``self.name(...)`` calls follow ``handler(...)`` to every method of
the module with one of those names. The set must be a literal of strings (in the test or a
tuple bound once at module level), and no code of the module may set an attribute of one of
those names (an instance attribute would be found before the method).
"""

from __future__ import annotations

from collections.abc import Mapping

import libcst as cst

from migrate import analysis
from migrate.analysis import is_plain_name


def constant_names(module: cst.Module) -> dict[str, frozenset[str]]:
    """Module-level names bound once to a tuple literal of identifier strings."""
    bound = analysis.module_level_bindings(module)
    found: dict[str, frozenset[str]] = {}
    for stmt in module.body:
        assigned = analysis._name_assignment(stmt)
        if assigned is None or bound.get(assigned[0], 0) != 1:
            continue
        names = _literal_names(assigned[1], {})
        if names is not None and isinstance(assigned[1], cst.Tuple):
            found[assigned[0]] = names
    return found


def _literal_names(
    node: cst.BaseExpression, constants: Mapping[str, frozenset[str]]
) -> frozenset[str] | None:
    """The strings of a tuple, list or set literal of plain identifiers (not dunder names),
    or of a constant naming one."""
    if isinstance(node, cst.Name):
        return constants.get(node.value)
    if not isinstance(node, (cst.Tuple, cst.List, cst.Set)) or not node.elements:
        return None
    names = set()
    for element in node.elements:
        text = analysis.string_value(element.value) if isinstance(element, cst.Element) else None
        if text is None or not text.isidentifier() or text.startswith("__"):
            return None
        names.add(text)
    return frozenset(names)


def looked_up_methods(
    func: cst.FunctionDef, constants: Mapping[str, frozenset[str]], set_attributes: set[str]
) -> dict[str, frozenset[str]]:
    """The locals of the method ``func`` bound, once, to ``getattr(self, name, None) if name
    in NAMES else None``: local -> the method names it may hold (``set_attributes``: the
    attribute names the module sets anywhere, which keep a name out)."""
    params = analysis.leading_params(func)
    if not params or ANY in set_attributes:
        return {}
    self_name = params[0].name.value
    written = analysis.written_names(func.body) | analysis.param_names(func)
    # a local of the constant's name hides it
    constants = {name: names for name, names in constants.items() if name not in written}
    bindings: dict[str, int] = {}  # every binding of each name, in any statement
    for target in analysis.written_targets(func.body):
        for name in analysis.names_in(target):
            bindings[name] = bindings.get(name, 0) + 1
    found: dict[str, frozenset[str]] = {}
    for node in analysis.walk(func.body, into_scopes=False):
        if (
            isinstance(node, cst.Assign)
            and len(node.targets) == 1
            and isinstance(local := node.targets[0].target, cst.Name)
            and bindings.get(local.value) == 1
        ):
            names = _guarded_lookup(node.value, self_name, constants)
            if names is not None and not names & set_attributes:
                found[local.value] = names
    return found


def _guarded_lookup(
    value: cst.BaseExpression, self_name: str, constants: Mapping[str, frozenset[str]]
) -> frozenset[str] | None:
    """The names of ``getattr(self, name, None) if name in NAMES else None``."""
    if not (
        isinstance(value, cst.IfExp)
        and is_plain_name(value.orelse, "None")
        and isinstance(lookup := value.body, cst.Call)
        and is_plain_name(lookup.func, "getattr")
        and len(lookup.args) == 3
        and all(a.keyword is None and not a.star for a in lookup.args)
        and is_plain_name(lookup.args[0].value, self_name)
        and isinstance(key := lookup.args[1].value, cst.Name)
        and is_plain_name(lookup.args[2].value, "None")
        and isinstance(test := value.test, cst.Comparison)
        and is_plain_name(test.left, key.value)
        and len(test.comparisons) == 1
        and isinstance(test.comparisons[0].operator, cst.In)
    ):
        return None
    return _literal_names(test.comparisons[0].comparator, constants)


#: In :func:`set_attribute_names`: some attribute of a name made at run time is set.
ANY = "*"


def set_attribute_names(module: cst.Module) -> set[str]:
    """Every ``x.name`` the module assigns to (``self.get = handler``, ``setattr(x, "get",
    ...)``); :data:`ANY` among them when ``setattr`` gets a name made at run time."""
    found: set[str] = set()
    for node in analysis.walk(module):
        if isinstance(node, cst.AssignTarget) and isinstance(node.target, cst.Attribute):
            found.add(node.target.attr.value)
        elif isinstance(node, cst.Call) and is_plain_name(node.func, "setattr"):
            name = analysis.string_value(node.args[1].value) if len(node.args) > 1 else None
            found.add(name if name is not None else ANY)
    return found
