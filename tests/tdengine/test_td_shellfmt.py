"""The shell's output formats, byte for byte."""

import time

import pytest

from lab.tdengine import shellfmt
from lab.tdengine.cluster import DNODE_COLUMNS, MNODE_COLUMNS
from lab.tdengine.shellfmt import Column

# 2021-04-24 01:00:00.123 UTC
STAMP = 1619226000123

DNODES = """\
   id   |           end_point            | vnodes | cores  |   status   | role  |       create_time       |      offline reason      |
======================================================================================================================================
      1 | taosnode1:6030                 |      0 |      2 | ready      | any   | 2021-04-24 01:00:00.123 |                          |
      2 | taosnode2:6030                 |      0 |      0 | offline    | any   | 2021-04-24 01:00:00.123 | status not received      |
      3 | a-very-long-host-name.examp... |      0 |     16 | offline    | any   | 2021-04-24 01:00:00.123 | status msg timeout       |
"""

MNODES = """\
   id   |           end_point            |     role     |       create_time       |
===================================================================================
      1 | taosnode1:6030                 | master       | 2021-04-24 01:00:00.123 |
"""


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_show_dnodes_table_is_134_wide(utc):
    rows = [
        [1, "taosnode1:6030", 0, 2, "ready", "any", STAMP, ""],
        [2, "taosnode2:6030", 0, 0, "offline", "any", STAMP, "status not received"],
        [3, "a-very-long-host-name.example.com:6030", 0, 16, "offline", "any", STAMP, "status msg timeout"],
    ]
    text = shellfmt.format_table(DNODE_COLUMNS, rows)
    assert text == DNODES
    assert text.splitlines()[1] == "=" * 134
    assert [shellfmt.column_width(c) for c in DNODE_COLUMNS] == [6, 30, 6, 6, 10, 5, 23, 24]


def test_show_mnodes_table(utc):
    assert shellfmt.format_table(MNODE_COLUMNS, [[1, "taosnode1:6030", "master", STAMP]]) == MNODES


def test_header_centres_names_and_empty_results_print_nothing():
    columns = [Column("server_version()", "binary", 8), Column("n", "bigint", 8)]
    assert shellfmt.format_header(columns, [16, 21]) == (
        " server_version() |           n           |\n" + "=" * 43 + "\n"
    )
    assert shellfmt.format_table(columns, []) == ""


def test_text_cut_keeps_the_width():
    column = Column("c", "binary", 5)
    assert shellfmt.format_value(column, "abcdef", 5) == "ab..."
    assert shellfmt.format_value(column, "abc", 5) == "abc  "
    assert shellfmt.format_value(column, "表格表格", 5) == "表..."


def test_fixed_texts():
    assert shellfmt.banner() == (
        "\nWelcome to the TDengine shell from Linux, Client Version:2.0.20.0\n"
        "Copyright (c) 2020 by TAOS Data, Inc. All rights reserved.\n\n"
    )
    assert shellfmt.connect_failed("Unable to establish connection") == (
        "taos connect failed, reason: Unable to establish connection.\n\n"
    )
    assert shellfmt.query_ok_rows(3, 0.0012344) == "Query OK, 3 row(s) in set (0.001234s)\n"
    assert shellfmt.query_ok_affected(0, 0.01) == "Query OK, 0 of 0 row(s) in database (0.010000s)\n"
    assert shellfmt.db_error("Unable to establish connection", 0.012928) == (
        "\nDB error: Unable to establish connection (0.012928s)\n"
    )
