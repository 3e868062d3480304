"""Where deployment files keep their command lines, and how a new one is written back.

Each format finds its :class:`Site` objects: the text of one command (shell form) or one list
of words (exec form), by its offsets in the file, with how a replacement is written and where
a marker comment goes. Everything outside a site's span stays byte for byte.

| file | command sites |
|---|---|
| ``Procfile`` | each ``name: command`` line |
| ``Dockerfile`` / ``Containerfile`` | ``CMD``, ``ENTRYPOINT``, ``RUN`` (shell form, continuations included, and exec form ``["..."]``) |
| ``docker-compose.yml`` / ``compose.yaml``, Kubernetes manifests | ``command:`` / ``entrypoint:`` / ``args:`` (a string, a flow list or a block list) |
| App Engine ``app.yaml`` | ``entrypoint:`` |
| ``fly.toml`` | ``[processes]`` commands, ``[experimental] cmd`` |
| systemd ``*.service`` | ``ExecStart=`` (and ``ExecStartPre=``...) |
| supervisord (``*.conf`` with ``[program:...]``) | ``command=`` |
| shell scripts (``*.sh``), Makefiles | every command line (recipes of a Makefile) |
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from migrate.rules.deployment.commands import find_invocation
from migrate.rules.deployment.words import ShellSyntaxError, Word, shell_segments

Form = Literal["shell", "exec", "quoted"]


@dataclass
class Site:
    """One command line in a file."""

    #: 1-based line where it starts.
    line: int
    #: Offsets in the file text of what a rewrite replaces.
    start: int
    end: int
    form: Form
    #: The shell form: the command's text (``text[start:end]``). The quoted form: the
    #: command's text inside a string of the file (``text[start:end]`` is the string).
    #: The exec form: the list's words.
    text: str = ""
    words: tuple[Word, ...] = ()
    #: Writes an exec-form list back in the file's syntax.
    write_list: Callable[[list[str]], str] | None = None
    #: Writes a quoted-form string back in the file's syntax.
    encode: Callable[[str], str] | None = None
    #: Where a marker line goes (offset of a line start), and its indentation (None: the
    #: indentation of the line there).
    marker_at: int = 0
    marker_indent: str | None = None
    #: The folder (relative to the file's) the command runs its app from, where the file
    #: says so (a compose service's ``build:`` context).
    app_folder: str | None = None
    #: Environment the file gives the command (a Dockerfile stage's ``ENV``).
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Format:
    name: str
    #: Comment syntax for markers ("" where the format has none: the report alone).
    comment: str
    sites: Callable[[str], Iterator[Site]]
    #: Whether a shell runs the commands' text (else the text is split into words and run
    #: directly: environment assignments then need the ``env`` program).
    shell: bool = True
    #: Checks a rewritten text reads back (raises ValueError when it does not).
    check: Callable[[str], None] = lambda _text: None


def _lines(text: str) -> Iterator[tuple[int, int, str]]:
    """(1-based number, offset, line without its newline) for each line."""
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        yield number, offset, line.rstrip("\r\n")
        offset += len(line)


def line_start(text: str, offset: int) -> int:
    """The offset where the line holding ``offset`` starts."""
    return text.rfind("\n", 0, offset) + 1


def indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _continued(text: str, start: int) -> int:
    """The end of a logical line starting at ``start`` (``\\``-newline continues it)."""
    end = start
    while True:
        newline = text.find("\n", end)
        if newline < 0:
            return len(text)
        line = text[end:newline].rstrip("\r")
        if not line.endswith("\\"):
            return end + len(line)
        end = newline + 1


# --------------------------------------------------------------------------- Procfile

_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):[ \t]*")


def procfile_sites(text: str) -> Iterator[Site]:
    for number, offset, line in _lines(text):
        match = _PROCFILE_LINE.match(line)
        if match is None or not line[match.end() :].strip():
            continue
        start = offset + match.end()
        end = offset + len(line.rstrip())
        yield Site(number, start, end, "shell", text[start:end], marker_at=offset)


# --------------------------------------------------------------------------- Dockerfile

_DOCKER_INSTRUCTION = re.compile(r"^([ \t]*)(CMD|ENTRYPOINT|RUN)[ \t]+", re.IGNORECASE)


def dockerfile_sites(text: str) -> Iterator[Site]:
    """Each stage's ``CMD``/``ENTRYPOINT``/``RUN``; an exec-form ``ENTRYPOINT`` and the
    exec-form ``CMD`` after it in its stage are one site (Docker runs them as one command)."""
    stage: list[tuple[str, Site]] = []
    env: dict[str, str] = {}
    #: the environment each named stage ends with: ``FROM builder AS dev`` starts with it
    stages: dict[str, dict[str, str]] = {}
    name = ""
    offset, number = 0, 1
    while offset < len(text):
        end = _continued(text, offset)
        line = text[offset:end]
        if line.lstrip().upper().startswith("FROM "):
            yield from _stage_sites(stage, text)
            if name:
                stages[name] = env
            base, name = _from_line(line)
            stage, env = [], dict(stages.get(base, {}))
        if line.lstrip().upper().startswith("ENV "):
            env = {**env, **_docker_env(line.lstrip()[4:])}
        match = _DOCKER_INSTRUCTION.match(line)
        if match is not None:
            start = offset + match.end()
            body = text[start:end].rstrip()
            site_end = start + len(body)
            words = _json_list(body)
            instruction = match.group(2).upper()
            if words is not None:
                stage.append((instruction, Site(number, start, site_end, "exec", words=words,
                              write_list=_json_writer(body), marker_at=offset, env=env)))  # fmt: skip
            elif not body.startswith("["):
                stage.append((instruction, Site(number, start, site_end, "shell", body,
                              marker_at=offset, env=env)))  # fmt: skip
        number += text.count("\n", offset, end) + 1
        newline = text.find("\n", end)
        offset = len(text) if newline < 0 else newline + 1
    yield from _stage_sites(stage, text)


def _from_line(line: str) -> tuple[str, str]:
    """(base, stage name) of ``FROM [--platform=...] base [AS name]``, lowercased as Docker
    matches them."""
    words = [w for w in line.split()[1:] if not w.startswith("--")]
    base = words[0].lower() if words else ""
    named = len(words) >= 3 and words[1].upper() == "AS"
    return base, words[2].lower() if named else ""


def _docker_env(body: str) -> dict[str, str]:
    """``ENV KEY=value KEY2="v w"`` or the old ``ENV KEY value``: the values it sets that are
    literal (a ``$`` reference is left out: the command then cannot rely on it)."""
    try:
        words = [w.value for s in shell_segments(body) for w in s.words if not w.dynamic]
    except ShellSyntaxError:
        return {}
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])} if len(words) > 1 else {}
    return dict(word.split("=", 1) for word in words if "=" in word)


def _stage_sites(stage: list[tuple[str, Site]], text: str) -> Iterator[Site]:
    entrypoint = next((site for kind, site in reversed(stage) if kind == "ENTRYPOINT"), None)
    cmd = next((site for kind, site in reversed(stage) if kind == "CMD"), None)
    joined = (
        entrypoint is not None
        and cmd is not None
        and entrypoint.form == cmd.form == "exec"
        and entrypoint.start < cmd.start
        and _starts_a_server(entrypoint, cmd)
    )
    for _, site in stage:
        if joined and site is entrypoint:
            assert entrypoint is not None and cmd is not None
            yield _joined(entrypoint, cmd, text)
        elif not (joined and site is cmd):
            yield site


def _json_list(body: str) -> tuple[Word, ...] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(Word.literal(v) for v in value)


def _json_writer(original: str) -> Callable[[list[str]], str]:
    """Writes a list the way ``original`` was written (spacing after commas kept)."""
    spaced = ", " in original or ('",\n' not in original and ", " in original)
    separator = ", " if spaced or "," not in original else ","
    inner_space = original.startswith("[ ")

    def write(values: list[str]) -> str:
        items = separator.join(json.dumps(v) for v in values)
        return f"[ {items} ]" if inner_space else f"[{items}]"

    return write


# --------------------------------------------------------------------------- YAML

_YAML_KEY = re.compile(r"^([ \t]*(?:-[ \t]+)?)(command|entrypoint|args):[ \t]*(.*)$")


#: A key whose list the next key's list continues (Kubernetes runs ``command`` + ``args``,
#: compose ``entrypoint`` + ``command``).
_CONTINUED_BY = {"command": "args", "entrypoint": "command"}


def yaml_sites(text: str) -> Iterator[Site]:
    """``command:``/``entrypoint:`` values: a scalar string, a flow list, a block list. A list
    whose command goes on in the next key of the same mapping (``command: ["gunicorn"]`` then
    ``args: [...]``) is one site: both lists, the text between them kept as it is."""
    lines = list(_lines(text))
    consumed: set[int] = set()
    index = 0
    while index < len(lines):
        match = _YAML_KEY.match(lines[index][2])
        if match is None or match.group(2) == "args" or index in consumed:
            index += 1
            continue
        site, after = _yaml_value(lines, index, match)
        if site is None:
            index = after
            continue
        follow = _following_key(lines, after, match, _CONTINUED_BY.get(match.group(2), ""))
        if site.form == "exec" and follow is not None:
            more, _ = _yaml_value(lines, follow, _YAML_KEY.match(lines[follow][2]))
            if more is not None and more.form == "exec" and _starts_a_server(site, more):
                consumed.add(follow)
                site = _joined(site, more, text)
        site.app_folder = _build_context(lines, index, len(match.group(1)))
        yield site
        index = after


def _yaml_value(
    lines: list[tuple[int, int, str]], index: int, match: re.Match[str] | None
) -> tuple[Site | None, int]:
    """The site of the value of the key on line ``index``, and the index after it."""
    assert match is not None
    number, offset, line = lines[index]
    value = match.group(3)
    value_start = offset + len(line) - len(value)
    key_indent = len(match.group(1))
    index += 1
    if value.strip() and not value.lstrip().startswith("#"):
        scalar = _strip_yaml_comment(value)
        end = value_start + len(scalar)
        if scalar.startswith("["):
            words = _flow_list(scalar)
            if words is None:
                return None, index
            return Site(number, value_start, end, "exec", words=words,
                        write_list=_flow_writer(scalar), marker_at=offset), index  # fmt: skip
        unquoted = _yaml_scalar(scalar)
        if unquoted is None:
            return None, index
        shell_text, quote = unquoted
        if quote:
            return Site(number, value_start, end, "quoted", shell_text,
                        encode=_quoted_scalar_writer(quote), marker_at=offset), index  # fmt: skip
        return Site(number, value_start, end, "shell", scalar, marker_at=offset), index
    # a block list: the following "- item" lines, deeper than the key or at its level
    items: list[tuple[int, int, str]] = []
    while index < len(lines):
        _, item_offset, item_line = lines[index]
        stripped = item_line.lstrip(" ")
        depth = len(item_line) - len(stripped)
        if not stripped.startswith("- ") or depth < key_indent:
            break
        items.append((item_offset, depth, stripped[2:]))
        index += 1
    if not items or len({depth for _, depth, _ in items}) != 1:
        return None, index
    values = [_yaml_scalar(_strip_yaml_comment(item)) for _, _, item in items]
    if any(v is None for v in values):
        return None, index
    words = tuple(Word.literal(v[0]) for v in values if v is not None)
    start = items[0][0] + items[0][1]
    last_offset, last_depth, last_item = items[-1]
    end = last_offset + last_depth + 2 + len(last_item)
    written = [(v[0], item) for v, (_, _, item) in zip(values, items, strict=True) if v]
    return Site(number, start, end, "exec", words=words,
                write_list=_block_writer(" " * items[0][1], written), marker_at=offset), index  # fmt: skip


def _following_key(
    lines: list[tuple[int, int, str]], index: int, match: re.Match[str], key: str
) -> int | None:
    """The line of ``key:`` later in the mapping of ``match``'s key, if there is one."""
    if not key:
        return None
    indent = len(match.group(1))
    for at in range(index, len(lines)):
        line = lines[at][2]
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(line) - len(stripped)
        if depth < indent or (depth == indent - 2 and stripped.startswith("- ")):
            return None  # the mapping ended
        other = _YAML_KEY.match(line)
        if other is not None and other.group(1) == " " * indent and other.group(2) == key:
            return at
    return None


