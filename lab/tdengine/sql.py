"""The SQL the emulated shell understands (pure): splitting input and parsing statements.

Supported: ``show dnodes|mnodes|databases``, ``show [DB.]tables|stables|vgroups``,
``create|drop dnode EP`` (quotes around EP optional), ``select server_version()``,
``create database [if not exists] NAME [replica N] [keep N] [days N]``, ``use NAME``,
``drop database [if exists] NAME``, ``create table|stable [if not exists] [DB.]NAME (cols)
[tags (cols)]``, ``create table [DB.]NAME using [DB.]STABLE tags (values)``,
``describe [DB.]NAME``, ``insert into [DB.]NAME values (...) [(...)]`` and ``select *|COLS|
count(*)|last_row(*) from [DB.]NAME [where ts > VALUE] [limit N]``; anything else fails the
way TDengine 2.0's parser does, e.g. ``syntax error near "foo;"``.
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
SHOW = "show"  # arg: databases, tables, stables, vgroups
CREATE_DB = "create_db"
DROP_DB = "drop_db"
USE_DB = "use_db"
CREATE_TABLE = "create_table"
DESCRIBE = "describe"
INSERT = "insert"
SELECT = "select"
COLUMN_TYPES = frozenset(
    {"timestamp", "bool", "tinyint", "smallint", "int", "bigint", "float", "double", "binary", "nchar"}
)
MAX_REPLICA = 3

_QUIT = re.compile(r"^[ \t]*(quit|q|exit)[ \t;]*$", re.IGNORECASE)
_READY = re.compile(r"(^.*;\s*$)|(^\s*$)|(^\s*(exit|q|quit|clear)\s*$)", re.IGNORECASE | re.DOTALL)
_WORD_CHARS = frozenset(string.ascii_letters + string.digits + "_")
_PUNCT = frozenset("(),.;*+-/%<>=!&|~:[]{}")
_QUOTES = "'\"`"
_ERROR_BUFFER = 63  # tscSQLSyntaxErrMsg copies the parser's message into char[64]


@dataclass(frozen=True)
class Statement:
    """A parsed statement: its kind and argument (endpoint, dnode, column name, what to show),
    the database and table it names and what else the kind needs."""

    kind: str
    arg: str = ""
    db: str = ""
    name: str = ""
    if_exists: bool = False  # ``if [not] exists``
    options: tuple[tuple[str, int], ...] = ()  # create database: (replica|keep|days, value)
    columns: tuple[tuple[str, str, int], ...] = ()  # (name, type, bytes)
    tags: tuple[tuple[str, str, int], ...] = ()
    stable: bool = False
    using_db: str = ""
    using: str = ""
    values: tuple[tuple[str, ...], ...] = ()  # insert rows / tag values, as written
    items: tuple[str, ...] = ()  # select list: *, count(*), last_row(*) or column names
    after: str | None = None  # where ts > VALUE, as written
    limit: int | None = None


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
        elif char.isdigit():
            end = index
            while end < length and (sql[end] in _WORD_CHARS or (sql[end] == "." and sql[end + 1 : end + 2].isdigit())):
                end += 1
            yield _Token("word", sql[index:end], index)
            index = end
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

    def accept(self, kind: str, choices: Collection[str]) -> bool:
        """Consume the next token if it is of ``kind`` and one of ``choices``."""
        token = self._peek()
        if token is not None and token.kind == kind and token.text.lower() in choices:
            self.position += 1
            return True
        return False

    def word(self) -> str:
        """A name (lower-cased, as TDengine stores names)."""
        token = self._peek()
        if token is None or token.kind != "word":
            self.fail(token)
        self.position += 1
        return token.text.lower()

    def number(self) -> int:
        """A non-negative integer."""
        token = self._peek()
        if token is None or not token.text.isdigit():
            self.fail(token)
        self.position += 1
        return int(token.text)

    def table_name(self) -> tuple[str, str]:
        """``[DB.]NAME`` as (db or "", name)."""
        first = self.word()
        if self.accept("punct", {"."}):
            return first, self.word()
        return "", first

    def value(self) -> str:
        """One value as written: a string, a number (maybe signed), ``now[+-]N[unit]``, null."""
        token = self._peek()
        if token is None:
            self.fail(token)
        if token.kind == "string":
            self.position += 1
            return token.text
        start = token.start
        if token.text in ("+", "-"):
            self.position += 1
            token = self._peek()
        if token is None or token.kind != "word":
            self.fail(token)
        self.position += 1
        end = token.start + len(token.text)
        if token.text.lower() == "now":
            operator = self._peek()
            if operator is not None and operator.text in ("+", "-"):
                self.position += 1
                end = self.word_end()
        return self.sql[start:end]

    def word_end(self) -> int:
        """Consume a word; where it ends in the text."""
        token = self._peek()
        if token is None or token.kind != "word":
            self.fail(token)
        self.position += 1
        return token.start + len(token.text)

    def column_list(self) -> tuple[tuple[str, str, int], ...]:
        """``(name type[(n)], ...)``."""
        self.expect("punct", {"("})
        columns = []
        while True:
            name = self.word()
            kind = self.expect("word", COLUMN_TYPES).text.lower()
            size = 0
            if kind in ("binary", "nchar"):
                self.expect("punct", {"("})
                size = self.number()
                self.expect("punct", {")"})
            columns.append((name, kind, size or _type_bytes(kind)))
            if not self.accept("punct", {","}):
                break
        self.expect("punct", {")"})
        return tuple(columns)

    def value_list(self) -> tuple[str, ...]:
        """``(value, ...)``."""
        self.expect("punct", {"("})
        values = [self.value()]
        while self.accept("punct", {","}):
            values.append(self.value())
        self.expect("punct", {")"})
        return tuple(values)

    def at_end(self) -> bool:
        """True at the end of the statement."""
        token = self._peek()
        return token is None or token.text == ";"

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


def _type_bytes(kind: str) -> int:
    return {"timestamp": 8, "bool": 1, "tinyint": 1, "smallint": 2, "int": 4, "bigint": 8, "float": 4, "double": 8}[
        kind
    ]


def parse_statement(sql: str) -> Statement:
    """Parse one command into a :class:`Statement`; raise TaosError with the parser's text."""
    parser = _Parser(sql)
    verb = parser.expect("word", {"show", "create", "drop", "select", "use", "describe", "insert"}).text.lower()
    if verb == "show":
        return _show(parser)
    if verb == "create":
        return _create(parser)
    if verb == "drop":
        if parser.accept("word", {"database"}):
            if_exists = parser.accept("word", {"if"})
            if if_exists:
                parser.expect("word", {"exists"})
            name = parser.word()
            parser.end()
            return Statement(DROP_DB, name=name, if_exists=if_exists)
        parser.expect("word", {"dnode"})
        return Statement(DROP_DNODE, parser.endpoint())
    if verb == "use":
        name = parser.word()
        parser.end()
        return Statement(USE_DB, name=name)
    if verb == "describe":
        db, name = parser.table_name()
        parser.end()
        return Statement(DESCRIBE, db=db, name=name)
    if verb == "insert":
        parser.expect("word", {"into"})
        db, name = parser.table_name()
        parser.expect("word", {"values"})
        rows = [parser.value_list()]
        while not parser.at_end():
            rows.append(parser.value_list())
        return Statement(INSERT, db=db, name=name, values=tuple(rows))
    return _select(parser, sql)


