"""The one catalogue of every sentence the lab's analysis writes, in English and Chinese.

The mechanism is gettext's: the English text is the message id, written in the code inside
a call to `t()`; translations live in a PO file per language,
``lab/analysis/locale/<lang>/LC_MESSAGES/lab.po``, read at run time with Babel (no compile
step). A language is chosen for a block of code with `language()`; outside it messages are
English. Placeholders are ``{name}`` fields, filled by keyword:

    from .messages import t, language

    t("no capture on {node}; add it under 'captures' to see its packets", node="remote-client")
    with language("zh"):
        text = explanation.text()        # every t() inside speaks Chinese

Rules for authors of explainer modules (explain.py, handed.py, ...):

- A message kept in a table (a dict of codes to words) is marked with `N_("...")` where
  it is written and translated with `t(value)` where it is used.
- New messages go into every PO file with Babel's own tool, which keeps what is translated:

      .venv/bin/pybabel extract -k t -k N_ --no-default-keywords -o /tmp/lab.pot lab/analysis
      .venv/bin/pybabel update -i /tmp/lab.pot -d lab/analysis/locale -D lab -l zh --width 120

  then fill in each new ``msgstr ""``.
- Pass `t()` a literal string, never an f-string or a variable: the test
  ``tests/analysis/test_messages.py`` extracts every ``t("...")`` of ``lab/analysis`` with
  Babel and fails when a language lacks its translation (or its translation drops or adds
  a placeholder). Add the entry to each ``lab.po`` with the same ``{fields}``.
- Data (addresses, ports, host names, program output) goes in through fields, never into
  the message id; words like "tcp" or "RST" stay as they are in every language.
- Terms in Chinese follow the TDengine community: 端口映射 (published port / port mapping),
  跨网段 (cross-subnet), EndPoint (EP), FQDN, 宿主机 (Docker host), 容器 (container).
"""

from __future__ import annotations

import contextvars
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "lab"
SOURCE_LANGUAGE = "en"
LANGUAGES = ("en", "zh")  # the languages every message exists in

_current: contextvars.ContextVar[str] = contextvars.ContextVar("lab_language", default=SOURCE_LANGUAGE)


class UnknownLanguage(ValueError):
    """A language the catalogue does not have."""


def po_path(lang: str) -> Path:
    """The PO file of one language."""
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Message id -> translation for one language (empty for the source language)."""
    if lang == SOURCE_LANGUAGE:
        return {}
    if lang not in LANGUAGES:
        raise UnknownLanguage(f"no messages in language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    with po_path(lang).open("rb") as handle:
        entries = read_po(handle, locale=lang)
    return {str(m.id): str(m.string) for m in entries if m.id and isinstance(m.id, str) and m.string}


def current() -> str:
    """The language messages are written in here."""
    return _current.get()


@contextmanager
def language(lang: str) -> Iterator[None]:
    """Write every message inside the block in `lang` ('en' or 'zh')."""
    catalogue(lang)  # an unknown language fails here, before anything is written
    token = _current.set(lang)
    try:
        yield
    finally:
        _current.reset(token)


def t(message: str, **fields: object) -> str:
    """`message` in the current language, its {fields} filled in."""
    text = catalogue(current()).get(message, message)
    return text.format(**fields) if fields else text


def N_(message: str) -> str:  # noqa: N802 (gettext's name for it)
    """Mark a message kept in a table for the catalogue; `t()` translates it where it is used."""
    return message


def width(text: str) -> int:
    """Columns `text` takes in a terminal (a Chinese character takes two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def joiner() -> str:
    """The separator of items listed in a sentence (', ' in English, '、' in Chinese)."""
    return t(", ")
