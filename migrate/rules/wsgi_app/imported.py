"""What the modules of the run tell about the helpers an app imports from them."""

from __future__ import annotations

import copy

import libcst as cst

from migrate import analysis
from migrate.project import HelperSummary, Lookup, ProjectIndex, imported_function


class ImportedHelpers:
    """The functions a module imports from other modules of the run that its WSGI code may
    hand the environ or start_response to, as far as the project index proves them safe
    (:mod:`migrate.project`): environ readers get an environ built from the scope, response
    helpers an ``asgi_helpers.StartResponse``. Their own module is never changed for it."""

    def __init__(self, module: cst.Module, index: ProjectIndex, relpath: str) -> None:
        self.index = index
        self.relpath = relpath
        self.bindings = analysis.import_bindings(module)
        self._module = module
        self._bound: dict[str, int] | None = None
        #: Local names of the function being converted, which hide module-level ones.
        self.shadowed: frozenset[str] = frozenset()

    def inside(self, func: cst.FunctionDef) -> ImportedHelpers:
        """The same, for code inside ``func`` (whose parameters and local names hide imports)."""
        view = copy.copy(self)
        params = {p.name.value for p in analysis.positional_params(func) or []}
        view.shadowed = frozenset(params | analysis.written_names(func.body))
        return view

    def lookup(self, callee: str) -> Lookup | None:
        """What the dotted ``callee`` (``json_response``, ``http_utils.json_response``)
        refers to, when its first part is a name imported at module level; None otherwise."""
        if not callee:
            return None
        first, *rest = callee.split(".")
        binding = self.bindings.get(first)
        if binding is None or first in self.shadowed:
            return None
        if self._bound is None:
            self._bound = analysis.module_level_bindings(self._module)
        if self._bound.get(first, 0) != 1 or "*" in self._bound:
            return Lookup(
                None, binding.module, f"is also bound by other code of this module (`{first}`)"
            )
        target = imported_function((binding.module, binding.name), rest)
        if target is None:
            return None
        return self.index.lookup(self.relpath, *target)

    def takes_start_response(self, callee: str, index: int) -> bool:
        """The dotted ``callee`` is a helper of another module, proven to only call (or hand
        on) the start_response it gets as its argument ``index``."""
        lookup = self.lookup(callee)
        return (
            lookup is not None
            and lookup.helper is not None
            and index in lookup.helper.start_response_params
        )

    def environ_reader(self, callee: str) -> tuple[Lookup, HelperSummary] | None:
        lookup = self.lookup(callee)
        if lookup is None or lookup.helper is None or not lookup.helper.environ_params:
            return None
        return lookup, lookup.helper

    def environ_readers(self) -> analysis.ImportedReaders:
        """The helpers of other modules the module's code calls by a name it imports, that
        only read an environ they are handed (:meth:`environ_reader`), as it calls them."""
        found: dict[str, tuple[frozenset[int], bool]] = {}
        for node in analysis.walk(self._module):
            if not isinstance(node, cst.Call):
                continue
            callee = analysis.dotted_name(node.func)
            if not callee or callee in found or callee.split(".")[0] not in self.bindings:
                continue
            reader = self.environ_reader(callee)
            if reader is not None:
                helper = reader[1]
                found[callee] = (helper.environ_params, bool(helper.body_params))
        return found