_BUILD = re.compile(r"^([ \t]*)(build|context):[ \t]*(.*)$")


def _build_context(lines: list[tuple[int, int, str]], index: int, indent: int) -> str | None:
    """The ``build:`` folder of the mapping holding line ``index`` (a compose service), as a
    string or as ``build: {context: ...}``; None without one."""
    start = index
    while start > 0:  # back to the first line of the mapping
        line = lines[start - 1][2]
        stripped = line.lstrip(" ")
        depth = len(line) - len(stripped)
        if stripped and not stripped.startswith("#") and depth < indent:
            break
        start -= 1
    for at in range(start, len(lines)):
        line = lines[at][2]
        stripped = line.lstrip(" ")
        depth = len(line) - len(stripped)
        if at > index and stripped and not stripped.startswith("#") and depth < indent:
            return None  # the mapping ended
        match = _BUILD.match(line)
        if match is None or len(match.group(1)) != indent or match.group(2) != "build":
            continue
        value = _strip_yaml_comment(match.group(3))
        if value:
            scalar = _yaml_scalar(value)
            return scalar[0] if scalar is not None else None
        for inner in lines[at + 1 :]:
            nested = _BUILD.match(inner[2])
            if (
                nested is not None
                and len(nested.group(1)) > indent
                and nested.group(2) == "context"
            ):
                scalar = _yaml_scalar(_strip_yaml_comment(nested.group(3)))
                return scalar[0] if scalar is not None else None
            if inner[2].strip() and len(inner[2]) - len(inner[2].lstrip(" ")) <= indent:
                return None
        return None
    return None


