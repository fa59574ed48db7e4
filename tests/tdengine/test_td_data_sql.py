"""Databases, tables, insert and select: parser, catalog and formatter against the real shell.

The golden files in golden/real/ are what the real TDengine 2.0.20.0 shell printed in the
lab (the fidelity capture: a 3-dnode cluster, taos -s on taosnode1), timestamps and timings
masked; the first line is the prompt with the statement.
"""

import io
import re

import pytest

from lab.tdengine import query, shellfmt, sql
from lab.tdengine.catalog import (
    DATABASE_COLUMNS,
    DESCRIBE_COLUMNS,
    STABLE_COLUMNS,
    TABLE_COLUMNS,
    Catalog,
    DnodeLoad,
    Table,
    describe_rows,
)
from lab.tdengine.errors import (
    DB_ALREADY_EXIST,
    DB_NOT_SELECTED,
    INVALID_DB,
    INVALID_TABLE_NAME,
    TABLE_ALREADY_EXIST,
    TaosError,
    error_text,
)
from lab.tdengine.taos import Shell

from .helpers import golden

STAMP = 1_600_000_000_000
THREE = [DnodeLoad(1, 2, True, True), DnodeLoad(2, 2, True, True), DnodeLoad(3, 2, True, True)]


def masked(text):
    text = re.sub(r"\(\d+\.\d{6}s\)", "(T s)", text)
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", "YYYY-MM-DD hh:mm:ss.mmm", text)


def real(name):
    """The real shell's answer (without its prompt line) and the statement it answered."""
    prompt, _, answer = golden(f"real/{name}.txt").partition("\n")
    return prompt.removeprefix(shellfmt.PROMPT), answer


def shown(columns, rows):
    return masked(shellfmt.format_table(columns, rows) + shellfmt.query_ok_rows(len(rows), 0.0) + "\n")


def failed(error):
    return masked(shellfmt.db_error(error.text, 0.0))


@pytest.fixture
def catalog():
    """The cluster of the capture: log's vgroup moved to dnode 3, db1 with t1, st and s1."""
    catalog = Catalog.bootstrap(STAMP, 1)
    assert catalog.balance_monitor_vgroup([THREE[0], *(DnodeLoad(i, 2, True, False) for i in (2, 3))]) == (1, 3)
    catalog.create_db("db1", False, 1, 30, STAMP)
    columns = [["ts", "timestamp", 8], ["v", "int", 4], ["name", "binary", 10]]
    catalog.create_table(Table("db1", "t1", STAMP, columns), False, THREE, 0)
    stable = Table("db1", "st", STAMP, [["ts", "timestamp", 8], ["v", "float", 4]], is_stable=True)
    stable.tags = [["loc", "binary", 10], ["gid", "int", 4]]
    catalog.create_table(stable, False, THREE, 0)
    catalog.create_table(Table("db1", "s1", STAMP, using="st", tag_values=["bj", 1]), False, THREE, 0)
    return catalog


def test_show_databases_lists_the_monitor_database():
    catalog = Catalog.bootstrap(STAMP, 1)
    catalog.create_db("db1", False, 1, 30, STAMP)
    _, answer = real("show_databases")
    rows = catalog.database_rows(3)  # log: 6 tables with 3 dnodes; db1: no table, no vgroup yet
    assert shown(DATABASE_COLUMNS, rows) == answer
    statement, answer = real("show_databases_log")
    assert sql.parse_statement(statement) == sql.Statement(sql.SHOW, "databases")
    assert shown(DATABASE_COLUMNS, rows[:1]) == answer


def test_show_tables_stables_and_vgroups(catalog):
    statement, answer = real("show_tables")
    assert statement == "use db1; show tables"
    answer = answer.removeprefix("Database changed.\n\n")
    rows = catalog.table_rows("db1")
    assert [row[5:] for row in rows] == [[1, 3], [2, 3]]  # tid, vgId: the first user vgroup is 3
    real_uids = [int(line.split("|")[4]) for line in answer.splitlines()[2:4]]
    for row, uid in zip(rows, real_uids, strict=True):
        assert row[4] >> 24 == uid >> 24  # vgId and tid; the low bits are a version and random
        row[4] = uid
    assert shown(TABLE_COLUMNS, rows) == answer
    assert shown(STABLE_COLUMNS, catalog.stable_rows("db1")) == real("show_stables")[1]
    statement, answer = real("show_vgroups")
    assert sql.parse_statement(statement) == sql.Statement(sql.SHOW, "vgroups", db="db1")
    online = {1: True, 2: True, 3: True}
    assert shown(catalog.vgroup_columns("db1"), catalog.vgroup_rows("db1", online)) == answer  # on dnode 2


def test_describe(catalog):
    for name, table in (("describe_table", "t1"), ("describe_stable", "st")):
        statement, answer = real(name)
        assert sql.parse_statement(statement) == sql.Statement(sql.DESCRIBE, db="db1", name=table)
        assert shown(DESCRIBE_COLUMNS, describe_rows(catalog.table("db1", table))) == answer


def test_insert_parses_rows_with_now():
    statement, answer = real("insert_two_rows")
    parsed = sql.parse_statement(statement)
    schema = [["ts", "timestamp", 8], ["v", "int", 4], ["name", "binary", 10]]
    rows = [query.convert_row(values, schema, STAMP) for values in parsed.values]
    assert rows == [[STAMP, 1, "a"], [STAMP + 1000, 2, "b"]]
    assert masked(shellfmt.query_ok_affected(2, 0.0)) + "\n" == answer


