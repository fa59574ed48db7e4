"""Draw a sequence diagram (lab.analysis.sequence.Diagram) as SVG and PNG with matplotlib.

Text stays text in the SVG (``svg.fonttype: none``), so a browser renders it with its own
fonts, a reader can copy an address out of it and a test can read it back.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from .sequence import REFUSAL, REPLY, Arrow, Diagram, Note

logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # a CJK font without bold is fine

COLUMN_IN = 3.4  # inches between lifelines
ROW_IN = 0.42
LINE_IN = 0.17
CHAR_IN = 0.062  # about one character of 7.5 pt text
MARGIN_IN = 0.5
# Chinese glyphs come from the CJK fonts the machine has (Debian: fonts-wqy-microhei); SVG text names them all
FONTS = ["DejaVu Sans", "WenQuanYi Micro Hei", "Noto Sans CJK SC"]
SVG_STYLE = {"svg.fonttype": "none", "svg.hashsalt": "lab"}  # text stays text; ids the same from run to run
COLORS = {"request": "#1f4e79", REPLY: "#2e7d32", REFUSAL: "#c62828"}
FILL = {
    "client": "#e8eef7",
    "router": "#f3f3f3",
    "docker_host": "#eef7e8",
    "container": "#fdf3e1",
    "other": "#ffffff",
}


def _fonts() -> list[str]:
    known = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in FONTS if name in known] or ["DejaVu Sans"]


def figure(diagram: Diagram) -> Figure:
    """The diagram as a matplotlib figure."""
    columns = {lifeline.key: index for index, lifeline in enumerate(diagram.lifelines)}
    header_lines = max((1 + len(lifeline.lines) for lifeline in diagram.lifelines), default=1)
    header_in = header_lines * LINE_IN + 0.25
    width = max(8.0, len(columns) * COLUMN_IN + MARGIN_IN)
    top = 0.6 + header_in
    height = top + (len(diagram.events) + 1) * ROW_IN + MARGIN_IN
    with matplotlib.rc_context({**SVG_STYLE, "font.family": _fonts()}):
        fig = Figure(figsize=(width, height))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.axis("off")

        def x(key: str) -> float:
            return MARGIN_IN + COLUMN_IN / 2 + columns[key] * COLUMN_IN

        ax.text(width / 2, 0.3, diagram.title, ha="center", va="center", fontsize=11, fontweight="bold")
        for lifeline in diagram.lifelines:
            box = FancyBboxPatch(
                (x(lifeline.key) - COLUMN_IN / 2 + 0.1, 0.55),
                COLUMN_IN - 0.2,
                header_in,
                boxstyle="round,pad=0.02",
                facecolor=FILL[lifeline.role],
                edgecolor="#555555",
            )
            ax.add_patch(box)
            ax.text(x(lifeline.key), 0.7, lifeline.title, ha="center", va="center", fontsize=10, fontweight="bold")
            for number, line in enumerate(lifeline.lines, 1):
                ax.text(x(lifeline.key), 0.7 + number * LINE_IN, line, ha="center", va="center", fontsize=7.5)
            ax.plot([x(lifeline.key)] * 2, [0.55 + header_in, height - MARGIN_IN / 2], color="#999999", lw=0.8, ls="--")
        for row, event in enumerate(diagram.events, 1):
            y = top + row * ROW_IN
            if isinstance(event, Note):
                xs = [x(key) for key in event.over]
                middle = (min(xs) + max(xs)) / 2
                half = max((max(xs) - min(xs) + COLUMN_IN) / 2 - 0.2, len(event.text) * CHAR_IN / 2 + 0.15)
                middle = min(max(middle, half + 0.05), width - half - 0.05)  # keep it inside the picture
                left, right = middle - half, middle + half
                ax.add_patch(
                    FancyBboxPatch(
                        (left, y - 0.14),
                        right - left,
                        0.28,
                        boxstyle="round,pad=0.01",
                        facecolor="#fff8c4",
                        edgecolor="#c9b458",
                    )
                )
                ax.text((left + right) / 2, y, event.text, ha="center", va="center", fontsize=7.5)
                continue
            _arrow(ax, event, x(event.src), x(event.dst), y)
    return fig


def _arrow(ax, arrow: Arrow, start: float, end: float, y: float) -> None:
    color = COLORS[arrow.kind]
    ax.annotate(
        "",
        xy=(end, y),
        xytext=(start, y),
        arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.2, "ls": "-" if arrow.kind == "request" else "--"},
    )
    if arrow.kind == REFUSAL:
        ax.plot([end], [y], marker="x", color=color, markersize=8, mew=2)
    ax.text((start + end) / 2, y - 0.07, arrow.label, ha="center", va="bottom", fontsize=7.5, color=color)


def _svg(picture: Figure) -> str:
    buffer = io.StringIO()
    picture.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def svg_text(diagram: Diagram) -> str:
    """The diagram as an SVG document, its text kept as text."""
    with matplotlib.rc_context({**SVG_STYLE, "font.family": _fonts()}):
        return _svg(figure(diagram))


def draw(diagram: Diagram, stem: Path) -> tuple[Path, Path]:
    """Write `stem`.svg (as svg_text) and `stem`.png, from one figure; return their paths."""
    svg, png = stem.with_name(f"{stem.name}.svg"), stem.with_name(f"{stem.name}.png")
    with matplotlib.rc_context({**SVG_STYLE, "font.family": _fonts()}):
        picture = figure(diagram)
        svg.write_text(_svg(picture), encoding="utf-8")
        picture.savefig(png, format="png", dpi=110)
    return svg, png