def _starts_a_server(first: Site, second: Site) -> bool:
    """The two lists together start a server (else the first is a script that runs the
    second, ``exec "$@"``: each is read alone)."""
    return find_invocation([*first.words, *second.words]) is not None


def _joined(first: Site, second: Site, text: str) -> Site:
    """One exec site of two lists a runtime concatenates; a rewrite's words are split back
    at the first list's length (any split runs the same command)."""
    assert first.write_list is not None and second.write_list is not None
    split, between = len(first.words), text[first.end : second.start]
    write_first, write_second = first.write_list, second.write_list

    def write(values: list[str]) -> str:
        rest = values[split:]
        return write_first(values[:split]) + between + (write_second(rest) if rest else "[]")

    return Site(first.line, first.start, second.end, "exec", words=(*first.words, *second.words),
                write_list=write, marker_at=first.marker_at)  # fmt: skip


def _strip_yaml_comment(value: str) -> str:
    """``value`` without a trailing `` # comment`` (outside quotes)."""
    quote = ""
    for index, char in enumerate(value):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or value[index - 1] in " \t"):
            return value[:index].rstrip()
    return value.rstrip()


def _yaml_scalar(text: str) -> tuple[str, str] | None:
    """(value, quote) of a one-line YAML scalar, or None when it is not one we can read."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        inner = text[1:-1]
        if text[0] == '"':
            try:
                return json.loads(text), '"'
            except ValueError:
                return None
        return inner.replace("''", "'"), "'"
    if not text or text[0] in "[]{}&*!|>%@`'\"":
        return None
    return text, ""


def _flow_list(text: str) -> tuple[Word, ...] | None:
    if not text.endswith("]"):
        return None
    inner = text[1:-1].strip()
    if not inner:
        return None
    values: list[str] = []
    for item in _split_flow(inner):
        scalar = _yaml_scalar(item.strip())
        if scalar is None:
            return None
        values.append(scalar[0])
    return tuple(Word.literal(v) for v in values)


def _split_flow(inner: str) -> list[str]:
    items, quote, current = [], "", []
    for char in inner:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return items


def _yaml_quote(value: str, prefer: str = '"') -> str:
    if (
        value
        and re.fullmatch(r"[A-Za-z0-9_./:=@%+-][A-Za-z0-9_./:=@%+,-]*", value)
        and not (
            value.lower() in {"true", "false", "yes", "no", "on", "off", "null", "~"}
            or re.fullmatch(r"[0-9.+-]+", value)
        )
    ):
        return value
    if prefer == "'":
        return "'" + value.replace("'", "''") + "'"
    return json.dumps(value)


def _flow_writer(original: str) -> Callable[[list[str]], str]:
    quoted = '"' in original or "'" in original
    prefer = "'" if original.count("'") > original.count('"') else '"'

    def write(values: list[str]) -> str:
        items = [
            (json.dumps(v) if prefer == '"' else _yaml_quote(v, "'")) if quoted else _yaml_quote(v)
            for v in values
        ]
        return "[" + ", ".join(items) + "]"

    return write


def _block_writer(indent: str, written: list[tuple[str, str]]) -> Callable[[list[str]], str]:
    """Writes a block list; an item kept from ``written`` (value, text as written, comment
    included) is written as it was."""

    def write(values: list[str]) -> str:
        unused = list(written)
        lines = []
        for value in values:
            same = next((item for item in unused if item[0] == value), None)
            if same is not None:
                unused = unused[unused.index(same) + 1 :]
                lines.append(f"- {same[1]}")
            else:
                lines.append(f"- {_yaml_quote(value)}")
        return f"\n{indent}".join(lines)

    return write


def _quoted_scalar_writer(quote: str) -> Callable[[str], str]:
    def write(value: str) -> str:
        return "'" + value.replace("'", "''") + "'" if quote == "'" else json.dumps(value)

    return write


def yaml_check(text: str) -> None:
    try:
        import yaml  # type: ignore[import-untyped, unused-ignore]
    except ImportError:  # PyYAML is not ours to require: the edits are line-local
        return
    try:
        list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ValueError(f"the rewritten YAML does not load: {exc}") from None


# --------------------------------------------------------------------------- TOML (fly.toml)

_TOML_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*(#.*)?$")
_TOML_STRING = re.compile(r"""^(\s*[\w"'.-]+\s*=\s*)("(?:[^"\\]|\\.)*"|'[^']*')\s*(#.*)?$""")
_TOML_ARRAY = re.compile(r"^(\s*cmd\s*=\s*)(\[.*\])\s*(#.*)?$")


def toml_sites(text: str) -> Iterator[Site]:
    """fly.toml's ``[processes]`` commands (strings) and ``[experimental] cmd`` (a list)."""
    section = ""
    for number, offset, line in _lines(text):
        header = _TOML_SECTION.match(line)
        if header is not None:
            section = header.group(1).strip()
            continue
        if section == "processes" and (match := _TOML_STRING.match(line)):
            literal = match.group(2)
            value = literal[1:-1] if literal.startswith("'") else json.loads(literal)
            start = offset + match.end(1)
            encode = _toml_literal if literal.startswith("'") else json.dumps
            yield Site(number, start, start + len(literal), "quoted", value, encode=encode,
                       marker_at=offset)  # fmt: skip
        elif section == "experimental" and (match := _TOML_ARRAY.match(line)):
            words = _json_list(match.group(2))
            if words is not None:
                start = offset + match.end(1)
                yield Site(number, start, start + len(match.group(2)), "exec", words=words,
                           write_list=_json_writer(match.group(2)), marker_at=offset)  # fmt: skip


def _toml_literal(value: str) -> str:
    return f"'{value}'" if "'" not in value and "\n" not in value else json.dumps(value)


def toml_check(text: str) -> None:
    from migrate.config import tomllib  # type: ignore[attr-defined, unused-ignore]

    if tomllib is None:
        return
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"the rewritten TOML does not load: {exc}") from None


# --------------------------------------------------------------------------- ini-like

_SYSTEMD_EXEC = re.compile(r"^([ \t]*ExecStart(?:Pre|Post)?[ \t]*=[ \t]*[-@:+!]*)")
_SUPERVISOR_COMMAND = re.compile(r"^([ \t]*command[ \t]*=[ \t]*)")


def _assignment_sites(pattern: re.Pattern[str]) -> Callable[[str], Iterator[Site]]:
    def sites(text: str) -> Iterator[Site]:
        offset, number = 0, 1
        while offset < len(text):
            end = _continued(text, offset)
            match = pattern.match(text[offset:end])
            if match is not None:
                start = offset + match.end()
                body = text[start:end].rstrip()
                if body:
                    yield Site(number, start, start + len(body), "shell", body, marker_at=offset)
            number += text.count("\n", offset, end) + 1
            newline = text.find("\n", end)
            offset = len(text) if newline < 0 else newline + 1

    return sites


# --------------------------------------------------------------------------- shell, make


def shell_sites(text: str) -> Iterator[Site]:
    offset, number = 0, 1
    while offset < len(text):
        end = _continued(text, offset)
        body = text[offset:end]
        stripped = body.strip()
        if stripped and not stripped.startswith("#"):
            lead = len(body) - len(body.lstrip())
            start = offset + lead
            yield Site(number, start, start + len(body.strip()), "shell", body.strip(),
                       marker_at=offset)  # fmt: skip
        number += text.count("\n", offset, end) + 1
        newline = text.find("\n", end)
        offset = len(text) if newline < 0 else newline + 1


#: A make variable, ``$(PORT)`` (not ``$$(...)``, a command substitution of the shell's).
_MAKE_VARIABLE = re.compile(r"(?<!\$)\$\((\w+)\)")


def make_sites(text: str) -> Iterator[Site]:
    for site in shell_sites(text):
        if text[line_start(text, site.start)] == "\t":
            site.text = site.text.lstrip("@-+")
            site.start = site.end - len(site.text)
            site.marker_indent = ""  # a make comment: a tab would hand it to the shell
            names = frozenset(_MAKE_VARIABLE.findall(site.text))
            if names:
                # make expands $(PORT) before the shell reads the line: read as the shell's
                # ${PORT} (a value not known here), written back as make's
                site.form = "quoted"
                site.text = _MAKE_VARIABLE.sub(r"${\1}", site.text)
                site.encode = functools.partial(_as_make_variables, names)
            yield site


def _as_make_variables(names: frozenset[str], text: str) -> str:
    """``text`` with ``${NAME}`` written ``$(NAME)`` again, for the make variables ``names``."""
    return re.sub(r"\$\{(\w+)\}", lambda m: f"$({m[1]})" if m[1] in names else m[0], text)


_SHEBANG = re.compile(rb"^#![ \t]*\S*/(?:env[ \t]+)?(?:ba|da|z|k)?sh\b")


def is_shell_script(path: str) -> bool:
    """Whether the file starts with a POSIX shell's ``#!`` line (read: its first bytes)."""
    try:
        with open(path, "rb") as file:
            return bool(_SHEBANG.match(file.read(64)))
    except OSError:
        return False


# --------------------------------------------------------------------------- which format

_COMPOSE = re.compile(r"^(docker-)?compose[\w.-]*\.ya?ml$")


def format_for(name: str, text: str | None = None) -> Format | None:
    """The format of a file named ``name`` (``text`` decides where the name alone cannot)."""
    if name == "Procfile" or name.startswith("Procfile."):
        return FORMATS["procfile"]
    if (
        name in ("Dockerfile", "Containerfile")
        or name.startswith("Dockerfile.")
        or (name.endswith((".dockerfile", ".Dockerfile")))
    ):
        return FORMATS["dockerfile"]
    if _COMPOSE.match(name) or name in ("app.yaml", "app.yml"):  # app.yaml: App Engine
        return FORMATS["yaml"]
    if name == "fly.toml":
        return FORMATS["toml"]
    if name.endswith((".yaml", ".yml")):
        if text is None or ("containers:" in text and "apiVersion:" in text):
            return FORMATS["yaml"]
        return None
    if name.endswith(".service"):
        return FORMATS["systemd"]
    if name.endswith(".conf") and (text is None or "[program:" in text):
        return FORMATS["supervisor"]
    if name.endswith(".sh"):
        return FORMATS["shell"]
    if name in ("Makefile", "GNUmakefile", "makefile") or name.endswith(".mk"):
        return FORMATS["make"]
    return None


FORMATS = {
    "procfile": Format("Procfile", "# ", procfile_sites),
    "dockerfile": Format("Dockerfile", "# ", dockerfile_sites),
    "yaml": Format("YAML", "# ", yaml_sites, shell=False, check=yaml_check),
    "toml": Format("fly.toml", "# ", toml_sites, shell=False, check=toml_check),
    "systemd": Format("systemd unit", "# ", _assignment_sites(_SYSTEMD_EXEC), shell=False),
    "supervisor": Format("supervisord", "; ", _assignment_sites(_SUPERVISOR_COMMAND), shell=False),
    "shell": Format("shell script", "# ", shell_sites),
    "make": Format("Makefile", "# ", make_sites),
}