@pytest.mark.parametrize(
    "name, items, limit",
    [
        ("select_all", ["*"], None),
        ("select_count", ["count(*)"], None),
        ("select_last_row", ["last_row(*)"], None),
        ("select_where_limit", ["v", "name"], 2),
    ],
)
def test_select(name, items, limit):
    statement, answer = real(name)
    parsed = sql.parse_statement(statement)
    assert (parsed.kind, list(parsed.items), parsed.limit) == (sql.SELECT, items, limit)
    schema = [["ts", "timestamp", 8], ["v", "int", 4], ["name", "binary", 10]]
    rows = [[STAMP, 1, "a"], [STAMP + 1000, 2, "b"]]
    assert shown(*query.select(parsed.items, schema, [], [([], rows)], parsed.limit)) == answer


def test_select_from_a_super_table_adds_the_tags():
    statement, answer = real("select_stable")
    parsed = sql.parse_statement(statement)
    schema, tags = [["ts", "timestamp", 8], ["v", "float", 4]], [["loc", "binary", 10], ["gid", "int", 4]]
    assert shown(*query.select(parsed.items, schema, tags, [(["bj", 1], [[STAMP, 1.5]])], None)) == answer


@pytest.mark.parametrize(
    "name",
    ["error_syntax", "error_incomplete"],
)
def test_parser_errors(name):
    statement, answer = real(name)
    with pytest.raises(TaosError) as error:
        sql.parse_statement(statement)
    assert failed(error.value) == answer


def test_client_side_value_and_column_errors():
    schema = [["ts", "timestamp", 8], ["v", "int", 4], ["name", "binary", 10]]
    for name, values in (("error_invalid_timestamp", 0), ("error_invalid_data", 0)):
        statement, answer = real(name)
        with pytest.raises(TaosError) as error:
            query.convert_row(sql.parse_statement(statement).values[values], schema, STAMP)
        assert failed(error.value) == answer
    statement, answer = real("error_invalid_column")
    with pytest.raises(TaosError) as error:
        query.select(sql.parse_statement(statement).items, schema, [], [], None)
    assert failed(error.value) == answer


def test_server_errors_have_the_real_texts(catalog):
    cases = [
        ("error_db_exists", DB_ALREADY_EXIST, lambda: catalog.create_db("db1", False, 1, 30, STAMP)),
        ("error_invalid_db", INVALID_DB, lambda: catalog.use_db("nosuch")),
        ("error_db_not_selected", DB_NOT_SELECTED, lambda: catalog.table_rows("")),
        ("error_no_table", INVALID_TABLE_NAME, lambda: catalog.table("db1", "nosuch")),
        (
            "error_table_exists",
            TABLE_ALREADY_EXIST,
            lambda: catalog.create_table(Table("db1", "t1", STAMP, [["ts", "timestamp", 8]]), False, THREE, 0),
        ),
    ]
    for name, code, action in cases:
        with pytest.raises(TaosError) as error:
            action()
        assert error.value.code == code
        assert failed(TaosError(code)) == real(name)[1] == masked(f"\nDB error: {error_text(code)} (T s)\n")


def test_if_not_exists_and_drop():
    catalog = Catalog.bootstrap(STAMP, 1)
    catalog.create_db("db1", False, 1, 30, STAMP)
    catalog.create_db("db1", True, 1, 30, STAMP)
    catalog.create_table(Table("db1", "t", STAMP, [["ts", "timestamp", 8]]), False, THREE, 0)
    assert catalog.drop_db("db1", False) == [3]
    assert catalog.drop_db("db1", True) == []
    catalog.create_db("db2", False, 1, 3650, STAMP)
    catalog.create_table(Table("db2", "t", STAMP, [["ts", "timestamp", 8]]), False, THREE, 0)
    assert [v.id for v in catalog.vgroups.values() if v.db == "db2"] == [4]  # vgroup ids are not reused
    assert Catalog.from_json(catalog.to_json()) == catalog


def test_placement_takes_the_lowest_score_and_the_higher_id_on_ties():
    catalog = Catalog.bootstrap(STAMP, 1)
    # log's vgroup on dnode 1: dnodes 2 and 3 tie, the higher id wins
    assert catalog.place(1, THREE) == [3]
    catalog.vgroups[2].dnode_ids = [3]
    assert catalog.place(1, THREE) == [2]
    assert catalog.place(3, THREE) == [2, 1, 3]


def test_replica_out_of_range_is_the_clients_error():
    statement, answer = real("error_replica")
    assert sql.parse_statement(statement).options == (("replica", 5),)
    error = query.invalid_sql("invalid db option replications: 5 valid range: [1, 3]")
    assert failed(error) == answer


class _Connection:
    """Stands in for the cluster: accepts ``use`` of any database."""

    def use_db(self, name):
        self.used = name


def test_use_prints_database_changed_only_for_a_whole_use_statement():
    statement, answer = real("use_without_semicolon")
    out, err = io.StringIO(), io.StringIO()
    shell = Shell(_Connection(), out, err)
    shell.run(statement)
    assert masked(out.getvalue()) == answer and shell.db == "db1"
    out.truncate(0)
    out.seek(0)
    shell.run("use db1;")
    assert out.getvalue() == "Database changed.\n\n"
