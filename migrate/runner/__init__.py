"""Running the rules over files: decode, prefilter, parse once, transform, verify, encode.

Public API:

- :func:`migrate_source` -- run rules over source text (what rule tests call);
- :func:`migrate_file_bytes` -- the same for a file's raw bytes, keeping encoding, BOM and
  line endings; never raises, problems come back as an ``error`` result;
- :func:`run_files` -- many files, in N processes, results yielded in input order;
- :func:`select_rules` -- rule classes from ``--select``/``--ignore`` ids.

Per file: decode (BOM, PEP 263 cookie), run the rules' text prefilters, parse once with
libcst only if one of them matches (otherwise only CPython's much faster parser checks
that the file parses), run the rules in registry order, check the result parses and
compiles, encode it back. A parse error, a crash in a rule, output that does not parse
or a file taking longer than the time limit makes that file an ``error``; never the run.

Nothing here prints or writes files: the CLI decides what to do with the results.

Where things are, in the order a file travels:

- ``file.py``: the file's bytes decoded (BOM, PEP 263 cookie) under a time limit; the first
  pass (:func:`scan_file`) reads what the project index needs; the rules run on it
  (:func:`process_file`) and the result is encoded back;
- ``source.py``: the text through the rules: prefilters, one parse, each rule, the result
  checked to parse and compile (:func:`migrate_source`, :func:`migrate_sources`);
- ``files.py``: many files in worker processes, the two passes, the result cache, results in
  input order (:func:`run_files`);
- ``rule_selection.py``: which rules run; ``results.py``: what comes back.
"""

from __future__ import annotations

from migrate.runner.file import (
    FileTask,
    ScanResult,
    companion_results,
    decode_source,
    encode_source,
    migrate_file_bytes,
    process_file,
    scan_file,
    summarize_file,
    time_limit,
)
from migrate.runner.files import RULES_WAIT_UP_TO, default_jobs, run_files, tasks_for
from migrate.runner.results import (
    DEFAULT_FILE_TIMEOUT,
    FileResult,
    FileStatus,
    FileTimeout,
    MigrationError,
    SourceResult,
    UnknownRuleError,
)
from migrate.runner.rule_selection import RuleRef, load_rule, rule_ref, select_rules
from migrate.runner.source import (
    describe_exception,
    migrate_source,
    migrate_sources,
    module_name_for,
)

__all__ = [
    "DEFAULT_FILE_TIMEOUT",
    "RULES_WAIT_UP_TO",
    "FileResult",
    "FileStatus",
    "FileTask",
    "FileTimeout",
    "MigrationError",
    "RuleRef",
    "ScanResult",
    "SourceResult",
    "UnknownRuleError",
    "companion_results",
    "decode_source",
    "default_jobs",
    "describe_exception",
    "encode_source",
    "load_rule",
    "migrate_file_bytes",
    "migrate_source",
    "migrate_sources",
    "module_name_for",
    "process_file",
    "rule_ref",
    "run_files",
    "scan_file",
    "select_rules",
    "summarize_file",
    "tasks_for",
    "time_limit",
]
