"""taos: the emulated TDengine 2.0.20 shell.

Usage: ``python3 -m lab.tdengine.taos [-c DIR] [-h HOST] [-P PORT] [-u USER] [-p[PASS]] [-s SQL]``.
Without ``-s`` it reads statements from stdin at a ``taos> `` prompt.  Output goes to the
streams the real shell uses: results and ``taos connect failed`` on stdout (exit 1 for the
latter), ``DB error`` on stderr; with ``-s`` the exit status is 0 even after a failed query.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
import time
from typing import TYPE_CHECKING

from . import VERSION, query, shellfmt, sql
from .catalog import DEFAULT_KEEP, DESCRIBE_COLUMNS, Table, describe_rows
from .client import Connection
from .config import DEFAULT_CONFIG_DIR, MAX_EP_LEN, ConfigError, load_config
from .epset import EpSet
from .errors import INVALID_FQDN, TSC_DB_NOT_SELECTED, TaosError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, TextIO

    from .config import TaosConfig

DEFAULT_USER = "root"
DEFAULT_PASSWORD = "taosdata"
_USE = re.compile(r"^\s*use\s+[a-zA-Z0-9_]+\s*;\s*$", re.IGNORECASE)  # shellRunCommandOnServer


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The shell's options (``-h`` is the host, so help is only ``--help``)."""
    parser = argparse.ArgumentParser(prog="taos", add_help=False, description="Emulated TDengine 2.0.20 shell.")
    parser.add_argument("--help", action="help", help="show this help and exit")
    parser.add_argument("-c", "--config-dir", default=DEFAULT_CONFIG_DIR, help="configuration directory")
    parser.add_argument("-h", "--host", help="TDengine server FQDN to connect to")
    parser.add_argument("-P", "--port", type=int, help="port (used only with -h)")
    parser.add_argument("-u", "--user", default=DEFAULT_USER, help="user name")
    parser.add_argument("-p", "--password", nargs="?", const="", help="password (prompted if empty)")
    parser.add_argument("-s", "--commands", help="commands to run without entering the shell")
    parser.add_argument("-V", "--version", action="store_true", help="print the version and exit")
    return parser.parse_args(argv)


def initial_epset(config: TaosConfig, host: str | None, port: int | None) -> EpSet:
    """``{HOST:PORT}`` with -h (PORT: -P, the port in HOST, or serverPort), else {firstEp, secondEp}."""
    if host is None:
        texts = [config.first_ep, config.second_ep]
    else:
        if not host or len(host) >= MAX_EP_LEN:
            raise TaosError(INVALID_FQDN)
        texts = [host]
    try:
        epset = EpSet.from_strings(texts, 0, config.server_port)
    except ValueError:
        raise TaosError(INVALID_FQDN) from None
    if host is not None and port:
        epset.replace([(epset.current()[0], port)])
    return epset