def _show(parser: _Parser) -> Statement:
    token = parser._peek()
    if token is not None and token.kind == "word" and token.text.lower() in ("dnodes", "mnodes", "databases"):
        parser.position += 1
        parser.end()
        what = token.text.lower()
        if what == "databases":
            return Statement(SHOW, what)
        return Statement(SHOW_DNODES if what == "dnodes" else SHOW_MNODES)
    db = ""
    if token is not None and token.kind == "word" and token.text.lower() not in ("tables", "stables", "vgroups"):
        db = parser.word()
        parser.expect("punct", {"."})
    what = parser.expect("word", {"tables", "stables", "vgroups"}).text.lower()
    parser.end()
    return Statement(SHOW, what, db=db)


def _create(parser: _Parser) -> Statement:
    if parser.accept("word", {"dnode"}):
        return Statement(CREATE_DNODE, parser.endpoint())
    what = parser.expect("word", {"database", "table", "stable"}).text.lower()
    if_not_exists = parser.accept("word", {"if"})
    if if_not_exists:
        parser.expect("word", {"not"})
        parser.expect("word", {"exists"})
    if what == "database":
        name = parser.word()
        options = []
        while not parser.at_end():
            option = parser.expect("word", {"replica", "keep", "days"}).text.lower()
            options.append((option, parser.number()))
        return Statement(CREATE_DB, name=name, if_exists=if_not_exists, options=tuple(options))
    db, name = parser.table_name()
    if what == "table" and parser.accept("word", {"using"}):
        using_db, using = parser.table_name()
        parser.expect("word", {"tags"})
        values = parser.value_list()
        parser.end()
        return Statement(
            CREATE_TABLE, db=db, name=name, if_exists=if_not_exists, using_db=using_db, using=using, values=(values,)
        )
    columns = parser.column_list()
    tags: tuple[tuple[str, str, int], ...] = ()
    if parser.accept("word", {"tags"}):
        tags = parser.column_list()
    elif what == "stable":
        parser.fail(parser._peek())
    parser.end()
    return Statement(
        CREATE_TABLE, db=db, name=name, if_exists=if_not_exists, columns=columns, tags=tags, stable=bool(tags)
    )


def _select(parser: _Parser, sql: str) -> Statement:
    token = parser._peek()
    if token is not None and token.text.lower() == "server_version":
        function = parser.expect("word", {"server_version"})
        parser.expect("punct", {"("})
        close = parser.expect("punct", {")"})
        parser.end()
        return Statement(SERVER_VERSION, sql[function.start : close.start + 1])
    first = parser._peek()
    items = []
    while True:
        token = parser._peek()
        if parser.accept("punct", {"*"}):
            items.append("*")
        elif token is None or token.kind != "word" or token.text[0].isdigit():
            parser.fail(token)
        else:
            word = parser.word()
            if word in ("count", "last_row"):
                parser.expect("punct", {"("})
                parser.expect("punct", {"*"})
                parser.expect("punct", {")"})
                word += "(*)"
            items.append(word)
        if not parser.accept("punct", {","}):
            break
    if not parser.accept("word", {"from"}):
        parser.fail(first)  # only server_version() goes without a table
    db, name = parser.table_name()
    after = limit = None
    if parser.accept("word", {"where"}):
        parser.expect("word", {"ts"})
        parser.expect("punct", {">"})
        after = parser.value()
    if parser.accept("word", {"limit"}):
        limit = parser.number()
    parser.end()
    return Statement(SELECT, db=db, name=name, items=tuple(items), after=after, limit=limit)
