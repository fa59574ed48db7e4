"""taos.cfg parsing: defaults, comments, case, unknown keys, malformed lines."""

import pytest

from lab.tdengine.config import ConfigError, TaosConfig, load_config, parse_config, parse_endpoint, rpc_thread_count


def test_defaults_use_the_hostname_and_local_endpoint():
    config = parse_config("", hostname="node7")
    assert config == TaosConfig(first_ep="node7:6030", second_ep="node7:6030", fqdn="node7")
    assert (config.server_port, config.rpc_timer_ms, config.status_interval) == (6030, 1000, 1)
    assert (config.shell_activity_timer, config.num_of_mnodes) == (3, 3)
    assert (config.data_dir, config.log_dir) == ("/var/lib/taos", "/var/log/taos")
    assert config.local_ep == "node7:6030"


def test_comments_case_insensitive_keys_and_unknown_keys():
    text = """
# a comment line
   FIRSTEP   taosnode1:6030   # trailing comment
secondep taosnode2
Fqdn taosnode3
SERVERport 7030
rpcTimer 300
statusInterval 2
shellActivityTimer 5
numOfMnodes 1
dataDir /data/taos   0 0
logdir /log/taos
walLevel 1
someFutureKey
arbitrator
"""
    config = parse_config(text, hostname="ignored")
    assert config.first_ep == "taosnode1:6030"
    assert config.second_ep == "taosnode2:7030"  # no port: this node's serverPort
    assert config.fqdn == "taosnode3" and config.local_ep == "taosnode3:7030"
    assert (config.rpc_timer_ms, config.status_interval, config.shell_activity_timer) == (300, 2, 5)
    assert config.num_of_mnodes == 1
    assert (config.data_dir, config.log_dir) == ("/data/taos", "/log/taos")


def test_empty_endpoints_and_fqdn_fall_back():
    config = parse_config("fqdn\nfirstEp\nserverPort 8030\n", hostname="host")
    assert config.first_ep == config.second_ep == "host:8030"


def test_a_hash_inside_a_value_is_kept():
    assert parse_config("dataDir /a#b\n", hostname="h").data_dir == "/a#b"


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("serverPort abc", 1, "serverPort: 'abc' is not a number"),
        ("# x\n\nrpcTimer", 3, "rpcTimer: a value is required"),
        ("statusInterval 0", 1, "statusInterval: 0 is out of range [1, 10]"),
        ("numOfMnodes 4", 1, "numOfMnodes: 4 is out of range [1, 3]"),
        ("fqdn a\nfirstEp a:b", 2, "firstEp: 'a:b' has no valid port"),
        ("secondEp :6030", 1, "secondEp: ':6030' has no host name"),
        ("dataDir", 1, "dataDir: a value is required"),
        ("numOfThreadsPerCore x", 1, "numOfThreadsPerCore: 'x' is not a number"),
    ],
)
def test_malformed_lines_name_file_and_line(text, line, message):
    with pytest.raises(ConfigError) as error:
        parse_config(text, source="/etc/taos/taos.cfg", hostname="h")
    assert str(error.value) == f"/etc/taos/taos.cfg:{line}: {message}"


def test_load_config_reads_the_directory_and_defaults_without_a_file(tmp_path):
    assert load_config(str(tmp_path / "missing"), hostname="h").local_ep == "h:6030"
    (tmp_path / "taos.cfg").write_text("serverPort x\n")
    with pytest.raises(ConfigError, match=r"taos.cfg:1: serverPort"):
        load_config(str(tmp_path), hostname="h")


def test_parse_endpoint():
    assert parse_endpoint("a.b:16030", 6030) == ("a.b", 16030)
    assert parse_endpoint(" a ", 6030) == ("a", 6030)
    for bad in ("", ":1", "a:", "a:0", "a:70000", "a:x"):
        with pytest.raises(ValueError):
            parse_endpoint(bad, 6030)


@pytest.mark.parametrize(
    "cores, per_core, threads", [(1, 1.0, 1), (2, 1.0, 1), (4, 1.0, 2), (64, 1.0, 5), (8, 0.0, 1), (8, 2.0, 5)]
)
def test_rpc_thread_count_is_cores_times_threads_per_core_halved_in_1_to_5(cores, per_core, threads):
    config = parse_config(f"numOfThreadsPerCore {per_core}", hostname="h")
    assert rpc_thread_count(config, cores) == threads
