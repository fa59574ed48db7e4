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
