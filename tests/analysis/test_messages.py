"""The catalogue of messages (lab.analysis.messages): every sentence the analysis writes has a
translation in every language, with the same {fields}."""

from __future__ import annotations

import re
import string
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from lab.analysis import messages
from lab.analysis.messages import LANGUAGES, SOURCE_LANGUAGE, UnknownLanguage, catalogue, language, t

ANALYSIS = Path(messages.__file__).parent
INCIDENT = Path(__file__).with_name("runs") / "tdengine-incident"
CALL_RE = re.compile(r"(?<![\w.])(?:t|N_)\(\s*([^\s),]+)")  # what t() or N_() is given first
MARKED = {"kind"}  # variables holding a message marked with N_() where it was written


def extracted() -> dict[str, str]:
    """Message id -> where it is used, as Babel extracts them from lab/analysis."""
    found: dict[str, str] = {}
    for filename, line, message, _, _ in extract_from_dir(
        str(ANALYSIS), method_map=[("**.py", "python")], keywords={"t": None, "N_": None}
    ):
        found.setdefault(message, f"lab/analysis/{filename}:{line}")
    return found


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_message_is_given_to_t_as_a_literal_string():
    wrong = [
        f"{path.name}:{text.count(chr(10), 0, match.start()) + 1}"
        for path in sorted(ANALYSIS.glob("*.py"))
        if path.name != "messages.py"  # where t() and N_() are defined
        for text in [path.read_text()]
        for match in CALL_RE.finditer(text)
        if match[1][0] not in "\"'" and match[1] not in MARKED
    ]
    assert not wrong, f"t() given something Babel cannot extract (use a literal string): {wrong}"


def test_the_catalogue_holds_the_messages_the_code_uses():
    found = extracted()
    assert len(found) > 80 and "reply: {count} endpoint(s) {endpoints}" in found
    for lang in LANGUAGES:
        if lang == SOURCE_LANGUAGE:
            continue
        translations = catalogue(lang)
        missing = {message: where for message, where in found.items() if not translations.get(message)}
        assert not missing, f"{messages.po_path(lang)} lacks translations of: {missing}"
        unused = set(translations) - set(found)
        assert not unused, f"{messages.po_path(lang)} has messages no code uses: {unused}"
        changed = {m: translations[m] for m in found if fields(m) != fields(translations[m])}
        assert not changed, f"translations that drop or add a {{field}}: {changed}"


def test_a_language_is_chosen_for_a_block_and_english_is_the_default():
    assert t("no NAT rule for {protocol} {port}: {host} answers itself", protocol="tcp", port=6030, host="server") == (
        "no NAT rule for tcp 6030: server answers itself"
    )
    with language("zh"):
        assert t("published") == "端口映射"
        assert t("handed endpoint(s): {endpoints} (printed earlier by {sources})", endpoints="a:1", sources="x") == (
            "集群下发的 EndPoint：a:1（此前由 x 输出）"
        )
    assert t("published") == "published"
    with pytest.raises(UnknownLanguage, match="choose one of en, zh"), language("fr"):
        pass


def test_lab_explain_speaks_chinese_with_lang_zh():
    argv = [sys.executable, "-m", "lab", "explain", "--lang", "zh", str(INCIDENT)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    for part in (
        "失败的步骤\n==========\n",
        "集群下发的 EndPoint：taosnode1:6030",
        "没有做端口映射",
        "由宿主机 server 自己应答",
    ):
        assert part in result.stdout, part
    wrong = subprocess.run([*argv[:4], "--lang", "fr", str(INCIDENT)], capture_output=True, text=True, check=False)
    assert wrong.returncode == 2 and "invalid choice: 'fr'" in wrong.stderr
