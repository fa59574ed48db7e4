"""Helpers for the process tests: free ports, taos.cfg files, running taosd and taos."""

import os
import random
import re
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
SYSTEM_PYTHON = "/usr/bin/python3"
PORT_SPAN = 12  # serverPort .. serverPort+11


def module_command(module, *args):
    """Run ``lab.tdengine.MODULE`` with Debian's python3 and no site-packages (-S)."""
    return [SYSTEM_PYTHON, "-S", "-m", f"lab.tdengine.{module}", *map(str, args)]


def child_env():
    """The environment of the started programs: only the project on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


def _bindable(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True


def free_bases(count):
    """``count`` serverPort values whose 12 ports are free for TCP and UDP."""
    rng = random.Random()
    bases = []
    for _ in range(200):
        base = rng.randrange(20000, 50000, 100)
        if base not in bases and all(_bindable(base + offset) for offset in range(PORT_SPAN)):
            bases.append(base)
            if len(bases) == count:
                return bases
    raise RuntimeError("no free ports")


def closed_port():
    """A loopback port nothing listens on (TCP and UDP), right now."""
    return free_bases(1)[0]


def write_cfg(directory, lines):
    """Create ``directory``/taos.cfg from ``lines``; return the directory as a string."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "taos.cfg").write_text("\n".join(lines) + "\n")
    return str(directory)


def run_taos(cfg_dir, *args, stdin=None, timeout=30, program=None):
    """Run the shell; return the CompletedProcess (text, both streams captured)."""
    command = [str(program)] if program else module_command("taos")
    if cfg_dir is not None:
        command += ["-c", str(cfg_dir)]
    command += [str(arg) for arg in args]
    return subprocess.run(
        command,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
        cwd=ROOT,
    )


class Taosd:
    """One taosd process started by a test, logging to a file."""

    def __init__(self, cfg_dir, log_path):
        self.cfg_dir = cfg_dir
        self.log_path = Path(log_path)
        self.process = None
        self.started = 0.0

    def start(self):
        """Start the process (appending to its log)."""
        self.started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                module_command("taosd", "-c", self.cfg_dir), stdout=log, stderr=log, env=child_env(), cwd=ROOT
            )
        return self

    def log(self):
        """Everything the process logged so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s; return the exit status."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)


def wait_until(predicate, timeout, step=0.2):
    """Poll ``predicate`` until it returns something true or ``timeout`` s pass; return it."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(step)


def normalise(text, ports=()):
    """Mask what changes between runs: timings, timestamps, vnodes (where the balancer put the
    log database's vgroup), cores, ports (as PORT1...)."""
    text = re.sub(r"\(\d+\.\d{6}s\)", "(0.000000s)", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", "YYYY-MM-DD hh:mm:ss.mmm", text)
    text = re.sub(r"^(\s+\d+ \| .{30} \|)\s+\d+ \|\s+\d+ \|", r"\1      V |      N |", text, flags=re.M)
    for index, port in enumerate(ports, start=1):
        text = text.replace(str(port), f"PORT{index}")
    return text


def golden(name):
    """The text of a golden file."""
    return (GOLDEN / name).read_text()


def table_rows(stdout):
    """The cells of the result rows in shell output."""
    return [
        [cell.strip() for cell in line.split("|")[:-1]] for line in stdout.splitlines() if re.match(r"^\s+\d+ \|", line)
    ]
