"""taos.cfg: parsing (pure) and loading, shared by ``taosd`` and ``taos``.

One option per line: key, whitespace, value; ``#`` starts a comment; keys are
case-insensitive; unknown keys are accepted and ignored.  A malformed value of a known key
raises :class:`ConfigError` naming the file and the line.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

DEFAULT_CONFIG_DIR = "/etc/taos"
CONFIG_FILE = "taos.cfg"
MAX_EP_LEN = 134  # TSDB_EP_LEN: TSDB_FQDN_LEN (128) + 6

# key (lower case) -> (field, minimum, maximum); ranges as TDengine 2.0 accepts them.
_INT_KEYS = {
    "serverport": ("server_port", 1, 65056),
    "rpctimer": ("rpc_timer_ms", 100, 3000),
    "statusinterval": ("status_interval", 1, 10),
    "shellactivitytimer": ("shell_activity_timer", 1, 120),
    "numofmnodes": ("num_of_mnodes", 1, 3),
}
_FLOAT_KEYS = {"numofthreadspercore": ("num_of_threads_per_core", 0.0, 10.0)}
_DIR_KEYS = {"datadir": "data_dir", "logdir": "log_dir"}
_ENDPOINT_KEYS = {"firstep": "first_ep", "secondep": "second_ep"}


class ConfigError(Exception):
    """A malformed taos.cfg line; the message starts with ``FILE:LINE:``."""


@dataclass(frozen=True)
class TaosConfig:
    """The options that matter here, with TDengine's defaults and endpoints normalised."""

    first_ep: str
    second_ep: str
    fqdn: str
    server_port: int = 6030
    rpc_timer_ms: int = 1000
    status_interval: int = 1
    shell_activity_timer: int = 3
    num_of_mnodes: int = 3
    num_of_threads_per_core: float = 1.0
    data_dir: str = "/var/lib/taos"
    log_dir: str = "/var/log/taos"

    @property
    def local_ep(self) -> str:
        """This node's endpoint, ``fqdn:serverPort``."""
        return f"{self.fqdn}:{self.server_port}"


def parse_endpoint(text: str, default_port: int) -> tuple[str, int]:
    """Split ``fqdn[:port]`` into ``(fqdn, port)``; raise ValueError when it is not one."""
    fqdn, sep, port_text = text.strip().partition(":")
    if not fqdn:
        raise ValueError(f"{text!r} has no host name")
    if not sep:
        return fqdn, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r} has no valid port")
    return fqdn, int(port_text)


def _strip_comment(line: str) -> str:
    """Drop a ``#`` comment: one at the start of the line or after whitespace."""
    for index, char in enumerate(line):
        if char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def _parse_number(kind: Callable[[str], float], key: str, value: str, minimum: float, maximum: float) -> float:
    try:
        number = kind(value)
    except ValueError:
        raise ValueError(f"{key}: {value!r} is not a number") from None
    if not minimum <= number <= maximum:
        raise ValueError(f"{key}: {value} is out of range [{minimum}, {maximum}]")
    return number


def _read_lines(text: str) -> Iterator[tuple[int, str, str]]:
    """Yield ``(line number, key as written, value or '')`` for each option line."""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        tokens = _strip_comment(raw).split()
        if tokens:
            yield lineno, tokens[0], tokens[1] if len(tokens) > 1 else ""


def parse_config(text: str, source: str = CONFIG_FILE, hostname: str | None = None) -> TaosConfig:
    """Parse taos.cfg ``text`` (named ``source`` in errors) into a :class:`TaosConfig`."""
    values: dict[str, Any] = {}
    endpoints: dict[str, tuple[int, str, str]] = {}
    for lineno, key, value in _read_lines(text):
        lower = key.lower()
        try:
            if lower in _INT_KEYS or lower in _FLOAT_KEYS or lower in _DIR_KEYS:
                if not value:
                    raise ValueError(f"{key}: a value is required")
            if lower in _INT_KEYS:
                field, minimum, maximum = _INT_KEYS[lower]
                values[field] = _parse_number(int, key, value, minimum, maximum)
            elif lower in _FLOAT_KEYS:
                field, low, high = _FLOAT_KEYS[lower]
                values[field] = _parse_number(float, key, value, low, high)
            elif lower in _DIR_KEYS:
                values[_DIR_KEYS[lower]] = value
            elif lower == "fqdn":
                values["fqdn"] = value
            elif lower in _ENDPOINT_KEYS:
                if len(value) >= MAX_EP_LEN:
                    raise ValueError(f"{key}: endpoint longer than {MAX_EP_LEN - 1} characters")
                endpoints[_ENDPOINT_KEYS[lower]] = (lineno, key, value)
        except ValueError as exc:
            raise ConfigError(f"{source}:{lineno}: {exc}") from None

    fqdn = values.pop("fqdn", "") or (hostname if hostname is not None else socket.gethostname())
    server_port = values.get("server_port", TaosConfig.server_port)
    local_ep = f"{fqdn}:{server_port}"
    for field in _ENDPOINT_KEYS.values():
        lineno, key, value = endpoints.get(field, (0, field, ""))
        if not value:
            values[field] = local_ep
            continue
        try:
            ep_fqdn, ep_port = parse_endpoint(value, server_port)
        except ValueError as exc:
            raise ConfigError(f"{source}:{lineno}: {key}: {exc}") from None
        values[field] = f"{ep_fqdn}:{ep_port}"
    return TaosConfig(fqdn=fqdn, **values)


def load_config(config_dir: str = DEFAULT_CONFIG_DIR, hostname: str | None = None) -> TaosConfig:
    """Read ``config_dir``/taos.cfg; a missing file means all defaults, as in TDengine."""
    path = os.path.join(config_dir, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        text = ""
    return parse_config(text, source=path, hostname=hostname)


def rpc_thread_count(config: TaosConfig, cores: int | None = None) -> int:
    """UDP shell threads (and ports serverPort..+n-1): cores*numOfThreadsPerCore/2 in 1..5.

    That is taosd's dnodeShell sizing, capped by TSDB_MAX_RPC_THREADS (5) in rpcOpen.
    """
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, min(5, int(cores * config.num_of_threads_per_core / 2.0)))
