"""A taosd that exits at start fails its variant at once, with its exit status and log tail as evidence,
with the emulated TDengine and with the real one (tests/real_tdengine.py) alike."""

from __future__ import annotations

import pytest

from lab.deploy.deployment import READY_TIMEOUT_S

from ..conftest import REPO
from .conftest import run_lab

pytestmark = pytest.mark.root  # builds real namespaces and a real dockerd

SCENARIO = REPO / "tests" / "integration" / "scenarios" / "tdengine-start-failure.yaml"


@pytest.fixture(scope="module", params=["emulated", "real"])
def failed_start(request, tmp_path_factory):
    extra = ["--tdengine-home", str(request.getfixturevalue("tdengine_home"))] if request.param == "real" else []
    return run_lab(SCENARIO, tmp_path_factory.mktemp(f"results-{request.param}"), *extra)


def test_the_variant_fails_with_the_exit_status_and_the_log_tail(failed_start):
    assert failed_start.returncode == 1, failed_start.stdout + failed_start.stderr
    (variant,) = failed_start.results["variants"]
    assert not variant["built"]
    error = variant["error"]
    assert "container taosnode1 exited (status 1) before it accepted tcp connections on 172.19.0.41:6030" in error
    assert "failed to create dir: /nowhere/log" in error, error
    assert failed_start.results["outcomes"] == [], "no step runs in a variant that was not built"


def test_the_exit_is_noticed_before_the_readiness_timeout(failed_start):
    (variant,) = failed_start.results["variants"]
    waited = sum(variant["phases_s"].values())
    assert waited < READY_TIMEOUT_S / 2, variant["phases_s"]


def test_the_whole_log_is_kept_in_the_run_folder(failed_start):
    log = failed_start.run_dir / "default" / "state" / "server" / "container-taosnode1.log"
    assert "Failed to start TDengine" in log.read_text()
