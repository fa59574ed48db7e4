"""Shell input splitting and statement parsing, with TDengine 2.0's error texts."""

import pytest

from lab.tdengine import sql
from lab.tdengine.errors import SQL_SYNTAX_ERROR, TaosError
from lab.tdengine.sql import Statement


def test_split_keeps_semicolons_and_respects_quotes():
    assert sql.split_commands("show dnodes; show mnodes") == ["show dnodes;", " show mnodes"]
    assert sql.split_commands("create dnode 'a;b'; x") == ["create dnode 'a;b';", " x"]
    assert sql.split_commands('create dnode "a\\";b"') == ['create dnode "a\\";b"']


def test_empty_quit_and_ready():
    assert sql.is_empty_command(" ;\t;") and not sql.is_empty_command(" x;")
    for quit_command in ("quit", " q ;", "EXIT;"):
        assert sql.is_quit(quit_command)
    assert not sql.is_quit("quitting")
    assert sql.is_ready("show dnodes;  ") and sql.is_ready("") and sql.is_ready(" quit ")
    assert not sql.is_ready("show dnodes")


@pytest.mark.parametrize(
    "text, statement",
    [
        ("show dnodes", Statement(sql.SHOW_DNODES)),
        ("SHOW  MNODES ;", Statement(sql.SHOW_MNODES)),
        ('create dnode "taosnode2:6030";', Statement(sql.CREATE_DNODE, "taosnode2:6030")),
        ("create dnode 'taosnode2'", Statement(sql.CREATE_DNODE, "taosnode2")),
        ("CREATE DNODE h2.taos.com:7030;", Statement(sql.CREATE_DNODE, "h2.taos.com:7030")),
        ("drop dnode 3", Statement(sql.DROP_DNODE, "3")),
        ('drop dnode "taosnode3:6030"', Statement(sql.DROP_DNODE, "taosnode3:6030")),
        ("select server_version();", Statement(sql.SERVER_VERSION, "server_version()")),
        ("SELECT SERVER_VERSION ( )", Statement(sql.SERVER_VERSION, "SERVER_VERSION ( )")),
    ],
)
def test_supported_statements(text, statement):
    assert sql.parse_statement(text) == statement


@pytest.mark.parametrize(
    "text, message",
    [
        ("foo bar;", 'syntax error near "foo bar;"'),
        ("show foo bar", 'syntax error near "bar"'),
        ("show dnodes extra;", 'syntax error near "extra;"'),
        ("show", "syntax error near 'Incomplete SQL statement'"),
        ("show;", 'syntax error near ";"'),
        ("create dnode", "syntax error near 'Incomplete SQL statement'"),
        ('create dnode "a" "b"', 'syntax error near ""b""'),
        ("select 1", 'syntax error near "1"'),
        ("show $x", "syntax error near 'unrecognized token: \"$x\"'"),
        ("show 'open", "syntax error near 'unrecognized token: \"'open\"'"),
        ("select " + "x" * 80, 'syntax error near "' + "x" * 44),
    ],
)
def test_errors_read_like_tdengine(text, message):
    with pytest.raises(TaosError) as error:
        sql.parse_statement(text)
    assert error.value.code == SQL_SYNTAX_ERROR
    assert error.value.text == message
