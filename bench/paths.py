"""Where the bench reads its scenario and writes its results."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
INCIDENT = ROOT / "scenarios" / "tdengine-docker-cross-subnet.yaml"