class Shell:
    """Runs statements on a connection and prints what the real shell prints."""

    def __init__(self, connection: Connection, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.connection = connection
        self.out = out
        self.err = err
        self.db = ""  # the database of ``use``

    def run(self, text: str) -> bool:
        """Run every statement of ``text``; return False when one of them was ``quit``."""
        for command in sql.split_commands(text):
            if sql.is_empty_command(command):
                continue
            if sql.is_quit(command):
                return False
            self.run_one(command)
        return True

    def run_one(self, command: str) -> None:
        """Run one statement and print its result or its error."""
        start = time.perf_counter()
        try:
            statement = sql.parse_statement(command)
            if statement.kind == sql.USE_DB:
                self.connection.use_db(statement.name)
                self.db = statement.name
                if _USE.match(command):
                    self.out.write("Database changed.\n\n")
                else:
                    self.out.write(shellfmt.query_ok_affected(0, time.perf_counter() - start) + "\n")
            elif statement.kind in (
                sql.CREATE_DNODE,
                sql.DROP_DNODE,
                sql.CREATE_DB,
                sql.DROP_DB,
                sql.CREATE_TABLE,
                sql.INSERT,
            ):
                affected = self._change(statement)
                self.out.write(shellfmt.query_ok_affected(affected, time.perf_counter() - start) + "\n")
            else:
                columns, rows = self._query(statement)
                self.out.write(shellfmt.format_table(columns, rows))
                self.out.write(shellfmt.query_ok_rows(len(rows), time.perf_counter() - start) + "\n")
        except TaosError as exc:
            self.out.flush()
            self.err.write(shellfmt.db_error(exc.text, time.perf_counter() - start))
        self.out.flush()

    def _db(self, db: str) -> str:
        """The statement's database, else the one of ``use``; the client's error without."""
        if not (db or self.db):
            raise TaosError(TSC_DB_NOT_SELECTED)
        return db or self.db

    def _change(self, statement: sql.Statement) -> int:
        """Statements answered with ``Query OK, N of N row(s) in database``; N."""
        connection, kind = self.connection, statement.kind
        if kind == sql.CREATE_DNODE:
            connection.create_dnode(statement.arg)
        elif kind == sql.DROP_DNODE:
            connection.drop_dnode(statement.arg)
        elif kind == sql.CREATE_DB:
            options = dict(statement.options)
            replica = options.get("replica", 1)
            if not 1 <= replica <= sql.MAX_REPLICA:
                raise query.invalid_sql(
                    f"invalid db option replications: {replica} valid range: [1, {sql.MAX_REPLICA}]"
                )
            connection.create_db(statement.name, statement.if_exists, replica, options.get("keep", DEFAULT_KEEP))
        elif kind == sql.DROP_DB:
            connection.drop_db(statement.name, statement.if_exists)
        elif kind == sql.CREATE_TABLE:
            self._create_table(statement)
        else:
            now_ms = int(time.time() * 1000)
            return connection.insert(
                self._db(statement.db),
                statement.name,
                lambda meta: [query.convert_row(row, meta["columns"], now_ms) for row in statement.values],
            )
        return 0

    def _create_table(self, statement: sql.Statement) -> None:
        db = self._db(statement.db)
        tag_values: list[Any] = []
        if statement.using:
            meta = self.connection.table_meta(self._db(statement.using_db), statement.using)
            tag_values = query.convert_row(statement.values[0], meta["tags"], int(time.time() * 1000))
        self.connection.create_table(
            db=db,
            name=statement.name,
            columns=[list(column) for column in statement.columns],
            tags=[list(tag) for tag in statement.tags],
            stable=statement.stable,
            using=statement.using,
            tag_values=tag_values,
            if_not_exists=statement.if_exists,
        )

    def _query(self, statement: sql.Statement) -> tuple[list[shellfmt.Column], list[list[Any]]]:
        if statement.kind == sql.SERVER_VERSION:
            version = self.connection.server_version
            return [shellfmt.Column(statement.arg, "binary", len(version))], [[version]]
        if statement.kind in (sql.SHOW_DNODES, sql.SHOW_MNODES):
            return self.connection.show("dnodes" if statement.kind == sql.SHOW_DNODES else "mnodes")
        if statement.kind == sql.SHOW:
            return self.connection.show(statement.arg, statement.db or self.db)
        db = self._db(statement.db)
        meta = self.connection.table_meta(db, statement.name)
        if statement.kind == sql.DESCRIBE:
            table = Table(db, statement.name, 0, meta["columns"], meta["tags"])
            return list(DESCRIBE_COLUMNS), describe_rows(table)
        after = None if statement.after is None else query.parse_time(statement.after, int(time.time() * 1000))
        query.select(statement.items, meta["columns"], meta["tags"], [], None)  # unknown columns fail first
        tables = self.connection.query(meta, after, db, statement.name)
        return query.select(statement.items, meta["columns"], meta["tags"], tables, statement.limit)

    def interact(self, stdin: TextIO = sys.stdin) -> None:
        """Prompt for statements until ``quit`` or end of input."""
        echo = not stdin.isatty()
        while True:
            buffer = []
            prompt = shellfmt.PROMPT
            while True:
                self.out.write(prompt)
                self.out.flush()
                line = stdin.readline()
                if not line:
                    if not echo:  # Ctrl-D on a terminal
                        self.out.write("\n")
                    return
                line = line.rstrip("\r\n")
                if echo:
                    self.out.write(line + "\n")
                buffer.append(line)
                if sql.is_ready(" ".join(buffer)):
                    break
                prompt = shellfmt.CONTINUE_PROMPT
            if not self.run(" ".join(buffer)):
                return


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python3 -m lab.tdengine.taos``; returns the exit status."""
    args = parse_args(argv)
    if args.version:
        print(f"version: {VERSION}")
        return 0
    try:
        config = load_config(args.config_dir)
    except ConfigError as exc:
        print(f"taos: {exc}", file=sys.stderr)
        return 1
    out = sys.stdout
    out.write(shellfmt.banner())
    out.flush()
    password = args.password
    if password == "":
        password = getpass.getpass("Enter password: ")
    try:
        connection = Connection(
            initial_epset(config, args.host, args.port),
            config.rpc_timer_ms,
            args.user,
            DEFAULT_PASSWORD if password is None else password,
            config.shell_activity_timer,
        )
        connection.connect()
    except TaosError as exc:
        out.write(shellfmt.connect_failed(exc.text))
        out.flush()
        return 1
    shell = Shell(connection)
    if args.commands is not None:
        out.write(f"{shellfmt.PROMPT}{args.commands}\n")
        shell.run(args.commands)
        return 0
    connection.start_heartbeat()
    try:
        shell.interact()
    except KeyboardInterrupt:
        out.write("\n")
    finally:
        connection.close()
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
