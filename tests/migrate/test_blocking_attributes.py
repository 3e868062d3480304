"""Never block the event loop, and never move what cannot block: what a class keeps on
``self`` (``migrate.blocking.attributes``) and what its constructor is handed.

A dispatcher compiling its routes once and matching them on every request keeps its
matching on the loop; a class keeping a connection or open files still has every call on
them moved to a thread; and an attribute anything else may change is not known.
"""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from migrate.blocking import ModuleFacts
from migrate.blocking.kinds import FunctionFacts
from migrate.blocking.table import active_table

ROUTER = """
import re
import sqlite3


class Router:
    def __init__(self, routes):
        self.routes = [(re.compile(pattern), view) for pattern, view in routes]
        self.db = sqlite3.connect(":memory:")
        self.names = {view.__name__: view for _, view in routes}

    def match(self, path):
        found = []
        for regex, view in self.routes:
            m = regex.match(path)
            if m is not None:
                found.append((m.groupdict(), view))
        self.db.execute("SELECT 1")
        return found, self.names.get(path), len(self.routes)


def index(environ, start_response):
    return []


router = Router([("^/$", index), ("^/(?P<name>[a-z]+)$", index)])
"""


def verdicts(source: str, cls_name: str = "Router", method: str = "match") -> dict[str, bool]:
    """Whether each call of ``cls_name.method`` may block, by its text."""
    module = cst.parse_module(textwrap.dedent(source))
    cls = next(s for s in module.body if isinstance(s, cst.ClassDef) and s.name.value == cls_name)
    assert isinstance(cls.body, cst.IndentedBlock)
    func = next(
        s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == method
    )
    facts = FunctionFacts(ModuleFacts(module, active_table()), func, cls)
    return {cst.Module([]).code_for_node(c): facts.blocks(c) for c in facts.calls(func.body)}


def test_routes_compiled_by_the_constructor_are_matched_on_the_loop() -> None:
    assert verdicts(ROUTER) == {
        "regex.match(path)": False,  # a compiled pattern: self.routes holds what __init__ made
        "m.groupdict()": False,
        "found.append((m.groupdict(), view))": False,
        'self.db.execute("SELECT 1")': True,  # a connection is kept too: its calls block
        "self.names.get(path)": False,
        "len(self.routes)": False,
    }


@pytest.mark.parametrize(
    "change",
    [
        # the routes change out of sight: what they hold is no longer known
        (
            "router = Router(",
            'router = Router([]); router.routes.append(("x", 1))\nother = Router(',
        ),
        ("        return found,", "        self.routes[0] = None\n        return found,"),
        ("        return found,", "        keep(self.routes)\n        return found,"),
        ("class Router:", "class Base:\n    routes = None\n\n\nclass Router(Base):"),
    ],
)
def test_what_the_analysis_cannot_follow_still_moves(change: tuple[str, str]) -> None:
    before = ROUTER.replace(*change)
    assert before != ROUTER
    assert verdicts(before)["regex.match(path)"] is True


def test_files_a_class_keeps_open_are_read_in_threads() -> None:
    source = """
    class Bundle:
        def __init__(self, paths):
            self.files = [open(p, "rb") for p in paths]

        def first_bytes(self):
            return [f.read(4) for f in self.files]


    bundle = Bundle(["/etc/hostname"])
    """
    assert verdicts(source, "Bundle", "first_bytes") == {"f.read(4)": True}


def test_a_base_class_of_elsewhere_may_set_what_the_class_keeps() -> None:
    # routing.Base's methods could set self.routes to anything: nothing is known of it
    based = ROUTER.replace("import sqlite3\n", "import sqlite3\n\nimport routing\n").replace(
        "class Router:", "class Router(routing.Base):"
    )
    assert verdicts(based)["regex.match(path)"] is True
    # a base class of the module: its methods are in sight, and set nothing here
    local = ROUTER.replace("class Router:", "class Base:\n    pass\n\n\nclass Router(Base):")
    assert verdicts(local)["regex.match(path)"] is False


STORED = """
import re


class Router:
    def __init__(self, patterns):
        self.patterns = patterns

    def match(self, path):
        for regex, view in self.patterns:
            if regex.match(path):
                return view


def index(environ, start_response):
    return []


router = Router([(re.compile("^/$"), index)])
"""


def test_routes_kept_as_given_hold_what_every_instantiation_hands_them() -> None:
    assert verdicts(STORED) == {"regex.match(path)": False}
    # what a helper returns that a package made of a file is not known (the lines it read
    # would be data: see test_blocking's helpers)
    loaded = STORED.replace(
        'router = Router([(re.compile("^/$"), index)])',
        "def load():\n    import routing\n    with open('routes.txt') as f:\n"
        "        return routing.compile_all(f)\n\n\nrouter = Router(load())",
    )
    assert verdicts(loaded) == {"regex.match(path)": True}
    # the class is used otherwise than by calling it: instances made out of sight
    aliased = STORED.replace("router = Router(", "Made = Router\nrouter = Router(")
    assert verdicts(aliased) == {"regex.match(path)": True}


def test_routes_a_method_registers_are_what_it_appends() -> None:
    registered = STORED.replace(
        "        self.patterns = patterns\n",
        "        self.patterns = []\n\n"
        "    def add(self, pattern, view):\n"
        "        self.patterns.append((re.compile(pattern), view))\n",
    ).replace(
        'router = Router([(re.compile("^/$"), index)])',
        'router = Router([])\nrouter.add("^/$", index)',
    )
    assert verdicts(registered) == {"regex.match(path)": False}
    # an item put there from outside the class is not known
    outside = registered + "router.patterns.append((object(), index))\n"
    assert verdicts(outside) == {"regex.match(path)": True}
