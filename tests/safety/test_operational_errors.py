"""Class 6: operational errors are one clear line and the documented exit status, never a traceback.

`--results` where no run folder can be made, `explain` on a results.json that is cut short
or not the lab's, SIGINT while `validate` works. All through the real CLI, as a user runs it;
none of these builds anything, so no root is needed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lab.errors import ExitStatus

from ..analysis.canned import CannedRun
from ..conftest import REPO

SCENARIO = REPO / "tests" / "safety" / "scenarios" / "faults.yaml"


def lab(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", *argv], cwd=REPO, capture_output=True, text=True, **kw)


def assert_one_line(result: subprocess.CompletedProcess, status: int, *words: str) -> str:
    """The command exited with `status` and said why in one line naming `words`, without a traceback."""
    assert result.returncode == status, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "where, why",
    [
        ("a-file", "it is not a folder"),
        ("a-file/below", "Not a directory"),
    ],
)
def test_results_where_no_folder_can_be_made(tmp_path, where, why):
    (tmp_path / "a-file").write_text("not a folder\n")
    result = lab("run", str(SCENARIO), "--results", str(tmp_path / where))
    assert_one_line(result, ExitStatus.INVALID, f"--results {tmp_path / where}", why)
    assert (tmp_path / "a-file").read_text() == "not a folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"], "nothing was written"


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv (util-linux) to drop root")
def test_results_in_a_folder_the_user_cannot_write(own_tmp):
    folder = own_tmp / "read-only"
    folder.mkdir(mode=0o555)
    argv = [sys.executable, "-m", "lab", "run", str(SCENARIO), "--results", str(folder / "runs")]
    if os.geteuid() == 0:  # root writes anywhere: run as nobody, as a user without rights would
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env={**os.environ, "HOME": "/nonexistent"})
    assert_one_line(result, ExitStatus.INVALID, f"--results {folder / 'runs'}", "Permission denied")
    assert list(folder.iterdir()) == []


@pytest.fixture
def own_tmp():
    """A folder of the test's own that any user may enter (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="safety-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def _good_results(tmp_path) -> str:
    (tmp_path / "good").mkdir()
    canned = CannedRun(tmp_path / "good")
    canned.outcome("client", "ping", started_at=1_700_000_000.0, argv=["ping", "10.0.0.1"])
    canned.write()
    return (tmp_path / "good" / "results.json").read_text()


def _damaged(text: str, damage: str) -> bytes:
    results = json.loads(text)
    if damage == "cut in half":
        return text[: len(text) // 2].encode()
    if damage == "empty":
        return b""
    if damage == "not utf-8":
        return b"\xff\xfe{"
    if damage == "another program's json":
        results = {"name": "something else", "outcomes": []}
    elif damage == "a json list":
        results = [results]
    elif damage == "a future schema":
        results["schema"] = "lab.results/99"
    elif damage == "outcomes not a list":
        results["outcomes"] = {"a": 1}
    elif damage == "an outcome without its step":
        del results["outcomes"][0]["step"]
    elif damage == "a variant without a name":
        results["variants"] = [{"built": True}]
    return json.dumps(results).encode()


DAMAGES = [
    "cut in half",
    "empty",
    "not utf-8",
    "another program's json",
    "a json list",
    "a future schema",
    "outcomes not a list",
    "an outcome without its step",
    "a variant without a name",
]


@pytest.mark.parametrize("damage", DAMAGES)
def test_explain_of_a_damaged_or_foreign_results_file(tmp_path, damage):
    folder = tmp_path / "run"
    folder.mkdir()
    path = folder / "results.json"
    path.write_bytes(_damaged(_good_results(tmp_path), damage))
    line = assert_one_line(lab("explain", str(folder)), ExitStatus.INVALID, str(path))
    assert line.startswith("error: ")


def test_explain_of_an_intact_results_file_still_works(tmp_path):
    _good_results(tmp_path)
    result = lab("explain", str(tmp_path / "good"))
    assert result.returncode == ExitStatus.OK, result.stderr


def test_explain_of_a_folder_without_results(tmp_path):
    assert_one_line(lab("explain", str(tmp_path)), ExitStatus.INVALID, "is not a lab results folder")


def test_sigint_during_validate(tmp_path):
    # the same file many times over: validation goes on far longer than it takes to interrupt it
    process = subprocess.Popen(
        [sys.executable, "-m", "lab", "validate", *[str(SCENARIO)] * 20000],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    first = process.stdout.readline()  # validation is under way
    assert ": ok" in first, first + process.stderr.read()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitStatus.INTERRUPTED, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == ["interrupted: validation stopped (nothing was built)"]
    assert stdout.count(": ok") < 20000 - 1
