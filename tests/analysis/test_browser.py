"""report.html as a browser shows it: a headless Chromium screenshot of the recorded incident
run's pages (Debian's chromium, lab/packages.tsv: tests)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from lab.analysis.publish import publish_run, run_scenario

INCIDENT = Path(__file__).with_name("runs") / "tdengine-incident"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, folder: Path) -> Image.Image:
    """The first 1300x8000 pixels of `page` in headless Chromium."""
    picture = folder / f"{page.stem}.png"
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless=new",
            "--no-sandbox",  # the suite runs as root
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={folder / 'profile'}",
            f"--screenshot={picture}",
            "--window-size=1300,8000",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return Image.open(picture).convert("RGB")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (./setup.sh test installs it)")
def test_report_pages_render_with_their_pictures_in_a_browser(tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(INCIDENT, folder)
    publish_run(folder, run_scenario(folder))
    for name in ("report.html", "report.zh.html"):
        image = screenshot(folder / name, tmp_path)
        assert image.size == (1300, 8000)
        colours = image.getcolors(maxcolors=1 << 20) or []
        ink = sum(count for count, rgb in colours if rgb != (255, 255, 255))
        assert ink > 0.05 * 1300 * 8000, f"{name}: the page looks blank"
        # colours only the sequence diagrams (inline SVG) have: their notes and the container's lifeline
        assert any(rgb == (0xFF, 0xF8, 0xC4) for _, rgb in colours), f"{name}: no sequence diagram note drawn"
        assert any(rgb == (0xFD, 0xF3, 0xE1) for _, rgb in colours), f"{name}: no container lifeline drawn"
