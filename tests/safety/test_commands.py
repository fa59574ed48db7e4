"""Class 4, bounded commands: CommandRunner.run ends at the timeout whatever its program starts.

Real processes in the root namespace, no root needed. Each test's processes carry a token
of their own (`sleep <token>`), so the test finds and ends exactly what it started.
"""

from __future__ import annotations

import sys

import pytest

from lab.commands import CommandRunner, Transcript

from .processes import kill_sleepers, new_token, sleepers, wait_until

LONG_TIMEOUT_S = 60  # far beyond what any of these commands needs once it is bounded


@pytest.fixture
def token():
    token = new_token()
    yield token
    kill_sleepers(token)


@pytest.fixture
def runner(tmp_path):
    transcript = Transcript(tmp_path / "transcript.log")
    yield CommandRunner("test", transcript)
    transcript.close()


DAEMONISE = "import subprocess, sys; subprocess.Popen(['sleep', sys.argv[1]], start_new_session=True)"


def test_a_program_that_daemonises_ends_when_its_program_does(runner, token):
    # the daemon is in a session of its own before its parent exits, and holds stdout and stderr for 600 s
    result = runner.run([sys.executable, "-c", DAEMONISE, token], timeout=LONG_TIMEOUT_S, check=False)
    assert (result.exit_code, result.timed_out) == (0, False), result.describe()
    assert len(sleepers(token)) == 1, "the daemon runs on (a node's teardown ends it)"


def test_setsid_fork_ends_when_setsid_does(runner, token):
    # the example of the issue: `setsid -f sleep 25` used to hold a 2 s step for 25 s
    result = runner.run(["setsid", "-f", "sleep", token], timeout=LONG_TIMEOUT_S, check=False)
    assert (result.exit_code, result.timed_out) == (0, False), result.describe()


def test_a_program_that_never_ends_is_killed_at_its_timeout(runner, token):
    result = runner.run(["sh", "-c", f"echo before; exec sleep {token}"], timeout=0.5, check=False)
    assert result.timed_out and result.exit_code is None
    assert result.stdout == "before\n", "what it printed before the timeout is kept"
    assert "timed out" in result.describe()
    assert sleepers(token) == []


def test_children_left_in_the_programs_group_are_killed(runner, token):
    result = runner.run(["sh", "-c", f"sleep {token} & sleep {token} & echo started"], timeout=LONG_TIMEOUT_S)
    assert (result.exit_code, result.stdout) == (0, "started\n")
    wait_until(lambda: sleepers(token) == [], what="the background children were killed")


def test_a_timeout_with_daemonised_children_holding_the_pipes(runner, token):
    daemonise = f'{sys.executable} -c "{DAEMONISE}" {token}'
    argv = ["sh", "-c", f"{daemonise}; sleep {token} & echo started; exec sleep {token}"]
    result = runner.run(argv, timeout=0.5, check=False)
    assert result.timed_out and result.stdout == "started\n"
    wait_until(lambda: len(sleepers(token)) == 1, what="only the daemon outside the group is left")


def test_a_daemon_that_keeps_printing_does_not_hold_the_run(runner, token):
    loop = f"while :; do echo spam; sleep 0.01; done; sleep {token}"
    result = runner.run(["sh", "-c", f"setsid -f sh -c '{loop}'; echo main"], timeout=LONG_TIMEOUT_S, check=False)
    assert (result.exit_code, result.timed_out) == (0, False)
    assert "main\n" in result.stdout


def test_input_output_and_exit_status_are_whole(runner):
    data = bytes(range(256)) * 8192  # 2 MiB, more than any pipe buffer
    echoed = runner.run(["cat"], input=data, timeout=LONG_TIMEOUT_S)
    assert echoed.stdout == data.decode(errors="replace")
    big = runner.run(["head", "-c", str(20 << 20), "/dev/zero"], timeout=LONG_TIMEOUT_S)
    assert len(big.stdout) == 20 << 20
    failed = runner.run(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
    assert (failed.exit_code, failed.stdout, failed.stderr) == (3, "out\n", "err\n")


def test_a_program_that_ignores_its_input(runner):
    # it exits without reading: the write side must not block or raise
    result = runner.run(["true"], input=b"x" * (1 << 20), timeout=LONG_TIMEOUT_S)
    assert result.exit_code == 0
