"""The SQL the emulated shell understands (pure): splitting input and parsing statements.

Supported: ``show dnodes``, ``show mnodes``, ``create dnode EP``, ``drop dnode ID|EP``
(quotes around EP optional) and ``select server_version()``; anything else fails the way
TDengine 2.0's parser does, e.g. ``syntax error near "foo;"``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import SQL_SYNTAX_ERROR, TaosError

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator
    from typing import NoReturn

SHOW_DNODES = "show_dnodes"
SHOW_MNODES = "show_mnodes"
CREATE_DNODE = "create_dnode"
DROP_DNODE = "drop_dnode"
SERVER_VERSION = "server_version"

_QUIT = re.compile(r"^[ \t]*(quit|q|exit)[ \t;]*$", re.IGNORECASE)
_READY = re.compile(r"(^.*;\s*$)|(^\s*$)|(^\s*(exit|q|quit|clear)\s*$)", re.IGNORECASE | re.DOTALL)
_WORD_CHARS = frozenset(string.ascii_letters + string.digits + "_")
_PUNCT = frozenset("(),.;*+-/%<>=!&|~:[]{}")
_QUOTES = "'\"`"
_ERROR_BUFFER = 63  # tscSQLSyntaxErrMsg copies the parser's message into char[64]


@dataclass(frozen=True)
class Statement:
    """A parsed statement: its kind and argument (endpoint, dnode, or column name)."""

    kind: str
    arg: str = ""


@dataclass(frozen=True)
class _Token:
    kind: str  # word, string, punct, illegal
    text: str
    start: int


def split_commands(text: str) -> list[str]:
    """Split shell input at ``;`` outside quotes; each piece keeps its ``;`` (shellRunCommand)."""
    commands, current, quote, escaped = [], [], None, False
    for char in text:
        current.append(char)
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ";":
            commands.append("".join(current))
            current = []
    commands.append("".join(current))
    return commands


def is_empty_command(command: str) -> bool:
    """True when ``command`` holds only blanks and semicolons."""
    return all(char in " \t;" for char in command)


def is_quit(command: str) -> bool:
    """True for ``quit``, ``q`` or ``exit``."""
    return bool(_QUIT.match(command))


def is_ready(buffer: str) -> bool:
    """True when interactive input is complete: it ends with ``;`` or is a bare command."""
    return bool(_READY.match(buffer))


def _tokenize(sql: str) -> Iterator[_Token]:
    index, length = 0, len(sql)
    while index < length:
        char = sql[index]
        if char.isspace():
            index += 1
        elif char in _WORD_CHARS:
            end = index
            while end < length and sql[end] in _WORD_CHARS:
                end += 1
            yield _Token("word", sql[index:end], index)
            index = end
        elif char in _QUOTES:
            end = index + 1
            while end < length and sql[end] != char:
                end += 2 if sql[end] == "\\" else 1
            if end >= length:
                yield _Token("illegal", sql[index:], index)
                return
            yield _Token("string", sql[index : end + 1], index)
            index = end + 1
        else:
            yield _Token("punct" if char in _PUNCT else "illegal", char, index)
            index += 1


def _syntax_error(parser_message: str) -> TaosError:
    """The client's wrapping of a parser message into the text the shell shows."""
    text = parser_message[:_ERROR_BUFFER]
    if not parser_message.startswith("syntax error"):
        text = f"syntax error near '{text}'"
    return TaosError(SQL_SYNTAX_ERROR, text)


class _Parser:
    """Walks the tokens; reports the first unexpected one like TDengine's Lemon parser."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.tokens = list(_tokenize(sql))
        self.position = 0

    def _peek(self) -> _Token | None:
        if self.position >= len(self.tokens):
            return None
        token = self.tokens[self.position]
        if token.kind == "illegal":
            raise _syntax_error(f'unrecognized token: "{self.sql[token.start :]}"')
        return token

    def fail(self, token: _Token | None) -> NoReturn:
        """Raise the error for an unexpected ``token`` (None: the input ended)."""
        if token is None:
            raise _syntax_error("Incomplete SQL statement")
        raise _syntax_error(f'syntax error near "{self.sql[token.start :]}"')

    def expect(self, kind: str, choices: Collection[str]) -> _Token:
        """Consume a token of ``kind`` whose lower-cased text is one of ``choices``."""
        token = self._peek()
        if token is None or token.kind != kind or token.text.lower() not in choices:
            self.fail(token)
        self.position += 1
        return token

    def end(self) -> None:
        """Accept the end of the statement (an optional ``;``)."""
        token = self._peek()
        if token is not None and token.text != ";":
            self.fail(token)

    def endpoint(self) -> str:
        """An endpoint or dnode id: one quoted string, or unquoted words, dots and colons."""
        first = self._peek()
        if first is None or first.text == ";" or first.kind == "punct":
            self.fail(first)
        if first.kind == "string":
            self.position += 1
            self.end()
            return first.text[1:-1].strip()
        last = first
        while True:
            self.position += 1
            token = self._peek()
            if token is None or token.text == ";":
                return self.sql[first.start : last.start + len(last.text)].strip()
            if token.kind == "string" or (token.kind == "punct" and token.text not in ".:-"):
                self.fail(token)
            last = token


def parse_statement(sql: str) -> Statement:
    """Parse one command into a :class:`Statement`; raise TaosError with the parser's text."""
    parser = _Parser(sql)
    verb = parser.expect("word", {"show", "create", "drop", "select"}).text.lower()
    if verb == "show":
        what = parser.expect("word", {"dnodes", "mnodes"}).text.lower()
        parser.end()
        return Statement(SHOW_DNODES if what == "dnodes" else SHOW_MNODES)
    if verb in ("create", "drop"):
        parser.expect("word", {"dnode"})
        return Statement(CREATE_DNODE if verb == "create" else DROP_DNODE, parser.endpoint())
    name = parser.expect("word", {"server_version"})
    parser.expect("punct", {"("})
    close = parser.expect("punct", {")"})
    parser.end()
    return Statement(SERVER_VERSION, sql[name.start : close.start + 1])
