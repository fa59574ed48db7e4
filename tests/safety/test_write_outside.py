"""Class 1: a scenario cannot make the lab write, mount or read outside the places it belongs to.

Each case is a whole scenario run with the real CLI (`python -m lab run`, as root, as a user
would), whose one bad path would have reached the machine's own file system: a node file that
normalises out of the node's /etc, a mount or a `from:` file outside the scenario's folder
(directly or through a symbolic link). The run must stop at validation with exit 2 and a
file:line:col message, and the machine's file system is compared before and after: the place
the path led to, the folder outside the scenario (contents and times), the scenario's own
folder, the results folder, the run journal and what any lab run leaves behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lab.deploy.journal import journals
from lab.errors import ExitStatus

from ..conftest import REPO
from ..integration import machine

pytestmark = pytest.mark.root  # `lab run` as root, the user the lab's writes would be made as

HEADER = """\
name: write-outside
subnets:
  lan: 10.0.31.0/24
"""

NODE = """\
hosts:
  client:
    interfaces: {lan: 10.0.31.5}
    files:
      ENTRY
"""

CONTAINER = """\
docker_hosts:
  server:
    interfaces: {lan: 10.0.31.2}
    networks:
      net: {subnet: 172.19.0.0/16, gateway: 172.19.0.1}
    containers:
      c1:
        network: net
        ip: 172.19.0.41
        command: [sleep, infinity]
        ENTRY
"""

# (case, the scenario's body, the message's words); VICTIM stands for a folder of the test's
# own under /tmp; 'outside' is a folder beside the scenario's folder holding a secret file,
# `link` a symbolic link in the scenario's folder to it, `secret` one to outside/secret.
CASES = {
    "node file '//' into /tmp": (
        NODE.replace("ENTRY", "/etc/VICTIM/victim.txt: owned"),
        ["hosts.client.files:", "contains '//'"],
    ),
    "node file '..' into /tmp": (
        NODE.replace("ENTRY", "/etc/..VICTIM/victim.txt: owned"),
        ["hosts.client.files:", "contains a '..' part"],
    ),
    "node file under a lab-written file": (
        NODE.replace("ENTRY", "/etc/hosts/victim.txt: owned"),
        ["hosts.client.files:", "below /etc/hosts"],
    ),
    "node file from outside the scenario's folder": (
        NODE.replace("ENTRY", "/etc/copied: {from: ../outside/secret}"),
        ["hosts.client.files./etc/copied", "leads outside the scenario's folder"],
    ),
    "node file from a link leading outside": (
        NODE.replace("ENTRY", "/etc/copied: {from: secret}"),
        ["hosts.client.files./etc/copied", "through a symbolic link"],
    ),
    "container mount of a folder outside": (
        CONTAINER.replace("ENTRY", "mounts: ['../outside:/data']"),
        ["docker_hosts.server.containers.c1.mounts source", "leads outside the scenario's folder"],
    ),
    "container mount through a link leading outside": (
        CONTAINER.replace("ENTRY", "mounts: ['link:/data']"),
        ["docker_hosts.server.containers.c1.mounts source", "through a symbolic link"],
    ),
    "container file '..' out of the container": (
        CONTAINER.replace("ENTRY", "files: {'/data/../..VICTIM/victim.txt': owned}"),
        ["docker_hosts.server.containers.c1.files:", "contains a '..' part"],
    ),
}


def tree(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder` (not following links): its kind, mode, size, mtime and link target."""
    found: dict[str, tuple] = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        status = path.lstat()
        target = os.readlink(path) if path.is_symlink() else ""
        found[str(path.relative_to(folder))] = (status.st_mode, status.st_size, status.st_mtime_ns, target)
    return found


@pytest.mark.parametrize("case", CASES)
def test_a_path_leading_outside_is_refused_and_nothing_is_written(tmp_path, case):
    body, words = CASES[case]
    victim = Path("/tmp") / f"escape-{uuid.uuid4().hex}"  # where the path leads on the machine
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("not for the lab\n")
    folder = tmp_path / "scenario"
    folder.mkdir()
    (folder / "link").symlink_to(outside)
    (folder / "secret").symlink_to(outside / "secret")
    scenario = folder / "write-outside.yaml"
    scenario.write_text(HEADER + body.replace("VICTIM", str(victim)))
    results = tmp_path / "results"
    before = (tree(tmp_path), journals(), machine.snapshot())
    assert not victim.exists()

    run = subprocess.run(
        [sys.executable, "-m", "lab", "run", str(scenario), "--results", str(results)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,  # a bound for a hung run, not a speed target
    )

    assert run.returncode == ExitStatus.INVALID, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error ")]
    assert len(errors) == 1, run.stderr
    assert re.match(rf"error {re.escape(str(scenario))}:\d+:\d+: ", errors[0]), errors[0]
    for word in words:
        assert word in errors[0], errors[0]
    assert not victim.exists(), f"the run wrote {victim} on the machine"
    assert not results.exists(), "a run folder was made for a scenario that does not validate"
    assert (tree(tmp_path), journals(), machine.snapshot()) == before
