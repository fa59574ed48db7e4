"""TDengine 2.0.20 error codes used here and their texts (as in src/util/src/terror.c)."""

from __future__ import annotations

AUTH_FAILURE = 0x80000003
REDIRECT = 0x80000004
NETWORK_UNAVAIL = 0x8000000B
INVALID_MSG_TYPE = 0x80000011
FQDN_ERROR = 0x80000015
INVALID_FQDN = 0x80000206
SQL_SYNTAX_ERROR = 0x80000216
NO_RIGHTS = 0x80000303
INVALID_SHOWOBJ = 0x8000030B
DNODE_ALREADY_EXIST = 0x80000330
DNODE_NOT_EXIST = 0x80000331
NO_REMOVE_MASTER = 0x80000333
INVALID_USER = 0x80000351
TSC_INVALID_SQL = 0x80000200
TSC_DB_NOT_SELECTED = 0x80000217
APP_NOT_READY = 0x80000014
INVALID_TABLE_ID = 0x80000600
TABLE_ALREADY_EXIST = 0x80000360
INVALID_TABLE_NAME = 0x80000362
DB_NOT_SELECTED = 0x80000380
DB_ALREADY_EXIST = 0x80000381
INVALID_DB = 0x80000383
INVALID_DB_OPTION_KEEP = 0x80000391
NO_ENOUGH_DNODES = 0x80000334
INVALID_VGROUP_ID = 0x80000503
TIMESTAMP_OUT_OF_RANGE = 0x8000060B

ERROR_TEXTS = {
    AUTH_FAILURE: "Authentication failure",
    REDIRECT: "Redirect",
    NETWORK_UNAVAIL: "Unable to establish connection",
    INVALID_MSG_TYPE: "Invalid message type",
    FQDN_ERROR: "Unable to resolve FQDN",
    INVALID_FQDN: "Invalid host name",
    SQL_SYNTAX_ERROR: "Syntax error in SQL",
    NO_RIGHTS: "Insufficient privilege for operation",
    INVALID_SHOWOBJ: "Data expired",
    DNODE_ALREADY_EXIST: "DNode already exists",
    DNODE_NOT_EXIST: "DNode does not exist",
    NO_REMOVE_MASTER: "Master DNode cannot be removed",
    INVALID_USER: "Invalid user",
    TSC_INVALID_SQL: "Invalid SQL statement",
    TSC_DB_NOT_SELECTED: "Database not specified or available",
    APP_NOT_READY: "Database not ready",
    INVALID_TABLE_ID: "Invalid table ID",
    TABLE_ALREADY_EXIST: "Table already exists",
    INVALID_TABLE_NAME: "Table does not exist",
    DB_NOT_SELECTED: "Database not specified or available",
    DB_ALREADY_EXIST: "Database already exists",
    INVALID_DB: "Invalid database name",
    INVALID_DB_OPTION_KEEP: "Invalid database option: keep >= keep1 >= keep0 >= days",
    NO_ENOUGH_DNODES: "Out of DNodes",
    INVALID_VGROUP_ID: "Invalid Vgroup ID",
    TIMESTAMP_OUT_OF_RANGE: "Timestamp data out of range",
}


def error_text(code: int) -> str:
    """Return TDengine's text for ``code`` (``Unknown error`` for codes not listed here)."""
    return ERROR_TEXTS.get(code, "Unknown error")


class TaosError(Exception):
    """A TDengine error: ``code`` as on the wire, ``text`` as the shell prints it."""

    def __init__(self, code: int, text: str | None = None) -> None:
        self.code = code
        self.text = text if text is not None else error_text(code)
        super().__init__(f"0x{code:08X} {self.text}")
