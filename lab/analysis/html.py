"""report.html: a report as one self-contained web page (pictures inline), for readers of
neither markdown nor code hosts. Rendered from the report's markdown with markdown-it-py."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from markdown_it import MarkdownIt

from ..results.record import atomic_write

STYLE = """
body { font-family: "DejaVu Sans", "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif; max-width: 1200px;
       margin: 2em auto; padding: 0 1em; line-height: 1.5; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
img { max-width: 100%; border: 1px solid #eee; }
details { margin: 0.5em 0 1.5em; }
"""
IMG_RE = re.compile(r'<img src="([^"/:]+\.(svg|png))"')
MIME = {"svg": "image/svg+xml", "png": "image/png"}


def _inline(match: re.Match, folder: Path) -> str:
    path = folder / match[1]
    if not path.is_file():
        return match[0]
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:{MIME[match[2]]};base64,{data}"'


def page(markdown: str, folder: Path, lang: str, title: str) -> str:
    """The markdown as a web page; pictures it names in `folder` are put inside it, a Mermaid
    block (drawn as the picture beside it) is kept folded as its source."""
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    rendered = []
    chunk: list = []
    for token in renderer.parse(markdown):
        if token.type == "fence" and token.info.strip() == "mermaid":
            rendered.append(renderer.renderer.render(chunk, renderer.options, {}))
            rendered.append(
                f"<details><summary>Mermaid</summary><pre><code>{html.escape(token.content)}</code></pre></details>\n"
            )
            chunk = []
        else:
            chunk.append(token)
    rendered.append(renderer.renderer.render(chunk, renderer.options, {}))
    # the report breaks lines in table cells with <br> (markdown has no other way); no other HTML passes
    content = IMG_RE.sub(lambda m: _inline(m, folder), "".join(rendered).replace("&lt;br&gt;", "<br>"))
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{content}</body>\n</html>\n"
    )


def write_page(markdown_path: Path, lang: str, title: str) -> Path:
    """Write the page of a report (report.md -> report.html) beside it and return its path."""
    target = markdown_path.with_suffix(".html")
    atomic_write(target, page(markdown_path.read_text(encoding="utf-8"), markdown_path.parent, lang, title))
    return target
