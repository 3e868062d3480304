"""Never block the event loop: which calls may block, and how code made async avoids them.

One analysis for every rule that makes code async (``wsgi-app``, ``wsgi-middleware``):

- :mod:`migrate.blocking.table`: the curated table of blocking and of known-cheap APIs,
  extended by the project's ``[tool.wsgi2asgi] blocking`` / ``non_blocking`` lists;
- :mod:`migrate.blocking.kinds`: what each value of a function holds and whether each of its
  calls may block, following the module's own functions and methods to any depth;
- :mod:`migrate.blocking.offload`: the rewrite of a function made async (``await
  asyncio.sleep``, ``await run_blocking(...)`` on the request's thread), or
  :class:`CannotOffload` when that cannot be done faithfully (the rule then adapts).
"""

from migrate.blocking.kinds import FunctionFacts, ModuleFacts
from migrate.blocking.offload import (
    CannotOffload,
    Coroutine,
    Offloaded,
    as_coroutine,
    give_thread_back_early,
    offload_blocking,
)
from migrate.blocking.table import DEFAULT_TABLE, BlockingTable

__all__ = [
    "DEFAULT_TABLE",
    "BlockingTable",
    "CannotOffload",
    "Coroutine",
    "FunctionFacts",
    "ModuleFacts",
    "Offloaded",
    "as_coroutine",
    "give_thread_back_early",
    "offload_blocking",
]
