"""Command lines as words: what a program receives, and where each word is written.

Deployment files hold command lines in two forms. The *shell* form is text a shell reads
(a Procfile line, a Dockerfile ``CMD gunicorn ...``, a systemd ``ExecStart=``, a script):
:func:`shell_words` splits it the way ``sh`` does (quotes, backslashes, ``$VAR``), keeping
each word's span so a rewrite replaces exactly the words it changes and keeps the rest of
the text byte for byte. The *exec* form is a list of strings no shell sees (a JSON array, a
YAML list): each string is a word as it is.

A word the shell expands (``$PORT``, ``${WEB_CONCURRENCY:-2}``, a backquote) is *dynamic*:
its value is only known at run time, so the rewrites carry it over as written and never
look inside it beyond what :func:`split_word` allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: What separates commands on one shell line.
OPERATORS = ("&&", "||", ";;", ";", "|", "&", "(", ")")


@dataclass(frozen=True)
class Word:
    """One argument of a command line."""

    #: What the program receives (for a dynamic word, the text with its ``$`` parts).
    value: str
    #: How it is written in the file (quotes and all); for an exec-form word, the value.
    source: str
    #: Where ``source`` starts and ends in the text it was read from (-1: not in a text).
    start: int = -1
    end: int = -1
    #: The shell expands part of it at run time.
    dynamic: bool = False

    @classmethod
    def literal(cls, value: str) -> Word:
        return cls(value, value)


@dataclass(frozen=True)
class Segment:
    """One simple command of a shell line: its words (operators split segments)."""

    words: tuple[Word, ...]


class ShellSyntaxError(ValueError):
    """Text the splitter cannot read with certainty (an unclosed quote, a heredoc)."""


def shell_segments(text: str) -> list[Segment]:
    """The simple commands of ``text`` (a shell line, continuations allowed), in order."""
    segments: list[Segment] = []
    current: list[Word] = []
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char in " \t\n":
            index += 1
            continue
        if char == "\\" and text.startswith("\\\n", index):
            index += 2
            continue
        if char == "#":  # a comment runs to the end of the line
            newline = text.find("\n", index)
            index = length if newline < 0 else newline
            continue
        operator = next((op for op in OPERATORS if text.startswith(op, index)), None)
        if operator is not None:
            if operator == "&" and text.startswith("&>", index):
                raise ShellSyntaxError("redirection with &>")
            if current:
                segments.append(Segment(tuple(current)))
            current = []
            index += len(operator)
            continue
        if text.startswith("<<", index):
            raise ShellSyntaxError("heredoc")
        word, index = _read_word(text, index)
        current.append(word)
    if current:
        segments.append(Segment(tuple(current)))
    return segments


def _read_word(text: str, start: int) -> tuple[Word, int]:
    value: list[str] = []
    dynamic = False
    index, length = start, len(text)
    while index < length:
        char = text[index]
        if char in " \t\n" or any(text.startswith(op, index) for op in OPERATORS):
            break
        if char == "\\":
            if index + 1 >= length:
                raise ShellSyntaxError("a backslash at the end")
            if text[index + 1] != "\n":
                value.append(text[index + 1])
            index += 2
        elif char == "'":
            close = text.find("'", index + 1)
            if close < 0:
                raise ShellSyntaxError("an unclosed single quote")
            value.append(text[index + 1 : close])
            index = close + 1
        elif char == '"':
            index += 1
            while True:
                if index >= length:
                    raise ShellSyntaxError("an unclosed double quote")
                inner = text[index]
                if inner == '"':
                    index += 1
                    break
                if inner == "\\" and index + 1 < length and text[index + 1] in '$`"\\\n':
                    value.append(text[index + 1])
                    index += 2
                    continue
                if inner in "$`":
                    dynamic = True
                value.append(inner)
                index += 1
        elif char in "$`":
            dynamic = True
            if text.startswith("$(", index) or char == "`":
                raise ShellSyntaxError("command substitution")
            value.append(char)
            index += 1
        elif char in "<>":
            raise ShellSyntaxError("redirection")
        else:
            value.append(char)
            index += 1
    return Word("".join(value), text[start:index], start, index, dynamic), index


def split_word(word: Word, separator: str) -> tuple[Word, Word] | None:
    """``word`` cut at its last ``separator`` (``0.0.0.0:$PORT`` -> ``0.0.0.0`` and
    ``$PORT``), where its source holds no quotes or escapes (so the cut is the same in the
    source and the value); None otherwise or without the separator."""
    if word.source != word.value or separator not in word.value:
        return None
    left, _, right = word.value.rpartition(separator)
    return _part(left), _part(right)


def _part(text: str) -> Word:
    return Word(text, text, dynamic="$" in text or "`" in text)


def values(words: Sequence[Word | str]) -> list[str]:
    return [word.value if isinstance(word, Word) else word for word in words]
